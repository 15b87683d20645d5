"""Domain adaptation with unlabelled target data: source-only vs coral, dann, mcc, self_training
(and adabn for images), through ``zoo``'s finetune with ``unlabeled=``.

Text: all-MiniLM-L6-v2 (max 128 tokens) on the Amazon review domains (books, dvd, electronics,
kitchen; ../shared/data/amazon_domains), each subsampled to ``--text-per-domain`` reviews
(stratified, seed 0). For a pair SOURCE->TARGET the model trains on the labelled source reviews
(a stratified 20% of them, drawn with the run's seed, is validation) and gets half of the target
reviews (a fixed stratified half, seed 0) as unlabelled data; it is tested on the other half.
Images: EfficientNet-Lite0 at 96 px; scikit-learn's 8x8 digits, written as PNGs (white ink on
black, like USPS, upscaled to 32x32 with nearest neighbour as the quickstart writes them) <-> USPS
(16x16, ../shared/data/usps train+test); each a stratified subsample (seed 0) of ``--digits`` and
``--usps`` images (all 1,797 digits and 2,000 of the 9,298 USPS images by default); same protocol.

Source-only baselines: ``linear_probe`` (features=last, the features the other methods see) and
the domain adaptation net trained without its adaptation loss (``coral -o trade_off=0``). Every
method runs with its defaults (chosen before this benchmark ran; never tuned on the test halves).
Features are extracted once per domain (zoo's feature cache); runs are spread over ``--workers``
processes. Mean and sample sd over ``--seeds`` seeds; wall time per run (mean) and the peak RSS of
the process while it ran (max over seeds).

    python benchmarks/domain_adaptation.py [--parts text,image] [--seeds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, ROOT, dump, need, peak_rss_since_reset_mb, reset_peak_rss

TEXT_MODEL, IMAGE_MODEL = "minilm-l6", "efficientnet-lite0"
BACKBONE = {TEXT_MODEL: {"max_length": 128}, IMAGE_MODEL: {"image_size": 96, "crop_pct": 1.0}}
PAIRS = [
    ("books", "kitchen"),
    ("kitchen", "books"),
    ("dvd", "electronics"),
    ("electronics", "dvd"),
    ("books", "dvd"),
    ("electronics", "kitchen"),
]
# row name -> (method, method options, uses the unlabelled data)
METHODS = {
    "linear_probe": ("linear_probe", {"features": "last"}, False),
    "source_only_net": ("coral", {"trade_off": 0.0}, True),  # trade_off 0: the target data is unused
    "coral": ("coral", {}, True),
    "dann": ("dann", {}, True),
    "mcc": ("mcc", {}, True),
    "self_training": ("self_training", {}, True),
    "adabn": ("adabn", {}, True),
    # Task-adaptive pre-training on the target's unlabelled half, then the probe (--tapt-steps).
    "tapt_linear_probe": ("linear_probe", {"features": "last"}, True),
}
TAPT_STEPS = 60  # 60 x 16 texts: about 3 passes over 300 unlabelled reviews; fixed before the run (CPU budget)
TEXT_ROWS = [name for name in METHODS if name != "adabn"]
IMAGE_ROWS = [name for name in METHODS if not name.startswith("tapt_")]


# ------------------------------------------------------------------------------------ data
def text_domain(name: str, per_domain: int):
    from zoo_core.data import load_text_file, stratified_subsample

    data = load_text_file(need(DATA / "amazon_domains" / f"{name}.tsv"))
    return data.subset(stratified_subsample(data.labels, per_domain, 0))


def image_domain(name: str, folder: Path, size: int):
    from zoo_core.data import LabelledData, load_image_folder, stratified_subsample

    if name == "usps":
        root = need(DATA / "usps")
        train, test = load_image_folder(root / "train"), load_image_folder(root / "test")
        both = LabelledData("image", train.items + test.items, train.labels + test.labels, str(root))
        return both.subset(stratified_subsample(both.labels, size, 0))
    digits = load_image_folder(write_digits(folder / "digits"))
    return digits.subset(stratified_subsample(digits.labels, size, 0))


def write_digits(folder: Path) -> Path:
    """scikit-learn's 8x8 digits as 32x32 PNGs, white ink on black (USPS's polarity), one folder per digit."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (pixels, label) in enumerate(zip(digits.images, digits.target)):
        target = folder / str(label)
        target.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray((pixels * (255 / 16)).astype("uint8"))
        image.resize((32, 32), Image.Resampling.NEAREST).convert("RGB").save(target / f"{i}.png")
    return folder


