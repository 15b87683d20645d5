"""``--format timm``: the adapter merged into the architecture's weights, saved by timm's ``save_for_hf``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo_core.engine.deploy.common import (
    _Adapter,
    _compare,
    _copy_card,
    _hooked,
    _linear_head,
    _merge_or_refuse,
    _open,
    _staging,
    _write_record,
)
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterStore

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo


def export_timm(ref: str, out: str | Path, *, zoo: Zoo | None = None, store: AdapterStore | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (timm's Hub format, by ``timm.models.save_for_hf``)
    so that ``timm.create_model("local-dir:DIR", pretrained=True)`` gives the adapter's logits."""
    import timm
    from timm.models import save_for_hf

    out = Path(out)
    adapter = _open(ref, "timm", out, zoo, store)
    backbone: Any = adapter.net.backbone  # zoo_timm's TimmBackbone
    if backbone.features != "last":
        raise AdapterError(
            f"adapter {adapter.ref} classifies {backbone.features} features (every stage pooled: the linear_probe "
            "default), which a timm classifier cannot express; train with -o features=last, or use --format onnx"
        )
    fc = _linear_head(adapter, "timm")
    _merge_or_refuse(adapter, "timm")
    base = adapter.metadata["base_model"]
    arch = base.get("arch") or backbone.entry.arch
    labels = adapter.labels
    model: Any = timm.create_model(arch, pretrained=False, num_classes=len(labels))
    classifier = model.get_classifier()
    name = next((n for n, m in model.named_modules() if m is classifier), None)
    if not isinstance(classifier, nn.Linear) or name is None or classifier.in_features != fc.in_features:
        raise AdapterError(
            f"adapter {adapter.ref}: timm's classifier for {arch} is {type(classifier).__name__}, not one linear "
            f"layer on the {fc.in_features} pooled features zoo's head reads; use --format onnx"
        )
    state = {k: v.detach().clone() for k, v in backbone.model.state_dict().items()}
    state[f"{name}.weight"] = fc.weight.detach().clone()
    state[f"{name}.bias"] = fc.bias.detach().clone()
    result = model.load_state_dict(state, strict=False)
    odd = list(result.unexpected_keys) + list(result.missing_keys)
    if odd or _hooked(backbone.model):
        where = odd[0] if odd else _hooked(backbone.model)[0]
        raise AdapterError(
            f"adapter {adapter.ref}: its {adapter.metadata['method']['name']} adapter adds modules or hooks that "
            f"timm's {arch} does not have (e.g. {where}); use --format onnx, which exports them"
        )
    model.eval()
    config = backbone.preprocessor(train=False).config()
    size = int(config["size"][-1])
    data_config: dict[str, Any] = {
        "input_size": (3, size, size),
        "mean": tuple(config["mean"]),
        "std": tuple(config["std"]),
        "interpolation": config.get("interpolation") or "bicubic",
        "crop_pct": float(config.get("crop_pct") or 1.0),
        "crop_mode": "center",
    }
    with _staging(out) as tmp:
        try:
            save_for_hf(
                model, str(tmp), model_config={"label_names": labels}, safe_serialization=True, data_config=data_config
            )
        except ValueError as exc:  # timm refuses input sizes a fixed-size model cannot take
            raise AdapterError(
                f"adapter {adapter.ref}: timm cannot save {arch} with zoo's preprocessing: {exc}"
            ) from None
        checks = _check_timm(adapter, tmp)
        resize = int(round(size / data_config["crop_pct"]))
        if int(size / data_config["crop_pct"]) != resize:
            adapter.notes.append(
                f"timm's eval transform resizes to floor({size} / crop_pct) = {int(size / data_config['crop_pct'])}, "
                f"zoo's to round(...) = {resize}: predictions through timm's transform may differ slightly"
            )
        usage = (
            "```python\nimport timm\n"
            "model = timm.create_model('local-dir:.', pretrained=True).eval()\n"
            "config = timm.data.resolve_data_config({}, model=model)\n"
            "transform = timm.data.create_transform(**config)\n```"
        )
        _copy_card(adapter, tmp, usage)
        _write_record(
            tmp,
            adapter,
            "timm",
            checks,
            architecture=arch,
            classifier=name,
            load=(
                f"timm.create_model('local-dir:DIR', pretrained=True), or timm.create_model('{arch}', pretrained=True, "
                f"num_classes={len(labels)}, pretrained_cfg_overlay=dict(file='DIR/model.safetensors', "
                f"num_classes={len(labels)}))"
            ),
        )
    return out


def _check_timm(adapter: _Adapter, folder: Path) -> dict[str, Any]:
    """Build the model from the folder with plain timm and compare on the samples."""
    import timm

    if not adapter.items:
        return _compare(adapter, adapter.expected, "timm", "")
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    prep = adapter.net.backbone.preprocessor(train=False)
    with torch.no_grad():
        logits = model(prep.collate([prep.load(item) for item in adapter.items]))
    return _compare(adapter, logits, "timm", "timm.create_model('local-dir:...', pretrained=True)")
