"""The local adapter store: ``$ZOO_HOME/adapters/<name>/v<N>/``.

Torch-free: it moves folders and metadata; :mod:`zoo_core.engine.adapters` writes and reads the
tensors. A save writes into a hidden temporary folder, fsyncs it and renames it into place, all
under a file lock, so a crash leaves earlier versions intact and never a half-written one visible,
and two processes saving at once get distinct versions.
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
from pathlib import Path
from typing import Any

from zoo_core.errors import AdapterError, NotFoundError, ZooError
from zoo_core.paths import zoo_home

METADATA_FILE = "adapter.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION_DIR = re.compile(r"^v(\d+)$")


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
        try:
            return json.loads((self.path / METADATA_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AdapterError(f"adapter {self} at {self.path} has no readable {METADATA_FILE}: {exc}") from None


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name"`` -> (name, None); ``"name@3"`` -> (name, 3)."""
    name, sep, version = ref.partition("@")
    if not _NAME.match(name):
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
            match = _VERSION_DIR.match(child.name)
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
        the metadata to store; the folder becomes ``v<N>`` atomically."""
        parse_ref(name)
        (self.root / name).mkdir(parents=True, exist_ok=True)
        self._clean_stale(self.root / name)
        tmp = self.root / name / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            metadata = write(tmp)
            with self._lock():
                versions = self.versions(name)
                version = (versions[-1] if versions else 0) + 1
                metadata = {**metadata, "name": name, "version": version}
                (tmp / METADATA_FILE).write_text(
                    json.dumps(metadata, indent=2, sort_keys=True, default=str), encoding="utf-8"
                )
                _fsync_tree(tmp)
                final = self.root / name / f"v{version}"
                os.rename(tmp, final)  # atomic on POSIX: the version appears whole or not at all
                _fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return AdapterRef(name, version, final)

    @staticmethod
    def _clean_stale(folder: Path) -> None:
        """Delete temporary folders left by saves whose process died (killed mid-save)."""
        for child in folder.glob(".tmp-*"):
            try:
                pid = int(child.name.split("-")[1])
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(child, ignore_errors=True)
            except (ValueError, IndexError, PermissionError):
                continue

    def remove(self, ref: str) -> builtins.list[AdapterRef]:
        """Delete one version (``name@N``) or every version of ``name``."""
        name, version = parse_ref(ref)
        targets = (
            [self.resolve(f"{name}@{version}")]
            if version
            else [self.resolve(f"{name}@{v}") for v in self.versions(name)]
        )
        if not targets:
            self.resolve(name)  # raises the not-found error
        with self._lock():
            for target in targets:
                trash = target.path.with_name(f".trash-{uuid.uuid4().hex}")
                os.rename(target.path, trash)  # disappears atomically, then is deleted
                shutil.rmtree(trash, ignore_errors=True)
            if not self.versions(name):
                shutil.rmtree(self.root / name, ignore_errors=True)
        return targets
