"""pytest fixtures for plugin authors (loaded through the ``pytest11`` entry point).

``zoo_plugin_manager``: a fresh plugin manager with the installed plugins.
``zoo_temporary_plugin``: ``make(name, **hooks)`` registers hook functions as a plugin and returns a ``Zoo``.
``zoo_cli``: ``run(*args) -> click Result`` invoking the ``zoo`` CLI in-process with a fresh plugin host.
"""

from __future__ import annotations

import io

import pytest


@pytest.fixture
def zoo_plugin_manager():
    from zoo_core.plugins import make_plugin_manager

    return make_plugin_manager(stderr=io.StringIO())


@pytest.fixture
def zoo_temporary_plugin():
    from zoo_core.plugins import Zoo, make_plugin_manager, module_plugin

    def make(name: str, **hooks):
        pm = make_plugin_manager(plugins=[(name, module_plugin(name, **hooks))], stderr=io.StringIO())
        return Zoo(pm)

    return make


@pytest.fixture
def zoo_cli(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import zoo_core.cli

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo-home"))
    monkeypatch.setattr(zoo_core.cli, "_ZOO", None)

    def run(*args: str):
        return CliRunner().invoke(zoo_core.cli.cli, list(args))

    return run
