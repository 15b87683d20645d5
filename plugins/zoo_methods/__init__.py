"""First-party plugin: pure-torch adaptation methods (linear probe, full fine-tune, BitFit, LayerNorm
tuning, bottleneck adapters, prototypical networks, first-order
Proto-MAML, SetFit-style contrastive tuning)."""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec

_ADAPTER_DEFAULTS = {"epochs": 5, "weight_decay": 0.01, "batch_size": 32, "warmup": 0.1, "patience": 2}

# (name, factory, trains, description, defaults)
METHODS = [
    (
        "linear_probe",
        "zoo_methods._impl:LinearProbe",
        "head",
        "frozen backbone, train the head only; features are cached so reruns skip the backbone",
        {"lr": 1e-2, "epochs": 30, "weight_decay": 1e-4, "batch_size": 64, "patience": 5, "features": "multilevel"},
    ),
    (
        "full",
        "zoo_methods._impl:FullFineTune",
        "all",
        "train every weight; supports gradual unfreezing and layer-wise learning rates",
        {**_ADAPTER_DEFAULTS, "lr": 1e-4},
    ),
    (
        "bitfit",
        "zoo_methods._partial:BitFit",
        "adapter",
        "train only the backbone's bias terms plus the head (BitFit)",
        {**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    (
        "ln_tuning",
        "zoo_methods._partial:LayerNormTuning",
        "adapter",
        "train only the normalisation layers' scale and shift plus the head",
        {**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    (
        "bottleneck",
        "zoo_methods._partial:BottleneckAdapters",
        "adapter",
        "bottleneck adapters (variant houlsby|pfeiffer; 1x1-conv per stage in convnets), zero-init",
        {**_ADAPTER_DEFAULTS, "lr": 1e-3, "variant": "houlsby", "reduction": 16, "activation": "relu"},
    ),
    (
        "protonet",
        "zoo_methods._fewshot:PrototypicalNetwork",
        "head",
        "few-shot: nearest class prototype on frozen features; the support set is kept in the adapter",
        {"lr": 1e-2, "epochs": 1, "weight_decay": 0.0, "batch_size": 64, "patience": 1},
    ),
    (
        "fomaml",
        "zoo_methods._fewshot:FirstOrderProtoMAML",
        "head",
        "meta-learning: first-order Proto-MAML episodes over your classes on frozen features, then adaptation",
        {
            "lr": 1e-3,
            "epochs": 1,
            "weight_decay": 0.0,
            "batch_size": 64,
            "patience": 1,
            "meta_steps": 100,
            "inner_steps": 5,
            "inner_lr": 0.05,
            "hidden": 128,
        },
    ),
    (
        "contrastive",
        "zoo_methods._fewshot:ContrastiveTuning",
        "all",
        "few-shot, SetFit-style: contrastive tuning of the backbone on streamed in-batch pairs, then a logistic head",
        {
            "lr": 2e-5,
            "epochs": 1,
            "weight_decay": 0.01,
            "batch_size": 16,
            "warmup": 0.1,
            "schedule": "linear",
            "patience": 1,
            "iterations": 10,
            "max_steps": 1000,
        },
    ),
]


@hookimpl
def register_methods(register):
    for name, factory, trains, description, defaults in METHODS:
        register(MethodSpec(name=name, factory=factory, trains=trains, description=description, defaults=defaults))
