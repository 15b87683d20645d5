"""Issue 7, acceptance 1: from an empty folder, `zoo plugins new`, pip install -e, pytest passes,
`zoo methods list` shows it, `zoo finetune --method` uses it."""

import json
import subprocess
import sys

import pytest

from zoo_core.errors import ZooError
from zoo_core.scaffold import new_plugin


def _pip(*args):
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.serial  # installs into the project's own environment: other tests must not see it half-done
@pytest.mark.slow
@pytest.mark.parametrize("kind, name", [("method", "demo-method"), ("scorer", "fisher-demo"), ("backbone", "demo-cnn")])
def test_generated_plugin_installs_passes_and_works(run_zoo, tmp_path, tiny_catalog, image_folder, kind, name):
    code, out, err = run_zoo("plugins", "new", name, "--kind", kind, "--out", str(tmp_path))
    assert code == 0, err
    folder = tmp_path / f"zoo-{name}"
    installed = _pip("install", "--no-deps", "--no-build-isolation", "-e", str(folder))
    assert installed.returncode == 0, installed.stderr[-2000:]
    try:
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert tests.returncode == 0, tests.stdout[-3000:]
        code, out, err = run_zoo("plugins", "list", "--json")
        plugin = [p for p in json.loads(out) if p["name"] == name.replace("-", "_")][0]
        assert plugin["status"] == "loaded" and plugin["distribution"] == f"zoo-{name}"
        if kind == "method":
            code, out, _ = run_zoo("methods", "list", "--json")
            assert "demo_method" in {row["name"] for row in json.loads(out)}
            code, out, err = run_zoo(
                "--catalog",
                str(tiny_catalog),
                "finetune",
                "-m",
                "tiny-image",
                "-d",
                str(image_folder),
                "--method",
                "demo_method",
                "--epochs",
                "3",
                "--json",
            )
            assert code == 0, err
            assert json.loads(out)["method"] == "demo_method"
        elif kind == "backbone":
            code, out, _ = run_zoo("models", "list", "--family", "demo_cnn", "--offline", "--json")
            assert [row["id"] for row in json.loads(out)] == ["local/demo-cnn-tiny"]
            code, out, err = run_zoo(
                "finetune", "-m", "demo_cnn-tiny", "-d", str(image_folder), "--method", "linear_probe", "--json"
            )
            assert code == 0, err
            result = json.loads(out)
            assert result["model"] == "local/demo-cnn-tiny" and 0.0 <= result["accuracy"] <= 1.0
        else:
            code, out, err = run_zoo(
                "--catalog",
                str(tiny_catalog),
                "recommend",
                "--data",
                str(image_folder),
                "--candidates",
                "tiny-image",
                "--scorer",
                "fisher_demo",
                "--json",
            )
            assert code == 0, err
            assert json.loads(out)["scorer"] == "fisher_demo"
    finally:
        _pip("uninstall", "--yes", f"zoo-{name}")


def test_bad_names_and_existing_folders(tmp_path):
    with pytest.raises(ZooError, match="invalid plugin name"):
        new_plugin("Bad Name", "method", tmp_path)
    new_plugin("ok", "method", tmp_path)
    with pytest.raises(ZooError, match="already exists"):
        new_plugin("ok", "method", tmp_path)
