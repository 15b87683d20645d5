"""Reading a user's labelled dataset: images in class folders, or text in CSV/TSV/JSONL.

Pure Python (numpy and PIL are imported inside the functions that need them; never torch), so
that listings and ``zoo --help`` stay fast. Every problem with the user's data is a
:class:`~zoo_core.errors.DataError` whose one-line message names the file (and line), what is
wrong and what to do. A single bad row or image is not fatal: it is left out and recorded as a
:class:`Skipped`, so that commands can report it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo_core.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TEXT_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".txt")

#: Column names recognised (case-insensitively) when no ``text_column``/``label_column`` is given;
#: the first match in this order wins.
TEXT_COLUMN_NAMES = (
    "text",
    "sentence",
    "sentences",
    "review",
    "content",
    "document",
    "question",
    "utterance",
    "body",
    "comment",
    "tweet",
    "input",
)
LABEL_COLUMN_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "intent", "y")

#: ``label_column`` value for ``.txt`` files whose lines read ``LABEL rest of the text`` (TREC).
FIRST_TOKEN = "first-token"

#: Names of split folders (or ``<name>.csv`` etc. files) in a split layout, per split.
SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}

ACCEPTED_LAYOUTS = (
    "accepted: a folder with one subfolder of images per class; a .csv, .tsv, .jsonl or .json file "
    "with text and label columns (or a .txt file with --label-column first-token); "
    "or a folder with train/ (and val/, test/) holding one of those"
)

_IMAGE_OPTIONS = frozenset({"check_images"})
_TEXT_OPTIONS = frozenset({"text_column", "label_column", "delimiter", "encoding"})

# sha256 of image files, keyed by (absolute path, mtime_ns, size): fingerprinting the same
# dataset twice in one process (train, then the manifest) must not read every file twice.
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


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
            key = _file_sha256(item) if self.modality == "image" else item
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


# --------------------------------------------------------------------------------------------
# Layout detection


def detect_modality(path: str | os.PathLike) -> str:
    """Return ``"image"`` or ``"text"`` for a dataset path, or raise DataError."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or folder; pass the path to your dataset ({ACCEPTED_LAYOUTS})")
    if p.is_file():
        ext = p.suffix.lower()
        if ext in TEXT_EXTENSIONS:
            return "text"
        if ext in IMAGE_EXTENSIONS:
            raise DataError(f"{path} is a single image; pass a folder with one subfolder of images per class")
        raise DataError(f"{path}: unsupported file type '{ext or 'no extension'}'; {ACCEPTED_LAYOUTS}")
    splits = _split_entries(p)
    if splits:
        return detect_modality(splits["train"])
    if any(_contains_image(d) for d in _visible_dirs(p)):
        return "image"
    if _root_images(p):
        raise DataError(
            f"{path} has images directly inside and no class subfolders; "
            f"put images in one subfolder per class (e.g. {p / 'cat' / 'img1.jpg'})"
        )
    text_files = sorted(f.name for f in p.iterdir() if f.is_file() and f.suffix.lower() in TEXT_EXTENSIONS)
    if text_files:
        raise DataError(
            f"{path} is a folder of text files ({', '.join(text_files[:3])}{', ...' if len(text_files) > 3 else ''}) "
            "with no train file; pass the file itself, or name the files train.csv, val.csv, test.csv"
        )
    raise DataError(f"{path}: no images in class subfolders and no train/ split; {ACCEPTED_LAYOUTS}")


def _hidden(name: str) -> bool:
    # "__MACOSX" is the resource-fork folder that macOS zips add; it is never a class.
    return name.startswith(".") or name == "__MACOSX"


def _is_image_name(name: str) -> bool:
    return not _hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def _visible_dirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not _hidden(d.name))


def _root_images(p: Path) -> list[Path]:
    return sorted(f for f in p.iterdir() if f.is_file() and _is_image_name(f.name))


