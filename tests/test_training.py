"""The training loop's parts, each on its own: learning-rate schedules, the loss (label smoothing,
class weights), parameter groups (no decay on biases and norms, layer-wise learning rates, L2-SP),
and the typed training settings."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zoo_core.engine.settings import build_train_config
from zoo_core.engine.train import TrainConfig, loss_function, make_scheduler
from zoo_core.options import OptionError
from zoo_core.testing.tiny import TINY_TEXT


def _lrs(schedule: str, total: int, steps_per_epoch: int = 1, **config) -> list[float]:
    """The learning rate at each of ``total`` optimiser steps (base lr 1)."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make_scheduler(optimizer, TrainConfig(schedule=schedule, **config), total, steps_per_epoch)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warmup_then_cosine():
    rates = _lrs("cosine", 10, warmup=0.2)
    assert rates[:2] == pytest.approx([0.5, 1.0])  # two warm-up steps, linear
    # after warm-up, progress p = (step - 2) / 8 and the factor is (1 + cos(pi p)) / 2
    expected = [0.5 * (1 + math.cos(math.pi * (s - 2) / 8)) for s in range(2, 10)]
    assert rates[2:] == pytest.approx(expected)
    assert rates[6] == pytest.approx(0.5)


def test_linear_constant_and_step_schedules():
    assert _lrs("linear", 4) == pytest.approx([1.0, 0.75, 0.5, 0.25])
    assert _lrs("constant", 4, warmup=0.5) == pytest.approx([0.5, 1.0, 1.0, 1.0])
    # "step": x0.1 every step_size epochs (3 steps per epoch here)
    assert _lrs("step", 7, steps_per_epoch=3, step_size=1) == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01])


def test_unknown_schedule_is_refused():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="unknown schedule 'wavy'"):
        make_scheduler(optimizer, TrainConfig(schedule="wavy"), 10, 1)


def test_label_smoothing_mixes_the_uniform_target():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    loss = loss_function(TrainConfig(label_smoothing=0.2), labels, 4)(logits, labels)
    log_p = logits.log_softmax(-1)
    nll = -log_p[torch.arange(6), labels].mean()
    uniform = -log_p.mean()
    assert float(loss) == pytest.approx(float(0.8 * nll + 0.2 * uniform), rel=1e-6)


def test_class_weights_are_inverse_frequency():
    labels = torch.tensor([0, 0, 0, 1])  # 3:1
    loss_fn = loss_function(TrainConfig(class_weights=True), labels, 3)
    # inverse frequency (a class never seen counts once); PyTorch's weighted mean ignores the scale
    weight = loss_fn.weight
    assert (weight / weight[0]).tolist() == pytest.approx([1.0, 3.0, 3.0])
    logits = torch.randn(4, 3)
    manual = -(weight[labels] * logits.log_softmax(-1)[torch.arange(4), labels]).sum() / weight[labels].sum()
    assert float(loss_fn(logits, labels)) == pytest.approx(float(manual), rel=1e-6)
    assert loss_function(TrainConfig(), labels, 3).weight is None


def test_no_weight_decay_on_biases_and_norms(tiny_zoo):
    from zoo_core.testing.contracts import build_prepared

    net, method, _ = build_prepared(tiny_zoo, TINY_TEXT, "bitfit")
    net_full, full, _ = build_prepared(tiny_zoo, TINY_TEXT, "full")
    groups = full.param_groups(net_full, 1e-3, 0.05)
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    for name, param in net_full.named_parameters():
        # biases, norms and position embeddings are not decayed towards zero
        exempt = param.ndim <= 1 or any(hint in name.lower() for hint in ("norm", "embeddings.position"))
        expected = 0.0 if exempt else 0.05
        assert decay_of[id(param)] == expected, name
    # BitFit trains the backbone's biases (never decayed) and the head (its weight is)
    backbone_ids = {id(p) for p in net.backbone.parameters()}
    groups = method.param_groups(net, 1e-3, 0.05)
    assert any(id(p) in backbone_ids for g in groups for p in g["params"])
    for group in groups:
        for param in group["params"]:
            assert group["weight_decay"] == (0.0 if id(param) in backbone_ids or param.ndim <= 1 else 0.05)


def test_layer_wise_learning_rates_decay_from_the_top(tiny_zoo):
    from zoo_core.testing.contracts import build_prepared

    net, method, _ = build_prepared(tiny_zoo, TINY_TEXT, "full", layer_decay=0.5)
    lr_of = {id(p): g["lr"] for g in method.param_groups(net, 1.0, 0.01) for p in g["params"]}
    stages = net.backbone.layer_groups()[::-1]  # top stage first
    assert len(stages) >= 2
    for depth, stage in enumerate(stages, start=1):
        params = dict(net.backbone.model.named_parameters())
        for name in stage:
            assert lr_of[id(params[name])] == pytest.approx(0.5**depth), name
    assert all(lr_of[id(p)] == 1.0 for p in net.head.parameters())


def test_l2_sp_pulls_towards_the_pretrained_weights(tiny_zoo):
    from zoo_core.testing.contracts import build_prepared

    net, method, _ = build_prepared(tiny_zoo, TINY_TEXT, "full", l2_sp=0.1)
    assert float(method.regularization(net).detach()) == 0.0  # at the pre-trained weights
    param = next(p for p in net.backbone.parameters() if p.ndim > 1)
    with torch.no_grad():
        param.add_(1.0)
    assert float(method.regularization(net).detach()) == pytest.approx(0.5 * 0.1 * param.numel(), rel=1e-5)
    # the backbone gets no decay towards zero: L2-SP replaces it
    backbone_ids = {id(p) for p in net.backbone.parameters()}
    for group in method.param_groups(net, 1e-3, 0.05):
        if any(id(p) in backbone_ids for p in group["params"]):
            assert group["weight_decay"] == 0.0


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("epochs", 0, "'epochs' must be at least 1"),
        ("epochs", -3, "'epochs' must be at least 1"),
        ("grad_accum", 0, "'grad_accum' must be at least 1"),
        ("lr", float("nan"), "'lr' takes float: expected a finite number"),
        ("lr", float("inf"), "'lr' takes float: expected a finite number"),
        ("warmup", 5, "'warmup' must be at most 1.0"),
        ("schedule", "cosin", "Did you mean 'cosine'"),
        ("batch_size", "abc", "'batch_size' takes int"),
    ],
)
def test_training_settings_are_checked_up_front(setting, value, message):
    with pytest.raises(OptionError, match=message):
        build_train_config({"epochs": 5}, {setting: value})


def test_training_settings_take_the_methods_defaults_then_overrides():
    config = build_train_config({"epochs": 5, "lr": 1e-3, "r": 8}, {"lr": "0.01", "epochs": None})
    assert (config.epochs, config.lr, config.patience) == (5, 0.01, TrainConfig().patience)
    # None is a value of its own where the type admits it: no clipping, no early stopping
    off = build_train_config({"epochs": 5}, {"max_grad_norm": None, "patience": None})
    assert off.max_grad_norm is None and off.patience is None


def test_a_misspelt_training_setting_is_refused_not_dropped():
    from zoo_core.engine.settings import FinetuneConfig

    with pytest.raises(OptionError, match="unknown option 'epoch'. Did you mean 'epochs'"):
        build_train_config({"epochs": 5}, {"epoch": 10})
    assert build_train_config({}, {"num-workers": 3}).num_workers == 3
    assert FinetuneConfig().updated(max_grad_norm=None).train == {"max_grad_norm": None}
