"""Issue 6, acceptance 3: 5-shot flowers with EfficientNet-Lite0, 10 seeded draws.

Prototypical networks vs linear probe vs first-order Proto-MAML (the meta-learning method), each
with its registered defaults. The pool is the training part of the seed-0 split of
transfer_flowers.py (train + validation, 3447 images; the rose/tulip duplicates left out); the
test set is its 862 test images. Draw ``s`` takes 5 images per class with
``take_shots(labels, 5, s)``; no validation set (5 labels per class is all a user has).
Frozen features are cached, so the test set is embedded once per feature kind.

    python benchmarks/fewshot_flowers.py [--draws 10] [--shots 5] [--image-size 224]
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
from fewshot_text import summary

METHODS = ("protonet", "linear_probe", "fomaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fewshot_flowers.json"))
    args = parser.parse_args()
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    from zoo_core.data import DataSplits, LabelledData, take_shots
    from zoo_core.engine.pipeline import finetune

    splits = flowers(seed=0)
    pool = LabelledData(
        "image", splits.train.items + splits.val.items, splits.train.labels + splits.val.labels, splits.train.source
    )
    backbone_options = {"image_size": args.image_size} if args.image_size != 224 else None
    results = []
    for method in args.methods.split(","):
        rows = []
        for seed in range(args.draws):
            train = pool.subset(take_shots(pool.labels, args.shots, seed))
            draw = DataSplits(train=train, val=None, test=splits.test, label_names=splits.label_names, notes=[])
            started = time.perf_counter()
            result = finetune(
                "efficientnet-lite0", draw, method=method, seed=seed, save=False, backbone_options=backbone_options
            )
            rows.append(
                {
                    "seed": seed,
                    "accuracy": result.metrics["accuracy"],
                    "macro_f1": result.metrics["macro_f1"],
                    "seconds": time.perf_counter() - started,
                }
            )
            print(f"  {method} seed {seed}: {rows[-1]['accuracy']:.4f} ({rows[-1]['seconds']:.1f}s)", flush=True)
        results.append(summary("flowers", method, rows))
    print(f"\n{args.shots}-shot flowers, {args.draws} draws, EfficientNet-Lite0 at {args.image_size} px")
    print("| method | accuracy (mean ± std) | macro-F1 | s per draw |")
    print("|---|---|---|---|")
    for row in results:
        print(
            f"| {row['method']} | {row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f} | "
            f"{row['macro_f1_mean']:.4f} | {row['seconds_per_draw']} |"
        )
    dump(
        Path(args.out),
        {
            "shots": args.shots,
            "draws": args.draws,
            "image_size": args.image_size,
            "results": results,
            "command": "python benchmarks/fewshot_flowers.py " + " ".join(sys.argv[1:]),
        },
    )


if __name__ == "__main__":
    main()
