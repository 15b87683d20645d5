"""What ``zoo models suggest`` reads of a dataset (modality, classes, size, text length and language,
image size), and the default size budget."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.data import LabelledData

from zoo_core.matching.selection import (
    BUDGET_TIERS,
    NON_ENGLISH_SHARE,
    SHORT_TEXT_WORDS,
)

# --- the data ----------------------------------------------------------------------------------


def summarize_data(data: str | Path, **data_options: Any) -> dict[str, Any]:
    """Read the training part of ``data`` (labels only: images are not decoded) and describe it
    (:func:`summarize_labelled`, or :func:`summarize_dense` for detection and segmentation
    layouts). ``data_options`` go to :func:`zoo_core.data.load_labelled`."""
    from zoo_core.data import load_labelled, split_folders
    from zoo_core.data.dense import detect_dense_layout, task_of_layout

    path = Path(data)
    layout = detect_dense_layout(path)
    if layout is not None:
        return summarize_dense(path, task_of_layout(layout), **data_options)
    splits = split_folders(path) if path.is_dir() else {}
    if splits:
        path = splits["train"]
    labelled = load_labelled(path, check_images=False, **data_options)
    return summarize_labelled(labelled, path)


def summarize_labelled(labelled: LabelledData, path: str | Path | None = None) -> dict[str, Any]:
    """Modality, classes, examples and examples per class; for text the median length in words and
    whether it reads as English; for images the median size of the first few (headers only)."""
    counts = labelled.counts()
    summary: dict[str, Any] = {
        "data": str(path if path is not None else labelled.source),
        "modality": labelled.modality,
        "classes": len(counts),
        "examples": len(labelled),
        "min_per_class": min(counts.values()) if counts else 0,
    }
    if labelled.modality == "text":
        texts = [str(t) for t in labelled.items]
        words = statistics.median(len(t.split()) for t in texts) if texts else 0
        letters = [ch for t in texts for ch in t if ch.isalpha()]
        non_ascii = sum(1 for ch in letters if not ch.isascii()) / len(letters) if letters else 0.0
        summary["median_words"] = float(words)
        summary["non_ascii_letters"] = round(non_ascii, 4)
        summary["english"] = non_ascii <= NON_ENGLISH_SHARE
        summary["kind"] = f"{'short' if words <= SHORT_TEXT_WORDS else 'long'} texts (median {words:g} words), " + (
            "English (ASCII letters)" if summary["english"] else f"not English ({non_ascii:.0%} non-ASCII letters)"
        )
    else:
        size = _median_image_size(labelled.items[:: max(1, len(labelled.items) // 16)][:16])
        summary["image_size"] = size
        summary["kind"] = "images, taken to be photos" + (f" (about {size[0]}x{size[1]} px)" if size else "")
    return summary


def summarize_dense(data: str | Path, task: str, max_skipped_fraction: float | None = None, **rest: Any) -> dict:
    """Describe detection or segmentation data: images, classes and, for detection, the fewest
    labelled boxes of a class (``min_per_class``; segmentation: the images, masks are not read).
    ``task`` is what the layout holds; the summary's ``task`` says it for the shortlist."""
    from zoo_core.data.dense import load_detection_splits, load_segmentation_splits
    from zoo_core.errors import ZooError

    if rest:
        flags = ", ".join("--" + key.replace("_", "-") for key in sorted(rest))
        raise ZooError(f"{flags}: not for {task} data (tables of text only); drop it")
    load = load_detection_splits if task == "object-detection" else load_segmentation_splits
    train = load(data, val_fraction=0, max_skipped_fraction=max_skipped_fraction)["train"]
    if task == "object-detection":
        boxes = [label for item in train.items for label in getattr(item, "labels", ())]
        per_class = [boxes.count(name) for name in train.class_names]
    else:
        per_class = [len(train)]
    size = _median_image_size([item.image for item in train.items[:: max(1, len(train.items) // 16)][:16]])
    noun = "labelled boxes" if task == "object-detection" else "masks"
    return {
        "data": str(data),
        "modality": "image",
        "task": task,
        "classes": len(train.class_names),
        "examples": len(train),
        "min_per_class": min(per_class) if per_class else 0,
        "image_size": size,
        "kind": f"images with {noun} ({task})" + (f", about {size[0]}x{size[1]} px" if size else ""),
    }


def _median_image_size(paths: Sequence[Any]) -> list[int] | None:
    """Median width and height of ``paths`` from their headers; None when none can be read."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return None
    sizes = []
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes.append(image.size)
        except Exception:  # a broken image is the loaders' business, not the summary's
            continue
    if not sizes:
        return None
    return [int(statistics.median(s[0] for s in sizes)), int(statistics.median(s[1] for s in sizes))]


def default_budget(examples: int) -> tuple[float | None, str]:
    """The parameter budget (millions; None: no limit) for this many labelled examples, and the
    rule in words: fewer than 1,000 -> 30M, fewer than 10,000 -> 100M, more -> no limit."""
    for below, budget in BUDGET_TIERS:
        if examples < below:
            return budget, f"default for {examples:,} examples: fewer than {below:,}"
    return None, f"default for {examples:,} examples: {BUDGET_TIERS[-1][0]:,} or more"
