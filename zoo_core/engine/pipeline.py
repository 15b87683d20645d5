"""The transfer pipeline, in named stages: prepare -> fit (on cached features, or on raw items) ->
evaluate -> save (adapter + run folder). :func:`finetune` runs them in order; :func:`finetune_repeated`
runs it over several seeds and reports mean and standard deviation.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo_core.data import DataSplits, LabelledData, load_splits, skipped_summary, take_shots
from zoo_core.engine.adapters import VERIFY_SAMPLES, adapter_metadata, save_adapter
from zoo_core.engine.features import extract_features
from zoo_core.engine.inference import evaluate, label_ids, predict, predict_items
from zoo_core.engine.loaders import default_workers, feature_loader, item_loader
from zoo_core.engine.method import AdaptationMethod
from zoo_core.engine.model import TransferModel, build_backbone, build_head
from zoo_core.engine.runs import default_run_folder, run_manifest, write_run_folder
from zoo_core.engine.settings import (
    FinetuneConfig,
    FinetuneResult,
    RepeatedResult,
    build_train_config,
    method_options,
)
from zoo_core.engine.tapt import check_tapt, run_tapt
from zoo_core.engine.tracking import check_tracking, start_tracking
from zoo_core.engine.train import TrainConfig, Trainer, TrainResult, make_accelerator, predict_logits, seed_everything
from zoo_core.engine.unlabeled import UnlabeledData, check_unlabeled_use, load_unlabeled, overlap_note
from zoo_core.errors import DataError, ZooError
from zoo_core.metrics import classification_metrics
from zoo_core.specs import load_spec_object
from zoo_core.store import check_adapter_name

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

__all__ = [
    "FinetuneConfig",
    "FinetuneResult",
    "RepeatedResult",
    "build_train_config",
    "evaluate",
    "finetune",
    "finetune_repeated",
    "predict",
    "predict_items",
]


# ------------------------------------------------------------------------------------- stages
@dataclass
class PreparedRun:
    """Everything the fit, evaluate and save stages share: data, labels, model, method, settings."""

    zoo: Zoo
    entry: Any
    config: FinetuneConfig
    train_config: TrainConfig
    splits: DataSplits
    train_data: LabelledData
    eval_data: LabelledData
    eval_split: str
    label_names: list[str]
    backbone: Any
    method: AdaptationMethod
    net: TransferModel
    head_options: dict[str, Any]
    accelerator: Any
    log: Callable[[str], None]
    notes: list[str]
    unlabeled: UnlabeledData | None = None  # target-domain data for domain adaptation (--unlabeled)
    # Continued pre-training (--tapt-steps): what adapters record of it, and the backbone it left.
    tapt: dict[str, Any] | None = None
    tapt_state: dict[str, torch.Tensor] | None = None
    method_choice: dict[str, str] | None = None  # method="auto": what it picked and why

    def ids(self, data: LabelledData | None) -> list[int] | None:
        return label_ids(data, self.label_names) if data is not None else None

    @property
    def fit_config(self) -> TrainConfig:
        # Refitting on train + validation is honest only when validation is not what is reported.
        return replace(self.train_config, refit_on_val=self.eval_split != "validation")


def default_adapter_name(entry: Any, method: str) -> str:
    """``<model alias>-<method>``, the name an adapter is stored under when none is given."""
    return f"{entry.short_name.replace('/', '-')}-{method}"


@dataclass
class Fitted:
    """A fit stage's outcome: the training result and how to compute the evaluation logits."""

    result: TrainResult
    eval_module: torch.nn.Module
    eval_loader: Any
    feature_seconds: float = 0.0


