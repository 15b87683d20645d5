"""The ``zoo models`` and ``zoo tasks`` groups."""

from __future__ import annotations

import os
from typing import Any

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
def models():
    """The catalog of pre-trained models."""


def _model_row(entry) -> dict[str, Any]:
    from zoo_core.matching import model_numbers

    metric = entry.metric or {}
    numbers = model_numbers(entry)
    return {
        "id": entry.id,
        "alias": entry.aliases[0] if entry.aliases else "",
        "family": entry.family,
        "modality": entry.modality,
        "params": f"{entry.params_m:.1f}M" if entry.params_m else "?",
        "top1": f"{numbers['top1']:.2f}" if numbers["top1"] is not None else None,
        "gmacs": f"{numbers['gmacs']:.2f}" if numbers["gmacs"] is not None else None,
        "features": entry.num_features,
        "metric": f"{metric['value']:g} {metric.get('name', '')}".strip() if metric else "",
    }


@models.command("list")
@click.option("--task", help="Only models suited to this task (see 'zoo tasks list').")
@click.option("--modality", type=click.Choice(["image", "text"]), help="Only image or text models.")
@click.option("--family", help="Only this model family (plugin), e.g. timm or hf.")
@click.option("--max-params", help="Only models with at most this many parameters, e.g. 10M or 1.5B.")
@click.option(
    "--license", "licenses", help="Only these licences (exact, any case; comma-separated), e.g. apache-2.0,mit."
)
@click.option(
    "--pretraining", help="Only models whose pre-training data contains this, e.g. in22k, imagenet-21k, laion."
)
@click.option("--min-top1", help="Only models with at least this ImageNet-1k top-1 accuracy (percent), e.g. 80.")
@click.option("--max-gmacs", help="Only models with at most this many GMACs per image, e.g. 5.")
@click.option("--language", help="Only text models for this language, e.g. en (multilingual models match any).")
@click.option("--sort", help="Sort by top1 (highest first), params or gmacs (smallest first), or name.")
@click.option("--limit", help="Show at most this many models (after sorting).")
@click.option("--offline", is_flag=True, help="Only models whose weights are available on this machine.")
@click.option("-q", "--query", help="Substring or glob over id, alias and architecture, e.g. 'vit*'.")
@json_option
def models_list(
    task,
    modality,
    family,
    max_params,
    licenses,
    pretraining,
    min_top1,
    max_gmacs,
    language,
    sort,
    limit,
    offline,
    query,
    as_json,
):
    """List catalog models, filtered and sorted on their metadata.

    Models without the value a filter or --sort reads (e.g. no ImageNet top-1) are left out by
    the filter and listed last by the sort.

    \b
    Examples:
      zoo models list --task image-classification --max-params 10M --license apache-2.0 --sort top1
      zoo models list --pretraining in22k --min-top1 84 --sort gmacs --limit 10
      zoo models list --modality text --language en --offline --json
      zoo models list -q 'convnext*'
    """
    from zoo_core.matching import list_row, select_models

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
    entries = select_models(
        zoo.catalog,
        task=task,
        modality=modality,
        family=family,
        max_params_m=max_params,
        query=query,
        licenses=licenses,
        pretraining=pretraining,
        min_top1=min_top1,
        max_gmacs=max_gmacs,
        language=language,
        sort=sort,
        limit=limit,
        available=available,
    )
    if as_json:
        emit_json([list_row(entry) for entry in entries])
        return
    rows = [_model_row(e) for e in entries]
    columns = [("id", "ID"), ("alias", "ALIAS"), ("family", "FAMILY"), ("modality", "MODALITY"), ("params", "PARAMS")]
    columns += [(key, header) for key, header in (("top1", "TOP1"), ("gmacs", "GMACS")) if any(r[key] for r in rows)]
    columns += [("features", "FEATURES"), ("metric", "SOURCE METRIC")]
    print_table(rows, columns)


