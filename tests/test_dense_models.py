"""Issue 17: detection and segmentation models on zoo backbones: feature maps (strides, channels,
shared parameters), torchvision detectors and smp/torchvision segmentation decoders training on
tiny synthetic data, LoRA still applying, the ignore index left out of the loss, and a text
backbone refused in one line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo_core.data.dense import load_detection, load_segmentation
from zoo_core.engine.dense import (
    DetectionDataset,
    SegmentationDataset,
    build_detector,
    build_segmenter,
    evaluate_detector,
    evaluate_segmenter,
    feature_maps_of,
    predict_boxes,
    predict_masks,
    segmentation_loss,
    supports_feature_maps,
    train_detector,
    train_segmenter,
)
from zoo_core.engine.model import build_backbone
from zoo_core.errors import ZooError
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT

COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220)}

# ------------------------------------------------------------------------------------- builders


def detection_dataset(root: Path, n: int = 8, size: int = 64, seed: int = 0) -> Path:
    """``n`` noisy grey images with one coloured rectangle each (red or blue), as Pascal VOC."""
    rng = np.random.RandomState(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    names = list(COLOURS)
    for i in range(n):
        pixels = np.clip(120 + rng.randint(-20, 20, (size, size, 3)), 0, 255).astype("uint8")
        w, h = rng.randint(18, 34), rng.randint(18, 34)
        x0, y0 = rng.randint(0, size - w), rng.randint(0, size - h)
        name = names[i % 2]
        pixels[y0 : y0 + h, x0 : x0 + w] = COLOURS[name]
        Image.fromarray(pixels).save(root / "images" / f"im{i}.png")
        (root / "annotations" / f"im{i}.xml").write_text(
            f"<annotation><filename>im{i}.png</filename><size><width>{size}</width><height>{size}</height></size>"
            f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x0 + w}</xmax><ymax>{y0 + h}</ymax></bndbox></object></annotation>"
        )
    return root


def segmentation_dataset(root: Path, n: int = 6, size: int = 64, seed: int = 0) -> Path:
    """Images with a red rectangle (class 1) and a blue one (class 2) on grey background (class 0);
    a border of ignored pixels (255)."""
    rng = np.random.RandomState(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = np.clip(120 + rng.randint(-20, 20, (size, size, 3)), 0, 255).astype("uint8")
        mask = np.zeros((size, size), np.uint8)
        for value, colour in ((1, COLOURS["red"]), (2, COLOURS["blue"])):
            w, h = rng.randint(12, 24), rng.randint(12, 24)
            x0, y0 = rng.randint(2, size - w - 2), rng.randint(2, size - h - 2)
            pixels[y0 : y0 + h, x0 : x0 + w] = colour
            mask[y0 : y0 + h, x0 : x0 + w] = value
        mask[:, :2] = 255
        Image.fromarray(pixels).save(root / "images" / f"s{i}.png")
        Image.fromarray(mask, "L").save(root / "masks" / f"s{i}.png")
    (root / "classes.txt").write_text("background\nred\nblue\n")
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    # On a shared 2-core machine, intra-op threads waiting on each other made a backward pass 10x
    # slower than one thread; these models are tiny.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_backbone(tiny_zoo):
    torch.manual_seed(0)
    return build_backbone(tiny_zoo, TINY_IMAGE, pretrained=True)


def _early_late(losses: list[float], k: int = 3) -> tuple[float, float]:
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


# ------------------------------------------------------------------------------------- feature maps


def test_feature_maps_have_strides_channels_and_share_the_backbone(tiny_backbone):
    maps = feature_maps_of(tiny_backbone, (4, 8, 16, 32))
    assert maps.strides == [4, 8, 16, 32] and not maps.pyramid and maps.fixed_size is None
    info = {int(level["reduction"]): int(level["num_chs"]) for level in tiny_backbone.model.feature_info}
    assert maps.channels == [info[s] for s in (4, 8, 16, 32)]
    # The same module, so the same parameters: what the classifier trains, the detector trains.
    assert maps.backbone.model is tiny_backbone.model
    ids = {id(p) for p in tiny_backbone.model.parameters()}
    assert {id(p) for p in maps.parameters()} == ids
    with torch.no_grad():
        out = maps.eval()(torch.rand(2, 3, 64, 64))
        odd = maps(torch.rand(1, 3, 70, 90))
    assert list(out) == ["0", "1", "2", "3"]
    for level, stride, channels in zip(out.values(), maps.strides, maps.channels):
        assert tuple(level.shape) == (2, channels, 64 // stride, 64 // stride)
    for level, stride in zip(odd.values(), maps.strides):
        assert tuple(level.shape[-2:]) == (-(-70 // stride), -(-90 // stride))


def test_feature_maps_keep_batchnorm_statistics_frozen_while_training(tiny_backbone):
    maps = feature_maps_of(tiny_backbone).train()
    norms = [m for m in tiny_backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    before = norms[0].running_mean.clone()
    maps(torch.rand(2, 3, 64, 64))
    assert torch.equal(norms[0].running_mean, before)


def test_plain_vit_gets_a_simple_feature_pyramid():
    import timm

    class VitBackbone(torch.nn.Module):
        modality = "image"
        input_cfg = {"size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.5] * 3}

        def __init__(self):
            super().__init__()
            self.model = timm.create_model("test_vit", pretrained=False, num_classes=0, img_size=32)

    backbone = VitBackbone()
    maps = feature_maps_of(backbone, (8, 16, 32))
    assert maps.pyramid and maps.strides == [8, 16, 32]
    with torch.no_grad():
        out = maps.eval()(torch.rand(1, 3, 40, 56))  # not a multiple of the patch: padded
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(5, 7), (3, 4), (2, 2)]


def test_text_backbone_is_refused_in_one_line(tiny_zoo):
    backbone = build_backbone(tiny_zoo, TINY_TEXT, pretrained=True)
    assert not supports_feature_maps(backbone)
    for build in (
        lambda: feature_maps_of(backbone),
        lambda: build_detector(backbone, 2),
        lambda: build_segmenter(backbone, 3),
    ):
        with pytest.raises(ZooError) as caught:
            build()
        message = str(caught.value)
        assert "\n" not in message and "feature maps" in message and "hf family" in message, message


def test_unknown_detector_and_decoder_are_refused(tiny_backbone):
    with pytest.raises(ZooError, match="unknown detector 'yolo'"):
        build_detector(tiny_backbone, 2, kind="yolo")
    with pytest.raises(ZooError, match="unknown segmentation decoder 'unet'"):
        build_segmenter(tiny_backbone, 3, decoder="unet")


# ------------------------------------------------------------------------------------- detection


def test_detection_dataset_gives_1_based_labels_and_flips_boxes(tmp_path, monkeypatch):
    data = load_detection(detection_dataset(tmp_path / "det", n=2))
    plain = DetectionDataset(data, ["red", "blue"], train=False)
    image, target = plain[1]
    assert image.shape == (3, 64, 64) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert target["labels"].tolist() == [2] and target["labels"].dtype == torch.int64
    assert target["boxes"].dtype == torch.float32 and target["boxes"].tolist() == [data.items[1].boxes[0]]
    monkeypatch.setattr(random, "random", lambda: 0.0)  # always flip
    flipped_image, flipped = DetectionDataset(data, ["red", "blue"], train=True)[1]
    x0, y0, x1, y1 = data.items[1].boxes[0]
    assert flipped["boxes"].tolist() == [[64 - x1, y0, 64 - x0, y1]]
    assert torch.equal(flipped_image, image.flip(-1))
    with pytest.raises(ZooError, match="not among the model's classes"):
        DetectionDataset(data, ["red"])


@pytest.mark.slow
def test_detector_trains_evaluates_and_predicts(tmp_path, tiny_backbone):
    data = load_detection(detection_dataset(tmp_path / "det"))
    norm = next(m for m in tiny_backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    stats = norm.running_mean.clone()
    model = build_detector(tiny_backbone, 2, min_size=64, max_size=64, fpn_channels=32)
    history = train_detector(model, data, epochs=4, lr=1e-3, batch_size=4, seed=0, log=None, progress=False)
    assert history["steps"] == 8 and len(history["losses"]) == 8
    early, late = _early_late(history["losses"])
    assert late < early, history["losses"]
    assert model.class_names == ["blue", "red"]  # named by the data, in its order
    assert torch.equal(norm.running_mean, stats)  # frozen statistics
    metrics = evaluate_detector(model, data)
    assert {"map", "map_50", "map_75", "mar_100", "per_class", "num_images", "num_boxes"} <= set(metrics)
    assert set(metrics["per_class"]) == {"blue", "red"} and metrics["num_images"] == 8
    found = predict_boxes(model, [data.items[0].image, Image.open(data.items[1].image)], score_threshold=0.0)
    assert len(found) == 2
    json.dumps(found)  # plain data
    for image in found:
        assert set(image) == {"boxes", "labels", "scores"}
        assert len(image["boxes"]) == len(image["labels"]) == len(image["scores"])
        assert set(image["labels"]) <= {"blue", "red"}
        assert all(len(box) == 4 for box in image["boxes"])
        assert image["scores"] == sorted(image["scores"], reverse=True)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["retinanet", "fasterrcnn"])
def test_other_detectors_take_a_training_step(tmp_path, tiny_backbone, kind):
    data = load_detection(detection_dataset(tmp_path / "det", n=4))
    model = build_detector(tiny_backbone, 2, kind=kind, min_size=64, max_size=64, fpn_channels=32)
    history = train_detector(model, data, epochs=1, batch_size=2, log=None, progress=False)
    assert history["steps"] == 2 and all(np.isfinite(history["losses"]))
    assert len(predict_boxes(model, [data.items[0].image], 0.0)) == 1


@pytest.mark.slow
def test_lora_in_the_backbone_trains_inside_the_detector(tmp_path, tiny_zoo):
    from zoo_core.testing.contracts import build_prepared

    net, _adaptation, _spec = build_prepared(tiny_zoo, TINY_IMAGE, "lora")
    backbone = net.backbone
    lora = {n: p.detach().clone() for n, p in backbone.model.named_parameters() if "lora_" in n}
    base = {n: p.detach().clone() for n, p in backbone.model.named_parameters() if "lora_" not in n}
    assert lora and base
    data = load_detection(detection_dataset(tmp_path / "det", n=4))
    model = build_detector(backbone, 2, min_size=64, max_size=64, fpn_channels=32)  # keeps LoRA's choice
    assert all(not p.requires_grad for n, p in backbone.model.named_parameters() if "lora_" not in n)
    train_detector(model, data, epochs=1, lr=1e-2, batch_size=2, log=None, progress=False)
    after = dict(backbone.model.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in base.items()), "base weights changed"
    moved = [n for n, v in lora.items() if n.startswith("blocks.") and not torch.equal(after[n], v)]
    assert moved, "no LoRA weight in the blocks changed"


@pytest.mark.slow
def test_full_methods_layer_decay_gradual_unfreeze_and_l2_sp_reach_the_dense_loop(tmp_path, tiny_zoo):
    from zoo_core.engine.dense.pipeline import DETECTION, check_method, method_hooks
    from zoo_core.engine.model import TransferModel

    options = {"layer_decay": 0.5, "gradual_unfreeze": True, "l2_sp": 0.01}
    method = check_method(tiny_zoo, DETECTION, "full", options)
    backbone = build_backbone(tiny_zoo, tiny_zoo.catalog.get(TINY_IMAGE), pretrained=True)
    backbone.feature_maps_only = True  # as the dense runner sets it: no group for the unused final layers
    net = TransferModel(backbone, torch.nn.Identity())
    method.prepare(net)
    model = build_detector(backbone, 2, min_size=64, max_size=64, fpn_channels=32)
    hooks = method_hooks(method, net, model)
    lr_of = {id(p): group["lr"] for group in hooks.param_groups(1.0, 0.1) for p in group["params"]}
    stages = backbone.layer_groups()  # bottom to top
    named = dict(backbone.model.named_parameters())
    top, bottom = named[stages[-1][0]], named[stages[0][0]]
    assert lr_of[id(top)] == 0.5 and lr_of[id(bottom)] == 0.5 ** len(stages)  # layer-wise learning rates
    head = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    assert head and all(lr_of[id(p)] == 1.0 for p in head)  # the FPN and heads at the base rate

    before = {n: p.detach().clone() for n, p in named.items()}
    data = load_detection(detection_dataset(tmp_path / "det", n=4))
    history = train_detector(model, data, epochs=2, lr=1e-2, batch_size=2, log=None, progress=False, hooks=hooks)
    assert history["steps"] == 4
    moved = {n for n, p in named.items() if not torch.equal(p, before[n])}
    # Epoch 1 trained the head alone, epoch 2 opened the top stage only (gradual unfreezing).
    assert moved and moved <= set(stages[-1]), sorted(moved)[:5]
    assert float(hooks.regularization().detach()) > 0  # L2-SP: the opened stage moved away from its start


# ------------------------------------------------------------------------------------- segmentation


def test_segmentation_loss_leaves_ignored_pixels_out():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    masks = torch.randint(0, 3, (2, 8, 8))
    masks[:, :, :3] = 255
    loss = segmentation_loss(logits, masks, 255)
    changed = logits.detach().clone()
    changed[:, :, :, :3] = torch.randn(2, 3, 8, 3) * 10  # only where the target is ignored
    assert torch.allclose(segmentation_loss(changed, masks, 255), loss)
    keep = masks != 255
    manual = torch.nn.functional.cross_entropy(logits.permute(0, 2, 3, 1)[keep], masks[keep])
    assert torch.allclose(loss, manual)
    loss.backward()
    assert torch.count_nonzero(logits.grad[:, :, :, :3]) == 0
    everything = torch.full((2, 8, 8), 255)
    nothing = segmentation_loss(logits, everything, 255)
    assert float(nothing.detach()) == 0.0 and nothing.requires_grad


def test_segmentation_dataset_keeps_the_ignore_index(tmp_path):
    data = load_segmentation(segmentation_dataset(tmp_path / "seg", n=2))
    assert data.ignore_index == 255 and data.class_names == ["background", "red", "blue"]
    image, mask = SegmentationDataset(data, train=True, size=32)[0]
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32) and mask.dtype == torch.int64
    assert set(mask.unique().tolist()) <= {0, 1, 2, 255} and 255 in mask.tolist()[0]
    image, mask = SegmentationDataset(data, train=False, size=32)[0]
    assert image.shape == (3, 32, 32) and mask.shape == (64, 64)  # evaluation keeps the mask's resolution


@pytest.mark.slow
def test_segmenter_trains_evaluates_and_predicts(tmp_path, tiny_backbone):
    data = load_segmentation(segmentation_dataset(tmp_path / "seg"))
    model = build_segmenter(tiny_backbone, 3, image_size=64, pyramid_channels=32, segmentation_channels=32)
    history = train_segmenter(model, data, epochs=8, lr=3e-3, batch_size=3, seed=0, log=None, progress=False)
    assert history["steps"] == 16
    early, late = _early_late(history["losses"])
    assert late < early, history["losses"]
    assert model.class_names == ["background", "red", "blue"] and model.ignore_index == 255
    metrics = evaluate_segmenter(model, data)
    assert {"miou", "per_class_iou", "pixel_accuracy", "mean_accuracy", "num_pixels"} <= set(metrics)
    assert set(metrics["per_class_iou"]) == {"background", "red", "blue"}
    assert metrics["num_pixels"] == 6 * 64 * 62  # the ignored border is not counted
    masks = predict_masks(model, [data.items[0].image])
    assert masks[0].shape == (64, 64) and set(np.unique(masks[0])) <= {0, 1, 2}


@pytest.mark.slow
def test_deeplabv3_head_takes_a_training_step(tmp_path, tiny_backbone):
    data = load_segmentation(segmentation_dataset(tmp_path / "seg", n=4))
    model = build_segmenter(tiny_backbone, 3, decoder="deeplabv3", image_size=64, freeze_backbone=True)
    assert not any(p.requires_grad for p in tiny_backbone.parameters())
    history = train_segmenter(model, data, epochs=1, batch_size=2, log=None, progress=False)
    assert history["steps"] == 2 and all(np.isfinite(history["losses"]))
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 50, 70)).shape == (1, 3, 50, 70)


def test_dense_loop_takes_generator_groups_and_logs_the_task_loss_alone(tmp_path, tiny_backbone):
    """A method may give its groups' parameters as a generator; the logged loss leaves its penalty out."""
    from zoo_core.engine.dense.loop import MethodHooks

    data = load_detection(detection_dataset(tmp_path / "det", n=4))
    model = build_detector(tiny_backbone, 2, min_size=64, max_size=64, fpn_channels=32)
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    hooks = MethodHooks(
        param_groups=lambda lr, wd: [{"params": (p for p in trainable), "lr": lr}],
        on_epoch_start=lambda epoch, epochs: None,
        regularization=lambda: torch.tensor(1000.0),
    )
    history = train_detector(model, data, epochs=1, batch_size=2, log=None, progress=False, hooks=hooks)
    moved = sum(not torch.equal(p, b) for p, b in zip(trainable, before))
    assert moved > len(trainable) // 2, (moved, len(trainable))  # a used-up generator would train none
    assert max(history["losses"]) < 1000  # the penalty is in the gradient, not in the logged loss
