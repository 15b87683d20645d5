"""zoo recommend for object detection and semantic segmentation: the proxy's items (box crops with a
context margin and background crops; class regions of the masks), the ranking it gives two tiny
backbones, the proxy said in the result and the CLI's --json, and one-line refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from zoo_core.data.dense import load_detection, load_segmentation
from zoo_core.engine.recommend import recommend
from zoo_core.engine.recommend_dense import (
    BACKGROUND,
    BACKGROUND_MAX_IOU,
    LORA_FROM_PER_CLASS,
    Crop,
    background_boxes,
    box_iou,
    dense_method,
    dense_task_of,
    detection_crops,
    make_crops,
    segmentation_regions,
    with_margin,
)
from zoo_core.errors import DataError, ZooError
from zoo_core.testing.tiny import TINY_IMAGE

COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220)}
DENSE_A, DENSE_B = "tiny/dense-efficientnet", "tiny/dense-resnet"


# ------------------------------------------------------------------------------------- builders


def voc_dataset(root: Path, n: int = 12, size: int = 64, names=("red", "blue"), seed: int = 0, full=False) -> Path:
    """``n`` noisy grey images with one coloured rectangle each, as Pascal VOC (``full``: the box is the image)."""
    rng = np.random.RandomState(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = np.clip(120 + rng.randint(-20, 20, (size, size, 3)), 0, 255).astype("uint8")
        w, h = (size, size) if full else (rng.randint(14, 24), rng.randint(14, 24))
        x0, y0 = (0, 0) if full else (rng.randint(0, size - w), rng.randint(0, size - h))
        name = names[i % len(names)]
        pixels[y0 : y0 + h, x0 : x0 + w] = COLOURS.get(name, (200, 200, 40))
        Image.fromarray(pixels).save(root / "images" / f"im{i}.png")
        (root / "annotations" / f"im{i}.xml").write_text(
            f"<annotation><filename>im{i}.png</filename><size><width>{size}</width><height>{size}</height></size>"
            f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x0 + w}</xmax><ymax>{y0 + h}</ymax></bndbox></object></annotation>"
        )
    return root


def mask_dataset(root: Path, n: int = 8, size: int = 64, seed: int = 0, only_background: bool = False) -> Path:
    """Images with a red rectangle (class 1) and a blue one (class 2) on grey (class 0), a 2x2 speck
    of class 3 (under 1 % of the image) and a left border of ignored pixels (255)."""
    rng = np.random.RandomState(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = np.clip(120 + rng.randint(-20, 20, (size, size, 3)), 0, 255).astype("uint8")
        mask = np.zeros((size, size), np.uint8)
        if not only_background:
            for value, colour in ((1, COLOURS["red"]), (2, COLOURS["blue"])):
                w, h = rng.randint(12, 20), rng.randint(12, 20)
                x0, y0 = rng.randint(4, size - w - 2), rng.randint(2, size - h - 2)
                pixels[y0 : y0 + h, x0 : x0 + w] = colour
                mask[y0 : y0 + h, x0 : x0 + w] = value
            mask[60:62, 60:62] = 3
        mask[:, :2] = 255
        Image.fromarray(pixels).save(root / "images" / f"s{i}.png")
        Image.fromarray(mask, "L").save(root / "masks" / f"s{i}.png")
    (root / "classes.txt").write_text("background\nred\nblue\nspeck\n")
    return root


@pytest.fixture(scope="session")
def dense_catalog(tiny_catalog, tmp_path_factory):
    """Two tiny timm models tagged for the dense tasks: the tiny EfficientNet's weights and a tiny ResNet."""
    import timm
    import torch
    from safetensors.torch import save_file

    from zoo_core.weights import sha256_file

    folder = tmp_path_factory.mktemp("dense-models")
    torch.manual_seed(1)
    resnet = timm.create_model("test_resnet", pretrained=False, num_classes=10)
    resnet_file = folder / "tiny_resnet.safetensors"
    save_file({k: v.contiguous() for k, v in resnet.state_dict().items()}, str(resnet_file))
    efficientnet_file = tiny_catalog.parent / "tiny_timm.safetensors"
    common = {
        "pretraining": None,
        "license": None,
        "paper": None,
        "metric": None,
        "status": "experimental",
        "source": "tests/test_recommend_dense.py",
        "params_m": None,
        "num_features": None,
        "family": "timm",
        "modality": "image",
        "tasks": ["image-classification", "object-detection", "semantic-segmentation"],
        "input": {
            "size": [3, 32, 32],
            "mean": [0.5] * 3,
            "std": [0.5] * 3,
            "interpolation": "bilinear",
            "crop_pct": 1.0,
        },
    }
    models = [
        {
            **common,
            "id": model_id,
            "aliases": [model_id.split("/")[1]],
            "arch": arch,
            "weights": [{"source": "path", "path": str(file), "format": "safetensors", "sha256": sha256_file(file)}],
        }
        for model_id, arch, file in (
            (DENSE_A, "test_efficientnet", efficientnet_file),
            (DENSE_B, "test_resnet", resnet_file),
        )
    ]
    path = folder / "catalog.json"
    path.write_text(json.dumps({"schema_version": 1, "models": models}, indent=2))
    return path


