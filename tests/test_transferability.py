"""Tests for zoo_core.transferability (numpy-only transferability scores)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from zoo_core.transferability import (
    HScoreScorer,
    KNNScorer,
    LEEPScorer,
    LinearProbeScorer,
    LogMEScorer,
    NCEScorer,
    Scorer,
    hscore,
    knn_accuracy,
    leep,
    linear_probe_accuracy,
    logme,
    nce,
    weighted_kendall_tau,
)
from zoo_core.transferability.agreement import _weighted_tau_numpy
from zoo_core.transferability.empirical import _stratified_folds
from zoo_core.transferability.logme import _logme_per_class
from zoo_core.transferability.statistics import _ledoit_wolf_shrinkage

# --------------------------------------------------------------------------------------------------
# helpers


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def direct_log_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Per-sample log marginal likelihood, function space: y ~ N(0, I/beta + F F^T/alpha)."""
    n = y.shape[0]
    if math.isinf(alpha):  # no-signal limit w = 0
        cov = np.eye(n) / beta
    else:
        cov = np.eye(n) / beta + f @ f.T / alpha
    sign, logdet = np.linalg.slogdet(cov)
    assert sign > 0
    return float(-0.5 * (n * np.log(2 * np.pi) + logdet + y @ np.linalg.solve(cov, y)) / n)


def weight_space_log_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Per-sample log evidence, weight space (Bishop eq. 3.86) with explicit D x D matrices."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    e_m = beta / 2 * np.sum((y - f @ m) ** 2) + alpha / 2 * m @ m
    _, logdet_a = np.linalg.slogdet(a)
    return float((d / 2 * np.log(alpha) + n / 2 * np.log(beta) - e_m - logdet_a / 2 - n / 2 * np.log(2 * np.pi)) / n)


def slow_logme(f: np.ndarray, labels: np.ndarray, iters: int = 300) -> float:
    """The MacKay fixed point with explicit matrices (no SVD tricks), run well past 1e-3 tolerance."""
    n, d = f.shape
    classes = np.unique(labels)
    eig = np.linalg.eigvalsh(f.T @ f if n > d else f @ f.T)  # same non-zero eigenvalues
    out = []
    for c in classes:
        y = (labels == c).astype(np.float64)
        alpha, beta = 1.0, 1.0
        for _ in range(iters):
            if n > d:  # primal: m = beta (alpha I + beta F^T F)^-1 F^T y
                m = beta * np.linalg.solve(alpha * np.eye(d) + beta * f.T @ f, f.T @ y)
            else:  # dual: m = F^T (F F^T + alpha/beta I)^-1 y
                m = f.T @ np.linalg.solve(f @ f.T + alpha / beta * np.eye(n), y)
            gamma = float(np.sum(beta * eig / (alpha + beta * eig)))
            alpha_new = gamma / (m @ m)
            beta_new = (n - gamma) / np.sum((y - f @ m) ** 2)
            done = abs(alpha_new / beta_new - alpha / beta) / (alpha / beta) < 1e-10
            alpha, beta = alpha_new, beta_new
            if done:
                break
        out.append(direct_log_evidence(f, y, alpha, beta))
    return float(np.mean(out))


