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

from zoo_core.transferability.agreement import weighted_kendall_tau
from zoo_core.transferability.empirical import knn_accuracy, linear_probe_accuracy
from zoo_core.transferability.logme import logme
from zoo_core.transferability.scorers import (
    HScoreScorer,
    KNNScorer,
    LEEPScorer,
    LinearProbeScorer,
    LogMEScorer,
    NCEScorer,
    Scorer,
)
from zoo_core.transferability.statistics import hscore, leep, nce

SCORER_VERSION = "1"  # bump whenever any score's numbers change, so cached scores are invalidated

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
