"""The options of the first-party pure-torch methods, one dataclass per method.

Torch-free: ``zoo methods`` lists and checks them without importing the ML stack. Defaults are
the ones the methods have always used; ``None`` keeps its old meaning where it had one ("all
classes", "automatic").
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo_core.options import MethodOptions, option

__all__ = [
    "L2_GRID",
    "BitFitOptions",
    "AdaBNOptions",
    "BottleneckOptions",
    "CoralOptions",
    "DANNOptions",
    "DomainAdaptationOptions",
    "MCCOptions",
    "SelfTrainingOptions",
    "ContrastiveOptions",
    "EpisodeOptions",
    "FirstOrderProtoMAMLOptions",
    "FULL_HEAD_INITS",
    "FullFineTuneOptions",
    "HEAD_INITS",
    "LayerNormTuningOptions",
    "LinearProbeOptions",
    "PrototypicalNetworkOptions",
    "ZERO_SHOT_TEMPLATES",
    "ZeroShotOptions",
]

#: L2 strengths the logistic-regression head tries, strongest first (a log grid).
L2_GRID = (10.0, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 1e-4)

#: How a fine-tuning method's head starts: ``random`` (the head's own initialisation) or ``probe``
#: (LP-FT: first fitted as the linear probe fits it, on frozen features; see ``zoo_methods._lpft``).
HEAD_INITS = ("random", "probe")
#: ``full`` also takes ``auto``, its default: ``probe`` for a linear head on an image backbone (where
#: it won on the development sets), ``random`` otherwise (text backbones, an MLP head, dense heads).
FULL_HEAD_INITS = ("auto", *HEAD_INITS)


def head_init_option() -> str:
    """The ``head_init`` option shared by the methods that fine-tune a backbone or an adapter (full,
    bottleneck, the PEFT methods): LP-FT, or LP-then-adapter, when set to ``probe``."""
    return option(
        "random",
        "how the head starts: random, or probe (LP-FT, Kumar et al. 2022: first fitted as linear_probe fits "
        "it, L-BFGS logistic regression on frozen eval-mode features with L2 chosen on validation, then "
        "everything trains from it; linear heads only)",
        choices=HEAD_INITS,
    )


@dataclass
class LinearProbeOptions(MethodOptions):
    """Linear probe: which features to probe and how the head is fitted."""

    features: str = option(
        "multilevel",
        "probe every backbone stage's pooled output (multilevel) or the final features only (last)",
        choices=("multilevel", "last"),
    )
    solver: str = option(
        "lbfgs",
        "lbfgs: logistic regression fitted to convergence per L2 strength; adamw: the mini-batch loop",
        choices=("lbfgs", "adamw"),
    )
    l2_grid: list[float] | None = option(
        list(L2_GRID), "L2 strengths the lbfgs solver tries, comma-separated (empty: the default grid)", min=0.0
    )


@dataclass
class FullFineTuneOptions(MethodOptions):
    """Full fine-tuning: unfreezing schedule, layer-wise learning rates, L2-SP, the head's start (LP-FT)
    and frozen BatchNorm statistics."""

    gradual_unfreeze: bool = option(False, "train the head alone first, then unfreeze one stage per epoch from the top")
    layer_decay: float | None = option(
        None, "each stage below the top gets lr * layer_decay ** depth (None or 0: one learning rate)", min=0.0
    )
    l2_sp: float = option(0.0, "L2-SP strength pulling the backbone towards its pre-trained weights (0: off)", min=0.0)
    # auto (LP-FT on images) since 2026-12-01 (issue 16): development evidence on flowers, yelp and TREC,
    # confirmation on USPS and digits, in BENCHMARKS.md "Full fine-tuning from the probe's head".
    head_init: str = option(
        "auto",
        "how the head starts: probe (LP-FT, Kumar et al. 2022: first fitted as linear_probe fits it, on frozen "
        "eval-mode features, then everything trains from it), random, or auto: probe for a linear head on an "
        "image model (it won there on the development sets, and lost on text), random otherwise",
        choices=FULL_HEAD_INITS,
    )
    freeze_bn: bool | None = option(
        None,
        "keep the backbone's BatchNorm layers in eval mode (running statistics frozen, scale and shift still "
        "train): for small batches, and for a head fitted on eval-mode features (None: on when the head starts "
        "from the probe)",
    )


@dataclass
class BitFitOptions(MethodOptions):
    """BitFit has no options: it tunes every bias of the backbone."""


@dataclass
class LayerNormTuningOptions(MethodOptions):
    """LayerNorm tuning has no options: it tunes every normalisation layer's scale and shift."""


