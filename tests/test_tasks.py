"""Issue 17: tasks are plugins (zoo_tasks registers the four runnable ones), and object detection and
semantic segmentation run from the CLI: finetune -> a verified adapter recording its task ->
evaluate -> predict JSON -> --draw; the task inferred from the data's layout; one-line refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from test_dense_models import detection_dataset, segmentation_dataset

from zoo_core.cli import cli
from zoo_core.errors import AdapterError, PluginError, ZooError
from zoo_core.plugins import Zoo, make_plugin_manager, module_plugin
from zoo_core.specs import TaskSpec
from zoo_core.testing.tiny import TINY_IMAGE, write_image_folder

RUNNABLE = ("image-classification", "text-classification", "object-detection", "semantic-segmentation")
DETECTION_OPTIONS = ["--task-option", "min_size=64", "--task-option", "max_size=64", "--task-option", "fpn_channels=64"]
SEGMENTATION_OPTIONS = ["--task-option", "image_size=64", "--task-option", "pyramid_channels=32"]
SEGMENTATION_OPTIONS += ["--task-option", "segmentation_channels=32"]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def invoke(tiny_catalog, *args: str):
    return CliRunner().invoke(cli, ["--catalog", str(tiny_catalog), *args])


def error_line(result) -> str:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


# ------------------------------------------------------------------------------------- registration


def test_zoo_tasks_registers_the_runnable_tasks_over_the_catalog(tiny_zoo):
    tasks = tiny_zoo.tasks
    for name in RUNNABLE:
        assert tasks[name].plugin == "tasks" and tasks[name].status == "supported", tasks[name]
        assert tasks[name].description  # supplied by the built-in catalog
    assert tasks["object-detection"].feature_kind == "maps" and tasks["object-detection"].readers == (
        "voc",
        "coco",
        "yolo",
    )
    # Catalog declarations the plugin does not cover stay listed as the catalog says.
    assert tasks["feature-extraction"].plugin.startswith("catalog:")
    assert tasks["sentiment-analysis"].runner is None


def test_a_catalog_task_still_declared_planned_stays_listed(tmp_path):
    catalog = tmp_path / "more.json"
    catalog.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "tasks": [
                    {"name": "depth-estimation", "modality": "image", "description": "depth", "status": "planned"}
                ],
                "models": [],
            }
        )
    )
    zoo = Zoo(make_plugin_manager(stderr=io.StringIO()), catalog_paths=[str(catalog)])
    assert zoo.tasks["depth-estimation"].status == "planned"
    from zoo_core.testing.contracts import check_task

    check_task(zoo, "depth-estimation")
    result = CliRunner().invoke(cli, ["--catalog", str(catalog), "tasks", "list", "--json"])
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["depth-estimation"]["status"] == "planned"
    assert rows["object-detection"]["status"] == "supported" and rows["object-detection"]["plugin"] == "tasks"
    table = CliRunner().invoke(cli, ["tasks", "list"]).output
    assert any(line.startswith("semantic-segmentation") and "supported" in line for line in table.splitlines())


def test_a_plugin_task_declared_by_another_catalog_file_is_an_error(tmp_path):
    from zoo_core.errors import CatalogError

    def catalog(name: str) -> str:
        path = tmp_path / f"{name}.json"
        task = {"name": name, "modality": "image", "description": "x", "status": "planned"}
        path.write_text(json.dumps({"schema_version": 1, "tasks": [task], "models": []}))
        return str(path)

    # Declared again by a user catalog: the catalog files clash, as before.
    zoo = Zoo(make_plugin_manager(stderr=io.StringIO()), catalog_paths=[catalog("object-detection")])
    with pytest.raises(CatalogError, match="task 'object-detection' is already declared in"):
        _ = zoo.tasks
    # A third-party plugin's task declared by a catalog file other than the built-in one: an error naming both.
    plugin = module_plugin("toytasks", register_tasks=lambda register: register(TaskSpec("counting", "image")))
    pm = make_plugin_manager(plugins=[("toytasks", plugin)], stderr=io.StringIO())
    with pytest.raises(PluginError, match="task 'counting' is declared by both toytasks and catalog:"):
        _ = Zoo(pm, catalog_paths=[catalog("counting")]).tasks


def test_every_registered_task_passes_the_task_contract(tiny_zoo):
    from zoo_core.testing.contracts import check_task

    for name in tiny_zoo.tasks:
        check_task(tiny_zoo, name)


def test_the_task_contract_refuses_a_broken_schema_and_a_runner_without_stages():
    from zoo_core.testing.contracts import check_task

    def zoo_with(spec):
        plugin = module_plugin("toytasks", register_tasks=lambda register: register(spec))
        return Zoo(make_plugin_manager(load_entry_points=False, plugins=[("toytasks", plugin)], stderr=io.StringIO()))

    schema = TaskSpec(
        "toy", "image", runner="zoo_tasks._classification:ClassificationRunner", readers=("folders",),
        predict_schema={"type": 12},
    )  # fmt: skip
    with pytest.raises(AssertionError, match="valid JSON Schema"):
        check_task(zoo_with(schema), "toy")
    stages = TaskSpec("toy", "image", runner="zoo_core.specs:TaskSpec", readers=("folders",), predict_schema={})
    with pytest.raises(AssertionError, match="has a finetune"):
        check_task(zoo_with(stages), "toy")


def test_models_list_for_detection_lists_image_models_with_feature_maps():
    rows = json.loads(CliRunner().invoke(cli, ["models", "list", "--task", "object-detection", "--json"]).output)
    assert rows and all(row["modality"] == "image" and row["family"] == "timm" for row in rows)


# ------------------------------------------------------------------------------------- refusals


def test_a_text_model_is_refused_for_detection(tiny_catalog, tmp_path):
    data = detection_dataset(tmp_path / "det", n=2)
    line = error_line(
        invoke(tiny_catalog, "finetune", "-m", "tiny-text", "-d", str(data), "--task", "object-detection")
    )
    assert "text model" in line and "object-detection needs an image model" in line


def test_a_classification_folder_is_refused_for_detection(tiny_catalog, tmp_path):
    folder = write_image_folder(tmp_path / "photos", per_class=2)
    line = error_line(
        invoke(tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(folder), "--task", "object-detection")
    )
    assert "is not object-detection data" in line and "voc, coco, yolo" in line


@pytest.mark.parametrize("method", ["protonet", "dann", "contrastive"])
def test_a_method_that_cannot_apply_to_detection_is_refused(tiny_catalog, tmp_path, method):
    data = detection_dataset(tmp_path / "det", n=2)
    line = error_line(invoke(tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(data), "--method", method))
    assert f"method '{method}' cannot apply to object-detection" in line


def test_classification_flags_are_refused_for_detection(tiny_catalog, tmp_path):
    data = detection_dataset(tmp_path / "det", n=2)
    line = error_line(invoke(tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(data), "--method", "auto"))
    assert "--method auto chooses among classification methods" in line
    line = error_line(invoke(tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(data), "--shots", "2"))
    assert "--shots: not for object-detection" in line
    line = error_line(invoke(tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(data), "--augment", "none"))
    assert "--augment: not for object-detection" in line  # the detection trainer has its own transforms


# ------------------------------------------------------------------------------------- detection


def predictions(result) -> list[dict]:
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_detection_finetune_evaluate_predict_and_draw(tiny_catalog, tiny_zoo, tmp_path):
    data = detection_dataset(tmp_path / "det", n=8)
    result = invoke(
        tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(data), "--method", "lora", "--epochs", "1",
        "--batch-size", "4", "--name", "boxes", *DETECTION_OPTIONS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # The task came from the VOC layout; the report names the detection metrics.
    assert "task object-detection, from the voc layout" in result.output
    assert "mAP" in result.output and "AP red" in result.output and "adapter saved as boxes@1" in result.output
    from zoo_core.store import AdapterStore

    ref = AdapterStore().resolve("boxes")
    metadata = ref.metadata()
    assert metadata["task"] == "object-detection" and metadata["labels"] == ["blue", "red"]
    assert metadata["head"]["name"] == "fcos" and metadata["method"]["name"] == "lora"
    assert ref.verification(metadata) == "verified"
    from safetensors import safe_open

    with safe_open(str(ref.path / "adapter.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())
    assert any(k.startswith("method:") and "lora_" in k for k in keys)
    assert any(k.startswith("task:head.") for k in keys) and any(k.startswith("task:backbone.fpn.") for k in keys)

    (ref.path / "verified.json").unlink()  # as if the saving process had died before its reload check
    verified = invoke(tiny_catalog, "adapters", "verify", "boxes")
    assert verified.exit_code == 0 and "verified boxes@1" in verified.output, verified.output

    evaluated = invoke(tiny_catalog, "evaluate", "boxes", "--data", str(data), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.output)
    assert metrics["task"] == "object-detection" and metrics["num_images"] == 8 and "map_50" in metrics
    assert metrics["split"] == "all"

    image = str(data / "images" / "im0.png")
    drawn = tmp_path / "drawn"
    predicted = invoke(tiny_catalog, "predict", "boxes", image, "--score-threshold", "0", "--draw", str(drawn))
    assert predicted.exit_code == 0, predicted.output
    rows = predictions(predicted)
    schema = tiny_zoo.tasks["object-detection"].predict_schema
    assert len(rows) == 1 and rows[0]["input"] == image
    jsonschema.validate(rows[0], schema)
    assert rows[0]["boxes"] and Path(rows[0]["drawn"]).is_file()
    assert Image.open(rows[0]["drawn"]).size == (64, 64)

    # A detector is no classifier, and the other way round.
    from zoo_core.engine.adapters import load_trained_model
    from zoo_core.engine.dense.adapters import load_dense_model

    with pytest.raises(AdapterError, match="adapter boxes@1 is a object-detection adapter, not a classifier"):
        load_trained_model(tiny_zoo, "boxes")
    with pytest.raises(AdapterError, match="is a object-detection adapter, not semantic-segmentation"):
        load_dense_model(tiny_zoo, "boxes", task="semantic-segmentation")


@pytest.mark.slow
def test_linear_probe_on_detection_trains_the_head_only(tiny_zoo, tmp_path):
    from zoo_core.engine.dense.pipeline import DETECTION_RUNNER

    data = detection_dataset(tmp_path / "det", n=6)
    result = DETECTION_RUNNER.finetune(
        TINY_IMAGE, data, zoo=tiny_zoo, method="linear_probe", epochs=1, batch_size=4, name="probe",
        task_options={"min_size": 64, "max_size": 64, "fpn_channels": 64}, progress=False,
    )  # fmt: skip
    assert result.eval_split == "validation" and any("validation split" in note for note in result.notes)
    from safetensors import safe_open

    with safe_open(str(Path(result.adapter_path) / "adapter.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())
    assert keys and all(k.startswith("task:") for k in keys)  # nothing of the backbone trained

    # The run folder: metrics, the per-epoch validation curve, a few evaluation images drawn.
    folder = Path(result.run_dir)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["eval_split"] == "validation" and metrics["map_50"] == result.metrics["map_50"]
    (epoch,) = json.loads((folder / "history.json").read_text())
    assert epoch["epoch"] == 1 and epoch["train_loss"] > 0 and 0 <= epoch["val_map_50"] <= 1
    assert json.loads((folder / "manifest.json").read_text())["settings"]["fpn_channels"] == 64
    assert (folder / "learning_curves.png").stat().st_size > 0
    drawn = sorted((folder / "predictions").glob("*.png"))
    assert len(drawn) == min(4, metrics["num_images"]) and Image.open(drawn[0]).size == (64, 64)


def test_a_classifier_is_refused_as_a_detector(tiny_zoo, tmp_path):
    from zoo_core.engine.dense.adapters import load_dense_model
    from zoo_core.engine.pipeline import finetune

    folder = write_image_folder(tmp_path / "photos", per_class=6)
    finetune(TINY_IMAGE, folder, zoo=tiny_zoo, method="linear_probe", epochs=1, name="classes", progress=False)
    with pytest.raises(AdapterError, match="is a image-classification adapter, not object-detection"):
        load_dense_model(tiny_zoo, "classes", task="object-detection")


# ------------------------------------------------------------------------------------- segmentation


@pytest.mark.slow
def test_segmentation_finetune_evaluate_predict_and_draw(tiny_catalog, tiny_zoo, tmp_path):
    data = segmentation_dataset(tmp_path / "seg", n=6)
    result = invoke(
        tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(data), "--method", "full", "--epochs", "1",
        "--batch-size", "2", "--name", "pixels", *SEGMENTATION_OPTIONS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "task semantic-segmentation, from the masks layout" in result.output
    assert "mIoU" in result.output and "IoU red" in result.output
    from zoo_core.store import AdapterStore

    ref = AdapterStore().resolve("pixels")
    metadata = ref.metadata()
    assert metadata["task"] == "semantic-segmentation" and metadata["labels"] == ["background", "red", "blue"]
    run_folder = Path(result.output.split("run folder: ")[1].split(" (")[0])
    history = json.loads((run_folder / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1] and 0 <= history[0]["val_miou"] <= 1
    assert (run_folder / "learning_curves.png").is_file()
    assert (
        len(list((run_folder / "predictions").glob("*.png")))
        == len(list((run_folder / "predictions" / "masks").glob("*.png")))
        > 0
    )
    assert metadata["head"] == {
        "name": "fpn",
        "options": {"image_size": 64, "pyramid_channels": 32, "segmentation_channels": 32, "ignore_index": 255},
    }
    assert ref.verification(metadata) == "verified"

    evaluated = invoke(tiny_catalog, "evaluate", "pixels", "--data", str(data))
    assert evaluated.exit_code == 0 and "mIoU" in evaluated.output and "IoU blue" in evaluated.output

    image = str(data / "images" / "s0.png")
    masks, drawn = tmp_path / "masks", tmp_path / "drawn"
    predicted = invoke(tiny_catalog, "predict", "pixels", image, "--mask-dir", str(masks), "--draw", str(drawn))
    assert predicted.exit_code == 0, predicted.output
    (row,) = predictions(predicted)
    jsonschema.validate(row, tiny_zoo.tasks["semantic-segmentation"].predict_schema)
    mask = Image.open(row["mask"])
    assert mask.size == (64, 64) and Path(row["mask"]).parent == masks
    assert sum(row["counts"].values()) == 64 * 64 and set(row["counts"]) <= {"background", "red", "blue"}
    assert Path(row["drawn"]).is_file()

    line = error_line(invoke(tiny_catalog, "predict", "pixels", image, "--top-k", "2"))
    assert "--top-k are for classifiers" in line


def test_classification_data_still_finetunes_as_before(tiny_catalog, tmp_path):
    folder = write_image_folder(tmp_path / "photos", per_class=6)
    result = invoke(tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(folder), "--epochs", "1", "--no-save")
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "task " not in result.output
    line = error_line(invoke(tiny_catalog, "finetune", "-m", "tiny-image", "-d", str(folder), "--task-option", "a=1"))
    assert "--task-option" in line


def test_task_options_are_checked():
    from zoo_core.engine.dense.pipeline import task_options

    assert task_options("object-detection", {"min_size": "64"})["min_size"] == 64
    with pytest.raises(ZooError, match="has no task option 'decoder'"):
        task_options("object-detection", {"decoder": "fpn"})


def test_output_names_never_overwrite_one_another():
    from zoo_core.engine.dense.pipeline import output_names

    assert output_names(["a/1.jpg", "b/1.jpg", "c/2.png", "d/1.jpeg"]) == ["1.png", "1-2.png", "2.png", "1-3.png"]
