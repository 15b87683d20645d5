"""The training loop shared by the dense tasks (:mod:`.detection`, :mod:`.segmentation`).

AdamW on the parameters that require grad, linear warmup then cosine decay, gradient clipping, a
progress bar when stderr is a terminal, one log line per epoch, and the history both tasks return.
What differs by task (the data loader, the loss of a batch, the validation metrics) comes from
the caller.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zoo_core.errors import ZooError


@dataclass
class MethodHooks:
    """What an adaptation method adds to the dense loop, as the classification trainer uses it:
    its AdamW groups for ``(lr, weight_decay)`` (layer-wise learning rates; the frozen stages a
    gradual unfreeze will open), its per-epoch change of what trains ``(epoch, epochs)``, and its
    extra loss term (L2-SP), or None."""

    param_groups: Callable[[float, float], list[dict[str, Any]]]
    on_epoch_start: Callable[[int, int], Any]
    regularization: Callable[[], torch.Tensor | None]


def model_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """``device`` when given, else the device ``model``'s parameters are on."""
    if device is not None:
        return torch.device(device)
    return next(model.parameters()).device


def progress_bar(iterable: Any, enabled: bool | None, total: int, desc: str) -> Any:
    """``iterable`` under a tqdm bar when ``enabled`` (None: when stderr is a terminal)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warmup over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def start_training(model: nn.Module, device: str | torch.device | None, seed: int) -> torch.device:
    """Move ``model`` to its training device (:func:`model_device`) and seed torch and ``random``."""
    device = model_device(model, device)
    model.to(device)
    torch.manual_seed(seed)
    random.seed(seed)
    return device


def run_training_loop(
    model: nn.Module,
    loader: Any,
    batch_loss: Callable[[Any], torch.Tensor],
    *,
    task: str,
    model_noun: str,
    epochs: int,
    lr: float,
    weight_decay: float,
    warmup_steps: int | None,
    max_steps: int | None,
    clip_grad: float,
    evaluate: Callable[[], dict[str, Any]] | None = None,
    val_metric: tuple[str, str] = ("", ""),
    log: Callable[[str], None] | None = print,
    progress: bool | None = None,
    hooks: MethodHooks | None = None,
) -> dict[str, Any]:
    """Train the parameters of ``model`` that require grad on ``loader``'s batches; returns the history.

    ``batch_loss`` turns a batch into its loss (on the model's device). AdamW; linear warmup
    (``warmup_steps``, default a tenth of the steps, at most 200), then cosine decay; gradients
    clipped at ``clip_grad`` (0: not clipped). ``max_steps`` stops early. ``evaluate``, when given,
    runs after each epoch; ``val_metric`` (label, key) names the metric of its result that the
    epoch's log line shows. ``task`` and ``model_noun`` ("detection", "detector") name them in
    errors. ``hooks``: the adaptation method's optimiser groups, epoch hook and loss term
    (:class:`MethodHooks`); without them every trainable parameter gets ``lr`` and ``weight_decay``.
    Returns ``{"steps", "losses" (per step), "epochs": [{"epoch", "loss", "seconds", "val"?}]}``.
    """
    if hooks is not None:
        # Lists, whatever the method gave (a generator would be used up by the line below).
        groups = [{**g, "params": _as_list(g["params"])} for g in hooks.param_groups(lr, weight_decay)]
        groups = [group for group in groups if group["params"]]
        params = [p for group in groups for p in group["params"]]
    else:
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": params}]
    if not params:
        raise ZooError(f"the {model_noun} has no trainable parameter")
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    total = epochs * len(loader)
    if max_steps is not None:
        total = min(total, max_steps)
    warmup = warmup_steps if warmup_steps is not None else min(200, max(1, total // 10))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, total, warmup))
    history: dict[str, Any] = {"steps": 0, "losses": [], "epochs": []}
    step = 0
    for epoch in range(epochs):
        if hooks is not None:
            hooks.on_epoch_start(epoch, epochs)  # e.g. a gradual unfreeze opens one more stage
        model.train()
        start, losses = time.perf_counter(), []
        for batch in progress_bar(loader, progress, len(loader), f"epoch {epoch + 1}/{epochs}"):
            if step >= total:
                break
            task_loss = batch_loss(batch)
            extra = hooks.regularization() if hooks is not None else None
            loss = task_loss if extra is None else task_loss + extra
            if not torch.isfinite(loss):
                raise ZooError(f"the {task} loss is {float(loss)} at step {step}: lower the learning rate ({lr})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad:
                torch.nn.utils.clip_grad_norm_(params, clip_grad)
            optimizer.step()
            scheduler.step()
            losses.append(float(task_loss.detach()))  # the task's loss, as classification logs it
            step += 1
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": sum(losses) / len(losses) if losses else None,
            "seconds": time.perf_counter() - start,
        }
        history["losses"].extend(losses)
        if evaluate is not None:
            val_start = time.perf_counter()
            record["val"] = evaluate()
            record["val_seconds"] = time.perf_counter() - val_start
        history["epochs"].append(record)
        if log is not None:
            log(_epoch_line(record, epochs, val_metric))
        if step >= total:
            break
    history["steps"] = step
    model.eval()
    return history


def _as_list(params: Any) -> list[Any]:
    return [params] if isinstance(params, torch.Tensor) else list(params)


def _epoch_line(record: dict[str, Any], epochs: int, val_metric: tuple[str, str]) -> str:
    """``epoch 3/12: loss 0.1234, 5.2s, val mIoU 0.456`` (the val part when the metric is there)."""
    label, key = val_metric
    val = record.get("val")
    extra = f", val {label} {val[key]:.3f}" if val and val.get(key) is not None else ""
    loss_text = f"{record['loss']:.4f}" if record["loss"] is not None else "-"
    return f"epoch {record['epoch']}/{epochs}: loss {loss_text}, {record['seconds']:.1f}s{extra}"
