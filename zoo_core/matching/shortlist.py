"""Shortlisting models for a dataset, with the reasons for each (``zoo models suggest``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.catalog import ModelEntry
    from zoo_core.plugins import Zoo

from zoo_core.matching.data_summary import default_budget, summarize_data
from zoo_core.matching.selection import (
    BROAD_IMAGE_PRETRAINING,
    DEFAULT_TOP,
    PER_ARCH_FAMILY,
    PERMISSIVE_LICENSES,
    SHORT_TEXT_WORDS,
    STANDARD_INPUT,
    _languages,
    _normalize_pretraining,
    model_numbers,
    parse_licenses,
    parse_params_option,
    select_models,
)

# --- zoo models suggest ------------------------------------------------------------------------


@dataclass
class Suggestion:
    """One shortlisted model, why it was chosen, and the data it was chosen for."""

    entry: ModelEntry
    reasons: list[str]
    data: dict[str, Any]
    available: bool
    method: str
    method_reason: str

    def as_dict(self) -> dict[str, Any]:
        numbers = model_numbers(self.entry)
        return {
            "id": self.entry.id,
            "alias": self.entry.short_name,
            "params_m": self.entry.params_m,
            "license": self.entry.license,
            "pretraining": self.entry.pretraining,
            "top1": numbers["top1"],
            "gmacs": numbers["gmacs"],
            "available": self.available,
            "method": self.method,
            "method_reason": self.method_reason,
            "reasons": list(self.reasons),
            "data": self.data,
        }


@dataclass
class Shortlist:
    """The models :func:`shortlist` chose, best first, and how it cut them."""

    data: dict[str, Any]
    task: str
    budget_params_m: float | None
    budget_rule: str
    licenses: list[str]
    matching: int  # models for the task and modality (and licences)
    within_budget: int
    offline: bool
    suggestions: list[Suggestion] = field(default_factory=list)
    only_available: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "task": self.task,
            "budget_params_m": self.budget_params_m,
            "budget_rule": self.budget_rule,
            "licenses": list(self.licenses),
            "matching": self.matching,
            "within_budget": self.within_budget,
            "offline": self.offline,
            "only_available": self.only_available,
            "rule": self.rule(),
            "shortlist": [s.as_dict() for s in self.suggestions],
        }

    def rule(self) -> str:
        """How the shortlist was cut and ranked, in one line."""
        budget = (
            f"at most {self.budget_params_m:g}M parameters ({self.budget_rule})"
            if self.budget_params_m is not None
            else f"any size ({self.budget_rule})"
        )
        order = ["weights on this machine"] if self.offline and not self.only_available else []
        if self.data.get("modality") == "image":
            order += [
                "pre-training (broad photo data such as ImageNet-21k, then ImageNet-1k)",
                f"input size (at most {max(STANDARD_INPUT, *(self.data.get('image_size') or [0]))} px first)",
                "ImageNet top-1",
            ]
        elif self.data.get("median_words", 0) <= SHORT_TEXT_WORDS:
            order += ["language", "pre-training (sentence-embedding models for short texts)"]
        else:
            order += ["language", "pre-training (encoders that read the whole text)"]
        parts = [budget]
        if self.licenses:
            parts.append(f"licence {' or '.join(self.licenses)}")
        if self.only_available:
            parts.append("only models whose weights are on this machine")
        parts.append("ranked by " + ", then ".join([*order, "size"]))
        if self.data.get("modality") == "image":
            parts.append(f"one weight per architecture, at most {PER_ARCH_FAMILY} architectures per family")
        return "; ".join(parts)

    def note(self) -> str:
        """What ``zoo recommend`` says when it scores this shortlist."""
        n = len(self.suggestions)
        return (
            f"scored the {n} model{'s' if n != 1 else ''} `zoo models suggest` shortlisted from {self.matching} "
            f"matching the task: {self.rule()}; give --candidates to score others"
        )


def _is_sentence_encoder(entry: ModelEntry) -> bool:
    text = " ".join(
        [entry.id, entry.pretraining or "", str((entry.metric or {}).get("name", "")), entry.description]
    ).lower()
    return any(word in text for word in ("sentence-transformers/", "sentence pairs", "sentence-embedding", "mteb")) or (
        "contrastive" in (entry.pretraining or "").lower()
    )


def _image_fit(entry: ModelEntry) -> tuple[int, str]:
    pre = entry.pretraining
    if not pre:
        return 0, "pre-training data not in the catalog"
    norm = _normalize_pretraining(pre)
    if any(word in norm for word in BROAD_IMAGE_PRETRAINING):
        return 2, (
            f"pre-trained on {pre}: photos, and broader than ImageNet-1k alone (broader pre-training transfers further)"
        )
    if "in1k" in norm:
        return 1, f"pre-trained on {pre}: ImageNet photos, the usual start for photos"
    return 0, f"pre-trained on {pre}"


def _input_fit(entry: ModelEntry, summary: dict[str, Any]) -> tuple[int, str | None]:
    """1 when the model's input side is at most ``max(224, the data's image side)``, else 0."""
    size = (entry.input or {}).get("size")
    if not size or len(size) != 3:
        return 0, None
    side = max(int(size[1]), int(size[2]))
    data_size = summary.get("image_size")
    if not data_size:
        return (1 if side <= STANDARD_INPUT else 0), f"trained on {size[1]}x{size[2]} px inputs"
    data_side = max(data_size)
    if side <= max(STANDARD_INPUT, data_side):
        return (
            1,
            f"trained on {size[1]}x{size[2]} px inputs; the data's images are about {data_size[0]}x{data_size[1]} px",
        )
    return 0, (
        f"trained on {size[1]}x{size[2]} px inputs, larger than the data's images (about {data_size[0]}x"
        f"{data_size[1]} px), which would be upscaled: slower to run"
    )


def _arch_family(arch: str) -> str:
    """``caformer_b36`` -> ``caformer``, ``tf_efficientnet_lite2`` -> ``efficientnet``, ``resnet50`` -> ``resnet``."""
    name = arch.lower().removeprefix("tf_")
    return re.sub(r"\d+$", "", name.split("_")[0]) or name


def _varied(ranked: list[ModelEntry]) -> list[ModelEntry]:
    """Image models in ``ranked`` order, but one weight per architecture and at most
    :data:`PER_ARCH_FAMILY` architectures per family: a shortlist of five sizes of one design
    tells ``zoo recommend`` little."""
    kept: list[ModelEntry] = []
    archs: set[str] = set()
    families: dict[str, int] = {}
    for entry in ranked:
        family = _arch_family(entry.arch)
        if entry.arch in archs or families.get(family, 0) >= PER_ARCH_FAMILY:
            continue
        archs.add(entry.arch)
        families[family] = families.get(family, 0) + 1
        kept.append(entry)
    return kept


def _text_fit(entry: ModelEntry, summary: dict[str, Any]) -> tuple[int, str]:
    words = summary.get("median_words", 0.0)
    max_len = (entry.text or {}).get("max_seq_len")
    pre = f" ({entry.pretraining})" if entry.pretraining else ""
    if words <= SHORT_TEXT_WORDS:
        if _is_sentence_encoder(entry):
            return 2, (
                f"sentence-embedding model{pre}: trained so that its pooled embedding of a short text is "
                f"usable frozen, and the texts are short (median {words:g} words)"
            )
        return 1, f"general text encoder{pre}, not trained for sentence embeddings"
    # About 1.3 word pieces per English word.
    if max_len and max_len >= 1.3 * words:
        return 2, f"reads up to {max_len} tokens: enough for the median text ({words:g} words){pre}"
    if max_len:
        return 1, f"reads only {max_len} tokens: the median text ({words:g} words) is cut{pre}"
    return 0, f"maximum sequence length not in the catalog{pre}"


def _language_fit(entry: ModelEntry, summary: dict[str, Any]) -> tuple[int, str | None]:
    langs = _languages(entry)
    if not langs:
        return 0, None
    multilingual = "multilingual" in langs
    if summary.get("english", True):
        if "en" in langs:
            return 2, "an English model, and the texts read as English"
        if multilingual:
            return 1, "a multilingual model: it reads English, but English-only models usually do better on it"
        return 0, f"a model for {', '.join(langs)}, and the texts read as English"
    if multilingual:
        return 2, "a multilingual model, and the texts are not (only) English"
    return 0, f"a model for {', '.join(langs)}, and the texts are not (only) English"


def shortlist(
    zoo: Zoo,
    summary: dict[str, Any],
    *,
    task: str | None = None,
    budget_params: float | str | None = None,
    licenses: str | Iterable[str] | None = None,
    top: int | None = DEFAULT_TOP,
    offline: bool | None = None,
    only_available: bool = False,
    require: Callable[[ModelEntry], bool] | None = None,
) -> Shortlist:
    """Shortlist catalog models for the data ``summary`` describes (:func:`summarize_data`), best
    first, as the module docstring says. ``only_available``: leave out models whose weights are not
    on this machine; ``require``: a further condition (e.g. a source classifier, for LEEP)."""
    from zoo_core.advice import suggest_method
    from zoo_core.paths import offline_mode
    from zoo_core.weights import is_available

    modality = summary["modality"]
    task = task or f"{modality}-classification"
    task_spec = zoo.get("tasks", task)
    if task_spec.modality not in (modality, "any"):
        raise ZooError(f"task '{task}' is for {task_spec.modality} data, but {summary['data']} holds {modality} data")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ZooError(f"--top must be a whole number of at least 1, e.g. --top 5; got {top!r}")
    wanted = parse_licenses(licenses)
    offline = offline_mode() if offline is None else offline
    budget = parse_params_option(budget_params, "--budget-params")
    rule = "as --budget-params asks"
    if budget is None and budget_params in (None, ""):
        budget, rule = default_budget(int(summary["examples"]))

    matching = select_models(zoo.catalog, task=task, modality=modality, licenses=wanted or None)
    if require is not None:
        matching = [e for e in matching if require(e)]
    # A model of unknown size may pass a default budget (ranked after the known), never one asked for.
    unknown_ok = budget_params in (None, "")
    fitting = [
        e for e in matching if budget is None or (e.params_m <= budget if e.params_m is not None else unknown_ok)
    ]
    sources = zoo.weight_sources
    # Looking for weights on disk is the slow part: for every model only where it ranks or filters.
    here = {e.id: is_available(e, sources) for e in fitting} if (offline or only_available) else {}
    if only_available:
        fitting = [e for e in fitting if here[e.id]]

    def rank(entry: ModelEntry) -> tuple[Any, ...]:
        numbers = model_numbers(entry)
        kind_fit = _image_fit(entry)[0] if modality == "image" else _text_fit(entry, summary)[0]
        language = _language_fit(entry, summary)[0] if modality == "text" else 0
        size_fit = _input_fit(entry, summary)[0] if modality == "image" else 0
        return (
            bool(offline and not here.get(entry.id)),
            -language,
            -kind_fit,
            -size_fit,
            numbers["top1"] is None,
            -(numbers["top1"] or 0.0),
            entry.params_m is None,
            entry.params_m or 0.0,
            entry.id,
        )

    ranked = sorted(fitting, key=rank)
    if modality == "image":
        ranked = _varied(ranked)
    ranked = ranked[:top] if top else ranked
    for entry in ranked:
        if entry.id not in here:
            here[entry.id] = is_available(entry, sources)
    per_class = float(summary["min_per_class"])
    suggestions = []
    for entry in ranked:
        reasons = _reasons(entry, summary, task, budget, rule, wanted, offline, bool(here.get(entry.id)))
        method, method_reason = suggest_method(per_class, entry.params_m, modality)
        suggestions.append(Suggestion(entry, reasons, summary, bool(here.get(entry.id)), method, method_reason))
    return Shortlist(
        data=summary,
        task=task,
        budget_params_m=budget,
        budget_rule=rule,
        licenses=list(wanted),
        matching=len(matching),
        within_budget=len(fitting),
        offline=bool(offline),
        suggestions=suggestions,
        only_available=only_available,
    )


def _reasons(
    entry: ModelEntry,
    summary: dict[str, Any],
    task: str,
    budget: float | None,
    rule: str,
    licenses: Sequence[str],
    offline: bool,
    available: bool,
) -> list[str]:
    modality = summary["modality"]
    article = "an" if modality[:1] in "aeiou" else "a"
    reasons = [f"suits {task}: {article} {modality} model, for {modality} data"]
    if entry.params_m is None:
        reasons.append("parameter count not in the catalog, so the size budget could not be checked")
    elif budget is not None:
        reasons.append(f"{entry.params_m:g}M parameters, within the {budget:g}M budget")
    else:
        reasons.append(f"{entry.params_m:g}M parameters (no size budget: {rule})")
    if entry.license and licenses:
        reasons.append(f"licence {entry.license}, one of those asked for")
    elif entry.license:
        permissive = " (permissive)" if entry.license.lower() in PERMISSIVE_LICENSES else ": check its terms"
        reasons.append(f"licence {entry.license}{permissive}")
    else:
        reasons.append("licence not in the catalog: check it before use")
    if modality == "image":
        reasons.append(_image_fit(entry)[1])
        size = _input_fit(entry, summary)[1]
        if size:
            reasons.append(size)
        top1 = model_numbers(entry)["top1"]
        if top1 is not None:
            reasons.append(
                f"ImageNet-1k top-1 {top1:g}% (better ImageNet models tend to transfer better: Kornblith et al., 2019)"
            )
    else:
        language = _language_fit(entry, summary)[1]
        if language:
            reasons.append(language)
        reasons.append(_text_fit(entry, summary)[1])
    if available:
        reasons.append("weights already on this machine" + (" (offline: ranked first)" if offline else ""))
    else:
        reasons.append(
            "weights not on this machine: the first use downloads them"
            + (" (offline: ranked after local ones)" if offline else "")
        )
    return reasons


def suggest_models(
    zoo: Zoo,
    data: str | Path,
    *,
    task: str | None = None,
    budget_params: float | str | None = None,
    licenses: str | Iterable[str] | None = None,
    top: int | None = DEFAULT_TOP,
    offline: bool | None = None,
    **data_options: Any,
) -> Shortlist:
    """Read ``data`` (:func:`summarize_data`) and shortlist models for it (:func:`shortlist`)."""
    summary = summarize_data(data, **data_options)
    task = task or summary.get("task")  # detection and segmentation layouts say their task
    return shortlist(zoo, summary, task=task, budget_params=budget_params, licenses=licenses, top=top, offline=offline)
