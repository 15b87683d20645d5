"""First-party plugin: the PEFT family (LoRA, DoRA, IA3, LoHa, LoKr, AdaLoRA, VeRA) through the peft library."""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec

_ADAPTER_DEFAULTS = {"epochs": 5, "weight_decay": 0.01, "batch_size": 32, "warmup": 0.1, "patience": 2}

METHODS = [
    (
        "lora",
        "LoRA",
        "low-rank adapters (peft) on the family's attention/conv layers, plus the head",
        {"lr": 1e-3, "r": 8, "alpha": 16, "dropout": 0.1},
        ("image", "text"),
        "",
    ),
    (
        "dora",
        "DoRA",
        "weight-decomposed LoRA: low-rank direction update plus a trained magnitude (peft)",
        {"lr": 1e-3, "r": 8, "alpha": 16, "dropout": 0.1},
        ("image", "text"),
        "",
    ),
    (
        "ia3",
        "IA3",
        "(IA)^3: learned scaling vectors on the target layers, a few thousand parameters (peft)",
        {"lr": 3e-3},
        ("image", "text"),
        "",
    ),
    (
        "loha",
        "LoHa",
        "low-rank Hadamard-product adapters (peft)",
        {"lr": 1e-3, "r": 8, "alpha": 16},
        ("image", "text"),
        "",
    ),
    (
        "lokr",
        "LoKr",
        "low-rank Kronecker-product adapters (peft)",
        {"lr": 1e-3, "r": 8, "alpha": 16},
        ("image", "text"),
        "",
    ),
    (
        "adalora",
        "AdaLoRA",
        "adaptive LoRA: rank budget re-allocated by sensitivity during training (peft)",
        {"lr": 1e-3, "init_r": 12, "target_r": 8, "alpha": 16, "dropout": 0.1},
        ("image", "text"),
        "",
    ),
    (
        "vera",
        "VeRA",
        "shared frozen random projections with trained per-layer scaling vectors (peft); linear layers "
        "only, so transformers (text, ViT) and not convnets",
        {"lr": 1e-2, "r": 256},
        ("image", "text"),
        "",
    ),
]


@hookimpl
def register_methods(register):
    for name, cls, description, defaults, modalities, reason in METHODS:
        register(
            MethodSpec(
                name=name,
                factory=f"zoo_peft._impl:{cls}",
                description=description,
                trains="adapter",
                modalities=modalities,
                unsupported_reason=reason,
                defaults={**_ADAPTER_DEFAULTS, **defaults},
            )
        )
