"""State-dict converters for timm architectures whose published weights use other key names."""

from __future__ import annotations

import torch


def pair_by_order(state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``state``'s keys to ``reference``'s, pairing them in order; every shape must match.

    Safe only for implementations that register the same tensors in the same order, which is
    checked tensor by tensor: any count or shape mismatch raises.
    """
    if len(state) != len(reference):
        raise ValueError(f"cannot pair state dicts: {len(state)} tensors vs {len(reference)} expected")
    converted = {}
    for (src_key, tensor), (dst_key, ref) in zip(state.items(), reference.items()):
        if tuple(tensor.shape) != tuple(ref.shape):
            raise ValueError(f"cannot pair '{src_key}' {tuple(tensor.shape)} with '{dst_key}' {tuple(ref.shape)}")
        converted[dst_key] = tensor
    return converted


def efficientnet_lite_from_lukemelas(state: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    """EfficientNet-Lite weights in lukemelas/EfficientNet-PyTorch key names -> timm's
    ``tf_efficientnet_lite*`` (same tensors in the same order; ``_fc`` is timm's ``classifier``)."""
    import timm

    with torch.device("meta"):
        reference = timm.create_model(arch, pretrained=False).state_dict()
    return pair_by_order(state, reference)
