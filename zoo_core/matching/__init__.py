"""Matching a task to models: filter and sort the catalog on its metadata (``zoo models list``), and
shortlist models for a dataset with the reasons for each (``zoo models suggest``; ``zoo recommend``
scores that shortlist when it is given no ``--candidates``).

Torch-free: listing and suggesting read only the catalog and the labels of the data (images are
not decoded; a few image headers are read for their size).

How ``zoo models suggest`` shortlists (:func:`shortlist`), in this order:

1. **Task and modality**: models whose catalog entry names the task (default: image- or
   text-classification, from the data) and whose modality is the data's; with ``--license``, only
   those licences.
2. **Size budget**: at most ``--budget-params`` parameters; without it, from the number of labelled
   examples (:func:`default_budget`): fewer than 1,000 -> 30M; fewer than 10,000 -> 100M; more ->
   no limit. Few examples cannot use a large model's capacity (a frozen probe or a light adapter
   is what they support), and small models are quicker to score, tune and serve; models whose size
   the catalog does not give are kept but ranked after those it does (left out under a budget
   given with ``--budget-params``).
3. **Ranking**, each step breaking the ties of the one before:
   a. offline (``--offline``, ``ZOO_OFFLINE`` or ``HF_HUB_OFFLINE``): weights already on this
      machine first;
   b. text: the language: English-only models for English text, multilingual ones otherwise
      (text counts as English when at most 5 % of its letters are non-ASCII);
   c. pre-training closest to the data's kind: for images (taken to be photos), ImageNet-21k/22k,
      web-scale or self-supervised photo pre-training (broader: transfers further), then
      ImageNet-1k, then anything else; for short texts (median at most 64 words), sentence-embedding
      models (contrastively trained on sentence pairs: their pooled embedding is meant to be used
      frozen), then other encoders; for longer texts, encoders whose maximum sequence covers the
      median text, then those that truncate it;
   d. images: models trained on inputs no larger than 224 px (or the data's own image size) before
      larger ones, which would upscale the data and run slower;
   e. ImageNet-1k top-1, higher first (better ImageNet models transfer better: Kornblith et al.,
      CVPR 2019), models without one after;
   f. fewer parameters first; then the id (so the order is deterministic).
4. **Variety** (images): one weight per architecture (the best ranked) and at most two
   architectures of one family (``caformer_s36``, ``caformer_m36``...), so that ``zoo recommend``
   compares different designs.

Each :class:`Suggestion` carries the reasons (strings, each true of its entry) and the data summary.
``zoo recommend`` offline shortlists only models whose weights are on this machine (it could not
load the others), and says so in its note.
"""

from __future__ import annotations

from zoo_core.matching.data_summary import default_budget, summarize_data, summarize_labelled
from zoo_core.matching.selection import (
    BROAD_IMAGE_PRETRAINING,
    BUDGET_TIERS,
    DEFAULT_TOP,
    NON_ENGLISH_SHARE,
    PER_ARCH_FAMILY,
    PERMISSIVE_LICENSES,
    SHORT_TEXT_WORDS,
    SORT_KEYS,
    STANDARD_INPUT,
    TOP1_METRIC,
    list_row,
    model_numbers,
    parse_licenses,
    parse_params_option,
    select_models,
    sort_models,
)
from zoo_core.matching.shortlist import Shortlist, Suggestion, shortlist, suggest_models

__all__ = [
    "BROAD_IMAGE_PRETRAINING",
    "BUDGET_TIERS",
    "DEFAULT_TOP",
    "NON_ENGLISH_SHARE",
    "PERMISSIVE_LICENSES",
    "PER_ARCH_FAMILY",
    "SHORT_TEXT_WORDS",
    "SORT_KEYS",
    "STANDARD_INPUT",
    "TOP1_METRIC",
    "list_row",
    "model_numbers",
    "parse_licenses",
    "parse_params_option",
    "select_models",
    "sort_models",
    "Shortlist",
    "Suggestion",
    "default_budget",
    "shortlist",
    "suggest_models",
    "summarize_data",
    "summarize_labelled",
]
