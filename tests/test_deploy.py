"""Deployment exports (zoo adapters export --format onnx|transformers|timm): each export, loaded the
way its users load it (ONNX Runtime with preprocessing.json replayed by hand, a plain transformers
pipeline in a fresh process, plain timm), gives zoo's logits and labels on the adapter's stored
samples; what a format cannot hold is refused in one line and nothing is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo_core.engine.adapters import load_trained_model
from zoo_core.engine.deploy import RECORD_FILE, export_deployment
from zoo_core.engine.inference import predict_items
from zoo_core.engine.pipeline import finetune
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterStore
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT


def _zoo(zoo, name: str) -> tuple[list, torch.Tensor]:
    """The adapter's stored samples (image paths made absolute) and zoo's own logits on them."""
    adapter = AdapterStore().resolve(name)
    samples = json.loads((adapter.path / "samples.json").read_text())
    items = samples["items"]
    if samples["modality"] == "image":
        items = [str(adapter.path / item) for item in items]
    net, method, _ = load_trained_model(zoo, name)
    return items, predict_items(net, method, items)


def _agrees(actual, expected: torch.Tensor) -> None:
    actual = torch.as_tensor(np.asarray(actual), dtype=torch.float32)
    assert float((actual - expected).abs().max()) < 1e-4, (actual, expected)
    assert actual.argmax(-1).tolist() == expected.argmax(-1).tolist()


def _pixels(path: str, steps: list[dict]) -> np.ndarray:
    """preprocessing.json's steps with PIL and NumPy alone: what a user without zoo writes."""
    from PIL import Image

    modes = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}
    image, array = None, None
    for step in steps:
        if step["op"] == "open":
            image = Image.open(path).convert(step["mode"])
        elif step["op"] == "resize_shorter_side":
            width, height, size = image.width, image.height, step["size"]
            shape = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
            image = image.resize(shape, modes[step["interpolation"]])
        elif step["op"] == "center_crop":
            crop_h, crop_w = step["size"]
            top, left = int(round((image.height - crop_h) / 2)), int(round((image.width - crop_w) / 2))
            image = image.crop((left, top, left + crop_w, top + crop_h))
        elif step["op"] == "to_float":
            array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) * np.float32(step["scale"])
        elif step["op"] == "normalize":
            mean, std = (np.array(step[k], dtype=np.float32)[:, None, None] for k in ("mean", "std"))
            array = (array - mean) / std
        else:
            raise AssertionError(f"unknown step {step['op']}")
    return array


def _session(folder: Path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])


# What a transformers user runs: a fresh process without zoo, its dynamic-module cache in tmp.
PLAIN_TRANSFORMERS = """
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

folder, texts = sys.argv[1], json.loads(sys.argv[2])
try:
    AutoModelForSequenceClassification.from_pretrained(folder)
    refused = None
except ValueError as exc:
    refused = str(exc)
model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
with torch.no_grad():
    logits = model(**tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits
classify = pipeline("text-classification", model=folder, trust_remote_code=True)
print("RESULT", json.dumps({"logits": logits.tolist(), "labels": [r["label"] for r in classify(texts, truncation=True)],
                  "refused": refused, "id2label": model.config.id2label}))
"""


