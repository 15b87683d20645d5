"""Issue 15, weights and catalogs: a refused weights file is one clear line naming the file, the
entry and the reason (never advice to turn ``weights_only`` off); the HF family loads exactly the
file whose sha256 was checked; converters are named, registered by the family, never imported
from a catalog's import string; the catalog reader gives a CatalogError or a correct load for any
input."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo_core.catalog import BUILTIN_CATALOG, load_catalog, read_catalog_file
from zoo_core.engine.model import build_backbone
from zoo_core.errors import CatalogError, WeightsError
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT
from zoo_core.weights import sha256_file

# ---------------------------------------------------------------------------------------- helpers


def _entry(tiny_zoo, base: str, weights, model_id: str) -> dict:
    entry = tiny_zoo.catalog.get(base).as_dict()
    entry.update(id=model_id, aliases=[], weights=weights)
    entry.pop("catalog_file")
    return entry


def _zoo_with(tiny_zoo, tmp_path, *entries) -> tuple[object, Path]:
    path = tmp_path / "variants.json"
    path.write_text(json.dumps({"schema_version": 1, "models": list(entries)}))
    tiny_zoo.extra_catalog_paths.append(str(path))
    tiny_zoo._cache.pop("catalog", None)
    return tiny_zoo, path


def _tiny_state(tiny_zoo) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(tiny_zoo.catalog.get(TINY_IMAGE).weights[0]["path"])


def _tiny_bert_dir(tiny_zoo) -> Path:
    return Path(tiny_zoo.catalog.get(TINY_TEXT).weights[0]["path"])


class _Evil:
    """A pickle that runs a shell command when loaded without ``weights_only``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _one_clear_line(message: str, *must_name: str) -> None:
    assert "\n" not in message, message
    assert "weights_only" not in message and "Re-running" not in message, message
    for name in must_name:
        assert name in message, (name, message)


# ------------------------------------------------------- item 14: refused files, one clear line


