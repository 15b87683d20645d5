"""Matching a task to models (issue 20): ``zoo models list`` filters and sorts, ``zoo models
suggest`` shortlists with true reasons, and ``zoo recommend`` without --candidates scores that
shortlist and says so."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import Counter

import pytest
from click.testing import CliRunner

from zoo_core.catalog import Catalog, load_catalog
from zoo_core.cli import cli
from zoo_core.errors import ZooError
from zoo_core.matching import (
    default_budget,
    model_numbers,
    select_models,
    shortlist,
    sort_models,
    suggest_models,
    summarize_data,
)
from zoo_core.matching.shortlist import _arch_family, _image_fit, _input_fit


def _model(model_id, modality="image", **fields):
    image = modality == "image"
    return {
        "id": model_id,
        "aliases": [model_id.split("/")[1].lower()],
        "family": "timm" if image else "hf",
        "arch": "resnet18" if image else "bert",
        "modality": modality,
        "tasks": ["image-classification"] if image else ["text-classification"],
        "params_m": 10.0,
        "num_features": 8,
        "weights": [{"source": "hub", "repo_id": model_id, "filename": "model.safetensors"}],
        "pretraining": "imagenet-1k",
        "license": "apache-2.0",
        "paper": None,
        "metric": None,
        "status": "stable",
        "source": "synthetic, for tests",
        **(
            {
                "input": {
                    "size": [3, 32, 32],
                    "mean": [0.5] * 3,
                    "std": [0.5] * 3,
                    "interpolation": "bilinear",
                    "crop_pct": 1.0,
                }
            }
            if image
            else {"text": {"max_seq_len": 128, "pooling": "mean", "languages": ["en"]}}
        ),
        **fields,
    }


def _top1(value):
    return {"name": "imagenet-1k top-1", "value": value, "source": "synthetic"}


@pytest.fixture
def small_catalog(tmp_path) -> Catalog:
    models = [
        _model("t/a-small", params_m=5.0, metric=_top1(75.0), license="Apache-2.0", gmacs=1.5, top5=92.0),
        _model("t/b-big", params_m=80.0, metric=_top1(84.0), pretraining="imagenet-21k -> imagenet-1k", gmacs=16.0),
        _model(
            "t/c-mit",
            params_m=20.0,
            metric=_top1(80.0),
            license="mit",
            pretraining="laion-2b -> imagenet-1k",
            gmacs=4.0,
        ),
        _model("t/d-nometric", params_m=3.0, license="bsd-3-clause"),  # no top-1
        _model("t/e-noparams", params_m=None, metric=_top1(79.0), license=None, pretraining=None),
        _model(
            "t/f-probe",
            params_m=22.0,
            metric={"name": "imagenet-1k top-1 (linear probe)", "value": 81.0, "source": "synthetic"},
        ),
        _model("t/g-english", "text", params_m=22.0),
        _model(
            "t/h-multi",
            "text",
            params_m=100.0,
            text={"max_seq_len": 512, "pooling": "cls", "languages": ["multilingual"]},
        ),
        _model("t/i-german", "text", params_m=30.0, text={"max_seq_len": 512, "pooling": "cls", "languages": ["de"]}),
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"schema_version": 1, "models": models}))
    return load_catalog([(str(path), "test")])


def _ids(entries):
    return [e.id for e in entries]


# --- zoo models list ---------------------------------------------------------------------------


def test_filters_on_licence_pretraining_top1_language_and_size(small_catalog):
    assert _ids(select_models(small_catalog, licenses="APACHE-2.0", modality="image")) == [
        "t/a-small",
        "t/b-big",
        "t/f-probe",
    ]
    assert _ids(select_models(small_catalog, licenses="mit, bsd-3-clause")) == ["t/c-mit", "t/d-nometric"]
    # imagenet-21k and in21k name the same data; a substring of the pre-training string matches
    assert _ids(select_models(small_catalog, pretraining="in21k")) == ["t/b-big"]
    assert _ids(select_models(small_catalog, pretraining="ImageNet-21k")) == ["t/b-big"]
    assert _ids(select_models(small_catalog, pretraining="laion")) == ["t/c-mit"]
    # only the ImageNet-1k top-1 metric counts; models without one are left out
    assert _ids(select_models(small_catalog, min_top1="79")) == ["t/b-big", "t/c-mit", "t/e-noparams"]
    assert _ids(select_models(small_catalog, min_top1=80.5)) == ["t/b-big"]
    # multilingual models match every language; image models none
    assert _ids(select_models(small_catalog, language="en")) == ["t/g-english", "t/h-multi"]
    assert _ids(select_models(small_catalog, language="de")) == ["t/h-multi", "t/i-german"]
    assert _ids(select_models(small_catalog, language="multilingual")) == ["t/h-multi"]
    assert _ids(select_models(small_catalog, max_params_m="20M", modality="image")) == [
        "t/a-small",
        "t/c-mit",
        "t/d-nometric",
    ]
    assert _ids(select_models(small_catalog, max_params_m=20.0, licenses="mit")) == ["t/c-mit"]


def test_sorts_put_models_without_the_value_last(small_catalog):
    images = select_models(small_catalog, modality="image")
    assert _ids(sort_models(images, "top1")) == [
        "t/b-big",
        "t/c-mit",
        "t/e-noparams",
        "t/a-small",
        "t/d-nometric",  # no metric
        "t/f-probe",  # a linear-probe number is not top-1
    ]
    assert _ids(sort_models(images, "params")) == [
        "t/d-nometric",
        "t/a-small",
        "t/c-mit",
        "t/f-probe",
        "t/b-big",
        "t/e-noparams",
    ]
    assert _ids(sort_models(images, "name")) == sorted(_ids(images))
    assert _ids(select_models(small_catalog, modality="image", sort="top1", limit="2")) == ["t/b-big", "t/c-mit"]
    # without --sort the catalog's order is kept
    assert _ids(select_models(small_catalog, modality="image")) == _ids(images)


def test_gmacs_filter_and_sort_read_the_entry_numbers(small_catalog):
    assert model_numbers(small_catalog.get("t/a-small")) == {
        "top1": 75.0,
        "top5": 92.0,
        "gmacs": 1.5,
        "infer_samples_per_sec": None,
    }
    assert model_numbers(small_catalog.get("t/d-nometric")) == dict.fromkeys(
        ("top1", "top5", "gmacs", "infer_samples_per_sec")
    )
    assert _ids(select_models(small_catalog, max_gmacs="4")) == ["t/a-small", "t/c-mit"]  # none known: left out
    ranked = _ids(select_models(small_catalog, modality="image", sort="gmacs"))
    assert ranked[:3] == ["t/a-small", "t/c-mit", "t/b-big"] and len(ranked) == 6
    assert ranked[3:] == sorted(ranked[3:])  # those without GMACs last, by id


@pytest.mark.parametrize(
    ("criteria", "option"),
    [
        ({"sort": "foo"}, "--sort"),
        ({"min_top1": "abc"}, "--min-top1"),
        ({"min_top1": "120"}, "--min-top1"),
        ({"max_params_m": "10Q"}, "--max-params"),
        ({"max_gmacs": "-1"}, "--max-gmacs"),
        ({"limit": "0"}, "--limit"),
        ({"limit": "many"}, "--limit"),
        ({"licenses": " , "}, "--license"),
        ({"pretraining": " "}, "--pretraining"),
    ],
)
def test_bad_values_name_the_option(small_catalog, criteria, option):
    with pytest.raises(ZooError, match=re.escape(option)):
        select_models(small_catalog, **criteria)


@pytest.mark.parametrize(
    "args",
    [
        ["--sort", "foo"],
        ["--min-top1", "abc"],
        ["--max-params", "10Q"],
        ["--max-gmacs", "lots"],
        ["--limit", "-3"],
    ],
)
def test_cli_bad_values_are_one_line_errors(args):
    result = CliRunner().invoke(cli, ["models", "list", *args])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and args[0] in lines[0], result.output
    assert "internal error" not in result.output and "e.g." in lines[0]


def _zoo_in_a_fresh_process(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``zoo ARGS`` in a new interpreter that reports on stderr which heavy modules it imported."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('HEAVY=' + str([m for m in ('torch', 'timm', 'transformers') "
        "if m in sys.modules]) + '\\n'))\n"
        f"from zoo_core.cli import main\nmain({args!r})\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_real_catalog_filter_and_sort_without_torch():
    """The issue's example, in a fresh process: every row passes the filters, sorted by top-1, no torch."""
    args = ["models", "list", "--task", "image-classification", "--max-params", "10M"]
    args += ["--license", "apache-2.0", "--sort", "top1", "--json"]
    proc = _zoo_in_a_fresh_process(args)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=[]" in proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) >= 5
    for row in rows:
        assert "image-classification" in row["tasks"] and row["params_m"] <= 10 and row["license"] == "apache-2.0"
        assert {"top1", "top5", "gmacs", "infer_samples_per_sec", "pretraining", "weights"} <= set(row)
    top1 = [row["top1"] for row in rows]
    known = [v for v in top1 if v is not None]
    assert known == sorted(known, reverse=True) and top1 == known + [None] * (len(top1) - len(known))
    assert rows[0]["top1"] == max(
        r["metric"]["value"] for r in rows if r["metric"] and r["metric"].get("name") == "imagenet-1k top-1"
    )


