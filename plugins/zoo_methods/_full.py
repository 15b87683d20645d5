"""Full fine-tuning: every weight trains, with optional gradual unfreezing, layer-wise learning rates,
L2-SP, a probe-fitted head to start from (LP-FT) and frozen BatchNorm statistics."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_core.engine.heads import LinearHead
from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_methods import _lpft
from zoo_methods.options import FullFineTuneOptions


def auto_starts_from_probe(model: Any) -> bool:
    """What ``head_init=auto`` means: LP-FT for a linear classification head on an image backbone.

    Chosen on the development sets (issue 16; BENCHMARKS.md "Full fine-tuning from the probe's head"):
    on flowers, full fine-tuning from the probe's head with frozen BatchNorm statistics reached 0.7413
    against 0.6856 from a random head (the probe: 0.7332); on yelp and TREC it trailed (0.870 vs 0.905,
    0.932 vs 0.960), so text backbones keep the random head. An MLP head or a dense task's head is not
    what the probe fits."""
    return (
        isinstance(model, TransferModel)
        and isinstance(model.head, LinearHead)
        and getattr(model.backbone, "modality", None) == "image"
    )


class FullFineTune(AdaptationMethod):
    """Every weight trains.

    Options: ``gradual_unfreeze`` (ULMFiT-style: start with the head, unfreeze one backbone stage
    per epoch from the top), ``layer_decay`` (discriminative learning rates: each stage below
    the top gets ``lr * layer_decay ** depth``) and ``l2_sp`` (L2-SP, Li et al. 2018: add
    ``l2_sp / 2 * |w - w_pretrained|^2`` over the backbone to the loss, pulling it towards the
    pre-trained weights instead of towards zero; the backbone then gets no weight decay),
    ``head_init`` (``probe``: LP-FT, Kumar et al. 2022: the head is first fitted as ``linear_probe``
    fits it, on frozen features, then everything trains from it at the method's small learning
    rate; see :mod:`zoo_methods._lpft`; ``auto``, the default, is ``probe`` for a linear head on an
    image backbone and ``random`` otherwise: :func:`auto_starts_from_probe`) and ``freeze_bn`` (the
    backbone's BatchNorm layers stay in eval mode: running statistics frozen, their scale and shift
    still train; for small batches; unset, it is on exactly when the head starts from the probe,
    whose features were computed with those statistics).
    """

    name = "full"
    trains = "all"
    Options = FullFineTuneOptions
    options: FullFineTuneOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Set by prepare(): the backbone's stages (parameter names, bottom to top) and, for L2-SP,
        # the pre-trained weights the backbone is pulled towards.
        self._groups: list[list[str]] = []
        self._anchor: dict[str, torch.Tensor] = {}
        self.head_from_probe = False  # set by prepare(): head_init resolved against the model's head

    def prepare(self, model: TransferModel) -> None:
        unfreeze(model)
        self._groups = model.backbone.layer_groups()
        self._anchor = {}
        if self.options.l2_sp > 0:
            self._anchor = {name: param.detach().clone() for name, param in model.backbone.named_parameters()}
        if self.options.gradual_unfreeze:
            freeze(model.backbone)
        if self.options.head_init == "probe":
            _lpft.check_probe_head(self.name, model)
        self.head_from_probe = self.options.head_init == "probe" or (
            self.options.head_init == "auto" and auto_starts_from_probe(model)
        )

    @property
    def frozen_bn(self) -> bool:
        """Whether the backbone's BatchNorm statistics stay frozen: ``freeze_bn``, or unset and LP-FT."""
        return self.head_from_probe if self.options.freeze_bn is None else bool(self.options.freeze_bn)

    def fit_items(self, model, train_items, train_y, val_items, val_y, config, *, accelerator, log):
        """When the head starts from the probe (``head_init`` probe, or auto on an image model): fit
        it as the linear probe does, then return None so that the generic trainer fine-tunes from it.
        Otherwise nothing (the generic trainer runs)."""
        return _lpft.start_from_probe_head(
            self,
            model,
            train_items,
            train_y,
            val_items,
            val_y,
            config,
            accelerator=accelerator,
            log=log,
            enabled=self.head_from_probe,
        )

    def set_train_mode(self, model: TransferModel) -> None:
        """Train mode; with ``freeze_bn`` the backbone's BatchNorm layers stay in eval mode (those
        layers alone: timm's BatchNormAct2d keeps its activation and dropout children training)."""
        super().set_train_mode(model)
        if self.frozen_bn:
            for module in model.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.training = False  # not .eval(): that would reach the layer's children too

    def regularization(self, model: TransferModel):
        if not self._anchor:
            return None
        params = dict(model.backbone.named_parameters())
        terms = [
            ((params[name] - anchor.to(params[name].device)) ** 2).sum()
            for name, anchor in self._anchor.items()
            if params[name].requires_grad
        ]
        return 0.5 * self.options.l2_sp * torch.stack(terms).sum() if terms else None

    def on_epoch_start(self, model: TransferModel, epoch: int, total_epochs: int) -> bool:
        if not self.options.gradual_unfreeze:
            return False
        # Epoch 0 trains the head alone; each later epoch unfreezes one more stage from the top.
        stages = self._groups[::-1][:epoch]
        wanted = {f"backbone.model.{n}" for group in stages for n in group}
        changed = False
        for name, param in model.named_parameters():
            if name.startswith("backbone.") and (name in wanted) != param.requires_grad:
                param.requires_grad_(name in wanted)
                changed = True
        return changed

    def optimised_parameters(self, model):
        return list(model.named_parameters())  # frozen stages join the optimiser as they unfreeze

    def param_groups(self, model, lr, weight_decay):
        decay = self.options.layer_decay
        anchored = bool(self._anchor)
        if not isinstance(model, TransferModel) or not (decay or anchored):
            return super().param_groups(model, lr, weight_decay)
        depth_of = {}
        for depth, group in enumerate(reversed(self._groups), start=1):
            for name in group:
                depth_of[f"backbone.model.{name}"] = depth
        # L2-SP pulls the backbone towards its pre-trained weights: no decay towards zero there.
        anchored_ids = {id(p) for p in model.backbone.parameters()} if anchored else set()
        groups = []
        for name, param in model.named_parameters():
            scale = decay ** depth_of.get(name, 0) if decay else 1.0
            no_decay = param.ndim <= 1 or id(param) in anchored_ids
            groups.append({"params": [param], "lr": lr * scale, "weight_decay": 0.0 if no_decay else weight_decay})
        return groups
