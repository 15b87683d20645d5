"""LoRA through peft (heavy: imports torch and peft)."""

from __future__ import annotations

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel


class LoRA(AdaptationMethod):
    """Low-rank adapters injected into the backbone's own modules, plus a trained head.

    Options: ``r`` (rank, 8), ``alpha`` (16), ``dropout`` (0.1), ``target_modules`` (default: the
    family's choice, ``Backbone.default_lora_targets``).
    """

    name = "lora"
    trains = "adapter"

    def peft_config(self, model: TransferModel):
        from peft import LoraConfig

        targets = self.config.get("target_modules") or model.backbone.default_lora_targets()
        if isinstance(targets, str):
            targets = [t.strip() for t in targets.split(",") if t.strip()]
        return LoraConfig(r=int(self.config.get("r", 8)), lora_alpha=int(self.config.get("alpha", 16)),
                          lora_dropout=float(self.config.get("dropout", 0.1)), target_modules=list(targets),
                          bias="none")

    def prepare(self, model: TransferModel) -> None:
        from peft import inject_adapter_in_model

        freeze(model.backbone)
        config = self.peft_config(model)
        self.config["target_modules"] = sorted(config.target_modules)
        inject_adapter_in_model(config, model.backbone.model)
        for name, param in model.backbone.named_parameters():
            if "lora_" in name:
                param.requires_grad_(True)
        unfreeze(model.head)
