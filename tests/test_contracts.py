"""Every first-party backbone family and method passes the contract suite on tiny models."""

import pytest

from zoo_core.testing.contracts import check_backbone, check_head, check_method
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT


@pytest.mark.parametrize("model", [TINY_IMAGE, TINY_TEXT])
def test_backbone_contract(tiny_zoo, model):
    check_backbone(tiny_zoo, model)


# Every first-party method on both families, except where its nature forbids (see `zoo methods list`).
BOTH = [
    "linear_probe",
    "full",
    "lora",
    "dora",
    "ia3",
    "loha",
    "lokr",
    "bitfit",
    "ln_tuning",
    "bottleneck",
    "protonet",
    "adalora",
    "fomaml",
    "contrastive",
    "coral",
    "dann",
    "mcc",
    "self_training",
]
# VeRA adapts linear layers only (peft): transformers yes, convnets such as the tiny timm model no.
TEXT_ONLY: list[str] = ["vera", "zero_shot"]
# AdaBN re-estimates BatchNorm statistics: convnets with BatchNorm only.
IMAGE_ONLY: list[str] = ["adabn"]
CASES = [(m, TINY_IMAGE) for m in BOTH + IMAGE_ONLY] + [(m, TINY_TEXT) for m in BOTH + TEXT_ONLY]


@pytest.mark.parametrize("method, model", CASES)
def test_method_contract(tiny_zoo, method, model):
    check_method(tiny_zoo, method, model)


def test_vera_on_a_convnet_says_why_and_what_to_use(tiny_zoo):
    from zoo_core.errors import ZooError
    from zoo_core.testing.contracts import build_prepared

    with pytest.raises(ZooError, match="vera adapts linear layers only.*Conv2d.*use lora"):
        build_prepared(tiny_zoo, TINY_IMAGE, "vera")


def test_every_first_party_method_is_covered(tiny_zoo):
    # A new first-party method must be added to the parametrisation above.
    info = tiny_zoo.pm.info
    first_party = {name for name, spec in tiny_zoo.methods.items() if info[spec.plugin].distribution == "transfer-zoo"}
    assert first_party == set(BOTH + TEXT_ONLY + IMAGE_ONLY)


@pytest.mark.parametrize("variant, per_layer", [("houlsby", 2), ("pfeiffer", 1)])
def test_bottleneck_variants_place_adapters(tiny_zoo, variant, per_layer):
    from zoo_core.testing.contracts import build_prepared

    net, method, _ = build_prepared(tiny_zoo, TINY_TEXT, "bottleneck", variant=variant)
    targets = method.config["target_modules"]
    assert len(targets) == 2 * per_layer  # the tiny BERT has two layers
    assert all(t.endswith("output.dense") for t in targets)
    image_net, image_method, _ = build_prepared(tiny_zoo, TINY_IMAGE, "bottleneck")
    convs = [m for n, m in image_net.backbone.named_modules() if n.endswith("zoo_bottleneck")]
    assert convs and all(isinstance(m.down, __import__("torch").nn.Conv2d) for m in convs)


def test_contract_catches_an_adapter_that_is_not_the_identity_at_start(tiny_zoo, monkeypatch):
    import torch

    from zoo_methods import _bottleneck

    original = _bottleneck.Bottleneck.__init__

    def noisy_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        torch.nn.init.normal_(self.up.weight)

    monkeypatch.setattr(_bottleneck.Bottleneck, "__init__", noisy_init)
    with pytest.raises(AssertionError, match="rule: a zero-initialised adapter leaves the initial output equal"):
        check_method(tiny_zoo, "bottleneck", TINY_TEXT)


def test_contract_catches_bitfit_training_weights(tiny_zoo, monkeypatch):
    from zoo_methods._selective import BitFit

    original = BitFit.prepare

    def leaky_prepare(self, model):
        original(self, model)
        for _name, param in model.backbone.named_parameters():
            param.requires_grad_(True)  # biases declared, but every weight trains too

    monkeypatch.setattr(BitFit, "prepare", leaky_prepare)
    with pytest.raises(AssertionError, match="rule: the method keeps base weights frozen"):
        check_method(tiny_zoo, "bitfit", TINY_IMAGE)


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_head_contract(tiny_zoo, head):
    check_head(tiny_zoo, head)


def one_too_many(in_features, num_classes):
    import torch

    return torch.nn.Linear(in_features, num_classes + 1)


def test_head_contract_catches_a_wrong_shape(zoo_temporary_plugin):
    from zoo_core.specs import HeadSpec

    zoo = zoo_temporary_plugin(
        "badhead", register_heads=lambda register: register(HeadSpec(name="bad", factory=f"{__name__}:one_too_many"))
    )
    with pytest.raises(AssertionError, match=r"rule: a head maps \[batch, in_features\] to \[batch, num_classes\]"):
        check_head(zoo, "bad")


@pytest.mark.parametrize("model", [TINY_IMAGE, TINY_TEXT])
def test_multilevel_features_end_with_the_final_features(tiny_zoo, model, image_folder, text_file):
    import torch

    from zoo_core.engine.model import build_backbone

    backbone = build_backbone(tiny_zoo, model, pretrained=False).eval()
    prep = backbone.preprocessor(train=False)
    if backbone.modality == "image":
        from zoo_core.data import load_image_folder

        items = load_image_folder(image_folder).items[:3]
    else:
        items = ["a short sentence", "another, longer sentence here", "x"]
    batch = prep.collate([prep.load(item) for item in items])
    with torch.no_grad():
        last = backbone(batch)
        assert backbone.use_features("multilevel")
        multi = backbone(batch)
    assert len(backbone.feature_groups) > 1
    assert multi.shape == (3, sum(backbone.feature_groups)) == (3, backbone.num_features)
    torch.testing.assert_close(multi[:, -last.shape[1] :], last)  # the final level is the old output
    assert backbone.use_features("last") and backbone.num_features == last.shape[1]
    assert not backbone.use_features("no-such-kind")
