"""Unsupervised transfer: pooled embeddings of unlabelled data, clustering of pre-trained features,
choosing k, clustering metrics against labels when there are any, and contact sheets.

Features are L2-normalised before clustering: on unit vectors squared Euclidean distance is
``2 - 2 cos``, so k-means and Ward linkage group by cosine similarity, the geometry pre-trained
embeddings are trained and compared in. Without ``k``, k is the one of ``2..min(20, n // 5)``
(at least 5 items per cluster on average) whose clustering has the highest mean silhouette
(Rousseeuw 1987), the smallest k on a tie. The silhouette is computed on at most
:data:`SILHOUETTE_MAX_ITEMS` items (a seeded sample), because it costs n² distances.

Torch, scikit-learn, scipy, Pillow and pyarrow are imported inside the functions that need them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.data.unlabelled import Unlabelled, load_unlabelled
from zoo_core.errors import ZooError

ALGORITHMS = ("kmeans", "agglomerative")
K_MIN = 2
K_MAX = 20
MIN_ITEMS_PER_CLUSTER = 5  # the k scan stops at n // 5: smaller clusters are mostly noise
SILHOUETTE_MAX_ITEMS = 3000
KMEANS_INITS = 4  # k-means++ restarts per fit; the best inertia wins
SHEET_ITEMS = 36  # thumbnails per contact sheet (6 x 6)
SHEET_COLUMNS = 6
THUMB = 96  # thumbnail side in pixels
GAP = 2
TITLE_HEIGHT = 16
EMBED_FORMATS = ("npy", "parquet")


def check_model_for(entry: Any, data: Unlabelled) -> None:
    """A clear error when the model's modality is not the data's."""
    if entry.modality != data.modality:
        raise ZooError(
            f"{entry.id} is {'an' if entry.modality == 'image' else 'a'} {entry.modality} model but {data.source} "
            f"holds {data.modality} data; pick a {data.modality} model (zoo models list --modality {data.modality})"
        )


# --- embeddings ---------------------------------------------------------------------------------


@dataclass
class Embedded:
    """The pooled features of ``data`` under one model."""

    data: Unlabelled
    matrix: np.ndarray  # [items, dims] float32, as the backbone pools them (not normalised)
    model: str
    alias: str
    pretrained: bool
    pooling: str
    seconds: float


def embed(
    zoo,
    model: str,
    data: str | os.PathLike | Unlabelled,
    *,
    batch_size: int = 64,
    pretrained: bool = True,
    progress: bool = False,
    data_options: dict[str, Any] | None = None,
) -> Embedded:
    """One pooled embedding per item of ``data``, through the feature cache (filled for later calls)."""
    from zoo_core.engine.features import extract_features
    from zoo_core.engine.model import build_backbone

    if batch_size < 1:
        raise ZooError(f"--batch-size must be at least 1, got {batch_size}")
    loaded = data if isinstance(data, Unlabelled) else load_unlabelled(data, **(data_options or {}))
    entry = zoo.catalog.get(model)
    check_model_for(entry, loaded)
    started = time.perf_counter()
    backbone = build_backbone(zoo, entry, pretrained=pretrained)
    features = extract_features(backbone, loaded.items, batch_size=batch_size, progress=progress, desc="embed")
    return Embedded(
        loaded,
        features.numpy().astype(np.float32, copy=False),
        entry.id,
        entry.short_name,
        pretrained,
        getattr(backbone, "pooling", "avg"),
        round(time.perf_counter() - started, 2),
    )


def embedding_format(out: str | os.PathLike, given: str | None) -> str:
    """``npy`` or ``parquet``: ``given``, else from ``out``'s suffix; a clear error when they disagree."""
    suffix = Path(out).suffix.lower().lstrip(".")
    if given is not None:
        if given not in EMBED_FORMATS:
            raise ZooError(f"--format must be one of {', '.join(EMBED_FORMATS)}, got '{given}'")
        if suffix in EMBED_FORMATS and suffix != given:
            raise ZooError(f"--out {out} ends in .{suffix} but --format is {given}; make them agree")
        return given
    if suffix in EMBED_FORMATS:
        return suffix
    raise ZooError(f"--out {out}: cannot tell the format from its name; end it in .npy or .parquet, or pass --format")


