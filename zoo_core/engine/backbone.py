"""The Backbone base class that every model family's factory returns."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

# "blocks.3.", "layer.11.", "layer4.", "stages.2." -> the index of a backbone stage, for gradual
# unfreezing and layer-wise learning rates, across timm and transformers naming.
_STAGE = re.compile(r"(?:^|\.)(?:layer|layers|blocks|block|stages|stage|h|features)[._]?(\d+)(?:\.|$)")


class Preprocessor:
    """Turns raw items (image paths / PIL images, or texts) into a model batch.

    ``load(item)`` runs in DataLoader workers (decode + transform); ``collate(samples)`` builds the
    batch that ``Backbone.forward`` takes.
    """

    def load(self, item: Any) -> Any:
        return item

    def collate(self, samples: Sequence[Any]) -> Any:
        return torch.utils.data.default_collate(list(samples))

    def config(self) -> dict[str, Any]:
        """Plain-data description, stored with adapters and used in feature-cache keys."""
        return {}


class Backbone(nn.Module):
    """A pre-trained model that maps a batch to pooled features ``[batch, num_features]``.

    Subclasses set ``model`` (the family's own module: what PEFT methods inject into), ``modality``
    and ``num_features``, and implement :meth:`forward` and :meth:`preprocessor`.
    """

    modality: str = "image"
    pooling: str = "avg"  # how token or spatial features become one vector (recorded in adapters)
    FEATURE_KINDS = ("last",)  # families that can also pool every stage add "multilevel"

    def __init__(self, model: nn.Module, num_features: int, entry: Any = None, weights_sha256: str | None = None):
        super().__init__()
        self.model = model
        self.num_features = int(num_features)
        self.entry = entry
        self.weights_sha256 = weights_sha256  # None for random initialisation
        # Set when the weights changed after loading (continued pre-training): feature caches key on it.
        self.weights_delta_sha256: str | None = None
        self.features = "last"
        self.feature_groups: list[int] = [self.num_features]
        # The pre-trained classifier (weight [Cs, F], bias [Cs]) on the pooled final features, where
        # the weights carry one: LEEP and NCE score with its outputs. Plain tensors, not parameters,
        # so that no method trains it and no adapter stores it.
        self.source_head: tuple[torch.Tensor, torch.Tensor] | None = None

    def source_probs(self, final_features: torch.Tensor) -> torch.Tensor | None:
        """Softmax of the pre-trained classifier on pooled final features ``[N, F]`` (``"last"``
        features), or None where the weights have no classifier."""
        if self.source_head is None:
            return None
        weight, bias = self.source_head
        logits = final_features.to(weight.dtype) @ weight.T + bias
        return torch.softmax(logits.double(), dim=1)

    def use_features(self, kind: str) -> bool:
        """Switch what :meth:`forward` returns: ``"last"`` (the pooled final features) or
        ``"multilevel"`` (the pooled output of every stage, concatenated, final last; Head2Toe,
        Evci et al. 2022: earlier stages carry what a distant target task needs). Returns False
        and changes nothing when this family cannot. ``feature_groups`` gives each level's width.
        """
        if kind not in self.FEATURE_KINDS:
            return False
        if kind != self.features:
            self.features = kind
            with torch.no_grad():
                groups = self.level_widths() if kind == "multilevel" else [self._last_width]
            self.feature_groups = groups
            self.num_features = sum(groups)
        return True

    @property
    def _last_width(self) -> int:
        return self.feature_groups[-1]

    def level_widths(self) -> list[int]:  # pragma: no cover - only for families offering "multilevel"
        """The width of each pooled level, input side first, for ``features == "multilevel"``."""
        raise NotImplementedError

    def forward(self, batch: Any) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def preprocessor(self, train: bool = False) -> Preprocessor:  # pragma: no cover - abstract
        raise NotImplementedError

    def default_lora_targets(self) -> list[str]:
        """Module names LoRA-style methods adapt by default (overridable by the user)."""
        return [name for name, module in self.model.named_modules() if isinstance(module, nn.Linear)]

    #: True while the backbone serves a dense task's feature maps, which are read from the stages:
    #: the layers after the last stage (final conv, norm) get no gradient there, so they join the
    #: last stage's group instead of being a group (an epoch of gradual unfreezing) of their own.
    feature_maps_only: bool = False

    def layer_groups(self) -> list[list[str]]:
        """Parameter names of ``self.model`` grouped bottom (input) to top, for gradual unfreezing
        and discriminative learning rates. Stem parameters come first, the final norm last
        (with the last stage when :attr:`feature_maps_only`)."""
        return stage_groups([name for name, _ in self.model.named_parameters()], keep_top=not self.feature_maps_only)


def stage_groups(names: Sequence[str], keep_top: bool = True) -> list[list[str]]:
    """Group parameter names by stage index: [stem] + one group per stage + [after the stages]
    (without ``keep_top``, what comes after the stages joins the last stage's group)."""
    stem: list[str] = []
    stages: dict[int, list[str]] = {}
    top: list[str] = []
    for name in names:
        match = _STAGE.search(name)
        if match:
            stages.setdefault(int(match.group(1)), []).append(name)
        elif stages:
            top.append(name)
        else:
            stem.append(name)
    if top and stages and not keep_top:
        stages[max(stages)] = stages[max(stages)] + top
        top = []
    groups = ([stem] if stem else []) + [stages[k] for k in sorted(stages)] + ([top] if top else [])
    return groups or [list(names)]


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def batch_size_of(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    if isinstance(batch, dict):
        return next(iter(batch.values())).shape[0]
    return len(batch)


BackboneFactory = Callable[..., Backbone]
