"""Budgeted tuning (``zoo finetune --tune N``): the search sees train and validation only, prunes
through the trainer's epoch observer, retrains the best settings and stores the study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zoo_core.data import load_splits
from zoo_core.engine import pipeline
from zoo_core.engine.settings import FinetuneConfig
from zoo_core.engine.train import EPOCH_OBSERVER
from zoo_core.engine.tuning import SEARCH_SPACES, resolve_space, tune
from zoo_core.errors import ZooError
from zoo_core.testing.tiny import TINY_IMAGE, write_image_folder

optuna = pytest.importorskip("optuna")

# The fast case: a linear probe trained by the generic loop (so every epoch is observed) on cached features.
PROBE = {"method": "linear_probe", "method_options": {"solver": "adamw"}}


# ------------------------------------------------------------------------------------ budgets
@pytest.mark.parametrize(
    ("trials", "minutes", "says"),
    [
        (None, None, "needs a budget"),
        (0, None, "--tune"),
        (-2, None, "--tune"),
        (True, None, "--tune"),
        (2.5, None, "--tune"),
        (None, 0, "--tune-minutes"),
        (None, -1.0, "--tune-minutes"),
        (None, float("nan"), "--tune-minutes"),
        (3, float("inf"), "--tune-minutes"),
    ],
)
def test_bad_budgets_are_refused_in_one_line(trials, minutes, says):
    with pytest.raises(ZooError) as error:
        tune("no-such-model", "no/such/data", FinetuneConfig(), trials=trials, minutes=minutes)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_missing_optuna_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    with pytest.raises(ZooError, match=r"pip install 'transfer-zoo\[tune\]'") as error:
        tune("no-such-model", "no/such/data", FinetuneConfig(), trials=1)
    assert "\n" not in str(error.value)


def test_importing_tuning_does_not_import_optuna():
    code = "import sys, zoo_core.engine.tuning; assert 'optuna' not in sys.modules, 'optuna imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


# ------------------------------------------------------------------------------- search spaces
def test_search_spaces_name_real_options(tiny_zoo):
    """Every option a space searches exists in its method's options class, and its default is a
    value the space can propose (the first trial is the defaults)."""
    from dataclasses import fields

    for method, space in SEARCH_SPACES.items():
        spec = tiny_zoo.get("methods", method)
        names = {f.name: f.default for f in fields(spec.options)} if spec.options else {}
        for option, param in space.options.items():
            assert option in names, f"{method}: no option '{option}'"
            assert param.contains(names[option]), f"{method}: default {option}={names[option]} is outside the space"


def test_lora_space_is_lr_epochs_and_rank_around_the_defaults(tiny_zoo):
    space = resolve_space(tiny_zoo, FinetuneConfig(method="lora"))
    assert list(space.params) == ["lr", "epochs", "r"]
    lr, epochs, r = space.params["lr"], space.params["epochs"], space.params["r"]
    assert (lr.low, lr.high, lr.log) == (pytest.approx(1e-4), pytest.approx(1e-2), True)  # default 1e-3
    assert (epochs.low, epochs.high) == (2, 10)  # default 5
    assert r.choices == (4, 8, 16, 32)
    assert space.defaults == {"lr": 1e-3, "epochs": 5, "r": 8}
    assert space.objective == "macro_f1"


def test_values_the_caller_set_are_not_searched(tiny_zoo):
    config = FinetuneConfig(method="lora", method_options={"r": 4}).updated(lr=0.01, monitor="accuracy")
    space = resolve_space(tiny_zoo, config)
    assert list(space.params) == ["epochs"]
    assert space.fixed == {"lr": 0.01, "r": 4}
    assert space.objective == "accuracy"
    assert any("not searched: lr=0.01, r=4" in note for note in space.notes)
    with pytest.raises(ZooError, match="nothing to tune for method 'lora'"):
        resolve_space(tiny_zoo, config.updated(epochs=3))


def test_direct_fits_search_no_lr_or_epochs(tiny_zoo):
    lbfgs = resolve_space(tiny_zoo, FinetuneConfig(method="linear_probe"))
    assert list(lbfgs.params) == ["features"] and any("l2_grid" in note for note in lbfgs.notes)
    adamw = resolve_space(tiny_zoo, FinetuneConfig(**PROBE))
    assert list(adamw.params) == ["lr", "epochs", "features"] and (
        adamw.params["epochs"].low,
        adamw.params["epochs"].high,
    ) == (15, 60)
    assert list(resolve_space(tiny_zoo, FinetuneConfig(method="full")).params) == ["lr", "epochs"]
    assert list(resolve_space(tiny_zoo, FinetuneConfig(method="contrastive")).params) == ["lr", "iterations"]
    with pytest.raises(ZooError, match="zero_shot trains nothing"):
        resolve_space(tiny_zoo, FinetuneConfig(method="zero_shot"))


# ---------------------------------------------------------------------------- epoch observer
@pytest.mark.slow  # trains a model
def test_epoch_observer_sees_every_validation_and_can_stop_a_run(tiny_zoo, image_folder):
    seen: list[tuple[int, dict]] = []
    token = EPOCH_OBSERVER.set(lambda epoch, record: seen.append((epoch, dict(record))))
    try:
        result = pipeline.finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, save=False, epochs=3, patience=0, **PROBE)
    finally:
        EPOCH_OBSERVER.reset(token)
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert [record for _, record in seen] == result.history

    class Stop(Exception):
        pass

    def stop_at_two(epoch, record):
        if epoch == 2:
            raise Stop

    token = EPOCH_OBSERVER.set(stop_at_two)
    try:
        with pytest.raises(Stop):
            pipeline.finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, save=False, epochs=3, patience=0, **PROBE)
    finally:
        EPOCH_OBSERVER.reset(token)
    again = pipeline.finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, save=False, epochs=3, patience=0, **PROBE)
    assert again.metrics == result.metrics  # unset, the observer changes nothing


# ------------------------------------------------------------------------------------ tuning
@pytest.mark.slow  # trains a model
def test_the_search_never_sees_the_test_split(tiny_zoo, image_folder, tmp_path, monkeypatch):
    """Trials get train and validation only (validation made from train here, since the splits
    have none); the test split is evaluated once, by the final retrain."""
    test_folder = write_image_folder(tmp_path / "test", per_class=4, seed=7)
    splits = load_splits(image_folder, test=test_folder, val_fraction=0)
    assert splits.val is None and splits.test is not None
    test_items = set(splits.test.items)
    prepared, evaluated = [], []
    real_prepare, real_evaluate = pipeline.prepare, pipeline.evaluate_fitted

    def recording_prepare(model, data, config, **kwargs):
        run = real_prepare(model, data, config, **kwargs)
        seen = set(run.train_data.items) | set(run.splits.val.items if run.splits.val else [])
        prepared.append((run.splits.test is not None, bool(seen & test_items), config.save))
        return run

    def recording_evaluate(run, fitted):
        evaluated.append((run.eval_split, set(run.eval_data.items) <= test_items))
        return real_evaluate(run, fitted)

    monkeypatch.setattr(pipeline, "prepare", recording_prepare)
    monkeypatch.setattr(pipeline, "evaluate_fitted", recording_evaluate)
    config = FinetuneConfig(**PROBE, name="tuned-probe").updated(epochs=3)
    result = tune(TINY_IMAGE, splits, config, trials=3, zoo=tiny_zoo)
    assert prepared == [(False, False, False)] * 3 + [(True, False, True)]
    assert evaluated == [("validation", False)] * 3 + [("test", True)]
    final = result.final
    assert final.eval_split == "test" and final.adapter == "tuned-probe@1"
    assert any("no validation split was given" in note for note in final.notes)
    assert any(
        note.startswith("tuned: 3 trials (0 pruned)") and "chosen on the validation split" in note
        for note in final.notes
    )
    assert result.seconds < 120  # three trials of a tiny model: seconds, not minutes


@pytest.mark.slow  # trains a model
def test_a_bad_trial_is_pruned_and_the_search_goes_on(tiny_zoo, image_folder, monkeypatch):
    """A pruner that stops any trial below the best earlier value at the same epoch; the second
    trial's validation scores are forced to zero, so it is stopped after its first epoch."""
    from optuna.trial import TrialState

    import zoo_core.engine.train as train_module

    class BelowBest(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            step = trial.last_step
            earlier = [
                t.intermediate_values[step]
                for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if step in t.intermediate_values
            ]
            return bool(earlier) and trial.intermediate_values[step] < max(earlier)

    runs = []
    real_prepare, real_metrics = pipeline.prepare, train_module._val_metrics

    def counting_prepare(*args, **kwargs):
        runs.append(1)
        return real_prepare(*args, **kwargs)

    def metrics(logits, labels, loss_fn):
        values = real_metrics(logits, labels, loss_fn)
        return {**values, "val_macro_f1": 0.0, "val_accuracy": 0.0} if len(runs) == 2 else values

    monkeypatch.setattr(pipeline, "prepare", counting_prepare)
    monkeypatch.setattr(train_module, "_val_metrics", metrics)
    config = FinetuneConfig(**PROBE, save=False).updated(epochs=3, patience=0)
    result = tune(TINY_IMAGE, image_folder, config, trials=3, zoo=tiny_zoo, pruner=BelowBest())
    states = [t["state"] for t in result.trials]
    assert states[0] == "complete" and states[1] == "pruned"
    assert result.trials[1]["epochs_run"] == 1 and result.trials[1]["value"] is None
    assert result.best_params != result.trials[1]["params"]
    assert f"({result.pruned} pruned)" in result.final.notes[-1] and result.pruned >= 1


@pytest.mark.slow  # trains a model
def test_best_params_are_retrained_stored_and_the_study_written(tiny_zoo, image_folder):
    config = FinetuneConfig(method="lora", name="tuned-lora").updated(epochs=1)
    result = tune(TINY_IMAGE, image_folder, config, trials=2, zoo=tiny_zoo)
    assert set(result.best_params) == {"lr", "r"}  # epochs was given: not searched
    assert result.trials[0]["params"] == {"lr": 1e-3, "r": 8}  # the first trial is the method's defaults
    adapter = json.loads((Path(result.final.adapter_path) / "adapter.json").read_text())
    assert adapter["train"]["lr"] == pytest.approx(result.best_params["lr"])
    assert adapter["train"]["epochs"] == 1
    assert adapter["method"]["config"]["r"] == result.best_params["r"]
    assert adapter["eval_split"] == "validation"

    folder = Path(result.final.run_dir) / "tuning"
    assert result.study_dir == str(folder)
    rows = (folder / "trials.csv").read_text().splitlines()
    assert rows[0].split(",") == [
        "number",
        "state",
        "value",
        "duration_s",
        "lr",
        "r",
        "epochs_run",
        "last_reported",
        "best_epoch",
    ]
    assert len(rows) == 3 and rows[1].startswith("0,complete,")
    study = json.loads((folder / "study.json").read_text())
    assert study["best_params"] == result.best_params and study["best_value"] == result.best_value
    assert study["sampler"] == {"name": "TPESampler", "seed": 0}
    assert study["pruner"]["name"] == "MedianPruner" and study["pruner"]["n_warmup_steps"] == 1
    assert study["search_space"]["r"] == {"type": "categorical", "choices": [4, 8, 16, 32]}
    assert (folder / "trials.png").read_bytes()[:4] == b"\x89PNG"
    as_json = json.loads(json.dumps(result.as_dict()))
    assert as_json["adapter"] == "tuned-lora@1" and as_json["tuning"]["best_params"] == result.best_params


@pytest.mark.slow  # trains a model
def test_a_finite_space_stops_once_every_value_was_tried(tiny_zoo, image_folder, monkeypatch):
    """The lbfgs probe searches its features alone: two values, so a budget of 6 runs at most two
    trainings (a repeated proposal reuses its score), and the study ends early."""
    trainings = []
    real_finetune = pipeline.finetune

    def counting_finetune(*args, **kwargs):
        trainings.append(1)
        return real_finetune(*args, **kwargs)

    monkeypatch.setattr(pipeline, "finetune", counting_finetune)
    result = tune(TINY_IMAGE, image_folder, FinetuneConfig(save=False), trials=6, zoo=tiny_zoo)
    assert {t["params"]["features"] for t in result.trials} == {"multilevel", "last"}
    assert len(trainings) == 3  # two trials and the final retrain
    assert len(result.trials) < 6


def test_an_error_in_a_trial_is_raised_as_it_is(tiny_zoo, image_folder, monkeypatch, capsys):
    def failing(*args, **kwargs):
        raise ZooError("the data went away")

    monkeypatch.setattr(pipeline, "finetune", failing)
    with pytest.raises(ZooError, match="^the data went away$"):
        tune(TINY_IMAGE, image_folder, FinetuneConfig(**PROBE), trials=3, zoo=tiny_zoo)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.slow  # trains a model
def test_the_cli_tunes_stores_the_adapter_and_reports_the_study(run_zoo, tiny_catalog, image_folder):
    args = ["--catalog", str(tiny_catalog), "finetune", "-m", TINY_IMAGE, "-d", str(image_folder)]
    code, out, err = run_zoo(*args, "-o", "solver=adamw", "--tune", "2", "--json", "--name", "tuned")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["tuning"]["trials"]) == 2 and report["adapter"].startswith("tuned@")
    assert (Path(report["run_dir"]) / "tuning" / "trials.csv").is_file()
    assert any(note.startswith("tuned: 2 trials") for note in report["notes"])


def test_the_cli_refuses_tune_with_repeat_in_one_line(run_zoo, tiny_catalog, image_folder):
    args = ["--catalog", str(tiny_catalog), "finetune", "-m", TINY_IMAGE, "-d", str(image_folder)]
    code, _, err = run_zoo(*args, "--tune", "2", "--repeat", "2")
    assert code != 0 and "--tune and --repeat do not combine" in err and len(err.strip().splitlines()) == 1
