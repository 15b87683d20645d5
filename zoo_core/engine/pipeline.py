"""The transfer pipeline: data -> model -> method -> training -> evaluation -> adapter + run folder."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from zoo_core import __version__
from zoo_core.data import DataSplits, LabelledData, load_labelled, load_splits, take_shots
from zoo_core.engine.adapters import load_trained_model, model_card, write_adapter_files
from zoo_core.engine.backbone import to_device
from zoo_core.engine.features import extract_features
from zoo_core.engine.model import TransferModel, build_backbone, build_head
from zoo_core.engine.train import TrainConfig, Trainer, make_accelerator, predict_logits, seed_everything
from zoo_core.errors import DataError, ZooError
from zoo_core.metrics import classification_metrics
from zoo_core.paths import zoo_home
from zoo_core.specs import load_object
from zoo_core.store import AdapterStore

_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}


@dataclass
class FinetuneResult:
    """What ``finetune`` did: metrics on the evaluation split, where things were saved, timings."""

    model: str
    method: str
    metrics: dict[str, Any]
    eval_split: str
    history: list[dict[str, Any]]
    train_seconds: float
    samples_per_second: float
    best_epoch: int
    adapter: str | None = None
    adapter_path: str | None = None
    run_dir: str | None = None
    notes: list[str] = field(default_factory=list)
    feature_seconds: float = 0.0
    is_main_process: bool = True
    model_obj: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "method": self.method,
            "accuracy": self.metrics["accuracy"],
            "macro_f1": self.metrics["macro_f1"],
            "eval_split": self.eval_split,
            "metrics": self.metrics,
            "history": self.history,
            "train_seconds": round(self.train_seconds, 3),
            "feature_seconds": round(self.feature_seconds, 3),
            "samples_per_second": round(self.samples_per_second, 2),
            "best_epoch": self.best_epoch,
            "adapter": self.adapter,
            "adapter_path": self.adapter_path,
            "run_dir": self.run_dir,
            "notes": self.notes,
        }


class _ItemDataset(torch.utils.data.Dataset):
    def __init__(self, items: Sequence[Any], labels: Sequence[int], load: Callable[[Any], Any]):
        self.items, self.labels, self.load = list(items), list(labels), load

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.load(self.items[index]), self.labels[index]


def _collate_with(collate: Callable[[list[Any]], Any]):
    def collate_fn(samples):
        inputs, labels = zip(*samples)
        return collate(list(inputs)), torch.tensor(labels, dtype=torch.long)

    return collate_fn


def _single_thread_worker(worker_id: int) -> None:
    # Workers only decode and resize: with torch's default thread pool in each of them they fight
    # the training process for the same few cores (measured: 4x slower epochs on 2 cores).
    torch.set_num_threads(1)


def item_loader(items, labels, preprocessor, *, batch_size: int, shuffle: bool, seed: int, num_workers: int):
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        _ItemDataset(items, labels, preprocessor.load),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=_collate_with(preprocessor.collate),
        generator=generator,
        persistent_workers=num_workers > 0,
        worker_init_fn=_single_thread_worker if num_workers else None,
    )


def feature_loader(features: torch.Tensor, labels: Sequence[int], *, batch_size: int, shuffle: bool, seed: int):
    dataset = torch.utils.data.TensorDataset(features, torch.tensor(list(labels), dtype=torch.long))
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed)
    )


def _label_ids(data: LabelledData, index: dict[str, int]) -> list[int]:
    return [index[label] for label in data.labels]


def default_workers(modality: str) -> int:
    # Image decoding overlaps with compute in a worker; tokenising is cheap enough in-process.
    import os

    return min(2, os.cpu_count() or 1) if modality == "image" else 0


def build_train_config(spec_defaults: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    values = {k: v for k, v in spec_defaults.items() if k in _TRAIN_FIELDS}
    values.update({k: v for k, v in overrides.items() if v is not None and k in _TRAIN_FIELDS})
    return TrainConfig(**values)


def finetune(
    model: str,
    data: str | Path | DataSplits,
    *,
    method: str = "linear_probe",
    val: str | Path | None = None,
    test: str | Path | None = None,
    name: str | None = None,
    head: str = "linear",
    head_options: dict[str, Any] | None = None,
    method_options: dict[str, Any] | None = None,
    pretrained: bool = True,
    shots: int | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    save: bool = True,
    run_dir: str | Path | None = None,
    zoo=None,
    log: Callable[[str], None] | None = None,
    backbone_options: dict[str, Any] | None = None,
    data_options: dict[str, Any] | None = None,
    offline: bool | None = None,
    accelerator=None,
    **train_options: Any,
) -> FinetuneResult:
    """Adapt catalog model ``model`` to labelled ``data`` with ``method``; evaluate; save an adapter.

    Training settings (``epochs``, ``lr``, ``batch_size``, ``weight_decay``, ``schedule``,
    ``warmup``, ``patience``, ``monitor``, ``grad_accum``, ``label_smoothing``, ``class_weights``,
    ``num_workers``...) default to the method's own (``zoo methods list --json``). Evaluation uses
    the test split when one exists, else the validation split (which also drove early stopping;
    the result says so).
    """
    from zoo_core.plugins import Zoo

    zoo = zoo or Zoo()
    log = log or (lambda message: None)
    entry = zoo.catalog.get(model)
    method_spec = zoo.get("methods", method)
    if entry.modality not in method_spec.modalities:
        raise ZooError(
            f"method '{method}' does not support {entry.modality} models"
            + (f": {method_spec.unsupported_reason}" if method_spec.unsupported_reason else "")
        )
    for key in train_options:
        if key not in _TRAIN_FIELDS:
            raise ZooError(f"unknown training option '{key}'; known: {', '.join(sorted(_TRAIN_FIELDS))}")
    splits = (
        data
        if isinstance(data, DataSplits)
        else load_splits(data, val=val, test=test, val_fraction=val_fraction, seed=seed, **(data_options or {}))
    )
    if splits.train.modality != entry.modality:
        raise DataError(
            f"model '{entry.id}' takes {entry.modality} data but {splits.train.source} holds "
            f"{splits.train.modality} data; pick a {splits.train.modality} model (zoo models list "
            f"--modality {splits.train.modality})"
        )
    notes = list(splits.notes)
    train_data = splits.train
    if shots:
        train_data = train_data.subset(take_shots(train_data.labels, shots, seed))
        notes.append(f"few-shot: {shots} examples per class drawn with seed {seed} ({len(train_data)} in all)")
    label_names = splits.label_names
    index = {label: i for i, label in enumerate(label_names)}

    config = build_train_config(method_spec.defaults, {**train_options, "seed": seed})
    if "num_workers" not in train_options:
        config.num_workers = default_workers(entry.modality)
    seed_everything(seed)
    backbone = build_backbone(zoo, entry, pretrained=pretrained, offline=offline, **(backbone_options or {}))
    method_config = {k: v for k, v in method_spec.defaults.items() if k not in _TRAIN_FIELDS}
    method_config.update(method_options or {})
    adaptation = load_object(method_spec.factory)(**method_config)
    wanted = adaptation.backbone_features()
    if not backbone.use_features(wanted):
        notes.append(f"{entry.family} backbones cannot give '{wanted}' features; the pooled final features were used")
    head_options = {"dropout": 0.1, **(head_options or {})}
    head_module = build_head(zoo, head, backbone.num_features, len(label_names), **head_options)
    net = TransferModel(backbone, head_module)
    adaptation.prepare(net)
    accelerator = accelerator or make_accelerator(config.grad_accum)
    trainer = Trainer(config, accelerator, log=log)
    y_train = _label_ids(train_data, index)
    eval_data, eval_split = (splits.test, "test") if splits.test is not None else (splits.val, "validation")
    if eval_data is None:
        raise DataError("no validation or test data to evaluate on: give --val or --test, or more examples per class")
    if eval_split == "validation":
        notes.append(
            "evaluated on the validation split, which also chose the best epoch (optimistic); "
            "give --test for an unbiased number"
        )
    y_eval = _label_ids(eval_data, index)
    y_val = _label_ids(splits.val, index) if splits.val is not None else None
    feature_seconds = 0.0
    show = config.progress and sys.stderr.isatty()

    if adaptation.uses_feature_cache:
        started = time.perf_counter()

        def fx(d, what):
            return extract_features(
                backbone,
                d.items,
                batch_size=64,
                num_workers=config.num_workers,
                progress=show,
                desc=f"{what} features",
            )

        train_x = fx(train_data, "train")
        val_x = fx(splits.val, "val") if splits.val is not None else None
        eval_x = val_x if eval_data is splits.val else fx(eval_data, eval_split)
        feature_seconds = time.perf_counter() - started
        log(f"features: {len(train_data) + len(eval_data)} items in {feature_seconds:.1f}s")
        direct = getattr(adaptation, "fit_features", None)
        fit_config = replace(config, refit_on_val=eval_split != "validation")
        result = direct(net.head, train_x, y_train, val_x, y_val, fit_config) if direct else None
        if result is None:
            train_loader = feature_loader(train_x, y_train, batch_size=config.batch_size, shuffle=True, seed=seed)
            val_loader = (
                feature_loader(val_x, y_val, batch_size=256, shuffle=False, seed=seed) if val_x is not None else None
            )
            result = trainer.fit(
                net,
                adaptation,
                train_loader,
                val_loader,
                module=net.head,
                num_classes=len(label_names),
                train_labels=torch.tensor(y_train),
            )
        elif result.note:
            notes.append(result.note)
        adaptation.load_adapter_state(net, result.best_state)
        eval_loader = feature_loader(eval_x, y_eval, batch_size=256, shuffle=False, seed=seed)
        logits, labels = predict_logits(net.head, accelerator.prepare(eval_loader), accelerator)
    else:
        train_prep, eval_prep = backbone.preprocessor(train=True), backbone.preprocessor(train=False)
        workers = config.num_workers
        own_loop = getattr(adaptation, "fit_items", None)
        result = (
            own_loop(
                net,
                train_data.items,
                y_train,
                splits.val.items if splits.val is not None else None,
                y_val,
                replace(config, refit_on_val=eval_split != "validation"),
                accelerator=accelerator,
                log=log,
            )
            if own_loop
            else None
        )
        if result is None:
            train_loader = item_loader(
                train_data.items,
                y_train,
                train_prep,
                batch_size=config.batch_size,
                shuffle=True,
                seed=seed,
                num_workers=workers,
            )
            val_loader = (
                item_loader(
                    splits.val.items,
                    y_val,
                    eval_prep,
                    batch_size=config.batch_size,
                    shuffle=False,
                    seed=seed,
                    num_workers=workers,
                )
                if splits.val is not None
                else None
            )
            result = trainer.fit(
                net,
                adaptation,
                train_loader,
                val_loader,
                num_classes=len(label_names),
                train_labels=torch.tensor(y_train),
            )
        elif result.note:
            notes.append(result.note)
        net = accelerator.unwrap_model(net)
        adaptation.load_adapter_state(net, result.best_state)
        eval_loader = item_loader(
            eval_data.items,
            y_eval,
            eval_prep,
            batch_size=config.batch_size,
            shuffle=False,
            seed=seed,
            num_workers=workers,
        )
        logits, labels = predict_logits(net, accelerator.prepare(eval_loader), accelerator)

    metrics = classification_metrics(labels.tolist(), logits.argmax(-1).tolist(), label_names)
    outcome = FinetuneResult(
        model=entry.id,
        method=method,
        metrics=metrics,
        eval_split=eval_split,
        history=result.history,
        train_seconds=result.seconds,
        samples_per_second=result.samples_per_second,
        best_epoch=result.best_epoch,
        notes=notes,
        feature_seconds=feature_seconds,
        model_obj=net,
    )
    if not accelerator.is_main_process:
        outcome.is_main_process = False
        return outcome  # only the main process writes runs and adapters
    manifest = _manifest(zoo, entry, backbone, adaptation, config, splits, train_data, seed, pretrained)
    if save or run_dir:
        folder = Path(run_dir) if run_dir else zoo_home() / "runs" / _run_name(name or entry.short_name, method)
        write_run_folder(folder, outcome, manifest, label_names)
        outcome.run_dir = str(folder)
    if save:
        adapter_name = name or f"{entry.short_name.replace('/', '-')}-{method}"
        metadata = {
            "task": f"{entry.modality}-classification",
            "base_model": {
                "id": entry.id,
                "family": entry.family,
                "arch": entry.arch,
                "weights_sha256": backbone.weights_sha256,
                "options": backbone_options or {},
                "pooling": getattr(backbone, "pooling", "avg"),
                "features": backbone.features,
            },
            "method": adaptation.describe(),
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
            "train": config.as_dict(),
            "manifest": manifest,
            "created": datetime.now(timezone.utc).isoformat(),
            "zoo_version": __version__,
        }
        state = adaptation.adapter_state(net)
        samples = list(eval_data.items[:VERIFY_SAMPLES])
        expected = _predict_items(net, adaptation, samples)

        def write(tmp: Path) -> dict[str, Any]:
            write_samples(tmp, samples, expected, entry.modality)
            return write_adapter_files(tmp, state, metadata, model_card({**metadata, "name": adapter_name}))

        store = AdapterStore()
        ref = store.save(adapter_name, write)
        verify_reload(zoo, store, str(ref), offline=offline)
        outcome.adapter, outcome.adapter_path = str(ref), str(ref.path)
    return outcome


VERIFY_SAMPLES = 4


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


def verify_reload(zoo, store: AdapterStore, ref: str, *, offline: bool | None = None, atol: float = 1e-4) -> float:
    """Reload a saved adapter from disk and compare its logits on the stored samples with those of
    the model that was saved. A mismatch removes the new version and raises: never a warning."""
    from zoo_core.errors import AdapterError

    adapter = store.resolve(ref)
    samples = json.loads((adapter.path / "samples.json").read_text())
    items = samples["items"]
    if samples["modality"] == "image":
        items = [str(adapter.path / item) for item in items]
    expected = torch.tensor(samples["logits"])
    if not items:
        return 0.0
    net, method, _ = load_trained_model(zoo, ref, store=store, offline=offline)
    actual = _predict_items(net, method, items)
    difference = float((actual - expected).abs().max())
    if not torch.allclose(actual, expected, atol=atol, rtol=1e-4):
        store.remove(ref)
        raise AdapterError(
            f"adapter {ref} does not reproduce its predictions after reloading (max |logit "
            f"difference| {difference:.3g}); the version was removed. This is a bug in the method's "
            f"adapter_state/load_adapter_state: please report it"
        )
    return difference


def _run_name(base: str, method: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return f"{base.replace('/', '-')}-{method}-{stamp}"


def _manifest(zoo, entry, backbone, method, config, splits, train_data, seed, pretrained) -> dict[str, Any]:
    import importlib.metadata as md

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    return {
        "zoo_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {
            d: version(d) for d in ("torch", "timm", "transformers", "peft", "accelerate", "numpy", "scikit-learn")
        },
        "plugins": {
            i.name: {"distribution": i.distribution, "version": i.version, "status": i.status}
            for i in zoo.plugin_infos()
        },
        "model": entry.id,
        "weights_sha256": backbone.weights_sha256,
        "pretrained": pretrained,
        "method": method.describe(),
        "train": config.as_dict(),
        "seed": seed,
        "data": {
            "train_fingerprint": train_data.fingerprint(),
            "num_train": len(train_data),
            "num_val": len(splits.val) if splits.val is not None else 0,
            "num_test": len(splits.test) if splits.test is not None else 0,
            "skipped": len(splits.train.skipped),
            "notes": splits.notes,
        },
    }


def write_run_folder(folder: Path, outcome: FinetuneResult, manifest: dict[str, Any], label_names: list[str]) -> None:
    """metrics.json, manifest.json, history.json, learning_curves.png, confusion_matrix.png."""
    folder.mkdir(parents=True, exist_ok=True)
    dump = lambda name, obj: (folder / name).write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))  # noqa: E731
    dump("metrics.json", {**outcome.metrics, "eval_split": outcome.eval_split, "best_epoch": outcome.best_epoch})
    dump("manifest.json", manifest)
    dump("history.json", outcome.history)
    try:
        plot_learning_curves(outcome.history, folder / "learning_curves.png")
        plot_confusion(outcome.metrics["confusion_matrix"], label_names, folder / "confusion_matrix.png")
    except ImportError:  # matplotlib is optional: the numbers are in the JSON files
        pass


def plot_learning_curves(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    if history and "val_loss" in history[0]:
        left.plot(epochs, [h["val_loss"] for h in history], label="val loss")
        right.plot(epochs, [h["val_accuracy"] for h in history], label="val accuracy")
        right.plot(epochs, [h["val_macro_f1"] for h in history], label="val macro-F1")
        right.legend()
    left.set_xlabel("epoch")
    right.set_xlabel("epoch")
    left.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix: list[list[int]], labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.5 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 20:
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate(
    adapter: str,
    data: str | Path,
    *,
    zoo=None,
    batch_size: int = 64,
    allow_base_mismatch: bool = False,
    data_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics of stored adapter ``adapter`` on labelled ``data`` (labels must be the adapter's)."""
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
    index = {label: i for i, label in enumerate(label_names)}
    logits = _predict_items(net, method, labelled.items, batch_size=batch_size)
    metrics = classification_metrics(_label_ids(labelled, index), logits.argmax(-1).tolist(), label_names)
    return {"adapter": metadata["ref"], "data": str(data), "skipped": len(labelled.skipped), **metrics}