def halves(data):
    """A fixed stratified half (seed 0) as unlabelled data, the other half as test."""
    from zoo_core.data import stratified_split

    unlabelled, test = stratified_split(data.labels, 0.5, 0)
    return data.subset(unlabelled), data.subset(test)


def splits_for(source, test, seed: int):
    from zoo_core.data import DataSplits, stratified_split

    fit, val = stratified_split(source.labels, 0.2, seed)
    return DataSplits(source.subset(fit), source.subset(val), test, source.classes(), [f"source split seed {seed}"])


# ------------------------------------------------------------------------------------ runs
_DOMAINS: dict = {}


def _worker_init(domains: dict) -> None:
    import torch

    torch.set_num_threads(1)  # one process per core
    _DOMAINS.update(domains)


def run_one(task: tuple) -> dict:
    """One (modality, source, target, row, seed): finetune on the source with the target's
    unlabelled half, test on its other half."""
    from zoo_core.engine.pipeline import finetune

    modality, source_name, target_name, row, seed = task
    model = TEXT_MODEL if modality == "text" else IMAGE_MODEL
    method, options, unlabelled = METHODS[row]
    source = _DOMAINS[source_name]
    target_unlabelled, target_test = halves(_DOMAINS[target_name])
    reset_peak_rss()
    started = time.perf_counter()
    result = finetune(
        model,
        splits_for(source, target_test, seed),
        method=method,
        method_options=dict(options),
        unlabeled=target_unlabelled if unlabelled else None,
        tapt_steps=TAPT_STEPS if row.startswith("tapt_") else 0,
        backbone_options=BACKBONE[model],
        seed=seed,
        save=False,
        progress=False,
        num_workers=0,  # the pool's processes are daemons: no DataLoader workers of their own
    )
    return {
        "modality": modality,
        "pair": f"{source_name}->{target_name}",
        "row": row,
        "seed": seed,
        "accuracy": result.metrics["accuracy"],
        "macro_f1": result.metrics["macro_f1"],
        "test_size": result.metrics["num_samples"],
        "wall_seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_since_reset_mb(),
    }


