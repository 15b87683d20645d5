"""Transferability scores: rank pre-trained models for a target task without fine-tuning them.

Every score takes what a frozen backbone produces on the target training set (features ``[N, D]``,
and for NCE / LEEP the source head's softmax outputs ``[N, Cs]``) plus the target labels ``[N]``,
and returns one float; higher means "expected to transfer better" for all of them.

* :func:`logme` -- You et al., ICML 2021, "LogME: Practical Assessment of Pre-trained Models for
  Transfer Learning": mean over classes of the per-sample maximum log evidence of a Bayesian linear
  regression from the features to that class's one-hot target.
* :func:`hscore` -- Bao et al., ICIP 2019, H-score ``tr(cov(f)^-1 cov(E[f|y]))``; by default the
  shrinkage-regularised version of Ibrahim et al., ICLR 2023 ("Newer is not always better:
  rethinking transferability metrics, their peculiarities, stability and performance").
* :func:`nce` -- Tran et al., ICCV 2019, Negative Conditional Entropy ``-H(Y | Z)``.
* :func:`leep` -- Nguyen et al., ICML 2020, Log Expected Empirical Prediction.
* :func:`knn_accuracy`, :func:`linear_probe_accuracy` -- cheap empirical baselines (stratified
  k-fold accuracy of a cosine kNN and of a logistic-regression probe).
* :func:`weighted_kendall_tau` -- the additive hyperbolic weighted Kendall tau (Vigna 2015) that
  You et al. and TLlib use to compare a model ranking with fine-tuned accuracies.

Everything is plain numpy in float64. scikit-learn is imported only by
:func:`linear_probe_accuracy`, and scipy only (optionally) by :func:`weighted_kendall_tau`.
Bump :data:`SCORER_VERSION` whenever any score's numbers change, so cached scores are invalidated.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "SCORER_VERSION",
    "logme",
    "hscore",
    "nce",
    "leep",
    "knn_accuracy",
    "linear_probe_accuracy",
    "weighted_kendall_tau",
    "Scorer",
    "LogMEScorer",
    "HScoreScorer",
    "NCEScorer",
    "LEEPScorer",
    "KNNScorer",
    "LinearProbeScorer",
]

SCORER_VERSION = "1"

# LogME fixed-point iteration: stop when alpha/beta changes by less than this (relative), or after
# _LOGME_MAX_ITER updates (the paper's code stops after 11; more only gets closer to the maximum).
_LOGME_TOL = 1e-3
_LOGME_MAX_ITER = 100
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


# --------------------------------------------------------------------------------------------------
# LogME


def _logme_spectrum(f: np.ndarray, y: np.ndarray, c: int, method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``sigma`` (k,) of ``F^T F`` and projections ``x = U^T Y`` (k, C) of the one-hot targets.

    ``U`` holds the left singular vectors of F for the numerically non-zero singular values; the
    others are treated as exactly zero. SVD of F when N <= D, eigendecomposition of the D x D Gram
    matrix when N > D (cheaper, and float64 keeps it accurate enough for evidence maximisation).
    """
    n, d = f.shape
    if method not in ("auto", "gram", "svd"):
        raise ValueError(f"method must be 'auto', 'gram' or 'svd', got {method!r}")
    if method == "gram" or (method == "auto" and n > d):
        sigma, v = np.linalg.eigh(f.T @ f)
        keep = sigma > max(float(sigma.max()), 0.0) * max(n, d) * np.finfo(np.float64).eps
        sigma, v = sigma[keep], v[:, keep]
        if sigma.size == 0:
            return sigma, np.zeros((0, c))
        x = (v.T @ _class_sums(f, y, c).T) / np.sqrt(sigma)[:, None]
    else:
        u, s, _ = np.linalg.svd(f, full_matrices=False)
        sigma = s * s
        keep = sigma > float(sigma.max()) * max(n, d) * np.finfo(np.float64).eps
        sigma, u = sigma[keep], u[:, keep]
        if sigma.size == 0:
            return sigma, np.zeros((0, c))
        x = _class_sums(u, y, c).T
    return sigma, x


