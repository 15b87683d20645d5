"""Methods that tune a small part of the pre-trained model or add small modules (pure torch):
BitFit, LayerNorm tuning and bottleneck adapters (Houlsby, Pfeiffer; residual 1x1-conv adapters
per stage for convolutional backbones)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_core.errors import ZooError

_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


class _TuneBaseSubset(AdaptationMethod):
    """Freeze the backbone, then unfreeze the pre-trained tensors :meth:`selects` picks."""

    trains = "adapter"
    preserves_base_output = True

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

    def selects(self, module_name, module, param_name):
        return param_name == "bias"


class LayerNormTuning(_TuneBaseSubset):
    """LayerNorm tuning (Zhao et al., 2023): train only the normalisation layers' scale and shift
    (LayerNorm in transformers; BatchNorm/GroupNorm affine parameters in convnets, whose running
    statistics stay frozen), plus the head."""

    name = "ln_tuning"

    def selects(self, module_name, module, param_name):
        return isinstance(module, _NORMS)


class Bottleneck(nn.Module):
    """``x + up(act(down(x)))`` over the last (channel) dimension or, for 4-d conv maps, over
    channels with 1x1 convs. ``up`` starts at zero, so the adapter starts as the identity."""

    def __init__(self, channels: int, reduction: int = 16, activation: str = "relu", conv: bool = False):
        super().__init__()
        hidden = max(1, channels // max(1, reduction))
        layer = (lambda i, o: nn.Conv2d(i, o, 1)) if conv else nn.Linear
        self.down, self.up = layer(channels, hidden), layer(hidden, channels)
        self.act = {"relu": nn.ReLU(), "gelu": nn.GELU(), "swish": nn.SiLU(), "tanh": nn.Tanh()}[activation]
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x)))


def _apply_bottleneck(module: nn.Module, inputs: Any, output: Any) -> Any:
    # Looks the adapter up on the module itself, so copies of the model keep working.
    if isinstance(output, tuple):
        return (module.zoo_bottleneck(output[0]), *output[1:])
    return module.zoo_bottleneck(output)


# Sub-layer output projections, before the residual add and LayerNorm (where Houlsby et al. put
# adapters): BERT/RoBERTa/MiniLM/XLM-R/DeBERTa, DistilBERT, timm ViT/DeiT.
_ATTENTION_OUTPUTS = ("attention.output.dense", "attention.out_lin", "attn.proj")
_FFN_OUTPUTS = ("output.dense", "ffn.lin2", "mlp.fc2")


def _stage_targets(model: nn.Module) -> list[str]:
    """The last block of each stage of a convolutional network (timm naming)."""
    for attr in ("stages", "blocks", "layers"):
        stages = getattr(model, attr, None)
        if isinstance(stages, (nn.Sequential, nn.ModuleList)) and len(stages):
            prefix = attr
            break
    else:
        names = [n for n in ("layer1", "layer2", "layer3", "layer4") if hasattr(model, n)]  # ResNet
        if not names:
            return []
        return [_last_block(model, n) for n in names]
    return [_last_block(model, f"{prefix}.{i}") for i in range(len(stages))]


def _last_block(model: nn.Module, name: str) -> str:
    module = model.get_submodule(name)
    while isinstance(module, nn.Sequential) and len(module):
        name, module = f"{name}.{len(module) - 1}", module[-1]
    return name


class BottleneckAdapters(AdaptationMethod):
    """Bottleneck adapters with a zero-initialised up-projection, plus the head.

    Transformers (text, timm ViT): ``variant=houlsby`` puts one after the attention output and one
    after the feed-forward output of every layer; ``variant=pfeiffer`` only after the feed-forward.
    Convolutional backbones: a residual 1x1-conv adapter after each stage. Options: ``variant``
    (houlsby), ``reduction`` (16: hidden size = width / reduction), ``activation`` (relu, gelu,
    swish, tanh), ``target_modules`` (override where adapters go).
    """

    name = "bottleneck"
    trains = "adapter"
    preserves_base_output = True

    def targets(self, model: TransferModel) -> tuple[list[str], bool]:
        base = model.backbone.model
        names = [n for n, _ in base.named_modules()]
        chosen = self.config.get("target_modules")
        if chosen:
            chosen = [t.strip() for t in chosen.split(",")] if isinstance(chosen, str) else list(chosen)
            modules = dict(base.named_modules())
            missing = [t for t in chosen if t not in modules]
            if missing:
                raise ZooError(f"bottleneck: no module named {missing[0]} in this backbone")
            return chosen, not isinstance(modules[chosen[0]], nn.Linear)
        variant = self.config.get("variant", "houlsby")
        if variant not in ("houlsby", "pfeiffer"):
            raise ZooError(f"bottleneck: unknown variant '{variant}'; choose houlsby or pfeiffer")
        attention = [n for n in names if n.endswith(_ATTENTION_OUTPUTS)]
        ffn = [n for n in names if n.endswith(_FFN_OUTPUTS) and not n.endswith(_ATTENTION_OUTPUTS)]
        if ffn:
            return sorted(ffn + (attention if variant == "houlsby" else [])), False
        stages = _stage_targets(base)
        if not stages:
            raise ZooError(
                "bottleneck: found neither transformer layers nor convolutional stages; "
                "give --option target_modules=NAME,..."
            )
        return stages, True

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        targets, conv = self.targets(model)
        self.config["target_modules"] = targets
        base = model.backbone.model
        channels = (
            self._output_channels(model, targets) if conv else {t: base.get_submodule(t).out_features for t in targets}
        )
        for target in targets:
            module = base.get_submodule(target)
            module.add_module(
                "zoo_bottleneck",
                Bottleneck(
                    channels[target],
                    int(self.config.get("reduction", 16)),
                    self.config.get("activation", "relu"),
                    conv=conv,
                ),
            )
            module.register_forward_hook(_apply_bottleneck)
        unfreeze(model.head)

    @staticmethod
    def _output_channels(model: TransferModel, targets: list[str]) -> dict[str, int]:
        """Channel count of each target's output, from one forward pass on a blank input."""
        base, found, handles = model.backbone.model, {}, []
        for target in targets:

            def record(module, inputs, output, target=target):
                found[target] = (output[0] if isinstance(output, tuple) else output).shape[1]

            handles.append(base.get_submodule(target).register_forward_hook(record))
        size = model.backbone.preprocessor(False).config().get("size") or [3, 64, 64]
        was_training = model.backbone.training
        try:
            model.backbone.eval()
            with torch.no_grad():
                model.backbone(torch.zeros(1, *size))
        finally:
            for handle in handles:
                handle.remove()
            model.backbone.train(was_training)
        return found
