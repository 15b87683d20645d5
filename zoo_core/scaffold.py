"""``zoo plugins new``: write a ready-to-install plugin package that passes its own tests."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

from zoo_core.errors import ZooError

KINDS = ("method", "backbone", "scorer", "task")

PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A transfer-zoo plugin: {description}"
requires-python = ">=3.10"
dependencies = ["transfer-zoo"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points.zoo]
{thing} = "{module}"

[tool.setuptools]
packages = ["{module}"]
{package_data}"""

METHOD_INIT = '''"""{dist}: the adaptation method ``{thing}``.

This module only registers a spec and declares the method's options (plain data); the torch
code is in ``{module}._impl`` and is imported when the method is used, so ``zoo --help`` and
every listing stay fast.
"""

from dataclasses import dataclass

from zoo_core.hookspecs import hookimpl
from zoo_core.options import MethodOptions, option
from zoo_core.specs import MethodSpec


@dataclass
class {camel}Options(MethodOptions):
    """The method's options, set with ``-o head_init_std=0.02`` and listed by
    ``zoo methods show {thing}``. Each is ``option(default, help, min=..., max=..., choices=...)``."""

    head_init_std: float = option(0.0, "std of a normal re-initialisation of the head's weights (0: keep)", min=0.0)


@hookimpl
def register_methods(register):
    register(
        MethodSpec(
            name="{thing}",
            factory="{module}._impl:Method",
            description="{description}",
            trains="head",
            options={camel}Options,
            defaults={{"lr": 1e-2, "epochs": 20, "weight_decay": 1e-4, "batch_size": 64, "patience": 5}},
        )
    )
'''

METHOD_IMPL = '''"""The ``{thing}`` method. Start here: change ``prepare`` to freeze, add or replace modules.

Contract (checked by ``zoo plugins check {module}``): ``Method`` subclasses AdaptationMethod
and its ``Options`` is the class the spec names; a step changes only what the method trains,
frozen base weights stay frozen, the adapter state round-trips exactly. Every hook you may
override is declared, with its default, on ``zoo_core.engine.method.AdaptationMethod``.
"""

from __future__ import annotations

import torch

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from {module} import {camel}Options


class Method(AdaptationMethod):
    name = "{thing}"
    Options = {camel}Options  # what MethodSpec(options=...) names; self.options is one
    options: {camel}Options
    trains = "head"  # "head", "adapter" or "all"
    uses_feature_cache = True  # head-only: train on cached backbone features

    def prepare(self, model) -> None:
        freeze(model.backbone)
        unfreeze(model.head)
        if self.options.head_init_std > 0:
            for module in model.head.modules():
                if isinstance(module, torch.nn.Linear):
                    torch.nn.init.normal_(module.weight, std=self.options.head_init_std)
'''

SCORER_INIT = '''"""{dist}: the transferability scorer ``{thing}`` for ``zoo recommend --scorer {thing}``."""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import ScorerSpec


@hookimpl
def register_scorers(register):
    register(ScorerSpec(name="{thing}", factory="{module}._impl:Scorer", description="{description}"))
'''

SCORER_IMPL = '''"""The ``{thing}`` scorer: Fisher's criterion, trace(between-class scatter) / trace(within-class
scatter). Replace ``score`` with your own; higher must mean better expected transfer."""

from __future__ import annotations

import numpy as np


class Scorer:
    name = "{thing}"
    needs_source_head = False
    higher_is_better = True

    def score(self, features, labels, source_probs=None) -> float:
        x = np.asarray(features, dtype=np.float64)
        _, y = np.unique(np.asarray(labels), return_inverse=True)
        x = (x - x.mean(0)) / (x.std(0) + 1e-12)
        between = within = 0.0
        for c in range(y.max() + 1):
            members = x[y == c]
            centre = members.mean(0)
            between += len(members) * float(centre @ centre)
            within += float(((members - centre) ** 2).sum())
        return between / max(within, 1e-12)
'''

