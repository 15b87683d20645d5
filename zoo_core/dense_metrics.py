"""Metrics for object detection (COCO mAP, through torchmetrics and pycocotools) and semantic segmentation (IoU).

Detection AP is not computed here: :func:`detection_metrics` hands the boxes to torchmetrics'
``MeanAveragePrecision`` with the pycocotools backend, the reference COCO evaluation, so the numbers
match published COCO-style results. Segmentation metrics come from a confusion matrix
(:class:`SegmentationConfusion`), numpy only. torch, torchmetrics and pycocotools are imported
inside the functions that need them: importing this module stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _none_if_missing(value: float) -> float | None:
    # COCO's evaluation writes -1 where a value is undefined (a class with no ground truth box).
    return None if value < 0 else float(value)


def detection_metrics(
    predictions: Sequence[Mapping[str, Any]],
    targets: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
) -> dict[str, Any]:
    """COCO box metrics of ``predictions`` against ``targets`` (one dict per image, in the same order).

    A prediction has ``boxes`` (N x 4, ``[xmin, ymin, xmax, ymax]`` pixels), ``scores`` (N) and
    ``labels`` (N class ids, indices into ``class_names``); a target has ``boxes`` and ``labels``.
    Lists, numpy arrays and tensors are accepted. Returns ``map`` (AP averaged over IoU 0.50:0.95),
    ``map_50``, ``map_75``, ``mar_100`` (recall with at most 100 detections per image), and
    ``per_class``: ``{name: {"ap", "ap_50", "ap_75", "recall"}}``. A value COCO leaves undefined
    (torchmetrics' -1: no ground truth box of that class, so no AP or recall) is None, and so is
    every value of a class that appears in neither predictions nor targets. ``num_images`` and
    ``num_boxes`` (ground truth) count what was evaluated.
    """
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets: give one of each per image")
    num_classes = len(class_names)
    preds = [_as_tensors(p, num_classes, with_scores=True, what=f"predictions[{i}]") for i, p in enumerate(predictions)]
    gts = [_as_tensors(t, num_classes, with_scores=False, what=f"targets[{i}]") for i, t in enumerate(targets)]
    result: dict[str, Any] = {
        "map": None,
        "map_50": None,
        "map_75": None,
        "mar_100": None,
        "per_class": {name: {"ap": None, "ap_50": None, "ap_75": None, "recall": None} for name in class_names},
        "num_images": len(gts),
        "num_boxes": int(sum(len(t["labels"]) for t in gts)),
    }
    if not gts:
        return result
    # extended_summary keeps COCOeval's precision array, which holds the per-class AP at one IoU.
    # The thresholds are COCOeval's own float64 ones: torchmetrics' defaults come from a float32
    # torch.linspace, so a recall of exactly 0.2 falls on the other side of the 0.2 threshold and
    # AP drifts from pycocotools' by up to a few 1e-4.
    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        iou_thresholds=np.linspace(0.5, 0.95, 10).tolist(),
        rec_thresholds=np.linspace(0.0, 1.0, 101).tolist(),
        class_metrics=True,
        extended_summary=True,
        backend="pycocotools",
    )
    metric.update(preds, gts)
    with torch.no_grad():
        out = metric.compute()
    for key in ("map", "map_50", "map_75", "mar_100"):
        result[key] = _none_if_missing(float(out[key]))

    classes = [int(c) for c in out["classes"].reshape(-1).tolist()]
    ap = out["map_per_class"].reshape(-1).tolist()
    recall = out["mar_100_per_class"].reshape(-1).tolist()
    precision = out.get("precision")  # (IoU thresholds, recall thresholds, classes, areas, max detections)
    thresholds = np.asarray(metric.iou_thresholds, dtype=float)
    for k, class_id in enumerate(classes):
        entry = result["per_class"][class_names[class_id]]
        entry["ap"] = _none_if_missing(ap[k]) if k < len(ap) else None
        entry["recall"] = _none_if_missing(recall[k]) if k < len(recall) else None
        if precision is not None and precision.dim() == 5:
            for name, iou in (("ap_50", 0.5), ("ap_75", 0.75)):
                entry[name] = _ap_at(precision, thresholds, iou, k)
    return result


def _ap_at(precision: Any, thresholds: np.ndarray, iou: float, k: int) -> float | None:
    """AP of class ``k`` at one IoU threshold, as COCOeval's summarize computes it (all areas, most detections)."""
    match = np.flatnonzero(np.isclose(thresholds, iou))
    if not match.size:
        return None
    values = precision[int(match[0]), :, k, 0, -1].double().numpy()
    values = values[values > -1]
    return float(values.mean()) if values.size else None


def _as_tensors(item: Mapping[str, Any], num_classes: int, *, with_scores: bool, what: str) -> dict[str, Any]:
    import torch

    # float64 keeps the IoU of every pair exactly as pycocotools would compute it on the same numbers.
    boxes = np.asarray(_numpy(item.get("boxes", [])), dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(_numpy(item.get("labels", [])), dtype=np.int64).reshape(-1)
    if len(labels) != len(boxes):
        raise ValueError(f"{what}: {len(boxes)} boxes but {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{what}: label {int(labels.max())} is not a class id 0-{num_classes - 1}")
    out = {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)}
    if with_scores:
        scores = np.asarray(_numpy(item.get("scores", [])), dtype=np.float64).reshape(-1)
        if len(scores) != len(boxes):
            raise ValueError(f"{what}: {len(boxes)} boxes but {len(scores)} scores")
        out["scores"] = torch.from_numpy(scores)
    return out


def _numpy(value: Any) -> Any:
    # Tensors (on any device) to numpy without importing torch for lists and arrays.
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


class SegmentationConfusion:
    """A ``num_classes`` x ``num_classes`` pixel count, rows the true class and columns the predicted one.

    Pixels whose target is ``ignore_index`` are left out. Accumulate with :meth:`update` over
    batches; :func:`segmentation_metrics` turns the counts into IoU and accuracies.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: Any, target: Any) -> None:
        """Add the pixels of integer class maps ``pred`` and ``target`` (same shape, any batch dims)."""
        pred = np.asarray(_numpy(pred))
        target = np.asarray(_numpy(target))
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
        pred = pred.reshape(-1).astype(np.int64)
        target = target.reshape(-1).astype(np.int64)
        if self.ignore_index is not None:
            keep = target != self.ignore_index
            pred, target = pred[keep], target[keep]
        n = self.num_classes
        for name, values in (("target", target), ("prediction", pred)):
            if values.size and (values.min() < 0 or values.max() >= n):
                bad = int(values.max() if values.max() >= n else values.min())
                raise ValueError(f"{name} holds class {bad}, outside 0-{n - 1} (ignore index {self.ignore_index})")
        self.matrix += np.bincount(target * n + pred, minlength=n * n).reshape(n, n)

    def merge(self, other: SegmentationConfusion) -> None:
        """Add another confusion's counts (e.g. from another worker)."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge {other.num_classes} classes into {self.num_classes}")
        self.matrix += other.matrix

    def reset(self) -> None:
        """Zero the counts."""
        self.matrix[:] = 0


def segmentation_metrics(
    confusion: SegmentationConfusion | np.ndarray,
    class_names: Sequence[str],
    ignore_index: int | None = None,
) -> dict[str, Any]:
    """mIoU, per-class IoU, pixel accuracy and mean class accuracy from a confusion matrix.

    A class with no pixel in the target nor in the prediction has IoU None and is left out of the
    mean (as in mmsegmentation and torchmetrics); one predicted but absent from the target has IoU
    0. ``ignore_index``, when it is one of the classes (a void class kept in ``class_names``), is
    left out of every value. ``mean_accuracy`` averages recall over the classes present in the target.
    """
    matrix = np.asarray(confusion.matrix if isinstance(confusion, SegmentationConfusion) else confusion, np.int64)
    n = len(class_names)
    if matrix.shape != (n, n):
        raise ValueError(f"confusion matrix is {matrix.shape}, but there are {n} class names")
    keep = [i for i in range(n) if i != ignore_index]
    matrix = matrix[np.ix_(keep, keep)]
    names = [class_names[i] for i in keep]
    tp = np.diag(matrix).astype(np.float64)
    in_target = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    union = in_target + predicted - tp
    total = float(matrix.sum())
    iou: dict[str, float | None] = {}
    for name, t, u in zip(names, tp, union):
        iou[name] = float(t / u) if u > 0 else None
    present = [v for v in iou.values() if v is not None]
    recalls = [float(t / g) for t, g in zip(tp, in_target) if g > 0]
    return {
        "miou": float(np.mean(present)) if present else None,
        "per_class_iou": iou,
        "pixel_accuracy": float(tp.sum() / total) if total else None,
        "mean_accuracy": float(np.mean(recalls)) if recalls else None,
        "num_pixels": int(total),
    }
