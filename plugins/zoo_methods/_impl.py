"""Linear probe and full fine-tuning (pure torch)."""

from __future__ import annotations

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel


class LinearProbe(AdaptationMethod):
    """Frozen backbone; only the head trains, on cached features."""

    name = "linear_probe"
    trains = "head"
    uses_feature_cache = True

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        unfreeze(model.head)
        model.backbone.eval()


class FullFineTune(AdaptationMethod):
    """Every weight trains.

    Options: ``gradual_unfreeze`` (ULMFiT-style: start with the head, unfreeze one backbone stage
    per epoch from the top) and ``layer_decay`` (discriminative learning rates: each stage below
    the top gets ``lr * layer_decay ** depth``).
    """

    name = "full"
    trains = "all"

    def prepare(self, model: TransferModel) -> None:
        unfreeze(model)
        self._groups = model.backbone.layer_groups()
        if self.config.get("gradual_unfreeze"):
            freeze(model.backbone)

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
        if not decay or not isinstance(model, TransferModel):
            return super().param_groups(model, lr, weight_decay)
        depth_of = {}
        for depth, group in enumerate(reversed(self._groups), start=1):
            for name in group:
                depth_of[f"backbone.model.{name}"] = depth
        groups = []
        for name, param in model.named_parameters():
            scale = float(decay) ** depth_of.get(name, 0)
            no_decay = param.ndim <= 1
            groups.append({"params": [param], "lr": lr * scale, "weight_decay": 0.0 if no_decay else weight_decay})
        return groups
