"""Budgeted hyper-parameter search for a fine-tune (``zoo finetune --tune N`` / ``--tune-minutes M``).

:func:`tune` searches a method's learning rate, epochs and its main option (:data:`SEARCH_SPACES`)
with Optuna: a TPE sampler seeded with the run's seed, and median pruning on the per-epoch
validation metric. The search sees the training and validation splits only: every trial is a
:func:`~zoo_core.engine.pipeline.finetune` on ``DataSplits(train, val, test=None)``, so it is scored
on validation, and the test split is never looked at. The first trial is the method's defaults (the
baseline the search has to beat). Then the best parameters are retrained once on the caller's splits
(test included) with the caller's ``save`` / ``run_dir`` / ``name``, so the adapter is stored as a
normal fine-tune's is; the study goes into the run folder's ``tuning/`` (``trials.csv``,
``trials.png``, ``study.json``).

The objective is the validation metric the trainer monitors: ``macro_f1`` (the default) or
``accuracy``; with ``monitor=loss`` it is ``macro_f1``. It is always maximised.

Values the caller set (``lr=...``, ``epochs=...``, ``method_options={"r": 8}``) are kept fixed and
not searched. Pruning needs a method trained by the generic loop (it reports every epoch through
:data:`zoo_core.engine.train.EPOCH_OBSERVER`); methods that fit with their own loop (the domain
adaptation methods, contrastive, the few-shot methods, the lbfgs linear probe) are scored at the
end of each trial only. A budget in minutes is checked between trials: a running trial finishes,
and the final retrain comes on top.

Optuna is an optional dependency (``pip install 'transfer-zoo[tune]'``), imported only here.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.data import DataSplits, stratified_split
from zoo_core.engine import pipeline
from zoo_core.engine.settings import FinetuneConfig, FinetuneResult, build_train_config, method_options
from zoo_core.engine.train import EPOCH_OBSERVER
from zoo_core.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

__all__ = ["SEARCH_SPACES", "MethodSpace", "Param", "SearchSpace", "TuneResult", "resolve_space", "tune"]

INSTALL_HINT = "tuning needs optuna: pip install 'transfer-zoo[tune]'"
TRAIN_PARAMS = ("lr", "epochs")  # the training settings every space may search
OBJECTIVES = ("macro_f1", "accuracy")


# ------------------------------------------------------------------------------ search spaces
@dataclass(frozen=True)
class Param:
    """One searched value: ``choices`` (categorical), or ``low``..``high`` (``kind`` int or float;
    ``log``: sampled log-uniformly)."""

    kind: str  # "choice" | "int" | "float"
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def suggest(self, trial: Any, name: str) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        try:
            return self.low <= float(value) <= self.high
        except (TypeError, ValueError):
            return False

    def size(self) -> int | None:
        """How many values there are to try (None: a continuous range)."""
        if self.kind == "choice":
            return len(self.choices)
        if self.kind == "int" and not self.log:
            return int(self.high) - int(self.low) + 1
        return None

    def describe(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"type": "categorical", "choices": list(self.choices)}
        return {"type": self.kind, "low": self.low, "high": self.high, "log": self.log}


def choice(*values: Any) -> Param:
    return Param("choice", choices=tuple(values))


def log_range(low: float, high: float) -> Param:
    return Param("float", low=float(low), high=float(high), log=True)


@dataclass(frozen=True)
class MethodSpace:
    """What to search for one method besides the ones every space shares: its own ``options``
    (name -> :class:`Param`), whether ``lr`` and ``epochs`` matter to it, and ``direct``: a test on
    (the method's options, the config) that says it fits its head directly under them, when
    learning rate and epochs do not apply."""

    options: Mapping[str, Param] = field(default_factory=dict)
    lr: bool = True
    epochs: bool = True
    direct: Callable[[Mapping[str, Any], FinetuneConfig], bool] | None = None
    note: str = ""  # said in the result's notes when this space is used (when it fits directly, with direct)


_RANKS = choice(4, 8, 16, 32)
_DOMAIN = MethodSpace(
    {"trade_off": log_range(0.1, 10.0)},
    note="trade_off is chosen on labelled source-domain validation data, which need not reflect the target domain",
)

#: Per method: the main option searched, besides the learning rate (log-uniform from default/10 to
#: default*10) and epochs (integers from max(1, default//2) to default*2). Methods missing here
#: search lr and epochs only.
SEARCH_SPACES: dict[str, MethodSpace] = {
    "linear_probe": MethodSpace(
        {"features": choice("multilevel", "last")},
        direct=lambda options, config: options.get("solver") == "lbfgs" and config.head == "linear",
        note="the lbfgs linear probe fits its logistic head to convergence and picks its L2 strength on validation "
        "from l2_grid itself, so only the features are searched (-o solver=adamw searches lr and epochs too)",
    ),
    "full": MethodSpace(),
    "bitfit": MethodSpace(),
    "ln_tuning": MethodSpace(),
    "bottleneck": MethodSpace({"reduction": choice(4, 8, 16, 32, 64)}),
    "lora": MethodSpace({"r": _RANKS}),
    "dora": MethodSpace({"r": _RANKS}),
    "loha": MethodSpace({"r": _RANKS}),
    "lokr": MethodSpace({"r": _RANKS}),
    "vera": MethodSpace({"r": choice(64, 128, 256, 512)}),
    "adalora": MethodSpace({"target_r": choice(4, 8, 12)}),  # at most init_r's default, 12
    "ia3": MethodSpace(),
    # The few-shot methods and contrastive run a fixed number of steps of their own: no epochs.
    "protonet": MethodSpace({"episodes": choice(0, 50, 200)}, epochs=False),
    "fomaml": MethodSpace({"meta_steps": choice(50, 100, 200)}, epochs=False),
    "contrastive": MethodSpace({"iterations": choice(5, 10, 20)}, epochs=False),
    "coral": _DOMAIN,
    "dann": _DOMAIN,
    "mcc": _DOMAIN,
    "self_training": _DOMAIN,
    "adabn": MethodSpace(
        {"source_statistics": choice(True, False)},
        lr=False,
        epochs=False,
        note="adabn fits a logistic head directly (its L2 strength chosen on validation): lr and epochs do not apply",
    ),
    "zero_shot": MethodSpace(lr=False, epochs=False, note="zero_shot trains nothing (build it with zoo zero-shot)"),
}


@dataclass
class SearchSpace:
    """A method's search space under one config: what is searched, the defaults (the first trial),
    the values the caller fixed, and notes for the result."""

    params: dict[str, Param]
    defaults: dict[str, Any]
    fixed: dict[str, Any]
    objective: str
    notes: list[str] = field(default_factory=list)

    def size(self) -> int | None:
        """How many distinct trials the space holds (None: unbounded)."""
        total = 1
        for param in self.params.values():
            count = param.size()
            if count is None:
                return None
            total *= count
        return total

    def describe(self) -> dict[str, Any]:
        return {name: param.describe() for name, param in self.params.items()}


def resolve_space(zoo: Zoo, config: FinetuneConfig) -> SearchSpace:
    """The search space of ``config.method`` under ``config``: :data:`SEARCH_SPACES`' entry, less what
    the caller set and what the method does not use. Checks the method and its options."""
    spec = zoo.get("methods", config.method)
    options = method_options(spec, config.method_options)  # refuses unknown options before any work
    train = build_train_config(spec.defaults, {**config.train, "seed": config.seed})
    space = SEARCH_SPACES.get(config.method)
    notes: list[str] = []
    if space is None:
        space = MethodSpace()
        notes.append(f"no search space is defined for method '{config.method}': only lr and epochs are searched")
    direct = space.direct is not None and space.direct(options, config)
    note = space.note if direct or space.direct is None else ""
    if note:
        notes.append(note)
    given_train = {k for k, v in config.train.items() if v is not None}
    given_options = {k.replace("-", "_") for k in config.method_options}
    params: dict[str, Param] = {}
    defaults: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    if space.lr and not direct and train.lr > 0:  # a learning rate of 0 has no log range around it
        if "lr" in given_train:
            fixed["lr"] = train.lr
        else:
            params["lr"] = log_range(train.lr / 10, train.lr * 10)
            defaults["lr"] = train.lr
    if space.epochs and not direct:
        if "epochs" in given_train:
            fixed["epochs"] = train.epochs
        else:
            params["epochs"] = Param("int", low=max(1, train.epochs // 2), high=train.epochs * 2)
            defaults["epochs"] = train.epochs
    for name, param in space.options.items():
        if name not in options:  # a plugin's options class changed: nothing to search
            continue
        if name in given_options:
            fixed[name] = options[name]
            continue
        params[name] = param
        if param.contains(options[name]):
            defaults[name] = options[name]
    if fixed:
        notes.append("kept as given, not searched: " + ", ".join(f"{k}={_show(v)}" for k, v in fixed.items()))
    if not params:
        why = f" ({note})" if note and not fixed else ""
        raise ZooError(
            f"nothing to tune for method '{config.method}'{why}: every searched value is fixed or unused; "
            "drop --tune, or leave lr/epochs/options unset"
        )
    objective = train.monitor if train.monitor in OBJECTIVES else "macro_f1"
    return SearchSpace(params, defaults, fixed, objective, notes)


# ------------------------------------------------------------------------------------ results
@dataclass
class TuneResult:
    """What :func:`tune` did: the final (retrained) fine-tune, the best parameters and their
    validation score, every trial, and the search's wall time in seconds (the retrain excluded)."""

    final: FinetuneResult
    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]]
    seconds: float
    objective: str = "macro_f1"
    study_dir: str | None = None
    space: dict[str, Any] = field(default_factory=dict)

    @property
    def pruned(self) -> int:
        return sum(t["state"] == "pruned" for t in self.trials)

    def as_dict(self) -> dict[str, Any]:
        """The final fine-tune's ``as_dict()`` with a ``tuning`` key (what ``--json`` prints)."""
        return {
            **self.final.as_dict(),
            "tuning": {
                "objective": f"validation {self.objective}",
                "best_params": self.best_params,
                "best_value": self.best_value,
                "trials": self.trials,
                "pruned": self.pruned,
                "seconds": round(self.seconds, 3),
                "search_space": self.space,
                "study_dir": self.study_dir,
            },
        }


