"""The classification runner: the pipeline of :mod:`zoo_core.engine.pipeline`, unchanged.

``zoo finetune``, ``zoo evaluate`` and ``zoo predict`` call that pipeline with their own options
when an adapter's (or the data's) task is a classification one (``classification = True``); this
class names the same functions for the task contract and for Python callers.
"""

from __future__ import annotations

from zoo_core.engine.pipeline import evaluate, finetune, predict


class ClassificationRunner:
    """``finetune``, ``evaluate`` and ``predict`` of the classification pipeline."""

    classification = True
    finetune = staticmethod(finetune)
    evaluate = staticmethod(evaluate)
    predict = staticmethod(predict)
