"""Issue 16, point 1: the protocol for choosing defaults. A method's settings may be chosen on the
development sets only; the confirmation sets are looked at once, after the choice is frozen, and
reported once. This script runs the whole grid for one method and prints both blocks.

Text (all-MiniLM-L6-v2, ``minilm-l6``):
  development  yelp: a seeded stratified 80/20 train/test split (seed 0), validation 20% of train
               (as transfer_text.py); TREC coarse: the official train file (10% validation, seed 0)
               and the official 500-question test file (TREC_10.label).
  confirmation the four Amazon review domains (books, dvd, electronics, kitchen): exact repeat texts
               dropped, then 500 test reviews per domain (stratified, seed 0), validation 20% of the
               rest (stratified, seed 0).
Images (EfficientNet-Lite0, ``efficientnet-lite0``, its default input size):
  development  flowers: a seeded stratified 80/20 split (seed 0), validation 20% of train, the 8
               ambiguous duplicate files left out (as transfer_flowers.py).
  confirmation USPS: its own train/test split, validation 20% of train (stratified, seed 0);
               scikit-learn digits (written as 32x32 PNGs by domain_adaptation.write_digits): a seeded
               stratified 80/20 split (seed 0), validation 20% of train.

Every split is fixed (seed 0) and written into the JSON; ``--seeds N`` repeats each run with
finetune seeds 0..N-1 (initialisation, batches). Nothing is chosen on a test split: validation picks
the best epoch, the test split is only reported. ``--shots K --draws D`` is the few-shot protocol:
draw ``d`` takes K examples per class from the training pool (train + validation) with seed ``d``,
no validation set, the same test split. ``--max-per-class N`` caps every split at N examples per
class (seed 0): a smoke test of the script, not a result. Rows: mean +/- sample sd of test accuracy and
macro-F1 over seeds (or draws), wall seconds per run (mean) and peak RSS of the process while a run
ran (max).

    python benchmarks/protocol.py --method lora [--model ...] [-o key=value ...] [-t key=value ...]
        [-b key=value ...] [--epochs 3]
        [--seeds 3] [--block development|confirmation|both] [--max-per-class N] [--shots K --draws D]
        [--image-size PX]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    AMAZON,
    DATA,
    ROOT,
    amazon,
    dump,
    flowers,
    need,
    peak_rss_since_reset_mb,
    reset_peak_rss,
    split_train_test,
    trec,
    yelp,
)

MODELS = {"text": "minilm-l6", "image": "efficientnet-lite0"}
BLOCKS = ("development", "confirmation")
CONFIRMATION_WARNING = (
    "warning: confirmation numbers are to be reported once, after the default is frozen on the "
    "development sets; do not change a setting because of them"
)


# ------------------------------------------------------------------------------------ the sets
def _with_validation(pool, test, note: str):
    """``pool`` split into train and a stratified 20% validation (seed 0); ``test`` as given."""
    from zoo_core.data import DataSplits, stratified_split

    fit, val = stratified_split(pool.labels, 0.2, 0)
    return DataSplits(pool.subset(fit), pool.subset(val), test, pool.classes(), [note])


def _usps():
    from zoo_core.data import load_image_folder

    root = need(DATA / "usps")
    train, test = load_image_folder(root / "train"), load_image_folder(root / "test")
    return _with_validation(train, test, "USPS: its own train/test split; validation 20% of train (seed 0)")


def _digits(folder: Path):
    from domain_adaptation import write_digits

    from zoo_core.data import load_image_folder

    splits = split_train_test(load_image_folder(write_digits(folder / "digits")), 0.2, 0)
    splits.notes.insert(0, "scikit-learn digits as 32x32 PNGs (domain_adaptation.write_digits)")
    return splits


def _amazon(domain: str):
    pool, test = amazon(domain)
    return _with_validation(
        pool, test, f"Amazon {domain}: repeats dropped, 500 test (stratified, seed 0), validation 20% of the rest"
    )


def sets(modality: str, block: str, scratch: Path) -> dict[str, Callable]:
    """The named sets of one block, each a function returning its fixed DataSplits."""
    if modality == "text":
        if block == "development":
            return {"yelp": lambda: split_train_test(yelp(), 0.2, 0), "trec": trec}
        return {domain: (lambda d=domain: _amazon(d)) for domain in AMAZON}
    if block == "development":
        return {"flowers": lambda: flowers(seed=0)}
    return {"usps": _usps, "digits": lambda: _digits(scratch)}


def capped(splits, per_class: int | None):
    """Every split cut to at most ``per_class`` examples per class (seed 0), for a smoke test."""
    if not per_class:
        return splits
    from dataclasses import replace

    from zoo_core.data import take_shots

    def cut(data):
        return data.subset(take_shots(data.labels, per_class, 0)) if data is not None else None

    note = f"capped at {per_class} examples per class in every split (seed 0): a smoke test, not a result"
    return replace(
        splits, train=cut(splits.train), val=cut(splits.val), test=cut(splits.test), notes=[*splits.notes, note]
    )


def runs_of(splits, seeds: int, shots: int | None, draws: int, first_seed: int = 0):
    """(seed, DataSplits) per run: the fixed splits under seeds first..first+N-1, or few-shot draws."""
    if not shots:
        return [(seed, splits) for seed in range(first_seed, first_seed + seeds)]
    from zoo_core.data import DataSplits, LabelledData, take_shots

    pool = splits.train
    if splits.val is not None:
        pool = LabelledData(pool.modality, pool.items + splits.val.items, pool.labels + splits.val.labels, pool.source)
    return [
        (
            draw,
            DataSplits(
                pool.subset(take_shots(pool.labels, shots, draw)),
                None,
                splits.test,
                splits.label_names,
                [*splits.notes, f"{shots}-shot draw {draw} from train + validation; no validation set"],
            ),
        )
        for draw in range(draws)
    ]


# ------------------------------------------------------------------------------------ running
def run_set(name: str, splits, model: str, args, options: dict) -> tuple[list[dict], dict]:
    from zoo_core.engine.pipeline import finetune

    train_options: dict = {"epochs": args.epochs} if args.epochs else {}
    train_options.update(args.train_options)
    if splits.train.modality == "image":
        train_options["backbone_options"] = dict(args.backbone_options)
    if args.image_size and splits.train.modality == "image":
        # Resized to a square without the centre crop, as methods_table.py does: below the model's
        # default size the crop would only cut the object.
        train_options["backbone_options"].update(image_size=args.image_size, crop_pct=1.0)
    rows = []
    for seed, run_splits in runs_of(splits, args.seeds, args.shots, args.draws, args.first_seed):
        reset_peak_rss()
        started = time.perf_counter()
        result = finetune(
            model,
            run_splits,
            method=args.method,
            method_options=dict(options),
            seed=seed,
            save=False,
            progress=False,
            **train_options,
        )
        rows.append(
            {
                "set": name,
                "seed": seed,
                "accuracy": result.metrics["accuracy"],
                "macro_f1": result.metrics["macro_f1"],
                "eval_split": result.eval_split,
                "train_size": len(run_splits.train),
                "test_size": result.metrics["num_samples"],
                "best_epoch": result.best_epoch,
                "wall_seconds": time.perf_counter() - started,
                "peak_rss_mb": peak_rss_since_reset_mb(),
            }
        )
        print(
            f"  {name} seed {seed}: accuracy {rows[-1]['accuracy']:.4f} ({rows[-1]['wall_seconds']:.1f}s)",
            file=sys.stderr,
            flush=True,
        )
    described = {
        "notes": splits.notes,
        "sizes": {part: len(getattr(splits, part)) for part in ("train", "val", "test") if getattr(splits, part)},
        "classes": len(splits.label_names),
    }
    return rows, described


def summarise(block: str, modality: str, model: str, name: str, rows: list[dict]) -> dict:
    def mean_sd(key: str) -> tuple[float, float]:
        values = [r[key] for r in rows]
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    (acc, acc_sd), (f1, f1_sd) = mean_sd("accuracy"), mean_sd("macro_f1")
    return {
        "block": block,
        "modality": modality,
        "model": model,
        "set": name,
        "runs": len(rows),
        "train_size": rows[0]["train_size"],
        "test_size": rows[0]["test_size"],
        "accuracy_mean": acc,
        "accuracy_sd": acc_sd,
        "macro_f1_mean": f1,
        "macro_f1_sd": f1_sd,
        "wall_seconds_mean": statistics.fmean(r["wall_seconds"] for r in rows),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
    }


def print_block(block: str, summary: list[dict], heading: str) -> None:
    rows = [r for r in summary if r["block"] == block]
    if not rows:
        return
    print(f"\n### {block} ({heading})\n")
    print("| set | model | train | test | accuracy (mean ± sd) | macro-F1 (mean ± sd) | wall s/run | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['set']} | {r['model']} | {r['train_size']} | {r['test_size']} | "
            f"{r['accuracy_mean']:.4f} ± {r['accuracy_sd']:.4f} | {r['macro_f1_mean']:.4f} ± {r['macro_f1_sd']:.4f} | "
            f"{r['wall_seconds_mean']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    if len(rows) > 1:
        print(
            f"| mean over {len(rows)} sets | | | | {statistics.fmean(r['accuracy_mean'] for r in rows):.4f} | "
            f"{statistics.fmean(r['macro_f1_mean'] for r in rows):.4f} | | |"
        )


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            sys.exit(f"-o/-t/-b must look like key=value, got '{pair}'")
        options[key.replace("-", "_")] = value
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", required=True)
    parser.add_argument("--model", help="a catalog model (default: minilm-l6 for text, efficientnet-lite0 for images)")
    parser.add_argument("--modality", choices=("text", "image"), help="default: every modality the method supports")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE", help="method option")
    parser.add_argument(
        "-t", "--train", action="append", default=[], metavar="KEY=VALUE", help="training option (e.g. ema_decay=0.999)"
    )
    parser.add_argument(
        "-b",
        "--backbone",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="image backbone option (augment=randaugment, hflip=0, crop_scale=0.3)",
    )
    parser.add_argument("--epochs", type=int, help="default: the method's")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one (add seeds to a result)")
    parser.add_argument(
        "--image-size",
        type=int,
        help="images resized to this square (no centre crop) instead of the model's default size; "
        "the default size only upsamples these small images, at several times the compute",
    )
    parser.add_argument("--block", choices=(*BLOCKS, "both"), default="development")
    parser.add_argument("--max-per-class", type=int, help="cap every split (a smoke test, not a result)")
    parser.add_argument("--shots", type=int, help="few-shot protocol: K examples per class per draw")
    parser.add_argument("--draws", type=int, default=10, help="with --shots: how many seeded draws")
    parser.add_argument("--out", help="default: benchmarks/results/protocol_<method>.json")
    args = parser.parse_args()
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    from zoo_core.plugins import Zoo

    zoo = Zoo()
    spec = zoo.get("methods", args.method)
    options = parse_options(args.option)
    args.train_options = parse_options(args.train)
    from zoo_core.engine.settings import TRAIN_SETTINGS

    not_training = sorted(set(args.train_options) - set(TRAIN_SETTINGS))
    if not_training:  # a FinetuneConfig field would arrive as an unconverted string
        parser.error(f"-t takes training settings only ({', '.join(sorted(TRAIN_SETTINGS))}); got {not_training}")
    if args.shots and args.first_seed:
        parser.error("--first-seed applies to --seeds; with --shots the draws always run 0..--draws-1")
    args.backbone_options = {k: _number_or_text(v) for k, v in parse_options(args.backbone).items()}
    if args.model:
        entry = zoo.catalog.get(args.model)
        models = {entry.modality: entry.id}
    else:
        models = {m: MODELS[m] for m in ("text", "image") if m in spec.modalities}
    if args.modality:
        models = {m: model for m, model in models.items() if m == args.modality}
    if not models:
        sys.exit(f"method '{args.method}' supports none of the protocol's modalities here ({', '.join(MODELS)})")
    blocks = BLOCKS if args.block == "both" else (args.block,)
    if "confirmation" in blocks:
        print(CONFIRMATION_WARNING, flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="zoo-protocol-"))
    all_rows, summary, described = [], [], {}
    for block in blocks:
        for modality, model in models.items():
            for name, load in sets(modality, block, scratch).items():
                splits = capped(load(), args.max_per_class)
                print(f"{block}: {name} ({model})", file=sys.stderr, flush=True)
                rows, described[name] = run_set(name, splits, model, args, options)
                all_rows += [{**r, "block": block, "modality": modality, "model": model} for r in rows]
                summary.append(summarise(block, modality, model, name, rows))
    runs = f"{args.draws} draws of {args.shots} shots" if args.shots else f"{args.seeds} seed(s)"
    options_text = " ".join(
        [f"-o {k}={v}" for k, v in options.items()]
        + [f"-t {k}={v}" for k, v in args.train_options.items()]
        + [f"-b {k}={v}" for k, v in args.backbone_options.items()]
    )
    heading = f"{args.method} {options_text}".strip() + f", {runs}" + (f", {args.epochs} epochs" if args.epochs else "")
    if args.image_size:
        heading += f", images at {args.image_size} px"
    if args.max_per_class:
        heading += f", capped at {args.max_per_class} per class: a smoke test"
    for block in blocks:
        print_block(block, summary, heading)
    if "confirmation" in blocks:
        print(f"\n{CONFIRMATION_WARNING}")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"protocol_{args.method}.json"
    dump(
        out,
        {
            "method": args.method,
            "method_options": options,
            "train_options": args.train_options,
            "backbone_options": args.backbone_options,
            "models": models,
            "epochs": args.epochs,
            "image_size": args.image_size,
            "seeds": args.seeds,
            "first_seed": args.first_seed,
            "shots": args.shots,
            "draws": args.draws if args.shots else None,
            "max_per_class": args.max_per_class,
            "blocks": list(blocks),
            "splits": described,
            "summary": summary,
            "runs": all_rows,
            "command": "python benchmarks/protocol.py " + " ".join(sys.argv[1:]),
        },
    )
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
