"""Input checks shared by every score (shapes, labels, probabilities), and per-class sums."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Softmax rows must sum to 1 within this tolerance (float16/float32 heads are not exact).
_PROB_SUM_TOL = 1e-3


# --------------------------------------------------------------------------------------------------
# input checks


def _check_labels(labels: npt.ArrayLike, n: int | None = None, what: str = "labels") -> tuple[np.ndarray, int]:
    """Return ``(codes, C)`` with ``codes`` in ``0..C-1`` (sorted label order); raise ValueError if unusable."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array [N] of integer class ids, got shape {y.shape}")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"shape mismatch: {what} has {y.shape[0]} entries but there are {n} samples")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    elif y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{what} must be integer class ids; got non-integer or non-finite floats")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integer class ids, got dtype {y.dtype}")
    if y.shape[0] < 2:
        raise ValueError(f"need at least 2 samples, got {y.shape[0]}")
    classes, codes = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"{what} must contain at least 2 classes, got only {classes.size} ({classes.tolist()})")
    return codes.reshape(-1).astype(np.intp), int(classes.size)


def _check_features(features: npt.ArrayLike, what: str = "features") -> np.ndarray:
    """Return features as a float64 ``[N, D]`` array; raise ValueError for bad shape or NaN/inf."""
    try:
        f = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a numeric array [N, D]: {exc}") from None
    if f.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [N, D], got shape {f.shape}")
    if f.shape[1] == 0:
        raise ValueError(f"{what} have no columns (shape {f.shape})")
    bad = ~np.isfinite(f)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"{what} contain NaN or inf in {rows.size} of {f.shape[0]} rows (first bad row {int(rows[0])})"
        )
    return f


def _check_features_labels(features: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    f = _check_features(features)
    y, c = _check_labels(labels)
    if f.shape[0] != y.shape[0]:
        raise ValueError(f"shape mismatch: features have {f.shape[0]} rows but labels have {y.shape[0]} entries")
    return f, y, c


def _check_probs(source_probs: npt.ArrayLike, n: int) -> np.ndarray:
    """Return source-head probabilities as float64 ``[N, Cs]`` rows summing to 1."""
    p = _check_features(source_probs, what="source_probs")
    if p.shape[0] != n:
        raise ValueError(f"shape mismatch: source_probs have {p.shape[0]} rows but labels have {n} entries")
    if (p < 0).any():
        raise ValueError(
            "source_probs must be probabilities (softmax outputs), but some are negative; "
            "pass softmax(logits), not logits"
        )
    sums = p.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > _PROB_SUM_TOL):
        worst = float(sums[np.argmax(np.abs(sums - 1.0))])
        raise ValueError(f"source_probs rows must sum to 1 (softmax outputs); a row sums to {worst:.6g}")
    return p / sums[:, None]


def _class_sums(x: np.ndarray, y: np.ndarray, c: int) -> np.ndarray:
    """``[C, ...]`` sums of the rows of ``x`` per class code in ``y`` (every class present)."""
    order = np.argsort(y, kind="stable")
    starts = np.searchsorted(y[order], np.arange(c))
    return np.add.reduceat(x[order], starts, axis=0)
