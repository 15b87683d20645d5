"""Cheap empirical baselines: stratified k-fold accuracy of a cosine kNN and of a logistic-regression probe."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from zoo_core.transferability._checks import _check_features_labels

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
