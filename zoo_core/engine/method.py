"""The base class for adaptation methods (the AdaptationMethod contract)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo_core.engine.model import TransferModel
from zoo_core.errors import ZooError
from zoo_core.options import MethodOptions, TrainConfig, coerce_options

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.engine.train import TrainResult

_NO_DECAY_HINTS = ("bias", "norm", "bn", "ln_", "layernorm", "embeddings.position")


class AdaptationMethod:
    """How a pre-trained model is adapted: what is frozen, what is added, what is trained and saved.

    This class is the whole method contract: every hook the pipeline, the trainer and the contract
    suite call is declared here with its default, so a subclass overrides only what it changes.
    Subclasses implement :meth:`prepare` and declare their options as a dataclass in ``Options``
    (the same class their ``MethodSpec(options=...)`` names). The trainer calls
    :meth:`set_train_mode` before each epoch, :meth:`on_epoch_start` for schedules such as gradual
    unfreezing, and :meth:`param_groups` to build the optimiser. :meth:`adapter_state` is what an
    adapter stores.

    Domain adaptation: a method with ``uses_unlabeled_data`` receives the unlabelled target data
    (``zoo finetune --unlabeled PATH``) once through :meth:`set_unlabeled`, after :meth:`prepare`
    and before :meth:`fit_features` / :meth:`fit_items`; a run of such a method without it is
    refused, and so is ``--unlabeled`` for any other method.
    """

    name = "base"
    #: What a training step may change: ``"head"``, ``"adapter"`` or ``"all"``.
    trains = "adapter"
    #: True: the head trains on cached backbone features (the backbone never runs during training).
    uses_feature_cache = False
    #: The options dataclass (see :mod:`zoo_core.options`); ``self.options`` is an instance of it.
    Options: type = MethodOptions
    #: True when the adapted model starts out computing exactly what the base model did (identity or
    #: zero initialisation); the contract suite checks it.
    preserves_base_output = False
    #: True when the result exists only at the end of the planned schedule (AdaLoRA's final rank
    #: budget): the trainer then runs every planned epoch, without early stopping, and keeps the last.
    follows_planned_schedule = False
    #: True when :meth:`set_support` can replace the classes with a labelled support set at
    #: prediction time (``zoo predict --support``).
    accepts_support_set = False
    #: True when the method adapts to unlabelled target-domain data (``--unlabeled``), handed over
    #: by :meth:`set_unlabeled`; the pipeline refuses a run of it without such data.
    uses_unlabeled_data = False

    def __init__(self, **options: Any) -> None:
        self.options = coerce_options(self.Options, options if self._typed() else {}, what=f"method '{self.name}'")
        # A method that declares no options class keeps its options as a plain, writable dict (the
        # contract before typed options), so a third-party method written against it still works.
        self._untyped: dict[str, Any] | None = None if self._typed() else dict(options)

    @classmethod
    def _typed(cls) -> bool:
        return cls.Options is not MethodOptions

    @property
    def config(self) -> Mapping[str, Any]:
        """The options as a read-only mapping (what an adapter records); change ``self.options``.
        For a method without an options class: its options as a plain dict."""
        if self._untyped is not None:
            return self._untyped
        return MappingProxyType(asdict(self.options))

    def backbone_features(self) -> str:
        """What the backbone should return for this method: ``"last"`` (pooled final features) or
        ``"multilevel"`` (every stage pooled; see :meth:`Backbone.use_features`). Asked before
        the head is built; a family that cannot serve it keeps ``"last"`` and the run says so."""
        return "last"

    def prepare(self, model: TransferModel) -> None:  # pragma: no cover - abstract
        """Freeze, inject adapters, etc. Called once, on a freshly built model."""
        raise NotImplementedError

    # -- training hooks ----------------------------------------------------------------------
    def set_train_mode(self, model: TransferModel) -> None:
        """Train mode, except that a partly frozen backbone keeps its BatchNorm statistics."""
        model.train()
        if self.trains != "all":
            for module in model.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def on_epoch_start(self, model: TransferModel, epoch: int, total_epochs: int) -> bool:
        """Return True when the set of trainable parameters changed (the optimiser is rebuilt)."""
        return False

    def fit_features(
        self,
        head: nn.Module,
        train_x: torch.Tensor,
        train_y: Sequence[int],
        val_x: torch.Tensor | None,
        val_y: Sequence[int] | None,
        config: TrainConfig,
    ) -> TrainResult | None:
        """Train ``head`` on cached features yourself (closed form, L-BFGS, episodes...) and return
        the result, or None to let the generic mini-batch loop train it (``uses_feature_cache``)."""
        return None

    def fit_items(
        self,
        model: TransferModel,
        train_items: Sequence[Any],
        train_y: Sequence[int],
        val_items: Sequence[Any] | None,
        val_y: Sequence[int] | None,
        config: TrainConfig,
        *,
        accelerator: Any,
        log: Callable[[str], None],
    ) -> TrainResult | None:
        """A training loop of your own on the raw items; return its result (``best_state`` is
        loaded afterwards), or None to let the generic trainer run. A method may also use it to
        prepare the model with the data before the generic trainer runs, then return None (LP-FT,
        ``head_init=probe``, fits the head as the linear probe does here)."""
        return None

    def on_train_start(self, model: TransferModel, total_steps: int) -> None:
        """Called once before the first step with the number of optimiser steps planned (for
        methods whose schedule depends on it, e.g. AdaLoRA's rank budget)."""

    def after_optimizer_step(self, model: TransferModel, step: int) -> None:
        """Called after every optimiser step, before gradients are cleared (``step`` counts from 0)."""

    def regularization(self, model: TransferModel) -> torch.Tensor | None:
        """An extra loss term added to every training step (e.g. L2-SP), or None."""
        return None

    def param_groups(self, model: nn.Module, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW groups: no weight decay on biases and norms."""
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, param in self.optimised_parameters(model):
            (no_decay if param.ndim <= 1 or any(h in name.lower() for h in _NO_DECAY_HINTS) else decay).append(param)
        groups = []
        if decay:
            groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
        return groups

    def optimised_parameters(self, model: nn.Module) -> list[tuple[str, nn.Parameter]]:
        """Parameters the optimiser holds: those trainable now (a method that unfreezes later
        returns those too; AdamW skips a parameter while its gradient is None)."""
        return [(name, param) for name, param in model.named_parameters() if param.requires_grad]

    # -- what an adapter keeps ---------------------------------------------------------------
    def trainable_names(self, model: TransferModel) -> set[str]:
        return {name for name, param in model.named_parameters() if param.requires_grad}

    def adapter_state(self, model: TransferModel) -> dict[str, torch.Tensor]:
        """The tensors an adapter stores: everything the method may change, nothing else."""
        state = model.state_dict()
        if self.trains == "all":
            keep = set(state)
        else:
            keep = self.trainable_names(model) | self.saved_names(model)
        return {name: tensor.detach().cpu().contiguous() for name, tensor in state.items() if name in keep}

    def saved_names(self, model: TransferModel) -> set[str]:
        """Extra state (frozen now but trained once, e.g. unfrozen-then-refrozen layers) to store."""
        return {name for name in model.state_dict() if name.startswith("head.")}

    def load_adapter_state(self, model: TransferModel, state: dict[str, torch.Tensor]) -> None:
        """Load what :meth:`adapter_state` returned into a model prepared by :meth:`prepare`."""
        result = model.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"adapter has tensors the model lacks: {result.unexpected_keys[:5]}")
        missing = set(self.adapter_state(model)) - set(state)
        if missing:
            raise ValueError(f"adapter lacks tensors the method trains: {sorted(missing)[:5]}")

    def tuned_base_parameters(self, model: TransferModel) -> set[str]:
        """Names of base-model parameters the method trains in place (BitFit's biases, LN-tuning's
        norms); the contract suite refuses a trainable base parameter not declared here."""
        return set()

    def set_support(
        self, model: TransferModel, features: torch.Tensor, labels: Sequence[int], num_classes: int
    ) -> None:
        """Replace the classes with those of a labelled support set (its features and label ids);
        only for methods with ``accepts_support_set`` (prototypes: ``protonet``)."""
        raise ZooError(f"method '{self.name}' cannot take a support set")

    def set_unlabeled(self, model: TransferModel, unlabeled: torch.Tensor | Sequence[Any]) -> None:
        """Receive the unlabelled target data once, before fitting (only with ``uses_unlabeled_data``):
        its cached backbone features ``[N, num_features]`` for a method with ``uses_feature_cache``,
        else the raw items (image paths or texts). Keep it for ``fit_features`` / ``fit_items``."""
        raise ZooError(f"method '{self.name}' does not use unlabelled data")

    def describe(self) -> dict[str, Any]:
        """What an adapter records of the method: its name and every option's value."""
        return {"name": self.name, "config": dict(self.config)}


def freeze(module: nn.Module) -> None:
    for param in module.parameters():
        param.requires_grad_(False)


def unfreeze(module: nn.Module) -> None:
    for param in module.parameters():
        param.requires_grad_(True)
