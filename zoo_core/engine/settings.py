"""The settings and results of a fine-tune: :class:`FinetuneConfig` (what to do besides the model
and the data), the method's checked options and training settings, and the result types."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.errors import ZooError, did_you_mean
from zoo_core.options import NULLABLE_SETTINGS, TRAIN_SETTINGS, TrainConfig, coerce_options
from zoo_core.specs import MethodSpec

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.data import LabelledData


@dataclass
class FinetuneConfig:
    """What :func:`finetune` does besides the model and the data. ``train`` holds training
    settings (fields of :class:`~zoo_core.options.TrainConfig`) that override the method's own."""

    method: str = "linear_probe"
    val: str | Path | None = None
    test: str | Path | None = None
    # Unlabelled target-domain data for domain adaptation methods: a path any loader reads (labels,
    # if present, are ignored) or loaded LabelledData (see zoo_core.engine.unlabeled).
    unlabeled: str | Path | LabelledData | None = None
    # Task-adaptive pre-training: this many self-supervised steps (masked LM for text) on the
    # unlabelled data before the method trains on the labels (see zoo_core.engine.tapt); 0 = none.
    tapt_steps: int = 0
    name: str | None = None
    head: str = "linear"
    head_options: dict[str, Any] = field(default_factory=dict)
    method_options: dict[str, Any] = field(default_factory=dict)
    backbone_options: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = True
    shots: int | None = None
    seed: int = 0
    val_fraction: float = 0.2
    save: bool = True
    run_dir: str | Path | None = None
    offline: bool | None = None
    train: dict[str, Any] = field(default_factory=dict)
    # Experiment trackers ("tensorboard", "mlflow", "wandb"; a list or one comma-separated string) and
    # where they write instead of the run folder (see zoo_core.engine.tracking).
    report_to: list[str] | str = field(default_factory=list)
    tracking_dir: str | Path | None = None

    def updated(self, **options: Any) -> FinetuneConfig:
        """A copy with ``options`` applied: config fields by name, anything else a training setting.
        None keeps the default, except for the training settings whose type admits None
        (``max_grad_norm=None``: no clipping)."""
        own = {f.name for f in fields(self)}
        train = dict(self.train)
        changes: dict[str, Any] = {}
        for key, value in options.items():
            if key in own:
                if value is not None:
                    changes[key] = value
            elif key in TRAIN_SETTINGS:
                if value is not None or key in NULLABLE_SETTINGS:
                    train[key] = value
            else:
                known = sorted(TRAIN_SETTINGS | own)
                raise ZooError(f"unknown training option '{key}'.{did_you_mean(key, known)} Known: {', '.join(known)}")
        return replace(self, **changes, train=train)


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
    skipped: list[dict[str, str]] = field(default_factory=list)  # items left out of the data: location, reason
    tracking: dict[str, str] = field(default_factory=dict)  # tracker -> where its logs are (with --report-to)

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
            "skipped": self.skipped,
            "tracking": self.tracking,
        }


def build_train_config(spec_defaults: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """The method's training defaults with ``overrides`` on top, converted and range-checked."""
    values = {k: v for k, v in spec_defaults.items() if k in TRAIN_SETTINGS}
    # Every override is checked: an unknown or misspelt name is refused, not dropped.
    values.update({k: v for k, v in overrides.items() if v is not None or k.replace("-", "_") in NULLABLE_SETTINGS})
    return coerce_options(TrainConfig, values, what="training")


def method_options(spec: MethodSpec, given: dict[str, Any]) -> dict[str, Any]:
    """The method's options: its defaults with ``given`` on top, checked against its options class
    (unknown names are refused with a suggestion) before any work starts."""
    defaults = {k: v for k, v in spec.defaults.items() if k not in TRAIN_SETTINGS}
    if spec.options is None:  # a plugin that declares no options class: values as JSON where they parse
        return {**defaults, **{k: _json_or_text(v) for k, v in given.items()}}

    return asdict(coerce_options(spec.options, {**defaults, **given}, what=f"method '{spec.name}'"))


def _json_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


@dataclass
class RepeatedResult:
    """:func:`finetune` over several seeds: every run, and mean and sample standard deviation."""

    runs: list[FinetuneResult]
    seeds: list[int]

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "repeats": len(self.runs),
            "seeds": self.seeds,
            "eval_split": self.runs[0].eval_split,
        }
        for key in ("accuracy", "macro_f1"):
            values = [r.metrics[key] for r in self.runs]
            summary[key] = values
            summary[f"{key}_mean"] = statistics.fmean(values)
            summary[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        return summary
