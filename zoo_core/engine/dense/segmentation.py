"""Semantic segmentation on a zoo backbone: segmentation_models_pytorch's FPN decoder, or torchvision's DeepLabV3 head.

The decoders are taken from established libraries, fed the backbone's own feature maps
(:func:`~zoo_core.engine.dense.features.feature_maps_of`, so LoRA injected into the backbone applies):

- ``decoder="fpn"`` (default): ``segmentation_models_pytorch``'s ``FPNDecoder`` (Kirillov et al.'s
  panoptic FPN head) and its ``SegmentationHead``. smp's models build their own encoder, but its
  decoders are plain modules that take a list of encoder maps and their channel counts, so they
  take any backbone whose maps sit at strides 4, 8, 16 and 32, which :class:`FeatureMaps` provides
  (exactly ``ceil(size / stride)`` cells; inputs are padded to a multiple of 32). It is the
  default because it uses four scales: sharper boundaries than a head on the deepest map alone.
- ``decoder="deeplabv3"``: torchvision's ``DeepLabHead`` (ASPP) on the deepest map (stride 32; a
  zoo backbone cannot be made dilated the way torchvision's ResNets are), its atrous rates scaled
  from (12, 24, 36) at stride 8 to (3, 6, 9) at stride 32 so they cover the same image extent.
  Its ASPP pooling branch has a BatchNorm over one pixel: train it with at least 2 images a batch.

Logits are upsampled (bilinear) to the input size. Images are normalised inside the model with the
backbone's pre-training mean and std: datasets give 0-1 tensors. Pixels at ``ignore_index`` count
in neither the loss (:func:`segmentation_loss`) nor the metrics.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.data.dense import SegmentationData, read_mask
from zoo_core.engine.dense.features import (
    FeatureMaps,
    feature_maps_of,
    image_stats,
    load_image,
    set_backbone_trainable,
    to_tensor,
)
from zoo_core.engine.dense.loop import MethodHooks, model_device, progress_bar, run_training_loop, start_training
from zoo_core.errors import ZooError

DECODERS = ("fpn", "deeplabv3")
DEFAULT_DECODER = "fpn"
#: CrossEntropyLoss's own "no ignore index" value.
NO_IGNORE = -100


class Segmenter(nn.Module):
    """``images [B, 3, H, W] in 0-1 -> logits [B, num_classes, H, W]``."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        features: FeatureMaps,
        decoder: nn.Module,
        head: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        num_classes: int,
        decoder_name: str,
        image_size: int,
        class_names: Sequence[str] | None,
        ignore_index: int | None,
    ):
        super().__init__()
        self.features = features
        self.decoder = decoder
        self.head = head
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.num_classes = num_classes
        self.decoder_name = decoder_name
        self.image_size = image_size
        self.class_names = list(class_names) if class_names is not None else None
        self.ignore_index = ignore_index

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        x = (images - self.mean) / self.std
        fixed = self.features.fixed_size
        if fixed is not None:
            x = F.interpolate(x, size=fixed, mode="bilinear", align_corners=False)
        else:
            pad_h, pad_w = (-height) % 32, (-width) % 32
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h))
        maps = list(self.features(x).values())
        if self.decoder_name == "fpn":
            logits = self.head(self.decoder(maps))
        else:
            logits = self.head(maps[-1])
        if fixed is not None:
            return F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits[..., :height, :width]


