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

import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo_core.engine.adapters import load_trained_model, verify_files
from zoo_core.engine.heads import LinearHead
from zoo_core.engine.inference import predict_items
from zoo_core.engine.model import TransferModel
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterRef, AdapterStore

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

FORMATS = ("onnx", "transformers", "timm")
RECORD_FILE = "zoo_export.json"
ONNX_FILE = "model.onnx"
PREPROCESSING_FILE = "preprocessing.json"
MODELING_FILE = "modeling_zoo.py"
ATOL = 1e-4
RTOL = 1e-4  # as the adapter's own reload check (zoo_core.engine.adapters.verify_reload)
# Above this the graph's weights go to model.onnx.data (protobuf caps one file at 2 GiB).
_SINGLE_FILE_LIMIT = 1_500_000_000
# Which formats a modality / family can take, and what to use instead.
_NEEDS = {
    "transformers": ("text", "hf", "use --format onnx, or --format timm for image adapters"),
    "timm": ("image", "timm", "use --format onnx, or --format transformers for text adapters"),
}


@dataclass
class _Adapter:
    """A loaded adapter, its stored samples and zoo's own logits on them."""

    ref: AdapterRef
    metadata: dict[str, Any]
    net: TransferModel
    method: Any
    items: list[Any]
    expected: torch.Tensor
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return list(self.metadata["labels"])


