"""Shared helpers for benchmarks: locate ../shared/data, make seeded splits, print tables."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from zoo_core.data import DataSplits, LabelledData, load_image_folder, load_text_file, stratified_split

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

# Byte-identical files stored under both rose/ and tulip/: their label is ambiguous (data README).
FLOWER_DUPLICATES = {
    "15922772266_1167a06620.jpg",
    "17291451621_0e39f08b9e_n.jpg",
    "17291930305_79deae6a90_n.jpg",
    "17104364030_ee31ee279b_n.jpg",
}


def need(path: Path) -> Path:
    if not path.exists():
        print(f"skipped: {path} is absent (benchmarks read ../shared/data beside the project)")
        sys.exit(0)
    return path


def split_train_test(data: LabelledData, test_fraction: float, seed: int, val_fraction: float = 0.2) -> DataSplits:
    """Seeded stratified train/test split, then a stratified validation split of train."""
    keep, held = stratified_split(data.labels, test_fraction, seed)
    train, test = data.subset(keep), data.subset(held)
    fit, val = stratified_split(train.labels, val_fraction, seed)
    return DataSplits(
        train=train.subset(fit),
        val=train.subset(val),
        test=test,
        label_names=train.classes(),
        notes=[
            f"seeded stratified split: test {test_fraction:.0%} (seed {seed}), "
            f"validation {val_fraction:.0%} of the rest"
        ],
    )


def flowers(seed: int = 0) -> DataSplits:
    data = load_image_folder(need(DATA / "flowers"))
    keep = [i for i, item in enumerate(data.items) if Path(item).name not in FLOWER_DUPLICATES]
    return split_train_test(data.subset(keep), 0.2, seed)


def yelp() -> LabelledData:
    return load_text_file(need(DATA / "sentiment" / "yelp_labelled.tsv"))


def trec() -> DataSplits:
    """TREC coarse labels: the official train file and the official 500-question test split."""

    def coarse(path: Path) -> LabelledData:
        data = load_text_file(path, label_column="first-token", encoding="latin-1")
        return LabelledData("text", data.items, [label.split(":")[0] for label in data.labels], str(path))

    train = coarse(need(DATA / "trec" / "train_5500.label"))
    test = coarse(DATA / "trec" / "TREC_10.label")
    fit, val = stratified_split(train.labels, 0.1, 0)
    return DataSplits(
        train=train.subset(fit),
        val=train.subset(val),
        test=test,
        label_names=train.classes(),
        notes=["TREC coarse: official train (10% held out for validation) and official test"],
    )


# Confirmation sets of the text defaults protocol (issue 16): never used to choose a default.
AMAZON = ("books", "dvd", "electronics", "kitchen")
AMAZON_TEST = 500  # per domain: a stratified, seeded (0) test set; the rest is the training pool


def amazon(domain: str) -> tuple[LabelledData, LabelledData]:
    """One Amazon review domain as (pool, test): exact repeat texts dropped first (the first kept; a
    repeat always has the same label, and would leak across the split: data README), then a
    stratified test set of :data:`AMAZON_TEST` reviews drawn with seed 0."""
    data = load_text_file(need(DATA / "amazon_domains" / f"{domain}.tsv"))
    first = {text: i for i, text in reversed(list(enumerate(data.items)))}
    data = data.subset(sorted(first.values()))
    pool, test = stratified_split(data.labels, AMAZON_TEST / len(data), 0)
    return data.subset(pool), data.subset(test)


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def reset_peak_rss() -> None:
    """Start a new peak-memory window for this process (Linux: resets VmHWM to the current RSS)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_since_reset_mb() -> float:
    """Peak resident memory since :func:`reset_peak_rss` (VmHWM), in MiB; getrusage where /proc lacks it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