BACKBONE_INIT = '''"""{dist}: the model family ``{thing}`` and a catalog with one model of it.

The family's torch code is in ``{module}._impl`` (imported only when a model is built); the catalog
(``catalog.json``, same schema as transfer-zoo's registry.json) lists the models it can build and
where their weights are. Add real models by adding entries with real weights and sha256.
"""

from pathlib import Path

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import BackboneSpec, CatalogSpec


@hookimpl
def register_backbones(register):
    register(BackboneSpec(name="{thing}", modality="image", factory="{module}._impl:create_backbone",
                          description="{description}"))


@hookimpl
def register_catalogs(register):
    register(CatalogSpec(path=str(Path(__file__).with_name("catalog.json"))))
'''

BACKBONE_IMPL = """\"\"\"The ``{thing}`` family: build a backbone for a catalog entry, load its verified weights.

Start here: replace ``ConvNet`` with your architecture (or wrap a library's), keep the contract
(checked by ``zoo plugins check {module}``): ``forward`` maps a batch to pooled features
``[batch, num_features]``, deterministic in eval mode; weights load strictly; the preprocessor
follows the catalog's input spec.
\"\"\"

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from zoo_core.engine.backbone import Backbone, Preprocessor
from zoo_core.errors import WeightsError
from zoo_core.weights import load_state_dict


class ConvNet(nn.Module):
    \"\"\"A small convolutional network: stem, two stages, global average pooling.\"\"\"

    def __init__(self, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.stages = nn.Sequential(
            nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU()),
            nn.Sequential(nn.Conv2d(2 * width, 4 * width, 1), nn.BatchNorm2d(4 * width), nn.ReLU()),
        )
        self.num_features = 4 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x)).mean(dim=(2, 3))


class ImagePreprocessor(Preprocessor):
    \"\"\"Resize to the input size, scale to [0, 1], normalise with the catalog's mean and std.\"\"\"

    def __init__(self, input_cfg: dict[str, Any], train: bool):
        self.input_cfg, self.train = dict(input_cfg), train
        self.mean = torch.tensor(input_cfg["mean"]).view(3, 1, 1)
        self.std = torch.tensor(input_cfg["std"]).view(3, 1, 1)

    def load(self, item: Any) -> torch.Tensor:
        image = item if isinstance(item, Image.Image) else Image.open(item)
        size = tuple(self.input_cfg["size"][1:])
        array = np.asarray(image.convert("RGB").resize(size[::-1], Image.BILINEAR), dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array).permute(2, 0, 1)
        if self.train and torch.rand(()) < 0.5:
            tensor = tensor.flip(-1)
        return (tensor - self.mean) / self.std

    def collate(self, samples):
        return torch.stack(list(samples))

    def config(self) -> dict[str, Any]:
        return {{"kind": "image", "train": self.train, **self.input_cfg}}


class ConvNetBackbone(Backbone):
    modality = "image"

    def __init__(self, model: ConvNet, entry: Any):
        super().__init__(model, model.num_features, entry)
        self.input_cfg = dict(entry.input)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)

    def preprocessor(self, train: bool = False) -> Preprocessor:
        return ImagePreprocessor(self.input_cfg, train)

    def default_lora_targets(self) -> list[str]:
        return [name for name, module in self.model.named_modules() if isinstance(module, nn.Conv2d)]


def create_backbone(entry, weights, *, pretrained: bool = True, **options: Any) -> ConvNetBackbone:
    \"\"\"The factory named in the BackboneSpec: ``weights`` is resolved and sha256-checked by zoo.\"\"\"
    model = ConvNet(width=int(options.get("width", 16)))
    if pretrained:
        if weights is None:
            raise WeightsError(f"no weights resolved for '{{entry.id}}'")
        # zoo's reader: a refused file is one line naming it and the entry, never a raw loader error
        model.load_state_dict(load_state_dict(weights.file, "safetensors", entry=entry), strict=True)
    return ConvNetBackbone(model.eval(), entry)


def write_initial_weights(path: str, seed: int = 0) -> None:
    \"\"\"Write seeded weights for the demo entry (``zoo plugins new`` calls this once).\"\"\"
    torch.manual_seed(seed)
    save_file({{k: v.contiguous() for k, v in ConvNet().state_dict().items()}}, path)
"""

BACKBONE_README_EXTRA = """
The catalog entry `{model_id}` ships seeded demo weights (`{module}/weights/tiny.safetensors`) so
that the contract suite runs offline; replace them with real pre-trained weights and update the
entry's `sha256`, `params_m`, `num_features`, `pretraining` and `source`.
"""

