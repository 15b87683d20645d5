"""Run the contract suite over one plugin module: what ``zoo plugins check MODULE`` prints.

Each check has a name and either passes or fails with the rule it broke. Heavy checks build tiny
real models (``zoo_core.testing.tiny``) in a temporary folder.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

HEAVY_MODULES = ("torch", "timm", "transformers", "peft")


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str = ""


def check_light_import(module: str) -> None:
    """Rule: a plugin's top-level import pulls in no torch, timm, transformers or peft."""
    code = (
        f"import json, sys, importlib; importlib.import_module({module!r}); "
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(
            f"rule: the plugin module imports cleanly; importing {module} failed: "
            f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
        )
    heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not heavy, (
        f"rule: a plugin's top-level import pulls in no heavy library; importing {module} "
        f"imported {', '.join(heavy)} (move that import into the module named by the factory string)"
    )


def _zoo_with(module_name: str, catalog_path: str):
    """A plugin host with the installed plugins plus ``module_name`` (registered once)."""
    import io

    from zoo_core.plugins import Zoo, make_plugin_manager

    module = importlib.import_module(module_name)
    pm = make_plugin_manager(stderr=io.StringIO())
    if module not in list(pm.get_plugins()):
        pm.add_plugin(module, module_name)
    return Zoo(pm, catalog_paths=[catalog_path]), pm.get_name(module)


def iter_checks(module_name: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield ``(check name, callable)`` for every contract that applies to ``module_name``."""
    yield f"{module_name}: light top-level import", partial(check_light_import, module_name)
    from zoo_core.testing.contracts import check_backbone, check_head, check_method, check_scorer, check_task
    from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT, build_tiny_catalog

    catalog = str(build_tiny_catalog(tempfile.mkdtemp(prefix="zoo-check-")))
    zoo, plugin_name = _zoo_with(module_name, catalog)
    tiny_for = {"image": TINY_IMAGE, "text": TINY_TEXT}
    for spec in zoo.methods.values():
        if spec.plugin != plugin_name:
            continue
        for modality in spec.modalities:
            model = tiny_for[modality]
            yield f"method '{spec.name}' on {model}", partial(check_method, zoo, spec.name, model)
    for spec in zoo.heads.values():
        if spec.plugin == plugin_name:
            yield f"head '{spec.name}'", partial(check_head, zoo, spec.name)
    for spec in zoo.scorers.values():
        if spec.plugin == plugin_name:
            yield f"scorer '{spec.name}'", partial(check_scorer, zoo, spec.name)
    for spec in zoo.tasks.values():
        if spec.plugin == plugin_name:
            yield f"task '{spec.name}'", partial(check_task, zoo, spec.name)
    for spec in zoo.backbones.values():
        if spec.plugin != plugin_name:
            continue
        models = [e.id for e in zoo.catalog.models if e.family == spec.name]
        if not models:

            def missing(s=spec):
                raise AssertionError(
                    f"rule: a model family ships at least one catalog entry (a tiny one for tests); "
                    f"no catalog model has family '{s.name}'"
                )

            yield f"backbone family '{spec.name}'", missing
        for model in models[:1]:
            yield f"backbone family '{spec.name}' on {model}", partial(check_backbone, zoo, model)


def run_checks(module_name: str) -> list[CheckResult]:
    results = []
    for name, check in iter_checks(module_name):
        try:
            check()
        except AssertionError as exc:
            results.append(CheckResult(name, False, str(exc).splitlines()[0] if str(exc) else "assertion failed"))
        except Exception as exc:
            results.append(CheckResult(name, False, f"crashed: {type(exc).__name__}: {exc}"))
        else:
            results.append(CheckResult(name, True))
    return results
