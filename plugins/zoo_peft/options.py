"""The options of the PEFT methods, one dataclass per method (torch-free: listings read them).

Field names are zoo's (``alpha``, ``dropout``), mapped onto peft's config fields in ``_impl``
(``lora_alpha``, ``lora_dropout``, ``vera_dropout``...). Defaults are the ones the methods have
always used.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo_core.options import MethodOptions, option
from zoo_methods.options import head_init_option

__all__ = [
    "AdaLoraOptions",
    "IA3Options",
    "LoraOptions",
    "LowRankOptions",
    "PeftOptions",
    "VeraOptions",
]


@dataclass
class PeftOptions(MethodOptions):
    """What every PEFT method takes: the layers its tuner is injected into."""

    target_modules: list[str] | None = option(
        None,
        "names of the layers to adapt, comma-separated (default: chosen per family by "
        "Backbone.default_lora_targets: attention projections, or 1x1 convolutions in convnets)",
    )
    head_init: str = head_init_option()


@dataclass
class LowRankOptions(PeftOptions):
    """LoHa and LoKr (and, with dropout, LoRA and DoRA): rank and scaling of the low-rank update."""

    r: int = option(8, "rank of the low-rank update", min=1)
    alpha: int = option(16, "scaling numerator: the update is scaled by alpha / r")


@dataclass
class LoraOptions(LowRankOptions):
    """LoRA and DoRA: rank, scaling and dropout on the adapter's input."""

    dropout: float = option(0.1, "dropout on the LoRA branch's input", min=0.0, max=1.0)


@dataclass
class IA3Options(PeftOptions):
    """(IA)^3: which targets scale their input rather than their output."""

    feedforward_modules: list[str] | None = option(
        None, "targets whose input is scaled instead of their output, comma-separated (default: none)"
    )


@dataclass
class AdaLoraOptions(PeftOptions):
    """AdaLoRA: the rank budget and its schedule (fractions of the planned optimiser steps)."""

    init_r: int = option(12, "initial rank of every adapted layer", min=1)
    target_r: int = option(8, "average rank per layer once the budget is re-allocated", min=1)
    alpha: int = option(16, "scaling numerator: the update is scaled by alpha / r")
    dropout: float = option(0.1, "dropout on the adapter branch's input", min=0.0, max=1.0)
    orth_reg_weight: float = option(0.5, "weight of the penalty keeping P and Q near-orthogonal", min=0.0)
    tinit: float = option(0.1, "fraction of the steps trained before any rank is pruned", min=0.0, max=1.0)
    tfinal: float = option(0.2, "fraction of the steps trained at the final ranks", min=0.0, max=1.0)


@dataclass
class VeraOptions(PeftOptions):
    """VeRA: the rank of the shared random projections and the seed that regenerates them."""

    r: int = option(256, "rank of the shared frozen random projections", min=1)
    dropout: float = option(0.0, "dropout on the VeRA branch's input", min=0.0, max=1.0)
    projection_seed: int = option(0, "seed of the shared random projections (regenerated, not stored)")
