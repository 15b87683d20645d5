"""Zero-shot text classification from label names alone (``zoo zero-shot``) with all-MiniLM-L6-v2,
next to chance and to an 8-shot linear probe on the same test split.

Data (../shared/data):
- yelp_labelled.tsv has no split: a seeded (seed 0) stratified 50% is the test set (500 sentences),
  the other half the pool the shots are drawn from. Labels 0/1 are embedded as "negative"/"positive".
- TREC coarse: the official 500-question test split; the pool is the whole official train file.
  ABBR, DESC, ENTY, HUM, LOC, NUM are embedded as "abbreviation", "description", "entity",
  "person", "location", "number".

Zero-shot uses zoo's default templates and temperature (nothing tuned here). Chance: 1/classes, and
the majority class, the share of the test set's most frequent class (the best any constant guess
can do). 8-shot: zoo's linear_probe (its defaults) on 8 examples per class drawn from the pool with
``take_shots(labels, 8, seed)`` for seeds 0-4, no validation set; mean and sd over the 5 draws.
The probability check: mean negative log-likelihood of the true label at the default temperature,
and the temperature that would minimise it on the test set (reported only: not used).

    python benchmarks/zero_shot.py [--draws 5] [--shots 8] [--out results.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, dump, need, peak_rss_since_reset_mb, reset_peak_rss, trec, yelp

MODEL = "minilm-l6"
NAMES = {
    "yelp": {"0": "negative", "1": "positive"},
    "trec": {
        "ABBR": "abbreviation",
        "DESC": "description",
        "ENTY": "entity",
        "HUM": "person",
        "LOC": "location",
        "NUM": "number",
    },
}


def pool_and_test(dataset: str):
    from zoo_core.data import LabelledData, stratified_split

    if dataset == "yelp":
        data = yelp()
        keep, held = stratified_split(data.labels, 0.5, 0)
        return data.subset(keep), data.subset(held)
    splits = trec()
    assert splits.val is not None and splits.test is not None
    pool = LabelledData(
        "text", splits.train.items + splits.val.items, splits.train.labels + splits.val.labels, splits.train.source
    )
    return pool, splits.test


def probability_check(result, test) -> dict:
    """Mean NLL of the true labels at the adapter's temperature, and the NLL-minimising temperature."""
    import torch

    from zoo_core.engine.features import extract_features
    from zoo_core.engine.inference import label_ids

    net = result.model_obj
    with torch.no_grad():  # the test features are cached by the evaluation that just ran
        cosines = net.head(extract_features(net.backbone, test.items)) / result.temperature
    target = torch.tensor(label_ids(test, result.labels))

    def nll(temperature: float) -> float:
        return float(torch.nn.functional.cross_entropy(temperature * cosines, target))

    best = min((2.0**k for k in range(9)), key=nll)  # 1 .. 256
    return {"nll": round(nll(result.temperature), 4), "nll_best_temperature": best, "nll_at_best": round(nll(best), 4)}


def zero_shot_row(dataset: str, test) -> dict:
    from zoo_core.engine.zero_shot import zero_shot

    reset_peak_rss()
    started = time.perf_counter()
    result = zero_shot(MODEL, NAMES[dataset], test=test, save=False)
    seconds = time.perf_counter() - started
    return {
        "peak_rss_mb": round(peak_rss_since_reset_mb()),
        "accuracy": result.metrics["accuracy"],
        "macro_f1": result.metrics["macro_f1"],
        "seconds": round(seconds, 1),
        "templates": result.templates,
        "temperature": result.temperature,
        **probability_check(result, test),
    }


def probe_rows(pool, test, shots: int, draws: int) -> list[dict]:
    from zoo_core.data import DataSplits, take_shots
    from zoo_core.engine.pipeline import finetune

    rows = []
    for seed in range(draws):
        train = pool.subset(take_shots(pool.labels, shots, seed))
        splits = DataSplits(train=train, val=None, test=test, label_names=sorted(set(pool.labels)), notes=[])
        reset_peak_rss()
        started = time.perf_counter()
        result = finetune(MODEL, splits, method="linear_probe", seed=seed, save=False)
        rows.append(
            {
                "seed": seed,
                "accuracy": result.metrics["accuracy"],
                "macro_f1": result.metrics["macro_f1"],
                "seconds": round(time.perf_counter() - started, 1),
                "peak_rss_mb": round(peak_rss_since_reset_mb()),
            }
        )
        print(f"  {shots}-shot linear_probe seed {seed}: {rows[-1]['accuracy']:.4f}", file=sys.stderr, flush=True)
    return rows


def mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--datasets", default="yelp,trec")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args()
    need(DATA / "sentiment")
    need(DATA / "trec")
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))  # a fresh feature cache
    started = time.perf_counter()
    results = []
    for dataset in args.datasets.split(","):
        pool, test = pool_and_test(dataset)
        counts = Counter(test.labels)
        zero = zero_shot_row(dataset, test)
        print(f"  {dataset} zero-shot: {zero['accuracy']:.4f} ({zero['seconds']}s)", file=sys.stderr, flush=True)
        probes = probe_rows(pool, test, args.shots, args.draws)
        results.append(
            {
                "dataset": dataset,
                "test_size": len(test),
                "pool_size": len(pool),
                "classes": len(counts),
                "chance": 1 / len(counts),
                "majority": max(counts.values()) / len(test),
                "majority_class": counts.most_common(1)[0][0],
                "zero_shot": zero,
                "probe": probes,
            }
        )
    wall = time.perf_counter() - started
    print(f"{MODEL} (sentence-transformers/all-MiniLM-L6-v2); accuracy on the test split (macro-F1 in brackets)")
    print(
        f"{'dataset':8} {'test':>5} {'1/classes':>9} {'majority':>9} {'zero-shot':>16} {f'{args.shots}-shot probe':>26}"
    )
    for row in results:
        zero, probes = row["zero_shot"], row["probe"]
        probe = mean_sd([p["accuracy"] for p in probes])
        probe_f1 = statistics.mean(p["macro_f1"] for p in probes)
        print(
            f"{row['dataset']:8} {row['test_size']:5d} {row['chance']:9.4f} {row['majority']:9.4f} "
            f"{zero['accuracy']:7.4f} ({zero['macro_f1']:.4f}) {probe:>17} ({probe_f1:.4f})"
        )
    for row in results:
        zero = row["zero_shot"]
        print(
            f"{row['dataset']}: zero-shot NLL {zero['nll']:.4f} at temperature {zero['temperature']:g} "
            f"(lowest on this test set: {zero['nll_at_best']:.4f} at {zero['nll_best_temperature']:g}; not used); "
            f"zero-shot {zero['seconds']}s (peak RSS {zero['peak_rss_mb']} MiB), {len(row['probe'])} probe draws "
            f"{sum(p['seconds'] for p in row['probe']):.1f}s "
            f"(peak RSS {max(p['peak_rss_mb'] for p in row['probe'])} MiB)"
        )
    print(f"templates: {results[0]['zero_shot']['templates']}")
    print(f"wall time {wall:.1f}s (from a fresh feature cache)")
    if args.out:
        dump(Path(args.out), {"model": MODEL, "shots": args.shots, "draws": args.draws, "results": results})


if __name__ == "__main__":
    main()
