"""Zero-shot text classification from label names alone (``zoo zero-shot``).

Each class is the mean of the L2-normalised embeddings (the backbone's pooled features) of its
name filled into one or more templates; an input's logits are a fixed temperature times the cosine
similarity of its normalised embedding to each class vector, so softmax gives usable probabilities.
The default templates are generic sentences, not tuned to any dataset: ``{}``, ``This example is
{}.`` and ``This text is about {}.`` (:data:`zoo_methods.options.ZERO_SHOT_TEMPLATES`). The default
temperature, 20, is the scale sentence-transformers' in-batch contrastive loss
(MultipleNegativesRankingLoss) multiplies cosine similarities by, the loss sentence encoders
such as all-MiniLM-L6-v2 are trained with.

The result is stored like any adapter (method ``zero_shot``, registered by ``zoo_methods``;
labels are the given labels; its metadata records the templates, the names and the temperature),
so ``zoo predict`` and ``zoo evaluate`` use it unchanged. It is not a ``finetune`` method: there
are no examples to split, fit or validate on, so :func:`zero_shot` is its entry point and
``zoo finetune --method zero_shot`` refuses. Text models only: an image backbone cannot embed label
names, and image-text (CLIP-style) models are not in the catalog.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.engine.adapters import VERIFY_SAMPLES, dataset_name, save_adapter
from zoo_core.engine.features import extract_features
from zoo_core.engine.inference import label_ids, predict_items
from zoo_core.engine.model import TransferModel, build_backbone, build_head
from zoo_core.engine.pipeline import default_adapter_name
from zoo_core.errors import DataError, ZooError
from zoo_core.specs import load_spec_object
from zoo_core.store import check_adapter_name

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.data import LabelledData
    from zoo_core.plugins import Zoo

METHOD = "zero_shot"
SLOT = "{}"  # where a label's name goes in a template

__all__ = ["ZeroShotResult", "class_prompts", "parse_labels", "read_templates", "zero_shot"]


@dataclass
class ZeroShotResult:
    """What :func:`zero_shot` made: the classes, how they were built, test metrics (or None), the adapter."""

    model: str
    labels: list[str]
    class_names: list[str]
    templates: list[str]
    temperature: float
    metrics: dict[str, Any] | None
    eval_split: str | None
    seconds: float
    adapter: str | None = None
    adapter_path: str | None = None
    notes: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    model_obj: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        metrics = self.metrics or {}
        return {
            "model": self.model,
            "method": METHOD,
            "labels": self.labels,
            "class_names": self.class_names,
            "templates": self.templates,
            "temperature": self.temperature,
            "accuracy": metrics.get("accuracy"),
            "macro_f1": metrics.get("macro_f1"),
            "eval_split": self.eval_split,
            "metrics": self.metrics,
            "seconds": round(self.seconds, 3),
            "adapter": self.adapter,
            "adapter_path": self.adapter_path,
            "notes": self.notes,
            "skipped": self.skipped,
        }


# ------------------------------------------------------------------------------- labels, templates
def parse_labels(labels: str | Sequence[str] | Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(labels, names put into the templates). A string is comma-separated, each entry ``NAME`` or
    ``LABEL=NAME`` (predict LABEL, embed NAME: ``"0=negative,1=positive"`` for data labelled 0/1);
    a mapping is ``{label: name}``; any other sequence holds names that are also the labels.
    At least two labels, none empty, no label and no name twice."""
    if isinstance(labels, str):
        pairs = []
        for entry in labels.split(","):
            label, sep, name = entry.partition("=")
            pairs.append((label.strip(), name.strip() if sep else label.strip()))
    elif isinstance(labels, Mapping):
        pairs = [(str(label).strip(), str(name).strip()) for label, name in labels.items()]
    else:
        pairs = [(str(name).strip(), str(name).strip()) for name in labels]
    example = "e.g. --labels 'positive,negative'"
    for position, (label, name) in enumerate(pairs, 1):
        if not label or not name:
            raise ZooError(f"--labels: entry {position} has an empty {'label' if not label else 'name'}; {example}")
    if len(pairs) < 2:
        shown = f" ('{pairs[0][0]}')" if pairs else ""
        raise ZooError(
            f"--labels: zero-shot needs at least 2 labels to choose between, got {len(pairs)}{shown}; {example}"
        )
    for index, what in ((0, "label"), (1, "name")):
        seen: set[str] = set()
        for pair in pairs:
            if pair[index] in seen:
                raise ZooError(f"--labels: the {what} '{pair[index]}' is given twice; give each {what} once")
            seen.add(pair[index])
    return [label for label, _ in pairs], [name for _, name in pairs]


