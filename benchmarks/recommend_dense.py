"""Recommend's dense proxy on raccoon and CamVid: its order of EfficientNet-Lite0/1/2 against their
fine-tuned results (``benchmarks/dense_tasks.py`` rows, same method and epochs for the three).

The proxy (``zoo recommend --task object-detection|semantic-segmentation``): LogME of pooled
features of the labelled boxes' crops plus background crops (detection), or of per-class mask
regions (segmentation), on the train split, with recommend's defaults (90 s budget, 10
half-samples for the noise estimate); ties are the candidates recommend itself calls within
noise of the best. The fine-tuned side: the rows ``DATASET:MODEL:METHOD`` of
``benchmarks/results/dense_tasks.json`` for the three models (``--method``, default ``frozen@3``:
backbone frozen, FPN and head trained, 3 epochs).

    python benchmarks/recommend_dense.py [--method frozen@3] [--score [--budget 0] [--sets raccoon]]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, ROOT, dump, need, peak_rss_since_reset_mb, reset_peak_rss

RESULTS = ROOT / "benchmarks" / "results" / "recommend_dense.json"
FINETUNED = ROOT / "benchmarks" / "results" / "dense_tasks.json"
MODELS = ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]
# task, and the fine-tuned metrics compared (the first is the task's main one)
SETS = {
    "raccoon": ("object-detection", ["map", "map_50"]),
    "camvid": ("semantic-segmentation", ["miou", "pixel_accuracy"]),
}
TIE = 0.005  # fine-tuned results closer than this are called a tie


def score(dataset: str, budget: float | None) -> dict:
    from zoo_core.engine.recommend import recommend

    task, _ = SETS[dataset]
    reset_peak_rss()
    started = time.perf_counter()
    result = recommend(need(DATA / dataset), task=task, candidates=MODELS, offline=True, budget_seconds=budget)
    return {
        "task": task,
        "scores": {c.alias: c.score for c in result.candidates},
        "score_sd": {c.alias: c.score_sd for c in result.candidates},
        "order": [c.alias for c in result.candidates],
        "tied_with_best": [next(c.alias for c in result.candidates if c.model == m) for m in result.tied_with_best],
        "num_scored": result.num_scored,
        "proxy": result.proxy,
        "notes": result.notes,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_rss_since_reset_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="frozen@3", help="the dense_tasks.py rows to compare with")
    parser.add_argument("--score", action="store_true", help="run recommend (else print what is recorded)")
    parser.add_argument(
        "--budget", type=float, default=90.0, help="recommend's --budget-seconds (90: its default; 0: every item)"
    )
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: raccoon, camvid")
    args = parser.parse_args()
    recorded = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.score:
        import torch

        torch.set_num_threads(1)
        for dataset in args.sets.split(","):
            key = dataset if args.budget == 90 else f"{dataset}@budget={args.budget:g}"
            recorded[key] = score(dataset, args.budget or None)
            print(f"{key}: {json.dumps(recorded[key]['scores'])}", flush=True)
            dump(RESULTS, recorded)
    finetuned = json.loads(FINETUNED.read_text()) if FINETUNED.exists() else {}
    for key, rec in sorted(recorded.items()):
        dataset = key.split("@")[0]
        metrics = SETS[dataset][1]
        rows = {m: finetuned.get(f"{dataset}:{m}:{args.method}", {}).get("metrics", {}) for m in MODELS}
        print(f"\n{key}: proxy order {' > '.join(rec['order'])} (tied with the best: {rec['tied_with_best']})")
        print("| model | LogME proxy | sd | " + " | ".join(f"fine-tuned {k} ({args.method})" for k in metrics) + " |")
        print("|---|---|---|" + "---|" * len(metrics))
        for m in rec["order"]:
            values = " | ".join("-" if rows[m].get(k) is None else f"{rows[m][k]:.3f}" for k in metrics)
            print(f"| {m} | {rec['scores'][m]:.4f} | {rec['score_sd'][m]} | {values} |")
        pairs = [(a, b) for i, a in enumerate(MODELS) for b in MODELS[i + 1 :]]
        for k in metrics:
            tuned = {m: rows[m].get(k) for m in MODELS}
            if any(v is None for v in tuned.values()):
                continue
            ties = [(a, b) for a, b in pairs if abs(tuned[a] - tuned[b]) < TIE]
            agree = sum((rec["scores"][a] - rec["scores"][b]) * (tuned[a] - tuned[b]) > 0 for a, b in pairs)
            print(
                f"{k}: fine-tuned order {' > '.join(sorted(MODELS, key=lambda m: -tuned[m]))}; {agree} of "
                f"{len(pairs)} pairs ordered alike by the proxy; fine-tuned ties (< {TIE}): "
                + (", ".join(f"{a}={b}" for a, b in ties) or "none")
            )
        print(f"recommend: {rec['wall_seconds']} s, peak {rec['peak_rss_mb']} MiB, {rec['num_scored']} items scored")


if __name__ == "__main__":
    main()
