"""Unlabelled data: what ``zoo embed``, ``zoo cluster``, ``zoo recommend --unlabeled`` and
``zoo finetune --unlabeled`` read (torch-free).

Anything :func:`~zoo_core.data.load_labelled` reads keeps its labels (used only to score clusters);
besides that, a folder of images with no class subfolders, a ``.txt`` file of one text per line, and
a CSV/TSV/JSONL file with a text column and no label column.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo_core.data.delimited import (
    LABEL_COLUMN_NAMES,
    TEXT_COLUMN_NAMES,
    _delimited_rows,
    _lines,
    _looks_like_header,
    _resolve_column,
)
from zoo_core.data.images import _unreadable_reason, max_image_pixels
from zoo_core.data.layout import (
    IMAGE_EXTENSIONS,
    TEXT_EXTENSIONS,
    _contains_image,
    _root_images,
    _visible_dirs,
    split_folders,
)
from zoo_core.data.loading import MAX_SKIPPED_FRACTION, check_skipped, load_labelled
from zoo_core.data.text import _read_text
from zoo_core.data.types import LabelledData, Skipped
from zoo_core.errors import DataError


@dataclass
class Unlabelled:
    """Items to embed or cluster; ``labels`` when the data carries them (used only to score clusters)."""

    modality: str
    items: list
    labels: list[str] | None
    source: str
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)


def load_unlabelled(
    path: str | os.PathLike,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    max_skipped_fraction: float | None = None,
    check_images: bool = True,
) -> Unlabelled:
    """Read data with or without labels.

    Anything :func:`~zoo_core.data.load_labelled` reads keeps its labels (class folders, CSV/TSV/JSONL
    with a label column). Besides that: a folder of images with no class subfolders, a ``.txt`` file
    of one text per line, and a CSV/TSV/JSONL file with a text column and no label column (a first
    row naming a known text column, e.g. ``text``, is a header; a file of one column needs none).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or folder; pass a folder of images or a text file (.txt, .csv, ...)")
    limit = MAX_SKIPPED_FRACTION if max_skipped_fraction is None else float(max_skipped_fraction)
    text_options = {"text_column": text_column, "delimiter": delimiter, "encoding": encoding}
    if p.is_dir():
        if not split_folders(p) and not any(_contains_image(d) for d in _visible_dirs(p)):
            if any(value is not None for value in text_options.values()) or label_column is not None:
                raise DataError(
                    f"{path} is a folder of images; --text-column, --label-column, --delimiter and "
                    "--encoding only apply to text files: leave them out"
                )
            return _plain_image_folder(p, limit, check_images)
        labelled = load_labelled(
            p, check_images=check_images, max_skipped_fraction=limit, label_column=label_column, **text_options
        )
        return _from_labelled(labelled, f"labels: the class folders of {path}")
    try:
        labelled = load_labelled(p, label_column=label_column, max_skipped_fraction=limit, **text_options)
    except DataError:
        # Only a file that could be read without labels falls through; a label column asked for is
        # needed, and any other problem (encoding, quotes) is raised again by the reader below.
        if label_column is not None or p.suffix.lower() not in TEXT_EXTENSIONS:
            raise
        return _text_without_labels(p, limit, text_column=text_column, delimiter=delimiter, encoding=encoding)
    return _from_labelled(labelled, *labelled.notes)


def _from_labelled(labelled: LabelledData, *notes: str) -> Unlabelled:
    return Unlabelled(
        labelled.modality, labelled.items, labelled.labels, labelled.source, labelled.skipped, list(notes)
    )


def _checked(data: Unlabelled, limit: float) -> Unlabelled:
    """The loaders' check on how many items were unreadable, and a clear error when none is left."""
    if not data.items and not data.skipped:
        what = "images" if data.modality == "image" else "texts"
        raise DataError(f"{data.source} has no {what}; add some, or pass another --data")
    check_skipped(LabelledData(data.modality, data.items, [""] * len(data.items), data.source, data.skipped), limit)
    if not data.items:
        first = data.skipped[0]
        raise DataError(
            f"{data.source}: nothing could be read ({len(data.skipped)} skipped, e.g. {first.location}: {first.reason})"
        )
    return data


def _plain_image_folder(root: Path, limit: float, check_images: bool) -> Unlabelled:
    files = _root_images(root)
    if not files:
        raise DataError(
            f"{root}: no images (files ending in {' '.join(IMAGE_EXTENSIONS)}) in it or in subfolders; "
            "pass a folder of images or a text file"
        )
    pixels = max_image_pixels() if check_images else None
    items: list[str] = []
    skipped: list[Skipped] = []
    for file in files:
        reason = _unreadable_reason(file, pixels) if check_images else None
        if reason:
            skipped.append(Skipped(str(file), reason))
        else:
            items.append(str(file))
    data = Unlabelled("image", items, None, str(root), skipped, [f"{root}: a folder of images without labels"])
    return _checked(data, limit)


