"""``zoo zero-shot``: a text classifier from label names alone, stored as an adapter."""

from __future__ import annotations

import click

from zoo_core.commands._shared import (
    _echo_err,
    column_options,
    column_values,
    echo_skipped,
    emit_json,
    get_zoo,
    json_option,
)
from zoo_core.errors import ZooError


@click.command("zero-shot")
@click.option("--model", "-m", "model_id", required=True, help="Catalog id or alias of a text model (zoo models list).")
@click.option(
    "--labels",
    required=True,
    help="Comma-separated label names, e.g. 'positive,negative' (at least 2). LABEL=NAME embeds NAME and "
    "predicts LABEL, e.g. '0=negative,1=positive' for data labelled 0/1.",
)
@click.option(
    "--template",
    "templates",
    multiple=True,
    help="A sentence with {} where a label's name goes, e.g. 'This example is {}.' (repeatable; "
    "default: the three listed above).",
)
@click.option(
    "--templates-file",
    type=click.Path(exists=True, dir_okay=False),
    help="More templates, one per line (blank lines skipped); added after any --template.",
)
@click.option("--temperature", type=float, help="Logits are TEMPERATURE x cosine similarity (default: 20).")
@click.option("--name", help="Adapter name in the store (default: MODEL-zero_shot); a new run makes a new version.")
@click.option(
    "--test",
    type=click.Path(exists=True),
    help="Labelled texts to evaluate on (a CSV/TSV/JSONL file); its labels must be among --labels.",
)
@column_options
@json_option
def zero_shot(
    model_id,
    labels,
    templates,
    templates_file,
    temperature,
    name,
    test,
    text_column,
    label_column,
    delimiter,
    encoding,
    max_skipped_fraction,
    as_json,
):
    """Classify texts into the --labels classes with no training data: an adapter from the label names.

    Each class is the mean of the L2-normalised embeddings of its name filled into the templates;
    a text's logits are TEMPERATURE x the cosine similarity of its normalised embedding to each
    class (20 by default, the scale sentence encoders' contrastive loss uses, so that softmax
    probabilities mean something). The default templates are generic, not tuned to any dataset:

    \b
      {}
      This example is {}.
      This text is about {}.

    The adapter works with zoo predict and zoo evaluate like any other. With --test it is evaluated
    there and records the metrics; without, it records none and its card says it was never
    evaluated. Text models only.

    \b
    Examples:
      zoo zero-shot -m minilm-l6 --labels positive,negative
      zoo zero-shot -m minilm-l6 --labels 0=negative,1=positive --test yelp_labelled.tsv
      zoo zero-shot -m minilm-l6 --labels sports,politics,science --template 'A news story about {}.'
    """
    from zoo_core.engine.zero_shot import read_templates
    from zoo_core.engine.zero_shot import zero_shot as run_zero_shot

    data_options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    if data_options and test is None:
        raise ZooError(
            "--text-column, --label-column, --delimiter, --encoding and --max-skipped-fraction say how to read "
            "--test data; give --test, or leave them out"
        )
    result = run_zero_shot(
        model_id,
        labels,
        templates=read_templates(templates, templates_file),
        temperature=temperature,
        name=name,
        test=test,
        data_options=data_options,
        zoo=get_zoo(),
        log=(lambda message: None) if as_json else _echo_err,
    )
    if as_json:
        emit_json(result.as_dict())
        return
    echo_skipped(result.skipped)
    if result.metrics is not None:
        from zoo_core.metrics import format_report

        click.echo(format_report(result.metrics))
        click.echo(f"test accuracy {result.metrics['accuracy']:.4f}, macro-F1 {result.metrics['macro_f1']:.4f}")
    else:
        click.echo("not evaluated (no --test): the adapter records no metrics")
    if result.adapter:
        click.echo(f"adapter saved as {result.adapter} in {result.adapter_path}")
