"""``zoo install``, ``zoo uninstall`` and the ``zoo plugins`` group."""

from __future__ import annotations

import click

from zoo_core.commands._shared import ZooGroup, emit_json, get_zoo, json_option, print_table
from zoo_core.errors import ZooError

_PIP_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": ["-h", "--help"]}


@click.command(context_settings=_PIP_PASSTHROUGH)
@click.argument("pip_args", nargs=-1, type=click.UNPROCESSED)
def install(pip_args):
    """Install plugins into zoo's own environment (runs pip; every pip argument passes through).

    \b
    Examples:
      zoo install zoo-cosine-probe
      zoo install -e ./zoo-my-method
      zoo install -r plugins.txt          # a set written by: zoo plugins list --requirements
      zoo install zoo-x --index-url https://example.org/simple
    """
    from zoo_core.installer import install as pip_install

    status, added = pip_install(list(pip_args))
    if status != 0:
        raise click.ClickException(f"pip install failed (exit {status}); nothing else was changed by zoo")
    if added:
        click.echo(f"new plugins: {', '.join(added)} (zoo plugins list shows what they register)")


@click.command(context_settings=_PIP_PASSTHROUGH)
@click.argument("names", nargs=-1, required=True)
def uninstall(names):
    """Uninstall plugin distributions from zoo's environment (runs pip uninstall --yes).

    \b
    Examples:
      zoo uninstall zoo-cosine-probe
    """
    from zoo_core.installer import uninstall as pip_uninstall

    status = pip_uninstall(list(names))
    if status != 0:
        raise click.ClickException(f"pip uninstall failed (exit {status})")


@click.group(cls=ZooGroup)
def plugins():
    """Installed plugins (model families, methods, scorers...)."""


@plugins.command("list")
@click.option(
    "--requirements",
    is_flag=True,
    help="Print pinned requirements of the installed third-party plugins (for zoo install -r).",
)
@json_option
def plugins_list(requirements, as_json):
    """List plugins, where they come from and what they register.

    \b
    Examples:
      zoo plugins list
      ZOO_BLOCK_PLUGINS=peft zoo plugins list --json
      zoo plugins list --requirements > plugins.txt   # then elsewhere: zoo install -r plugins.txt
    """
    if requirements:
        from zoo_core.installer import requirements as plugin_requirements

        lines = plugin_requirements()
        if as_json:
            emit_json(lines)
        else:
            for line in lines:
                click.echo(line)
        return
    zoo = get_zoo()
    registered: dict[str, list[str]] = {}
    for kind in ("backbones", "heads", "methods", "weight_sources", "scorers"):
        for name, spec in getattr(zoo, kind).items():
            registered.setdefault(spec.plugin, []).append(f"{kind}:{name}")
    rows = []
    for info in zoo.plugin_infos():
        row = info.as_dict()
        row["registers"] = registered.get(info.name, [])
        rows.append(row)
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        row["what"] = ", ".join(row["registers"]) or (row["error"] or "")
        row["dist"] = f"{row['distribution'] or ''} {row['version'] or ''}".strip()
    print_table(rows, [("name", "NAME"), ("status", "STATUS"), ("dist", "DISTRIBUTION"), ("what", "REGISTERS")])


@plugins.command("new")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["method", "backbone", "scorer", "task"]),
    required=True,
    help="What the plugin adds: an adaptation method, a model family (with a catalog and demo weights), a "
    "transferability scorer, or a task (a TaskSpec and its runner).",
)
@click.option("--out", type=click.Path(file_okay=False), default=".", show_default=True, help="Parent folder.")
def plugins_new(name, kind, out):
    """Write a ready plugin package (pyproject with the entry point, hook module, heavy module
    behind an import string, contract tests, README) that installs and passes its tests unchanged.

    A task plugin registers the task NAME ('-' for '_'): nearest-centroid image classification on
    pooled features, with a runner whose finetune, evaluate and predict work, tested by check_task
    and a tiny end-to-end run.

    \b
    Examples:
      zoo plugins new demo-method --kind method
      zoo plugins new fisher --kind scorer --out ./plugins
      zoo plugins new centroid-demo --kind task    # registers the task centroid-demo
    """
    from zoo_core.scaffold import new_plugin

    folder = new_plugin(name, kind, out)
    click.echo(f"created {folder}")
    click.echo(f"next: pip install -e {folder} && (cd {folder} && python -m pytest) && zoo plugins list")


@plugins.command("check")
@click.argument("module")
@json_option
def plugins_check(module, as_json):
    """Run the contract suite on a plugin module and print a report (exit 1 on any failure).

    \b
    Examples:
      zoo plugins check zoo_cosine_probe
      zoo plugins check zoo_demo_method --json
    """
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ZooError(f"no importable module '{module}': install the plugin (pip install -e PATH) or fix the name")
    from zoo_core.testing.checks import run_checks

    results = run_checks(module)
    if as_json:
        emit_json([{"check": r.name, "passed": r.passed, "message": r.message} for r in results])
    else:
        for r in results:
            click.echo(f"{'PASS' if r.passed else 'FAIL'}  {r.name}" + (f"\n      {r.message}" if r.message else ""))
        failed = sum(not r.passed for r in results)
        click.echo(f"{len(results) - failed} passed, {failed} failed")
    if any(not r.passed for r in results):
        raise click.exceptions.Exit(1)
