"""Train/val/test splits of dense datasets: a dataset's own split lists (VOC ImageSets, CSV file
lists, YOLO's ``images/<split>``), a seeded random validation split, and one class list for all.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from zoo_core.data.dense.layout import _child_dirs, _files, _split_of_file, _subdirs, _yolo_dirs
from zoo_core.data.dense.types import DetectionData
from zoo_core.data.layout import _split_of
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------ splits


def _ordered(splits: dict[str, Any]) -> dict[str, Any]:
    return {k: splits[k] for k in ("train", "val", "test") if k in splits}


def _with_report(part: Any, whole: Any) -> Any:
    """``part`` with ``whole``'s skipped list and notes: the split shares what reading the whole left out."""
    part.skipped, part.notes = list(whole.skipped), list(whole.notes)
    return part


def _random_split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(keep, held)`` sorted indices, ``round(n * fraction)`` held (half up; at least 1 and at most n - 1)."""
    import numpy as np

    if n < 2:
        return list(range(n)), []
    k = min(max(math.floor(n * fraction + 0.5), 1), n - 1)
    order = np.random.RandomState(seed).permutation(n)
    return sorted(int(i) for i in order[k:]), sorted(int(i) for i in order[:k])


def _yolo_split_names(p: Path) -> dict[str, str]:
    images = _child_dirs(p).get("images")
    if images is None or _yolo_dirs(p, None):
        return {}
    found: dict[str, str] = {}
    for d in _subdirs(images):
        split = _split_of(d.name)
        if split and _yolo_dirs(p, d.name):
            found.setdefault(split, d.name)
    return found if "train" in found else {}


def _detection_split_lists(p: Path, whole: DetectionData) -> tuple[dict[str, set[str]], str]:
    """Split name -> image stems from VOC ImageSets or raccoon-style CSVs, and how they were found."""
    if p.is_dir():
        lists = _imageset_lists(p, "Main")
        if lists:
            return lists, "the dataset's own ImageSets/Main lists"
        lists = _csv_lists(p)
        if lists:
            return lists, "the dataset's own " + ", ".join(f"{n}_labels.csv" for n in lists) + " file lists"
    return {}, "no split in the dataset"


def _imageset_lists(p: Path, kind: str) -> dict[str, set[str]]:
    folder = _child_dirs(p).get("imagesets")
    if folder is None:
        return {}
    sub = {d.name.lower(): d for d in _subdirs(folder)}.get(kind.lower())
    if sub is None:
        return {}
    lists: dict[str, set[str]] = {}
    for name, split in (("train", "train"), ("trainval", "train"), ("val", "val"), ("test", "test")):
        file = sub / f"{name}.txt"
        # trainval stands for train only when there is no separate train list (VOC2007's test release).
        if file.is_file() and split not in lists:
            if name == "trainval" and (sub / "val.txt").is_file():
                continue
            lines = file.read_text(encoding="utf-8-sig").split("\n")
            lists[split] = {line.split()[0] for line in lines if line.strip()}
    return lists if "train" in lists else {}


def _csv_lists(p: Path) -> dict[str, set[str]]:
    """``<split>_labels.csv`` (or ``<split>.csv``) files with a ``filename`` column, as stems per split."""
    lists: dict[str, set[str]] = {}
    for file in _files(p, (".csv",)):
        split = _split_of_file(file.stem)
        if split is None or split in lists:
            continue
        try:
            with open(file, newline="", encoding="utf-8-sig") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise DataError(f"{file}: cannot read this split list ({error}); fix it or remove it") from None
        column = next((c for c in (rows[0] if rows else {}) if c and c.strip().lower() in ("filename", "file")), None)
        if column is None:
            continue
        lists[split] = {Path(row[column].strip()).stem for row in rows if row.get(column)}
    return lists if "train" in lists else {}


def _apply_lists(whole: Any, lists: dict[str, set[str]]) -> dict[str, Any]:
    stems = [Path(item.image).stem for item in whole.items]
    splits = {}
    listed: set[str] = set()
    for name, members in lists.items():
        picked = [i for i, stem in enumerate(stems) if stem in members]
        listed |= members
        if picked:
            splits[name] = _with_report(whole.subset(picked), whole)
    if "train" not in splits:
        raise DataError(f"{whole.source}: no image of the train list was read; check the split lists")
    unlisted = sum(stem not in listed for stem in stems)
    if unlisted:
        for data in splits.values():
            data.notes.append(f"{unlisted} images in no split list; left out")
    return splits


def _common_classes(splits: dict[str, Any]) -> dict[str, Any]:
    """Every split with the same class list: train's, with a DataError for a class train lacks."""
    train = splits.get("train")
    if train is None:
        raise DataError(f"no train split among {', '.join(splits)}; name one folder or file train")
    for name, data in splits.items():
        if data is train or data.class_names == train.class_names:
            continue
        if isinstance(data, DetectionData):
            used = {label for item in data.items for label in item.labels}
            unseen = sorted(used - set(train.class_names))
            if unseen:
                raise DataError(
                    f"{data.source}: {name} classes {', '.join(unseen)} are not in the training data "
                    f"{train.source}; add training examples for them or remove them from the {name} data"
                )
            data.class_names = list(train.class_names)
        else:
            raise DataError(
                f"{data.source}: {name} class list {data.class_names} differs from train's {train.class_names}; "
                "use one classes.txt for every split"
            )
    return splits


def _finish_splits(splits: dict[str, Any], how: str, val_fraction: float, seed: int, unit: str) -> dict[str, Any]:
    """The loaded splits made ready: one class list (:func:`_common_classes`), a seeded
    ``val_fraction`` of train held out when there is no validation split (0: none), and a note in
    every split saying how the splits were made and their sizes (counted in ``unit``: "images",
    "pairs"); returned in train, val, test order."""
    splits = _common_classes(splits)
    if "val" not in splits and val_fraction:
        train = splits["train"]
        keep, held = _random_split(len(train), val_fraction, seed)
        if held:
            splits["val"] = _with_report(train.subset(held), train)
            splits["train"] = _with_report(train.subset(keep), train)
            how += f"; validation: a random {val_fraction * 100:g}% of train, seed {seed}"
    note = "split: " + how + "; " + ", ".join(f"{k} {len(v)} {unit}" for k, v in _ordered(splits).items())
    for data in splits.values():
        data.notes.insert(0, note)
    return _ordered(splits)
