"""First-party plugin: pure-torch adaptation methods (linear probe, full fine-tune, BitFit, LayerNorm
tuning, bottleneck adapters, prototypical networks, first-order Proto-MAML, SetFit-style
contrastive tuning).

Torch-free: the specs name their classes by import string and their options by torch-free
dataclasses (:mod:`zoo_methods.options`). Modules by mechanism: ``_probe`` and ``_logistic`` (the
linear probe and its L-BFGS head fit), ``_full``, ``_selective`` (BitFit, LN-tuning),
``_bottleneck``, ``_prototypes`` (protonet, fomaml), ``_contrastive``.
"""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec
from zoo_methods.options import (
    BitFitOptions,
    BottleneckOptions,
    ContrastiveOptions,
    FirstOrderProtoMAMLOptions,
    FullFineTuneOptions,
    LayerNormTuningOptions,
    LinearProbeOptions,
    PrototypicalNetworkOptions,
)

# Training settings of the methods that train inside the backbone; each spec adds its learning rate.
_ADAPTER_DEFAULTS = {"epochs": 5, "weight_decay": 0.01, "batch_size": 32, "warmup": 0.1, "patience": 2}
# The few-shot methods fit in one pass over cached features: one "epoch", no early stopping to speak of.
_FEW_SHOT_DEFAULTS = {"epochs": 1, "weight_decay": 0.0, "batch_size": 64, "patience": 1}

METHODS = [
    MethodSpec(
        name="linear_probe",
        factory="zoo_methods._probe:LinearProbe",
        description="frozen backbone, train the head only; features are cached so reruns skip the backbone",
        trains="head",
        options=LinearProbeOptions,
        defaults={"lr": 1e-2, "epochs": 30, "weight_decay": 1e-4, "batch_size": 64, "patience": 5},
    ),
    MethodSpec(
        name="full",
        factory="zoo_methods._full:FullFineTune",
        description="train every weight; supports gradual unfreezing and layer-wise learning rates",
        trains="all",
        options=FullFineTuneOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-4},
    ),
    MethodSpec(
        name="bitfit",
        factory="zoo_methods._selective:BitFit",
        description="train only the backbone's bias terms plus the head (BitFit)",
        trains="adapter",
        options=BitFitOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="ln_tuning",
        factory="zoo_methods._selective:LayerNormTuning",
        description="train only the normalisation layers' scale and shift plus the head",
        trains="adapter",
        options=LayerNormTuningOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="bottleneck",
        factory="zoo_methods._bottleneck:BottleneckAdapters",
        description="bottleneck adapters (variant houlsby|pfeiffer; 1x1-conv per stage in convnets), zero-init",
        trains="adapter",
        options=BottleneckOptions,
        defaults={**_ADAPTER_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="protonet",
        factory="zoo_methods._prototypes:PrototypicalNetwork",
        description="few-shot: nearest class prototype on frozen features; the support set is kept in the adapter",
        trains="head",
        options=PrototypicalNetworkOptions,
        defaults={**_FEW_SHOT_DEFAULTS, "lr": 1e-2},
    ),
    MethodSpec(
        name="fomaml",
        factory="zoo_methods._prototypes:FirstOrderProtoMAML",
        description="meta-learning: first-order Proto-MAML episodes over your classes on frozen features, "
        "then adaptation",
        trains="head",
        options=FirstOrderProtoMAMLOptions,
        defaults={**_FEW_SHOT_DEFAULTS, "lr": 1e-3},
    ),
    MethodSpec(
        name="contrastive",
        factory="zoo_methods._contrastive:ContrastiveTuning",
        description="few-shot, SetFit-style: contrastive tuning of the backbone on streamed in-batch pairs, "
        "then a logistic head",
        trains="all",
        options=ContrastiveOptions,
        defaults={
            "lr": 2e-5,
            "epochs": 1,
            "weight_decay": 0.01,
            "batch_size": 16,
            "warmup": 0.1,
            "schedule": "linear",
            "patience": 1,
        },
    ),
]


@hookimpl
def register_methods(register):
    for spec in METHODS:
        register(spec)