@pytest.mark.slow  # trains a model
def test_text_lora_adapter_exports_to_onnx_and_transformers(tiny_zoo, tiny_catalog, text_file, tmp_path):
    from click.testing import CliRunner
    from transformers import AutoTokenizer

    from zoo_core.cli import cli

    finetune(TINY_TEXT, text_file, method="lora", zoo=tiny_zoo, epochs=1, name="reviews")
    items, expected = _zoo(tiny_zoo, "reviews")

    # ONNX, through the command line: one graph, the tokenizer beside it, a dynamic batch and sequence.
    folder = tmp_path / "onnx"
    argv = ["--catalog", str(tiny_catalog), "adapters", "export", "reviews", "--format", "onnx", "--out", str(folder)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, result.output
    assert f"exported reviews@1 as onnx to {folder}" in result.output and "merged" in result.output
    preprocessing = json.loads((folder / "preprocessing.json").read_text())
    assert preprocessing["id2label"] == {"0": "neg", "1": "pos"}
    record = json.loads((folder / RECORD_FILE).read_text())
    assert record["format"] == "onnx" and record["adapter"] == "reviews@1" and record["checks"]["samples"] == 4
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    session = _session(folder)

    def onnx_logits(texts):
        batch = tokenizer(texts, padding=True, truncation=True, max_length=preprocessing["text"]["max_length"])
        return session.run(["logits"], {k: np.array(batch[k], dtype=np.int64) for k in preprocessing["inputs"]})[0]

    _agrees(onnx_logits(items), expected)
    _agrees(np.concatenate([onnx_logits([text]) for text in items]), expected)  # batch of one, other lengths
    longer = ["the food was very good and the staff was nice and the place was great " * 3]  # truncated to 32
    net, method, _ = load_trained_model(tiny_zoo, "reviews")
    _agrees(onnx_logits(longer), predict_items(net, method, longer))

    # transformers: plain AutoModelForSequenceClassification and pipeline, with the labels.
    folder = export_deployment("reviews", "transformers", tmp_path / "hf", zoo=tiny_zoo)
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"} and config["label2id"] == {"neg": 0, "pos": 1}
    assert config["zoo_pooling"] == "mean" and "modeling_zoo.py" in {p.name for p in folder.iterdir()}
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "hf-modules"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_TRANSFORMERS, str(folder), json.dumps(items)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain = json.loads(proc.stdout.rpartition("RESULT ")[2])  # after the prompt of the refused load
    _agrees(plain["logits"], expected)
    assert plain["labels"] == [["neg", "pos"][i] for i in expected.argmax(-1).tolist()]
    assert "trust_remote_code=True" in plain["refused"]  # never a stock class with random heads


@pytest.mark.slow  # trains a model
def test_image_lora_adapter_exports_to_onnx_and_timm(tiny_zoo, image_folder, tmp_path):
    import timm

    finetune(TINY_IMAGE, image_folder, method="lora", zoo=tiny_zoo, epochs=1, name="shapes")
    items, expected = _zoo(tiny_zoo, "shapes")

    folder = export_deployment("shapes", "onnx", tmp_path / "onnx", zoo=tiny_zoo)
    preprocessing = json.loads((folder / "preprocessing.json").read_text())
    assert preprocessing["inputs"] == ["pixel_values"]
    assert preprocessing["id2label"] == {"0": "class_0", "1": "class_1", "2": "class_2"}
    pixels = np.stack([_pixels(path, preprocessing["image"]["steps"]) for path in items])
    session = _session(folder)
    _agrees(session.run(["logits"], {"pixel_values": pixels})[0], expected)
    _agrees(session.run(["logits"], {"pixel_values": pixels[:1]})[0], expected[:1])

    folder = export_deployment("shapes", "timm", tmp_path / "timm", zoo=tiny_zoo)
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "test_efficientnet" and config["num_classes"] == 3
    assert config["label_names"] == ["class_0", "class_1", "class_2"]
    cfg = config["pretrained_cfg"]
    assert (cfg["input_size"], cfg["mean"], cfg["std"]) == ([3, 32, 32], [0.5] * 3, [0.5] * 3)
    assert (cfg["crop_pct"], cfg["interpolation"]) == (1.0, "bilinear")
    from_folder = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    # The overlay way needs num_classes in the overlay too: else timm drops the classifier it loads.
    overlay = {"file": str(folder / "model.safetensors"), "num_classes": 3}
    by_arch = timm.create_model("test_efficientnet", pretrained=True, num_classes=3, pretrained_cfg_overlay=overlay)
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=from_folder))
    from PIL import Image

    batch = torch.stack([transform(Image.open(path).convert("RGB")) for path in items])
    with torch.no_grad():
        _agrees(from_folder(batch), expected)
        _agrees(by_arch.eval()(batch), expected)


@pytest.mark.slow  # trains a model
def test_what_a_format_cannot_hold_is_refused_in_one_line(tiny_zoo, tiny_catalog, image_folder, tmp_path):
    from click.testing import CliRunner

    from zoo_core.cli import cli

    finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, epochs=1, name="probe")  # linear_probe: multilevel features
    with pytest.raises(AdapterError, match="multilevel features.*-o features=last, or use --format onnx"):
        export_deployment("probe", "timm", tmp_path / "timm", zoo=tiny_zoo)
    argv = ["--catalog", str(tiny_catalog), "adapters", "export", "probe", "--format", "transformers"]
    result = CliRunner().invoke(cli, [*argv, "--out", str(tmp_path / "hf")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "probe@1 is for image data" in lines[0] and "--format transformers writes text models" in lines[0]
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    with pytest.raises(AdapterError, match="not empty"):
        export_deployment("probe", "onnx", used, zoo=tiny_zoo)
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "used"]  # nothing else left behind
