"""``--format transformers``: a text classifier folder with its own modeling file (zoo's pooling)."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

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

MODELING_FILE = "modeling_zoo.py"

_MODELING_TEMPLATE = '''"""A text classifier exported by transfer-zoo (zoo adapters export --format transformers).

The stock {encoder} encoder, zoo's pooling of its token features over the attention mask
(config.zoo_pooling: "cls" the first token, "mean" the mean of the real tokens, "last" the last
real token; config.zoo_features "multilevel": every layer pooled and concatenated, the last one
last), then one linear layer. Stock *ForSequenceClassification heads compute other features, so
this file is needed: load with trust_remote_code=True.
"""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import {config_class} as _EncoderConfig
from transformers import {encoder} as _Encoder
from transformers.modeling_outputs import SequenceClassifierOutput


class ZooTextClassifierConfig(_EncoderConfig):
    model_type = "{model_type}"


def pool(hidden, mask, how):
    if how == "cls":
        return hidden[:, 0]
    mask = mask.to(hidden.dtype)
    if how == "mean":
        return (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
    if how == "last":
        last = mask.shape[1] - 1 - mask.flip(1).argmax(1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"unknown pooling {{how!r}} (cls, mean or last)")


class ZooForSequenceClassification(PreTrainedModel):
    config_class = ZooTextClassifierConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    _supports_sdpa = {sdpa}
    _supports_flash_attn = {flash}
    _supports_flex_attn = {flex}
    _supports_attention_backend = {backend}

    def __init__(self, config):
        super().__init__(config)
        self.model = _Encoder(config)
        levels = config.num_hidden_layers if config.zoo_features == "multilevel" else 1
        self.classifier = nn.Linear(config.hidden_size * levels, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, labels=None, **inputs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs = {{k: v for k, v in inputs.items() if v is not None and k not in ("return_dict", "output_attentions")}}
        if self.config.zoo_features == "multilevel":
            inputs["output_hidden_states"] = True
            output = self.model(input_ids=input_ids, attention_mask=attention_mask, **inputs)
            levels = output.hidden_states[1:]
            features = torch.cat([pool(h, attention_mask, self.config.zoo_pooling) for h in levels], 1)
        else:
            output = self.model(input_ids=input_ids, attention_mask=attention_mask, **inputs)
            features = pool(output.last_hidden_state, attention_mask, self.config.zoo_pooling)
        logits = self.classifier(features)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)
'''

# Encoder config entries that describe the checkpoint, not the architecture: set anew for the export.
_CONFIG_DROPPED = {"model_type", "architectures", "transformers_version", "id2label", "label2id", "auto_map"}


def _import_file(path: Path) -> Any:
    name = f"_zoo_export_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # transformers looks classes' modules up while saving and loading
    spec.loader.exec_module(module)
    return module


def export_transformers(
    ref: str, out: str | Path, *, zoo: Zoo | None = None, store: AdapterStore | None = None
) -> Path:
    """Write a transformers folder (config.json with id2label/label2id and auto_map, model.safetensors,
    modeling_zoo.py, tokenizer files, README.md); load it with ``trust_remote_code=True``."""
    import transformers

    out = Path(out)
    adapter = _open(ref, "transformers", out, zoo, store)
    fc = _linear_head(adapter, "transformers")
    _merge_or_refuse(adapter, "transformers")
    backbone: Any = adapter.net.backbone  # zoo_hf's HFTextBackbone: model, tokenizer, pooling
    encoder = backbone.model
    encoder_class, config_class = type(encoder), type(encoder.config)
    for cls in (encoder_class, config_class):
        if getattr(transformers, cls.__name__, None) is not cls:
            raise AdapterError(
                f"adapter {adapter.ref}: its encoder class {cls.__name__} is not one transformers ships "
                "(custom code), so the export could not name it; use --format onnx"
            )
    with torch.device("meta"):
        stock = encoder_class(encoder.config)
    extra = sorted(set(encoder.state_dict()) ^ set(stock.state_dict()))
    if extra or _hooked(encoder):
        where = extra[0] if extra else _hooked(encoder)[0]
        raise AdapterError(
            f"adapter {adapter.ref}: its {adapter.metadata['method']['name']} adapter adds modules or hooks that "
            f"{encoder_class.__name__} does not have (e.g. {where}); use --format onnx, which exports them"
        )
    labels = adapter.labels
    with _staging(out) as tmp:
        source = _MODELING_TEMPLATE.format(
            encoder=encoder_class.__name__,
            config_class=config_class.__name__,
            model_type=f"zoo_{encoder.config.model_type}".replace("-", "_"),
            sdpa=bool(getattr(encoder_class, "_supports_sdpa", False)),
            flash=bool(getattr(encoder_class, "_supports_flash_attn", False)),
            flex=bool(getattr(encoder_class, "_supports_flex_attn", False)),
            backend=bool(getattr(encoder_class, "_supports_attention_backend", False)),
        )
        (tmp / MODELING_FILE).write_text(source)
        module = _import_file(tmp / MODELING_FILE)
        try:
            settings = {k: v for k, v in encoder.config.to_dict().items() if k not in _CONFIG_DROPPED}
            config = module.ZooTextClassifierConfig(
                **settings,
                zoo_pooling=backbone.pooling,
                zoo_features=backbone.features,
                zoo_max_length=int(backbone.max_length),
                id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)},
            )
            config.auto_map = {
                "AutoConfig": "modeling_zoo.ZooTextClassifierConfig",
                "AutoModelForSequenceClassification": "modeling_zoo.ZooForSequenceClassification",
            }
            model = module.ZooForSequenceClassification(config)
            model.model.load_state_dict(encoder.state_dict(), strict=True)
            with torch.no_grad():
                model.classifier.weight.copy_(fc.weight)
                model.classifier.bias.copy_(fc.bias)
            model.eval().save_pretrained(str(tmp))
            tokenizer = backbone.tokenizer
            tokenizer.model_max_length = int(backbone.max_length)  # pipeline(..., truncation=True) stops there
            tokenizer.save_pretrained(str(tmp))
            del model
            checks = _check_transformers(adapter, module, tmp, type(tokenizer))
        finally:
            sys.modules.pop(module.__name__, None)
        usage = (
            "```python\nfrom transformers import pipeline\n"
            "classify = pipeline('text-classification', model='.', trust_remote_code=True)\n"
            "classify(['some text'], truncation=True)\n```\n\n"
            f"`{MODELING_FILE}` holds the model (zoo's {backbone.pooling} pooling, which no stock class computes)."
        )
        _copy_card(adapter, tmp, usage)
        _write_record(
            tmp,
            adapter,
            "transformers",
            checks,
            modeling=f"{MODELING_FILE}: {encoder_class.__name__} + {backbone.pooling} pooling"
            + (" of every layer" if backbone.features == "multilevel" else "")
            + " + linear head",
            load="transformers.pipeline('text-classification', model=DIR, trust_remote_code=True)",
        )
    return out


def _check_transformers(adapter: _Adapter, module: Any, folder: Path, tokenizer_class: Any) -> dict[str, Any]:
    """Reload what was written (the written class, the saved tokenizer) and compare on the samples."""
    if not adapter.items:
        return _compare(adapter, adapter.expected, "transformers", "")
    model = module.ZooForSequenceClassification.from_pretrained(str(folder)).eval()
    tokenizer = tokenizer_class.from_pretrained(str(folder))
    batch = tokenizer(
        [str(t) for t in adapter.items],
        padding=True,
        truncation=True,
        max_length=tokenizer.model_max_length,
        return_tensors="pt",
    )
    with torch.no_grad():
        logits = model(**batch).logits
    return _compare(adapter, logits, "transformers", f"{MODELING_FILE} reloaded from the folder")