def _logme_fixed_point(
    sigma: np.ndarray, x: np.ndarray, y_norm2: float, n: int, d: int
) -> tuple[float, float, float, int]:
    """Maximise the evidence of ``y ~ N(F w, 1/beta)``, ``w ~ N(0, 1/alpha)`` for one target column.

    ``sigma`` are the non-zero eigenvalues of ``F^T F``, ``x = U^T y`` the target's coordinates in the
    matching left singular vectors, ``y_norm2 = ||y||^2``. MacKay's fixed-point updates
    ``alpha = gamma / ||m||^2``, ``beta = (N - gamma) / ||y - F m||^2``. The paper starts from
    ``alpha / beta = 1``; here the start is the mean squared feature entry ``tr(F^T F) / (N D)``, which
    is 1 for standardised features and makes the result invariant to rescaling F.
    Returns ``(log evidence / N, alpha, beta, iterations)``; the evidence is the exact closed form at
    the returned ``(alpha, beta)`` (``alpha = inf`` meaning the no-signal limit ``w = 0``).
    """
    x2 = x * x
    comp = max(y_norm2 - float(x2.sum()), 0.0)  # part of ||y||^2 outside the column space of F
    # The limit alpha -> inf (w = 0, pure noise model with its best beta) is part of the supremum.
    # When the features carry no signal for this target the iteration creeps towards it without
    # converging, so the larger of the two is returned.
    beta0 = n / max(y_norm2, np.finfo(np.float64).tiny)
    ev0 = (0.5 * n * math.log(beta0) - 0.5 * beta0 * y_norm2 - 0.5 * n * math.log(2 * math.pi)) / n
    if sigma.size == 0 or float(x2.sum()) == 0.0:
        return ev0, math.inf, beta0, 0
    sig_max = float(sigma.max())
    t_min, t_max = sig_max * 1e-13, sig_max * 1e13  # keep alpha/beta finite and representable

    def stats(t: float) -> tuple[float, float, float, float]:
        r = t / (sigma + t)  # shrinkage factor per direction
        gamma = float((sigma / (sigma + t)).sum())  # effective number of parameters
        n_minus_gamma = float(n - sigma.size + r.sum())  # N - gamma without cancellation
        m2 = float((sigma * x2 / (sigma + t) ** 2).sum())  # ||m||^2
        res2 = float((x2 * r * r).sum()) + comp  # ||y - F m||^2
        return gamma, n_minus_gamma, m2, res2

    alpha, beta = 1.0, 1.0
    t = min(max(float(sigma.sum()) / (n * d), t_min), t_max)
    it = 0
    for it in range(1, _LOGME_MAX_ITER + 1):  # noqa: B007 - the count is returned
        gamma, n_minus_gamma, m2, res2 = stats(t)
        alpha = gamma / max(m2, np.finfo(np.float64).tiny)
        beta = n_minus_gamma / max(res2, np.finfo(np.float64).tiny)
        t_new = min(max(alpha / beta, t_min), t_max)
        done = abs(t_new - t) / t < _LOGME_TOL
        t = t_new
        if done:
            break
    # Evaluate the closed-form log evidence exactly at the final (alpha, beta), t = alpha / beta.
    _, _, m2, res2 = stats(t)
    beta = alpha / t  # differs from the last update only when t was clipped
    ev = (
        0.5 * n * math.log(beta)
        - 0.5 * float(np.log1p(sigma / t).sum())  # = k/2 log(alpha) - 1/2 sum log(alpha + beta sigma)
        - 0.5 * beta * res2
        - 0.5 * alpha * m2
        - 0.5 * n * math.log(2 * math.pi)
    ) / n
    if ev0 > ev:
        return ev0, math.inf, beta0, it
    return ev, alpha, beta, it


def _logme_per_class(
    features: npt.ArrayLike, labels: npt.ArrayLike, method: str = "auto"
) -> list[tuple[float, float, float, int]]:
    """``(log evidence / N, alpha, beta, iterations)`` for each class's one-hot target (sorted label order)."""
    f, y, c = _check_features_labels(features, labels)
    n = f.shape[0]
    sigma, x = _logme_spectrum(f, y, c, method)
    counts = np.bincount(y, minlength=c)
    return [_logme_fixed_point(sigma, x[:, j], float(counts[j]), n, f.shape[1]) for j in range(c)]


