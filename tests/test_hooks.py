"""Every hook, used by a temporary plugin the way a third party would: what it registers is listed
with the plugin's name and actually works (builds, resolves, scores)."""

import io
import json
from pathlib import Path

import pytest

from zoo_core.errors import PluginError
from zoo_core.plugins import Zoo, make_plugin_manager, module_plugin
from zoo_core.specs import BackboneSpec, CatalogSpec, HeadSpec, ScorerSpec, TaskSpec, WeightsSourceSpec
from zoo_core.testing.tiny import TINY_IMAGE
from zoo_core.weights import NotHere


class ToySource:
    """A weights source that serves files from one folder named by the catalog entry."""

    calls: list[str] = []

    def locate(self, source):
        path = Path(source["folder"]) / source["file"]
        ToySource.calls.append(str(path))
        if not path.exists():
            raise NotHere(f"toy folder {source['folder']} has no {source['file']}")
        return path

    def how_to_get(self, source):
        return f"copy {source['file']} into {source['folder']}"


def scaled_linear(in_features, num_classes, scale=2.0):
    import torch

    layer = torch.nn.Linear(in_features, num_classes)
    return torch.nn.Sequential(layer, torch.nn.Hardtanh(-scale, scale))


class FisherScorer:
    name = "toy_fisher"
    needs_source_head = False

    def score(self, features, labels, source_probs=None):
        import numpy as np

        x = np.asarray(features, dtype=float)
        _, y = np.unique(labels, return_inverse=True)
        centres = np.stack([x[y == c].mean(0) for c in range(y.max() + 1)])
        within = sum(((x[y == c] - centres[c]) ** 2).sum() for c in range(len(centres)))
        return float(((centres - x.mean(0)) ** 2).sum() * len(x) / len(centres) / within)


def zoo_with(name, **hooks):
    return Zoo(make_plugin_manager(plugins=[(name, module_plugin(name, **hooks))], stderr=io.StringIO()))


def test_backbones_catalogs_and_weight_sources_from_one_plugin(tiny_catalog, tmp_path):
    from zoo_core.engine.model import build_backbone

    tiny = next(m for m in json.loads(tiny_catalog.read_text())["models"] if m["id"] == TINY_IMAGE)
    weights = Path(tiny["weights"][0]["path"])
    entry = {
        **tiny,
        "id": "toy/net",
        "aliases": ["toy-net"],
        "family": "toy_timm",
        "weights": [
            {
                "source": "toy",
                "folder": str(weights.parent),
                "file": weights.name,
                "sha256": tiny["weights"][0]["sha256"],
            }
        ],
    }
    catalog = tmp_path / "toy-catalog.json"
    catalog.write_text(json.dumps({"schema_version": 1, "models": [entry]}))

    zoo = zoo_with(
        "toyfam",
        register_backbones=lambda register: register(
            BackboneSpec(name="toy_timm", modality="image", factory="zoo_timm._impl:create_backbone")
        ),
        register_weight_sources=lambda register: register(
            WeightsSourceSpec(name="toy", resolver=f"{__name__}:ToySource")
        ),
        register_catalogs=lambda register: register(CatalogSpec(path=str(catalog))),
    )
    assert zoo.backbones["toy_timm"].plugin == "toyfam"
    assert zoo.weight_sources["toy"].plugin == "toyfam"
    assert zoo.catalog.get("toy-net").id == "toy/net"

    ToySource.calls.clear()
    backbone = build_backbone(zoo, "toy-net")
    assert ToySource.calls == [str(weights)]
    assert backbone.weights_sha256 == tiny["weights"][0]["sha256"]
    assert backbone.num_features > 0


def test_heads_hook_builds_the_plugins_head():
    import torch

    from zoo_core.engine.model import build_head

    zoo = zoo_with(
        "toyhead",
        register_heads=lambda register: register(HeadSpec(name="scaled", factory=f"{__name__}:scaled_linear")),
    )
    assert zoo.heads["scaled"].plugin == "toyhead"
    head = build_head(zoo, "scaled", 8, 3, scale=0.5)
    out = head(torch.randn(5, 8) * 100)
    assert out.shape == (5, 3) and out.abs().max() <= 0.5
    from zoo_core.testing.contracts import check_head

    check_head(zoo, "scaled")


def test_tasks_hook_and_a_clash_with_a_catalog_task():
    zoo = zoo_with(
        "toytask",
        register_tasks=lambda register: register(
            TaskSpec(name="toy-counting", modality="image", description="count things", status="planned")
        ),
    )
    assert zoo.tasks["toy-counting"].plugin == "toytask"
    assert zoo.tasks["feature-extraction"].plugin.startswith("catalog:")
    assert zoo.tasks["image-classification"].plugin == "tasks"  # zoo_tasks' spec wins over the built-in catalog

    clash = zoo_with(
        "clash", register_tasks=lambda register: register(TaskSpec(name="image-classification", modality="image"))
    )
    with pytest.raises(PluginError, match="'image-classification' is registered by both plugin 'tasks' and plugin"):
        _ = clash.tasks
    # A plugin's spec wins over the built-in catalog's declaration, which lends its description.
    wins = zoo_with(
        "wins", register_tasks=lambda register: register(TaskSpec(name="sentiment-analysis", modality="text"))
    )
    assert wins.tasks["sentiment-analysis"].plugin == "wins"
    assert wins.tasks["sentiment-analysis"].description.startswith("Text classification of polarity")


def test_scorers_hook_passes_the_scorer_contract():
    from zoo_core.testing.contracts import check_scorer

    zoo = zoo_with(
        "toyscore",
        register_scorers=lambda register: register(ScorerSpec(name="toy_fisher", factory=f"{__name__}:FisherScorer")),
    )
    assert zoo.scorers["toy_fisher"].plugin == "toyscore"
    check_scorer(zoo, "toy_fisher")
