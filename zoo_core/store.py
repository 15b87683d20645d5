"""The local adapter store: ``$ZOO_HOME/adapters/<name>/v<N>/``.

Torch-free: it moves folders and metadata; :mod:`zoo_core.engine.adapters` writes and reads the
tensors. A save writes into a hidden temporary folder (``.tmp-<pid>-<id>``), fsyncs it and renames
it into place under a file lock, so a crash leaves earlier versions intact and never a half-written
one visible, and two processes saving at once get distinct versions. Removal takes the same lock
and never touches the temporary folder of a save still in flight (only those of dead processes).

Every ``adapter.json`` is checked against ``schemas/adapter.schema.json`` when it is written and
when it is read; a bad one is an :class:`AdapterError` naming the file, in one line.

A version counts as *verified* once ``verified.json`` exists beside it and records the same file
hashes: :func:`zoo_core.engine.adapters.save_adapter` writes it last, after the reload check. A
version whose metadata says ``"verification": "marker"`` but has no (matching) marker never finished
that check (``"unverified"``); versions saved before markers existed are ``"legacy"``.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo_core.errors import AdapterError, NotFoundError, ZooError
from zoo_core.paths import zoo_home

METADATA_FILE = "adapter.json"
VERIFIED_FILE = "verified.json"  # written last, after the reload check
SCHEMA_PATH = Path(__file__).parent / "schemas" / "adapter.schema.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_VERSION_DIR = re.compile(r"v(\d+)")

#: How listings show each verification state (see :meth:`AdapterRef.verification`).
VERIFICATION_TEXT = {
    "verified": "verified",
    "legacy": "unverified (saved before verification markers)",
    "unverified": "UNVERIFIED (its reload check never completed)",
}


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _schema_problem(error: Any) -> str:
    location = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    if error.validator == "pattern" and "description" in error.schema:
        message = f"{_one_line(repr(error.instance), 120)} is not {error.schema['description']}"
    else:
        message = error.message
    return f"at {location or 'top level'}: {_one_line(message, 200)}"


def check_metadata(data: Any, where: str, hint: str = "") -> dict[str, Any]:
    """Return ``data`` if it is valid adapter metadata, else raise :class:`AdapterError` in one line
    that starts with ``where`` (the file) and ends with ``hint`` (what to do)."""
    errors = sorted(
        _validator().iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise AdapterError(f"{where}: not valid adapter metadata {_schema_problem(errors[0])}{more}{hint}")
    return data


def read_metadata(path: Path, where: str | None = None, hint: str = "") -> dict[str, Any]:
    """Read and check an ``adapter.json``; every problem is one :class:`AdapterError` line naming
    ``where`` (default: the path)."""
    where = where or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AdapterError(f"{where}: cannot read it: {exc.strerror or exc}{hint}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AdapterError(f"{where}: not UTF-8 text (byte {exc.start}){hint}") from None
    except json.JSONDecodeError as exc:
        raise AdapterError(f"{where}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}{hint}") from None
    except RecursionError:
        raise AdapterError(f"{where}: JSON nested too deeply{hint}") from None
    return check_metadata(data, where, hint)


@dataclass(frozen=True)
class AdapterRef:
    """A stored adapter version."""

    name: str
    version: int
    path: Path

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    def size_bytes(self) -> int:
        """Bytes on disk of this version's files (weights, metadata, card, samples)."""
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def metadata(self) -> dict[str, Any]:
        """The checked ``adapter.json``; a broken one raises :class:`AdapterError` naming the file."""
        path = self.path / METADATA_FILE
        hint = f" (remove the version with 'zoo adapters rm {self}')"
        return read_metadata(path, f"adapter {self} is broken: {path}", hint)

    def verification(self, metadata: dict[str, Any] | None = None) -> str:
        """``"verified"``: the reload check passed (its marker records these very file hashes);
        ``"unverified"``: the version was saved to be verified and the check never completed (the
        process died first) or its marker does not match; ``"legacy"``: saved before markers existed."""
        meta = self.metadata() if metadata is None else metadata
        marker = self.path / VERIFIED_FILE
        if marker.is_file():
            try:
                data = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                return "unverified"
            return "verified" if isinstance(data, dict) and data.get("files") == meta.get("files") else "unverified"
        return "unverified" if meta.get("verification") == "marker" else "legacy"

    def require_verified(self, metadata: dict[str, Any]) -> None:
        """Refuse a version whose reload check never completed (legacy versions pass: their hashes are checked)."""
        if self.verification(metadata) == "unverified":
            raise AdapterError(
                f"adapter {self} never completed its reload check (the saving process stopped after storing "
                f"it, or its {VERIFIED_FILE} does not match its files), so it is not known to reproduce its "
                f"predictions; run 'zoo adapters verify {self}' to check it now, or 'zoo adapters rm {self}'"
            )


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name"`` -> (name, None); ``"name@3"`` -> (name, 3)."""
    name, sep, version = ref.partition("@")
    if not _NAME.fullmatch(name):
        raise ZooError(f"invalid adapter name '{name}': use letters, digits, '.', '_' and '-' (max 100)")
    if not sep:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise ZooError(f"invalid adapter version in '{ref}': write NAME@N with N >= 1")
    return name, int(version)


