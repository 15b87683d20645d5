"""First-party plugin: the PEFT family (LoRA, DoRA, IA3, LoHa, LoKr, AdaLoRA, VeRA) through the peft library."""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec
from zoo_peft.options import AdaLoraOptions, IA3Options, LoraOptions, LowRankOptions, VeraOptions

# Training settings shared by every PEFT method; each spec adds its learning rate.
_ADAPTER_DEFAULTS = {"epochs": 5, "weight_decay": 0.01, "batch_size": 32, "warmup": 0.1, "patience": 2}

METHODS = [
    MethodSpec(
        name="lora",
        factory="zoo_peft._impl:LoRA",
        description="low-rank adapters (peft) on the family's attention/conv layers, plus the head",
        trains="adapter",
        options=LoraOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="dora",
        factory="zoo_peft._impl:DoRA",
        description="weight-decomposed LoRA: low-rank direction update plus a trained magnitude (peft)",
        trains="adapter",
        options=LoraOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="ia3",
        factory="zoo_peft._impl:IA3",
        description="(IA)^3: learned scaling vectors on the target layers, a few thousand parameters (peft)",
        trains="adapter",
        options=IA3Options,
        defaults={**_ADAPTER_DEFAULTS, "lr": 3e-3},
    ),
    MethodSpec(
        name="loha",
        factory="zoo_peft._impl:LoHa",
        description="low-rank Hadamard-product adapters (peft)",
        trains="adapter",
        options=LowRankOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="lokr",
        factory="zoo_peft._impl:LoKr",
        description="low-rank Kronecker-product adapters (peft)",
        trains="adapter",
        options=LowRankOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="adalora",
        factory="zoo_peft._impl:AdaLoRA",
        description="adaptive LoRA: rank budget re-allocated by sensitivity during training (peft)",
        trains="adapter",
        options=AdaLoraOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="vera",
        factory="zoo_peft._impl:VeRA",
        description="shared frozen random projections with trained per-layer scaling vectors (peft); linear layers "
        "only, so transformers (text, ViT) and not convnets",
        trains="adapter",
        options=VeraOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-2},
    ),
]


@hookimpl
def register_methods(register):
    for spec in METHODS:
        register(spec)
