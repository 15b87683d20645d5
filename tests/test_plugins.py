"""The plugin host: isolation of broken plugins, block/allow lists, duplicates, misspelt hooks."""

import io
import json

import pytest

from zoo_core.errors import PluginError
from zoo_core.hookspecs import hookimpl
from zoo_core.plugins import Zoo, make_plugin_manager, module_plugin
from zoo_core.specs import MethodSpec

BROKEN = """
raise ImportError("this plugin is broken on purpose")
"""

EXTRA_METHOD = """
from zoo_core.hookspecs import hookimpl
from zoo_core.specs import MethodSpec

@hookimpl
def register_methods(register):
    register(MethodSpec(name="third_party_method", factory="nowhere:Nothing", description="from a fake dist"))
"""


def test_first_party_plugins_come_through_entry_points():
    zoo = Zoo(make_plugin_manager(stderr=io.StringIO()))
    assert {"core", "timm", "hf", "methods", "peft"} <= {i.name for i in zoo.plugin_infos()}
    assert zoo.methods["lora"].plugin == "peft"
    assert zoo.backbones["timm"].plugin == "timm"
    assert zoo.weight_sources["pypi"].plugin == "core"


def test_broken_plugin_is_reported_and_listings_keep_working(run_zoo, fake_distribution):
    site = fake_distribution("zoo-broken", "zoo_broken", BROKEN)
    env = {"PYTHONPATH": str(site)}
    code, out, err = run_zoo("models", "list", "--json", env=env)
    assert code == 0
    assert len(json.loads(out)) >= 40
    assert "plugin 'zoo_broken' failed to load" in err and "ZOO_BLOCK_PLUGINS=zoo_broken" in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1

    code, out, err = run_zoo("plugins", "list", "--json", env=env)
    assert code == 0
    broken = [p for p in json.loads(out) if p["name"] == "zoo_broken"][0]
    assert broken["status"] == "failed" and "broken on purpose" in broken["error"]

    code, out, err = run_zoo("models", "list", "--json", env={**env, "ZOO_STRICT_PLUGINS": "1"})
    assert code == 1
    assert "zoo_broken" in err and "Traceback" not in err

    code, out, err = run_zoo("models", "list", "--json", env={**env, "ZOO_BLOCK_PLUGINS": "zoo_broken"})
    assert code == 0 and err == ""


def test_third_party_distribution_registers_through_the_same_door(run_zoo, fake_distribution):
    site = fake_distribution("zoo-extra", "zoo_extra", EXTRA_METHOD, entry_name="extra")
    code, out, _ = run_zoo("methods", "list", "--json", env={"PYTHONPATH": str(site)})
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["third_party_method"]["plugin"] == "extra"
    code, out, _ = run_zoo("plugins", "list", "--json", env={"PYTHONPATH": str(site)})
    extra = [p for p in json.loads(out) if p["name"] == "extra"][0]
    assert extra["distribution"] == "zoo-extra" and extra["version"] == "0.1"


def test_allow_list_loads_only_named_plugins():
    pm = make_plugin_manager(environ={"ZOO_LOAD_PLUGINS": "core,timm"}, stderr=io.StringIO())
    zoo = Zoo(pm)
    assert set(zoo.backbones) == {"timm"}
    assert zoo.methods == {}
    assert pm.info["peft"].status == "not-allowed"
    none = Zoo(make_plugin_manager(environ={"ZOO_LOAD_PLUGINS": ""}, stderr=io.StringIO()))
    assert none.backbones == {}


def _methods_plugin(name, method_name):
    def register_methods(register):
        register(MethodSpec(name=method_name, factory="x:y"))

    return (name, module_plugin(name, register_methods=register_methods))


def test_duplicate_names_are_rejected_naming_both_plugins():
    pm = make_plugin_manager(
        load_entry_points=False, plugins=[_methods_plugin("alpha", "same"), _methods_plugin("beta", "same")], environ={}
    )
    with pytest.raises(PluginError) as info:
        _ = Zoo(pm).methods
    assert "'alpha'" in str(info.value) and "'beta'" in str(info.value) and "'same'" in str(info.value)


def test_a_plugin_that_raises_in_a_hook_is_charged_alone():
    def register_methods(register):
        register(MethodSpec(name="half", factory="x:y"))
        raise RuntimeError("kaboom")

    err = io.StringIO()
    pm = make_plugin_manager(
        load_entry_points=False,
        environ={},
        stderr=err,
        plugins=[("bad", module_plugin("bad", register_methods=register_methods)), _methods_plugin("good", "fine")],
    )
    methods = Zoo(pm).methods
    assert set(methods) == {"fine"}  # the failing plugin's partial registrations are dropped
    assert "plugin 'bad' failed to run register_methods" in err.getvalue()
    strict = make_plugin_manager(
        load_entry_points=False,
        environ={"ZOO_STRICT_PLUGINS": "1"},
        stderr=io.StringIO(),
        plugins=[("bad", module_plugin("bad", register_methods=register_methods))],
    )
    with pytest.raises(PluginError, match="kaboom"):
        _ = Zoo(strict).methods


def test_misspelt_hook_fails_loudly():
    class Typo:
        @hookimpl
        def register_method(self, register):  # missing the final "s"
            pass

    with pytest.raises(PluginError, match="register_method"):
        make_plugin_manager(load_entry_points=False, plugins=[("typo", Typo())], environ={})


def test_trace_writes_to_stderr():
    err = io.StringIO()
    _ = Zoo(make_plugin_manager(environ={"ZOO_TRACE_PLUGINS": "1"}, stderr=err)).methods
    assert "loaded plugin 'peft'" in err.getvalue()
