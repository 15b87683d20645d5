"""Issue 15, plugins: a plugin that clashes, exits, is slow or names a factory that is not there
gets one line naming it (and how to block it); nothing vanishes silently and every other command
keeps working."""

from __future__ import annotations

import io
import json
import sys

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo_core import specs
from zoo_core.errors import PluginError
from zoo_core.plugins import Zoo, make_plugin_manager, module_plugin
from zoo_core.specs import BackboneSpec, HeadSpec, MethodSpec, ScorerSpec
from zoo_core.testing.tiny import TINY_IMAGE

FIRST_PARTY_METHODS = {"bitfit", "bottleneck", "contrastive", "fomaml", "full", "linear_probe", "ln_tuning", "protonet"}

ONE_METHOD = """
from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec

@hookimpl
def register_methods(register):
    register(MethodSpec(name="{method}", factory="nowhere:Nothing", description="from {dist}"))
"""


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def on_path(monkeypatch):
    """Put a fake distribution's folder on sys.path for an in-process plugin manager; forget the
    modules it imported afterwards."""
    before = set(sys.modules)

    def add(site):
        monkeypatch.syspath_prepend(str(site))
        return site

    yield add
    for name in set(sys.modules) - before:
        if name.startswith("zoo_t15_"):
            del sys.modules[name]


# -- item 17: two plugins under one name ------------------------------------------------------------


def test_third_party_plugin_named_like_a_first_party_one_keeps_both(run_zoo, fake_distribution):
    site = fake_distribution(
        "zoo-evil", "zoo_t15_evil", ONE_METHOD.format(method="evil_method", dist="zoo-evil"), entry_name="methods"
    )
    env = {"PYTHONPATH": str(site)}
    code, out, err = run_zoo("methods", "list", "--json", env=env)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert FIRST_PARTY_METHODS <= set(rows)  # the eight first-party methods are all still there
    assert {rows[name]["plugin"] for name in FIRST_PARTY_METHODS} == {"methods"}
    assert rows["evil_method"]["plugin"] == "zoo-evil:methods"
    (line,) = _lines(err)
    assert "'methods'" in line and "transfer-zoo" in line and "zoo-evil" in line
    assert "zoo-evil:methods" in line and "ZOO_BLOCK_PLUGINS=" in line

    code, out, err = run_zoo("plugins", "list", "--json", env=env)
    plugins = {p["name"]: p for p in json.loads(out)}
    assert plugins["methods"]["distribution"] == "transfer-zoo" and plugins["methods"]["status"] == "loaded"
    assert plugins["zoo-evil:methods"]["distribution"] == "zoo-evil"
    assert plugins["zoo-evil:methods"]["status"] == "loaded"

    # Blocking the newcomer by its qualified name or its distribution silences the warning.
    for blocked in ("zoo-evil:methods", "zoo-evil"):
        code, out, err = run_zoo("methods", "list", "--json", env={**env, "ZOO_BLOCK_PLUGINS": blocked})
        assert code == 0 and err == "", err
        assert {row["name"] for row in json.loads(out)} >= FIRST_PARTY_METHODS
        assert "evil_method" not in {row["name"] for row in json.loads(out)}

    code, out, err = run_zoo("methods", "list", "--json", env={**env, "ZOO_STRICT_PLUGINS": "1"})
    assert code == 1 and "transfer-zoo" in err and "zoo-evil" in err


def test_two_third_party_plugins_under_one_name_both_load(fake_distribution, on_path):
    fake_distribution("zoo-bbb", "zoo_t15_bbb", ONE_METHOD.format(method="from_bbb", dist="zoo-bbb"), "extra")
    site = fake_distribution("zoo-aaa", "zoo_t15_aaa", ONE_METHOD.format(method="from_aaa", dist="zoo-aaa"), "extra")
    on_path(site)
    err = io.StringIO()
    zoo = Zoo(make_plugin_manager(environ={}, stderr=err))
    # Distribution names decide who keeps the plain name, not the order the file system lists them in.
    assert zoo.methods["from_aaa"].plugin == "extra"
    assert zoo.methods["from_bbb"].plugin == "zoo-bbb:extra"
    (line,) = _lines(err.getvalue())
    assert "zoo-aaa" in line and "zoo-bbb" in line and "ZOO_BLOCK_PLUGINS=zoo-bbb:extra" in line


# -- item 18: SystemExit from plugin code -----------------------------------------------------------

QUITS_AT_IMPORT = """
import sys
sys.exit("plugin called sys.exit")
"""

QUITS_IN_HOOKS = """
import click
from zoo_core.hookspecs import hookimpl

@hookimpl
def register_methods(register):
    raise SystemExit(3)

@hookimpl
def register_commands(cli):
    raise SystemExit(4)
"""


