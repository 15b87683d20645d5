"""Issue 15, the adapter store: rm during a save, broken metadata, missing hashes, unsafe archives,
versions whose reload check never ran; plus property tests of the adapter-metadata readers."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo_core.cli import cli
from zoo_core.errors import AdapterError, ZooError
from zoo_core.store import AdapterRef, AdapterStore

WEIGHTS = "adapter.safetensors"


def _meta(payload: bytes, **extra):
    """Minimal valid adapter metadata for a version whose weights file holds ``payload``."""
    return {
        "base_model": {"id": "tiny/x"},
        "method": {"name": "lora", "config": {}},
        "head": {"name": "linear", "options": {}},
        "labels": ["a", "b"],
        "metrics": {"accuracy": 0.5},
        "files": {WEIGHTS: hashlib.sha256(payload).hexdigest()},
        **extra,
    }


def _writer(payload: bytes = b"weights", during=None):
    def write(folder: Path):
        (folder / WEIGHTS).write_bytes(payload)
        if during is not None:
            during(folder)
        return _meta(payload)

    return write


def _cli(*args):
    result = CliRunner().invoke(cli, list(args))
    assert "internal error" not in result.output and "Traceback" not in result.output, result.output
    return result


# --------------------------------------------------------------------- item 10: rm during a save
def test_rm_while_a_save_is_in_flight_keeps_the_save(run_zoo):
    """`zoo adapters rm NAME` (another process) lands while `NAME`'s next version is being written."""
    store = AdapterStore()
    store.save("demo", _writer(b"old"))
    seen = {}

    def rm_from_another_process(folder):
        seen["tmp"] = folder
        seen["rm"] = run_zoo("adapters", "rm", "demo")
        seen["tmp_survived"] = folder.is_dir()

    ref = store.save("demo", _writer(b"new", during=rm_from_another_process))
    code, out, _ = seen["rm"]
    assert code == 0 and "removed demo@1" in out
    assert seen["tmp_survived"]
    assert store.versions("demo") == [ref.version]
    assert (ref.path / WEIGHTS).read_bytes() == b"new"
    assert not list((store.root / "demo").glob(".tmp-*"))


def test_rm_from_another_thread_while_a_save_is_in_flight(tmp_path):
    """Same, removing from another thread: rm takes the store lock and leaves the temporary alone."""
    import threading

    store = AdapterStore(tmp_path)
    store.save("demo", _writer(b"old"))

    def rm_in_a_thread(folder):
        worker = threading.Thread(target=AdapterStore(tmp_path).remove, args=("demo",))
        worker.start()
        worker.join(60)
        assert folder.is_dir()

    ref = store.save("demo", _writer(b"new", during=rm_in_a_thread))
    assert store.versions("demo") == [ref.version] and (ref.path / WEIGHTS).read_bytes() == b"new"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_rm_clears_dead_temporaries_but_not_live_ones(tmp_path):
    store = AdapterStore(tmp_path)
    store.save("demo", _writer())
    live = tmp_path / "demo" / f".tmp-{os.getpid()}-live"
    dead = tmp_path / "demo" / f".tmp-{_dead_pid()}-dead"
    for folder in (live, dead):
        folder.mkdir()
        (folder / WEIGHTS).write_bytes(b"partial")
    store.remove("demo")
    assert live.is_dir() and (live / WEIGHTS).read_bytes() == b"partial"
    assert not dead.exists()
    assert store.versions("demo") == [] and store.names() == []


# ------------------------------------------------------------ item 11: broken metadata, listings
BAD_METADATA = {
    "empty object": b"{}",
    "not json": b"garbage {",
    "a list": b"[1, 2]",
    "not utf-8": b"\xff\xfe\x00{",
    "base_model a number": json.dumps({**_meta(b"weights"), "base_model": 3}).encode(),
    "labels a string": json.dumps({**_meta(b"weights"), "labels": "a,b"}).encode(),
    "no files": json.dumps({k: v for k, v in _meta(b"weights").items() if k != "files"}).encode(),
}


