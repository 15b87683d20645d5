"""The ``zoo`` command line.

Listing commands never import torch: heavy modules are imported inside the commands that train or
predict. User errors (:class:`ZooError`) print one line and exit 1; usage errors exit 2; any other
exception prints one line too, and its traceback only with ``ZOO_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from zoo_core import __version__
from zoo_core.errors import ZooError, did_you_mean

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


def _debug() -> bool:
    return os.environ.get("ZOO_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


class ZooGroup(click.Group):
    """A click group with "did you mean" for commands and one-line errors."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            self.list_commands(ctx)  # plugin commands are added lazily
            if args[0] not in self.commands:
                ctx.fail(f"no such command '{args[0]}'.{did_you_mean(args[0], self.commands)}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            if _debug():
                raise
            raise click.ClickException(str(exc)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if _debug():
                raise
            message = " ".join(str(exc).split())
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {message} (set ZOO_DEBUG=1 for the traceback)"
            ) from None


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
        for impl in zoo.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=self)
            except Exception as exc:
                zoo.pm.plugin_failed(impl.plugin_name, exc, "add its commands")


def emit_json(data: Any) -> None:
    """Print machine-readable output: sorted keys, no colour, one document."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Print ``rows`` as aligned columns; ``columns`` is ``[(key, header), ...]``."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[header for _, header in columns]] + [
        ["" if row.get(key) is None else str(row.get(key)) for key, _ in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for index, line in enumerate(cells):
        text = "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
        click.echo(click.style(text, bold=True) if index == 0 and sys.stdout.isatty() else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys, no colour).")


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="transfer-zoo")
@click.option(
    "--catalog",
    "catalogs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="An extra catalog file (registry.json schema). Repeatable; ZOO_CATALOG works too.",
)
@click.pass_context
def cli(ctx, catalogs):
    """transfer-zoo: pick a pre-trained model, adapt it to your data, keep the adapter.

    \b
    Examples:
      zoo models list --task image-classification --max-params 10M
      zoo models show resnet50
      zoo methods list
      zoo plugins list --json
    """
    ctx.obj = {"catalogs": catalogs}


# --------------------------------------------------------------------------- install
_PIP_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": ["-h", "--help"]}


@cli.command(context_settings=_PIP_PASSTHROUGH)
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


@cli.command(context_settings=_PIP_PASSTHROUGH)
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


# --------------------------------------------------------------------------- plugins
@cli.group(cls=ZooGroup)
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
    "--kind", type=click.Choice(["method", "backbone", "scorer"]), required=True, help="What the plugin adds."
)
@click.option("--out", type=click.Path(file_okay=False), default=".", show_default=True, help="Parent folder.")
def plugins_new(name, kind, out):
    """Write a ready plugin package (pyproject with the entry point, hook module, heavy module
    behind an import string, contract tests, README) that installs and passes its tests unchanged.

    \b
    Examples:
      zoo plugins new demo-method --kind method
      zoo plugins new fisher --kind scorer --out ./plugins
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


# --------------------------------------------------------------------------- models
@cli.group(cls=ZooGroup)
def models():
    """The catalog of pre-trained models."""


def _model_row(entry) -> dict[str, Any]:
    metric = entry.metric or {}
    return {
        "id": entry.id,
        "alias": entry.aliases[0] if entry.aliases else "",
        "family": entry.family,
        "modality": entry.modality,
        "params": f"{entry.params_m:.1f}M" if entry.params_m else "?",
        "features": entry.num_features,
        "metric": f"{metric['value']:g} {metric.get('name', '')}".strip() if metric else "",
    }