# ---------------------------------------------------------------------------------------- tune
def check_budget(trials: int | None, minutes: float | None) -> None:
    """Refuse a missing or impossible budget, in one line."""
    if trials is None and minutes is None:
        raise ZooError("tuning needs a budget: give a number of trials (--tune N), minutes (--tune-minutes M) or both")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ZooError(f"--tune takes a number of trials of at least 1, got {trials!r}")
    if minutes is not None:
        try:
            valid = float(minutes) > 0 and math.isfinite(float(minutes))
        except (TypeError, ValueError):
            valid = False
        if not valid or isinstance(minutes, bool):
            raise ZooError(f"--tune-minutes takes a number of minutes above 0, got {minutes!r}")


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ZooError(INSTALL_HINT) from None
    return optuna


@contextlib.contextmanager
def _optuna_quiet(optuna: Any, verbose: bool) -> Iterator[None]:
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


@contextlib.contextmanager
def _observing(observer: Callable[[int, dict[str, Any]], None]) -> Iterator[None]:
    token = EPOCH_OBSERVER.set(observer)
    try:
        yield
    finally:
        EPOCH_OBSERVER.reset(token)


def search_splits(splits: DataSplits, config: FinetuneConfig) -> tuple[DataSplits, str | None]:
    """Train and validation only (``test=None``): what every trial sees. Without a validation
    split, a stratified share of train (``val_fraction``, seed ``config.seed``) is held out; the
    note says so."""
    if splits.val is not None:
        return DataSplits(splits.train, splits.val, None, splits.label_names, list(splits.notes)), None
    fraction = config.val_fraction if 0 < config.val_fraction < 1 else 0.2
    keep, held = stratified_split(splits.train.labels, fraction, config.seed)
    if not held:
        raise ZooError(
            "tuning needs validation data to choose on, and every class is too small to hold some out: "
            "give --val, or more examples per class"
        )
    train, val = splits.train.subset(keep), splits.train.subset(held)
    note = (
        f"tuning: no validation split was given, so a stratified {fraction * 100:g}% of train (seed {config.seed}, "
        f"{len(val)} items) was held out to choose the settings; the final retrain uses the same split"
    )
    return DataSplits(train, val, None, splits.label_names, [*splits.notes, note]), note