TASK_INIT = '''"""{dist}: the task ``{task}``, nearest-centroid image classification.

This module only registers the task's spec (plain data); the runner, which imports torch, is in
``{module}._impl``, loaded only when the task is used, so that
``zoo --help`` and every listing stay fast.
"""

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import TaskSpec

#: One item of what ``predict`` returns (``zoo predict ADAPTER IMAGE... --json``), as JSON Schema.
PREDICT_SCHEMA = {{
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "{task} prediction",
    "type": "object",
    "required": ["input", "label", "score", "similarities"],
    "additionalProperties": False,
    "properties": {{
        "input": {{"type": "string", "description": "the image path"}},
        "label": {{"type": "string", "description": "the class of the nearest centroid"}},
        "score": {{"type": "number", "description": "its similarity (cosine; or minus the euclidean distance)"}},
        "similarities": {{
            "type": "object",
            "description": "the similarity to every class centroid, by class name",
            "additionalProperties": {{"type": "number"}},
        }},
    }},
}}

TASK = TaskSpec(
    name="{task}",
    modality="image",
    description="{description}",
    status="supported",
    runner="{module}._impl:RUNNER",
    readers=("folders",),
    metrics="zoo_core.metrics:classification_metrics",
    predict_schema=PREDICT_SCHEMA,
    draw=None,
    feature_kind="pooled",
)


@hookimpl
def register_tasks(register):
    register(TASK)
'''