def test_plugin_calling_sys_exit_at_import_is_charged_alone(run_zoo, fake_distribution):
    site = fake_distribution("zoo-quitter", "zoo_t15_quitter", QUITS_AT_IMPORT)
    env = {"PYTHONPATH": str(site)}
    for args in (("--help",), ("methods", "list", "--json")):
        code, out, err = run_zoo(*args, env=env)
        assert code == 0, err
        (line,) = _lines(err)
        assert "plugin 'zoo_t15_quitter'" in line and "ZOO_BLOCK_PLUGINS=zoo_t15_quitter" in line
        assert "sys.exit" in line or "SystemExit" in line
    assert FIRST_PARTY_METHODS <= {row["name"] for row in json.loads(out)}

    code, out, err = run_zoo("methods", "list", env={**env, "ZOO_STRICT_PLUGINS": "1"})
    assert code == 1 and "zoo_t15_quitter" in err

    code, out, err = run_zoo("methods", "list", env={**env, "ZOO_BLOCK_PLUGINS": "zoo_t15_quitter"})
    assert code == 0 and err == ""


def test_plugin_raising_system_exit_in_hooks_is_charged_alone(run_zoo, fake_distribution):
    site = fake_distribution("zoo-hookquit", "zoo_t15_hookquit", QUITS_IN_HOOKS)
    env = {"PYTHONPATH": str(site)}
    code, out, err = run_zoo("methods", "list", "--json", env=env)
    assert code == 0, err
    assert FIRST_PARTY_METHODS <= {row["name"] for row in json.loads(out)}
    assert any("plugin 'zoo_t15_hookquit' failed to run register_methods" in line for line in _lines(err))
    assert all("ZOO_BLOCK_PLUGINS=zoo_t15_hookquit" in line for line in _lines(err))

    code, out, err = run_zoo("--help", env=env)
    assert code == 0 and "Usage" in out
    (line,) = _lines(err)
    assert "plugin 'zoo_t15_hookquit' failed to add its commands" in line

    code, out, err = run_zoo("methods", "list", env={**env, "ZOO_STRICT_PLUGINS": "1"})
    assert code == 1 and "zoo_t15_hookquit" in err


def test_system_exit_in_a_hook_in_process():
    def register_methods(register):
        register(MethodSpec(name="half", factory="x:y"))
        sys.exit(2)

    err = io.StringIO()
    plugin = ("quitter", module_plugin("quitter", register_methods=register_methods))
    zoo = Zoo(make_plugin_manager(load_entry_points=False, environ={}, stderr=err, plugins=[plugin]))
    assert zoo.methods == {}
    assert "plugin 'quitter' failed to run register_methods" in err.getvalue()
    assert zoo.pm.info["quitter"].status == "failed"
    strict = make_plugin_manager(
        load_entry_points=False, environ={"ZOO_STRICT_PLUGINS": "1"}, stderr=io.StringIO(), plugins=[plugin]
    )
    with pytest.raises(PluginError, match="quitter"):
        _ = Zoo(strict).methods


# -- item 19: slow plugins --------------------------------------------------------------------------

SLOW = """
import zoo_t15_clock
zoo_t15_clock.now += 10.0  # "takes 10 s to import", on the test's clock
"""


def _fake_clock(site):
    (site / "zoo_t15_clock.py").write_text("now = 0.0\n")
    import zoo_t15_clock  # type: ignore[import-not-found]

    return lambda: zoo_t15_clock.now


def test_slow_plugin_import_is_named_with_its_time(fake_distribution, on_path):
    site = on_path(fake_distribution("zoo-slow", "zoo_t15_slow", SLOW))
    clock = _fake_clock(site)
    err = io.StringIO()
    pm = make_plugin_manager(environ={}, stderr=err, clock=clock)
    assert pm.info["zoo_t15_slow"].status == "loaded"
    (line,) = _lines(err.getvalue())
    assert "plugin 'zoo_t15_slow'" in line and "10.0 s" in line and "ZOO_BLOCK_PLUGINS=zoo_t15_slow" in line


def test_trace_shows_each_plugin_load_time(fake_distribution, on_path):
    site = on_path(fake_distribution("zoo-slow", "zoo_t15_slow", SLOW))
    clock = _fake_clock(site)
    err = io.StringIO()
    make_plugin_manager(environ={"ZOO_TRACE_PLUGINS": "1"}, stderr=err, clock=clock)
    loaded = {line.split("'")[1]: line for line in _lines(err.getvalue()) if "loaded plugin '" in line}
    assert {"core", "timm", "hf", "methods", "peft", "zoo_t15_slow"} <= set(loaded)
    assert "in 0.000 s" in loaded["peft"]
    assert "in 10.000 s" in loaded["zoo_t15_slow"]