def prepare(
    model: str,
    data: str | Path | DataSplits,
    config: FinetuneConfig,
    *,
    zoo: Zoo,
    log: Callable[[str], None],
    accelerator: Any = None,
) -> PreparedRun:
    """Check every option, load and split the data, build the backbone, head and method.
    ``method="auto"`` is resolved from the loaded training data first (:func:`resolve_auto_method`)."""
    entry = zoo.catalog.get(model)
    splits = auto_note = None
    if config.method == "auto":  # the choice follows the data: read it before the method is known
        splits = _load_data(data, config, entry)
        config, auto_note = resolve_auto_method(entry, config, splits.train)
    spec = zoo.get("methods", config.method)
    if entry.modality not in spec.modalities:
        reason = f": {spec.unsupported_reason}" if spec.unsupported_reason else ""
        raise ZooError(f"method '{config.method}' does not support {entry.modality} models{reason}")
    # Options and names are checked before any data is read or model built: a typo costs nothing.
    options = method_options(spec, config.method_options)
    train_config = build_train_config(spec.defaults, {**config.train, "seed": config.seed})
    method = load_spec_object(spec)(**options)
    augmentation_note = check_augmentation_use(config, method, auto=auto_note is not None)
    tapt_steps = check_tapt(zoo, entry, config.tapt_steps, config.unlabeled is not None)
    check_unlabeled_use(zoo, config.method, method, config.unlabeled is not None, tapt=bool(tapt_steps))
    if "num_workers" not in config.train:
        train_config.num_workers = default_workers(entry.modality)
    if config.save:  # the default name too: a catalog alias or a plugin's method name may not make one
        check_adapter_name(config.name or default_adapter_name(entry, config.method))
    check_tracking(config.report_to, config.tracking_dir)
    splits = splits or _load_data(data, config, entry)
    notes = [*filter(None, [auto_note, augmentation_note]), *splits.notes]
    if splits.skipped:  # nothing is left out in silence: stderr on the CLI, skipped.json in the run folder
        log(skipped_summary(splits.skipped, full_list="--json output and the run folder's skipped.json"))
    train_data = splits.train
    if config.shots:
        train_data = train_data.subset(take_shots(train_data.labels, config.shots, config.seed))
        notes.append(
            f"few-shot: {config.shots} examples per class drawn with seed {config.seed} ({len(train_data)} in all)"
        )
    eval_data, eval_split = (splits.test, "test") if splits.test is not None else (splits.val, "validation")
    if eval_data is None:
        why = next((note for note in splits.notes if note.startswith("validation:")), "validation: none")
        raise DataError(
            f"no validation or test data to evaluate on ({splits.train.source}: {why}); "
            "give --val or --test, or more examples per class"
        )
    if eval_split == "validation":
        notes.append(
            "evaluated on the validation split, which also chose the best epoch (optimistic); "
            "give --test for an unbiased number"
        )

    unlabeled = None
    if config.unlabeled is not None:
        unlabeled = load_unlabeled(config.unlabeled, modality=splits.train.modality, **config.data_options)
        notes += [*unlabeled.notes, *filter(None, [overlap_note(unlabeled, eval_data.items, eval_split)])]
    seed_everything(config.seed)
    backbone = build_backbone(
        zoo, entry, pretrained=config.pretrained, offline=config.offline, **config.backbone_options
    )
    accelerator = accelerator or make_accelerator(train_config.grad_accum)
    tapt = tapt_state = None
    if tapt_steps and unlabeled is not None:
        tapt, tapt_state = run_tapt(
            zoo,
            entry,
            backbone,
            unlabeled,
            steps=tapt_steps,
            seed=config.seed,
            device=accelerator.device,
            log=log,
            progress=train_config.progress,
        )
        notes.append(
            f"tapt: {tapt['steps']} masked-LM steps on {tapt['texts']} unlabelled texts before '{config.method}' "
            f"(loss {tapt['loss_start']} -> {tapt['loss_end']}; MLM head {tapt['mlm_head']}"
            + ("; from the cache)" if tapt.get("cached") else ")")
        )
        if tapt["mlm_head"] == "fresh":
            notes.append(
                "tapt: the checkpoint has no masked-LM head (a sentence-embedding model?), so a fresh one was trained; "
                "on Amazon reviews with all-MiniLM-L6-v2 this lowered accuracy (BENCHMARKS.md, domain adaptation)"
            )
        seed_everything(config.seed)  # the head starts as it would without tapt
    wanted = method.backbone_features()
    if not backbone.use_features(wanted):
        notes.append(f"{entry.family} backbones cannot give '{wanted}' features; the pooled final features were used")
    head_options = {"dropout": 0.1, **config.head_options}
    head = build_head(zoo, config.head, backbone.num_features, len(splits.label_names), **head_options)
    net = TransferModel(backbone, head)
    method.prepare(net)
    return PreparedRun(
        zoo=zoo,
        entry=entry,
        config=config,
        train_config=train_config,
        splits=splits,
        train_data=train_data,
        eval_data=eval_data,
        eval_split=eval_split,
        label_names=splits.label_names,
        backbone=backbone,
        method=method,
        net=net,
        head_options=head_options,
        accelerator=accelerator,
        log=log,
        notes=notes,
        unlabeled=unlabeled,
        tapt=tapt,
        tapt_state=tapt_state,
        method_choice={"asked": "auto", "picked": config.method, "reason": auto_note} if auto_note else None,
    )


