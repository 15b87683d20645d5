"""The adapter store: versions, atomic saves, removal, and the CLI over it."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from zoo_core.cli import cli
from zoo_core.errors import AdapterError, NotFoundError, ZooError
from zoo_core.store import AdapterStore, parse_ref


def _write(payload):
    # adapter.json must be valid adapter metadata (schemas/adapter.schema.json): head and file hashes too.
    def write(folder):
        (folder / "adapter.safetensors").write_bytes(payload)
        return {
            "base_model": {"id": "tiny/x"},
            "method": {"name": "lora"},
            "head": {"name": "linear"},
            "labels": ["a", "b"],
            "metrics": {"accuracy": 0.5},
            "files": {"adapter.safetensors": hashlib.sha256(payload).hexdigest()},
        }

    return write


def test_versions_and_refs(tmp_path):
    store = AdapterStore(tmp_path)
    first = store.save("demo", _write(b"1"))
    second = store.save("demo", _write(b"22"))
    assert (str(first), str(second)) == ("demo@1", "demo@2")
    assert store.resolve("demo").version == 2 and store.resolve("demo@1").path == first.path
    assert store.resolve("demo@1").metadata()["version"] == 1
    with pytest.raises(AdapterError, match="has no version 3; it has @1, @2"):
        store.resolve("demo@3")
    with pytest.raises(NotFoundError, match="Did you mean 'demo'"):
        store.resolve("dmeo")


def test_failed_write_leaves_nothing_visible(tmp_path):
    store = AdapterStore(tmp_path)
    store.save("demo", _write(b"ok"))

    def crash(folder):
        (folder / "half.bin").write_bytes(b"partial")
        raise KeyboardInterrupt  # Ctrl-C in the middle of a save

    with pytest.raises(KeyboardInterrupt):
        store.save("demo", crash)
    assert store.versions("demo") == [1]
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["v1"]


def test_remove_one_version_or_all(tmp_path):
    store = AdapterStore(tmp_path)
    for payload in (b"1", b"2", b"3"):
        store.save("demo", _write(payload))
    store.remove("demo@2")
    assert store.versions("demo") == [1, 3]
    store.remove("demo")
    assert store.names() == [] and not (tmp_path / "demo").exists()


@pytest.mark.parametrize("ref", ["../escape", "a b", "x@0", "x@two", ""])
def test_bad_refs_are_user_errors(ref):
    with pytest.raises(ZooError):
        parse_ref(ref)


def test_cli_list_show_rm(_isolated):
    store = AdapterStore()
    store.save("demo", _write(b"abc"))
    runner = CliRunner()
    rows = json.loads(runner.invoke(cli, ["adapters", "list", "--json"]).output)
    assert rows[0]["ref"] == "demo@1" and rows[0]["method"] == "lora" and rows[0]["size_bytes"] > 0
    shown = runner.invoke(cli, ["adapters", "show", "demo"])
    assert shown.exit_code == 0 and "labels: a, b" in shown.output
    assert runner.invoke(cli, ["adapters", "rm", "demo@1"]).exit_code == 0
    missing = runner.invoke(cli, ["adapters", "show", "demo"])
    assert missing.exit_code == 1 and "unknown adapter 'demo'" in missing.output