def test_fast_plugins_and_a_lower_threshold(fake_distribution, on_path):
    site = on_path(fake_distribution("zoo-slow", "zoo_t15_slow", SLOW.replace("10.0", "0.5")))
    clock = _fake_clock(site)
    err = io.StringIO()
    make_plugin_manager(environ={}, stderr=err, clock=clock)
    assert err.getvalue() == ""  # half a second: under the default threshold
    del sys.modules["zoo_t15_slow"]  # import it again
    make_plugin_manager(environ={}, stderr=err, clock=clock, slow_import_seconds=0.25)
    assert "plugin 'zoo_t15_slow'" in err.getvalue()


def test_real_clock_trace_through_the_cli(run_zoo):
    code, out, err = run_zoo("--help", env={"ZOO_TRACE_PLUGINS": "1"})
    assert code == 0
    assert any("loaded plugin 'methods'" in line and line.rstrip().endswith(" s") for line in err.splitlines())


# -- item 20: a plugin command named like a built-in ------------------------------------------------


def _plugin_commands(*names):
    def register_commands(cli):
        for name in names:

            @cli.command(name=name, help=f"PLUGIN'S OWN {name.upper()}")
            def command():
                click.echo("from the plugin")

    return register_commands


@pytest.fixture
def cli_with(monkeypatch):
    import zoo_core.cli

    builtins = dict(zoo_core.cli.cli.commands)

    def make(*plugins):
        err = io.StringIO()
        pm = make_plugin_manager(
            load_entry_points=False,
            environ={},
            stderr=err,
            plugins=[(name, module_plugin(name, register_commands=hook)) for name, hook in plugins],
        )
        monkeypatch.setattr(zoo_core.cli, "_ZOO", Zoo(pm))
        monkeypatch.setattr(zoo_core.cli.cli, "_plugins_added", False)
        return err

    yield make
    zoo_core.cli.cli.commands.clear()
    zoo_core.cli.cli.commands.update(builtins)


def test_plugin_command_named_like_a_builtin_is_refused(cli_with):
    from zoo_core.cli import cli

    err = cli_with(("clasher", _plugin_commands("finetune", "hello")))
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "PLUGIN'S OWN FINETUNE" not in result.output  # --help lists the built-in that runs
    assert "PLUGIN'S OWN HELLO" in result.output
    (line,) = _lines(err.getvalue())
    assert "plugin 'clasher'" in line and "'finetune'" in line and "ZOO_BLOCK_PLUGINS=clasher" in line
    result = CliRunner().invoke(cli, ["finetune", "--help"])
    assert "PLUGIN'S OWN" not in result.output and "--method" in result.output


def test_two_plugins_adding_one_command_name(cli_with):
    from zoo_core.cli import cli

    err = cli_with(("first", _plugin_commands("hello")), ("second", _plugin_commands("hello")))
    result = CliRunner().invoke(cli, ["hello", "--help"])
    assert result.exit_code == 0
    (line,) = _lines(err.getvalue())
    assert "plugin 'second'" in line and "plugin 'first'" in line and "'hello'" in line


def test_builtin_clash_through_the_cli(run_zoo, fake_distribution):
    source = """
    import click
    from zoo_core.hookspecs import hookimpl

    @hookimpl
    def register_commands(cli):
        @cli.command(name="finetune", help="PLUGIN'S OWN FINETUNE")
        def finetune():
            click.echo("the plugin's finetune ran")
    """
    site = fake_distribution("zoo-clash", "zoo_t15_clash", source)
    code, out, err = run_zoo("--help", env={"PYTHONPATH": str(site)})
    assert code == 0 and "PLUGIN'S OWN" not in out
    (line,) = _lines(err)
    assert "plugin 'zoo_t15_clash'" in line and "'finetune'" in line
    code, out, err = run_zoo("--help", env={"PYTHONPATH": str(site), "ZOO_STRICT_PLUGINS": "1"})
    assert code == 1 and "zoo_t15_clash" in err


# -- item 21: a spec whose factory cannot be imported ----------------------------------------------

GHOST = "zoo_t15_nowhere._impl:Thing"


def _assert_names_it(exc, plugin, name, import_string=GHOST):
    message = str(exc)
    assert "\n" not in message
    assert f"plugin '{plugin}'" in message and f"'{name}'" in message and import_string in message
    assert f"ZOO_BLOCK_PLUGINS={plugin}" in message


def _ghost_zoo(tiny_catalog, **hooks):
    pm = make_plugin_manager(plugins=[("ghostly", module_plugin("ghostly", **hooks))], stderr=io.StringIO())
    return Zoo(pm, catalog_paths=[str(tiny_catalog)])


