"""Bottleneck adapters: small residual modules added to the frozen backbone (Houlsby, Pfeiffer after
transformer sub-layers; a 1x1-conv adapter after each stage of a convolutional backbone)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_core.errors import ZooError
from zoo_methods._lpft import check_probe_head, start_from_probe_head
from zoo_methods.options import BottleneckOptions


class Bottleneck(nn.Module):
    """``x + up(act(down(x)))`` over the last (channel) dimension or, for 4-d conv maps, over
    channels with 1x1 convs. ``up`` starts at zero, so the adapter starts as the identity."""

    def __init__(self, channels: int, reduction: int, activation: str, conv: bool = False):
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
    Convolutional backbones: a residual 1x1-conv adapter after each stage. ``target_modules``
    overrides where adapters go; the options and their defaults are :class:`BottleneckOptions`.
    ``head_init=probe`` fits the head as ``linear_probe`` does before the adapters train (an LP-then-
    adapter start; the adapters start as the identity, so the probe sees the pre-trained features).
    """

    name = "bottleneck"
    trains = "adapter"
    preserves_base_output = True  # the up-projection starts at zero: each adapter starts as the identity
    Options = BottleneckOptions
    options: BottleneckOptions

    def targets(self, model: TransferModel) -> tuple[list[str], bool]:
        base = model.backbone.model
        names = [n for n, _ in base.named_modules()]
        chosen = self.options.target_modules
        if chosen:
            modules = dict(base.named_modules())
            missing = [t for t in chosen if t not in modules]
            if missing:
                raise ZooError(f"bottleneck: no module named {missing[0]} in this backbone")
            return list(chosen), not isinstance(modules[chosen[0]], nn.Linear)
        variant = self.options.variant
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
        self.options.target_modules = targets  # recorded, so a reload places the adapters identically
        base = model.backbone.model
        channels = (
            self._output_channels(model, targets) if conv else {t: base.get_submodule(t).out_features for t in targets}
        )
        for target in targets:
            module = base.get_submodule(target)
            module.add_module(
                "zoo_bottleneck",
                Bottleneck(channels[target], self.options.reduction, self.options.activation, conv=conv),
            )
            module.register_forward_hook(_apply_bottleneck)
        unfreeze(model.head)
        if self.options.head_init == "probe":
            check_probe_head(self.name, model)

    def fit_items(self, model, train_items, train_y, val_items, val_y, config, *, accelerator, log):
        """With ``head_init=probe``: fit the head as the linear probe does, then return None so that
        the generic trainer trains the adapters and the head from it."""
        return start_from_probe_head(
            self, model, train_items, train_y, val_items, val_y, config, accelerator=accelerator, log=log
        )

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