@models.command("suggest")
@click.option("--data", "-d", required=True, type=click.Path(exists=True), help="Your labelled training data.")
@click.option("--task", help="Task (default: image- or text-classification, from the data).")
@click.option(
    "--budget-params",
    help="At most this many parameters, e.g. 30M (default: from the data size: fewer than 1,000 examples "
    "30M, fewer than 10,000 100M, else no limit).",
)
@click.option(
    "--license", "licenses", help="Only these licences (exact, any case; comma-separated), e.g. apache-2.0,mit."
)
@click.option("--top", default="5", show_default=True, help="How many models to shortlist.")
@click.option("--offline", is_flag=True, help="Rank models whose weights are on this machine first.")
@column_options
@json_option
def models_suggest(
    data,
    task,
    budget_params,
    licenses,
    top,
    offline,
    text_column,
    label_column,
    delimiter,
    encoding,
    max_skipped_fraction,
    as_json,
):
    """Shortlist catalog models for your data, with the reasons for each.

    Reads the data's modality, classes and size (labels only), keeps the models for the task within
    a size budget and the licences asked for, and ranks them: weights on this machine first when
    offline, then the pre-training closest to the data (broad photo pre-training for images,
    sentence-embedding models for short texts), then ImageNet top-1, then size. 'zoo recommend'
    without --candidates scores this shortlist.

    \b
    Examples:
      zoo models suggest --data ./photos
      zoo models suggest --data questions.txt --label-column first-token --budget-params 30M --json
      zoo models suggest --data ./photos --license apache-2.0,mit --top 3
    """
    from zoo_core.data import collect_skipped
    from zoo_core.errors import ZooError
    from zoo_core.matching import suggest_models

    try:
        count = int(top)
    except ValueError:
        count = 0
    if count < 1:
        raise ZooError(f"--top must be a whole number of at least 1, e.g. --top 5; got {top!r}")
    data_options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    with collect_skipped() as skipped:
        result = suggest_models(
            get_zoo(),
            data,
            task=task,
            budget_params=budget_params,
            licenses=licenses,
            top=count,
            offline=offline or None,
            **data_options,
        )
    if as_json:
        emit_json({**result.as_dict(), "skipped": [s.as_dict() for s in skipped]})
        return
    echo_skipped(skipped)
    summary = result.data
    click.echo(
        f"{summary['examples']} {summary['modality']} examples, {summary['classes']} classes "
        f"(at least {summary['min_per_class']} per class): {summary['kind']}"
    )
    click.echo(
        f"shortlist: {len(result.suggestions)} of {result.within_budget} within budget, "
        f"of {result.matching} for {result.task}; {result.rule()}"
    )
    for rank, suggestion in enumerate(result.suggestions, start=1):
        entry = suggestion.entry
        size = f"{entry.params_m:g}M" if entry.params_m else "size ?"
        alias = f"{entry.aliases[0]}, " if entry.aliases else ""
        click.echo(f"\n{rank}. {entry.id} ({alias}{size}; then: {suggestion.method})")
        for reason in suggestion.reasons:
            click.echo(f"   - {reason}")
    if result.suggestions:
        click.echo(f"\nnext: zoo recommend --data {data}  (scores this shortlist on your data)")


@models.command("show")
@click.argument("name")
@json_option
def models_show(name, as_json):
    """Show one model by Hub id or alias.

    A curated entry whose weights a plugin's generated catalog also lists says so (JSON: the key
    ``curated_over`` names that plugin).

    \b
    Examples:
      zoo models show resnet50
      zoo models show sentence-transformers/all-MiniLM-L6-v2 --json
    """
    catalog = get_zoo().catalog
    entry = catalog.get(name)
    data = entry.as_dict()
    generated = catalog.generated_alternative(entry)
    if generated:
        data["curated_over"] = generated
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
        "top5",
        "gmacs",
        "infer_samples_per_sec",
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
        if key == "id" and generated:
            click.echo(f"curated entry ({generated}'s generated entry for the same weights is not used)")


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
    for row in rows:  # the table names a catalog file by its name only; --json gives the path
        if row["plugin"].startswith("catalog:"):
            row["plugin"] = "catalog:" + os.path.basename(row["plugin"][len("catalog:") :])
    print_table(
        rows,
        [
            ("name", "NAME"),
            ("modality", "MODALITY"),
            ("status", "STATUS"),
            ("models", "MODELS"),
            ("description", "DESCRIPTION"),
            ("plugin", "PLUGIN"),
        ],
    )
