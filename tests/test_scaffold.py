"""Issue 7, acceptance 1: from an empty folder, `zoo plugins new`, pip install -e, pytest passes,
`zoo methods list` shows it, `zoo finetune --method` uses it. `--kind task`: the generated task passes
`check_task` and runs finetune, evaluate and predict (its adapters through `zoo evaluate` and `zoo predict`)."""

import importlib
import io
import json
import os
import subprocess
import sys

import pytest

from zoo_core.errors import ZooError
from zoo_core.scaffold import KINDS, new_plugin


def _pip(*args):
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.serial  # installs into the project's own environment: other tests must not see it half-done
@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, name",
    [("method", "demo-method"), ("scorer", "fisher-demo"), ("backbone", "demo-cnn"), ("task", "demo-task")],
)
def test_generated_plugin_installs_passes_and_works(run_zoo, tmp_path, tiny_catalog, image_folder, kind, name):
    code, out, err = run_zoo("plugins", "new", name, "--kind", kind, "--out", str(tmp_path))
    assert code == 0, err
    folder = tmp_path / f"zoo-{name}"
    installed = _pip("install", "--no-deps", "--no-build-isolation", "-e", str(folder))
    assert installed.returncode == 0, installed.stderr[-2000:]
    try:
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert tests.returncode == 0, tests.stdout[-3000:]
        code, out, err = run_zoo("plugins", "list", "--json")
        plugin = [p for p in json.loads(out) if p["name"] == name.replace("-", "_")][0]
        assert plugin["status"] == "loaded" and plugin["distribution"] == f"zoo-{name}"
        if kind == "method":
            code, out, _ = run_zoo("methods", "list", "--json")
            assert "demo_method" in {row["name"] for row in json.loads(out)}
            code, out, err = run_zoo(
                "--catalog",
                str(tiny_catalog),
                "finetune",
                "-m",
                "tiny-image",
                "-d",
                str(image_folder),
                "--method",
                "demo_method",
                "--epochs",
                "3",
                "--json",
            )
            assert code == 0, err
            assert json.loads(out)["method"] == "demo_method"
        elif kind == "backbone":
            code, out, _ = run_zoo("models", "list", "--family", "demo_cnn", "--offline", "--json")
            assert [row["id"] for row in json.loads(out)] == ["local/demo-cnn-tiny"]
            code, out, err = run_zoo(
                "finetune", "-m", "demo_cnn-tiny", "-d", str(image_folder), "--method", "linear_probe", "--json"
            )
            assert code == 0, err
            result = json.loads(out)
            assert result["model"] == "local/demo-cnn-tiny" and 0.0 <= result["accuracy"] <= 1.0
        elif kind == "task":
            code, out, _ = run_zoo("tasks", "list", "--json")
            task = {row["name"]: row for row in json.loads(out)}["demo-task"]
            assert task["plugin"] == "demo_task" and task["status"] == "supported"
            # The installed plugin's runner, found through the entry point, stores an adapter of its task...
            script = (
                "from zoo_core.plugins import Zoo; from zoo_core.specs import load_spec_object; "
                f"zoo = Zoo(catalog_paths=[{str(tiny_catalog)!r}]); "
                "runner = load_spec_object(zoo.get('tasks', 'demo-task'), 'runner'); "
                f"print(runner.finetune('tiny-image', {str(image_folder)!r}, zoo=zoo, name='demo').adapter)"
            )
            trained = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
            assert trained.returncode == 0, trained.stderr[-2000:]
            assert trained.stdout.split()[-1] == "demo@1"
            # ...which zoo evaluate and zoo predict run with that runner.
            code, out, err = run_zoo(
                "--catalog", str(tiny_catalog), "evaluate", "demo", "--data", str(image_folder), "--json"
            )
            assert code == 0, err
            metrics = json.loads(out)
            assert metrics["task"] == "demo-task" and metrics["split"] == "all" and metrics["num_samples"] == 36
            image = str(image_folder / "class_1" / "0.png")
            code, out, err = run_zoo("--catalog", str(tiny_catalog), "predict", "demo", image, "--json")
            assert code == 0, err
            [row] = json.loads(out)
            assert set(row) == {"input", "label", "score", "similarities"} and row["input"] == image
        else:
            code, out, err = run_zoo(
                "--catalog",
                str(tiny_catalog),
                "recommend",
                "--data",
                str(image_folder),
                "--candidates",
                "tiny-image",
                "--scorer",
                "fisher_demo",
                "--json",
            )
            assert code == 0, err
            assert json.loads(out)["scorer"] == "fisher_demo"
    finally:
        _pip("uninstall", "--yes", f"zoo-{name}")


def test_bad_names_and_existing_folders(tmp_path):
    with pytest.raises(ZooError, match="invalid plugin name"):
        new_plugin("Bad Name", "method", tmp_path)
    new_plugin("ok", "method", tmp_path)
    with pytest.raises(ZooError, match="already exists"):
        new_plugin("ok", "method", tmp_path)


def test_kind_choices_follow_the_scaffold():
    from zoo_core.commands.plugins import plugins_new

    kind = next(p for p in plugins_new.params if p.name == "kind")
    assert tuple(kind.type.choices) == KINDS


def test_task_plugin_files(tmp_path):
    folder = new_plugin("zoo-centroid-demo", "task", tmp_path)
    assert folder == tmp_path / "zoo-centroid-demo"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        "tests/test_contract.py",
        "tests/test_task.py",
        "zoo_centroid_demo/__init__.py",
        "zoo_centroid_demo/_impl.py",
    ]
    assert 'centroid_demo = "zoo_centroid_demo"' in (folder / "pyproject.toml").read_text()
    init = (folder / "zoo_centroid_demo" / "__init__.py").read_text()
    assert "def register_tasks(register)" in init and 'name="centroid-demo"' in init
    assert 'runner="zoo_centroid_demo._impl:RUNNER"' in init and "import torch" not in init
    assert "check_task(zoo, TASK)" in (folder / "tests" / "test_task.py").read_text()
    assert "task `centroid-demo`" in (folder / "README.md").read_text()


