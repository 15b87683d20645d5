"""Datasets and DataLoaders over raw items (image paths, texts) and over cached feature tensors.

Every item is decoded through :func:`load_item`: a file that cannot be decoded (a truncated JPEG),
or an image above the pixel limit, is a one-line :class:`ItemLoadError` naming the file, in the
main process and from DataLoader workers alike.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from zoo_core.data import image_header_size, max_image_pixels, pixel_limit_reason
from zoo_core.errors import DataError


class ItemLoadError(DataError):
    """An item (an image file, most often) could not be decoded; the message names it.

    torch re-raises an exception from a DataLoader worker as ``type(exc)(message)`` where the message
    is "Caught ... in DataLoader worker process N. Original Traceback ..." followed by the whole
    traceback; this class takes back its own one line from the end of that text, so the user sees
    the same message whether the item was decoded in a worker or not.
    """

    def __init__(self, message: str = "", *args: Any):
        if "Original Traceback" in message:
            last = message.rstrip().rpartition("\n")[2]
            message = last.partition(": ")[2] or " ".join(message.split())
        super().__init__(message, *args)


def _describe(item: Any) -> str:
    text = os.fspath(item) if isinstance(item, (str, os.PathLike)) else repr(item)
    text = " ".join(str(text).split())
    return text if len(text) <= 120 else text[:117] + "..."


def load_item(load: Callable[[Any], Any], item: Any) -> Any:
    """``load(item)``, with PIL's pixel limit set to :func:`~zoo_core.data.max_image_pixels`; any
    failure to decode becomes an :class:`ItemLoadError` naming the item."""
    from PIL import Image

    try:
        limit = max_image_pixels()
    except DataError as error:  # a bad ZOO_MAX_IMAGE_PIXELS: the same one line from a DataLoader worker
        raise ItemLoadError(str(error)) from None
    saved = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # PIL warns above MAX_IMAGE_PIXELS and raises above twice that: refuse both, with our message.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = limit
            return load(item)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        size = image_header_size(item)
        reason = pixel_limit_reason(*size, limit) if size and limit else "image above the pixel limit"
        raise ItemLoadError(f"{_describe(item)}: {reason}") from None
    except FileNotFoundError:
        raise ItemLoadError(
            f"{_describe(item)}: no such file any more (moved or deleted after the data was read?); "
            "put it back, or load the data again"
        ) from None
    except ItemLoadError:
        raise
    except Exception as error:  # decoders raise OSError, SyntaxError, ValueError, struct.error... on bad bytes
        detail = " ".join(str(error).split()) or "no detail"
        raise ItemLoadError(
            f"{_describe(item)}: cannot decode it ({type(error).__name__}: {detail}); replace or remove the file"
        ) from error
    finally:
        Image.MAX_IMAGE_PIXELS = saved


class ItemDataset(torch.utils.data.Dataset):
    """Raw items decoded by ``load`` (in DataLoader workers); with ``labels``, ``(input, label)`` pairs."""

    def __init__(self, items: Sequence[Any], load: Callable[[Any], Any], labels: Sequence[int] | None = None):
        self.items, self.load = list(items), load
        self.labels = list(labels) if labels is not None else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        loaded = load_item(self.load, self.items[index])
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
