"""Domain adaptation with unlabelled target data: Deep CORAL, DANN, minimum class confusion and
FixMatch-style self-training on cached frozen features, and AdaBN.

The four feature-space methods use the "frozen backbone + bottleneck" setting: the backbone's
pooled features of the labelled source data and of the unlabelled target data are extracted once
(and cached); a bottleneck (Linear, BatchNorm, ReLU, dropout) and a linear classifier train on them
with the source cross-entropy plus ``trade_off`` times the method's adaptation loss. Losses and
schedules follow TLlib (thuml/Transfer-Learning-Library). The bottleneck and classifier are the
model's head, so the adapter predicts through the normal path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from zoo_core.engine.heads import LinearHead
from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_core.engine.train import TrainResult, loss_function, make_scheduler
from zoo_core.errors import ZooError
from zoo_core.options import TrainConfig
from zoo_methods.options import (
    L2_GRID,
    AdaBNOptions,
    CoralOptions,
    DANNOptions,
    DomainAdaptationOptions,
    MCCOptions,
    SelfTrainingOptions,
)

# ------------------------------------------------------------------------------------- losses


def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Deep CORAL (Sun and Saenko, 2016) as TLlib computes it: the mean squared difference of the
    two batches' feature means plus that of their covariance matrices; 0 for identical batches."""
    mean_s, mean_t = source.mean(0, keepdim=True), target.mean(0, keepdim=True)
    centred_s, centred_t = source - mean_s, target - mean_t
    cov_s = centred_s.T @ centred_s / max(1, len(source) - 1)
    cov_t = centred_t.T @ centred_t / max(1, len(target) - 1)
    return (mean_s - mean_t).pow(2).mean() + (cov_s - cov_t).pow(2).mean()


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coeff * grad, None