@models.command("list")
@click.option("--task", help="Only models suited to this task (see 'zoo tasks list').")
@click.option("--modality", type=click.Choice(["image", "text"]), help="Only image or text models.")
@click.option("--family", help="Only this model family (plugin), e.g. timm or hf.")
@click.option("--max-params", help="Only models with at most this many parameters, e.g. 10M or 1.5B.")
@click.option("--offline", is_flag=True, help="Only models whose weights are available on this machine.")
@click.option("-q", "--query", help="Substring or glob over id, alias and architecture, e.g. 'vit*'.")
@json_option
def models_list(task, modality, family, max_params, offline, query, as_json):
    """List catalog models, filtered.

    \b
    Examples:
      zoo models list --task image-classification --max-params 10M
      zoo models list --modality text --offline --json
      zoo models list -q 'convnext*'
    """
    from zoo_core.catalog import parse_params

    zoo = get_zoo()
    if task:
        zoo.get("tasks", task)
    if family:
        zoo.get("backbones", family)
    available = None
    if offline:
        from zoo_core.weights import is_available

        sources = zoo.weight_sources
        available = lambda entry: is_available(entry, sources)  # noqa: E731
    entries = zoo.catalog.filter(
        task=task,
        modality=modality,
        family=family,
        max_params_m=parse_params(max_params) if max_params else None,
        query=query,
        available=available,
    )
    if as_json:
        emit_json([entry.as_dict() for entry in entries])
        return
    print_table(
        [_model_row(e) for e in entries],
        [
            ("id", "ID"),
            ("alias", "ALIAS"),
            ("family", "FAMILY"),
            ("modality", "MODALITY"),
            ("params", "PARAMS"),
            ("features", "FEATURES"),
            ("metric", "SOURCE METRIC"),
        ],
    )


@models.command("show")
@click.argument("name")
@json_option
def models_show(name, as_json):
    """Show one model by Hub id or alias.

    \b
    Examples:
      zoo models show resnet50
      zoo models show sentence-transformers/all-MiniLM-L6-v2 --json
    """
    entry = get_zoo().catalog.get(name)
    data = entry.as_dict()
    if as_json:
        emit_json(data)
        return
    for key in (
        "id",
        "aliases",
        "description",
        "family",
        "arch",
        "modality",
        "tasks",
        "params_m",
        "num_features",
        "input",
        "text",
        "source_head",
        "pretraining",
        "license",
        "paper",
        "metric",
        "status",
        "source",
        "weights",
        "catalog_file",
    ):
        value = data.get(key)
        if value in (None, "", [], {}):
            continue
        if key == "weights":
            click.echo("weights:")
            for source in value:
                where = source.get("repo_id") or source.get("package") or source.get("path")
                digest = f" sha256 {source['sha256'][:16]}..." if source.get("sha256") else ""
                click.echo(f"  - {source['source']}: {where}{digest}")
            continue
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        click.echo(f"{key}: {value}")


# --------------------------------------------------------------------------- methods and tasks
@cli.group(cls=ZooGroup)
def methods():
    """Adaptation methods (linear probe, full fine-tune, LoRA...)."""