TASK_IMPL = '''"""The runner of ``{task}``: nearest-centroid classification on pooled features.

``finetune`` reads class folders of images, extracts a frozen backbone's pooled features (zoo's
feature cache), stores one centroid per class in an adapter of zoo's store (its ``adapter.json``
records ``"task": "{task}"``), checks that the stored adapter reloads to the same
similarities, and reports its metrics; ``evaluate`` and ``predict`` reload it and assign each
image to its nearest centroid.

Start here: change ``fit_centroids`` and ``similarities`` (or replace them with a trained head), keep
the contract (``zoo_core.specs.TaskSpec``, checked by ``zoo_core.testing.contracts.check_task``):
``finetune(model, data, *, zoo, log, **settings)``, ``evaluate(adapter, data, *, zoo,
allow_base_mismatch=False)`` and ``predict(adapter, inputs, *, zoo, ...)``, one dict per input shaped as
the spec's ``predict_schema``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from zoo_core.errors import AdapterError, DataError, ZooError

TASK = "{task}"
HEAD = "nearest-centroid"
#: The task options and their values, the first the default (``task_options={{"metric": "euclidean"}}``).
TASK_OPTIONS = {{"metric": ("cosine", "euclidean")}}
VERIFY_SAMPLES = 4  # images whose similarities the reload check compares


@dataclass
class Config:
    """What ``finetune`` takes as keywords (the names ``zoo finetune`` passes to a task's runner)."""

    task_options: dict[str, Any] = field(default_factory=dict)
    val: str | None = None
    test: str | None = None
    name: str | None = None
    seed: int = 0
    save: bool = True
    offline: bool | None = None
    batch_size: int | None = None
    val_fraction: float = 0.2
    max_skipped_fraction: float | None = None
    progress: bool | None = None
    backbone_options: dict[str, Any] = field(default_factory=dict)
    # A nearest-centroid head trains nothing and keeps the backbone frozen: only these values fit.
    method: str = "linear_probe"
    method_options: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = True
    epochs: int | None = None
    lr: float | None = None


@dataclass
class Result:
    """What ``finetune`` returns: the metrics on ``eval_split`` and the stored adapter."""

    task: str
    model: str
    method: str
    metrics: dict[str, Any]
    eval_split: str
    history: dict[str, Any]
    train_seconds: float
    notes: list[str] = field(default_factory=list)
    adapter: str | None = None
    adapter_path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {{f.name: getattr(self, f.name) for f in fields(self)}}


def make_config(settings: dict[str, Any]) -> Config:
    """The settings as a Config; what does not apply to a nearest-centroid head is refused in one line."""
    unknown = sorted(set(settings) - {{f.name for f in fields(Config)}})
    if unknown:
        raise ZooError(f"{{TASK}} does not take {{', '.join(unknown)}}")
    config = Config(**settings)
    if config.method != "linear_probe" or config.method_options:
        raise ZooError(f"{{TASK}} keeps the backbone frozen and fits no weights: use --method linear_probe, no options")
    if not config.pretrained:
        raise ZooError(f"{{TASK}} needs pre-trained weights: centroids of random features cannot be reloaded")
    if config.epochs or config.lr:
        raise ZooError(f"{{TASK}} fits its centroids in one pass over the data: drop --epochs and --lr")
    for key, value in config.task_options.items():
        if key not in TASK_OPTIONS:
            raise ZooError(f"{{TASK}} has no task option '{{key}}'; it takes {{', '.join(TASK_OPTIONS)}}")
        if value not in TASK_OPTIONS[key]:
            raise ZooError(f"task option {{key}}={{value!r}}: choose one of {{', '.join(TASK_OPTIONS[key])}}")
    return config


# ----------------------------------------------------------------------------------- the head
def fit_centroids(features: torch.Tensor, labels: Sequence[int], num_classes: int, metric: str) -> torch.Tensor:
    """One centroid per class ``[num_classes, num_features]``: the mean of its (normalised, for cosine) features."""
    if metric == "cosine":
        features = torch.nn.functional.normalize(features, dim=1)
    index = torch.tensor(list(labels), dtype=torch.long)
    sums = torch.zeros(num_classes, features.shape[1]).index_add_(0, index, features)
    counts = torch.bincount(index, minlength=num_classes).clamp(min=1).unsqueeze(1)
    centroids = sums / counts
    return torch.nn.functional.normalize(centroids, dim=1) if metric == "cosine" else centroids


def similarities(features: torch.Tensor, centroids: torch.Tensor, metric: str) -> torch.Tensor:
    """``[N, num_classes]``, higher is nearer: cosine similarity, or minus the euclidean distance."""
    if metric == "cosine":
        return torch.nn.functional.normalize(features, dim=1) @ centroids.T
    return -torch.cdist(features, centroids)


def pooled_features(backbone: Any, items: Sequence[Any], batch_size: int | None, progress: bool | None) -> torch.Tensor:
    from zoo_core.engine.features import extract_features

    return extract_features(backbone, list(items), batch_size=batch_size or 64, progress=bool(progress), desc=TASK)


@dataclass
class Loaded:
    """A stored adapter, rebuilt: the base backbone, the centroids and their class names."""

    backbone: Any
    centroids: torch.Tensor
    labels: list[str]
    metric: str
    metadata: dict[str, Any]

    def similarities(self, items: Sequence[Any]) -> torch.Tensor:
        return similarities(pooled_features(self.backbone, items, None, False), self.centroids, self.metric)


# ----------------------------------------------------------------------------------- adapters
def load(
    zoo: Any,
    ref: str,
    *,
    store: Any = None,
    allow_base_mismatch: bool = False,
    offline: bool | None = None,
    allow_unverified: bool = False,
) -> Loaded:
    """Rebuild adapter ``ref``: its files are checked against their sha256, its base weights against
    the recorded sha256 (``allow_base_mismatch`` overrides); another task's adapter is refused."""
    from safetensors.torch import load_file

    from zoo_core.engine.adapters import WEIGHTS_FILE, rebuild_backbone, verify_files
    from zoo_core.store import AdapterStore

    store = store or AdapterStore()
    adapter = store.resolve(ref)
    metadata = adapter.metadata()
    if metadata.get("task") != TASK:
        found = metadata.get("task") or "classification"
        raise AdapterError(f"adapter {{adapter}} is a {{found}} adapter, not {{TASK}}; run it with its own task")
    verify_files(adapter, metadata)
    if not allow_unverified:
        adapter.require_verified(metadata)
    _, backbone = rebuild_backbone(zoo, adapter, metadata, allow_base_mismatch=allow_base_mismatch, offline=offline)
    centroids = load_file(str(adapter.path / WEIGHTS_FILE)).get("centroids")
    labels = list(metadata["labels"])
    if centroids is None or tuple(centroids.shape) != (len(labels), backbone.num_features):
        raise AdapterError(
            f"adapter {{adapter}}: {{WEIGHTS_FILE}} holds no centroids [{{len(labels)}}, {{backbone.num_features}}] "
            "for its labels and base model"
        )
    metric = metadata["head"].get("options", {{}}).get("metric", "cosine")
    return Loaded(backbone.eval(), centroids, labels, metric, {{**metadata, "ref": str(adapter)}})


def save(
    zoo: Any,
    name: str,
    metadata: dict[str, Any],
    centroids: torch.Tensor,
    samples: Sequence[Any],
    expected: torch.Tensor,
    *,
    offline: bool | None = None,
) -> Any:
    """Store a new version of ``name``, reload it, check the samples' similarities, mark it verified."""
    from zoo_core.engine.adapters import model_card, write_adapter_files
    from zoo_core.store import AdapterStore

    metadata = {{**metadata, "task": TASK, "verification": "marker"}}
    card = model_card({{**metadata, "name": name}})
    store = AdapterStore()
    ref = store.save(name, lambda folder: write_adapter_files(folder, {{"centroids": centroids}}, metadata, card))
    reloaded = load(zoo, str(ref), store=store, offline=offline, allow_unverified=True)
    worst = float((reloaded.similarities(samples) - expected).abs().max()) if len(samples) else 0.0
    if worst > 1e-4:
        store.remove(str(ref))
        raise AdapterError(
            f"adapter {{ref}} does not reproduce its similarities after reloading (max difference {{worst:.3g}}); "
            "the version was removed"
        )
    store.mark_verified(ref, max_difference=worst, samples=len(samples))
    return ref


# ----------------------------------------------------------------------------------- the runner
class NearestCentroidRunner:
    """``finetune``, ``evaluate`` and ``predict`` of the task (the object the spec's ``runner`` names)."""

    classification = False  # zoo calls these functions, not its classification pipeline
    task = TASK

    def finetune(
        self,
        model: str,
        data: str | Path,
        *,
        zoo: Any = None,
        log: Callable[[str], None] | None = None,
        **settings: Any,
    ) -> Result:
        """Fit class centroids for catalog model ``model`` on the class folders at ``data``; evaluate; store."""
        from datetime import datetime, timezone

        from zoo_core import __version__
        from zoo_core.data import load_splits
        from zoo_core.engine.model import build_backbone
        from zoo_core.metrics import classification_metrics
        from zoo_core.plugins import Zoo
        from zoo_core.store import check_adapter_name

        config = make_config(settings)
        metric = config.task_options.get("metric", "cosine")
        zoo, log = zoo or Zoo(), log or (lambda message: None)
        entry = zoo.catalog.get(model)
        if entry.modality != "image":
            raise ZooError(f"model '{{entry.id}}' is a {{entry.modality}} model, but {{TASK}} needs an image model")
        name = config.name or f"{{entry.short_name.replace('/', '-')}}-{{TASK}}"
        if config.save:
            check_adapter_name(name)
        splits = load_splits(
            data,
            val=config.val,
            test=config.test,
            val_fraction=config.val_fraction,
            seed=config.seed,
            max_skipped_fraction=config.max_skipped_fraction,
        )
        train = splits.train
        if train.modality != "image":
            raise DataError(f"{{train.source}} holds {{train.modality}} data; {{TASK}} reads image folders")
        eval_split, eval_data = ("test", splits.test) if splits.test is not None else ("validation", splits.val)
        if eval_data is None or not len(eval_data):
            raise DataError(f"no validation or test data to evaluate on ({{train.source}}); give --val or --test")
        notes = []
        if eval_split == "validation":
            notes.append("evaluated on the validation split; give --test for an unbiased number")
        labels = list(splits.label_names)
        index = {{label: i for i, label in enumerate(labels)}}
        backbone = build_backbone(zoo, entry, offline=config.offline, **config.backbone_options).eval()
        log(f"{{TASK}}: {{len(train)}} training images of {{len(labels)}} classes, {{metric}} centroids")
        started = time.perf_counter()
        features = pooled_features(backbone, train.items, config.batch_size, config.progress)
        centroids = fit_centroids(features, [index[label] for label in train.labels], len(labels), metric)
        seconds = time.perf_counter() - started
        scores = similarities(pooled_features(backbone, eval_data.items, config.batch_size, False), centroids, metric)
        truth = [index[label] for label in eval_data.labels]
        metrics = classification_metrics(truth, scores.argmax(dim=1).tolist(), labels)
        history = {{"num_train": len(train), "steps": 0}}
        result = Result(TASK, entry.id, config.method, metrics, eval_split, history, seconds, notes)
        if config.save:
            metadata = {{
                "base_model": {{
                    "id": entry.id,
                    "family": entry.family,
                    "arch": entry.arch,
                    "weights_sha256": backbone.weights_sha256,
                    "options": config.backbone_options,
                }},
                "method": {{"name": config.method, "config": {{}}}},
                "head": {{"name": HEAD, "options": {{"metric": metric}}}},
                "labels": labels,
                "metrics": {{k: metrics[k] for k in ("accuracy", "macro_f1", "num_samples")}},
                "eval_split": eval_split,
                "data": {{"fingerprint": train.fingerprint(), "num_train": len(train), "source": str(train.source)}},
                "created": datetime.now(timezone.utc).isoformat(),
                "zoo_version": __version__,
            }}
            samples = list(eval_data.items[:VERIFY_SAMPLES])
            ref = save(zoo, name, metadata, centroids, samples, scores[: len(samples)], offline=config.offline)
            result.adapter, result.adapter_path = str(ref), str(ref.path)
        return result

    def evaluate(
        self, adapter: str, data: str | Path, *, zoo: Any = None, allow_base_mismatch: bool = False
    ) -> dict[str, Any]:
        """Metrics of stored ``adapter`` on the class folders at ``data``: its test split when it has
        train/val/test folders (else validation), every image otherwise; ``split`` says which."""
        from zoo_core.data import load_labelled, split_folders
        from zoo_core.metrics import classification_metrics
        from zoo_core.plugins import Zoo

        loaded = load(zoo or Zoo(), adapter, allow_base_mismatch=allow_base_mismatch)
        folders = split_folders(Path(data)) if Path(data).is_dir() else {{}}
        split = next((name for name in ("test", "val", "train") if name in folders), "all")
        dataset = load_labelled(folders.get(split, data))
        if dataset.modality != "image":
            raise DataError(f"{{dataset.source}} holds {{dataset.modality}} data; {{TASK}} reads image folders")
        unknown = sorted(set(dataset.labels) - set(loaded.labels))
        if unknown:
            raise DataError(
                f"{{dataset.source}}: classes {{', '.join(unknown)}} are not among the adapter's "
                f"({{', '.join(loaded.labels)}})"
            )
        index = {{label: i for i, label in enumerate(loaded.labels)}}
        predicted = loaded.similarities(dataset.items).argmax(dim=1).tolist()
        metrics = classification_metrics([index[label] for label in dataset.labels], predicted, loaded.labels)
        return {{**metrics, "task": TASK, "adapter": loaded.metadata["ref"], "split": split}}

    def predict(
        self,
        adapter: str,
        inputs: Sequence[str],
        *,
        zoo: Any = None,
        allow_base_mismatch: bool = False,
        draw: str | Path | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """One dict per image, as ``predict_schema`` says: the nearest class, its similarity and all of them."""
        from zoo_core.plugins import Zoo

        if draw is not None or options:
            given = ["draw"] * (draw is not None) + sorted(options)
            raise ZooError(f"{{', '.join(given)}}: not for {{TASK}} (it draws nothing and takes no options); drop it")
        missing = [path for path in inputs if not Path(path).is_file()]
        if missing:
            raise DataError(f"{{missing[0]}} is not an image file ({{len(missing)}} of the inputs missing)")
        loaded = load(zoo or Zoo(), adapter, allow_base_mismatch=allow_base_mismatch)
        rows = []
        for path, row in zip(inputs, loaded.similarities(list(inputs)).tolist()):
            best = max(range(len(row)), key=row.__getitem__)
            label, similar = loaded.labels[best], dict(zip(loaded.labels, row))
            rows.append({{"input": str(path), "label": label, "score": row[best], "similarities": similar}})
        return rows


RUNNER = NearestCentroidRunner()
'''