def reverse_gradient(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """The identity forward; the gradient times ``-coeff`` backward (Ganin and Lempitsky, 2015)."""
    return _ReverseGradient.apply(x, coeff)


def dann_coefficient(progress: float) -> float:
    """DANN's gradient-reversal schedule ``2 / (1 + exp(-10 p)) - 1``: 0 at the start, towards 1."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


def domain_discriminator(width: int, hidden: int) -> nn.Module:
    """TLlib's DomainDiscriminator (two hidden layers with BatchNorm), returning logits."""
    return nn.Sequential(
        nn.Linear(width, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, 1),
    )


def mcc_loss(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """Minimum class confusion (Jin et al., 2020), TLlib's MinimumClassConfusionLoss: the
    off-diagonal mass of the entropy-weighted class confusion matrix of the target predictions."""
    batch, classes = logits.shape
    probs = F.softmax(logits / temperature, dim=1)
    entropy = -(probs * torch.log(probs + 1e-5)).sum(1).detach()
    weight = 1 + torch.exp(-entropy)
    weight = (batch * weight / weight.sum()).unsqueeze(1)
    confusion = (probs * weight).T @ probs
    confusion = confusion / confusion.sum(dim=1)  # as TLlib: broadcast over columns
    return (confusion.sum() - confusion.trace()) / classes


def fixmatch_loss(
    weak_logits: torch.Tensor, strong_logits: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """FixMatch's unlabelled loss (Sohn et al., 2020): cross-entropy of the strong view against the
    weak view's confident hard pseudo-labels, averaged over the whole batch; and the share kept."""
    confidence, pseudo = F.softmax(weak_logits.detach(), dim=1).max(1)
    mask = (confidence >= threshold).float()
    return (F.cross_entropy(strong_logits, pseudo, reduction="none") * mask).mean(), mask.mean()


# ---------------------------------------------------------------------------------- the head


class DomainHead(nn.Module):
    """Standardise, bottleneck (Linear, BatchNorm, ReLU, dropout), linear classifier: the adapter's
    head. The standardisation (buffers) is set from the source and target features before training."""

    def __init__(self, in_features: int, num_classes: int, width: int, dropout: float):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("scale", torch.ones(in_features))
        self.bottleneck = nn.Sequential(
            nn.Linear(in_features, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout)
        )
        self.classifier = nn.Linear(width, num_classes)

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.bottleneck(self.standardise(features)))


@dataclass
class Step:
    """What an adaptation loss sees of one training step: the bottleneck features of the source and
    target parts of the joint batch, the target logits, those of the extra view (see
    :meth:`FeatureDomainAdaptation.extra_view`), and the training progress (0 at the first step)."""

    f_s: torch.Tensor
    f_t: torch.Tensor
    logits_t: torch.Tensor
    logits_extra: torch.Tensor | None
    progress: float


class FeatureDomainAdaptation(AdaptationMethod):
    """The shared loop of the feature-space methods (see the module docstring); a subclass gives
    :meth:`adaptation_loss`. ``trade_off=0`` trains the same net on the source alone.

    Training is a fixed schedule (``epochs`` over the source, AdamW, the ``schedule``); every step
    pairs a source batch with an equally large random batch of target features, and both go through
    the bottleneck together (its BatchNorm sees both domains, as in TLlib). The last epoch is kept:
    source validation does not measure the target domain. When the run reports a test split,
    validation joins the training data (nothing is chosen on it).
    """

    trains = "head"
    uses_feature_cache = True
    uses_unlabeled_data = True
    Options: type = DomainAdaptationOptions
    options: DomainAdaptationOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._target: torch.Tensor | None = None  # set by set_unlabeled

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        model.backbone.eval()
        if not isinstance(model.head, LinearHead):
            raise ZooError(f"{self.name} puts its own bottleneck under a linear classifier; use --head linear")
        fc = model.head.fc
        model.head = DomainHead(fc.in_features, fc.out_features, self.options.bottleneck, model.head.dropout.p)
        unfreeze(model.head)

    def set_unlabeled(self, model: TransferModel, unlabeled: Any) -> None:
        target = torch.as_tensor(unlabeled).float()
        if target.ndim != 2 or len(target) < 2:
            raise ZooError(f"{self.name} needs at least 2 unlabelled target items (--unlabeled), got {len(target)}")
        self._target = target

    def adaptation_loss(self, step: Step, extra: nn.Module | None) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError  # pragma: no cover

    def extra_module(self, width: int) -> nn.Module | None:
        """A module trained beside the head but not kept (DANN's discriminator)."""
        return None

    def extra_view(self, z_t: torch.Tensor) -> torch.Tensor | None:
        """More rows for the joint batch, made from the standardised target batch (self-training's
        strong view): one forward pass, so that the bottleneck's BatchNorm normalises every part
        of the step with the same batch statistics, as FixMatch does."""
        return None

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        with _one_thread():
            return self._fit(head, train_x, train_y, val_x, val_y, config)

    def _fit(self, head, train_x, train_y, val_x, val_y, config) -> TrainResult:
        started = time.perf_counter()
        x, y = torch.as_tensor(train_x).float(), torch.as_tensor(list(train_y), dtype=torch.long)
        has_val = val_x is not None and val_y is not None and len(val_y) > 0
        joined = has_val and config.refit_on_val
        if joined:
            x = torch.cat([x, torch.as_tensor(val_x).float()])
            y = torch.cat([y, torch.as_tensor(list(val_y), dtype=torch.long)])
        adapting = self.options.trade_off > 0
        target = self._target
        if adapting and target is None:
            raise ZooError(f"method '{self.name}' adapts to unlabelled target-domain data: give --unlabeled PATH")
        if target is not None and target.shape[1] != x.shape[1]:
            raise ZooError(
                f"{self.name}: unlabelled features have {target.shape[1]} dimensions, the training features "
                f"{x.shape[1]}; give --unlabeled data of the same modality"
            )
        assert isinstance(head, DomainHead)
        with torch.no_grad():  # one standardisation for both domains: it must not separate them
            pooled = torch.cat([x, target]) if adapting and target is not None else x
            head.mean.copy_(pooled.mean(0))
            head.scale.copy_(pooled.std(0).clamp(min=1e-6))
        extra = self.extra_module(head.classifier.in_features) if adapting else None
        params = self.param_groups(head, config.lr, config.weight_decay)
        if extra is not None:
            params += self.param_groups(extra, config.lr, config.weight_decay)
        optimizer = torch.optim.AdamW(params, lr=config.lr)
        trained = [p for group in params for p in group["params"]]
        batch = max(2, min(config.batch_size, len(x)))  # BatchNorm needs two or more rows
        steps_per_epoch = max(1, len(x) // batch)  # equal batches: the last partial one is dropped
        total = steps_per_epoch * config.epochs
        scheduler = make_scheduler(optimizer, config, total, steps_per_epoch)
        loss_fn = loss_function(config, y, head.classifier.out_features)
        generator = torch.Generator().manual_seed(config.seed)
        history: list[dict[str, Any]] = []
        step_index = 0
        for epoch in range(config.epochs):
            epoch_start = time.perf_counter()
            head.train()
            if extra is not None:
                extra.train()
            order = torch.randperm(len(x), generator=generator)
            sums: dict[str, float] = {}
            for i in range(steps_per_epoch):
                idx = order[i * batch : (i + 1) * batch]
                z_s = head.standardise(x[idx])
                if adapting and target is not None:
                    z_t = head.standardise(target[torch.randint(len(target), (len(idx),), generator=generator)])
                    view = self.extra_view(z_t)
                    f = head.bottleneck(torch.cat([z_s, z_t] if view is None else [z_s, z_t, view]))
                    logits = head.classifier(f)
                    n = len(idx)
                    extra_logits = None if view is None else logits[2 * n :]
                    step = Step(f[:n], f[n : 2 * n], logits[n : 2 * n], extra_logits, step_index / max(1, total))
                    classification = loss_fn(logits[:n], y[idx])
                    transfer, stats = self.adaptation_loss(step, extra)
                    loss = classification + self.options.trade_off * transfer
                    stats = {"classification_loss": classification.item(), "transfer_loss": transfer.item(), **stats}
                else:
                    loss = loss_fn(head.classifier(head.bottleneck(z_s)), y[idx])
                    stats = {}
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(trained, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                step_index += 1
                for key, value in {"train_loss": loss.item(), **stats}.items():
                    sums[key] = sums.get(key, 0.0) + value
            record: dict[str, Any] = {"epoch": epoch + 1, **{k: v / steps_per_epoch for k, v in sums.items()}}
            record.update(lr=optimizer.param_groups[0]["lr"], seconds=time.perf_counter() - epoch_start)
            if has_val and not joined:
                record.update(_val_metrics(head, val_x, val_y))
            history.append(record)
        head.eval()
        kept = "train + validation (nothing is chosen on validation)" if joined else "train"
        target_note = f" and {len(target)} unlabelled target items" if adapting and target is not None else ""
        note = (
            f"{self.name}: bottleneck {self.options.bottleneck} + linear classifier trained on cached features of "
            f"{len(x)} labelled items ({kept}){target_note}, {config.epochs} epochs, trade_off "
            f"{self.options.trade_off:g}; the last epoch is kept (source validation does not measure the target)"
        )
        result = TrainResult(history=history, best_epoch=config.epochs, note=note)
        result.best_state = {f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()}
        result.seconds = time.perf_counter() - started
        result.samples_per_second = total * batch / result.seconds if result.seconds else 0.0
        return result


@contextmanager
def _one_thread() -> Iterator[None]:
    # Steps on a few dozen rows of a few hundred features: OpenMP's hand-offs between threads cost
    # more than they save (40x slower with two threads on a busy two-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def _val_metrics(head: nn.Module, val_x: Any, val_y: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import f1_score

    head.eval()
    logits = head(torch.as_tensor(val_x).float())
    head.train()
    labels = torch.as_tensor(list(val_y), dtype=torch.long)
    predictions = logits.argmax(1)
    return {
        "val_loss": float(F.cross_entropy(logits, labels)),
        "val_accuracy": float((predictions == labels).float().mean()),
        "val_macro_f1": float(f1_score(labels.numpy(), predictions.numpy(), average="macro", zero_division=0)),
    }


class DeepCORAL(FeatureDomainAdaptation):
    """Deep CORAL: align the second-order statistics (and means) of the source and target bottleneck
    features with :func:`coral_loss`."""

    name = "coral"
    Options = CoralOptions
    options: CoralOptions

    def adaptation_loss(self, step, extra):
        return coral_loss(step.f_s, step.f_t), {}


class DANN(FeatureDomainAdaptation):
    """Domain-adversarial training (Ganin et al., 2016): a domain discriminator tells source from
    target bottleneck features through a gradient reversal layer whose coefficient follows
    :func:`dann_coefficient`; the bottleneck learns features it cannot tell apart. The discriminator
    is discarded after training."""

    name = "dann"
    Options = DANNOptions
    options: DANNOptions

    def extra_module(self, width):
        return domain_discriminator(width, self.options.discriminator_hidden)

    def adaptation_loss(self, step, extra):
        assert extra is not None
        features = reverse_gradient(torch.cat([step.f_s, step.f_t]), dann_coefficient(step.progress))
        logits = extra(features).squeeze(1)
        domains = torch.cat([torch.ones(len(step.f_s)), torch.zeros(len(step.f_t))])
        loss = F.binary_cross_entropy_with_logits(logits, domains)
        accuracy = float(((logits > 0).float() == domains).float().mean())
        return loss, {"domain_accuracy": accuracy}


class MinimumClassConfusion(FeatureDomainAdaptation):
    """Minimum class confusion: penalise the target predictions' confusion between classes
    (:func:`mcc_loss`, temperature 2.5)."""

    name = "mcc"
    Options = MCCOptions
    options: MCCOptions

    def adaptation_loss(self, step, extra):
        return mcc_loss(step.logits_t, self.options.temperature), {}


class SelfTraining(FeatureDomainAdaptation):
    """FixMatch-style self-training on features: the weak view of a target item is its feature as
    is; its prediction, when at least ``threshold`` confident, is the pseudo-label the strong view
    (the standardised feature with ``strong_dropout`` of its dimensions dropped and Gaussian noise
    of std ``strong_noise`` added) is trained towards (:func:`fixmatch_loss`)."""

    name = "self_training"
    Options = SelfTrainingOptions
    options: SelfTrainingOptions

    def extra_view(self, z_t):
        strong = F.dropout(z_t, self.options.strong_dropout, training=True)
        return strong + self.options.strong_noise * torch.randn_like(strong)

    def adaptation_loss(self, step, extra):
        assert step.logits_extra is not None
        loss, kept = fixmatch_loss(step.logits_t, step.logits_extra, self.options.threshold)
        return loss, {"pseudo_label_share": float(kept)}


# -------------------------------------------------------------------------------------- AdaBN


def batchnorms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def estimate_statistics(backbone: Any, items: Sequence[Any], batch_size: int = 64) -> None:
    """Replace every BatchNorm layer's running mean and variance by their averages over ``items``
    (a cumulative average, momentum None); the rest of the backbone stays in eval mode."""
    from zoo_core.engine.backbone import to_device
    from zoo_core.engine.loaders import item_loader

    layers = batchnorms(backbone)
    momenta = [layer.momentum for layer in layers]
    backbone.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
        layer.train()
    device = next(backbone.parameters()).device
    try:
        for batch in item_loader(items, None, backbone.preprocessor(train=False), batch_size=batch_size):
            backbone(to_device(batch, device))
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        backbone.eval()


def statistics_state(backbone: nn.Module) -> dict[str, torch.Tensor]:
    """The BatchNorm buffers (running mean, variance, count) by their names in ``backbone``."""
    names = {id(m) for m in batchnorms(backbone)}
    return {
        f"{prefix}.{name}".lstrip("."): buffer
        for prefix, module in backbone.named_modules()
        if id(module) in names
        for name, buffer in module.named_buffers(recurse=False)
    }


def _statistics_key(backbone: Any, items: Sequence[Any]) -> str | None:
    """Where the statistics of ``items`` are cached: the feature cache's key for this backbone and
    the items' digests; None when either is not available (random weights, unreadable items)."""
    from zoo_core.engine.features import cache_key, item_digest

    key = cache_key(backbone)
    digests = [item_digest(item, backbone.modality) for item in items]
    if key is None or None in digests:
        return None
    return hashlib.sha256(json.dumps([key, sorted(str(d) for d in digests)]).encode()).hexdigest()[:40]


def adapt_statistics(backbone: Any, items: Sequence[Any]) -> str:
    """Re-estimate the BatchNorm statistics on ``items`` (sorted, so the order given does not
    matter) or load them from the cache, which keeps them per backbone and set of items; returns
    their digest."""
    from safetensors.torch import load_file, save_file

    from zoo_core.paths import cache_dir

    ordered = sorted(set(items), key=str)
    key = _statistics_key(backbone, ordered)
    path = cache_dir("adabn") / f"{key}.safetensors" if key else None
    state = statistics_state(backbone)
    if path is not None and path.is_file():
        stored = load_file(str(path))
        with torch.no_grad():
            for name, tensor in state.items():
                tensor.copy_(stored[name])
    else:
        estimate_statistics(backbone, ordered)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}{uuid.uuid4().hex[:6]}")
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
            os.replace(tmp, path)  # atomic: concurrent runs may share the cache
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode() + state[name].cpu().numpy().tobytes())
    return digest.hexdigest()


def features_under_statistics(backbone: Any, items: Sequence[Any], statistics: str) -> torch.Tensor:
    """Pooled features with the current (re-estimated) BatchNorm statistics, through the feature
    cache under a key that includes those statistics: the pre-trained statistics' cached features
    are never served for them, nor theirs for the pre-trained ones."""
    from zoo_core.engine.features import extract_features

    weights = backbone.weights_sha256
    if statistics == "pretrained":
        return extract_features(backbone, items)
    if weights is not None:
        backbone.weights_sha256 = hashlib.sha256(f"{weights}:adabn:{statistics}".encode()).hexdigest()
    try:
        return extract_features(backbone, items)
    finally:
        backbone.weights_sha256 = weights


class AdaBN(AdaptationMethod):
    """AdaBN (Li et al., 2016) on a frozen convnet with a linear probe. The probe is fitted (the
    linear probe's L-BFGS logistic regression) on the labelled features computed under BatchNorm
    statistics re-estimated on the labelled images (``source_statistics``; else the pre-trained
    ones); then every BatchNorm layer gets the statistics of the unlabelled target images, which
    the adapter stores with the probe: each domain is normalised by its own statistics.
    Predictions run the whole network (the statistics are part of the adapter), not cached features.
    Statistics are cached per backbone and set of images. Convnets with BatchNorm only."""

    name = "adabn"
    trains = "head"
    uses_unlabeled_data = True
    Options = AdaBNOptions
    options: AdaBNOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._target: list[Any] | None = None

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        model.backbone.eval()
        if not batchnorms(model.backbone):
            raise ZooError(
                "adabn re-estimates BatchNorm statistics, and this backbone has no BatchNorm layers "
                "(transformers use LayerNorm); use coral, dann, mcc or self_training"
            )
        if not isinstance(model.head, LinearHead):
            raise ZooError("adabn fits a linear probe; use --head linear")
        unfreeze(model.head)

    def saved_names(self, model: TransferModel) -> set[str]:
        """The head and the re-estimated BatchNorm statistics."""
        return super().saved_names(model) | {f"backbone.{name}" for name in statistics_state(model.backbone)}

    def set_unlabeled(self, model: TransferModel, unlabeled: Any) -> None:
        self._target = list(unlabeled)
        if not self._target:
            raise ZooError("adabn needs unlabelled target images (--unlabeled); none were given")

    def fit_items(
        self,
        model: TransferModel,
        train_items: Sequence[Any],
        train_y: Sequence[int],
        val_items: Sequence[Any] | None,
        val_y: Sequence[int] | None,
        config: TrainConfig,
        *,
        accelerator: Any,
        log: Callable[[str], None],
    ) -> TrainResult:
        from zoo_methods._logistic import fit_logistic_head

        if self._target is None:
            raise ZooError("method 'adabn' adapts to unlabelled target-domain data: give --unlabeled PATH")
        started = time.perf_counter()
        backbone = model.backbone
        labelled = list(train_items) + list(val_items or [])
        if self.options.source_statistics:
            # Validation images are unlabelled for this purpose: they belong to the source domain too.
            statistics = adapt_statistics(backbone, labelled)
            log(f"adabn: BatchNorm statistics of {len(set(labelled))} labelled images")
        else:
            statistics = "pretrained"
        train_x = features_under_statistics(backbone, train_items, statistics)
        val_x = features_under_statistics(backbone, val_items, statistics) if val_items else None
        assert isinstance(model.head, LinearHead)
        result = fit_logistic_head(model.head, train_x, train_y, val_x, val_y, config, grid=L2_GRID)
        adapt_statistics(backbone, self._target)
        log(f"adabn: BatchNorm statistics of {len(set(self._target))} unlabelled target images")
        result.best_state = {k: v.clone() for k, v in self.adapter_state(model).items()}
        which = "their own re-estimated" if self.options.source_statistics else "the pre-trained"
        result.note = (
            f"adabn: probe fitted on labelled features under {which} BatchNorm statistics "
            f"({result.note.removeprefix('linear probe: ')}); the adapter keeps the statistics of "
            f"{len(set(self._target))} unlabelled target images"
        )
        result.seconds = time.perf_counter() - started
        return result
