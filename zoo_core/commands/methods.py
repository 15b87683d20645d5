"""The ``zoo methods`` group."""

from __future__ import annotations

import click

from zoo_core.commands._shared import (
    ZooGroup,
    column_options,
    column_values,
    echo_skipped,
    emit_json,
    get_zoo,
    json_option,
    print_table,
)


@click.group(cls=ZooGroup)
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
            "uses_unlabeled_data": s.uses_unlabeled_data,
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


@methods.command("show")
@click.argument("name")
@json_option
def methods_show(name, as_json):
    """Show one method: what it trains, its training defaults, and every option with its type,
    default and help (what -o KEY=VALUE takes).

    \b
    Examples:
      zoo methods show lora
      zoo methods show full --json
    """
    from zoo_core.options import describe_options

    spec = get_zoo().get("methods", name)
    result = {
        "name": spec.name,
        "description": spec.description,
        "modalities": list(spec.modalities),
        "trains": spec.trains,
        "unsupported_reason": spec.unsupported_reason or None,
        "plugin": spec.plugin,
        "training_defaults": spec.train_defaults,
        "options": describe_options(spec.options),
    }
    if as_json:
        emit_json(result)
        return
    click.echo(f"{spec.name}: {spec.description}")
    click.echo(f"modalities: {', '.join(spec.modalities)}; trains: {spec.trains}; plugin: {spec.plugin}")
    if spec.unsupported_reason:
        click.echo(f"note: {spec.unsupported_reason}")
    defaults = ", ".join(f"{k}={v}" for k, v in sorted(spec.train_defaults.items()))
    click.echo(f"training defaults (override with --epochs, --lr, ...): {defaults or 'none'}")
    if spec.options is None:
        click.echo("options: not declared by this plugin")
        return
    click.echo("options (-o KEY=VALUE):")
    rows = []
    for row in result["options"]:
        limits = []
        if row["choices"]:
            limits.append("one of " + "|".join(map(str, row["choices"])))
        if row["min"] is not None:
            limits.append(f">= {row['min']}")
        if row["max"] is not None:
            limits.append(f"<= {row['max']}")
        help_text = row["help"] + (f" ({'; '.join(limits)})" if limits else "")
        rows.append({"name": row["name"], "type": row["type"], "default": row["default"], "help": help_text})
    print_table(rows, [("name", "NAME"), ("type", "TYPE"), ("default", "DEFAULT"), ("help", "HELP")])


@methods.command("suggest")
@click.option("--data", "-d", required=True, type=click.Path(exists=True), help="Your labelled training data.")
@click.option(
    "--model", "-m", "model_id", help="The model you will adapt (default: the catalog's smallest offline one)."
)
@column_options
@json_option
def methods_suggest(data, model_id, text_column, label_column, delimiter, encoding, max_skipped_fraction, as_json):
    """Suggest an adaptation method for your data, with the reason and the numbers measured here.

    \b
    Examples:
      zoo methods suggest --data ./photos
      zoo methods suggest --data reviews.tsv --model minilm-l6 --json
    """
    from zoo_core.advice import advise_for_data
    from zoo_core.data import collect_skipped

    data_options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    with collect_skipped() as skipped:
        result = advise_for_data(get_zoo(), data, model_id, **data_options)
    result.setdefault("skipped", [s.as_dict() for s in skipped])
    if as_json:
        emit_json(result)
        return
    echo_skipped(skipped)
    click.echo(
        f"{result['examples']} {result['modality']} examples, {result['classes']} classes, "
        f"at least {result['min_per_class']} per class"
        + (f"; model {result['model']} ({result['model_params_m']}M parameters)" if result["model"] else "")
    )
    click.echo(f"suggested: {result['method']}: {result['reason']}")
    click.echo(f"also worth a try: {', '.join(result['alternatives'])}")
    for line in result["evidence"]:
        click.echo(f"measured here (BENCHMARKS.md): {line}")
    if result["model"]:
        click.echo(f"next: zoo finetune -m {result['model_alias']} -d {data} --method {result['method']}")