@pytest.mark.parametrize(
    "name, message",
    [
        ("photo-classification", "invalid task name 'photo-classification'.*classification pipeline"),
        ("object_detection", "task 'object-detection' is one of zoo's own tasks"),
    ],
)
def test_task_names_zoo_would_not_run_are_refused(tmp_path, name, message):
    with pytest.raises(ZooError, match=message) as caught:
        new_plugin(name, "task", tmp_path)
    assert "\n" not in str(caught.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_generated_task_passes_check_task_and_runs_end_to_end(tmp_path, monkeypatch, tiny_catalog, image_folder):
    """Without installing it: the generated module on sys.path, registered into a plugin host."""
    import jsonschema
    from click.testing import CliRunner

    import zoo_core.cli
    from zoo_core.plugins import Zoo, make_plugin_manager
    from zoo_core.specs import load_spec_object
    from zoo_core.store import AdapterStore
    from zoo_core.testing.checks import check_light_import
    from zoo_core.testing.contracts import check_task

    folder = new_plugin("inproc-task", "task", tmp_path / "plugins")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    try:
        check_light_import("zoo_inproc_task")  # in a subprocess: the hook module imports no torch
        pm = make_plugin_manager(stderr=io.StringIO())
        pm.add_plugin(importlib.import_module("zoo_inproc_task"), "inproc_task")
        zoo = Zoo(pm, catalog_paths=[str(tiny_catalog)])
        check_task(zoo, "inproc-task")
        spec = zoo.get("tasks", "inproc-task")
        assert (spec.plugin, spec.modality, spec.readers, spec.draw, spec.feature_kind) == (
            "inproc_task",
            "image",
            ("folders",),
            None,
            "pooled",
        )
        runner = load_spec_object(spec, "runner")

        result = runner.finetune("tiny-image", image_folder, zoo=zoo, name="centroids")
        assert (result.task, result.model, result.adapter) == ("inproc-task", "tiny/test-efficientnet", "centroids@1")
        assert result.eval_split == "validation" and 0.0 <= result.metrics["accuracy"] <= 1.0
        ref = AdapterStore().resolve("centroids")
        metadata = ref.metadata()
        assert metadata["task"] == "inproc-task" and metadata["labels"] == ["class_0", "class_1", "class_2"]
        assert ref.verification(metadata) == "verified"

        metrics = runner.evaluate("centroids", image_folder, zoo=zoo)
        assert metrics["split"] == "all" and metrics["num_samples"] == 36 and metrics["accuracy"] > 0.5
        images = [str(image_folder / f"class_{c}" / "0.png") for c in range(3)]
        rows = runner.predict("centroids", images, zoo=zoo)
        for row in rows:
            jsonschema.validate(row, spec.predict_schema, cls=jsonschema.Draft202012Validator)
        assert [row["input"] for row in rows] == images

        # zoo evaluate and zoo predict run the adapter with the task's runner (its adapter.json names the task).
        monkeypatch.setattr(zoo_core.cli, "_ZOO", zoo)
        out = CliRunner().invoke(zoo_core.cli.cli, ["predict", "centroids", images[0], "--json"])
        assert out.exit_code == 0, out.output
        [row] = json.loads(out.output)
        assert (row["input"], row["label"]) == (images[0], rows[0]["label"])
        assert row["similarities"] == pytest.approx(rows[0]["similarities"], abs=1e-5)
        out = CliRunner().invoke(zoo_core.cli.cli, ["evaluate", "centroids", "--data", str(image_folder), "--json"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.output)["accuracy"] == metrics["accuracy"]
        out = CliRunner().invoke(zoo_core.cli.cli, ["evaluate", "centroids", "--data", str(image_folder)])
        assert out.exit_code == 0 and f"accuracy {metrics['accuracy']:.4f}" in out.output, out.output
        assert "num_samples 36" in out.output and "mIoU" not in out.output
        # zoo finetune --task runs the plugin's runner on class folders (its reader "folders").
        out = CliRunner().invoke(
            zoo_core.cli.cli,
            ["finetune", "--task", "inproc-task", "-m", "tiny-image", "-d", str(image_folder), "--name", "cli-c"],
        )
        assert out.exit_code == 0, out.output
        assert "adapter saved as cli-c@1" in out.output and AdapterStore().resolve("cli-c").metadata()["task"] == (
            "inproc-task"
        )

        plain = runner.finetune("tiny-image", image_folder, zoo=zoo, task_options={"metric": "euclidean"}, save=False)
        assert plain.adapter is None and 0.0 <= plain.metrics["accuracy"] <= 1.0

        # Settings and options that do not apply are refused in one line.
        for settings, message in [
            ({"bogus": 1}, "does not take bogus"),
            ({"method": "lora"}, "keeps the backbone frozen"),
            ({"epochs": 3}, "one pass"),
            ({"task_options": {"metric": "manhattan"}}, "choose one of cosine, euclidean"),
        ]:
            with pytest.raises(ZooError, match=message) as caught:
                runner.finetune("tiny-image", image_folder, zoo=zoo, **settings)
            assert "\n" not in str(caught.value)
        with pytest.raises(ZooError, match="draw: not for inproc-task"):
            runner.predict("centroids", images, zoo=zoo, draw=str(tmp_path / "drawn"))
    finally:
        for module in [m for m in sys.modules if m == "zoo_inproc_task" or m.startswith("zoo_inproc_task.")]:
            del sys.modules[module]
