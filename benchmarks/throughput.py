"""Issue 3, acceptance 3: `zoo finetune` training throughput vs a plain hand-written PyTorch loop.

Same backbone (all-MiniLM-L6-v2 from the bundled package), same method (LoRA r=8 on query/value
plus a linear head, AdamW), same batch size and the same 800 yelp training sentences. Both loops
run in this process, alternating, `--repeats` times each; the median samples/s of each is
compared. Baseline: `plain_loop` below (no Accelerate, no scheduler, no clipping, no validation).

    python benchmarks/throughput.py [--repeats 3] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, dump, split_train_test, yelp


def plain_loop(folder: str, texts: list[str], labels: list[int], batch_size: int, seed: int) -> float:
    """The baseline: a textbook PyTorch + peft training epoch. Returns samples/s."""
    import torch
    from peft import LoraConfig, inject_adapter_in_model
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    for p in model.parameters():
        p.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"]), model)
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    head = torch.nn.Linear(model.config.hidden_size, 2)
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    pairs = list(zip(texts, labels))

    def collate(batch):
        enc = tokenizer([t for t, _ in batch], padding=True, truncation=True, max_length=256, return_tensors="pt")
        return enc, torch.tensor([y for _, y in batch])

    loader = torch.utils.data.DataLoader(
        pairs, batch_size=batch_size, shuffle=True, collate_fn=collate, generator=torch.Generator().manual_seed(seed)
    )
    model.train()
    head.train()
    started = time.perf_counter()
    for enc, y in loader:
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        loss = torch.nn.functional.cross_entropy(head(torch.nn.functional.dropout(pooled, 0.1)), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return len(pairs) / (time.perf_counter() - started)


def zoo_loop(splits, batch_size: int, seed: int) -> float:
    from zoo_core.engine.pipeline import finetune

    result = finetune(
        "minilm-l6",
        splits,
        method="lora",
        epochs=1,
        batch_size=batch_size,
        seed=seed,
        save=False,
        patience=None,
        method_options={"r": 8, "alpha": 16, "dropout": 0.1, "target_modules": ["query", "value"]},
    )
    return result.samples_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "throughput.json"))
    args = parser.parse_args()
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    from zoo_core.plugins import Zoo
    from zoo_core.weights import resolve_weights

    zoo = Zoo()
    folder = str(resolve_weights(zoo.catalog.get("minilm-l6"), zoo.weight_sources).path)
    from zoo_core.data import DataSplits

    full = split_train_test(yelp(), 0.2, 0)
    train = full.train.subset(range(len(full.train)))
    train.items += full.val.items  # all 800 training sentences, no validation pass
    train.labels += full.val.labels
    splits = DataSplits(train=train, val=None, test=full.test, label_names=full.label_names, notes=[])
    index = {label: i for i, label in enumerate(splits.label_names)}
    texts, labels = list(train.items), [index[label] for label in train.labels]
    zoo_rates, plain_rates = [], []
    for repeat in range(args.repeats):
        plain_rates.append(plain_loop(folder, texts, labels, args.batch_size, seed=repeat))
        zoo_rates.append(zoo_loop(splits, args.batch_size, seed=repeat))
        print(
            f"repeat {repeat + 1}: plain {plain_rates[-1]:.1f} samples/s, zoo {zoo_rates[-1]:.1f} samples/s", flush=True
        )
    zoo_median, plain_median = statistics.median(zoo_rates), statistics.median(plain_rates)
    ratio = zoo_median / plain_median
    dump(
        Path(args.out),
        {
            "zoo_samples_per_second": zoo_rates,
            "plain_samples_per_second": plain_rates,
            "ratio": ratio,
            "train_size": len(texts),
            "batch_size": args.batch_size,
        },
    )
    print(
        f"zoo finetune {zoo_median:.1f} samples/s vs plain PyTorch loop {plain_median:.1f} samples/s: "
        f"ratio {ratio:.3f} (target >= 0.9)"
    )


if __name__ == "__main__":
    main()
