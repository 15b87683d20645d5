"""Matching a task to models: filter and sort the catalog on its metadata (``zoo models list``), and
shortlist models for a dataset with the reasons for each (``zoo models suggest``; ``zoo recommend``
scores that shortlist when it is given no ``--candidates``).

Torch-free: listing and suggesting read only the catalog and the labels of the data (images are
not decoded; a few image headers are read for their size).

How ``zoo models suggest`` shortlists (:func:`shortlist`), in this order:

1. **Task and modality**: models whose catalog entry names the task (default: image- or
   text-classification, from the data) and whose modality is the data's; with ``--license``, only
   those licences.
2. **Size budget**: at most ``--budget-params`` parameters; without it, from the number of labelled
   examples (:func:`default_budget`): fewer than 1,000 -> 30M; fewer than 10,000 -> 100M; more ->
   no limit. Few examples cannot use a large model's capacity (a frozen probe or a light adapter
   is what they support), and small models are quicker to score, tune and serve; models whose size
   the catalog does not give are kept but ranked after those it does (left out under a budget
   given with ``--budget-params``).
3. **Ranking**, each step breaking the ties of the one before:
   a. offline (``--offline``, ``ZOO_OFFLINE`` or ``HF_HUB_OFFLINE``): weights already on this
      machine first;
   b. text: the language: English-only models for English text, multilingual ones otherwise
      (text counts as English when at most 5 % of its letters are non-ASCII);
   c. pre-training closest to the data's kind: for images (taken to be photos), ImageNet-21k/22k,
      web-scale or self-supervised photo pre-training (broader: transfers further), then
      ImageNet-1k, then anything else; for short texts (median at most 64 words), sentence-embedding
      models (contrastively trained on sentence pairs: their pooled embedding is meant to be used
      frozen), then other encoders; for longer texts, encoders whose maximum sequence covers the
      median text, then those that truncate it;
   d. images: models trained on inputs no larger than 224 px (or the data's own image size) before
      larger ones, which would upscale the data and run slower;
   e. ImageNet-1k top-1, higher first (better ImageNet models transfer better: Kornblith et al.,
      CVPR 2019), models without one after;
   f. fewer parameters first; then the id (so the order is deterministic).
4. **Variety** (images): one weight per architecture (the best ranked) and at most two
   architectures of one family (``caformer_s36``, ``caformer_m36``...), so that ``zoo recommend``
   compares different designs.

Each :class:`Suggestion` carries the reasons (strings, each true of its entry) and the data summary.
``zoo recommend`` offline shortlists only models whose weights are on this machine (it could not
load the others), and says so in its note.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.catalog import Catalog, ModelEntry
    from zoo_core.data import LabelledData
    from zoo_core.plugins import Zoo

TOP1_METRIC = "imagenet-1k top-1"
SORT_KEYS = ("top1", "params", "gmacs", "name")
DEFAULT_TOP = 5
SHORT_TEXT_WORDS = 64
STANDARD_INPUT = 224  # px: image models trained at up to this (or the data's own size) rank first
PER_ARCH_FAMILY = 2  # image shortlists: at most this many architectures of one family (caformer_*)
NON_ENGLISH_SHARE = 0.05
PERMISSIVE_LICENSES = frozenset({"apache-2.0", "mit", "bsd-3-clause", "bsd-2-clause", "bsd", "cc-by-4.0", "cc0-1.0"})
# Examples -> parameter budget in millions (None: no limit); see default_budget.
BUDGET_TIERS: tuple[tuple[int, float | None], ...] = ((1_000, 30.0), (10_000, 100.0))
# Pre-training data broader than ImageNet-1k, as the catalogs spell it (after _normalize_pretraining).
BROAD_IMAGE_PRETRAINING = (
    "in21k",
    "in22k",
    "in12k",
    "laion",
    "lvd",
    "jft",
    "clip",
    "openai",
    "datacomp",
    "dfn-",
    "webli",
    "merged",
    "m38m",
    "instagram",
    "ig1b",
    "yfcc",
    "cc-12m",
    "self-supervised",
)


# --- catalog numbers ---------------------------------------------------------------------------


def model_numbers(entry: ModelEntry) -> dict[str, float | None]:
    """The benchmark numbers of ``entry``: ``top1`` (its source metric, when that is ImageNet-1k
    top-1), ``top5``, ``gmacs`` and ``infer_samples_per_sec`` (None where the catalog has none).
    The one place that reads them, for filters, sorts, tables and JSON alike."""
    metric = entry.metric or {}
    top1 = metric.get("value") if metric.get("name") == TOP1_METRIC else None
    return {
        "top1": _as_float(top1),
        "top5": _as_float(entry.top5),
        "gmacs": _as_float(entry.gmacs),
        "infer_samples_per_sec": _as_float(entry.infer_samples_per_sec),
    }


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


# --- parsing the options -----------------------------------------------------------------------


def _option_number(value: Any, option: str, what: str, example: str, *, maximum: float | None = None) -> float | None:
    """``value`` (a number, or text such as ``80`` or ``80%``) as a float, or a ZooError naming ``option``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        number = math.nan
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(str(value).strip().rstrip("%").strip())
        except ValueError:
            number = math.nan
    if not math.isfinite(number) or number < 0 or (maximum is not None and number > maximum):
        limit = f" from 0 to {maximum:g}" if maximum is not None else " of at least 0"
        raise ZooError(f"{option} must be {what}{limit}, e.g. {option} {example}; got {value!r}")
    return number


