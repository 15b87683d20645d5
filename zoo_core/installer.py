"""``zoo install`` / ``zoo uninstall`` and ``zoo plugins list --requirements``.

pip runs with the interpreter that runs ``zoo`` (``sys.executable -m pip``), so plugins land in the
tool's own environment even when ``zoo`` was installed with pipx or in a virtualenv that is not
active. Requirements are written the way ``pip freeze`` would (PEP 610 ``direct_url.json``), so
that ``zoo install -r FILE`` reproduces the same set in another environment.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib import metadata

from zoo_core.errors import ZooError
from zoo_core.hookspecs import PROJECT_NAME

CORE_DISTRIBUTION = "transfer-zoo"


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def plugin_distributions() -> dict[str, metadata.Distribution]:
    """Installed distributions that declare ``zoo`` entry points, except transfer-zoo itself."""
    importlib.invalidate_caches()
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or _normalise(name) == CORE_DISTRIBUTION:
            continue
        if any(ep.group == PROJECT_NAME for ep in dist.entry_points):
            found.setdefault(_normalise(name), dist)
    return found


def requirement_line(dist: metadata.Distribution) -> str:
    """One pinned requirement, as ``pip freeze`` writes it: ``name==version``, ``name @ URL`` for a
    direct (file or VCS) install, ``-e URL`` for an editable one."""
    name, version = dist.metadata["Name"], dist.version
    raw = dist.read_text("direct_url.json")
    if not raw:
        return f"{name}=={version}"
    try:
        direct = json.loads(raw)
    except json.JSONDecodeError:
        return f"{name}=={version}"
    url = direct.get("url", "")
    if direct.get("dir_info", {}).get("editable"):
        return f"-e {url}"
    vcs = direct.get("vcs_info")
    if vcs:
        return f"{name} @ {vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}".rstrip("@")
    return f"{name} @ {url}"


def requirements() -> list[str]:
    """Pinned requirements of the installed third-party plugins, sorted by name."""
    return [requirement_line(dist) for _, dist in sorted(plugin_distributions().items())]


def run_pip(command: str, args: list[str]) -> int:
    """Run ``python -m pip COMMAND ARGS`` in this environment; return pip's exit status."""
    cmd = [sys.executable, "-m", "pip", command, *args]
    try:
        return subprocess.run(cmd, check=False).returncode
    except FileNotFoundError as exc:  # pragma: no cover - sys.executable always exists
        raise ZooError(f"could not run pip ({exc}); install pip into {sys.prefix}") from None


def install(args: list[str]) -> tuple[int, list[str]]:
    """``pip install ARGS``; return pip's status and the plugin distributions that appeared."""
    if not args:
        raise ZooError("nothing to install: give package names, -e PATH or -r FILE (zoo install --help)")
    before = set(plugin_distributions())
    status = run_pip("install", args)
    return status, sorted(set(plugin_distributions()) - before)


def uninstall(names: list[str], assume_yes: bool = True) -> int:
    """``pip uninstall NAMES``; refuses to remove transfer-zoo itself (that would remove ``zoo``)."""
    if not names:
        raise ZooError("nothing to uninstall: give plugin distribution names (zoo plugins list shows them)")
    if any(_normalise(n) == CORE_DISTRIBUTION for n in names):
        raise ZooError("refusing to uninstall transfer-zoo itself with zoo; run: python -m pip uninstall transfer-zoo")
    installed = {_normalise(d.metadata["Name"] or "") for d in metadata.distributions()}
    for name in names:
        if _normalise(name) not in installed:
            from zoo_core.errors import did_you_mean

            raise ZooError(
                f"'{name}' is not installed in {sys.prefix}.{did_you_mean(_normalise(name), plugin_distributions())}"
            )
    return run_pip("uninstall", (["--yes"] if assume_yes else []) + list(names))
