"""Docs that cannot drift: every hookspec is documented with its exact signature in CONTRIBUTING.md,
the table lists no hook that does not exist, and every hook is implemented by a test plugin; the
"add an adaptation method" checklist names every hook and attribute of AdaptationMethod, and no other."""

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


def method_checklist_names():
    """The first column of the hook table in CONTRIBUTING.md's "add an adaptation method" checklist."""
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    section = contributing.split("## Checklist: add an adaptation method", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\s*\| `(\w+)", section, flags=re.MULTILINE)


def test_method_checklist_names_every_hook_of_the_base_class():
    from zoo_core.engine.method import AdaptationMethod

    listed = method_checklist_names()
    assert len(listed) == len(set(listed)), f"listed twice: {sorted(n for n in listed if listed.count(n) > 1)}"
    public = {name for name in vars(AdaptationMethod) if not name.startswith("_")}
    missing = sorted(public - set(listed))
    assert not missing, f"CONTRIBUTING.md's method checklist lacks these AdaptationMethod hooks/attributes: {missing}"
    unknown = sorted(name for name in listed if not hasattr(AdaptationMethod, name))
    assert not unknown, f"CONTRIBUTING.md's method checklist lists names AdaptationMethod does not have: {unknown}"


def test_method_checklist_signatures_match_the_base_class():
    from zoo_core.engine.method import AdaptationMethod

    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for name in method_checklist_names():
        member = vars(AdaptationMethod).get(name)
        if not inspect.isfunction(member):
            continue  # a class attribute or property
        params, starred = [], False
        for param in list(inspect.signature(member).parameters.values())[1:]:  # without self
            if param.kind is param.KEYWORD_ONLY and not starred:
                params.append("*")
                starred = True
            params.append(param.name)
        written = f"`{name}({', '.join(params)})`"
        assert written in contributing, f"CONTRIBUTING.md's method checklist should write {written}"
