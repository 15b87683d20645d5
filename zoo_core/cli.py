"""The ``zoo`` command line.

Listing commands never import torch: heavy modules are imported inside the commands that train or
predict. User errors (:class:`ZooError`) print one line and exit 1; usage errors exit 2; any other
exception prints one line too, and its traceback only with ``ZOO_DEBUG=1``.
"""

from __future__ import annotations

import sys

import click

from zoo_core import __version__
from zoo_core.commands._shared import (  # re-exported: plugins and tests import these from zoo_core.cli
    ZooGroup,
    _debug,
    _echo_err,
    column_options,
    column_values,
    emit_json,
    json_option,
    print_table,
)
from zoo_core.commands.adapters import adapters
from zoo_core.commands.catalog import models, tasks
from zoo_core.commands.catalog_admin import catalog_group
from zoo_core.commands.demo import demo
from zoo_core.commands.methods import methods
from zoo_core.commands.plugins import install, plugins, uninstall
from zoo_core.commands.recommend import recommend
from zoo_core.commands.training import evaluate, finetune, predict, quickstart
from zoo_core.commands.unsupervised import cluster, embed
from zoo_core.commands.zero_shot import zero_shot
from zoo_core.errors import ZooError

__all__ = [
    "RootGroup",
    "ZooGroup",
    "_debug",
    "_echo_err",
    "cli",
    "column_options",
    "column_values",
    "emit_json",
    "get_zoo",
    "json_option",
    "main",
    "print_table",
]

_ZOO = None  # the one lazily built Zoo of this CLI process


def get_zoo():
    """The CLI's plugin host, built on first use (plus any ``--catalog`` files given)."""
    global _ZOO
    if _ZOO is None:
        from zoo_core.plugins import Zoo

        ctx = click.get_current_context(silent=True)
        extra = (ctx.find_root().obj or {}).get("catalogs", ()) if ctx else ()
        _ZOO = Zoo(catalog_paths=extra)
    return _ZOO


class RootGroup(ZooGroup):
    """The top-level group: plugin commands are added on first listing."""

    _plugins_added = False

    def list_commands(self, ctx):
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None:
            self._add_plugin_commands()
            command = super().get_command(ctx, name)
        return command

    def _add_plugin_commands(self) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        try:
            zoo = get_zoo()
        except ZooError as exc:
            click.echo(f"zoo: {exc}", err=True)
            return
        from zoo_core.plugins import PLUGIN_FAILURES

        builtins = set(self.commands)
        added_by: dict[str, str] = {}  # command name -> the plugin that added it
        # In load order: on a clash between two plugins, the one loaded first keeps the name.
        for impl in zoo.pm.hook.register_commands.get_hookimpls():
            plugin = impl.plugin_name
            before = dict(self.commands)
            try:
                impl.function(cli=self)
            except PLUGIN_FAILURES as exc:
                self._restore(before, {})  # a failing plugin's partial additions are dropped
                zoo.pm.plugin_failed(plugin, exc, "add its commands")
                continue
            new = {name: command for name, command in self.commands.items() if name not in before}
            touched = sorted(name for name, command in before.items() if self.commands.get(name) is not command)
            removed = {name for name in touched if name not in self.commands}
            self._restore(before, new)
            added_by.update(dict.fromkeys(new, plugin))
            for name in touched:
                owner = "a built-in zoo command" if name in builtins else f"added by plugin '{added_by.get(name)}'"
                zoo.pm.refuse(
                    f"plugin '{plugin}' adds a command '{name}', which is {owner}; that one stays and the plugin's "
                    f"is not added. Rename the plugin's command, or block it with ZOO_BLOCK_PLUGINS={plugin}"
                    if name not in removed
                    else f"plugin '{plugin}' removes the command '{name}', which is {owner}; it was put back. "
                    f"Block the plugin with ZOO_BLOCK_PLUGINS={plugin}"
                )

    def _restore(self, before: dict[str, click.Command], new: dict[str, click.Command]) -> None:
        """Put back the commands as they were in ``before``, plus the ``new`` ones."""
        self.commands.clear()
        self.commands.update(before)
        self.commands.update(new)


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="transfer-zoo")
@click.option(
    "--catalog",
    "catalogs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="An extra catalog file (registry.json schema). Repeatable; ZOO_CATALOG works too.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Let the libraries' own progress bars, warnings and log lines through (transformers, peft, timm...).",
)
@click.pass_context
def cli(ctx, catalogs, verbose):
    """transfer-zoo: pick a pre-trained model, adapt it to your data, keep the adapter.

    \b
    Examples:
      zoo models list --task image-classification --max-params 10M
      zoo models show resnet50
      zoo methods list
      zoo plugins list --json
    """
    from zoo_core.quiet import configure_output

    configure_output(verbose=verbose)
    ctx.obj = {"catalogs": catalogs}


cli.add_command(install)
cli.add_command(uninstall)
cli.add_command(plugins)
cli.add_command(models)
cli.add_command(methods)
cli.add_command(tasks)
cli.add_command(finetune)
cli.add_command(evaluate)
cli.add_command(predict)
cli.add_command(quickstart)
cli.add_command(recommend)
cli.add_command(adapters)
cli.add_command(catalog_group)
cli.add_command(demo)
cli.add_command(zero_shot)
cli.add_command(embed)
cli.add_command(cluster)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="zoo")
    except ZooError as exc:  # raised outside a command (e.g. building the plugin host)
        if _debug():
            raise
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    # ``python -m zoo_core.cli``: run the importable module, so that the commands and this entry point
    # share one plugin host (``zoo_core.cli._ZOO``) rather than one each in ``__main__`` and ``zoo_core.cli``.
    from zoo_core.cli import main as _main

    _main()