def export_deployment(
    ref: str, fmt: str, out: str | Path, *, zoo: Zoo | None = None, store: AdapterStore | None = None
) -> Path:
    """Export adapter ``ref`` as ``fmt`` (one of :data:`FORMATS`) into folder ``out``; returns it."""
    exporters = {"onnx": export_onnx, "transformers": export_transformers, "timm": export_timm}
    if fmt not in exporters:
        raise AdapterError(f"unknown deployment format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return exporters[fmt](ref, out, zoo=zoo, store=store)


# --------------------------------------------------------------------------------------- common
def _open(ref: str, fmt: str, out: Path, zoo: Zoo | None, store: AdapterStore | None) -> _Adapter:
    """Check the adapter's files and verification, refuse a modality the format cannot take or an
    unusable ``out``, then load the adapter and compute zoo's logits on its stored samples (before
    anything is merged)."""
    store = store or AdapterStore()
    adapter = store.resolve(ref)
    metadata = adapter.metadata()
    verify_files(adapter, metadata)
    adapter.require_verified(metadata)
    _usable_folder(out)
    base = metadata["base_model"]
    modality = str(metadata.get("task", "")).partition("-")[0]
    if fmt in _NEEDS:
        wanted, family, instead = _NEEDS[fmt]
        if modality != wanted:
            raise AdapterError(
                f"adapter {adapter} is for {modality or 'non-' + wanted} data ({base['id']}); "
                f"--format {fmt} writes {wanted} models: {instead}"
            )
        if base.get("family") != family:
            raise AdapterError(
                f"adapter {adapter} is built on a '{base.get('family')}' backbone ({base['id']}); "
                f"--format {fmt} needs a '{family}' one: use --format onnx"
            )
    if zoo is None:
        from zoo_core.plugins import Zoo

        zoo = Zoo()
    net, method, _ = load_trained_model(zoo, str(adapter), store=store)
    items: list[Any] = []
    samples_file = adapter.path / "samples.json"
    if samples_file.is_file():  # hashed with the other files by verify_files
        samples = json.loads(samples_file.read_text())
        items = list(samples.get("items", []))
        if samples.get("modality") == "image":
            items = [str(adapter.path / item) for item in items]
    expected = predict_items(net, method, items) if items else torch.zeros(0, len(metadata["labels"]))
    return _Adapter(adapter, metadata, net, method, items, expected)


def merge_tuners(net: nn.Module) -> tuple[list[str], list[str]]:
    """Merge every peft tuner layer into its base layer and put the base layer back in its place,
    as ``merge_and_unload`` does for a ``PeftModel`` (zoo injects tuners without that wrapper).
    Returns (merged layer names, names of layers whose tuner cannot merge, left as they are)."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # pragma: no cover - peft is a dependency
        return [], []
    merged: list[str] = []
    kept: list[str] = []
    for name, module in list(net.named_modules()):
        if not isinstance(module, BaseTunerLayer) or any(name.startswith(k + ".") for k in merged + kept):
            continue
        try:
            with torch.no_grad():
                module.merge(safe_merge=True)
        except Exception:  # tuners without a merge raise NotImplementedError, or ValueError on NaNs
            kept.append(name)
            continue
        parent, _, child = name.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, child, module.get_base_layer())
        merged.append(name)
    return merged, kept


def _hooked(module: nn.Module) -> list[str]:
    """Submodules with forward hooks (how bottleneck adapters attach): a plain architecture has none."""
    return [name for name, m in module.named_modules() if m._forward_hooks or m._forward_pre_hooks]


def _merge_or_refuse(adapter: _Adapter, fmt: str) -> None:
    """Merge the tuners; refuse a format that needs the architecture's own weights when one cannot merge."""
    merged, kept = merge_tuners(adapter.net)
    name = adapter.metadata["method"]["name"]
    if kept:
        raise AdapterError(
            f"adapter {adapter.ref}: its {name} layers cannot be merged into the weights (e.g. {kept[0]}), "
            f"so --format {fmt} cannot hold them; use --format onnx"
        )
    if merged:
        adapter.notes.append(f"{name}: {len(merged)} adapted layers merged into the base weights")


def _linear_head(adapter: _Adapter, fmt: str) -> nn.Linear:
    head = adapter.net.head
    if not isinstance(head, LinearHead):
        kind = adapter.metadata["head"]["name"]
        raise AdapterError(
            f"adapter {adapter.ref} has a '{kind}' head ({type(head).__name__}), and --format {fmt} holds one "
            "linear layer on the pooled features; use --format onnx, which exports any head"
        )
    return head.fc


def _compare(adapter: _Adapter, actual: torch.Tensor, fmt: str, what: str) -> dict[str, Any]:
    """Compare ``actual`` logits with zoo's on the stored samples as the adapter's own reload check
    does (``|a - e| <= atol + rtol |e|``: prototype logits run into the hundreds, where float32
    rounding alone passes 1e-4); refuse the export if they differ."""
    count = len(adapter.items)
    if not count:
        return {"samples": 0, "note": "the adapter stores no samples: nothing to compare"}
    expected, actual = adapter.expected, actual.float()
    difference = float((actual - expected).abs().max())
    agreement = float((actual.argmax(-1) == expected.argmax(-1)).float().mean())
    if actual.shape != expected.shape or not torch.allclose(actual, expected, atol=ATOL, rtol=RTOL):
        raise AdapterError(
            f"adapter {adapter.ref}: the {fmt} export ({what}) does not reproduce zoo's logits on the adapter's "
            f"{count} stored samples (max |difference| {difference:.3g}); nothing was written. "
            "This is a bug: please report it"
        )
    return {
        "samples": count,
        "max_abs_logit_difference": difference,
        "top1_agreement": agreement,
        "atol": ATOL,
        "rtol": RTOL,
        "compared": f"{what} vs zoo predict on the loaded adapter",
    }


def _usable_folder(out: Path) -> None:
    """``out`` must be new, empty, or an earlier export (holding ``zoo_export.json``, whose listed
    files are replaced): other people's files are never mixed with an export or deleted."""
    if out.exists() and not out.is_dir():
        raise AdapterError(f"{out} is a file; --out takes a folder for this format")
    if out.is_dir() and any(out.iterdir()) and not (out / RECORD_FILE).is_file():
        raise AdapterError(
            f"{out} is not empty and holds no earlier export ({RECORD_FILE}); give a new or empty folder"
        )


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out`` to write into; on success its files replace ``out``'s."""
    _usable_folder(out)
    earlier = out / RECORD_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.zoo-export-", dir=out.parent))
    try:
        yield tmp
        out.mkdir(exist_ok=True)
        if earlier.is_file():
            try:
                old = json.loads(earlier.read_text()).get("files", [])
            except (OSError, ValueError):
                old = []
            for name in old:
                if isinstance(name, str) and "/" not in name and (out / name).is_file():
                    (out / name).unlink()
        for item in tmp.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_record(folder: Path, adapter: _Adapter, fmt: str, checks: dict[str, Any], **extra: Any) -> None:
    from zoo_core import __version__

    files = sorted(p.name for p in folder.iterdir() if p.is_file()) + [RECORD_FILE]
    record = {
        "format": fmt,
        "adapter": str(adapter.ref),
        "base_model": adapter.metadata["base_model"]["id"],
        "method": adapter.metadata["method"]["name"],
        "labels": adapter.labels,
        "checks": checks,
        "notes": adapter.notes,
        **extra,
        "files": sorted(files),
        "created": datetime.now(timezone.utc).isoformat(),
        "zoo_version": __version__,
    }
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")


def _copy_card(adapter: _Adapter, folder: Path, usage: str) -> None:
    """The adapter's README.md, with how to load this export added at the end."""
    card = adapter.ref.path / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else f"# {adapter.ref.name}\n"
    (folder / "README.md").write_text(text.rstrip() + "\n\n## Load this export\n\n" + usage.strip() + "\n")


def _id2label(labels: list[str]) -> dict[str, str]:
    return {str(i): label for i, label in enumerate(labels)}


# ----------------------------------------------------------------------------------------- ONNX
class _ImageGraph(nn.Module):
    def __init__(self, net: TransferModel):
        super().__init__()
        self.net = net

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values)


