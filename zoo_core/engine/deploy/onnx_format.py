"""``--format onnx``: backbone, adapter and head as one ONNX graph, checked in ONNX Runtime."""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo_core.engine.deploy.common import (
    _Adapter,
    _compare,
    _copy_card,
    _hooked,
    _open,
    _staging,
    _write_record,
    merge_tuners,
)
from zoo_core.engine.model import TransferModel
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterStore

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

ONNX_FILE = "model.onnx"
PREPROCESSING_FILE = "preprocessing.json"
# Above this the graph's weights go to model.onnx.data (protobuf caps one file at 2 GiB).
_SINGLE_FILE_LIMIT = 1_500_000_000


def _id2label(labels: list[str]) -> dict[str, str]:
    return {str(i): label for i, label in enumerate(labels)}


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
