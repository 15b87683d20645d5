"""Object detection on a zoo backbone with torchvision's detectors (FCOS, RetinaNet, Faster R-CNN).

The detector is torchvision's own (``torchvision.models.detection``): its transform (resize, pad,
normalise), anchors or points, heads, losses and post-processing; the zoo only supplies the
backbone, as :class:`torchvision.ops.FeaturePyramidNetwork` over the backbone's feature maps
(:func:`~zoo_core.engine.dense.features.feature_maps_of`), the way torchvision builds its own
``*_resnet50_fpn`` models: levels at strides 8, 16, 32, then P6/P7 (FCOS, RetinaNet) or a max-pooled
level (Faster R-CNN).

The default is FCOS (Tian et al., 2019): anchor-free, so nothing to tune per dataset (anchor sizes
and ratios), one stage, and the fastest of the three to train on a CPU; its anchors here are one
point per cell, sized as the level's stride, as torchvision's ``fcos_resnet50_fpn``. Faster R-CNN
(``kind="fasterrcnn"``, the torchvision tutorial's) and RetinaNet are there for comparison.

Labels: torchvision's detectors take 1-based class ids (0 is background for Faster R-CNN; FCOS and
RetinaNet one-hot the label and find background by matching, so their class 0 is simply never a
target). This module always shifts by one: ``num_classes`` object classes make a model with
``num_classes + 1`` outputs, and predictions of class 0 are dropped.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from zoo_core.data.dense import DetectionData
from zoo_core.engine.dense.features import (
    FeatureMaps,
    feature_maps_of,
    image_stats,
    load_image,
    set_backbone_trainable,
    to_tensor,
)
from zoo_core.engine.dense.loop import MethodHooks, model_device, progress_bar, run_training_loop, start_training
from zoo_core.errors import ZooError

DETECTORS = ("fcos", "retinanet", "fasterrcnn")
DEFAULT_DETECTOR = "fcos"


class BackboneWithFPN(nn.Module):
    """Feature maps + torchvision's FPN: ``images -> OrderedDict`` of ``out_channels``-wide maps."""

    def __init__(self, features: FeatureMaps, out_channels: int, extra_blocks: nn.Module | None):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork

        self.body = features
        self.fpn = FeaturePyramidNetwork(features.channels, out_channels, extra_blocks=extra_blocks)
        self.out_channels = out_channels  # what torchvision's detectors read

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.fpn(self.body(images))


def build_detector(
    backbone: nn.Module,
    num_classes: int,
    *,
    kind: str = DEFAULT_DETECTOR,
    min_size: int = 512,
    max_size: int = 853,
    fpn_channels: int = 256,
    freeze_backbone: bool | None = None,
    class_names: Sequence[str] | None = None,
    score_thresh: float = 0.05,
    detections_per_img: int = 100,
    **options: Any,
) -> nn.Module:
    """A torchvision detector (``kind``: fcos, retinanet or fasterrcnn) on ``backbone``'s feature maps.

    ``num_classes`` object classes (no background). Images are resized so that their short side
    is ``min_size`` (long side at most ``max_size``) and normalised with the backbone's own
    pre-training mean and std. ``freeze_backbone``: True freezes the backbone, False trains all of
    it, None leaves ``requires_grad`` as it is (as an adaptation method such as LoRA set it).
    ``score_thresh`` is low (0.05, as torchvision's COCO evaluation) so mAP sees the whole
    precision-recall curve; :func:`predict_boxes` filters by its own threshold. ``options`` go to
    the torchvision class. The model's ``class_names`` attribute names the classes.
    """
    from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

    if kind not in DETECTORS:
        raise ZooError(f"unknown detector '{kind}'; choose one of {', '.join(DETECTORS)}")
    if num_classes < 1:
        raise ZooError(f"a detector needs at least one class, got {num_classes}")
    if class_names is not None and len(class_names) != num_classes:
        raise ZooError(f"{len(class_names)} class names for {num_classes} classes")
    features = feature_maps_of(backbone, (8, 16, 32))
    set_backbone_trainable(backbone, None if freeze_backbone is None else not freeze_backbone)
    mean, std = image_stats(backbone)
    transform: dict[str, Any] = {"min_size": min_size, "max_size": max_size, "image_mean": mean, "image_std": std}
    if features.fixed_size is not None:  # ViT-like: one input size (stretched), no padding past it
        transform.update(fixed_size=features.fixed_size, size_divisible=1)
    strides = list(features.strides)
    sizes: Any
    model: Any  # a torchvision detector, with the zoo's attributes added below
    if kind == "fasterrcnn":
        body = BackboneWithFPN(features, fpn_channels, LastLevelMaxPool())
        sizes = tuple((8 * s,) for s in [*strides, 2 * strides[-1]])
        anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
        roi_pool = MultiScaleRoIAlign([str(i) for i in range(len(strides))], output_size=7, sampling_ratio=2)
        model = FasterRCNN(
            body,
            num_classes + 1,
            rpn_anchor_generator=anchors,
            box_roi_pool=roi_pool,
            box_score_thresh=score_thresh,
            box_detections_per_img=detections_per_img,
            **transform,
            **options,
        )
    else:
        body = BackboneWithFPN(features, fpn_channels, LastLevelP6P7(fpn_channels, fpn_channels))
        levels = [*strides, 2 * strides[-1], 4 * strides[-1]]
        if kind == "fcos":
            anchors = AnchorGenerator(tuple((s,) for s in levels), ((1.0,),) * len(levels))
            model = FCOS(
                body,
                num_classes + 1,
                anchor_generator=anchors,
                score_thresh=score_thresh,
                detections_per_img=detections_per_img,
                **transform,
                **options,
            )
        else:
            sizes = tuple(tuple(int(4 * s * 2 ** (k / 3)) for k in range(3)) for s in levels)
            anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(levels))
            model = RetinaNet(
                body,
                num_classes + 1,
                anchor_generator=anchors,
                score_thresh=score_thresh,
                detections_per_img=detections_per_img,
                **transform,
                **options,
            )
    # None until training names them from its data (their order fixes the ids).
    model.class_names = list(class_names) if class_names is not None else None
    model.num_object_classes = num_classes
    model.detector_kind = kind
    return model


