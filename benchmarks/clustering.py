"""Clustering with pre-trained features (``zoo cluster``) against a baseline in the same run.

NMI, ARI and Hungarian-matched accuracy at k = the true number of classes, on

* TREC coarse (6 classes; the official train file, a stratified sample): all-MiniLM-L6-v2 (minilm-l6)
  against TF-IDF + k-means;
* USPS test (10 digits, a stratified sample): EfficientNet-Lite0 against raw pixels (16x16) + k-means;
* flowers (5 classes, a stratified sample, the 8 duplicated files left out): EfficientNet-Lite0 against
  raw pixels (downscaled to 32x32 RGB) + k-means;

and each model with random weights (``build_backbone(pretrained=False)``), which separates what
pre-training gives from what the architecture gives. Every representation is L2-normalised and
clustered with the same k-means (k-means++, 4 restarts, seed 0), as ``zoo cluster`` does. Two more rows
per data set cluster the same pre-trained features: Ward agglomerative clustering at the true k, and
k-means at the k that ``zoo cluster``'s silhouette scan chooses (2..min(20, n / 5)).

Each representation runs in its own process, so its peak memory (``ru_maxrss``) is its own; wall time
is measured inside it after the libraries are imported (data loading, model building, feature
extraction into a cold feature cache, clustering). The two "same features" rows time their clustering
alone. The defaults keep the run under about 10 minutes on 2 busy CPU cores (EfficientNet-Lite0 at
224 px ran at about 4 images/s there); the sizes are flags.

    python benchmarks/clustering.py --threads 1            # TREC 2000, USPS 500, flowers 500
    python benchmarks/clustering.py --trec 2000 --usps 2007 --flowers 4309 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, FLOWER_DUPLICATES, need, peak_rss_mb

TEXT_MODEL = "minilm-l6"
IMAGE_MODEL = "efficientnet-lite0"
SEED = 0
FLOWER_PIXELS = 32  # raw-pixel baseline side for flowers: 128x128x3 = 49k dims buys k-means nothing but time


def _subset(name: str, size: int) -> dict:
    """The items and labels of ``name``: a stratified sample of ``size`` (seed 0)."""
    from zoo_core.data import load_image_folder, load_text_file, stratified_subsample

    if name == "trec":
        data = load_text_file(need(DATA / "trec" / "train_5500.label"), label_column="first-token", encoding="latin-1")
        items, labels = data.items, [label.split(":")[0] for label in data.labels]  # COARSE:fine -> COARSE
    elif name == "usps":
        data = load_image_folder(need(DATA / "usps" / "test"))
        items, labels = data.items, data.labels
    else:
        data = load_image_folder(need(DATA / "flowers"))
        keep = [i for i, item in enumerate(data.items) if Path(item).name not in FLOWER_DUPLICATES]
        items, labels = [data.items[i] for i in keep], [data.labels[i] for i in keep]
    picked = stratified_subsample(labels, size, SEED)
    return {
        "name": name,
        "modality": "text" if name == "trec" else "image",
        "items": [items[i] for i in picked],
        "labels": [labels[i] for i in picked],
        "total": len(items),
    }


def _baseline(spec: dict):
    import numpy as np

    if spec["modality"] == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(sublinear_tf=True).fit_transform(spec["items"]).toarray()
    from PIL import Image

    rows = []
    for path in spec["items"]:
        with Image.open(path) as image:
            if spec["name"] == "usps":
                rows.append(np.asarray(image.convert("L"), dtype=np.float32).ravel() / 255)
            else:
                small = image.convert("RGB").resize((FLOWER_PIXELS, FLOWER_PIXELS), Image.Resampling.BILINEAR)
                rows.append(np.asarray(small, dtype=np.float32).ravel() / 255)
    return np.stack(rows)


def run_row(spec_path: str, variant: str) -> list[dict]:
    """One representation, in this process: its features (or the baseline's), clustering and scores.
    The pre-trained one also gives the Ward and silhouette-k rows, on the same features."""
    spec = json.loads(Path(spec_path).read_text())
    # Imported before the clock starts: on a loaded machine importing transformers alone takes 10-20 s.
    import sklearn.cluster  # noqa: F401

    if variant != "baseline":
        import timm  # noqa: F401
        import transformers  # noqa: F401

    from zoo_core.engine.unsupervised import (
        Unlabelled,
        choose_k,
        clustering_metrics,
        embed,
        fit_clusters,
        l2_normalise,
    )
    from zoo_core.plugins import Zoo

    started = time.perf_counter()
    k = len(set(spec["labels"]))
    if variant == "baseline":
        features = _baseline(spec)
    else:
        model = TEXT_MODEL if spec["modality"] == "text" else IMAGE_MODEL
        data = Unlabelled(spec["modality"], spec["items"], spec["labels"], spec["name"])
        features = embed(Zoo(), model, data, batch_size=32, pretrained=variant != "random").matrix
    x = l2_normalise(features)

    def scored(assignment, chosen_k: int, since: float) -> dict:
        return {
            **clustering_metrics(spec["labels"], assignment),
            "k": chosen_k,
            "seconds": time.perf_counter() - since,
            "peak_mb": peak_rss_mb(),
        }

    rows = [scored(fit_clusters(x, k, "kmeans", SEED), k, started)]
    if variant == "pretrained":
        since = time.perf_counter()
        rows.append(scored(fit_clusters(x, k, "agglomerative", SEED), k, since))
        since = time.perf_counter()
        choice = choose_k(x, "kmeans", SEED)
        rows.append(scored(choice.assignment, choice.k, since))
    return rows


ROWS = {  # variant -> (representation, algorithm) of each row it gives
    "baseline": [(None, "k-means")],
    "random": [("random weights", "k-means")],
    "pretrained": [
        ("pre-trained", "k-means"),
        ("pre-trained, same features", "Ward"),
        ("pre-trained, same features", "k-means, k by silhouette"),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trec", type=int, default=2000, help="TREC questions (stratified sample)")
    parser.add_argument("--usps", type=int, default=500, help="USPS test digits (stratified sample)")
    parser.add_argument("--flowers", type=int, default=500, help="flower photos (stratified sample)")
    parser.add_argument("--threads", type=int, help="torch and BLAS threads per row (default: the libraries')")
    parser.add_argument("--row", nargs=2, metavar=("SPEC", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        if args.threads:
            import torch
            from threadpoolctl import threadpool_limits

            torch.set_num_threads(args.threads)
            threadpool_limits(args.threads)
        print(json.dumps(run_row(*args.row)))
        return

    need(DATA)
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-cluster-bench-")  # cold feature cache
    work = Path(tempfile.mkdtemp(prefix="zoo-cluster-specs-"))
    baselines = {"trec": "TF-IDF", "usps": "raw pixels 16x16", "flowers": f"raw pixels {FLOWER_PIXELS}x{FLOWER_PIXELS}"}
    header = (
        f"{'data':<8} {'items':>5} {'k':>3}  {'representation':<46} {'algorithm':<24} "
        f"{'NMI':>6} {'ARI':>6} {'ACC':>6} {'NMI/base':>8} {'wall s':>7} {'peak MiB':>8}"
    )
    print(f"clustering benchmark: seed {SEED}, every representation L2-normalised; threads {args.threads or 'default'}")
    print(header)
    print("-" * len(header))
    started = time.perf_counter()
    for name, size in (("trec", args.trec), ("usps", args.usps), ("flowers", args.flowers)):
        spec = _subset(name, size)
        spec_path = work / f"{name}.json"
        spec_path.write_text(json.dumps(spec))
        model = TEXT_MODEL if name == "trec" else IMAGE_MODEL
        base_nmi = None
        for variant, shapes in ROWS.items():
            command = [sys.executable, __file__, "--row", str(spec_path), variant]
            if args.threads:
                command += ["--threads", str(args.threads)]
            proc = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
            if proc.returncode != 0:
                print(f"{name} {variant}: failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            rows = json.loads(proc.stdout.strip().splitlines()[-1])
            for (representation, algorithm), row in zip(shapes, rows):
                base_nmi = row["nmi"] if variant == "baseline" else base_nmi
                label = baselines[name] if representation is None else f"{model} {representation}"
                ratio = f"{row['nmi'] / base_nmi:.2f}x" if base_nmi else "-"
                print(
                    f"{name:<8} {len(spec['items']):>5} {row['k']:>3}  {label:<46} {algorithm:<24} "
                    f"{row['nmi']:>6.3f} {row['ari']:>6.3f} {row['accuracy']:>6.3f} {ratio:>8} "
                    f"{row['seconds']:>7.1f} {row['peak_mb']:>8.0f}",
                    flush=True,
                )
    print(
        f"\ntotal {time.perf_counter() - started:.0f}s. k is the true number of classes except in the silhouette rows. "
        "wall s: the row's data loading, model building, feature extraction and clustering, after the libraries "
        "are imported; the 'same features' rows time their clustering alone and share the pre-trained row's "
        "process, so their peak memory is that process's so far."
    )
    print(f"sizes: TREC {args.trec} of its train file, USPS {args.usps} of 2,007 test digits, flowers {args.flowers}")


if __name__ == "__main__":
    main()