def parse_params_option(value: Any, option: str = "--max-params") -> float | None:
    """A parameter count (``10M``, ``1.5B``, ``500k``; a bare number is millions when not text) in
    millions, or a ZooError naming ``option``."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ZooError(f"{option} must be a parameter count of at least 0, e.g. {option} 10M; got {value!r}")
        return float(value)
    from zoo_core.catalog import parse_params

    try:
        return parse_params(str(value))
    except ZooError:
        raise ZooError(
            f"{option}: cannot read parameter count {str(value)!r}: use a number with an optional K, M or B, "
            f"e.g. {option} 10M"
        ) from None


def parse_licenses(value: str | Iterable[str] | None, option: str = "--license") -> tuple[str, ...]:
    """Licence ids, lower-cased: ``"apache-2.0,mit"`` or a list of them; empty tuple for none."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    licenses = tuple(dict.fromkeys(p.strip().lower() for p in parts if p.strip()))
    if not licenses:
        raise ZooError(f"{option} needs at least one licence id, e.g. {option} apache-2.0,mit")
    return licenses


def _parse_sort(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    key = str(value).strip().lower()
    if key not in SORT_KEYS:
        raise ZooError(f"--sort must be one of {', '.join(SORT_KEYS)}, e.g. --sort top1; got {value!r}")
    return key


def _parse_limit(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) or isinstance(value, bool) else value
    except ValueError:
        number = 0
    if number < 1:
        raise ZooError(f"--limit must be a whole number of at least 1, e.g. --limit 10; got {value!r}")
    return number


def _normalize_pretraining(text: str) -> str:
    """Lower-case, with ImageNet sizes in timm's short form: ``imagenet-21k`` -> ``in21k``."""
    return re.sub(r"imagenet[-_ ]?(\d+k)", r"in\1", text.lower())


def _pretraining_matches(query: str, entry: ModelEntry) -> bool:
    if not entry.pretraining:
        return False
    text = entry.pretraining.lower()
    q = query.strip().lower()
    return q in text or _normalize_pretraining(q) in _normalize_pretraining(text)


def _languages(entry: ModelEntry) -> list[str]:
    return [str(lang).lower() for lang in (entry.text or {}).get("languages") or []]


def _language_matches(language: str, entry: ModelEntry) -> bool:
    langs = _languages(entry)
    language = language.strip().lower()
    return language in langs or (language != "multilingual" and "multilingual" in langs)


# --- zoo models list ---------------------------------------------------------------------------


def select_models(
    catalog: Catalog,
    *,
    task: str | None = None,
    modality: str | None = None,
    family: str | None = None,
    max_params_m: float | str | None = None,
    query: str | None = None,
    licenses: str | Iterable[str] | None = None,
    pretraining: str | None = None,
    min_top1: float | str | None = None,
    max_gmacs: float | str | None = None,
    language: str | None = None,
    sort: str | None = None,
    limit: int | str | None = None,
    available: Callable[[ModelEntry], bool] | None = None,
) -> list[ModelEntry]:
    """The catalog models matching every given criterion, sorted and cut to ``limit``.

    ``max_params_m``: millions, or text such as ``10M``; ``licenses``: exact ids, case-insensitive
    (a comma-separated string or a list); ``pretraining``: a substring of the pre-training data
    (``imagenet-21k`` and ``in21k`` are the same); ``min_top1``: ImageNet-1k top-1 in percent;
    ``max_gmacs``: GMACs per image; ``language``: a language of a text model (multilingual models
    match every language); ``query``: a glob or substring over id, aliases and architecture.
    Models without the value a numeric filter reads are left out. ``sort``: ``top1`` (highest
    first), ``params`` or ``gmacs`` (smallest first), or ``name`` (the id); models without the
    sorted value come last; without it the catalog's order is kept. ``available`` (slow: it looks
    for weights on disk) is asked last. Bad values raise a ZooError naming the CLI option.
    """
    max_params = parse_params_option(max_params_m)
    wanted_licenses = parse_licenses(licenses)
    top1_floor = _option_number(min_top1, "--min-top1", "an ImageNet-1k top-1 accuracy in percent", "80", maximum=100)
    gmacs_ceiling = _option_number(max_gmacs, "--max-gmacs", "a number of GMACs per image", "5")
    sort_key = _parse_sort(sort)
    count = _parse_limit(limit)
    if pretraining is not None and not pretraining.strip():
        raise ZooError("--pretraining needs some text to look for, e.g. --pretraining in21k")
    if language is not None and not language.strip():
        raise ZooError("--language needs a language code, e.g. --language en")

    entries = catalog.filter(task=task, modality=modality, family=family, max_params_m=max_params, query=query)
    selected = []
    for entry in entries:
        if wanted_licenses and (entry.license or "").lower() not in wanted_licenses:
            continue
        if pretraining and not _pretraining_matches(pretraining, entry):
            continue
        if language and not _language_matches(language, entry):
            continue
        if top1_floor is not None or gmacs_ceiling is not None:
            numbers = model_numbers(entry)
            if top1_floor is not None and (numbers["top1"] is None or numbers["top1"] < top1_floor):
                continue
            if gmacs_ceiling is not None and (numbers["gmacs"] is None or numbers["gmacs"] > gmacs_ceiling):
                continue
        selected.append(entry)
    if sort_key:
        selected = sort_models(selected, sort_key)
    if available is not None:
        if count is None:
            selected = [e for e in selected if available(e)]
        else:  # ask only until enough are found
            kept: list[ModelEntry] = []
            for entry in selected:
                if len(kept) >= count:
                    break
                if available(entry):
                    kept.append(entry)
            selected = kept
    return selected[:count] if count is not None else selected


def sort_models(entries: Sequence[ModelEntry], key: str) -> list[ModelEntry]:
    """``entries`` sorted by ``top1`` (highest first), ``params``/``gmacs`` (smallest first) or
    ``name``; those without the value last; ties by id."""
    key = _parse_sort(key) or "name"
    if key == "name":
        return sorted(entries, key=lambda e: (e.id.lower(), e.id))

    def value(entry: ModelEntry) -> float | None:
        if key == "params":
            return _as_float(entry.params_m)
        return model_numbers(entry)[key]

    def order(entry: ModelEntry) -> tuple[bool, float, str]:
        number = value(entry)
        if number is None:
            return (True, 0.0, entry.id)
        return (False, -number if key == "top1" else number, entry.id)

    return sorted(entries, key=order)


def list_row(entry: ModelEntry) -> dict[str, Any]:
    """Every field of ``entry`` for ``--json``, with its benchmark numbers (:func:`model_numbers`)."""
    return {**entry.as_dict(), **model_numbers(entry)}


# --- the data ----------------------------------------------------------------------------------


def summarize_data(data: str | Path, **data_options: Any) -> dict[str, Any]:
    """Read the training part of ``data`` (labels only: images are not decoded) and describe it
    (:func:`summarize_labelled`). ``data_options`` go to :func:`zoo_core.data.load_labelled`."""
    from zoo_core.data import load_labelled, split_folders

    path = Path(data)
    splits = split_folders(path) if path.is_dir() else {}
    if splits:
        path = splits["train"]
    labelled = load_labelled(path, check_images=False, **data_options)
    return summarize_labelled(labelled, path)


def summarize_labelled(labelled: LabelledData, path: str | Path | None = None) -> dict[str, Any]:
    """Modality, classes, examples and examples per class; for text the median length in words and
    whether it reads as English; for images the median size of the first few (headers only)."""
    counts = labelled.counts()
    summary: dict[str, Any] = {
        "data": str(path if path is not None else labelled.source),
        "modality": labelled.modality,
        "classes": len(counts),
        "examples": len(labelled),
        "min_per_class": min(counts.values()) if counts else 0,
    }
    if labelled.modality == "text":
        texts = [str(t) for t in labelled.items]
        words = statistics.median(len(t.split()) for t in texts) if texts else 0
        letters = [ch for t in texts for ch in t if ch.isalpha()]
        non_ascii = sum(1 for ch in letters if not ch.isascii()) / len(letters) if letters else 0.0
        summary["median_words"] = float(words)
        summary["non_ascii_letters"] = round(non_ascii, 4)
        summary["english"] = non_ascii <= NON_ENGLISH_SHARE
        summary["kind"] = f"{'short' if words <= SHORT_TEXT_WORDS else 'long'} texts (median {words:g} words), " + (
            "English (ASCII letters)" if summary["english"] else f"not English ({non_ascii:.0%} non-ASCII letters)"
        )
    else:
        size = _median_image_size(labelled.items[:: max(1, len(labelled.items) // 16)][:16])
        summary["image_size"] = size
        summary["kind"] = "images, taken to be photos" + (f" (about {size[0]}x{size[1]} px)" if size else "")
    return summary


def _median_image_size(paths: Sequence[Any]) -> list[int] | None:
    """Median width and height of ``paths`` from their headers; None when none can be read."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return None
    sizes = []
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes.append(image.size)
        except Exception:  # a broken image is the loaders' business, not the summary's
            continue
    if not sizes:
        return None
    return [int(statistics.median(s[0] for s in sizes)), int(statistics.median(s[1] for s in sizes))]


def default_budget(examples: int) -> tuple[float | None, str]:
    """The parameter budget (millions; None: no limit) for this many labelled examples, and the
    rule in words: fewer than 1,000 -> 30M, fewer than 10,000 -> 100M, more -> no limit."""
    for below, budget in BUDGET_TIERS:
        if examples < below:
            return budget, f"default for {examples:,} examples: fewer than {below:,}"
    return None, f"default for {examples:,} examples: {BUDGET_TIERS[-1][0]:,} or more"


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
    return shortlist(zoo, summary, task=task, budget_params=budget_params, licenses=licenses, top=top, offline=offline)
