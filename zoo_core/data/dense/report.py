"""What the dense readers share as they read: the :class:`_Report` of what was left out and noted
(boxes clipped or dropped, images unusable), image headers, and class lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo_core.data.dense.types import _CLASS_FILES
from zoo_core.data.images import _unreadable_reason, max_image_pixels, pil_bomb_check_off
from zoo_core.data.layout import IMAGE_EXTENSIONS
from zoo_core.data.types import Skipped
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------ shared helpers


class _Report:
    """What a reader left out and noted, as it reads."""

    def __init__(self) -> None:
        self.skipped: list[Skipped] = []
        self.notes: list[str] = []
        self.dropped_boxes = 0
        self.clipped_boxes = 0
        self.empty_images = 0
        self.limit = max_image_pixels()

    def skip(self, location: Any, reason: str, *, ignored: bool = False) -> None:
        self.skipped.append(Skipped(str(location), " ".join(reason.split()), ignored=ignored))

    def box(self, box: Sequence[float], width: int, height: int, location: str) -> list[float] | None:
        """The box clipped to the image, or None (and a skipped entry) when it has no area."""
        x0, y0, x1, y1 = (float(v) for v in box)
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            self.dropped_boxes += 1
            self.skip(location, "box has a coordinate that is not a finite number; box dropped", ignored=True)
            return None
        clipped = [min(max(x0, 0.0), width), min(max(y0, 0.0), height), min(max(x1, 0.0), width)]
        clipped.append(min(max(y1, 0.0), height))
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            self.dropped_boxes += 1
            where = "outside the image" if (x1 > x0 and y1 > y0) else "xmax <= xmin or ymax <= ymin"
            self.skip(location, f"box {_fmt_box([x0, y0, x1, y1])} has no area ({where}); box dropped", ignored=True)
            return None
        if clipped != [x0, y0, x1, y1]:
            self.clipped_boxes += 1
        return clipped

    def image_size(self, file: Path) -> tuple[int, int] | None:
        """(width, height) from the header, or None after recording why the image is unusable."""
        reason = _unreadable_reason(file, self.limit)
        if reason is None:
            header = _header(file)
            if header is not None:
                return header[0]
            reason = "cannot read image header"
        self.skip(file, reason)
        return None

    def box_notes(self) -> list[str]:
        notes = []
        if self.dropped_boxes:
            notes.append(f"{self.dropped_boxes} boxes with no area dropped (listed in skipped)")
        if self.clipped_boxes:
            notes.append(f"{self.clipped_boxes} boxes reaching outside their image clipped to it")
        if self.empty_images:
            notes.append(f"{self.empty_images} images have no objects (kept: they teach what is background)")
        return notes


def _fmt_box(box: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def _header(file: Path) -> tuple[tuple[int, int], str] | None:
    """((width, height), mode) from an image's header, or None when it cannot be read."""
    from PIL import Image

    try:
        with pil_bomb_check_off(), Image.open(file) as image:
            return image.size, image.mode
    except Exception:  # any broken header: the caller reports it
        return None


def _find_image(folder: Path, stem: str, name: str | None = None) -> Path | None:
    """``folder/name`` when it exists, else an image in ``folder`` with this stem (any image extension)."""
    if name:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    for ext in IMAGE_EXTENSIONS:
        for spelled in (ext, ext.upper()):
            candidate = folder / (stem + spelled)
            if candidate.is_file():
                return candidate
    return None


def _read_class_file(file: Path) -> list[str]:
    """Class names, one a line (blank lines and ``#`` comments left out)."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(
            f"{file}: cannot read the class list ({error}); save it as UTF-8 text, one name a line"
        ) from None
    names = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"{file}: class names listed twice ({', '.join(duplicates)}); list each class once")
    return names


def _class_file(folder: Path) -> Path | None:
    for name in _CLASS_FILES:
        if (folder / name).is_file():
            return folder / name
    return None
