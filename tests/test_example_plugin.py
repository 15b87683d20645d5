"""A real third-party plugin (examples/zoo-cosine-probe) pip-installed and used end to end, and the
contract checker catching broken plugins."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "zoo-cosine-probe"


@pytest.fixture(scope="module")
def installed_example():
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "-e",
        str(EXAMPLE),
    ]
    proc = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    yield
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "zoo-cosine-probe"],
        capture_output=True,
        timeout=300,
    )


@pytest.mark.serial  # installs into the project's own environment: other tests must not see it half-done
@pytest.mark.slow
def test_installed_plugin_is_listed_trained_saved_and_reloaded(installed_example, run_zoo, tiny_catalog, image_folder):
    code, out, err = run_zoo("methods", "list", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["cosine_probe"]["plugin"] == "cosine_probe"
    code, out, err = run_zoo(
        "--catalog",
        str(tiny_catalog),
        "finetune",
        "-m",
        "tiny-image",
        "-d",
        str(image_folder),
        "--method",
        "cosine_probe",
        "--epochs",
        "5",
        "--name",
        "cos",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["adapter"] == "cos@1"  # saving already reloaded it and compared predictions
    image = str(next((image_folder / "class_2").iterdir()))
    code, out, err = run_zoo("--catalog", str(tiny_catalog), "predict", "cos", image, "--json")
    assert code == 0, err and json.loads(out)[0]["label"].startswith("class_")
    code, out, err = run_zoo("plugins", "check", "zoo_cosine_probe")
    assert code == 0, out + err
    assert "0 failed" in out


BAD_PLUGIN = """
import torch  # a heavy top-level import: rule broken
from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec


@hookimpl
def register_methods(register):
    register(MethodSpec(name="sneaky", factory="bad_plugin_impl:Sneaky", trains="head", modalities=("image",)))
"""

BAD_IMPL = """
from zoo_core.engine.method import AdaptationMethod


class Sneaky(AdaptationMethod):
    name = "sneaky"
    trains = "head"

    def prepare(self, model):
        pass  # says "head" but leaves the whole backbone trainable
"""


@pytest.mark.slow  # installs a plugin
def test_check_names_the_broken_rules(run_zoo, tmp_path):
    (tmp_path / "bad_plugin.py").write_text(textwrap.dedent(BAD_PLUGIN))
    (tmp_path / "bad_plugin_impl.py").write_text(textwrap.dedent(BAD_IMPL))
    code, out, err = run_zoo("plugins", "check", "bad_plugin", env={"PYTHONPATH": str(tmp_path)})
    assert code == 1, out + err
    assert "FAIL  bad_plugin: light top-level import" in out and "imported torch" in out
    assert "FAIL  method 'sneaky'" in out and "rule: a head-only method trains only head" in out