def load_config_splits(data: str | Path | DataSplits, config: FinetuneConfig) -> DataSplits:
    """``data`` as it is when already split, else :func:`~zoo_core.data.load_splits` of it with the
    config's ``val``, ``test``, ``val_fraction``, ``seed`` and ``data_options``."""
    if isinstance(data, DataSplits):
        return data
    return load_splits(
        data,
        val=config.val,
        test=config.test,
        val_fraction=config.val_fraction,
        seed=config.seed,
        **config.data_options,
    )


def _load_data(data: str | Path | DataSplits, config: FinetuneConfig, entry: Any) -> DataSplits:
    """The train, validation and test splits, of the model's modality."""
    if config.shots is not None and config.shots < 1:
        raise ZooError(f"--shots must be at least 1 (examples per class), got {config.shots}")
    if not 0 < config.val_fraction < 1:
        raise ZooError(
            f"val_fraction must be between 0 and 1 (a share of the training data), got {config.val_fraction}"
        )
    splits = load_config_splits(data, config)
    if splits.train.modality != entry.modality:
        kind = splits.train.modality
        raise DataError(
            f"model '{entry.id}' takes {entry.modality} data but {splits.train.source} holds {kind} data; "
            f"pick a {kind} model (zoo models list --modality {kind})"
        )
    return splits


#: Backbone options that change only the training transform (``zoo_timm``'s), with the names a user gave them.
AUGMENTATION_OPTIONS = {"augment": "--augment", "hflip": "--hflip", "crop_scale": "crop_scale"}


def check_augmentation_use(config: FinetuneConfig, method: Any, *, auto: bool) -> str | None:
    """Training augmentation given to a method that trains on cached features of the evaluation
    transform would never be used: refused in one line for a method the user named, a note when
    ``--method auto`` picked it (the user asked for augmentation without knowing the method)."""
    given = [name for name in AUGMENTATION_OPTIONS if name in (config.backbone_options or {})]
    if not given or not method.uses_feature_cache:
        return None
    flags = "/".join(AUGMENTATION_OPTIONS[name] for name in given)
    why = (
        f"method '{config.method}' trains on cached features of unaugmented images, so the training "
        "augmentation would not be used"
    )
    if auto:
        return f"augment: not used ({flags}): {why}"
    raise ZooError(f"{flags}: {why}; drop it, or pick a method that trains the backbone (full, lora, ...)")


