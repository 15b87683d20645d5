"""PEFT export (loads with plain peft, same logits), archive round trip, push preparation."""

import json

import pytest
import torch

from zoo_core.engine.export import export_archive, export_peft, import_archive, push_to_hub
from zoo_core.engine.pipeline import finetune, predict
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterStore
from zoo_core.testing.tiny import TINY_TEXT


def _peft_logits(base_folder, export_dir, texts):
    """What a PEFT user does: plain transformers + peft, then the exported head and pooling."""
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    head_cfg = json.loads((export_dir / "zoo_head.json").read_text())
    base = AutoModel.from_pretrained(str(base_folder))
    model = PeftModel.from_pretrained(base, str(export_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(base_folder))
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert head_cfg["pooling"] == "mean"
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    head = load_file(str(export_dir / "zoo_head.safetensors"))
    return pooled @ head["fc.weight"].T + head["fc.bias"], head_cfg["labels"]


def _zoo_logits(ref, zoo, texts):
    from zoo_core.engine.adapters import load_trained_model
    from zoo_core.engine.inference import predict_items

    net, method, _ = load_trained_model(zoo, ref)
    return predict_items(net, method, texts)


@pytest.mark.slow  # trains a model
def test_peft_export_matches_zoo_predictions(tiny_zoo, text_file, tmp_path):
    result = finetune(TINY_TEXT, text_file, method="lora", zoo=tiny_zoo, epochs=3, lr=5e-3, name="reviews")
    out = export_peft("reviews", tmp_path / "peft")
    assert json.loads((out / "adapter_config.json").read_text())["peft_type"] == "LORA"
    texts = ["the food was very good", "the staff was awful and bad", "what is this"]
    base_folder = tiny_zoo.catalog.get(TINY_TEXT).weights[0]["path"]
    peft_logits, labels = _peft_logits(base_folder, out, texts)
    zoo_logits = _zoo_logits(result.adapter, tiny_zoo, texts)
    assert float((peft_logits - zoo_logits).abs().max()) < 1e-5
    assert labels == ["neg", "pos"]
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md").data
    assert card.library_name == "peft" and card.base_model == tiny_zoo.catalog.get(TINY_TEXT).id


@pytest.mark.slow  # trains a model
def test_peft_export_refuses_methods_without_a_peft_format(tiny_zoo, text_file, tmp_path):
    finetune(TINY_TEXT, text_file, zoo=tiny_zoo, epochs=2, name="probe")
    with pytest.raises(AdapterError, match="has no PEFT format"):
        export_peft("probe", tmp_path / "x")


@pytest.mark.slow  # trains a model
def test_archive_round_trip(tiny_zoo, text_file, tmp_path):
    finetune(TINY_TEXT, text_file, zoo=tiny_zoo, epochs=2, name="probe")
    archive = export_archive("probe", tmp_path)
    imported = import_archive(archive, name="copy")
    assert str(imported) == "copy@1"
    texts = ["the food was very good"]
    assert predict("copy", texts, zoo=tiny_zoo) == predict("probe", texts, zoo=tiny_zoo)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive")
    with pytest.raises(AdapterError, match="not a readable adapter archive"):
        import_archive(bad)


@pytest.mark.slow  # trains a model
def test_push_prepares_the_folder_and_calls_the_hub(tiny_zoo, text_file, monkeypatch):
    finetune(TINY_TEXT, text_file, method="lora", zoo=tiny_zoo, epochs=1, name="reviews")
    with pytest.raises(AdapterError, match="offline mode"):
        push_to_hub("reviews", "me/reviews")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private, exist_ok):
            calls["create"] = (repo_id, private, exist_ok)

        def upload_folder(self, folder_path, repo_id, commit_message):
            from pathlib import Path

            calls["files"] = sorted(p.name for p in Path(folder_path).iterdir())
            calls["repo"] = repo_id
            return type("Info", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    url = push_to_hub("reviews", "me/reviews", private=True)
    assert url.endswith("/commit/abc") and calls["create"] == ("me/reviews", True, True)
    assert {"adapter_config.json", "adapter_model.safetensors", "zoo_head.json", "README.md"} <= set(calls["files"])


@pytest.mark.slow  # trains a model
def test_lora_adapter_is_a_small_fraction_of_the_base(tiny_zoo, text_file):
    result = finetune(TINY_TEXT, text_file, method="lora", zoo=tiny_zoo, epochs=1, name="small")
    adapter = (AdapterStore().resolve("small").path / "adapter.safetensors").stat().st_size
    base = __import__("pathlib").Path(tiny_zoo.catalog.get(TINY_TEXT).weights[0]["path"]) / "model.safetensors"
    assert adapter < 0.5 * base.stat().st_size, (adapter, base.stat().st_size)
    assert result.adapter == "small@1"