def _store_with_one_broken(raw: bytes) -> tuple[AdapterStore, AdapterRef]:
    store = AdapterStore()
    store.save("good", _writer())
    bad = store.save("bad", _writer())
    (bad.path / "adapter.json").write_bytes(raw)
    return store, bad


@pytest.mark.parametrize("raw", BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_list_marks_a_broken_adapter_and_lists_the_rest(raw):
    _, bad = _store_with_one_broken(raw)
    result = _cli("adapters", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["ref"]: row for row in json.loads(result.output)}
    assert rows["good@1"]["method"] == "lora" and rows["good@1"]["broken"] is None
    assert str(bad.path / "adapter.json") in rows["bad@1"]["broken"]
    text = _cli("adapters", "list")
    assert text.exit_code == 0 and "good@1" in text.output
    assert "bad@1" in text.output and "BROKEN: " + str(bad.path / "adapter.json") in text.output


@pytest.mark.parametrize("raw", BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_show_of_a_broken_adapter_is_one_line_naming_the_file(raw):
    _, bad = _store_with_one_broken(raw)
    result = _cli("adapters", "show", "bad")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert str(bad.path / "adapter.json") in result.output


@pytest.mark.parametrize("raw", BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_metadata_reader_names_the_file(raw):
    _, bad = _store_with_one_broken(raw)
    with pytest.raises(AdapterError) as info:
        bad.metadata()
    assert str(bad.path / "adapter.json") in str(info.value) and "\n" not in str(info.value)


def test_the_store_refuses_to_save_metadata_it_could_not_read_back(tmp_path):
    store = AdapterStore(tmp_path)
    with pytest.raises(AdapterError, match="labels"):
        store.save("demo", lambda folder: {**_meta(b""), "labels": []})
    assert store.versions("demo") == [] and not list((tmp_path / "demo").glob(".tmp-*"))


# --------------------------------------------------------------------------- adapters on a model
def make_adapter(zoo, image_folder, name="colours", *, method="linear_probe"):
    """A real (untrained) adapter on the tiny image model, saved through save_adapter: no training."""
    from zoo_core.engine.adapters import save_adapter
    from zoo_core.engine.model import TransferModel, build_backbone, build_head
    from zoo_core.specs import load_object
    from zoo_core.testing.tiny import TINY_IMAGE

    entry = zoo.catalog.get(TINY_IMAGE)
    backbone = build_backbone(zoo, entry)
    labels = sorted(p.name for p in image_folder.iterdir())
    net = TransferModel(backbone, build_head(zoo, "linear", backbone.num_features, len(labels)))
    adaptation = load_object(zoo.get("methods", method).factory)()
    adaptation.prepare(net)
    metadata = {
        "task": "image-classification",
        "base_model": {
            "id": entry.id,
            "family": entry.family,
            "arch": entry.arch,
            "weights_sha256": backbone.weights_sha256,
            "options": {},
            "pooling": backbone.pooling,
            "features": backbone.features,
        },
        "method": adaptation.describe(),
        "head": {"name": "linear", "options": {}},
        "labels": labels,
        "metrics": {"accuracy": 0.5, "macro_f1": 0.5, "num_samples": 4},
        "eval_split": "validation",
        "created": "2026-01-01T00:00:00+00:00",
    }
    samples = sorted(str(p) for p in image_folder.rglob("*.png"))[:4]
    return save_adapter(zoo, name, net, adaptation, metadata, samples)


def _rewrite(ref: AdapterRef, change) -> dict:
    path = ref.path / "adapter.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))
    return meta


def test_a_shortened_label_list_is_one_clear_line(tiny_zoo, image_folder):
    from zoo_core.engine.adapters import load_trained_model

    ref = make_adapter(tiny_zoo, image_folder)
    _rewrite(ref, lambda meta: meta["labels"].pop())
    with pytest.raises(AdapterError) as info:
        load_trained_model(tiny_zoo, "colours")
    message = str(info.value)
    assert "colours@1" in message and "2 labels" in message and "[3" in message and "\n" not in message


# ----------------------------------------------------------------- item 12: hashes cannot be skipped
def _alter_weights(ref: AdapterRef) -> None:
    weights = ref.path / WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "change",
    [
        lambda meta: meta.pop("files"),
        lambda meta: meta["files"].pop(WEIGHTS),
        lambda meta: meta.update(files={}),
    ],
    ids=["no files key", "weights not listed", "empty files"],
)
def test_an_adapter_without_hashes_is_refused(tiny_zoo, image_folder, change):
    from zoo_core.engine.adapters import load_trained_model

    ref = make_adapter(tiny_zoo, image_folder)
    _rewrite(ref, change)
    _alter_weights(ref)
    with pytest.raises(AdapterError) as info:
        load_trained_model(tiny_zoo, "colours")
    assert str(ref.path / "adapter.json") in str(info.value)


def _archive(tmp_path: Path, metadata, files: dict[str, bytes] | None = None, raw: bytes | None = None) -> Path:
    """An archive laid out like export_archive's: one folder holding adapter.json and files."""
    out = tmp_path / "shared.tar.gz"
    with tarfile.open(out, "w:gz") as archive:
        body = raw if raw is not None else json.dumps(metadata).encode()
        entries = {"adapter.json": body, **(files if files is not None else {WEIGHTS: b"weights"})}
        for name, data in entries.items():
            info = tarfile.TarInfo(f"shared/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out


def test_an_archive_without_hashes_is_refused_at_import(tmp_path):
    from zoo_core.engine.export import import_archive

    meta = {k: v for k, v in _meta(b"weights", name="shared", version=1).items() if k != "files"}
    archive = _archive(tmp_path, meta)
    with pytest.raises(AdapterError) as info:
        import_archive(archive)
    assert str(archive) in str(info.value) and "files" in str(info.value)
    assert AdapterStore().names() == []


def test_an_archive_whose_files_escape_its_folder_is_refused_at_import(tmp_path, monkeypatch):
    import tempfile

    from zoo_core.engine.export import import_archive

    # Extraction goes to <tmp>/<random>/shared/; "../../../outside.bin" then names tmp_path/outside.bin,
    # which exists with the right hash at import time and never again once stored.
    (tmp_path / "t").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "t"))
    (tmp_path / "outside.bin").write_bytes(b"elsewhere")
    meta = _meta(b"weights", name="shared", version=1)
    meta["files"]["../../../outside.bin"] = hashlib.sha256(b"elsewhere").hexdigest()
    archive = _archive(tmp_path, meta)
    with pytest.raises(AdapterError) as info:
        import_archive(archive)
    assert str(archive) in str(info.value) and "../../../outside.bin" in str(info.value)
    assert AdapterStore().names() == []


@pytest.mark.parametrize(
    "raw",
    [b"garbage", b"[]", b'"text"', b"\xff\xfe", b"{}", b"null"],
    ids=["text", "list", "str", "bytes", "{}", "null"],
)
def test_garbage_archive_metadata_is_one_clear_line(tmp_path, raw):
    archive = _archive(tmp_path, None, raw=raw)
    result = _cli("adapters", "import", str(archive))
    assert result.exit_code == 1 and result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert str(archive) in result.output
    assert AdapterStore().names() == []


# ------------------------------------------------------------- item 13: verified only after the check
def _rows():
    result = _cli("adapters", "list", "--json")
    assert result.exit_code == 0, result.output
    return {row["ref"]: row for row in json.loads(result.output)}


def test_a_saved_adapter_is_verified(tiny_zoo, image_folder):
    from zoo_core.engine.adapters import load_trained_model

    make_adapter(tiny_zoo, image_folder)
    assert _rows()["colours@1"]["verification"] == "verified"
    assert "verification: verified" in _cli("adapters", "show", "colours").output
    load_trained_model(tiny_zoo, "colours")


def test_a_version_whose_process_died_before_its_reload_check_is_not_verified(tiny_zoo, image_folder, monkeypatch):
    """The process stops after the version was renamed into place and before verify_reload ran."""
    import zoo_core.engine.adapters as engine
    from zoo_core.engine.adapters import load_trained_model

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # nothing runs after this in a killed process either

    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(engine, "verify_reload", killed)
        make_adapter(tiny_zoo, image_folder)
    assert AdapterStore().versions("colours") == [1]  # visible, as before...
    assert _rows()["colours@1"]["verification"] == "unverified"  # ...but not as verified
    shown = _cli("adapters", "show", "colours")
    assert "UNVERIFIED" in shown.output
    with pytest.raises(AdapterError, match="never completed its reload check") as info:
        load_trained_model(tiny_zoo, "colours")
    assert "zoo adapters verify colours@1" in str(info.value)
    # Finishing the check marks it verified; then it loads.
    import zoo_core.cli

    monkeypatch.setattr(zoo_core.cli, "_ZOO", tiny_zoo)
    done = _cli("adapters", "verify", "colours")
    assert done.exit_code == 0 and "verified colours@1" in done.output
    assert _rows()["colours@1"]["verification"] == "verified"
    load_trained_model(tiny_zoo, "colours")


def test_versions_saved_before_verification_markers_load_and_say_so(tiny_zoo, image_folder):
    from zoo_core.engine.adapters import load_trained_model

    ref = make_adapter(tiny_zoo, image_folder)
    (ref.path / "verified.json").unlink()
    _rewrite(ref, lambda meta: meta.pop("verification"))
    assert _rows()["colours@1"]["verification"] == "legacy"
    assert "unverified (saved before verification markers)" in _cli("adapters", "list").output
    load_trained_model(tiny_zoo, "colours")  # its hashes are checked; it loads
    _alter_weights(ref)  # ...and they are checked
    with pytest.raises(AdapterError, match="adapter.safetensors is corrupt"):
        load_trained_model(tiny_zoo, "colours")


def test_zoo_adapters_verify_marks_a_legacy_version_verified(tiny_zoo, image_folder, monkeypatch):
    import zoo_core.cli

    ref = make_adapter(tiny_zoo, image_folder)
    (ref.path / "verified.json").unlink()
    _rewrite(ref, lambda meta: meta.pop("verification"))
    monkeypatch.setattr(zoo_core.cli, "_ZOO", tiny_zoo)
    assert "verified colours@1" in _cli("adapters", "verify", "colours@1").output
    assert _rows()["colours@1"]["verification"] == "verified"
    assert "already verified" in _cli("adapters", "verify", "colours@1").output


def test_peft_export_refuses_an_unverified_version(tiny_zoo, image_folder, tmp_path):
    from zoo_core.engine.export import export_peft

    ref = make_adapter(tiny_zoo, image_folder)
    (ref.path / "verified.json").unlink()
    with pytest.raises(AdapterError, match="never completed its reload check"):
        export_peft("colours", tmp_path / "peft")


def test_a_marker_for_other_files_does_not_verify(tiny_zoo, image_folder):
    from zoo_core.engine.adapters import load_trained_model

    ref = make_adapter(tiny_zoo, image_folder)
    marker = json.loads((ref.path / "verified.json").read_text())
    marker["files"][WEIGHTS] = "0" * 64
    (ref.path / "verified.json").write_text(json.dumps(marker))
    assert _rows()["colours@1"]["verification"] == "unverified"
    with pytest.raises(AdapterError, match="never completed its reload check"):
        load_trained_model(tiny_zoo, "colours")


def test_an_exported_verified_adapter_imports_verified(tiny_zoo, image_folder, tmp_path):
    from zoo_core.engine.adapters import load_trained_model
    from zoo_core.engine.export import export_archive, import_archive

    make_adapter(tiny_zoo, image_folder)
    imported = import_archive(export_archive("colours", tmp_path), name="copy")
    assert _rows()[str(imported)]["verification"] == "verified"
    load_trained_model(tiny_zoo, "copy")


# ---------------------------------------------------------------------------------- property tests
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
# Near-valid metadata: every key the reader wants, each valid 9 times in 10, else missing or random.
_MISSING = object()


def _near(value):
    return st.integers(0, 19).flatmap(lambda n: st.just(value) if n > 1 else st.just(_MISSING) if n else JSON)


NEAR_VALID = st.fixed_dictionaries(
    {key: _near(value) for key, value in _meta(b"weights", name="shared", version=1).items()}
).map(lambda meta: {k: v for k, v in meta.items() if v is not _MISSING})
FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _names(message: str, *names: str) -> bool:
    return any(name in message for name in names) and "\n" not in message


@FUZZ
@given(
    raw=st.binary(max_size=200)
    | JSON.map(lambda v: json.dumps(v).encode())
    | NEAR_VALID.map(lambda v: json.dumps(v).encode())
)
def test_fuzz_adapter_json_in_the_store(tmp_path, raw):
    store = AdapterStore(tmp_path / os.urandom(6).hex())
    ref = store.save("fuzz", _writer())
    path = ref.path / "adapter.json"
    path.write_bytes(raw)
    try:
        meta = ref.metadata()
    except ZooError as exc:
        assert _names(str(exc), str(path)), exc
    else:
        assert isinstance(meta, dict) and isinstance(meta["labels"], list) and WEIGHTS in meta["files"]
    from zoo_core.commands.adapters import _adapter_row

    row = _adapter_row(ref)  # what `zoo adapters list` shows: never raises
    assert row["broken"] is None or str(path) in row["broken"]


def _paths(value, prefix=()):
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _mutate(data, meta):
    meta = copy.deepcopy(meta)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = list(_paths(meta))
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = meta
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans(), label="delete"):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON, label="value")
    return meta


