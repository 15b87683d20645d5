"""Semantic segmentation: image and index-mask folders (CamVid's ``train/`` + ``trainannot/`` too)
and Pascal VOC's ``JPEGImages/`` + ``SegmentationClass/``; :func:`read_mask` decodes one mask.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zoo_core.data.dense.layout import _child_dirs, _files, _images_in, _mask_pairs, _split_dirs
from zoo_core.data.dense.report import _class_file, _header, _read_class_file, _Report
from zoo_core.data.dense.splits import (
    _apply_lists,
    _finish_splits,
    _imageset_lists,
)
from zoo_core.data.dense.types import (
    _MASK_EXTENSIONS,
    _MASK_SUFFIXES,
    _VOID_NAME,
    DEFAULT_IGNORE_INDEX,
    VOC_CLASSES,
    SegmentationData,
    SegmentationItem,
    _existing,
    _limit,
    check_dense_skipped,
)
from zoo_core.data.images import _unreadable_reason, pil_bomb_check_off
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------ segmentation


def read_mask(path: str | os.PathLike) -> Any:
    """A mask as a 2-D numpy integer array of class indices (palette PNGs give their indices).

    Colour masks are refused unless all three channels are equal (a grayscale mask saved as RGB).
    Raises DataError naming the file when it cannot be read.
    """
    import numpy as np
    from PIL import Image

    try:
        with pil_bomb_check_off(), Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image)
    except Exception as error:  # PIL raises many kinds for broken files
        raise DataError(f"{path}: cannot read mask ({type(error).__name__}: {error}); fix or remove it") from None
    if array.ndim == 3:
        if mode in ("LA", "PA") or (array.shape[2] >= 3 and (array[..., 0] == array[..., 1]).all()):
            if array.shape[2] < 3 or (array[..., 1] == array[..., 2]).all():
                return array[..., 0].astype(np.int64)
        raise DataError(
            f"{path}: a colour ({mode}) mask; masks must hold class indices (8-bit grayscale or palette PNG): "
            "convert the colours to indices"
        )
    return array.astype(np.int64)


@dataclass
class _PairSet:
    """Image and mask pairs of one folder pair, and what has no partner."""

    pairs: list[tuple[Path, Path]]
    lonely: list[Path] = field(default_factory=list)  # images without a mask
    orphans: list[Path] = field(default_factory=list)  # masks without an image


def _pair_files(image_dir: Path, mask_dir: Path) -> _PairSet:
    """(image, mask) pairs by stem (a mask may add a suffix such as ``_mask``), and the unmatched files."""
    masks = {f.stem: f for f in _files(mask_dir, _MASK_EXTENSIONS)}
    found = _PairSet([])
    used: set[str] = set()
    for image in _images_in(image_dir):
        stem = next((image.stem + s for s in _MASK_SUFFIXES if image.stem + s in masks), None)
        if stem is None:
            found.lonely.append(image)
            continue
        used.add(stem)
        found.pairs.append((image, masks[stem]))
    found.orphans = [f for s, f in masks.items() if s not in used]
    return found


def _segmentation_classes(
    roots: Sequence[Path], voc: bool, ignore_index: int | Literal["auto"] | None, report: _Report
) -> tuple[list[str] | None, int | None]:
    """Class names from a list file (None: name them from the values) and the ignore index."""
    file = next((_class_file(r) for r in roots if _class_file(r)), None)
    names: list[str] | None = _read_class_file(file) if file else None
    if names is not None:
        report.notes.append(f"class names from {file}")
    elif voc:
        names = list(VOC_CLASSES)
        report.notes.append("class names: Pascal VOC's 21 classes (no classes.txt)")
    if ignore_index != "auto":
        return names, ignore_index
    void = [i for i, n in enumerate(names or []) if _VOID_NAME.match(n.strip())]
    if names is not None and void:
        index = void[-1]
        report.notes.append(f"class {index} '{names[index]}' is void: used as the ignore index, left out of metrics")
        if index == len(names) - 1:
            names = names[:-1]  # the model need not predict it
        return names, index
    return names, DEFAULT_IGNORE_INDEX


def _read_masks(
    pairs: Sequence[tuple[Path, Path]], report: _Report, check_values: bool
) -> tuple[list[SegmentationItem], dict[str, set[int]]]:
    """The usable pairs (sizes equal, masks single-channel) and each mask's values."""
    import numpy as np

    items: list[SegmentationItem] = []
    values: dict[str, set[int]] = {}
    for image, mask in pairs:
        size = report.image_size(image)
        if size is None:
            continue
        reason = _unreadable_reason(mask, report.limit)
        header = _header(mask) if reason is None else None
        if header is None:
            report.skip(mask, reason or "cannot read mask header")
            continue
        if header[0] != size:
            report.skip(
                mask, f"mask is {header[0][0]}x{header[0][1]} but its image {image.name} is {size[0]}x{size[1]}"
            )
            continue
        if header[1] in ("RGB", "RGBA", "CMYK", "YCbCr", "HSV", "LAB") and not check_values:
            report.skip(mask, f"a colour ({header[1]}) mask; masks must hold class indices (grayscale or palette PNG)")
            continue
        if check_values:
            try:
                values[str(mask)] = {int(v) for v in np.unique(read_mask(mask))}
            except DataError as error:
                report.skip(mask, str(error).split(": ", 1)[-1])
                continue
        items.append(SegmentationItem(str(image), str(mask)))
    return items, values


