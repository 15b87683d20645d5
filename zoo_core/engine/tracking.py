"""Experiment tracking for a fine-tune (``--report-to tensorboard|mlflow|wandb``), through Accelerate's trackers.

What a tracked run holds:

- hyper-parameters, at the start: ``model``, ``data`` (and ``val_data``, ``test_data`` when given),
  ``method``, every method option as ``method/<name>``, every training setting as ``train/<name>``,
  ``head`` and ``head/<name>``, ``seed``, ``shots``, ``pretrained``, ``eval_split``, ``num_train``,
  ``num_eval``;
- per-epoch values with step = epoch: the run folder's ``history.json`` records (``train_loss``,
  ``val_loss``, ``val_accuracy``, ``val_macro_f1``, ``lr``, ``seconds``; ``l2`` for each point of the
  linear probe's L2 grid), live from the trainer through ``accelerator.log``, or after the fit for
  methods that train on their own (closed-form probes, prototypes);
- final metrics as ``final/<name>``: the numbers of the run folder's ``metrics.json`` (``accuracy``,
  ``macro_f1``, ``num_samples``, ``best_epoch``), at step = the number of epochs; per-class values
  and the confusion matrix stay in ``metrics.json``;
- the run folder's plots: TensorBoard images ``plots/<name>``, W&B images, MLflow artefacts (with
  the run folder's JSON files).

Where the logs go: inside the run folder (``<run>/tensorboard``; an MLflow SQLite store
``<run>/mlruns/mlflow.db`` with artefacts in ``<run>/mlruns/artifacts``; W&B's local files in
``<run>/wandb``), or under ``tracking_dir`` shared by many runs (``DIR/tensorboard/<run name>``,
``DIR/mlruns``, ``DIR/wandb``). Without ``tracking_dir``, MLflow uses ``MLFLOW_TRACKING_URI`` (or
``mlflow.set_tracking_uri``) when set, and the experiment is ``transfer-zoo`` unless
``MLFLOW_EXPERIMENT_NAME`` says otherwise; W&B's project is ``transfer-zoo`` unless ``WANDB_PROJECT``.

A tracker that fails to start stops the run before training (nothing is lost); one that fails later
is warned about in one line and dropped, and the run, its folder and its adapter go on.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.engine.runs import default_run_folder
from zoo_core.errors import ZooError, did_you_mean, first_line

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.engine.pipeline import PreparedRun
    from zoo_core.engine.settings import FinetuneResult

TRACKERS = ("tensorboard", "mlflow", "wandb")
PROJECT = "transfer-zoo"
FINAL = "final/"  # prefix of the final metrics, e.g. final/accuracy
_START_HINTS = {
    "tensorboard": "check that --tracking-dir (or the run folder) is writable",
    "mlflow": "check MLFLOW_TRACKING_URI (or --tracking-dir), or end the mlflow run already active",
    "wandb": "run wandb login, or set WANDB_MODE=offline",
}


def parse_report_to(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Tracker names from ``"tensorboard,mlflow"`` or a list of such strings; checked, in order, without repeats."""
    items = [value] if isinstance(value, str) else list(value or [])
    names: list[str] = []
    for item in items:
        for name in (part.strip().lower() for part in str(item).split(",")):
            if name and name not in names:
                names.append(name)
    for name in names:
        if name not in TRACKERS:
            raise ZooError(
                f"--report-to: unknown tracker '{name}'.{did_you_mean(name, TRACKERS)} Known: {', '.join(TRACKERS)}"
            )
        if importlib.util.find_spec(name) is None:  # each tracker's package has the tracker's name
            raise ZooError(f"--report-to {name} needs the {name} package: pip install {name}")
    return names


def check_tracking(report_to: Any, tracking_dir: Any) -> list[str]:
    """The trackers asked for, or a one-line error; before any data is read or model built."""
    names = parse_report_to(report_to)
    if tracking_dir and not names:
        raise ZooError("--tracking-dir says where trackers write; name them with --report-to tensorboard|mlflow|wandb")
    return names


def hyperparameters(run: PreparedRun) -> dict[str, Any]:
    """What the run was asked to do, flat: values trackers store as hyper-parameters (str, int, float, bool)."""
    config = run.config
    values: dict[str, Any] = {
        "model": run.entry.id,
        "data": run.splits.train.source,
        **({"val_data": config.val} if config.val else {}),
        **({"test_data": config.test} if config.test else {}),
        "method": config.method,
        "head": config.head,
        "seed": config.seed,
        "shots": config.shots,
        "pretrained": config.pretrained,
        "eval_split": run.eval_split,
        "num_train": len(run.train_data),
        "num_eval": len(run.eval_data),
    }
    values.update({f"method/{k}": v for k, v in run.method.describe()["config"].items()})
    values.update({f"train/{k}": v for k, v in run.fit_config.as_dict().items()})
    values.update({f"head/{k}": v for k, v in run.head_options.items()})
    # TensorBoard's hparams take only str, int, float and bool: None and lists become text.
    return {k: _hparam(v) for k, v in values.items()}