def _walk_images(folder: Path) -> Iterator[Path]:
    """Image files under ``folder``, recursively, hidden ones skipped, in sorted path order."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _hidden(d))  # sorted in place: os.walk order is the fs's
        for name in sorted(files):
            if _is_image_name(name):
                yield Path(root) / name


def _contains_image(folder: Path) -> bool:
    return next(_walk_images(folder), None) is not None


def _split_of(name: str) -> str | None:
    name = name.lower()
    for split, names in SPLIT_NAMES.items():
        if name in names:
            return split
    return None


def _split_entries(p: Path) -> dict[str, Path]:
    """``{"train": ..., "val": ..., "test": ...}`` for a split layout, else ``{}``.

    Splits are folders (``train/``) or text files (``train.csv``). A folder counts as a split
    layout only when every visible subfolder is a split name, so that an image dataset with a
    class called "train" (next to "car" and "bus") is still read as classes.
    """
    entries: dict[str, list[Path]] = {}
    other_dirs = False
    for child in sorted(p.iterdir()):
        if _hidden(child.name):
            continue
        if child.is_dir():
            split = _split_of(child.name)
            other_dirs = other_dirs or split is None
        elif child.is_file() and child.suffix.lower() in TEXT_EXTENSIONS:
            split = _split_of(child.stem)
        else:
            continue
        if split:
            entries.setdefault(split, []).append(child)
    if "train" not in entries or other_dirs:
        return {}
    for split, paths in entries.items():
        if len(paths) > 1:
            names = ", ".join(q.name for q in paths)
            raise DataError(f"{p}: more than one {split} split ({names}); keep one and rename or remove the others")
    return {split: paths[0] for split, paths in entries.items()}


# --------------------------------------------------------------------------------------------
# Images


def load_image_folder(path: str | os.PathLike, *, check_images: bool = True) -> LabelledData:
    """Load ``path/<class>/**/<image>``; with ``check_images``, unreadable images are skipped."""
    root = Path(path)
    if not root.exists():
        raise DataError(f"{path}: no such folder; pass a folder with one subfolder of images per class")
    if not root.is_dir():
        raise DataError(f"{path} is a file; pass a folder with one subfolder of images per class")
    class_dirs = _visible_dirs(root)
    stray = _root_images(root)
    if not class_dirs:
        if stray:
            raise DataError(
                f"{path} has {len(stray)} images directly inside and no class subfolders; "
                f"put images in one subfolder per class (e.g. {root / 'cat' / stray[0].name})"
            )
        raise DataError(f"{path} has no class subfolders; put images in one subfolder per class")
    if _split_entries(root):
        raise DataError(
            f"{path} is split into train/val/test folders, not classes; "
            f"pass one split (e.g. {root / 'train'}) or load it as splits"
        )
    # Images beside the class folders have no label: leave them out, but say so.
    skipped = [Skipped(str(f), "image outside any class folder; ignored") for f in stray]
    items: list[str] = []
    labels: list[str] = []
    for class_dir in class_dirs:
        found = 0
        bad: list[Skipped] = []
        for file in _walk_images(class_dir):
            reason = _unreadable_reason(file) if check_images else None
            if reason:
                bad.append(Skipped(str(file), reason))
                continue
            items.append(str(file))
            labels.append(class_dir.name)
            found += 1
        skipped.extend(bad)
        if not found:
            if bad:
                detail = f"{len(bad)} unreadable, e.g. {bad[0].location}: {bad[0].reason}"
            else:
                detail = "no files ending in " + " ".join(IMAGE_EXTENSIONS)
            raise DataError(
                f"class '{class_dir.name}' ({class_dir}) has no readable images ({detail}); "
                "add images to it or remove the folder"
            )
    return LabelledData("image", items, labels, str(path), skipped)


def _unreadable_reason(file: Path) -> str | None:
    """Why PIL cannot read ``file``, or None. Reads the header only (fast), not the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        if file.stat().st_size == 0:
            return "empty file"
        with Image.open(file) as image:
            width, height = image.size
    except UnidentifiedImageError:
        return "not an image PIL can read (corrupt, or not really this format)"
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError... for broken headers
        return f"cannot read image ({type(error).__name__}: {error})"
    if not width or not height:
        return "image has zero width or height"
    return None