@dataclass
class BottleneckOptions(MethodOptions):
    """Bottleneck adapters: placement, width and non-linearity."""

    variant: str = option(
        "houlsby",
        "houlsby: adapters after attention and feed-forward outputs; pfeiffer: after feed-forward only",
        choices=("houlsby", "pfeiffer"),
    )
    reduction: int = option(16, "hidden size of an adapter = width / reduction", min=1)
    activation: str = option("relu", "non-linearity inside the adapter", choices=("relu", "gelu", "swish", "tanh"))
    target_modules: list[str] | None = option(
        None, "modules an adapter follows, comma-separated (default: chosen from the variant, or each conv stage)"
    )
    head_init: str = head_init_option()


@dataclass
class EpisodeOptions(MethodOptions):
    """What the episodic methods share: the residual adapter's width and the classes per episode."""

    hidden: int = option(128, "hidden width of the residual feature adapter trained by episodes", min=1)
    ways: int | None = option(None, "classes drawn per episode (None or 0: every class)", min=0)


@dataclass
class PrototypicalNetworkOptions(EpisodeOptions):
    """Prototypical networks: optional episodic tuning before the prototypes are written."""

    episodes: int = option(0, "episodes of episodic tuning of a feature adapter (0: plain prototypes)", min=0)


@dataclass
class FirstOrderProtoMAMLOptions(EpisodeOptions):
    """First-order Proto-MAML: the outer (episode) and inner (classifier adaptation) loops."""

    meta_steps: int = option(100, "meta-training episodes", min=0)
    inner_steps: int = option(5, "SGD steps adapting the classifier to each episode's support set", min=0)
    inner_lr: float = option(0.05, "learning rate of the inner SGD steps", min=0.0)
    temperature: float = option(10.0, "scale of the cosine classifier's logits", min=0.0)
    final_steps: int | None = option(
        None, "adaptation steps on all training examples at the end (None: 2 x inner_steps)", min=0
    )


@dataclass
class ContrastiveOptions(MethodOptions):
    """SetFit-style contrastive tuning: how many pair steps, and whether the word embeddings train."""

    iterations: int = option(10, "at least this many pair iterations per training example", min=0)
    max_steps: int = option(1000, "at most this many optimiser steps when the count is automatic", min=1)
    steps: int | None = option(None, "optimiser steps, set directly (None or 0: automatic)", min=0)
    tune_embeddings: bool = option(False, "also train the word-embedding table (frozen by default)")


#: The default zero-shot templates: generic sentences, not tuned to any dataset ('{}' is the label's name).
ZERO_SHOT_TEMPLATES = ("{}", "This example is {}.", "This text is about {}.")


@dataclass
class ZeroShotOptions(MethodOptions):
    """Zero-shot from label names: what the class vectors were made of, and the logits' fixed scale."""

    templates: list[str] = option(
        list(ZERO_SHOT_TEMPLATES),
        "sentences with '{}' where a label's name goes; a class is the mean of their normalised embeddings",
    )
    class_names: list[str] | None = option(
        None, "the text put into the templates for each label, in label order (None: the labels themselves)"
    )
    temperature: float = option(
        20.0, "logits are temperature x cosine similarity (fixed; 20 is the sentence-transformers loss scale)", min=0.0
    )


@dataclass
class DomainAdaptationOptions(MethodOptions):
    """What the feature-space domain adaptation methods share: the bottleneck and the loss weight."""

    bottleneck: int = option(
        256, "width of the trained bottleneck (Linear, BatchNorm, ReLU, dropout) under the classifier", min=1
    )
    trade_off: float = option(
        1.0, "weight of the domain adaptation loss (0: source only; the unlabelled data is then unused)", min=0.0
    )


@dataclass
class CoralOptions(DomainAdaptationOptions):
    """Deep CORAL: the bottleneck and the weight of the covariance alignment loss."""


@dataclass
class DANNOptions(DomainAdaptationOptions):
    """DANN: the domain discriminator behind the gradient reversal layer."""

    discriminator_hidden: int = option(
        256, "width of the domain discriminator's two hidden layers (TLlib: 1024, four times the compute)", min=1
    )


@dataclass
class MCCOptions(DomainAdaptationOptions):
    """Minimum class confusion: the temperature that rescales the target predictions."""

    temperature: float = option(2.5, "softmax temperature of the target predictions", min=1e-3)


@dataclass
class SelfTrainingOptions(DomainAdaptationOptions):
    """FixMatch-style self-training: the confidence threshold and the strong view of a feature."""

    threshold: float = option(
        0.95, "confidence a weak-view (plain feature) prediction needs to become a pseudo-label", min=0.0, max=1.0
    )
    strong_dropout: float = option(
        0.5, "strong view: share of the standardised feature's dimensions dropped", min=0.0, max=0.95
    )
    strong_noise: float = option(
        0.1, "strong view: std of the Gaussian noise added to the standardised feature", min=0.0
    )


@dataclass
class AdaBNOptions(MethodOptions):
    """AdaBN: which BatchNorm statistics the probe is fitted under."""

    source_statistics: bool = option(
        True,
        "fit the probe on features under BatchNorm statistics re-estimated on the labelled data, so each domain "
        "is normalised by its own (AdaBN); false: under the pre-trained statistics",
    )