@pytest.fixture
def dense_zoo(tiny_catalog, dense_catalog):
    from zoo_core.plugins import Zoo, make_plugin_manager

    return Zoo(make_plugin_manager(stderr=io.StringIO()), catalog_paths=[str(tiny_catalog), str(dense_catalog)])


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------------- detection crops


def test_margin_is_ten_percent_each_side_clipped_to_the_image():
    assert with_margin([10, 20, 30, 40], 64, 64) == (8, 18, 32, 42)
    assert with_margin([0, 0, 10, 10], 64, 64) == (0, 0, 11, 11)  # clipped at the top left
    assert with_margin([50, 54, 64, 64], 64, 64) == (48, 53, 64, 64)  # and at the bottom right
    assert with_margin([10, 10, 20, 20], 64, 64, margin=0.0) == (10, 10, 20, 20)


def test_background_boxes_avoid_every_labelled_box_and_follow_the_seed():
    boxes = [[5, 5, 25, 25], [30, 30, 50, 60]]
    sizes = [(20.0, 20.0), (20.0, 30.0)]

    def draw(seed: int) -> list[list[float]]:
        return background_boxes(64, 64, boxes, sizes, 2, np.random.default_rng(seed))

    found = draw(0)
    assert len(found) == 2
    for box in found:
        assert 0 <= box[0] < box[2] <= 64 and 0 <= box[1] < box[3] <= 64
        assert all(box_iou(box, b) < BACKGROUND_MAX_IOU for b in boxes)
    assert draw(0) == found and draw(1) != found
    # An image its object fills leaves no room: no background box, rather than a wrong one.
    assert background_boxes(64, 64, [[0, 0, 64, 64]], [(64.0, 64.0)], 3, np.random.default_rng(0)) == []


def test_detection_crops_are_the_boxes_with_margin_plus_as_many_background_crops(tmp_path):
    data = load_detection(voc_dataset(tmp_path / "voc"))
    crops, notes = detection_crops(data, seed=0)
    objects = [c for c in crops if c.label != BACKGROUND]
    background = [c for c in crops if c.label == BACKGROUND]
    assert sorted(c.label for c in objects) == sorted(label for item in data.items for label in item.labels)
    for crop in objects:
        item = next(i for i in data.items if i.image == crop.image)
        assert crop.box == with_margin(item.boxes[0], item.width, item.height)
    assert len(background) == len(objects) == 12
    assert "12 crops of the 12 labelled boxes" in notes[0] and "12 background crops" in notes[0]
    # Background crops (taken without margin here) stay clear of the labelled box of their image.
    for crop in detection_crops(data, seed=0, margin=0.0)[0]:
        if crop.label == BACKGROUND:
            item = next(i for i in data.items if i.image == crop.image)
            assert box_iou(crop.box, item.boxes[0]) < BACKGROUND_MAX_IOU + 0.05  # whole-pixel rounding
    assert detection_crops(data, seed=0)[0] == crops  # deterministic under the seed
    again = detection_crops(data, seed=1)[0]
    assert [c for c in again if c.label != BACKGROUND] == objects and again != crops
    # At most max_per_class per class, the background capped alike.
    capped, _ = detection_crops(data, seed=0, max_per_class=4)
    assert [c.label for c in capped].count("red") == 4 and [c.label for c in capped].count(BACKGROUND) == 4


