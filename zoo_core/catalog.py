"""The model catalog: load and validate registry.json (and plugin or user catalogs), search it.

Every catalog file is checked against ``schemas/catalog.schema.json``, with one exception: the
catalogs the project ships and validates in its own tests, i.e. the built-in ``registry.json`` and a
plugin's catalog that names its generator (top-level ``generated_by``, e.g. the timm plugin's ~1,800
entries written by ``scripts/build_timm_catalog.py``), are checked on load only against the structure
that the loader and the listings rely on (:func:`check_structure`: every key known, every value of
the type, enum and range its readers expect). That costs milliseconds where the schema costs seconds
over ~2,000 entries (and the jsonschema import) on every start. User catalogs (``--catalog``,
``ZOO_CATALOG``) are always checked in full, whatever they declare. Errors name the file and the
problem in one line (with JSON line and column for syntax errors, the JSON path for schema and
structure errors).
Whatever a file holds (any bytes, encoding or structure), reading it either loads it exactly or
raises :class:`CatalogError`. A weights source names its key converter by the name the model's family
registers (``BackboneSpec.converters``), never by import string: :func:`check_converter`.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo_core.catalog_structure import SCHEMA_PATH, _one_line, check_structure
from zoo_core.errors import CatalogError, NotFoundError, ZooError

BUILTIN_CATALOG = Path(__file__).with_name("registry.json")
#: Origins (the second item of ``load_catalog``'s pairs) of catalogs the user names: always fully checked.
USER_ORIGINS = frozenset({"ZOO_CATALOG", "--catalog", "user catalog"})


@dataclass(frozen=True)
class ModelEntry:
    """One pre-trained model of the catalog (see the schema for each field's meaning)."""

    id: str
    aliases: tuple[str, ...]
    family: str
    arch: str
    modality: str
    tasks: tuple[str, ...]
    params_m: float | None
    num_features: int | None
    weights: tuple[dict[str, Any], ...]
    pretraining: str | None
    license: str | None
    paper: str | None
    metric: dict[str, Any] | None
    status: str
    source: str
    description: str = ""
    input: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    source_head: dict[str, Any] | None = None
    top5: float | None = None
    gmacs: float | None = None
    infer_samples_per_sec: float | None = None
    catalog_file: str = field(default="", compare=False)

    @property
    def short_name(self) -> str:
        return self.aliases[0] if self.aliases else self.id

    def as_dict(self) -> dict[str, Any]:
        """Every field, as plain JSON-like data (a deep copy: the caller may change it)."""
        data = dict(self.__dict__)  # the fields, in order (a plain dataclass: no __slots__)
        data["aliases"] = list(self.aliases)
        data["tasks"] = list(self.tasks)
        data["weights"] = [_copied(w) for w in self.weights]
        for name in _NESTED_FIELDS:
            if data[name] is not None:
                data[name] = _copied(data[name])
        return data


_NESTED_FIELDS = ("input", "text", "source_head", "metric")  # the other fields hold scalars or tuples


def _copied(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, tuples as lists), as ``dataclasses.asdict`` would
    make, at a fraction of its cost over ~2,000 entries."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copied(v) for v in value]
    return value


@dataclass
class Catalog:
    """All models and tasks from every catalog file, with lookups by id or alias."""

    models: list[ModelEntry]
    tasks: list[dict[str, Any]]
    files: list[str]
    #: Lower-cased ids that a generated catalog left to a curated entry -> the origin of that catalog
    #: (the plugin's name), from its ``left_to_curated`` list.
    left_to_curated: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name: dict[str, ModelEntry] = {}
        for entry in self.models:
            self._by_name[entry.id] = entry
            self._by_name[entry.id.lower()] = entry
            for alias in entry.aliases:
                self._by_name[alias] = entry

    def get(self, name: str) -> ModelEntry:
        """Find a model by Hub id (case-insensitive) or alias."""
        entry = self._by_name.get(name) or self._by_name.get(name.lower())
        if entry is None:
            names = [e.id for e in self.models] + [a for e in self.models for a in e.aliases]
            raise NotFoundError("model", name, names, "Run 'zoo models list' to see the catalog.")
        return entry

    def generated_alternative(self, entry: ModelEntry) -> str | None:
        """The origin (plugin) of a generated catalog that also lists ``entry``'s weights but leaves
        them to ``entry``, a curated entry; None when no generated catalog does."""
        return self.left_to_curated.get(entry.id.lower())

    def filter(
        self,
        *,
        task: str | None = None,
        modality: str | None = None,
        family: str | None = None,
        max_params_m: float | None = None,
        query: str | None = None,
        available: Callable[[ModelEntry], bool] | None = None,
    ) -> list[ModelEntry]:
        """Models matching every given filter. ``query`` is a glob or substring over id, aliases, arch."""
        result = []
        for entry in self.models:
            if task and task not in entry.tasks:
                continue
            if modality and entry.modality != modality:
                continue
            if family and entry.family != family:
                continue
            if max_params_m is not None and (entry.params_m is None or entry.params_m > max_params_m):
                continue
            if query and not _matches(query, entry):
                continue
            if available is not None and not available(entry):
                continue
            result.append(entry)
        return result


def _matches(query: str, entry: ModelEntry) -> bool:
    haystack = [entry.id, entry.arch, entry.family, *entry.aliases]
    query = query.lower()
    if any(ch in query for ch in "*?["):
        return any(fnmatch.fnmatch(text.lower(), query) for text in haystack)
    return any(query in text.lower() for text in haystack)


_PARAM_UNITS = {"": 1e-6, "k": 1e-3, "m": 1.0, "b": 1e3, "g": 1e3}


def parse_params(text: str | float | int) -> float:
    """Parse a parameter count such as ``10M``, ``1.5B``, ``500k`` or ``25000000`` into millions."""
    if isinstance(text, (int, float)):
        return float(text) * 1e-6
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMbBgG]?)\s*", text)
    if not match:
        raise ZooError(f"cannot read parameter count '{text}': use a number with an optional K, M or B, e.g. 10M")
    return float(match.group(1)) * _PARAM_UNITS[match.group(2).lower()]


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _schema_error_message(error) -> str:
    location = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "top level"
    message = error.message
    if len(message) > 200:
        message = message[:200] + "..."
    return f"at {location.lstrip('.')}: {message}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (write a finite number or null)")


