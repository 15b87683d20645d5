"""Classification metrics (scikit-learn), as plain JSON-ready data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    ``y_true``/``y_pred`` are indices into ``label_names``; every class is reported, also one that
    never occurs (its scores are 0, as scikit-learn's ``zero_division=0``).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(range(len(label_names)))
    true = np.asarray(y_true, dtype=int)
    pred = np.asarray(y_pred, dtype=int)
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(true, pred)),
        "macro_f1": float(f1_score(true, pred, labels=labels, average="macro", zero_division=0)),
        "num_samples": int(len(true)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_names, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(true, pred, labels=labels).tolist(),
        "labels": list(label_names),
    }


def format_report(metrics: dict[str, Any]) -> str:
    """A per-class table like scikit-learn's classification_report."""
    names = metrics["labels"]
    width = max(12, *(len(n) for n in names))
    lines = [f"{'':>{width}}  precision  recall  f1-score  support"]
    for name in names:
        row = metrics["per_class"][name]
        lines.append(
            f"{name:>{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:8.3f}  {row['support']:7d}"
        )
    lines.append(f"{'accuracy':>{width}}  {'':9}  {'':6}  {metrics['accuracy']:8.3f}  {metrics['num_samples']:7d}")
    lines.append(f"{'macro F1':>{width}}  {'':9}  {'':6}  {metrics['macro_f1']:8.3f}")
    return "\n".join(lines)
