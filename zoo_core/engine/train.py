"""The training loop: small and ours; devices, mixed precision and processes are Accelerate's.

The same code runs on one CPU, a GPU, or several processes under ``accelerate launch`` /
``torchrun`` (each process gets a shard of every batch; metrics are gathered).
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo_core.engine.backbone import batch_size_of
from zoo_core.engine.method import AdaptationMethod
from zoo_core.engine.model import TransferModel

# TrainConfig lives in the torch-free zoo_core.options (listings and validation read it); kept importable here.
from zoo_core.options import SCHEDULES, TrainConfig

#: An optional ``observer(epoch, record)`` that :meth:`Trainer.fit` calls after each epoch's
#: validation (``epoch`` counts from 1; ``record`` is that epoch's history row, with ``val_loss``,
#: ``val_accuracy`` and ``val_macro_f1``). Hyper-parameter search (:mod:`zoo_core.engine.tuning`)
#: sets it around one ``finetune`` call to report every epoch, and stops a trial by raising from it
#: (``optuna.TrialPruned``): the exception propagates out of ``fit`` and ``finetune`` unchanged.
#: Unset (the default), training is unaffected; methods that fit with their own loop never call it.
EPOCH_OBSERVER: ContextVar[Callable[[int, dict[str, Any]], None] | None] = ContextVar(
    "zoo_epoch_observer", default=None
)


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    best_state: dict[str, torch.Tensor] | None = None
    seconds: float = 0.0
    samples_per_second: float = 0.0
    stopped_early: bool = False
    note: str = ""  # how a method that fits directly (fit_features) trained, for the run's notes


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_accelerator(grad_accum: int = 1, cpu: bool | None = None):
    from accelerate import Accelerator, DistributedDataParallelKwargs

    if cpu is None:
        cpu = not torch.cuda.is_available()
    # split_batches: --batch-size is the global batch whatever the number of processes, so that a
    # run under torchrun/accelerate launch computes the same gradients as a single process.
    # find_unused_parameters: backbones carry parts a pooling choice leaves unused (BERT's pooler).
    return Accelerator(
        cpu=cpu,
        gradient_accumulation_steps=grad_accum,
        split_batches=True,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


def make_scheduler(optimizer, config: TrainConfig, total_steps: int, steps_per_epoch: int):
    if config.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule '{config.schedule}': choose one of {', '.join(SCHEDULES)}")
    warmup = int(round(config.warmup * total_steps))

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if config.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.1 ** (step // max(1, config.step_size * steps_per_epoch))  # step

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def loss_function(config: TrainConfig, train_labels: torch.Tensor, num_classes: int) -> nn.Module:
    weight = None
    if config.class_weights:
        counts = torch.bincount(train_labels, minlength=num_classes).float().clamp(min=1)
        weight = counts.sum() / (num_classes * counts)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)


def _better(monitor: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best - 1e-6 if monitor == "loss" else value > best + 1e-6


@torch.no_grad()
def predict_logits(
    module: nn.Module, loader, accelerator=None, progress: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels for every batch of ``loader`` (gathered across processes); ``progress``:
    a bar with that description, on a terminal."""
    module.eval()
    all_logits, all_labels = [], []
    bar = None
    if progress and sys.stderr.isatty() and (accelerator is None or accelerator.is_local_main_process):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(loader), desc=progress, unit="batch", leave=False, dynamic_ncols=True)
    for inputs, labels in loader:
        logits = module(inputs)
        if accelerator is not None:
            logits, labels = accelerator.gather_for_metrics((logits, labels))
        all_logits.append(logits.float().cpu())
        all_labels.append(labels.cpu())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if not all_logits:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(all_logits), torch.cat(all_labels)


