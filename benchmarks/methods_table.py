"""Issue 6, acceptance 4: every adaptation method on yelp (full data) and on flowers.

For each method: trainable parameters, peak RSS (each run is its own process), time per epoch
(for methods that fit in closed form or by episodes on cached features: the fit time, said so),
test accuracy and macro-F1. Every method runs with its registered defaults, except the number of
epochs, which the script fixes for every gradient method alike (``--epochs``).

yelp: the seeded 80/20 split of transfer_text.py (test 200) with all-MiniLM-L6-v2. flowers: the
seed-0 split of transfer_flowers.py (test 862) with EfficientNet-Lite0 at ``--image-size`` (the
images are 128x128: 224 only upsamples them, at three times the compute on this 2-core CPU).

    python benchmarks/methods_table.py [--datasets yelp,flowers] [--epochs 3] [--image-size 128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, dump, flowers, peak_rss_mb, split_train_test, yelp

METHODS = (
    "linear_probe",
    "protonet",
    "fomaml",
    "full",
    "bitfit",
    "ln_tuning",
    "bottleneck",
    "lora",
    "dora",
    "adalora",
    "ia3",
    "loha",
    "lokr",
    "vera",
    "contrastive",
)
MODELS = {"yelp": "minilm-l6", "flowers": "efficientnet-lite0"}


def one(dataset: str, method: str, epochs: int, image_size: int) -> dict:
    from zoo_core.engine.pipeline import finetune

    splits = split_train_test(yelp(), 0.2, 0) if dataset == "yelp" else flowers(seed=0)
    backbone_options = {"image_size": image_size, "crop_pct": 1.0} if dataset == "flowers" else None
    started = time.perf_counter()
    result = finetune(
        MODELS[dataset], splits, method=method, seed=0, save=False, epochs=epochs, backbone_options=backbone_options
    )
    wall = time.perf_counter() - started
    trainable = sum(p.numel() for p in result.model_obj.parameters() if p.requires_grad)
    epoch_times = [h["seconds"] for h in result.history if h.get("seconds") is not None and "l2" not in h]
    closed_form = not epoch_times
    return {
        "dataset": dataset,
        "method": method,
        "accuracy": round(result.metrics["accuracy"], 4),
        "macro_f1": round(result.metrics["macro_f1"], 4),
        "trainable_params": trainable,
        "seconds_per_epoch": round(result.train_seconds if closed_form else sum(epoch_times) / len(epoch_times), 1),
        "fit_kind": "fit (closed form / episodes / own loop)" if closed_form else "epoch",
        "epochs_run": len(result.history) if not closed_form else None,
        "feature_seconds": round(result.feature_seconds, 1),
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="yelp,flowers")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--one", nargs=2, metavar=("DATASET", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "methods_table.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.epochs, args.image_size)))
        return
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    out = Path(args.out)
    rows = json.loads(out.read_text())["runs"] if out.exists() else []  # resume: keep finished runs
    done = {(r["dataset"], r["method"]) for r in rows}
    for dataset in args.datasets.split(","):
        for method in args.methods.split(","):
            if (dataset, method) in done:
                continue
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    dataset,
                    method,
                    "--epochs",
                    str(args.epochs),
                    "--image-size",
                    str(args.image_size),
                ],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
                row = {"dataset": dataset, "method": method, "error": reason[-300:]}
            else:
                row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(row, flush=True)
            dump(out, {"epochs": args.epochs, "image_size": args.image_size, "runs": rows})
    print("\n| dataset | method | trainable params | peak RSS MiB | s per epoch | test accuracy | test macro-F1 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['dataset']} | {r['method']} | - | - | - | not run: {r['error']} | - |")
            continue
        per = f"{r['seconds_per_epoch']}" + (" (fit)" if r["fit_kind"] != "epoch" else "")
        print(
            f"| {r['dataset']} | {r['method']} | {r['trainable_params']:,} | {r['peak_rss_mb']} | {per} | "
            f"{r['accuracy']:.4f} | {r['macro_f1']:.4f} |"
        )


if __name__ == "__main__":
    main()