# ------------------------------------------------------------------------------------ data


class DetectionDataset(torch.utils.data.Dataset):
    """``(image [3, H, W] in 0-1, {"boxes": float32 [N, 4] xyxy pixels, "labels": int64 [N], 1-based})``.

    ``class_names`` fixes the ids (a label's index + 1). ``train``: a random horizontal flip.
    """

    def __init__(self, data: DetectionData, class_names: Sequence[str] | None = None, train: bool = False):
        self.data = data
        self.class_names = list(class_names if class_names is not None else data.class_names)
        index = {name: i for i, name in enumerate(self.class_names)}
        missing = sorted({label for item in data.items for label in item.labels} - set(index))
        if missing:
            raise ZooError(f"{data.source}: labels {', '.join(missing[:5])} are not among the model's classes")
        self.index = index
        self.train = train

    def __len__(self) -> int:
        return len(self.data.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        item = self.data.items[i]
        image = to_tensor(load_image(item.image))
        boxes = torch.tensor(item.boxes, dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([self.index[name] + 1 for name in item.labels], dtype=torch.int64)
        if self.train and random.random() < 0.5:
            width = image.shape[-1]
            image = image.flip(-1)
            boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
        return image, {"boxes": boxes, "labels": labels}


def collate(samples: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """Images of different sizes stay a list, as torchvision's detectors take them."""
    images, targets = zip(*samples)
    return list(images), list(targets)


def _class_names(model: Any, data: Any = None) -> list[str]:
    """The model's class names; a model built without them takes ``data``'s (when their count fits)."""
    names = getattr(model, "class_names", None)
    if names is None and data is not None:
        names = list(data.class_names)
        count = getattr(model, "num_object_classes", len(names))
        if len(names) != count:
            raise ZooError(f"{data.source} has {len(names)} classes but the detector was built for {count}")
        model.class_names = names
    if names is None:
        names = [f"class_{i}" for i in range(getattr(model, "num_object_classes", 0))]
    return list(names)


def _dataset(data: Any, model: nn.Module, train: bool) -> Any:
    if isinstance(data, DetectionData):
        return DetectionDataset(data, _class_names(model, data), train)
    return data


def train_detector(
    model: nn.Module,
    train_data: DetectionData | torch.utils.data.Dataset,
    val_data: DetectionData | None = None,
    *,
    epochs: int = 12,
    lr: float = 2e-4,
    batch_size: int = 4,
    seed: int = 0,
    weight_decay: float = 1e-4,
    warmup_steps: int | None = None,
    max_steps: int | None = None,
    clip_grad: float = 10.0,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = print,
    progress: bool | None = None,
    hooks: MethodHooks | None = None,
) -> dict[str, Any]:
    """Train the parameters of ``model`` that require grad on ``train_data``; returns the history.

    AdamW, not the torchvision references' SGD (momentum 0.9, weight decay 1e-4, lr 0.01 for 16
    images a batch): with a few images a batch and a short budget, AdamW trains the fresh FPN and
    heads in fewer steps and needs no per-batch-size lr scaling. Linear warmup (``warmup_steps``,
    default a tenth of the steps, at most 200), then cosine decay; gradients clipped at
    ``clip_grad``. ``max_steps`` stops early (tests). With ``val_data``, each epoch ends with its
    COCO metrics. Returns ``{"steps", "losses" (per step), "epochs": [{"epoch", "loss", "seconds",
    "val"?}]}``.
    """
    device = start_training(model, device, seed)
    dataset = _dataset(train_data, model, train=True)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        collate_fn=collate,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )

    def batch_loss(batch: tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]) -> torch.Tensor:
        images = [image.to(device) for image in batch[0]]
        targets = [{k: v.to(device) for k, v in t.items()} for t in batch[1]]
        loss_parts = model(images, targets)
        return sum(loss_parts.values())

    def evaluate() -> dict[str, Any]:
        assert val_data is not None
        return evaluate_detector(model, val_data, device=device, batch_size=batch_size)

    return run_training_loop(
        model,
        loader,
        batch_loss,
        task="detection",
        model_noun="detector",
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        max_steps=max_steps,
        clip_grad=clip_grad,
        evaluate=evaluate if val_data is not None else None,
        val_metric=("mAP@.5", "map_50"),
        log=log,
        progress=progress,
        hooks=hooks,
    )


# ------------------------------------------------------------------------------------ evaluation


@torch.no_grad()
def _detect(model: nn.Module, images: list[torch.Tensor], device: torch.device) -> list[dict[str, torch.Tensor]]:
    model.eval()
    out = model([image.to(device) for image in images])
    results = []
    for found in out:
        keep = found["labels"] > 0  # class 0 is background (never a target)
        results.append({k: v[keep].cpu() for k, v in found.items()})
    return results


def evaluate_detector(
    model: nn.Module,
    data: DetectionData,
    class_names: Sequence[str] | None = None,
    *,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """COCO box metrics on ``data`` (:func:`zoo_core.dense_metrics.detection_metrics`): ``map``,
    ``map_50``, ``map_75``, ``mar_100``, ``per_class``, ``num_images``, ``num_boxes``, plus
    ``seconds_per_image``. VOC's difficult boxes count as ordinary ones (COCO's rule)."""
    from zoo_core.dense_metrics import detection_metrics

    names = list(class_names) if class_names is not None else _class_names(model, data)
    device = model_device(model, device)
    dataset = DetectionDataset(data, names, train=False)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    predictions: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    start = time.perf_counter()
    for images, batch_targets in progress_bar(loader, progress, len(loader), "evaluate"):
        for found, target in zip(_detect(model, images, device), batch_targets):
            predictions.append({"boxes": found["boxes"], "scores": found["scores"], "labels": found["labels"] - 1})
            targets.append({"boxes": target["boxes"], "labels": target["labels"] - 1})
    seconds = time.perf_counter() - start
    result = detection_metrics(predictions, targets, names)
    result["seconds_per_image"] = seconds / max(1, len(dataset))
    return result


def predict_boxes(
    model: nn.Module,
    images: Sequence[Any],
    score_threshold: float = 0.5,
    *,
    class_names: Sequence[str] | None = None,
    batch_size: int = 4,
    device: str | torch.device | None = None,
) -> list[dict[str, Any]]:
    """Boxes found in each image (a path, a PIL image or a ``[3, H, W]`` 0-1 tensor), JSON-able:
    ``{"boxes": [[xmin, ymin, xmax, ymax], ...] (pixels), "labels": [class name, ...], "scores": [...]}``,
    best first, those scoring below ``score_threshold`` left out."""
    names = list(class_names) if class_names is not None else _class_names(model)
    device = model_device(model, device)
    results: list[dict[str, Any]] = []
    for first in range(0, len(images), batch_size):
        batch = [
            image if isinstance(image, torch.Tensor) else to_tensor(load_image(image))
            for image in images[first : first + batch_size]
        ]
        for found in _detect(model, batch, device):
            keep = found["scores"] >= score_threshold
            results.append(
                {
                    "boxes": [[round(float(v), 2) for v in box] for box in found["boxes"][keep].tolist()],
                    "labels": [names[int(label) - 1] for label in found["labels"][keep].tolist()],
                    "scores": [round(float(s), 4) for s in found["scores"][keep].tolist()],
                }
            )
    return results