def test_table_shows_top1_where_filled():
    images = CliRunner().invoke(cli, ["models", "list", "--modality", "image", "--sort", "top1", "--limit", "3"])
    assert images.exit_code == 0, images.output
    header = images.output.splitlines()[0].split()
    assert "TOP1" in header and len(images.output.strip().splitlines()) == 4
    texts = CliRunner().invoke(cli, ["models", "list", "--modality", "text", "--language", "en", "--sort", "params"])
    assert texts.exit_code == 0 and "TOP1" not in texts.output.splitlines()[0].split()
    rows = json.loads(CliRunner().invoke(cli, ["models", "list", "--language", "en", "--json"]).output)
    assert rows and all({"en", "multilingual"} & set(row["text"]["languages"]) for row in rows)


# --- zoo models suggest ------------------------------------------------------------------------


def _check_reasons(zoo, suggestion: dict, task: str, budget: float | None, licenses=()) -> None:
    """Every reason given for ``suggestion`` is true of its catalog entry."""
    from zoo_core.matching.shortlist import _is_sentence_encoder
    from zoo_core.weights import is_available

    entry = zoo.catalog.get(suggestion["id"])
    modality = suggestion["data"]["modality"]
    assert entry.modality == modality and task in entry.tasks
    reasons = suggestion["reasons"]
    assert reasons and all(isinstance(r, str) and r for r in reasons)
    assert any(r.startswith(f"suits {task}") for r in reasons)
    if licenses:
        assert (entry.license or "").lower() in licenses
    for reason in reasons:
        size = re.match(r"([\d.]+)M parameters, within the ([\d.]+)M budget", reason)
        if size:
            assert entry.params_m == pytest.approx(float(size.group(1)))
            assert budget is not None and float(size.group(2)) == budget and entry.params_m <= budget
        if reason.startswith("parameter count not in the catalog"):
            assert entry.params_m is None
        if reason.startswith("licence not in the catalog"):
            assert entry.license is None
        elif reason.startswith("licence "):
            assert entry.license and reason.startswith(f"licence {entry.license}")
        top1 = re.match(r"ImageNet-1k top-1 ([\d.]+)%", reason)
        if top1:
            assert entry.metric["name"] == "imagenet-1k top-1" and entry.metric["value"] == float(top1.group(1))
        if reason.startswith("pre-trained on "):
            assert entry.pretraining and reason.startswith(f"pre-trained on {entry.pretraining}")
        if reason.startswith("weights already on this machine"):
            assert is_available(entry, zoo.weight_sources)
        if reason.startswith("weights not on this machine"):
            assert not is_available(entry, zoo.weight_sources)
        if reason.startswith("sentence-embedding model"):
            assert _is_sentence_encoder(entry)
        size = re.match(r"trained on (\d+)x(\d+) px inputs", reason)
        if size:
            assert entry.input["size"][1:] == [int(size.group(1)), int(size.group(2))]
        if "larger than the data's images" in reason:
            assert max(entry.input["size"][1:]) > max(224, *suggestion["data"]["image_size"])
        if reason.startswith("an English model"):
            assert "en" in entry.text["languages"]
    assert suggestion["available"] == is_available(entry, zoo.weight_sources)


