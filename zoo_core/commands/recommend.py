"""``zoo recommend``."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from zoo_core.commands._shared import (
    _echo_err,
    column_options,
    column_values,
    emit_json,
    get_zoo,
    json_option,
    print_table,
)
from zoo_core.errors import ZooError


@click.command()
@click.option(
    "--data", "-d", required=True, type=click.Path(exists=True), help="Your data (labelled, unless --unlabeled)."
)
@click.option(
    "--task",
    help="Task (default: from the data: object-detection for VOC, COCO or YOLO boxes, semantic-segmentation for "
    "masks, else image- or text-classification).",
)
@click.option("--candidates", help="Comma-separated model ids or aliases (default: 'zoo models suggest' shortlist).")
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
@click.option(
    "--unlabeled",
    is_flag=True,
    help="Rank models for clustering data without labels (labels present are ignored), by an unsupervised "
    "proxy: the silhouette of k-means on each model's L2-normalised features.",
)
@click.option(
    "--k", "k", type=int, help="With --unlabeled: score at this many clusters (default: each model's best k)."
)
@column_options
@json_option
@click.pass_context
def recommend(
    ctx,
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
    unlabeled,
    k,
    text_column,
    label_column,
    delimiter,
    encoding,
    max_skipped_fraction,
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
      zoo recommend --unlabeled --data ./unsorted-photos --offline
      zoo recommend --data ./raccoon --task object-detection \\
        --candidates efficientnet-lite0,efficientnet-lite1,efficientnet-lite2

    Object detection and semantic segmentation (boxes or masks, or --task object-detection /
    semantic-segmentation) are ranked by a proxy, said so in the output: the score of the pooled
    features of crops of the labelled boxes (with a 10 % margin) and of as many background boxes,
    or of each class's region per image (its box, other pixels set to the image's mean colour),
    labelled with their class. It rates how well a backbone tells the objects apart, not the mAP
    or mIoU a detector or decoder on it would reach. Only image models with feature maps serve.

    With --unlabeled no labels are needed or used (a folder of images, a .txt file of one text per
    line): each model's features are L2-normalised and clustered with k-means, at --k clusters or at
    the k of 2..min(20, items / 5) with the highest silhouette, and models are ranked by that
    silhouette. It is an unsupervised proxy for how cleanly the data separates into groups in the
    model's space, not a prediction of accuracy on any labels.
    """
    from zoo_core.catalog import parse_params
    from zoo_core.engine.recommend import recommend as run_recommend
    from zoo_core.engine.recommend_dense import DENSE_TASKS

    data_options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    if unlabeled and task in DENSE_TASKS:
        raise ZooError(f"--unlabeled ranks models for clustering whole images, not for {task}; drop one of them")
    if unlabeled:
        given = [
            f"--{name}" for name in ("scorer", "verify") if ctx.get_parameter_source(name) != ParameterSource.DEFAULT
        ]
        if given:
            verb, pronoun = ("needs", "it") if len(given) == 1 else ("need", "them")
            raise ZooError(f"{' and '.join(given)} {verb} labels; leave {pronoun} out with --unlabeled")
        _recommend_unlabeled(
            data,
            task=task,
            candidates=candidates,
            max_params=max_params,
            offline=offline,
            budget_seconds=budget_seconds,
            top=top,
            k=k,
            seed=seed,
            resamples=resamples,
            data_options=data_options,
            as_json=as_json,
        )
        return
    if k is not None:
        raise ZooError("--k applies only with --unlabeled (the number of clusters); leave it out, or add --unlabeled")
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
        task = f" --task {result.task}" if result.task in DENSE_TASKS else ""
        click.echo(f"next: zoo finetune --model {best.alias} --data {data}{task} --method {best.suggested_method}")


def _recommend_unlabeled(data: str, *, candidates, max_params, as_json: bool, **options: Any) -> None:
    """``zoo recommend --unlabeled``: rank models for clustering by the silhouette proxy."""
    from zoo_core.catalog import parse_params
    from zoo_core.engine.recommend_unlabeled import recommend_unlabeled

    result = recommend_unlabeled(
        data,
        candidates=[c.strip() for c in candidates.split(",") if c.strip()] if candidates else None,
        max_params_m=parse_params(max_params) if max_params else None,
        zoo=get_zoo(),
        log=(lambda m: None) if as_json else _echo_err,
        **{**options, "offline": options["offline"] or None, "budget_seconds": options["budget_seconds"] or None},
    )
    if as_json:
        emit_json(result.as_dict())
        return
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"{result.proxy}\n")
    rows = [
        {
            "rank": rank,
            "model": c.alias,
            "score": f"{c.score:.4f}" if c.score is not None else c.error,
            "k": c.k or "",
            "sd": f"{c.score_sd:.4f}" if c.score_sd is not None else "",
            "ahead": f"{c.ahead_of_next:.0%}" if c.ahead_of_next is not None else "",
            "params": f"{c.params_m:.1f}M" if c.params_m else "?",
            "seconds": c.feature_seconds,
        }
        for rank, c in enumerate(result.candidates, start=1)
    ]
    print_table(
        rows,
        [
            ("rank", "#"),
            ("model", "MODEL"),
            ("score", "SILHOUETTE"),
            ("k", "K"),
            ("sd", "SD"),
            ("ahead", "AHEAD"),
            ("params", "PARAMS"),
            ("seconds", "FEATURE S"),
        ],
    )
    if result.candidates and result.candidates[0].score is not None:
        best = result.candidates[0]
        click.echo(f"\nbest for clustering (by the proxy): {best.alias}, silhouette {best.score:.4f} at k = {best.k}")
        if result.tied_with_best:
            aliases = {c.model: c.alias for c in result.candidates}
            click.echo(f"tied within noise: {', '.join(aliases.get(m, m) for m in result.tied_with_best)}")
        click.echo(f"next: zoo cluster --model {best.alias} --data {data} --k {best.k}")
