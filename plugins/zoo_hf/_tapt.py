"""Task-adaptive pre-training (TAPT) for the ``hf`` family: continued masked-language-model
training of the encoder on unlabelled texts of the target task or domain (Gururangan et al. 2020,
"Don't Stop Pretraining"), before the chosen method trains on the labels.

Heavy module (torch, transformers); reached through ``BackboneSpec.continued_pretraining``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from zoo_core.errors import ZooError

# Gururangan et al. train TAPT with lr 1e-4, 6 % warm-up, linear decay, weight decay 0.01 and 15 %
# masking (RoBERTa's recipe); their batch (256) is out of reach on a CPU, so steps are what the
# caller budgets and the batch is small.
TAPT_LR = 1e-4
TAPT_BATCH = 16
TAPT_WARMUP = 0.06
TAPT_WEIGHT_DECAY = 0.01
MLM_PROBABILITY = 0.15


def continue_pretraining(
    backbone: Any,
    texts: Sequence[str],
    *,
    steps: int,
    seed: int = 0,
    lr: float = TAPT_LR,
    device: Any = None,
    log: Callable[[str], None] = lambda message: None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``backbone.model`` (a transformers encoder) for ``steps`` masked-LM steps on ``texts``,
    in place, and return what a run records: steps, texts, the masked-LM loss at the start and the
    end, and where the MLM head came from (the checkpoint when it has one, else freshly initialised:
    sentence-transformers checkpoints such as all-MiniLM-L6-v2 ship the encoder alone)."""
    from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling
    from transformers.optimization import get_linear_schedule_with_warmup

    texts = [str(text) for text in texts if str(text).strip()]
    if not texts:
        raise ZooError("--tapt-steps: the unlabelled data holds no non-empty text to continue pre-training on")
    encoder = backbone.model
    tokenizer = backbone.tokenizer
    if tokenizer.mask_token is None:
        raise ZooError(
            f"--tapt-steps: the tokenizer of '{backbone.entry.id}' has no mask token, so it cannot be trained with "
            "masked-language modelling; leave --tapt-steps out"
        )
    try:
        mlm = AutoModelForMaskedLM.from_config(encoder.config)
    except ValueError:  # transformers has no masked-LM class for this architecture (GPT-2, XLNet...)
        raise ZooError(
            f"--tapt-steps: transformers has no masked-language-model form of '{encoder.config.model_type}' models "
            f"('{backbone.entry.id}'); continued pre-training supports encoders such as BERT, RoBERTa, MiniLM"
        ) from None
    torch.manual_seed(seed)
    loaded = mlm.base_model.load_state_dict(encoder.state_dict(), strict=False)
    if loaded.missing_keys:  # the encoder's own tensors must all carry over; a pooler may be extra
        raise ZooError(
            f"--tapt-steps: the masked-LM form of '{backbone.entry.id}' does not take its encoder's tensors "
            f"(e.g. {', '.join(loaded.missing_keys[:3])})"
        )
    head_source = _load_checkpoint_head(mlm, getattr(backbone, "weights_file", None))
    mlm.tie_weights()  # the output embedding is the (pre-trained) input embedding
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    mlm.to(device).train()

    collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=MLM_PROBABILITY)
    head = _single_head(mlm)
    decay, no_decay = [], []
    for name, param in mlm.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": TAPT_WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(TAPT_WARMUP * steps), steps)
    order = torch.Generator().manual_seed(seed)
    batch_size = min(TAPT_BATCH, len(texts))
    losses: list[float] = []
    bar = _progress(steps, progress)
    position, permutation = 0, torch.randperm(len(texts), generator=order).tolist()
    for _ in range(steps):
        if position + batch_size > len(permutation):  # a new pass over the texts, reshuffled
            position, permutation = 0, torch.randperm(len(texts), generator=order).tolist()
        batch_texts = [texts[i] for i in permutation[position : position + batch_size]]
        position += batch_size
        encoded = tokenizer(batch_texts, truncation=True, max_length=backbone.max_length)
        batch = collator([{"input_ids": ids} for ids in encoded["input_ids"]])
        batch = {key: value.to(device) for key, value in batch.items()}
        loss = _masked_lm_loss(mlm, head, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(mlm.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if bar is not None:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    mlm.eval()
    result = encoder.load_state_dict(mlm.base_model.state_dict(), strict=False)
    assert not result.missing_keys or all(key.startswith("pooler.") for key in result.missing_keys)
    window = max(1, steps // 10)
    summary = {
        "objective": "masked-lm",
        "steps": steps,
        "texts": len(texts),
        "batch_size": batch_size,
        "lr": lr,
        "mlm_probability": MLM_PROBABILITY,
        "mlm_head": head_source,
        "loss_start": round(sum(losses[:window]) / window, 4),
        "loss_end": round(sum(losses[-window:]) / window, 4),
    }
    log(
        f"tapt: {steps} masked-LM steps on {len(texts)} unlabelled texts, loss {summary['loss_start']} -> "
        f"{summary['loss_end']} (MLM head {head_source})"
    )
    return summary


def _single_head(mlm: Any) -> torch.nn.Module | None:
    """The MLM head when it is one module beside the encoder (BERT's ``cls``, RoBERTa's ``lm_head``)."""
    others = [module for name, module in mlm.named_children() if name != mlm.base_model_prefix]
    return others[0] if len(others) == 1 else None


def _masked_lm_loss(mlm: Any, head: torch.nn.Module | None, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy on the masked tokens. With a single head module, vocabulary logits are computed
    for the masked positions only (15 % of them): the same loss as ``mlm(**batch).loss`` without the
    [tokens x vocabulary] matrix of every position, which costs as much as a quarter of a MiniLM step."""
    labels = batch.pop("labels")
    if head is None:
        return mlm(**batch, labels=labels).loss
    hidden = mlm.base_model(**batch).last_hidden_state
    chosen = labels != -100
    if not chosen.any():  # a short batch where no token was masked: nothing to learn, no NaN
        return hidden.sum() * 0.0
    logits = head(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits.float(), labels[chosen])


def _load_checkpoint_head(mlm: torch.nn.Module, weights_file: str | Path | None) -> str:
    """Load the MLM head from the verified checkpoint when it holds one; say where it came from."""
    if weights_file is None:
        return "fresh"
    file = Path(weights_file)
    try:
        if file.name.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(str(file))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception:  # the backbone loaded from this file already; an odd format only costs the head
        return "fresh"
    prefix = mlm.base_model_prefix + "."
    own = mlm.state_dict()
    head = {
        key: value
        for key, value in state.items()
        if not key.startswith(prefix) and key in own and own[key].shape == value.shape
    }
    if not head:
        return "fresh"
    mlm.load_state_dict(head, strict=False)
    return "checkpoint"


def _progress(steps: int, wanted: bool) -> Any:
    if not (wanted and sys.stderr.isatty()):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc="tapt (masked LM)", unit="step", leave=False)
