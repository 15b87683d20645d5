"""First-party plugin: Hugging Face transformers text encoders (the ``hf`` family).

Imports nothing heavy: the backbone is built by ``zoo_hf._impl:create_backbone`` only when used.
"""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import BackboneSpec


@hookimpl
def register_backbones(register):
    register(
        BackboneSpec(
            name="hf",
            modality="text",
            factory="zoo_hf._impl:create_backbone",
            continued_pretraining="zoo_hf._tapt:continue_pretraining",
            description="transformers encoders (AutoModel); CLS, mean or last-token pooling per catalog entry",
        )
    )
