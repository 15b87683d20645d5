"""Issue 17: detection mAP (torchmetrics + pycocotools) and segmentation IoU, against hand-computed values and
against the reference implementations run directly on the same data."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from zoo_core.dense_metrics import SegmentationConfusion, detection_metrics, segmentation_metrics

pytest.importorskip("torchmetrics")
pytest.importorskip("pycocotools")

# ------------------------------------------------------------------------------------- detection


def test_prediction_at_iou_0_6_counts_at_50_not_at_75():
    # GT [0, 0, 10, 10] (area 100), prediction [0, 0, 10, 6] (area 60 inside it): IoU 60 / 100 = 0.6.
    targets = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
    predictions = [{"boxes": [[0, 0, 10, 6]], "scores": [0.9], "labels": [0]}]
    result = detection_metrics(predictions, targets, ["cat", "dog"])
    assert result["map_50"] == pytest.approx(1.0) and result["map_75"] == pytest.approx(0.0)
    # COCO matches at IoU >= threshold: at 0.50, 0.55 and 0.60 of the ten thresholds 0.50:0.95, so AP and
    # recall are 3 / 10 (as pycocotools gives on its own).
    assert result["map"] == pytest.approx(0.3) and result["mar_100"] == pytest.approx(0.3)
    assert _cocoeval(predictions, targets, 2)[0] == pytest.approx(0.3)
    cat = result["per_class"]["cat"]
    assert cat["ap_50"] == pytest.approx(1.0) and cat["ap_75"] == pytest.approx(0.0) and cat["ap"] == pytest.approx(0.3)
    # No ground truth of "dog" and no prediction of it: undefined, None (torchmetrics' -1).
    assert result["per_class"]["dog"] == {"ap": None, "ap_50": None, "ap_75": None, "recall": None}
    assert result["num_images"] == 1 and result["num_boxes"] == 1


def test_a_missed_object_halves_recall():
    targets = [{"boxes": np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), "labels": np.array([1, 1])}]
    predictions = [{"boxes": np.array([[0, 0, 10, 10]]), "scores": np.array([0.8]), "labels": np.array([1])}]
    result = detection_metrics(predictions, targets, ["cat", "dog"])
    assert result["mar_100"] == pytest.approx(0.5) and result["per_class"]["dog"]["recall"] == pytest.approx(0.5)
    # Precision 1 up to recall 0.5 and none after: 51 of COCO's 101 recall points.
    assert result["map_50"] == pytest.approx(51 / 101) and result["map"] == pytest.approx(51 / 101)


def test_no_images_and_bad_input():
    assert detection_metrics([], [], ["cat"])["map"] is None
    with pytest.raises(ValueError, match="not a class id"):
        detection_metrics(
            [{"boxes": [[0, 0, 1, 1]], "scores": [1], "labels": [3]}], [{"boxes": [], "labels": []}], ["a"]
        )
    with pytest.raises(ValueError, match="1 predictions but 2 targets"):
        detection_metrics([{"boxes": [], "scores": [], "labels": []}], [{"boxes": [], "labels": []}] * 2, ["a"])


def _random_case(seed: int = 3, images: int = 6, classes: int = 3):
    rng = np.random.RandomState(seed)
    predictions, targets = [], []
    for _ in range(images):
        n = rng.randint(1, 5)
        xy = rng.uniform(0, 80, (n, 2))
        wh = rng.uniform(8, 40, (n, 2))
        gt = np.hstack([xy, xy + wh])
        labels = rng.randint(0, classes, n)
        keep = rng.rand(n) > 0.2  # some objects missed
        jitter = gt[keep] + rng.normal(0, 3, (int(keep.sum()), 4))
        extra = rng.randint(0, 3)  # some false positives
        fxy = rng.uniform(0, 80, (extra, 2))
        fp = np.hstack([fxy, fxy + rng.uniform(8, 40, (extra, 2))])
        boxes = np.vstack([jitter, fp])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        pred_labels = np.concatenate([labels[keep], rng.randint(0, classes, extra)])
        targets.append({"boxes": gt, "labels": labels})
        predictions.append({"boxes": boxes, "scores": rng.rand(len(boxes)), "labels": pred_labels})
    return predictions, targets


def _cocoeval(predictions, targets, classes: int, cat: int | None = None):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]

    annotations = []
    for image_id, t in enumerate(targets):
        for box, label in zip(t["boxes"], t["labels"]):
            b = xywh(box)
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label), "bbox": b}
                | {"area": b[2] * b[3], "iscrowd": 0}
            )
    dataset = {
        "info": {},
        "images": [{"id": i} for i in range(len(targets))],
        "annotations": annotations,
        "categories": [{"id": c, "name": str(c)} for c in range(classes)],
    }
    results = [
        {"image_id": image_id, "category_id": int(label), "bbox": xywh(box), "score": float(score)}
        for image_id, p in enumerate(predictions)
        for box, label, score in zip(p["boxes"], p["labels"], p["scores"])
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, iouType="bbox")
        if cat is not None:
            evaluator.params.catIds = [cat]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def test_detection_metrics_match_pycocotools_cocoeval():
    predictions, targets = _random_case()
    names = ["a", "b", "c"]
    result = detection_metrics(predictions, targets, names)
    stats = _cocoeval(predictions, targets, 3)
    assert 0 < result["map"] < 1
    for key, index in (("map", 0), ("map_50", 1), ("map_75", 2), ("mar_100", 8)):
        assert result[key] == pytest.approx(stats[index], abs=1e-6), key
    for cat, name in enumerate(names):
        per = _cocoeval(predictions, targets, 3, cat=cat)
        entry = result["per_class"][name]
        assert entry["ap"] == pytest.approx(per[0], abs=1e-6)
        assert entry["ap_50"] == pytest.approx(per[1], abs=1e-6)
        assert entry["ap_75"] == pytest.approx(per[2], abs=1e-6)
        assert entry["recall"] == pytest.approx(per[8], abs=1e-6)


# ------------------------------------------------------------------------------------- segmentation


def test_hand_computed_confusion_with_an_ignored_pixel():
    target = np.array([0, 0, 1, 1, 2, 2, 255])
    pred = np.array([0, 1, 1, 1, 2, 0, 2])
    confusion = SegmentationConfusion(4, ignore_index=255)
    confusion.update(pred.reshape(1, 7), target.reshape(1, 7))
    assert confusion.matrix[:3, :3].tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    result = segmentation_metrics(confusion, ["road", "car", "sky", "boat"], ignore_index=255)
    iou = result["per_class_iou"]
    # IoU = TP / (in target + predicted - TP): road 1/3, car 2/3, sky 1/2; boat appears nowhere.
    assert iou["road"] == pytest.approx(1 / 3) and iou["car"] == pytest.approx(2 / 3) and iou["sky"] == 0.5
    assert iou["boat"] is None
    assert result["miou"] == pytest.approx(0.5)
    assert result["pixel_accuracy"] == pytest.approx(4 / 6) and result["mean_accuracy"] == pytest.approx(2 / 3)
    assert result["num_pixels"] == 6


def test_void_class_inside_the_names_is_left_out_and_bad_values_refused():
    confusion = SegmentationConfusion(3, ignore_index=2)
    confusion.update(np.array([0, 1, 2]), np.array([0, 1, 2]))
    result = segmentation_metrics(confusion, ["a", "b", "void"], ignore_index=2)
    assert set(result["per_class_iou"]) == {"a", "b"} and result["miou"] == 1.0
    with pytest.raises(ValueError, match="target holds class 7"):
        confusion.update(np.array([0]), np.array([7]))
    with pytest.raises(ValueError, match="shape"):
        confusion.update(np.zeros((2, 2)), np.zeros((2, 3)))


def test_segmentation_metrics_match_torchmetrics():
    import torch
    from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

    rng = np.random.RandomState(0)
    target = rng.randint(0, 4, (3, 16, 16))
    target[rng.rand(3, 16, 16) < 0.1] = 255
    pred = np.where(rng.rand(3, 16, 16) < 0.6, np.clip(target, 0, 3), rng.randint(0, 4, (3, 16, 16)))
    confusion = SegmentationConfusion(4, ignore_index=255)
    for p, t in zip(pred, target):  # batches accumulate
        confusion.update(p, t)
    result = segmentation_metrics(confusion, ["a", "b", "c", "d"], ignore_index=255)

    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    per_class = MulticlassJaccardIndex(num_classes=4, ignore_index=255, average=None)(p, t)
    assert list(result["per_class_iou"].values()) == pytest.approx(per_class.tolist(), abs=1e-6)
    miou = MulticlassJaccardIndex(num_classes=4, ignore_index=255, average="macro")(p, t)
    assert result["miou"] == pytest.approx(float(miou), abs=1e-6)
    micro = MulticlassAccuracy(num_classes=4, ignore_index=255, average="micro")(p, t)
    assert result["pixel_accuracy"] == pytest.approx(float(micro), abs=1e-6)
    macro = MulticlassAccuracy(num_classes=4, ignore_index=255, average="macro")(p, t)
    assert result["mean_accuracy"] == pytest.approx(float(macro), abs=1e-6)
    assert result["num_pixels"] == int((target != 255).sum())
