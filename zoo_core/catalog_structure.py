"""The fast structural check of a shipped catalog at start-up: every key, type, enum and range the
loader relies on, in milliseconds (the full JSON Schema runs in the tests and on user catalogs)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo_core.errors import CatalogError

SCHEMA_PATH = Path(__file__).parent / "schemas" / "catalog.schema.json"


def _one_line(message: str) -> CatalogError:
    """A CatalogError whose message is one printable line, whatever the file put in it."""
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", " ".join(message.split()))
    return CatalogError(text.encode("utf-8", "backslashreplace").decode("utf-8"))


_NUMBER = (int, float)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _finite(v: Any) -> bool:
    return type(v) in _NUMBER and v - v == 0


def _str_or_none(v: Any) -> bool:
    return v is None or type(v) is str


def _str_list(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _number_or_none(v: Any) -> bool:
    return v is None or _finite(v)


def _three(v: Any, *, ints: bool = False, positive: bool = False) -> bool:
    if type(v) is not list or len(v) != 3:
        return False
    for x in v:
        if not _finite(x) or (ints and type(x) is not int) or (positive and x <= 0):
            return False
    return True


def _weights_source(w: Any) -> bool:
    if type(w) is not dict or type(w.get("source")) is not str:
        return False
    for key in ("repo_id", "package", "module", "path"):
        if key in w and type(w[key]) is not str:
            return False
    if not (_str_or_none(w.get("revision")) and _str_or_none(w.get("filename")) and _str_or_none(w.get("converter"))):
        return False
    digest = w.get("sha256")
    if digest is not None and not (type(digest) is str and _SHA256.fullmatch(digest)):
        return False
    needs = {"hub": ("repo_id",), "pypi": ("package", "path", "sha256"), "path": ("path",)}.get(w["source"], ())
    return w.get("format", "safetensors") in ("safetensors", "pytorch", "hf-dir") and all(k in w for k in needs)


def _input(v: Any) -> bool:
    if v is None:
        return True
    if type(v) is not dict or not v.keys() <= {"size", "mean", "std", "interpolation", "crop_pct"}:
        return False
    crop = v.get("crop_pct")
    return (
        _three(v.get("size"), ints=True, positive=True)
        and _three(v.get("mean"))
        and _three(v.get("std"), positive=True)
        and v.get("interpolation") in ("bilinear", "bicubic", "nearest")
        and (crop is None or (_finite(crop) and 0 < crop <= 1))
    )


def _text(v: Any) -> bool:
    if v is None:
        return True
    if type(v) is not dict or not v.keys() <= {"max_seq_len", "pooling", "languages"}:
        return False
    length = v.get("max_seq_len")
    return (
        (length is None or (type(length) is int and length >= 1))
        and v.get("pooling") in ("cls", "mean", "last")
        and _str_list(v.get("languages", []))
    )


def _source_head(v: Any) -> bool:
    if v is None:
        return True
    if type(v) is not dict or not v.keys() <= {"num_classes", "label_set"}:
        return False
    classes = v.get("num_classes", 1)
    return type(classes) is int and classes >= 1 and type(v.get("label_set", "")) is str


def _metric(v: Any) -> bool:
    if v is None:
        return True
    return (
        type(v) is dict
        and v.keys() <= {"name", "value", "source"}
        and _finite(v.get("value"))
        and type(v.get("source")) is str
        and type(v.get("name", "")) is str
    )


#: Each model key: (the check, what it expects). Keys the schema declares and this table lacks are refused.
_MODEL_CHECKS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "aliases": (_str_list, "a list of strings"),
    "family": (lambda v: type(v) is str and v != "", "a non-empty string"),
    "arch": (lambda v: type(v) is str and v != "", "a non-empty string"),
    "source": (lambda v: type(v) is str and v != "", "a non-empty string"),
    "modality": (lambda v: v in ("image", "text"), "'image' or 'text'"),
    "status": (lambda v: v in ("stable", "experimental", "deprecated"), "stable, experimental or deprecated"),
    "tasks": (lambda v: _str_list(v) and len(v) > 0, "a non-empty list of strings"),
    "description": (lambda v: type(v) is str, "a string"),
    "pretraining": (_str_or_none, "a string or null"),
    "license": (_str_or_none, "a string or null"),
    "paper": (_str_or_none, "a string or null"),
    "params_m": (lambda v: v is None or (_finite(v) and v > 0), "a positive number or null"),
    "num_features": (lambda v: v is None or (type(v) is int and v >= 1), "a positive integer or null"),
    "top5": (_number_or_none, "a number or null"),
    "gmacs": (_number_or_none, "a number or null"),
    "infer_samples_per_sec": (_number_or_none, "a number or null"),
    "metric": (_metric, "null or an object with a numeric 'value', a string 'source' and an optional 'name'"),
    "weights": (
        lambda v: type(v) is list and len(v) > 0 and all(_weights_source(w) for w in v),
        "a non-empty list of weights sources (a string 'source'; hub sources a 'repo_id'; a format, a sha256)",
    ),
    "input": (_input, "null or an input spec: size (3 positive integers), mean, std, interpolation, crop_pct"),
    "text": (_text, "null or a text spec: max_seq_len, pooling (cls, mean, last), languages"),
    "source_head": (_source_head, "null or an object with an integer 'num_classes' and a string 'label_set'"),
}


@lru_cache(maxsize=1)
def _structure_rules() -> tuple[frozenset[str], frozenset[str], dict[str, tuple[Callable[[Any], Any], str]]]:
    """From the schema file (so that the two cannot drift): top-level keys, required model keys, and the
    check of every model key (the id's from the schema's own pattern)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    model = schema["$defs"]["model"]
    id_pattern = re.compile(model["properties"]["id"]["pattern"])
    checks = {"id": (lambda v: type(v) is str and id_pattern.match(v) is not None, "a Hub repo id (owner/name)")}
    checks.update({key: _MODEL_CHECKS[key] for key in model["properties"] if key in _MODEL_CHECKS})
    return frozenset(schema["properties"]), frozenset(model["required"]), checks


