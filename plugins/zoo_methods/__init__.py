"""First-party plugin: pure-torch adaptation methods (linear probe, full fine-tune, BitFit, LayerNorm
tuning, bottleneck adapters)."""

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
    adapter_defaults = {"epochs": 5, "weight_decay": 0.01, "batch_size": 32, "warmup": 0.1, "patience": 2}
    register(MethodSpec(
        name="bitfit",
        factory="zoo_methods._partial:BitFit",
        description="train only the backbone's bias terms plus the head (BitFit)",
        trains="adapter",
        defaults={**adapter_defaults, "lr": 1e-3},
    ))
    register(MethodSpec(
        name="ln_tuning",
        factory="zoo_methods._partial:LayerNormTuning",
        description="train only the normalisation layers' scale and shift plus the head",
        trains="adapter",
        defaults={**adapter_defaults, "lr": 1e-3},
    ))
    register(MethodSpec(
        name="bottleneck",
        factory="zoo_methods._partial:BottleneckAdapters",
        description="bottleneck adapters (variant houlsby|pfeiffer; 1x1-conv per stage in convnets), zero-init",
        trains="adapter",
        defaults={**adapter_defaults, "lr": 1e-3, "variant": "houlsby", "reduction": 16, "activation": "relu"},
    ))
