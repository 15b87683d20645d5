"""Datasets and DataLoaders over raw items (image paths, texts) and over cached feature tensors."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch


class ItemDataset(torch.utils.data.Dataset):
    """Raw items decoded by ``load`` (in DataLoader workers); with ``labels``, ``(input, label)`` pairs."""

    def __init__(self, items: Sequence[Any], load: Callable[[Any], Any], labels: Sequence[int] | None = None):
        self.items, self.load = list(items), load
        self.labels = list(labels) if labels is not None else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        loaded = self.load(self.items[index])
        return loaded if self.labels is None else (loaded, self.labels[index])


def single_thread_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers only decode and resize; with torch's default thread
    pool in each of them they fight the model for the same few cores (measured: 4x slower epochs
    on 2 cores)."""
    torch.set_num_threads(1)


def default_workers(modality: str) -> int:
    """Image decoding overlaps with compute in a worker; tokenising is cheap enough in-process."""
    return min(2, os.cpu_count() or 1) if modality == "image" else 0


def _collate_labelled(collate: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
    def collate_fn(samples: list[Any]) -> Any:
        inputs, labels = zip(*samples)
        return collate(list(inputs)), torch.tensor(labels, dtype=torch.long)

    return collate_fn


def item_loader(
    items: Sequence[Any],
    labels: Sequence[int] | None,
    preprocessor: Any,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> torch.utils.data.DataLoader:
    """Batches of ``preprocessor``-loaded items; ``(batch, labels)`` when ``labels`` are given."""
    return torch.utils.data.DataLoader(
        ItemDataset(items, preprocessor.load, labels),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=preprocessor.collate if labels is None else _collate_labelled(preprocessor.collate),
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=num_workers > 0 and labels is not None,
        worker_init_fn=single_thread_worker if num_workers else None,
    )


def feature_loader(
    features: torch.Tensor, labels: Sequence[int], *, batch_size: int, shuffle: bool = False, seed: int = 0
) -> torch.utils.data.DataLoader:
    """Batches of ``(features, labels)`` from a cached feature matrix."""
    dataset = torch.utils.data.TensorDataset(features, torch.tensor(list(labels), dtype=torch.long))
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed)
    )
