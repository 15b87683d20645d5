"""Tiny, real models on local disk plus a catalog that names them, for fast offline tests."""

from __future__ import annotations

import json
from pathlib import Path

from zoo_core.weights import sha256_file

TINY_IMAGE = "tiny/test-efficientnet"
TINY_TEXT = "tiny/bert-2l"
TINY_WORDS = (
    "good great fine nice love happy bad awful poor hate sad terrible food service place staff "
    "the a is was and not very it this what who where when how why many much name city"
).split()


def _tiny_timm(folder: Path) -> Path:
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=10)
    path = folder / "tiny_timm.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def _tiny_bert(folder: Path) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]  # lazy export

    torch.manual_seed(0)
    out = folder / "tiny_bert"
    out.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS]
    # transformers 5 ignores vocab_file= here (every word became [UNK]): pass the vocabulary itself;
    # save_pretrained stores it in tokenizer.json.
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(words)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(TINY_WORDS) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_catalog(folder: str | Path) -> Path:
    """Write tiny image and text models and ``catalog.json`` naming them into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    catalog = folder / "catalog.json"
    if catalog.exists():
        return catalog
    timm_file = _tiny_timm(folder)
    bert_dir = _tiny_bert(folder)
    common = {
        "pretraining": None,
        "license": None,
        "paper": None,
        "metric": None,
        "status": "experimental",
        "source": "built by zoo_core.testing.tiny for tests",
        "params_m": None,
        "num_features": None,
    }
    models = [
        {
            **common,
            "id": TINY_IMAGE,
            "aliases": ["tiny-image"],
            "family": "timm",
            "arch": "test_efficientnet",
            "modality": "image",
            "tasks": ["image-classification"],
            "input": {
                "size": [3, 32, 32],
                "mean": [0.5, 0.5, 0.5],
                "std": [0.5, 0.5, 0.5],
                "interpolation": "bilinear",
                "crop_pct": 1.0,
            },
            "source_head": {"num_classes": 10, "label_set": "tiny-random"},
            "weights": [
                {"source": "path", "path": str(timm_file), "format": "safetensors", "sha256": sha256_file(timm_file)}
            ],
        },
        {
            **common,
            "id": TINY_TEXT,
            "aliases": ["tiny-text"],
            "family": "hf",
            "arch": "bert",
            "modality": "text",
            "tasks": ["text-classification"],
            "text": {"max_seq_len": 32, "pooling": "mean"},
            "weights": [
                {
                    "source": "path",
                    "path": str(bert_dir),
                    "filename": "model.safetensors",
                    "format": "hf-dir",
                    "sha256": sha256_file(bert_dir / "model.safetensors"),
                }
            ],
        },
    ]
    catalog.write_text(json.dumps({"schema_version": 1, "models": models}, indent=2))
    return catalog


def write_image_folder(
    folder: str | Path, *, classes: int = 3, per_class: int = 12, size: int = 24, seed: int = 0
) -> Path:
    """Class folders of small PNGs whose colour depends on the class (learnable, not trivial)."""
    import numpy as np
    from PIL import Image

    rng = np.random.RandomState(seed)
    folder = Path(folder)
    palette = [(220, 40, 40), (40, 200, 60), (50, 60, 220), (200, 200, 40), (180, 60, 200)]
    for c in range(classes):
        target = folder / f"class_{c}"
        target.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.randint(-60, 60, size=(size, size, 3))
            pixels = np.clip(np.array(palette[c % len(palette)])[None, None, :] + noise, 0, 255).astype("uint8")
            Image.fromarray(pixels).save(target / f"{i}.png")
    return folder


def write_text_file(path: str | Path, *, per_class: int = 16, seed: int = 0) -> Path:
    """A CSV of positive/negative mini-reviews built from the tiny vocabulary."""
    import csv
    import random

    rng = random.Random(seed)
    positive, negative = TINY_WORDS[:6], TINY_WORDS[6:12]
    nouns = ["food", "service", "place", "staff"]
    path = Path(path)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _i in range(per_class):
            for label, words in (("pos", positive), ("neg", negative)):
                writer.writerow(
                    [f"the {rng.choice(nouns)} was very {rng.choice(words)} and {rng.choice(words)}", label]
                )
    return path
