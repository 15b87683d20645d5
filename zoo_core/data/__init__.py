"""Reading a user's labelled dataset: images in class folders, or text in CSV/TSV/JSONL.

Pure Python (numpy and PIL are imported inside the functions that need them; never torch), so
that listings and ``zoo --help`` stay fast. Every problem with the user's data is a
:class:`~zoo_core.errors.DataError` whose one-line message names the file (and line), what is
wrong and what to do. A single bad row or image is not fatal: it is left out and recorded as a
:class:`Skipped`, which every command reports (:func:`skipped_summary` on stderr, the full list
in ``--json`` output and the run folder's ``skipped.json``). More than
:data:`MAX_SKIPPED_FRACTION` of the items unreadable is an error (``max_skipped_fraction``
overrides it); so is an image above :data:`MAX_IMAGE_PIXELS` pixels when it is decoded
(``ZOO_MAX_IMAGE_PIXELS`` overrides that; in a folder such images are skipped).

Modules: ``types`` (LabelledData, DataSplits, Skipped), ``layout`` (which layout a path holds),
``images`` and ``text`` (the loaders per modality), ``delimited`` (CSV/TSV rows and columns),
``loading`` (load_labelled, load_splits) and ``sampling`` (per-class grouping, splits, shots).
Import from ``zoo_core.data`` itself; the modules are its layout, not its API.
"""

from __future__ import annotations

from zoo_core.data.delimited import LABEL_COLUMN_NAMES, TEXT_COLUMN_NAMES
from zoo_core.data.images import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_PIXELS_ENV,
    image_header_size,
    load_image_folder,
    max_image_pixels,
    pil_bomb_check_off,
    pixel_limit_reason,
)
from zoo_core.data.layout import (
    ACCEPTED_LAYOUTS,
    IMAGE_EXTENSIONS,
    SPLIT_NAMES,
    TEXT_EXTENSIONS,
    detect_modality,
    split_folders,
)
from zoo_core.data.loading import MAX_SKIPPED_FRACTION, check_skipped, load_labelled, load_splits
from zoo_core.data.sampling import indices_by_class, stratified_split, stratified_subsample, take_shots
from zoo_core.data.text import FIRST_TOKEN, load_text_file
from zoo_core.data.types import DataSplits, LabelledData, Skipped, collect_skipped, skipped_summary, summarize

__all__ = [
    "ACCEPTED_LAYOUTS",
    "FIRST_TOKEN",
    "IMAGE_EXTENSIONS",
    "LABEL_COLUMN_NAMES",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_PIXELS_ENV",
    "MAX_SKIPPED_FRACTION",
    "SPLIT_NAMES",
    "TEXT_COLUMN_NAMES",
    "TEXT_EXTENSIONS",
    "DataSplits",
    "LabelledData",
    "Skipped",
    "check_skipped",
    "collect_skipped",
    "split_folders",
    "detect_modality",
    "image_header_size",
    "indices_by_class",
    "load_image_folder",
    "load_labelled",
    "load_splits",
    "load_text_file",
    "max_image_pixels",
    "pil_bomb_check_off",
    "pixel_limit_reason",
    "skipped_summary",
    "stratified_split",
    "stratified_subsample",
    "summarize",
    "take_shots",
]
