"""LP-FT (Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features and Underperform
Out-of-Distribution"): fit the head as the linear probe does, on frozen features, before anything
else trains, so that fine-tuning starts from a good head instead of a random one (whose large early
gradients distort the pre-trained features).

Methods that fine-tune on raw items through the generic trainer (``full``, ``bottleneck``, the PEFT
methods) take ``-o head_init=probe``: their :meth:`~zoo_core.engine.method.AdaptationMethod.fit_items`
calls :func:`fit_probe_head`, then returns None, so that the generic trainer fine-tunes from that
head. :func:`check_probe_head` refuses, at ``prepare``, a head the probe cannot fit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from zoo_core.engine.model import TransferModel
from zoo_core.engine.train import TrainResult
from zoo_core.errors import ZooError
from zoo_core.options import TrainConfig


def check_probe_head(method: str, model: TransferModel) -> None:
    """Refuse ``head_init=probe`` with a head other than the linear one (dropout + ``fc``): the probe
    is a multinomial logistic regression, which is what a linear head computes, not an MLP."""
    from zoo_core.engine.heads import LinearHead

    if not isinstance(model.head, LinearHead):
        raise ZooError(
            f"method '{method}': head_init=probe fits a linear head as linear_probe does, not a "
            f"{type(model.head).__name__}; use --head linear, or -o head_init=random"
        )


def fit_probe_head(
    model: TransferModel,
    train_items: Sequence[Any],
    train_y: Sequence[int],
    val_items: Sequence[Any] | None,
    val_y: Sequence[int] | None,
    config: TrainConfig,
    *,
    accelerator: Any = None,
    log: Callable[[str], None] = lambda message: None,
    method: str = "this method",
) -> TrainResult:
    """Fit ``model.head`` in place as ``linear_probe`` (with its default ``l2_grid``) fits its head.

    Features come from ``model.backbone`` in eval mode, without augmentation, through
    :func:`~zoo_core.engine.features.extract_features` (so the feature cache serves them when a
    probe of the same model saw the same items). The fit is :func:`zoo_methods._logistic.fit_logistic_head`:
    L-BFGS per L2 strength, the strength chosen on validation by ``config.monitor``. Unlike the
    probe, the head is never refitted on train + validation: validation still picks the fine-tune's
    best epoch. Under several processes each one fits the same head (deterministic, float64 on CPU).
    Moves the model to the accelerator's device; ``method`` names the caller in errors. Returns the
    probe's result (its ``history`` is the L2 grid's; only the note and timing are of use to a caller).
    """
    from zoo_core.engine.features import extract_features
    from zoo_methods._logistic import fit_logistic_head
    from zoo_methods.options import L2_GRID

    check_probe_head(method, model)
    started = time.perf_counter()
    if accelerator is not None:
        model.to(accelerator.device)
    main = accelerator is None or accelerator.is_local_main_process
    show = bool(config.progress) and main and sys.stderr.isatty()

    def features(items: Sequence[Any], what: str):
        return extract_features(
            model.backbone,
            items,
            batch_size=64,
            num_workers=config.num_workers,
            progress=show,
            desc=f"probe start: {what} features",
        )

    train_x = features(train_items, "train")
    has_val = val_items is not None and val_y is not None and len(val_items) > 0
    val_x = features(val_items, "val") if has_val and val_items is not None else None
    result = fit_logistic_head(
        model.head,
        train_x,
        train_y,
        val_x,
        val_y if has_val else None,
        replace(config, refit_on_val=False),
        grid=L2_GRID,
        groups=list(model.backbone.feature_groups),
    )
    chosen = result.history[result.best_epoch - 1]["l2"] if result.history else L2_GRID[len(L2_GRID) // 2]
    log(
        f"probe start (LP-FT): head fitted on {len(train_x)} frozen features, L2 {chosen:g} "
        f"({'chosen on validation' if has_val else 'no validation: the middle strength'}), "
        f"{time.perf_counter() - started:.1f}s; fine-tuning starts from it"
    )
    return result


def start_from_probe_head(
    method: Any,
    model: TransferModel,
    train_items: Sequence[Any],
    train_y: Sequence[int],
    val_items: Sequence[Any] | None,
    val_y: Sequence[int] | None,
    config: TrainConfig,
    *,
    accelerator: Any = None,
    log: Callable[[str], None] = lambda message: None,
    enabled: bool | None = None,
) -> None:
    """A method's ``fit_items`` under ``head_init``: with ``head_init=probe`` (an option of
    ``method``), or ``enabled`` when given (a method that resolved its own ``auto``), fit the head as
    the linear probe does (:func:`fit_probe_head`); otherwise nothing. Returns None either way, so
    that the generic trainer then trains from that head."""
    wanted = method.options.head_init == "probe" if enabled is None else enabled
    if wanted:
        fit_probe_head(
            model,
            train_items,
            train_y,
            val_items,
            val_y,
            config,
            accelerator=accelerator,
            log=log,
            method=method.name,
        )
    return None
