"""Delimited text files (CSV, TSV): their rows, and finding the text and label columns (also for JSON)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from zoo_core.data.types import Skipped
from zoo_core.errors import DataError

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


def _lines(text: str) -> Iterator[tuple[int, str]]:
    # Split on "\n" only: str.splitlines() also splits on \x0b, \x1c, \u2028... which occur inside
    # real texts (and raw inside JSON strings).
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r")


def _delimited_rows(src: str, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` for each non-blank row.

    A quote that is never closed makes the csv module read the rest of the file as one field:
    when that swallows more than its own line it is a DataError, not rows lost in silence.
    """
    if delimiter == "\t":
        # TSV is read without quoting (csv.QUOTE_NONE): real TSV data has stray quotes, and under
        # QUOTE_NONE the csv module would only add failures on stray carriage returns.
        for number, line in _lines(text):
            if line.strip():
                yield number, line.split("\t")
        return
    buffer = io.StringIO(text, newline="")
    reader = csv.reader(buffer, delimiter=delimiter)
    last = (0, 0, 0)  # where the last row starts: (line, offset in text), and its last line
    while True:
        start = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        offset = buffer.tell()
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise DataError(
                f"{src}:{start}: cannot parse this row ({error}); look for an unclosed quote, or pass --delimiter"
            ) from None
        last = (start, offset, reader.line_num)
        if any(value.strip() for value in row):
            yield start, row
    start, offset, end = last
    if end > start and _ends_inside_quotes(text[offset:], delimiter):
        raise DataError(
            f"{src}:{start}: a quote opened in this row is never closed, so lines {start} to {end} would be read "
            'as one field; close the quote (a quote inside a quoted field is written ""), or pass --delimiter'
        )


def _ends_inside_quotes(row: str, delimiter: str) -> bool:
    """True when ``row`` (csv text from the start of a row to the end of the file) ends inside a
    quoted field, parsed as the csv module's default dialect does (doubled quotes, no escape char)."""
    state = "start"  # start of a field, in an unquoted field, in quotes, or just after a quote in quotes
    for char in row:
        if state == "quoted":
            if char == '"':
                state = "quote"
        elif state == "quote" and char == '"':
            state = "quoted"  # "" inside quotes is one quote
        elif char == delimiter or char in "\r\n":
            state = "start"
        elif state == "start" and char == '"':
            state = "quoted"
        else:
            state = "field"
    return state == "quoted"


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
    # A header holding a newline or other control character is quoted, so the message stays one line.
    shown = ", ".join(name if name.isprintable() else repr(name) for name in names)
    return DataError(
        f"{src}: cannot find the {what} columns (first row: {shown}){hint}; "
        "pass --text-column and --label-column (name or 0-based index)"
    )


@dataclass
class Columns:
    """The text and label columns chosen in a file, and how each was chosen."""

    names: list[str]
    text: int
    label: int
    text_how: str  # "given", "by its name", "the only other column", "guessed: ..."
    label_how: str

    @property
    def label_chosen_blind(self) -> bool:
        """True when nothing but its position (or a guess) made the label column the label column."""
        return self.label_how not in ("given", "by its name")

    def note(self, src: str) -> str:
        return (
            f"{src}: text column '{self.names[self.text]}' ({self.text_how}), "
            f"label column '{self.names[self.label]}' ({self.label_how})"
        )

    def check_labels(self, src: str, labels: Sequence[str], hint: str = "") -> None:
        """Refuse a label column found by elimination or guess whose every value differs (an id)."""
        if not self.label_chosen_blind or len(labels) < 3 or len(set(labels)) < len(labels):
            return
        name = self.names[self.label]
        raise DataError(
            f"{src}: the label column '{name}' ({self.label_how}) has a different value in each of its "
            f"{len(labels)} rows, so it cannot hold classes (an id?); pass --label-column with the column "
            f"that holds the labels{hint} (columns: {', '.join(self.names)})"
        )


def _choose_columns(
    src: str,
    names: Sequence[str],
    text_column: Any,
    label_column: Any,
    text_candidates: Sequence[str] = TEXT_COLUMN_NAMES,
    label_candidates: Sequence[str] = LABEL_COLUMN_NAMES,
) -> Columns:
    """The text and label columns of ``names``, given or found by name (or by elimination in a
    two-column file); a DataError naming the columns when they cannot be told."""
    text_index = _resolve_column(src, names, text_column, text_candidates, "text")
    label_index = _resolve_column(src, names, label_column, label_candidates, "label")

    def how(given: Any, index: int | None) -> str:
        return "given" if given is not None else "by its name" if index is not None else "the only other column"

    text_how, label_how = how(text_column, text_index), how(label_column, label_index)
    text_index, label_index = _both_columns(src, names, text_index, label_index)
    return Columns(list(names), text_index, label_index, text_how, label_how)


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


def _guess_two_columns(src: str, rows: Sequence[tuple[int, list[str]]]) -> tuple[int, int, str]:
    """(text, label) indices of a header-less two-column file, and why: labels repeat and are short."""
    pairs = [fields for _, fields in rows if len(fields) == 2]
    columns = [[fields[i].strip() for fields in pairs] for i in (0, 1)]
    unique = [len(set(column)) for column in columns]
    length = [sum(map(len, column)) / max(1, len(column)) for column in columns]
    if unique[0] != unique[1]:
        label_index = 0 if unique[0] < unique[1] else 1
        why = "guessed: fewer distinct values than the other"
    else:
        label_index = 0 if length[0] < length[1] else 1
        why = "guessed: shorter values than the other"
    # Two free-text columns (sentence pairs, say) have no label column to find.
    if len(pairs) >= 20 and unique[label_index] > len(pairs) / 2:
        raise DataError(
            f"{src}: cannot tell which of the two columns holds the labels (both have many distinct values); "
            "pass --text-column and --label-column (0-based index)"
        )
    return 1 - label_index, label_index, why


def _read_delimited(
    src: str, rows: list[tuple[int, list[str]]], delimiter: str, text_column: Any, label_column: Any
) -> tuple[list[str], list[str], list[Skipped], Columns]:
    if not rows:
        raise DataError(f"{src} is empty; add a header and one row per example with its text and label")
    first_line, first = rows[0]
    header = _looks_like_header(first, text_column, label_column)
    if header:
        columns = _choose_columns(src, [name.strip() for name in first], text_column, label_column)
        data = rows[1:]
    else:
        names = [f"column {i}" for i in range(len(first))]
        if text_column is None and label_column is None:
            if len(first) != 2:
                raise _columns_error(src, [value.strip() for value in first], "text and label")
            text_guess, label_guess, why = _guess_two_columns(src, rows)
            columns = Columns(names, text_guess, label_guess, "the other column", why)
        else:
            columns = _choose_columns(src, names, text_column, label_column, (), ())
        data = rows
    text_index, label_index = columns.text, columns.label
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
                    ignored=True,
                ),
            )
            del items[0], labels[0]
    return items, labels, skipped, columns
