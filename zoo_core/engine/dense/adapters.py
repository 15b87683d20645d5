"""Store and reload detection and segmentation adapters, in the same store as classifiers.

A dense adapter's ``adapter.json`` records ``"task": "object-detection"`` (or
``"semantic-segmentation"``), the class names (``labels``), the base model, the method (rebuilt
from its ``describe()``) and the task head (``head.name``: the detector kind or the decoder;
``head.options``: the sizes it was built with). ``adapter.safetensors`` holds the method's adapter
state (``method:<key>``, what :meth:`AdaptationMethod.adapter_state` returns for the backbone) and
the task head's state (``task:<key>``: the FPN and detection head, or the decoder and
segmentation head), every file hashed as a classifier's (:func:`~zoo_core.engine.adapters.write_adapter_files`,
:func:`~zoo_core.engine.adapters.verify_files`). The version is marked verified only once a reload
reproduces the stored samples' boxes and scores (or masks).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from zoo_core.engine.adapters import (
    WEIGHTS_FILE,
    model_card,
    rebuild_backbone,
    rebuild_method,
    verify_files,
    write_adapter_files,
)
from zoo_core.engine.model import TransferModel
from zoo_core.errors import AdapterError, ZooError
from zoo_core.store import AdapterRef, AdapterStore

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

DENSE_TASKS = ("object-detection", "semantic-segmentation")
METHOD_PREFIX, TASK_PREFIX = "method:", "task:"
SAMPLES_FILE = "samples.json"


def backbone_prefix(model: nn.Module, backbone: nn.Module) -> str:
    """The state-dict prefix under which ``model`` holds ``backbone`` (``backbone.body.backbone.``)."""
    for name, module in model.named_modules():
        if module is backbone and name:
            return name + "."
    raise ZooError("the task model does not hold its backbone")


def head_state(model: nn.Module, backbone: nn.Module) -> dict[str, torch.Tensor]:
    """The task head's tensors: everything in ``model`` that is not the backbone's."""
    prefix = backbone_prefix(model, backbone)
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if not k.startswith(prefix)}


def build_task_model(task: str, backbone: nn.Module, labels: Sequence[str], head: dict[str, Any]) -> nn.Module:
    """The detector or segmenter ``head`` describes, on ``backbone`` as the method left it."""
    from zoo_core.engine.dense import build_detector, build_segmenter

    options = dict(head.get("options", {}))
    if task == "object-detection":
        return build_detector(backbone, len(labels), kind=head["name"], class_names=labels, **options)
    return build_segmenter(backbone, len(labels), decoder=head["name"], class_names=labels, **options)


def sample_outputs(task: str, model: nn.Module, images: Sequence[str]) -> list[Any]:
    """What the stored samples are checked on: boxes, labels and scores, or class-id masks."""
    from zoo_core.engine.dense import predict_boxes, predict_masks

    if task == "object-detection":
        return predict_boxes(model, list(images), score_threshold=0.0)
    return [mask.tolist() for mask in predict_masks(model, list(images))]  # type: ignore[arg-type]


def difference(task: str, expected: Sequence[Any], actual: Sequence[Any]) -> float:
    """The largest difference between two sets of sample outputs (inf when their shapes differ):
    a box coordinate or score; for masks the fraction of pixels whose class changed."""
    worst = 0.0
    for want, got in zip(expected, actual):
        if task == "object-detection":
            if want["labels"] != got["labels"] or len(want["boxes"]) != len(got["boxes"]):
                return float("inf")
            if want["boxes"]:
                worst = max(worst, float(np.abs(np.array(want["boxes"]) - np.array(got["boxes"])).max()))
                worst = max(worst, float(np.abs(np.array(want["scores"]) - np.array(got["scores"])).max()))
        else:
            a, b = np.array(want), np.array(got)
            if a.shape != b.shape:
                return float("inf")
            worst = max(worst, float((a != b).mean()))
    return worst if len(expected) == len(actual) else float("inf")


def save_dense_adapter(
    zoo: Zoo,
    name: str,
    task: str,
    net: TransferModel,
    method: Any,
    model: nn.Module,
    metadata: dict[str, Any],
    samples: Sequence[str],
    *,
    offline: bool | None = None,
) -> AdapterRef:
    """Store a new version of ``name``, reload it, check the samples reproduce, mark it verified."""
    model.to("cpu")  # the reload check runs on the CPU: compare outputs computed there
    state = {METHOD_PREFIX + k: v for k, v in method.adapter_state(net).items()}
    state.update({TASK_PREFIX + k: v for k, v in head_state(model, net.backbone).items()})
    expected = sample_outputs(task, model, samples)
    metadata = {**metadata, "task": task, "verification": "marker"}

    def write(tmp: Path) -> dict[str, Any]:
        (tmp / "samples").mkdir()
        stored = []
        for index, item in enumerate(samples):
            stored.append(f"samples/{index}{Path(item).suffix.lower()}")
            shutil.copyfile(item, tmp / stored[-1])
        (tmp / SAMPLES_FILE).write_text(json.dumps({"task": task, "items": stored, "outputs": expected}))
        return write_adapter_files(tmp, state, metadata, model_card({**metadata, "name": name}))

    store = AdapterStore()
    ref = store.save(name, write)
    worst = verify_dense_reload(zoo, store, str(ref), offline=offline)
    store.mark_verified(ref, max_difference=worst, samples=len(samples))
    return ref


def verify_dense_reload(
    zoo: Zoo, store: AdapterStore, ref: str, *, offline: bool | None = None, atol: float = 1e-3
) -> float:
    """Reload ``ref`` and compare its outputs on the stored samples; a mismatch removes the version."""
    adapter = store.resolve(ref)
    samples = json.loads((adapter.path / SAMPLES_FILE).read_text())
    items = [str(adapter.path / item) for item in samples["items"]]
    if not items:
        return 0.0
    model, metadata = load_dense_model(zoo, ref, store=store, offline=offline, allow_unverified=True)
    worst = difference(metadata["task"], samples["outputs"], sample_outputs(metadata["task"], model, items))
    if worst > atol:
        store.remove(ref)
        raise AdapterError(
            f"adapter {ref} does not reproduce its predictions after reloading (max difference {worst:.3g}); "
            "the version was removed. This is a bug in the method's adapter_state/load_adapter_state: please report it"
        )
    return worst


def load_dense_model(
    zoo: Zoo,
    ref: str,
    *,
    store: AdapterStore | None = None,
    allow_base_mismatch: bool = False,
    offline: bool | None = None,
    allow_unverified: bool = False,
    task: str | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild (detector or segmenter, metadata) for dense adapter ``ref``; ``task`` refuses another task."""
    from safetensors.torch import load_file

    store = store or AdapterStore()
    adapter = store.resolve(ref)
    metadata = adapter.metadata()
    found = metadata.get("task") or "classification"
    if found not in DENSE_TASKS or (task is not None and found != task):
        wanted = task or "object-detection or semantic-segmentation"
        raise AdapterError(f"adapter {adapter} is a {found} adapter, not {wanted}; it cannot be loaded as one")
    verify_files(adapter, metadata)
    if not allow_unverified:
        adapter.require_verified(metadata)
    _, backbone = rebuild_backbone(zoo, adapter, metadata, allow_base_mismatch=allow_base_mismatch, offline=offline)
    method = rebuild_method(zoo, metadata)
    net = TransferModel(backbone, nn.Identity())
    method.prepare(net)
    state = load_file(str(adapter.path / WEIGHTS_FILE))
    method_state = {k[len(METHOD_PREFIX) :]: v for k, v in state.items() if k.startswith(METHOD_PREFIX)}
    task_state = {k[len(TASK_PREFIX) :]: v for k, v in state.items() if k.startswith(TASK_PREFIX)}
    try:
        method.load_adapter_state(net, method_state)
    except ValueError as exc:
        raise AdapterError(f"adapter {adapter} does not fit its model: {exc}") from None
    model = build_task_model(found, backbone, metadata["labels"], metadata["head"])
    prefix = backbone_prefix(model, backbone)
    result = model.load_state_dict(task_state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(prefix)]
    if missing or result.unexpected_keys:
        raise AdapterError(
            f"adapter {adapter}: {WEIGHTS_FILE} does not fit the {metadata['head']['name']} head its adapter.json "
            f"describes (missing {missing[:3]}, unexpected {result.unexpected_keys[:3]})"
        )
    model.eval()
    return model, {**metadata, "ref": str(adapter), "path": str(adapter.path)}
