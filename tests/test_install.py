"""Issue 7, acceptance 3: `zoo plugins list --requirements` then `zoo install -r` into a fresh
environment reproduces the plugin set; `zoo install` / `zoo uninstall` run pip in zoo's environment."""

import json
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from zoo_core.scaffold import new_plugin

ROOT = Path(__file__).resolve().parents[1]

PIP_OFFLINE = ["--no-deps", "--no-build-isolation", "--quiet", "--disable-pip-version-check"]


def zoo_in(python, *args, timeout=600):
    proc = subprocess.run(
        [str(python), "-c", "from zoo_core.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def fresh_environment(path):
    """A new virtual environment that sees this one's packages as a *lower* site dir (so torch and
    transfer-zoo need no download) but installs into its own site-packages."""
    venv.EnvBuilder(with_pip=False).create(path)
    own_site = next(path.glob("lib/python*/site-packages"))
    parents = [p for p in site.getsitepackages() if p != str(own_site)]
    (own_site / "zz_parent_env.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in parents))
    return path / "bin" / "python"


def plugin_names(python):
    code, out, err = zoo_in(python, "plugins", "list", "--json")
    assert code == 0, err
    return {row["name"]: row for row in json.loads(out)}


@pytest.mark.serial  # installs into the project's own environment: other tests must not see it half-done
@pytest.mark.slow
def test_requirements_reproduce_the_plugin_set_in_a_fresh_environment(tmp_path):
    regular = new_plugin("repro-regular", "method", tmp_path / "src")
    editable = new_plugin("repro-editable", "scorer", tmp_path / "src")
    try:
        code, out, err = zoo_in(sys.executable, "install", str(regular), *PIP_OFFLINE)
        assert code == 0, err
        assert "new plugins: zoo-repro-regular" in out
        code, out, err = zoo_in(sys.executable, "install", "-e", str(editable), *PIP_OFFLINE)
        assert code == 0, err
        code, out, err = zoo_in(sys.executable, "plugins", "list", "--requirements")
        assert code == 0, err
        lines = out.splitlines()
        assert f"-e {editable.as_uri()}" in lines
        assert f"zoo-repro-regular @ {regular.as_uri()}" in lines
        requirements = tmp_path / "plugins.txt"
        requirements.write_text(out)
    finally:
        code, _, err = zoo_in(sys.executable, "uninstall", "zoo-repro-regular", "zoo-repro-editable")
    assert code == 0, err
    here = plugin_names(sys.executable)
    assert "repro_regular" not in here and "repro_editable" not in here  # gone from this environment

    python = fresh_environment(tmp_path / "env")
    code, out, err = zoo_in(python, "install", "-r", str(requirements), *PIP_OFFLINE)
    assert code == 0, err
    there = plugin_names(python)
    assert there["repro_regular"]["status"] == "loaded" and there["repro_editable"]["status"] == "loaded"
    assert there["repro_regular"]["registers"] == ["methods:repro_regular"]
    code, out, err = zoo_in(python, "plugins", "list", "--requirements")
    assert out.splitlines() == lines, "the fresh environment pins the same set"
    # ...and nothing leaked back into this environment.
    assert "repro_regular" not in plugin_names(sys.executable)


def test_install_and_uninstall_errors(run_zoo):
    code, _, err = run_zoo("install")
    assert code == 1 and "nothing to install" in err
    code, _, err = run_zoo("uninstall", "transfer-zoo")
    assert code == 1 and "refusing to uninstall transfer-zoo itself" in err
    code, _, err = run_zoo("uninstall", "zoo-not-a-real-plugin-xyz")
    assert code == 1 and "'zoo-not-a-real-plugin-xyz' is not installed" in err


def test_requirement_lines_follow_pip_freeze(tmp_path):
    from importlib.metadata import PathDistribution

    from zoo_core.installer import requirement_line

    def dist(direct_url=None):
        info = tmp_path / f"d{len(list(tmp_path.iterdir()))}" / "zoo_x-1.2.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-x\nVersion: 1.2\n")
        if direct_url is not None:
            (info / "direct_url.json").write_text(json.dumps(direct_url))
        return PathDistribution(info)

    assert requirement_line(dist()) == "zoo-x==1.2"
    assert requirement_line(dist({"url": "file:///src/x", "dir_info": {"editable": True}})) == "-e file:///src/x"
    assert requirement_line(dist({"url": "file:///w/x.whl", "archive_info": {}})) == "zoo-x @ file:///w/x.whl"
    assert (
        requirement_line(dist({"url": "https://g.org/x.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}}))
        == "zoo-x @ git+https://g.org/x.git@abc"
    )


def test_every_package_folder_is_in_the_wheel():
    """A package folder missing from [tool.setuptools] packages works in an editable install but not
    from a wheel: every folder with an __init__.py must be listed."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    where = {name: ROOT / path for name, path in config["package-dir"].items()}
    found = set()
    for top, folder in where.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            found.add(".".join((top, *relative)))
    assert found <= set(config["packages"]), sorted(found - set(config["packages"]))
