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

    python benchmarks/recommend_tau.py [--dataset flowers|trec] [--items 1500] [--bootstrap 1000] [--lora-epochs 2]
    python benchmarks/recommend_tau.py --controls-only --seeds 1,2 --lora-epochs 2 \
        --merge benchmarks/results/recommend_tau_flowers.json     # seed 0 is the earlier run's

``--lora-epochs N`` also fine-tunes every candidate and control with zoo's LoRA (defaults, N
epochs, early stopping on the same validation part) and reports the scorers' tau against it.

``--seeds`` repeats every run with each seed (the random weights of a control and LoRA's training
seed): a control's accuracy depends on which random network it is, a noise the test-set bootstrap
cannot see. With several seeds the script prints, for every pair of controls, whether their
accuracies differ beyond that noise (the ranges over seeds are disjoint) and whether each scorer
orders the pair the same way (its mean score over seeds; "scores overlap" where the scorer's own
ranges over seeds overlap).

"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, FLOWER_DUPLICATES, ROOT, dump, need


def bootstrap_ci(correct, rng, resamples: int) -> list[float]:
    """95 % percentile interval of the accuracy over ``resamples`` resamples of the test examples."""
    boot = [correct[rng.integers(0, len(correct), len(correct))].mean() for _ in range(resamples)]
    return [round(float(np.percentile(boot, 2.5)), 4), round(float(np.percentile(boot, 97.5)), 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dataset",
        choices=["flowers", "trec"],
        default="flowers",
        help="trec: the second task (coarse labels, official training file), text candidates",
    )
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument(
        "--lora-epochs",
        type=int,
        default=0,
        help="also fine-tune each candidate (and control) with zoo's LoRA for this many epochs",
    )
    parser.add_argument(
        "--seeds", default="0", help="comma-separated seeds: random weights of the controls and LoRA's seed (default 0)"
    )
    parser.add_argument(
        "--controls-only",
        action="store_true",
        help="run the random-weight controls only (with --seeds: the init-noise study)",
    )
    parser.add_argument(
        "--merge",
        help="a results JSON of an earlier run on the same sample: its rows of the same "
        "kind (controls with --controls-only) join the seed analysis",
    )
    parser.add_argument("--out")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    suffix = "_controls" if args.controls_only else ""
    args.out = args.out or str(ROOT / "benchmarks" / "results" / f"recommend_tau_{args.dataset}{suffix}.json")
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
    from zoo_methods._logistic import fit_logistic_head
    from zoo_methods._probe import LinearProbe

    torch.set_num_threads(2)
    zoo = Zoo()
    if args.dataset == "flowers":
        data = load_labelled(DATA / "flowers", check_images=False)  # the order `zoo recommend` uses: cache hits
        modality, task = "image", "image-classification"
    else:
        from _common import trec

        data, modality, task = trec().train, "text", "text-classification"
    keep = [
        i for i, item in enumerate(data.items) if data.modality == "text" or Path(item).name not in FLOWER_DUPLICATES
    ]
    sample = [keep[i] for i in stratified_subsample([data.labels[i] for i in keep], args.items, 0)]
    names = sorted(set(data.labels))
    y = np.array([names.index(data.labels[i]) for i in sample])
    train, test = stratified_split([data.labels[i] for i in sample], 0.3, 0)
    fit, val = stratified_split([data.labels[sample[i]] for i in train], 0.2, 1)
    fit, val = [train[i] for i in fit], [train[i] for i in val]
    scorers = {name: load_object(spec.factory)() for name, spec in sorted(zoo.scorers.items())}
    scorers = {name: s for name, s in scorers.items() if not getattr(s, "needs_source_head", False)}
    entries = [
        e
        for e in zoo.catalog.models
        if e.modality == modality and task in e.tasks and is_available(e, zoo.weight_sources)
    ]
    print(
        f"{args.dataset} sample {len(sample)} (train {len(train)}, of which val {len(val)}; test {len(test)}); "
        f"candidates {[e.id for e in entries]} + random-weight controls; scorers {list(scorers)}",
        flush=True,
    )

    rows = []
    rng = np.random.default_rng(0)
    for entry, pretrained, seed in [
        (e, p, s) for e in entries for p in (True, False) for s in seeds if not (p and args.controls_only)
    ]:
        torch.manual_seed(seed)
        backbone = build_backbone(zoo, entry, pretrained=pretrained).eval()
        started = time.perf_counter()
        # The sample only (a third of flowers); random-weight features are not worth caching.
        features = (
            extract_features(backbone, [data.items[i] for i in sample], batch_size=64, use_cache=pretrained)
            .double()
            .numpy()
        )
        extract_seconds = time.perf_counter() - started

        started = time.perf_counter()
        head = LinearHead(features.shape[1], len(names))
        fit_logistic_head(
            head,
            torch.from_numpy(features[fit]),
            y[fit].tolist(),
            torch.from_numpy(features[val]),
            y[val].tolist(),
            TrainConfig(),
            LinearProbe.L2_GRID,
        )
        with torch.no_grad():
            predicted = head(torch.from_numpy(features[test]).float()).argmax(1).numpy()
        probe_seconds = time.perf_counter() - started
        correct = (predicted == y[test]).astype(float)
        row = {
            "model": entry.id,
            "weights": "pretrained" if pretrained else "random",
            "seed": seed,
            "accuracy": round(float(correct.mean()), 4),
            "ci95": bootstrap_ci(correct, rng, args.bootstrap),
            "extract_seconds": round(extract_seconds, 1),
            "probe_seconds": round(probe_seconds, 2),
            "scores": {},
            "score_seconds": {},
        }
        if args.lora_epochs:
            from zoo_core.data import DataSplits
            from zoo_core.engine.pipeline import finetune

            part = lambda idx: data.subset([sample[i] for i in idx])  # noqa: E731
            splits = DataSplits(train=part(fit), val=part(val), test=part(test), label_names=names, notes=[])
            started = time.perf_counter()
            tuned = finetune(
                entry.id, splits, method="lora", pretrained=pretrained, seed=seed, save=False, epochs=args.lora_epochs
            )
            matrix = np.array(tuned.metrics["confusion_matrix"])
            hits = np.r_[np.ones(int(np.trace(matrix))), np.zeros(int(matrix.sum() - np.trace(matrix)))]
            row.update(
                {
                    "lora_accuracy": round(float(hits.mean()), 4),
                    "lora_ci95": bootstrap_ci(hits, rng, args.bootstrap),
                    "lora_seconds": round(time.perf_counter() - started, 1),
                }
            )
        for name, scorer in scorers.items():
            started = time.perf_counter()
            row["scores"][name] = float(scorer.score(features[train], y[train]))
            row["score_seconds"][name] = round(time.perf_counter() - started, 3)
        rows.append(row)
        print({k: v for k, v in row.items() if k != "score_seconds"}, flush=True)

    if args.merge:
        earlier = json.loads(Path(args.merge).read_text())
        if earlier["items"] != len(sample) or earlier["dataset"] != args.dataset:
            sys.exit(f"{args.merge} was run on another sample ({earlier['dataset']}, {earlier['items']} items)")
        taken = {(r["model"], r["weights"], r["seed"]) for r in rows}
        rows += [
            {"seed": 0, **r}
            for r in earlier["rows"]
            if (r["weights"] == "random" or not args.controls_only)
            and (r["model"], r["weights"], r.get("seed", 0)) not in taken
            and (not args.lora_epochs or "lora_accuracy" in r)
        ]
        rows.sort(key=lambda r: (r["model"], r["weights"], r["seed"]))
    accuracies = np.array([r["accuracy"] for r in rows])
    pretrained = np.array([r["weights"] == "pretrained" for r in rows])
    lora = np.array([r["lora_accuracy"] for r in rows]) if args.lora_epochs else None
    summary = {}
    for name in scorers:
        scores = np.array([r["scores"][name] for r in rows])
        summary[name] = {
            "weighted_tau": round(float(weighted_kendall_tau(scores, accuracies)), 4),
            "controls_below_all_pretrained": (
                bool(scores[~pretrained].max() < scores[pretrained].min())
                if pretrained.any() and (~pretrained).any()
                else None
            ),
            "score_seconds_total": round(sum(r["score_seconds"][name] for r in rows), 2),
        }
        if lora is not None:
            summary[name]["weighted_tau_lora"] = round(float(weighted_kendall_tau(scores, lora)), 4)
    seeds = sorted({r["seed"] for r in rows})
    pairs = seed_pairs(rows, list(scorers), lora is not None) if len(seeds) > 1 else []
    probe_total = sum(r["probe_seconds"] + r["extract_seconds"] for r in rows)
    lora_total = sum(r.get("lora_seconds", 0.0) for r in rows)
    dump(
        Path(args.out),
        {
            "dataset": args.dataset,
            "items": len(sample),
            "rows": rows,
            "scorers": summary,
            "probe_seconds_total": round(probe_total, 1),
            "lora_epochs": args.lora_epochs,
            "lora_seconds_total": round(lora_total, 1),
            "seeds": seeds,
            "seed_pairs": pairs,
        },
    )
    print("\n| model | weights | test accuracy | 95% CI | " + " | ".join(scorers) + " |")
    print("|---|---|---|---|" + "---|" * len(scorers))
    for r in rows:
        print(
            f"| {r['model']} | {r['weights']} | {r['accuracy']:.4f} | {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f} | "
            + " | ".join(f"{r['scores'][n]:.4f}" for n in scorers)
            + " |"
        )
    print("\n| scorer | weighted tau vs accuracy | controls below all pre-trained | scoring s (all) |")
    print("|---|---|---|---|")
    for name, s in summary.items():
        print(
            f"| {name} | {s['weighted_tau']:.4f} | {s['controls_below_all_pretrained']} | {s['score_seconds_total']} |"
        )
    print(f"\nfeature extraction + linear probes of all candidates (baseline): {probe_total:.1f} s")
    if lora is not None:
        print(f"\n| model | weights | LoRA ({args.lora_epochs} epochs) test accuracy | 95% CI | s |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['model']} | {r['weights']} | {r['lora_accuracy']:.4f} | "
                f"{r['lora_ci95'][0]:.3f}-{r['lora_ci95'][1]:.3f} | {r['lora_seconds']} |"
            )
        print("\n| scorer | weighted tau vs LoRA accuracy |\n|---|---|")
        for name, s in summary.items():
            print(f"| {name} | {s['weighted_tau_lora']:.4f} |")
        print(
            f"\nLoRA fine-tuning of all candidates and controls: {lora_total:.1f} s; "
            f"with the probes: {lora_total + probe_total:.1f} s"
        )
    if pairs:
        print(
            "\n| pair (A vs B) | fine-tune | A over seeds | B over seeds | beyond seed noise | "
            + " | ".join(f"{n} order" for n in scorers)
            + " |"
        )
        print("|---|---|---|---|---|" + "---|" * len(scorers))
        for p in pairs:
            print(
                f"| {p['a']} vs {p['b']} | {p['fine_tune']} | {', '.join(f'{v:.3f}' for v in p['a_accuracies'])} | "
                f"{', '.join(f'{v:.3f}' for v in p['b_accuracies'])} | {p['beyond_seed_noise']} | "
                + " | ".join(p["scorer_order"][n] for n in scorers)
                + " |"
            )


def seed_pairs(rows: list[dict], scorers: list[str], with_lora: bool) -> list[dict]:
    """Every pair of (model, weights) groups run over several seeds: are their accuracies apart
    beyond the seed-to-seed spread (disjoint ranges), and does each scorer's mean score order them
    the way the mean accuracy does?"""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['model'].split('/')[-1]} ({r['weights']})", []).append(r)
    out = []
    names = sorted(groups)
    for key in ["accuracy"] + (["lora_accuracy"] if with_lora else []):
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                acc_a = [r[key] for r in groups[a]]
                acc_b = [r[key] for r in groups[b]]
                apart = min(acc_a) > max(acc_b) or min(acc_b) > max(acc_a)
                sign = np.sign(np.mean(acc_a) - np.mean(acc_b))
                verdicts = {}
                for n in scorers:
                    score_a = [r["scores"][n] for r in groups[a]]
                    score_b = [r["scores"][n] for r in groups[b]]
                    right = bool(np.sign(np.mean(score_a) - np.mean(score_b)) == sign)
                    scores_apart = min(score_a) > max(score_b) or min(score_b) > max(score_a)
                    verdicts[n] = ("right" if right else "wrong") + ("" if scores_apart else " (scores overlap)")
                out.append(
                    {
                        "a": a,
                        "b": b,
                        "fine_tune": "linear probe" if key == "accuracy" else "LoRA",
                        "a_accuracies": acc_a,
                        "b_accuracies": acc_b,
                        "beyond_seed_noise": bool(apart),
                        "scorer_order": verdicts,
                    }
                )
    return out


if __name__ == "__main__":
    main()