def _val_metrics(logits: torch.Tensor, labels: torch.Tensor, loss_fn: nn.Module) -> dict[str, float]:
    from sklearn.metrics import f1_score

    predictions = logits.argmax(-1)
    return {
        "val_loss": float(nn.functional.cross_entropy(logits, labels)),
        "val_accuracy": float((predictions == labels).float().mean()),
        "val_macro_f1": float(f1_score(labels.numpy(), predictions.numpy(), average="macro", zero_division=0)),
    }


def make_ema(module: nn.Module, config: TrainConfig) -> Any:
    """A :class:`timm.utils.ModelEmaV3` of ``module`` with ``config.ema_decay`` (and timm's decay
    warm-up with ``config.ema_warmup``), or None when the EMA is off (``ema_decay`` 0)."""
    if not config.ema_decay:
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(module, decay=config.ema_decay, use_warmup=config.ema_warmup)


@contextmanager
def swapped_in(target: nn.Module, ema: Any) -> Iterator[None]:
    """Inside the block ``target`` holds the EMA's weights and the EMA holds ``target``'s; swapped
    back on leaving (in place: parameters keep their identity, the optimiser its references).
    Without an EMA (None), nothing happens."""
    if ema is None:
        yield
        return
    pairs = list(zip(target.state_dict().values(), ema.module.state_dict().values()))

    def swap() -> None:
        with torch.no_grad():
            for live, average in pairs:
                held = live.clone()
                live.copy_(average)
                average.copy_(held)

    swap()
    try:
        yield
    finally:
        swap()


