"""Selective tuning: methods that train a chosen part of the pre-trained backbone in place, plus the
head (BitFit: the biases; LayerNorm tuning: the normalisation layers)."""

from __future__ import annotations

from torch import nn

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_core.errors import ZooError
from zoo_methods.options import BitFitOptions, LayerNormTuningOptions

_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


class _TuneBaseSubset(AdaptationMethod):
    """Freeze the backbone, then unfreeze the pre-trained tensors :meth:`selects` picks."""

    trains = "adapter"
    preserves_base_output = True  # nothing is added and nothing changes before the first step

    def selects(self, module_name: str, module: nn.Module, param_name: str) -> bool:  # pragma: no cover
        raise NotImplementedError

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        chosen = self.tuned_base_parameters(model)
        if not chosen:
            raise ZooError(f"{self.name}: this backbone has no parameters the method tunes")
        for name, param in model.named_parameters():
            if name in chosen:
                param.requires_grad_(True)
        unfreeze(model.head)

    def tuned_base_parameters(self, model: TransferModel) -> set[str]:
        """Pre-trained tensors (full state names) this method is meant to change."""
        chosen = set()
        for module_name, module in model.backbone.named_modules():
            for param_name, _ in module.named_parameters(recurse=False):
                if self.selects(module_name, module, param_name):
                    chosen.add(f"backbone.{module_name}.{param_name}" if module_name else f"backbone.{param_name}")
        return chosen


class BitFit(_TuneBaseSubset):
    """BitFit (Ben Zaken et al., 2022): train only the backbone's bias terms, plus the head."""

    name = "bitfit"
    Options = BitFitOptions

    def selects(self, module_name, module, param_name):
        return param_name == "bias"


class LayerNormTuning(_TuneBaseSubset):
    """LayerNorm tuning (Zhao et al., 2023): train only the normalisation layers' scale and shift
    (LayerNorm in transformers; BatchNorm/GroupNorm affine parameters in convnets, whose running
    statistics stay frozen), plus the head."""

    name = "ln_tuning"
    Options = LayerNormTuningOptions

    def selects(self, module_name, module, param_name):
        return isinstance(module, _NORMS)
