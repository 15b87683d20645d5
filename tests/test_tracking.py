"""Experiment tracking (``--report-to``): what TensorBoard and MLflow hold is read back and compared
with the run folder (metrics.json, history.json); bad values get one line; a failing tracker costs
nothing but its logs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo_core.cli import cli
from zoo_core.engine.pipeline import finetune
from zoo_core.testing.tiny import TINY_IMAGE

# A short L2 grid keeps the closed-form probe quick; it still reports one history record per strength.
PROBE = {"method_options": {"features": "last", "l2_grid": [1.0, 0.01]}}
ADAMW = {"method_options": {"features": "last", "solver": "adamw"}, "epochs": 2, "num_workers": 0}


def read_tensorboard(folder: Path) -> dict:
    """Scalars ``{tag: {step: value}}``, image tags and hyper-parameters from every event file under ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    out: dict = {"scalars": {}, "images": {}, "hparams": {}}
    for events in sorted({p.parent for p in folder.rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out["scalars"][tag] = {e.step: e.value for e in acc.Scalars(tag)}
        for tag in acc.Tags()["images"]:
            out["images"][tag] = [(e.step, e.width, e.height) for e in acc.Images(tag)]
        try:
            contents = acc.PluginTagToContent("hparams").values()
        except KeyError:  # no hyper-parameters in this folder's events
            contents = []
        for content in contents:
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            for name, value in data.session_start_info.hparams.items():
                out["hparams"][name] = getattr(value, value.WhichOneof("kind"))
    return out


def read_mlflow(uri: str, run_id: str) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    history = {key: {m.step: m.value for m in client.get_metric_history(run_id, key)} for key in run.data.metrics}
    artifacts = sorted(a.path for a in client.list_artifacts(run_id))
    return {"params": run.data.params, "history": history, "status": run.info.status, "artifacts": artifacts}


def epoch_values(history: list[dict], key: str) -> dict[int, float]:
    return {h["epoch"]: h[key] for h in history if isinstance(h.get(key), float)}


@pytest.mark.slow  # trains a model
def test_tensorboard_and_mlflow_hold_the_run_folders_numbers(tiny_zoo, image_folder, tmp_path):
    from zoo_core.testing.tiny import write_image_folder

    test = write_image_folder(tmp_path / "test", per_class=4, seed=1)
    for a, b in (("class_0", "class_1"), ("class_1", "class_2")):  # two wrong labels: final numbers below 1
        (test / a / "0.png").rename(test / b / f"from_{a}.png")
    result = finetune(
        TINY_IMAGE,
        image_folder,
        test=test,
        zoo=tiny_zoo,
        run_dir=tmp_path / "run",
        report_to="tensorboard,mlflow",
        **PROBE,
    )
    run = Path(result.run_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 2 and result.adapter  # the closed-form probe: one record per L2 strength
    assert metrics["eval_split"] == "test" and metrics["accuracy"] < 1
    final = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "best_epoch": metrics["best_epoch"]}
    final["num_samples"] = metrics["num_samples"]

    assert result.tracking["tensorboard"] == str(run / "tensorboard")
    board = read_tensorboard(run / "tensorboard")
    for key, value in final.items():  # TensorBoard stores float32
        assert board["scalars"][f"final/{key}"] == {2: pytest.approx(value, rel=1e-6)}, key
    for key in ("train_loss", "val_loss", "val_accuracy", "l2"):
        assert board["scalars"][key] == pytest.approx(epoch_values(history, key), rel=1e-6), key
    assert "lr" not in board["scalars"]  # the closed-form fit has no learning rate: None is not logged
    assert set(board["images"]) == {"plots/learning_curves", "plots/confusion_matrix"}
    assert board["hparams"]["model"] == TINY_IMAGE and board["hparams"]["method"] == "linear_probe"
    assert board["hparams"]["method/l2_grid"] == "[1.0, 0.01]" and board["hparams"]["data"] == str(image_folder)
    assert board["hparams"]["eval_split"] == "test" and board["hparams"]["test_data"] == str(test)
    assert "train/lr" in board["hparams"]

    uri = result.tracking["mlflow"]
    assert uri == f"sqlite:///{run / 'mlruns' / 'mlflow.db'}"
    store = read_mlflow(uri, result.tracking["mlflow_run_id"])
    for key, value in final.items():  # MLflow stores doubles: equal, not close
        assert store["history"][f"final/{key}"] == {2: value}, key
    for key in ("train_loss", "val_loss", "val_accuracy", "val_macro_f1", "l2"):
        assert store["history"][key] == epoch_values(history, key), key
    params = store["params"]
    assert params["model"] == TINY_IMAGE and params["method/features"] == "last" and params["shots"] == "None"
    assert params["train/seed"] == "0" and params["head/dropout"] == "0.1"
    assert store["status"] == "FINISHED"
    assert {"confusion_matrix.png", "learning_curves.png", "metrics.json"} <= set(store["artifacts"])
    print("read back:", json.dumps({"metrics.json": final, "tensorboard": board["scalars"], "mlflow": store}))


@pytest.mark.slow  # trains a model
def test_cli_logs_epochs_live_into_a_shared_tracking_dir(tiny_catalog, image_folder, tmp_path, monkeypatch):
    from zoo_core.engine import tracking

    tracks = tmp_path / "tracks"
    seen_before_the_end = {}
    log_outcome = tracking.Tracking.log_outcome

    def spy(self, outcome):  # what the event files hold before the run's end: the trainer's live epochs
        seen_before_the_end.update(read_tensorboard(tracks)["scalars"])
        log_outcome(self, outcome)

    monkeypatch.setattr(tracking.Tracking, "log_outcome", spy)
    args = ["--catalog", str(tiny_catalog), "finetune", "-m", "tiny-image", "-d", str(image_folder)]
    args += ["-o", "features=last", "-o", "solver=adamw", "--epochs", "2", "--report-to", "tensorboard"]
    result = CliRunner().invoke(cli, [*args, "--tracking-dir", str(tracks), "--name", "tracked"])
    assert result.exit_code == 0, result.output
    run = Path(next(line for line in result.stdout.splitlines() if line.startswith("run folder: "))[12:])
    logdir = tracks / "tensorboard" / run.name  # DIR/tensorboard/<run name>: many runs side by side
    assert f"tracking: tensorboard in {logdir} (tensorboard --logdir {tracks / 'tensorboard'})" in result.stderr
    assert not (run / "tensorboard").exists()
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    for key in ("train_loss", "val_loss", "val_macro_f1", "lr", "seconds"):
        assert seen_before_the_end[key] == pytest.approx(epoch_values(history, key), rel=1e-6), key
    scalars = read_tensorboard(logdir)["scalars"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert scalars["final/accuracy"] == {2: pytest.approx(metrics["accuracy"], rel=1e-6)}
    assert scalars["train_loss"] == seen_before_the_end["train_loss"]  # not logged twice


@pytest.mark.slow  # trains a model
def test_a_tracker_failing_mid_run_is_warned_about_and_the_run_goes_on(tiny_zoo, image_folder, monkeypatch):
    from accelerate.tracking import TensorBoardTracker

    def full_disk(self, values, step=None, **kwargs):
        raise OSError("No space left on device\nmore detail")

    monkeypatch.setattr(TensorBoardTracker, "log", full_disk)
    lines: list[str] = []
    result = finetune(
        TINY_IMAGE, image_folder, zoo=tiny_zoo, name="kept", report_to=["tensorboard"], log=lines.append, **ADAMW
    )
    warning = (
        "tracking: tensorboard failed while logging (OSError: No space left on device); "
        "it logs nothing more, the run goes on"
    )
    assert [line for line in lines if "failed" in line] == [warning] and warning in result.notes
    assert result.adapter == "kept@1" and (Path(result.run_dir) / "metrics.json").is_file()
    assert len(result.history) == 2


def test_a_tracker_that_cannot_start_stops_the_run_before_training(tiny_zoo, image_folder, monkeypatch):
    from accelerate.tracking import TensorBoardTracker

    from zoo_core.errors import ZooError

    def read_only(self):
        raise PermissionError("[Errno 13] Permission denied: 'runs'")

    monkeypatch.setattr(TensorBoardTracker, "start", read_only)
    with pytest.raises(ZooError) as caught:
        finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, report_to="tensorboard", **ADAMW)
    assert str(caught.value) == (
        "--report-to tensorboard: the tracker could not start (PermissionError: [Errno 13] Permission denied: "
        "'runs'); check that --tracking-dir (or the run folder) is writable"
    )


def test_bad_report_to_values_get_one_line(tiny_catalog, image_folder):
    base = ["--catalog", str(tiny_catalog), "finetune", "-m", "tiny-image", "-d", str(image_folder)]
    result = CliRunner().invoke(cli, [*base, "--report-to", "tensorboard,tensorbord"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: --report-to: unknown tracker 'tensorbord'. Did you mean 'tensorboard'? "
        "Known: tensorboard, mlflow, wandb"
    )
    result = CliRunner().invoke(cli, [*base, "--tracking-dir", "logs"])
    assert result.exit_code == 1 and "--tracking-dir says where trackers write; name them with --report-to" in (
        result.stderr
    )
    if importlib.util.find_spec("wandb") is None:
        result = CliRunner().invoke(cli, [*base, "--report-to", "wandb"])
        assert result.exit_code == 1
        assert result.stderr.strip() == "Error: --report-to wandb needs the wandb package: pip install wandb"


def test_report_to_is_parsed_and_off_by_default():
    from zoo_core.engine.settings import FinetuneConfig
    from zoo_core.engine.tracking import parse_report_to

    assert parse_report_to(["tensorboard, MLflow", "tensorboard"]) == ["tensorboard", "mlflow"]
    assert parse_report_to(None) == parse_report_to("") == FinetuneConfig().report_to == []


def test_trackers_are_imported_only_when_asked_for():
    import subprocess
    import sys

    code = (
        "import sys, zoo_core.engine.pipeline, zoo_core.engine.tracking;"
        "print([m for m in ('mlflow', 'tensorboard', 'wandb', 'accelerate.tracking') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
