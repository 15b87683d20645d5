"""Loading a dataset whatever its layout (load_labelled), and checked train/val/test splits (load_splits)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from zoo_core.data.images import load_image_folder
from zoo_core.data.layout import detect_modality, split_folders
from zoo_core.data.sampling import stratified_split
from zoo_core.data.text import load_text_file
from zoo_core.data.types import DataSplits, LabelledData, _record_skipped
from zoo_core.errors import DataError

#: Above this share of unreadable items (images that cannot be read, rows that cannot be parsed)
#: loading is an error rather than a skip: so many usually means the wrong delimiter, encoding or
#: folder, or a broken copy, not a few damaged files. Items ignored on purpose (images beside the
#: class folders, a row read as a header) do not count. Override it per call with the
#: ``max_skipped_fraction`` loader option (``--max-skipped-fraction`` on the command line);
#: ``1`` accepts any number, as long as something is left.
MAX_SKIPPED_FRACTION = 0.05

_IMAGE_OPTIONS = frozenset({"check_images"})
_TEXT_OPTIONS = frozenset({"text_column", "label_column", "delimiter", "encoding"})
_COMMON_OPTIONS = frozenset({"max_skipped_fraction"})


def load_labelled(path: str | os.PathLike, **options: Any) -> LabelledData:
    """Load an image folder or a text file; options go to the matching loader.

    Options set to None are dropped, so a CLI can pass every flag; a text option given for an
    image folder is a DataError. ``check_images`` is ignored for text. Items that cannot be read
    are left out and listed in ``skipped``; more than ``max_skipped_fraction`` of them (default
    :data:`MAX_SKIPPED_FRACTION`) is a DataError naming the count, the first ones and the option.
    """
    unknown = set(options) - _IMAGE_OPTIONS - _TEXT_OPTIONS - _COMMON_OPTIONS
    if unknown:
        raise TypeError(f"load_labelled() got unexpected options: {', '.join(sorted(unknown))}")
    limit = options.pop("max_skipped_fraction", None)
    limit = MAX_SKIPPED_FRACTION if limit is None else _checked_fraction(limit)
    loaded = _load_one(path, options)
    check_skipped(loaded, limit)
    _record_skipped(loaded.skipped)
    return loaded


def _checked_fraction(value: Any) -> float:
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = -1.0
    if not 0 <= fraction <= 1:
        raise DataError(
            f"--max-skipped-fraction must be a number from 0 to 1 (the share of items that may be unreadable), "
            f"got {value!r}"
        )
    return fraction


def check_skipped(data: LabelledData, max_fraction: float = MAX_SKIPPED_FRACTION) -> None:
    """Raise DataError when more than ``max_fraction`` of the items in ``data`` were unreadable."""
    unreadable = [s for s in data.skipped if not s.ignored]
    total = len(data) + len(unreadable)
    if not unreadable or len(unreadable) <= max_fraction * total:
        return
    share = len(unreadable) / total
    examples = "; ".join(f"{s.location}: {s.reason}" for s in unreadable[:3])
    suggest = min(1.0, math.ceil(share * 20) / 20)  # the next multiple of 5 % that admits them
    message = (
        f"{data.source}: {len(unreadable)} of {total} items could not be read ({share:.0%}, more than the "
        f"{max_fraction:.0%} allowed), e.g. {examples}; fix or remove them, or pass --max-skipped-fraction "
        f"{suggest:g} to go on without them"
    )
    raise DataError(" ".join(message.split()))


def _load_one(path: str | os.PathLike, options: dict[str, Any]) -> LabelledData:
    modality = detect_modality(path)
    p = Path(path)
    if p.is_dir():
        splits = split_folders(p)
        if splits:
            raise DataError(
                f"{path} is split into {', '.join(q.name for q in splits.values())}; "
                f"pass one split (e.g. {splits['train']}) or load it as splits"
            )
    given = {key: value for key, value in options.items() if value is not None}
    if modality == "image":
        wrong = sorted(given.keys() & _TEXT_OPTIONS)
        if wrong:
            flags = ", ".join("--" + key.replace("_", "-") for key in wrong)
            verb = "applies" if len(wrong) == 1 else "apply"
            raise DataError(f"{path} is an image folder; {flags} only {verb} to text files: leave them out")
        return load_image_folder(path, **{k: v for k, v in given.items() if k in _IMAGE_OPTIONS})
    return load_text_file(path, **{k: v for k, v in given.items() if k in _TEXT_OPTIONS})


def load_splits(
    path: str | os.PathLike,
    *,
    val: str | os.PathLike | None = None,
    test: str | os.PathLike | None = None,
    val_fraction: float | None = 0.2,
    seed: int = 0,
    min_per_class_for_split: int = 2,
    **options: Any,
) -> DataSplits:
    """Load train (and val/test) data, check it can train a classifier, and split off val if needed.

    ``path`` is a split layout (``train/``, ``val/``, ``test/`` folders or ``train.csv``...)
    or the training data itself, with ``val``/``test`` as optional separate paths. Without
    validation data, a stratified ``val_fraction`` of train is held out (``0`` or None: none).
    """
    p = Path(path)
    layout = split_folders(p) if p.is_dir() else {}
    if layout:
        if val is not None or test is not None:
            raise DataError(
                f"{path} already holds train/val/test splits; leave out --val/--test, "
                f"or pass {layout['train']} as the training data"
            )
        train_path: str | os.PathLike = layout["train"]
        val, test = layout.get("val"), layout.get("test")
    else:
        train_path = path
    if val_fraction is not None and not 0 <= val_fraction < 1:
        raise DataError(f"validation fraction must be at least 0 and below 1, got {val_fraction}; e.g. 0.2")

    train = load_labelled(train_path, **options)
    notes = [f"train: {train.source} ({len(train)} items)", *train.notes]
    skipped = list(train.skipped)
    if len(train) == 0:
        raise DataError(f"{train.source} has no examples; add labelled data")
    classes = train.classes()
    if len(classes) < 2:
        raise DataError(
            f"found only one class '{classes[0]}' in {train.source}; classification needs at least two: "
            "add examples of another class"
        )

    held: dict[str, LabelledData | None] = {"validation": None, "test": None}
    for name, other_path in (("validation", val), ("test", test)):
        if other_path is None:
            continue
        other = load_labelled(other_path, **options)
        if other.modality != train.modality:
            raise DataError(
                f"{other.source} holds {other.modality} data but the training data {train.source} holds "
                f"{train.modality} data; pass {name} data of the same kind"
            )
        unseen = sorted(set(other.labels) - set(classes))
        if unseen:
            listed = ", ".join(f"'{label}'" for label in unseen)
            raise DataError(
                f"{other.source}: {name} labels {listed} are not in the training data {train.source} "
                f"(which has {', '.join(classes)}); add training examples for them or remove them from the {name} data"
            )
        overlap = len(
            set(map(_same_item_key(train.modality), train.items))
            & set(map(_same_item_key(other.modality), other.items))
        )
        if overlap:
            notes.append(f"warning: {overlap} {name} items also appear in the training data")
        notes.append(f"{name}: {other.source} ({len(other)} items)")
        notes.extend(other.notes)
        skipped.extend(other.skipped)
        held[name] = other

    val_data = held["validation"]
    if val_data is None:
        if not val_fraction:
            notes.append("validation: none")
        else:
            keep, out = stratified_split(train.labels, val_fraction, seed, min_per_class=min_per_class_for_split)
            small = [c for c, n in train.counts().items() if n < max(2, min_per_class_for_split)]
            if out:
                val_data = train.subset(out)
                whole = train
                train = train.subset(keep)
                train.skipped, train.notes = whole.skipped, whole.notes
                notes.append(
                    f"validation: stratified {val_fraction * 100:g}% of train, seed {seed} "
                    f"({len(val_data)} items; {len(train)} left to train)"
                )
            else:
                notes.append(f"validation: none (every class has fewer than {min_per_class_for_split} items)")
            if small and out:
                notes.append(
                    f"classes with fewer than {max(2, min_per_class_for_split)} items stay whole in train "
                    f"and are not validated: {', '.join(small)}"
                )
    if held["test"] is None:
        notes.append("test: none")
    return DataSplits(train, val_data, held["test"], train.classes(), notes, skipped)


def _same_item_key(modality: str):
    # Texts compare as written; images by resolved path (byte-identical copies are not found).
    return (lambda item: os.path.realpath(item)) if modality == "image" else (lambda item: item)
