"""The run folder a dense fine-tune leaves behind (as classification's :mod:`zoo_core.engine.runs`):
``metrics.json``, ``manifest.json``, ``history.json``, ``learning_curves.png`` (train loss and the
validation metric per epoch) and ``predictions/``: a few evaluation images with the model's
prediction drawn (boxes, or the mask overlay), to look at before trusting a number."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo_core import __version__
from zoo_core.engine.runs import MANIFEST_PACKAGES, _pyplot, _version

DRAWN_PREDICTIONS = 4
#: The validation metric plotted per epoch, per task: (key in the metrics, its name).
CURVE_METRICS = {
    "object-detection": [("map_50", "val mAP@.5"), ("map", "val mAP@[.5:.95]")],
    "semantic-segmentation": [("miou", "val mIoU"), ("pixel_accuracy", "val pixel accuracy")],
}


def dense_manifest(zoo: Any, entry: Any, backbone: Any, method: Any, settings: dict[str, Any], splits: dict) -> dict:
    """What repeating the run needs: versions, plugins, model and weights, method, settings, data."""
    return {
        "zoo_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {d: _version(d) for d in (*MANIFEST_PACKAGES, "torchvision", "segmentation-models-pytorch")},
        "plugins": {i.name: {"distribution": i.distribution, "version": i.version} for i in zoo.plugin_infos()},
        "model": entry.id,
        "weights_sha256": backbone.weights_sha256,
        "method": method.describe(),
        "settings": settings,
        "data": {
            name: {"source": str(split.source), "count": len(split), "fingerprint": split.fingerprint()}
            for name, split in splits.items()
        },
        "notes": sorted({note for split in splits.values() for note in split.notes}),
    }


def history_rows(history: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per epoch: ``epoch``, ``train_loss``, ``seconds`` and the validation metrics (``val_*``)."""
    rows = []
    for record in history.get("epochs", []):
        row = {"epoch": record["epoch"], "train_loss": record["loss"], "seconds": record["seconds"]}
        for key, value in (record.get("val") or {}).items():
            if isinstance(value, (int, float)) or value is None:
                row[f"val_{key}"] = value
        rows.append(row)
    return rows


def plot_dense_curves(task: str, rows: Sequence[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [r["train_loss"] for r in rows], label="train loss")
    for key, label in CURVE_METRICS.get(task, []):
        values = [r.get(f"val_{key}") for r in rows]
        if any(v is not None for v in values):
            right.plot(epochs, [float("nan") if v is None else v for v in values], label=label)
    if right.lines:
        right.legend()
    else:
        right.text(0.5, 0.5, "no validation split", ha="center", va="center", transform=right.transAxes)
    for ax in (left, right):
        ax.set_xlabel("epoch")
    left.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_dense_run_folder(
    folder: Path,
    task: str,
    metrics: dict[str, Any],
    history: dict[str, Any],
    manifest: dict[str, Any],
    *,
    eval_split: str,
    draw_predictions: Any = None,
) -> None:
    """Write the run folder. ``draw_predictions(out_dir)`` draws a few evaluation images there."""
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, obj: Any) -> None:
        (folder / name).write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))

    rows = history_rows(history)
    dump("metrics.json", {**metrics, "eval_split": eval_split})
    dump("manifest.json", manifest)
    dump("history.json", rows)
    try:
        plot_dense_curves(task, rows, folder / "learning_curves.png")
    except ImportError:  # matplotlib is optional: the numbers are in history.json
        pass
    if draw_predictions is not None:
        draw_predictions(folder / "predictions")
