"""Object detection and semantic segmentation datasets: Pascal VOC, COCO and YOLO boxes; index masks.

Torch-free, like the rest of ``zoo_core.data`` (numpy and PIL are imported inside functions; PyYAML
when installed). Every image is checked by its header only (size, pixel limit), the way the
classification loaders do; masks are decoded once to check their values. What cannot be used is
left out and listed in ``skipped`` (``location: reason``), never dropped silently; more than
:data:`~zoo_core.data.loading.MAX_SKIPPED_FRACTION` of the images unusable is a DataError.

Boxes are ``[xmin, ymin, xmax, ymax]`` in absolute pixels. Pascal VOC's are 1-based pixel indices
and are kept as written (no -1 shift): the shift is under a pixel and COCO-style metrics do not
depend on it. COCO's ``[x, y, w, h]`` and YOLO's normalised ``cx cy w h`` are converted. A box
partly outside its image is clipped to it; a box of zero area (``xmax <= xmin``) is dropped and
listed in ``skipped`` as ignored: it covers no pixel, so dropping it teaches nothing wrong. An image
whose annotation file is broken in any other way (bad XML, a bad line, an unknown class) is
skipped whole: keeping it with boxes missing would teach that those objects are background.
VOC's ``<difficult>`` boxes are kept, flagged in :attr:`DetectionItem.difficult`.

The package, by module: :mod:`.types` (the item and dataset classes, layout names, the skipped
check), :mod:`.layout` (:func:`detect_dense_layout`, :func:`task_of_layout`, the folders of each
layout), :mod:`.report` (what readers share: the skipped/notes report, headers, class lists),
:mod:`.voc`, :mod:`.coco` and :mod:`.yolo` (the box readers), :mod:`.detection` (the detection
loaders), :mod:`.segmentation` (mask readers and loaders) and :mod:`.splits` (train/val/test).
"""

from __future__ import annotations

from zoo_core.data.dense.detection import load_detection, load_detection_splits
from zoo_core.data.dense.layout import detect_dense_layout, task_of_layout
from zoo_core.data.dense.segmentation import load_segmentation, load_segmentation_splits, read_mask
from zoo_core.data.dense.types import (
    DEFAULT_IGNORE_INDEX,
    DETECTION_LAYOUTS,
    SEGMENTATION_LAYOUTS,
    VOC_CLASSES,
    DetectionData,
    DetectionItem,
    SegmentationData,
    SegmentationItem,
    check_dense_skipped,
)

__all__ = [
    "DEFAULT_IGNORE_INDEX",
    "DETECTION_LAYOUTS",
    "SEGMENTATION_LAYOUTS",
    "VOC_CLASSES",
    "DetectionData",
    "DetectionItem",
    "SegmentationData",
    "SegmentationItem",
    "check_dense_skipped",
    "detect_dense_layout",
    "load_detection",
    "load_detection_splits",
    "load_segmentation",
    "load_segmentation_splits",
    "read_mask",
    "task_of_layout",
]