def extract_once(model: str, domains: dict) -> dict:
    """Every item of every domain through the backbone once: the runs then read the cache."""
    from zoo_core.engine.features import extract_features
    from zoo_core.engine.model import build_backbone
    from zoo_core.plugins import Zoo

    backbone = build_backbone(Zoo(), model, **BACKBONE[model]).eval()
    seconds = {}
    for name, data in domains.items():
        started = time.perf_counter()
        extract_features(backbone, data.items)
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"features: {model} {name} ({len(data)} items) {seconds[name]}s", flush=True)
    return seconds


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["modality"], r["pair"], r["row"]), []).append(r)
    out = []
    for (modality, pair, row), runs in groups.items():
        acc = [r["accuracy"] for r in runs]
        out.append(
            {
                "modality": modality,
                "pair": pair,
                "row": row,
                "seeds": len(runs),
                "accuracy_mean": statistics.fmean(acc),
                "accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                "wall_seconds_mean": statistics.fmean(r["wall_seconds"] for r in runs),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            }
        )
    return out


def print_table(summary: list[dict], order: list[str]) -> None:
    print("\n| pair | method | target test accuracy (mean +/- sd) | vs source-only net | wall s/run | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    base = {(s["modality"], s["pair"]): s["accuracy_mean"] for s in summary if s["row"] == "source_only_net"}
    for s in sorted(summary, key=lambda s: (s["modality"], s["pair"], order.index(s["row"]))):
        delta = s["accuracy_mean"] - base[(s["modality"], s["pair"])]
        print(
            f"| {s['pair']} | {s['row']} | {s['accuracy_mean']:.4f} +/- {s['accuracy_sd']:.4f} | {delta:+.4f} | "
            f"{s['wall_seconds_mean']:.1f} | {s['peak_rss_mb']:.0f} |"
        )


def mean_over_pairs(summary: list[dict], modality: str, order: list[str]) -> None:
    print(f"\n{modality}: mean target accuracy over pairs (each pair's mean over seeds)")
    for row in order:
        values = [s["accuracy_mean"] for s in summary if s["modality"] == modality and s["row"] == row]
        if values:
            print(f"  {row:16s} {statistics.fmean(values):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="text,image")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--text-per-domain", type=int, default=600)
    parser.add_argument("--digits", type=int, default=1797)
    parser.add_argument("--usps", type=int, default=2000)
    parser.add_argument("--rows", help="only these rows (comma-separated), merged into --out's earlier runs")
    parser.add_argument(
        "--resume", metavar="JSONL", help="append each finished run here, and skip the runs it already holds"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "domain_adaptation.json"))
    args = parser.parse_args()
    only = set(args.rows.split(",")) if args.rows else None
    need(DATA / "amazon_domains")
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-da-"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import multiprocessing

    started = time.perf_counter()
    parts = args.parts.split(",")
    domains: dict = {}
    tasks: list[tuple] = []
    extraction: dict = {}
    seeds = range(args.seeds)
    if "text" in parts:
        text = {name: text_domain(name, args.text_per_domain) for name in ("books", "dvd", "electronics", "kitchen")}
        if only is None or not all(row.startswith("tapt_") for row in only):  # tapt runs never read this cache
            extraction[TEXT_MODEL] = extract_once(TEXT_MODEL, text)
        domains.update(text)
        tasks += [("text", s, t, row, seed) for s, t in PAIRS for row in TEXT_ROWS for seed in seeds]
    if "image" in parts:
        folder = Path(tempfile.mkdtemp(prefix="zoo-bench-digits-"))
        images = {name: image_domain(name, folder, getattr(args, name)) for name in ("digits", "usps")}
        extraction[IMAGE_MODEL] = extract_once(IMAGE_MODEL, images)
        domains.update(images)
        pairs = [("digits", "usps"), ("usps", "digits")]
        tasks += [("image", s, t, row, seed) for s, t in pairs for row in IMAGE_ROWS for seed in seeds]
    # AdaBN's statistics are cached per set of images: its first seed per pair goes first, its
    # other seeds last, so that two processes do not estimate the same statistics at once.
    tasks.sort(key=lambda t: 0 if t[3] == "adabn" and t[4] == 0 else 2 if t[3] == "adabn" else 1)
    # Pairs with a target of their own first: the runs that share a target later find its
    # continued pre-training (--tapt-steps) in the cache instead of computing it at the same time.
    first_target = {t: i for i, (_, t) in reversed(list(enumerate(PAIRS)))}
    tasks.sort(key=lambda t: first_target.get(t[2], 0) != PAIRS.index((t[1], t[2])) if t[0] == "text" else 0)
    rows = []
    if only is not None:  # keep the earlier runs of the other rows (same data and settings: see "args")
        tasks = [t for t in tasks if t[3] in only]
        earlier = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {"runs": []}
        rows = [r for r in earlier["runs"] if r["row"] not in only]
    if args.resume and Path(args.resume).is_file():  # runs finished before an interruption
        done = [json.loads(line) for line in Path(args.resume).read_text().splitlines() if line.strip()]
        finished = {(r["modality"], r["pair"], r["row"], r["seed"]) for r in done}
        rows += done
        tasks = [t for t in tasks if (t[0], f"{t[1]}->{t[2]}", t[3], t[4]) not in finished]
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers, initializer=_worker_init, initargs=(domains,)) as pool:
        for row in pool.imap_unordered(run_one, tasks):
            rows.append(row)
            if args.resume:
                with open(args.resume, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
            print(
                f"{row['modality']} {row['pair']} {row['row']} seed {row['seed']}: accuracy {row['accuracy']:.4f} "
                f"({row['wall_seconds']:.1f}s, peak {row['peak_rss_mb']:.0f} MiB)",
                flush=True,
            )
    summary = summarise(rows)
    dump(Path(args.out), {"args": vars(args), "extraction_seconds": extraction, "runs": rows, "summary": summary})
    for modality, order in (("text", TEXT_ROWS), ("image", IMAGE_ROWS)):
        if any(s["modality"] == modality for s in summary):
            print_table([s for s in summary if s["modality"] == modality], order)
            mean_over_pairs(summary, modality, order)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f}s with {args.workers} worker processes")


if __name__ == "__main__":
    main()
