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
from zoo_peft.options import AdaLoraOptions, IA3Options, LoraOptions, LowRankOptions, PeftOptions, VeraOptions


def _targets(value: Any, model: TransferModel) -> list[str]:
    targets = value or model.backbone.default_lora_targets()
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return list(targets)


class PeftMethod(AdaptationMethod):
    """Base: inject the tuner built by :meth:`peft_config` into the frozen backbone, train it and the head.

    Common options: ``target_modules`` (default: the family's choice, ``Backbone.default_lora_targets``:
    attention projections, or 1x1 convs in convnets); :meth:`prepare` records the layers it chose.
    ``head_init=probe`` fits the head as ``linear_probe`` does before the tuner trains (an LP-then-
    adapter start, as LP-FT; every tuner starts as the identity, so the probe sees the pre-trained
    features; see ``zoo_methods._lpft``).
    """

    Options = PeftOptions
    options: PeftOptions
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
        targets = sorted(_targets(self.options.target_modules, model))
        self.options.target_modules = targets
        before = {name for name, _ in model.backbone.model.named_parameters()}
        self.inject(self.peft_config(model, targets), model.backbone.model)
        for name, param in model.backbone.model.named_parameters():
            # peft moves a wrapped layer's own weights to `<layer>.base_layer.*`: still pre-trained.
            # What peft itself creates frozen (AdaLoRA's constant rank counters) stays frozen.
            param.requires_grad_(name.replace(".base_layer.", ".") not in before and param.requires_grad)
        unfreeze(model.head)
        if self.options.head_init == "probe":
            from zoo_methods._lpft import check_probe_head

            check_probe_head(self.name, model)

    def fit_items(self, model, train_items, train_y, val_items, val_y, config, *, accelerator, log):
        """With ``head_init=probe``: fit the head as the linear probe does, then return None so that
        the generic trainer trains the tuner and the head from it."""
        if self.options.head_init == "probe":  # zoo_methods is needed only then
            from zoo_methods._lpft import start_from_probe_head

            start_from_probe_head(
                self, model, train_items, train_y, val_items, val_y, config, accelerator=accelerator, log=log
            )
        return None


class LoRA(PeftMethod):
    """Low-rank adapters (Hu et al., 2021). Options (:class:`LoraOptions`): ``r``, ``alpha``, ``dropout``."""

    name = "lora"
    Options = LoraOptions
    options: LoraOptions
    use_dora = False

    def peft_config(self, model, targets):
        from peft import LoraConfig

        return LoraConfig(
            r=self.options.r,
            lora_alpha=self.options.alpha,
            lora_dropout=self.options.dropout,
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
    Options = IA3Options
    options: IA3Options

    def peft_config(self, model, targets):
        from peft import IA3Config

        return IA3Config(target_modules=targets, feedforward_modules=list(self.options.feedforward_modules or []))


class LoHa(PeftMethod):
    """Low-rank Hadamard product (Hyeon-Woo et al., FedPara). Options (:class:`LowRankOptions`): ``r``, ``alpha``."""

    name = "loha"
    Options = LowRankOptions
    options: LowRankOptions

    def peft_config(self, model, targets):
        from peft import LoHaConfig

        return LoHaConfig(r=self.options.r, alpha=self.options.alpha, target_modules=targets)


class LoKr(PeftMethod):
    """Low-rank Kronecker product (Yeh et al., LyCORIS). Options (:class:`LowRankOptions`): ``r``, ``alpha``."""

    name = "lokr"
    Options = LowRankOptions
    options: LowRankOptions

    def peft_config(self, model, targets):
        from peft import LoKrConfig

        return LoKrConfig(r=self.options.r, alpha=self.options.alpha, target_modules=targets)


class AdaLoRA(PeftMethod):
    """Adaptive LoRA (Zhang et al., ICLR 2023): SVD-shaped updates whose rank budget is moved during
    training to the layers that matter, by sensitivity. Options (:class:`AdaLoraOptions`): ``init_r``,
    ``target_r``, ``alpha``, ``dropout``, ``orth_reg_weight``, and the schedule as fractions of the
    planned steps: ``tinit`` (warm-up before pruning), ``tfinal`` (final fine-tuning at the allocated
    ranks). The tuner is kept: its rank allocator runs after every step and its orthogonality
    penalty is added to the loss.
    """

    name = "adalora"
    Options = AdaLoraOptions
    options: AdaLoraOptions
    follows_planned_schedule = True  # the rank budget holds only after the last planned step

    def peft_config(self, model, targets):
        from peft import AdaLoraConfig

        # total_step is only known when training starts (on_train_start); peft needs a value now.
        return AdaLoraConfig(
            init_r=self.options.init_r,
            target_r=self.options.target_r,
            lora_alpha=self.options.alpha,
            lora_dropout=self.options.dropout,
            target_modules=targets,
            orth_reg_weight=self.options.orth_reg_weight,
            total_step=1000,
        )

    def inject(self, config, module) -> None:
        from peft import AdaLoraModel

        self._tuner = AdaLoraModel(module, config, "default")

    def on_train_start(self, model, total_steps):
        config = self._tuner.peft_config["default"]
        total = max(3, int(total_steps))
        config.total_step = total
        config.tinit = int(self.options.tinit * total)
        # At least one step after the final allocation, which happens at step total - tfinal.
        config.tfinal = max(1, int(self.options.tfinal * total))
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
    and per-layer trained scaling vectors: about ten times fewer parameters than LoRA. Options
    (:class:`VeraOptions`): ``r``, ``dropout``, ``projection_seed``. peft's VeRA adapts linear layers only.
    """

    name = "vera"
    Options = VeraOptions
    options: VeraOptions

    def peft_config(self, model, targets):
        from peft import VeraConfig

        with warnings.catch_warnings():
            # peft warns that unsaved projections rely on the PRNG key; every saved adapter is
            # reloaded and its predictions compared (verify_reload): that is the guarantee asked for.
            warnings.filterwarnings("ignore", message="Specified to not save vera_A")
            return VeraConfig(
                r=self.options.r,
                target_modules=targets,
                vera_dropout=self.options.dropout,
                projection_prng_key=self.options.projection_seed,
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
