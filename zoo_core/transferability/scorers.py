"""Scorer objects that zoo recommend builds from ScorerSpecs: one per score, with a common ``score`` method."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from zoo_core.transferability.empirical import knn_accuracy, linear_probe_accuracy
from zoo_core.transferability.logme import logme
from zoo_core.transferability.statistics import hscore, leep, nce

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
