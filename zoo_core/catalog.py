"""The model catalog: load and validate registry.json (and plugin or user catalogs), search it.

Every catalog file is checked against ``schemas/catalog.schema.json``. Errors name the file and the
problem in one line (with JSON line and column for syntax errors, the JSON path for schema errors).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo_core.errors import CatalogError, NotFoundError, ZooError

BUILTIN_CATALOG = Path(__file__).with_name("registry.json")
SCHEMA_PATH = Path(__file__).parent / "schemas" / "catalog.schema.json"


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
    catalog_file: str = field(default="", compare=False)

    @property
    def short_name(self) -> str:
        return self.aliases[0] if self.aliases else self.id

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        data["tasks"] = list(self.tasks)
        data["weights"] = [dict(w) for w in self.weights]
        return data


@dataclass
class Catalog:
    """All models and tasks from every catalog file, with lookups by id or alias."""

    models: list[ModelEntry]
    tasks: list[dict[str, Any]]
    files: list[str]

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


def read_catalog_file(path: str | Path) -> dict[str, Any]:
    """Read and validate one catalog file; raise :class:`CatalogError` naming the file on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"catalog file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read catalog file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
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
        raise CatalogError(f"{path}: schema violation {_schema_error_message(best)}{model_hint}{more}")
    return data


def load_catalog(files: Iterable[tuple[str, str]]) -> Catalog:
    """Merge catalog files ``[(path, origin), ...]``; a duplicate id, alias or task is an error."""
    models: list[ModelEntry] = []
    tasks: list[dict[str, Any]] = []
    owner: dict[str, str] = {}  # lowercased id/alias -> file that claimed it
    task_owner: dict[str, str] = {}
    paths = []
    for path, _origin in files:
        data = read_catalog_file(path)
        paths.append(str(path))
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
            models.append(_entry_from_json(raw, str(path)))
    return Catalog(models=models, tasks=tasks, files=paths)


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
        catalog_file=path,
    )
