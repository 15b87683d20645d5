"""Write and read adapter tensors and rebuild a trained model from the store."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch

from zoo_core.engine.model import TransferModel, build_backbone, build_head
from zoo_core.errors import AdapterError, ZooError
from zoo_core.specs import load_spec_object
from zoo_core.store import METADATA_FILE, AdapterRef, AdapterStore
from zoo_core.weights import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

WEIGHTS_FILE = "adapter.safetensors"


def write_adapter_files(
    folder: Path, state: dict[str, torch.Tensor], metadata: dict[str, Any], card: str
) -> dict[str, Any]:
    """Write tensors and the model card into ``folder``; return metadata with file hashes."""
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in state.items()},
        str(folder / WEIGHTS_FILE),
        metadata={"format": "pt", "producer": "transfer-zoo"},
    )
    (folder / "README.md").write_text(card, encoding="utf-8")
    files = {
        path.relative_to(folder).as_posix(): sha256_file(path) for path in sorted(folder.rglob("*")) if path.is_file()
    }
    return {**metadata, "files": files}


def verify_files(ref: AdapterRef, metadata: dict[str, Any], *, where: str | None = None) -> None:
    """Check every file ``adapter.json`` lists against its sha256. Unlisted weights are an error, not
    a skipped check; so is a listed path outside the adapter folder. ``where`` names the metadata's
    source in messages (default: the version's ``adapter.json``; an archive when importing)."""
    where = where or str(ref.path / METADATA_FILE)
    files = metadata.get("files")
    if not isinstance(files, dict) or not isinstance(files.get(WEIGHTS_FILE), str):
        raise AdapterError(
            f"adapter {ref}: {where} records no sha256 for {WEIGHTS_FILE} (its 'files'), so its weights "
            "cannot be verified; refusing it (export it again from a store that has them, or train it again)"
        )
    root = ref.path.resolve()
    for name, expected in files.items():
        path = ref.path / name
        if not isinstance(expected, str) or not path.resolve().is_relative_to(root) or path.resolve() == root:
            raise AdapterError(f"adapter {ref}: {where} lists {name!r}, which is not a file inside the adapter folder")
        if not path.is_file():
            raise AdapterError(f"adapter {ref} is missing {name} (in {ref.path}; listed in {where})")
        actual = sha256_file(path)
        if actual != expected:
            raise AdapterError(
                f"adapter {ref}: {name} is corrupt (sha256 {actual[:16]}..., recorded {expected[:16]}... in {where})"
            )


_Load = TypeVar("_Load", bound=Callable[..., Any])


def _naming_the_adapter(load: _Load) -> _Load:
    """Every user error while loading adapter ``ref`` names it (an unknown base model, head or
    method, bad options, missing weights): one line the user can act on."""
    import functools

    @functools.wraps(load)
    def wrapper(zoo: Zoo, ref: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return load(zoo, ref, *args, **kwargs)
        except ZooError as exc:
            if str(ref) not in str(exc):
                exc.args = (f"adapter {ref}: {exc}",)
            raise

    return cast(_Load, wrapper)


@_naming_the_adapter
def load_trained_model(
    zoo: Zoo,
    ref: str,
    *,
    store: AdapterStore | None = None,
    allow_base_mismatch: bool = False,
    offline: bool | None = None,
    allow_unverified: bool = False,
) -> tuple[TransferModel, Any, dict[str, Any]]:
    """Rebuild (model, method, metadata) for adapter ``ref`` (``name`` or ``name@N``).

    The base model's weights must have the sha256 recorded at training time, or loading is
    refused (``allow_base_mismatch`` overrides), so an adapter never lands silently on other weights.
    Every file is checked against the sha256 in ``adapter.json`` (weights without one are refused),
    and a version whose reload check never completed is refused unless ``allow_unverified`` (which
    only that check itself passes); versions saved before verification markers load.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    store = store or AdapterStore()
    adapter = store.resolve(ref)
    metadata = adapter.metadata()
    task = metadata.get("task")
    if isinstance(task, str) and not task.endswith("-classification"):  # a detector or segmenter
        raise AdapterError(
            f"adapter {adapter} is a {task} adapter, not a classifier; 'zoo evaluate' and 'zoo predict' "
            "run it by its task"
        )
    verify_files(adapter, metadata)
    if not allow_unverified:
        adapter.require_verified(metadata)
    source = adapter.path / METADATA_FILE
    base = metadata["base_model"]
    entry, backbone = rebuild_backbone(zoo, adapter, metadata, allow_base_mismatch=allow_base_mismatch, offline=offline)
    if not backbone.use_features(base.get("features", "last")):
        raise AdapterError(
            f"adapter {adapter} needs '{base.get('features', 'last')}' features, which {entry.family} "
            "backbones here cannot give (is the family plugin older than the adapter?)"
        )
    head_cfg = metadata["head"]
    try:
        head = build_head(
            zoo, head_cfg["name"], backbone.num_features, len(metadata["labels"]), **head_cfg.get("options", {})
        )
    except (TypeError, ValueError) as exc:
        raise AdapterError(
            f"adapter {adapter}: head '{head_cfg['name']}' refuses head.options "
            f"{json.dumps(head_cfg.get('options', {}))[:200]} from {source}: {' '.join(str(exc).split())[:200]}"
        ) from None
    if base.get("continued_pretraining"):  # the backbone as continued pre-training left it
        from zoo_core.engine.tapt import load_continued_state

        load_continued_state(backbone, adapter.path, base["continued_pretraining"], str(adapter))
    model = TransferModel(backbone, head)
    method_cfg = metadata["method"]
    method = rebuild_method(zoo, metadata)
    method.prepare(model)
    # Shapes first (the safetensors header only): labels that do not match the stored head, or
    # options that built other layers, get one line rather than load_state_dict's size-mismatch dump.
    needed = {key: list(value.shape) for key, value in model.state_dict().items()}
    try:
        with safe_open(str(adapter.path / WEIGHTS_FILE), framework="pt") as handle:
            stored = {key: list(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception as exc:  # safetensors raises its own SafetensorError for a bad header
        raise AdapterError(f"adapter {adapter}: {WEIGHTS_FILE} is not a readable safetensors file: {exc}") from None
    for key in sorted(stored):
        if key in needed and stored[key] != needed[key]:
            raise AdapterError(
                f"adapter {adapter}: {WEIGHTS_FILE} holds {key} of shape {stored[key]}, but the model {source} "
                f"describes ({len(metadata['labels'])} labels, head '{head_cfg['name']}', method "
                f"'{method_cfg['name']}') needs {needed[key]}: the metadata does not belong to these weights"
            )
    state = load_file(str(adapter.path / WEIGHTS_FILE))
    try:
        method.load_adapter_state(model, state)
    except ValueError as exc:
        raise AdapterError(f"adapter {adapter} does not fit its model: {exc}") from None
    model.eval()
    return model, method, {**metadata, "ref": str(adapter), "path": str(adapter.path)}


def rebuild_backbone(
    zoo: Zoo, adapter: AdapterRef, metadata: dict[str, Any], *, allow_base_mismatch: bool, offline: bool | None
) -> tuple[Any, Any]:
    """(catalog entry, backbone) of a stored adapter's ``base_model``: built with its options, and
    refused when its weights' sha256 is not the one recorded (``allow_base_mismatch`` overrides)."""
    source = adapter.path / METADATA_FILE
    base = metadata["base_model"]
    entry = zoo.catalog.get(base["id"])
    try:
        backbone = build_backbone(
            zoo, entry, pretrained=base.get("weights_sha256") is not None, offline=offline, **base.get("options", {})
        )
    except (TypeError, ValueError) as exc:
        raise AdapterError(
            f"adapter {adapter}: the {entry.family} backbone refuses base_model.options "
            f"{json.dumps(base.get('options', {}))[:200]} from {source}: {' '.join(str(exc).split())[:200]}"
        ) from None
    if base.get("weights_sha256") != backbone.weights_sha256 and not allow_base_mismatch:
        raise AdapterError(
            f"adapter {adapter} was trained on {base['id']} with weights sha256 "
            f"{str(base.get('weights_sha256'))[:16]}..., "
            f"but the weights found here have sha256 {str(backbone.weights_sha256)[:16]}...; refusing to load "
            "(pass --allow-base-mismatch to override)"
        )
    return entry, backbone


def rebuild_method(zoo: Zoo, metadata: dict[str, Any]) -> Any:
    """The stored adapter's method, built with its recorded options (not yet prepared). Options the
    method no longer declares are dropped: the method's code reads none but its own."""
    method_cfg = metadata["method"]
    method_class = load_spec_object(zoo.get("methods", method_cfg["name"]))
    stored = method_cfg.get("config", {})
    if dataclasses.fields(method_class.Options):  # typed: options the method no longer declares are dropped
        known = {f.name for f in dataclasses.fields(method_class.Options)}
        stored = {k: v for k, v in stored.items() if k in known}
    return method_class(**stored)


_SPLIT_FOLDERS = {"train", "training", "val", "valid", "validation", "test", "data"}


def dataset_name(source: str) -> str:
    """A short name for the training data on the card: the file's stem or the folder's name (its
    parent's where the folder is only a split, e.g. ``flowers/train`` -> ``flowers``)."""
    path = Path(str(source).rstrip("/"))
    name = path.stem if path.suffix else path.name
    if name.lower() in _SPLIT_FOLDERS and path.parent.name:
        name = path.parent.name
    return name or "local-data"


def model_card(metadata: dict[str, Any]) -> str:
    """The adapter's README.md in the Hub's model-card layout: YAML metadata (base_model,
    library_name, pipeline_tag, tags, datasets, metrics and a model-index naming the split the
    metrics were measured on) that ``huggingface_hub.ModelCard`` reads back, then a short text."""
    from huggingface_hub import EvalResult, ModelCardData

    base = metadata["base_model"]
    metrics = metadata.get("metrics", {})
    task = metadata.get("task", "classification")
    name = metadata.get("name", "adapter")
    split = metadata.get("eval_split", "validation")
    data = dataset_name(metadata.get("data", {}).get("source", ""))
    # The Hub's metric ids: macro-F1 is "f1" (with its averaging in the name shown).
    shown = [("accuracy", "accuracy", "Accuracy"), ("macro_f1", "f1", "Macro F1")]
    results = [
        EvalResult(
            task_type=task,
            dataset_type=data,
            dataset_name=data,
            dataset_split=split,
            metric_type=hub_id,
            metric_name=label,
            metric_value=round(float(metrics[key]), 4),
        )
        for key, hub_id, label in shown
        if key in metrics
    ]
    card_data = ModelCardData(
        base_model=base["id"],
        library_name="transfer-zoo",
        pipeline_tag=task,
        tags=["transfer-zoo", metadata["method"]["name"], task],
        datasets=[data],
        metrics=[hub_id for key, hub_id, _ in shown if key in metrics] or None,
        model_name=name,
        eval_results=results or None,
    )
    lines = [
        "---",
        card_data.to_yaml().rstrip(),
        "---",
        "",
        f"# {name}",
        "",
        f"A `{metadata['method']['name']}` adapter for [{base['id']}](https://huggingface.co/{base['id']}), "
        f"trained with transfer-zoo on {metadata.get('data', {}).get('num_train', '?')} examples of "
        f"{len(metadata['labels'])} classes: {', '.join(metadata['labels'][:20])}.",
        "",
    ]
    if metrics:
        lines += [
            f"Evaluated on the {split} split ({metrics.get('num_samples', '?')} examples): "
            f"accuracy {metrics.get('accuracy', 0):.4f}, macro-F1 {metrics.get('macro_f1', 0):.4f}.",
            "",
        ]
    lines += ["## Use", "", "```", f"zoo predict {name} INPUT...", "```", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- saving a fine-tune
VERIFY_SAMPLES = 4  # inputs kept with their expected logits, to check every reload


def adapter_metadata(
    *,
    entry: Any,
    backbone: Any,
    backbone_options: dict[str, Any],
    method: Any,
    head: str,
    head_options: dict[str, Any],
    label_names: list[str],
    metrics: dict[str, Any],
    eval_split: str,
    train_data: Any,
    train_config: Any,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """What ``adapter.json`` records (before file hashes): enough to rebuild the model and to say
    where it came from."""
    from datetime import datetime, timezone

    from zoo_core import __version__

    return {
        "task": f"{entry.modality}-classification",
        "base_model": {
            "id": entry.id,
            "family": entry.family,
            "arch": entry.arch,
            "weights_sha256": backbone.weights_sha256,
            "options": backbone_options,
            "pooling": backbone.pooling,
            "features": backbone.features,
        },
        "method": method.describe(),
        "head": {"name": head, "options": head_options},
        "labels": label_names,
        "preprocessing": backbone.preprocessor(train=False).config(),
        "metrics": {k: metrics[k] for k in ("accuracy", "macro_f1", "num_samples")},
        "eval_split": eval_split,
        "data": {
            "fingerprint": train_data.fingerprint(),
            "num_train": len(train_data),
            "source": str(train_data.source),
        },
        "train": train_config.as_dict(),
        "manifest": manifest,
        "created": datetime.now(timezone.utc).isoformat(),
        "zoo_version": __version__,
    }


def write_samples(folder: Path, items: Sequence[Any], logits: torch.Tensor, modality: str) -> None:
    """Keep a few inputs and the logits the in-memory model gave them, to check every reload."""
    import shutil

    stored = []
    if modality == "image":
        (folder / "samples").mkdir()
        for index, item in enumerate(items):
            name = f"samples/{index}{Path(item).suffix.lower()}"
            shutil.copyfile(item, folder / name)
            stored.append(name)
    else:
        stored = [str(item) for item in items]
    (folder / "samples.json").write_text(
        json.dumps({"modality": modality, "items": stored, "logits": logits.tolist()}, indent=1)
    )


def save_adapter(
    zoo: Zoo,
    name: str,
    model: TransferModel,
    method: Any,
    metadata: dict[str, Any],
    samples: Sequence[Any],
    *,
    offline: bool | None = None,
    card: Callable[[dict[str, Any]], str] | None = None,
    continued: tuple[dict[str, Any], dict[str, torch.Tensor]] | None = None,
) -> AdapterRef:
    """Store ``model``'s adapter as a new version of ``name``, then reload it and check that it
    reproduces its predictions on ``samples`` (:func:`verify_reload`). Only then is the version
    marked verified (``verified.json``, written last): a process that dies between the rename and
    the check leaves a version that listings show, and loading refuses, as unverified. ``card``
    writes its README.md from the metadata (default :func:`model_card`). ``continued`` is (record,
    backbone state) of continued pre-training (:mod:`zoo_core.engine.tapt`): the re-trained backbone
    is stored beside the adapter, unless the method's own state holds the whole model."""
    from safetensors.torch import save_file

    from zoo_core.engine.inference import predict_items
    from zoo_core.engine.tapt import CONTINUED_FILE

    state = method.adapter_state(model)
    expected = predict_items(model, method, samples)
    modality = model.backbone.modality
    metadata = {**metadata, "verification": "marker"}  # verified once verified.json exists, not before
    if continued is not None:
        record, backbone_state = continued
        stored_whole = method.trains == "all"
        record = {**record, "file": None if stored_whole else CONTINUED_FILE}
        metadata["base_model"] = {**metadata["base_model"], "continued_pretraining": record}

    def write(tmp: Path) -> dict[str, Any]:
        write_samples(tmp, samples, expected, modality)
        if continued is not None and not stored_whole:
            save_file(backbone_state, str(tmp / CONTINUED_FILE), metadata={"format": "pt", "producer": "transfer-zoo"})
        return write_adapter_files(tmp, state, metadata, (card or model_card)({**metadata, "name": name}))

    store = AdapterStore()
    ref = store.save(name, write)
    difference = verify_reload(zoo, store, str(ref), offline=offline)
    store.mark_verified(ref, max_logit_difference=difference, samples=len(samples))
    return ref


def verify_reload(zoo: Zoo, store: AdapterStore, ref: str, *, offline: bool | None = None, atol: float = 1e-4) -> float:
    """Reload a saved adapter from disk and compare its logits on the stored samples with those of
    the model that was saved. A mismatch removes the new version and raises: never a warning."""
    from zoo_core.engine.inference import predict_items

    adapter = store.resolve(ref)
    samples = json.loads((adapter.path / "samples.json").read_text())
    items = samples["items"]
    if samples["modality"] == "image":
        items = [str(adapter.path / item) for item in items]
    expected = torch.tensor(samples["logits"])
    if not items:
        return 0.0
    net, method, _ = load_trained_model(zoo, ref, store=store, offline=offline, allow_unverified=True)
    actual = predict_items(net, method, items)
    difference = float((actual - expected).abs().max())
    if not torch.allclose(actual, expected, atol=atol, rtol=1e-4):
        store.remove(ref)
        raise AdapterError(
            f"adapter {ref} does not reproduce its predictions after reloading (max |logit "
            f"difference| {difference:.3g}); the version was removed. This is a bug in the method's "
            f"adapter_state/load_adapter_state: please report it"
        )
    return difference
