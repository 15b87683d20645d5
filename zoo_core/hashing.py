"""sha256 of files, streamed and memoised within the process (torch-free)."""

from __future__ import annotations

import hashlib
import os

_CHUNK = 1 << 20

# sha256 per (resolved path, size, mtime_ns, ctime_ns, inode): hashing the same file twice in one
# process (a dataset fingerprinted for training and again for the manifest, weights verified per
# model build) reads it once. ctime and inode catch a rewrite that keeps the size and mtime (a
# copy with preserved times, a file replaced by rename).
_hash_memo: dict[tuple[str, int, int, int, int], str] = {}


def _key(resolved: str) -> tuple[str, int, int, int, int]:
    stat = os.stat(resolved)
    return (resolved, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes; raises OSError when it cannot be read.

    Memoised on the file's resolved path, size, mtime, ctime and inode; a file that changed while
    it was read is hashed again next time rather than remembered.
    """
    resolved = os.path.realpath(path)
    key = _key(resolved)
    cached = _hash_memo.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with open(resolved, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    if _key(resolved) == key:
        _hash_memo[key] = value
    return value


def clear_sha256_memo() -> None:
    """Forget every memoised hash (for tests that rewrite a file in place within the same mtime tick)."""
    _hash_memo.clear()