def test_made_crops_are_the_image_regions(tmp_path):
    image = tmp_path / "a.png"
    pixels = np.arange(40 * 30 * 3, dtype=np.uint32).reshape(30, 40, 3).astype(np.uint8)
    Image.fromarray(pixels).save(image)
    made = make_crops([Crop(str(image), (5, 6, 25, 16), "x"), Crop(str(image), (0, 0, 40, 30), "y")])
    assert made[0].size == (20, 10) and np.array_equal(np.asarray(made[0]), pixels[6:16, 5:25])
    assert made[1].size == (40, 30)
    assert make_crops([Crop(str(image), (0, 0, 40, 30), "y")], max_side=20)[0].size == (20, 15)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        make_crops([Crop(str(broken), (0, 0, 4, 4), "x")])


# ------------------------------------------------------------------------------------- segmentation regions


def test_segmentation_regions_per_class_present_without_ignore_or_specks(tmp_path):
    from zoo_core.data.dense import read_mask

    data = load_segmentation(mask_dataset(tmp_path / "seg"))
    regions, notes = segmentation_regions(data, seed=0)
    assert {r.label for r in regions} == {"background", "red", "blue"}  # speck < 1 %; 255 is no class
    assert len(regions) == 3 * len(data)
    assert any("speck" in note and "1%" in note for note in notes)
    for region in regions:
        mask = read_mask(region.mask)
        ys, xs = np.nonzero(mask == region.value)
        assert region.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert data.class_names[region.value] == region.label
    background = next(r for r in regions if r.label == "background")
    assert background.box[0] == 2  # the ignored border (columns 0-1) is not background
    # Pixels of the box that are another class (or ignored) are the image's mean colour.
    red = next(r for r in regions if r.label == "red")
    made = np.asarray(make_crops([red])[0])
    pixels = np.asarray(Image.open(red.image).convert("RGB"))
    x0, y0, x1, y1 = red.box
    inside = read_mask(red.mask)[y0:y1, x0:x1] == red.value
    assert np.array_equal(made[inside], pixels[y0:y1, x0:x1][inside])
    assert inside.all() or (made[~inside] == pixels.reshape(-1, 3).mean(0).round()).all()
    assert segmentation_regions(data, seed=0, max_per_class=2)[0] == segmentation_regions(data, max_per_class=2)[0]
    assert len(segmentation_regions(data, seed=0, max_per_class=2)[0]) == 6


def test_dense_method_and_task_of_layout(tmp_path):
    assert dense_method("object-detection", LORA_FROM_PER_CLASS - 1)[0] == "linear_probe"
    assert dense_method("object-detection", LORA_FROM_PER_CLASS)[0] == "lora"
    assert "decoder" in dense_method("semantic-segmentation", 5)[1]
    voc = voc_dataset(tmp_path / "voc", n=2)
    assert dense_task_of(voc, None)[0] == "object-detection"
    assert dense_task_of(mask_dataset(tmp_path / "seg", n=2), None)[0] == "semantic-segmentation"
    assert dense_task_of(voc, "image-classification") is None
    assert dense_task_of(tmp_path / "seg", "object-detection") == ("object-detection", None)


# ------------------------------------------------------------------------------------- recommend