def logme(features: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """LogME (You et al., ICML 2021): mean over classes of the per-sample maximum log evidence.

    For each class the target is its one-hot column ``y in {0, 1}^N``; a Bayesian linear model
    ``y = F w + noise`` (no bias, raw features) with prior precision ``alpha`` and noise precision
    ``beta`` has both maximised by the fixed-point iteration, and its log marginal likelihood divided
    by N is the class's evidence. Invariant to rescaling the features (up to the iteration's
    tolerance); only differences between models on the same target data mean anything. With D > N the
    evidence is flat in alpha/beta and the iteration may stop at its cap of 100 updates; in checks it
    was then within ~1e-4 of the true maximum (the paper's 11 updates can be ~2e-2 off).
    """
    return float(np.mean([ev for ev, _, _, _ in _logme_per_class(features, labels)]))


# --------------------------------------------------------------------------------------------------
# H-score


def _ledoit_wolf_shrinkage(xc: np.ndarray) -> float:
    """Ledoit-Wolf shrinkage coefficient for centred data ``xc [N, D]`` (same as sklearn's ``ledoit_wolf``)."""
    n, p = xc.shape
    if p == 1:
        return 0.0
    x2 = xc * xc
    emp_cov_trace = x2.sum(axis=0) / n
    mu = emp_cov_trace.sum() / p
    gram = xc @ xc.T if n < p else xc.T @ xc  # same Frobenius norm either way
    delta_ = float((gram * gram).sum()) / n**2  # ||S||_F^2
    beta_ = float((x2.sum(axis=1) ** 2).sum())  # sum of all entries of X2^T X2
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * emp_cov_trace.sum() + p * mu**2) / p  # ||S - mu I||_F^2 / p
    beta = min(beta, delta)
    return 0.0 if beta <= 0 else float(beta / delta)


def hscore(features: npt.ArrayLike, labels: npt.ArrayLike, *, shrinkage: bool = True) -> float:
    """H-score ``tr(cov(f)^-1 cov(E[f|y]))`` (Bao et al. 2019); between 0 and C - 1.

    With ``shrinkage=True`` (default) the regularised H-score of Ibrahim et al.: ``cov(f)`` is replaced
    by its Ledoit-Wolf estimate ``(1 - a) S + a mu I`` and the score is
    ``tr(((1 - a) S + a mu I)^-1 (1 - a) cov(E[f|y]))``, which stays meaningful when D is close to or
    above N. With ``shrinkage=False``, the pseudo-inverse of the sample covariance is used (unstable
    when D approaches N). Covariances use 1/N throughout; the ratio does not depend on it.
    """
    f, y, c = _check_features_labels(features, labels)
    n, d = f.shape
    fc = f - f.mean(axis=0)
    counts = np.bincount(y, minlength=c).astype(np.float64)
    class_means = _class_sums(fc, y, c) / counts[:, None]
    m = np.sqrt(counts / n)[:, None] * class_means  # cov(E[f|y]) = m^T m
    cov = fc.T @ fc / n
    mu = float(np.trace(cov)) / d
    if mu <= 0.0:
        return 0.0  # constant features carry no information
    if shrinkage:
        a = _ledoit_wolf_shrinkage(fc)
        if a >= 1.0:
            return 0.0
        cov_a = (1.0 - a) * cov
        cov_a[np.diag_indices(d)] += a * mu
        try:
            sol = np.linalg.solve(cov_a, m.T)
        except np.linalg.LinAlgError:
            sol = np.linalg.pinv(cov_a, hermitian=True) @ m.T
        return float((1.0 - a) * np.sum(m.T * sol))
    inv = np.linalg.pinv(cov, hermitian=True)
    return float(np.sum((m @ inv) * m))


# --------------------------------------------------------------------------------------------------
# NCE and LEEP


def nce(source_labels: npt.ArrayLike, target_labels: npt.ArrayLike) -> float:
    """Negative Conditional Entropy ``-H(Y | Z)`` in nats (Tran et al., ICCV 2019); between ``-H(Y)`` and 0.

    ``source_labels`` are the source model's predicted (argmax) labels Z, any ints; a 2-D array of
    source-head probabilities ``[N, Cs]`` is also accepted and reduced by argmax.
    """
    z_arr = np.asarray(source_labels)
    if z_arr.ndim == 2:
        z_arr = np.argmax(_check_probs(z_arr, z_arr.shape[0]), axis=1)
    y, cy = _check_labels(target_labels, what="target_labels")
    if z_arr.ndim != 1 or z_arr.shape[0] != y.shape[0]:
        raise ValueError(
            f"shape mismatch: source_labels have shape {z_arr.shape} but target_labels have {y.shape[0]} entries"
        )
    if z_arr.dtype.kind not in "iub" and not (
        z_arr.dtype.kind == "f" and np.all(np.isfinite(z_arr)) and np.all(z_arr == np.round(z_arr))
    ):
        raise ValueError(f"source_labels must be integer class ids, got dtype {z_arr.dtype}")
    _, z = np.unique(z_arr.astype(np.int64), return_inverse=True)
    z = z.reshape(-1)
    n = y.shape[0]
    joint = np.zeros((int(z.max()) + 1, cy))
    np.add.at(joint, (z, y), 1.0)
    joint /= n
    p_z = joint.sum(axis=1, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log((joint / p_z)[nz])))