def resolve_auto_method(entry: Any, config: FinetuneConfig, train: LabelledData) -> tuple[FinetuneConfig, str]:
    """``method="auto"``: the advisor's choice (:func:`zoo_core.advice.choose_method`) from the
    examples per class that will train (after ``shots``), the modality, the model's size and
    whether unlabelled target data was given; the config with that method, and a note saying why.
    Auto's only option is ``budget`` (``method_options={"budget": "low"}``, ``-o budget=low``);
    any other method option belongs to a method named outright."""
    import collections

    from zoo_core.advice import choose_method

    options = dict(config.method_options)
    budget = options.pop("budget", None)
    if options:
        raise ZooError(
            f"--method auto takes no method options ({', '.join(sorted(options))}): they belong to a specific "
            "method; name it with --method, or leave -o out (auto's only option is -o budget=low)"
        )
    if config.shots:
        train = train.subset(take_shots(train.labels, config.shots, config.seed))
    per_class = min(collections.Counter(train.labels).values())
    method, reason = choose_method(
        per_class, entry.params_m, entry.modality, unlabeled=config.unlabeled is not None, budget=budget
    )
    return replace(config, method=method, method_options={}), f"method auto: picked '{method}' because {reason}"


def own_fit_notes(run: PreparedRun, result: TrainResult) -> list[str]:
    """Notes on a fit the method made itself, outside the generic trainer: its own note, and an
    ``ema_decay`` that only the trainer keeps, so this fit never used it (said, not skipped)."""
    notes = [result.note] if result.note else []
    if run.train_config.ema_decay:
        notes.append(
            f"ema_decay: not used: method '{run.config.method}' fitted itself, outside the training loop "
            "that keeps the weight EMA"
        )
    return notes


def fit_on_features(run: PreparedRun) -> Fitted:
    """Extract (cached) backbone features once; the method fits the head on them itself
    (``fit_features``) or the generic trainer does."""
    cfg, splits, seed = run.train_config, run.splits, run.config.seed
    show = cfg.progress and sys.stderr.isatty()
    started = time.perf_counter()

    def features(data: LabelledData | UnlabeledData, what: str) -> torch.Tensor:
        return extract_features(
            run.backbone, data.items, batch_size=64, num_workers=cfg.num_workers, progress=show, desc=f"{what} features"
        )

    train_x = features(run.train_data, "train")
    val_x = features(splits.val, "val") if splits.val is not None else None
    eval_x = val_x if run.eval_data is splits.val else features(run.eval_data, run.eval_split)
    uses_target = run.unlabeled is not None and run.method.uses_unlabeled_data
    target_x = features(run.unlabeled, "unlabeled") if uses_target and run.unlabeled is not None else None
    feature_seconds = time.perf_counter() - started
    count = len(run.train_data) + len(run.eval_data) + (len(target_x) if target_x is not None else 0)
    run.log(f"features: {count} items in {feature_seconds:.1f}s")
    if target_x is not None:
        run.method.set_unlabeled(run.net, target_x)
    y_train, y_val = run.ids(run.train_data), run.ids(splits.val)
    assert y_train is not None
    result = run.method.fit_features(run.net.head, train_x, y_train, val_x, y_val, run.fit_config)
    if result is None:
        train_loader = feature_loader(train_x, y_train, batch_size=cfg.batch_size, shuffle=True, seed=seed)
        val_loader = (
            feature_loader(val_x, y_val, batch_size=256, seed=seed) if val_x is not None and y_val is not None else None
        )
        trainer = Trainer(cfg, run.accelerator, log=run.log)
        result = trainer.fit(
            run.net,
            run.method,
            train_loader,
            val_loader,
            module=run.net.head,
            num_classes=len(run.label_names),
            train_labels=torch.tensor(y_train),
        )
    else:
        run.notes.extend(own_fit_notes(run, result))
    assert result.best_state is not None
    run.method.load_adapter_state(run.net, result.best_state)
    assert eval_x is not None  # the evaluation split exists: prepare() refuses a run without one
    eval_loader = feature_loader(eval_x, run.ids(run.eval_data) or [], batch_size=256, seed=seed)
    return Fitted(result, run.net.head, eval_loader, feature_seconds)


