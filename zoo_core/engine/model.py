"""Build backbones and heads from the catalog, and the model that joins them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_core.engine.backbone import Backbone
from zoo_core.errors import WeightsError
from zoo_core.specs import load_spec_object


class TransferModel(nn.Module):
    """A backbone and a head: ``batch -> logits``."""

    def __init__(self, backbone: Backbone, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, batch: Any) -> torch.Tensor:
        return self.head(self.backbone(batch))


def build_backbone(
    zoo, model: str | Any, *, pretrained: bool = True, offline: bool | None = None, **options: Any
) -> Backbone:
    """Build the backbone of catalog model ``model`` (id, alias or entry).

    With ``pretrained=False`` the architecture gets random weights; families whose architecture
    is described by files next to the weights (text models' config and tokenizer) still read them.
    """
    from zoo_core.weights import resolve_weights

    entry = zoo.catalog.get(model) if isinstance(model, str) else model
    spec = zoo.get("backbones", entry.family)
    weights = None
    try:
        # A converter name the family does not register is a CatalogError, raised even for random weights.
        weights = resolve_weights(entry, zoo.weight_sources, offline=offline, converters=spec.converters)
    except WeightsError:
        if pretrained:
            raise
    factory = load_spec_object(spec)
    backbone = factory(entry, weights, pretrained=pretrained, **options)
    backbone.weights_sha256 = weights.sha256 if (weights is not None and pretrained) else None
    return backbone


def build_head(zoo, name: str, in_features: int, num_classes: int, **options: Any) -> nn.Module:
    spec = zoo.get("heads", name)
    return load_spec_object(spec)(in_features, num_classes, **options)
