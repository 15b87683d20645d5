"""The base class for adaptation methods (the AdaptationMethod contract)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_core.engine.model import TransferModel

_NO_DECAY_HINTS = ("bias", "norm", "bn", "ln_", "layernorm", "embeddings.position")


class AdaptationMethod:
    """How a pre-trained model is adapted: what is frozen, what is added, what is trained and saved.

    Subclasses implement :meth:`prepare`. The trainer calls :meth:`set_train_mode` before each
    epoch, :meth:`on_epoch_start` for schedules such as gradual unfreezing, and
    :meth:`param_groups` to build the optimiser. :meth:`adapter_state` is what an adapter stores.
    """

    name = "base"
    trains = "adapter"  # "head", "adapter" or "all"
    uses_feature_cache = False  # True: the trainer trains the head on cached backbone features

    def __init__(self, **config: Any) -> None:
        self.config = dict(config)

    def backbone_features(self) -> str:
        """What the backbone should return for this method: ``"last"`` (pooled final features) or
        ``"multilevel"`` (every stage pooled; see :meth:`Backbone.use_features`). Asked before
        the head is built; a family that cannot serve it keeps ``"last"`` and the run says so."""
        return "last"

    def prepare(self, model: TransferModel) -> None:  # pragma: no cover - abstract
        """Freeze, inject adapters, etc. Called once, on a freshly built model."""
        raise NotImplementedError

    # -- training hooks ----------------------------------------------------------------------
    def set_train_mode(self, model: TransferModel) -> None:
        """Train mode, except that a partly frozen backbone keeps its BatchNorm statistics."""
        model.train()
        if self.trains != "all":
            for module in model.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def on_epoch_start(self, model: TransferModel, epoch: int, total_epochs: int) -> bool:
        """Return True when the set of trainable parameters changed (the optimiser is rebuilt)."""
        return False

    # Optional, looked up by the pipeline (not defined here, so that their absence is visible):
    #   fit_features(head, train_x, train_y, val_x, val_y, config) -> TrainResult | None
    #       train the head on cached features yourself (uses_feature_cache = True).
    #   fit_items(model, train_items, train_y, val_items, val_y, config, *, accelerator, log) -> TrainResult | None
    #       a training loop of your own on raw items; result.best_state is loaded afterwards.

    def on_train_start(self, model: TransferModel, total_steps: int) -> None:
        """Called once before the first step with the number of optimiser steps planned (for
        methods whose schedule depends on it, e.g. AdaLoRA's rank budget)."""

    def after_optimizer_step(self, model: TransferModel, step: int) -> None:
        """Called after every optimiser step, before gradients are cleared (``step`` counts from 0)."""

    def regularization(self, model: TransferModel) -> torch.Tensor | None:
        """An extra loss term added to every training step (e.g. L2-SP), or None."""
        return None

    def param_groups(self, model: nn.Module, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW groups: no weight decay on biases and norms."""
        decay, no_decay = [], []
        for name, param in self.optimised_parameters(model):
            (no_decay if param.ndim <= 1 or any(h in name.lower() for h in _NO_DECAY_HINTS) else decay).append(param)
        groups = []
        if decay:
            groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
        return groups

    def optimised_parameters(self, model: nn.Module) -> list[tuple[str, nn.Parameter]]:
        """Parameters the optimiser holds: those trainable now (a method that unfreezes later
        returns those too; AdamW skips a parameter while its gradient is None)."""
        return [(name, param) for name, param in model.named_parameters() if param.requires_grad]

    # -- what an adapter keeps ---------------------------------------------------------------
    def trainable_names(self, model: TransferModel) -> set[str]:
        return {name for name, param in model.named_parameters() if param.requires_grad}

    def adapter_state(self, model: TransferModel) -> dict[str, torch.Tensor]:
        """The tensors an adapter stores: everything the method may change, nothing else."""
        state = model.state_dict()
        if self.trains == "all":
            keep = set(state)
        else:
            keep = self.trainable_names(model) | self.saved_names(model)
        return {name: tensor.detach().cpu().contiguous() for name, tensor in state.items() if name in keep}

    def saved_names(self, model: TransferModel) -> set[str]:
        """Extra state (frozen now but trained once, e.g. unfrozen-then-refrozen layers) to store."""
        return {name for name in model.state_dict() if name.startswith("head.")}

    def load_adapter_state(self, model: TransferModel, state: dict[str, torch.Tensor]) -> None:
        """Load what :meth:`adapter_state` returned into a model prepared by :meth:`prepare`."""
        result = model.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"adapter has tensors the model lacks: {result.unexpected_keys[:5]}")
        missing = set(self.adapter_state(model)) - set(state)
        if missing:
            raise ValueError(f"adapter lacks tensors the method trains: {sorted(missing)[:5]}")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(self.config)}


def freeze(module: nn.Module) -> None:
    for param in module.parameters():
        param.requires_grad_(False)


def unfreeze(module: nn.Module) -> None:
    for param in module.parameters():
        param.requires_grad_(True)