def test_default_budget_follows_the_data_size():
    assert default_budget(36)[0] == 30.0
    assert default_budget(999)[0] == 30.0
    assert default_budget(4317)[0] == 100.0
    assert default_budget(10_000)[0] is None


def test_suggest_for_a_tiny_image_folder(tiny_zoo, image_folder):
    result = suggest_models(tiny_zoo, image_folder, top=6, offline=True)
    data = result.as_dict()
    assert data["data"]["modality"] == "image" and data["data"]["classes"] == 3 and data["data"]["examples"] == 36
    assert data["budget_params_m"] == 30.0 and "36 examples" in data["budget_rule"]
    assert len(data["shortlist"]) == 6 and data["within_budget"] <= data["matching"]
    for item in data["shortlist"]:
        _check_reasons(tiny_zoo, item, "image-classification", 30.0)
        assert item["data"] == data["data"] and item["method"] in {"protonet", "linear_probe"}
    # offline: the models whose weights are here come first
    flags = [item["available"] for item in data["shortlist"]]
    assert flags == sorted(flags, reverse=True)
    # among the local ones: ranked by pre-training, then input size, then top-1
    local = [tiny_zoo.catalog.get(i["id"]) for i in data["shortlist"] if i["available"]]
    keys = [(_image_fit(e)[0], _input_fit(e, result.data)[0], model_numbers(e)["top1"] or 0.0) for e in local]
    assert keys == sorted(keys, reverse=True)
    # one weight per architecture, at most two architectures per family
    archs = [tiny_zoo.catalog.get(i["id"]).arch for i in data["shortlist"]]
    assert len(set(archs)) == len(archs)
    assert max(Counter(_arch_family(a) for a in archs).values()) <= 2
    # deterministic
    assert suggest_models(tiny_zoo, image_folder, top=6, offline=True).as_dict() == data