@methods.command("list")
@json_option
def methods_list(as_json):
    """List adaptation methods and the modalities each supports.

    \b
    Examples:
      zoo methods list
      zoo methods list --json
    """
    specs = sorted(get_zoo().methods.values(), key=lambda s: s.name)
    rows = [
        {
            "name": s.name,
            "description": s.description,
            "modalities": list(s.modalities),
            "trains": s.trains,
            "defaults": s.defaults,
            "unsupported_reason": s.unsupported_reason or None,
            "plugin": s.plugin,
        }
        for s in specs
    ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        row["modalities"] = ",".join(row["modalities"])
    print_table(
        rows,
        [
            ("name", "NAME"),
            ("modalities", "MODALITIES"),
            ("trains", "TRAINS"),
            ("plugin", "PLUGIN"),
            ("description", "DESCRIPTION"),
        ],
    )


@methods.command("suggest")
@click.option("--data", "-d", required=True, type=click.Path(exists=True), help="Your labelled training data.")
@click.option(
    "--model", "-m", "model_id", help="The model you will adapt (default: the catalog's smallest offline one)."
)
@click.option("--text-column", help="Text column (default: auto-detect).")
@click.option("--label-column", help="Label column (default: auto-detect).")
@json_option
def methods_suggest(data, model_id, text_column, label_column, as_json):
    """Suggest an adaptation method for your data, with the reason and the numbers measured here.

    \b
    Examples:
      zoo methods suggest --data ./photos
      zoo methods suggest --data reviews.tsv --model minilm-l6 --json
    """
    import collections
    from pathlib import Path

    from zoo_core.advice import advise
    from zoo_core.data import _split_entries, load_labelled

    path = Path(data)
    splits = _split_entries(path) if path.is_dir() else {}
    if splits:
        path = splits["train"]
    labelled = load_labelled(path, check_images=False, text_column=text_column, label_column=label_column)
    counts = collections.Counter(labelled.labels)
    per_class = min(counts.values())
    zoo = get_zoo()
    if model_id:
        entry = zoo.catalog.get(model_id)
    else:
        from zoo_core.weights import is_available

        candidates = [
            e
            for e in zoo.catalog.models
            if e.modality == labelled.modality and e.params_m and is_available(e, zoo.weight_sources)
        ]
        entry = min(candidates, key=lambda e: e.params_m) if candidates else None
    advice = advise(per_class, entry.params_m if entry else None, labelled.modality)
    result = {
        "data": str(path),
        "modality": labelled.modality,
        "classes": len(counts),
        "examples": len(labelled),
        "min_per_class": per_class,
        "model": entry.id if entry else None,
        "method": advice.method,
        "reason": advice.reason,
        "alternatives": advice.alternatives,
        "evidence": advice.evidence,
    }
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"{len(labelled)} {labelled.modality} examples, {len(counts)} classes, at least {per_class} per class"
        + (f"; model {entry.id} ({entry.params_m}M parameters)" if entry else "")
    )
    click.echo(f"suggested: {advice.method}: {advice.reason}")
    click.echo(f"also worth a try: {', '.join(advice.alternatives)}")
    for line in advice.evidence:
        click.echo(f"measured here (BENCHMARKS.md): {line}")
    if entry:
        click.echo(
            f"next: zoo finetune -m {entry.aliases[0] if entry.aliases else entry.id} -d {data} --method "
            f"{advice.method}"
        )


@cli.group(cls=ZooGroup)
def tasks():
    """Tasks the catalog and plugins know."""


@tasks.command("list")
@json_option
def tasks_list(as_json):
    """List tasks, their modality, status and how many catalog models suit each.

    \b
    Examples:
      zoo tasks list --json
    """
    zoo = get_zoo()
    counts: dict[str, int] = {}
    for entry in zoo.catalog.models:
        for task in entry.tasks:
            counts[task] = counts.get(task, 0) + 1
    rows = [
        {
            "name": t.name,
            "modality": t.modality,
            "status": t.status,
            "models": counts.get(t.name, 0),
            "description": t.description,
            "plugin": t.plugin,
        }
        for t in sorted(zoo.tasks.values(), key=lambda t: t.name)
    ]
    if as_json:
        emit_json(rows)
        return
    print_table(
        rows,
        [
            ("name", "NAME"),
            ("modality", "MODALITY"),
            ("status", "STATUS"),
            ("models", "MODELS"),
            ("description", "DESCRIPTION"),
        ],
    )


# --------------------------------------------------------------------------- train / evaluate / predict
def _parse_options(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, booleans, lists)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ZooError(f"{what} must look like key=value, got '{pair}'")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value
    return options


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