@pytest.mark.slow  # ~60 model loads
@FUZZ
@given(data=st.data())
def test_fuzz_adapter_metadata_loads_or_names_the_adapter(tiny_zoo, image_folder, data):
    from zoo_core.engine.adapters import load_trained_model

    store = AdapterStore()
    if not store.versions("colours"):  # the ZOO_HOME fixture lives across examples: one adapter for all
        make_adapter(tiny_zoo, image_folder)
    ref = store.resolve("colours@1")
    path = ref.path / "adapter.json"
    original = path.read_bytes()
    meta = _mutate(data, json.loads(original))
    path.write_text(json.dumps(meta))
    try:
        model, _, loaded = load_trained_model(tiny_zoo, "colours@1", store=store)
    except ZooError as exc:
        assert _names(str(exc), "colours@1", str(path)), exc
    else:
        assert model.head.fc.out_features == len(loaded["labels"])
    finally:
        path.write_bytes(original)


SHA_OF_WEIGHTS = hashlib.sha256(b"weights").hexdigest()
ARCHIVE_FILES = st.dictionaries(
    st.sampled_from([WEIGHTS, "../x", "/abs", "a/../../b", "./adapter.safetensors", "sub/ok", "", "a\\..\\b"]),
    st.sampled_from([SHA_OF_WEIGHTS, "0" * 64, "XYZ"]) | JSON,
    min_size=1,
    max_size=4,
)
ARCHIVE_METADATA = (
    JSON | NEAR_VALID | st.builds(lambda meta, files: {**meta, "files": files}, NEAR_VALID, ARCHIVE_FILES)
)


@FUZZ
@given(metadata=ARCHIVE_METADATA)
def test_fuzz_archive_metadata(tmp_path, metadata):
    from zoo_core.engine.export import import_archive

    where = tmp_path / os.urandom(6).hex()
    where.mkdir()
    archive = _archive(where, metadata)
    store = AdapterStore(where / "store")
    try:
        ref = import_archive(archive, store=store)
    except ZooError as exc:
        assert _names(str(exc), str(archive)), exc
    else:
        meta = ref.metadata()
        assert WEIGHTS in meta["files"]
        assert all((ref.path / name).resolve().is_relative_to(ref.path.resolve()) for name in meta["files"])
