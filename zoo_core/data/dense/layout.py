"""Which dense layout a path holds (VOC, COCO, YOLO, mask folders, VOC segmentation), the task it
serves, and the folders and files each layout and its splits are made of.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from zoo_core.data.dense.types import _IMAGE_DIRS, _MASK_DIRS, _MASK_EXTENSIONS, DETECTION_LAYOUTS, SEGMENTATION_LAYOUTS
from zoo_core.data.layout import _hidden, _is_image_name, _split_of
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------ layouts


def task_of_layout(layout: str) -> str:
    """``"object-detection"`` or ``"semantic-segmentation"`` for a layout from :func:`detect_dense_layout`."""
    if layout in DETECTION_LAYOUTS:
        return "object-detection"
    if layout in SEGMENTATION_LAYOUTS:
        return "semantic-segmentation"
    raise ValueError(f"unknown dense layout {layout!r}; expected one of {DETECTION_LAYOUTS + SEGMENTATION_LAYOUTS}")


def detect_dense_layout(path: str | os.PathLike) -> str | None:
    """``"voc"``, ``"coco"``, ``"yolo"``, ``"masks"`` or ``"voc-segmentation"``; None for anything else.

    A folder split into ``train/`` (``val/``, ``test/``) is judged by its train folder. A VOC root
    with both ``Annotations/`` and ``SegmentationClass/`` is ``"voc"`` (boxes come first); pass it to
    :func:`load_segmentation` to read its masks. None for a missing path or a class-folder dataset.
    """
    p = Path(path)
    if p.is_file():
        return "coco" if _looks_like_coco(p) else None
    if not p.is_dir():
        return None
    dirs = _child_dirs(p)
    if _voc_dirs(p):
        return "voc"
    if "jpegimages" in dirs and "segmentationclass" in dirs:
        return "voc-segmentation"
    if _yolo_dirs(p, None):
        return "yolo"
    if _coco_files(p):
        return "coco"
    if _mask_pairs(p):
        return "masks"
    # YOLO's own split layout: images/train + labels/train.
    if "images" in dirs and "labels" in dirs and any(_split_of(d.name) for d in _subdirs(dirs["images"])):
        split = next(d.name for d in _subdirs(dirs["images"]) if _split_of(d.name))
        if _yolo_dirs(p, split):
            return "yolo"
    splits = _split_dirs(p)
    if "train" in splits:
        return detect_dense_layout(splits["train"])
    return None


def _child_dirs(p: Path) -> dict[str, Path]:
    """Visible subfolders by lower-cased name (VOC spells them ``JPEGImages``, others ``images``)."""
    return {d.name.lower(): d for d in _subdirs(p)}


def _subdirs(p: Path) -> list[Path]:
    try:
        return sorted(d for d in p.iterdir() if d.is_dir() and not _hidden(d.name))
    except OSError:
        return []


def _files(p: Path, extensions: Sequence[str]) -> list[Path]:
    try:
        return sorted(f for f in p.iterdir() if f.is_file() and not _hidden(f.name) and f.suffix.lower() in extensions)
    except OSError:
        return []


def _images_in(p: Path) -> list[Path]:
    return sorted(f for f in p.iterdir() if f.is_file() and _is_image_name(f.name))


def _split_dirs(p: Path) -> dict[str, Path]:
    """``{"train": ..., "val": ..., "test": ...}`` for folders named like splits (``valid`` counts as val)."""
    found: dict[str, Path] = {}
    for d in _subdirs(p):
        split = _split_of(d.name)
        if split and split not in found:
            found[split] = d
    return found


def _voc_dirs(p: Path) -> tuple[Path, Path] | None:
    """(images, annotations) of a VOC detection layout, or None."""
    dirs = _child_dirs(p)
    annotations = dirs.get("annotations")
    images = dirs.get("jpegimages") or dirs.get("images")
    if annotations and images and _files(annotations, (".xml",)):
        return images, annotations
    return None


def _yolo_dirs(p: Path, split: str | None) -> tuple[Path, Path] | None:
    """(images, labels) of a YOLO layout (``images/<split>``, ``labels/<split>`` with a split), or None."""
    dirs = _child_dirs(p)
    if "images" not in dirs or "labels" not in dirs:
        return None
    images, labels = dirs["images"], dirs["labels"]
    if split:
        images, labels = images / split, labels / split
    if images.is_dir() and labels.is_dir() and _files(labels, (".txt",)):
        return images, labels
    return None


def _looks_like_coco(file: Path) -> bool:
    # Sniffed from the first megabyte rather than parsed: COCO files run to hundreds of MB, and the
    # "images" list (with its "file_name" keys) comes before the annotations in every exporter.
    if file.suffix.lower() != ".json" or _hidden(file.name):
        return False
    try:
        with open(file, "rb") as handle:
            head = handle.read(1 << 20)
    except OSError:
        return False
    return b'"images"' in head and (b'"file_name"' in head or b'"annotations"' in head)


def _coco_files(p: Path) -> list[Path]:
    """COCO annotation files in ``p`` and ``p/annotations``."""
    found = [f for f in _files(p, (".json",)) if _looks_like_coco(f)]
    annotations = _child_dirs(p).get("annotations")
    if annotations:
        found += [f for f in _files(annotations, (".json",)) if _looks_like_coco(f)]
    return found


def _split_of_file(stem: str) -> str | None:
    """The split a file name says: ``instances_train2017`` -> train, ``val.json`` -> val, else None."""
    for token in re.split(r"[_.\-\s]+", stem.lower()):
        split = _split_of(token.rstrip("0123456789"))
        if split:
            return split
    return None


def _mask_pairs(p: Path) -> dict[str, tuple[Path, Path]]:
    """Split ("" when unsplit) -> (images folder, masks folder) of a mask layout in ``p``."""
    dirs = _child_dirs(p)
    image_dir = next((dirs[n] for n in _IMAGE_DIRS if n in dirs), None)
    mask_dir = next((dirs[n] for n in _MASK_DIRS if n in dirs and _files(dirs[n], _MASK_EXTENSIONS)), None)
    if image_dir and mask_dir and image_dir != mask_dir:
        return {"": (image_dir, mask_dir)}
    pairs: dict[str, tuple[Path, Path]] = {}
    # CamVid: train/ + trainannot/, val/ + valannot/...
    for d in _subdirs(p):
        split = _split_of(d.name)
        if not split or split in pairs:
            continue
        for suffix in ("annot", "_annot", "_masks", "_mask", "_labels", "_label", "_gt"):
            masks = dirs.get((d.name + suffix).lower())
            if masks and _files(masks, _MASK_EXTENSIONS):
                pairs[split] = (d, masks)
                break
    return pairs if "train" in pairs else {}


def _refuse_split_root(p: Path, layout: str, splits_function: str) -> None:
    if p.is_dir() and layout == detect_dense_layout(p) and not _own_root(p, layout):
        splits = _split_dirs(p)
        if splits:
            raise DataError(
                f"{p} is split into {', '.join(d.name for d in splits.values())}; pass one split "
                f"(e.g. {splits['train'] if 'train' in splits else next(iter(splits.values()))}) or load it as splits"
            )


def _own_root(p: Path, layout: str) -> bool:
    """Whether ``p`` itself holds the layout (rather than split folders that hold it)."""
    if layout == "voc":
        return _voc_dirs(p) is not None
    if layout == "yolo":
        return _yolo_dirs(p, None) is not None or "images" in _child_dirs(p)
    if layout == "coco":
        return bool(_coco_files(p))
    if layout == "voc-segmentation":
        return "segmentationclass" in _child_dirs(p)
    return bool(_mask_pairs(p))