def leep(source_probs: npt.ArrayLike, target_labels: npt.ArrayLike) -> float:
    """LEEP (Nguyen et al., ICML 2020): ``1/N sum_i log sum_z P(y_i | z) theta(x_i)_z``; always <= 0.

    ``source_probs [N, Cs]`` are the source head's softmax outputs theta(x_i) on the target data;
    ``P(y | z)`` is the empirical conditional from the joint ``P(y, z) = 1/N sum_i theta(x_i)_z [y_i = y]``.
    """
    y, c = _check_labels(target_labels, what="target_labels")
    p = _check_probs(source_probs, y.shape[0])
    joint = _class_sums(p, y, c) / y.shape[0]  # [C, Cs]
    p_z = joint.sum(axis=0, keepdims=True)
    cond = np.divide(joint, p_z, out=np.zeros_like(joint), where=p_z > 0)  # P(y | z)
    eep = np.einsum("nz,nz->n", p, cond[y])  # expected empirical prediction of the true label
    return float(np.mean(np.log(np.maximum(eep, np.finfo(np.float64).tiny))))


# --------------------------------------------------------------------------------------------------
# empirical baselines


def _stratified_folds(y: np.ndarray, c: int, folds: int, seed: int) -> tuple[np.ndarray, int]:
    """Fold id per sample for stratified k-fold; returns ``(fold_ids, folds_used)``.

    ``folds`` is reduced to the smallest class count (never below 2). The assignment depends only on
    which samples share a class, not on the label values, so renaming classes gives the same folds.
    """
    if int(folds) != folds or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    counts = np.bincount(y, minlength=c)
    k = int(max(2, min(int(folds), int(counts.min()))))
    n = y.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    # classes ordered by where they first appear in the shuffled order (independent of label values)
    _, first = np.unique(y[perm], return_index=True)
    class_rank = np.empty(c, dtype=np.intp)
    class_rank[np.argsort(first, kind="stable")] = np.arange(c)
    order = perm[np.argsort(class_rank[y[perm]], kind="stable")]  # grouped by class, shuffled within
    fold_ids = np.empty(n, dtype=np.intp)
    fold_ids[order] = np.arange(n) % k
    return fold_ids, k


