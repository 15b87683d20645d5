"""Issue 20: the generated timm catalog (every pretrained timm weight), its honesty, and a start that stays fast.

The file is written by ``scripts/build_timm_catalog.py`` (never at listing time). These tests check it
without building models (one meta-device build excepted): it loads through the timm plugin, follows the
schema in full, names a source for every filled field, agrees with timm's pretrained configs and the
copied results tables on a seeded sample, and leaves the curated entries of registry.json alone.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo_core.catalog as catalog_module
from zoo_core.catalog import BUILTIN_CATALOG, load_catalog, read_catalog_file, validate
from zoo_core.errors import CatalogError
from zoo_core.plugins import Zoo, make_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "plugins" / "zoo_timm" / "catalog_timm.json"
RESULTS = ROOT / "plugins" / "zoo_timm" / "results"
SCRIPT = ROOT / "scripts" / "build_timm_catalog.py"
SAMPLE_SIZE = 30
CURATED_SEED = {
    "vgg16": "timm/vgg16.tv_in1k",
    "resnet50": "timm/resnet50.a1_in1k",
    "inception-v3": "timm/inception_v3.tv_in1k",
}
CURATED_LINE = "curated entry (timm's generated entry for the same weights is not used)"
# Each field that the entry's source must name when it is filled (its clauses read "field, field: origin").
FIELD_SOURCES = {
    "arch": "arch",
    "input": "input",
    "license": "license",
    "source_head": "source_head",
    "params_m": "params_m",
    "num_features": "num_features",
    "paper": "paper:",
    "metric": "metric (top-1)",
    "top5": "top5",
    "gmacs": "gmacs",
    "infer_samples_per_sec": "infer_samples_per_sec",
    "pretraining": "pretraining:",
    "description": "description:",
}


@pytest.fixture(scope="module")
def generated() -> dict:
    return json.loads(GENERATED.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("build_timm_catalog", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def timm_version(generated) -> str:
    return re.match(r"timm (\S+):", generated["description"]).group(1)


@pytest.fixture(scope="module")
def timm_names(timm_version) -> dict[str, str]:
    """Hub id (lower-cased) -> timm weight name, from the installed timm (the version the file records)."""
    timm = pytest.importorskip("timm")
    from timm.models import get_pretrained_cfg

    assert timm.__version__ == timm_version, "timm changed: run scripts/build_timm_catalog.py"
    names = {}
    for name in timm.list_pretrained():
        hub_id = get_pretrained_cfg(name).hf_hub_id
        if hub_id and (hub_id == f"timm/{name}" or hub_id.lower() not in names):
            names[hub_id.lower()] = name
    return names


def _sample(models: list[dict]) -> list[dict]:
    return random.Random(20).sample(models, SAMPLE_SIZE)


def _results_rows() -> dict[tuple[str, int], dict[str, str]]:
    with open(RESULTS / "results-imagenet.csv", newline="", encoding="utf-8") as handle:
        return {(row["model"], int(row["img_size"])): row for row in csv.DictReader(handle)}


# -- loading ----------------------------------------------------------------------------------------------


def test_generated_catalog_follows_the_schema_in_full(generated):
    validate(generated, GENERATED)  # the full JSON Schema: what a start leaves to this test
    assert generated["generated_by"] == "scripts/build_timm_catalog.py"
    ids = [m["id"].lower() for m in generated["models"]]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)


def test_the_timm_plugin_registers_the_catalog_and_listing_shows_it(run_zoo):
    code, out, err = run_zoo("models", "list", "--json")
    assert code == 0, err
    rows = json.loads(out)
    images = [r for r in rows if r["modality"] == "image"]
    # timm 1.0.31 names 1,807 weights with a Hub repo: every one is listed (17 of them are a second
    # architecture, QuickGELU, of another name's file, listed under timm's name for them).
    assert len(images) >= 1800
    variant = next(r for r in rows if r["id"] == "timm/vit_base_patch16_clip_quickgelu_224.openai")
    assert variant["weights"][0]["repo_id"] == "timm/vit_base_patch16_clip_224.openai"
    assert variant["arch"] == "vit_base_patch16_clip_quickgelu_224" and "no Hub repo has that name" in variant["source"]
    assert {r["id"] for r in rows} >= {"timm/convnext_tiny.fb_in22k", "timm/vit_small_patch14_dinov2.lvd142m"}
    from_generated = [r for r in images if r["catalog_file"].endswith("catalog_timm.json")]
    assert len(from_generated) >= 1750 and all(r["aliases"] == [] for r in from_generated)


def test_models_show_on_a_generated_entry(run_zoo):
    code, out, err = run_zoo("models", "show", "timm/convnext_tiny.fb_in22k")
    assert code == 0, err
    assert "source_head: num_classes=21841, label_set=imagenet-22k" in out
    assert "pretraining: imagenet-22k" in out and "curated entry" not in out


# -- honesty ----------------------------------------------------------------------------------------------


def test_every_filled_field_names_its_source(generated, timm_version):
    assert f"timm {timm_version}" in generated["description"]
    assert "aa4b5850c1543fa488abf260f18390eda46cf85d" in generated["description"]
    for model in generated["models"]:
        source = model["source"]
        assert f"timm {timm_version} pretrained_cfg" in source, model["id"]
        for field, words in FIELD_SOURCES.items():
            if model.get(field) not in (None, [], {}):
                assert words in source, (model["id"], field)
        if model["metric"]:
            assert model["metric"]["name"] == "imagenet-1k top-1"
            assert "results-imagenet.csv" in model["metric"]["source"] and "@aa4b5850" in model["metric"]["source"]
        assert model["tasks"] == ["image-classification", "feature-extraction"] and model["aliases"] == []
        assert model["status"] == ("stable" if model["id"].startswith("timm/") else "experimental"), model["id"]


def test_every_weight_timm_lists_with_a_hub_repo_is_in_the_catalog(generated, timm_names):
    import timm
    from timm.models import get_pretrained_cfg

    listed = {m["id"].lower() for m in generated["models"]} | {i.lower() for i in generated["left_to_curated"]}
    with_repo = [name for name in timm.list_pretrained() if get_pretrained_cfg(name).hf_hub_id]
    for name in with_repo:  # under its repo's id, or (a variant architecture of another file) under its name
        assert get_pretrained_cfg(name).hf_hub_id.lower() in listed or f"timm/{name}".lower() in listed, name
    assert len(listed) == len(with_repo) and set(timm_names) <= listed


def test_seeded_sample_agrees_with_timm_pretrained_cfg(generated, timm_names, script):
    from timm.models import get_pretrained_cfg

    for model in _sample(generated["models"]):
        cfg = get_pretrained_cfg(timm_names[model["id"].lower()])
        spec = model["input"]
        assert model["arch"] == cfg.architecture, model["id"]
        assert spec["size"] == list(cfg.input_size), model["id"]
        assert spec["mean"] == pytest.approx(list(cfg.mean)) and spec["std"] == pytest.approx(list(cfg.std))
        assert spec["interpolation"] == cfg.interpolation, model["id"]
        assert spec["crop_pct"] == pytest.approx(min(cfg.crop_pct, 1.0)), model["id"]
        assert model["license"] == (cfg.license if cfg.license not in (None, "unknown") else None), model["id"]
        if cfg.num_classes in script.LABEL_SETS or cfg.num_classes > script.EMBEDDING_MAX:
            assert model["source_head"]["num_classes"] == cfg.num_classes, model["id"]
        else:  # no classifier, or an image-text embedding projection (CLIP-style): no source head
            assert model["source_head"] is None, model["id"]
            assert not cfg.num_classes or "embedding projection" in model["source"], model["id"]
        if cfg.num_classes == 1000:
            assert model["source_head"]["label_set"] == "imagenet-1k"
        assert model["weights"][0]["repo_id"] == cfg.hf_hub_id == model["id"]


def test_seeded_sample_agrees_with_the_results_table(generated):
    rows = _results_rows()
    with_metric = [m for m in generated["models"] if m["metric"]]
    checked = 0
    for model in _sample(with_metric):
        cited = re.search(r"row (\S+) at (\d+)px", model["metric"]["source"])
        row = rows[(cited.group(1), int(cited.group(2)))]
        assert cited.group(1) == model["id"].split("/", 1)[1]
        assert model["metric"]["value"] == float(row["top1"]) and model["top5"] == float(row["top5"])
        if model["params_m"] is not None:
            assert model["params_m"] == pytest.approx(float(row["param_count"]), abs=0.0051), model["id"]
            checked += 1
    assert checked >= SAMPLE_SIZE // 2
    # Every weight that the table evaluated has its metric.
    names = {model["id"].split("/", 1)[1]: model for model in generated["models"]}
    assert all(names[name]["metric"] for name, _ in rows if name in names)


def test_crop_pct_over_one_is_clipped_and_said(generated):
    clipped = [m for m in generated["models"] if "clipped to the schema's maximum" in m["source"]]
    assert clipped and all(m["input"]["crop_pct"] == 1.0 for m in clipped)


def test_counting_rule_matches_a_curated_entry_on_the_meta_device(script):
    """One meta-device build (no memory): vgg16's pooled width is its pre-logits MLP's 4096, not 512."""
    pytest.importorskip("timm")
    curated = {m["id"]: m for m in json.loads(BUILTIN_CATALOG.read_text())["models"]}["timm/vgg16.tv_in1k"]
    counted = script.count_model("vgg16.tv_in1k")
    assert counted["num_features"] == curated["num_features"] == 4096
    assert round(counted["params"] / 1e6, 3) == curated["params_m"]


# -- the pretraining rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag, expected",
    [
        ("in1k", "imagenet-1k"),
        ("fb_in1k", "imagenet-1k"),
        ("sw_in1k", "imagenet-1k"),
        ("in22k_ft_in1k", "imagenet-22k, fine-tuned on imagenet-1k"),
        ("augreg_in21k_ft_in1k", "imagenet-21k, fine-tuned on imagenet-1k"),
        ("in22k_ft_in22k_in1k", "imagenet-22k, fine-tuned on imagenet-22k, then on imagenet-1k"),
        ("ns_jft_in1k", "jft-300m + imagenet-1k"),
        ("laion2b_ft_in12k_in1k", "laion-2b, fine-tuned on imagenet-12k, then on imagenet-1k"),
        ("metaclip_2pt5b", "metaclip-2.5b"),
        ("openai", "openai-clip (wit-400m)"),
        ("lvd142m", "lvd-142m"),
        ("clip_laion2b_ft_320", "laion-2b, further fine-tuned (data not named in the tag)"),
        ("mae", None),
        ("fcmae_ft_in1k", None),
        ("qwen3_vl_8b", None),
    ],
)
def test_pretraining_rule(script, tag, expected):
    assert script.parse_pretraining(tag) == expected


def test_pretraining_rule_table_is_written_down_where_documented(script):
    documented = (ROOT / "plugins" / "zoo_timm" / "CATALOG.md").read_text()
    for token, text in script.DATA_TOKENS.items():
        assert f"| `{token}` | {text} |" in documented, token
        assert re.search(rf"^{re.escape(token)}\s+{re.escape(text)}$", script.__doc__, re.MULTILINE), token


# -- curated entries win ------------------------------------------------------------------------------------


def test_curated_entries_win_and_keep_their_aliases(generated):
    curated = {m["id"] for m in json.loads(BUILTIN_CATALOG.read_text())["models"] if m["family"] == "timm"}
    generated_ids = {m["id"] for m in generated["models"]}
    assert not curated & generated_ids
    assert set(generated["left_to_curated"]) == curated  # timm lists every curated weight
    catalog = Zoo(make_plugin_manager(stderr=io.StringIO())).catalog
    for alias, model_id in CURATED_SEED.items():
        entry = catalog.get(alias)
        assert entry.id == model_id and alias in entry.aliases
        assert entry.catalog_file == str(BUILTIN_CATALOG)
        assert catalog.generated_alternative(entry) == "timm"
    assert catalog.generated_alternative(catalog.get("timm/convnext_tiny.fb_in22k")) is None


def test_models_show_says_a_curated_entry_is_curated(run_zoo):
    code, out, err = run_zoo("models", "show", "timm/vgg16.tv_in1k")
    assert code == 0, err
    assert CURATED_LINE in out.splitlines()
    code, out, _ = run_zoo("models", "show", "resnet50", "--json")
    assert code == 0 and json.loads(out)["curated_over"] == "timm"
    code, out, _ = run_zoo("models", "show", "google-bert/bert-base-uncased")
    assert code == 0 and "curated entry" not in out


# -- cheap at start, full for the user ------------------------------------------------------------------------


@pytest.fixture
def validations(monkeypatch):
    seen: list[str] = []
    real = catalog_module.validate

    def spy(data, path):
        seen.append(str(path))
        return real(data, path)

    monkeypatch.setattr(catalog_module, "validate", spy)
    return seen


@pytest.mark.slow  # validates 1,800 entries in full
def test_shipped_catalogs_are_structure_checked_at_start_and_user_ones_in_full(validations):
    """The built-in registry.json and the generated catalog are validated in full by the tests
    (test_catalog.py, this file), not on every start; what the user names always is."""
    catalog = load_catalog([(str(BUILTIN_CATALOG), "zoo_core"), (str(GENERATED), "timm")])
    assert validations == [] and len(catalog.models) >= 1800
    read_catalog_file(GENERATED)  # the default reads in full
    assert validations == [str(GENERATED)]
    for path in (GENERATED, BUILTIN_CATALOG):
        for origin in ("--catalog", "ZOO_CATALOG"):
            validations.clear()
            load_catalog([(str(path), origin)])
            assert validations == [str(path)]


def test_listing_does_not_import_jsonschema():
    code = "import sys; from zoo_core.cli import main; main(['models', 'list', '--json'])"
    check = f"import atexit, sys; atexit.register(lambda: sys.stderr.write(str('jsonschema' in sys.modules))); {code}"
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr.strip().endswith("False"), proc.stderr[-500:]


def _one_model_file(tmp_path, generated, **changes) -> Path:
    model = json.loads(json.dumps(generated["models"][0]))
    model.update(changes)
    path = tmp_path / "generated.json"
    document = {"schema_version": 1, "generated_by": "a generator", "models": [model]}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_the_structure_check_refuses_what_the_loader_relies_on(tmp_path, generated):
    path = _one_model_file(tmp_path, generated, params_m="25M")
    with pytest.raises(CatalogError) as info:
        load_catalog([(str(path), "timm")])
    message = str(info.value)
    assert str(path) in message and "models[0].params_m" in message and generated["models"][0]["id"] in message
    # A schema-only rule (a task name's pattern): shipped, it loads; named by the user, it is refused.
    path = _one_model_file(tmp_path, generated, tasks=["Image Classification"])
    assert load_catalog([(str(path), "timm")]).models[0].tasks == ("Image Classification",)
    with pytest.raises(CatalogError, match="schema violation"):
        load_catalog([(str(path), "--catalog")])


def test_a_user_catalog_that_claims_a_generator_is_still_checked_in_full(run_zoo, tmp_path, generated):
    path = _one_model_file(tmp_path, generated, id="me/mine", tasks=["Image Classification"])
    code, _, err = run_zoo("--catalog", str(path), "models", "list", "--json")
    assert code == 1 and "schema violation" in err and str(path) in err


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60, deadline=None)
@given(field=st.sampled_from([*FIELD_SOURCES, "id", "weights", "tasks", "aliases", "status", "new"]), value=_JSON)
def test_fuzz_the_structure_check_loads_exactly_or_refuses_in_one_line(tmp_path, generated, field, value):
    path = _one_model_file(tmp_path, generated, **{field: value})
    try:
        catalog = load_catalog([(str(path), "timm")])
    except CatalogError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    raw = json.loads(path.read_text())["models"][0]
    as_dict = catalog.models[0].as_dict()
    assert all(as_dict[key] == value for key, value in raw.items())