TASK_TEST = '''"""The task contract (``check_task``) on ``{task}``, and a tiny end-to-end run."""

import importlib
import io
import json
from pathlib import Path

import jsonschema
import pytest

from zoo_core.plugins import Zoo, make_plugin_manager
from zoo_core.specs import load_spec_object
from zoo_core.testing.contracts import check_task
from zoo_core.testing.tiny import TINY_IMAGE, build_tiny_catalog, write_image_folder

TASK = "{task}"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """The installed plugins (this one registered here if it is not installed) and zoo's tiny test models."""
    catalog = build_tiny_catalog(tmp_path_factory.mktemp("tiny-models"))
    module = importlib.import_module("{module}")
    pm = make_plugin_manager(stderr=io.StringIO())
    if module not in pm.get_plugins():
        pm.add_plugin(module, "{thing}")
    return Zoo(pm, catalog_paths=[str(catalog)])


@pytest.fixture(autouse=True)
def zoo_home(tmp_path, monkeypatch):
    """Adapters and cached features go to a folder of the test's own."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo-home"))


def test_task_contract(zoo):
    check_task(zoo, TASK)


def test_finetune_evaluate_predict(zoo, tmp_path):
    spec = zoo.get("tasks", TASK)
    runner = load_spec_object(spec, "runner")
    data = write_image_folder(tmp_path / "images", classes=3, per_class=8)
    result = runner.finetune(TINY_IMAGE, data, zoo=zoo, name="tiny-{task}")
    assert result.task == TASK and 0.0 <= result.metrics["accuracy"] <= 1.0
    assert json.loads((Path(result.adapter_path) / "adapter.json").read_text())["task"] == TASK

    metrics = runner.evaluate(result.adapter, data, zoo=zoo)
    assert metrics["split"] == "all" and metrics["num_samples"] == 24
    assert metrics["accuracy"] > 0.5  # the classes differ by colour: their centroids are apart

    images = sorted(str(path) for path in Path(data).rglob("*.png"))[:3]
    rows = runner.predict(result.adapter, images, zoo=zoo)
    assert [row["input"] for row in rows] == images
    for row in rows:
        jsonschema.validate(row, spec.predict_schema, cls=jsonschema.Draft202012Validator)
'''

