"""Loading image datasets: one subfolder of images per class; the pixel limit on every image."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zoo_core.data.layout import IMAGE_EXTENSIONS, _root_images, _visible_dirs, _walk_images, split_folders
from zoo_core.data.types import LabelledData, Skipped
from zoo_core.errors import DataError

#: The most pixels (width x height) an image may have, unless ``ZOO_MAX_IMAGE_PIXELS`` says
#: otherwise. 64 million admits every camera and phone photo in its default mode (61 MP full-frame
#: sensors, 48-50 MP phones) while refusing what only wastes memory on a model that sees 224-pixel
#: inputs: decoding costs about 15 bytes per pixel at its peak (RGB copies and the resize), so about
#: 1 GB per decoding worker at the limit, against 2.1 GB measured for a 12000x12000 PNG. PIL's
#: own limit (89 M pixels, a warning; 179 M, an error) let that one through with a raw warning.
MAX_IMAGE_PIXELS = 64_000_000
MAX_IMAGE_PIXELS_ENV = "ZOO_MAX_IMAGE_PIXELS"


def max_image_pixels() -> int | None:
    """The pixel limit: ``ZOO_MAX_IMAGE_PIXELS`` (a whole number; ``0`` or ``none``: no limit),
    else :data:`MAX_IMAGE_PIXELS`. A value that is not a number is a DataError naming the variable."""
    raw = os.environ.get(MAX_IMAGE_PIXELS_ENV, "").strip()
    if not raw:
        return MAX_IMAGE_PIXELS
    if raw.lower() in ("0", "none", "off", "unlimited"):
        return None
    try:
        value = float(raw.replace("_", "").replace(",", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise DataError(
            f"{MAX_IMAGE_PIXELS_ENV} must be a whole number of pixels (e.g. 100000000) or 'none' for no limit, "
            f"got {raw!r}"
        )
    return int(value)


def pixel_limit_reason(width: int, height: int, limit: int) -> str:
    """Why an image of ``width`` x ``height`` is refused, and how to lift the limit (one line)."""
    pixels = width * height
    step = 10 ** max(0, len(str(pixels)) - 2)  # the image's size rounded up to two digits: a limit it fits under
    suggest = -(-pixels // step) * step
    return (
        f"image is {width}x{height} ({pixels / 1e6:.1f} million pixels), above the limit of "
        f"{limit / 1e6:g} million; downscale it, or raise the limit with {MAX_IMAGE_PIXELS_ENV}={suggest}"
    )


@contextmanager
def pil_bomb_check_off() -> Iterator[None]:
    """PIL's own decompression-bomb check off (its raw warning included) while we check sizes ourselves."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def image_header_size(path: Any) -> tuple[int, int] | None:
    """``(width, height)`` from an image file's header (no pixels decoded), or None if unreadable."""
    from PIL import Image

    try:
        with pil_bomb_check_off(), Image.open(path) as image:
            return image.size
    except Exception:  # any broken header: the caller reports its own error
        return None


def load_image_folder(path: str | os.PathLike, *, check_images: bool = True) -> LabelledData:
    """Load ``path/<class>/**/<image>``; with ``check_images``, unreadable images are skipped.

    Checking reads each image's header (not its pixels): empty files, files that are not images
    and images above the pixel limit (:func:`max_image_pixels`) are skipped with the reason.
    A file whose pixels are corrupt fails later, when it is decoded, naming the file.
    """
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
    skipped = [Skipped(str(f), "image outside any class folder; ignored", ignored=True) for f in stray]
    limit = max_image_pixels() if check_images else None
    items: list[str] = []
    labels: list[str] = []
    for class_dir in class_dirs:
        found = 0
        bad: list[Skipped] = []
        for file in _walk_images(class_dir):
            reason = _unreadable_reason(file, limit) if check_images else None
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


def _unreadable_reason(file: Path, limit: int | None) -> str | None:
    """Why PIL cannot read ``file`` or it is too large, or None. Reads the header only (fast), not the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        if file.stat().st_size == 0:
            return "empty file"
        with pil_bomb_check_off(), Image.open(file) as image:
            width, height = image.size
    except UnidentifiedImageError:
        return "not an image PIL can read (corrupt, or not really this format)"
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError... for broken headers
        return f"cannot read image ({type(error).__name__}: {error})"
    if not width or not height:
        return "image has zero width or height"
    if limit is not None and width * height > limit:
        return pixel_limit_reason(width, height, limit)
    return None