def _converter_message(error) -> str | None:
    """A clearer word than "does not match" for an import string where a converter name belongs."""
    if error.validator != "pattern" or not error.absolute_path or error.absolute_path[-1] != "converter":
        return None
    return (
        f"converter {error.instance!r} is not a converter name: name one that the model's family registers "
        "(e.g. 'lukemelas_efficientnet_lite'); a catalog never names code to import"
    )


def read_catalog_file(path: str | Path, *, shipped: bool = False) -> dict[str, Any]:
    """Read and validate one catalog file; raise :class:`CatalogError` naming the file on any problem.

    ``shipped``: the file comes with the installed packages, never from the user. Then the built-in
    registry.json, or a file that names its generator (``generated_by``), gets :func:`check_structure`
    instead of the full schema: the project's tests validate those against the schema.
    """
    path = Path(path)
    data = _read_json(path)
    if shipped and (_is_builtin(path) or (isinstance(data, dict) and isinstance(data.get("generated_by"), str))):
        check_structure(data, path)
    else:
        validate(data, path)
    return data


def _is_builtin(path: Path) -> bool:
    try:
        return path.resolve() == BUILTIN_CATALOG.resolve()
    except OSError:
        return False


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _one_line(f"catalog file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _one_line(f"cannot read catalog file {path}: {exc}") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise _one_line(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise _one_line(f"{path}: invalid catalog: JSON nested too deeply to read") from None
    except ValueError as exc:  # NaN/Infinity, or an integer longer than Python reads (4300 digits)
        raise _one_line(f"{path}: invalid JSON: {exc}") from None
    return data


def validate(data: Any, path: str | Path) -> None:
    """Check ``data`` (read from ``path``) against the catalog schema; CatalogError on the first problem."""
    errors = sorted(
        _validator().iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        best = errors[0]
        # Name the model, if any, so the user finds the entry without counting array indices.
        model_hint = ""
        path_parts = list(best.absolute_path)
        if len(path_parts) >= 2 and path_parts[0] == "models" and isinstance(path_parts[1], int):
            try:
                model_hint = f" (model '{data['models'][path_parts[1]].get('id', '?')}')"
            except (KeyError, IndexError, AttributeError, TypeError):
                pass
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        problem = _schema_error_message(best)
        converter = _converter_message(best)
        if converter:
            problem = problem.split(":", 1)[0] + ": " + converter
        raise _one_line(f"{path}: schema violation {problem}{model_hint}{more}")


# -- the structural check of generated catalogs ------------------------------------------------------------
# Plain predicates over the parsed JSON, one per model key, so that ~2,000 entries cost milliseconds.
# ``type(v) in _NUMBER`` leaves out bools; ``v - v == 0`` leaves out inf and nan (JSON's 1e999 reads as inf).


def check_converter(entry: ModelEntry, source: Mapping[str, Any], converters: Mapping[str, str]) -> str | None:
    """The import string of the key converter weights ``source`` names, from ``converters`` (those
    the entry's family registers, ``BackboneSpec.converters``); None when it names none.

    An unknown name raises :class:`CatalogError` naming the catalog file, the entry, the name and the
    known ones. Nothing is imported here.
    """
    name = source.get("converter")
    if name is None:
        return None
    target = converters.get(name) if isinstance(name, str) else None
    if target is None:
        known = ", ".join(f"'{n}'" for n in sorted(converters)) or "none"
        raise _one_line(
            f"{entry.catalog_file or 'catalog'}: model '{entry.id}' names weights converter {name!r}, which the "
            f"'{entry.family}' family does not register (known: {known}); name one of those, or drop the converter"
        )
    return target


def load_catalog(files: Iterable[tuple[str, str]], *, families: Mapping[str, Any] | None = None) -> Catalog:
    """Merge catalog files ``[(path, origin), ...]``; a duplicate id, alias or task is an error.

    ``families`` (``{name: BackboneSpec}``, e.g. ``Zoo.backbones``), when given, checks every weights
    converter name against the converters its model's family registers (:func:`check_converter`);
    without it that check happens when the model is built. Models of an unregistered family are
    left to the build, which names the missing family.
    """
    models: list[ModelEntry] = []
    tasks: list[dict[str, Any]] = []
    owner: dict[str, str] = {}  # lowercased id/alias -> file that claimed it
    task_owner: dict[str, str] = {}
    paths = []
    left_to_curated: dict[str, str] = {}
    for path, origin in files:
        data = read_catalog_file(path, shipped=origin not in USER_ORIGINS)
        paths.append(str(path))
        for model_id in data.get("left_to_curated", []):
            left_to_curated[model_id.lower()] = origin
        for task in data.get("tasks", []):
            if task["name"] in task_owner:
                raise CatalogError(f"{path}: task '{task['name']}' is already declared in {task_owner[task['name']]}")
            task_owner[task["name"]] = str(path)
            tasks.append({**task, "_file": str(path)})
        for raw in data["models"]:
            for name in (raw["id"], *raw.get("aliases", [])):
                key = name.lower()
                if key in owner:
                    where = "this file" if owner[key] == str(path) else owner[key]
                    raise CatalogError(
                        f"{path}: duplicate model id or alias '{name}' (model '{raw['id']}'); "
                        f"it is already used in {where}"
                    )
                owner[key] = str(path)
            entry = _entry_from_json(raw, str(path))
            family = (families or {}).get(entry.family)
            if family is not None:
                for source in entry.weights:
                    check_converter(entry, source, getattr(family, "converters", None) or {})
            models.append(entry)
    return Catalog(models=models, tasks=tasks, files=paths, left_to_curated=left_to_curated)


def _entry_from_json(raw: dict[str, Any], path: str) -> ModelEntry:
    return ModelEntry(
        id=raw["id"],
        aliases=tuple(raw.get("aliases", ())),
        family=raw["family"],
        arch=raw["arch"],
        modality=raw["modality"],
        tasks=tuple(raw["tasks"]),
        params_m=raw.get("params_m"),
        num_features=raw.get("num_features"),
        weights=tuple(raw["weights"]),
        pretraining=raw.get("pretraining"),
        license=raw.get("license"),
        paper=raw.get("paper"),
        metric=raw.get("metric"),
        status=raw["status"],
        source=raw["source"],
        description=raw.get("description", ""),
        input=raw.get("input"),
        text=raw.get("text"),
        source_head=raw.get("source_head"),
        top5=raw.get("top5"),
        gmacs=raw.get("gmacs"),
        infer_samples_per_sec=raw.get("infer_samples_per_sec"),
        catalog_file=path,
    )