def _hparam(value: Any) -> str | int | float | bool:
    if isinstance(value, (str, int, float, bool)):
        return value
    if value is None or isinstance(value, Path):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _scalars(values: dict[str, Any]) -> dict[str, int | float]:
    """The numbers among ``values`` (trackers take no None; a flag is not a metric)."""
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class Tracking:
    """The trackers of one fine-tune. It sits in the run's ``accelerator.trackers``, so the trainer's
    per-epoch ``accelerator.log`` reaches every tracker; each call is guarded (a failing tracker is
    warned about and dropped). A context manager: the trackers are closed however the run ends."""

    name = "transfer-zoo"  # what Accelerate's log() looks up per-tracker kwargs by

    def __init__(self, run: PreparedRun | None = None, folder: Path | None = None, names: tuple[str, ...] = ()):
        self.run = run
        self.folder = folder
        self.names = names
        self.active: dict[str, Any] = {}  # tracker name -> Accelerate tracker, while it works
        self.where: dict[str, str] = {}
        self.logged_steps: set[int] = set()
        self._restore_mlflow_uri: list[Any] = []  # [previous URI] when this run set mlflow's

    @property
    def tracker(self) -> Tracking:
        return self

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> Tracking:
        """Start every tracker and store the hyper-parameters; one that cannot start is a ZooError."""
        run = self.run
        assert run is not None and self.folder is not None
        params = hyperparameters(run)
        for name in self.names:
            try:
                tracker = self._make(name)
                tracker.start()
                self.active[name] = tracker
                tracker.store_init_configuration(params)
                self.where.update(self._where(name, tracker))
            except Exception as exc:
                self.close(failed=True)
                raise ZooError(
                    f"--report-to {name}: the tracker could not start ({first_line(exc)}); {_START_HINTS[name]}"
                ) from exc
        run.accelerator.trackers.append(self)
        shown = "; ".join(self._describe(name) for name in self.active)
        run.log(f"tracking: {shown}")
        return self

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.close(failed=exc_type is not None)

    def close(self, failed: bool = False) -> None:
        """Finish every tracker (an MLflow run as FAILED when the fine-tune raised) and detach from the accelerator."""
        if self.run is not None and self in self.run.accelerator.trackers:
            self.run.accelerator.trackers.remove(self)
        for name in list(self.active):
            tracker = self.active.pop(name)
            try:
                if failed and name == "mlflow":
                    import mlflow

                    mlflow.end_run(status="FAILED")
                else:
                    tracker.finish()
            except Exception as exc:
                self._warn(name, "closing", exc)
        if self._restore_mlflow_uri:
            import mlflow

            # set_tracking_uri(None) is how mlflow forgets a URI it was given (typed str only).
            set_uri: Any = mlflow.set_tracking_uri
            set_uri(self._restore_mlflow_uri.pop())

    # -------------------------------------------------------------------------------- logging
    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        """Per-epoch values, as Accelerate's ``accelerator.log`` passes them (step = epoch)."""
        if step is not None:
            self.logged_steps.add(step)
        self._each("logging", lambda name, tracker: tracker.log(_scalars(values), step=step))

    def log_outcome(self, outcome: FinetuneResult) -> None:
        """After the run folder is written: epochs the trainer did not log live, final metrics, plots."""
        outcome.tracking = dict(self.where)
        if not self.active:
            return
        for index, record in enumerate(outcome.history):
            step = int(record.get("epoch", index + 1))
            if step not in self.logged_steps:  # methods that fit on their own report epochs only at the end
                self.log({k: v for k, v in record.items() if k != "epoch"}, step=step)
        step = len(outcome.history)
        final = {**outcome.metrics, "best_epoch": outcome.best_epoch}  # metrics.json's numbers
        values = {f"{FINAL}{k}": v for k, v in _scalars(final).items()}
        self._each("logging final metrics", lambda name, tracker: tracker.log(values, step=step))
        if outcome.run_dir:
            folder = Path(outcome.run_dir)
            self._each("logging plots", lambda name, tracker: _log_files(name, tracker, folder, step))

    def _each(self, what: str, call: Any) -> None:
        for name, tracker in list(self.active.items()):
            try:
                call(name, tracker)
            except Exception as exc:
                self.active.pop(name, None)
                self._warn(name, what, exc)
                try:  # end its run, so that the next run in this process can start one
                    tracker.finish()
                except Exception:
                    pass

    def _warn(self, name: str, what: str, exc: Exception) -> None:
        message = f"tracking: {name} failed while {what} ({first_line(exc)}); it logs nothing more, the run goes on"
        if self.run is not None:
            self.run.log(message)
            self.run.notes.append(message)

    # ------------------------------------------------------------------------------- trackers
    def _base(self) -> Path:
        assert self.folder is not None
        tracking_dir = self.run.config.tracking_dir if self.run is not None else None
        return (Path(tracking_dir) if tracking_dir else self.folder).absolute()  # the paths shown work from anywhere

    def _shared(self) -> bool:
        return bool(self.run is not None and self.run.config.tracking_dir)

    def _make(self, name: str) -> Any:
        from accelerate.tracking import MLflowTracker, TensorBoardTracker, WandBTracker

        assert self.folder is not None
        base = self._base()
        if name == "tensorboard":
            # Logs in <logging_dir>/<run_name>: <run>/tensorboard, or DIR/tensorboard/<run name>.
            if self._shared():
                return TensorBoardTracker(self.folder.name, base / "tensorboard")
            return TensorBoardTracker("tensorboard", base)
        if name == "mlflow":
            import mlflow

            artifacts = None
            if self._shared() or not mlflow.is_tracking_uri_set():
                # MLflow 3 refuses a file store unless told to; SQLite is its recommended local store.
                store = base / "mlruns"
                store.mkdir(parents=True, exist_ok=True)
                self._restore_mlflow_uri.append(mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None)
                mlflow.set_tracking_uri(f"sqlite:///{(store / 'mlflow.db').as_posix()}")
                artifacts = (store / "artifacts").as_uri()
            return MLflowTracker(experiment_name=PROJECT, logging_dir=artifacts, run_name=self.folder.name)
        base.mkdir(parents=True, exist_ok=True)  # wandb writes <dir>/wandb
        project = os.environ.get("WANDB_PROJECT", PROJECT)
        return WandBTracker(project, dir=str(base), name=self.folder.name)

    def _where(self, name: str, tracker: Any) -> dict[str, str]:
        if name == "tensorboard":
            return {"tensorboard": str(tracker.logging_dir)}
        if name == "mlflow":
            import mlflow

            return {"mlflow": mlflow.get_tracking_uri(), "mlflow_run_id": tracker.active_run.info.run_id}
        return {"wandb": str(getattr(tracker.run, "url", None) or getattr(tracker.run, "dir", ""))}

    def _describe(self, name: str) -> str:
        where = self.where
        if name == "tensorboard":
            logdir = Path(where["tensorboard"]).parent if self._shared() else where["tensorboard"]
            return f"tensorboard in {where['tensorboard']} (tensorboard --logdir {logdir})"
        if name == "mlflow":
            uri = where["mlflow"]
            view = f" (mlflow ui --backend-store-uri {uri})" if uri.startswith("sqlite:") else ""
            return f"mlflow run {where['mlflow_run_id']} in {uri}{view}"
        return f"wandb run {where['wandb']}"


