"""Which task a ``zoo finetune``, ``zoo evaluate`` or ``zoo predict`` runs, and the dense tasks' side of them.

Classification (the task of class-folder and table data, and of adapters recording a
``*-classification`` task or none) keeps the classification pipeline's own code path; another task
(``object-detection``, ``semantic-segmentation``) runs its plugin's runner (``TaskSpec.runner``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from zoo_core.commands._shared import _echo_err, emit_json, get_zoo
from zoo_core.errors import ZooError


def _is_classification(task: str | None) -> bool:
    return task is None or task.endswith("-classification")


def _classification_layout(data: str) -> str:
    """The reader name of classification data (a task plugin may read it too): ``folders`` for a
    folder of class folders, else the table's suffix (``csv``, ``tsv``, ``jsonl``)."""
    path = Path(data)
    return "folders" if path.is_dir() else path.suffix.lower().lstrip(".")


def _runner(spec: Any) -> Any:
    from zoo_core.specs import load_spec_object

    if spec.runner is None or spec.status != "supported":
        raise ZooError(
            f"task '{spec.name}' ({spec.status}, from {spec.plugin}) has no runner, so zoo cannot train it; "
            "'zoo tasks list' shows the tasks"
        )
    return load_spec_object(spec, "runner")


def finetune_task(task: str | None, data: str, model_id: str) -> tuple[Any, Any, str | None] | None:
    """``(spec, runner, note)`` of the task ``zoo finetune`` runs when it is not classification;
    None for classification (the data's layout, or ``--task``, says so). Bad pairs are one line."""
    from zoo_core.data.dense import detect_dense_layout, task_of_layout

    zoo = get_zoo()
    layout = detect_dense_layout(data)
    note = None
    if task is None:
        if layout is None:
            return None  # class folders or a table: classification, exactly as before tasks existed
        if layout == "voc" and any(p.name.lower() == "segmentationclass" for p in Path(data).iterdir()):
            raise ZooError(
                f"{data} holds both boxes (Annotations/) and masks (SegmentationClass/); "
                "choose with --task object-detection or --task semantic-segmentation"
            )
        task = task_of_layout(layout)
        note = f"task {task}, from the {layout} layout of {data} (--task chooses another)"
    spec = zoo.get("tasks", task)
    entry = zoo.catalog.get(model_id)
    if spec.modality not in (entry.modality, "any"):
        raise ZooError(
            f"model '{entry.id}' is a {entry.modality} model, but {task} needs an {spec.modality} model "
            f"(zoo models list --task {task})"
        )
    runner = _runner(spec)
    if getattr(runner, "classification", False):
        return None
    if (layout or _classification_layout(data)) not in spec.readers:
        found = "class folders or a table" if layout is None else f"the {layout} layout of {task_of_layout(layout)}"
        raise ZooError(
            f"{data} is not {task} data (it holds {found}); {task} reads the layouts {', '.join(spec.readers)}"
        )
    return spec, runner, note


#: finetune flags that only the classification pipeline takes, and their unset values.
CLASSIFICATION_FLAGS = {
    "unlabeled": None,
    "tapt_steps": None,
    "weight_decay": None,
    "schedule": None,
    "warmup": None,
    "patience": None,
    "grad_accum": None,
    "label_smoothing": None,
    "class_weights": None,
    "ema_decay": None,
    "augment": None,
    "hflip": None,
    "head": "linear",
    "dropout": 0.1,
    "shots": None,
    "repeat": 1,
    "tune_trials": None,
    "tune_minutes": None,
    "report_to": (),
    "tracking_dir": None,
    "text_column": None,
    "label_column": None,
    "delimiter": None,
    "encoding": None,
}


def augmentation_flags(model_id: str, augment: str | None, hflip: float | None) -> dict[str, Any]:
    """``--augment``/``--hflip`` as backbone options; refused (one line) for a model that is not an image model."""
    options = {name: value for name, value in (("augment", augment), ("hflip", hflip)) if value is not None}
    if options:
        entry = get_zoo().catalog.get(model_id)
        if entry.modality != "image":
            flags = "/".join(f"--{name}" for name in options)
            raise ZooError(f"{flags}: '{entry.id}' is a {entry.modality} model; these apply to image models only")
    return options


def run_dense_finetune(
    spec: Any, runner: Any, note: str | None, model_id: str, data: str, flags: dict[str, Any], as_json: bool
) -> None:
    """``zoo finetune`` of a dense task: refuse classification-only flags, run, report."""
    given = sorted(k for k, unset in CLASSIFICATION_FLAGS.items() if flags.get(k, unset) not in (unset, None, ()))
    if given:
        names = ", ".join("--" + k.replace("_", "-").replace("tune-trials", "tune") for k in given)
        raise ZooError(f"{names}: not for {spec.name} (classification only); drop it")
    log = (lambda message: None) if as_json else _echo_err
    if note and not as_json:
        _echo_err(f"note: {note}")
    settings = {
        k: flags[k] for k in ("val", "test", "name", "epochs", "lr", "batch_size", "max_skipped_fraction") if flags[k]
    }
    result = runner.finetune(
        model_id,
        data,
        zoo=get_zoo(),
        log=log,
        method=flags["method"],
        method_options=flags["method_options"],
        task_options=flags["task_options"],
        seed=flags["seed"],
        save=flags["save"],
        pretrained=flags["pretrained"],
        progress=not as_json,
        **settings,
    )
    if as_json:
        emit_json({**result.as_dict(), "notes": [*([note] if note else []), *result.notes]})
        return
    from zoo_core.engine.dense.pipeline import format_metrics

    for line in result.notes:
        click.echo(f"note: {line}")
    click.echo(f"{spec.name} on the {result.eval_split} split ({result.train_seconds:.1f}s training):")
    click.echo(format_metrics(spec.name, result.metrics))
    if result.adapter:
        click.echo(f"adapter saved as {result.adapter} in {result.adapter_path}")
    run_dir = getattr(result, "run_dir", None)  # a plugin task's result may have none
    if run_dir:
        click.echo(f"run folder: {run_dir} (curves, a few drawn predictions)")


def adapter_runner(adapter: str) -> tuple[Any, Any] | None:
    """``(spec, runner)`` of a stored adapter's task when it is not classification, else None."""
    from zoo_core.store import AdapterStore

    task = AdapterStore().resolve(adapter).metadata().get("task")
    if _is_classification(task):
        return None
    spec = get_zoo().get("tasks", task)
    return spec, _runner(spec)


def run_dense_evaluate(spec: Any, runner: Any, adapter: str, data: str, allow_base_mismatch: bool, as_json: bool):
    from zoo_core.engine.dense.pipeline import format_metrics

    metrics = runner.evaluate(adapter, data, zoo=get_zoo(), allow_base_mismatch=allow_base_mismatch)
    if as_json:
        emit_json(metrics)
        return
    where = "every image" if metrics["split"] == "all" else f"its {metrics['split']} split"
    click.echo(f"{spec.name}: {metrics['adapter']} on {where} of {data}")
    click.echo(format_metrics(spec.name, metrics))


def run_dense_predict(spec: Any, runner: Any, adapter: str, inputs: Any, options: dict[str, Any], as_json: bool):
    rows = runner.predict(adapter, list(inputs), zoo=get_zoo(), **options)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(json.dumps(row))
