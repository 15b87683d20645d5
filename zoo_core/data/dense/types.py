"""Dense datasets' data types and constants: detection and segmentation items and datasets, the
layout names, and the checks every loader shares (too many images skipped, a missing path).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from zoo_core.data.loading import MAX_SKIPPED_FRACTION, _checked_fraction
from zoo_core.data.types import Skipped, _image_sha256
from zoo_core.errors import DataError

DETECTION_LAYOUTS = ("voc", "coco", "yolo")
SEGMENTATION_LAYOUTS = ("masks", "voc-segmentation")

#: The ignore index when no class is named like void: VOC's border value, and the usual choice.
DEFAULT_IGNORE_INDEX = 255

#: Pascal VOC's 21 segmentation classes in index order, for a VOC layout without a class list.
VOC_CLASSES = (
    "background aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse "
    "motorbike person pottedplant sheep sofa train tvmonitor"
).split()

_CLASS_FILES = ("classes.txt", "labels.txt", "obj.names", "classes.names")
_YAML_FILES = ("data.yaml", "data.yml", "dataset.yaml", "dataset.yml")
_MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".gif")
_IMAGE_DIRS = ("images", "image", "imgs", "img", "jpegimages")
_MASK_DIRS = ("masks", "mask", "labels", "label", "annotations", "annot", "gt", "segmentationclass")
# Mask names that add a suffix to the image's stem (CamVid's original "_L", "x_mask.png"...).
_MASK_SUFFIXES = ("", "_mask", "_masks", "_L", "_label", "_labels", "_gt", "-mask", "_seg")
_VOID_NAME = re.compile(r"^(void|unlabel+ed|ignored?|don'?t[ _-]?care|other|unknown)$", re.IGNORECASE)


# ------------------------------------------------------------------------------------ data types


@dataclass
class DetectionItem:
    """One image and its boxes (``[xmin, ymin, xmax, ymax]`` in pixels) with one class name each."""

    image: str
    boxes: list[list[float]]
    labels: list[str]
    width: int
    height: int
    #: Per box: marked difficult in a VOC file (VOC's own evaluation ignores those); empty = none.
    difficult: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.boxes) != len(self.labels):
            raise ValueError(f"{len(self.boxes)} boxes but {len(self.labels)} labels")
        if not self.difficult:
            self.difficult = [False] * len(self.boxes)
        elif len(self.difficult) != len(self.boxes):
            raise ValueError(f"{len(self.boxes)} boxes but {len(self.difficult)} difficult flags")


@dataclass
class DetectionData:
    """Images with boxes; ``class_names`` fixes the class ids (a label's index in it)."""

    items: list[DetectionItem]
    class_names: list[str]
    source: str
    layout: str
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def num_boxes(self) -> int:
        """Boxes over all images."""
        return sum(len(item.boxes) for item in self.items)

    def counts(self) -> dict[str, int]:
        """Class name -> number of boxes, in ``class_names`` order."""
        counts = dict.fromkeys(self.class_names, 0)
        for item in self.items:
            for label in item.labels:
                counts[label] = counts.get(label, 0) + 1
        return counts

    def subset(self, indices: Iterable[int]) -> DetectionData:
        """The items at ``indices``, same classes (``skipped`` and ``notes`` are not copied)."""
        picked = [int(i) for i in indices]  # accept numpy integers
        return DetectionData([self.items[i] for i in picked], list(self.class_names), self.source, self.layout)

    def fingerprint(self) -> str:
        """sha256 hex of the class names and, per item in order, the image's bytes, boxes and labels.

        Stable across machines: paths do not enter it, so a moved dataset keeps its fingerprint.
        """
        digest = hashlib.sha256()
        digest.update(json.dumps(["zoo-detection-v1", self.class_names]).encode() + b"\n")
        for item in self.items:
            row = [_image_sha256(item.image), item.boxes, item.labels, item.difficult]
            digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
        return digest.hexdigest()


@dataclass
class SegmentationItem:
    """An image and its mask: a single-channel image of class indices, the same size."""

    image: str
    mask: str


@dataclass
class SegmentationData:
    """Image/mask pairs; mask value ``i`` is ``class_names[i]``, ``ignore_index`` is left out of loss and metrics."""

    items: list[SegmentationItem]
    class_names: list[str]
    ignore_index: int | None
    source: str
    layout: str
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, indices: Iterable[int]) -> SegmentationData:
        """The items at ``indices``, same classes (``skipped`` and ``notes`` are not copied)."""
        picked = [int(i) for i in indices]
        return SegmentationData(
            [self.items[i] for i in picked], list(self.class_names), self.ignore_index, self.source, self.layout
        )

    def fingerprint(self) -> str:
        """sha256 hex of the class names, the ignore index and each image's and mask's bytes, in order."""
        digest = hashlib.sha256()
        digest.update(json.dumps(["zoo-segmentation-v1", self.class_names, self.ignore_index]).encode() + b"\n")
        for item in self.items:
            digest.update(json.dumps([_image_sha256(item.image), _image_sha256(item.mask)]).encode() + b"\n")
        return digest.hexdigest()


# ------------------------------------------------------------------------------------ shared checks


def check_dense_skipped(data: DetectionData | SegmentationData, max_fraction: float = MAX_SKIPPED_FRACTION) -> None:
    """Raise DataError when more than ``max_fraction`` of the images in ``data`` were unusable."""
    unreadable = [s for s in data.skipped if not s.ignored]
    total = len(data) + len(unreadable)
    if not unreadable or len(unreadable) <= max_fraction * total:
        return
    share = len(unreadable) / total
    examples = "; ".join(f"{s.location}: {s.reason}" for s in unreadable[:3])
    suggest = min(1.0, math.ceil(share * 20) / 20)
    message = (
        f"{data.source}: {len(unreadable)} of {total} images could not be used ({share:.0%}, more than the "
        f"{max_fraction:.0%} allowed), e.g. {examples}; fix or remove them, or pass --max-skipped-fraction "
        f"{suggest:g} to go on without them"
    )
    raise DataError(" ".join(message.split()))


def _limit(max_skipped_fraction: float | None) -> float:
    return MAX_SKIPPED_FRACTION if max_skipped_fraction is None else _checked_fraction(max_skipped_fraction)


def _existing(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or folder; pass the path to your {what} dataset")
    return p
