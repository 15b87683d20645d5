"""Every first-party backbone family and method passes the contract suite on tiny models."""

import pytest

from zoo_core.testing.contracts import check_backbone, check_method
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT


@pytest.mark.parametrize("model", [TINY_IMAGE, TINY_TEXT])
def test_backbone_contract(tiny_zoo, model):
    check_backbone(tiny_zoo, model)


@pytest.mark.parametrize("model", [TINY_IMAGE, TINY_TEXT])
@pytest.mark.parametrize("method", ["linear_probe", "full", "lora"])
def test_method_contract(tiny_zoo, method, model):
    check_method(tiny_zoo, method, model)


def test_every_first_party_method_is_covered(tiny_zoo):
    # A new first-party method must be added to the parametrisation above.
    info = tiny_zoo.pm.info
    first_party = {name for name, spec in tiny_zoo.methods.items() if info[spec.plugin].distribution == "transfer-zoo"}
    assert first_party == {"linear_probe", "full", "lora"}


def test_contract_catches_a_method_that_changes_frozen_weights(tiny_zoo, monkeypatch):
    from zoo_methods._impl import LinearProbe

    def leaky_prepare(self, model):
        for p in model.parameters():
            p.requires_grad_(True)  # claims to be head-only but trains everything

    monkeypatch.setattr(LinearProbe, "prepare", leaky_prepare)
    with pytest.raises(AssertionError, match="rule: a head-only method trains only head"):
        check_method(tiny_zoo, "linear_probe", TINY_IMAGE)


def test_built_objects_satisfy_the_protocols(tiny_zoo):
    from zoo_core import interfaces
    from zoo_core.engine.model import build_backbone, build_head
    from zoo_core.specs import load_object

    backbone = build_backbone(tiny_zoo, TINY_TEXT)
    assert isinstance(backbone, interfaces.Backbone)
    assert isinstance(backbone.preprocessor(), interfaces.Preprocessor)
    assert isinstance(build_head(tiny_zoo, "mlp", 8, 3), interfaces.Head)
    for spec in tiny_zoo.methods.values():
        assert isinstance(load_object(spec.factory)(), interfaces.AdaptationMethod), spec.name
    for spec in tiny_zoo.scorers.values():
        assert isinstance(load_object(spec.factory)(), interfaces.Scorer), spec.name
