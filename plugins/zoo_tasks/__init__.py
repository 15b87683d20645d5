"""First-party plugin: the tasks zoo can run, as plugins like any other.

``image-classification`` and ``text-classification`` run the classification pipeline
(:mod:`zoo_core.engine.pipeline`, unchanged); ``object-detection`` and ``semantic-segmentation``
run :mod:`zoo_core.engine.dense.pipeline` (torchvision detectors and segmentation decoders on the
backbone's feature maps). Torch-free: runners, metrics and drawing are import strings, the
``predict`` schemas plain JSON Schema dicts. These specs win over the built-in catalog's
declarations of the same tasks (which supply the descriptions).
"""

from __future__ import annotations

from typing import Any

from zoo_core.hookspecs import hookimpl
from zoo_core.specs import TaskSpec

_NUMBERS: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}

#: One item of ``zoo predict --json`` for a classifier.
CLASSIFICATION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "classification prediction",
    "type": "object",
    "required": ["input", "label", "score", "top"],
    "properties": {
        "input": {"type": "string", "description": "the image path or the text"},
        "label": {"type": "string", "description": "the best label"},
        "score": {"type": "number", "description": "its probability"},
        "top": {
            "type": "array",
            "description": "the --top-k best labels, best first",
            "items": {
                "type": "object",
                "required": ["label", "score"],
                "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
            },
        },
    },
}

#: One item of ``zoo predict --json`` for a detector.
DETECTION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "object detection prediction",
    "type": "object",
    "required": ["input", "boxes", "labels", "scores"],
    "properties": {
        "input": {"type": "string", "description": "the image path"},
        "boxes": {
            "type": "array",
            "description": "[xmin, ymin, xmax, ymax] in pixels of the input image, best first",
            "items": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        },
        "labels": {**_STRINGS, "description": "the class name of each box"},
        "scores": {**_NUMBERS, "description": "the score of each box (0-1), descending"},
        "drawn": {"type": "string", "description": "with --draw: the image written with its boxes"},
    },
}

#: One item of ``zoo predict --json`` for a segmenter.
SEGMENTATION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "semantic segmentation prediction",
    "type": "object",
    "required": ["input", "mask", "counts"],
    "properties": {
        "input": {"type": "string", "description": "the image path"},
        "mask": {"type": "string", "description": "the PNG written: one class id per pixel, the image's size"},
        "counts": {
            "type": "object",
            "description": "pixels predicted per class name (classes with none left out)",
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
        "drawn": {"type": "string", "description": "with --draw: the image written with its mask overlaid"},
    },
}

TASKS = [
    TaskSpec(
        name="image-classification",
        modality="image",
        runner="zoo_tasks._classification:ClassificationRunner",
        readers=("folders",),
        metrics="zoo_core.metrics:classification_metrics",
        predict_schema=CLASSIFICATION_SCHEMA,
        feature_kind="pooled",
    ),
    TaskSpec(
        name="text-classification",
        modality="text",
        runner="zoo_tasks._classification:ClassificationRunner",
        readers=("csv", "tsv", "jsonl"),
        metrics="zoo_core.metrics:classification_metrics",
        predict_schema=CLASSIFICATION_SCHEMA,
        feature_kind="pooled",
    ),
    TaskSpec(
        name="object-detection",
        modality="image",
        runner="zoo_core.engine.dense.pipeline:DETECTION_RUNNER",
        readers=("voc", "coco", "yolo"),
        metrics="zoo_core.dense_metrics:detection_metrics",
        predict_schema=DETECTION_SCHEMA,
        draw="zoo_core.engine.dense.drawing:draw_boxes",
        feature_kind="maps",
    ),
    TaskSpec(
        name="semantic-segmentation",
        modality="image",
        runner="zoo_core.engine.dense.pipeline:SEGMENTATION_RUNNER",
        readers=("masks", "voc-segmentation"),
        metrics="zoo_core.dense_metrics:segmentation_metrics",
        predict_schema=SEGMENTATION_SCHEMA,
        draw="zoo_core.engine.dense.drawing:draw_mask",
        feature_kind="maps",
    ),
]


@hookimpl
def register_tasks(register):
    for spec in TASKS:
        register(spec)