def test_recommend_ranks_two_backbones_on_detection_by_the_proxy(tmp_path, dense_zoo):
    data = voc_dataset(tmp_path / "voc")
    result = recommend(data, candidates=[DENSE_A, DENSE_B], zoo=dense_zoo, budget_seconds=None, offline=True)
    assert result.task == "object-detection" and result.num_classes == 3  # red, blue, background
    assert result.num_items == result.num_scored == 24
    assert [r.model for r in result.candidates if r.score is not None and np.isfinite(r.score)] != []
    assert {r.model for r in result.candidates} == {DENSE_A, DENSE_B}
    assert all(r.score is not None and r.error is None for r in result.candidates)
    assert result.candidates[0].score >= result.candidates[1].score
    assert result.proxy.startswith("detection proxy: logme") and "not a prediction of mAP" in result.proxy
    assert result.notes[0] == result.proxy
    assert any("from the voc layout" in note for note in result.notes)
    assert all(r.suggested_method == "linear_probe" and "FPN" in r.reason for r in result.candidates)
    assert result.as_dict()["proxy"] == result.proxy


def test_one_class_detection_still_has_background_to_score(tmp_path, dense_zoo):
    data = voc_dataset(tmp_path / "raccoon", n=10, names=("raccoon",))
    result = recommend(
        data, task="object-detection", candidates=[DENSE_A], zoo=dense_zoo, budget_seconds=None, offline=True
    )
    assert result.num_classes == 2 and result.candidates[0].score is not None


def test_recommend_ranks_two_backbones_on_segmentation_by_the_proxy(tmp_path, dense_zoo):
    data = mask_dataset(tmp_path / "seg")
    result = recommend(
        data,
        task="semantic-segmentation",
        candidates=[DENSE_A, DENSE_B],
        zoo=dense_zoo,
        budget_seconds=None,
        offline=True,
        verify=1,
    )
    assert result.task == "semantic-segmentation" and result.num_classes == 3 and result.num_scored == 24
    assert all(r.score is not None for r in result.candidates)
    assert result.candidates[0].verify_accuracy is not None
    assert result.proxy.startswith("segmentation proxy") and "mIoU" in result.proxy and result.proxy in result.notes


def test_budget_subsamples_crops_stratified(tmp_path, dense_zoo):
    data = voc_dataset(tmp_path / "voc")
    result = recommend(data, candidates=[DENSE_A], zoo=dense_zoo, budget_seconds=1e-9, offline=True)
    assert result.num_scored == 15 and result.num_items == 24  # 5 per class floor
    assert any("stratified sample of 15 of 24 crops" in note for note in result.notes)


def test_default_candidates_are_the_image_models_listed_for_the_task(tmp_path, dense_zoo, monkeypatch):
    import zoo_core.weights

    # Offline, as if only the tiny models' weights were on this machine (the real catalog's are, here).
    monkeypatch.setattr(zoo_core.weights, "is_available", lambda entry, sources: entry.id.startswith("tiny/"))
    result = recommend(voc_dataset(tmp_path / "voc"), zoo=dense_zoo, budget_seconds=None, offline=True, resamples=0)
    assert {r.model for r in result.candidates} == {DENSE_A, DENSE_B}  # not tiny-image: not listed for the task
    assert any("zoo models list --task object-detection" in note for note in result.notes)


def test_cli_json_says_it_is_a_proxy(tmp_path, dense_zoo, monkeypatch):
    import zoo_core.cli
    from zoo_core.cli import cli

    monkeypatch.setattr(zoo_core.cli, "_ZOO", dense_zoo)
    data = voc_dataset(tmp_path / "voc")
    args = ["recommend", "--data", str(data), "--task", "object-detection", "--offline", "--budget-seconds", "0"]
    outcome = CliRunner().invoke(cli, [*args, "--candidates", f"{DENSE_A},{DENSE_B}", "--json"])
    assert outcome.exit_code == 0, outcome.output
    payload = json.loads(outcome.stdout)
    assert payload["proxy"].startswith("detection proxy") and payload["proxy"] in payload["notes"]
    assert len(payload["candidates"]) == 2 and all(c["score"] is not None for c in payload["candidates"])
    table = CliRunner().invoke(cli, [*args, "--candidates", DENSE_A])
    assert table.exit_code == 0, table.output
    assert "note: detection proxy" in table.stdout and "--task object-detection --method linear_probe" in table.stdout