def _bad_timm_file(kind: str, tiny_zoo, folder: Path) -> tuple[Path, str]:
    """A weights file for the tiny timm entry that zoo must refuse: (path, catalog format)."""
    state = _tiny_state(tiny_zoo)
    good_st = Path(tiny_zoo.catalog.get(TINY_IMAGE).weights[0]["path"]).read_bytes()
    if kind == "evil-pickle":
        path = folder / "evil.pth"
        torch.save({"state_dict": _Evil(folder / "pwned")}, path)
        return path, "pytorch"
    if kind == "garbage-pickle":
        path = folder / "garbage.pth"
        path.write_bytes(b"\x00not a pickle at all" * 50)
        return path, "pytorch"
    if kind == "truncated-zip":
        path = folder / "truncated.pth"
        torch.save(state, path)
        path.write_bytes(path.read_bytes()[:2000])
        return path, "pytorch"
    if kind == "empty-pickle":
        path = folder / "empty.pth"
        path.write_bytes(b"")
        return path, "pytorch"
    if kind == "safetensors-as-pickle":
        path = folder / "really-safetensors.bin"
        path.write_bytes(good_st)
        return path, "pytorch"
    if kind == "list-not-dict":
        path = folder / "list.pth"
        torch.save(list(state.values()), path)
        return path, "pytorch"
    if kind == "strings-not-tensors":
        path = folder / "strings.pth"
        torch.save(dict.fromkeys(state, "x"), path)
        return path, "pytorch"
    if kind == "header-too-large":
        path = folder / "header.safetensors"
        path.write_bytes(b"\xff" * 100)
        return path, "safetensors"
    if kind == "truncated-safetensors":
        path = folder / "truncated.safetensors"
        path.write_bytes(good_st[: len(good_st) // 2])
        return path, "safetensors"
    if kind == "wrong-shapes":
        from safetensors.torch import save_file

        path = folder / "shapes.safetensors"
        first = next(iter(state))
        save_file({**state, first: torch.zeros(3, 3)}, str(path))
        return path, "safetensors"
    raise AssertionError(kind)


TIMM_BAD_KINDS = [
    "evil-pickle",
    "garbage-pickle",
    "truncated-zip",
    "empty-pickle",
    "safetensors-as-pickle",
    "list-not-dict",
    "strings-not-tensors",
    "header-too-large",
    "truncated-safetensors",
    "wrong-shapes",
]


@pytest.mark.parametrize("kind", TIMM_BAD_KINDS)
def test_refused_timm_weights_name_file_entry_and_reason(tiny_zoo, tmp_path, kind):
    path, fmt = _bad_timm_file(kind, tiny_zoo, tmp_path)
    # The catalog's sha256 matches: integrity passes, loading must refuse the content.
    weights = [{"source": "path", "path": str(path), "format": fmt, "sha256": sha256_file(path)}]
    zoo, catalog_file = _zoo_with(tiny_zoo, tmp_path, _entry(tiny_zoo, TINY_IMAGE, weights, "bad/timm-weights"))
    with pytest.raises(WeightsError) as info:
        build_backbone(zoo, "bad/timm-weights")
    _one_clear_line(str(info.value), str(path), "bad/timm-weights", str(catalog_file))
    assert not (tmp_path / "pwned").exists()


def _bad_bert_dir(kind: str, tiny_zoo, folder: Path) -> tuple[Path, str]:
    """A copy of the tiny BERT folder with a bad weights file: (folder, weights filename)."""
    from safetensors.torch import load_file, save_file

    target = folder / f"bert-{kind}"
    shutil.copytree(_tiny_bert_dir(tiny_zoo), target)
    state = load_file(str(target / "model.safetensors"))
    if kind == "header-too-large":
        (target / "model.safetensors").write_bytes(b"\xff" * 100)
        return target, "model.safetensors"
    if kind == "evil-pickle":
        (target / "model.safetensors").unlink()
        torch.save({"x": _Evil(folder / "pwned")}, target / "pytorch_model.bin")
        return target, "pytorch_model.bin"
    if kind == "wrong-shapes":
        key = "encoder.layer.0.attention.self.query.weight"
        save_file({**state, key: torch.zeros(3, 3)}, str(target / "model.safetensors"))
        return target, "model.safetensors"
    if kind == "bad-config":
        (target / "config.json").write_text('{"model_type": "bert", "hidden_size": ')
        return target, "model.safetensors"
    if kind == "renamed-keys":
        # transformers would load this with every tensor missing, i.e. random weights, and a warning.
        save_file({f"x.{k}": v for k, v in state.items()}, str(target / "model.safetensors"))
        return target, "model.safetensors"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["header-too-large", "evil-pickle", "wrong-shapes", "renamed-keys", "bad-config"])
def test_refused_hf_weights_name_file_entry_and_reason(tiny_zoo, tmp_path, kind):
    folder, filename = _bad_bert_dir(kind, tiny_zoo, tmp_path)
    file = folder / filename
    weights = [{"source": "path", "path": str(folder), "filename": filename, "format": "hf-dir"}]
    weights[0]["sha256"] = sha256_file(file)
    zoo, catalog_file = _zoo_with(tiny_zoo, tmp_path, _entry(tiny_zoo, TINY_TEXT, weights, "bad/hf-weights"))
    with pytest.raises(WeightsError) as info:
        build_backbone(zoo, "bad/hf-weights")
    _one_clear_line(str(info.value), str(folder if kind == "bad-config" else file), "bad/hf-weights", str(catalog_file))
    assert not (tmp_path / "pwned").exists()


def test_recommend_lists_a_refused_candidate_on_one_line(tiny_zoo, tmp_path, image_folder):
    from zoo_core.engine.recommend import recommend

    path, fmt = _bad_timm_file("evil-pickle", tiny_zoo, tmp_path)
    weights = [{"source": "path", "path": str(path), "format": fmt, "sha256": sha256_file(path)}]
    zoo, _ = _zoo_with(tiny_zoo, tmp_path, _entry(tiny_zoo, TINY_IMAGE, weights, "bad/timm-weights"))
    result = recommend(image_folder, candidates=["tiny-image", "bad/timm-weights"], zoo=zoo, budget_seconds=None)
    failed = [c for c in result.candidates if c.model == "bad/timm-weights"]
    assert failed and failed[0].score is None
    _one_clear_line(failed[0].error, str(path), "bad/timm-weights")


def test_failed_row_is_one_line_whatever_the_exception(tiny_zoo, tmp_path, image_folder, monkeypatch):
    """Any build failure (here a multi-line one, as torch and transformers write them) is one row line."""
    from zoo_core.engine import recommend as module

    real = module.build_backbone

    def flaky(zoo, entry, **kwargs):
        if entry.id == "flaky/model":
            raise RuntimeError("first line\n\tsecond line\n\nthird line")
        return real(zoo, entry, **kwargs)

    monkeypatch.setattr(module, "build_backbone", flaky)
    flaky_entry = _entry(tiny_zoo, TINY_IMAGE, tiny_zoo.catalog.get(TINY_IMAGE).weights, "flaky/model")
    zoo, _ = _zoo_with(tiny_zoo, tmp_path, flaky_entry)
    result = module.recommend(image_folder, candidates=["tiny-image", "flaky/model"], zoo=zoo, budget_seconds=None)
    failed = [c for c in result.candidates if c.model == "flaky/model"]
    assert failed[0].error == "RuntimeError: first line second line third line"


@pytest.mark.slow  # runs recommend in a fresh process
def test_cli_table_keeps_a_refused_candidate_on_its_row(run_zoo, tiny_zoo, tiny_catalog, tmp_path, image_folder):
    path, fmt = _bad_timm_file("evil-pickle", tiny_zoo, tmp_path)
    weights = [{"source": "path", "path": str(path), "format": fmt, "sha256": sha256_file(path)}]
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"schema_version": 1, "models": [_entry(tiny_zoo, TINY_IMAGE, weights, "bad/timm-weights")]})
    )
    code, out, err = run_zoo(
        "--catalog",
        str(tiny_catalog),
        "--catalog",
        str(bad),
        "recommend",
        "--data",
        str(image_folder),
        "--candidates",
        "tiny-image,bad/timm-weights",
        "--budget-seconds",
        "0",
        "--resamples",
        "0",
    )
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert len(rows) == 2 and str(path) in rows[1] and "bad/timm-weights" in rows[1], out
    assert "weights_only" not in out + err, out
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------ item 15: HF loads exactly the verified file


