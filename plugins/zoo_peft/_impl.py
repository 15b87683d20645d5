"""PEFT methods through the peft library (heavy: imports torch and peft).

One generic class injects any peft tuner into the backbone's own module (``inject_adapter_in_model``,
no PeftModel wrapper, so the zoo head and trainer stay the same for every method); subclasses only
say which peft config to build. What the tuner adds is exactly what trains and what the adapter
stores: the parameters that did not exist before injection.
"""

from __future__ import annotations

import warnings
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

    def inject(self, config, module) -> None:
        """Inject the tuner into ``module`` in place."""
        from peft import inject_adapter_in_model

        inject_adapter_in_model(config, module)

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        targets = sorted(_targets(self.config.get("target_modules"), model))
        self.config["target_modules"] = targets
        before = {name for name, _ in model.backbone.model.named_parameters()}
        self.inject(self.peft_config(model, targets), model.backbone.model)
        for name, param in model.backbone.model.named_parameters():
            # peft moves a wrapped layer's own weights to `<layer>.base_layer.*`: still pre-trained.
            # What peft itself creates frozen (AdaLoRA's constant rank counters) stays frozen.
            param.requires_grad_(name.replace(".base_layer.", ".") not in before and param.requires_grad)
        unfreeze(model.head)


class LoRA(PeftMethod):
    """Low-rank adapters (Hu et al., 2021). Options: ``r`` (8), ``alpha`` (16), ``dropout`` (0.1)."""

    name = "lora"
    use_dora = False

    def peft_config(self, model, targets):
        from peft import LoraConfig

        return LoraConfig(
            r=int(self.config.get("r", 8)),
            lora_alpha=int(self.config.get("alpha", 16)),
            lora_dropout=float(self.config.get("dropout", 0.1)),
            target_modules=targets,
            bias="none",
            use_dora=self.use_dora,
        )


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

        return LoHaConfig(
            r=int(self.config.get("r", 8)), alpha=int(self.config.get("alpha", 16)), target_modules=targets
        )


class LoKr(PeftMethod):
    """Low-rank Kronecker product (Yeh et al., LyCORIS). Options: ``r`` (8), ``alpha`` (16)."""

    name = "lokr"

    def peft_config(self, model, targets):
        from peft import LoKrConfig

        return LoKrConfig(
            r=int(self.config.get("r", 8)), alpha=int(self.config.get("alpha", 16)), target_modules=targets
        )


class AdaLoRA(PeftMethod):
    """Adaptive LoRA (Zhang et al., ICLR 2023): SVD-shaped updates whose rank budget is moved during
    training to the layers that matter, by sensitivity. Options: ``init_r`` (12), ``target_r`` (8),
    ``alpha`` (16), ``dropout`` (0.1), ``orth_reg_weight`` (0.5), and the schedule as fractions of
    the planned steps: ``tinit`` (0.1, warm-up before pruning), ``tfinal`` (0.2, final fine-tuning
    at the allocated ranks). The tuner is kept: its rank allocator runs after every step and its
    orthogonality penalty is added to the loss.
    """

    name = "adalora"
    follows_planned_schedule = True  # the rank budget holds only after the last planned step

    def peft_config(self, model, targets):
        from peft import AdaLoraConfig

        # total_step is only known when training starts (on_train_start); peft needs a value now.
        return AdaLoraConfig(
            init_r=int(self.config.get("init_r", 12)),
            target_r=int(self.config.get("target_r", 8)),
            lora_alpha=int(self.config.get("alpha", 16)),
            lora_dropout=float(self.config.get("dropout", 0.1)),
            target_modules=targets,
            orth_reg_weight=float(self.config.get("orth_reg_weight", 0.5)),
            total_step=1000,
        )

    def inject(self, config, module) -> None:
        from peft import AdaLoraModel

        self._tuner = AdaLoraModel(module, config, "default")

    def on_train_start(self, model, total_steps):
        config = self._tuner.peft_config["default"]
        total = max(3, int(total_steps))
        config.total_step = total
        config.tinit = int(float(self.config.get("tinit", 0.1)) * total)
        # At least one step after the final allocation, which happens at step total - tfinal.
        config.tfinal = max(1, int(float(self.config.get("tfinal", 0.2)) * total))
        if config.tinit >= total - config.tfinal:  # too few steps for a schedule: allocate at once
            config.tinit, config.tfinal = 0, total - 1
        config.deltaT = max(1, (total - config.tinit - config.tfinal) // 10)
        self._tuner.rankallocator.reset_ipt()

    def after_optimizer_step(self, model, step):
        self._tuner.update_and_allocate(step)

    def regularization(self, model):
        """AdaLoRA's penalty keeping P and Q near-orthogonal (what PeftModel adds to outputs.loss)."""
        import torch

        weight = float(self._tuner.peft_config["default"].orth_reg_weight)
        terms = []
        for name, param in model.backbone.model.named_parameters():
            if param.requires_grad and (".lora_A." in name or ".lora_B." in name):
                cov = param @ param.T if ".lora_A." in name else param.T @ param
                terms.append(torch.linalg.matrix_norm(cov - torch.eye(cov.shape[0], device=cov.device)))
        return weight * torch.stack(terms).mean() if terms and weight > 0 else None


class VeRA(PeftMethod):
    """Vector-based random matrix adaptation (Kopiczko et al., ICLR 2024): one pair of frozen random
    projections shared by every adapted layer (regenerated from ``projection_seed``, not stored),
    and per-layer trained scaling vectors: about ten times fewer parameters than LoRA. Options:
    ``r`` (256), ``dropout`` (0.0), ``projection_seed`` (0). peft's VeRA adapts linear layers only.
    """

    name = "vera"

    def peft_config(self, model, targets):
        from peft import VeraConfig

        with warnings.catch_warnings():
            # peft warns that unsaved projections rely on the PRNG key; every saved adapter is
            # reloaded and its predictions compared (verify_reload): that is the guarantee asked for.
            warnings.filterwarnings("ignore", message="Specified to not save vera_A")
            return VeraConfig(
                r=int(self.config.get("r", 256)),
                target_modules=targets,
                vera_dropout=float(self.config.get("dropout", 0.0)),
                projection_prng_key=int(self.config.get("projection_seed", 0)),
                save_projection=False,
            )

    def inject(self, config, module) -> None:
        from peft import VeraModel
        from torch import nn

        from zoo_core.errors import ZooError

        wanted = set(config.target_modules)
        layers = [m for name, m in module.named_modules() if name.split(".")[-1] in wanted or name in wanted]
        if layers and not any(isinstance(m, nn.Linear) for m in layers):
            kinds = sorted({type(m).__name__ for m in layers})
            raise ZooError(
                f"vera adapts linear layers only, but this backbone's target modules are {', '.join(kinds)}; "
                "use lora (which adapts convolutions too), or give -o target_modules=NAMES of linear layers"
            )
        # VeRA keeps its shared projections on the tuner (why inject_adapter_in_model refuses it):
        # keep the tuner alive; every adapted layer holds a reference to the same projections.
        self._tuner = VeraModel(module, config, "default")
