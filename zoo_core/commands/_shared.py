"""Helpers every ``zoo`` command module shares: the plugin host, the group class and output formats."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from zoo_core.errors import ZooError, did_you_mean


def get_zoo():
    """The CLI's plugin host, built on first use (plus any ``--catalog`` files given).

    The cache lives in :mod:`zoo_core.cli` (``zoo_core.cli._ZOO``), where tests reset or replace it.
    """
    from zoo_core import cli

    return cli.get_zoo()


def _debug() -> bool:
    return os.environ.get("ZOO_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


class ZooGroup(click.Group):
    """A click group with "did you mean" for commands and one-line errors."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            self.list_commands(ctx)  # plugin commands are added lazily
            if args[0] not in self.commands:
                ctx.fail(f"no such command '{args[0]}'.{did_you_mean(args[0], self.commands)}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            if _debug():
                raise
            raise click.ClickException(str(exc)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _debug():
                raise
            message = " ".join(str(exc).split())
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {message} (set ZOO_DEBUG=1 for the traceback)"
            ) from None


def emit_json(data: Any) -> None:
    """Print machine-readable output: sorted keys, no colour, one document."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Print ``rows`` as aligned columns; ``columns`` is ``[(key, header), ...]``."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[header for _, header in columns]] + [
        ["" if row.get(key) is None else str(row.get(key)) for key, _ in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for index, line in enumerate(cells):
        text = "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
        click.echo(click.style(text, bold=True) if index == 0 and sys.stdout.isatty() else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys, no colour).")


def column_options(command: Any) -> Any:
    """How to read the data, for every command that reads a dataset: ``--text-column``,
    ``--label-column``, ``--delimiter``, ``--encoding`` (CSV/TSV/JSONL files) and
    ``--max-skipped-fraction`` (any data). Every flag the data loaders' messages suggest is here."""
    command = click.option(
        "--max-skipped-fraction",
        type=click.FloatRange(0, 1),
        help="Share of items that may be unreadable and left out before loading is an error "
        "(default: 0.05; 1: any). Every one left out is listed either way.",
    )(command)
    command = click.option(
        "--encoding",
        help="Text file encoding, e.g. utf-16 or cp1252 (default: from its byte-order mark, else UTF-8, else Latin-1).",
    )(command)
    command = click.option(
        "--delimiter",
        help="Field delimiter of a delimited text file, e.g. ';' or '\\t' (default: ',' for .csv, tab for .tsv).",
    )(command)
    command = click.option(
        "--label-column", help="Label column (default: auto-detect; 'first-token' for TREC-style lines)."
    )(command)
    return click.option("--text-column", help="Text column of a CSV/TSV/JSONL file (default: auto-detect).")(command)


def column_values(
    text_column: str | None,
    label_column: str | None,
    delimiter: str | None = None,
    encoding: str | None = None,
    max_skipped_fraction: float | None = None,
) -> dict[str, Any]:
    """The loader options the data flags ask for (unset flags keep the loaders' defaults)."""
    values = {
        "text_column": text_column,
        "label_column": label_column,
        "delimiter": delimiter,
        "encoding": encoding,
        "max_skipped_fraction": max_skipped_fraction,
    }
    return {k: v for k, v in values.items() if v is not None and v != ""}


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def echo_skipped(skipped: list[Any], full_list: str = "--json output") -> None:
    """The one-line summary of what the data loaders left out, on stderr (nothing when none was)."""
    from zoo_core.data import skipped_summary

    line = skipped_summary(skipped, full_list=full_list)
    if line:
        _echo_err(line)
