"""The ``zoo models`` and ``zoo tasks`` groups."""

from __future__ import annotations

from typing import Any

import click

from zoo_core.commands._shared import ZooGroup, emit_json, get_zoo, json_option, print_table


@click.group(cls=ZooGroup)
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


@click.group(cls=ZooGroup)
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
