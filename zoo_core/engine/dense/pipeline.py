"""The runners of object detection and semantic segmentation: ``finetune``, ``evaluate``, ``predict``.

The stages are the classification pipeline's: prepare (read the data with the dense readers, build
the backbone, apply the method through the method contract, build the detector or segmenter on
it) -> fit (:func:`~zoo_core.engine.dense.train_detector` / ``train_segmenter``) -> evaluate (on
the test split, else validation, with the same note) -> save (a verified adapter recording its
task, :mod:`zoo_core.engine.dense.adapters`).

Methods: the method prepares ``TransferModel(backbone, Identity)`` (PEFT methods inject into
``backbone.model``; ``full``, ``bitfit``, ``ln_tuning``, ``bottleneck`` choose what trains), and
the task model is built with ``freeze_backbone=None`` so those choices hold; the task head always
trains. ``linear_probe`` means "head only" here: the backbone stays frozen and only the FPN and
detection head (or the decoder) train, with the dense trainer (its solver and feature options do
not apply). Methods built on pooled features or their own loops (few-shot, contrastive, zero-shot,
domain adaptation) are refused with one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo_core.errors import DataError, ZooError

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

DETECTION, SEGMENTATION = "object-detection", "semantic-segmentation"
#: The task head's build options (``--task-option key=value``) and their defaults, per task.
TASK_OPTIONS: dict[str, dict[str, Any]] = {
    DETECTION: {
        "kind": "fcos",
        "min_size": 512,
        "max_size": 853,
        "fpn_channels": 256,
        "score_thresh": 0.05,
        "detections_per_img": 100,
    },
    SEGMENTATION: {"decoder": "fpn", "image_size": 256, "pyramid_channels": 256, "segmentation_channels": 128},
}
#: Methods that cannot train a dense head, and why (one line each).
REFUSED = {
    "protonet": "it classifies pooled features by class prototypes",
    "fomaml": "it meta-learns a classifier on pooled features",
    "contrastive": "its pair loss trains pooled sentence/image embeddings",
    "zero_shot": "it compares pooled text embeddings with label names",
}
#: Method options that need the classification trainer's hooks (dense training has none of them).
CLASSIFICATION_ONLY_OPTIONS = {
    "linear_probe": ("solver", "features", "l2_grid"),
    "full": ("head_init",),  # gradual_unfreeze, layer_decay and l2_sp reach the dense loop (method_hooks)
}


@dataclass
class DenseConfig:
    """What a dense ``finetune`` takes (``runner.finetune(model, data, **settings)``): unset training
    settings (``epochs``, ``lr``, ``batch_size``) keep train_detector's / train_segmenter's defaults."""

    method: str = "linear_probe"
    method_options: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    val: str | None = None
    test: str | None = None
    name: str | None = None
    seed: int = 0
    save: bool = True
    pretrained: bool = True
    offline: bool | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    val_fraction: float = 0.2
    max_skipped_fraction: float | None = None
    progress: bool | None = None
    backbone_options: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None  # default (when saving): $ZOO_HOME/runs/<name>-<method>-<time>


@dataclass
class DenseResult:
    """A dense fine-tune's outcome: the metrics on ``eval_split``, the training history, the adapter."""

    task: str
    model: str
    method: str
    metrics: dict[str, Any]
    eval_split: str
    history: dict[str, Any]
    train_seconds: float
    notes: list[str] = field(default_factory=list)
    adapter: str | None = None
    adapter_path: str | None = None
    is_main_process: bool = True
    run_dir: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k.name: getattr(self, k.name) for k in fields(self)}


def format_metrics(task: str, metrics: dict[str, Any]) -> str:
    """The report ``zoo finetune`` and ``zoo evaluate`` print."""

    def number(value: Any) -> str:
        if value is None:
            return "-"
        return str(value) if isinstance(value, int) else f"{value:.4f}"

    if task == DETECTION:
        lines = [f"mAP {number(metrics.get('map'))}  mAP@.5 {number(metrics.get('map_50'))}"]
        lines += [
            f"  AP {name}: {number(ap.get('ap'))}  AP@.5 {number(ap.get('ap_50'))}"
            for name, ap in sorted(metrics.get("per_class", {}).items())
        ]
        lines.append(f"{metrics.get('num_images', 0)} images, {metrics.get('num_boxes', 0)} boxes")
    elif task == SEGMENTATION:
        lines = [f"mIoU {number(metrics.get('miou'))}  pixel accuracy {number(metrics.get('pixel_accuracy'))}"]
        lines += [f"  IoU {name}: {number(iou)}" for name, iou in sorted(metrics.get("per_class_iou", {}).items())]
    else:  # a plugin's task: its numbers, by name (the whole result is in --json)
        lines = [
            f"{key} {number(value)}"
            for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        ]
    return "\n".join(lines)


