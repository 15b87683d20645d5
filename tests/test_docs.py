"""Docs that cannot drift: every hookspec is documented with its exact signature in CONTRIBUTING.md,
the table lists no hook that does not exist, and every hook is implemented by a test plugin."""

import inspect
import re
from pathlib import Path

from zoo_core import hookspecs

ROOT = Path(__file__).resolve().parents[1]


def hookspec_signatures():
    found = {}
    for name, function in vars(hookspecs).items():
        if callable(function) and hasattr(function, f"{hookspecs.PROJECT_NAME}_spec"):
            signature = inspect.signature(function)
            params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
            found[name] = f"def {name}({params}) -> {signature.return_annotation}"
    return found


def test_there_are_hooks_to_check():
    assert len(hookspec_signatures()) >= 8


def test_every_hookspec_is_documented_with_its_exact_signature():
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    signatures = hookspec_signatures()
    missing = [sig for sig in signatures.values() if f"`{sig}`" not in contributing]
    assert not missing, f"CONTRIBUTING.md's hook reference lacks (or misstates): {missing}"
    documented = set(re.findall(r"`def (register_\w+)\(", contributing))
    assert documented == set(signatures), f"documented but not a hook: {sorted(documented - set(signatures))}"


def test_every_hookspec_has_a_docstring_with_its_parameters():
    for name in hookspec_signatures():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        for param in inspect.signature(getattr(hookspecs, name)).parameters:
            assert f":param {param}:" in doc, f"{name}'s docstring does not describe '{param}'"


def test_every_hook_is_implemented_by_a_test_plugin():
    tests = {path.name: path.read_text() for path in (ROOT / "tests").glob("test_*.py") if path.name != "test_docs.py"}
    uncovered = []
    for name in hookspec_signatures():
        # An implementation, not a mention: `def register_x(` or `register_x=` handed to module_plugin.
        pattern = re.compile(rf"def {name}\(|\b{name}=")
        if not any(pattern.search(text) for text in tests.values()):
            uncovered.append(name)
    assert not uncovered, f"hooks no test implements: {uncovered}"
