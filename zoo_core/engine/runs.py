"""The run folder a fine-tune leaves behind: metrics, manifest, history, skipped items and plots."""

from __future__ import annotations

import json
import platform
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core import __version__
from zoo_core.paths import zoo_home

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

MANIFEST_PACKAGES = ("torch", "timm", "transformers", "peft", "accelerate", "numpy", "scikit-learn")


def default_run_folder(base: str, method: str) -> Path:
    """``$ZOO_HOME/runs/<model>-<method>-<timestamp>``: unique per run, sorted by time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return zoo_home() / "runs" / f"{base.replace('/', '-')}-{method}-{stamp}"


def _version(dist: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def run_manifest(
    zoo: Zoo,
    entry: Any,
    backbone: Any,
    method: Any,
    config: Any,
    splits: Any,
    train_data: Any,
    seed: int,
    pretrained: bool,
) -> dict[str, Any]:
    """Everything needed to repeat a run: versions, plugins, model and weights, method, settings, data."""
    return {
        "zoo_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {d: _version(d) for d in MANIFEST_PACKAGES},
        "plugins": {
            i.name: {"distribution": i.distribution, "version": i.version, "status": i.status}
            for i in zoo.plugin_infos()
        },
        "model": entry.id,
        "weights_sha256": backbone.weights_sha256,
        "pretrained": pretrained,
        "method": method.describe(),
        "train": config.as_dict(),
        "seed": seed,
        "data": {
            "train_fingerprint": train_data.fingerprint(),
            "num_train": len(train_data),
            "num_val": len(splits.val) if splits.val is not None else 0,
            "num_test": len(splits.test) if splits.test is not None else 0,
            "skipped": len(splits.skipped),  # listed one by one in skipped.json
            "notes": splits.notes,
        },
    }


def write_run_folder(
    folder: Path,
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    manifest: dict[str, Any],
    label_names: list[str],
    *,
    eval_split: str,
    best_epoch: int,
    skipped: list[dict[str, Any]] | None = None,
) -> None:
    """metrics.json, manifest.json, history.json, skipped.json, learning_curves.png, confusion_matrix.png.

    ``skipped.json`` lists every item left out while reading the data (``location``, ``reason``),
    ``[]`` when none was.
    """
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, obj: Any) -> None:
        (folder / name).write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))

    dump("metrics.json", {**metrics, "eval_split": eval_split, "best_epoch": best_epoch})
    dump("manifest.json", manifest)
    dump("history.json", history)
    dump("skipped.json", skipped or [])
    try:
        plot_learning_curves(history, folder / "learning_curves.png")
        plot_confusion(metrics["confusion_matrix"], label_names, folder / "confusion_matrix.png")
    except ImportError:  # matplotlib is optional: the numbers are in the JSON files
        pass


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history: list[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    if history and "val_loss" in history[0]:
        left.plot(epochs, [h["val_loss"] for h in history], label="val loss")
        right.plot(epochs, [h["val_accuracy"] for h in history], label="val accuracy")
        right.plot(epochs, [h["val_macro_f1"] for h in history], label="val macro-F1")
        right.legend()
    left.set_xlabel("epoch")
    right.set_xlabel("epoch")
    left.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix: list[list[int]], labels: list[str], path: Path) -> None:
    plt = _pyplot()
    size = max(4.0, 0.5 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 20:
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
