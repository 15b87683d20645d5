"""Prototype methods on frozen features: prototypical networks and first-order Proto-MAML, and the
episode code they share (the episodic head, episode sampling, the episode loop, the result)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from zoo_core.engine.heads import LinearHead
from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_core.engine.train import TrainResult
from zoo_core.errors import ZooError
from zoo_core.options import TrainConfig
from zoo_methods.options import FirstOrderProtoMAMLOptions, PrototypicalNetworkOptions

# ---------------------------------------------------------------------------------- shared parts


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

    def standardise_on(self, x: torch.Tensor) -> None:
        """Centre on the mean of ``x`` and scale by :func:`feature_scale` (computed in ``x``'s dtype)."""
        with torch.no_grad():
            self.mean.copy_(x.mean(0))
            self.scale.fill_(feature_scale(x))


def feature_scale(x: torch.Tensor) -> float:
    """One scale for all dimensions: the root mean squared deviation from the mean. Per-dimension
    standardisation from a few examples blows up the dimensions that happen to barely vary."""
    return max(float(((x - x.mean(0)) ** 2).mean().sqrt()), 1e-6)


def wrap_in_episodic_head(model: TransferModel, hidden: int, method: str, normalize: bool = False) -> None:
    if not isinstance(model.head, LinearHead):
        raise ZooError(f"{method} initialises a linear classifier from class prototypes; use --head linear")
    model.head = EpisodicHead(model.head, model.head.fc.in_features, hidden, normalize)


def training_tensors(
    method: str, train_x: Any, train_y: Sequence[int], num_classes: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features as ``dtype`` and labels as a long tensor, refusing a class without an example (it
    would have no prototype)."""
    x = torch.as_tensor(train_x).to(dtype)
    y = torch.as_tensor(list(train_y), dtype=torch.long)
    missing = [c for c in range(num_classes) if not (y == c).any()]
    if missing:
        raise ZooError(f"{method} needs at least one training example of every class; none for class ids {missing}")
    return x, y


EpisodeLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def run_episodes(
    head: EpisodicHead,
    x: torch.Tensor,
    by_class: dict[int, list[int]],
    classes: list[int],
    ways: int,
    episodes: int,
    config: TrainConfig | None,
    episode_loss: EpisodeLoss,
) -> list[float]:
    """Train the head's feature adapter (never its classifier) with Adam at ``config.lr`` for
    ``episodes`` episodes drawn with ``config.seed``. ``episode_loss(support embeddings, support
    slots, query embeddings, query slots)`` gives each episode's loss; returns the losses."""
    rng = random.Random(config.seed if config is not None else 0)
    adapter = [p for n, p in head.named_parameters() if not n.startswith("classifier.")]
    optimizer = torch.optim.Adam(adapter, lr=float(getattr(config, "lr", 1e-3)))
    losses = []
    head.train()
    for _ in range(episodes):
        support, query = sample_episode(rng, by_class, classes, ways)
        support_slots = torch.tensor([slot for _, slot in support])
        # Support before query: the order the graph is built in is the order gradients accumulate.
        support_embedded = head.embed(x[[i for i, _ in support]])
        query_embedded = head.embed(x[[i for i, _ in query]])
        loss = episode_loss(support_embedded, support_slots, query_embedded, torch.tensor([s for _, s in query]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    head.eval()
    return losses


def val_accuracy(head: nn.Module, val_x: Any, val_y: Sequence[int] | None) -> float | None:
    """Accuracy of ``head`` (put in eval mode) on validation features, or None without any."""
    if val_x is None or val_y is None or not len(val_y):
        return None
    with torch.no_grad():
        predictions = head.eval()(torch.as_tensor(val_x).float()).argmax(1)
    return float((predictions == torch.as_tensor(list(val_y))).double().mean())


def head_result(head: nn.Module, history: list[dict[str, Any]], started: float, note: str) -> TrainResult:
    """One-epoch result whose best state is the head as fitted."""
    result = TrainResult(history=history, best_epoch=1, seconds=time.perf_counter() - started, note=note)
    result.best_state = {f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()}
    return result


def _freeze_and_wrap(model: TransferModel, method: str, hidden: int | None, normalize: bool = False) -> None:
    """Freeze the backbone (eval mode), wrap the head in an :class:`EpisodicHead` unless ``hidden``
    is None, and train the head."""
    freeze(model.backbone)
    model.backbone.eval()
    if hidden is not None:
        wrap_in_episodic_head(model, hidden, method, normalize)
    unfreeze(model.head)


# ---------------------------------------------------------------------------------- the methods


class PrototypicalNetwork(AdaptationMethod):
    """Prototypical networks (Snell et al., 2017) on the frozen backbone: each class is the mean of
    its training examples' features; an input goes to the nearest prototype (squared Euclidean).

    By default nothing is trained by gradient. With ``episodes`` above zero, the episodic
    fine-tuning of the paper runs first, on a zero-initialised residual adapter over the frozen
    features (options ``hidden``, ``ways``; training setting ``lr``): each episode classifies
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
    accepts_support_set = True
    Options = PrototypicalNetworkOptions
    options: PrototypicalNetworkOptions

    def prepare(self, model: TransferModel) -> None:
        _freeze_and_wrap(model, self.name, self.options.hidden if self.options.episodes > 0 else None)

    def _episodic_tuning(self, head: EpisodicHead, x: torch.Tensor, y: torch.Tensor, config) -> str:
        """Snell et al.'s episodic training, on a residual adapter over the frozen features: each
        episode's query examples are classified by distance to its support prototypes."""
        by_class, splittable = episode_classes(y, head.classifier.fc.out_features)
        if len(splittable) < 2:
            return "protonet: fewer than two classes have two examples, so no episode has a query set; not tuned"
        ways = self.options.ways or len(splittable)

        def distance_loss(support, support_slots, query, query_slots):
            count = int(support_slots.max()) + 1
            prototypes = torch.stack([support[support_slots == k].mean(0) for k in range(count)])
            return nn.functional.cross_entropy(-(torch.cdist(query, prototypes) ** 2), query_slots)

        episodes = self.options.episodes
        run_episodes(head, x, by_class, splittable, ways, episodes, config, distance_loss)
        return f"protonet: {episodes} training episodes of {min(ways, len(splittable))} classes"

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        episodic = isinstance(head, EpisodicHead)
        linear = head.classifier if episodic else head
        if not isinstance(linear, LinearHead):
            raise ZooError("protonet writes its prototypes into the linear head; use --head linear")
        started = time.perf_counter()
        num_classes = linear.fc.out_features
        x, y = training_tensors(self.name, train_x, train_y, num_classes, torch.float64)
        tuned = ""
        if episodic:
            head.standardise_on(x)
            tuned = self._episodic_tuning(head, x.float(), y, config)
            with torch.no_grad():
                x = head.embed(x.float()).double()
        weight, bias = prototype_classifier(x, y, num_classes)
        with torch.no_grad():
            linear.fc.weight.copy_(weight.to(linear.fc.weight.dtype))
            linear.fc.bias.copy_(bias.to(linear.fc.bias.dtype))
        accuracy = val_accuracy(head, val_x, val_y)
        history = [] if accuracy is None else [{"epoch": 1, "val_accuracy": accuracy, "train_loss": 0.0}]
        note = (tuned + "; " if tuned else "protonet: ") + f"{num_classes} prototypes from {len(y)} training examples"
        return head_result(head, history, started, note)

    def set_support(
        self, model: TransferModel, features: torch.Tensor, labels: Sequence[int], num_classes: int
    ) -> None:
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
    training examples (``final_steps``). With one example per class there is no query set: the
    method then adapts without meta-training and says so. The options and their defaults are
    :class:`~zoo_methods.options.FirstOrderProtoMAMLOptions`; the training setting ``lr`` is the
    outer (Adam) learning rate.
    """

    name = "fomaml"
    trains = "head"
    uses_feature_cache = True
    Options = FirstOrderProtoMAMLOptions
    options: FirstOrderProtoMAMLOptions

    def prepare(self, model: TransferModel) -> None:
        _freeze_and_wrap(model, self.name, self.options.hidden, normalize=True)

    def _adapt(self, embedded: torch.Tensor, y: torch.Tensor, num_classes: int, steps: int):
        """Classifier from the unit prototypes of ``embedded`` (scaled by the temperature), then
        ``steps`` SGD steps of cross-entropy on (embedded, y); returns (weight, bias), detached."""
        embedded = embedded.detach()
        lr = self.options.inner_lr
        prototypes = torch.stack([embedded[y == c].mean(0) for c in range(num_classes)])
        weight = (self.options.temperature * nn.functional.normalize(prototypes, dim=-1)).requires_grad_()
        bias = torch.zeros(num_classes, requires_grad=True)
        for _ in range(steps):
            loss = nn.functional.cross_entropy(nn.functional.linear(embedded, weight, bias), y)
            grad_w, grad_b = torch.autograd.grad(loss, [weight, bias])
            weight = (weight - lr * grad_w).detach().requires_grad_()
            bias = (bias - lr * grad_b).detach().requires_grad_()
        return weight.detach(), bias.detach()

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        started = time.perf_counter()
        num_classes = head.classifier.fc.out_features
        x, y = training_tensors(self.name, train_x, train_y, num_classes, torch.float32)
        head.standardise_on(x)
        inner_steps = self.options.inner_steps
        meta_steps = self.options.meta_steps
        ways = min(num_classes, self.options.ways or num_classes)
        by_class, splittable = episode_classes(y, num_classes)
        note = ""
        if len(splittable) < 2:
            meta_steps = 0
            note = (
                "fomaml: fewer than two classes have two examples, so no episode has a query set; "
                "adapted without meta-training"
            )

        def adapted_query_loss(support, support_slots, query, query_slots):
            weight, bias = self._adapt(support, support_slots, int(support_slots.max()) + 1, inner_steps)
            return nn.functional.cross_entropy(nn.functional.linear(query, weight, bias), query_slots)

        query_losses = run_episodes(head, x, by_class, splittable, ways, meta_steps, config, adapted_query_loss)
        with torch.no_grad():
            embedded = head.embed(x)
        final_steps = self.options.final_steps
        weight, bias = self._adapt(embedded, y, num_classes, 2 * inner_steps if final_steps is None else final_steps)
        with torch.no_grad():
            head.classifier.fc.weight.copy_(weight)
            head.classifier.fc.bias.copy_(bias)
        record = {"epoch": 1, "train_loss": sum(query_losses[-10:]) / max(1, len(query_losses[-10:]))}
        accuracy = val_accuracy(head, val_x, val_y)
        if accuracy is not None:
            record["val_accuracy"] = accuracy
        note = note or (
            f"fomaml: {meta_steps} episodes of {ways} classes, then {inner_steps}-step adaptation on {len(y)} examples"
        )
        return head_result(head, [record], started, note)
