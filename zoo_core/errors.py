"""User-facing errors.

Every error a user can cause (bad input, a missing file, an unknown name) is a :class:`ZooError`.
The CLI prints its message as one line and exits 1; anything else is a bug and shows a traceback
only with ``ZOO_DEBUG=1``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """An error caused by the user's input or environment; its message says what to do."""


class CatalogError(ZooError):
    """A catalog file is unreadable, malformed or inconsistent."""


class PluginError(ZooError):
    """A plugin failed to load or registered something invalid."""


class WeightsError(ZooError):
    """Pre-trained weights could not be found or failed verification."""

    #: True when a download was tried and failed (no network): recommend stops trying others.
    download_failed: bool = False


class DataError(ZooError):
    """The user's dataset is unreadable or unusable for the task."""


class AdapterError(ZooError):
    """An adapter in the store is missing, corrupt or does not match its base model."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    if len(close) == 1:
        return f" Did you mean '{close[0]}'?"
    return " Did you mean " + ", ".join(f"'{c}'" for c in close[:-1]) + f" or '{close[-1]}'?"


class NotFoundError(ZooError):
    """An unknown name (model, method, task, adapter...), with a "did you mean" suggestion."""

    def __init__(self, kind: str, name: str, choices: Iterable[str] = (), hint: str = ""):
        choices = list(choices)
        message = f"unknown {kind} '{name}'." + did_you_mean(name, choices)
        if hint:
            message += " " + hint
        super().__init__(message)
        self.kind = kind
        self.name = name


def first_line(exc: BaseException) -> str:
    """``Type: the message's first line`` (or the type alone): an exception in a one-line warning."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