@cli.command()
@click.option("--model", "-m", "model_id", required=True, help="Catalog id or alias (zoo models list).")
@click.option(
    "--data",
    "-d",
    required=True,
    type=click.Path(exists=True),
    help="Image folder (one subfolder per class, or train/ val/ test/) or a CSV/TSV/JSONL file.",
)
@click.option("--val", type=click.Path(exists=True), help="Validation data (default: a stratified 20% of --data).")
@click.option("--test", type=click.Path(exists=True), help="Test data, for an unbiased final evaluation.")
@click.option("--method", default="linear_probe", show_default=True, help="Adaptation method (zoo methods list).")
@click.option("--epochs", type=int, help="Epochs (default: the method's).")
@click.option("--lr", type=float, help="Learning rate (default: the method's).")
@click.option("--batch-size", type=int, help="Batch size (default: the method's).")
@click.option("--weight-decay", type=float, help="AdamW weight decay.")
@click.option("--schedule", type=click.Choice(["cosine", "linear", "step", "constant"]), help="LR schedule.")
@click.option("--warmup", type=float, help="Fraction of steps for linear warm-up.")
@click.option("--patience", type=int, help="Early stopping: epochs without improvement on validation (0: off).")
@click.option("--grad-accum", type=int, help="Gradient accumulation steps.")
@click.option("--label-smoothing", type=float, help="Label smoothing for the cross-entropy loss.")
@click.option("--class-weights", is_flag=True, default=None, help="Weight the loss by inverse class frequency.")
@click.option("--head", default="linear", show_default=True, help="Head: linear or mlp.")
@click.option("--dropout", type=float, default=0.1, show_default=True, help="Dropout before the head.")
@click.option("--shots", type=int, help="Use only K labelled examples per class (seeded).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for splits, sampling and initialisation.")
@click.option("--name", help="Adapter name in the store (default: MODEL-METHOD); a new run makes a new version.")
@click.option("--text-column", help="Text column of a CSV/TSV/JSONL file (default: auto-detect).")
@click.option("--label-column", help="Label column (default: auto-detect; 'first-token' for TREC-style lines).")
@click.option("--random-weights", is_flag=True, help="Use the architecture with random weights (a baseline).")
@click.option(
    "--option",
    "-o",
    "method_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Method option, e.g. -o r=16 -o target_modules=query,value -o gradual_unfreeze=true.",
)
@click.option("--variant", help="Method variant, e.g. houlsby or pfeiffer for --method bottleneck.")
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Repeat over N seeds (SEED, SEED+1, ...) and report mean and standard deviation; "
    "with --shots each seed draws other examples. Repeats store no adapters.",
)
@click.option("--no-save", is_flag=True, help="Do not store the adapter or the run folder.")
@json_option
def finetune(
    model_id,
    data,
    val,
    test,
    method,
    epochs,
    lr,
    batch_size,
    weight_decay,
    schedule,
    warmup,
    patience,
    grad_accum,
    label_smoothing,
    class_weights,
    head,
    dropout,
    shots,
    seed,
    name,
    text_column,
    label_column,
    random_weights,
    method_opts,
    variant,
    repeat,
    no_save,
    as_json,
):
    """Adapt a pre-trained model to your labelled data, evaluate it, store the adapter.

    \b
    Examples:
      zoo finetune --model efficientnet-lite0 --data ./photos
      zoo finetune -m minilm-l6 -d reviews.csv --method lora --epochs 3
      zoo finetune -m resnet50 -d ./photos --method full -o gradual_unfreeze=true --test ./photos_test
      zoo finetune -m minilm-l6 -d reviews.csv --method bottleneck --variant pfeiffer -o reduction=8
      zoo finetune -m minilm-l6 -d reviews.csv --method protonet --shots 8 --repeat 10
    """
    from zoo_core.engine.pipeline import finetune as run_finetune

    method_options = _parse_options(method_opts, "--option")
    if variant:
        method_options["variant"] = variant

    data_options = {k: v for k, v in {"text_column": text_column, "label_column": label_column}.items() if v}
    log = (lambda message: None) if as_json else _echo_err

    def run(run_seed: int, save: bool):
        return run_finetune(
            model_id,
            data,
            method=method,
            val=val,
            test=test,
            name=name,
            head=head,
            head_options={"dropout": dropout},
            method_options=dict(method_options),
            pretrained=not random_weights,
            shots=shots,
            seed=run_seed,
            save=save,
            zoo=get_zoo(),
            log=log,
            data_options=data_options,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            weight_decay=weight_decay,
            schedule=schedule,
            warmup=warmup,
            patience=patience,
            grad_accum=grad_accum,
            label_smoothing=label_smoothing,
            class_weights=class_weights,
            progress=not as_json,
        )

    if repeat > 1:
        _report_repeats([run(seed + i, False) for i in range(repeat)], seed, as_json)
        return
    result = run(seed, not no_save)
    if not result.is_main_process:
        return  # under torchrun / accelerate launch only the main process reports
    if as_json:
        emit_json(result.as_dict())
        return
    from zoo_core.metrics import format_report

    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(format_report(result.metrics))
    click.echo(
        f"{result.eval_split} accuracy {result.metrics['accuracy']:.4f}, macro-F1 {result.metrics['macro_f1']:.4f} "
        f"(best epoch {result.best_epoch}, {result.train_seconds:.1f}s training)"
    )
    if result.adapter:
        click.echo(f"adapter saved as {result.adapter} in {result.adapter_path}")
    if result.run_dir:
        click.echo(f"run folder: {result.run_dir}")


