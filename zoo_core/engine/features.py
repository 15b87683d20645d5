"""Extract pooled features from a frozen backbone, with an on-disk cache.

The cache key covers the model id, the weights' sha256, the preprocessing and the items (image
bytes or texts), so a second run on the same data skips the backbone entirely. Random-weight
backbones are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from zoo_core.engine.backbone import Backbone, batch_size_of, to_device
from zoo_core.paths import cache_dir
from zoo_core.weights import sha256_file


def items_digest(items: Sequence[Any]) -> str:
    digest = hashlib.sha256()
    for item in items:
        if isinstance(item, (str, os.PathLike)) and Path(item).is_file():
            digest.update(b"file\0" + sha256_file(item).encode())
        else:
            digest.update(b"text\0" + str(item).encode("utf-8") + b"\0")
    return digest.hexdigest()


def cache_key(backbone: Backbone, items: Sequence[Any]) -> str | None:
    if backbone.weights_sha256 is None:
        return None
    entry_id = getattr(backbone.entry, "id", type(backbone).__name__)
    payload = json.dumps({"model": entry_id, "weights": backbone.weights_sha256,
                          "preprocess": backbone.preprocessor(train=False).config(),
                          "items": items_digest(items), "v": 1,
                          **({"features": backbone.features} if backbone.features != "last" else {})},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:40]


class _Items(torch.utils.data.Dataset):
    def __init__(self, items, load):
        self.items, self.load = list(items), load

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.load(self.items[index])


@torch.no_grad()
def extract_features(backbone: Backbone, items: Sequence[Any], *, batch_size: int = 64, num_workers: int = 0,
                     use_cache: bool = True, progress: bool = False, desc: str = "features") -> torch.Tensor:
    """Pooled features ``[len(items), num_features]`` (float32, CPU) in eval mode."""
    key = cache_key(backbone, items) if use_cache else None
    path = cache_dir("features") / f"{key}.safetensors" if key else None
    if path is not None and path.exists():
        from safetensors.torch import load_file

        return load_file(str(path))["features"]
    prep = backbone.preprocessor(train=False)
    loader = torch.utils.data.DataLoader(_Items(items, prep.load), batch_size=batch_size, shuffle=False,
                                         num_workers=num_workers, collate_fn=prep.collate,
                                         worker_init_fn=_single_thread_worker if num_workers else None)
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
    features = torch.cat(chunks) if chunks else torch.zeros(0, backbone.num_features)
    if path is not None:
        from safetensors.torch import save_file

        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({"features": features.contiguous()}, str(tmp))
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return features


def _single_thread_worker(worker_id: int) -> None:
    torch.set_num_threads(1)  # decoding workers must not compete with the model for cores


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", leave=False, dynamic_ncols=True)