def test_hf_loads_the_verified_file_not_an_unverified_neighbour(tiny_zoo, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "bert-two-files"
    shutil.copytree(_tiny_bert_dir(tiny_zoo), folder)
    verified = load_file(str(folder / "model.safetensors"))
    torch.save(verified, folder / "pytorch_model.bin")
    # An unverified model.safetensors beside it, with other values (transformers prefers it).
    save_file({k: torch.full_like(v, 0.5) for k, v in verified.items()}, str(folder / "model.safetensors"))
    weights = [
        {
            "source": "path",
            "path": str(folder),
            "filename": "pytorch_model.bin",
            "format": "hf-dir",
            "sha256": sha256_file(folder / "pytorch_model.bin"),
        }
    ]
    zoo, _ = _zoo_with(tiny_zoo, tmp_path, _entry(tiny_zoo, TINY_TEXT, weights, "two/files"))
    backbone = build_backbone(zoo, "two/files")
    loaded = backbone.model.state_dict()
    key = "embeddings.word_embeddings.weight"
    assert torch.equal(loaded[key], verified[key])
    # A garbage neighbour is not even opened.
    (folder / "model.safetensors").write_bytes(b"\xff" * 64)
    assert torch.equal(build_backbone(zoo, "two/files").model.state_dict()[key], verified[key])


def test_hf_snapshot_without_filename_loads_the_file_it_verified(tiny_zoo, tmp_path):
    """filename null: verify picks model.safetensors first, and that is the file that loads."""
    from safetensors.torch import load_file

    folder = tmp_path / "bert-snapshot"
    shutil.copytree(_tiny_bert_dir(tiny_zoo), folder)
    verified = load_file(str(folder / "model.safetensors"))
    torch.save({k: torch.zeros_like(v) for k, v in verified.items()}, folder / "pytorch_model.bin")
    weights = [{"source": "path", "path": str(folder), "format": "hf-dir", "sha256": None}]
    zoo, _ = _zoo_with(tiny_zoo, tmp_path, _entry(tiny_zoo, TINY_TEXT, weights, "snap/shot"))
    key = "embeddings.word_embeddings.weight"
    assert torch.equal(build_backbone(zoo, "snap/shot").model.state_dict()[key], verified[key])


def test_hf_config_cannot_point_transformers_at_another_file(tiny_zoo, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "bert-redirect"
    shutil.copytree(_tiny_bert_dir(tiny_zoo), folder)
    verified = load_file(str(folder / "model.safetensors"))
    save_file({k: torch.zeros_like(v) for k, v in verified.items()}, str(folder / "other.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    config["transformers_weights"] = "other.safetensors"
    (folder / "config.json").write_text(json.dumps(config))
    weights = [
        {
            "source": "path",
            "path": str(folder),
            "filename": "model.safetensors",
            "format": "hf-dir",
            "sha256": sha256_file(folder / "model.safetensors"),
        }
    ]
    zoo, _ = _zoo_with(tiny_zoo, tmp_path, _entry(tiny_zoo, TINY_TEXT, weights, "re/direct"))
    key = "embeddings.word_embeddings.weight"
    assert torch.equal(build_backbone(zoo, "re/direct").model.state_dict()[key], verified[key])


# -------------------------------------------------- item 16: converters by registered name only


@pytest.fixture
def import_marker(tmp_path, monkeypatch):
    """A module on sys.path that leaves a file behind when it is imported."""
    site = tmp_path / "site"
    site.mkdir()
    marker = tmp_path / "imported"
    (site / "zoo_sneaky_module.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            Path({str(marker)!r}).touch()

            def convert(state, arch):
                return state
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "zoo_sneaky_module", raising=False)
    return marker


@pytest.mark.parametrize("converter", ["zoo_sneaky_module:convert", "this:s"])
def test_converter_import_string_in_a_catalog_is_refused_unimported(tiny_zoo, tmp_path, import_marker, converter):
    monkeypatch_this = sys.modules.pop("this", None)
    try:
        weights = [dict(tiny_zoo.catalog.get(TINY_IMAGE).weights[0], converter=converter)]
        path = tmp_path / "conv.json"
        path.write_text(
            json.dumps({"schema_version": 1, "models": [_entry(tiny_zoo, TINY_IMAGE, weights, "conv/import")]})
        )
        with pytest.raises(CatalogError) as info:
            read_catalog_file(path)
        message = str(info.value)
        assert str(path) in message and "conv/import" in message and converter in message
        assert "name" in message and "\n" not in message
        assert not import_marker.exists() and "this" not in sys.modules and "zoo_sneaky_module" not in sys.modules
    finally:
        if monkeypatch_this is not None:
            sys.modules["this"] = monkeypatch_this


def test_unknown_converter_name_is_refused_at_build_naming_the_known_ones(tiny_zoo, tmp_path):
    weights = [dict(tiny_zoo.catalog.get(TINY_IMAGE).weights[0], converter="no_such_converter")]
    zoo, catalog_file = _zoo_with(tiny_zoo, tmp_path, _entry(tiny_zoo, TINY_IMAGE, weights, "conv/unknown"))
    for pretrained in (True, False):
        with pytest.raises(CatalogError) as info:
            build_backbone(zoo, "conv/unknown", pretrained=pretrained)
        message = str(info.value)
        assert "conv/unknown" in message and "no_such_converter" in message and str(catalog_file) in message
        assert "lukemelas_efficientnet_lite" in message and "timm" in message and "\n" not in message


def test_unknown_converter_name_is_refused_at_catalog_load_when_families_are_known(tiny_zoo, tmp_path):
    weights = [dict(tiny_zoo.catalog.get(TINY_IMAGE).weights[0], converter="no_such_converter")]
    path = tmp_path / "conv.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [_entry(tiny_zoo, TINY_IMAGE, weights, "conv/x")]}))
    load_catalog([(str(path), "test")])  # no families given: checked when the model is built
    with pytest.raises(CatalogError, match="no_such_converter.*lukemelas_efficientnet_lite"):
        load_catalog([(str(path), "test")], families=tiny_zoo.backbones)
    load_catalog([(str(BUILTIN_CATALOG), "core")], families=tiny_zoo.backbones)


def test_registered_converters_are_names_of_importable_callables(tiny_zoo):
    from zoo_core.specs import load_object

    timm_spec = tiny_zoo.backbones["timm"]
    assert "lukemelas_efficientnet_lite" in timm_spec.converters
    for family, spec in tiny_zoo.backbones.items():
        for name, target in spec.converters.items():
            assert ":" not in name and callable(load_object(target)), (family, name)
    named = {w.get("converter") for e in tiny_zoo.catalog.models for w in e.weights} - {None}
    assert named == {"lukemelas_efficientnet_lite"}


def test_cli_names_the_bad_converter_in_one_line(run_zoo, tiny_zoo, tmp_path, image_folder):
    weights = [dict(tiny_zoo.catalog.get(TINY_IMAGE).weights[0], converter="no_such_converter")]
    path = tmp_path / "conv.json"
    entry = _entry(tiny_zoo, TINY_IMAGE, weights, "conv/cli")
    path.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    code, out, err = run_zoo(
        "--catalog", str(path), "recommend", "--data", str(image_folder), "--candidates", "conv/cli"
    )
    error = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert code == 1 and len(error) == 1, err
    assert "no_such_converter" in error[0] and "conv/cli" in error[0] and "lukemelas_efficientnet_lite" in error[0]


# ------------------------------------------------------- the catalog reader, property-based

_FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
_VALID = json.loads(BUILTIN_CATALOG.read_text(encoding="utf-8"))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _read_or_refuse(path: Path) -> dict | None:
    """The property: a CatalogError naming the file on one line, or a correct load."""
    try:
        catalog = load_catalog([(str(path), "fuzz")])
    except CatalogError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message and "\r" not in message, message
        message.encode("utf-8")  # printable on a UTF-8 terminal (no lone surrogates)
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    # A load is correct: every model and task is there, field for field.
    assert [m.id for m in catalog.models] == [m["id"] for m in data["models"]]
    for entry, raw in zip(catalog.models, data["models"]):
        as_dict = entry.as_dict()
        for key, value in raw.items():
            assert as_dict[key] == value, (key, as_dict[key], value)
    assert [t["name"] for t in catalog.tasks] == [t["name"] for t in data.get("tasks", [])]
    return data


@_FUZZ
@given(content=st.binary(max_size=400))
def test_fuzz_random_bytes(tmp_path, content):
    path = tmp_path / "bytes.json"
    path.write_bytes(content)
    _read_or_refuse(path)


@_FUZZ
@given(
    text=st.text(max_size=200),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]),
)
def test_fuzz_random_text_in_random_encodings(tmp_path, text, encoding):
    path = tmp_path / "text.json"
    try:
        path.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:
        path.write_bytes(text.encode(encoding, errors="replace"))
    _read_or_refuse(path)


@_FUZZ
@given(document=_JSON)
def test_fuzz_random_json_structures(tmp_path, document):
    path = tmp_path / "structure.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    _read_or_refuse(path)


@_FUZZ
@given(
    index=st.integers(min_value=0, max_value=len(_VALID["models"]) - 1),
    field=st.sampled_from(sorted({k for m in _VALID["models"] for k in m}) + ["weights.0", "input", "text", "new"]),
    value=_JSON,
)
def test_fuzz_random_field_types_in_a_model(tmp_path, index, field, value):
    model = json.loads(json.dumps(_VALID["models"][index]))
    if field == "weights.0":
        model["weights"][0] = value
    else:
        model[field] = value
    path = tmp_path / "fields.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [model]}), encoding="utf-8")
    _read_or_refuse(path)


@_FUZZ
@given(
    key=st.sampled_from(["source", "path", "format", "converter", "sha256", "filename", "repo_id", "size_bytes"]),
    value=_JSON,
)
def test_fuzz_random_weights_source_fields(tmp_path, key, value):
    model = json.loads(json.dumps(_VALID["models"][0]))
    model["weights"][0][key] = value
    path = tmp_path / "source.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [model]}), encoding="utf-8")
    _read_or_refuse(path)


_NAME = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True)
_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,6}/[A-Za-z0-9][A-Za-z0-9._-]{0,6}", fullmatch=True)
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_MODEL = st.fixed_dictionaries(
    {
        "id": _ID,
        "aliases": st.lists(_NAME, max_size=3, unique=True),
        "description": _TEXT,
        "license": st.none() | _TEXT,
        "pretraining": st.none() | _TEXT,
        "params_m": st.none() | st.integers(1, 10**6) | st.floats(1e-3, 1e6),
        "num_features": st.none() | st.integers(1, 10**5),
        "status": st.sampled_from(["stable", "experimental", "deprecated"]),
    }
)