TASK_README_EXTRA = """
The task `{task}` classifies images by their nearest class centroid in the pooled
features of a frozen backbone (`{module}/_impl.py`). `python -m pytest` also runs
`check_task` and a tiny finetune, evaluate and predict (`tests/test_task.py`). Its adapters
record `"task": "{task}"`, so `zoo evaluate` and `zoo predict` run them with this plugin's
runner:

```python
from zoo_core.plugins import Zoo
from zoo_core.specs import load_spec_object

zoo = Zoo()
runner = load_spec_object(zoo.get("tasks", "{task}"), "runner")
result = runner.finetune("efficientnet-lite0", "./photos", zoo=zoo, name="photos-{task}")
print(runner.predict(result.adapter, ["photo.jpg"], zoo=zoo))
```

```bash
zoo evaluate photos-{task} --data ./photos_test --json
zoo predict photos-{task} photo.jpg --json
```
"""

TEST = '''"""Runs transfer-zoo's contract suite on this plugin (the same checks as `zoo plugins check {module}`)."""

from zoo_core.testing import parametrize_with_checks


@parametrize_with_checks("{module}")
def test_contract(check):
    check()
'''

README = """# {dist}

A transfer-zoo plugin providing the {kind} `{shown}`: {description}.

```bash
pip install -e .            # registers the entry point; `zoo plugins list` shows it
python -m pytest            # the contract suite
zoo plugins check {module}  # the same checks, as a report
```
"""


