"""How well a ranking of models agrees with their fine-tuned accuracies (weighted Kendall tau)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

# --------------------------------------------------------------------------------------------------
# ranking agreement


def _weighted_tau_ranked(x: np.ndarray, y: np.ndarray) -> float:
    """Additive hyperbolic weighted tau with the decreasing lexicographic rank by (x, y); O(n^2)."""
    n = x.shape[0]
    order = np.lexsort((y, x))[::-1]  # largest x first, ties broken by larger y
    rank = np.empty(n, dtype=np.float64)
    rank[order] = np.arange(n)
    w = 1.0 / (rank + 1.0)
    iu = np.triu_indices(n, k=1)
    pw = w[iu[0]] + w[iu[1]]  # weight of a pair: sum of the two elements' weights
    sx = np.sign(x[iu[0]] - x[iu[1]])
    sy = np.sign(y[iu[0]] - y[iu[1]])
    den_x = float(pw[sx != 0].sum())
    den_y = float(pw[sy != 0].sum())
    if den_x == 0.0 or den_y == 0.0:
        return math.nan
    tau = float((pw * sx * sy).sum()) / math.sqrt(den_x) / math.sqrt(den_y)
    return min(1.0, max(-1.0, tau))


def _weighted_tau_numpy(scores: np.ndarray, accuracies: np.ndarray) -> float:
    """Same value as ``scipy.stats.weightedtau(scores, accuracies)`` with its default arguments."""
    return (_weighted_tau_ranked(scores, accuracies) + _weighted_tau_ranked(accuracies, scores)) / 2


def weighted_kendall_tau(scores: npt.ArrayLike, accuracies: npt.ArrayLike) -> float:
    """Weighted Kendall tau between transferability scores and fine-tuned accuracies, in [-1, 1].

    The additive hyperbolic tau_h of Vigna (2015) used by You et al. / TLlib: a disagreement between
    elements of rank r and s (0 = best) weighs 1/(r+1) + 1/(s+1), so getting the top models right
    matters most; averaged over ranking by scores and by accuracies. Uses ``scipy.stats.weightedtau``
    when scipy is installed, otherwise an equivalent numpy implementation. NaN when either input is
    constant.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    a = np.asarray(accuracies, dtype=np.float64).ravel()
    if s.shape != a.shape:
        raise ValueError(f"shape mismatch: {s.size} scores but {a.size} accuracies")
    if s.size < 2:
        raise ValueError(f"need at least 2 models to compare rankings, got {s.size}")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(a))):
        raise ValueError("scores and accuracies must be finite (no NaN or inf)")
    try:
        from scipy.stats import weightedtau
    except ImportError:
        return _weighted_tau_numpy(s, a)
    return float(weightedtau(s, a)[0])