@pytest.mark.parametrize(
    "import_string",
    [GHOST, "zoo_core.specs:NoSuchThing", "zoo_core.specs:load_object.missing", "no_colon", ".relative:x", "json.:x"],
)
def test_load_spec_object_names_plugin_spec_and_import_string(import_string):
    spec = MethodSpec(name="ghost", factory=import_string, plugin="ghostly")
    with pytest.raises(PluginError) as info:
        specs.load_spec_object(spec)
    _assert_names_it(info.value, "ghostly", "ghost", import_string)
    assert "method" in str(info.value)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    module=st.sampled_from(["zoo_core.specs", "json", "zoo_t15_nowhere", "zoo_core.", ".x", "", "zoo_core..specs"]),
    sep=st.sampled_from([":", "", "::", "."]),
    attrs=st.lists(st.text(alphabet="ab_1.:- ", max_size=6), max_size=3),
)
def test_load_spec_object_property(module, sep, attrs):
    import_string = module + sep + ".".join(attrs)
    spec = HeadSpec(name="h", factory=import_string, plugin="p")
    try:
        specs.load_spec_object(spec)
    except PluginError as exc:
        _assert_names_it(exc, "p", "h", import_string)


def test_ghost_head_and_backbone_name_the_plugin(tiny_catalog, tmp_path):
    from zoo_core.engine.model import build_backbone, build_head

    zoo = _ghost_zoo(
        tiny_catalog,
        register_heads=lambda register: register(HeadSpec(name="ghost_head", factory=GHOST)),
        register_backbones=lambda register: register(
            BackboneSpec(name="ghost_family", factory=GHOST, modality="image")
        ),
    )
    with pytest.raises(PluginError) as info:
        build_head(zoo, "ghost_head", 8, 3)
    _assert_names_it(info.value, "ghostly", "ghost_head")

    entry = json.loads(tiny_catalog.read_text())["models"][0]
    catalog = tmp_path / "ghost-catalog.json"
    catalog.write_text(
        json.dumps(
            {"schema_version": 1, "models": [{**entry, "id": "ghost/net", "aliases": [], "family": "ghost_family"}]}
        )
    )
    zoo.extra_catalog_paths.append(str(catalog))
    with pytest.raises(PluginError) as info:
        build_backbone(zoo, "ghost/net", pretrained=False)
    _assert_names_it(info.value, "ghostly", "ghost_family")


def test_ghost_scorer_names_the_plugin(tiny_catalog, image_folder):
    from zoo_core.engine.recommend import recommend

    zoo = _ghost_zoo(tiny_catalog, register_scorers=lambda register: register(ScorerSpec(name="ghost", factory=GHOST)))
    with pytest.raises(PluginError) as info:
        recommend(image_folder, scorer="ghost", zoo=zoo, candidates=[TINY_IMAGE])
    _assert_names_it(info.value, "ghostly", "ghost")


GHOST_METHOD = f"""
from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec

@hookimpl
def register_methods(register):
    register(MethodSpec(name="ghost", factory="{GHOST}"))
"""


@pytest.mark.slow  # several fresh processes
def test_ghost_method_through_finetune_is_one_line(run_zoo, fake_distribution, tiny_catalog, image_folder):
    site = fake_distribution("zoo-ghostly", "zoo_t15_ghostly", GHOST_METHOD)
    args = ("--catalog", str(tiny_catalog), "finetune", "-m", TINY_IMAGE, "-d", str(image_folder), "--method", "ghost")
    code, out, err = run_zoo(*args, "--no-save", env={"PYTHONPATH": str(site)})
    assert code == 1
    (line,) = _lines(err)
    assert line.startswith("Error: ")
    _assert_names_it(line, "zoo_t15_ghostly", "ghost")


@pytest.mark.slow  # trains a model
def test_stored_adapter_whose_method_factory_is_gone(tiny_catalog, tiny_zoo, image_folder):
    from zoo_core.engine.adapters import load_trained_model
    from zoo_core.engine.pipeline import finetune

    finetune(TINY_IMAGE, image_folder, method="linear_probe", zoo=tiny_zoo, epochs=1, name="ghosted")

    def register_methods(register):
        register(MethodSpec(name="linear_probe", factory=GHOST))

    pm = make_plugin_manager(
        environ={"ZOO_BLOCK_PLUGINS": "methods"},
        stderr=io.StringIO(),
        plugins=[("ghostly", module_plugin("ghostly", register_methods=register_methods))],
    )
    with pytest.raises(PluginError) as info:
        load_trained_model(Zoo(pm, catalog_paths=[str(tiny_catalog)]), "ghosted")
    _assert_names_it(info.value, "ghostly", "linear_probe")
