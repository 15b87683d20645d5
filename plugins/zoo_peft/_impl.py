"""PEFT methods through the peft library (heavy: imports torch and peft).

One generic class injects any peft tuner into the backbone's own module (``inject_adapter_in_model``,
no PeftModel wrapper, so the zoo head and trainer stay the same for every method); subclasses only
say which peft config to build. What the tuner adds is exactly what trains and what the adapter
stores: the parameters that did not exist before injection.
"""

from __future__ import annotations

from typing import Any

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel


def _targets(value: Any, model: TransferModel) -> list[str]:
    targets = value or model.backbone.default_lora_targets()
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return list(targets)


class PeftMethod(AdaptationMethod):
    """Base: inject the tuner built by :meth:`peft_config` into the frozen backbone, train it and the head.

    Common options: ``target_modules`` (default: the family's choice,
    ``Backbone.default_lora_targets``: attention projections, or 1x1 convs in convnets).
    """

    trains = "adapter"
    preserves_base_output = True  # every tuner here starts as the identity (zero or unit init)

    def peft_config(self, model: TransferModel, targets: list[str]):  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare(self, model: TransferModel) -> None:
        from peft import inject_adapter_in_model

        freeze(model.backbone)
        targets = sorted(_targets(self.config.get("target_modules"), model))
        self.config["target_modules"] = targets
        before = {name for name, _ in model.backbone.model.named_parameters()}
        inject_adapter_in_model(self.peft_config(model, targets), model.backbone.model)
        for name, param in model.backbone.model.named_parameters():
            # peft moves a wrapped layer's own weights to `<layer>.base_layer.*`: still pre-trained.
            param.requires_grad_(name.replace(".base_layer.", ".") not in before)
        unfreeze(model.head)


class LoRA(PeftMethod):
    """Low-rank adapters (Hu et al., 2021). Options: ``r`` (8), ``alpha`` (16), ``dropout`` (0.1)."""

    name = "lora"
    use_dora = False

    def peft_config(self, model, targets):
        from peft import LoraConfig

        return LoraConfig(r=int(self.config.get("r", 8)), lora_alpha=int(self.config.get("alpha", 16)),
                          lora_dropout=float(self.config.get("dropout", 0.1)), target_modules=targets,
                          bias="none", use_dora=self.use_dora)


class DoRA(LoRA):
    """Weight-decomposed LoRA (Liu et al., 2024): LoRA on the direction, a trained magnitude vector."""

    name = "dora"
    use_dora = True


class IA3(PeftMethod):
    """(IA)^3 (Liu et al., 2022): learned per-channel scaling vectors, initialised to one.

    Option ``feedforward_modules``: targets whose *input* is scaled (default: none, outputs scaled).
    """

    name = "ia3"

    def peft_config(self, model, targets):
        from peft import IA3Config

        ff = self.config.get("feedforward_modules") or []
        if isinstance(ff, str):
            ff = [t.strip() for t in ff.split(",") if t.strip()]
        return IA3Config(target_modules=targets, feedforward_modules=list(ff))


class LoHa(PeftMethod):
    """Low-rank Hadamard product (Hyeon-Woo et al., FedPara). Options: ``r`` (8), ``alpha`` (16)."""

    name = "loha"

    def peft_config(self, model, targets):
        from peft import LoHaConfig

        return LoHaConfig(r=int(self.config.get("r", 8)), alpha=int(self.config.get("alpha", 16)),
                          target_modules=targets)


class LoKr(PeftMethod):
    """Low-rank Kronecker product (Yeh et al., LyCORIS). Options: ``r`` (8), ``alpha`` (16)."""

    name = "lokr"

    def peft_config(self, model, targets):
        from peft import LoKrConfig

        return LoKrConfig(r=int(self.config.get("r", 8)), alpha=int(self.config.get("alpha", 16)),
                          target_modules=targets)
