"""Issue 16, point 3: LP-FT (``head_init=probe``), weight EMA (``ema_decay``) and frozen BatchNorm
statistics (``freeze_bn``), all options whose defaults leave every method as it was."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from torch import nn

from zoo_core.engine.method import AdaptationMethod
from zoo_core.testing.tiny import TINY_IMAGE


# ------------------------------------------------------------------------------ defaults and checks
def test_full_starts_from_the_probe_by_default_and_the_other_methods_as_they_were():
    from zoo_core.options import TrainConfig
    from zoo_methods.options import BottleneckOptions, FullFineTuneOptions
    from zoo_peft.options import AdaLoraOptions, LoraOptions, VeraOptions

    full = FullFineTuneOptions()
    assert (full.head_init, full.freeze_bn) == ("auto", None)  # LP-FT by default since issue 16
    assert all(cls().head_init == "random" for cls in (BottleneckOptions, LoraOptions, AdaLoraOptions, VeraOptions))
    assert TrainConfig().ema_decay == 0.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5", "option 'ema_decay' must be at most 1.0, got 1.5"),
        ("1", "option 'ema_decay' must be below 1"),
        ("-0.1", "option 'ema_decay' must be at least 0.0"),
        ("fast", "option 'ema_decay' takes float: expected a number"),
    ],
)
def test_a_bad_ema_decay_is_refused_in_one_line(value, message):
    from zoo_core.engine.settings import build_train_config
    from zoo_core.options import OptionError

    with pytest.raises(OptionError, match=message) as caught:
        build_train_config({}, {"ema_decay": value})
    assert "\n" not in str(caught.value)


def test_the_python_api_refuses_a_bad_ema_decay_before_any_work(tiny_zoo, tmp_path):
    from zoo_core.engine.pipeline import finetune
    from zoo_core.errors import ZooError

    data = tmp_path / "broken.csv"
    data.write_bytes(b"\x00\xff not a table")  # a check that ran after loading would report the data
    with pytest.raises(ZooError, match="'ema_decay' must be below 1"):
        finetune(TINY_IMAGE, data, method="full", ema_decay=1.0, zoo=tiny_zoo)


@pytest.mark.parametrize("method", ["full", "lora", "bottleneck"])
def test_a_bad_head_init_is_refused_in_one_line_on_the_command_line(method, tiny_catalog, tmp_path):
    from click.testing import CliRunner

    from zoo_core.cli import cli

    data = tmp_path / "broken.csv"
    data.write_bytes(b"\x00\xff not a table")
    argv = ["--catalog", str(tiny_catalog), "finetune", "-m", "tiny-image", "-d", str(data), "--method", method]
    result = CliRunner().invoke(cli, [*argv, "-o", "head_init=nope"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    choices = "auto, random, probe" if method == "full" else "random, probe"
    assert f"method '{method}': option 'head_init' must be one of {choices}, got 'nope'" in lines[0]


@pytest.mark.parametrize("method", ["full", "lora", "bottleneck"])
def test_probe_start_refuses_an_mlp_head_in_one_line(method, tiny_zoo, image_folder):
    from zoo_core.engine.pipeline import finetune
    from zoo_core.errors import ZooError

    with pytest.raises(ZooError, match=f"method '{method}': head_init=probe fits a linear head") as caught:
        finetune(
            TINY_IMAGE, image_folder, method=method, head="mlp", method_options={"head_init": "probe"}, zoo=tiny_zoo
        )
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("full", {"head_init": "probe", "freeze_bn": True}),
        ("lora", {"head_init": "probe"}),
        ("bottleneck", {"head_init": "probe"}),
    ],
)
def test_the_new_options_pass_the_method_contract(tiny_zoo, method, options):
    from zoo_core.testing.contracts import check_method

    check_method(tiny_zoo, method, TINY_IMAGE, **options)


# ------------------------------------------------------------------------------------------ LP-FT
@pytest.mark.slow
def test_probe_start_head_is_the_linear_probe_fit_on_the_same_features(tiny_zoo, image_folder, monkeypatch):
    """Right before the first fine-tuning step, the head is what linear_probe's fit gives on the
    backbone's eval-mode features of the same training (and validation) items."""
    from zoo_core.engine.features import extract_features
    from zoo_core.engine.heads import LinearHead
    from zoo_core.engine.model import build_backbone
    from zoo_core.engine.pipeline import finetune
    from zoo_methods import _lpft
    from zoo_methods._full import FullFineTune
    from zoo_methods._logistic import fit_logistic_head
    from zoo_methods.options import L2_GRID

    calls: list[dict] = []
    heads: list[dict[str, torch.Tensor]] = []
    original_fit = _lpft.fit_probe_head

    def recording_fit(model, train_items, train_y, val_items, val_y, config, **kwargs):
        calls.append({"train": (list(train_items), list(train_y)), "val": (list(val_items), list(val_y))})
        calls[-1]["config"] = config
        return original_fit(model, train_items, train_y, val_items, val_y, config, **kwargs)

    def recording_start(self, model, total_steps):  # the trainer's call before its first step
        heads.append({k: v.detach().clone() for k, v in model.head.state_dict().items()})

    monkeypatch.setattr(_lpft, "fit_probe_head", recording_fit)
    monkeypatch.setattr(FullFineTune, "on_train_start", recording_start)
    logs: list[str] = []
    result = finetune(
        TINY_IMAGE,
        image_folder,
        method="full",
        method_options={"head_init": "probe", "freeze_bn": True},
        epochs=1,
        save=False,
        zoo=tiny_zoo,
        log=logs.append,
    )
    assert len(calls) == 1 and len(heads) == 1
    assert any(line.startswith("probe start (LP-FT): head fitted on") for line in logs), logs
    assert result.history and "val_loss" in result.history[0]

    # The reference: a fresh pre-trained backbone, uncached eval-mode features, linear_probe's fit.
    backbone = build_backbone(tiny_zoo, TINY_IMAGE, pretrained=True)
    (train_items, train_y), (val_items, val_y) = calls[0]["train"], calls[0]["val"]
    train_x = extract_features(backbone, train_items, use_cache=False)
    val_x = extract_features(backbone, val_items, use_cache=False)
    reference = LinearHead(backbone.num_features, len(set(train_y)))
    fit_logistic_head(
        reference,
        train_x,
        train_y,
        val_x,
        val_y,
        replace(calls[0]["config"], refit_on_val=False),
        grid=L2_GRID,
        groups=[backbone.num_features],
    )
    for name, tensor in reference.state_dict().items():
        assert torch.allclose(heads[0][name], tensor, rtol=1e-6, atol=1e-8), name


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "bottleneck"])
def test_probe_start_trains_the_peft_and_adapter_methods(tiny_zoo, image_folder, method):
    from zoo_core.engine.pipeline import finetune

    logs: list[str] = []
    result = finetune(
        TINY_IMAGE,
        image_folder,
        method=method,
        method_options={"head_init": "probe"},
        epochs=1,
        save=False,
        zoo=tiny_zoo,
        log=logs.append,
    )
    assert any(line.startswith("probe start (LP-FT)") for line in logs), logs
    assert 0.0 <= result.metrics["accuracy"] <= 1.0 and len(result.history) == 1


