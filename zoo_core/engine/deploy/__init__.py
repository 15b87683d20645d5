"""Deployment exports of a stored adapter, for runtimes that know nothing of transfer-zoo.

* ``onnx``: backbone, adapter and head as one graph ``model.onnx`` (dynamic batch axis; dynamic
  sequence axis for text), with ``preprocessing.json`` (image recipe, or the tokenizer's settings
  with its files beside it) and the labels. Tuners peft can merge (LoRA, DoRA, IA3, LoHa, LoKr,
  VeRA, AdaLoRA) are merged into the weights first; other adapter modules (bottleneck) are
  exported as they are. Any method works: zoo predicts with a plain forward of backbone then head
  for every method (feature-cache methods included), and that is what the graph holds.
* ``transformers`` (text): a folder that ``AutoModelForSequenceClassification.from_pretrained(DIR,
  trust_remote_code=True)`` and ``pipeline("text-classification", model=DIR, trust_remote_code=True)``
  load. zoo's text head reads pooled token features; no stock ``*ForSequenceClassification`` computes
  them (BERT/ALBERT put a dense+tanh pooler on the first token, RoBERTa/ELECTRA/DeBERTa a dense layer
  and activation, DistilBERT dense+ReLU, GPT-style heads score the last token without a bias), and
  no choice of weights undoes a tanh, so the folder always holds ``modeling_zoo.py``: the stock
  encoder class, zoo's pooling (cls / mean / last, of the last layer or of every layer for
  ``multilevel``) and the linear head. Its config has its own ``model_type`` so that loading it
  without ``trust_remote_code`` fails loudly instead of building a stock model with random heads.
* ``timm`` (image): ``model.safetensors`` + ``config.json`` written by ``timm.models.save_for_hf``
  (architecture, num_classes, label_names, pretrained_cfg with mean, std, input_size, crop_pct,
  interpolation): the adapter merged into the architecture's own weights and zoo's linear head
  written as timm's classifier. Refused where timm cannot express the adapter: multilevel
  features, a head other than one linear layer, modules or hooks the architecture lacks.

Every export checks the adapter's files first, then runs what it wrote (ONNX Runtime, the written
modeling file, timm from the folder) on the adapter's stored samples and compares the logits with
zoo's own; nothing is written unless they agree (1e-4, absolute and relative). ``zoo_export.json`` records the check.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zoo_core.engine.deploy.common import ATOL, FORMATS, RECORD_FILE, RTOL, merge_tuners
from zoo_core.engine.deploy.onnx_format import ONNX_FILE, PREPROCESSING_FILE, export_onnx
from zoo_core.engine.deploy.timm_format import export_timm
from zoo_core.engine.deploy.transformers_format import MODELING_FILE, export_transformers
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterStore

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

__all__ = [
    "ATOL",
    "FORMATS",
    "MODELING_FILE",
    "ONNX_FILE",
    "PREPROCESSING_FILE",
    "RECORD_FILE",
    "RTOL",
    "export_deployment",
    "export_onnx",
    "export_timm",
    "export_transformers",
    "merge_tuners",
]


def export_deployment(
    ref: str, fmt: str, out: str | Path, *, zoo: Zoo | None = None, store: AdapterStore | None = None
) -> Path:
    """Export adapter ``ref`` as ``fmt`` (one of :data:`FORMATS`) into folder ``out``; returns it."""
    exporters = {"onnx": export_onnx, "transformers": export_transformers, "timm": export_timm}
    if fmt not in exporters:
        raise AdapterError(f"unknown deployment format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return exporters[fmt](ref, out, zoo=zoo, store=store)