def read_templates(templates: Sequence[str] = (), templates_file: str | Path | None = None) -> list[str] | None:
    """The templates given (``--template`` values, then the lines of ``templates_file`` that are not
    blank), or None for the defaults. Each has ``{}`` where the name goes; none is given twice."""
    given = [str(t) for t in templates]
    if templates_file is not None:
        try:
            text = Path(templates_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ZooError(
                f"--templates-file {templates_file}: cannot read it ({exc}); give a UTF-8 text file"
            ) from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise ZooError(
                f"--templates-file {templates_file} holds no templates; write one per line, e.g. This example is {{}}."
            )
        given += lines
    if not given:
        return None
    check_templates(given)
    return given


def check_templates(templates: Sequence[str]) -> None:
    """Each template holds ``{}`` (where a label's name goes); none is given twice."""
    if not templates:
        raise ZooError("--template: give at least one template, e.g. --template 'This example is {}.'")
    for template in templates:
        if SLOT not in template:
            raise ZooError(
                f"--template '{template}' has no '{{}}' where the label's name goes; e.g. 'This example is {{}}.'"
            )
    repeated = sorted({t for t in templates if list(templates).count(t) > 1})
    if repeated:
        raise ZooError(f"--template '{repeated[0]}' is given twice; give each template once")


def class_prompts(names: Sequence[str], templates: Sequence[str]) -> tuple[list[str], list[int]]:
    """Every template filled with every name (``{}`` replaced, other braces kept), with each
    prompt's class index."""
    texts, ids = [], []
    for index, name in enumerate(names):
        for template in templates:
            texts.append(template.replace(SLOT, name))
            ids.append(index)
    return texts, ids


# ----------------------------------------------------------------------------------------- entry
def zero_shot(
    model: str,
    labels: str | Sequence[str] | Mapping[str, str],
    *,
    templates: Sequence[str] | None = None,
    temperature: float | None = None,
    name: str | None = None,
    test: str | Path | LabelledData | None = None,
    data_options: dict[str, Any] | None = None,
    save: bool = True,
    zoo: Zoo | None = None,
    offline: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> ZeroShotResult:
    """Classify into ``labels`` with text model ``model`` and no training data; store the adapter.

    ``labels``: see :func:`parse_labels`. ``templates`` (default: the method's) each hold ``{}``;
    ``temperature`` scales the cosine similarities (default 20). With ``test`` (a labelled text
    file, or loaded data) the adapter is evaluated there and records the metrics (eval split
    "test"); without, its metrics are null and its card says it was never evaluated. ``name``:
    the adapter's name (default ``<model alias>-zero_shot``); ``save=False`` stores nothing.
    """
    from zoo_core.plugins import Zoo

    started = time.perf_counter()
    zoo = zoo or Zoo()
    log = log or (lambda message: None)
    label_list, names = parse_labels(labels)
    entry = zoo.catalog.get(model)
    if entry.modality != "text":
        raise ZooError(
            f"zero-shot from label names needs a text model, and '{entry.id}' is an {entry.modality} model: "
            "it cannot embed the label names (image-text models such as CLIP are not in the catalog); "
            "pick one from 'zoo models list --modality text'"
        )
    options: dict[str, Any] = {"class_names": names}
    if templates is not None:
        options["templates"] = list(templates)
    if temperature is not None:
        if not temperature > 0:
            raise ZooError(f"--temperature must be above 0 (logits are temperature x cosine), got {temperature}")
        options["temperature"] = temperature
    method = load_spec_object(zoo.get("methods", METHOD))(**options)  # checks the options' types
    template_list = list(method.options.templates)
    check_templates(template_list)
    adapter_name = name or default_adapter_name(entry, METHOD)
    if save:  # before any model is built: a bad name costs nothing
        check_adapter_name(adapter_name)
    test_data = _load_test(test, label_list, data_options)

    backbone = build_backbone(zoo, entry, pretrained=True, offline=offline)
    backbone.use_features(method.backbone_features())
    net = TransferModel(backbone, build_head(zoo, "linear", backbone.num_features, len(label_list)))
    method.prepare(net)
    texts, ids = class_prompts(names, template_list)
    method.set_support(net, extract_features(backbone, texts), ids, len(label_list))
    notes = [
        f"zero-shot: {len(label_list)} classes from {len(texts)} prompts "
        f"({len(template_list)} template{'s' if len(template_list) > 1 else ''}), no training data"
    ]
    log(notes[0])

    metrics = None
    if test_data is not None:
        from zoo_core.metrics import classification_metrics

        logits = predict_items(net, method, test_data.items)
        metrics = classification_metrics(label_ids(test_data, label_list), logits.argmax(-1).tolist(), label_list)
        log(f"test: accuracy {metrics['accuracy']:.4f} on {metrics['num_samples']} examples")
    else:
        notes.append("not evaluated: no --test data, so the adapter records no metrics")
    result = ZeroShotResult(
        model=entry.id,
        labels=label_list,
        class_names=names,
        templates=template_list,
        temperature=method.options.temperature,
        metrics=metrics,
        eval_split="test" if metrics is not None else None,
        seconds=0.0,
        notes=notes,
        skipped=[s.as_dict() for s in test_data.skipped] if test_data is not None else [],
        model_obj=net,
    )
    if save:
        metadata = _metadata(entry, backbone, method, label_list, metrics, test_data)
        # Test texts, else one prompt per class: any texts do, the check compares logits before and after.
        samples = list(test_data.items) if test_data is not None else texts[:: len(template_list)]
        samples = samples[:VERIFY_SAMPLES]
        ref = save_adapter(zoo, adapter_name, net, method, metadata, samples, offline=offline, card=zero_shot_card)
        result.adapter, result.adapter_path = str(ref), str(ref.path)
    result.seconds = time.perf_counter() - started
    return result


def _load_test(
    test: str | Path | LabelledData | None, labels: list[str], data_options: dict[str, Any] | None
) -> LabelledData | None:
    """The labelled test texts, whose labels must all be among ``labels``."""
    from zoo_core.data import LabelledData, load_labelled

    if test is None:
        return None
    data = test if isinstance(test, LabelledData) else load_labelled(test, **(data_options or {}))
    if data.modality != "text":
        raise DataError(f"--test {data.source} holds {data.modality} data; zero-shot classifies texts")
    unknown = sorted(set(data.labels) - set(labels))
    if unknown:
        raise DataError(
            f"--test {data.source} has labels that are not in --labels: {', '.join(unknown[:10])}; "
            f"give every one, e.g. --labels '{unknown[0]}=NAME,...' to embed NAME and predict {unknown[0]}"
        )
    return data


# ----------------------------------------------------------------------------------------- saving
def _metadata(
    entry: Any,
    backbone: Any,
    method: Any,
    labels: list[str],
    metrics: dict[str, Any] | None,
    test_data: LabelledData | None,
) -> dict[str, Any]:
    """``adapter.json`` (before file hashes): what rebuilds the model, and that no example trained it."""
    import importlib.metadata
    from datetime import datetime, timezone

    from zoo_core import __version__

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    keys = ("accuracy", "macro_f1", "num_samples")
    return {
        "task": "text-classification",
        "base_model": {
            "id": entry.id,
            "family": entry.family,
            "arch": entry.arch,
            "weights_sha256": backbone.weights_sha256,
            "options": {},
            "pooling": backbone.pooling,
            "features": backbone.features,
        },
        "method": method.describe(),
        "head": {"name": "linear", "options": {}},
        "labels": labels,
        "preprocessing": backbone.preprocessor(train=False).config(),
        "metrics": {k: (metrics[k] if metrics is not None else None) for k in keys},
        "eval_split": "test" if metrics is not None else None,
        "data": {
            "num_train": 0,
            "source": "label names (zero-shot)",
            "test": str(test_data.source) if test_data is not None else None,
            "test_fingerprint": test_data.fingerprint() if test_data is not None else None,
        },
        "manifest": {
            "zoo_version": __version__,
            "python": platform.python_version(),
            "packages": {dist: version(dist) for dist in ("torch", "transformers")},
        },
        "created": datetime.now(timezone.utc).isoformat(),
        "zoo_version": __version__,
    }


def _escape(text: str) -> str:
    """A label or template as Markdown text (table cells included)."""
    return "".join("\\" + ch if ch in "\\`*_[]<>|#" else ch for ch in " ".join(str(text).split()))


def zero_shot_card(metadata: dict[str, Any]) -> str:
    """The adapter's README.md (the Hub's model-card layout, as other adapters): a zero-shot
    classifier, its classes and templates, and its test metrics or that it was never evaluated."""
    from huggingface_hub import EvalResult, ModelCardData

    base = metadata["base_model"]
    config = metadata["method"]["config"]
    labels = metadata["labels"]
    names = config.get("class_names") or labels
    metrics = metadata.get("metrics") or {}
    evaluated = metrics.get("accuracy") is not None
    data = dataset_name(metadata["data"]["test"] or "") if evaluated else ""
    shown = [("accuracy", "accuracy", "Accuracy"), ("macro_f1", "f1", "Macro F1")]
    card_data = ModelCardData(
        base_model=base["id"],
        library_name="transfer-zoo",
        pipeline_tag="text-classification",
        tags=["transfer-zoo", METHOD, "zero-shot", "text-classification"],
        datasets=[data] if data else None,
        metrics=[hub_id for _, hub_id, _ in shown] if evaluated else None,
        model_name=metadata.get("name", "adapter"),
        eval_results=[
            EvalResult(
                task_type="text-classification",
                dataset_type=data,
                dataset_name=data,
                dataset_split="test",
                metric_type=hub_id,
                metric_name=label,
                metric_value=round(float(metrics[key]), 4),
            )
            for key, hub_id, label in shown
        ]
        if evaluated
        else None,
    )
    name = metadata.get("name", "adapter")
    templates = config.get("templates", [])
    lines = [
        "---",
        card_data.to_yaml().rstrip(),
        "---",
        "",
        f"# {name}",
        "",
        f"A zero-shot classifier (method `{METHOD}`) on [{base['id']}](https://huggingface.co/{base['id']}), made by "
        f"transfer-zoo from label names alone: no training examples. Each class is the mean of the "
        f"L2-normalised embeddings of its name in {len(templates)} template{'s' if len(templates) != 1 else ''}; "
        f"an input's logits are {config.get('temperature')} x its cosine similarity to each class.",
        "",
        "| label | name in the templates |",
        "|---|---|",
        *[f"| {_escape(label)} | {_escape(text)} |" for label, text in zip(labels, names)],
        "",
        "Templates (`{}` is the name): " + ", ".join(f'"{_escape(t)}"' for t in templates) + ".",
        "",
    ]
    if evaluated:
        lines += [
            f"Evaluated on the test split ({metrics.get('num_samples', '?')} examples of {_escape(data)}): "
            f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}.",
            "",
        ]
    else:
        lines += [
            f"Never evaluated: no labelled test data was given. Measure it with `zoo evaluate {name} --data FILE`.",
            "",
        ]
    lines += ["## Use", "", "```", f"zoo predict {name} TEXT...", "```", ""]
    return "\n".join(lines)