def _report_repeats(results, first_seed: int, as_json: bool) -> None:
    """Mean and sample standard deviation over seeded repeats (how few-shot results are reported)."""
    import statistics

    if not results[0].is_main_process:
        return
    summary: dict[str, Any] = {
        "repeats": len(results),
        "seeds": [first_seed + i for i in range(len(results))],
        "eval_split": results[0].eval_split,
    }
    for key in ("accuracy", "macro_f1"):
        values = [r.metrics[key] for r in results]
        summary[key] = values
        summary[f"{key}_mean"] = statistics.fmean(values)
        summary[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"{len(results)} seeded repeats (seeds {summary['seeds'][0]}..{summary['seeds'][-1]}), "
        f"{summary['eval_split']}: accuracy {summary['accuracy_mean']:.4f} +/- {summary['accuracy_std']:.4f}, "
        f"macro-F1 {summary['macro_f1_mean']:.4f} +/- {summary['macro_f1_std']:.4f} (mean +/- sd)"
    )


@cli.command()
@click.argument("adapter")
@click.option("--data", "-d", required=True, type=click.Path(exists=True), help="Labelled data to evaluate on.")
@click.option("--text-column", help="Text column (default: auto-detect).")
@click.option("--label-column", help="Label column (default: auto-detect).")
@click.option("--allow-base-mismatch", is_flag=True, help="Load even if the base weights differ from training.")
@json_option
def evaluate(adapter, data, text_column, label_column, allow_base_mismatch, as_json):
    """Evaluate a stored adapter (NAME or NAME@VERSION) on labelled data.

    \b
    Examples:
      zoo evaluate flowers-lite0 --data ./photos_test
      zoo evaluate reviews@2 --data test.csv --json
    """
    from zoo_core.engine.pipeline import evaluate as run_evaluate
    from zoo_core.metrics import format_report

    data_options = {k: v for k, v in {"text_column": text_column, "label_column": label_column}.items() if v}
    metrics = run_evaluate(
        adapter, data, zoo=get_zoo(), allow_base_mismatch=allow_base_mismatch, data_options=data_options
    )
    if as_json:
        emit_json(metrics)
        return
    click.echo(format_report(metrics))