def fit_on_items(run: PreparedRun) -> Fitted:
    """Train on raw items: the method's own loop (``fit_items``) or the generic trainer."""
    cfg, splits, seed = run.train_config, run.splits, run.config.seed
    y_train, y_val = run.ids(run.train_data), run.ids(splits.val)
    assert y_train is not None
    val_items = splits.val.items if splits.val is not None else None
    if run.unlabeled is not None and run.method.uses_unlabeled_data:
        run.method.set_unlabeled(run.net, run.unlabeled.items)
    result = run.method.fit_items(
        run.net,
        run.train_data.items,
        y_train,
        val_items,
        y_val,
        run.fit_config,
        accelerator=run.accelerator,
        log=run.log,
    )
    eval_prep = run.backbone.preprocessor(train=False)

    def loader(data: LabelledData, labels: list[int], prep: Any, shuffle: bool) -> Any:
        return item_loader(
            data.items, labels, prep, batch_size=cfg.batch_size, shuffle=shuffle, seed=seed, num_workers=cfg.num_workers
        )

    if result is None:
        train_loader = loader(run.train_data, y_train, run.backbone.preprocessor(train=True), True)
        val_loader = loader(splits.val, y_val or [], eval_prep, False) if splits.val is not None else None
        trainer = Trainer(cfg, run.accelerator, log=run.log)
        result = trainer.fit(
            run.net,
            run.method,
            train_loader,
            val_loader,
            num_classes=len(run.label_names),
            train_labels=torch.tensor(y_train),
        )
    else:
        run.notes.extend(own_fit_notes(run, result))
    run.net = run.accelerator.unwrap_model(run.net)
    assert result.best_state is not None
    run.method.load_adapter_state(run.net, result.best_state)
    eval_loader = loader(run.eval_data, run.ids(run.eval_data) or [], eval_prep, False)
    return Fitted(result, run.net, eval_loader)


def evaluate_fitted(run: PreparedRun, fitted: Fitted) -> FinetuneResult:
    """Metrics of the fitted model on the evaluation split (test, else validation)."""
    logits, labels = predict_logits(
        fitted.eval_module,
        run.accelerator.prepare(fitted.eval_loader),
        run.accelerator,
        progress=f"evaluate ({run.eval_split})" if run.train_config.progress else None,
    )
    metrics = classification_metrics(labels.tolist(), logits.argmax(-1).tolist(), run.label_names)
    result = fitted.result
    return FinetuneResult(
        model=run.entry.id,
        method=run.config.method,
        metrics=metrics,
        eval_split=run.eval_split,
        history=result.history,
        train_seconds=result.seconds,
        samples_per_second=result.samples_per_second,
        best_epoch=result.best_epoch,
        notes=run.notes,
        feature_seconds=fitted.feature_seconds,
        model_obj=run.net,
        is_main_process=run.accelerator.is_main_process,
    )


