"""Issue 4: adapters survive crashes and concurrency, refuse the wrong base model and corrupt files."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from zoo_core.engine.pipeline import finetune, predict
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterStore
from zoo_core.testing.tiny import TINY_IMAGE

SAVER = """
import hashlib, sys, time
from pathlib import Path
from zoo_core.store import AdapterStore

def write(folder):
    (folder / "adapter.safetensors").write_bytes(b"x" * 100000)
    if sys.argv[1] == "hang":
        Path(sys.argv[2]).write_text("writing")  # tell the test we are mid-save
        time.sleep(60)
    files = {"adapter.safetensors": hashlib.sha256(b"x" * 100000).hexdigest()}
    return {"base_model": {"id": "tiny/x"}, "method": {"name": "full"}, "head": {"name": "linear"},
            "labels": ["a"], "files": files}

for _ in range(int(sys.argv[3])):
    AdapterStore().save("shared", write)
"""


def _saver(mode, marker, count, env=None):
    return subprocess.Popen(
        [sys.executable, "-c", SAVER, mode, str(marker), str(count)], env={**os.environ, **(env or {})}
    )


def test_killed_mid_save_leaves_previous_version_intact(tmp_path):
    store = AdapterStore()
    assert _saver("ok", tmp_path / "unused", 1).wait(60) == 0
    before = json.loads((store.resolve("shared").path / "adapter.json").read_text())
    marker = tmp_path / "marker"
    proc = _saver("hang", marker, 1)
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert store.versions("shared") == [1]  # nothing half-written is visible
    assert json.loads((store.resolve("shared").path / "adapter.json").read_text()) == before
    assert [ref.version for ref in store.list()] == [1]
    # The next save cleans the dead process's temporary folder and gets version 2.
    assert _saver("ok", tmp_path / "unused", 1).wait(60) == 0
    assert store.versions("shared") == [1, 2]
    assert not list((store.root / "shared").glob(".tmp-*"))


@pytest.mark.slow  # trains a model
def test_two_processes_saving_at_once_get_distinct_versions(tmp_path):
    procs = [_saver("ok", tmp_path / "unused", 5) for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    store = AdapterStore()
    assert store.versions("shared") == list(range(1, 11))
    for ref in store.list():
        assert ref.metadata()["version"] == ref.version


@pytest.fixture
def trained(tiny_zoo, image_folder):
    result = finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, epochs=5, name="colours", method="lora")
    return result


@pytest.mark.slow  # its fixture trains a model
def test_loading_onto_other_base_weights_is_refused(trained, tiny_zoo, tiny_catalog, tmp_path, image_folder):
    import timm
    import torch
    from safetensors.torch import save_file

    from zoo_core.plugins import Zoo, make_plugin_manager
    from zoo_core.weights import sha256_file

    torch.manual_seed(123)
    other = tmp_path / "other.safetensors"
    save_file(timm.create_model("test_efficientnet", num_classes=10).state_dict(), str(other))
    catalog = json.loads(tiny_catalog.read_text())
    entry = [m for m in catalog["models"] if m["id"] == TINY_IMAGE][0]
    entry["weights"] = [{"source": "path", "path": str(other), "format": "safetensors", "sha256": sha256_file(other)}]
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    other_zoo = Zoo(make_plugin_manager(), catalog_paths=[str(moved)])
    image = str(next((image_folder / "class_0").iterdir()))
    with pytest.raises(AdapterError) as info:
        predict("colours", [image], zoo=other_zoo)
    message = str(info.value)
    original = tiny_zoo.catalog.get(TINY_IMAGE).weights[0]["sha256"]
    assert original[:16] in message and sha256_file(other)[:16] in message and "refusing" in message
    assert predict("colours", [image], zoo=other_zoo, allow_base_mismatch=True)[0]["label"].startswith("class_")


@pytest.mark.slow  # its fixture trains a model
def test_corrupt_adapter_file_is_refused(trained, tiny_zoo, image_folder):
    weights = AdapterStore().resolve("colours").path / "adapter.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AdapterError, match="adapter.safetensors is corrupt"):
        predict("colours", [str(next((image_folder / "class_0").iterdir()))], zoo=tiny_zoo)


@pytest.mark.slow  # its fixture trains a model
def test_save_keeps_samples_and_a_model_card(trained):
    folder = AdapterStore().resolve("colours").path
    samples = json.loads((folder / "samples.json").read_text())
    assert len(samples["items"]) == 4 and len(samples["logits"][0]) == 3
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "base_model: tiny/test-efficientnet" in card
    meta = json.loads((folder / "adapter.json").read_text())
    assert set(meta["files"]) >= {"adapter.safetensors", "README.md", "samples.json", "samples/0.png"}


@pytest.mark.slow  # trains a model
def test_a_save_that_does_not_reload_identically_is_an_error(tiny_zoo, image_folder, monkeypatch):
    from zoo_core.engine.method import AdaptationMethod

    original = AdaptationMethod.load_adapter_state

    def lossy(self, model, state):
        original(self, model, {k: v * 0.5 if k.startswith("head.") else v for k, v in state.items()})

    monkeypatch.setattr(AdaptationMethod, "load_adapter_state", lossy)
    with pytest.raises(AdapterError, match="does not reproduce its predictions"):
        finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, epochs=2, name="lossy", method="full", num_workers=0)
    assert AdapterStore().versions("lossy") == []