def _predict_items(net: TransferModel, method, items: Sequence[Any], *, batch_size: int = 64) -> torch.Tensor:
    if method.uses_feature_cache:
        features = extract_features(net.backbone, items, batch_size=batch_size)
        with torch.no_grad():
            net.head.eval()
            return torch.cat([net.head(chunk) for chunk in features.split(256)]) if len(features) else torch.zeros(0)
    prep = net.backbone.preprocessor(train=False)
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            batch = prep.collate([prep.load(item) for item in items[start : start + batch_size]])
            out.append(net(to_device(batch, next(net.parameters()).device)).float())
    return torch.cat(out) if out else torch.zeros(0)


def predict(
    adapter: str,
    inputs: Sequence[Any],
    *,
    zoo=None,
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
        if not hasattr(method, "set_support"):
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
        index = {label: i for i, label in enumerate(labels)}
        features = extract_features(net.backbone, labelled.items, batch_size=batch_size)
        method.set_support(net, features, _label_ids(labelled, index), len(labels))
    items = list(inputs)
    if net.backbone.modality == "image":
        missing = [item for item in items if not Path(item).is_file()]
        if missing:
            raise DataError(
                f"image not found: {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
    probabilities = _predict_items(net, method, items, batch_size=batch_size).softmax(-1)
    results = []
    k = max(1, min(top_k, len(labels)))
    for item, probs in zip(items, probabilities):
        values, indices = probs.topk(k)
        results.append(
            {
                "input": str(item),
                "label": labels[int(indices[0])],
                "score": float(values[0]),
                "top": [{"label": labels[int(i)], "score": float(v)} for v, i in zip(values, indices)],
            }
        )
    return results
