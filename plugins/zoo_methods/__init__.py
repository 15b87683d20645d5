"""First-party plugin: pure-torch adaptation methods (linear probe, full fine-tune)."""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec


@hookimpl
def register_methods(register):
    register(MethodSpec(
        name="linear_probe",
        factory="zoo_methods._impl:LinearProbe",
        description="frozen backbone, train the head only; features are cached so reruns skip the backbone",
        trains="head",
        defaults={"lr": 1e-2, "epochs": 30, "weight_decay": 1e-4, "batch_size": 64, "patience": 5},
    ))
    register(MethodSpec(
        name="full",
        factory="zoo_methods._impl:FullFineTune",
        description="train every weight; supports gradual unfreezing and layer-wise learning rates",
        trains="all",
        defaults={"lr": 1e-4, "epochs": 5, "weight_decay": 0.01, "batch_size": 32, "warmup": 0.1, "patience": 2},
    ))