class _Shape(Exception):
    """A structural problem at a JSON path (turned into a CatalogError naming the file)."""


def _check_model(raw: Any, where: str, required: frozenset[str], checks: dict) -> None:
    if type(raw) is not dict:
        raise _Shape(f"{where}: expected an object")
    if not required <= raw.keys():
        raise _Shape(f"{where}: missing {sorted(required - raw.keys())[0]!r}")
    for key, value in raw.items():
        check = checks.get(key)
        if check is None:
            raise _Shape(f"{where}: unknown key {key!r}")
        if not check[0](value):
            raise _Shape(f"{where}.{key}: expected {check[1]}")
    if raw["modality"] == "image" and raw.get("input") is None:
        raise _Shape(f"{where}.input: an image model needs an input spec")
    if raw["modality"] == "text" and raw.get("text") is None:
        raise _Shape(f"{where}.text: a text model needs a text spec")


def check_structure(data: Any, path: str | Path) -> None:
    """The checks the loader and the listings need of a generated catalog, in milliseconds: the top
    level, every model's keys (required present, none unknown) and every value's type, enum and range
    as its readers use it. Name patterns and the rest of the schema are left to the tests of the
    project that generates the file. CatalogError naming the file, the JSON path and the model."""
    top_keys, required, checks = _structure_rules()
    model_hint = ""
    try:
        if type(data) is not dict:
            raise _Shape("top level: expected an object")
        unknown = sorted(set(data) - top_keys)
        if unknown:
            raise _Shape(f"top level: unknown key {unknown[0]!r}")
        if data.get("schema_version") != 1 or type(data.get("schema_version")) is not int:
            raise _Shape("schema_version: expected 1")
        for key in ("description", "generated_by"):
            if type(data.get(key, "")) is not str:
                raise _Shape(f"{key}: expected a string")
        if not _str_list(data.get("left_to_curated", [])):
            raise _Shape("left_to_curated: expected a list of strings")
        tasks = data.get("tasks", [])
        if type(tasks) is not list:
            raise _Shape("tasks: expected a list")
        task_keys = {"name", "modality", "description", "status"}
        for i, task in enumerate(tasks):
            if type(task) is not dict or task.keys() != task_keys or not all(type(v) is str for v in task.values()):
                raise _Shape(f"tasks[{i}]: expected an object of strings: name, modality, description, status")
        models = data.get("models")
        if type(models) is not list:
            raise _Shape("models: expected a list")
        for i, raw in enumerate(models):
            model_hint = f" (model '{raw.get('id', '?')}')" if type(raw) is dict else ""
            _check_model(raw, f"models[{i}]", required, checks)
    except _Shape as exc:
        raise _one_line(f"{path}: structure problem at {exc}{model_hint}") from None
