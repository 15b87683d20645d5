"""Multi-scale feature maps from a zoo backbone, for object detection and semantic segmentation.

:func:`feature_maps_of` wraps the backbone's own module (``backbone.model``), so a detector or a
segmenter trains the very parameters the classification backbone has: a PEFT method that injected
LoRA into ``backbone.model`` still applies, and freezing the backbone freezes the same tensors.

A family gives feature maps when its module follows timm's API: ``feature_info`` (channels and
stride of every level) and ``forward_intermediates(x, indices=..., intermediates_only=True)`` (timm
1.0; every timm entry in the catalog has both). Any other family (the ``hf`` text family) is
refused with one :class:`~zoo_core.errors.ZooError` line.

Levels are picked by stride: for each wanted stride the deepest level at that stride. A plain ViT
(one stride for all blocks, 16 or 14) has no pyramid; its last block is resampled into one, the
"simple feature pyramid" of ViTDet (Li et al., 2022): bilinear up, max-pool down, the FPN after it
learning the rest. Every level is brought to exactly ``ceil(input / stride)`` cells (inception's
unpadded convolutions are a cell or two short), so decoders that upsample by 2 line up.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.errors import ZooError

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _name(backbone: Any) -> str:
    entry = getattr(backbone, "entry", None)
    family = getattr(entry, "family", None) or type(backbone).__name__
    return f"'{getattr(entry, 'id', '?')}' ({family} family)"


def _levels(model: nn.Module) -> list[dict[str, Any]]:
    info = getattr(model, "feature_info", None)
    if info is None:
        return []
    if hasattr(info, "info"):  # timm.models.FeatureInfo (a features_only model)
        info = info.info
    return [dict(level) for level in info if "num_chs" in level and "reduction" in level]


def supports_feature_maps(backbone: Any) -> bool:
    """True when :func:`feature_maps_of` can wrap ``backbone``."""
    model = getattr(backbone, "model", None)
    return (
        getattr(backbone, "modality", None) == "image"
        and model is not None
        and hasattr(model, "forward_intermediates")
        and bool(_levels(model))
    )


class FeatureMaps(nn.Module):
    """``images [B, 3, H, W] -> OrderedDict("0": stride strides[0], "1": ...)`` from the backbone's module.

    ``strides`` and ``channels`` give each output level's stride and width; ``indices`` the
    backbone levels taken (``forward_intermediates`` indices); ``pyramid`` is True when the levels
    are resampled from the last one (plain ViTs). ``fixed_size`` is ``(H, W)`` for models that only
    take their pre-training size (ViT, Swin, BEiT), else None. Normalisation is the caller's.

    ``freeze_norm`` (default True) keeps the backbone's BatchNorm layers in eval mode when the
    module trains: detection and segmentation batches are a few images, too few for batch
    statistics (torchvision's detection backbones freeze them the same way). Their affine weights
    still train when the backbone does.
    """

    def __init__(self, backbone: Any, strides: Sequence[int] = (8, 16, 32), *, freeze_norm: bool = True):
        super().__init__()
        if not supports_feature_maps(backbone):
            raise ZooError(
                f"{_name(backbone)} gives no feature maps, which object detection and segmentation need: "
                "use an image model of the timm family (e.g. efficientnet-lite0 or resnet50)"
            )
        self.backbone = backbone  # a submodule: its parameters are the detector's, shared with the classifier
        self.freeze_norm = freeze_norm
        model: nn.Module = backbone.model
        levels = _levels(model)
        reductions = [int(level["reduction"]) for level in levels]
        wanted = [int(s) for s in strides]
        picked = []
        for stride in wanted:
            at = [i for i, r in enumerate(reductions) if r == stride]
            if not at:
                break
            picked.append(at[-1])
        self.pyramid = len(picked) < len(wanted)
        if self.pyramid:
            # No level at some wanted stride: resample the last level (ViTDet's simple feature pyramid).
            last = len(levels) - 1
            self.indices = [last]
            self.channels = [int(levels[last]["num_chs"])] * len(wanted)
        else:
            self.indices = picked
            self.channels = [int(levels[i]["num_chs"]) for i in picked]
        self.strides = wanted
        self.fixed_size = _fixed_size(backbone)
        # Patch models that take any size still need a multiple of the patch: pad right and bottom.
        patch = getattr(getattr(model, "patch_embed", None), "patch_size", None) or (1, 1)
        self.multiple = (int(patch[0]), int(patch[1])) if self.fixed_size is None else (1, 1)

    def train(self, mode: bool = True) -> FeatureMaps:
        super().train(mode)
        if mode and self.freeze_norm:
            for module in self.backbone.modules():
                if isinstance(module, _NORMS):
                    module.eval()
        return self

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        height, width = images.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple[0], (-width) % self.multiple[1]
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h))
        maps = self.backbone.model.forward_intermediates(
            images, indices=self.indices, intermediates_only=True, stop_early=True
        )
        if self.pyramid:
            maps = [maps[-1]] * len(self.strides)
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for k, (stride, level) in enumerate(zip(self.strides, maps)):
            out[str(k)] = _resized(level, (math.ceil(height / stride), math.ceil(width / stride)))
        return out


def _resized(level: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    have = tuple(level.shape[-2:])
    if have == size:
        return level
    if have[0] >= 2 * size[0] and have[1] >= 2 * size[1] and have[0] % size[0] == 0 and have[1] % size[1] == 0:
        return F.max_pool2d(level, kernel_size=(have[0] // size[0], have[1] // size[1]))
    return F.interpolate(level, size=size, mode="bilinear", align_corners=False)


def _fixed_size(backbone: Any) -> tuple[int, int] | None:
    """``(H, W)`` when the model asserts its input size (timm's patch embedding with a strict size)."""
    model = backbone.model
    embed = getattr(model, "patch_embed", None)
    if embed is None or getattr(model, "dynamic_img_size", False) or not getattr(embed, "strict_img_size", False):
        return None
    size = getattr(embed, "img_size", None)
    if size is None:
        size = backbone.input_cfg["size"][-2:]
    return int(size[0]), int(size[1])


def feature_maps_of(backbone: Any, strides: Sequence[int] = (8, 16, 32), *, freeze_norm: bool = True) -> FeatureMaps:
    """The backbone's feature maps at ``strides``; a family that has none raises ZooError (one line)."""
    return FeatureMaps(backbone, strides, freeze_norm=freeze_norm)


def image_stats(backbone: Any) -> tuple[list[float], list[float]]:
    """The (mean, std) the backbone was pre-trained with, from its preprocessing config."""
    config = getattr(backbone, "input_cfg", None) or backbone.preprocessor(train=False).config()
    mean = [float(v) for v in config.get("mean") or (0.485, 0.456, 0.406)]
    std = [float(v) for v in config.get("std") or (0.229, 0.224, 0.225)]
    return mean, std


def set_backbone_trainable(backbone: nn.Module, trainable: bool | None) -> None:
    """True: train every backbone parameter; False: freeze them all; None: leave them as they are
    (what an adaptation method such as LoRA already chose)."""
    if trainable is None:
        return
    for param in backbone.parameters():
        param.requires_grad_(trainable)


def load_image(item: Any):
    """An RGB PIL image from a path or a PIL image."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    with Image.open(item) as handle:
        return handle.convert("RGB")


def to_tensor(image) -> torch.Tensor:
    """PIL RGB -> float tensor ``[3, H, W]`` in 0-1."""
    import numpy as np

    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)
