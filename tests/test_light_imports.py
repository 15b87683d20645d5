"""Listing commands must not import the ML stack (DESIGN: torch-free core and plugin modules)."""

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "timm", "transformers", "peft")

SCRIPT = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("HEAVY=" + json.dumps([m for m in {heavy!r} if m in sys.modules]) + "\\n"))
from zoo_core.cli import main
main({args!r})
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["plugins", "list", "--json"],
        ["models", "list", "--json"],
        ["models", "list", "--task", "image-classification", "--offline", "--json"],
        ["models", "show", "resnet50", "--json"],
        ["methods", "list", "--json"],
        ["tasks", "list", "--json"],
        ["adapters", "list", "--json"],
        ["embed", "--help"],
        ["cluster", "--help"],
        ["zero-shot", "--help"],
        ["demo", "--help"],
    ],
)
def test_listing_commands_do_not_import_heavy_modules(args):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY, args=args)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    heavy_line = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")][-1]
    assert json.loads(heavy_line[len("HEAVY=") :]) == []


def test_plugin_top_level_modules_are_light():
    code = (
        "import sys, zoo_timm, zoo_hf, zoo_methods, zoo_peft, zoo_tasks, zoo_core._builtin, zoo_core.data, "
        "zoo_core.store;"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
