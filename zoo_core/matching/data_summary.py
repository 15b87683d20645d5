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
    (:func:`summarize_labelled`). ``data_options`` go to :func:`zoo_core.data.load_labelled`."""
    from zoo_core.data import load_labelled, split_folders

    path = Path(data)
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
