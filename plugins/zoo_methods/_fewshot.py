"""Few-shot: prototypical networks on frozen pre-trained features (pure torch)."""

from __future__ import annotations

import time

import torch

from zoo_core.engine.method import AdaptationMethod, freeze, unfreeze
from zoo_core.engine.model import TransferModel
from zoo_core.errors import ZooError


class PrototypicalNetwork(AdaptationMethod):
    """Prototypical networks (Snell et al., 2017) on the frozen backbone: each class is the mean of
    its training examples' features; an input goes to the nearest prototype (squared Euclidean).

    Nothing is trained by gradient. The classifier is written into the linear head exactly:
    ``-|x - p_c|^2 / (2 s^2) = (p_c . x) / s^2 - |p_c|^2 / (2 s^2) + const(x)``, with ``s^2`` the
    support set's mean squared distance to its own prototype per dimension (so scores are a
    shared-variance Gaussian posterior rather than arbitrarily sharp). The support set therefore
    lives in the adapter: ``zoo predict`` needs no support images. Prototypes use the training
    split only, so the validation metrics stay honest.
    """

    name = "protonet"
    trains = "head"
    uses_feature_cache = True

    def prepare(self, model: TransferModel) -> None:
        freeze(model.backbone)
        unfreeze(model.head)
        model.backbone.eval()

    def fit_features(self, head, train_x, train_y, val_x, val_y, config):
        from zoo_core.engine.heads import LinearHead
        from zoo_core.engine.train import TrainResult

        if not isinstance(head, LinearHead):
            raise ZooError("protonet writes its prototypes into the linear head; use --head linear")
        started = time.perf_counter()
        x = torch.as_tensor(train_x).double()
        y = torch.as_tensor(list(train_y), dtype=torch.long)
        num_classes = head.fc.out_features
        missing = [c for c in range(num_classes) if not (y == c).any()]
        if missing:
            raise ZooError(f"protonet needs at least one training example of every class; none for class ids {missing}")
        prototypes = torch.stack([x[y == c].mean(0) for c in range(num_classes)])
        spread = ((x - prototypes[y]) ** 2).sum(1).mean() / x.shape[1]
        variance = float(spread) if float(spread) > 0 else 1.0
        with torch.no_grad():
            head.fc.weight.copy_((prototypes / variance).to(head.fc.weight.dtype))
            head.fc.bias.copy_((-(prototypes ** 2).sum(1) / (2 * variance)).to(head.fc.bias.dtype))
        history = []
        if val_x is not None and len(val_y):
            with torch.no_grad():
                logits = head.eval()(torch.as_tensor(val_x).to(head.fc.weight.dtype))
            accuracy = float((logits.argmax(1) == torch.as_tensor(list(val_y))).double().mean())
            history.append({"epoch": 1, "val_accuracy": accuracy, "train_loss": 0.0})
        result = TrainResult(history=history, best_epoch=1, seconds=time.perf_counter() - started,
                             note=f"protonet: {num_classes} prototypes from {len(y)} training examples")
        result.best_state = {f"head.{k}": v.detach().clone() for k, v in head.state_dict().items()}
        return result
