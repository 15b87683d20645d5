"""Typed options: the training settings every method shares, and each method's own options.

A method declares its options once, as a dataclass whose fields are made with :func:`option`
(type, default, help; optionally choices and bounds), the way ``peft.LoraConfig`` declares its
fields. Its ``MethodSpec(options=...)`` names that class, so the CLI and the Python API convert
and check ``-o key=value`` through it, ``zoo methods show`` prints it, and ``MethodSpec.defaults``
is derived from it. Torch-free: listings read these classes without importing the ML stack.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from zoo_core.errors import ZooError, did_you_mean

__all__ = [
    "MethodOptions",
    "OptionError",
    "TrainConfig",
    "coerce_options",
    "describe_options",
    "option",
    "option_defaults",
]


class OptionError(ZooError):
    """An option has an unknown name or a value of the wrong type or out of range."""


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[Any, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
) -> Any:
    """A documented dataclass field: ``r: int = option(8, "LoRA rank", min=1)``.

    Lists and other mutable defaults are copied for each instance.
    """
    metadata = {"help": help, "choices": choices, "min": min, "max": max}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass
class MethodOptions:
    """Base class of a method's options (no fields: a method without options).

    Subclass it as a ``@dataclass`` whose fields use :func:`option`.
    """


# -------------------------------------------------------------------------------- training
SCHEDULES = ("cosine", "linear", "step", "constant")
MONITORS = ("macro_f1", "accuracy", "loss")


@dataclass
class TrainConfig:
    """Training settings shared by every method (each method's spec supplies its own defaults)."""

    epochs: int = option(5, "passes over the training data", min=1)
    lr: float = option(1e-3, "peak learning rate", min=0.0)
    batch_size: int = option(32, "examples per optimiser step (before accumulation)", min=1)
    weight_decay: float = option(0.01, "AdamW weight decay (never on biases and norms)", min=0.0)
    schedule: str = option("cosine", "learning-rate schedule after warm-up", choices=SCHEDULES)
    warmup: float = option(0.0, "fraction of the optimiser steps spent warming up linearly", min=0.0, max=1.0)
    step_size: int = option(1, "epochs between decays (x0.1) for the 'step' schedule", min=1)
    patience: int | None = option(
        3, "early stopping: epochs without improvement of the monitored metric (0: off)", min=0
    )
    monitor: str = option("macro_f1", "validation metric for early stopping and the best epoch", choices=MONITORS)
    grad_accum: int = option(1, "gradient accumulation steps", min=1)
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy loss", min=0.0, max=1.0)
    class_weights: bool = option(False, "weight the loss by inverse class frequency")
    max_grad_norm: float | None = option(1.0, "gradient clipping norm (None: no clipping)", min=0.0)
    seed: int = option(0, "seed for splits, sampling and initialisation")
    num_workers: int = option(0, "DataLoader worker processes", min=0)
    progress: bool = option(True, "show progress bars on a terminal")
    # Methods that pick hyper-parameters on validation may refit on train + validation, unless the
    # validation split is also what the run reports (then refitting would score on training data).
    refit_on_val: bool = option(True, "methods that choose on validation may refit on train + validation")
    # Weight EMA (the generic training loop only): what is evaluated each epoch and kept is the average.
    ema_decay: float = option(
        0.0,
        "weight EMA (timm ModelEmaV3): decay of the moving average of the weights, which is what is evaluated "
        "each epoch and kept (0: off; below 1)",
        min=0.0,
        max=1.0,
    )
    ema_warmup: bool = option(
        True,
        "with ema_decay: ramp the decay up as 1 - (1 + step) ** -2/3, capped at ema_decay (timm's warm-up), so "
        "that a short run does not average towards its starting weights",
    )

    def __post_init__(self) -> None:
        # The one bound the option metadata cannot say: a decay of 1 would never leave the start.
        if isinstance(self.ema_decay, (int, float)) and self.ema_decay >= 1.0:
            raise OptionError(
                f"training: option 'ema_decay' must be below 1 (0: off; 1 never leaves the starting weights), "
                f"got {self.ema_decay}"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TRAIN_SETTINGS = frozenset(f.name for f in dataclasses.fields(TrainConfig))
# Settings where None is a value of its own (no clipping, no early stopping), not "the default".
NULLABLE_SETTINGS = frozenset(
    name for name, tp in typing.get_type_hints(TrainConfig).items() if type(None) in typing.get_args(tp)
)


# -------------------------------------------------------------------------------- conversion
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join("..." if a is Ellipsis else _type_name(a) for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _convert(value: Any, tp: Any) -> Any:
    """Convert ``value`` (often a string from the command line) to ``tp``; ValueError if it can't."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"expected {_type_name(tp)}")
    if origin in (list, tuple):
        (item_type, *rest) = typing.get_args(tp) or (str,)
        if isinstance(value, str) and value.strip().startswith("["):
            import json

            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("expected a JSON list or comma-separated values") from None
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            value = [value]
        items = [_convert(v, item_type) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError("expected true or false")
    if tp is int:
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError("expected an integer")
    if tp is float:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if tp is str:
        if value is None or isinstance(value, (dict, list, tuple)):
            raise ValueError("expected a string")
        return str(value)
    if tp is Any:
        return value
    raise ValueError(f"options of type {_type_name(tp)} are not supported")


def _check_value(name: str, value: Any, meta: Mapping[str, Any], where: str) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None:
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v not in choices:
                raise OptionError(
                    f"{where}option '{name}' must be one of {', '.join(map(str, choices))}, got {v!r}."
                    + did_you_mean(str(v), [str(c) for c in choices])
                )
    low, high = meta.get("min"), meta.get("max")
    numbers = value if isinstance(value, (list, tuple)) else [value]
    for v in numbers:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if low is not None and v < low:
            raise OptionError(f"{where}option '{name}' must be at least {low}, got {v}")
        if high is not None and v > high:
            raise OptionError(f"{where}option '{name}' must be at most {high}, got {v}")


def coerce_options(cls: type, given: Mapping[str, Any], *, what: str = "") -> Any:
    """Build ``cls`` from ``given`` (names may use ``-`` for ``_``; values may be strings).

    Unknown names are refused with a "did you mean" suggestion; a value that does not convert to
    the field's type, or breaks its choices or bounds, is refused naming the option. ``what``
    names the owner in messages (e.g. ``"method 'lora'"``).
    """
    where = f"{what}: " if what else ""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for raw_name, value in given.items():
        name = raw_name.replace("-", "_")
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            hint = did_you_mean(name, fields)
            if not hint and name in TRAIN_SETTINGS and cls is not TrainConfig:
                hint = f" '{name}' is a training setting: pass --{name.replace('_', '-')} instead."
            raise OptionError(f"{where}unknown option '{raw_name}'.{hint} Known options: {known}")
        try:
            converted = _convert(value, hints[name])
        except ValueError as exc:
            raise OptionError(f"{where}option '{name}' takes {_type_name(hints[name])}: {exc}, got {value!r}") from None
        _check_value(name, converted, fields[name].metadata, where)
        values[name] = converted
    return cls(**values)


def option_defaults(cls: type | None) -> dict[str, Any]:
    """The default value of every field of ``cls`` (an options dataclass), by name."""
    if cls is None:
        return {}
    return asdict(cls())


def describe_options(cls: type | None) -> list[dict[str, Any]]:
    """One row per field: name, type, default, help, choices, min, max (for listings and docs)."""
    if cls is None:
        return []
    hints = _hints(cls)
    defaults = option_defaults(cls)
    rows = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        rows.append(
            {
                "name": f.name,
                "type": _type_name(hints[f.name]),
                "default": defaults[f.name],
                "help": meta.get("help", ""),
                "choices": list(meta["choices"]) if meta.get("choices") is not None else None,
                "min": meta.get("min"),
                "max": meta.get("max"),
            }
        )
    return rows
