"""Object detection loaders: :func:`load_detection` and :func:`load_detection_splits` over the
VOC, COCO and YOLO readers.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo_core.data.dense.coco import _read_coco
from zoo_core.data.dense.layout import (
    _coco_files,
    _own_root,
    _refuse_split_root,
    _split_dirs,
    _split_of_file,
    detect_dense_layout,
)
from zoo_core.data.dense.report import _class_file, _read_class_file, _Report
from zoo_core.data.dense.splits import (
    _apply_lists,
    _detection_split_lists,
    _finish_splits,
    _yolo_split_names,
)
from zoo_core.data.dense.types import DETECTION_LAYOUTS, DetectionData, _existing, _limit, check_dense_skipped
from zoo_core.data.dense.voc import _read_voc
from zoo_core.data.dense.yolo import _read_yolo
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------ detection: public


def load_detection(
    path: str | os.PathLike,
    *,
    layout: str | None = None,
    images: str | os.PathLike | None = None,
    max_skipped_fraction: float | None = None,
) -> DetectionData:
    """Load a VOC, COCO or YOLO detection dataset (``layout`` None: found by :func:`detect_dense_layout`).

    ``images`` is the folder a COCO file's ``file_name`` entries are relative to (default: ``images/``
    beside the file, or the file's own folder). A folder split into train/val/test is an error here:
    use :func:`load_detection_splits`.
    """
    p = _existing(path, "object detection")
    limit = _limit(max_skipped_fraction)
    layout = layout or detect_dense_layout(p)
    if layout not in DETECTION_LAYOUTS:
        raise DataError(
            f"{path}: not an object detection dataset; accepted: images/ + annotations/*.xml (Pascal VOC), "
            "a COCO .json with images/, or images/ + labels/*.txt with classes.txt (YOLO)"
        )
    _refuse_split_root(p, layout, "load_detection_splits")
    data = _load_detection_one(p, layout, images)
    check_dense_skipped(data, limit)
    return data


def _load_detection_one(p: Path, layout: str, images: str | os.PathLike | None, split: str | None = None):
    report = _Report()
    if layout == "voc":
        classes_file = _class_file(p)
        classes = _read_class_file(classes_file) if classes_file else None
        items = _read_voc(p, report, classes)
        if classes is None:
            classes = sorted({label for item in items for label in item.labels})
            report.notes.append(
                f"{len(classes)} class{'' if len(classes) == 1 else 'es'} from the annotations, in name order"
            )
        else:
            report.notes.append(f"class names from {classes_file}")
        source = p
    elif layout == "coco":
        if p.is_file():
            file = p
        else:
            files = _coco_files(p)
            named = [f for f in files if _split_of_file(f.stem)]
            if len(files) > 1:
                raise DataError(
                    f"{p} holds {len(files)} COCO files ({', '.join(f.name for f in files[:4])}); "
                    + ("load it as splits" if named else "pass the one to use")
                )
            if not files:
                raise DataError(f"{p}: no COCO .json file (with 'images' and 'annotations'); pass the file")
            file = files[0]
        items, classes, folder = _read_coco(file, report, Path(images) if images else None)
        report.notes.insert(0, f"COCO file {file}, images in {folder}")
        source = file
    else:
        items, classes = _read_yolo(p, report, split)
        source = p / "images" / split if split else p
    if not items:
        first = next((s for s in report.skipped if not s.ignored), None)
        detail = f" ({len(report.skipped)} skipped, e.g. {first.location}: {first.reason})" if first else ""
        raise DataError(f"{source}: no usable images{detail}; check the layout and the annotation files")
    notes = [f"{layout} layout: {len(items)} images, {sum(len(i.boxes) for i in items)} boxes", *report.notes]
    return DetectionData(items, classes, str(source), layout, report.skipped, notes + report.box_notes())


def load_detection_splits(
    path: str | os.PathLike,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    images: str | os.PathLike | None = None,
    max_skipped_fraction: float | None = None,
) -> dict[str, DetectionData]:
    """``{"train": ..., "val": ..., "test": ...}`` (the splits there are), with the layout's own split if it has one.

    Own splits, in this order: folders ``train/``, ``val/``, ``test/`` each holding a layout; YOLO's
    ``images/train`` + ``labels/train``; COCO files named for their split (``instances_val2017.json``,
    ``train.json``); VOC's ``ImageSets/Main/{train,val,test}.txt``; ``train_labels.csv`` /
    ``test_labels.csv`` lists of file names (the raccoon dataset). Without a validation split, a
    seeded ``val_fraction`` of train is held out (0: none). Every split's notes say which was used.
    """
    p = _existing(path, "object detection")
    limit = _limit(max_skipped_fraction)
    if not 0 <= val_fraction < 1:
        raise DataError(f"validation fraction must be at least 0 and below 1, got {val_fraction}; e.g. 0.2")
    layout = detect_dense_layout(p)
    if layout not in DETECTION_LAYOUTS:
        raise DataError(
            f"{path}: not an object detection dataset; accepted: images/ + annotations/*.xml (Pascal VOC), "
            "a COCO .json with images/, or images/ + labels/*.txt with classes.txt (YOLO)"
        )
    splits: dict[str, DetectionData]
    how: str
    whole: DetectionData | None = None
    if p.is_dir() and not _own_root(p, layout) and _split_dirs(p):
        splits = {name: _load_detection_one(d, layout, images) for name, d in _split_dirs(p).items()}
        how = "the dataset's own split folders"
    elif p.is_dir() and layout == "yolo" and _yolo_split_names(p):
        splits = {name: _load_detection_one(p, layout, images, split=d) for name, d in _yolo_split_names(p).items()}
        how = "the dataset's own images/<split> folders"
    elif p.is_dir() and layout == "coco" and len(_coco_files(p)) > 1:
        splits = {}
        for file in _coco_files(p):
            name = _split_of_file(file.stem)
            if name is None or name in splits:
                raise DataError(
                    f"{p} holds several COCO files and {file.name} is not named for one split; "
                    "name them train/val/test (e.g. instances_val2017.json) or pass one file"
                )
            splits[name] = _load_detection_one(file, layout, images)
        how = "the dataset's COCO files named for their splits"
    else:
        whole = _load_detection_one(p, layout, images)
        check_dense_skipped(whole, limit)
        lists, how = _detection_split_lists(p, whole)
        splits = _apply_lists(whole, lists) if lists else {"train": whole}
    if whole is None:
        for data in splits.values():
            check_dense_skipped(data, limit)
    return _finish_splits(splits, how, val_fraction, seed, "images")
