"""Using a stored adapter: logits for raw items, ``evaluate`` on labelled data, ``predict``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo_core.data import LabelledData, load_labelled
from zoo_core.engine.adapters import load_trained_model
from zoo_core.engine.backbone import to_device
from zoo_core.engine.features import extract_features
from zoo_core.engine.loaders import load_item
from zoo_core.engine.model import TransferModel
from zoo_core.errors import DataError, ZooError
from zoo_core.metrics import classification_metrics

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo


def label_ids(data: LabelledData, label_names: Sequence[str]) -> list[int]:
    """Each item's label as its index in ``label_names``."""
    index = {label: i for i, label in enumerate(label_names)}
    return [index[label] for label in data.labels]


@torch.no_grad()
def predict_items(net: TransferModel, method: Any, items: Sequence[Any], *, batch_size: int = 64) -> torch.Tensor:
    """Logits ``[len(items), num_classes]`` of ``net`` for raw items (image paths or texts)."""
    if method.uses_feature_cache:
        features = extract_features(net.backbone, items, batch_size=batch_size)
        net.head.eval()
        return torch.cat([net.head(chunk) for chunk in features.split(256)]) if len(features) else torch.zeros(0)
    prep = net.backbone.preprocessor(train=False)
    net.eval()
    device = next(net.parameters()).device
    out = []
    for start in range(0, len(items), batch_size):
        batch = prep.collate([load_item(prep.load, item) for item in items[start : start + batch_size]])
        out.append(net(to_device(batch, device)).float())
    return torch.cat(out) if out else torch.zeros(0)


def evaluate(
    adapter: str,
    data: str | Path,
    *,
    zoo: Zoo | None = None,
    batch_size: int = 64,
    allow_base_mismatch: bool = False,
    data_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics of stored adapter ``adapter`` on labelled ``data`` (labels must be the adapter's).

    Besides the metrics: ``skipped``, every item left out while reading ``data`` (``location`` and
    ``reason``), and ``notes`` on how it was read (which columns, for a text file).
    """
    from zoo_core.plugins import Zoo

    zoo = zoo or Zoo()
    net, method, metadata = load_trained_model(zoo, adapter, allow_base_mismatch=allow_base_mismatch)
    labelled = load_labelled(data, **(data_options or {}))
    label_names = metadata["labels"]
    unknown = sorted(set(labelled.labels) - set(label_names))
    if unknown:
        raise DataError(
            f"{data} has labels the adapter was not trained on: {', '.join(unknown[:10])}; "
            f"it knows {', '.join(label_names[:20])}"
        )
    logits = predict_items(net, method, labelled.items, batch_size=batch_size)
    metrics = classification_metrics(label_ids(labelled, label_names), logits.argmax(-1).tolist(), label_names)
    return {
        "adapter": metadata["ref"],
        "data": str(data),
        "skipped": [s.as_dict() for s in labelled.skipped],
        "notes": list(labelled.notes),
        **metrics,
    }


def predict(
    adapter: str,
    inputs: Sequence[Any],
    *,
    zoo: Zoo | None = None,
    top_k: int = 1,
    allow_base_mismatch: bool = False,
    batch_size: int = 64,
    support: str | Path | None = None,
    data_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Predict labels for ``inputs`` (image paths or texts) with stored adapter ``adapter``.

    ``support``: labelled data (a class-folder tree or a text file) whose examples replace the
    adapter's own support set, for methods that classify by comparison (``protonet``); its
    classes become the labels, so a few examples of new classes are enough.
    """
    from zoo_core.plugins import Zoo

    zoo = zoo or Zoo()
    net, method, metadata = load_trained_model(zoo, adapter, allow_base_mismatch=allow_base_mismatch)
    labels = metadata["labels"]
    if support is not None:
        if not method.accepts_support_set:
            raise ZooError(
                f"adapter {metadata['ref']} was trained with '{method.name}', which cannot take a support set; "
                "--support works with adapters that classify by comparison (protonet)"
            )
        labelled = load_labelled(support, **(data_options or {}))
        if labelled.modality != net.backbone.modality:
            raise DataError(
                f"support set {support} holds {labelled.modality} data but adapter {metadata['ref']} "
                f"takes {net.backbone.modality} data"
            )
        labels = labelled.classes()
        features = extract_features(net.backbone, labelled.items, batch_size=batch_size)
        method.set_support(net, features, label_ids(labelled, labels), len(labels))
    items = list(inputs)
    if net.backbone.modality == "image":
        folders = [item for item in items if Path(item).is_dir()]
        if folders:
            folder = Path(folders[0])
            raise DataError(
                f"{folder} is a folder; pass the image files in it instead, e.g. {folder / '*.jpg'} "
                f"(the shell expands the pattern)"
            )
        missing = [item for item in items if not Path(item).is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataError(f"image not found: {missing[0]}{more}")
    probabilities = predict_items(net, method, items, batch_size=batch_size).softmax(-1)
    results = []
    for item, probs in zip(items, probabilities):
        top = top_labels(probs, labels, top_k)
        results.append(
            {
                "input": str(item),
                "label": top[0][0],
                "score": top[0][1],
                "top": [{"label": label, "score": score} for label, score in top],
            }
        )
    return results


def top_labels(probabilities: torch.Tensor, labels: Sequence[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` most likely ``(label, probability)`` of one item, best first (at least one, at most all)."""
    values, indices = probabilities.topk(max(1, min(k, len(labels))))
    return [(labels[int(i)], float(v)) for v, i in zip(values, indices)]