def _load_segmentation_one(
    p: Path,
    found: _PairSet,
    layout: str,
    class_roots: Sequence[Path],
    ignore_index: int | Literal["auto"] | None,
    check_values: bool,
) -> SegmentationData:
    report = _Report()
    if found.lonely and layout == "voc-segmentation":
        # VOC's JPEGImages holds the detection images too: most have no mask, by design.
        report.notes.append(f"{len(found.lonely)} images in {found.lonely[0].parent} have no mask; left out")
    else:
        for image in found.lonely:
            report.skip(image, "no mask with this name; image left out")
    for mask in found.orphans:
        report.skip(mask, "no image with this name; mask left out", ignored=True)
    if found.orphans:
        report.notes.append(f"{len(found.orphans)} masks have no image; left out")
    names, ignore = _segmentation_classes(class_roots, layout == "voc-segmentation", ignore_index, report)
    items, values = _read_masks(found.pairs, report, check_values)
    if not items:
        first = next((s for s in report.skipped if not s.ignored), None)
        detail = f" ({len(report.skipped)} skipped, e.g. {first.location}: {first.reason})" if first else ""
        raise DataError(f"{p}: no usable image and mask pairs{detail}; check the mask files")
    seen = set().union(*values.values()) if values else set()
    if seen and seen <= {0, 255} and 255 in seen and ignore == 255 and names is None:
        raise DataError(
            f"{p}: the masks hold only 0 and 255, and 255 is the ignore index, so no pixel would be an object; "
            "save binary masks with 1 for the object (and 0 for background)"
        )
    if names is None:
        top = max((v for v in seen if v != ignore), default=0)
        names = [f"class_{i}" for i in range(top + 1)]
        report.notes.append(
            f"no classes.txt: {len(names)} classes named class_0..class_{top} from the mask values; "
            "add classes.txt (one name a line, in index order) to name them"
        )
    if check_values:
        kept = []
        for item in items:
            bad = sorted(v for v in values[item.mask] if v >= len(names) and v != ignore)
            if bad:
                allowed = f"0-{len(names) - 1}" + (f" and the ignore index {ignore}" if ignore is not None else "")
                shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
                report.skip(item.mask, f"mask values {shown} are not classes ({allowed})")
            else:
                kept.append(item)
        items = kept
    if not items:
        first = next(s for s in report.skipped if not s.ignored)
        raise DataError(f"{p}: no usable masks, e.g. {first.location}: {first.reason}; check classes.txt")
    return SegmentationData(
        items,
        names,
        ignore,
        str(p),
        layout,
        report.skipped,
        [f"{layout} layout: {len(items)} image and mask pairs, {len(names)} classes", *report.notes],
    )