# ----------------------------------------------------------------------------------- weight EMA
class _Recording(AdaptationMethod):
    """A method (trains everything) that records the weights after every optimiser step."""

    name = "recording"
    trains = "all"

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[dict[str, torch.Tensor]] = []

    def prepare(self, model):
        pass

    def after_optimizer_step(self, model, step):
        self.snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})


def _toy(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(48, 6, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return model, x, y


def _fit(config, *, validate: bool, seed: int = 0):
    from zoo_core.engine.loaders import feature_loader
    from zoo_core.engine.train import Trainer, make_accelerator

    model, x, y = _toy(seed)
    start = copy.deepcopy(model)
    method = _Recording()
    train = feature_loader(x[:32], y[:32].tolist(), batch_size=8, shuffle=True, seed=seed)
    val = feature_loader(x[32:], y[32:].tolist(), batch_size=8, seed=seed) if validate else None
    trainer = Trainer(config, make_accelerator(cpu=True))
    result = trainer.fit(model, method, train, val, num_classes=3, train_labels=y[:32])
    return model, start, method, result, (x[32:], y[32:])


def _config(**changes):
    from zoo_core.options import TrainConfig

    base = TrainConfig(epochs=3, lr=0.05, schedule="constant", patience=0, progress=False, max_grad_norm=None)
    return replace(base, **changes)


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_weights_are_what_is_kept_and_equal_timms_ema(warmup):
    from timm.utils import ModelEmaV3

    model, start, method, result, _ = _fit(_config(ema_decay=0.8, ema_warmup=warmup), validate=False)
    assert len(method.snapshots) == 12  # 3 epochs of 4 steps
    # Replay the raw weights of every step through timm's EMA, from the starting weights.
    expected = ModelEmaV3(start, decay=0.8, use_warmup=warmup)
    scratch = copy.deepcopy(start)
    for step, snapshot in enumerate(method.snapshots, start=1):
        scratch.load_state_dict(snapshot)
        expected.update(scratch, step=step if warmup else None)
    kept = result.best_state
    assert kept is not None and result.best_epoch == 3
    for name, tensor in expected.module.state_dict().items():
        assert torch.allclose(kept[name], tensor, rtol=1e-6, atol=1e-7), name
    # Training went on from the raw weights: the model holds the last step's, which are not the EMA's.
    raw = model.state_dict()
    assert all(torch.equal(raw[k], v) for k, v in method.snapshots[-1].items())
    assert not torch.allclose(kept["0.weight"], raw["0.weight"])


def test_validation_judges_the_ema_weights():
    model, _, _, result, (vx, vy) = _fit(_config(ema_decay=0.8), validate=True)
    assert result.best_state is not None
    judged = copy.deepcopy(model)
    judged.load_state_dict(result.best_state)
    with torch.no_grad():
        loss = float(nn.functional.cross_entropy(judged.eval()(vx), vy))
        raw_loss = float(nn.functional.cross_entropy(model.eval()(vx), vy))
    record = result.history[result.best_epoch - 1]
    assert record["val_loss"] == pytest.approx(loss, rel=1e-5)
    if result.best_epoch == len(result.history):  # the raw weights then are the same epoch's
        assert record["val_loss"] != pytest.approx(raw_loss, rel=1e-5)


def test_ema_off_changes_nothing(monkeypatch):
    """Off (the default), no EMA is built and training is what it was: same seed, same metrics."""
    from zoo_core.engine import train

    first = _fit(_config(), validate=True)
    monkeypatch.setattr(train, "make_ema", lambda module, config: pytest.fail("an EMA was built while off"))
    again = _fit(_config(ema_decay=0.0), validate=True)
    strip = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    assert strip(first[3].history) == strip(again[3].history)
    assert first[3].best_state is not None and again[3].best_state is not None
    assert all(torch.equal(first[3].best_state[k], again[3].best_state[k]) for k in first[3].best_state)


# ------------------------------------------------------------------------------------- freeze_bn
def _bn_stats(module: nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: tensor.detach().clone()
        for name, tensor in module.state_dict().items()
        if name.endswith(("running_mean", "running_var"))
    }


@pytest.mark.slow
def test_freeze_bn_keeps_the_backbone_running_statistics(tiny_zoo, image_folder):
    from zoo_core.engine.model import build_backbone
    from zoo_core.engine.pipeline import finetune

    before = _bn_stats(build_backbone(tiny_zoo, TINY_IMAGE, pretrained=True))
    assert before, "the tiny timm model has BatchNorm layers"
    runs = {}
    for freeze_bn in (True, False):
        result = finetune(
            TINY_IMAGE,
            image_folder,
            method="full",
            method_options={"freeze_bn": freeze_bn},
            epochs=1,
            save=False,
            zoo=tiny_zoo,
        )
        runs[freeze_bn] = result.model_obj.backbone
    frozen, moving = _bn_stats(runs[True]), _bn_stats(runs[False])
    assert all(torch.equal(frozen[k], before[k]) for k in before)
    assert any(not torch.equal(moving[k], before[k]) for k in before)  # freeze_bn=false still updates them
    # Only the statistics are frozen: the layers' scale and shift still train.
    fresh = build_backbone(tiny_zoo, TINY_IMAGE, pretrained=True).state_dict()
    trained = runs[True].state_dict()
    affine = [k for k in before if k.endswith("running_mean")]
    assert any(not torch.equal(trained[k.replace("running_mean", "weight")], fresh[k.replace("running_mean", "weight")])
               for k in affine)  # fmt: skip


def test_freeze_bn_sets_only_batchnorm_to_eval(tiny_zoo):
    from zoo_core.testing.contracts import build_prepared

    net, method, _ = build_prepared(tiny_zoo, TINY_IMAGE, "full", freeze_bn=True)
    method.set_train_mode(net)
    norms = [m for m in net.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and not any(m.training for m in norms)
    assert net.training and net.head.training
    others = [m for m in net.backbone.modules() if not isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert all(m.training for m in others)
    plain, plain_method, _ = build_prepared(tiny_zoo, TINY_IMAGE, "full", head_init="random")
    plain_method.set_train_mode(plain)
    assert all(m.training for m in plain.modules())


@pytest.mark.parametrize(
    ("options", "head", "from_probe", "frozen"),
    [
        ({}, "linear", True, True),  # the default: LP-FT, statistics frozen with it
        ({"freeze_bn": False}, "linear", True, False),
        ({"head_init": "random"}, "linear", False, False),
        ({"head_init": "random", "freeze_bn": True}, "linear", False, True),
        ({}, "mlp", False, False),  # auto: the probe cannot fit an MLP head, so it starts at random
    ],
)
def test_full_head_init_auto_resolves_against_the_head(tiny_zoo, options, head, from_probe, frozen):
    from zoo_core.engine.model import build_head
    from zoo_core.testing.contracts import build_prepared

    net, method, _ = build_prepared(tiny_zoo, TINY_IMAGE, "full", **options)
    if head != "linear":
        net.head = build_head(tiny_zoo, head, net.backbone.num_features, 3)
        method.prepare(net)
    assert (method.head_from_probe, method.frozen_bn) == (from_probe, frozen)
    method.set_train_mode(net)
    norms = [m for m in net.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.training != frozen for m in norms)


@pytest.mark.slow
def test_default_full_fits_the_probe_head_first_and_an_mlp_head_trains_from_random(tiny_zoo, image_folder):
    from zoo_core.engine.pipeline import finetune

    for head, expected in (("linear", True), ("mlp", False)):
        logs: list[str] = []
        result = finetune(TINY_IMAGE, image_folder, method="full", head=head, epochs=1, save=False, zoo=tiny_zoo,
                          log=logs.append)  # fmt: skip
        assert any(line.startswith("probe start (LP-FT)") for line in logs) is expected, (head, logs)
        assert 0.0 <= result.metrics["accuracy"] <= 1.0


def test_default_full_keeps_a_random_head_on_a_text_model(tiny_zoo):
    from zoo_core.testing.contracts import build_prepared
    from zoo_core.testing.tiny import TINY_TEXT

    _, method, _ = build_prepared(tiny_zoo, TINY_TEXT, "full")
    assert (method.head_from_probe, method.frozen_bn) == (False, False)  # LP-FT lost on yelp and TREC
    _, method, _ = build_prepared(tiny_zoo, TINY_TEXT, "full", head_init="probe")
    assert method.head_from_probe


def test_the_cli_refuses_a_bad_ema_decay_in_one_line(run_zoo, tiny_catalog, image_folder):
    args = ["--catalog", str(tiny_catalog), "finetune", "-m", TINY_IMAGE, "-d", str(image_folder)]
    code, _, err = run_zoo(*args, "--ema-decay", "1.5")
    assert code != 0 and "ema_decay" in err and len(err.strip().splitlines()) == 1, err
