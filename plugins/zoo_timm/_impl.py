"""timm backbones (heavy: imports torch and timm)."""

from __future__ import annotations

from typing import Any

import timm
import torch
from PIL import Image
from torch import nn
from torchvision import transforms

from zoo_core.engine.backbone import Backbone, Preprocessor
from zoo_core.errors import WeightsError, ZooError
from zoo_core.specs import load_object
from zoo_core.weights import load_state_dict, weights_error

_INTERPOLATION = {
    "bilinear": transforms.InterpolationMode.BILINEAR,
    "bicubic": transforms.InterpolationMode.BICUBIC,
    "nearest": transforms.InterpolationMode.NEAREST,
}
_DEFAULT_INPUT = {
    "size": [3, 224, 224],
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "interpolation": "bicubic",
    "crop_pct": 0.875,
}


#: Train-time augmentation presets, each built by timm's ``create_transform`` (the evaluation
#: transform is the same for all). Every preset starts with a random-resized crop and a horizontal
#: flip; ``None`` is the evaluation transform, unaugmented.
AUGMENTATIONS: dict[str, dict[str, Any] | None] = {
    "light": {},
    # RandAugment as timm trains its ImageNet models: two ops per image, magnitude 9 +- 0.5.
    "randaugment": {"auto_augment": "rand-m9-mstd0.5-inc1"},
    # TrivialAugment (Mueller & Hutter, 2021): one op per image, always applied, at a magnitude drawn
    # uniformly (timm's RandAugment with n1, p1 and mstd above 100).
    "trivialaugment": {"auto_augment": "rand-n1-m10-mstd101-p1-inc1"},
    "none": None,
}
#: The smallest crop, as a fraction of the image's area: timm's ImageNet default (0.08) cuts most of
#: a small or low-resolution image away, so the crop keeps at least 60% of it.
DEFAULT_CROP_SCALE = 0.6


class ImagePreprocessor(Preprocessor):
    """Loads an image (path or PIL) as RGB and applies timm-style eval or train transforms.

    Train: the ``augment`` preset (:data:`AUGMENTATIONS`) through timm's ``create_transform``, with a
    random-resized crop keeping ``crop_scale`` to 100% of the area and a flip with probability ``hflip``.
    """

    def __init__(
        self,
        input_cfg: dict[str, Any],
        train: bool,
        *,
        augment: str = "light",
        hflip: float = 0.5,
        crop_scale: float = DEFAULT_CROP_SCALE,
    ):
        self.input_cfg = dict(input_cfg)
        self.train = train
        self.augmentation = {"augment": augment, "hflip": hflip, "crop_scale": crop_scale}
        size = int(input_cfg["size"][-1])
        interpolation = _INTERPOLATION[input_cfg.get("interpolation") or "bicubic"]
        normalize = transforms.Normalize(input_cfg["mean"], input_cfg["std"])
        preset = AUGMENTATIONS[augment]
        if train and preset is not None:
            from timm.data import create_transform

            self.transform = create_transform(
                size,
                is_training=True,
                scale=(crop_scale, 1.0),
                hflip=hflip,
                color_jitter=None,  # RandAugment and TrivialAugment have their own colour ops
                interpolation=input_cfg.get("interpolation") or "bicubic",
                mean=tuple(input_cfg["mean"]),
                std=tuple(input_cfg["std"]),
                **preset,
            )
        else:
            crop_pct = input_cfg.get("crop_pct") or 1.0
            self.transform = transforms.Compose(
                [
                    transforms.Resize(int(round(size / crop_pct)), interpolation=interpolation),
                    transforms.CenterCrop(size),
                    transforms.ToTensor(),
                    normalize,
                ]
            )

    def load(self, item: Any) -> torch.Tensor:
        if isinstance(item, Image.Image):
            image = item
        else:
            with Image.open(item) as handle:
                image = handle.convert("RGB")
        return self.transform(image.convert("RGB"))

    def collate(self, samples):
        return torch.stack(list(samples))

    def config(self) -> dict[str, Any]:
        return {"kind": "image", "train": self.train, **self.input_cfg, **(self.augmentation if self.train else {})}


class TimmBackbone(Backbone):
    modality = "image"

    def __init__(
        self, model: nn.Module, entry: Any, input_cfg: dict[str, Any], augmentation: dict[str, Any] | None = None
    ):
        with torch.no_grad():
            probe = model.forward_head(model.forward_features(torch.zeros(1, *input_cfg["size"])), pre_logits=True)
        super().__init__(model, probe.shape[-1], entry)
        self.input_cfg = input_cfg
        self.augmentation = dict(augmentation or {})
        if hasattr(model, "forward_intermediates"):
            self.FEATURE_KINDS = ("last", "multilevel")

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        if self.features == "multilevel":
            final, levels = self.model.forward_intermediates(batch)
            pooled = [level.mean((2, 3)) if level.ndim == 4 else level.mean(1) for level in levels]
            return torch.cat([*pooled, self.model.forward_head(final, pre_logits=True)], dim=1)
        return self.model.forward_head(self.model.forward_features(batch), pre_logits=True)

    def level_widths(self) -> list[int]:
        _, levels = self.model.forward_intermediates(torch.zeros(1, *self.input_cfg["size"]))
        return [level.shape[1] if level.ndim == 4 else level.shape[-1] for level in levels] + [self._last_width]

    def preprocessor(self, train: bool = False) -> Preprocessor:
        return ImagePreprocessor(self.input_cfg, train, **self.augmentation)

    def default_lora_targets(self) -> list[str]:
        # Attention models: the qkv and output projections. ConvNets: 1x1 (pointwise) convs and
        # linear layers inside the blocks; depthwise and strided kxk convs are left alone.
        names = []
        for name, module in self.model.named_modules():
            if not name or name.startswith(("head", "classifier", "fc.")) or name in {"fc", "head"}:
                continue
            if isinstance(module, nn.Linear) and any(t in name for t in ("qkv", "attn.proj", "mlp.fc")):
                names.append(name)
            elif isinstance(module, nn.Conv2d) and module.groups == 1 and module.kernel_size == (1, 1):
                names.append(name)
        if not names:
            names = [n for n, m in self.model.named_modules() if isinstance(m, nn.Linear)]
        return names


