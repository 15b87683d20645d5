"""Hugging Face transformers text backbones (heavy: imports torch and transformers)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo_core.engine.backbone import Backbone, Preprocessor
from zoo_core.errors import WeightsError
from zoo_core.weights import refused_file_error, weights_error


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
    """Load an AutoModel and its tokenizer from the verified local folder (random init keeps the config).

    The weights come from exactly ``weights.file``, the file zoo sha256-checked: transformers sees
    a folder holding that one file, so an unverified ``model.safetensors`` beside a verified
    ``pytorch_model.bin`` (or a config's ``transformers_weights``) is never read. A refused file,
    or one that leaves the model's tensors random, is one WeightsError line.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if weights is None:
        raise WeightsError(
            f"'{entry.id}' needs its config and tokenizer files even for random weights, and none were found"
        )
    folder = str(weights.path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        config = AutoConfig.from_pretrained(folder)
    except Exception as exc:  # a missing or malformed config or tokenizer file
        raise weights_error(
            folder,
            entry,
            f"its config or tokenizer files cannot be read ({_one_line(exc)}); get the folder again",
            what="model folder",
        ) from exc
    if pretrained:
        model = _load_verified(AutoModel, config, weights, entry)
    else:
        model = AutoModel.from_config(config)
    text_cfg = entry.text or {}
    limit = max_length or text_cfg.get("max_seq_len") or getattr(tokenizer, "model_max_length", 512)
    limit = min(int(limit), 4096)
    model.eval()
    backbone = HFTextBackbone(model, tokenizer, entry, text_cfg.get("pooling") or "cls", limit)
    # Continued pre-training (zoo_hf._tapt) reads the checkpoint's masked-LM head, where it has one.
    backbone.weights_file = str(weights.file) if pretrained else None
    return backbone


# Checkpoints of encoders pre-trained without a next-sentence task often lack the pooler, which
# zoo never uses (it pools hidden states itself): the only tensors allowed to stay random.
_MAY_BE_MISSING = ("pooler.",)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _is_safetensors(file: Path) -> bool:
    if file.name.endswith(".safetensors"):
        return True
    with open(file, "rb") as handle:  # an 8-byte header length, then the JSON header
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _load_verified(auto_class, config, weights, entry) -> nn.Module:
    """``auto_class.from_pretrained`` on a folder that holds the verified file alone."""
    import tempfile

    from transformers.utils import logging as hf_logging

    file = Path(weights.file)
    safetensors = _is_safetensors(file)
    if hasattr(config, "transformers_weights"):
        del config.transformers_weights  # the config does not get to pick another file
    verbosity = hf_logging.get_verbosity()
    with tempfile.TemporaryDirectory(prefix="zoo-weights-") as only:
        target = Path(only) / ("model.safetensors" if safetensors else "pytorch_model.bin")
        try:
            os.symlink(os.path.realpath(file), target)
        except OSError:  # no symlinks on this file system
            shutil.copyfile(file, target)
        # transformers' loading report (missing / mismatched tensors) is replaced by the error below.
        hf_logging.set_verbosity_error()
        try:
            model, info = auto_class.from_pretrained(
                only, config=config, use_safetensors=safetensors, output_loading_info=True
            )
        except Exception as exc:  # SafetensorError, UnpicklingError, size mismatches, OSError...
            if "mismatched_sizes" in str(exc) or "size mismatch" in str(exc):
                raise weights_error(
                    file, entry, f"its tensor shapes do not fit the {config.model_type} config beside it"
                ) from exc
            raise refused_file_error(file, entry, exc) from exc
        finally:
            hf_logging.set_verbosity(verbosity)
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(_MAY_BE_MISSING))
    if missing:
        raise weights_error(
            file,
            entry,
            f"it does not fit the {config.model_type} config beside it: {len(missing)} of the model's tensors are "
            f"not in it (e.g. {', '.join(missing[:3])}) and would stay random; correct the entry's weights",
        )
    return model