def _knn_predict(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, c: int, k: int) -> np.ndarray:
    """Majority vote of the k most cosine-similar training rows (rows already L2-normalised).

    Ties between classes with equal vote counts go to the class with the larger summed similarity.
    """
    k = min(k, train.shape[0])
    out = np.empty(test.shape[0], dtype=np.intp)
    chunk = max(1, int(2e7 // max(train.shape[0], 1)))
    for start in range(0, test.shape[0], chunk):
        sims = test[start : start + chunk] @ train.T
        if k < train.shape[0]:
            nn = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            nn = np.broadcast_to(np.arange(train.shape[0]), sims.shape)
        nn_sims = np.take_along_axis(sims, nn, axis=1)
        votes = np.zeros((sims.shape[0], c))
        rows = np.repeat(np.arange(sims.shape[0]), nn.shape[1])
        # each neighbour adds 1 plus less than 0.5 / k, so counts always dominate the similarity tie-break
        np.add.at(votes, (rows, y_train[nn].ravel()), 1.0 + nn_sims.ravel() / (2.0 * k + 2.0))
        out[start : start + chunk] = np.argmax(votes, axis=1)
    return out


def knn_accuracy(features: npt.ArrayLike, labels: npt.ArrayLike, *, k: int = 5, folds: int = 5, seed: int = 0) -> float:
    """Mean stratified k-fold accuracy of a cosine-similarity k-nearest-neighbour classifier."""
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    f, y, c = _check_features_labels(features, labels)
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    fn = f / np.where(norms > 0, norms, 1.0)
    fold_ids, nf = _stratified_folds(y, c, folds, seed)
    accs = []
    for i in range(nf):
        te, tr = fold_ids == i, fold_ids != i
        pred = _knn_predict(fn[tr], y[tr], fn[te], c, int(k))
        accs.append(float(np.mean(pred == y[te])))
    return float(np.mean(accs))


def linear_probe_accuracy(
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    folds: int = 5,
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 1000,
) -> float:
    """Mean stratified k-fold accuracy of an L2 logistic regression (sklearn, lbfgs) on standardised features.

    Features are standardised with the training fold's mean and standard deviation (constant
    columns are only centred).
    """
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C!r}")
    f, y, c = _check_features_labels(features, labels)
    fold_ids, nf = _stratified_folds(y, c, folds, seed)
    try:
        from sklearn.linear_model import LogisticRegression  # heavy: import only when used
    except ImportError as exc:
        raise ImportError(
            "linear_probe_accuracy needs scikit-learn: pip install 'transfer-zoo[torch]' (or scikit-learn)"
        ) from exc
    accs = []
    for i in range(nf):
        te, tr = fold_ids == i, fold_ids != i
        mean = f[tr].mean(axis=0)
        std = f[tr].std(axis=0)
        std = np.where(std > 0, std, 1.0)
        x_tr, x_te = (f[tr] - mean) / std, (f[te] - mean) / std
        if np.unique(y[tr]).size < 2:  # a fold can lose a class only when some class has 1 sample
            pred = np.full(int(te.sum()), y[tr][0])
        else:
            clf = LogisticRegression(C=C, max_iter=max_iter)
            clf.fit(x_tr, y[tr])
            pred = clf.predict(x_te)
        accs.append(float(np.mean(pred == y[te])))
    return float(np.mean(accs))


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


# --------------------------------------------------------------------------------------------------
# scorer objects


@runtime_checkable
class Scorer(Protocol):
    """A transferability score: ``score(features, labels, source_probs=None) -> float``."""

    name: str
    needs_source_head: bool
    higher_is_better: bool

    def score(self, features: Any, labels: Any, source_probs: Any = None) -> float: ...


def _require_probs(name: str, source_probs: Any) -> None:
    if source_probs is None:
        raise ValueError(
            f"{name} needs the source head's probabilities: pass source_probs [N, Cs] "
            "(softmax outputs of the pre-trained classifier head on the target data)"
        )


def _check_features_optional(features: Any, n: int) -> None:
    if features is not None and len(features) != n:
        raise ValueError(f"shape mismatch: features have {len(features)} rows but labels have {n} entries")


class LogMEScorer:
    name = "logme"
    needs_source_head = False
    higher_is_better = True

    def score(self, features: Any, labels: Any, source_probs: Any = None) -> float:
        return logme(features, labels)

    def __repr__(self) -> str:
        return "LogMEScorer()"


class HScoreScorer:
    needs_source_head = False
    higher_is_better = True

    def __init__(self, shrinkage: bool = True):
        self.shrinkage = bool(shrinkage)
        self.name = "hscore" if self.shrinkage else "hscore_noshrink"

    def score(self, features: Any, labels: Any, source_probs: Any = None) -> float:
        return hscore(features, labels, shrinkage=self.shrinkage)

    def __repr__(self) -> str:
        return f"HScoreScorer(shrinkage={self.shrinkage})"


class NCEScorer:
    name = "nce"
    needs_source_head = True
    higher_is_better = True

    def score(self, features: Any, labels: Any, source_probs: Any = None) -> float:
        _require_probs("NCE", source_probs)
        _check_features_optional(features, len(labels))
        probs = np.asarray(source_probs)
        if probs.ndim != 2:
            raise ValueError(f"source_probs must be a 2-D array [N, Cs], got shape {probs.shape}")
        return nce(probs, labels)  # nce reduces probabilities to argmax source labels

    def __repr__(self) -> str:
        return "NCEScorer()"


class LEEPScorer:
    name = "leep"
    needs_source_head = True
    higher_is_better = True

    def score(self, features: Any, labels: Any, source_probs: Any = None) -> float:
        _require_probs("LEEP", source_probs)
        _check_features_optional(features, len(labels))
        return leep(source_probs, labels)

    def __repr__(self) -> str:
        return "LEEPScorer()"


class KNNScorer:
    name = "knn"
    needs_source_head = False
    higher_is_better = True

    def __init__(self, k: int = 5, folds: int = 5, seed: int = 0):
        self.k, self.folds, self.seed = k, folds, seed

    def score(self, features: Any, labels: Any, source_probs: Any = None) -> float:
        return knn_accuracy(features, labels, k=self.k, folds=self.folds, seed=self.seed)

    def __repr__(self) -> str:
        return f"KNNScorer(k={self.k}, folds={self.folds}, seed={self.seed})"


class LinearProbeScorer:
    name = "linear_probe"
    needs_source_head = False
    higher_is_better = True

    def __init__(self, folds: int = 5, seed: int = 0, C: float = 1.0, max_iter: int = 1000):
        self.folds, self.seed, self.C, self.max_iter = folds, seed, C, max_iter

    def score(self, features: Any, labels: Any, source_probs: Any = None) -> float:
        return linear_probe_accuracy(
            features, labels, folds=self.folds, seed=self.seed, C=self.C, max_iter=self.max_iter
        )

    def __repr__(self) -> str:
        return f"LinearProbeScorer(folds={self.folds}, seed={self.seed}, C={self.C}, max_iter={self.max_iter})"
