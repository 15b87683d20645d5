"""Zero-shot classification from label names: a cosine classifier whose class vectors are embeddings
of the labels' names, made by :func:`zoo_core.engine.zero_shot.zero_shot` (``zoo zero-shot``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from zoo_core.engine.method import AdaptationMethod, freeze
from zoo_core.engine.model import TransferModel
from zoo_core.errors import ZooError
from zoo_methods.options import ZeroShotOptions


class CosineClassifier(nn.Module):
    """``temperature * cos(x, c_k)`` for each class vector ``c_k`` (the rows of ``weight``)."""

    def __init__(self, in_features: int, num_classes: int, temperature: float):
        super().__init__()
        self.temperature = float(temperature)
        # Random until class vectors are written (set_support); nn.Linear's initialisation.
        self.weight = nn.Parameter(nn.Linear(in_features, num_classes, bias=False).weight.detach().clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = nn.functional.normalize(features, dim=-1)
        classes = nn.functional.normalize(self.weight, dim=-1)
        return self.temperature * x @ classes.T


def class_vectors(features: torch.Tensor, labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """Each class's vector: the mean of its examples' L2-normalised features ``[num_classes, F]``."""
    x = nn.functional.normalize(torch.as_tensor(features).double(), dim=-1)
    y = torch.as_tensor(list(labels), dtype=torch.long)
    missing = [c for c in range(num_classes) if not (y == c).any()]
    if missing:
        raise ZooError(f"zero_shot needs at least one text for every class; none for class ids {missing}")
    return torch.stack([x[y == c].mean(0) for c in range(num_classes)]).float()


class ZeroShot(AdaptationMethod):
    """Zero-shot from label names: the frozen backbone embeds each label's name filled into a few
    templates; a class is the mean of those L2-normalised embeddings, and an input's logits are a
    fixed ``temperature`` times its cosine similarity to each class (so softmax gives usable
    probabilities). Nothing is learned from examples: ``zoo zero-shot`` (Python:
    :func:`zoo_core.engine.zero_shot.zero_shot`) builds the adapter, so ``zoo finetune`` refuses
    the method. The class vectors are a head parameter, so the contract's training step and a
    later fit could still move them; ``zoo predict --support`` swaps them for the mean normalised
    features of labelled examples (nearest centroid by cosine)."""

    name = "zero_shot"
    trains = "head"
    uses_feature_cache = True
    accepts_support_set = True
    Options = ZeroShotOptions
    options: ZeroShotOptions

    def prepare(self, model: TransferModel) -> None:
        linears = [m for m in model.head.modules() if isinstance(m, (nn.Linear, CosineClassifier))]
        if not linears:
            raise ZooError(
                "zero_shot replaces the head with class vectors and needs its number of classes; use a linear head"
            )
        last = linears[-1]
        num_classes = last.out_features if isinstance(last, nn.Linear) else last.weight.shape[0]
        freeze(model.backbone)
        model.backbone.eval()
        model.head = CosineClassifier(model.backbone.num_features, num_classes, self.options.temperature)

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        raise ZooError(
            "method 'zero_shot' learns nothing from examples: it builds its classes from label names; run "
            "'zoo zero-shot -m MODEL --labels NAME,NAME' (Python: zoo_core.engine.zero_shot.zero_shot), "
            "or pick a method that trains (zoo methods list)"
        )

    def set_support(
        self, model: TransferModel, features: torch.Tensor, labels: Sequence[int], num_classes: int
    ) -> None:
        """Class vectors from ``features`` (label-name prompts, or labelled examples) and their class ids."""
        vectors = class_vectors(features, labels, num_classes)
        head = CosineClassifier(vectors.shape[1], num_classes, self.options.temperature)
        with torch.no_grad():
            head.weight.copy_(vectors)
        model.head = head.eval()