class _TextGraph(nn.Module):
    """The tokenizer's outputs as positional inputs, in the tokenizer's order."""

    def __init__(self, net: TransferModel, names: list[str]):
        super().__init__()
        self.net = net
        self.names = list(names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(dict(zip(self.names, inputs)))


def _example_batch(adapter: _Adapter) -> Any:
    """The stored samples as one model batch, at least two rows (a batch of one would be traced as a
    constant batch size)."""
    prep = adapter.net.backbone.preprocessor(train=False)
    items = list(adapter.items)
    if not items:
        items = ["a b", "a b c"] if adapter.net.backbone.modality == "text" else []
    while items and len(items) < 2:
        items = items * 2
    if not items:  # an image adapter without samples: blank images of the input size
        size = prep.config().get("size") or [3, 224, 224]
        return torch.zeros(2, *size)
    return prep.collate([prep.load(item) for item in items])


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:240]}" if text else type(exc).__name__


def _torchscript_export(
    graph: nn.Module, args: tuple[torch.Tensor, ...], names: list[str], text: bool, path: Path
) -> None:
    axes = {name: {0: "batch", 1: "sequence"} if text else {0: "batch"} for name in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its DeprecationWarning, and tracer warnings on shape arithmetic
        torch.onnx.export(
            graph,
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            dynamo=False,
        )


def _dynamo_export(graph: nn.Module, args: tuple[torch.Tensor, ...], names: list[str], text: bool, path: Path) -> None:
    from torch.export import Dim

    batch, sequence = Dim("batch"), Dim("sequence")
    axes: dict[int, Any] = {0: batch, 1: sequence} if text else {0: batch}
    shapes: Any = (tuple(axes for _ in names),) if text else {"pixel_values": axes}
    size = sum(p.numel() * p.element_size() for p in graph.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_shapes=shapes,
            dynamo=True,
            external_data=size > _SINGLE_FILE_LIMIT,
            verbose=False,
        )


# Which torch.onnx exporter, in order. Both give zoo's logits within 1e-6 on a timm convnet and a
# BERT-like encoder (tiny and bundled weights) with torch 2.14.1; the TorchScript one (dynamo=False)
# exports them 10-20x faster here (EfficientNet-Lite0: 5 s against 60 s) as one file, so it goes
# first. torch deprecates it: the dynamo exporter is the fallback when it fails, when its graph
# does not reproduce the logits (its trace keeps Python branches as they went for the example),
# or once a torch release removes it.
_EXPORTERS = (
    ("torch.onnx TorchScript exporter (dynamo=False)", _torchscript_export),
    ("torch.onnx dynamo exporter", _dynamo_export),
)


def _require_dynamic_axes(path: Path, text: bool) -> None:
    """Every graph input must keep a symbolic batch axis (and sequence axis for text)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        wanted = (0, 1) if text else (0,)
        if any(i >= len(dims) or not dims[i].dim_param for i in wanted):
            raise ValueError(f"input {value.name} came out with a fixed shape {[d.dim_value for d in dims]}")


def _onnx_logits(session: Any, batch: Any, names: list[str]) -> torch.Tensor:
    if isinstance(batch, dict):
        feed = {name: batch[name].numpy() for name in names}
    else:
        feed = {names[0]: batch.numpy()}
    return torch.from_numpy(session.run(["logits"], feed)[0])


def _image_preprocessing(config: dict[str, Any]) -> dict[str, Any]:
    """zoo's evaluation transform (zoo_timm's ImagePreprocessor: torchvision Resize(int) of the
    shorter side, CenterCrop, ToTensor, Normalize), as settings and as steps to replay."""
    size = int(config["size"][-1])
    crop_pct = float(config.get("crop_pct") or 1.0)
    interpolation = config.get("interpolation") or "bicubic"
    resize = int(round(size / crop_pct))
    mean, std = [float(v) for v in config["mean"]], [float(v) for v in config["std"]]
    return {
        "input_size": [3, size, size],
        "interpolation": interpolation,
        "crop_pct": crop_pct,
        "mean": mean,
        "std": std,
        "layout": "NCHW",
        "dtype": "float32",
        "steps": [
            {"op": "open", "mode": "RGB"},
            {
                "op": "resize_shorter_side",
                "size": resize,
                "interpolation": interpolation,
                "note": "the longer side becomes int(size * longer / shorter); PIL resampling, as torchvision does",
            },
            {
                "op": "center_crop",
                "size": [size, size],
                "note": "top = round((height - crop height) / 2), same for left",
            },
            {"op": "to_float", "scale": 1 / 255, "note": "HWC uint8 to CHW float32"},
            {"op": "normalize", "mean": mean, "std": std},
        ],
    }


def export_onnx(ref: str, out: str | Path, *, zoo: Zoo | None = None, store: AdapterStore | None = None) -> Path:
    """Write ``model.onnx`` (inputs: ``pixel_values``, or the tokenizer's outputs; output ``logits``),
    ``preprocessing.json``, the tokenizer files for text, the README and ``zoo_export.json``."""
    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise AdapterError(
            f"--format onnx needs {' and '.join(missing)}, which is not installed: pip install 'transfer-zoo[deploy]'"
        )
    out = Path(out)
    adapter = _open(ref, "onnx", out, zoo, store)
    net = adapter.net
    merged, kept = merge_tuners(net)
    method = adapter.metadata["method"]["name"]
    if merged:
        adapter.notes.append(f"{method}: {len(merged)} adapted layers merged into the base weights")
    if kept:
        adapter.notes.append(f"{method}: {len(kept)} adapter layers exported as they are (they cannot merge)")
    if _hooked(net):
        adapter.notes.append(f"{method}: adapter modules attached by hooks are part of the graph")
    if getattr(adapter.method, "accepts_support_set", False):
        adapter.notes.append(f"{method}: the graph holds the stored classes; a support set cannot be swapped in")
    net.eval()
    text = net.backbone.modality == "text"
    example = _example_batch(adapter)
    names = list(example) if text else ["pixel_values"]
    args = tuple(example[name] for name in names) if text else (example,)
    graph = _TextGraph(net, names) if text else _ImageGraph(net)
    graph.eval()
    with _staging(out) as tmp:
        backbone: Any = net.backbone  # the family's subclass: its tokenizer, max_length, preprocessor
        preprocessing: dict[str, Any] = {"modality": backbone.modality, "outputs": ["logits"]}
        prepare: Callable[[list[Any]], Any]
        if text:
            tokenizer = backbone.tokenizer
            max_length = int(backbone.max_length)
            tokenizer.model_max_length = max_length  # saved: tokenizer(..., truncation=True) stops there
            tokenizer.save_pretrained(str(tmp))
            saved = type(tokenizer).from_pretrained(str(tmp))

            def tokenize(texts: list[Any]) -> Any:
                return dict(saved([str(t) for t in texts], padding=True, truncation=True, return_tensors="pt"))

            prepare = tokenize

            preprocessing["text"] = {
                "tokenizer": "the tokenizer files in this folder: transformers.AutoTokenizer.from_pretrained(folder)",
                "max_length": max_length,
                "padding": "longest",
                "truncation": True,
                "dtype": "int64",
                "call": f"tokenizer(texts, padding=True, truncation=True, max_length={max_length})",
                "pooling": backbone.pooling,
            }
        else:
            prep = backbone.preprocessor(train=False)

            def load_images(paths: list[Any]) -> Any:
                return prep.collate([prep.load(item) for item in paths])

            prepare = load_images

            preprocessing["image"] = _image_preprocessing(prep.config())
        exporter, inputs, checks = _export_checked(adapter, graph, args, names, text, tmp / ONNX_FILE, prepare)
        preprocessing = {**preprocessing, "inputs": inputs, "id2label": _id2label(adapter.labels)}
        (tmp / PREPROCESSING_FILE).write_text(json.dumps(preprocessing, indent=2) + "\n")
        usage = (
            "```python\nimport onnxruntime as ort\n"
            f"session = ort.InferenceSession('{ONNX_FILE}', providers=['CPUExecutionProvider'])\n"
            f"logits = session.run(['logits'], inputs)[0]  # {', '.join(inputs)}: see {PREPROCESSING_FILE}\n"
            "```"
        )
        _copy_card(adapter, tmp, usage)
        _write_record(
            tmp,
            adapter,
            "onnx",
            checks,
            exporter=exporter,
            opset=_opset(tmp / ONNX_FILE),
            inputs=inputs,
            dynamic_axes={name: ["batch", "sequence"] if text else ["batch"] for name in inputs},
            load=f"onnxruntime.InferenceSession('{ONNX_FILE}'); inputs prepared as {PREPROCESSING_FILE} says",
        )
    return out


def _export_checked(
    adapter: _Adapter,
    graph: nn.Module,
    args: tuple[torch.Tensor, ...],
    names: list[str],
    text: bool,
    path: Path,
    prepare: Callable[[list[Any]], Any],
) -> tuple[str, list[str], dict[str, Any]]:
    """Export with each of :data:`_EXPORTERS` until one gives a graph with symbolic batch (and
    sequence) axes that reproduces zoo's logits in ONNX Runtime on the stored samples, batched and
    one at a time (other batch sizes and sequence lengths than the traced ones). Returns the
    exporter, the graph's input names and the check."""
    import onnxruntime as ort

    failures = []
    for label, export in _EXPORTERS:
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
        try:
            export(graph, args, names, text, path)
            _require_dynamic_axes(path, text)
            options = ort.SessionOptions()
            options.log_severity_level = 3  # its warnings about unused initialisers are not the user's concern
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            inputs = [i.name for i in session.get_inputs()]
            if not adapter.items:
                return label, inputs, _compare(adapter, adapter.expected, "onnx", "")
            together = _onnx_logits(session, prepare(adapter.items), inputs)
            alone = torch.cat([_onnx_logits(session, prepare([item]), inputs) for item in adapter.items])
            worse = max((together, alone), key=lambda logits: float((logits - adapter.expected).abs().max()))
            return label, inputs, _compare(adapter, worse, "onnx", "ONNX Runtime, the samples batched and one by one")
        except Exception as exc:  # exporters raise many kinds; each failure is reported below
            failures.append(f"{label}: {_one_line(exc)}")
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    raise AdapterError(
        f"adapter {adapter.ref} could not be exported to ONNX; nothing was written ({'; '.join(failures)})"
    )


def _opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


# --------------------------------------------------------------------------------- transformers
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


# ----------------------------------------------------------------------------------------- timm
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