def test_suggest_budget_and_licence(tiny_zoo, image_folder):
    summary = summarize_data(image_folder)
    result = shortlist(tiny_zoo, summary, budget_params="10M", licenses="MIT,bsd-3-clause", top=20, offline=False)
    data = result.as_dict()
    assert data["budget_params_m"] == 10.0 and data["licenses"] == ["mit", "bsd-3-clause"]
    for item in data["shortlist"]:
        _check_reasons(tiny_zoo, item, "image-classification", 10.0, licenses=("mit", "bsd-3-clause"))
        assert item["params_m"] is not None  # a budget asked for leaves unknown sizes out
    assert "licence mit or bsd-3-clause" in result.rule()
    everything = shortlist(tiny_zoo, summary, budget_params="10M", top=None, offline=False)
    assert all(s.entry.params_m is not None and s.entry.params_m <= 10 for s in everything.suggestions)


def test_suggest_for_short_texts_prefers_sentence_embeddings(tiny_zoo, text_file):
    from zoo_core.matching.shortlist import _is_sentence_encoder, _language_fit

    result = suggest_models(tiny_zoo, text_file, top=None, offline=False)
    data = result.as_dict()
    assert data["data"]["modality"] == "text" and data["data"]["english"] and data["data"]["median_words"] <= 10
    assert len(data["shortlist"]) == data["within_budget"] >= 3
    for item in data["shortlist"]:
        _check_reasons(tiny_zoo, item, "text-classification", 30.0)
    entries = [s.entry for s in result.suggestions]
    # English models before multilingual ones, and sentence encoders first among equals
    fit = [(_language_fit(e, result.data)[0], _is_sentence_encoder(e)) for e in entries]
    assert fit == sorted(fit, reverse=True)
    assert _is_sentence_encoder(entries[0]) and "en" in entries[0].text["languages"]
    assert any(r.startswith("sentence-embedding model") for r in data["shortlist"][0]["reasons"])


