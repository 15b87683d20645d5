"""First-party plugin: PEFT methods (LoRA) through the peft library."""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec


@hookimpl
def register_methods(register):
    register(MethodSpec(
        name="lora",
        factory="zoo_peft._impl:LoRA",
        description="low-rank adapters (peft) on the family's attention/conv layers, plus the head",
        trains="adapter",
        defaults={"lr": 1e-3, "epochs": 5, "weight_decay": 0.01, "batch_size": 32, "warmup": 0.1, "patience": 2,
                  "r": 8, "alpha": 16, "dropout": 0.1},
    ))