@cli.command()
@click.argument("adapter")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--top-k", type=int, default=1, show_default=True, help="How many labels to show per input.")
@click.option("--allow-base-mismatch", is_flag=True, help="Load even if the base weights differ from training.")
@click.option(
    "--support",
    type=click.Path(exists=True),
    help="Labelled examples (class folders or a text file) "
    "to classify against instead of the adapter's own (protonet adapters; new classes allowed).",
)
@json_option
def predict(adapter, inputs, top_k, allow_base_mismatch, support, as_json):
    """Predict labels with a stored adapter. INPUTS are image files, or texts for text models.

    \b
    Examples:
      zoo predict flowers-lite0 rose1.jpg tulip2.jpg
      zoo predict reviews "Great food, friendly staff" --top-k 2 --json
      zoo predict flowers-protonet new.jpg --support my_labelled_folder/
    """
    from zoo_core.engine.pipeline import predict as run_predict

    results = run_predict(
        adapter, inputs, zoo=get_zoo(), top_k=top_k, allow_base_mismatch=allow_base_mismatch, support=support
    )
    if as_json:
        emit_json(results)
        return
    for row in results:
        extra = "  ".join(f"{t['label']} {t['score']:.3f}" for t in row["top"][1:])
        click.echo(f"{row['label']}\t{row['score']:.3f}\t{row['input']}" + (f"\t({extra})" if extra else ""))


@cli.command()
@click.option("--shots", type=int, default=10, show_default=True, help="Labelled examples per class.")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def quickstart(shots, seed, as_json):
    """Run the whole journey offline on an embedded default (a minute or two on 2 CPU cores).

    EfficientNet-Lite0 with bundled ImageNet weights learns handwritten digits from SHOTS images per
    class (full fine-tuning at 96 px), is evaluated on held-out digits, saved as the adapter 'quickstart-digits',
    and compared with the same architecture with random weights.

    \b
    Examples:
      zoo quickstart
      zoo quickstart --shots 5 --json
    """
    from zoo_core.quickstart import ADAPTER, run

    result = run(shots=shots, seed=seed, log=(lambda m: None) if as_json else click.echo, zoo=get_zoo())
    if as_json:
        emit_json(result)
        return
    pre, rnd = result["pretrained"], result["random"]
    click.echo("")
    click.echo(
        f"Accuracy reached: {pre['accuracy']:.1%} with pre-trained weights vs {rnd['accuracy']:.1%} with "
        f"random weights ({pre['accuracy'] - rnd['accuracy']:+.1%} from transfer), "
        f"on {pre['metrics']['num_samples']} held-out digits."
    )
    click.echo(f"Adapter saved as {pre['adapter']} ({pre['adapter_path']}); run folder {pre['run_dir']}.")
    click.echo("")
    click.echo("Go further:")
    click.echo(f"  zoo predict {ADAPTER} {result['example']}")
    click.echo(f"  zoo evaluate {ADAPTER} --data {result['test_dir']}")
    click.echo(
        f"  zoo finetune --model efficientnet-lite0 --data {result['train_dir']} --method lora --test "
        f"{result['test_dir']}"
    )
    click.echo("  zoo models list --task image-classification --offline")


