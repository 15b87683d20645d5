"""Shared fixtures: every test gets its own ZOO_HOME and a fresh CLI plugin host, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]

# Under pytest-xdist (make test runs one worker per core) each worker, and every process it starts,
# computes on one thread: two workers with a thread per core each oversubscribe the CPU, which made
# small backward passes many times slower on this 2-core kind of machine. Set before torch loads.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

# Property-based tests: a fixed, derandomised profile in CI (the same examples every run), a wider
# random one elsewhere; HYPOTHESIS_PROFILE overrides.
settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("zoo-home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in (
        "ZOO_BLOCK_PLUGINS",
        "ZOO_LOAD_PLUGINS",
        "ZOO_STRICT_PLUGINS",
        "ZOO_TRACE_PLUGINS",
        "ZOO_CATALOG",
        "ZOO_DEBUG",
    ):
        monkeypatch.delenv(var, raising=False)
    import zoo_core.cli

    monkeypatch.setattr(zoo_core.cli, "_ZOO", None)
    yield home


@pytest.fixture
def run_zoo():
    """Run the real ``zoo`` console entry in a subprocess: (returncode, stdout, stderr)."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: str | None = None):
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-c", "from zoo_core.cli import main; main()", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=300,
        )
        debug = full_env.get("ZOO_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
        if not debug:
            # Bad input gets one clear line: never "internal error", never a traceback (issue 15).
            assert "internal error" not in proc.stderr, f"zoo {' '.join(args)}: {proc.stderr[-2000:]}"
            assert "Traceback (most recent call last)" not in proc.stdout + proc.stderr, proc.stderr[-2000:]
        return proc.returncode, proc.stdout, proc.stderr

    return run


@pytest.fixture
def fake_distribution(tmp_path):
    """Make an installed-looking distribution on a sys.path folder: a module plus a real
    ``*.dist-info`` with ``entry_points.txt`` in the ``zoo`` group. Returns the folder."""

    def make(dist_name: str, module_name: str, source: str, entry_name: str | None = None) -> Path:
        site = tmp_path / "site"
        site.mkdir(exist_ok=True)
        (site / f"{module_name}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist_name.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[zoo]\n{entry_name or module_name} = {module_name}\n")
        (info / "RECORD").write_text("")
        return site

    return make


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory):
    """A catalog file naming a tiny timm convnet and a tiny BERT on local disk (built once)."""
    from zoo_core.testing.tiny import build_tiny_catalog

    return build_tiny_catalog(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture
def tiny_zoo(tiny_catalog):
    import io

    from zoo_core.plugins import Zoo, make_plugin_manager

    return Zoo(make_plugin_manager(stderr=io.StringIO()), catalog_paths=[str(tiny_catalog)])


@pytest.fixture
def image_folder(tmp_path):
    from zoo_core.testing.tiny import write_image_folder

    return write_image_folder(tmp_path / "images")


@pytest.fixture
def text_file(tmp_path):
    from zoo_core.testing.tiny import write_text_file

    return write_text_file(tmp_path / "reviews.csv")
