"""Loading image datasets: one subfolder of images per class."""

from __future__ import annotations

import os
from pathlib import Path

from zoo_core.data.layout import IMAGE_EXTENSIONS, _root_images, _visible_dirs, _walk_images, split_folders
from zoo_core.data.types import LabelledData, Skipped
from zoo_core.errors import DataError


def load_image_folder(path: str | os.PathLike, *, check_images: bool = True) -> LabelledData:
    """Load ``path/<class>/**/<image>``; with ``check_images``, unreadable images are skipped."""
    root = Path(path)
    if not root.exists():
        raise DataError(f"{path}: no such folder; pass a folder with one subfolder of images per class")
    if not root.is_dir():
        raise DataError(f"{path} is a file; pass a folder with one subfolder of images per class")
    class_dirs = _visible_dirs(root)
    stray = _root_images(root)
    if not class_dirs:
        if stray:
            raise DataError(
                f"{path} has {len(stray)} images directly inside and no class subfolders; "
                f"put images in one subfolder per class (e.g. {root / 'cat' / stray[0].name})"
            )
        raise DataError(f"{path} has no class subfolders; put images in one subfolder per class")
    if split_folders(root):
        raise DataError(
            f"{path} is split into train/val/test folders, not classes; "
            f"pass one split (e.g. {root / 'train'}) or load it as splits"
        )
    # Images beside the class folders have no label: leave them out, but say so.
    skipped = [Skipped(str(f), "image outside any class folder; ignored") for f in stray]
    items: list[str] = []
    labels: list[str] = []
    for class_dir in class_dirs:
        found = 0
        bad: list[Skipped] = []
        for file in _walk_images(class_dir):
            reason = _unreadable_reason(file) if check_images else None
            if reason:
                bad.append(Skipped(str(file), reason))
                continue
            items.append(str(file))
            labels.append(class_dir.name)
            found += 1
        skipped.extend(bad)
        if not found:
            if bad:
                detail = f"{len(bad)} unreadable, e.g. {bad[0].location}: {bad[0].reason}"
            else:
                detail = "no files ending in " + " ".join(IMAGE_EXTENSIONS)
            raise DataError(
                f"class '{class_dir.name}' ({class_dir}) has no readable images ({detail}); "
                "add images to it or remove the folder"
            )
    return LabelledData("image", items, labels, str(path), skipped)


def _unreadable_reason(file: Path) -> str | None:
    """Why PIL cannot read ``file``, or None. Reads the header only (fast), not the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        if file.stat().st_size == 0:
            return "empty file"
        with Image.open(file) as image:
            width, height = image.size
    except UnidentifiedImageError:
        return "not an image PIL can read (corrupt, or not really this format)"
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError... for broken headers
        return f"cannot read image ({type(error).__name__}: {error})"
    if not width or not height:
        return "image has zero width or height"
    return None
