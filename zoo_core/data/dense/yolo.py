"""YOLO detection: ``images/`` and ``labels/*.txt`` (lines ``class cx cy w h``, normalised), classes
from ``classes.txt`` / ``obj.names`` / ``data.yaml`` (read without PyYAML when it is missing).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from zoo_core.data.dense.layout import _images_in, _yolo_dirs
from zoo_core.data.dense.report import _read_class_file, _Report
from zoo_core.data.dense.types import _YAML_FILES, DetectionItem
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------ YOLO


def _yolo_classes(root: Path) -> tuple[list[str] | None, str]:
    """Class names from classes.txt / obj.names / data.yaml in ``root``, and where they came from."""
    for name in ("classes.txt", "obj.names", "classes.names", "labels.txt"):
        if (root / name).is_file():
            return _read_class_file(root / name), name
    for name in _YAML_FILES:
        if (root / name).is_file():
            names = _yaml_names(root / name)
            if names is not None:
                return names, name
    return None, ""


def _read_yolo(root: Path, report: _Report, split: str | None) -> tuple[list[DetectionItem], list[str]]:
    found = _yolo_dirs(root, split)
    if found is None:
        raise DataError(
            f"{root}: not a YOLO layout; it needs images/ and labels/ (one .txt per image, lines 'class cx cy w h')"
        )
    images_dir, labels_dir = found
    names, names_from = _yolo_classes(root)
    raw: list[tuple[Path, Path | None, list[tuple[int, list[float], str]]]] = []
    seen_ids: set[int] = set()
    no_label = 0
    for image in _images_in(images_dir):
        label_file = labels_dir / (image.stem + ".txt")
        if not label_file.is_file():
            no_label += 1
            raw.append((image, None, []))
            continue
        parsed = _yolo_lines(label_file, report, len(names) if names is not None else None)
        if parsed is None:
            continue
        seen_ids.update(c for c, _, _ in parsed)
        raw.append((image, label_file, parsed))
    if no_label:
        report.notes.append(f"{no_label} images in {images_dir} have no label file: read as images without objects")
    if names is None:
        names = [f"class_{i}" for i in range(max(seen_ids) + 1)] if seen_ids else []
        report.notes.append(
            f"no classes.txt, obj.names or data.yaml in {root}: classes named class_0..class_{len(names) - 1} "
            "from the ids seen; add classes.txt (one name a line) to name them"
        )
    else:
        report.notes.append(f"class names from {root / names_from}")
    items: list[DetectionItem] = []
    for image, _label_file, parsed in raw:
        size = report.image_size(image)
        if size is None:
            continue
        width, height = size
        boxes: list[list[float]] = []
        labels: list[str] = []
        for class_id, (cx, cy, w, h), location in parsed:
            pixel = [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
            kept = report.box(pixel, width, height, location)
            if kept is not None:
                boxes.append(kept)
                labels.append(names[class_id])
        report.empty_images += not boxes
        items.append(DetectionItem(str(image), boxes, labels, width, height))
    return items, names


def _yolo_lines(file: Path, report: _Report, num_classes: int | None) -> list[tuple[int, list[float], str]] | None:
    """``(class, [cx, cy, w, h], "file:line")`` per line, or None after skipping the file with the line at fault."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        report.skip(file, f"cannot read label file ({error}); its image is left out")
        return None
    out: list[tuple[int, list[float], str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        tokens = line.split()
        if len(tokens) != 5:
            kind = " (a segmentation polygon?)" if len(tokens) > 5 else ""
            report.skip(where, f"expected 5 values 'class cx cy w h', got {len(tokens)}{kind}; its image is left out")
            return None
        try:
            class_float = float(tokens[0])
            values = [float(t) for t in tokens[1:]]
        except ValueError:
            report.skip(where, f"'{line.strip()}' is not 'class cx cy w h' numbers; its image is left out")
            return None
        if class_float != int(class_float) or class_float < 0:
            report.skip(where, f"class '{tokens[0]}' is not a class index 0, 1, 2...; its image is left out")
            return None
        class_id = int(class_float)
        if num_classes is not None and class_id >= num_classes:
            report.skip(
                where, f"class {class_id} but only {num_classes} class names (0-{num_classes - 1}); image left out"
            )
            return None
        if not all(math.isfinite(v) and -0.01 <= v <= 1.01 for v in values):
            report.skip(
                where, "cx cy w h must be fractions of the image size (0 to 1), not pixels; its image is left out"
            )
            return None
        out.append((class_id, values, where))
    return out


def _yaml_names(file: Path) -> list[str] | None:
    """The ``names:`` of a YOLO ``data.yaml`` (a list, or a dict of index -> name), or None without one."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{file}: cannot read it ({error}); save it as UTF-8 YAML with a 'names:' list") from None
    try:
        import yaml
    except ImportError:
        names: Any = _minimal_yaml_names(text)
    else:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as error:
            where = getattr(error, "problem_mark", None)
            line = f" line {where.line + 1}" if where is not None else ""
            raise DataError(f"{file}:{line} not valid YAML; fix it or list the classes in classes.txt") from None
        names = loaded.get("names") if isinstance(loaded, dict) else None
    if names is None:
        return None
    if isinstance(names, dict):
        try:
            ordered = sorted((int(k), str(v)) for k, v in names.items())
        except (TypeError, ValueError):
            raise DataError(f"{file}: 'names' keys must be class indices 0, 1, 2...; fix the names list") from None
        if [k for k, _ in ordered] != list(range(len(ordered))):
            raise DataError(f"{file}: 'names' must number the classes 0, 1, 2... without gaps; fix the names list")
        return [v for _, v in ordered]
    if isinstance(names, list):
        return [str(n) for n in names]
    raise DataError(f"{file}: 'names' must be a list of class names or a mapping of index to name")


def _minimal_yaml_names(text: str) -> list[str] | dict[int, str] | None:
    """``names:`` as an inline list, a block list or a block mapping; enough for YOLO files without PyYAML."""

    def scalar(value: str) -> str:
        value = value.split(" #")[0].strip()
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value

    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^names\s*:\s*(.*)$", line)
        if not match:
            continue
        rest = match.group(1).split(" #")[0].strip()
        if rest.startswith("["):
            return [scalar(v) for v in rest.strip("[]").split(",") if v.strip()]
        items: list[str] = []
        mapping: dict[int, str] = {}
        for follow in lines[i + 1 :]:
            if not follow.strip() or follow.strip().startswith("#"):
                continue
            if not follow[:1].isspace() and not follow.startswith("-"):
                break
            entry = follow.strip()
            if entry.startswith("-"):
                items.append(scalar(entry[1:]))
            elif ":" in entry:
                key, value = entry.split(":", 1)
                if key.strip().isdigit():
                    mapping[int(key)] = scalar(value)
        return mapping or items
    return None
