"""Detection on raccoon and segmentation on CamVid: frozen backbone, LoRA, full, and random weights.

Rows go through ``zoo``'s own dense ``finetune`` (``DenseRunner(task).finetune``), so what is
measured is what ``zoo finetune --task ...`` does. Every row uses the same head, image size,
epochs, batch and seed; only the method (and, for ``random``, the backbone's weights) changes:

- ``frozen``: ``--method linear_probe`` (the backbone frozen, the FPN and heads trained);
- ``lora``: ``--method lora`` at its defaults; ``full``: ``--method full``;
- ``random``: ``--method full`` on randomly initialised backbone weights (``pretrained=False``);
  the gap to ``full`` is the transfer gain.

Data: ``../shared/data/raccoon`` (the source's 160/40 split; evaluated on its 40 test images) and
``../shared/data/camvid`` (367 train, tested on the 233 test images; its val split is unused:
nothing here selects on it). No validation is held out of train (``val_fraction=0``): dense
``finetune`` trains for a fixed number of epochs and selects nothing on a validation split.

CPU budget (2 shared cores, one thread per run): detection at a short side of 256 px (long side
at most 427) with 128-wide FPN channels (the 256 default costs 3x on CPU), 10 epochs, batch 4;
segmentation at 224 px (the CamVid frames are 240x180) with the FPN decoder at 128 pyramid / 64
segmentation channels, 12 epochs, batch 8. These were fixed before the first run and not changed
after seeing a test number. Wall time (training + evaluation) and the peak RSS of the run are
recorded.

    python benchmarks/dense_tasks.py --rows raccoon:efficientnet-lite0:frozen,camvid:efficientnet-lite0:lora
    python benchmarks/dense_tasks.py --print
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, ROOT, dump, need, peak_rss_since_reset_mb, reset_peak_rss

RESULTS = ROOT / "benchmarks" / "results" / "dense_tasks.json"
DATASETS = {
    "raccoon": {
        "task": "object-detection",
        "path": "raccoon",
        "task_options": {"min_size": 256, "max_size": 427, "fpn_channels": 128},
        "epochs": 10,
        "batch_size": 4,
    },
    "camvid": {
        "task": "semantic-segmentation",
        "path": "camvid",
        "task_options": {"image_size": 224, "pyramid_channels": 128, "segmentation_channels": 64},
        "epochs": 12,
        "batch_size": 8,
    },
}
# row method -> (zoo method, pretrained backbone)
METHODS = {"frozen": ("linear_probe", True), "lora": ("lora", True), "full": ("full", True), "random": ("full", False)}


def run_row(dataset: str, model: str, method: str, seed: int = 0, epochs: int | None = None) -> dict:
    from zoo_core.engine.dense.pipeline import DenseRunner

    spec = {**DATASETS[dataset], **({"epochs": epochs} if epochs else {})}
    zoo_method, pretrained = METHODS[method]
    reset_peak_rss()
    started = time.perf_counter()
    result = DenseRunner(spec["task"]).finetune(
        model,
        need(DATA / spec["path"]),
        method=zoo_method,
        task_options=dict(spec["task_options"]),
        epochs=spec["epochs"],
        batch_size=spec["batch_size"],
        pretrained=pretrained,
        val_fraction=0.0,
        seed=seed,
        save=False,
        progress=False,
        log=lambda line: print(f"  [{dataset}:{model}:{method}] {line}", flush=True),
    )
    return {
        "dataset": dataset,
        "model": model,
        "method": method,
        "zoo_method": zoo_method,
        "pretrained": pretrained,
        "seed": seed,
        "eval_split": result.eval_split,
        "metrics": result.metrics,
        "train_seconds": round(result.train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_rss_since_reset_mb()),
        "epoch_losses": [round(e["loss"], 4) for e in result.history.get("epochs", [])],
        "settings": {k: spec[k] for k in ("task_options", "epochs", "batch_size")},
    }


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def table(results: dict) -> str:
    lines = []
    for dataset in DATASETS:
        rows = [r for r in results.values() if r["dataset"] == dataset]
        if not rows:
            continue
        if DATASETS[dataset]["task"] == "object-detection":
            lines += [
                f"\n{dataset} ({rows[0]['eval_split']} split)",
                "| model | method | epochs | mAP@.5 | mAP@[.5:.95] | recall@100 | train s | peak RSS MiB |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in rows:
                m = r["metrics"]
                lines.append(
                    f"| {r['model']} | {r['method']} | {r['settings']['epochs']} | "
                    f"{m['map_50']:.3f} | {m['map']:.3f} | "
                    f"{m.get('mar_100') or 0:.3f} | {r['train_seconds']:.0f} | {r['peak_rss_mb']} |"
                )
        else:
            names = list(rows[0]["metrics"]["per_class_iou"])
            lines += [
                f"\n{dataset} ({rows[0]['eval_split']} split)",
                "| model | method | epochs | mIoU | pixel acc | " + " | ".join(names) + " | train s | peak RSS MiB |",
                "|---|---|---|---|---|" + "---|" * len(names) + "---|---|",
            ]
            for r in rows:
                m = r["metrics"]
                ious = " | ".join(
                    "-" if m["per_class_iou"][n] is None else f"{m['per_class_iou'][n]:.3f}" for n in names
                )
                lines.append(
                    f"| {r['model']} | {r['method']} | {r['settings']['epochs']} | "
                    f"{m['miou']:.3f} | {m['pixel_accuracy']:.3f} | {ious} | "
                    f"{r['train_seconds']:.0f} | {r['peak_rss_mb']} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        default="",
        help="comma-separated DATASET:MODEL:METHOD[@EPOCHS] (methods: frozen, lora, full, random)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--print", action="store_true", help="print the tables of what is recorded")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    for row in filter(None, args.rows.split(",")):
        dataset, model, method = row.split(":")
        method, _, epochs = method.partition("@")  # frozen@4: the row at 4 epochs instead of the dataset's
        if dataset not in DATASETS or method not in METHODS or (epochs and not epochs.isdigit()):
            raise SystemExit(f"--rows: unknown dataset or method in {row!r}")
        if row in load():
            print(f"{row}: recorded, skipped")
            continue
        print(f"{row}: running", flush=True)
        record = run_row(dataset, model, method, epochs=int(epochs) if epochs else None)
        results = load()  # another process may have added rows meanwhile
        results[row] = record
        dump(RESULTS, results)
        print(f"{row}: {json.dumps({k: record[k] for k in ('train_seconds', 'peak_rss_mb')})}", flush=True)
    print(table(load()))


if __name__ == "__main__":
    main()
