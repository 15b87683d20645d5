"""First-party plugin: timm image backbones (the ``timm`` family).

Imports nothing heavy: the backbone is built by ``zoo_timm._impl:create_backbone`` only when used.
"""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import BackboneSpec


@hookimpl
def register_backbones(register):
    register(
        BackboneSpec(
            name="timm",
            modality="image",
            factory="zoo_timm._impl:create_backbone",
            description="timm image models; pooled pre-logits features; transforms from the catalog's input spec",
        )
    )
