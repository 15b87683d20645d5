"""First-party plugin: pure-torch adaptation methods (linear probe, full fine-tune, BitFit, LayerNorm
tuning, bottleneck adapters, prototypical networks, first-order Proto-MAML, SetFit-style
contrastive tuning, domain adaptation with unlabelled target data).

Torch-free: the specs name their classes by import string and their options by torch-free
dataclasses (:mod:`zoo_methods.options`). Modules by mechanism: ``_probe`` and ``_logistic`` (the
linear probe and its L-BFGS head fit), ``_full``, ``_selective`` (BitFit, LN-tuning),
``_bottleneck``, ``_prototypes`` (protonet, fomaml), ``_contrastive``, ``_domain`` (coral, dann, mcc,
self_training, adabn).
"""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec
from zoo_methods.options import (
    AdaBNOptions,
    BitFitOptions,
    BottleneckOptions,
    ContrastiveOptions,
    CoralOptions,
    DANNOptions,
    FirstOrderProtoMAMLOptions,
    FullFineTuneOptions,
    LayerNormTuningOptions,
    LinearProbeOptions,
    MCCOptions,
    PrototypicalNetworkOptions,
    SelfTrainingOptions,
    ZeroShotOptions,
)

# Training settings of the methods that train inside the backbone; each spec adds its learning rate.
_ADAPTER_DEFAULTS = {"epochs": 5, "weight_decay": 0.01, "batch_size": 32, "warmup": 0.1, "patience": 2}
# Domain adaptation on cached features: the bottleneck net trains for a fixed schedule (AdamW, cosine);
# TLlib's trade-off 1 and batch 32 per domain. Chosen before any benchmark ran, not tuned on test data.
_DOMAIN_DEFAULTS = {"lr": 1e-3, "epochs": 30, "weight_decay": 1e-3, "batch_size": 32}
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
    MethodSpec(
        name="zero_shot",
        factory="zoo_methods._zero_shot:ZeroShot",
        description="no training data: classes are embeddings of the label names (built by 'zoo zero-shot', "
        "not zoo finetune)",
        trains="head",
        modalities=("text",),
        unsupported_reason="it embeds label names with the backbone, which needs a text model "
        "(CLIP-style image-text models are not in the catalog)",
        options=ZeroShotOptions,
    ),
    *[
        MethodSpec(
            name=name,
            factory=f"zoo_methods._domain:{factory}",
            description=f"domain adaptation with --unlabeled target data: {what}; trains a bottleneck "
            "(Linear, BatchNorm, ReLU, dropout) and a linear classifier on cached frozen features",
            trains="head",
            options=options,
            defaults=_DOMAIN_DEFAULTS,
            uses_unlabeled_data=True,
        )
        for name, factory, options, what in (
            ("coral", "DeepCORAL", CoralOptions, "Deep CORAL, aligns the feature means and covariances"),
            ("dann", "DANN", DANNOptions, "DANN, a domain discriminator behind gradient reversal"),
            ("mcc", "MinimumClassConfusion", MCCOptions, "minimum class confusion on the target predictions"),
            ("self_training", "SelfTraining", SelfTrainingOptions, "FixMatch-style pseudo-labels, weak/strong views"),
        )
    ],
    MethodSpec(
        name="adabn",
        factory="zoo_methods._domain:AdaBN",
        description="domain adaptation with --unlabeled target data: AdaBN, BatchNorm statistics re-estimated on "
        "the target images, then a linear probe (convnets with BatchNorm only)",
        trains="head",
        modalities=("image",),
        unsupported_reason="adabn re-estimates BatchNorm statistics, and text transformers have none (LayerNorm); "
        "use coral, dann, mcc or self_training",
        options=AdaBNOptions,
        defaults={"lr": 1e-2, "epochs": 1, "weight_decay": 0.0, "batch_size": 64},
        uses_unlabeled_data=True,
    ),
]


@hookimpl
def register_methods(register):
    for spec in METHODS:
        register(spec)
