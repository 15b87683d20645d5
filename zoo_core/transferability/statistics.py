"""Closed-form scores: H-score (Bao et al. 2019; shrinkage of Ibrahim et al. 2023), and NCE and LEEP,
which score a source head's outputs."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from zoo_core.transferability._checks import _check_features_labels, _check_labels, _check_probs, _class_sums

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
