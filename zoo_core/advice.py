"""Which adaptation method to use, and why: rules of thumb from the transfer-learning literature,
backed by the numbers measured in BENCHMARKS.md (torch-free, so ``zoo methods suggest`` is fast)."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo


@dataclass(frozen=True)
class Citation:
    """One line of evidence: its text, and the BENCHMARKS.md section and table rows it quotes.

    ``rows`` pairs each number in ``text`` with the words its table row holds (method, data set);
    ``tests/test_advice.py`` checks that under ``section`` a row with those words holds that number.
    """

    text: str
    section: str
    rows: tuple[tuple[str, str], ...]  # (words the row holds, the number cited)


# Measured here (BENCHMARKS.md); tests/test_advice.py checks each number against the row it names.
CITATIONS = {
    "image": [
        Citation(
            "flowers, EfficientNet-Lite0, ~550 examples/class: linear_probe 0.7529, lora 0.7703 test accuracy",
            "Transfer on flowers",
            (("linear_probe", "0.7529"), ("lora", "0.7703")),
        ),
        Citation(
            "flowers: the same architecture with random weights reached 0.4524 (linear probe): "
            "pre-training is the gain",
            "Transfer on flowers",
            (("linear_probe random", "0.4524"),),
        ),
        Citation(
            "5-shot flowers, 10 draws: protonet 0.4806, fomaml 0.4881, linear_probe 0.4450 (protonet and "
            "fomaml within noise)",
            "Few-shot images: 5-shot flowers",
            (("protonet", "0.4806"), ("fomaml", "0.4881"), ("linear_probe", "0.4450")),
        ),
    ],
    "text": [
        Citation(
            "yelp, MiniLM-L6, 400 examples/class: linear_probe 0.8750, lora 0.8850, full 0.9150 test accuracy",
            "Transfer on text",
            (("yelp linear_probe", "0.8750"), ("yelp lora", "0.8850"), ("yelp full", "0.9150")),
        ),
        Citation(
            "TREC coarse, MiniLM-L6, ~900 examples/class: linear_probe 0.8980, lora 0.9660, full 0.9620",
            "Transfer on text",
            (("trec linear_probe", "0.8980"), ("trec lora", "0.9660"), ("trec full", "0.9620")),
        ),
        Citation(
            "8-shot yelp, 10 draws: contrastive 0.7885 vs the setfit package 0.7595, protonet 0.7315, "
            "linear_probe 0.7310",
            "Few-shot text vs the setfit package",
            (
                ("yelp contrastive", "0.7885"),
                ("yelp setfit", "0.7595"),
                ("yelp protonet", "0.7315"),
                ("yelp linear_probe", "0.7310"),
            ),
        ),
        Citation(
            "8-shot TREC, 10 draws: contrastive 0.8242 vs the setfit package 0.7722, linear_probe 0.5938, "
            "protonet 0.5492",
            "Few-shot text vs the setfit package",
            (
                ("trec contrastive", "0.8242"),
                ("trec setfit", "0.7722"),
                ("trec linear_probe", "0.5938"),
                ("trec protonet", "0.5492"),
            ),
        ),
    ],
}
EVIDENCE = {modality: [c.text for c in citations] for modality, citations in CITATIONS.items()}


@dataclass
class Advice:
    method: str
    reason: str
    alternatives: list[str]
    evidence: list[str]


def suggest_method(per_class: float, params_m: float | None, modality: str) -> tuple[str, str]:
    """A method for this many labelled examples per class and this model size, with the reason."""
    size = params_m or 0.0
    if per_class < 10 and modality == "text":
        return "contrastive", (
            f"{per_class:.0f} examples per class: too few for a classifier alone, but they make "
            "many pairs; contrastive (SetFit-style) tuning learns from every pair and took 8-shot "
            "text furthest here (report few-shot results over seeds: --repeat 10)"
        )
    if per_class < 10:
        return "protonet", (
            f"{per_class:.0f} examples per class: too few to move backbone weights safely; class "
            "prototypes on frozen features need no training and cannot overfit "
            "(report few-shot results over seeds: --repeat 10)"
        )
    if per_class < 100:
        return "linear_probe", (
            f"{per_class:.0f} examples per class: a frozen backbone with a validated L2 head "
            "is fast and hard to overfit; try lora if it plateaus"
        )
    if per_class >= 1000 and size <= 30:
        return (
            "full",
            f"{per_class:.0f} examples per class and a {size:.0f}M-parameter model: full fine-tuning pays off",
        )
    return "lora", (
        f"{per_class:.0f} examples per class: enough to adapt the backbone; LoRA trains a small "
        "fraction of the weights, so it stays cheap and keeps the adapter small"
    )


_ALTERNATIVES = {
    "protonet": ["fomaml (meta-learned adapter, about as good here)", "linear_probe"],
    "contrastive": ["protonet (no training, seconds)", "linear_probe"],
    "linear_probe": ["lora", "protonet"],
    "lora": ["linear_probe (cheaper)", "full (more data, more compute)", "bottleneck", "ia3 (smallest adapter)"],
    "full": ["lora (smaller adapter)", "bitfit"],
}


def advise(per_class: float, params_m: float | None, modality: str) -> Advice:
    method, reason = suggest_method(per_class, params_m, modality)
    return Advice(method, reason, _ALTERNATIVES[method], EVIDENCE.get(modality, []))


def smallest_offline_model(zoo: Zoo, modality: str) -> Any:
    """The catalog's smallest model of ``modality`` whose weights are already on this machine (the
    cheapest safe start when the user names none), or None."""
    from zoo_core.weights import is_available

    candidates = [
        e for e in zoo.catalog.models if e.modality == modality and e.params_m and is_available(e, zoo.weight_sources)
    ]
    return min(candidates, key=lambda e: e.params_m or 0.0) if candidates else None


def advise_for_data(zoo: Zoo, data: str | Path, model_id: str | None = None, **data_options: Any) -> dict[str, Any]:
    """Read the training part of ``data`` (labels only, images not decoded), count examples per
    class, and advise a method for ``model_id`` (default: :func:`smallest_offline_model`)."""
    from zoo_core.data import load_labelled, split_folders

    path = Path(data)
    splits = split_folders(path) if path.is_dir() else {}
    if splits:
        path = splits["train"]
    labelled = load_labelled(path, check_images=False, **data_options)
    counts = collections.Counter(labelled.labels)
    per_class = min(counts.values())
    entry = zoo.catalog.get(model_id) if model_id else smallest_offline_model(zoo, labelled.modality)
    advice = advise(per_class, entry.params_m if entry else None, labelled.modality)
    return {
        "data": str(path),
        "modality": labelled.modality,
        "classes": len(counts),
        "examples": len(labelled),
        "min_per_class": per_class,
        "model": entry.id if entry else None,
        "model_params_m": entry.params_m if entry else None,
        "model_alias": (entry.aliases[0] if entry.aliases else entry.id) if entry else None,
        "method": advice.method,
        "reason": advice.reason,
        "alternatives": advice.alternatives,
        "evidence": advice.evidence,
    }


# ------------------------------------------------------------------------------ --method auto
#: ``--method auto`` with ``--unlabeled``: per modality, the domain adaptation method and why, from the
#: means over pairs in BENCHMARKS.md "Domain adaptation with unlabelled target data" (every
#: ``method 0.xxxx`` quoted is checked against that section by tests/test_method_auto.py).
DOMAIN_ADAPTATION_CHOICE = {
    "text": (
        "mcc",
        "unlabelled target-domain data was given: mcc was the best domain adaptation method on average over "
        "six Amazon review pairs here (mean target accuracy mcc 0.7417, coral 0.7278, self_training 0.7280, "
        "linear_probe 0.7270), though it hurt on two of the six",
    ),
    "image": (
        "mcc",
        "unlabelled target-domain data was given: on digits<->usps mcc and adabn were the best on average "
        "(mcc 0.3058, adabn 0.3089, within noise; linear_probe 0.1444); mcc runs on any backbone and about "
        "2.4x faster, adabn needs BatchNorm layers",
    ),
}

#: What ``budget`` may say: None (no limit: the measured best) or "low" (frozen backbone only).
BUDGETS = ("low",)
_FROZEN = {"protonet", "linear_probe"}  # methods that train no backbone weights


def choose_method(
    per_class: float,
    params_m: float | None,
    modality: str,
    *,
    unlabeled: bool = False,
    budget: str | None = None,
) -> tuple[str, str]:
    """The method ``--method auto`` runs, and why: :func:`suggest_method` for labelled data alone;
    with unlabelled target-domain data (``unlabeled``), the domain adaptation method measured best
    on average for the modality (:data:`DOMAIN_ADAPTATION_CHOICE`). ``budget="low"`` keeps the
    backbone frozen (protonet below 10 examples per class, else linear_probe): cheaper, and
    measured a little less accurate here."""
    if budget is not None and budget not in BUDGETS:
        from zoo_core.errors import ZooError

        raise ZooError(f"budget must be one of {', '.join(BUDGETS)} (or left out), got '{budget}'")
    if unlabeled and modality in DOMAIN_ADAPTATION_CHOICE:
        return DOMAIN_ADAPTATION_CHOICE[modality]
    method, reason = suggest_method(per_class, params_m, modality)
    if budget == "low" and method not in _FROZEN:
        frozen = "protonet" if per_class < 10 else "linear_probe"
        return frozen, (
            f"{per_class:.0f} examples per class and budget low: '{method}' would train backbone weights; "
            f"{frozen} keeps the backbone frozen (features once, then seconds; a little less accurate here)"
        )
    return method, reason