class Trainer:
    """Fits ``module`` (the whole model, or just the head on cached features) for a method."""

    def __init__(self, config: TrainConfig, accelerator=None, log: Callable[[str], None] | None = None):
        self.config = config
        self.accelerator = accelerator or make_accelerator(config.grad_accum)
        self.log = log or (lambda message: None)

    def fit(
        self,
        model: TransferModel,
        method: AdaptationMethod,
        train_loader,
        val_loader=None,
        *,
        module: nn.Module | None = None,
        num_classes: int,
        train_labels: torch.Tensor,
        state_of: Callable[[], dict[str, torch.Tensor]] | None = None,
    ) -> TrainResult:
        """Train; keep the best state by ``config.monitor`` on ``val_loader`` (early stopping).

        :param model: the full :class:`TransferModel` (method hooks act on it).
        :param module: what maps a batch to logits; defaults to ``model`` (the head alone when
            training on cached features).
        :param state_of: returns the tensors to keep for the best epoch (default: the method's
            adapter state).

        With ``config.ema_decay`` > 0, a :class:`timm.utils.ModelEmaV3` of ``module`` is updated
        after every optimiser step, and its weights are what is validated each epoch and kept as
        ``best_state`` (they are swapped into ``module`` for that, then swapped out; training goes
        on from the raw weights). Cost: timm averages the whole module, frozen weights and buffers
        included (BatchNorm statistics are averaged too), so the EMA holds one more copy of the
        module on its device and each step runs one in-place interpolation over all of its floating
        tensors (a frozen tensor's average never changes, but it is read each step), plus two swaps
        of the module's state per epoch. With ``ema_decay`` 0 (the default) none of this happens.
        """
        config, accelerator = self.config, self.accelerator
        module = module if module is not None else model
        whole_model = module is model  # method-level regularisation applies to the full model only
        state_of = state_of or (lambda: method.adapter_state(model))
        loss_fn = loss_function(config, train_labels, num_classes)
        optimizer = torch.optim.AdamW(method.param_groups(module, config.lr, config.weight_decay), lr=config.lr)
        steps_per_epoch = max(1, math.ceil(len(train_loader) / config.grad_accum))
        scheduler = make_scheduler(optimizer, config, steps_per_epoch * config.epochs, steps_per_epoch)
        if whole_model:
            method.on_train_start(model, steps_per_epoch * config.epochs)
        module, optimizer, train_loader, scheduler = accelerator.prepare(module, optimizer, train_loader, scheduler)
        loss_fn = loss_fn.to(accelerator.device)  # not prepared: DDP refuses parameter-free modules
        if val_loader is not None:
            val_loader = accelerator.prepare(val_loader)
        raw_module = accelerator.unwrap_model(module)
        ema = make_ema(raw_module, config) if config.ema_decay else None
        ema_steps = 0
        result = TrainResult()
        best: float | None = None
        stale = 0
        seen = 0
        steps_done = 0
        # A method whose result exists only at the end of its schedule (AdaLoRA's final rank budget)
        # runs every planned epoch and keeps the last one.
        planned = method.follows_planned_schedule and whole_model
        started = time.perf_counter()
        show = config.progress and accelerator.is_local_main_process and sys.stderr.isatty()
        for epoch in range(config.epochs):
            method.on_epoch_start(model, epoch, config.epochs)
            if module is model:
                method.set_train_mode(model)
            else:
                module.train()
            epoch_start = time.perf_counter()
            total_loss, batches = 0.0, 0
            bar = None
            if show:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=len(train_loader), desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, dynamic_ncols=True
                )
            for inputs, labels in train_loader:
                with accelerator.accumulate(module):
                    loss = loss_fn(module(inputs), labels)
                    extra = method.regularization(model) if whole_model else None
                    accelerator.backward(loss if extra is None else loss + extra)
                    if config.max_grad_norm and accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(
                            [p for p in module.parameters() if p.requires_grad], config.max_grad_norm
                        )
                    optimizer.step()
                    scheduler.step()
                    if whole_model and accelerator.sync_gradients:
                        method.after_optimizer_step(model, steps_done)
                        steps_done += 1
                    if ema is not None and accelerator.sync_gradients:
                        ema_steps += 1
                        ema.update(raw_module, step=ema_steps if config.ema_warmup else None)
                    optimizer.zero_grad(set_to_none=True)
                total_loss += float(loss.detach())
                batches += 1
                seen += batch_size_of(inputs) * accelerator.num_processes
                if bar is not None:
                    bar.set_postfix(loss=f"{total_loss / batches:.4f}")
                    bar.update(1)
            if bar is not None:
                bar.close()
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": total_loss / max(1, batches),
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - epoch_start,
            }
            if val_loader is not None:
                with swapped_in(raw_module, ema):  # with an EMA, its weights are what is judged and kept
                    logits, labels_all = predict_logits(module, val_loader, accelerator)
                    record.update(_val_metrics(logits, labels_all, loss_fn))
                    value = record[f"val_{config.monitor}"]
                    if planned or _better(config.monitor, value, best):
                        best, stale = value, 0
                        result.best_epoch = epoch + 1
                        result.best_state = {k: v.clone() for k, v in state_of().items()}
                    else:
                        stale += 1
            result.history.append(record)
            self.log(_format_epoch(record))
            if getattr(accelerator, "trackers", None):  # experiment trackers (--report-to) see each epoch live
                accelerator.log({k: v for k, v in record.items() if k != "epoch"}, step=record["epoch"])
            observer = EPOCH_OBSERVER.get()
            if observer is not None and val_loader is not None:
                observer(epoch + 1, record)  # may raise to stop the run (a pruned tuning trial)
            if val_loader is not None and config.patience and not planned and stale >= config.patience:
                result.stopped_early = True
                break
        if result.best_state is None:  # no validation data: keep the last epoch
            result.best_epoch = len(result.history)
            with swapped_in(raw_module, ema):
                result.best_state = {k: v.clone() for k, v in state_of().items()}
        result.seconds = time.perf_counter() - started
        train_seconds = sum(record["seconds"] for record in result.history)  # excludes validation
        result.samples_per_second = seen / train_seconds if train_seconds else 0.0
        return result


def _format_epoch(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}", f"train_loss {record['train_loss']:.4f}"]
    for key in ("val_loss", "val_accuracy", "val_macro_f1"):
        if key in record:
            parts.append(f"{key} {record[key]:.4f}")
    parts.append(f"{record['seconds']:.1f}s")
    return "  ".join(parts)