def new_plugin(name: str, kind: str, out: str | Path = ".") -> Path:
    """Write the package ``zoo-<name>`` into ``out`` and return its folder."""
    if kind not in KINDS:
        raise ZooError(f"unknown plugin kind '{kind}': choose one of {', '.join(KINDS)}")
    base = name.lower().removeprefix("zoo-").removeprefix("zoo_")
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", base):
        raise ZooError(
            f"invalid plugin name '{name}': use lowercase letters, digits, '-' and '_', starting with a letter"
        )
    thing = base.replace("-", "_")
    values = {
        "dist": f"zoo-{base}",
        "module": f"zoo_{thing}",
        "thing": thing,
        "camel": "".join(part.capitalize() for part in thing.split("_")),
        "kind": kind,
        "shown": thing,
        "description": f"the {thing} {kind} (generated by zoo plugins new)",
    }
    if kind == "task":
        task = _task_name(name, base)
        values["task"] = values["shown"] = task
        values["description"] = (
            "nearest-centroid image classification on pooled features (generated by zoo plugins new)"
        )
    folder = Path(out) / values["dist"]
    if folder.exists() and any(folder.iterdir()):
        raise ZooError(f"{folder} already exists and is not empty; choose another --out or name")
    init, impl = {
        "method": (METHOD_INIT, METHOD_IMPL),
        "scorer": (SCORER_INIT, SCORER_IMPL),
        "backbone": (BACKBONE_INIT, BACKBONE_IMPL),
        "task": (TASK_INIT, TASK_IMPL),
    }[kind]
    values["package_data"] = ""
    readme = README
    if kind == "backbone":
        values["model_id"] = f"local/{base}-tiny"
        values["package_data"] = (
            f'\n[tool.setuptools.package-data]\n{values["module"]} = ["catalog.json", "weights/*.safetensors"]\n'
        )
        readme = README + BACKBONE_README_EXTRA
    if kind == "task":
        readme = README + TASK_README_EXTRA
    files = {
        "pyproject.toml": PYPROJECT,
        f"{values['module']}/__init__.py": init,
        f"{values['module']}/_impl.py": impl,
        "tests/test_contract.py": TEST,
        "README.md": readme,
    }
    if kind == "task":
        files["tests/test_task.py"] = TASK_TEST
    for relative, template in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    if kind == "backbone":
        _write_backbone_catalog(folder, values)
    return folder


