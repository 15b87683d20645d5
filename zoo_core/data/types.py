"""The data a loader returns: LabelledData, DataSplits and Skipped (items left out), and their summary line."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from zoo_core.errors import DataError
from zoo_core.hashing import sha256_file


@dataclass
class Skipped:
    """An image or row that was left out, and why."""

    location: str  # "path/to/file.jpg" or "data.csv:17"
    reason: str


@dataclass
class LabelledData:
    """Items (image paths or texts) with one string label each."""

    modality: str
    items: list
    labels: list[str]
    source: str
    skipped: list[Skipped] = field(default_factory=list)

    def __post_init__(self) -> None:
        # These are programming errors, not user errors: the loaders never build such objects.
        if self.modality not in ("image", "text"):
            raise ValueError(f"modality must be 'image' or 'text', got {self.modality!r}")
        if len(self.items) != len(self.labels):
            raise ValueError(f"{len(self.items)} items but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.items)

    def classes(self) -> list[str]:
        """The sorted unique labels."""
        return sorted(set(self.labels))

    def counts(self) -> dict[str, int]:
        """Label -> number of items, in label order."""
        counter = Counter(self.labels)
        return {label: counter[label] for label in sorted(counter)}

    def subset(self, indices: Iterable[int]) -> LabelledData:
        """The items at ``indices`` (same modality and source; ``skipped`` is not copied)."""
        picked = [int(i) for i in indices]  # accept numpy integers
        return LabelledData(
            self.modality, [self.items[i] for i in picked], [self.labels[i] for i in picked], self.source
        )

    def fingerprint(self) -> str:
        """sha256 hex of the modality, items and labels, in order; images count by content.

        Stable across processes and machines: image paths do not enter it, so a moved or copied
        dataset keeps its fingerprint.
        """
        digest = hashlib.sha256()
        digest.update(json.dumps(["zoo-data-v1", self.modality]).encode() + b"\n")
        for item, label in zip(self.items, self.labels):
            key = _image_sha256(item) if self.modality == "image" else item
            # One JSON array per line: unambiguous, since JSON escapes newlines inside strings.
            digest.update(json.dumps([key, label], ensure_ascii=False).encode("utf-8") + b"\n")
        return digest.hexdigest()


@dataclass
class DataSplits:
    """Train / validation / test data and how they were made."""

    train: LabelledData
    val: LabelledData | None
    test: LabelledData | None
    label_names: list[str]
    notes: list[str]


def _image_sha256(path: str) -> str:
    try:
        return sha256_file(path)
    except OSError as error:
        raise DataError(
            f"{path}: cannot read image to fingerprint the data ({error.strerror}); "
            "was it moved or deleted after loading? Load the data again"
        ) from None


def summarize(data: LabelledData, *, max_classes: int = 10) -> str:
    """One line, e.g. ``"412 images in 5 classes (daisy 80, ...), 3 skipped"``."""
    n = len(data)
    noun = ("image" if data.modality == "image" else "text") + ("" if n == 1 else "s")
    counts = data.counts()
    line = f"{n} {noun} in {len(counts)} class{'' if len(counts) == 1 else 'es'}"
    if counts:
        parts = [f"{label} {count}" for label, count in counts.items()]
        if len(parts) > max_classes:
            parts = parts[:max_classes] + [f"and {len(parts) - max_classes} more"]
        line += f" ({', '.join(parts)})"
    if data.skipped:
        line += f", {len(data.skipped)} skipped"
    return line
