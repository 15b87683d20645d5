"""Extract pooled features from a frozen backbone, with an on-disk cache per item.

Features are cached per item (the sha256 of an image file's bytes, or of a text) under a folder
keyed by the model id, the weights' sha256, the preprocessing and the feature kind. Any later
call that meets the same items skips the backbone for them, whatever list they come in: another
train/validation split of the same folder, ``zoo recommend`` then ``zoo finetune``, ``zoo evaluate``.
Each call writes one shard (safetensors, the item digests in its metadata); shards are written
atomically and never modified, so concurrent runs can share the cache. Random-weight backbones
are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from zoo_core.engine.backbone import Backbone, batch_size_of, to_device
from zoo_core.engine.loaders import item_loader
from zoo_core.paths import cache_dir
from zoo_core.weights import sha256_file

CACHE_VERSION = 2


def item_digest(item: Any, modality: str = "image") -> str | None:
    """sha256 of an image file's bytes, of an in-memory image's RGB pixels, or of a text
    (byte-identical files share features); None for anything else (not cached).

    For text models every string is a text: asking the file system whether a review names a file
    fails outright for long ones (OSError: file name too long)."""
    if modality == "text":
        return hashlib.sha256(b"text\0" + item.encode("utf-8")).hexdigest() if isinstance(item, str) else None
    if isinstance(item, (str, os.PathLike)):
        try:
            return sha256_file(item) if Path(item).is_file() else None
        except (OSError, ValueError):
            return None
    if hasattr(item, "convert") and hasattr(item, "mode") and hasattr(item, "size"):  # a PIL image
        # The pixels the loader actually feeds the model (a palette image's indices alone are not).
        rgb = item.convert("RGB")
        return hashlib.sha256(f"image\0{rgb.size}\0".encode() + rgb.tobytes()).hexdigest()
    return None


def cache_key(backbone: Backbone) -> str | None:
    """The cache folder name for this backbone's features, or None (random weights: no cache)."""
    if backbone.weights_sha256 is None:
        return None
    entry_id = getattr(backbone.entry, "id", type(backbone).__name__)
    described = {
        "model": entry_id,
        "weights": backbone.weights_sha256,
        "preprocess": backbone.preprocessor(train=False).config(),
        "features": backbone.features,
        "v": CACHE_VERSION,
    }
    delta = getattr(backbone, "weights_delta_sha256", None)
    if delta is not None:  # weights changed after loading (--tapt-steps): never the pre-trained features
        described["delta"] = delta
    payload = json.dumps(
        described,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:40]


def _cached_rows(folder: Path, wanted: set[str]) -> dict[str, tuple[Path, int]]:
    """Where each wanted digest sits: (shard, row). Reads the shards' headers only."""
    from safetensors import safe_open

    found: dict[str, tuple[Path, int]] = {}
    if not folder.is_dir():
        return found
    for shard in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(shard), framework="pt") as handle:
                digests = json.loads((handle.metadata() or {}).get("items", "[]"))
        except Exception:
            continue
        for row, digest in enumerate(digests):
            if digest in wanted and digest not in found:
                found[digest] = (shard, row)
    return found


@torch.no_grad()
def _run_backbone(
    backbone: Backbone, items: Sequence[Any], batch_size: int, num_workers: int, progress: bool, desc: str
) -> torch.Tensor:
    prep = backbone.preprocessor(train=False)
    loader = item_loader(items, None, prep, batch_size=batch_size, num_workers=num_workers)
    was_training = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    chunks = []
    bar = _progress(len(items), desc) if progress else None
    for batch in loader:
        chunks.append(backbone(to_device(batch, device)).float().cpu())
        if bar is not None:
            bar.update(batch_size_of(batch))
    if bar is not None:
        bar.close()
    backbone.train(was_training)
    return torch.cat(chunks) if chunks else torch.zeros(0, backbone.num_features)


def extract_features(
    backbone: Backbone,
    items: Sequence[Any],
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    use_cache: bool = True,
    progress: bool = False,
    desc: str = "features",
) -> torch.Tensor:
    """Pooled features ``[len(items), num_features]`` (float32, CPU) in eval mode; the backbone runs
    only on items whose features are not cached yet."""
    key = cache_key(backbone) if use_cache else None
    if key is None:
        return _run_backbone(backbone, items, batch_size, num_workers, progress, desc)
    from safetensors.torch import load_file, save_file

    folder = cache_dir("features") / key
    maybe_digests = [item_digest(item, backbone.modality) for item in items]
    if not maybe_digests or None in maybe_digests:  # items we cannot fingerprint are never served from the cache
        return _run_backbone(backbone, items, batch_size, num_workers, progress, desc)
    digests = [digest for digest in maybe_digests if digest is not None]
    found = _cached_rows(folder, set(digests))
    missing: dict[str, Any] = {}
    for digest, item in zip(digests, items):
        if digest not in found and digest not in missing:
            missing[digest] = item
    rows: dict[str, torch.Tensor] = {}
    if missing:
        fresh = _run_backbone(backbone, list(missing.values()), batch_size, num_workers, progress, desc)
        rows.update(zip(missing, fresh))
        folder.mkdir(parents=True, exist_ok=True)
        shard = folder / f"{uuid.uuid4().hex}.safetensors"
        tmp = shard.with_suffix(f".tmp{os.getpid()}")
        save_file({"features": fresh.contiguous()}, str(tmp), metadata={"items": json.dumps(list(missing))})
        os.replace(tmp, shard)  # atomic: a concurrent reader never sees half a shard
    by_shard: dict[Path, list[str]] = {}
    for digest in set(digests) - set(rows):
        by_shard.setdefault(found[digest][0], []).append(digest)
    for shard, wanted in by_shard.items():
        stored = load_file(str(shard))["features"]
        rows.update((digest, stored[found[digest][1]]) for digest in wanted)
    return torch.stack([rows[digest] for digest in digests])


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", leave=False, dynamic_ncols=True)