def save_outputs(run: PreparedRun, outcome: FinetuneResult) -> None:
    """Write the run folder and store the adapter (verified by reloading it); main process only."""
    config, entry = run.config, run.entry
    manifest = run_manifest(
        run.zoo,
        entry,
        run.backbone,
        run.method,
        run.train_config,
        run.splits,
        run.train_data,
        config.seed,
        config.pretrained,
    )
    if run.unlabeled is not None:
        manifest["data"]["unlabeled"] = run.unlabeled.describe()
    if run.tapt is not None:
        manifest["tapt"] = run.tapt
    if run.method_choice is not None:
        manifest["method_choice"] = run.method_choice
    outcome.skipped = [s.as_dict() for s in run.splits.skipped]
    if config.save or config.run_dir:
        folder = Path(config.run_dir or default_run_folder(config.name or entry.short_name, config.method))
        write_run_folder(
            folder,
            outcome.metrics,
            outcome.history,
            manifest,
            run.label_names,
            eval_split=outcome.eval_split,
            best_epoch=outcome.best_epoch,
            skipped=outcome.skipped,
        )
        outcome.run_dir = str(folder)
    if not config.save:
        return
    name = config.name or default_adapter_name(entry, config.method)
    metadata = adapter_metadata(
        entry=entry,
        backbone=run.backbone,
        backbone_options=config.backbone_options,
        method=run.method,
        head=config.head,
        head_options=run.head_options,
        label_names=run.label_names,
        metrics=outcome.metrics,
        eval_split=outcome.eval_split,
        train_data=run.train_data,
        train_config=run.train_config,
        manifest=manifest,
    )
    samples = list(run.eval_data.items[:VERIFY_SAMPLES])
    ref = save_adapter(
        run.zoo,
        name,
        run.net,
        run.method,
        metadata,
        samples,
        offline=config.offline,
        continued=(run.tapt, run.tapt_state) if run.tapt is not None and run.tapt_state is not None else None,
    )
    outcome.adapter, outcome.adapter_path = str(ref), str(ref.path)


# ----------------------------------------------------------------------------------- entry points
def finetune(
    model: str,
    data: str | Path | DataSplits,
    config: FinetuneConfig | None = None,
    *,
    zoo: Zoo | None = None,
    log: Callable[[str], None] | None = None,
    accelerator: Any = None,
    **options: Any,
) -> FinetuneResult:
    """Adapt catalog model ``model`` to labelled ``data``; evaluate; save an adapter.

    Options are fields of :class:`FinetuneConfig` (``method``, ``test``, ``name``, ``shots``,
    ``seed``...) or training settings (``epochs``, ``lr``, ``batch_size``, ``weight_decay``,
    ``schedule``, ``warmup``, ``patience``, ``grad_accum``...), which default to the method's own
    (``zoo methods show NAME``); pass them as keywords, or as a ``config`` object. Evaluation uses
    the test split when one exists, else the validation split (which also drove early stopping;
    the result says so). ``unlabeled`` (a path, or LabelledData whose labels are ignored) gives a
    domain adaptation method (``coral``, ``dann``...) its target-domain data.
    ``report_to=["tensorboard", "mlflow"]`` also logs the run to experiment trackers
    (:mod:`zoo_core.engine.tracking` says what and where).
    """
    from zoo_core.plugins import Zoo

    config = (config or FinetuneConfig()).updated(**options)
    run = prepare(model, data, config, zoo=zoo or Zoo(), log=log or (lambda message: None), accelerator=accelerator)
    with start_tracking(run) as tracking:  # inert unless config.report_to names trackers
        fitted = fit_on_features(run) if run.method.uses_feature_cache else fit_on_items(run)
        outcome = evaluate_fitted(run, fitted)
        if outcome.is_main_process:  # only the main process writes runs and adapters
            save_outputs(run, outcome)
        tracking.log_outcome(outcome)
    return outcome


def finetune_repeated(
    model: str,
    data: str | Path | DataSplits,
    repeats: int,
    config: FinetuneConfig | None = None,
    *,
    zoo: Zoo | None = None,
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> RepeatedResult:
    """Run :func:`finetune` with seeds ``seed, seed+1, ...`` (with ``shots``, each seed draws other
    examples) and keep every result; repeats store no adapters. How few-shot results are reported."""
    if repeats < 1:
        raise ZooError(f"repeats must be at least 1, got {repeats}")
    base = (config or FinetuneConfig()).updated(**options)
    seeds = [base.seed + i for i in range(repeats)]
    runs = [finetune(model, data, replace(base, seed=s, save=False, run_dir=None), zoo=zoo, log=log) for s in seeds]
    return RepeatedResult(runs=runs, seeds=seeds)
