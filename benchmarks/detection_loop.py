"""``zoo finetune --task object-detection`` against a plain torchvision training loop, in one run.

Baseline: the loop of torchvision's object detection fine-tuning tutorial (TorchVision Object
Detection Finetuning Tutorial; ``references/detection/engine.py: train_one_epoch``), written out by
hand: a plain ``Dataset`` that parses the Pascal VOC XML files itself, a random horizontal flip,
``DataLoader`` with ``collate_fn=lambda b: tuple(zip(*b))``, SGD (lr 0.005, momentum 0.9, weight
decay 5e-4), a linear warm-up over the first epoch's iterations (from 1/1000) and ``StepLR(step 3,
gamma 0.1)``, ``loss = sum(loss_dict.values())``. Its mAP is computed with torchmetrics'
``MeanAveragePrecision`` directly, on the same test images.

Both train the SAME detector: zoo's FCOS on EfficientNet-Lite0's feature maps (bundled weights,
``build_detector`` with the same image size and FPN width), the backbone frozen (zoo's
``--method linear_probe``), on the same 160 raccoon training images, same epochs, batch and seed.
zoo trains with its own loop (AdamW, warm-up + cosine): the comparison is the whole of ``zoo
finetune`` against the tutorial's recipe, not two copies of one optimiser. Throughput: training
images per second over the epochs (data loading included); peak RSS of each part.

    python benchmarks/detection_loop.py [--epochs 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, ROOT, dump, need, peak_rss_since_reset_mb, reset_peak_rss

RESULTS = ROOT / "benchmarks" / "results" / "detection_loop.json"
TASK_OPTIONS = {"min_size": 256, "max_size": 427, "fpn_channels": 128}  # as benchmarks/dense_tasks.py
BATCH = 4


class VOCBoxes:
    """The tutorial's kind of dataset: (image tensor, {"boxes", "labels"}), labels 1-based."""

    def __init__(self, root: Path, csv_name: str, classes: list[str], train: bool):
        names = sorted({line.split(",")[0] for line in (root / csv_name).read_text().splitlines()[1:] if line})
        self.root, self.names, self.classes, self.train = root, names, classes, train

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        import torch
        from PIL import Image
        from torchvision.transforms.functional import to_tensor

        name = self.names[i]
        image = to_tensor(Image.open(self.root / "images" / name).convert("RGB"))
        tree = ET.parse(self.root / "annotations" / (Path(name).stem + ".xml"))
        boxes, labels = [], []
        for obj in tree.findall("object"):
            box = obj.find("bndbox")
            boxes.append([float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")])
            labels.append(self.classes.index(obj.find("name").text) + 1)
        boxes_t = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        if self.train and random.random() < 0.5:
            width = image.shape[-1]
            image = image.flip(-1)
            boxes_t = torch.stack([width - boxes_t[:, 2], boxes_t[:, 1], width - boxes_t[:, 0], boxes_t[:, 3]], 1)
        return image, {"boxes": boxes_t, "labels": torch.tensor(labels, dtype=torch.int64)}


def tutorial_run(root: Path, epochs: int, seed: int) -> dict:
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    from zoo_core.engine.dense.detection import build_detector
    from zoo_core.engine.model import build_backbone
    from zoo_core.plugins import Zoo

    torch.manual_seed(seed)
    random.seed(seed)
    zoo = Zoo()
    backbone = build_backbone(zoo, zoo.catalog.get("efficientnet-lite0"), pretrained=True)
    model = build_detector(backbone, 1, freeze_backbone=True, class_names=["raccoon"], **TASK_OPTIONS)
    train = VOCBoxes(root, "train_labels.csv", ["raccoon"], train=True)
    test = VOCBoxes(root, "test_labels.csv", ["raccoon"], train=False)
    loader = torch.utils.data.DataLoader(
        train,
        batch_size=BATCH,
        shuffle=True,
        collate_fn=lambda b: tuple(zip(*b)),
        generator=torch.Generator().manual_seed(seed),
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.005, momentum=0.9, weight_decay=0.0005)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.1)
    reset_peak_rss()
    started = time.perf_counter()
    losses = []
    for epoch in range(epochs):
        model.train()
        warmup = None
        if epoch == 0:  # train_one_epoch's warm-up
            iters = min(1000, len(loader) - 1)

            def factor(x: int, iters: int = iters) -> float:
                return 0.001 * (1 - x / iters) + x / iters if x < iters else 1.0

            warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        for images, targets in loader:
            loss_dict = model(list(images), list(targets))
            loss = sum(loss_dict.values())
            if not math.isfinite(loss.item()):
                raise SystemExit(f"tutorial loop: loss is {loss.item()}, stopping")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if warmup is not None:
                warmup.step()
            losses.append(loss.item())
        scheduler.step()
        print(
            f"  [tutorial] epoch {epoch + 1}/{epochs}: loss {sum(losses[-len(loader) :]) / len(loader):.4f}", flush=True
        )
    seconds = time.perf_counter() - started
    peak = peak_rss_since_reset_mb()
    model.eval()
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True)
    with torch.no_grad():
        for i in range(len(test)):
            image, target = test[i]
            found = model([image])[0]
            metric.update([found], [target])
    out = metric.compute()
    return {
        "map": float(out["map"]),
        "map_50": float(out["map_50"]),
        "train_seconds": round(seconds, 1),
        "images_per_second": round(len(train) * epochs / seconds, 3),
        "peak_rss_mb": round(peak),
        "final_epoch_loss": round(sum(losses[-len(loader) :]) / len(loader), 4),
    }


