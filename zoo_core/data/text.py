"""Loading text datasets: CSV/TSV/JSONL/JSON files and "LABEL text" lines, in any common encoding."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from typing import Any

from zoo_core.data.delimited import Columns, _choose_columns, _delimited_rows, _lines, _read_delimited
from zoo_core.data.layout import TEXT_EXTENSIONS
from zoo_core.data.types import LabelledData, Skipped
from zoo_core.errors import DataError

#: ``label_column`` value for ``.txt`` files whose lines read ``LABEL rest of the text`` (TREC).
FIRST_TOKEN = "first-token"


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
    order. Which columns were taken, and why, is in the result's ``notes``; a label column taken
    for want of another (not given, not found by name) whose every value differs (an id) is refused.

    ``encoding=None`` follows a byte-order mark (UTF-8, UTF-16 or UTF-32, either byte order), else
    reads UTF-8 and falls back to Latin-1. Text that decodes to NUL characters (UTF-16 without a
    BOM, a binary file) is a DataError naming the file and the ``--encoding`` to try.
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

    columns: Columns | None = None
    if label_column == FIRST_TOKEN:
        if not plain:
            raise DataError(
                f"{src}: --label-column {FIRST_TOKEN} is for .txt files of 'LABEL text' lines; "
                "for this file name the label column"
            )
        items, labels, skipped = _read_first_token(src, text)
    elif ext in (".jsonl", ".json"):
        items, labels, skipped, columns = _read_json(src, text, ext, text_column, label_column)
    elif ext == ".txt" and delimiter is None:
        raise DataError(
            f"{src}: a .txt file has no columns; save it as CSV, TSV or JSONL with text and label columns, "
            f"pass --delimiter if it is delimited, or --label-column {FIRST_TOKEN} if each line is 'LABEL text'"
        )
    else:
        if delimiter is None:
            delimiter = "\t" if ext == ".tsv" else ","
        rows = list(_delimited_rows(src, text, delimiter))
        items, labels, skipped, columns = _read_delimited(src, rows, delimiter, text_column, label_column)

    if not items:
        if skipped:
            first = skipped[0]
            raise DataError(
                f"{src}: no usable rows ({len(skipped)} skipped, e.g. {first.location}: {first.reason}); "
                "check the file's format and --delimiter, --text-column, --label-column"
            )
        raise DataError(f"{src} has no data rows; add one row per example with its text and label")
    notes = []
    if columns is not None:
        columns.check_labels(src, labels, "" if ext in (".jsonl", ".json") else " (a name or a 0-based index)")
        notes.append(columns.note(src))
    return LabelledData("text", items, labels, src, skipped, notes)


def _normalise_delimiter(delimiter: str | None) -> str | None:
    # A shell turns --delimiter '\t' into a backslash and a t, not a tab.
    if delimiter in ("\\t", "tab", "TAB"):
        return "\t"
    if delimiter is not None and len(delimiter) != 1:
        raise DataError(f"delimiter must be one character (or '\\t' for tab), got {delimiter!r}")
    return delimiter


#: Byte-order marks, longest first (the UTF-32-LE mark begins with the UTF-16-LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


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
        used = encoding
    else:
        bom = next(((mark, name) for mark, name in _BOMS if data.startswith(mark)), None)
        if bom is not None:
            mark, used = bom
            try:
                text = data[len(mark) :].decode(used)
            except UnicodeDecodeError as error:
                raise DataError(
                    f"{p}: starts with a {used.upper()} byte-order mark but is not valid {used} "
                    f"({error.reason} at byte {error.start + len(mark)}); pass the file's real --encoding"
                ) from None
        else:
            try:
                text, used = data.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                # Latin-1 decodes any byte sequence, so this always succeeds; older datasets
                # (TREC among them) are Latin-1.
                text, used = data.decode("latin-1"), "latin-1"
    # A BOM would otherwise become part of the first column's name when an encoding was given.
    text = text.removeprefix("\ufeff")
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise DataError(
            f"{p}:{line}: holds NUL characters when read as {used}, so it is probably {_wide_guess(data)} "
            f"without a byte-order mark, or not a text file; pass --encoding {_wide_guess(data)}, "
            "or save it as UTF-8"
        )
    return text


def _wide_guess(data: bytes) -> str:
    """The UTF-16/32 variant whose zero bytes fall where ``data``'s do (ASCII-heavy text)."""
    sample = data[:4096]
    zeros = [sample[i::4].count(0) for i in range(4)]
    if zeros[1] and zeros[2] and zeros[3] and not zeros[0]:
        return "utf-32-le"
    if zeros[0] and zeros[1] and zeros[2] and not zeros[3]:
        return "utf-32-be"
    return "utf-16-le" if zeros[1] + zeros[3] >= zeros[0] + zeros[2] else "utf-16-be"


def _json_value(value: Any) -> str | None:
    """A JSON scalar as a string ("" for null); None for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return None
    return value.strip() if isinstance(value, str) else str(value)


def _read_json(
    src: str, text: str, ext: str, text_column: Any, label_column: Any
) -> tuple[list[str], list[str], list[Skipped], Columns | None]:
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
        return [], [], skipped, None
    columns = _choose_columns(src, [str(key) for key in first], text_column, label_column)
    text_key, label_key = columns.names[columns.text], columns.names[columns.label]

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
        item, label = _json_value(record[text_key]), _json_value(record[label_key])
        if item is None:
            skipped.append(Skipped(location, f"'{text_key}' is not a string"))
        elif label is None:
            skipped.append(Skipped(location, f"'{label_key}' is a list or object; multi-label data is not supported"))
        elif not item:
            skipped.append(Skipped(location, "empty text"))
        elif not label:
            skipped.append(Skipped(location, "empty label"))
        elif "\0" in item or "\0" in label:
            key = text_key if "\0" in item else label_key
            skipped.append(Skipped(location, f"'{key}' holds a NUL character (\\u0000)"))
        else:
            items.append(item)
            labels.append(label)
    return items, labels, skipped, columns


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