def _file_sha256(path: str) -> str:
    absolute = os.path.abspath(path)
    try:
        stat = os.stat(absolute)
    except OSError as error:
        raise DataError(
            f"{path}: cannot read image to fingerprint the data ({error.strerror}); "
            "was it moved or deleted after loading? Load the data again"
        ) from None
    key = (absolute, stat.st_mtime_ns, stat.st_size)
    cached = _FILE_HASHES.get(key)
    if cached is None:
        digest = hashlib.sha256()
        with open(absolute, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        cached = _FILE_HASHES[key] = digest.hexdigest()
    return cached


# --------------------------------------------------------------------------------------------
# Text


def load_text_file(
    path: str | os.PathLike,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> LabelledData:
    """Load texts and labels from a .csv, .tsv, .jsonl/.json or (with options) .txt file.

    Columns are found by name (see ``TEXT_COLUMN_NAMES``/``LABEL_COLUMN_NAMES``) or given by
    name or 0-based index. A header-less two-column file is read as text and label, whichever
    order. ``encoding=None`` reads UTF-8 (with or without BOM) and falls back to Latin-1.
    """
    p = Path(path)
    src = str(path)
    if not p.exists():
        raise DataError(f"{src}: no such file; pass the path to a .csv, .tsv, .jsonl or .json file")
    if p.is_dir():
        raise DataError(f"{src} is a folder; pass a .csv, .tsv, .jsonl or .json file")
    ext = p.suffix.lower()
    # "LABEL text" lines come under many extensions (TREC's is .label): with first-token, any
    # file that is not CSV/TSV/JSON is read as plain lines.
    plain = label_column == FIRST_TOKEN and ext not in (".csv", ".tsv", ".jsonl", ".json")
    if ext not in TEXT_EXTENSIONS and not plain:
        raise DataError(f"{src}: unsupported file type '{ext or 'no extension'}'; use .csv, .tsv, .jsonl or .json")
    delimiter = _normalise_delimiter(delimiter)
    text = _read_text(p, encoding)

    if label_column == FIRST_TOKEN:
        if not plain:
            raise DataError(
                f"{src}: --label-column {FIRST_TOKEN} is for .txt files of 'LABEL text' lines; "
                "for this file name the label column"
            )
        items, labels, skipped = _read_first_token(src, text)
    elif ext in (".jsonl", ".json"):
        items, labels, skipped = _read_json(src, text, ext, text_column, label_column)
    elif ext == ".txt" and delimiter is None:
        raise DataError(
            f"{src}: a .txt file has no columns; save it as CSV, TSV or JSONL with text and label columns, "
            f"pass --delimiter if it is delimited, or --label-column {FIRST_TOKEN} if each line is 'LABEL text'"
        )
    else:
        if delimiter is None:
            delimiter = "\t" if ext == ".tsv" else ","
        rows = list(_delimited_rows(src, text, delimiter))
        items, labels, skipped = _read_delimited(src, rows, delimiter, text_column, label_column)

    if not items:
        if skipped:
            first = skipped[0]
            raise DataError(
                f"{src}: no usable rows ({len(skipped)} skipped, e.g. {first.location}: {first.reason}); "
                "check the file's format and --delimiter, --text-column, --label-column"
            )
        raise DataError(f"{src} has no data rows; add one row per example with its text and label")
    return LabelledData("text", items, labels, src, skipped)


def _normalise_delimiter(delimiter: str | None) -> str | None:
    # A shell turns --delimiter '\t' into a backslash and a t, not a tab.
    if delimiter in ("\\t", "tab", "TAB"):
        return "\t"
    if delimiter is not None and len(delimiter) != 1:
        raise DataError(f"delimiter must be one character (or '\\t' for tab), got {delimiter!r}")
    return delimiter


def _read_text(p: Path, encoding: str | None) -> str:
    data = p.read_bytes()
    if encoding:
        try:
            text = data.decode(encoding)
        except LookupError:
            raise DataError(f"unknown encoding '{encoding}'; pass e.g. --encoding utf-8 or latin-1") from None
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            raise DataError(
                f"{p}:{line}: not valid {encoding} ({error.reason} at byte {error.start}); "
                "pass the file's real --encoding, or leave it out to try UTF-8 then Latin-1"
            ) from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Latin-1 decodes any byte sequence, so this always succeeds; older datasets
            # (TREC among them) are Latin-1.
            text = data.decode("latin-1")
    # A BOM would otherwise become part of the first column's name when an encoding was given.
    return text.removeprefix("\ufeff")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    # Split on "\n" only: str.splitlines() also splits on \x0b, \x1c, \u2028... which occur inside
    # real texts (and raw inside JSON strings).
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r")


def _delimited_rows(src: str, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` for each non-blank row."""
    if delimiter == "\t":
        # TSV is read without quoting (csv.QUOTE_NONE): real TSV data has stray quotes, and under
        # QUOTE_NONE the csv module would only add failures on stray carriage returns.
        for number, line in _lines(text):
            if line.strip():
                yield number, line.split("\t")
        return
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        start = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DataError(
                f"{src}:{start}: cannot parse this row ({error}); look for an unclosed quote, or pass --delimiter"
            ) from None
        if any(value.strip() for value in row):
            yield start, row


def _column_index(value: str | int | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _resolve_column(
    src: str, names: Sequence[str], override: str | int | None, candidates: Sequence[str], kind: str
) -> int | None:
    """Index of the ``kind`` ("text"/"label") column in ``names``; None when not found by name."""
    if override is not None:
        index = _column_index(override)
        if index is not None:
            if index >= len(names):
                raise DataError(
                    f"{src}: --{kind}-column {index} is out of range: there are {len(names)} columns "
                    f"(0 to {len(names) - 1})"
                )
            return index
        for i, name in enumerate(names):
            if name == override:
                return i
        for i, name in enumerate(names):
            if name.lower() == str(override).lower():
                return i
        raise DataError(
            f"{src}: no column '{override}' (columns: {', '.join(names)}); "
            f"pass --{kind}-column with one of these names or a 0-based index"
        )
    lowered = [name.strip().lower() for name in names]
    for candidate in candidates:
        if candidate in lowered:
            return lowered.index(candidate)
    return None


def _columns_error(src: str, names: Sequence[str], what: str) -> DataError:
    hint = ""
    if len(names) == 1:
        for sep, label in ((";", "';'"), ("\t", "'\\t'"), ("|", "'|'")):
            if sep in names[0]:
                hint = f" (the row contains {label}: try --delimiter {label})"
                break
    return DataError(
        f"{src}: cannot find the {what} columns (first row: {', '.join(names)}){hint}; "
        "pass --text-column and --label-column (name or 0-based index)"
    )


def _both_columns(src: str, names: Sequence[str], text_index: int | None, label_index: int | None) -> tuple[int, int]:
    """Complete a half-found pair in a two-column file; raise if still incomplete."""
    if len(names) == 2:
        if text_index is None and label_index is not None:
            text_index = 1 - label_index
        elif label_index is None and text_index is not None:
            label_index = 1 - text_index
    if text_index is None or label_index is None:
        missing = " and ".join(k for k, i in (("text", text_index), ("label", label_index)) if i is None)
        raise _columns_error(src, names, missing)
    if text_index == label_index:
        raise DataError(
            f"{src}: the text and label columns are the same column ({names[text_index]}); "
            "pass different --text-column and --label-column"
        )
    return text_index, label_index


def _looks_like_header(fields: Sequence[str], text_column: Any, label_column: Any) -> bool:
    # A column given by name implies a header; otherwise a header must use a name we know.
    for override in (text_column, label_column):
        if override is not None and _column_index(override) is None:
            return True
    known = set(TEXT_COLUMN_NAMES) | set(LABEL_COLUMN_NAMES)
    return any(value.strip().lower() in known for value in fields)


def _guess_two_columns(src: str, rows: Sequence[tuple[int, list[str]]]) -> tuple[int, int]:
    """(text, label) indices of a header-less two-column file: labels repeat and are short."""
    pairs = [fields for _, fields in rows if len(fields) == 2]
    columns = [[fields[i].strip() for fields in pairs] for i in (0, 1)]
    unique = [len(set(column)) for column in columns]
    length = [sum(map(len, column)) / max(1, len(column)) for column in columns]
    if unique[0] != unique[1]:
        label_index = 0 if unique[0] < unique[1] else 1
    else:
        label_index = 0 if length[0] < length[1] else 1
    # Two free-text columns (sentence pairs, say) have no label column to find.
    if len(pairs) >= 20 and unique[label_index] > len(pairs) / 2:
        raise DataError(
            f"{src}: cannot tell which of the two columns holds the labels (both have many distinct values); "
            "pass --text-column and --label-column (0-based index)"
        )
    return 1 - label_index, label_index


def _read_delimited(
    src: str, rows: list[tuple[int, list[str]]], delimiter: str, text_column: Any, label_column: Any
) -> tuple[list[str], list[str], list[Skipped]]:
    if not rows:
        raise DataError(f"{src} is empty; add a header and one row per example with its text and label")
    first_line, first = rows[0]
    header = _looks_like_header(first, text_column, label_column)
    if header:
        names = [name.strip() for name in first]
        text_index = _resolve_column(src, names, text_column, TEXT_COLUMN_NAMES, "text")
        label_index = _resolve_column(src, names, label_column, LABEL_COLUMN_NAMES, "label")
        text_index, label_index = _both_columns(src, names, text_index, label_index)
        data = rows[1:]
    else:
        names = [f"column {i}" for i in range(len(first))]
        text_index = _resolve_column(src, names, text_column, (), "text")
        label_index = _resolve_column(src, names, label_column, (), "label")
        if text_index is None and label_index is None:
            if len(first) != 2:
                raise _columns_error(src, [value.strip() for value in first], "text and label")
            text_index, label_index = _guess_two_columns(src, rows)
        text_index, label_index = _both_columns(src, names, text_index, label_index)
        data = rows
    width = len(first)

    items: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    skipped: list[Skipped] = []
    for number, fields in data:
        if len(fields) != width:
            hint = "" if delimiter == "\t" else " (quote fields that contain the delimiter)"
            skipped.append(Skipped(f"{src}:{number}", f"expected {width} fields, found {len(fields)}{hint}"))
            continue
        text, label = fields[text_index].strip(), fields[label_index].strip()
        reason = "empty text" if not text else "empty label" if not label else None
        if reason:
            skipped.append(Skipped(f"{src}:{number}", reason))
            continue
        items.append(text)
        labels.append(label)
        lines.append(number)

    # An unrecognised header in a header-less guess shows up as a row whose "label" (the
    # column's name) occurs nowhere else while every real label repeats: drop it, and say so.
    if not header and len(items) >= 3 and lines[0] == first_line:
        counts = Counter(labels)
        if counts[labels[0]] == 1 and all(n >= 2 for label, n in counts.items() if label != labels[0]):
            skipped.insert(
                0,
                Skipped(
                    f"{src}:{first_line}",
                    f"read as a header: its label '{labels[0]}' appears nowhere else "
                    "(pass --text-column and --label-column if this is wrong)",
                ),
            )
            del items[0], labels[0]
    return items, labels, skipped


def _json_value(value: Any) -> str | None:
    """A JSON scalar as a string ("" for null); None for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return None
    return value.strip() if isinstance(value, str) else str(value)


def _read_json(
    src: str, text: str, ext: str, text_column: Any, label_column: Any
) -> tuple[list[str], list[str], list[Skipped]]:
    skipped: list[Skipped] = []
    records: list[tuple[str, Any]] = []
    whole: Any = None
    if ext == ".json":
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None
    if isinstance(whole, list):
        # A .json file may also be one array of objects.
        records = [(f"{src}[{i}]", record) for i, record in enumerate(whole)]
    elif isinstance(whole, dict) and sum(1 for _, line in _lines(text) if line.strip()) > 1:
        raise DataError(
            f"{src} is one JSON object, not one object per line; save it as JSON lines "
            '(one {"text": ..., "label": ...} per line) or as a JSON array of such objects'
        )
    else:
        for number, line in _lines(text):
            if not line.strip():
                continue
            try:
                records.append((f"{src}:{number}", json.loads(line)))
            except ValueError as error:
                msg = getattr(error, "msg", str(error))
                col = getattr(error, "colno", None)
                skipped.append(Skipped(f"{src}:{number}", f"invalid JSON: {msg}" + (f" (column {col})" if col else "")))

    first = next((record for _, record in records if isinstance(record, dict)), None)
    if first is None:
        if records:
            raise DataError(
                f"{src}: no JSON objects found; write one object per line, e.g. "
                '{"text": "great film", "label": "positive"}'
            )
        return [], [], skipped
    names = [str(key) for key in first]
    text_index = _resolve_column(src, names, text_column, TEXT_COLUMN_NAMES, "text")
    label_index = _resolve_column(src, names, label_column, LABEL_COLUMN_NAMES, "label")
    text_index, label_index = _both_columns(src, names, text_index, label_index)
    text_key, label_key = names[text_index], names[label_index]

    items: list[str] = []
    labels: list[str] = []
    for location, record in records:
        if not isinstance(record, dict):
            skipped.append(Skipped(location, f"not a JSON object ({type(record).__name__})"))
            continue
        if text_key not in record or label_key not in record:
            missing = text_key if text_key not in record else label_key
            skipped.append(Skipped(location, f"no '{missing}' field"))
            continue
        text, label = _json_value(record[text_key]), _json_value(record[label_key])
        if text is None:
            skipped.append(Skipped(location, f"'{text_key}' is not a string"))
        elif label is None:
            skipped.append(Skipped(location, f"'{label_key}' is a list or object; multi-label data is not supported"))
        elif not text:
            skipped.append(Skipped(location, "empty text"))
        elif not label:
            skipped.append(Skipped(location, "empty label"))
        else:
            items.append(text)
            labels.append(label)
    return items, labels, skipped


def _read_first_token(src: str, text: str) -> tuple[list[str], list[str], list[Skipped]]:
    items: list[str] = []
    labels: list[str] = []
    skipped: list[Skipped] = []
    for number, line in _lines(text):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            skipped.append(Skipped(f"{src}:{number}", "no text after the label"))
            continue
        labels.append(parts[0])
        items.append(parts[1].strip())
    return items, labels, skipped


# --------------------------------------------------------------------------------------------
# Loading and splitting


def load_labelled(path: str | os.PathLike, **options: Any) -> LabelledData:
    """Load an image folder or a text file; options go to the matching loader.

    Options set to None are dropped, so a CLI can pass every flag; a text option given for an
    image folder is a DataError. ``check_images`` is ignored for text.
    """
    unknown = set(options) - _IMAGE_OPTIONS - _TEXT_OPTIONS
    if unknown:
        raise TypeError(f"load_labelled() got unexpected options: {', '.join(sorted(unknown))}")
    modality = detect_modality(path)
    p = Path(path)
    if p.is_dir():
        splits = _split_entries(p)
        if splits:
            raise DataError(
                f"{path} is split into {', '.join(q.name for q in splits.values())}; "
                f"pass one split (e.g. {splits['train']}) or load it as splits"
            )
    given = {key: value for key, value in options.items() if value is not None}
    if modality == "image":
        wrong = sorted(given.keys() & _TEXT_OPTIONS)
        if wrong:
            flags = ", ".join("--" + key.replace("_", "-") for key in wrong)
            raise DataError(f"{path} is an image folder; {flags} only apply to text files: leave them out")
        return load_image_folder(path, **{k: v for k, v in given.items() if k in _IMAGE_OPTIONS})
    return load_text_file(path, **{k: v for k, v in given.items() if k in _TEXT_OPTIONS})


def load_splits(
    path: str | os.PathLike,
    *,
    val: str | os.PathLike | None = None,
    test: str | os.PathLike | None = None,
    val_fraction: float | None = 0.2,
    seed: int = 0,
    min_per_class_for_split: int = 2,
    **options: Any,
) -> DataSplits:
    """Load train (and val/test) data, check it can train a classifier, and split off val if needed.

    ``path`` is a split layout (``train/``, ``val/``, ``test/`` folders or ``train.csv``...)
    or the training data itself, with ``val``/``test`` as optional separate paths. Without
    validation data, a stratified ``val_fraction`` of train is held out (``0`` or None: none).
    """
    p = Path(path)
    layout = _split_entries(p) if p.is_dir() else {}
    if layout:
        if val is not None or test is not None:
            raise DataError(
                f"{path} already holds train/val/test splits; leave out --val/--test, "
                f"or pass {layout['train']} as the training data"
            )
        train_path: str | os.PathLike = layout["train"]
        val, test = layout.get("val"), layout.get("test")
    else:
        train_path = path
    if val_fraction is not None and not 0 <= val_fraction < 1:
        raise DataError(f"validation fraction must be at least 0 and below 1, got {val_fraction}; e.g. 0.2")

    train = load_labelled(train_path, **options)
    notes = [f"train: {train.source} ({len(train)} items)"]
    if len(train) == 0:
        raise DataError(f"{train.source} has no examples; add labelled data")
    classes = train.classes()
    if len(classes) < 2:
        raise DataError(
            f"found only one class '{classes[0]}' in {train.source}; classification needs at least two: "
            "add examples of another class"
        )

    held: dict[str, LabelledData | None] = {"validation": None, "test": None}
    for name, other_path in (("validation", val), ("test", test)):
        if other_path is None:
            continue
        other = load_labelled(other_path, **options)
        if other.modality != train.modality:
            raise DataError(
                f"{other.source} holds {other.modality} data but the training data {train.source} holds "
                f"{train.modality} data; pass {name} data of the same kind"
            )
        unseen = sorted(set(other.labels) - set(classes))
        if unseen:
            listed = ", ".join(f"'{label}'" for label in unseen)
            raise DataError(
                f"{other.source}: {name} labels {listed} are not in the training data {train.source} "
                f"(which has {', '.join(classes)}); add training examples for them or remove them from the {name} data"
            )
        overlap = len(
            set(map(_same_item_key(train.modality), train.items))
            & set(map(_same_item_key(other.modality), other.items))
        )
        if overlap:
            notes.append(f"warning: {overlap} {name} items also appear in the training data")
        notes.append(f"{name}: {other.source} ({len(other)} items)")
        held[name] = other

    val_data = held["validation"]
    if val_data is None:
        if not val_fraction:
            notes.append("validation: none")
        else:
            keep, out = stratified_split(train.labels, val_fraction, seed, min_per_class=min_per_class_for_split)
            small = [c for c, n in train.counts().items() if n < max(2, min_per_class_for_split)]
            if out:
                val_data = train.subset(out)
                skipped = train.skipped
                train = train.subset(keep)
                train.skipped = skipped
                notes.append(
                    f"validation: stratified {val_fraction * 100:g}% of train, seed {seed} "
                    f"({len(val_data)} items; {len(train)} left to train)"
                )
            else:
                notes.append(f"validation: none (every class has fewer than {min_per_class_for_split} items)")
            if small and out:
                notes.append(
                    f"classes with fewer than {max(2, min_per_class_for_split)} items stay whole in train "
                    f"and are not validated: {', '.join(small)}"
                )
    if held["test"] is None:
        notes.append("test: none")
    return DataSplits(train, val_data, held["test"], train.classes(), notes)


def _same_item_key(modality: str):
    # Texts compare as written; images by resolved path (byte-identical copies are not found).
    return (lambda item: os.path.realpath(item)) if modality == "image" else (lambda item: item)


def _by_class(labels: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(label, []).append(index)
    return {label: groups[label] for label in sorted(groups)}


def stratified_split(
    labels: Sequence[str], fraction: float, seed: int, *, min_per_class: int = 2
) -> tuple[list[int], list[int]]:
    """``(keep, held_out)`` sorted indices: about ``fraction`` of each class held out.

    Per class, ``round(n * fraction)`` (half up) items are held out, at least 1 and at most
    n - 1; classes with fewer than ``min_per_class`` (and at least 2) items stay whole in keep.
    One ``numpy.random.RandomState(seed)`` draws a permutation per class in label order.
    """
    import numpy as np

    if not 0 < fraction < 1:
        raise DataError(f"split fraction must be between 0 and 1, got {fraction}; e.g. 0.2")
    rng = np.random.RandomState(seed)
    keep: list[int] = []
    held: list[int] = []
    for indices in _by_class(labels).values():
        n = len(indices)
        if n < max(2, min_per_class):
            keep.extend(indices)
            continue
        # Half up, not Python's round-half-to-even: 5 items at 50% should hold out 3, like 7 holds out 4.
        k = min(max(math.floor(n * fraction + 0.5), 1), n - 1)
        order = rng.permutation(n)
        held.extend(indices[j] for j in order[:k])
        keep.extend(indices[j] for j in order[k:])
    return sorted(keep), sorted(held)


def take_shots(labels: Sequence[str], k: int, seed: int) -> list[int]:
    """Sorted indices of ``k`` random items per class (all of a class with fewer)."""
    import numpy as np

    if k < 1:
        raise DataError(f"shots per class must be at least 1, got {k}")
    rng = np.random.RandomState(seed)
    picked: list[int] = []
    for indices in _by_class(labels).values():
        if len(indices) <= k:
            picked.extend(indices)
        else:
            picked.extend(indices[j] for j in rng.permutation(len(indices))[:k])
    return sorted(picked)


def stratified_subsample(labels: Sequence[str], max_items: int, seed: int) -> list[int]:
    """Sorted indices of at most ``max_items`` items, classes in proportion, at least 1 each.

    With more classes than ``max_items`` the result has one item per class (more than asked).
    """
    import numpy as np

    if max_items < 1:
        raise DataError(f"the number of items to sample must be at least 1, got {max_items}")
    total = len(labels)
    if max_items >= total:
        return list(range(total))
    groups = _by_class(labels)
    quota = {c: max_items * len(ix) / total for c, ix in groups.items()}
    take = {c: min(len(groups[c]), max(1, math.floor(q))) for c, q in quota.items()}
    # Largest remainders fill what flooring left over...
    by_remainder = sorted(groups, key=lambda c: (-(quota[c] - math.floor(quota[c])), c))
    while sum(take.values()) < max_items:
        grown = False
        for c in by_remainder:
            if sum(take.values()) >= max_items:
                break
            if take[c] < len(groups[c]):
                take[c] += 1
                grown = True
        if not grown:
            break
    # ...and the at-least-one rule may overshoot: take back from the classes most over their share.
    while sum(take.values()) > max_items:
        shrinkable = [c for c in groups if take[c] > 1]
        if not shrinkable:
            break
        c = max(shrinkable, key=lambda c: (take[c] - quota[c], take[c]))
        take[c] -= 1
    rng = np.random.RandomState(seed)
    picked: list[int] = []
    for c, indices in groups.items():
        picked.extend(indices[j] for j in rng.permutation(len(indices))[: take[c]])
    return sorted(picked)


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
