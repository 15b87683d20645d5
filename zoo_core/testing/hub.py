"""Lay files out exactly as huggingface_hub's cache does, to test the Hub code path offline."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def add_to_hub_cache(
    cache_dir: str | Path,
    repo_id: str,
    files: dict[str, str | Path],
    revision: str = "0123456789abcdef0123456789abcdef01234567",
) -> Path:
    """Put ``{filename: local_file}`` into ``cache_dir`` as the Hub would: blobs named by sha256,
    snapshot symlinks, ``refs/main``. Returns the snapshot folder."""
    repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    blobs, snapshot = repo / "blobs", repo / "snapshots" / revision
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    for filename, source in files.items():
        digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
        blob = blobs / digest
        if not blob.exists():
            shutil.copyfile(source, blob)
        link = snapshot / filename
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        os.symlink(os.path.relpath(blob, link.parent), link)
    return snapshot
