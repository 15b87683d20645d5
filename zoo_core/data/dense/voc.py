"""Pascal VOC detection: ``images/`` (or ``JPEGImages/``) and one ``annotations/*.xml`` file per image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core.data.dense.layout import _files, _images_in, _voc_dirs
from zoo_core.data.dense.report import _find_image, _Report
from zoo_core.data.dense.types import DetectionItem
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------ Pascal VOC


def _read_voc(root: Path, report: _Report, classes: list[str] | None) -> list[DetectionItem]:
    import xml.etree.ElementTree as ET

    found = _voc_dirs(root)
    if found is None:
        raise DataError(
            f"{root}: not a Pascal VOC layout; it needs images/ (or JPEGImages/) and annotations/ "
            "(or Annotations/) holding one .xml file per image"
        )
    images_dir, annotations_dir = found
    items: list[DetectionItem] = []
    annotated: set[str] = set()
    for xml_file in _files(annotations_dir, (".xml",)):
        annotated.add(xml_file.stem)  # its image is reported with the XML file if that is broken
        try:
            tree = ET.parse(xml_file)
        except (ET.ParseError, OSError) as error:
            report.skip(xml_file, f"not valid XML ({error}); its image is left out")
            continue
        node = tree.getroot()
        name = (node.findtext("filename") or "").strip()
        image = _find_image(images_dir, xml_file.stem, Path(name).name if name else None)
        if image is None:
            report.skip(xml_file, f"no image '{name or xml_file.stem + '.*'}' in {images_dir}; annotation left out")
            continue
        annotated.add(image.name)
        size = report.image_size(image)
        if size is None:
            continue
        parsed = _voc_objects(node, xml_file, size, report, classes)
        if parsed is None:
            continue
        boxes, labels, difficult = parsed
        report.empty_images += not boxes
        items.append(DetectionItem(str(image), boxes, labels, size[0], size[1], difficult))
    stray = [f for f in _images_in(images_dir) if f.name not in annotated and f.stem not in annotated]
    if stray:
        # VOC tools write an XML even for an image with no objects, so a missing one is not "no objects".
        for f in stray:
            report.skip(f, "no annotation file for this image; left out", ignored=True)
        report.notes.append(f"{len(stray)} images in {images_dir} have no .xml in {annotations_dir}; left out")
    return items


def _voc_objects(
    node: Any, xml_file: Path, size: tuple[int, int], report: _Report, classes: list[str] | None
) -> tuple[list[list[float]], list[str], list[bool]] | None:
    """The boxes of one VOC file, or None after skipping it with the reason."""
    boxes: list[list[float]] = []
    labels: list[str] = []
    difficult: list[bool] = []
    for index, obj in enumerate(node.findall("object"), 1):
        label = (obj.findtext("name") or "").strip()
        bndbox = obj.find("bndbox")
        if not label:
            report.skip(xml_file, f"object {index} has no <name>; its image is left out")
            return None
        if classes is not None and label not in classes:
            report.skip(xml_file, f"object {index}: class '{label}' is not in the class list; its image is left out")
            return None
        if bndbox is None:
            report.skip(xml_file, f"object {index} ('{label}') has no <bndbox>; its image is left out")
            return None
        try:
            coords = [float((bndbox.findtext(tag) or "").strip()) for tag in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError:
            report.skip(xml_file, f"object {index} ('{label}'): <bndbox> needs numbers xmin ymin xmax ymax")
            return None
        box = report.box(coords, size[0], size[1], f"{xml_file} object {index}")
        if box is None:
            continue
        boxes.append(box)
        labels.append(label)
        difficult.append((obj.findtext("difficult") or "0").strip() not in ("0", "", "false", "False"))
    return boxes, labels, difficult
