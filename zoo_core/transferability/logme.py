"""LogME (You et al., ICML 2021): the maximum log evidence of a Bayesian linear model from features to labels."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from zoo_core.transferability._checks import _check_features_labels, _class_sums

# The fixed-point iteration stops when alpha/beta changes by less than this (relative), or after
# _LOGME_MAX_ITER updates (the paper's code stops after 11; more only gets closer to the maximum).
_LOGME_TOL = 1e-3
_LOGME_MAX_ITER = 100

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