def _load_state(path, fmt: str, entry: Any = None) -> dict[str, torch.Tensor]:
    """Plain tensors only; a refused file is one WeightsError naming it, ``entry`` and the reason."""
    return load_state_dict(path, fmt, entry=entry)


def create_backbone(
    entry,
    weights,
    *,
    pretrained: bool = True,
    image_size: int | None = None,
    crop_pct: float | None = None,
    drop_rate: float = 0.0,
    augment: str = "light",
    hflip: float = 0.5,
    crop_scale: float = DEFAULT_CROP_SCALE,
    **options: Any,
) -> TimmBackbone:
    """Build ``entry.arch`` from timm, load (and convert) the verified weights, drop the source head.

    ``image_size`` and ``crop_pct`` override the catalog's input spec for evaluation transforms;
    ``augment`` (a preset of :data:`AUGMENTATIONS`), ``hflip`` (flip probability: 0 for digits or
    text in images) and ``crop_scale`` (the smallest random crop, as a fraction of the area) set
    the training transform.
    """
    augmentation = augmentation_options(augment, hflip, crop_scale)
    model = timm.create_model(entry.arch, pretrained=False, num_classes=0, drop_rate=drop_rate)
    if pretrained:
        if weights is None:
            raise WeightsError(f"no weights resolved for '{entry.id}'")
        state = _load_state(weights.file, weights.format, entry)
        if weights.source.get("converter"):
            # weights.converter: the import string the family registered under the catalog's name.
            if not weights.converter:
                raise WeightsError(
                    f"'{entry.id}' needs key converter '{weights.source['converter']}', which was not looked up: "
                    "build it with zoo_core.engine.model.build_backbone"
                )
            try:
                state = load_object(weights.converter)(state, entry.arch)
            except ValueError as exc:  # the converter's own check: counts or shapes do not pair
                raise weights_error(weights.file, entry, f"it does not fit {entry.arch}: {exc}") from exc
        head_keys = {
            k for k in state if k.split(".")[0] in {"fc", "classifier", "head"} and k not in model.state_dict()
        }
        source_head = _source_head({k: state[k] for k in head_keys}, entry)
        state = {k: v for k, v in state.items() if k not in head_keys}
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # size mismatches: torch lists them over several lines
            raise weights_error(
                weights.file, entry, f"it does not fit {entry.arch}: {' '.join(str(exc).split())[:300]}"
            ) from exc
        if result.missing_keys or result.unexpected_keys:
            raise weights_error(
                weights.file,
                entry,
                f"it does not fit {entry.arch}: missing {result.missing_keys[:3]}, "
                f"unexpected {result.unexpected_keys[:3]}",
            )
    input_cfg = dict(entry.input or _DEFAULT_INPUT)
    if image_size:
        input_cfg["size"] = [3, int(image_size), int(image_size)]
    if crop_pct:
        input_cfg["crop_pct"] = float(crop_pct)
    model.eval()
    backbone = TimmBackbone(model, entry, input_cfg, augmentation)
    if pretrained and source_head is not None and source_head[0].shape[1] == backbone.num_features:
        backbone.source_head = source_head
    return backbone


def augmentation_options(augment: Any, hflip: Any, crop_scale: Any) -> dict[str, Any]:
    """The training-transform settings, checked: one ZooError line naming the bad option."""
    if augment not in AUGMENTATIONS:
        raise ZooError(f"augment: unknown preset '{augment}'; choose one of {', '.join(AUGMENTATIONS)}")
    for name, value, low_open in (("hflip", hflip, False), ("crop_scale", crop_scale, True)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ZooError(f"{name}: expected a number between 0 and 1, got {value!r}")
        if not (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0):
            raise ZooError(f"{name}: must be {'above 0 and at most' if low_open else 'between 0 and'} 1, got {value}")
    return {"augment": augment, "hflip": float(hflip), "crop_scale": float(crop_scale)}


def _source_head(head: dict[str, torch.Tensor], entry) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The classifier's weight and bias, when the dropped head is exactly one linear layer of the
    catalog's declared source classes. A head with more in it (a norm before the linear layer, an
    MLP) does not act on the pooled features alone, so it is not used."""
    declared = (getattr(entry, "source_head", None) or {}).get("num_classes")
    weight_key = next((k for k in head if k.endswith("weight")), "")
    weight, bias = head.get(weight_key), head.get(weight_key[: -len("weight")] + "bias")
    if len(head) != 2 or weight is None or bias is None or weight.ndim != 2 or weight.shape[0] != declared:
        return None
    return weight.detach().float().clone(), bias.detach().float().clone()