@_FUZZ
@given(models=st.lists(_MODEL, max_size=4), ensure_ascii=st.booleans())
def test_fuzz_well_formed_catalogs_load_exactly_or_name_the_clash(tmp_path, models, ensure_ascii):
    """Schema-valid files with random values: loaded field for field, or a duplicate id/alias refused."""
    base = _VALID["models"][0]
    document = {"schema_version": 1, "models": [{**json.loads(json.dumps(base)), **m} for m in models]}
    path = tmp_path / "wellformed.json"
    path.write_text(json.dumps(document, ensure_ascii=ensure_ascii), encoding="utf-8")
    names = [n.lower() for m in models for n in (m["id"], *m["aliases"])]
    loaded = _read_or_refuse(path)
    assert (loaded is None) == (len(names) != len(set(names)))


@pytest.mark.parametrize(
    "content",
    [
        "[" * 100_000 + "]" * 100_000,  # deep nesting: RecursionError in json
        '{"schema_version": 1, "models": [], "x": ' + "1" * 5000 + "}",  # int over the 4300-digit limit
        '{"schema_version": 1, "models": [{"id": "a\\ud800/b", "family": 1}]}',  # a lone surrogate
        '{"schema_version": 1, "models": [{"id": "a\\nb", "aliases": [], "family": "-"}]}',  # a newline in the hint
        '{"schema_version": 1, "models": [], "tasks": [{"name": "t", "modality": "text", "description": "",'
        ' "status": "supported"}, {"name": "t", "modality": "text", "description": "", "status": "supported"}]}',
        json.dumps({"schema_version": 1, "models": [{**_VALID["models"][0], "params_m": float("nan")}]}),
    ],
    ids=["deep-nesting", "huge-int", "lone-surrogate", "newline-in-id", "duplicate-task", "nan-number"],
)
def test_catalog_reader_edge_cases(tmp_path, content):
    path = tmp_path / "edge.json"
    path.write_text(content, encoding="utf-8")
    assert _read_or_refuse(path) is None
