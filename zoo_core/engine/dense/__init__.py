"""Object detection and semantic segmentation on zoo backbones (heavy: imports torch).

:mod:`.features` turns a backbone into multi-scale feature maps (timm's ``forward_intermediates``
on the backbone's own module); :mod:`.detection` puts torchvision's FCOS, RetinaNet or Faster R-CNN
with an FPN on them; :mod:`.segmentation` puts segmentation_models_pytorch's FPN decoder or
torchvision's DeepLabV3 head on them. Each has its dataset class, training loop, evaluation (through
:mod:`zoo_core.dense_metrics`) and prediction.
"""

from __future__ import annotations

from zoo_core.engine.dense.detection import (
    DEFAULT_DETECTOR,
    DETECTORS,
    DetectionDataset,
    build_detector,
    evaluate_detector,
    predict_boxes,
    train_detector,
)
from zoo_core.engine.dense.features import FeatureMaps, feature_maps_of, supports_feature_maps
from zoo_core.engine.dense.segmentation import (
    DECODERS,
    DEFAULT_DECODER,
    SegmentationDataset,
    Segmenter,
    build_segmenter,
    evaluate_segmenter,
    predict_masks,
    segmentation_loss,
    train_segmenter,
)

__all__ = [
    "DECODERS",
    "DEFAULT_DECODER",
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "DetectionDataset",
    "FeatureMaps",
    "SegmentationDataset",
    "Segmenter",
    "build_detector",
    "build_segmenter",
    "evaluate_detector",
    "evaluate_segmenter",
    "feature_maps_of",
    "predict_boxes",
    "predict_masks",
    "segmentation_loss",
    "supports_feature_maps",
    "train_detector",
    "train_segmenter",
]
