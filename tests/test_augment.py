"""Issue 16, point 3: image training augmentation from timm's ``create_transform`` (presets light,
randaugment, trivialaugment, none; flip probability; smallest crop), chosen per run and kept with
the adapter; the evaluation transform never changes."""

from __future__ import annotations

import json
import random

import pytest
import torch
from PIL import Image

from zoo_core.errors import ZooError
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT


def _backbone(tiny_zoo, **options):
    from zoo_core.engine.model import build_backbone

    return build_backbone(tiny_zoo, TINY_IMAGE, **options)


def _steps(preprocessor) -> list[str]:
    return [type(step).__name__ for step in preprocessor.transform.transforms]


def _image(size: int = 40) -> Image.Image:
    pixels = torch.arange(size * size * 3, dtype=torch.int64).reshape(size, size, 3) * 7 % 256
    return Image.fromarray(pixels.to(torch.uint8).numpy())


def test_the_default_is_the_light_crop_and_flip_it_always_was(tiny_zoo):
    steps = _backbone(tiny_zoo).preprocessor(train=True).transform.transforms
    crop, flip = steps[0], steps[1]
    assert type(crop).__name__ == "RandomResizedCropAndInterpolation" and crop.scale == (0.6, 1.0)
    assert type(flip).__name__ == "RandomHorizontalFlip" and flip.p == 0.5
    assert not any("Augment" in name or "ColorJitter" in name for name in (type(s).__name__ for s in steps))


@pytest.mark.parametrize(("preset", "ops"), [("randaugment", 2), ("trivialaugment", 1)])
def test_the_auto_augment_presets_add_timms_randaugment(tiny_zoo, preset, ops):
    steps = _backbone(tiny_zoo, augment=preset).preprocessor(train=True).transform.transforms
    rand = next(step for step in steps if type(step).__name__ == "RandAugment")
    assert rand.num_layers == ops
    if preset == "trivialaugment":  # always applied, magnitude drawn uniformly
        assert all(op.prob == 1.0 and op.magnitude_std == float("inf") for op in rand.ops)


def test_hflip_zero_drops_the_flip_and_crop_scale_sets_the_smallest_crop(tiny_zoo):
    prep = _backbone(tiny_zoo, hflip=0.0, crop_scale=0.3).preprocessor(train=True)
    assert "RandomHorizontalFlip" not in _steps(prep)
    assert prep.transform.transforms[0].scale == (0.3, 1.0)


def test_none_trains_on_the_evaluation_transform_and_augmentation_is_random(tiny_zoo):
    image = _image()
    plain = _backbone(tiny_zoo, augment="none")
    assert torch.equal(plain.preprocessor(train=True).load(image), plain.preprocessor(train=False).load(image))
    augmented = _backbone(tiny_zoo, augment="randaugment").preprocessor(train=True)
    random.seed(0)  # timm's crop and RandAugment draw from Python's random
    loads = [augmented.load(image) for _ in range(4)]
    assert any(not torch.equal(loads[0], other) for other in loads[1:])


def test_the_evaluation_transform_and_its_cache_key_ignore_the_training_augmentation(tiny_zoo):
    light, strong = _backbone(tiny_zoo), _backbone(tiny_zoo, augment="trivialaugment", hflip=0.0)
    assert light.preprocessor(train=False).config() == strong.preprocessor(train=False).config()
    assert _steps(light.preprocessor(train=False)) == _steps(strong.preprocessor(train=False))
    assert strong.preprocessor(train=True).config()["augment"] == "trivialaugment"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"augment": "heavy"},
            "augment: unknown preset 'heavy'; choose one of light, randaugment, trivialaugment, none",
        ),
        ({"hflip": 1.5}, "hflip: must be between 0 and 1, got 1.5"),
        ({"hflip": "yes"}, "hflip: expected a number between 0 and 1, got 'yes'"),
        ({"crop_scale": 0.0}, "crop_scale: must be above 0 and at most 1, got 0.0"),
    ],
)
def test_bad_augmentation_options_are_one_line_errors(tiny_zoo, options, message):
    with pytest.raises(ZooError) as caught:
        _backbone(tiny_zoo, **options)
    assert str(caught.value) == message


def test_the_cli_trains_with_the_preset_and_the_adapter_keeps_it(run_zoo, tiny_catalog, image_folder):
    from zoo_core.store import AdapterStore

    code, out, err = run_zoo(
        "--catalog", str(tiny_catalog), "finetune", "-m", TINY_IMAGE, "-d", str(image_folder),
        "--method", "full", "--epochs", "1", "--augment", "trivialaugment", "--hflip", "0", "--name", "aug",
    )  # fmt: skip
    assert code == 0, err
    meta = json.loads((AdapterStore().resolve("aug").path / "adapter.json").read_text())
    assert meta["base_model"]["options"] == {"augment": "trivialaugment", "hflip": 0.0}
    code, out, err = run_zoo("--catalog", str(tiny_catalog), "predict", "aug", str(next(image_folder.rglob("*.png"))))
    assert code == 0, err


def test_the_cli_refuses_augmentation_for_a_text_model_and_a_bad_preset(run_zoo, tiny_catalog, text_file, image_folder):
    base = ["--catalog", str(tiny_catalog), "finetune"]
    code, _, err = run_zoo(*base, "-m", TINY_TEXT, "-d", str(text_file), "--augment", "randaugment")
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "--augment: " in err and "image models only" in err
    code, _, err = run_zoo(*base, "-m", TINY_IMAGE, "-d", str(image_folder), "--method", "full", "--augment", "heavy")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "unknown preset 'heavy'" in err, err


def test_a_method_on_cached_features_refuses_augmentation_in_one_line(run_zoo, tiny_catalog, image_folder):
    """linear_probe trains on cached features of the evaluation transform: an --augment it would not use is an
    error, not a silent no-op (the adapter would otherwise record an augmentation that never happened)."""
    code, _, err = run_zoo(
        "--catalog", str(tiny_catalog), "finetune", "-m", TINY_IMAGE, "-d", str(image_folder),
        "--method", "linear_probe", "--augment", "randaugment", "--no-save",
    )  # fmt: skip
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "--augment" in err and "method 'linear_probe' trains on cached features" in err


def test_auto_picking_a_cached_feature_method_says_the_augmentation_is_unused(tiny_zoo, image_folder):
    from zoo_core.engine.pipeline import finetune

    result = finetune(
        TINY_IMAGE, image_folder, method="auto", backbone_options={"augment": "trivialaugment"}, save=False,
        zoo=tiny_zoo,
    )  # fmt: skip
    picked = result.method
    assert picked in {"protonet", "linear_probe"}, picked  # the tiny set has a handful of images per class
    assert any(note.startswith("augment: not used") and picked in note for note in result.notes), result.notes


def test_ema_decay_says_when_a_method_fits_outside_the_training_loop(tiny_zoo, image_folder):
    from zoo_core.engine.pipeline import finetune

    result = finetune(TINY_IMAGE, image_folder, method="linear_probe", ema_decay=0.9, save=False, zoo=tiny_zoo)
    assert any(note.startswith("ema_decay: not used") for note in result.notes), result.notes
    trained = finetune(
        TINY_IMAGE, image_folder, method="linear_probe", ema_decay=0.9, save=False, zoo=tiny_zoo,
        method_options={"solver": "adamw"}, epochs=1,
    )  # fmt: skip
    assert not any(note.startswith("ema_decay") for note in trained.notes), trained.notes
