"""CLI behaviour: JSON output, filters, errors and exit codes."""

import json

import pytest
from click.testing import CliRunner

from zoo_core.cli import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_models_list_filters_by_task_and_params():
    result = invoke("models", "list", "--task", "image-classification", "--max-params", "10M", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows and all(r["params_m"] <= 10 and "image-classification" in r["tasks"] for r in rows)
    assert "\x1b[" not in result.output


def test_models_list_offline_lists_bundled_weights():
    rows = json.loads(invoke("models", "list", "--offline", "--json").output)
    ids = {r["id"] for r in rows}
    assert "timm/tf_efficientnet_lite0.in1k" in ids and "sentence-transformers/all-MiniLM-L6-v2" in ids
    assert "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k" not in ids


def test_models_show_resolves_alias():
    result = invoke("models", "show", "resnet50", "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["id"] == "timm/resnet50.a1_in1k"
    human = invoke("models", "show", "resnet50")
    assert "id: timm/resnet50.a1_in1k" in human.output


def test_listing_json_keys_are_stable():
    methods = json.loads(invoke("methods", "list", "--json").output)
    assert {"name", "description", "modalities", "trains", "defaults", "plugin"} <= set(methods[0])
    tasks = json.loads(invoke("tasks", "list", "--json").output)
    assert {"name", "modality", "status", "models"} <= set(tasks[0])
    plugins = json.loads(invoke("plugins", "list", "--json").output)
    assert {"name", "status", "distribution", "version", "registers", "error"} <= set(plugins[0])


def test_unknown_names_get_did_you_mean_and_exit_1():
    result = invoke("models", "show", "resnet05")
    assert result.exit_code == 1
    assert "Did you mean" in result.output
    result = invoke("models", "list", "--task", "image-clasification")
    assert result.exit_code == 1 and "image-classification" in result.output


def test_usage_errors_exit_2_with_suggestion():
    result = invoke("modles", "list")
    assert result.exit_code == 2 and "Did you mean 'models'" in result.output
    assert invoke("models", "list", "--max-params").exit_code == 2


def test_bad_param_count_is_a_user_error():
    result = invoke("models", "list", "--max-params", "lots")
    assert result.exit_code == 1 and "10M" in result.output


def test_plugin_can_add_a_command(monkeypatch):
    import io

    import click

    import zoo_core.cli
    from zoo_core.plugins import Zoo, make_plugin_manager, module_plugin

    def register_commands(cli):
        @cli.command(name="hello")
        def hello():
            click.echo("hello from a plugin")

    pm = make_plugin_manager(
        plugins=[("greeter", module_plugin("greeter", register_commands=register_commands))], stderr=io.StringIO()
    )
    monkeypatch.setattr(zoo_core.cli, "_ZOO", Zoo(pm))
    monkeypatch.setattr(zoo_core.cli.cli, "_plugins_added", False)
    try:
        result = invoke("hello")
        assert result.exit_code == 0 and "hello from a plugin" in result.output
    finally:
        zoo_core.cli.cli.commands.pop("hello", None)


@pytest.mark.slow  # trains a model
def test_finetune_repeat_reports_mean_and_sd_over_seeded_draws(tiny_catalog, image_folder, run_zoo):
    import statistics

    code, out, err = run_zoo(
        "--catalog",
        str(tiny_catalog),
        "finetune",
        "-m",
        "tiny-image",
        "-d",
        str(image_folder),
        "--method",
        "protonet",
        "--shots",
        "3",
        "--repeat",
        "3",
        "--seed",
        "5",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["seeds"] == [5, 6, 7] and len(summary["accuracy"]) == 3
    assert summary["accuracy_mean"] == pytest.approx(statistics.fmean(summary["accuracy"]))
    assert summary["accuracy_std"] == pytest.approx(statistics.stdev(summary["accuracy"]))
    code, out, _ = run_zoo("adapters", "list", "--json")
    assert json.loads(out) == []  # repeats store nothing