def build_segmenter(
    backbone: nn.Module,
    num_classes: int,
    *,
    decoder: str = DEFAULT_DECODER,
    freeze_backbone: bool | None = None,
    class_names: Sequence[str] | None = None,
    ignore_index: int | None = None,
    image_size: int = 256,
    pyramid_channels: int = 256,
    segmentation_channels: int = 128,
    dropout: float = 0.2,
) -> Segmenter:
    """A :class:`Segmenter` with ``decoder`` (``fpn``: smp's FPN decoder; ``deeplabv3``: torchvision's
    DeepLabHead) on ``backbone``'s feature maps.

    ``freeze_backbone``: True freezes it, False trains all of it, None leaves ``requires_grad`` as
    an adaptation method set it. ``image_size``: the side images are resized to for training (and
    the default for evaluation). ``class_names``/``ignore_index`` default to the training data's.
    """
    if decoder not in DECODERS:
        raise ZooError(f"unknown segmentation decoder '{decoder}'; choose one of {', '.join(DECODERS)}")
    if num_classes < 2:
        raise ZooError(f"semantic segmentation needs at least 2 classes (one may be background), got {num_classes}")
    if class_names is not None and len(class_names) != num_classes:
        raise ZooError(f"{len(class_names)} class names for {num_classes} classes")
    head: nn.Module
    decode: nn.Module
    if decoder == "fpn":
        from segmentation_models_pytorch.base import SegmentationHead
        from segmentation_models_pytorch.decoders.fpn.decoder import FPNDecoder

        features = feature_maps_of(backbone, (4, 8, 16, 32))
        decode = FPNDecoder(
            encoder_channels=features.channels,
            encoder_depth=3,
            pyramid_channels=pyramid_channels,
            segmentation_channels=segmentation_channels,
            dropout=dropout,
        )
        head = SegmentationHead(decode.out_channels, num_classes, kernel_size=1)
    else:
        from torchvision.models.segmentation.deeplabv3 import DeepLabHead

        features = feature_maps_of(backbone, (32,))
        decode = nn.Identity()
        head = DeepLabHead(features.channels[-1], num_classes, atrous_rates=(3, 6, 9))
    set_backbone_trainable(backbone, None if freeze_backbone is None else not freeze_backbone)
    mean, std = image_stats(backbone)
    return Segmenter(
        features,
        decode,
        head,
        mean,
        std,
        num_classes=num_classes,
        decoder_name=decoder,
        image_size=image_size,
        class_names=class_names,
        ignore_index=ignore_index,
    )


# ------------------------------------------------------------------------------------ data


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


