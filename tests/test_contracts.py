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


def test_every_registered_method_is_covered(tiny_zoo):
    # A new first-party method must be added to the parametrisation above.
    assert set(tiny_zoo.methods) == {"linear_probe", "full", "lora"}


def test_contract_catches_a_method_that_changes_frozen_weights(tiny_zoo, monkeypatch):
    from zoo_methods._impl import LinearProbe

    def leaky_prepare(self, model):
        for p in model.parameters():
            p.requires_grad_(True)  # claims to be head-only but trains everything

    monkeypatch.setattr(LinearProbe, "prepare", leaky_prepare)
    with pytest.raises(AssertionError, match="rule: a head-only method trains only head"):
        check_method(tiny_zoo, "linear_probe", TINY_IMAGE)
