"""Unlabelled target-domain data for domain adaptation (``zoo finetune --unlabeled PATH``).

It is read by :func:`zoo_core.data.unlabelled.load_unlabelled`: any layout the labelled loaders read
(the labels, if present, are ignored), or data without labels (a folder of images without class
subfolders, a ``.txt`` file with one text per line, a CSV/TSV/JSONL file with a text column only).
Methods that declare ``uses_unlabeled_data`` receive it through ``AdaptationMethod.set_unlabeled``;
every other method refuses it. Torch-free.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoo_core.data import LabelledData, Skipped
from zoo_core.data.unlabelled import load_unlabelled
from zoo_core.errors import DataError, ZooError

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo


@dataclass
class UnlabeledData:
    """Items (image paths or texts) without labels, and where they came from."""

    modality: str
    items: list
    source: str
    notes: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def fingerprint(self) -> str:
        """sha256 of the modality and the items in order (images by content), labels left out:
        :meth:`LabelledData.fingerprint` with every label blank."""
        return LabelledData(self.modality, self.items, [""] * len(self.items), self.source).fingerprint()

    def describe(self) -> dict[str, Any]:
        """What a run's manifest records of it."""
        return {"fingerprint": self.fingerprint(), "num_items": len(self), "source": self.source}


def load_unlabeled(data: str | os.PathLike | LabelledData, *, modality: str, **options: Any) -> UnlabeledData:
    """Read ``data`` (a path :func:`~zoo_core.data.unlabelled.load_unlabelled` reads, or
    LabelledData) as unlabelled items of ``modality`` (the training data's); ``options`` are the
    loader options (``text_column``...). Labels, where the data has them, are dropped."""
    if isinstance(data, LabelledData):
        note = f"unlabelled: {data.source} ({len(data)} items; its labels are ignored)"
        loaded = UnlabeledData(data.modality, list(data.items), str(data.source), [note])
    else:
        # The training data's label column says nothing about this data, whose labels are unused.
        options = {key: value for key, value in options.items() if key != "label_column"}
        try:
            read = load_unlabelled(data, **options)
        except DataError as error:
            raise DataError(f"--unlabeled {data}: {error}") from None
        ignored = "; its labels are ignored" if read.labels is not None else ""
        note = f"unlabelled: {data} ({len(read)} items{ignored})"
        loaded = UnlabeledData(read.modality, list(read.items), str(data), [note, *read.notes], list(read.skipped))
    if loaded.modality != modality:
        raise DataError(
            f"--unlabeled {loaded.source} holds {loaded.modality} data but the training data holds {modality} "
            f"data; pass unlabelled {modality} data of the domain you will predict on"
        )
    return loaded


def methods_using_unlabeled(zoo: Zoo) -> list[str]:
    """Names of the installed methods whose spec declares ``uses_unlabeled_data`` (nothing imported)."""
    return [name for name, spec in sorted(zoo.methods.items()) if spec.uses_unlabeled_data]


def check_unlabeled_use(zoo: Zoo, method_name: str, method: Any, given: bool, *, tapt: bool = False) -> None:
    """Refuse ``--unlabeled`` for a method that does not use it (unless continued pre-training,
    ``tapt``, consumes it), and a method that needs it without it."""
    uses = bool(getattr(method, "uses_unlabeled_data", False))
    if uses and not given:
        raise ZooError(
            f"method '{method_name}' adapts to unlabelled target-domain data: give --unlabeled PATH (images or "
            "texts of the domain you will predict on; labels, if any, are ignored)"
        )
    if given and not uses and not tapt:
        users = ", ".join(methods_using_unlabeled(zoo)) or "none is installed"
        raise ZooError(
            f"--unlabeled: method '{method_name}' does not use unlabelled data; leave --unlabeled out, pick a "
            f"domain adaptation method that does ({users}), or add --tapt-steps N to continue pre-training a text "
            "model on it first"
        )


def overlap_note(unlabeled: UnlabeledData, items: Sequence[Any], split: str) -> str | None:
    """A note when unlabelled items are also in the evaluation split (transductive evaluation)."""
    key = (lambda item: os.path.realpath(item)) if unlabeled.modality == "image" else (lambda item: item)
    shared = len(set(map(key, unlabeled.items)) & set(map(key, items)))
    if not shared:
        return None
    return f"transductive: {shared} of the {len(unlabeled)} unlabelled items are also in the {split} split"