class SegmentationDataset(torch.utils.data.Dataset):
    """``(image [3, h, w] in 0-1, mask int64 [H, W])``; mask values are class ids or the ignore index (kept).

    ``train``: image and mask resized to ``size`` (bilinear / nearest) and flipped at random, so
    that they batch. Otherwise only the image is resized: the mask stays at its own resolution,
    where :func:`evaluate_segmenter` scores the upsampled logits.
    """

    def __init__(self, data: SegmentationData, train: bool = False, *, size: int | Sequence[int] = 256):
        self.data = data
        self.train = train
        self.size = _size(size)

    def __len__(self) -> int:
        return len(self.data.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        item = self.data.items[i]
        image = load_image(item.image)
        mask = np.asarray(read_mask(item.mask), dtype=np.int64)
        width, height = self.size[1], self.size[0]
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        tensor = to_tensor(image)
        target = torch.from_numpy(mask.copy())
        if self.train:
            target = F.interpolate(target[None, None].float(), size=self.size, mode="nearest")[0, 0].long()
            if random.random() < 0.5:
                tensor, target = tensor.flip(-1), target.flip(-1)
        return tensor, target


def _collate_train(samples: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    images, masks = zip(*samples)
    return torch.stack(images), torch.stack(masks)


def _collate_eval(samples: Sequence[Any]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    images, masks = zip(*samples)
    return torch.stack(images), list(masks)


def segmentation_loss(logits: torch.Tensor, masks: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    """Cross-entropy averaged over the pixels that are not ``ignore_index``; 0 (with a gradient
    path) when every pixel is ignored, where the plain mean would be NaN."""
    ignore = NO_IGNORE if ignore_index is None else int(ignore_index)
    if not bool((masks != ignore).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, masks, ignore_index=ignore)


def _setup(model: Segmenter, data: SegmentationData) -> None:
    if model.class_names is None:
        if len(data.class_names) != model.num_classes:
            raise ZooError(
                f"{data.source} has {len(data.class_names)} classes but the segmenter was built for {model.num_classes}"
            )
        model.class_names = list(data.class_names)
        if model.ignore_index is None:
            model.ignore_index = data.ignore_index


def train_segmenter(
    model: Segmenter,
    train_data: SegmentationData,
    val_data: SegmentationData | None = None,
    *,
    epochs: int = 20,
    lr: float = 3e-4,
    batch_size: int = 8,
    size: int | Sequence[int] | None = None,
    seed: int = 0,
    weight_decay: float = 1e-4,
    warmup_steps: int | None = None,
    max_steps: int | None = None,
    clip_grad: float = 10.0,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    log: Callable[[str], None] | None = print,
    progress: bool | None = None,
    hooks: MethodHooks | None = None,
) -> dict[str, Any]:
    """Train the parameters of ``model`` that require grad with :func:`segmentation_loss`
    (cross-entropy, ``ignore_index`` left out). AdamW with linear warmup and cosine decay, as
    :func:`~zoo_core.engine.dense.detection.train_detector`. Returns ``{"steps", "losses",
    "epochs": [{"epoch", "loss", "seconds", "val"?}]}``; ``val`` holds :func:`evaluate_segmenter`'s metrics.
    """
    _setup(model, train_data)
    device = start_training(model, device, seed)
    size = size or model.image_size
    dataset = SegmentationDataset(train_data, train=True, size=size)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(dataset) > batch_size,  # no 1-image batch for BatchNorm in the head
        collate_fn=_collate_train,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )

    def batch_loss(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        images, masks = batch
        return segmentation_loss(model(images.to(device)), masks.to(device), model.ignore_index)

    def evaluate() -> dict[str, Any]:
        assert val_data is not None
        return evaluate_segmenter(model, val_data, size=size, device=device, batch_size=batch_size)

    return run_training_loop(
        model,
        loader,
        batch_loss,
        task="segmentation",
        model_noun="segmenter",
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        max_steps=max_steps,
        clip_grad=clip_grad,
        evaluate=evaluate if val_data is not None else None,
        val_metric=("mIoU", "miou"),
        log=log,
        progress=progress,
        hooks=hooks,
    )


@torch.no_grad()
def _predict(model: Segmenter, images: torch.Tensor, sizes: Sequence[tuple[int, int]], device: torch.device):
    model.eval()
    logits = model(images.to(device))
    out = []
    for k, (height, width) in enumerate(sizes):
        full = F.interpolate(logits[k : k + 1], size=(height, width), mode="bilinear", align_corners=False)
        out.append(full[0].argmax(0).cpu())
    return out


def evaluate_segmenter(
    model: Segmenter,
    data: SegmentationData,
    *,
    size: int | Sequence[int] | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """mIoU, per-class IoU, pixel accuracy, mean class accuracy (:func:`zoo_core.dense_metrics.segmentation_metrics`)
    at each mask's own resolution, ``ignore_index`` pixels left out; plus ``seconds_per_image``."""
    from zoo_core.dense_metrics import SegmentationConfusion, segmentation_metrics

    _setup(model, data)
    names = model.class_names or list(data.class_names)
    ignore = model.ignore_index if model.ignore_index is not None else data.ignore_index
    device = model_device(model, device)
    dataset = SegmentationDataset(data, train=False, size=size or model.image_size)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=_collate_eval)
    confusion = SegmentationConfusion(len(names), ignore)
    start = time.perf_counter()
    for images, masks in progress_bar(loader, progress, len(loader), "evaluate"):
        for pred, mask in zip(_predict(model, images, [tuple(m.shape) for m in masks], device), masks):
            confusion.update(pred, mask)
    seconds = time.perf_counter() - start
    result = segmentation_metrics(confusion, names, ignore)
    result["seconds_per_image"] = seconds / max(1, len(dataset))
    return result


def predict_masks(
    model: Segmenter,
    images: Sequence[Any],
    *,
    size: int | Sequence[int] | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> list[np.ndarray]:
    """A class-id mask (``int64 [H, W]``, each image's own size) per image (a path or a PIL image)."""
    from PIL import Image

    height, width = _size(size or model.image_size)
    device = model_device(model, device)
    masks: list[np.ndarray] = []
    for first in range(0, len(images), batch_size):
        pils = [load_image(image) for image in images[first : first + batch_size]]
        batch = torch.stack([to_tensor(p.resize((width, height), Image.Resampling.BILINEAR)) for p in pils])
        sizes = [(p.height, p.width) for p in pils]
        masks.extend(m.numpy() for m in _predict(model, batch, sizes, device))
    return masks