@cli.command()
@click.option("--data", "-d", required=True, type=click.Path(exists=True), help="Your labelled data.")
@click.option("--task", help="Task (default: image- or text-classification from the data).")
@click.option("--candidates", help="Comma-separated model ids or aliases (default: every catalog model for the task).")
@click.option("--max-params", help="Only candidates with at most this many parameters, e.g. 10M.")
@click.option("--offline", is_flag=True, help="Only candidates whose weights are on this machine.")
@click.option(
    "--budget-seconds",
    type=float,
    default=90.0,
    show_default=True,
    help="Time for feature extraction over all candidates; the data is subsampled to fit (0 = all data). "
    "The noise estimate gets at most a quarter of it on top.",
)
@click.option("--top", type=int, help="Show only the best K.")
@click.option("--scorer", default="logme", show_default=True, help="Transferability score (zoo plugins list).")
@click.option("--verify", type=int, default=0, help="Confirm the top K with a 5-fold linear-probe accuracy.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--resamples",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Rescore on this many half-samples of the data to tell real score gaps from noise (0 = off).",
)
@click.option("--text-column", help="Text column (default: auto-detect).")
@click.option("--label-column", help="Label column (default: auto-detect).")
@json_option
def recommend(
    data,
    task,
    candidates,
    max_params,
    offline,
    budget_seconds,
    top,
    scorer,
    verify,
    seed,
    resamples,
    text_column,
    label_column,
    as_json,
):
    """Rank pre-trained models on your own data, before any fine-tuning.

    Extracts features once per candidate and scores them with LogME (default), which predicts
    fine-tuned accuracy far better than ImageNet accuracy does; suggests a method per model.
    AHEAD is the share of half-samples of the data on which a model outscores the next one: below 90 %
    their order is noise, and the output names the candidates tied with the best.

    \b
    Examples:
      zoo recommend --data ./photos --offline
      zoo recommend --task text-classification --data reviews.csv --candidates minilm-l6,bert-base --verify 2
    """
    from zoo_core.catalog import parse_params
    from zoo_core.engine.recommend import recommend as run_recommend

    data_options = {k: v for k, v in {"text_column": text_column, "label_column": label_column}.items() if v}
    result = run_recommend(
        data,
        task=task,
        candidates=[c.strip() for c in candidates.split(",") if c.strip()] if candidates else None,
        max_params_m=parse_params(max_params) if max_params else None,
        offline=offline or None,
        budget_seconds=budget_seconds or None,
        top=top,
        scorer=scorer,
        verify=verify,
        seed=seed,
        resamples=resamples,
        zoo=get_zoo(),
        log=(lambda m: None) if as_json else _echo_err,
        data_options=data_options,
    )
    if as_json:
        emit_json(result.as_dict())
        return
    for note in result.notes:
        click.echo(f"note: {note}")
    rows = []
    for rank, c in enumerate(result.candidates, start=1):
        rows.append(
            {
                "rank": rank,
                "model": c.alias,
                "score": f"{c.score:.4f}" if c.score is not None else c.error,
                "sd": f"{c.score_sd:.4f}" if c.score_sd is not None else "",
                "ahead": f"{c.ahead_of_next:.0%}" if c.ahead_of_next is not None else "",
                "params": f"{c.params_m:.1f}M" if c.params_m else "?",
                "seconds": c.feature_seconds,
                "verify": f"{c.verify_accuracy:.3f}" if c.verify_accuracy is not None else "",
                "method": c.suggested_method,
            }
        )
    print_table(
        rows,
        [
            ("rank", "#"),
            ("model", "MODEL"),
            ("score", result.scorer.upper()),
            ("sd", "SD"),
            ("ahead", "AHEAD"),
            ("params", "PARAMS"),
            ("seconds", "FEATURE S"),
            ("verify", "PROBE ACC"),
            ("method", "SUGGESTED"),
        ],
    )
    if result.candidates and result.candidates[0].score is not None:
        best = result.candidates[0]
        click.echo(f"\nbest: {best.model} -> {best.suggested_method}: {best.reason}")
        if result.tied_with_best:
            aliases = {c.model: c.alias for c in result.candidates}
            click.echo(
                f"tied within noise: {', '.join(aliases.get(m, m) for m in result.tied_with_best)}; "
                "any of them is as good a start"
            )
        click.echo(f"next: zoo finetune --model {best.alias} --data {data} --method {best.suggested_method}")


# --------------------------------------------------------------------------- adapters
@cli.group(cls=ZooGroup)
def adapters():
    """The local adapter store ($ZOO_HOME/adapters)."""


def _adapter_row(ref) -> dict[str, Any]:
    meta = ref.metadata()
    metrics = meta.get("metrics", {})
    return {
        "name": ref.name,
        "version": ref.version,
        "ref": str(ref),
        "base_model": meta["base_model"]["id"],
        "method": meta["method"]["name"],
        "labels": meta.get("labels", []),
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "eval_split": meta.get("eval_split"),
        "created": meta.get("created"),
        "path": str(ref.path),
        "size_bytes": sum(f.stat().st_size for f in ref.path.iterdir() if f.is_file()),
    }


