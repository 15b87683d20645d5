"""Issue 17: the detection and segmentation readers (VOC, COCO, YOLO, index masks, VOC segmentation) on tiny
synthetic datasets: boxes converted to absolute xyxy pixels, bad files skipped with the file named, layouts detected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo_core.data.dense import (
    DetectionData,
    SegmentationData,
    detect_dense_layout,
    load_detection,
    load_detection_splits,
    load_segmentation,
    load_segmentation_splits,
    read_mask,
    task_of_layout,
)
from zoo_core.errors import DataError

# ------------------------------------------------------------------------------------- builders


def image(path: Path, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, 120).save(path)
    return path


def voc_xml(filename: str, objects: list[tuple[str, list[float]]], difficult: tuple[int, ...] = ()) -> str:
    parts = [f"<annotation><filename>{filename}</filename><size><width>40</width><height>30</height></size>"]
    for index, (name, (x0, y0, x1, y1)) in enumerate(objects):
        flag = 1 if index in difficult else 0
        parts.append(
            f"<object><name>{name}</name><difficult>{flag}</difficult>"
            f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


def voc_dataset(root: Path, n: int = 3, official: bool = False) -> Path:
    images, annotations = ("JPEGImages", "Annotations") if official else ("images", "annotations")
    for i in range(n):
        image(root / images / f"img{i}.jpg")
        objects = [("cat", [2, 3, 20, 25])] + ([("dog", [5, 5, 35, 28])] if i % 2 else [])
        (root / annotations).mkdir(parents=True, exist_ok=True)
        (root / annotations / f"img{i}.xml").write_text(voc_xml(f"img{i}.jpg", objects, difficult=(1,)))
    return root


def yolo_dataset(root: Path, n: int = 3, names: str = "classes.txt") -> Path:
    for i in range(n):
        image(root / "images" / f"im{i}.png", (100, 50))
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"im{i}.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.25 0.75 0.1 0.2\n")
    if names == "classes.txt":
        (root / "classes.txt").write_text("person\ncar\n")
    elif names == "data.yaml":
        (root / "data.yaml").write_text("path: .\ntrain: images\nnames:\n  0: person\n  1: car\n")
    return root


def mask_dataset(
    root: Path, n: int = 3, palette: bool = False, image_dir="images", mask_dir="masks", void: int = 255
) -> Path:
    for i in range(n):
        image(root / image_dir / f"s{i}.jpg", (8, 6))
        values = np.zeros((6, 8), np.uint8)
        values[:3, :4] = 1
        values[5, 7] = 2
        values[0, 0] = void
        mask = Image.fromarray(values, "L")
        if palette:
            mask = mask.convert("P")
            mask.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [224, 224, 192] * 253)
        (root / mask_dir).mkdir(parents=True, exist_ok=True)
        mask.save(root / mask_dir / f"s{i}.png")
    return root


# ------------------------------------------------------------------------------------- VOC


@pytest.mark.parametrize("official", [False, True])
def test_voc_reads_boxes_as_given_with_difficult_flags(tmp_path, official):
    root = voc_dataset(tmp_path / "voc", official=official)
    assert detect_dense_layout(root) == "voc"
    data = load_detection(root)
    assert isinstance(data, DetectionData) and len(data) == 3 and data.num_boxes() == 4
    assert data.class_names == ["cat", "dog"] and data.layout == "voc"
    second = data.items[1]
    assert second.boxes == [[2.0, 3.0, 20.0, 25.0], [5.0, 5.0, 35.0, 28.0]]  # 1-based VOC values kept as written
    assert second.labels == ["cat", "dog"] and second.difficult == [False, True]
    assert (second.width, second.height) == (40, 30)
    assert data.counts() == {"cat": 3, "dog": 1}
    assert data.skipped == []


def test_voc_malformed_xml_and_degenerate_box_are_reported(tmp_path):
    root = voc_dataset(tmp_path / "voc", n=30)
    (root / "annotations" / "img0.xml").write_text("<annotation><object>")
    (root / "annotations" / "img1.xml").write_text(
        voc_xml("img1.jpg", [("cat", [2, 3, 20, 25]), ("cat", [9, 3, 9, 25])])
    )
    data = load_detection(root)
    assert len(data) == 29
    bad = [s for s in data.skipped if not s.ignored]
    assert [Path(s.location).name for s in bad] == ["img0.xml"] and "not valid XML" in bad[0].reason
    dropped = [s for s in data.skipped if s.ignored]
    assert len(dropped) == 1 and dropped[0].location.endswith("img1.xml object 2") and "no area" in dropped[0].reason
    assert data.items[0].boxes == [[2.0, 3.0, 20.0, 25.0]]  # the good box of img1 stays
    assert any("dropped" in note for note in data.notes)


def test_voc_box_outside_the_image_is_clipped(tmp_path):
    root = voc_dataset(tmp_path / "voc", n=1)
    (root / "annotations" / "img0.xml").write_text(voc_xml("img0.jpg", [("cat", [-5, 3, 60, 25])]))
    data = load_detection(root)
    assert data.items[0].boxes == [[0.0, 3.0, 40.0, 25.0]]
    assert any("clipped" in note for note in data.notes)


def test_more_than_five_percent_unreadable_is_an_error_naming_files(tmp_path):
    root = voc_dataset(tmp_path / "voc", n=10)
    (root / "annotations" / "img3.xml").write_text("not xml")
    (root / "images" / "img4.jpg").write_bytes(b"")
    with pytest.raises(DataError) as error:
        load_detection(root)
    message = str(error.value)
    assert (
        "\n" not in message and "2 of 10" in message and "img3.xml" in message and "--max-skipped-fraction" in message
    )
    assert len(load_detection(root, max_skipped_fraction=0.2)) == 8


def test_voc_imagesets_split(tmp_path):
    root = voc_dataset(tmp_path / "VOC2007", n=6, official=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("img0\nimg1\nimg2\n")
    (root / "ImageSets" / "Main" / "val.txt").write_text("img3\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("img4\nimg5\n")
    splits = load_detection_splits(root)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "val": 1, "test": 2}
    assert "ImageSets/Main" in splits["train"].notes[0]
    assert splits["test"].class_names == splits["train"].class_names


def test_raccoon_style_csv_split_and_seeded_validation(tmp_path):
    root = voc_dataset(tmp_path / "raccoon", n=10)
    header = "filename,width,height,class,xmin,ymin,xmax,ymax\n"
    (root / "train_labels.csv").write_text(header + "".join(f"img{i}.jpg,40,30,cat,2,3,20,25\n" for i in range(8)))
    (root / "test_labels.csv").write_text(header + "img8.jpg,40,30,cat,2,3,20,25\nimg9.jpg,40,30,cat,2,3,20,25\n")
    splits = load_detection_splits(root, val_fraction=0.25, seed=1)
    assert {k: len(v) for k, v in splits.items()} == {"train": 6, "val": 2, "test": 2}
    assert "train_labels.csv" in splits["val"].notes[0] and "seed 1" in splits["val"].notes[0]
    again = load_detection_splits(root, val_fraction=0.25, seed=1)
    assert [i.image for i in again["val"].items] == [i.image for i in splits["val"].items]
    whole = load_detection_splits(root, val_fraction=0)
    assert {k: len(v) for k, v in whole.items()} == {"train": 8, "test": 2}


def test_seeded_split_without_own_split(tmp_path):
    splits = load_detection_splits(voc_dataset(tmp_path / "voc", n=10))
    assert {k: len(v) for k, v in splits.items()} == {"train": 8, "val": 2}
    assert "no split in the dataset" in splits["train"].notes[0]


# ------------------------------------------------------------------------------------- COCO


def coco_dataset(root: Path) -> Path:
    image(root / "images" / "a.jpg", (50, 40))
    image(root / "images" / "b.jpg", (50, 40))
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 50, "height": 40}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 5, 20.5, 15], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0, 0, 30, 30], "iscrowd": 1},
            {"id": 3, "image_id": 2, "category_id": 7, "bbox": [1, 2, 3, 4]},
        ],
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
    }
    (root / "train.json").write_text(json.dumps(doc))
    return root


def test_coco_converts_xywh_and_leaves_out_crowds(tmp_path):
    root = coco_dataset(tmp_path / "coco")
    assert detect_dense_layout(root) == "coco" and detect_dense_layout(root / "train.json") == "coco"
    data = load_detection(root / "train.json")
    assert data.class_names == ["cat", "dog"]  # by category id
    assert data.items[0].boxes == [[10.0, 5.0, 30.5, 20.0]] and data.items[0].labels == ["cat"]
    assert data.items[1].boxes == [[1.0, 2.0, 4.0, 6.0]] and data.items[1].labels == ["dog"]
    assert any("crowd" in note for note in data.notes)
    assert load_detection(root).num_boxes() == 2


def test_coco_missing_image_skipped_and_bad_json_is_one_line(tmp_path):
    root = coco_dataset(tmp_path / "coco")
    (root / "images" / "b.jpg").unlink()
    data = load_detection(root / "train.json", max_skipped_fraction=1)
    assert len(data) == 1 and data.skipped[0].location.endswith("b.jpg")
    (root / "train.json").write_text('{"images": [')
    with pytest.raises(DataError, match=r"train\.json: not valid JSON \(line 1") as error:
        load_detection(root / "train.json", layout="coco")
    assert "\n" not in str(error.value)


def test_coco_split_files(tmp_path):
    root = coco_dataset(tmp_path / "coco")
    doc = json.loads((root / "train.json").read_text())
    (root / "val.json").write_text(json.dumps(doc))
    splits = load_detection_splits(root)
    assert set(splits) == {"train", "val"} and "COCO files named" in splits["train"].notes[0]


# ------------------------------------------------------------------------------------- YOLO


@pytest.mark.parametrize("names", ["classes.txt", "data.yaml"])
def test_yolo_boxes_in_pixels(tmp_path, names):
    root = yolo_dataset(tmp_path / "yolo", names=names)
    assert detect_dense_layout(root) == "yolo"
    data = load_detection(root)
    assert data.class_names == ["person", "car"]
    # image 100 x 50: cx .5 cy .5 w .2 h .4 -> [40, 15, 60, 35]; cx .25 cy .75 w .1 h .2 -> [20, 32.5, 30, 42.5]
    np.testing.assert_allclose(data.items[0].boxes, [[40, 15, 60, 35], [20, 32.5, 30, 42.5]])
    assert data.items[0].labels == ["person", "car"]


def test_yolo_minimal_yaml_parser(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_yaml(name, *args, **kwargs):
        if name == "yaml":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    root = yolo_dataset(tmp_path / "yolo", names="")
    (root / "data.yaml").write_text("nc: 2\nnames: ['person', \"car\"]  # the classes\n")
    monkeypatch.setattr(builtins, "__import__", no_yaml)
    assert load_detection(root).class_names == ["person", "car"]
    (root / "data.yaml").write_text("names:\n  - person\n  - car\ntrain: images\n")
    assert load_detection(root).class_names == ["person", "car"]


def test_yolo_missing_label_file_is_an_empty_image_and_bad_line_names_file_and_line(tmp_path):
    root = yolo_dataset(tmp_path / "yolo", n=25)
    (root / "labels" / "im1.txt").unlink()
    (root / "labels" / "im2.txt").write_text("0 0.5 0.5 0.2 0.4\n0 0.5 zero 0.2 0.4\n")
    data = load_detection(root)
    assert len(data) == 24
    empty = next(item for item in data.items if item.image.endswith("im1.png"))
    assert empty.boxes == [] and any("no label file" in note for note in data.notes)
    assert [s.location for s in data.skipped] == [f"{root / 'labels' / 'im2.txt'}:2"]


def test_yolo_pixel_values_and_unknown_class_are_skipped(tmp_path):
    root = yolo_dataset(tmp_path / "yolo", n=40)
    (root / "labels" / "im0.txt").write_text("0 50 25 20 20\n")
    (root / "labels" / "im1.txt").write_text("5 0.5 0.5 0.2 0.2\n")
    data = load_detection(root)
    reasons = {Path(s.location.rsplit(":", 1)[0]).name: s.reason for s in data.skipped}
    assert "fractions" in reasons["im0.txt"] and "only 2 class names" in reasons["im1.txt"]


def test_yolo_without_class_names(tmp_path):
    data = load_detection(yolo_dataset(tmp_path / "yolo", names=""))
    assert data.class_names == ["class_0", "class_1"] and any("classes.txt" in n for n in data.notes)


def test_yolo_split_subfolders(tmp_path):
    root = tmp_path / "yolo"
    for split in ("train", "val"):
        image(root / "images" / split / f"{split}.png", (100, 50))
        (root / "labels" / split).mkdir(parents=True)
        (root / "labels" / split / f"{split}.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    (root / "classes.txt").write_text("person\n")
    assert detect_dense_layout(root) == "yolo"
    splits = load_detection_splits(root)
    assert {k: len(v) for k, v in splits.items()} == {"train": 1, "val": 1}


def test_split_folders_each_holding_a_layout(tmp_path):
    for split, n in (("train", 4), ("valid", 2)):
        voc_dataset(tmp_path / "d" / split, n=n)
    assert detect_dense_layout(tmp_path / "d") == "voc"
    splits = load_detection_splits(tmp_path / "d")
    assert {k: len(v) for k, v in splits.items()} == {"train": 4, "val": 2}
    with pytest.raises(DataError, match="load it as splits"):
        load_detection(tmp_path / "d")


def test_detection_fingerprint_and_subset(tmp_path):
    data = load_detection(voc_dataset(tmp_path / "a", n=4))
    import shutil

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert load_detection(tmp_path / "b").fingerprint() == data.fingerprint()  # paths do not count
    part = data.subset([2, 0])
    assert [Path(i.image).name for i in part.items] == ["img2.jpg", "img0.jpg"]
    assert part.fingerprint() != data.fingerprint() and part.class_names == data.class_names
    data.items[0].boxes[0][0] += 1
    assert load_detection(tmp_path / "b").fingerprint() != data.fingerprint()  # boxes count


# ------------------------------------------------------------------------------------- masks


@pytest.mark.parametrize("palette", [False, True])
def test_index_and_palette_masks(tmp_path, palette):
    root = mask_dataset(tmp_path / "seg", palette=palette)
    (root / "classes.txt").write_text("background\nroad\ncar\n")
    assert detect_dense_layout(root) == "masks"
    data = load_segmentation(root)
    assert isinstance(data, SegmentationData) and len(data) == 3
    assert data.class_names == ["background", "road", "car"] and data.ignore_index == 255
    values = read_mask(data.items[0].mask)
    assert values.shape == (6, 8) and values[0, 0] == 255 and values[1, 1] == 1 and values[5, 7] == 2


def test_masks_without_class_names_and_void_class(tmp_path):
    root = mask_dataset(tmp_path / "seg")
    data = load_segmentation(root)
    assert data.class_names == ["class_0", "class_1", "class_2"] and any("class_0" in n for n in data.notes)
    (root / "labels.txt").write_text("background\nroad\ncar\nvoid\n")
    # "void" is the last class: it becomes the ignore index, and 255 is then no class at all.
    with pytest.raises(DataError, match=r"s0\.png: mask values 255 are not classes \(0-2 and the ignore index 3\)"):
        load_segmentation(root)
    assert load_segmentation(root, ignore_index=255).ignore_index == 255
    data = load_segmentation(mask_dataset(root, void=3))
    assert data.ignore_index == 3 and data.class_names == ["background", "road", "car"] and not data.skipped
    assert any("void" in note for note in data.notes)


def test_mask_size_mismatch_and_missing_mask_are_skipped(tmp_path):
    root = mask_dataset(tmp_path / "seg", n=30)
    Image.new("L", (9, 6)).save(root / "masks" / "s0.png")
    (root / "masks" / "s1.png").unlink()
    data = load_segmentation(root, max_skipped_fraction=0.1)
    reasons = {Path(s.location).name: s.reason for s in data.skipped}
    assert reasons["s0.png"] == "mask is 9x6 but its image s0.jpg is 8x6"
    assert "no mask" in reasons["s1.jpg"] and len(data) == 28
    with pytest.raises(DataError, match="2 of 30"):
        load_segmentation(root, max_skipped_fraction=0.05)


def test_colour_masks_are_refused_with_the_file_named(tmp_path):
    root = mask_dataset(tmp_path / "seg", n=2)
    Image.new("RGB", (8, 6), (10, 200, 30)).save(root / "masks" / "s0.png")
    with pytest.raises(DataError, match=r"s0\.png: .*colour \(RGB\) mask"):
        load_segmentation(root)
    Image.new("RGB", (8, 6), (1, 1, 1)).save(root / "masks" / "s0.png")  # gray saved as RGB: fine
    assert len(load_segmentation(root)) == 2


def test_binary_masks_saved_as_255_are_explained(tmp_path):
    root = tmp_path / "seg"
    image(root / "images" / "a.png", (4, 4))
    (root / "masks").mkdir()
    Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8).repeat(2, 0).repeat(2, 1)).save(root / "masks" / "a.png")
    with pytest.raises(DataError, match="only 0 and 255"):
        load_segmentation(root)


def test_camvid_style_split_pairs(tmp_path):
    root = tmp_path / "camvid"
    for split, n in (("train", 3), ("val", 2), ("test", 2)):
        mask_dataset(root, n=n, image_dir=split, mask_dir=split + "annot", void=3)
    (root / "classes.txt").write_text("Sky\nRoad\nCar\nUnlabelled\n")
    assert detect_dense_layout(root) == "masks"
    assert task_of_layout("masks") == "semantic-segmentation"
    with pytest.raises(DataError, match="load_segmentation_splits"):
        load_segmentation(root)
    splits = load_segmentation_splits(root)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "val": 2, "test": 2}
    assert "own split folders" in splits["test"].notes[0]
    assert splits["train"].ignore_index == 3 and splits["train"].class_names == ["Sky", "Road", "Car"]


def test_segmentation_split_folders_share_derived_classes_and_fingerprint_by_content(tmp_path):
    root = tmp_path / "seg"
    mask_dataset(root / "train", n=3)
    mask_dataset(root / "val", n=2)
    Image.new("L", (8, 6), 0).save(root / "val" / "masks" / "s1.png")  # val: no class 2 seen
    splits = load_segmentation_splits(root)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "val": 2}
    assert splits["train"].class_names == splits["val"].class_names == ["class_0", "class_1", "class_2"]
    first_two = splits["train"].subset([0, 1])
    assert first_two.fingerprint() != splits["val"].fingerprint()  # one mask differs
    Image.open(root / "train" / "masks" / "s1.png").save(root / "val" / "masks" / "s1.png")
    assert first_two.fingerprint() == load_segmentation(root / "val").fingerprint()  # same bytes, other paths


def test_voc_segmentation_layout(tmp_path):
    root = tmp_path / "VOC2012"
    mask_dataset(root, n=4, palette=True, image_dir="JPEGImages", mask_dir="SegmentationClass")
    image(root / "JPEGImages" / "detection_only.jpg", (8, 6))
    assert detect_dense_layout(root) == "voc-segmentation"
    assert task_of_layout("voc-segmentation") == "semantic-segmentation"
    data = load_segmentation(root)
    assert len(data) == 4 and data.class_names[:2] == ["background", "aeroplane"] and data.ignore_index == 255
    assert not [s for s in data.skipped if not s.ignored]  # images without masks are normal in VOC
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("s0\ns1\ns2\n")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("s3\n")
    splits = load_segmentation_splits(root)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "val": 1}


# ------------------------------------------------------------------------------------- layouts


def test_layout_detection_none_for_classification_data(tmp_path):
    image(tmp_path / "cls" / "cat" / "a.jpg")
    image(tmp_path / "cls" / "dog" / "b.jpg")
    assert detect_dense_layout(tmp_path / "cls") is None
    assert detect_dense_layout(tmp_path / "missing") is None
    (tmp_path / "x.json").write_text('{"text": "hi", "label": "a"}')
    assert detect_dense_layout(tmp_path / "x.json") is None
    assert task_of_layout("voc") == task_of_layout("coco") == task_of_layout("yolo") == "object-detection"
    with pytest.raises(DataError, match="not an object detection dataset"):
        load_detection(tmp_path / "cls")
    with pytest.raises(DataError, match="not a segmentation dataset"):
        load_segmentation(tmp_path / "cls")