def _text_without_labels(
    p: Path, limit: float, *, text_column: str | int | None, delimiter: str | None, encoding: str | None
) -> Unlabelled:
    from zoo_core.data.text import _normalise_delimiter

    src = str(p)
    ext = p.suffix.lower()
    text = _read_text(p, encoding)
    delimiter = _normalise_delimiter(delimiter)
    items: list[str] = []
    skipped: list[Skipped] = []
    if ext in (".jsonl", ".json"):
        items, skipped, note = _json_texts(src, text, ext, text_column)
    elif ext == ".txt" and delimiter is None:
        if text_column is not None:
            raise DataError(
                f"{src}: a .txt file is one text per line, with no columns; leave out --text-column or pass --delimiter"
            )
        items = [line.strip() for _, line in _lines(text) if line.strip()]
        note = f"{src}: one text per line, no labels"
    else:
        delimiter = delimiter or ("\t" if ext == ".tsv" else ",")
        items, skipped, note = _delimited_texts(src, list(_delimited_rows(src, text, delimiter)), text_column)
    return _checked(Unlabelled("text", items, None, src, skipped, [note]), limit)


def _delimited_texts(
    src: str, rows: list[tuple[int, list[str]]], text_column: str | int | None
) -> tuple[list[str], list[Skipped], str]:
    if not rows:
        raise DataError(f"{src} is empty; add one text per line")
    first_line, first = rows[0]
    header = _looks_like_header(first, text_column, None)
    names = [name.strip() for name in first] if header else [f"column {i}" for i in range(len(first))]
    index = _resolve_column(src, names, text_column, TEXT_COLUMN_NAMES if header else (), "text")
    if index is None:
        if len(first) != 1:
            raise DataError(
                f"{src}: cannot tell which of its {len(first)} columns holds the text (first row: "
                f"{', '.join(value.strip() for value in first)}); pass --text-column (a name or a 0-based index)"
            )
        index = 0
    items: list[str] = []
    skipped: list[Skipped] = []
    for number, fields in rows[1:] if header else rows:
        if len(fields) != len(first):
            skipped.append(Skipped(f"{src}:{number}", f"expected {len(first)} fields, found {len(fields)}"))
        elif not fields[index].strip():
            skipped.append(Skipped(f"{src}:{number}", "empty text"))
        else:
            items.append(fields[index].strip())
    return (
        items,
        skipped,
        f"{src}: text column '{names[index]}', no label column (looked for: {', '.join(LABEL_COLUMN_NAMES)})",
    )


def _json_texts(src: str, text: str, ext: str, text_column: str | int | None) -> tuple[list[str], list[Skipped], str]:
    records: list[tuple[str, Any]] = []
    skipped: list[Skipped] = []
    whole: Any = None
    if ext == ".json":
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None
    if isinstance(whole, list):
        records = [(f"{src}[{i}]", record) for i, record in enumerate(whole)]
    else:
        for number, line in _lines(text):
            if line.strip():
                try:
                    records.append((f"{src}:{number}", json.loads(line)))
                except ValueError as error:
                    skipped.append(Skipped(f"{src}:{number}", f"invalid JSON: {getattr(error, 'msg', error)}"))
    first = next((record for _, record in records if isinstance(record, dict)), None)
    key: str | None = None
    if first is not None:
        keys = [str(name) for name in first]
        if text_column is not None:
            if str(text_column) not in keys:
                raise DataError(
                    f"{src}: no field '{text_column}' (fields: {', '.join(keys)}); pass --text-column with one of these"
                )
            key = str(text_column)
        else:
            lowered = {name.lower(): name for name in keys}
            key = next((lowered[n] for n in TEXT_COLUMN_NAMES if n in lowered), None)
            if key is None:
                raise DataError(f"{src}: no text field found (fields: {', '.join(keys)}); pass --text-column")
    items: list[str] = []
    for location, record in records:
        value = record.get(key) if isinstance(record, dict) and key is not None else record
        if isinstance(value, str) and value.strip():
            items.append(value.strip())
        else:
            skipped.append(Skipped(location, "no text" if value in (None, "") else "not a text"))
    return items, skipped, f"{src}: " + (f"text field '{key}', no label field" if key else "a list of texts, no labels")