@adapters.command("list")
@json_option
def adapters_list(as_json):
    """List stored adapters, every version.

    \b
    Examples:
      zoo adapters list
      zoo adapters list --json
    """
    from zoo_core.store import AdapterStore

    rows = [_adapter_row(ref) for ref in AdapterStore().list()]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        row["acc"] = f"{row['accuracy']:.3f}" if row["accuracy"] is not None else ""
        row["size"] = f"{row['size_bytes'] / 1e6:.2f} MB"
    print_table(
        rows,
        [
            ("ref", "ADAPTER"),
            ("base_model", "BASE MODEL"),
            ("method", "METHOD"),
            ("acc", "ACCURACY"),
            ("size", "SIZE"),
            ("created", "CREATED"),
        ],
    )


@adapters.command("show")
@click.argument("adapter")
@json_option
def adapters_show(adapter, as_json):
    """Show one adapter (NAME for the latest version, or NAME@N).

    \b
    Examples:
      zoo adapters show quickstart-digits
      zoo adapters show quickstart-digits@1 --json
    """
    from zoo_core.store import AdapterStore

    ref = AdapterStore().resolve(adapter)
    meta = ref.metadata()
    if as_json:
        emit_json({**meta, "path": str(ref.path)})
        return
    row = _adapter_row(ref)
    for key in ("ref", "base_model", "method", "accuracy", "macro_f1", "eval_split", "created", "path", "size_bytes"):
        click.echo(f"{key}: {row[key]}")
    click.echo(f"labels: {', '.join(row['labels'])}")
    click.echo(f"method config: {json.dumps(meta['method'].get('config', {}), sort_keys=True)}")


@adapters.command("rm")
@click.argument("adapter")
def adapters_rm(adapter):
    """Delete an adapter: NAME@N removes one version, NAME every version.

    \b
    Examples:
      zoo adapters rm quickstart-digits@1
    """
    from zoo_core.store import AdapterStore

    removed = AdapterStore().remove(adapter)
    click.echo("removed " + ", ".join(str(ref) for ref in removed))


@adapters.command("export")
@click.argument("adapter")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["peft", "archive"]),
    default="archive",
    show_default=True,
    help="peft: adapter_config.json + adapter_model.safetensors for peft.PeftModel; archive: .tar.gz.",
)
@click.option("--out", required=True, type=click.Path(), help="Folder (peft) or file/folder (archive).")
def adapters_export(adapter, fmt, out):
    """Export an adapter in PEFT format or as an archive for 'zoo adapters import'.

    \b
    Examples:
      zoo adapters export reviews-lora --format peft --out ./reviews-peft
      zoo adapters export quickstart-digits --format archive --out ./shared/
    """
    from zoo_core.engine.export import export_archive, export_peft

    path = export_peft(adapter, out) if fmt == "peft" else export_archive(adapter, out)
    click.echo(f"exported {adapter} to {path}")


@adapters.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="Store it under this name (default: the name it was exported with).")
def adapters_import(archive, name):
    """Import an adapter archive as a new version (file hashes are checked).

    \b
    Examples:
      zoo adapters import quickstart-digits-v1.tar.gz
      zoo adapters import colleague.tar.gz --name their-model
    """
    from zoo_core.engine.export import import_archive

    ref = import_archive(archive, name=name)
    click.echo(f"imported as {ref} ({ref.path})")


@adapters.command("push")
@click.argument("adapter")
@click.option("--repo", "repo_id", required=True, help="Hub repo id, e.g. me/my-adapter.")
@click.option("--private", is_flag=True, help="Create the repo as private.")
def adapters_push(adapter, repo_id, private):
    """Upload an adapter to the Hugging Face Hub (PEFT format for LoRA adapters).

    \b
    Examples:
      zoo adapters push reviews-lora --repo me/reviews-lora --private
    """
    from zoo_core.engine.export import push_to_hub

    click.echo(f"pushed: {push_to_hub(adapter, repo_id, private=private)}")


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
    main()
