"""The logistic-regression head fit: multinomial logistic regression on frozen features, fitted
with L-BFGS for each L2 strength of a grid, the strength chosen on validation (used by the linear
probe and by contrastive tuning's final head)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import nn

from zoo_core.engine.train import TrainResult
from zoo_core.options import TrainConfig


def _fit(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    l2: float,
    *,
    weight: torch.Tensor | None,
    label_smoothing: float,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    max_iter: int = 300,
):
    """Minimise mean cross-entropy + l2/2 * ||W||^2 on standardised ``x`` (float64, full batch)."""
    W = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    if init is not None:
        with torch.no_grad():
            W.copy_(init[0])
            b.copy_(init[1])
    optimizer = torch.optim.LBFGS(
        [W, b],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
        line_search_fn="strong_wolfe",
    )
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(x @ W.T + b, y) + 0.5 * l2 * (W * W).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return W.detach(), b.detach()


def _score(W, b, x, y, monitor: str) -> float:
    from sklearn.metrics import f1_score

    logits = x @ W.T + b
    if monitor == "loss":
        return -float(nn.functional.cross_entropy(logits, y))
    pred = logits.argmax(-1)
    if monitor == "accuracy":
        return float((pred == y).double().mean())
    return float(f1_score(y.numpy(), pred.numpy(), average="macro", zero_division=0))


def group_scale(groups: Sequence[int] | None, width: int) -> torch.Tensor:
    """Per-feature factors that give each group of standardised features the total variance of
    the last group: an L2 penalty then weighs a level by its information, not its width."""
    if not groups or len(groups) == 1 or sum(groups) != width:
        return torch.ones(width, dtype=torch.float64)
    last = groups[-1]
    return torch.cat([torch.full((g,), (last / g) ** 0.5, dtype=torch.float64) for g in groups])


def fit_logistic_head(
    head,
    train_x: torch.Tensor,
    train_y: Sequence[int],
    val_x: torch.Tensor | None,
    val_y: Sequence[int] | None,
    config: TrainConfig,
    grid: Sequence[float],
    groups: Sequence[int] | None = None,
) -> TrainResult:
    """Pick the L2 strength on validation, refit on train+val (unless validation is what the run
    reports: ``config.refit_on_val``), write the weights into ``head.fc``. ``groups`` are the widths
    of concatenated feature levels (see :func:`group_scale`)."""
    started = time.perf_counter()
    x = train_x.double()
    y = torch.as_tensor(list(train_y), dtype=torch.long)
    num_classes = head.fc.out_features
    weight = None
    if config.class_weights:
        counts = torch.bincount(y, minlength=num_classes).double().clamp(min=1)
        weight = counts.sum() / (num_classes * counts)
    mean = x.mean(0)
    # Standardise, then weigh each level (dividing by the factor multiplies the feature by it).
    std = x.std(0).clamp(min=1e-6) / group_scale(groups, x.shape[1])
    standardise = lambda t: (t.double() - mean) / std  # noqa: E731
    xs = standardise(x)
    history = []
    chosen = float(grid[len(grid) // 2])
    if val_x is not None and val_y is not None and len(val_y):
        vx, vy = standardise(val_x), torch.as_tensor(list(val_y), dtype=torch.long)
        best = None
        init = None
        # Strong to weak regularisation, warm-started: each fit starts near the previous optimum.
        for index, l2 in enumerate(sorted(grid, reverse=True)):
            W, b = _fit(xs, y, num_classes, l2, weight=weight, label_smoothing=config.label_smoothing, init=init)
            init = (W, b)
            logits = vx @ W.T + b
            record = {
                "epoch": index + 1,
                "l2": l2,
                "train_loss": float(nn.functional.cross_entropy(xs @ W.T + b, y)),
                "val_loss": float(nn.functional.cross_entropy(logits, vy)),
                "val_accuracy": float((logits.argmax(-1) == vy).double().mean()),
                "val_macro_f1": _score(W, b, vx, vy, "macro_f1"),
                "lr": None,
                "seconds": time.perf_counter() - started,
            }
            history.append(record)
            score = _score(W, b, vx, vy, config.monitor)
            if best is None or score > best + 1e-9:  # ties keep the stronger regularisation
                best, chosen = score, l2
        if config.refit_on_val:
            # Refit on all labelled data with the chosen strength (standardisation from train alone).
            xs = torch.cat([xs, vx])
            y = torch.cat([y, vy])
    W, b = _fit(xs, y, num_classes, chosen, weight=weight, label_smoothing=config.label_smoothing)
    with torch.no_grad():
        # Fold the standardisation into the linear layer: the saved head takes raw features.
        scaled = W / std
        head.fc.weight.copy_(scaled.to(head.fc.weight.dtype))
        head.fc.bias.copy_((b - scaled @ mean).to(head.fc.bias.dtype))
    refitted = bool(history) and config.refit_on_val
    note = (
        "linear probe: L2 strength chosen on validation, then refitted on train + validation"
        if refitted
        else "linear probe: L2 strength chosen on validation, fitted on train only (validation is what is reported)"
        if history
        else "linear probe: no validation data, fitted on train with the middle L2 strength"
    )
    result = TrainResult(
        history=history, best_epoch=1 + sorted(grid, reverse=True).index(chosen) if history else 1, note=note
    )
    result.best_state = {f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()}
    result.seconds = time.perf_counter() - started
    result.samples_per_second = len(y) / result.seconds if result.seconds else 0.0
    return result
