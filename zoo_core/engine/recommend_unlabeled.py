"""Rank catalog models for clustering data without labels (``zoo recommend --unlabeled``): an
unsupervised proxy, said so wherever it is shown. Candidates, calibration, the time budget and the
noise estimate are :mod:`zoo_core.engine.recommend`'s."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.data import LabelledData, skipped_summary
from zoo_core.engine.features import extract_features
from zoo_core.engine.recommend import (
    AHEAD_SHARE,
    BATCH_SIZE,
    CALIBRATION_ITEMS,
    RESAMPLES,
    Ranked,
    Recommendation,
    _candidate_entries,
    _load_candidates,
    _score_noise,
)
from zoo_core.errors import DataError, ZooError

#: What ``recommend_unlabeled`` scores, said plainly wherever its ranking is shown.
UNLABELED_PROXY = (
    "unsupervised proxy: models are ranked by the silhouette of k-means on their L2-normalised features (how "
    "cleanly the data falls into separate groups in each model's feature space); no labels are used, and it "
    "does not measure how well the clusters match any classes you have in mind"
)
UNLABELED_SCORER = "silhouette"
UNLABELED_SCORER_VERSION = "kmeans-silhouette-1"
UNLABELED_MIN_ITEMS = 100  # 5 per cluster at the scan's largest k (20)


def recommend_unlabeled(
    data: str | Path,
    *,
    task: str | None = None,
    candidates: Sequence[str] | None = None,
    max_params_m: float | None = None,
    offline: bool | None = None,
    budget_seconds: float | None = 90.0,
    top: int | None = None,
    k: int | None = None,
    seed: int = 0,
    resamples: int = RESAMPLES,
    zoo=None,
    log: Callable[[str], None] | None = None,
    data_options: dict[str, Any] | None = None,
) -> Recommendation:
    """Rank candidate models for clustering ``data``, with no labels (labels in the data are ignored).

    The score is the mean silhouette of k-means (k-means++, seeded) on each model's L2-normalised pooled
    features: at ``k`` clusters when given, else at the k that ``zoo cluster`` would choose for that
    model (the highest silhouette over 2..min(20, n / 5)), i.e. its best silhouette. Candidates,
    calibration and the time budget are as in :func:`recommend`; the subsample is uniform (seeded), and
    the noise estimate rescores each model's clustering on the same half-samples of the items.
    """
    from zoo_core.data import split_folders
    from zoo_core.engine.unsupervised import (
        K_MIN,
        MIN_ITEMS_PER_CLUSTER,
        choose_k,
        fit_clusters,
        k_range,
        l2_normalise,
        load_unlabelled,
        silhouette,
    )
    from zoo_core.paths import offline_mode
    from zoo_core.plugins import Zoo

    if resamples < 0 or resamples == 1:
        raise ZooError(f"resamples must be 0 (no noise estimate) or at least 2, got {resamples}")
    if k is not None and k < K_MIN:
        raise ZooError(f"--k must be a whole number of at least {K_MIN} (the number of clusters), got {k}")
    started = time.perf_counter()
    zoo = zoo or Zoo()
    log = log or (lambda message: None)
    offline = offline_mode() if offline is None else offline
    notes = []
    path = Path(data)
    splits = split_folders(path) if path.is_dir() else {}
    if splits:
        path = splits["train"]
        notes.append(f"{data} is split: ranked on its training split {path}")
    loaded = load_unlabelled(path, **(data_options or {}))
    if loaded.skipped:
        log(skipped_summary(loaded.skipped, full_list="--json output"))
    notes += loaded.notes
    if loaded.labels is not None:
        notes.append("the data has labels; --unlabeled ignores them (drop --unlabeled to rank on them)")
    modality = loaded.modality
    task = task or f"{modality}-classification"
    # The shortlist reads the data's size and kind; one stand-in label, since there are none to count.
    stand_in = LabelledData(modality, loaded.items, ["-"] * len(loaded), loaded.source)
    entries, picked_notes = _candidate_entries(
        zoo,
        stand_in,
        path,
        task=task,
        candidates=candidates,
        max_params_m=max_params_m,
        offline=offline,
        scorer=UNLABELED_SCORER,
    )
    notes += picked_notes
    floor = min(len(loaded), UNLABELED_MIN_ITEMS)
    if k is not None and k > len(loaded):
        raise ZooError(f"--k {k} is more than the {len(loaded)} items in {loaded.source}; pass at most {len(loaded)}")
    if k is None and not k_range(len(loaded)):
        raise ZooError(
            f"{len(loaded)} items are too few to choose k (at least {K_MIN * MIN_ITEMS_PER_CLUSTER}); pass --k"
        )

    def failed_row(entry, exc: Exception) -> Ranked:
        error = " ".join(f"{type(exc).__name__}: {exc}".split())
        return Ranked(entry.id, entry.short_name, entry.params_m, None, 0.0, "", "", error=error)

    # "last" features: what `zoo cluster` extracts, so that clustering with the chosen model is cached.
    backbones, rates, failed, loading_notes = _load_candidates(
        zoo,
        entries,
        loaded.items[:CALIBRATION_ITEMS],
        offline=offline,
        failed_row=failed_row,
        log=log,
        features="last",
    )
    notes += loading_notes
    indices = list(range(len(loaded)))
    if budget_seconds:
        remaining = budget_seconds - (time.perf_counter() - started)
        affordable = int(max(0.0, remaining) / sum(1.0 / r for r in rates))
        if affordable < len(loaded):
            n = max(floor, affordable)
            indices = sorted(np.random.RandomState(seed).choice(len(loaded), n, replace=False).tolist())
            notes.append(
                f"budget {budget_seconds:.0f}s: scored a random sample of {n} of {len(loaded)} items "
                f"(seed {seed}); give --budget-seconds 0 to score all"
            )
    items = [loaded.items[i] for i in indices]
    if k is not None and k > len(items):
        raise ZooError(f"--k {k} is more than the {len(items)} items scored; pass a smaller --k or a larger budget")

    ranked: list[Ranked] = list(failed)
    for entry, backbone, _build_seconds in backbones:
        extract_start = time.perf_counter()
        try:
            features = l2_normalise(extract_features(backbone, items, batch_size=BATCH_SIZE).numpy())
            if k is None:
                choice = choose_k(features, "kmeans", seed)
                chosen, assignment, value = choice.k, choice.assignment, choice.scores[choice.k]
            else:
                chosen, assignment = k, fit_clusters(features, k, "kmeans", seed)
                value = silhouette(features, assignment, seed)
                if np.isnan(value):
                    raise ZooError(f"its features fall into fewer than 2 distinct clusters at k = {k}")
        except DataError:
            raise  # an image that cannot be decoded is the data's fault, not this candidate's: say so once
        except Exception as exc:
            ranked.append(failed_row(entry, exc))
            continue
        seconds = time.perf_counter() - extract_start
        row = Ranked(entry.id, entry.short_name, entry.params_m, float(value), round(seconds, 2), "", "", k=chosen)
        row._features = features  # type: ignore[attr-defined]  # kept for the noise estimate
        row._assignment = assignment  # type: ignore[attr-defined]
        ranked.append(row)
        log(f"{entry.id}: silhouette {value:.4f} at k = {chosen} ({seconds:.1f}s)")
    ranked.sort(key=lambda r: (r.score is None, -(r.score or 0.0)))
    scored = [r for r in ranked if r.score is not None]
    tied: list[str] = []
    noise_measured = False
    if resamples and len(scored) > 1:

        def rescore_one(row: Ranked, idx: list[int]) -> float:
            value = silhouette(row._features[idx], row._assignment[idx], seed)  # type: ignore[attr-defined]
            if np.isnan(value):
                raise ValueError("a half-sample holds fewer than 2 clusters")
            return value

        # The same clustering, scored on half the items: the spread is the sampling noise of the score.
        tied = _score_noise(scored, np.zeros(len(items), dtype=int), None, resamples, seed, rescore_one)
        noise_measured = True
        if tied:
            notes.append(
                f"{', '.join(tied)} are within noise of one another: {tied[0]} outscores each on fewer than "
                f"{AHEAD_SHARE:.0%} of {resamples} half-samples of the data, so their order is not reliable"
            )
    for row in ranked:
        row.__dict__.pop("_features", None)
        row.__dict__.pop("_assignment", None)
    if top:
        ranked = ranked[: max(top, len(tied))]
    return Recommendation(
        task=task,
        scorer=UNLABELED_SCORER,
        scorer_version=UNLABELED_SCORER_VERSION,
        num_items=len(loaded),
        num_scored=len(items),
        num_classes=0,
        candidates=ranked,
        notes=notes,
        seconds=round(time.perf_counter() - started, 2),
        resamples=resamples if noise_measured else 0,
        tied_with_best=tied,
        skipped=[s.as_dict() for s in loaded.skipped],
        unlabeled=True,
        proxy=UNLABELED_PROXY,
    )