def _task_name(name: str, base: str) -> str:
    """The task a ``--kind task`` plugin registers: its name with '-' for '_' (as zoo's own tasks)."""
    from zoo_core.catalog import BUILTIN_CATALOG

    task = base.replace("_", "-")
    if task.endswith("classification"):
        raise ZooError(
            f"invalid task name '{task}' (from '{name}'): zoo runs *-classification adapters with its "
            "classification pipeline, not a plugin's runner; choose a name that does not end in 'classification'"
        )
    known = {entry["name"] for entry in json.loads(BUILTIN_CATALOG.read_text(encoding="utf-8")).get("tasks", [])}
    if task in known:
        raise ZooError(f"task '{task}' is one of zoo's own tasks ('zoo tasks list'); choose another name")
    return task


def _write_backbone_catalog(folder: Path, values: dict[str, str]) -> None:
    """Write seeded demo weights (by the generated code itself, in a subprocess: the CLI stays
    torch-free) and a catalog entry that names them with their sha256."""
    module = values["module"]
    weights = folder / module / "weights" / "tiny.safetensors"
    weights.parent.mkdir(parents=True, exist_ok=True)
    code = (
        f"import sys; sys.path.insert(0, {str(folder)!r}); from {module}._impl import write_initial_weights; "
        f"write_initial_weights({str(weights)!r})"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ZooError(
            f"could not write the demo weights for {folder} ({last}); a backbone plugin needs torch, "
            f"safetensors and pillow: pip install 'transfer-zoo[torch]'"
        )
    entry = {
        "id": values["model_id"],
        "aliases": [f"{values['thing']}-tiny"],
        "family": values["thing"],
        "arch": "convnet",
        "modality": "image",
        "tasks": ["image-classification", "feature-extraction"],
        "description": "Seeded demo weights written by zoo plugins new; replace with real pre-trained weights.",
        "params_m": None,
        "num_features": 64,
        "input": {
            "size": [3, 32, 32],
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "interpolation": "bilinear",
            "crop_pct": 1.0,
        },
        "weights": [
            {
                "source": "pypi",
                "package": values["dist"],
                "module": module,
                "path": "weights/tiny.safetensors",
                "format": "safetensors",
                "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            }
        ],
        "pretraining": None,
        "license": None,
        "paper": None,
        "metric": None,
        "status": "experimental",
        "source": "generated by zoo plugins new",
    }
    (folder / module / "catalog.json").write_text(json.dumps({"schema_version": 1, "models": [entry]}, indent=2) + "\n")
