"""COCO detection: a JSON file of ``images``, ``annotations`` and ``categories``, its images beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo_core.data.dense.layout import _child_dirs
from zoo_core.data.dense.report import _Report
from zoo_core.data.dense.types import DetectionItem
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------ COCO


def _read_coco(file: Path, report: _Report, images_dir: Path | None) -> tuple[list[DetectionItem], list[str], Path]:
    """Items and class names (by category id) of a COCO file; images under ``images_dir`` or found beside it."""
    try:
        with open(file, encoding="utf-8-sig") as handle:
            doc = json.load(handle)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{file}: not valid JSON (line {error.lineno} column {error.colno}: {error.msg}); fix the file"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{file}: cannot read it ({error}); check the file") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations")):
        raise DataError(f"{file}: not a COCO file; it needs 'images' and 'annotations' lists (and 'categories')")
    categories = doc.get("categories") or []
    try:
        by_id = {int(c["id"]): str(c["name"]) for c in categories}
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{file}: every entry of 'categories' needs an integer 'id' and a 'name'; fix them") from None
    if not by_id:
        raise DataError(f"{file}: 'categories' is empty; list the classes as {{'id': 1, 'name': 'cat'}}")
    names = [by_id[k] for k in sorted(by_id)]
    if len(set(names)) != len(names):
        raise DataError(f"{file}: two categories share a name; give each category its own name")
    folder = images_dir or _coco_images_dir(file)

    images: dict[Any, dict[str, Any]] = {}
    for index, entry in enumerate(doc["images"]):
        if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("file_name"), str):
            report.skip(f"{file} images[{index}]", "needs an 'id' and a 'file_name'; left out")
            continue
        images[entry["id"]] = {"file": folder / entry["file_name"], "boxes": [], "labels": [], "bad": None}

    crowd = 0
    for index, ann in enumerate(doc["annotations"]):
        where = f"{file} annotations[{index}]"
        image = images.get(ann.get("image_id")) if isinstance(ann, dict) else None
        if image is None:
            report.skip(where, "refers to no image in 'images'; left out", ignored=True)
            continue
        if ann.get("iscrowd"):
            crowd += 1
            continue
        bbox = ann.get("bbox")
        category = ann.get("category_id")
        if category not in by_id:
            image["bad"] = image["bad"] or f"annotations[{index}] has category_id {category!r}, not in 'categories'"
            continue
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            image["bad"] = image["bad"] or f"annotations[{index}] needs 'bbox': [x, y, width, height]"
            continue
        x, y, w, h = (float(v) for v in bbox)
        image["boxes"].append(([x, y, x + w, y + h], f"{file} annotations[{index}]"))
        image["labels"].append(by_id[category])
    if crowd:
        report.notes.append(f"{crowd} crowd annotations (iscrowd=1) left out: a crowd region is not one object")

    items: list[DetectionItem] = []
    for image in images.values():
        if image["bad"]:
            report.skip(image["file"], f"in {file}: {image['bad']}; image left out")
            continue
        size = report.image_size(image["file"])
        if size is None:
            continue
        boxes: list[list[float]] = []
        labels: list[str] = []
        for (box, location), label in zip(image["boxes"], image["labels"]):
            kept = report.box(box, size[0], size[1], location)
            if kept is not None:
                boxes.append(kept)
                labels.append(label)
        report.empty_images += not boxes
        items.append(DetectionItem(str(image["file"]), boxes, labels, size[0], size[1]))
    return items, names, folder


def _coco_images_dir(file: Path) -> Path:
    """Where a COCO file's images are: ``images/`` beside it, COCO's own ``train2017/`` beside
    ``annotations/instances_train2017.json``, or the file's folder (Roboflow's exports)."""
    folder = file.parent
    roots = [folder, folder.parent] if folder.name.lower() == "annotations" else [folder]
    for root in roots:
        dirs = _child_dirs(root)
        suffix = file.stem.split("_", 1)[1].lower() if "_" in file.stem else ""
        for name in (suffix, "images"):
            if name and name in dirs:
                if name == "images" and suffix and (dirs["images"] / suffix).is_dir():
                    return dirs["images"] / suffix
                return dirs[name]
    return folder
