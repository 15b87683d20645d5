"""Filtering and sorting the catalog on its metadata (``zoo models list``), and the option parsers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from zoo_core.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.catalog import Catalog, ModelEntry

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
