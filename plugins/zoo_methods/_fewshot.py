"""Few-shot and meta-learning methods (pure torch): prototypical networks and first-order
Proto-MAML on frozen features; SetFit-style contrastive tuning of the backbone."""

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


def prototype_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear layer equal to the nearest-prototype rule (see :class:`PrototypicalNetwork`)."""
    prototypes = torch.stack([x[y == c].mean(0) for c in range(num_classes)])
    spread = ((x - prototypes[y]) ** 2).sum(1).mean() / x.shape[1]
    variance = float(spread) if float(spread) > 0 else 1.0
    return prototypes / variance, -(prototypes**2).sum(1) / (2 * variance)


def episode_classes(y: torch.Tensor, num_classes: int) -> tuple[dict[int, list[int]], list[int]]:
    """Example indices per class, and the classes with two or more examples (those an episode can
    split into support and query)."""
    by_class = {c: (y == c).nonzero().flatten().tolist() for c in range(num_classes)}
    return by_class, [c for c, idx in by_class.items() if len(idx) >= 2]


def sample_episode(rng: random.Random, by_class: dict[int, list[int]], classes: list[int], ways: int):
    """One episode: ``ways`` of ``classes`` (each with two or more examples), each split at random
    into support (half, at least one) and query; returns (support, query) as lists of
    (example index, slot in the episode)."""
    support, query = [], []
    for slot, c in enumerate(rng.sample(classes, min(ways, len(classes)))):
        idx = by_class[c][:]
        rng.shuffle(idx)
        cut = max(1, len(idx) // 2)
        support += [(i, slot) for i in idx[:cut]]
        query += [(i, slot) for i in idx[cut:]]
    return support, query


class PrototypicalNetwork(AdaptationMethod):
    """Prototypical networks (Snell et al., 2017) on the frozen backbone: each class is the mean of
    its training examples' features; an input goes to the nearest prototype (squared Euclidean).

    By default nothing is trained by gradient. With ``episodes`` (0) above zero, the episodic
    fine-tuning of the paper runs first, on a zero-initialised residual adapter over the frozen
    features (options ``hidden`` (128), ``ways`` (all classes), ``lr``): each episode classifies
    its query examples by distance to its support prototypes. The classifier is written into the
    linear head exactly:
    ``-|x - p_c|^2 / (2 s^2) = (p_c . x) / s^2 - |p_c|^2 / (2 s^2) + const(x)``, with ``s^2`` the
    support set's mean squared distance to its own prototype per dimension (so scores are a
    shared-variance Gaussian posterior rather than arbitrarily sharp). The support set therefore
    lives in the adapter: ``zoo predict`` needs no support images; ``zoo predict --support FOLDER``
    uses the prototypes of another labelled set instead (even of other classes). Prototypes use
    the training split only, so the validation metrics stay honest.
    """

    name = "protonet"
    trains = "head"
    uses_feature_cache = True

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        model.backbone.eval()
        if int(self.config.get("episodes") or 0) > 0:
            wrap_in_episodic_head(model, int(self.config.get("hidden", 128)), self.name)
        unfreeze(model.head)

    def _episodic_tuning(self, head: EpisodicHead, x: torch.Tensor, y: torch.Tensor, config) -> str:
        """Snell et al.'s episodic training, on a residual adapter over the frozen features: each
        episode's query examples are classified by distance to its support prototypes."""
        episodes = int(self.config.get("episodes") or 0)
        by_class, splittable = episode_classes(y, head.classifier.fc.out_features)
        if len(splittable) < 2:
            return "protonet: fewer than two classes have two examples, so no episode has a query set; not tuned"
        ways = int(self.config.get("ways") or len(splittable))
        rng = random.Random(config.seed if config is not None else 0)
        optimizer = torch.optim.Adam(
            [p for n, p in head.named_parameters() if not n.startswith("classifier.")],
            lr=float(getattr(config, "lr", 1e-3)),
        )
        head.train()
        for _ in range(episodes):
            support, query = sample_episode(rng, by_class, splittable, ways)
            slots = torch.tensor([slot for _, slot in support])
            embedded = head.embed(x[[i for i, _ in support]])
            prototypes = torch.stack([embedded[slots == k].mean(0) for k in range(int(slots.max()) + 1)])
            distances = torch.cdist(head.embed(x[[i for i, _ in query]]), prototypes) ** 2
            loss = nn.functional.cross_entropy(-distances, torch.tensor([slot for _, slot in query]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        head.eval()
        return f"protonet: {episodes} training episodes of {min(ways, len(splittable))} classes"

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        from zoo_core.engine.train import TrainResult

        episodic = isinstance(head, EpisodicHead)
        linear = head.classifier if episodic else head
        if not isinstance(linear, LinearHead):
            raise ZooError("protonet writes its prototypes into the linear head; use --head linear")
        started = time.perf_counter()
        x = torch.as_tensor(train_x).double()
        y = torch.as_tensor(list(train_y), dtype=torch.long)
        num_classes = linear.fc.out_features
        missing = [c for c in range(num_classes) if not (y == c).any()]
        if missing:
            raise ZooError(f"protonet needs at least one training example of every class; none for class ids {missing}")
        tuned = ""
        if episodic:
            with torch.no_grad():
                head.mean.copy_(x.mean(0).float())
                head.scale.fill_(feature_scale(x))
            tuned = self._episodic_tuning(head, x.float(), y, config)
            with torch.no_grad():
                x = head.embed(x.float()).double()
        weight, bias = prototype_classifier(x, y, num_classes)
        with torch.no_grad():
            linear.fc.weight.copy_(weight.to(linear.fc.weight.dtype))
            linear.fc.bias.copy_(bias.to(linear.fc.bias.dtype))
        history = []
        if val_x is not None and len(val_y):
            with torch.no_grad():
                logits = head.eval()(torch.as_tensor(val_x).to(linear.fc.weight.dtype))
            accuracy = float((logits.argmax(1) == torch.as_tensor(list(val_y))).double().mean())
            history.append({"epoch": 1, "val_accuracy": accuracy, "train_loss": 0.0})
        result = TrainResult(
            history=history,
            best_epoch=1,
            seconds=time.perf_counter() - started,
            note=(tuned + "; " if tuned else "protonet: ")
            + f"{num_classes} prototypes from {len(y)} training examples",
        )
        result.best_state = {f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()}
        return result

    def set_support(self, model: TransferModel, features: torch.Tensor, labels: list[int], num_classes: int) -> None:
        """Replace the stored prototypes with those of a support set given at prediction time
        (its classes may differ from the training classes: a new linear head is built)."""
        x = torch.as_tensor(features).double()
        if isinstance(model.head, EpisodicHead):  # prototypes in the tuned embedding space
            with torch.no_grad():
                x = model.head.embed(x.float()).double()
        head = LinearHead(x.shape[1], num_classes)
        weight, bias = prototype_classifier(x, torch.as_tensor(list(labels), dtype=torch.long), num_classes)
        with torch.no_grad():
            head.fc.weight.copy_(weight.float())
            head.fc.bias.copy_(bias.float())
        if isinstance(model.head, EpisodicHead):
            model.head.classifier = head
        else:
            model.head = head
        model.head.eval()


class EpisodicHead(nn.Module):
    """Centre and scale, a residual bottleneck MLP (zero-initialised: starts as the identity), then the
    zoo's linear head: what protonet's episodic tuning and :class:`FirstOrderProtoMAML` train."""

    def __init__(self, classifier: nn.Module, in_features: int, hidden: int, normalize: bool = False):
        super().__init__()
        self.normalize = normalize  # L2-normalise the embedding (cosine classifiers)
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("scale", torch.ones(in_features))
        self.down = nn.Linear(in_features, hidden)
        self.up = nn.Linear(hidden, in_features)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.classifier = classifier

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        z = (features - self.mean) / self.scale
        out = z + self.up(nn.functional.relu(self.down(z)))
        return nn.functional.normalize(out, dim=-1) if self.normalize else out

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(features))


def feature_scale(x: torch.Tensor) -> float:
    """One scale for all dimensions: the root mean squared deviation from the mean. Per-dimension
    standardisation from a few examples blows up the dimensions that happen to barely vary."""
    return max(float(((x - x.mean(0)) ** 2).mean().sqrt()), 1e-6)


def wrap_in_episodic_head(model: TransferModel, hidden: int, method: str, normalize: bool = False) -> None:
    if not isinstance(model.head, LinearHead):
        raise ZooError(f"{method} initialises a linear classifier from class prototypes; use --head linear")
    model.head = EpisodicHead(model.head, model.head.fc.in_features, hidden, normalize)


class FirstOrderProtoMAML(AdaptationMethod):
    """Meta-learning over the user's own classes: first-order Proto-MAML (Finn et al. 2017;
    Triantafillou et al., Meta-Dataset 2020) on frozen backbone features.

    The model: centred and scaled features, a residual feature adapter (zero-initialised), L2
    normalisation, and a cosine classifier (``temperature`` x the dot product with unit class
    vectors). Each episode draws ``ways`` classes and splits their training examples into support
    and query; the classifier starts from the support prototypes (so labels need no fixed order)
    and takes ``inner_steps`` SGD steps on the support set; the query loss at the adapted
    classifier then updates the adapter (first-order: the adapted classifier counts as a constant;
    as in ANIL, Raghu et al. 2020, only the classifier adapts in the inner loop). After
    ``meta_steps`` episodes the classifier is initialised and adapted the same way on all
    training examples. With one example per class there is no query set: the method then adapts
    without meta-training and says so.

    Options: ``meta_steps`` (100), ``inner_steps`` (5), ``inner_lr`` (0.05), ``temperature`` (10),
    ``ways`` (all classes), ``hidden`` (128), ``final_steps`` (2 x inner_steps). ``lr`` is the
    outer (Adam) learning rate.
    """

    name = "fomaml"
    trains = "head"
    uses_feature_cache = True

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        model.backbone.eval()
        wrap_in_episodic_head(model, int(self.config.get("hidden", 128)), self.name, normalize=True)
        unfreeze(model.head)

    def _adapt(self, embedded: torch.Tensor, y: torch.Tensor, num_classes: int, steps: int):
        """Classifier from the unit prototypes of ``embedded`` (scaled by the temperature), then
        ``steps`` SGD steps of cross-entropy on (embedded, y); returns (weight, bias), detached."""
        embedded = embedded.detach()
        temperature = float(self.config.get("temperature", 10.0))
        lr = float(self.config.get("inner_lr", 0.05))
        prototypes = torch.stack([embedded[y == c].mean(0) for c in range(num_classes)])
        weight = (temperature * nn.functional.normalize(prototypes, dim=-1)).requires_grad_()
        bias = torch.zeros(num_classes, requires_grad=True)
        for _ in range(steps):
            loss = nn.functional.cross_entropy(nn.functional.linear(embedded, weight, bias), y)
            grad_w, grad_b = torch.autograd.grad(loss, [weight, bias])
            weight = (weight - lr * grad_w).detach().requires_grad_()
            bias = (bias - lr * grad_b).detach().requires_grad_()
        return weight.detach(), bias.detach()

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        from zoo_core.engine.train import TrainResult

        started = time.perf_counter()
        x = torch.as_tensor(train_x).float()
        y = torch.as_tensor(list(train_y), dtype=torch.long)
        num_classes = head.classifier.fc.out_features
        missing = [c for c in range(num_classes) if not (y == c).any()]
        if missing:
            raise ZooError(f"fomaml needs at least one training example of every class; none for class ids {missing}")
        with torch.no_grad():
            head.mean.copy_(x.mean(0))
            head.scale.fill_(feature_scale(x))
        inner_steps = int(self.config.get("inner_steps", 5))
        meta_steps = int(self.config.get("meta_steps", 100))
        ways = min(num_classes, int(self.config.get("ways") or num_classes))
        rng = random.Random(config.seed if config is not None else 0)
        by_class, splittable = episode_classes(y, num_classes)
        adapter = [p for k, p in head.named_parameters() if not k.startswith("classifier.")]
        optimizer = torch.optim.Adam(adapter, lr=float(getattr(config, "lr", 1e-3)))
        note = ""
        if len(splittable) < 2:
            meta_steps = 0
            note = (
                "fomaml: fewer than two classes have two examples, so no episode has a query set; "
                "adapted without meta-training"
            )
        query_losses = []
        head.train()
        for _ in range(meta_steps):
            support, query = sample_episode(rng, by_class, splittable, ways)
            sy = torch.tensor([slot for _, slot in support])
            weight, bias = self._adapt(head.embed(x[[i for i, _ in support]]), sy, int(sy.max()) + 1, inner_steps)
            logits = nn.functional.linear(head.embed(x[[i for i, _ in query]]), weight, bias)
            loss = nn.functional.cross_entropy(logits, torch.tensor([slot for _, slot in query]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            query_losses.append(float(loss.detach()))
        head.eval()
        with torch.no_grad():
            embedded = head.embed(x)
        weight, bias = self._adapt(embedded, y, num_classes, int(self.config.get("final_steps", 2 * inner_steps)))
        with torch.no_grad():
            head.classifier.fc.weight.copy_(weight)
            head.classifier.fc.bias.copy_(bias)
        record = {"epoch": 1, "train_loss": sum(query_losses[-10:]) / max(1, len(query_losses[-10:]))}
        if val_x is not None and val_y is not None and len(val_y):
            with torch.no_grad():
                predictions = head(torch.as_tensor(val_x).float()).argmax(1)
            record["val_accuracy"] = float((predictions == torch.as_tensor(list(val_y))).double().mean())
        result = TrainResult(
            history=[record],
            best_epoch=1,
            seconds=time.perf_counter() - started,
            note=note
            or f"fomaml: {meta_steps} episodes of {ways} classes, then {inner_steps}-step "
            f"adaptation on {len(y)} examples",
        )
        result.best_state = {f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()}
        return result


class ContrastiveTuning(AdaptationMethod):
    """SetFit-style few-shot tuning (Tunstall et al., 2022): fine-tune the whole backbone so that
    examples of one class embed close together (cosine similarity 1) and different classes apart
    (0), then fit a logistic-regression head on the tuned embeddings.

    Pairs are streamed: each step embeds a class-balanced batch of ``batch_size`` examples and uses
    every pair within it (positives and negatives weighed equally), so memory is that of one
    batch whatever the data size (SetFit materialises its pair list, which grows with the square of
    the examples). Steps (:meth:`default_steps`): as many as SetFit's default run takes on the same
    labels, and at least ``iterations`` (10) pair iterations per example; each step scores all
    ``batch_size * (batch_size - 1) / 2`` pairs of its batch for ``batch_size`` forward passes
    (SetFit: ``batch_size`` pairs for twice that). Option ``steps`` sets the count directly. The
    word embedding table stays frozen unless ``tune_embeddings`` is set. Runs in one process.
    """

    name = "contrastive"
    trains = "all"

    def prepare(self, model: TransferModel) -> None:
        unfreeze(model)
        embeddings = getattr(model.backbone.model, "get_input_embeddings", lambda: None)()
        if embeddings is not None and not self.config.get("tune_embeddings", False):
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
        iteration_steps = math.ceil(2 * int(self.config.get("iterations", 10)) * n / batch_size)
        return min(int(self.config.get("max_steps", 1000)), max(setfit_steps, iteration_steps))

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
        from zoo_methods._impl import LinearProbe
        from zoo_methods._lbfgs import fit_logistic_head

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
        steps = self.config.get("steps")
        steps = int(steps or self.default_steps(list(train_y), batch_size))
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
        head_result = fit_logistic_head(model.head, train_x, train_y, val_x, val_y, config, grid=LinearProbe.L2_GRID)
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
