"""Draw predictions on their images (``zoo predict --draw DIR``): boxes with PIL's ImageDraw, masks
as a coloured overlay. Each function writes ``out_path`` (a PNG) and returns it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Distinct colours for classes (cycled); class 0 of a segmentation (background) is left undrawn.
PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
]


def colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def draw_boxes(image: str, prediction: dict[str, Any], out_path: str | Path, class_names: Sequence[str]) -> str:
    """The image with each box outlined and labelled ``name score`` in its class's colour."""
    from PIL import Image, ImageDraw

    with Image.open(image) as handle:
        canvas = handle.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    names = list(class_names)
    for box, label, score in zip(prediction["boxes"], prediction["labels"], prediction["scores"]):
        rgb = colour(names.index(label) if label in names else 0)
        draw.rectangle([float(v) for v in box], outline=rgb, width=2)
        draw.text((float(box[0]) + 2, float(box[1]) + 1), f"{label} {score:.2f}", fill=rgb)
    canvas.save(out_path)
    return str(out_path)


def draw_mask(
    image: str, prediction: dict[str, Any], out_path: str | Path, class_names: Sequence[str], alpha: float = 0.5
) -> str:
    """The image with its predicted mask (``prediction["mask"]``, a class-id PNG) blended over it;
    class 0 (background) left as it is."""
    import numpy as np
    from PIL import Image

    with Image.open(image) as handle:
        base = np.asarray(handle.convert("RGB"), dtype=np.float32)
    with Image.open(prediction["mask"]) as handle:
        mask = np.asarray(handle, dtype=np.int64)
    overlay = base.copy()
    for value in np.unique(mask):
        if value == 0:
            continue
        overlay[mask == value] = colour(int(value))
    blended = np.where((mask > 0)[..., None], (1 - alpha) * base + alpha * overlay, base)
    Image.fromarray(blended.clip(0, 255).astype("uint8")).save(out_path)
    return str(out_path)
