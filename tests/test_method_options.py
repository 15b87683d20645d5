"""Methods declare typed, documented options; values from the command line or an adapter's JSON
convert through them and are checked."""

from __future__ import annotations

import dataclasses
import json

import pytest

from zoo_core.options import TRAIN_SETTINGS, OptionError, coerce_options
from zoo_core.specs import load_object
from zoo_core.testing.tiny import TINY_TEXT
from zoo_methods.options import BottleneckOptions, ContrastiveOptions, FirstOrderProtoMAMLOptions

ZOO_METHODS = {"linear_probe", "full", "bitfit", "ln_tuning", "bottleneck", "protonet", "fomaml", "contrastive"}


@pytest.fixture
def first_party_specs(tiny_zoo):
    info = tiny_zoo.pm.info
    return {name: spec for name, spec in tiny_zoo.methods.items() if info[spec.plugin].distribution == "transfer-zoo"}


def test_every_zoo_methods_spec_declares_its_options(first_party_specs):
    assert ZOO_METHODS <= set(first_party_specs)
    assert all(first_party_specs[name].options is not None for name in ZOO_METHODS)


def test_every_first_party_option_is_documented_and_is_the_class_options(first_party_specs):
    # zoo_peft converts to typed options separately: only specs that declare options are checked.
    checked = {name: spec for name, spec in first_party_specs.items() if spec.options is not None}
    for name, spec in checked.items():
        for field in dataclasses.fields(spec.options):
            assert field.metadata.get("help", "").strip(), f"{name}: option '{field.name}' has no help"
        assert spec.options is load_object(spec.factory).Options, name
        # the spec's own defaults are training settings; every option's default is merged in
        assert set(spec.defaults) - TRAIN_SETTINGS == {f.name for f in dataclasses.fields(spec.options)}, name


@pytest.mark.parametrize(
    "options, given, suggestion",
    [
        (BottleneckOptions, "reducton", "reduction"),
        (BottleneckOptions, "activaton", "activation"),
        (ContrastiveOptions, "max-step", "max_steps"),
        (ContrastiveOptions, "tune_embedding", "tune_embeddings"),
    ],
)
def test_a_misspelt_option_is_refused_with_a_suggestion(options, given, suggestion):
    with pytest.raises(OptionError, match=f"unknown option '{given}'.*Did you mean '{suggestion}'"):
        coerce_options(options, {given: "1"})


def test_an_option_of_another_method_is_refused_naming_the_known_ones():
    with pytest.raises(OptionError, match="unknown option 'alpah'.*Known options: activation, head_init, reduction"):
        coerce_options(BottleneckOptions, {"alpah": "16"})
    with pytest.raises(OptionError, match="'lr' is a training setting"):
        coerce_options(ContrastiveOptions, {"lr": "0.1"})


def test_values_convert_from_strings():
    contrastive = coerce_options(ContrastiveOptions, {"tune_embeddings": "true", "steps": "8", "iterations": "20"})
    assert (contrastive.tune_embeddings, contrastive.steps, contrastive.iterations) == (True, 8, 20)
    assert coerce_options(ContrastiveOptions, {"steps": "none"}).steps is None  # None: automatic, as before
    bottleneck = coerce_options(BottleneckOptions, {"target_modules": "query,value", "reduction": "8"})
    assert bottleneck.target_modules == ["query", "value"] and bottleneck.reduction == 8
    assert coerce_options(FirstOrderProtoMAMLOptions, {"inner_lr": "0.01"}).inner_lr == 0.01


@pytest.mark.parametrize(
    "given, named",
    [
        ({"reduction": "abc"}, "reduction"),
        ({"reduction": "0"}, "reduction"),
        ({"variant": "houlsbi"}, "variant"),
        ({"activation": "softmax"}, "activation"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option(given, named):
    with pytest.raises(OptionError, match=f"option '{named}'"):
        coerce_options(BottleneckOptions, given)


def test_methods_read_their_typed_options_and_config_is_read_only():
    from zoo_methods._contrastive import ContrastiveTuning
    from zoo_methods._prototypes import FirstOrderProtoMAML, PrototypicalNetwork

    method = FirstOrderProtoMAML(inner_lr="0.01", ways="3")
    assert method.options.inner_lr == 0.01 and method.options.ways == 3
    assert method.options.final_steps is None  # 2 x inner_steps, decided where it is used
    with pytest.raises(TypeError):
        method.config["inner_lr"] = 1.0  # type: ignore[index]
    assert PrototypicalNetwork.accepts_support_set and not ContrastiveTuning.accepts_support_set
    with pytest.raises(OptionError, match="method 'contrastive'.*Did you mean 'max_steps'"):
        ContrastiveTuning(max_step=5)


@pytest.mark.parametrize("name", sorted(ZOO_METHODS))
def test_describe_round_trips_through_the_options(first_party_specs, name):
    cls = load_object(first_party_specs[name].factory)
    method = cls()
    config = method.describe()["config"]
    stored = json.loads(json.dumps(config))  # adapters keep it as JSON
    assert coerce_options(cls.Options, stored) == method.options
    assert cls.Options(**config) == method.options
    assert cls(**stored).describe() == method.describe()


def test_a_prepared_bottleneck_records_where_its_adapters_went(tiny_zoo):
    from zoo_core.testing.contracts import build_prepared

    _, method, _ = build_prepared(tiny_zoo, TINY_TEXT, "bottleneck", variant="pfeiffer", reduction="4")
    config = json.loads(json.dumps(method.describe()["config"]))
    assert config["variant"] == "pfeiffer" and config["reduction"] == 4 and config["target_modules"]
    rebuilt = load_object(tiny_zoo.get("methods", "bottleneck").factory)(**config)
    assert rebuilt.options == method.options


def test_a_method_without_an_options_class_keeps_a_plain_writable_config():
    """Third-party methods written before typed options read and write ``self.config``."""
    from zoo_core.engine.method import AdaptationMethod
    from zoo_core.engine.settings import method_options
    from zoo_core.specs import MethodSpec

    class Legacy(AdaptationMethod):
        name = "legacy"

        def prepare(self, model):
            self.config["seen"] = True

    method = Legacy(**method_options(MethodSpec(name="legacy", factory="x:y", defaults={"lr": 0.1}), {"scale": "3"}))
    assert method.config["scale"] == 3  # -o values parse as JSON where they can, as before
    method.prepare(None)
    assert method.describe() == {"name": "legacy", "config": {"scale": 3, "seen": True}}