def test_suggest_cli_json_and_errors(tiny_catalog, image_folder, text_file):
    """In a fresh process: JSON out, no torch imported, and one-line errors naming the option."""
    args = ["--catalog", str(tiny_catalog), "models", "suggest", "--data", str(text_file), "--top", "3", "--json"]
    proc = _zoo_in_a_fresh_process(args)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY=[]" in proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["shortlist"]) == 3 and all(item["reasons"] for item in data["shortlist"])
    human = CliRunner().invoke(cli, ["models", "suggest", "--data", str(image_folder), "--top", "2"])
    assert human.exit_code == 0, human.output
    assert (
        "36 image examples, 3 classes" in human.output
        and "1. " in human.output
        and "next: zoo recommend" in human.output
    )
    for args, option in (
        (["--budget-params", "10Q"], "--budget-params"),
        (["--top", "0"], "--top"),
        (["--license", ","], "--license"),
    ):
        result = CliRunner().invoke(cli, ["models", "suggest", "--data", str(image_folder), *args])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and option in lines[0], result.output


# --- zoo recommend without --candidates --------------------------------------------------------


def test_recommend_without_candidates_scores_the_shortlist(tiny_catalog, image_folder, tmp_path):
    from zoo_core.engine.recommend import recommend
    from zoo_core.plugins import Zoo, make_plugin_manager

    catalog = json.loads(tiny_catalog.read_text())
    image = next(m for m in catalog["models"] if m["id"] == "tiny/test-efficientnet")
    models = [
        {**image, "id": "tiny/shapes-small", "aliases": ["shapes-small"], "tasks": ["tiny-shapes"], "params_m": 0.01},
        {**image, "id": "tiny/shapes-big", "aliases": ["shapes-big"], "tasks": ["tiny-shapes"], "params_m": 500.0},
    ]
    task = {"name": "tiny-shapes", "modality": "image", "description": "test task", "status": "supported"}
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"schema_version": 1, "tasks": [task], "models": models}))
    zoo = Zoo(make_plugin_manager(stderr=io.StringIO()), catalog_paths=[str(path)])
    result = recommend(image_folder, task="tiny-shapes", zoo=zoo, budget_seconds=None, resamples=0)
    assert [c.model for c in result.candidates] == ["tiny/shapes-small"]  # 500M is over the 30M budget for 36 images
    note = next(n for n in result.notes if n.startswith("scored the"))
    assert "scored the 1 model `zoo models suggest` shortlisted from 2 matching the task" in note
    assert "at most 30M parameters" in note and "--candidates" in note
    assert "only models whose weights are on this machine" in note  # offline (HF_HUB_OFFLINE=1 in tests)
    # given candidates, no shortlist and no such note
    given = recommend(image_folder, task="tiny-shapes", candidates=["shapes-big"], zoo=zoo, budget_seconds=None)
    assert [c.model for c in given.candidates] == ["tiny/shapes-big"]
    assert not any(n.startswith("scored the") for n in given.notes)


def test_suggest_reads_detection_and_segmentation_layouts(tiny_zoo, tmp_path):
    """A VOC folder is not class folders: suggest reads its boxes and shortlists for its task."""
    from test_dense_models import detection_dataset, segmentation_dataset

    from zoo_core.errors import ZooError
    from zoo_core.matching import suggest_models

    boxes = detection_dataset(tmp_path / "det", n=6)
    result = suggest_models(tiny_zoo, boxes, top=3, offline=True)
    assert result.task == "object-detection"
    assert (result.data["classes"], result.data["examples"], result.data["image_size"]) == (2, 6, [64, 64])
    assert result.data["min_per_class"] >= 1 and "labelled boxes" in result.data["kind"]
    masks = suggest_models(tiny_zoo, segmentation_dataset(tmp_path / "seg", n=4), top=3, offline=True)
    assert masks.task == "semantic-segmentation" and masks.data["examples"] == 4
    with pytest.raises(ZooError, match="--text-column: not for object-detection data"):
        suggest_models(tiny_zoo, boxes, offline=True, text_column="text")
