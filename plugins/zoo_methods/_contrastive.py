"""SetFit-style contrastive tuning: the whole backbone is tuned on in-batch pairs of the few labelled
examples, then a logistic-regression head is fitted on the tuned embeddings."""

from __future__ import annotations

import math
import random
import sys
import time

import torch
from torch import nn

from zoo_core.engine.heads import LinearHead
from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_core.errors import ZooError
from zoo_methods.options import L2_GRID, ContrastiveOptions


class ContrastiveTuning(AdaptationMethod):
    """SetFit-style few-shot tuning (Tunstall et al., 2022): fine-tune the whole backbone so that
    examples of one class embed close together (cosine similarity 1) and different classes apart
    (0), then fit a logistic-regression head on the tuned embeddings.

    Pairs are streamed: each step embeds a class-balanced batch of ``batch_size`` examples and uses
    every pair within it (positives and negatives weighed equally), so memory is that of one
    batch whatever the data size (SetFit materialises its pair list, which grows with the square of
    the examples). Steps (:meth:`default_steps`): as many as SetFit's default run takes on the same
    labels, and at least ``iterations`` pair iterations per example; each step scores all
    ``batch_size * (batch_size - 1) / 2`` pairs of its batch for ``batch_size`` forward passes
    (SetFit: ``batch_size`` pairs for twice that). Option ``steps`` sets the count directly. The
    word embedding table stays frozen unless ``tune_embeddings`` is set. Runs in one process.
    """

    name = "contrastive"
    trains = "all"
    Options = ContrastiveOptions
    options: ContrastiveOptions

    def prepare(self, model: TransferModel) -> None:
        unfreeze(model)
        embeddings = getattr(model.backbone.model, "get_input_embeddings", lambda: None)()
        if embeddings is not None and not self.options.tune_embeddings:
            # The vocabulary table is half of a small text encoder's weights, and a few examples
            # touch a handful of its rows: AdamW over all of it costs time and adds nothing.
            freeze(embeddings)

    def default_steps(self, labels: list[int], batch_size: int) -> int:
        """Never fewer optimiser steps than SetFit's default run takes on these labels (one epoch
        over its oversampled pair list: twice the larger of the positive and negative pair counts,
        in batches), nor than ``iterations`` pair iterations per example; at most ``max_steps``."""
        n = len(labels)
        positives = sum(k * (k - 1) // 2 for k in (labels.count(c) for c in set(labels)))
        negatives = n * (n - 1) // 2 - positives
        setfit_steps = math.ceil(2 * max(positives, negatives) / batch_size)
        iteration_steps = math.ceil(2 * self.options.iterations * n / batch_size)
        return min(self.options.max_steps, max(setfit_steps, iteration_steps))

    def _batches(self, labels: list[int], batch_size: int, steps: int, seed: int):
        """Class-balanced index batches: a few classes, at least two examples of each where possible."""
        rng = random.Random(seed)
        by_class: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            by_class.setdefault(label, []).append(i)
        classes = sorted(by_class)
        per_class = max(2, batch_size // len(classes))
        for _ in range(steps):
            chosen = rng.sample(classes, min(len(classes), max(2, batch_size // per_class)))
            batch = []
            for c in chosen:
                pool = by_class[c]
                batch += rng.sample(pool, min(per_class, len(pool)))
            yield batch

    def fit_items(self, model, train_items, train_y, val_items, val_y, config, *, accelerator, log):
        from zoo_core.engine.backbone import to_device
        from zoo_core.engine.features import extract_features
        from zoo_core.engine.train import TrainResult, make_scheduler
        from zoo_methods._logistic import fit_logistic_head

        if not isinstance(model.head, LinearHead):
            raise ZooError("contrastive fits a logistic-regression head on the tuned embeddings; use --head linear")
        if accelerator.num_processes > 1:
            raise ZooError("contrastive tuning runs in one process; run it without accelerate launch/torchrun")
        if len(set(train_y)) < 2:
            raise ZooError("contrastive tuning needs at least two classes in the training data")
        started = time.perf_counter()
        device = accelerator.device
        model.to(device)
        backbone = model.backbone
        prep = backbone.preprocessor(train=True)
        batch_size = int(config.batch_size)
        steps = self.options.steps or self.default_steps(list(train_y), batch_size)
        params = [p for p in backbone.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = make_scheduler(optimizer, config, steps, steps)
        backbone.train()
        losses, seen = [], 0
        show = config.progress and sys.stderr.isatty()
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc="contrastive pairs", leave=False, dynamic_ncols=True)
        for indices in self._batches(list(train_y), batch_size, steps, config.seed):
            batch = to_device(prep.collate([prep.load(train_items[i]) for i in indices]), device)
            labels = torch.tensor([train_y[i] for i in indices], device=device)
            embeddings = nn.functional.normalize(backbone(batch), dim=-1)
            similarity = embeddings @ embeddings.T
            same = labels[:, None] == labels[None, :]
            off_diagonal = ~torch.eye(len(indices), dtype=torch.bool, device=device)
            positives, negatives = same & off_diagonal, ~same
            terms = [((similarity - 1.0) ** 2)[positives].mean()] if positives.any() else []
            terms += [(similarity**2)[negatives].mean()] if negatives.any() else []
            loss = torch.stack(terms).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            seen += len(indices)
            if bar is not None:
                bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}")
                bar.update(1)
        if bar is not None:
            bar.close()
        tune_seconds = time.perf_counter() - started
        backbone.eval()
        # The backbone changed: its features must not come from (or go to) the frozen-feature cache.
        train_x = extract_features(backbone, train_items, use_cache=False)
        val_x = extract_features(backbone, val_items, use_cache=False) if val_items is not None else None
        head_result = fit_logistic_head(model.head, train_x, train_y, val_x, val_y, config, grid=L2_GRID)
        log(
            f"contrastive: {steps} steps, loss {losses[0]:.4f} -> {sum(losses[-10:]) / len(losses[-10:]):.4f}, "
            f"{tune_seconds:.1f}s"
        )
        history = [{**record, "train_loss": sum(losses) / len(losses)} for record in head_result.history[-1:]]
        result = TrainResult(
            history=history or [{"epoch": 1, "train_loss": sum(losses) / len(losses)}],
            best_epoch=1,
            seconds=time.perf_counter() - started,
            samples_per_second=seen / max(tune_seconds, 1e-9),
            note=f"contrastive: {steps} steps on in-batch pairs of {batch_size} examples, then "
            + (head_result.note or "a logistic-regression head"),
        )
        result.best_state = self.adapter_state(model)
        return result
