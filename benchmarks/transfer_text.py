"""Issue 3, acceptance 2: all-MiniLM-L6-v2 with linear_probe, lora and full on yelp and TREC.

yelp_labelled.tsv: seeded stratified 80/20 train/test split (seed 0), validation = 20% of train.
TREC: coarse labels, official train (10% held out for validation) and the official 500-question
test split. Each run is a separate process so that its peak RSS is its own.

    python benchmarks/transfer_text.py [--epochs 3] [--out benchmarks/results/text.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, ROOT, dump, need, split_train_test, trec, yelp

METHODS = ("linear_probe", "lora", "full")


def one(dataset: str, method: str, epochs: int) -> dict:
    from zoo_core.engine.pipeline import finetune

    splits = split_train_test(yelp(), 0.2, 0) if dataset == "yelp" else trec()
    options = {} if method == "linear_probe" else {"epochs": epochs}
    started = time.perf_counter()
    result = finetune("minilm-l6", splits, method=method, seed=0, save=False, **options)
    return {
        "dataset": dataset,
        "method": method,
        "accuracy": round(result.metrics["accuracy"], 4),
        "macro_f1": round(result.metrics["macro_f1"], 4),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "train_samples_per_second": round(result.samples_per_second, 1),
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "test_size": result.metrics["num_samples"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--datasets", default="yelp,trec")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--one", nargs=2, metavar=("DATASET", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "text.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.epochs)))
        return
    need(DATA / "sentiment")
    need(DATA / "trec")
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    rows = []
    for dataset in args.datasets.split(","):
        for method in args.methods.split(","):
            proc = subprocess.run(
                [sys.executable, __file__, "--one", dataset, method, "--epochs", str(args.epochs)],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                print(proc.stderr[-3000:])
                raise SystemExit(f"{dataset}/{method} failed")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(row, flush=True)
    dump(Path(args.out), {"model": "sentence-transformers/all-MiniLM-L6-v2", "runs": rows})
    print("\n| dataset | method | test accuracy | test macro-F1 | wall s | train samples/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['method']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['wall_seconds']} | "
            f"{r['train_samples_per_second']} | {r['peak_rss_mb']} |"
        )


if __name__ == "__main__":
    main()
