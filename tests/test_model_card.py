"""The adapter's README.md follows the Hub's model-card layout: huggingface_hub reads its metadata back."""

import json

import pytest
from huggingface_hub import ModelCard

from zoo_core.engine.adapters import model_card


def _metadata(**change):
    meta = {
        "name": "reviews",
        "task": "text-classification",
        "base_model": {"id": "sentence-transformers/all-MiniLM-L6-v2"},
        "method": {"name": "lora", "config": {"r": 8}},
        "labels": ["neg", "pos"],
        "metrics": {"accuracy": 0.875, "macro_f1": 0.8571, "num_samples": 40},
        "eval_split": "test",
        "data": {"num_train": 120, "source": "/home/me/data/reviews.csv"},
    }
    return {**meta, **change}


def test_card_metadata_reads_back_with_huggingface_hub():
    card = ModelCard(model_card(_metadata()))
    data = card.data
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert data.library_name == "transfer-zoo"
    assert data.pipeline_tag == "text-classification"
    assert {"transfer-zoo", "lora", "text-classification"} <= set(data.tags)
    assert data.datasets == ["reviews"]
    assert data.metrics == ["accuracy", "f1"]
    results = {r.metric_type: r for r in data.eval_results}
    assert results["accuracy"].metric_value == 0.875 and results["f1"].metric_value == 0.8571
    assert {r.dataset_split for r in data.eval_results} == {"test"}
    assert {r.task_type for r in data.eval_results} == {"text-classification"}
    assert "neg, pos" in card.text and "zoo predict reviews" in card.text


def test_card_names_the_split_it_was_evaluated_on_and_copes_without_metrics():
    card = ModelCard(model_card(_metadata(eval_split="validation", metrics={})))
    assert card.data.eval_results is None and card.data.metrics is None
    card = ModelCard(model_card(_metadata(eval_split="validation")))
    assert {r.dataset_split for r in card.data.eval_results} == {"validation"}
    assert "validation split" in card.text


def test_image_card_uses_the_image_pipeline_tag():
    card = ModelCard(model_card(_metadata(task="image-classification", base_model={"id": "timm/resnet50.a1_in1k"})))
    assert card.data.pipeline_tag == "image-classification"
    assert card.data.base_model == "timm/resnet50.a1_in1k"


@pytest.mark.slow  # trains a model
def test_saved_adapter_card_matches_its_metadata(tiny_zoo, text_file):
    from zoo_core.engine.pipeline import finetune
    from zoo_core.store import AdapterStore
    from zoo_core.testing.tiny import TINY_TEXT

    finetune(TINY_TEXT, text_file, zoo=tiny_zoo, epochs=1, name="cardy")
    folder = AdapterStore().resolve("cardy").path
    meta = json.loads((folder / "adapter.json").read_text())
    card = ModelCard.load(folder / "README.md")
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values == {"accuracy": round(meta["metrics"]["accuracy"], 4), "f1": round(meta["metrics"]["macro_f1"], 4)}
    assert card.data.base_model == meta["base_model"]["id"] and card.data.datasets == ["reviews"]
