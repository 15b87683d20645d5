"""Linear probe and full fine-tuning (pure torch)."""

from __future__ import annotations

import torch

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel


class LinearProbe(AdaptationMethod):
    """Frozen backbone; only the head trains, on cached features.

    With a linear head the default solver is ``lbfgs``: multinomial logistic regression on
    standardised features, fitted to convergence with L-BFGS for each L2 strength of a log grid;
    the strength with the best validation score is refitted on train + validation (the protocol of
    Kornblith et al. 2019 and CLIP's linear-probe evaluations). ``solver=adamw`` uses the generic
    mini-batch loop instead (then epochs, schedules and early stopping apply).

    ``features=multilevel`` (the default where the family supports it) probes the pooled output of
    every backbone stage, not only the last (Head2Toe, Evci et al. 2022); each level is scaled to
    the same total weight, so that many narrow early channels and one wide final vector are
    penalised alike. ``features=last`` probes the pooled final features only.
    """

    name = "linear_probe"
    trains = "head"
    uses_feature_cache = True
    L2_GRID = (10.0, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 1e-4)

    def backbone_features(self) -> str:
        return str(self.config.get("features") or "multilevel")

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        unfreeze(model.head)
        model.backbone.eval()
        self._groups = list(model.backbone.feature_groups)

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        """Fit ``head`` on features directly; returns a TrainResult, or None to use the generic loop."""
        from zoo_core.engine.heads import LinearHead

        if self.config.get("solver", "lbfgs") != "lbfgs" or not isinstance(head, LinearHead):
            return None
        from zoo_methods._lbfgs import fit_logistic_head

        return fit_logistic_head(
            head,
            train_x,
            train_y,
            val_x,
            val_y,
            config,
            grid=self.config.get("l2_grid") or self.L2_GRID,
            groups=getattr(self, "_groups", None),
        )


class FullFineTune(AdaptationMethod):
    """Every weight trains.

    Options: ``gradual_unfreeze`` (ULMFiT-style: start with the head, unfreeze one backbone stage
    per epoch from the top), ``layer_decay`` (discriminative learning rates: each stage below
    the top gets ``lr * layer_decay ** depth``) and ``l2_sp`` (L2-SP, Li et al. 2018: add
    ``l2_sp / 2 * |w - w_pretrained|^2`` over the backbone to the loss, pulling it towards the
    pre-trained weights instead of towards zero; the backbone then gets no weight decay).
    """

    name = "full"
    trains = "all"

    def prepare(self, model: TransferModel) -> None:
        unfreeze(model)
        self._groups = model.backbone.layer_groups()
        self._anchor = {}
        if float(self.config.get("l2_sp") or 0) > 0:
            self._anchor = {name: param.detach().clone() for name, param in model.backbone.named_parameters()}
        if self.config.get("gradual_unfreeze"):
            freeze(model.backbone)

    def regularization(self, model: TransferModel):
        if not self._anchor:
            return None
        params = dict(model.backbone.named_parameters())
        terms = [
            ((params[name] - anchor.to(params[name].device)) ** 2).sum()
            for name, anchor in self._anchor.items()
            if params[name].requires_grad
        ]
        return 0.5 * float(self.config["l2_sp"]) * torch.stack(terms).sum() if terms else None

    def on_epoch_start(self, model: TransferModel, epoch: int, total_epochs: int) -> bool:
        if not self.config.get("gradual_unfreeze"):
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
        decay = self.config.get("layer_decay")
        anchored = bool(getattr(self, "_anchor", None))
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
            scale = float(decay) ** depth_of.get(name, 0) if decay else 1.0
            no_decay = param.ndim <= 1 or id(param) in anchored_ids
            groups.append({"params": [param], "lr": lr * scale, "weight_decay": 0.0 if no_decay else weight_decay})
        return groups
