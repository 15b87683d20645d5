"""``zoo embed`` and ``zoo cluster``: pre-trained features for data with or without labels."""

from __future__ import annotations

from typing import Any

import click

from zoo_core.commands._shared import (
    column_options,
    column_values,
    echo_skipped,
    emit_json,
    get_zoo,
    json_option,
    print_table,
)

_DATA_HELP = (
    "Images (a folder of images, or class subfolders) or texts (.txt with one text per line, or a CSV/TSV/JSONL "
    "file with a text column); labels, where present, are ignored for the features."
)


@click.command()
@click.option("--model", "-m", "model_id", required=True, help="Catalog id or alias (zoo models list).")
@click.option("--data", "-d", required=True, type=click.Path(exists=True), help=_DATA_HELP)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: .npy (plus a .json sidecar) or .parquet.",
)
@click.option("--format", "fmt", type=click.Choice(["npy", "parquet"]), help="Output format (default: from --out).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Items per forward pass.")
@click.option("--random-weights", is_flag=True, help="Use the architecture with random weights (a baseline).")
@column_options
@json_option
def embed(
    model_id,
    data,
    out,
    fmt,
    batch_size,
    random_weights,
    text_column,
    label_column,
    delimiter,
    encoding,
    max_skipped_fraction,
    as_json,
):
    """Write one pooled embedding per item of your data (no training).

    Uses and fills the feature cache, so a later embed, cluster, recommend or linear probe on the same
    items skips the model. A .npy file holds the [items, dims] float32 matrix, and a JSON sidecar of
    the same name lists the items (in row order), the labels if any, the model and the dims; a .parquet
    file has the columns item, label (if any) and embedding (a fixed-size list of float32).
    Embeddings are the model's pooled features as they are, not normalised.

    \b
    Examples:
      zoo embed -m efficientnet-lite0 -d ./photos --out photos.npy
      zoo embed -m minilm-l6 -d questions.txt --out questions.parquet --json
    """
    from zoo_core.engine.unsupervised import embed as run_embed
    from zoo_core.engine.unsupervised import embedding_format, load_unlabelled, write_embeddings

    fmt = embedding_format(out, fmt)  # before the model runs: a bad name costs nothing
    options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    loaded = load_unlabelled(data, **options)
    if not as_json:
        echo_skipped(loaded.skipped)
    embedded = run_embed(
        get_zoo(), model_id, loaded, batch_size=batch_size, pretrained=not random_weights, progress=not as_json
    )
    summary = write_embeddings(embedded, out, fmt)
    summary.update(seconds=embedded.seconds, notes=loaded.notes, skipped=[s.as_dict() for s in loaded.skipped])
    if as_json:
        emit_json(summary)
        return
    for note in loaded.notes:
        click.echo(f"note: {note}")
    where = f"{out}" + (f" (items, labels and model in {summary['sidecar']})" if "sidecar" in summary else "")
    click.echo(
        f"wrote {summary['count']} embeddings of {summary['dims']} dims from {embedded.alias} to {where} "
        f"in {embedded.seconds:.1f}s"
    )


@click.command()
@click.option("--model", "-m", "model_id", required=True, help="Catalog id or alias (zoo models list).")
@click.option("--data", "-d", required=True, type=click.Path(exists=True), help=_DATA_HELP)
@click.option("--k", "k", type=int, help="Number of clusters (default: chosen by silhouette, as described above).")
@click.option(
    "--algorithm",
    type=click.Choice(["kmeans", "agglomerative"]),
    default="kmeans",
    show_default=True,
    help="k-means (k-means++, 4 restarts) or Ward agglomerative clustering.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="clusters",
    show_default=True,
    help="Folder for assignments.csv, assignments.json and one contact sheet per cluster (cluster_N.png).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for k-means and the silhouette sample.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Items per forward pass.")
@click.option("--random-weights", is_flag=True, help="Use the architecture with random weights (a baseline).")
@column_options
@json_option
def cluster(
    model_id,
    data,
    k,
    algorithm,
    out,
    seed,
    batch_size,
    random_weights,
    text_column,
    label_column,
    delimiter,
    encoding,
    max_skipped_fraction,
    as_json,
):
    """Group your data by a pre-trained model's features, with no labels and no training.

    The pooled features are L2-normalised (so distances rank like cosine similarity) and clustered.
    Without --k, k is the one of 2..min(20, items / 5) whose clustering has the highest mean
    silhouette (the smallest on a tie); the scores are printed. Clusters are numbered by size, 0 the
    largest. Writes assignments.csv and assignments.json (item, cluster, label if known) and, for
    images, cluster_N.png: the 36 members nearest the cluster's centre, to see what it holds.
    When the data has labels (class folders, a label column) they are used only to score the
    clusters: NMI, ARI and accuracy under the best one-to-one matching of clusters to classes.

    \b
    Examples:
      zoo cluster -m efficientnet-lite0 -d ./photos --out photo-clusters
      zoo cluster -m minilm-l6 -d questions.txt --k 6 --algorithm agglomerative --json
    """
    from zoo_core.engine.unsupervised import cluster as run_cluster
    from zoo_core.engine.unsupervised import load_unlabelled

    options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    loaded = load_unlabelled(data, **options)
    if not as_json:
        echo_skipped(loaded.skipped)
    result = run_cluster(
        get_zoo(),
        model_id,
        loaded,
        k=k,
        algorithm=algorithm,
        out=out,
        seed=seed,
        batch_size=batch_size,
        pretrained=not random_weights,
        progress=not as_json,
    )
    if as_json:
        emit_json(result)
        return
    _print_clusters(result)


def _print_clusters(result: dict[str, Any]) -> None:
    for note in result["notes"]:
        click.echo(f"note: {note}")
    selection = result["k_selection"]
    if selection:
        click.echo(f"k chosen: {result['k']} ({result['algorithm']}), by the {selection['criterion']}")
        print_table(
            [
                {"k": k, "score": f"{score:.4f}", "mark": "<- chosen" if int(k) == result["k"] else ""}
                for k, score in selection["scores"].items()
            ],
            [("k", "K"), ("score", "SILHOUETTE"), ("mark", "")],
        )
    else:
        click.echo(f"k = {result['k']} (given), {result['algorithm']}: silhouette {result['silhouette']:.4f}")
    click.echo("")
    labelled = result["metrics"] is not None
    rows = []
    for row in result["clusters"]:
        example = " | ".join(_short(str(item)) for item in row["examples"][:2]) if result["modality"] == "text" else ""
        rows.append(
            {
                "cluster": row["cluster"],
                "size": row["size"],
                "label": f"{row['majority_label']} ({row['majority_share']:.0%})" if labelled else "",
                "sheet": row.get("contact_sheet", ""),
                "example": example,
            }
        )
    columns = [("cluster", "CLUSTER"), ("size", "SIZE")]
    columns += [("label", "MOST COMMON LABEL")] if labelled else []
    columns += [("sheet", "CONTACT SHEET")] if result["modality"] == "image" else [("example", "NEAREST THE CENTRE")]
    print_table(rows, columns)
    metrics = result["metrics"]
    if metrics:
        click.echo(
            f"\nagainst the {metrics['num_classes']} labels in the data: NMI {metrics['nmi']:.4f}, "
            f"ARI {metrics['ari']:.4f}, accuracy {metrics['accuracy']:.4f} (clusters matched one-to-one to classes)"
        )
    files = result["files"]
    click.echo(
        f"\nwrote {files['csv']} and {files['json']}"
        + (f", and {len(files['contact_sheets'])} contact sheets" if files["contact_sheets"] else "")
    )


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