def task_options(task: str, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (strings from the CLI, or values) converted to the defaults' types; unknown keys refused."""
    defaults = TASK_OPTIONS[task]
    options = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ZooError(f"{task} has no task option '{key}'; it takes {', '.join(defaults)}")
        kind = type(defaults[key])
        try:
            options[key] = kind(value)
        except (TypeError, ValueError):
            raise ZooError(f"task option {key}={value!r} is not a {kind.__name__}") from None
    return options


def check_method(zoo: Zoo, task: str, name: str, given: dict[str, Any]) -> Any:
    """The method's instance, or a one-line refusal when it cannot train a dense head."""
    from zoo_core.engine.settings import method_options
    from zoo_core.specs import load_spec_object

    if name == "auto":
        raise ZooError(f"--method auto chooses among classification methods; name one for {task}: linear_probe, lora")
    spec = zoo.get("methods", name)
    reason = REFUSED.get(name)
    if reason is None and spec.uses_unlabeled_data:
        reason = "domain adaptation aligns pooled features of unlabelled target data"
    options = method_options(spec, given)
    method = load_spec_object(spec)(**options)
    if reason is None and method.accepts_support_set:
        reason = "it classifies by a support set of pooled features"
    if reason is None and method.uses_feature_cache and name != "linear_probe":
        reason = "it trains on cached pooled features"
    if reason is None and method.follows_planned_schedule:
        reason = "its schedule needs the classification trainer's step hooks"
    if reason is not None:
        raise ZooError(f"method '{name}' cannot apply to {task}: {reason}; use linear_probe, full, lora or bitfit")
    bad = sorted(set(given) & set(CLASSIFICATION_ONLY_OPTIONS.get(name, ())))
    if bad:
        raise ZooError(
            f"option {', '.join(bad)} of method '{name}' needs the classification trainer; drop it for {task}"
        )
    return method


class DenseRunner:
    """The runner of one dense task (:data:`DETECTION` or :data:`SEGMENTATION`)."""

    classification = False

    def __init__(self, task: str):
        self.task = task

    def __repr__(self) -> str:
        return f"DenseRunner({self.task!r})"

    # ------------------------------------------------------------------------------- data
    def load(self, data: str | Path, config: DenseConfig) -> dict[str, Any]:
        """``{"train", "val"?, "test"?}``: the layout's own splits, ``--val``/``--test`` on top."""
        from zoo_core.data.dense import (
            load_detection,
            load_detection_splits,
            load_segmentation,
            load_segmentation_splits,
        )

        fraction = 0.0 if config.val else config.val_fraction
        skip = config.max_skipped_fraction
        if self.task == DETECTION:
            splits: dict[str, Any] = load_detection_splits(
                data, val_fraction=fraction, seed=config.seed, max_skipped_fraction=skip
            )
            read: Callable[[str], Any] = lambda path: load_detection(path, max_skipped_fraction=skip)  # noqa: E731
        else:
            splits = load_segmentation_splits(data, val_fraction=fraction, seed=config.seed, max_skipped_fraction=skip)
            read = lambda path: load_segmentation(path, max_skipped_fraction=skip)  # noqa: E731
        if config.val:
            splits["val"] = read(config.val)
        if config.test:
            splits["test"] = read(config.test)
        return splits

    def build(self, backbone: Any, labels: Sequence[str], options: dict[str, Any], ignore: int | None) -> nn.Module:
        from zoo_core.engine.dense.adapters import build_task_model

        return build_task_model(self.task, backbone, labels, self.head(options, ignore))

    def head(self, options: dict[str, Any], ignore: int | None) -> dict[str, Any]:
        """What ``adapter.json`` records of the task head: its name and build options."""
        rest = dict(options)
        name = rest.pop("kind" if self.task == DETECTION else "decoder")
        if self.task == SEGMENTATION:
            rest["ignore_index"] = ignore
        return {"name": name, "options": rest}

    # ------------------------------------------------------------------------------- stages
    def finetune(
        self,
        model: str,
        data: str | Path,
        *,
        zoo: Zoo | None = None,
        log: Callable[[str], None] | None = None,
        **settings: Any,
    ) -> DenseResult:
        """Adapt catalog model ``model`` to the detection or segmentation data at ``data``; evaluate; store."""
        from zoo_core.engine.dense import evaluate_detector, evaluate_segmenter, train_detector, train_segmenter
        from zoo_core.engine.model import TransferModel, build_backbone
        from zoo_core.engine.train import seed_everything
        from zoo_core.plugins import Zoo
        from zoo_core.store import check_adapter_name

        unknown = sorted(set(settings) - {f.name for f in fields(DenseConfig)})
        if unknown:
            raise ZooError(f"{self.task} does not take {', '.join(unknown)}")
        config = DenseConfig(**settings)
        zoo, log = zoo or Zoo(), log or (lambda message: None)
        entry = zoo.catalog.get(model)
        check_model(zoo, entry, self.task)
        method = check_method(zoo, self.task, config.method, config.method_options)
        options = task_options(self.task, config.task_options)
        name = config.name or f"{entry.short_name.replace('/', '-')}-{self.task.split('-')[-1]}-{config.method}"
        if config.save:
            check_adapter_name(name)
        splits = self.load(data, config)
        train = splits["train"]
        notes = list(dict.fromkeys(note for split in splits.values() for note in split.notes))
        eval_split = "test" if "test" in splits else "validation"
        eval_data = splits["test"] if "test" in splits else splits.get("val")
        if eval_data is None or not len(eval_data):
            raise DataError(f"no validation or test data to evaluate on ({train.source}); give --val or --test")
        if eval_split == "validation":
            notes.append("evaluated on the validation split; give --test for an unbiased number")
        seed_everything(config.seed)
        backbone = build_backbone(
            zoo, entry, pretrained=config.pretrained, offline=config.offline, **config.backbone_options
        )
        backbone.feature_maps_only = True  # stage groups (gradual unfreezing, layer decay) end at the last stage
        net = TransferModel(backbone, nn.Identity())
        method.prepare(net)
        ignore = getattr(train, "ignore_index", None)
        task_model: Any = self.build(backbone, list(train.class_names), options, ignore)
        device = "cuda" if torch.cuda.is_available() else None
        train_settings = {k: getattr(config, k) for k in ("epochs", "lr", "batch_size") if getattr(config, k)}
        fit: Callable[..., dict[str, Any]] = train_detector if self.task == DETECTION else train_segmenter
        started = time.perf_counter()
        # The validation split (held out of train, or --val) gives the per-epoch curve of the run folder.
        history = fit(
            task_model,
            train,
            splits.get("val"),
            seed=config.seed,
            log=log,
            progress=config.progress,
            device=device,
            hooks=method_hooks(method, net, task_model),
            **train_settings,
        )
        # Training time without the per-epoch validation passes (as classification reports it).
        seconds = time.perf_counter() - started - sum(e.get("val_seconds", 0.0) for e in history.get("epochs", []))
        evaluate: Callable[..., dict[str, Any]] = evaluate_detector if self.task == DETECTION else evaluate_segmenter
        metrics = evaluate(task_model, eval_data, progress=config.progress)
        result = DenseResult(self.task, entry.id, config.method, metrics, eval_split, history, seconds, notes)
        if config.save:
            from zoo_core.engine.dense.adapters import save_dense_adapter

            metadata = self.metadata(entry, backbone, config, method, options, ignore, train, result)
            samples = [item.image for item in eval_data.items[:VERIFY_SAMPLES]]
            ref = save_dense_adapter(
                zoo, name, self.task, net, method, task_model, metadata, samples, offline=config.offline
            )
            result.adapter, result.adapter_path = str(ref), str(ref.path)
        if config.save or config.run_dir:
            from zoo_core.engine.dense.runs import DRAWN_PREDICTIONS, dense_manifest, write_dense_run_folder
            from zoo_core.engine.runs import default_run_folder

            base = config.name or f"{entry.short_name.replace('/', '-')}-{self.task.split('-')[-1]}"
            folder = Path(config.run_dir or default_run_folder(base, config.method))
            settings_used = {**{k: getattr(config, k) for k in ("epochs", "lr", "batch_size", "seed")}, **options}
            images = [item.image for item in eval_data.items[:DRAWN_PREDICTIONS]]
            # After the adapter is saved: a failure while plotting or drawing costs the pictures, not the model.
            try:
                write_dense_run_folder(
                    folder,
                    self.task,
                    metrics,
                    history,
                    dense_manifest(zoo, entry, backbone, method, settings_used, splits),
                    eval_split=eval_split,
                    draw_predictions=lambda out: self._draw(
                        self._prediction_rows(task_model, list(train.class_names), images, out / "masks"),
                        out,
                        list(train.class_names),
                    ),
                )
            except Exception as exc:  # reported in the result's notes: the run stands
                result.notes.append(f"run folder {folder} is incomplete: {type(exc).__name__}: {exc}")
            result.run_dir = str(folder)
        return result

    def metadata(
        self,
        entry: Any,
        backbone: Any,
        config: DenseConfig,
        method: Any,
        options: dict[str, Any],
        ignore: int | None,
        train: Any,
        result: DenseResult,
    ) -> dict[str, Any]:
        from datetime import datetime, timezone

        from zoo_core import __version__

        keep: tuple[str, ...] = ("map", "map_50", "map_75", "mar_100", "per_class", "num_images", "num_boxes")
        if self.task == SEGMENTATION:
            keep = ("miou", "per_class_iou", "pixel_accuracy", "mean_accuracy", "num_pixels")
        return {
            "task": self.task,
            "base_model": {
                "id": entry.id,
                "family": entry.family,
                "arch": entry.arch,
                "weights_sha256": backbone.weights_sha256,
                "options": config.backbone_options,
            },
            "method": method.describe(),
            "head": self.head(options, ignore),
            "labels": list(train.class_names),
            "metrics": {k: result.metrics[k] for k in keep if k in result.metrics},
            "eval_split": result.eval_split,
            "data": {"fingerprint": train.fingerprint(), "num_train": len(train), "source": str(train.source)},
            "train": {
                "epochs": config.epochs,
                "lr": config.lr,
                "batch_size": config.batch_size,
                "seed": config.seed,
                "steps": result.history.get("steps"),
            },
            "created": datetime.now(timezone.utc).isoformat(),
            "zoo_version": __version__,
        }

    def evaluate(
        self, adapter: str, data: str | Path, *, zoo: Zoo | None = None, allow_base_mismatch: bool = False
    ) -> dict[str, Any]:
        """Metrics of stored adapter ``adapter`` on the dataset at ``data``: its test split when the
        layout has its own splits (else validation), the whole dataset otherwise; ``split`` says which."""
        from zoo_core.engine.dense import evaluate_detector, evaluate_segmenter
        from zoo_core.engine.dense.adapters import load_dense_model
        from zoo_core.plugins import Zoo

        model, metadata = load_dense_model(
            zoo or Zoo(), adapter, allow_base_mismatch=allow_base_mismatch, task=self.task
        )
        splits = self.load(data, DenseConfig(val_fraction=0.0))
        split = next(name for name in ("test", "val", "train") if name in splits)
        evaluate: Callable[..., dict[str, Any]] = evaluate_detector if self.task == DETECTION else evaluate_segmenter
        metrics = evaluate(model, splits[split], progress=False)
        which = "all" if len(splits) == 1 else split
        return {**metrics, "task": self.task, "adapter": metadata["ref"], "split": which}

    def predict(
        self,
        adapter: str,
        inputs: Sequence[str],
        *,
        zoo: Zoo | None = None,
        allow_base_mismatch: bool = False,
        draw: str | Path | None = None,
        mask_dir: str | Path | None = None,
        score_threshold: float = 0.5,
    ) -> list[dict[str, Any]]:
        """One dict per image (``predict_schema`` of the task): boxes, labels and scores, or the path of
        the mask PNG written into ``mask_dir`` (default ``./masks``) and the pixels per class. ``draw``:
        a folder where each image is written with its prediction drawn."""
        from zoo_core.engine.dense.adapters import load_dense_model
        from zoo_core.plugins import Zoo

        missing = [path for path in inputs if not Path(path).is_file()]
        if missing:
            raise DataError(f"{missing[0]} is not an image file ({len(missing)} of the inputs missing)")
        model, metadata = load_dense_model(
            zoo or Zoo(), adapter, allow_base_mismatch=allow_base_mismatch, task=self.task
        )
        labels = metadata["labels"]
        rows = self._prediction_rows(model, labels, inputs, Path(mask_dir or "masks"), score_threshold)
        if draw is not None:
            self._draw(rows, Path(draw), labels)
        return rows

    def _prediction_rows(
        self, model: nn.Module, labels: list[str], inputs: Sequence[str], mask_dir: Path, score_threshold: float = 0.5
    ) -> list[dict[str, Any]]:
        """``predict``'s rows for ``inputs``; segmentation writes each mask PNG into ``mask_dir``."""
        from zoo_core.engine.dense import predict_boxes, predict_masks

        rows: list[dict[str, Any]] = []
        if self.task == DETECTION:
            for path, found in zip(inputs, predict_boxes(model, list(inputs), score_threshold=score_threshold)):
                rows.append({"input": str(path), **found})
            return rows
        import numpy as np
        from PIL import Image

        mask_dir.mkdir(parents=True, exist_ok=True)
        names = output_names(inputs)
        for path, name, mask in zip(inputs, names, predict_masks(model, list(inputs))):  # type: ignore[arg-type]
            out = mask_dir / name
            Image.fromarray(mask.astype(np.uint8 if len(labels) <= 256 else np.uint16)).save(out)
            values, counts = np.unique(mask, return_counts=True)
            rows.append(
                {"input": str(path), "mask": str(out), "counts": {labels[v]: int(c) for v, c in zip(values, counts)}}
            )
        return rows

    def _draw(self, rows: list[dict[str, Any]], folder: Path, labels: list[str]) -> None:
        """Write each row's image with its prediction drawn into ``folder``; the path goes in ``row["drawn"]``."""
        from zoo_core.engine.dense.drawing import draw_boxes, draw_mask

        folder.mkdir(parents=True, exist_ok=True)
        painter = draw_boxes if self.task == DETECTION else draw_mask
        for row, name in zip(rows, output_names([row["input"] for row in rows])):
            row["drawn"] = painter(row["input"], row, folder / name, labels)


VERIFY_SAMPLES = 4  # eval images stored with their outputs, to check every reload


def output_names(inputs: Sequence[str]) -> list[str]:
    """``<stem>.png`` per input, ``<stem>-2.png`` ... where stems repeat (``a/1.jpg``, ``b/1.jpg``):
    one output file per input, none overwritten."""
    seen: dict[str, int] = {}
    names = []
    for path in inputs:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(f"{stem}.png" if seen[stem] == 1 else f"{stem}-{seen[stem]}.png")
    return names


def method_hooks(method: Any, net: Any, task_model: nn.Module) -> Any:
    """The method's optimiser groups, epoch hook and loss term for the dense loop, on ``net`` (the
    ``TransferModel`` the method prepared, sharing its backbone with ``task_model``); the task
    head's own parameters (FPN, detection head, decoder) get the base learning rate."""
    from zoo_core.engine.dense.loop import MethodHooks

    backbone_ids = {id(p) for p in net.parameters()}

    def param_groups(lr: float, weight_decay: float) -> list[dict[str, Any]]:
        groups = list(method.param_groups(net, lr, weight_decay))
        head = [p for p in task_model.parameters() if id(p) not in backbone_ids and p.requires_grad]
        groups.append({"params": [p for p in head if p.ndim > 1], "lr": lr, "weight_decay": weight_decay})
        groups.append({"params": [p for p in head if p.ndim <= 1], "lr": lr, "weight_decay": 0.0})
        return groups

    return MethodHooks(
        param_groups=param_groups,
        on_epoch_start=lambda epoch, epochs: method.on_epoch_start(net, epoch, epochs),
        regularization=lambda: method.regularization(net),
    )


def check_model(zoo: Zoo, entry: Any, task: str) -> None:
    """Refuse, in one line, a model that cannot serve ``task`` (another modality)."""
    spec = zoo.get("tasks", task)
    if entry.modality != spec.modality:
        raise ZooError(
            f"model '{entry.id}' is a {entry.modality} model; {task} needs an {spec.modality} model with feature "
            f"maps (zoo models list --task {task})"
        )


DETECTION_RUNNER = DenseRunner(DETECTION)
SEGMENTATION_RUNNER = DenseRunner(SEGMENTATION)
