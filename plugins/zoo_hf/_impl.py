"""Hugging Face transformers text backbones (heavy: imports torch and transformers)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_core.engine.backbone import Backbone, Preprocessor
from zoo_core.errors import WeightsError


class TextPreprocessor(Preprocessor):
    """Tokenises a batch of texts with padding and truncation to the model's max length."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = int(max_length)

    def load(self, item: Any) -> str:
        return str(item)

    def collate(self, samples):
        return dict(
            self.tokenizer(
                list(samples), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
        )

    def config(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "max_length": self.max_length,
            "tokenizer": type(self.tokenizer).__name__,
            "vocab_size": getattr(self.tokenizer, "vocab_size", None),
        }


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """CLS (first token), mean over real tokens, or the last real token (left or right padding)."""
    if how == "cls":
        return hidden[:, 0]
    mask = mask.to(hidden.dtype)
    if how == "mean":
        return (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
    if how == "last":
        last = mask.shape[1] - 1 - mask.flip(1).argmax(1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"unknown pooling '{how}' (cls, mean or last)")


class HFTextBackbone(Backbone):
    modality = "text"
    FEATURE_KINDS = ("last", "multilevel")

    def __init__(self, model: nn.Module, tokenizer, entry: Any, pooling: str, max_length: int):
        super().__init__(
            model, model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.d_model, entry
        )
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = batch["attention_mask"]
        if self.features == "multilevel":
            # Every layer's output pooled the same way (the embeddings left out), the last one last.
            hidden = self.model(**batch, output_hidden_states=True).hidden_states[1:]
            return torch.cat([pool(h, mask, self.pooling) for h in hidden], dim=1)
        output = self.model(**batch)
        return pool(output.last_hidden_state, mask, self.pooling)

    def level_widths(self) -> list[int]:
        layers = getattr(self.model.config, "num_hidden_layers", None) or self.model.config.num_layers
        return [self._last_width] * int(layers)

    def preprocessor(self, train: bool = False) -> Preprocessor:
        return TextPreprocessor(self.tokenizer, self.max_length)

    def default_lora_targets(self) -> list[str]:
        try:
            from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping
        except ImportError:  # pragma: no cover - peft missing
            mapping = {}
        targets = mapping.get(self.model.config.model_type)
        if targets:
            return list(targets)
        # Unknown architecture: every linear layer inside the encoder blocks.
        return [
            name
            for name, module in self.model.named_modules()
            if isinstance(module, nn.Linear) and any(p in name for p in ("layer.", "layers.", "block."))
        ]


def create_backbone(
    entry, weights, *, pretrained: bool = True, max_length: int | None = None, **options: Any
) -> HFTextBackbone:
    """Load an AutoModel and its tokenizer from the verified local folder (random init keeps the config)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if weights is None:
        raise WeightsError(
            f"'{entry.id}' needs its config and tokenizer files even for random weights, and none were found"
        )
    folder = str(weights.path)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if pretrained:
        model = AutoModel.from_pretrained(folder)
    else:
        model = AutoModel.from_config(AutoConfig.from_pretrained(folder))
    text_cfg = entry.text or {}
    limit = max_length or text_cfg.get("max_seq_len") or getattr(tokenizer, "model_max_length", 512)
    limit = min(int(limit), 4096)
    model.eval()
    return HFTextBackbone(model, tokenizer, entry, text_cfg.get("pooling") or "cls", limit)