def _segmentation_parts(p: Path) -> tuple[str, dict[str, _PairSet], list[Path], dict[str, set[str]]]:
    """(layout, split ("" when unsplit) -> pairs, folders to look for classes.txt in, VOC's split lists)."""
    dirs = _child_dirs(p)
    if "jpegimages" in dirs and "segmentationclass" in dirs:
        return (
            "voc-segmentation",
            {"": _pair_files(dirs["jpegimages"], dirs["segmentationclass"])},
            [p],
            _imageset_lists(p, "Segmentation"),
        )
    found = _mask_pairs(p)
    if found:
        return "masks", {k: _pair_files(*v) for k, v in found.items()}, [p], {}
    splits = _split_dirs(p)
    if "train" in splits and all(_mask_pairs(d) for d in splits.values()):
        parts = {name: _pair_files(*next(iter(_mask_pairs(d).values()))) for name, d in splits.items()}
        return "masks", parts, [p, splits["train"]], {}
    raise DataError(
        f"{p}: not a segmentation dataset; accepted: images/ + masks/ with matching names, "
        "train/ + trainannot/ (CamVid), or JPEGImages/ + SegmentationClass/ (Pascal VOC)"
    )


def load_segmentation(
    path: str | os.PathLike,
    *,
    ignore_index: int | Literal["auto"] | None = "auto",
    check_values: bool = True,
    max_skipped_fraction: float | None = None,
) -> SegmentationData:
    """Load an image folder and a mask folder (names matching by stem), or Pascal VOC's segmentation layout.

    Masks are single-channel images of class indices (grayscale or palette PNG), the size of their
    image. Class names come from ``classes.txt`` / ``labels.txt`` in index order (else VOC's for a
    VOC layout, else ``class_<i>`` from the values seen). ``ignore_index="auto"``: a class named
    like void/unlabelled/ignore, else 255; None: no ignore index. ``check_values`` decodes every
    mask once to skip those holding values that are no class. A split layout (CamVid's
    ``train/`` + ``trainannot/``...) is an error here: use :func:`load_segmentation_splits`.
    """
    p = _existing(path, "semantic segmentation")
    limit = _limit(max_skipped_fraction)
    if not p.is_dir():
        raise DataError(f"{path} is a file; pass a folder with images/ and masks/ (matching file names)")
    layout, parts, roots, _lists = _segmentation_parts(p)
    if "" not in parts:
        raise DataError(
            f"{path} is split into {', '.join(parts)}; pass one split or load it with load_segmentation_splits"
        )
    data = _load_segmentation_one(p, parts[""], layout, roots, ignore_index, check_values)
    check_dense_skipped(data, limit)
    return data


def load_segmentation_splits(
    path: str | os.PathLike,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    ignore_index: int | Literal["auto"] | None = "auto",
    check_values: bool = True,
    max_skipped_fraction: float | None = None,
) -> dict[str, SegmentationData]:
    """``{"train": ..., "val": ..., "test": ...}`` with the layout's own split if it has one.

    Own splits: CamVid's ``train/`` + ``trainannot/``, ``val/`` + ``valannot/``...; folders
    ``train/``, ``val/``, ``test/`` each holding images/ + masks/; VOC's
    ``ImageSets/Segmentation/{train,val}.txt``. Without a validation split, a seeded
    ``val_fraction`` of train is held out (0: none). Every split's notes say which was used.
    """
    p = _existing(path, "semantic segmentation")
    limit = _limit(max_skipped_fraction)
    if not 0 <= val_fraction < 1:
        raise DataError(f"validation fraction must be at least 0 and below 1, got {val_fraction}; e.g. 0.2")
    if not p.is_dir():
        raise DataError(f"{path} is a file; pass a folder with images/ and masks/ (matching file names)")
    layout, parts, roots, lists = _segmentation_parts(p)
    splits: dict[str, SegmentationData] = {}
    for name, found in parts.items():
        data = _load_segmentation_one(p, found, layout, roots, ignore_index, check_values)
        check_dense_skipped(data, limit)
        if name:
            data.source = str(found.pairs[0][0].parent) if found.pairs else str(p)
        splits[name or "train"] = data
    # Classes named from the values seen differ when a split lacks the highest: give all the longest list.
    if all(all(re.fullmatch(r"class_\d+", n) for n in d.class_names) for d in splits.values()):
        longest = max((d.class_names for d in splits.values()), key=len)
        for data in splits.values():
            data.class_names = list(longest)
    if "" in parts:
        how = "no split in the dataset"
        if lists:
            splits = _apply_lists(splits["train"], lists)
            how = "the dataset's own ImageSets/Segmentation lists"
    else:
        how = "the dataset's own split folders"
    return _finish_splits(splits, how, val_fraction, seed, "pairs")
