"""Issue 3, acceptance 1: EfficientNet-Lite0 on ../shared/data/flowers.

Seeded 80/20 stratified split (seed 0; the 8 rose/tulip duplicate files left out), validation =
20% of the training part for early stopping; metrics on the held-out 20% test split.
Runs: linear_probe (pretrained), linear_probe (random weights: the transfer gain), lora (pretrained).

    python benchmarks/transfer_flowers.py [--lora-epochs 3] [--out benchmarks/results/flowers.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, dump, flowers

from zoo_core.engine.pipeline import finetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lora-epochs", type=int, default=3)
    parser.add_argument("--skip-lora", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "flowers.json"))
    args = parser.parse_args()
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    splits = flowers(seed=0)
    print(f"flowers: train {len(splits.train)}, val {len(splits.val)}, test {len(splits.test)}", flush=True)
    runs = [("linear_probe", True, {}), ("linear_probe", False, {})]
    if not args.skip_lora:
        runs.append(("lora", True, {"epochs": args.lora_epochs}))
    rows = []
    for method, pretrained, options in runs:
        started = time.perf_counter()
        result = finetune(
            "efficientnet-lite0",
            splits,
            method=method,
            pretrained=pretrained,
            seed=0,
            save=False,
            log=lambda m: print("   ", m, flush=True),
            **options,
        )
        row = {
            "method": method,
            "weights": "pretrained" if pretrained else "random",
            "accuracy": round(result.metrics["accuracy"], 4),
            "macro_f1": round(result.metrics["macro_f1"], 4),
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
        rows.append(row)
        print(row, flush=True)
    dump(
        Path(args.out),
        {
            "dataset": "flowers",
            "split": splits.notes,
            "sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
            "runs": rows,
        },
    )
    print("\n| method | weights | test accuracy | test macro-F1 | epochs (best) | wall s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['weights']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
            f"{r['epochs_run']} ({r['best_epoch']}) | {r['wall_seconds']} |"
        )


if __name__ == "__main__":
    main()