def _with_values(config: FinetuneConfig, values: Mapping[str, Any], **changes: Any) -> FinetuneConfig:
    train = {**config.train, **{k: v for k, v in values.items() if k in TRAIN_PARAMS}}
    options = {**config.method_options, **{k: v for k, v in values.items() if k not in TRAIN_PARAMS}}
    return replace(config, train=train, method_options=options, **changes)


def _show(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _shown(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in params.items())


def tune(
    model: str,
    data: str | Path | DataSplits,
    config: FinetuneConfig,
    *,
    trials: int | None = None,
    minutes: float | None = None,
    zoo: Zoo | None = None,
    log: Callable[[str], None] | None = None,
    verbose: bool = False,
    sampler: Any = None,
    pruner: Any = None,
) -> TuneResult:
    """Search ``config.method``'s settings for ``model`` on ``data`` within ``trials`` and/or
    ``minutes``; retrain the best on the caller's splits and store it as ``finetune`` would.

    ``sampler``/``pruner`` replace Optuna's ``TPESampler(seed=config.seed)`` and
    ``MedianPruner(n_warmup_steps=1)`` (steps are epoch indices from 0, so no trial is judged on its
    first epoch). ``verbose`` lets Optuna log at INFO. See the module's docstring for the protocol.
    """
    from zoo_core.plugins import Zoo

    check_budget(trials, minutes)
    optuna = _import_optuna()
    zoo = zoo or Zoo()
    say = log or (lambda message: None)
    zoo.catalog.get(model)  # an unknown model is refused before the data is read
    space = resolve_space(zoo, config)
    splits = pipeline.load_config_splits(data, config)
    search, made_note = search_splits(splits, config)
    notes = list(space.notes) + ([made_note] if made_note else [])
    for note in notes:
        say(f"note: {note}")
    key = space.objective
    tried: dict[str, float | None] = {}  # params (as JSON) -> value, None when pruned: a repeat is not retrained
    failures: list[Exception] = []

    def objective(trial: Any) -> float:
        values = {name: param.suggest(trial, name) for name, param in space.params.items()}
        seen = json.dumps(values, sort_keys=True)
        if seen in tried:  # TPE can propose a trial again (small categorical spaces); runs are seeded
            trial.set_user_attr("repeat", True)
            earlier = tried[seen]
            if earlier is None:
                raise optuna.TrialPruned("the same parameters were pruned before")
            return earlier

        def observe(epoch: int, record: dict[str, Any]) -> None:
            trial.report(float(record[f"val_{key}"]), epoch - 1)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        trial_config = _with_values(config, values, save=False, run_dir=None, report_to=[], tracking_dir=None)
        started = time.perf_counter()
        try:
            with _observing(observe):
                result = pipeline.finetune(model, search, trial_config, zoo=zoo)
        except optuna.TrialPruned:
            tried[seen] = None
            say(f"trial {trial.number}: {_shown(values)} -> pruned ({time.perf_counter() - started:.1f}s)")
            raise
        except Exception as error:
            # Raised again as it is once the study stops: Optuna would log it with a traceback.
            failures.append(error)
            trial.study.stop()
            raise optuna.TrialPruned(f"failed: {error}") from None
        if result.eval_split != "validation":  # pragma: no cover - the search splits hold no test data
            raise RuntimeError(f"a tuning trial evaluated on {result.eval_split}")
        value = float(result.metrics[key])
        tried[seen] = value
        trial.set_user_attr("best_epoch", result.best_epoch)
        say(f"trial {trial.number}: {_shown(values)} -> validation {key} {value:.4f} ({result.train_seconds:.1f}s)")
        return value

    size = space.size()

    def stop_when_exhausted(study: Any, trial: Any) -> None:
        if size is not None and len(tried) >= size:
            study.stop()

    with _optuna_quiet(optuna, verbose):
        study = optuna.create_study(
            direction="maximize",
            sampler=sampler or optuna.samplers.TPESampler(seed=config.seed),
            pruner=pruner or optuna.pruners.MedianPruner(n_warmup_steps=1),
        )
        if space.defaults:
            study.enqueue_trial(space.defaults)  # the baseline: the method's defaults
        started = time.perf_counter()
        study.optimize(
            objective,
            n_trials=trials,
            timeout=minutes * 60 if minutes is not None else None,
            callbacks=[stop_when_exhausted],
        )
        seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    rows = [_trial_row(t) for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = sum(row["state"] == "pruned" for row in rows)
    if not complete:
        raise ZooError(
            f"no tuning trial completed ({len(rows)} run, {pruned} pruned) in the budget; give more trials or minutes"
        )
    best = study.best_trial
    best_params = dict(best.params)
    say(f"tuning: best {_shown(best_params)} (validation {key} {best.value:.4f}); retraining")

    final_splits = DataSplits(
        search.train, search.val, splits.test, splits.label_names, list(search.notes), list(splits.skipped)
    )
    final = pipeline.finetune(model, final_splits, _with_values(config, best_params), zoo=zoo, log=log)
    final.notes.extend(notes)
    final.notes.append(
        f"tuned: {len(rows)} trials ({pruned} pruned) in {seconds:.0f}s; best {_shown(best_params)}; "
        f"chosen on the validation split ({key} {best.value:.4f})"
    )
    result = TuneResult(
        final=final,
        best_params=best_params,
        best_value=float(best.value),
        trials=rows,
        seconds=seconds,
        objective=key,
        space=space.describe(),
    )
    if final.run_dir and final.is_main_process:
        folder = Path(final.run_dir) / "tuning"
        study_info = {
            "objective": {"metric": key, "split": "validation", "direction": "maximize"},
            "best_trial": best.number,
            "best_params": best_params,
            "best_value": float(best.value),
            "search_space": space.describe(),
            "baseline": space.defaults,
            "fixed": space.fixed,
            "sampler": _describe(study.sampler, sampler is None, seed=config.seed),
            "pruner": _describe(
                study.pruner, pruner is None, n_startup_trials=5, n_warmup_steps=1, step="epoch index from 0"
            ),
            "seed": config.seed,
            "budget": {"trials": trials, "minutes": minutes},
            "trials": len(rows),
            "pruned": pruned,
            "seconds": round(seconds, 3),
            "notes": notes,
            "optuna_version": optuna.__version__,
        }
        write_study(folder, rows, study_info, key)
        result.study_dir = str(folder)
    return result


def _describe(obj: Any, ours: bool, **settings: Any) -> dict[str, Any]:
    return {"name": type(obj).__name__, **(settings if ours else {})}


def _trial_row(trial: Any) -> dict[str, Any]:
    state = trial.state.name.lower()  # complete, pruned, fail, running, waiting
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    steps = trial.intermediate_values
    return {
        "number": trial.number,
        "state": state,
        "params": dict(trial.params),
        # Optuna gives a pruned trial its last reported value; here only a finished trial has a value.
        "value": float(trial.value) if trial.value is not None and state == "complete" else None,
        "duration_s": round(duration, 3) if duration is not None else None,
        "epochs_run": len(steps) if steps else None,
        "last_reported": float(steps[max(steps)]) if steps else None,
        "best_epoch": trial.user_attrs.get("best_epoch"),
        "repeat": bool(trial.user_attrs.get("repeat", False)),
    }


def write_study(folder: Path, rows: list[dict[str, Any]], info: dict[str, Any], objective: str) -> None:
    """``trials.csv`` (one row a trial, one column a parameter), ``study.json`` and ``trials.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(itertools.chain.from_iterable(row["params"] for row in rows)))
    with open(folder / "trials.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "state", "value", "duration_s", *names, "epochs_run", "last_reported", "best_epoch"])
        for row in rows:
            writer.writerow(
                [
                    row["number"],
                    row["state"],
                    "" if row["value"] is None else row["value"],
                    "" if row["duration_s"] is None else row["duration_s"],
                    *(row["params"].get(name, "") for name in names),
                    row["epochs_run"] or "",
                    "" if row["last_reported"] is None else row["last_reported"],
                    row["best_epoch"] or "",
                ]
            )
    (folder / "study.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
    try:
        plot_trials(rows, folder / "trials.png", objective)
    except ImportError:  # matplotlib is optional: the numbers are in trials.csv
        pass


def plot_trials(rows: list[dict[str, Any]], path: Path, objective: str) -> None:
    """The objective of every trial (pruned ones at their last reported value) and the best so far."""
    from zoo_core.engine.runs import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    done = [(r["number"], r["value"]) for r in rows if r["value"] is not None]
    cut = [(r["number"], r["last_reported"]) for r in rows if r["state"] == "pruned" and r["last_reported"] is not None]
    if done:
        ax.scatter(*zip(*done), label="trial", zorder=3)
        best, line = -math.inf, []
        for number, value in done:
            best = max(best, value)
            line.append((number, best))
        ax.step(*zip(*line), where="post", color="tab:orange", label="best so far")
    if cut:
        ax.scatter(*zip(*cut), marker="x", color="tab:gray", label="pruned (last epoch reported)", zorder=3)
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {objective}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