def check_adapter_name(name: str) -> None:
    """Refuse a name that cannot be stored (``NAME@N`` is a reference, not a name), before any work."""
    if "@" in name:
        raise ZooError(f"invalid adapter name '{name}': '@' separates a version (NAME@N); pick a plain name")
    parse_ref(name)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AdapterStore:
    """Versioned adapters in a folder (default ``$ZOO_HOME/adapters``)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else zoo_home() / "adapters"

    def _lock(self):
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"), timeout=120)

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            match = _VERSION_DIR.fullmatch(child.name)
            if match and (child / METADATA_FILE).is_file():
                found.append(int(match.group(1)))
        return sorted(found)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            child.name
            for child in self.root.iterdir()
            if child.is_dir() and not child.name.startswith(".") and self.versions(child.name)
        )

    def resolve(self, ref: str) -> AdapterRef:
        """Find ``name`` (latest version) or ``name@N``; unknown names get a did-you-mean."""
        name, version = parse_ref(ref)
        versions = self.versions(name)
        if not versions:
            raise NotFoundError("adapter", name, self.names(), "Run 'zoo adapters list' to see the stored adapters.")
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise AdapterError(
                f"adapter '{name}' has no version {version}; it has " + ", ".join(f"@{v}" for v in versions)
            )
        return AdapterRef(name, version, self.root / name / f"v{version}")

    def list(self) -> builtins.list[AdapterRef]:
        return [AdapterRef(name, v, self.root / name / f"v{v}") for name in self.names() for v in self.versions(name)]

    def save(self, name: str, write: Callable[[Path], dict[str, Any]]) -> AdapterRef:
        """Create a new version of ``name``: ``write(folder)`` fills a temporary folder and returns
        the metadata to store (checked against the schema); the folder becomes ``v<N>`` atomically."""
        check_adapter_name(name)
        folder = self.root / name
        with self._lock():  # rm holds it too: it never sees the name folder without our temporary
            self._clean_stale(folder)
            tmp = folder / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
            tmp.mkdir(parents=True)
        try:
            metadata = write(tmp)
            with self._lock():
                versions = self.versions(name)
                version = (versions[-1] if versions else 0) + 1
                metadata = {**metadata, "name": name, "version": version}
                text = json.dumps(metadata, indent=2, sort_keys=True, default=str)
                check_metadata(json.loads(text), f"the metadata for {name}@{version} (not saved)")
                (tmp / METADATA_FILE).write_text(text, encoding="utf-8")
                _fsync_tree(tmp)
                final = folder / f"v{version}"
                os.rename(tmp, final)  # atomic on POSIX: the version appears whole or not at all
                _fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return AdapterRef(name, version, final)

    def mark_verified(self, ref: AdapterRef, **details: Any) -> None:
        """Record that ``ref`` passed its reload check: ``verified.json`` (the file hashes it vouches
        for, plus ``details``), written atomically; the last step of a save."""
        with self._lock():
            if not (ref.path / METADATA_FILE).is_file():
                raise AdapterError(f"adapter {ref} was removed before its reload check finished; nothing was marked")
            body = {**details, "files": ref.metadata()["files"], "verified_at": datetime.now(timezone.utc).isoformat()}
            tmp = ref.path / f".{VERIFIED_FILE}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(body, handle, indent=2, sort_keys=True, default=str)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, ref.path / VERIFIED_FILE)
            _fsync_dir(ref.path)

    @staticmethod
    def _clean_stale(folder: Path) -> None:
        """Delete what dead processes left (call it holding the lock): temporary folders of saves
        killed mid-write and trash of an interrupted removal. A live process's temporary stays."""
        if not folder.is_dir():
            return
        for child in folder.glob(".trash-*"):
            shutil.rmtree(child, ignore_errors=True)
        for child in folder.glob(".tmp-*"):
            try:
                pid = int(child.name.split("-")[1])
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(child, ignore_errors=True)
            except (ValueError, IndexError, PermissionError, OverflowError):
                continue

    def remove(self, ref: str) -> builtins.list[AdapterRef]:
        """Delete one version (``name@N``) or every version of ``name``, under the store lock.

        A save of ``name`` in flight keeps its temporary folder (and so the name's folder): it
        becomes a new version when it finishes."""
        name, version = parse_ref(ref)
        with self._lock():
            if version:
                targets = [self.resolve(f"{name}@{version}")]
            else:
                targets = [self.resolve(f"{name}@{v}") for v in self.versions(name)]
                if not targets:
                    self.resolve(name)  # raises the not-found error
            for target in targets:
                trash = target.path.with_name(f".trash-{uuid.uuid4().hex}")
                os.rename(target.path, trash)  # disappears atomically, then is deleted
                shutil.rmtree(trash, ignore_errors=True)
            folder = self.root / name
            if not self.versions(name):
                self._clean_stale(folder)
                try:
                    folder.rmdir()  # only when empty: never under a save in flight
                except OSError:
                    pass
        return targets