def synthetic(s: float, seed: int = 0, n: int = 240, c: int = 4, d: int = 12):
    """features = one-hot(label) * s + anisotropic noise; the same noise for every s."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(c), n // c)
    rng.shuffle(y)
    noise = rng.normal(size=(n, d)) * np.geomspace(2.0, 0.5, d)
    f = noise.copy()
    f[np.arange(n), y] += s
    probs = softmax(2.0 * f[:, : c + 2])  # a source head with c + 2 classes reading the same features
    return f, y, probs


def tiny_case():
    """N = 6, D = 2, three classes: small enough to check by hand."""
    f = np.array([[1.0, 0.0], [0.9, 0.2], [0.1, 1.0], [0.0, 0.8], [0.5, 0.5], [0.6, 0.4]])
    y = np.array([0, 0, 1, 1, 2, 2])
    return f, y


# --------------------------------------------------------------------------------------------------
# LogME


def test_logme_tiny_case_matches_direct_marginal_likelihood():
    f, y = tiny_case()
    per_class = _logme_per_class(f, y)
    assert len(per_class) == 3
    direct = []
    for c, (ev, alpha, beta, _) in enumerate(per_class):
        target = (y == c).astype(np.float64)
        d_fn = direct_log_evidence(f, target, alpha, beta)
        assert ev == pytest.approx(d_fn, abs=1e-12)
        if not math.isinf(alpha):
            assert ev == pytest.approx(weight_space_log_evidence(f, target, alpha, beta), abs=1e-12)
        direct.append(d_fn)
    assert logme(f, y) == pytest.approx(np.mean(direct), abs=1e-12)


@pytest.mark.parametrize("shape", [(6, 2), (40, 5), (8, 30)])
def test_logme_is_the_maximum_evidence(shape):
    n, d = shape
    rng = np.random.default_rng(3)
    y = np.arange(n) % 3
    f = rng.normal(size=(n, d))
    f[np.arange(n), y % d] += 1.5
    for c, (ev, alpha, beta, _) in enumerate(_logme_per_class(f, y)):
        target = (y == c).astype(np.float64)
        assert ev == pytest.approx(direct_log_evidence(f, target, alpha, beta), abs=1e-10)
        if math.isinf(alpha):
            continue
        # a local maximum over (alpha, beta): perturbing either never helps beyond the 1e-3 tolerance
        for da in (-0.2, 0.0, 0.2):
            for db in (-0.2, 0.0, 0.2):
                other = direct_log_evidence(f, target, alpha * math.exp(da), beta * math.exp(db))
                assert other <= ev + 1e-6
    assert logme(f, y) == pytest.approx(slow_logme(f, y), abs=1e-5)


def test_logme_optimum_agrees_with_numerical_optimiser():
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(5)
    n, d = 30, 4
    y = np.arange(n) % 2
    f = rng.normal(size=(n, d))
    f[:, 0] += 2.0 * y
    target = (y == 1).astype(np.float64)
    ev = _logme_per_class(f, y)[1][0]
    res = optimize.minimize(
        lambda p: -direct_log_evidence(f, target, math.exp(p[0]), math.exp(p[1])),
        x0=[0.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 4000},
    )
    assert ev == pytest.approx(-res.fun, abs=1e-7)
    assert ev <= -res.fun + 1e-12


def test_logme_no_signal_class_reaches_noise_only_limit():
    # features orthogonal to class 1's indicator -> best model is w = 0
    f = np.array([[1.0], [-1.0], [2.0], [-2.0], [0.5], [-0.5]])
    y = np.array([0, 0, 1, 1, 0, 0])
    ev, alpha, beta, _ = _logme_per_class(f, y)[1]
    assert math.isinf(alpha)
    n, n1 = 6, 2
    expected = 0.5 * math.log(n / n1) - 0.5 - 0.5 * math.log(2 * math.pi)
    assert ev == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("shape", [(20, 100), (300, 16)], ids=["D>N", "N>D"])
def test_logme_float64_stability(shape):
    n, d = shape
    rng = np.random.default_rng(7)
    y = np.arange(n) % 4
    f = rng.normal(size=(n, d))
    f[np.arange(n), y] += 2.0
    base = logme(f, y)
    assert np.isfinite(base)
    # scale invariance of the maximum evidence, over 16 orders of magnitude
    for scale in (1e-8, 1e-3, 1e3, 1e8):
        assert logme(f * scale, y) == pytest.approx(base, abs=1e-6)
    # duplicated columns (rank-deficient F) give the same maximum evidence as a rescaled F; with
    # D > N the evidence is flat in alpha/beta and the fixed point creeps, so its start matters more
    assert logme(np.hstack([f, f]), y) == pytest.approx(base, abs=1e-4 if d > n else 1e-6)
    # float32 input is computed in float64
    f32 = f.astype(np.float32)
    assert logme(f32, y) == logme(f32.astype(np.float64), y)
    # the SVD path and the Gram-eigendecomposition path agree
    svd = np.mean([e for e, *_ in _logme_per_class(f, y, method="svd")])
    gram = np.mean([e for e, *_ in _logme_per_class(f, y, method="gram")])
    assert svd == pytest.approx(gram, abs=1e-7)
    assert base == pytest.approx(slow_logme(f, y), abs=1e-5)


def test_logme_large_offset_and_constant_features_are_finite():
    rng = np.random.default_rng(8)
    y = np.arange(50) % 2
    f = 1e4 + rng.normal(size=(50, 6)) * 1e-2
    assert np.isfinite(logme(f, y))
    zero = np.zeros((50, 6))
    assert np.isfinite(logme(zero, y))
    assert np.isfinite(hscore(zero, y)) and hscore(zero, y) == 0.0


# --------------------------------------------------------------------------------------------------
# H-score


def test_hscore_unregularised_matches_textbook_formula():
    rng = np.random.default_rng(9)
    f = rng.normal(size=(60, 5))
    y = np.arange(60) % 3
    f[:, 0] += y
    covf = np.cov(f, rowvar=False)
    g = np.zeros_like(f)
    for c in range(3):
        g[y == c] = f[y == c].mean(axis=0)
    covg = np.cov(g, rowvar=False)
    expected = np.trace(np.linalg.inv(covf) @ covg)
    assert hscore(f, y, shrinkage=False) == pytest.approx(expected, rel=1e-10)


def test_hscore_shrinkage_matches_sklearn_ledoit_wolf():
    covariance = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(10)
    for n, d in [(60, 8), (15, 40)]:
        f = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        y = np.arange(n) % 3
        f[:, 1] += 2 * y
        shrunk, a = covariance.ledoit_wolf(f)
        assert _ledoit_wolf_shrinkage(f - f.mean(axis=0)) == pytest.approx(a, rel=1e-10)
        fc = f - f.mean(axis=0)
        g = np.zeros_like(fc)
        for c in range(3):
            g[y == c] = fc[y == c].mean(axis=0)
        covg = g.T @ g / n
        expected = np.trace(np.linalg.solve(shrunk, (1 - a) * covg))
        assert hscore(f, y) == pytest.approx(expected, rel=1e-8)


def test_hscore_bounds_and_scale_invariance():
    for s in (0.0, 1.0, 4.0):
        f, y, _ = synthetic(s)
        for shrink in (True, False):
            h = hscore(f, y, shrinkage=shrink)
            assert -1e-12 <= h <= 4 - 1 + 1e-9
            assert hscore(f * 1e6, y, shrinkage=shrink) == pytest.approx(h, rel=1e-8, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# all scorers: ordering on a synthetic task, label permutations


# scikit-learn is an optional dependency of the core (only the linear probe needs it)
needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn not installed")

ALL_SCORERS = [
    LogMEScorer(),
    HScoreScorer(),
    HScoreScorer(shrinkage=False),
    NCEScorer(),
    LEEPScorer(),
    KNNScorer(),
    LinearProbeScorer(),
]
SCORER_PARAMS = [
    pytest.param(s, id=s.name, marks=[needs_sklearn] if s.name == "linear_probe" else []) for s in ALL_SCORERS
]


@pytest.mark.parametrize("scorer", SCORER_PARAMS)
def test_better_features_score_higher(scorer):
    scores = []
    for s in (0.0, 1.0, 2.0, 4.0):  # s = 0: pure random features
        f, y, probs = synthetic(s)
        scores.append(scorer.score(f, y, source_probs=probs))
    assert all(np.isfinite(scores))
    assert np.all(np.diff(scores) > 0), (scorer.name, scores)
    assert scores[0] == min(scores)


@pytest.mark.parametrize("scorer", SCORER_PARAMS)
def test_label_permutation_invariance(scorer):
    f, y, probs = synthetic(2.0, seed=1)
    renamed = np.array([42, -7, 3, 1000])[y]  # any ints, in a different order
    a = scorer.score(f, y, source_probs=probs)
    b = scorer.score(f, renamed, source_probs=probs)
    assert b == pytest.approx(a, rel=1e-10, abs=1e-12)


def test_scorers_follow_protocol():
    names = set()
    for scorer in ALL_SCORERS:
        assert isinstance(scorer, Scorer)
        assert scorer.higher_is_better is True
        names.add(scorer.name)
    assert len(names) == len(ALL_SCORERS)
    assert [s.needs_source_head for s in ALL_SCORERS] == [False, False, False, True, True, False, False]


# --------------------------------------------------------------------------------------------------
# NCE and LEEP


def test_nce_zero_when_source_determines_target():
    z = np.array([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5])
    y = z % 3  # several source classes may map to one target class
    assert nce(z, y) == pytest.approx(0.0, abs=1e-15)


def test_nce_minus_entropy_when_independent():
    # every (y, z) pair equally often -> empirically independent: H(Y | Z) = H(Y)
    y_vals = np.array([0, 0, 1, 2])  # p(y) = 1/2, 1/4, 1/4
    y = np.tile(y_vals, 3)
    z = np.repeat(np.arange(3), 4)
    h_y = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert nce(z, y) == pytest.approx(-h_y, abs=1e-12)
    # probabilities are reduced by argmax
    probs = np.eye(3)[z] * 0.7 + 0.1
    assert nce(probs, y) == pytest.approx(-h_y, abs=1e-12)


def test_leep_bounds_and_perfect_source():
    rng = np.random.default_rng(11)
    y = np.arange(90) % 3
    probs = softmax(rng.normal(size=(90, 7)))
    value = leep(probs, y)
    assert value <= 0.0
    h_y = math.log(3)
    assert value >= -h_y - 1e-9  # never worse than predicting the label marginal
    # perfect source head: one source class per target class (or several), one-hot outputs
    z = (y + 3 * (np.arange(90) % 2)) % 6
    assert leep(np.eye(6)[z], y) == pytest.approx(0.0, abs=1e-12)
    near = np.full((90, 6), 0.002)
    near[np.arange(90), z] = 0.99
    assert -0.02 < leep(near, y) <= 0.0


def test_leep_matches_definition():
    rng = np.random.default_rng(12)
    y = np.array([0, 1, 1, 2, 0, 2, 2, 1])
    theta = softmax(rng.normal(size=(8, 4)))
    joint = np.zeros((3, 4))
    for i in range(8):
        joint[y[i]] += theta[i] / 8
    cond = joint / joint.sum(axis=0)
    expected = np.mean([math.log(theta[i] @ cond[y[i]]) for i in range(8)])
    assert leep(theta, y) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# kNN and linear probe


def small_classes():
    rng = np.random.default_rng(13)
    y = np.array([0] * 20 + [1] * 20 + [2] * 2)
    f = rng.normal(size=(42, 4)) + np.eye(4)[y] * 5
    return f, y


@pytest.mark.parametrize(
    "fn", [knn_accuracy, pytest.param(linear_probe_accuracy, marks=needs_sklearn)], ids=["knn", "linear_probe"]
)
def test_empirical_scores_reduce_folds_for_small_classes(fn):
    f, y = small_classes()
    assert 0.9 <= fn(f, y) <= 1.0  # 2 folds: the smallest class has 2 samples
    # a singleton class still works: it is only ever in a test fold, so it is always missed
    y1 = y[:41]
    acc = fn(f[:41], y1)
    assert 0.9 <= acc < 1.0


def test_knn_is_deterministic_and_cosine():
    f, y, _ = synthetic(2.0, seed=2)
    assert knn_accuracy(f, y, seed=3) == knn_accuracy(f, y, seed=3)
    # cosine similarity ignores per-row scale
    scales = np.random.default_rng(0).uniform(0.1, 10.0, size=(f.shape[0], 1))
    assert knn_accuracy(f * scales, y) == knn_accuracy(f, y)


def test_stratified_folds_balanced():
    y = np.repeat(np.arange(3), [10, 7, 13])
    ids, k = _stratified_folds(y, 3, 5, seed=0)
    assert k == 5
    for c in range(3):
        counts = np.bincount(ids[y == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert np.bincount(ids).max() - np.bincount(ids).min() <= 1


# --------------------------------------------------------------------------------------------------
# weighted Kendall tau


def test_weighted_kendall_tau_extremes():
    acc = [0.61, 0.72, 0.55, 0.80, 0.67]
    assert weighted_kendall_tau(acc, acc) == pytest.approx(1.0)
    assert weighted_kendall_tau(np.log(acc), acc) == pytest.approx(1.0)  # only order matters
    assert weighted_kendall_tau([-a for a in acc], acc) == pytest.approx(-1.0)
    assert math.isnan(weighted_kendall_tau([1.0, 1.0, 1.0], acc[:3]))


def test_weighted_kendall_tau_numpy_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    # scipy's documented example
    assert _weighted_tau_numpy(np.array([12, 2, 1, 12, 2.0]), np.array([1, 4, 7, 1, 0.0])) == pytest.approx(
        -0.56694968153682723, abs=1e-14
    )
    rng = np.random.default_rng(14)
    for trial in range(100):
        n = int(rng.integers(2, 12))
        x = rng.integers(0, 4, n).astype(float) if trial % 2 else rng.normal(size=n)
        y = rng.integers(0, 4, n).astype(float) if trial % 3 else rng.normal(size=n)
        expected = stats.weightedtau(x, y).statistic
        got = _weighted_tau_numpy(x, y)
        if math.isnan(expected):
            assert math.isnan(got)
        else:
            assert got == pytest.approx(expected, abs=1e-12)
            assert weighted_kendall_tau(x, y) == pytest.approx(expected, abs=1e-12)


def test_weighted_kendall_tau_top_swaps_weigh_more():
    acc = np.arange(10, dtype=float)
    top_swapped = acc.copy()
    top_swapped[[9, 8]] = top_swapped[[8, 9]]
    bottom_swapped = acc.copy()
    bottom_swapped[[0, 1]] = bottom_swapped[[1, 0]]
    assert weighted_kendall_tau(top_swapped, acc) < weighted_kendall_tau(bottom_swapped, acc) < 1.0


# --------------------------------------------------------------------------------------------------
# input validation


@pytest.mark.parametrize("fn", [logme, hscore, knn_accuracy, linear_probe_accuracy], ids=lambda f: f.__name__)
def test_feature_scorers_reject_bad_input(fn):
    f = np.random.default_rng(0).normal(size=(10, 3))
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="shape mismatch"):
        fn(f, y[:9])
    with pytest.raises(ValueError, match="at least 2 classes"):
        fn(f, np.zeros(10, dtype=int))
    bad = f.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fn(bad, y)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"NaN or inf .*first bad row 3"):
        fn(bad, y)
    with pytest.raises(ValueError, match="2-D"):
        fn(f[:, 0], y)
    with pytest.raises(ValueError, match="integer class ids"):
        fn(f, y + 0.5)
    with pytest.raises(ValueError, match="1-D"):
        fn(f, y[:, None])


def test_source_head_scorers_need_probs():
    f, y, probs = synthetic(1.0)
    for scorer in (NCEScorer(), LEEPScorer()):
        with pytest.raises(ValueError, match="needs the source head's probabilities"):
            scorer.score(f, y)
        with pytest.raises(ValueError, match="shape mismatch"):
            scorer.score(f[:-1], y, source_probs=probs)
    with pytest.raises(ValueError, match="sum to 1"):
        leep(probs * 2, y)
    with pytest.raises(ValueError, match="negative"):
        leep(np.log(probs), y)
    with pytest.raises(ValueError, match="shape mismatch"):
        leep(probs[:-1], y)
    with pytest.raises(ValueError, match="shape mismatch"):
        nce(np.arange(5), np.arange(6) % 2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        leep(probs, np.zeros(len(y), dtype=int))


def test_other_argument_checks():
    f, y, _ = synthetic(1.0)
    with pytest.raises(ValueError, match="folds"):
        knn_accuracy(f, y, folds=1)
    with pytest.raises(ValueError, match="k must be"):
        knn_accuracy(f, y, k=0)
    with pytest.raises(ValueError, match="C must be"):
        linear_probe_accuracy(f, y, C=0.0)
    with pytest.raises(ValueError, match="shape mismatch"):
        weighted_kendall_tau([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2 models"):
        weighted_kendall_tau([1], [1])
    with pytest.raises(ValueError, match="finite"):
        weighted_kendall_tau([1, np.nan], [1, 2])
