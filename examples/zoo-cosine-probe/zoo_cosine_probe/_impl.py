"""The cosine-probe method (imports torch)."""

from __future__ import annotations

import torch
from torch import nn

from zoo_core.engine.method import AdaptationMethod, freeze
from zoo_cosine_probe import CosineProbeOptions


class CosineHead(nn.Module):
    """logits = scale * cos(features, class weights)."""

    def __init__(self, in_features: int, num_classes: int, scale: float = 10.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, in_features) * 0.01)
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * nn.functional.normalize(features, dim=-1) @ nn.functional.normalize(self.weight, dim=-1).T


class CosineProbe(AdaptationMethod):
    name = "cosine_probe"
    Options = CosineProbeOptions  # the class the spec names: MethodSpec(options=CosineProbeOptions)
    options: CosineProbeOptions
    trains = "head"
    uses_feature_cache = True  # the trainer fits the head on cached features

    def prepare(self, model) -> None:
        freeze(model.backbone)
        in_features = model.backbone.num_features
        num_classes = self._num_classes(model.head)
        model.head = CosineHead(in_features, num_classes, self.options.scale)

    @staticmethod
    def _num_classes(head: nn.Module) -> int:
        last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
        return last.out_features
