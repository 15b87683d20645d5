"""Issue 16, acceptance 4: ``--tune 10`` against the method's defaults, on development sets.

For each ``DATASET:METHOD`` row: one fine-tune at the method's defaults, then
:func:`zoo_core.engine.tuning.tune` with 10 trials (TPE seeded 0, median pruning; its first trial is
those same defaults) and the best trial retrained, both on the protocol's fixed splits
(``benchmarks/protocol.py``: yelp seeded 80/20 with 20% of train as validation; flowers seeded
split at ``--image-size`` px). The search sees train and validation only; the test split is
reported for both, never used to choose. Printed per row: validation accuracy and macro-F1 (the
search's objective) of the best epoch, test accuracy and macro-F1, and wall seconds (the default
run; the search; the retrain).

    python benchmarks/tuning.py [--rows yelp:lora,flowers:lora] [--trials 10] [--image-size 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, dump, flowers, split_train_test, yelp

SETS = {"yelp": lambda: split_train_test(yelp(), 0.2, 0), "flowers": lambda: flowers(seed=0)}
MODELS = {"yelp": "minilm-l6", "flowers": "efficientnet-lite0"}


def validation_of(result) -> dict:
    """The validation numbers of the epoch the run kept (its history's best epoch)."""
    rows = [r for r in result.history if r.get("epoch") == result.best_epoch] or result.history[-1:]
    row = rows[0] if rows else {}
    return {key: row.get(f"val_{key}") for key in ("accuracy", "macro_f1")}


def one(dataset: str, method: str, trials: int, image_size: int) -> dict:
    from zoo_core.engine.pipeline import finetune
    from zoo_core.engine.settings import FinetuneConfig
    from zoo_core.engine.tuning import tune

    splits = SETS[dataset]()
    extra = {"backbone_options": {"image_size": image_size, "crop_pct": 1.0}} if dataset == "flowers" else {}
    started = time.perf_counter()
    default = finetune(MODELS[dataset], splits, method=method, seed=0, save=False, progress=False, **extra)
    default_seconds = time.perf_counter() - started
    config = FinetuneConfig(method=method, seed=0, save=False, **extra).updated(progress=False)
    started = time.perf_counter()
    tuned = tune(MODELS[dataset], splits, config, trials=trials, log=lambda m: print(f"  {m}", file=sys.stderr))
    total = time.perf_counter() - started
    row = {
        "dataset": dataset,
        "model": MODELS[dataset],
        "method": method,
        "trials": len(tuned.trials),
        "pruned": tuned.pruned,
        "best_params": tuned.best_params,
        "objective": f"validation {tuned.objective}",
        "default": {
            "validation": validation_of(default),
            "test": {k: default.metrics[k] for k in ("accuracy", "macro_f1")},
            "seconds": default_seconds,
        },
        "tuned": {
            "validation": validation_of(tuned.final),
            "search_best_value": tuned.best_value,
            "test": {k: tuned.final.metrics[k] for k in ("accuracy", "macro_f1")},
            "search_seconds": tuned.seconds,
            "retrain_seconds": total - tuned.seconds,
        },
        "trial_rows": tuned.trials,
        "sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)},
    }
    print(
        f"{dataset}:{method}: default val acc {row['default']['validation']['accuracy']} test acc "
        f"{row['default']['test']['accuracy']:.4f} ({default_seconds:.0f}s) | tuned {tuned.best_params} val acc "
        f"{row['tuned']['validation']['accuracy']} test acc {row['tuned']['test']['accuracy']:.4f} "
        f"(search {tuned.seconds:.0f}s, retrain {total - tuned.seconds:.0f}s)",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="yelp:lora,flowers:lora", help="DATASET:METHOD, comma-separated")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=128, help="flowers' images resized to this (no crop)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tuning.json"))
    args = parser.parse_args()
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    rows = []
    for spec in args.rows.split(","):
        dataset, _, method = spec.partition(":")
        if dataset not in SETS or not method:
            sys.exit(f"--rows: '{spec}' is not DATASET:METHOD with DATASET one of {', '.join(SETS)}")
        rows.append(one(dataset, method, args.trials, args.image_size))
        dump(
            Path(args.out),
            {
                "trials": args.trials,
                "image_size": args.image_size,
                "rows": rows,
                "command": "python benchmarks/tuning.py " + " ".join(sys.argv[1:]),
            },
        )
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
