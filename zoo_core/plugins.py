"""The plugin host: load entry points in isolation, collect specs, reject duplicates.

There is no module-level plugin manager. :func:`make_plugin_manager` builds a fresh one (tests make
one each); the CLI keeps one lazily cached :class:`Zoo`.

Environment variables:

``ZOO_BLOCK_PLUGINS=a,b``
    never load these plugins (entry-point or distribution names).
``ZOO_LOAD_PLUGINS=a,b``
    load only these plugins; an empty value loads none.
``ZOO_STRICT_PLUGINS=1``
    a plugin that fails to load or to register re-raises instead of being skipped.
``ZOO_TRACE_PLUGINS=1``
    print each plugin loaded (with the time its import took) and each hook call to stderr.

Whatever happens, a plugin is charged alone and in one line that names it: an import or a hook
that raises (``SystemExit`` included), an import slower than :data:`SLOW_IMPORT_SECONDS`, two
distributions giving one entry-point name (both load; the second under ``distribution:name``).
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import TYPE_CHECKING, Any, TextIO

import pluggy

from zoo_core import hookspecs
from zoo_core.errors import NotFoundError, PluginError

if TYPE_CHECKING:  # pragma: no cover - the catalog and specs are imported where they are used
    from zoo_core.catalog import Catalog
    from zoo_core.specs import BackboneSpec, HeadSpec, MethodSpec, ScorerSpec, TaskSpec, WeightsSourceSpec

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME

#: A plugin whose import takes longer than this (seconds) gets a warning: every command waits for it.
SLOW_IMPORT_SECONDS = 1.0

#: What a plugin's code may raise and still be charged alone: ``SystemExit`` too (a plugin calling
#: ``sys.exit`` must not end every command), but not ``KeyboardInterrupt``.
PLUGIN_FAILURES = (Exception, SystemExit)

# The kinds of things plugins register: hook name -> attribute that holds the unique key.
SPEC_HOOKS: dict[str, str] = {
    "register_backbones": "name",
    "register_heads": "name",
    "register_methods": "name",
    "register_tasks": "name",
    "register_catalogs": "path",
    "register_weight_sources": "name",
    "register_scorers": "name",
}


@dataclass
class PluginInfo:
    """What the host knows about one plugin, for ``zoo plugins list``."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"  # loaded | blocked | not-allowed | failed
    error: str | None = None
    hooks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hooks": sorted(self.hooks),
        }


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ZooPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers how each plugin loaded (see :class:`PluginInfo`)."""

    def __init__(self, *, environ: Mapping[str, str], stderr: TextIO) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.environ = environ
        self.stderr = stderr
        self.strict = _truthy(environ.get("ZOO_STRICT_PLUGINS"))
        self.info: dict[str, PluginInfo] = {}
        if _truthy(environ.get("ZOO_TRACE_PLUGINS")):
            self.trace.root.setwriter(lambda text: stderr.write(f"zoo trace: {text}"))
            self.enable_tracing()

    def warn(self, message: str) -> None:
        self.stderr.write(f"zoo: {message}\n")

    def add_plugin(
        self, plugin: object, name: str, *, distribution: str | None = None, version: str | None = None
    ) -> None:
        """Register an already-imported plugin module or object under ``name``."""
        self.register(plugin, name=name)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        hooks = [caller.name for caller in self.get_hookcallers(plugin) or []]
        self.info[name] = PluginInfo(name=name, module=module, distribution=distribution, version=version, hooks=hooks)

    def refuse(self, message: str) -> None:
        """Report something a plugin did that zoo refused (a clash): one line, or an error in strict mode."""
        if self.strict:
            raise PluginError(message)
        self.warn(message)

    def plugin_failed(self, name: str, error: BaseException, action: str) -> None:
        """Record and report a plugin failure in one line, or re-raise in strict mode."""
        info = self.info.setdefault(name, PluginInfo(name=name, module="?"))
        info.status = "failed"
        info.error = _one_line(error)
        if self.strict:
            raise PluginError(f"plugin '{name}' failed to {action}: {info.error}") from error
        self.warn(
            f"plugin '{name}' failed to {action} and was skipped: {info.error}. "
            f"Block it with ZOO_BLOCK_PLUGINS={name}, or set ZOO_STRICT_PLUGINS=1 to stop on this error."
        )


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


@dataclass
class _Candidate:
    """An entry point about to be loaded, under the plugin name it gets here."""

    name: str
    ep: metadata.EntryPoint
    distribution: str | None
    version: str | None
    clash_with: _Candidate | None = None  # the entry point that kept the plain name


def _dist_of(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    return (dist.metadata["Name"], dist.version) if dist is not None else (None, None)


def _plan(entry_points: Iterable[metadata.EntryPoint]) -> list[_Candidate]:
    """Give every entry point a unique plugin name.

    Two distributions giving one entry-point name must not hide each other: the first keeps the
    name and the others load as ``distribution:name``. First means zoo's own distribution (the one
    that ships ``zoo_core``), then distributions in name order, never the order in which the file
    system happens to list them. One distribution seen twice (an editable and a regular install)
    loads once.
    """
    eps = [(ep, *_dist_of(ep)) for ep in entry_points]
    first_party = {dist for ep, dist, _ in eps if ep.value.split(":")[0].split(".")[0] == "zoo_core"}
    eps.sort(key=lambda item: (item[0].name, item[1] not in first_party, item[1] or "", item[0].value))
    plan: list[_Candidate] = []
    holder: dict[str, _Candidate] = {}
    for ep, dist_name, version in eps:
        first = holder.get(ep.name)
        if first is None:
            holder[ep.name] = candidate = _Candidate(ep.name, ep, dist_name, version)
        elif first.distribution == dist_name:
            continue  # the same distribution installed twice: loading both would register everything twice
        else:
            qualifier = dist_name or ep.value
            candidate = _Candidate(f"{qualifier}:{ep.name}", ep, dist_name, version, clash_with=first)
        plan.append(candidate)
    return plan


def _clash_message(candidate: _Candidate) -> str:
    first = candidate.clash_with
    assert first is not None
    return (
        f"plugin name '{first.name}' is given by two distributions, {first.distribution} ({first.ep.value}) "
        f"and {candidate.distribution} ({candidate.ep.value}); both are loaded, the second as '{candidate.name}'. "
        f"Block it with ZOO_BLOCK_PLUGINS={candidate.name} if it is not wanted, "
        "or ask its author to rename the entry point."
    )


def make_plugin_manager(
    *,
    load_entry_points: bool = True,
    plugins: Iterable[tuple[str, object]] = (),
    environ: Mapping[str, str] | None = None,
    stderr: TextIO | None = None,
    clock: Callable[[], float] = time.perf_counter,
    slow_import_seconds: float | None = None,
) -> ZooPluginManager:
    """Build a fresh plugin manager.

    :param load_entry_points: load every plugin in the ``zoo`` entry-point group, each in its own
        ``try`` so that a broken one is reported and skipped.
    :param plugins: extra ``(name, module_or_object)`` pairs to register (tests use this).
    :param environ: the environment to read ``ZOO_*`` settings from (default ``os.environ``).
    :param stderr: where warnings and traces go (default ``sys.stderr``).
    :param clock: times each plugin's import (seconds; tests pass a fake one).
    :param slow_import_seconds: warn about a plugin whose import takes longer (default
        :data:`SLOW_IMPORT_SECONDS`).
    """
    environ = os.environ if environ is None else environ
    pm = ZooPluginManager(environ=environ, stderr=stderr or sys.stderr)
    blocked = _names(environ.get("ZOO_BLOCK_PLUGINS")) or set()
    allowed = _names(environ.get("ZOO_LOAD_PLUGINS"))
    trace = _truthy(environ.get("ZOO_TRACE_PLUGINS"))
    slow = SLOW_IMPORT_SECONDS if slow_import_seconds is None else slow_import_seconds

    def admitted(name: str, dist_name: str | None) -> str:
        names = {name} | ({dist_name} if dist_name else set())
        if names & blocked:
            return "blocked"
        if allowed is not None and not names & allowed:
            return "not-allowed"
        return "loaded"

    if load_entry_points:
        for candidate in _plan(_entry_points()):
            name, ep, dist_name, version = candidate.name, candidate.ep, candidate.distribution, candidate.version
            status = admitted(name, dist_name)
            if status != "loaded":
                pm.info[name] = PluginInfo(
                    name=name, module=ep.value, distribution=dist_name, version=version, status=status
                )
                continue
            if candidate.clash_with is not None:
                pm.refuse(_clash_message(candidate))
            started = clock()
            try:
                plugin = ep.load()
                elapsed = clock() - started
                pm.add_plugin(plugin, name, distribution=dist_name, version=version)
            except PLUGIN_FAILURES as exc:
                pm.info[name] = PluginInfo(name=name, module=ep.value, distribution=dist_name, version=version)
                pm.plugin_failed(name, exc, "load")
                continue
            if trace:
                pm.warn(f"loaded plugin '{name}' from {ep.value} ({dist_name} {version}) in {elapsed:.3f} s")
            if elapsed > slow:
                pm.warn(
                    f"plugin '{name}' took {elapsed:.1f} s to import, and every zoo command waits for it; "
                    f"block it with ZOO_BLOCK_PLUGINS={name} if you do not need it, "
                    "or ask its author to import heavy modules only when they are used"
                )

    for name, plugin in plugins:
        status = admitted(name, None)
        if status != "loaded":
            pm.info[name] = PluginInfo(name=name, module=getattr(plugin, "__name__", "?"), status=status)
            continue
        pm.add_plugin(plugin, name)

    # A misspelt hook name (register_method instead of register_methods) must fail loudly.
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{exc}. Hook names are listed in zoo_core/hookspecs.py.") from exc
    return pm


def _impls_by_plugin(pm: ZooPluginManager, hook_name: str) -> list[tuple[str, Callable[..., Any], list[str]]]:
    caller = getattr(pm.hook, hook_name)
    result = []
    for impl in caller.get_hookimpls():
        result.append((impl.plugin_name, impl.function, list(impl.argnames)))
    return result


def collect(pm: ZooPluginManager, hook_name: str) -> dict[str, Any]:
    """Call ``hook_name`` on each plugin separately and return ``{key: spec}``.

    Each spec is stamped with the plugin that registered it. A plugin that raises is reported and
    skipped (its partial registrations are dropped); a duplicate key is an error naming both plugins.
    """
    key_attr = SPEC_HOOKS[hook_name]
    specs: dict[str, Any] = {}
    # In plugin load order (pluggy lists implementations so; it *calls* them in reverse): on a
    # duplicate, the plugin loaded later is the one the error suggests blocking.
    for plugin_name, function, argnames in _impls_by_plugin(pm, hook_name):
        registered: list[Any] = []

        def register(spec: Any, _into: list[Any] = registered) -> None:
            _into.append(spec)

        try:
            function(**dict.fromkeys(argnames, register))
        except PLUGIN_FAILURES as exc:
            pm.plugin_failed(plugin_name, exc, f"run {hook_name}")
            continue
        for spec in registered:
            if not hasattr(spec, key_attr):
                raise PluginError(
                    f"plugin '{plugin_name}' passed {spec!r} to {hook_name}; expected a spec with a '{key_attr}' field"
                )
            spec = replace(spec, plugin=plugin_name)
            key = getattr(spec, key_attr)
            if key in specs:
                other = specs[key].plugin
                raise PluginError(
                    f"{hook_name}: '{key}' is registered by both plugin '{other}' and plugin '{plugin_name}'; "
                    f"block one with ZOO_BLOCK_PLUGINS={plugin_name}"
                )
            specs[key] = spec
    return specs


class Zoo:
    """Everything the plugins registered, collected lazily: the object the CLI and API work from."""

    def __init__(self, pm: ZooPluginManager | None = None, *, catalog_paths: Iterable[str] = ()) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()
        self.extra_catalog_paths = list(catalog_paths)
        self._cache: dict[str, Any] = {}

    def _specs(self, hook_name: str) -> dict[str, Any]:
        if hook_name not in self._cache:
            self._cache[hook_name] = collect(self.pm, hook_name)
        return self._cache[hook_name]

    @property
    def backbones(self) -> dict[str, BackboneSpec]:
        return self._specs("register_backbones")

    @property
    def heads(self) -> dict[str, HeadSpec]:
        return self._specs("register_heads")

    @property
    def methods(self) -> dict[str, MethodSpec]:
        return self._specs("register_methods")

    @property
    def weight_sources(self) -> dict[str, WeightsSourceSpec]:
        return self._specs("register_weight_sources")

    @property
    def scorers(self) -> dict[str, ScorerSpec]:
        return self._specs("register_scorers")

    @property
    def catalog(self) -> Catalog:
        if "catalog" not in self._cache:
            from zoo_core.catalog import load_catalog

            # Families are known here, so a catalog naming a converter its family lacks fails on load.
            self._cache["catalog"] = load_catalog(self._catalog_files(), families=self.backbones)
        return self._cache["catalog"]

    def _catalog_files(self) -> list[tuple[str, str]]:
        from zoo_core.catalog import BUILTIN_CATALOG
        from zoo_core.paths import zoo_home

        files = [(str(BUILTIN_CATALOG), "zoo_core")]
        files += [(spec.path, spec.plugin) for spec in self._specs("register_catalogs").values()]
        # The user's own catalog (what `zoo catalog add-hf` writes by default), read when it exists.
        user_catalog = zoo_home() / "catalog.json"
        if user_catalog.is_file() and str(user_catalog) not in self.extra_catalog_paths:
            files.append((str(user_catalog), "user catalog"))
        for path in _names_ordered(self.pm.environ.get("ZOO_CATALOG", ""), sep=os.pathsep):
            files.append((path, "ZOO_CATALOG"))
        files += [(path, "--catalog") for path in self.extra_catalog_paths]
        return files

    @property
    def tasks(self) -> dict[str, TaskSpec]:
        """Tasks registered by plugins plus those declared in catalog files.

        A plugin's spec wins over the built-in catalog's declaration of the same name (the catalog
        keeps declaring planned tasks and gives the description when the plugin has none); a
        plugin's task declared again by any other catalog file is an error naming both.
        """
        if "tasks" not in self._cache:
            from zoo_core.catalog import BUILTIN_CATALOG
            from zoo_core.specs import TaskSpec

            tasks = dict(self._specs("register_tasks"))
            builtin = str(BUILTIN_CATALOG)
            for task in self.catalog.tasks:
                spec = TaskSpec(
                    name=task["name"],
                    modality=task["modality"],
                    description=task["description"],
                    status=task["status"],
                    plugin=f"catalog:{task['_file']}",
                )
                held = tasks.get(spec.name)
                if held is not None and held.plugin != spec.plugin:
                    if task["_file"] == builtin and not held.plugin.startswith("catalog:"):
                        if not held.description:
                            tasks[spec.name] = replace(held, description=spec.description)
                        continue
                    raise PluginError(f"task '{spec.name}' is declared by both {held.plugin} and {spec.plugin}")
                tasks[spec.name] = spec
            self._cache["tasks"] = tasks
        return self._cache["tasks"]

    def get(self, kind: str, name: str) -> Any:
        """Look ``name`` up among ``kind`` ("methods", "backbones", "tasks", ...), with a did-you-mean."""
        table = getattr(self, kind)
        if name in table:
            return table[name]
        hint = f"Run 'zoo {kind} list' to see them." if kind in {"methods", "tasks"} else ""
        raise NotFoundError(kind.rstrip("s").replace("_", " "), name, table, hint)

    def plugin_infos(self) -> list[PluginInfo]:
        return sorted(self.pm.info.values(), key=lambda info: info.name)


def _names_ordered(value: str, sep: str = ",") -> list[str]:
    return [part.strip() for part in value.split(sep) if part.strip()]


def module_plugin(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """Build an in-memory plugin module from hook functions (handy in tests and notebooks)."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookspecs.hookimpl(function))
    return module
