"""Reading a user's labelled dataset: images in class folders, or text in CSV/TSV/JSONL.

Pure Python (numpy and PIL are imported inside the functions that need them; never torch), so
that listings and ``zoo --help`` stay fast. Every problem with the user's data is a
:class:`~zoo_core.errors.DataError` whose one-line message names the file (and line), what is
wrong and what to do. A single bad row or image is not fatal: it is left out and recorded as a
:class:`Skipped`, so that commands can report it.

Modules: ``types`` (LabelledData, DataSplits, Skipped), ``layout`` (which layout a path holds),
``images`` and ``text`` (the loaders per modality), ``delimited`` (CSV/TSV rows and columns),
``loading`` (load_labelled, load_splits) and ``sampling`` (per-class grouping, splits, shots).
Import from ``zoo_core.data`` itself; the modules are its layout, not its API.
"""

from __future__ import annotations

from zoo_core.data.delimited import LABEL_COLUMN_NAMES, TEXT_COLUMN_NAMES
from zoo_core.data.images import load_image_folder
from zoo_core.data.layout import (
    ACCEPTED_LAYOUTS,
    IMAGE_EXTENSIONS,
    SPLIT_NAMES,
    TEXT_EXTENSIONS,
    detect_modality,
    split_folders,
)
from zoo_core.data.loading import load_labelled, load_splits
from zoo_core.data.sampling import indices_by_class, stratified_split, stratified_subsample, take_shots
from zoo_core.data.text import FIRST_TOKEN, load_text_file
from zoo_core.data.types import DataSplits, LabelledData, Skipped, summarize

__all__ = [
    "ACCEPTED_LAYOUTS",
    "FIRST_TOKEN",
    "IMAGE_EXTENSIONS",
    "LABEL_COLUMN_NAMES",
    "SPLIT_NAMES",
    "TEXT_COLUMN_NAMES",
    "TEXT_EXTENSIONS",
    "DataSplits",
    "LabelledData",
    "Skipped",
    "split_folders",
    "detect_modality",
    "indices_by_class",
    "load_image_folder",
    "load_labelled",
    "load_splits",
    "load_text_file",
    "stratified_split",
    "stratified_subsample",
    "summarize",
    "take_shots",
]
