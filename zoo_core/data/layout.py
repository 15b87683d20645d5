"""Which layout a dataset path holds: class folders of images, a text file, or train/val/test splits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from zoo_core.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TEXT_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".txt")

#: Names of split folders (or ``<name>.csv`` etc. files) in a split layout, per split.
SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}

ACCEPTED_LAYOUTS = (
    "accepted: a folder with one subfolder of images per class; a .csv, .tsv, .jsonl or .json file "
    "with text and label columns (or a .txt file with --label-column first-token); "
    "or a folder with train/ (and val/, test/) holding one of those"
)


def detect_modality(path: str | os.PathLike) -> str:
    """Return ``"image"`` or ``"text"`` for a dataset path, or raise DataError."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or folder; pass the path to your dataset ({ACCEPTED_LAYOUTS})")
    if p.is_file():
        ext = p.suffix.lower()
        if ext in TEXT_EXTENSIONS:
            return "text"
        if ext in IMAGE_EXTENSIONS:
            raise DataError(f"{path} is a single image; pass a folder with one subfolder of images per class")
        raise DataError(f"{path}: unsupported file type '{ext or 'no extension'}'; {ACCEPTED_LAYOUTS}")
    splits = split_folders(p)
    if splits:
        return detect_modality(splits["train"])
    if any(_contains_image(d) for d in _visible_dirs(p)):
        return "image"
    if _root_images(p):
        raise DataError(
            f"{path} has images directly inside and no class subfolders; "
            f"put images in one subfolder per class (e.g. {p / 'cat' / 'img1.jpg'})"
        )
    text_files = sorted(f.name for f in p.iterdir() if f.is_file() and f.suffix.lower() in TEXT_EXTENSIONS)
    if text_files:
        raise DataError(
            f"{path} is a folder of text files ({', '.join(text_files[:3])}{', ...' if len(text_files) > 3 else ''}) "
            "with no train file; pass the file itself, or name the files train.csv, val.csv, test.csv"
        )
    raise DataError(f"{path}: no images in class subfolders and no train/ split; {ACCEPTED_LAYOUTS}")


def _hidden(name: str) -> bool:
    # "__MACOSX" is the resource-fork folder that macOS zips add; it is never a class.
    return name.startswith(".") or name == "__MACOSX"


def _is_image_name(name: str) -> bool:
    return not _hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def _visible_dirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not _hidden(d.name))


def _root_images(p: Path) -> list[Path]:
    return sorted(f for f in p.iterdir() if f.is_file() and _is_image_name(f.name))


def _walk_images(folder: Path) -> Iterator[Path]:
    """Image files under ``folder``, recursively, hidden ones skipped, in sorted path order."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _hidden(d))  # sorted in place: os.walk order is the fs's
        for name in sorted(files):
            if _is_image_name(name):
                yield Path(root) / name


def _contains_image(folder: Path) -> bool:
    return next(_walk_images(folder), None) is not None


def _split_of(name: str) -> str | None:
    name = name.lower()
    for split, names in SPLIT_NAMES.items():
        if name in names:
            return split
    return None


def split_folders(p: Path) -> dict[str, Path]:
    """``{"train": ..., "val": ..., "test": ...}`` for a split layout, else ``{}``.

    Splits are folders (``train/``) or text files (``train.csv``). A folder counts as a split
    layout only when every visible subfolder is a split name, so that an image dataset with a
    class called "train" (next to "car" and "bus") is still read as classes.
    """
    entries: dict[str, list[Path]] = {}
    other_dirs = False
    for child in sorted(p.iterdir()):
        if _hidden(child.name):
            continue
        if child.is_dir():
            split = _split_of(child.name)
            other_dirs = other_dirs or split is None
        elif child.is_file() and child.suffix.lower() in TEXT_EXTENSIONS:
            split = _split_of(child.stem)
        else:
            continue
        if split:
            entries.setdefault(split, []).append(child)
    if "train" not in entries or other_dirs:
        return {}
    for split, paths in entries.items():
        if len(paths) > 1:
            names = ", ".join(q.name for q in paths)
            raise DataError(f"{p}: more than one {split} split ({names}); keep one and rename or remove the others")
    return {split: paths[0] for split, paths in entries.items()}
