"""Hook specifications: the plugin API of transfer-zoo.

A plugin is a module (or object) listed under the ``zoo`` entry-point group::

    [project.entry-points.zoo]
    my_thing = "zoo_my_thing"

whose functions are decorated with :data:`hookimpl` and named after the hooks below. First-party
plugins (``zoo_timm``, ``zoo_hf``, ``zoo_methods``, ``zoo_peft``, ``zoo_tasks``) use exactly this door.

Rules every hook follows:

* ``register_<things>(register)`` hooks are called once per plugin, separately, so that each spec
  records the plugin that gave it and a plugin that raises is charged alone. Call
  ``register(spec)`` once per thing. Registering a name that another plugin already registered is
  an error naming both plugins.
* A plugin's top-level module must not import torch, timm, transformers or peft. Specs are plain
  data; the heavy code is named by an import string and imported only when used.
* Hooks evolve by *adding* arguments, never renaming them; pluggy passes only the arguments an
  implementation asks for, so old plugins keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import click

    from zoo_core.specs import (
        BackboneSpec,
        CatalogSpec,
        HeadSpec,
        MethodSpec,
        ScorerSpec,
        TaskSpec,
        WeightsSourceSpec,
    )

PROJECT_NAME = "zoo"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_backbones(register: Callable[[BackboneSpec], None]) -> None:
    """Register model families.

    :param register: call ``register(BackboneSpec(...))`` once per family.

    A family builds a backbone for every catalog entry whose ``family`` field equals the spec's
    ``name``. Example::

        @hookimpl
        def register_backbones(register):
            register(BackboneSpec(name="timm", modality="image",
                                  factory="zoo_timm._impl:create_backbone"))
    """


@hookspec
def register_heads(register: Callable[[HeadSpec], None]) -> None:
    """Register task heads (what maps pooled features to outputs).

    :param register: call ``register(HeadSpec(...))`` once per head, e.g. ``linear`` or ``mlp``.
    """


@hookspec
def register_methods(register: Callable[[MethodSpec], None]) -> None:
    """Register adaptation methods (linear probe, full fine-tune, LoRA, adapters, few-shot...).

    :param register: call ``register(MethodSpec(...))`` once per method.

    The spec's ``factory`` import string must resolve to a callable (usually the class) returning
    an instance of a :class:`zoo_core.engine.method.AdaptationMethod` subclass: that base class is
    the whole method contract, every hook declared with its default. The spec's ``options`` names
    the class's ``Options`` dataclass (torch-free), and its ``defaults`` hold training settings
    only. The method contract of ``zoo_core.testing`` (``zoo_core.testing.contracts.check_method``,
    what ``zoo plugins check`` runs) checks the declarations (subclass, documented options that
    round-trip through ``describe()``) and the behaviour (a step changes only what the method
    trains, frozen base weights stay frozen, the adapter state round-trips exactly).
    """


@hookspec
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register tasks (``image-classification``, ``object-detection``...).

    :param register: call ``register(TaskSpec(...))`` once per task. A task that can be run names
        its ``runner`` (an object with ``finetune``, ``evaluate`` and ``predict``), the data
        layouts it reads (``readers``), its ``metrics``, the JSON Schema of what ``predict``
        returns (``predict_schema``), how results are drawn (``draw``) and what it reads from the
        backbone (``feature_kind``: ``"pooled"`` or ``"maps"``), all as import strings or plain data
        (see :class:`zoo_core.specs.TaskSpec`; ``zoo_core.testing.contracts.check_task`` checks them).
        Tasks declared in catalog files are registered too: a plugin's spec wins over the built-in
        catalog's declaration of the same name (which then supplies its description when the
        plugin gives none); the same name from two plugins, or from a plugin and another catalog
        file, is an error. First-party tasks come from the ``zoo_tasks`` plugin.
    """


@hookspec
def register_catalogs(register: Callable[[CatalogSpec], None]) -> None:
    """Register catalog files that follow registry.json's schema.

    :param register: call ``register(CatalogSpec(path=...))`` once per file. Their models join the
        built-in catalog; a model id or alias that is already taken is an error naming both files.
    """


@hookspec
def register_weight_sources(register: Callable[[WeightsSourceSpec], None]) -> None:
    """Register kinds of weights sources (``path``, ``hub``, ``pypi``...).

    :param register: call ``register(WeightsSourceSpec(name=..., resolver=...))``. A catalog entry's
        ``weights`` list names sources by ``source``; they are tried in the listed order.
    """


@hookspec
def register_scorers(register: Callable[[ScorerSpec], None]) -> None:
    """Register transferability scorers (LogME, H-score, kNN accuracy...) for ``zoo recommend``.

    :param register: call ``register(ScorerSpec(...))`` once per scorer.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``zoo`` command line.

    :param cli: the top-level :class:`click.Group`; add to it with ``@cli.command()`` or
        ``cli.add_command(...)``. Keep heavy imports inside the command function.
    """