def _log_files(name: str, tracker: Any, folder: Path, step: int) -> None:
    """The run folder's plots (and, for MLflow, its JSON files) on one tracker."""
    plots = sorted(folder.glob("*.png"))
    if name == "mlflow":
        for path in plots + sorted(folder.glob("*.json")):
            tracker.log_artifact(str(path))
        return
    import numpy as np
    from PIL import Image

    images = {}
    for path in plots:
        with Image.open(path) as image:
            images[f"plots/{path.stem}"] = np.asarray(image.convert("RGB"))
    if name == "tensorboard":
        for tag, array in images.items():
            tracker.writer.add_image(tag, array, global_step=step, dataformats="HWC")
        tracker.writer.flush()
    elif name == "wandb":
        tracker.log_images({tag: [array] for tag, array in images.items()}, step=step)


def start_tracking(run: PreparedRun) -> Tracking:
    """Start the trackers ``run.config.report_to`` names (on the main process); an inert one when none.

    The logs live in the run folder, so its path is fixed now rather than when it is written (with
    ``save=False`` it holds the logs alone).
    """
    config = run.config
    names = check_tracking(config.report_to, config.tracking_dir)
    if not names or not run.accelerator.is_main_process:
        return Tracking()
    folder = Path(config.run_dir or default_run_folder(config.name or run.entry.short_name, config.method))
    if config.save or config.run_dir:
        run.config = replace(config, run_dir=folder)
    return Tracking(run, folder, tuple(names)).start()
