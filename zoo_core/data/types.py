"""The data a loader returns: LabelledData, DataSplits and Skipped (items left out), and their summary lines."""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from zoo_core.errors import DataError
from zoo_core.hashing import sha256_file


@dataclass
class Skipped:
    """An image or row that was left out, and why.

    ``ignored`` marks what was left out on purpose rather than because it could not be read (an
    image beside the class folders, a row taken for a header): it is reported like the others but
    does not count towards ``max_skipped_fraction``.
    """

    location: str  # "path/to/file.jpg" or "data.csv:17"
    reason: str
    ignored: bool = field(default=False, compare=False)

    def as_dict(self) -> dict[str, str]:
        """``{"location": ..., "reason": ...}``: how JSON output and ``skipped.json`` list it."""
        return {"location": self.location, "reason": self.reason}


@dataclass
class LabelledData:
    """Items (image paths or texts) with one string label each."""

    modality: str
    items: list
    labels: list[str]
    source: str
    skipped: list[Skipped] = field(default_factory=list)
    #: How the data was read, for the user (e.g. which columns hold the text and the labels, and why).
    notes: list[str] = field(default_factory=list)

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
        """The items at ``indices`` (same modality and source; ``skipped`` and ``notes`` are not copied)."""
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
    #: Every item left out while reading train, validation and test data.
    skipped: list[Skipped] = field(default_factory=list)


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


def skipped_summary(skipped: Sequence[Skipped | Mapping[str, str]], *, first: int = 3, full_list: str = "") -> str:
    """One line: the count and the first few ``location: reason``; ``""`` when nothing was skipped.

    ``full_list`` says where every one of them is listed (e.g. ``"skipped.json in the run folder"``);
    it is added when the line shows only some of them.
    """
    if not skipped:
        return ""
    pairs = [(s.location, s.reason) if isinstance(s, Skipped) else (s["location"], s["reason"]) for s in skipped]
    n = len(pairs)
    shown = "; ".join(f"{location}: {reason}" for location, reason in pairs[:first])
    line = f"{n} item{'' if n == 1 else 's'} skipped: {shown}"
    if n > first:
        line += f"; and {n - first} more" + (f" (all listed in {full_list})" if full_list else "")
    return " ".join(line.split())  # one line, whatever a reason or a file name holds


_COLLECTING: contextvars.ContextVar[list[Skipped] | None] = contextvars.ContextVar("zoo_skipped", default=None)


@contextmanager
def collect_skipped() -> Iterator[list[Skipped]]:
    """Within the block, every item :func:`~zoo_core.data.load_labelled` leaves out is also appended
    to the yielded list: how a command reports what code it calls has skipped."""
    collected: list[Skipped] = []
    token = _COLLECTING.set(collected)
    try:
        yield collected
    finally:
        _COLLECTING.reset(token)


def _record_skipped(skipped: Sequence[Skipped]) -> None:
    collected = _COLLECTING.get()
    if collected is not None:
        collected.extend(skipped)
