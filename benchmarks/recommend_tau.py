"""Issue 5, acceptance 1 (linear-probe part): do transferability scores rank the candidates the way
fine-tuned accuracy does, and do random-weight negative controls rank below every pre-trained model?

Candidates: every offline-available image-classification model of the catalog, plus the same
architectures with random weights (seeded) as negative controls. Data: ../shared/data/flowers, a
stratified sample of ``--items`` images (rose/tulip duplicates left out), split 70/30 (seed 0).
Fine-tuning: zoo's linear probe (L2 chosen on 20 % of train, L-BFGS), test accuracy with a 95 %
bootstrap interval. Scores: every registered scorer that needs no source head, on the train
features. Reported: weighted Kendall tau between each scorer and test accuracy, whether every
control ranks below every pre-trained model, and the scoring time as a ratio of the probe time
(the baseline, measured in the same run).

    python benchmarks/recommend_tau.py [--dataset flowers|trec] [--items 1500] [--bootstrap 1000]

Set ZOO_HOME to the home of an earlier `zoo recommend --budget-seconds 0` on flowers to reuse its
cached features of all images.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, FLOWER_DUPLICATES, ROOT, dump, need  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["flowers", "trec"], default="flowers",
                        help="trec: the second task (coarse labels, official training file), text candidates")
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out")
    args = parser.parse_args()
    args.out = args.out or str(ROOT / "benchmarks" / "results" / f"recommend_tau_{args.dataset}.json")
    need(DATA / args.dataset)

    import torch

    from zoo_core.data import load_labelled, stratified_split, stratified_subsample
    from zoo_core.engine.features import extract_features
    from zoo_core.engine.heads import LinearHead
    from zoo_core.engine.model import build_backbone
    from zoo_core.engine.train import TrainConfig
    from zoo_core.plugins import Zoo
    from zoo_core.specs import load_object
    from zoo_core.transferability import weighted_kendall_tau
    from zoo_core.weights import is_available
    from zoo_methods._impl import LinearProbe
    from zoo_methods._lbfgs import fit_logistic_head

    torch.set_num_threads(2)
    zoo = Zoo()
    if args.dataset == "flowers":
        data = load_labelled(DATA / "flowers", check_images=False)  # the order `zoo recommend` uses: cache hits
        modality, task = "image", "image-classification"
    else:
        from _common import trec

        data, modality, task = trec().train, "text", "text-classification"
    keep = [i for i, item in enumerate(data.items)
            if data.modality == "text" or Path(item).name not in FLOWER_DUPLICATES]
    sample = [keep[i] for i in stratified_subsample([data.labels[i] for i in keep], args.items, 0)]
    names = sorted(set(data.labels))
    y = np.array([names.index(data.labels[i]) for i in sample])
    train, test = stratified_split([data.labels[i] for i in sample], 0.3, 0)
    fit, val = stratified_split([data.labels[sample[i]] for i in train], 0.2, 1)
    fit, val = [train[i] for i in fit], [train[i] for i in val]
    scorers = {name: load_object(spec.factory)() for name, spec in sorted(zoo.scorers.items())}
    scorers = {name: s for name, s in scorers.items() if not getattr(s, "needs_source_head", False)}
    entries = [e for e in zoo.catalog.models if e.modality == modality and task in e.tasks
               and is_available(e, zoo.weight_sources)]
    print(f"{args.dataset} sample {len(sample)} (train {len(train)}, of which val {len(val)}; test {len(test)}); "
          f"candidates {[e.id for e in entries]} + random-weight controls; scorers {list(scorers)}", flush=True)

    rows = []
    rng = np.random.default_rng(0)
    for entry in entries:
        for pretrained in (True, False):
            torch.manual_seed(0)
            backbone = build_backbone(zoo, entry, pretrained=pretrained).eval()
            started = time.perf_counter()
            if pretrained:  # all images, so that a recommend run's cache is reused
                features = extract_features(backbone, data.items, batch_size=64)[sample].double().numpy()
            else:
                features = extract_features(backbone, [data.items[i] for i in sample], batch_size=64,
                                            use_cache=False).double().numpy()
            extract_seconds = time.perf_counter() - started

            started = time.perf_counter()
            head = LinearHead(features.shape[1], len(names))
            fit_logistic_head(head, torch.from_numpy(features[fit]), y[fit].tolist(), torch.from_numpy(features[val]),
                              y[val].tolist(), TrainConfig(), LinearProbe.L2_GRID)
            with torch.no_grad():
                predicted = head(torch.from_numpy(features[test]).float()).argmax(1).numpy()
            probe_seconds = time.perf_counter() - started
            correct = (predicted == y[test]).astype(float)
            boot = [correct[rng.integers(0, len(correct), len(correct))].mean() for _ in range(args.bootstrap)]
            row = {"model": entry.id, "weights": "pretrained" if pretrained else "random",
                   "accuracy": round(float(correct.mean()), 4),
                   "ci95": [round(float(np.percentile(boot, 2.5)), 4), round(float(np.percentile(boot, 97.5)), 4)],
                   "extract_seconds": round(extract_seconds, 1), "probe_seconds": round(probe_seconds, 2),
                   "scores": {}, "score_seconds": {}}
            for name, scorer in scorers.items():
                started = time.perf_counter()
                row["scores"][name] = float(scorer.score(features[train], y[train]))
                row["score_seconds"][name] = round(time.perf_counter() - started, 3)
            rows.append(row)
            print({k: v for k, v in row.items() if k != "score_seconds"}, flush=True)

    accuracies = np.array([r["accuracy"] for r in rows])
    pretrained = np.array([r["weights"] == "pretrained" for r in rows])
    summary = {}
    for name in scorers:
        scores = np.array([r["scores"][name] for r in rows])
        summary[name] = {
            "weighted_tau": round(float(weighted_kendall_tau(scores, accuracies)), 4),
            "controls_below_all_pretrained": bool(scores[~pretrained].max() < scores[pretrained].min()),
            "score_seconds_total": round(sum(r["score_seconds"][name] for r in rows), 2),
        }
    probe_total = sum(r["probe_seconds"] + r["extract_seconds"] for r in rows)
    dump(Path(args.out), {"dataset": args.dataset, "items": len(sample), "rows": rows, "scorers": summary,
                          "probe_seconds_total": round(probe_total, 1)})
    print("\n| model | weights | test accuracy | 95% CI | " + " | ".join(scorers) + " |")
    print("|---|---|---|---|" + "---|" * len(scorers))
    for r in rows:
        print(f"| {r['model']} | {r['weights']} | {r['accuracy']:.4f} | {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f} | "
              + " | ".join(f"{r['scores'][n]:.4f}" for n in scorers) + " |")
    print("\n| scorer | weighted tau vs accuracy | controls below all pre-trained | scoring s (all) |")
    print("|---|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | {s['weighted_tau']:.4f} | {s['controls_below_all_pretrained']} | {s['score_seconds_total']} |")
    print(f"\nfeature extraction + linear probes of all candidates (baseline): {probe_total:.1f} s")


if __name__ == "__main__":
    main()