def test_cli_help_mentions_dense_tasks():
    from zoo_core.cli import cli

    text = CliRunner().invoke(cli, ["recommend", "--help"]).stdout
    assert "--task object-detection" in text and "efficientnet-lite0,efficientnet-lite1,efficientnet-lite2" in text
    assert "proxy" in text and "not the mAP" in text


# ------------------------------------------------------------------------------------- refusals


def _one_line(caught: pytest.ExceptionInfo) -> str:
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_text_model_is_refused_in_one_line(tmp_path, dense_zoo):
    with pytest.raises(ZooError) as caught:
        recommend(voc_dataset(tmp_path / "voc", n=2), candidates=["tiny-text", DENSE_A], zoo=dense_zoo)
    assert "text model" in _one_line(caught) and "feature maps" in str(caught.value)


def test_no_second_class_is_refused_in_one_line(tmp_path, dense_zoo):
    # Each image is all object: no background box can be placed, and there is one class.
    with pytest.raises(DataError) as caught:
        recommend(
            voc_dataset(tmp_path / "full", n=4, names=("raccoon",), full=True), candidates=[DENSE_A], zoo=dense_zoo
        )
    assert "at least 2 classes" in _one_line(caught) and "only 'raccoon'" in str(caught.value)
    with pytest.raises(DataError) as caught:
        recommend(mask_dataset(tmp_path / "bg", n=3, only_background=True), candidates=[DENSE_A], zoo=dense_zoo)
    assert "at least 2 classes" in _one_line(caught) and "only 'background'" in str(caught.value)


def test_model_without_feature_maps_gets_a_row_saying_so(tmp_path, dense_zoo, monkeypatch):
    import zoo_core.engine.dense as dense

    data = voc_dataset(tmp_path / "voc", n=6)
    original = dense.supports_feature_maps
    monkeypatch.setattr(dense, "supports_feature_maps", lambda b: original(b) and b.entry.id != DENSE_B)
    result = recommend(data, candidates=[DENSE_A, DENSE_B], zoo=dense_zoo, budget_seconds=None, offline=True)
    row = next(r for r in result.candidates if r.model == DENSE_B)
    assert row.score is None and "no feature maps" in row.error
    monkeypatch.setattr(dense, "supports_feature_maps", lambda b: False)
    with pytest.raises(ZooError) as caught:
        recommend(data, candidates=[DENSE_A], zoo=dense_zoo, offline=True)
    assert "no candidate can serve this task" in _one_line(caught)


def test_classification_only_options_are_refused(tmp_path, dense_zoo):
    data = voc_dataset(tmp_path / "voc", n=2)
    with pytest.raises(ZooError, match="--text-column: not for object-detection"):
        recommend(data, candidates=[DENSE_A], zoo=dense_zoo, data_options={"text_column": "text"})
    with pytest.raises(ZooError, match="not an object detection dataset"):
        recommend(mask_dataset(tmp_path / "seg", n=2), task="object-detection", candidates=[DENSE_A], zoo=dense_zoo)
    from zoo_core.cli import cli

    outcome = CliRunner().invoke(cli, ["recommend", "--data", str(data), "--task", "object-detection", "--unlabeled"])
    assert outcome.exit_code != 0 and "--unlabeled" in outcome.output


def test_classification_data_is_unchanged(dense_zoo, image_folder):
    result = recommend(image_folder, candidates=[TINY_IMAGE], zoo=dense_zoo, budget_seconds=None)
    assert result.task == "image-classification" and result.proxy is None and result.num_classes == 3
