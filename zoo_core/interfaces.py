"""The contracts built objects satisfy, as typing Protocols (torch-free to import).

Specs (``zoo_core.specs``) are what plugins *register*; these protocols are what their factories
*build*. The base classes in ``zoo_core.engine`` implement them, and ``zoo_core.testing.contracts``
checks them behaviourally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch


@runtime_checkable
class Preprocessor(Protocol):
    """Turns raw items into a batch: ``load`` one item (in DataLoader workers), ``collate`` many."""

    def load(self, item: Any) -> Any: ...

    def collate(self, samples: Sequence[Any]) -> Any: ...

    def config(self) -> dict[str, Any]: ...


@runtime_checkable
class Backbone(Protocol):
    """A pre-trained model (an ``nn.Module``) mapping a batch to pooled features ``[batch, num_features]``."""

    modality: str
    num_features: int
    weights_sha256: str | None
    model: Any  # the family's own module, which PEFT-style methods adapt in place

    def __call__(self, batch: Any) -> torch.Tensor: ...

    def preprocessor(self, train: bool = False) -> Preprocessor: ...

    def default_lora_targets(self) -> list[str]: ...

    def layer_groups(self) -> list[list[str]]: ...


@runtime_checkable
class Head(Protocol):
    """An ``nn.Module`` built as ``factory(in_features, num_classes, **options)``: features -> logits."""

    def __call__(self, features: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class AdaptationMethod(Protocol):
    """How a backbone + head is adapted; see ``zoo_core.engine.method.AdaptationMethod``."""

    name: str
    trains: str  # "head", "adapter" or "all"
    uses_feature_cache: bool
    config: dict[str, Any]

    def prepare(self, model: Any) -> None: ...

    def set_train_mode(self, model: Any) -> None: ...

    def on_epoch_start(self, model: Any, epoch: int, total_epochs: int) -> bool: ...

    def param_groups(self, model: Any, lr: float, weight_decay: float) -> list[dict[str, Any]]: ...

    def adapter_state(self, model: Any) -> dict[str, torch.Tensor]: ...

    def load_adapter_state(self, model: Any, state: dict[str, torch.Tensor]) -> None: ...


@runtime_checkable
class Scorer(Protocol):
    """A transferability score of features for labels; higher means a better expected transfer."""

    name: str
    needs_source_head: bool

    def score(self, features: np.ndarray, labels: np.ndarray, source_probs: np.ndarray | None = None) -> float: ...