def zoo_run(root: Path, epochs: int, seed: int) -> dict:
    from zoo_core.engine.dense.pipeline import DenseRunner

    reset_peak_rss()
    result = DenseRunner("object-detection").finetune(
        "efficientnet-lite0",
        root,
        method="linear_probe",
        task_options=dict(TASK_OPTIONS),
        epochs=epochs,
        batch_size=BATCH,
        val_fraction=0.0,
        seed=seed,
        save=False,
        progress=False,
        log=lambda line: print(f"  [zoo] {line}", flush=True),
    )
    peak = peak_rss_since_reset_mb()
    train_images = 160
    return {
        "map": result.metrics["map"],
        "map_50": result.metrics["map_50"],
        "train_seconds": round(result.train_seconds, 1),
        "images_per_second": round(train_images * epochs / result.train_seconds, 3),
        "peak_rss_mb": round(peak),
        "final_epoch_loss": round(result.history["epochs"][-1]["loss"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    root = need(DATA / "raccoon")
    # The baseline first, then zoo, in one process: the one-time costs of a first run (allocator
    # growth, first calls) fall on the baseline; they are seconds against minutes of training.
    tutorial = tutorial_run(root, args.epochs, args.seed)
    zoo = zoo_run(root, args.epochs, args.seed)
    record = {
        "epochs": args.epochs,
        "batch_size": BATCH,
        "seed": args.seed,
        "threads": args.threads,
        "task_options": TASK_OPTIONS,
        "tutorial_loop": tutorial,
        "zoo_finetune": zoo,
        "throughput_ratio_zoo_over_tutorial": round(zoo["images_per_second"] / tutorial["images_per_second"], 3),
    }
    dump(RESULTS, record)
    print(
        f"tutorial loop: mAP@.5 {tutorial['map_50']:.3f}  mAP {tutorial['map']:.3f}  "
        f"{tutorial['images_per_second']:.2f} img/s  peak {tutorial['peak_rss_mb']} MiB"
    )
    print(
        f"zoo finetune:  mAP@.5 {zoo['map_50']:.3f}  mAP {zoo['map']:.3f}  "
        f"{zoo['images_per_second']:.2f} img/s  peak {zoo['peak_rss_mb']} MiB"
    )
    print(f"throughput ratio zoo / tutorial loop: {record['throughput_ratio_zoo_over_tutorial']:.3f}")


if __name__ == "__main__":
    main()
