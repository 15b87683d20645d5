"""Issue 4, acceptance 4 and 5: adapter sizes vs the base model, and the PEFT export of a MiniLM
LoRA adapter loaded with plain peft against `zoo predict` (max |logit difference|).

all-MiniLM-L6-v2 on yelp_labelled.tsv (seeded 80/20 split); linear_probe, lora (2 epochs), full
(2 epochs). Baseline for sizes: the base model's model.safetensors.

    python benchmarks/adapters_minilm.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import split_train_test, yelp


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from zoo_core.engine.adapters import load_trained_model
    from zoo_core.engine.export import export_peft
    from zoo_core.engine.inference import predict_items
    from zoo_core.engine.pipeline import finetune
    from zoo_core.plugins import Zoo
    from zoo_core.store import AdapterStore
    from zoo_core.weights import resolve_weights

    zoo = Zoo()
    base_folder = resolve_weights(zoo.catalog.get("minilm-l6"), zoo.weight_sources).path
    base_size = (base_folder / "model.safetensors").stat().st_size
    splits = split_train_test(yelp(), 0.2, 0)
    rows = []
    for method, options in (("linear_probe", {}), ("lora", {"epochs": 2}), ("full", {"epochs": 2})):
        result = finetune("minilm-l6", splits, method=method, zoo=zoo, name=f"yelp-{method}", **options)
        path = AdapterStore().resolve(result.adapter).path
        weights = (path / "adapter.safetensors").stat().st_size
        rows.append((method, weights, folder_size(path), result.metrics["accuracy"]))
    print(f"base model.safetensors: {base_size / 1e6:.2f} MB")
    print("| method | adapter weights | adapter folder | weights / base | test accuracy |")
    print("|---|---|---|---|---|")
    for method, weights, folder, accuracy in rows:
        print(
            f"| {method} | {weights / 1e6:.3f} MB | {folder / 1e6:.3f} MB | {weights / base_size:.4f} | "
            f"{accuracy:.4f} |"
        )

    out = export_peft("yelp-lora", Path(os.environ["ZOO_HOME"]) / "peft-export")
    texts = list(splits.test.items[:64])
    tokenizer = AutoTokenizer.from_pretrained(str(base_folder))
    model = PeftModel.from_pretrained(AutoModel.from_pretrained(str(base_folder)), str(out)).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    head = load_file(str(out / "zoo_head.safetensors"))
    peft_logits = ((hidden * mask).sum(1) / mask.sum(1)) @ head["fc.weight"].T + head["fc.bias"]
    net, method, _ = load_trained_model(zoo, "yelp-lora")
    zoo_logits = predict_items(net, method, texts)
    agree = (peft_logits.argmax(-1) == zoo_logits.argmax(-1)).float().mean()
    print(
        f"PEFT export vs zoo predict on {len(texts)} test sentences: max |logit difference| "
        f"{float((peft_logits - zoo_logits).abs().max()):.2e}, label agreement {float(agree):.3f}"
    )


if __name__ == "__main__":
    main()