def write_embeddings(embedded: Embedded, out: str | os.PathLike, fmt: str) -> dict[str, Any]:
    """Write ``.npy`` (plus a sidecar JSON) or ``.parquet``; returns the summary of what was written."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data, matrix = embedded.data, embedded.matrix
    meta = {
        "model": embedded.model,
        "alias": embedded.alias,
        "pretrained": embedded.pretrained,
        "pooling": embedded.pooling,
        "normalised": False,
        "dims": int(matrix.shape[1]),
        "count": int(matrix.shape[0]),
        "modality": data.modality,
        "source": data.source,
    }
    summary: dict[str, Any] = {"out": str(out), "format": fmt, **meta, "labels": data.labels is not None}
    if fmt == "npy":
        with open(out, "wb") as handle:  # a file object: np.save would add ".npy" to a path without it
            np.save(handle, matrix)
        sidecar = out.with_suffix(".json")
        sidecar.write_text(json.dumps({**meta, "items": data.items, "labels": data.labels}, indent=2))
        summary["sidecar"] = str(sidecar)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {"item": pa.array([str(item) for item in data.items], pa.string())}
        if data.labels is not None:
            columns["label"] = pa.array(data.labels, pa.string())
        flat = pa.array(matrix.reshape(-1), pa.float32())
        columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, int(matrix.shape[1]))
        table = pa.table(columns).replace_schema_metadata({"zoo": json.dumps(meta)})
        pq.write_table(table, out)
    return summary


# --- clustering ---------------------------------------------------------------------------------


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)  # float32 halves k-means' time; unit vectors need no more
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def fit_clusters(x: np.ndarray, k: int, algorithm: str = "kmeans", seed: int = 0, memory: Any = None) -> np.ndarray:
    """Cluster ids ``[n]`` for ``k`` clusters: k-means (k-means++, :data:`KMEANS_INITS` restarts) or
    Ward agglomerative clustering."""
    from sklearn.cluster import AgglomerativeClustering, KMeans

    if algorithm == "kmeans":
        with warnings.catch_warnings():
            # Duplicate points can leave fewer distinct clusters than k; the silhouette then says so.
            warnings.simplefilter("ignore")
            return KMeans(n_clusters=k, n_init=KMEANS_INITS, random_state=seed).fit_predict(x)
    if algorithm == "agglomerative":
        model = AgglomerativeClustering(
            n_clusters=k, linkage="ward", memory=memory, compute_full_tree=memory is not None
        )
        return model.fit_predict(x)
    raise ZooError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got '{algorithm}'")


def silhouette(x: np.ndarray, assignment: np.ndarray, seed: int = 0) -> float:
    """Mean silhouette (Euclidean; cosine-like on unit vectors) on at most :data:`SILHOUETTE_MAX_ITEMS`
    items; NaN when it is undefined (one cluster, or every item its own)."""
    from sklearn.metrics import silhouette_score

    picked = _silhouette_sample(len(x), seed)
    distinct = len(np.unique(assignment[picked]))
    if distinct < 2 or distinct >= len(picked):
        return math.nan
    return float(silhouette_score(x[picked], assignment[picked]))


def _silhouette_sample(n: int, seed: int) -> np.ndarray:
    """The items the silhouette is computed on: all of them, or a seeded sample of
    :data:`SILHOUETTE_MAX_ITEMS`; the same for every k."""
    return np.random.RandomState(seed).permutation(n)[:SILHOUETTE_MAX_ITEMS]


def k_range(n: int) -> range:
    """The ks the silhouette scan tries for ``n`` items: ``2..min(20, n // 5)``."""
    return range(K_MIN, min(K_MAX, n // MIN_ITEMS_PER_CLUSTER) + 1)


@dataclass
class KChoice:
    k: int
    scores: dict[int, float]  # k -> silhouette
    assignment: np.ndarray  # the clustering at the chosen k

    @property
    def criterion(self) -> str:
        ks = list(self.scores)
        return f"highest mean silhouette over k = {ks[0]}..{ks[-1]} (2 to min(20, items / 5)); the smallest k on a tie"


def choose_k(x: np.ndarray, algorithm: str = "kmeans", seed: int = 0) -> KChoice:
    """Choose k by the silhouette scan (module docstring); ``x`` is the normalised features."""
    ks = k_range(len(x))
    if not ks:
        raise ZooError(
            f"{len(x)} items are too few to choose k (the scan needs at least {K_MIN * MIN_ITEMS_PER_CLUSTER}, "
            f"{MIN_ITEMS_PER_CLUSTER} per cluster); pass --k"
        )
    from sklearn.metrics import pairwise_distances, silhouette_score

    # One seeded sample and its distance matrix for every k: the silhouette's cost is the n² distances,
    # and the same items for each k keep the scores comparable.
    picked = _silhouette_sample(len(x), seed)
    distances = pairwise_distances(x[picked])
    memory = None
    if algorithm == "agglomerative":
        import tempfile

        from joblib import Memory

        # Ward's tree is the same for every k: build it once and cut it at each k.
        cache = tempfile.TemporaryDirectory(prefix="zoo-ward-")
        memory = Memory(cache.name, verbose=0)
    scores: dict[int, float] = {}
    best: tuple[float, int, np.ndarray] | None = None
    try:
        for k in ks:
            assignment = fit_clusters(x, k, algorithm, seed, memory=memory)
            distinct = len(np.unique(assignment[picked]))
            scores[k] = (
                float(silhouette_score(distances, assignment[picked], metric="precomputed"))
                if 2 <= distinct < len(picked)
                else math.nan
            )
            if not math.isnan(scores[k]) and (best is None or scores[k] > best[0]):
                best = (scores[k], k, assignment)
    finally:
        if memory is not None:
            cache.cleanup()
    if best is None:
        raise ZooError("the features do not separate into clusters at any k (are the items all identical?); pass --k")
    return KChoice(best[1], scores, best[2])


def by_size(assignment: np.ndarray) -> np.ndarray:
    """Renumber clusters so that 0 is the largest (ties: the one met first)."""
    ids, first, counts = np.unique(assignment, return_index=True, return_counts=True)
    order = sorted(range(len(ids)), key=lambda i: (-counts[i], first[i]))
    mapping = {int(ids[i]): new for new, i in enumerate(order)}
    return np.array([mapping[int(a)] for a in assignment], dtype=np.int64)


def hungarian_accuracy(labels: Sequence[Any] | np.ndarray, assignment: Sequence[Any] | np.ndarray) -> float:
    """Accuracy under the best one-to-one matching of clusters to classes (Hungarian algorithm on the
    contingency table); clusters or classes left unmatched count as wrong."""
    from scipy.optimize import linear_sum_assignment

    _, truth = np.unique(np.asarray(labels), return_inverse=True)
    _, found = np.unique(np.asarray(assignment), return_inverse=True)
    table = np.zeros((found.max() + 1, truth.max() + 1), dtype=np.int64)
    np.add.at(table, (found, truth), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(truth))


def clustering_metrics(labels: Sequence[Any] | np.ndarray, assignment: Sequence[Any] | np.ndarray) -> dict[str, float]:
    """NMI, ARI (scikit-learn) and Hungarian-matched accuracy of ``assignment`` against ``labels``."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "nmi": float(normalized_mutual_info_score(labels, assignment)),
        "ari": float(adjusted_rand_score(labels, assignment)),
        "accuracy": hungarian_accuracy(labels, assignment),
    }


def representatives(x: np.ndarray, assignment: np.ndarray, cluster: int, count: int) -> list[int]:
    """Indices of the ``count`` members of ``cluster`` nearest its centre (by cosine), nearest first."""
    members = np.flatnonzero(assignment == cluster)
    centre = x[members].mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    order = np.argsort(-(x[members] @ centre), kind="stable")
    return [int(i) for i in members[order[:count]]]


def sheet_size(count: int, columns: int = SHEET_COLUMNS, thumb: int = THUMB) -> tuple[int, int]:
    """(width, height) of a contact sheet of ``count`` thumbnails."""
    cols = max(1, min(columns, count))
    rows = max(1, math.ceil(count / cols))
    return cols * thumb + (cols + 1) * GAP, TITLE_HEIGHT + rows * thumb + (rows + 1) * GAP


def contact_sheet(paths: Sequence[str], out: str | os.PathLike, title: str = "") -> tuple[int, int]:
    """Write a grid of thumbnails of ``paths`` (at most :data:`SHEET_ITEMS`) to ``out``; returns its size."""
    from PIL import Image, ImageDraw, ImageOps

    paths = list(paths)[:SHEET_ITEMS]
    size = sheet_size(len(paths))
    sheet = Image.new("RGB", size, "white")
    cols = max(1, min(SHEET_COLUMNS, len(paths)))
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as handle:
                image = handle.convert("RGB")
            # Small images (16-pixel digits) are enlarged with NEAREST so their pixels stay sharp.
            resample = Image.Resampling.NEAREST if max(image.size) < THUMB else Image.Resampling.LANCZOS
            tile = ImageOps.pad(image, (THUMB, THUMB), method=resample, color=(255, 255, 255))
        except Exception:  # an item that decoded for the model but not now: a grey tile, not a failed run
            tile = Image.new("RGB", (THUMB, THUMB), (128, 128, 128))
        row, col = divmod(i, cols)
        sheet.paste(tile, (GAP + col * (THUMB + GAP), TITLE_HEIGHT + GAP + row * (THUMB + GAP)))
    if title:
        ImageDraw.Draw(sheet).text((GAP + 2, 2), title, fill=(0, 0, 0))
    sheet.save(out)
    return size


_SHEET_NAME = re.compile(r"^cluster_\d+\.png$")


def cluster(
    zoo,
    model: str,
    data: str | os.PathLike | Unlabelled,
    *,
    k: int | None = None,
    algorithm: str = "kmeans",
    out: str | os.PathLike | None = None,
    seed: int = 0,
    batch_size: int = 64,
    pretrained: bool = True,
    progress: bool = False,
    data_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Cluster ``data``'s pre-trained features, write the assignments (and contact sheets for images)
    to ``out`` when given, and return the summary that ``assignments.json`` holds."""
    started = time.perf_counter()
    if algorithm not in ALGORITHMS:
        raise ZooError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got '{algorithm}'")
    if k is not None and (isinstance(k, bool) or int(k) != k or k < K_MIN):
        raise ZooError(f"--k must be a whole number of at least {K_MIN} (the number of clusters), got {k}")
    loaded = data if isinstance(data, Unlabelled) else load_unlabelled(data, **(data_options or {}))
    if k is not None and k > len(loaded):
        raise ZooError(f"--k {k} is more than the {len(loaded)} items in {loaded.source}; pass at most {len(loaded)}")
    embedded = embed(zoo, model, loaded, batch_size=batch_size, pretrained=pretrained, progress=progress)
    x = l2_normalise(embedded.matrix)
    notes = list(loaded.notes)
    notes.append(
        f"features: {embedded.alias} ({'pre-trained' if pretrained else 'random weights'}), pooled, L2-normalised "
        "to unit length, so that distances rank like cosine similarity"
    )
    selection = None
    if k is None:
        choice = choose_k(x, algorithm, seed)
        k, raw = choice.k, choice.assignment
        selection = {"criterion": choice.criterion, "scores": {str(key): value for key, value in choice.scores.items()}}
    else:
        raw = fit_clusters(x, k, algorithm, seed)
    assignment = by_size(raw)
    found = int(assignment.max()) + 1
    if found < k:
        notes.append(f"only {found} distinct clusters found for k = {k} (duplicate items?)")
    metrics = None
    if loaded.labels is not None:
        metrics = {**clustering_metrics(loaded.labels, assignment), "num_classes": len(set(loaded.labels))}
    clusters = []
    for c in range(found):
        members = np.flatnonzero(assignment == c)
        near = representatives(x, assignment, c, SHEET_ITEMS)
        row: dict[str, Any] = {"cluster": c, "size": int(len(members)), "examples": [loaded.items[i] for i in near[:5]]}
        if loaded.labels is not None:
            label, count = Counter(loaded.labels[i] for i in members).most_common(1)[0]
            row["majority_label"], row["majority_share"] = label, round(count / len(members), 4)
        row["_near"] = near
        clusters.append(row)
    result: dict[str, Any] = {
        "model": embedded.model,
        "alias": embedded.alias,
        "pretrained": pretrained,
        "data": loaded.source,
        "modality": loaded.modality,
        "num_items": len(loaded),
        "dims": int(x.shape[1]),
        "normalisation": "L2",
        "algorithm": algorithm,
        "seed": seed,
        "k": int(k),
        "k_given": selection is None,
        "k_selection": selection,
        "silhouette": silhouette(x, assignment, seed),
        "metrics": metrics,
        "clusters": clusters,
        "assignments": [
            {"item": str(item), "cluster": int(a), **({"label": loaded.labels[i]} if loaded.labels is not None else {})}
            for i, (item, a) in enumerate(zip(loaded.items, assignment))
        ],
        "files": None,
        "notes": notes,
        "skipped": [s.as_dict() for s in loaded.skipped],
        "feature_seconds": embedded.seconds,
    }
    if out is not None:
        result["files"] = _write_cluster_files(Path(out), result)
    for row in clusters:
        row.pop("_near")
    result["seconds"] = round(time.perf_counter() - started, 2)
    if out is not None:
        Path(result["files"]["json"]).write_text(json.dumps(result, indent=2, sort_keys=True, default=str))
    return result


def _write_cluster_files(out: Path, result: dict[str, Any]) -> dict[str, Any]:
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out} is a file; pass a folder for the assignments and contact sheets")
    out.mkdir(parents=True, exist_ok=True)
    labelled = result["metrics"] is not None
    csv_path = out / "assignments.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "cluster", *(["label"] if labelled else [])])
        for row in result["assignments"]:
            writer.writerow([row["item"], row["cluster"], *([row["label"]] if labelled else [])])
    sheets = []
    for stale in out.iterdir():  # sheets of an earlier run with more clusters would be taken for this one's
        if _SHEET_NAME.match(stale.name):
            stale.unlink()
    if result["modality"] == "image":
        for row in result["clusters"]:
            path = out / f"cluster_{row['cluster']}.png"
            title = f"cluster {row['cluster']}: {row['size']} items"
            if "majority_label" in row:
                title += f", mostly {row['majority_label']} ({row['majority_share']:.0%})"
            contact_sheet([result["assignments"][i]["item"] for i in row["_near"]], path, title)
            row["contact_sheet"] = str(path)
            sheets.append(str(path))
    return {"csv": str(csv_path), "json": str(out / "assignments.json"), "contact_sheets": sheets}
