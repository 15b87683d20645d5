"""``zoo finetune``, ``zoo evaluate``, ``zoo predict`` and ``zoo quickstart``."""

from __future__ import annotations

from typing import Any

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


def _parse_options(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    """``key=value`` pairs as strings; the method's options class converts and checks each one."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ZooError(f"{what} must look like key=value, got '{pair}'")
        options[key.replace("-", "_")] = value
    return options


@click.command()
@click.option("--model", "-m", "model_id", required=True, help="Catalog id or alias (zoo models list).")
@click.option(
    "--data",
    "-d",
    required=True,
    type=click.Path(exists=True),
    help="Image folder (one subfolder per class, or train/ val/ test/) or a CSV/TSV/JSONL file; or object "
    "detection data (Pascal VOC, COCO, YOLO) or segmentation data (images/ + masks/, VOC).",
)
@click.option(
    "--task",
    help="Task (zoo tasks list), e.g. object-detection or semantic-segmentation; default: from the data's layout "
    "(boxes: object-detection, masks: semantic-segmentation, anything else: classification).",
)
@click.option(
    "--task-option",
    "task_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Task head option for detection (kind=fcos|retinanet|fasterrcnn, min_size, max_size, fpn_channels, "
    "score_thresh, detections_per_img) or segmentation (decoder=fpn|deeplabv3, image_size, pyramid_channels, "
    "segmentation_channels).",
)
@click.option("--val", type=click.Path(exists=True), help="Validation data (default: a stratified 20% of --data).")
@click.option("--test", type=click.Path(exists=True), help="Test data, for an unbiased final evaluation.")
@click.option(
    "--unlabeled",
    type=click.Path(exists=True),
    help="Unlabelled data of the target domain (any --data layout, labels ignored; or images or texts without "
    "labels) for the domain adaptation methods: coral, dann, mcc, self_training, adabn; and for --tapt-steps.",
)
@click.option(
    "--tapt-steps",
    type=click.IntRange(min=0),
    help="Task-adaptive pre-training: continue the text model's masked-LM training for N steps on the --unlabeled "
    "texts, then train --method on the labels (the re-trained encoder is stored with the adapter).",
)
@click.option(
    "--method",
    default="linear_probe",
    show_default=True,
    help="Adaptation method (zoo methods list), or auto: the advisor picks one from the data (examples per class "
    "after --shots, modality, model size; a domain adaptation method with --unlabeled; -o budget=low keeps the "
    "backbone frozen) and says why in a note.",
)
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
@click.option(
    "--ema-decay",
    type=float,
    help="Evaluate and keep an exponential moving average of the weights (timm's ModelEmaV3), e.g. 0.999; 0: off. "
    "Methods that fit themselves (the probe's lbfgs, contrastive) say in a note that they do not use it.",
)
@click.option(
    "--augment",
    metavar="PRESET",
    help="Image models, methods that train the backbone (full, lora...): training augmentation, built with timm's "
    "create_transform: light (the default: random crop and flip), randaugment, trivialaugment or none.",
)
@click.option(
    "--hflip",
    type=click.FloatRange(0, 1),
    help="Image models: probability of a horizontal flip in training (default 0.5; 0 for digits or text).",
)
@click.option("--head", default="linear", show_default=True, help="Head: linear or mlp.")
@click.option("--dropout", type=float, default=0.1, show_default=True, help="Dropout before the head.")
@click.option("--shots", type=int, help="Use only K labelled examples per class (seeded).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for splits, sampling and initialisation.")
@click.option("--name", help="Adapter name in the store (default: MODEL-METHOD); a new run makes a new version.")
@column_options
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
@click.option(
    "--tune",
    "tune_trials",
    type=click.IntRange(min=1),
    metavar="N",
    help="Search lr, epochs and the method's main option with Optuna over N trials, scored on the validation "
    "split (never the test split); the best is retrained and stored, the study goes in the run folder's tuning/.",
)
@click.option(
    "--tune-minutes",
    type=click.FloatRange(min=0, min_open=True),
    metavar="M",
    help="Time budget of the --tune search in minutes (alone, or with --tune N); a running trial finishes.",
)
@click.option(
    "--report-to",
    multiple=True,
    metavar="TRACKER",
    help="Log the run to tensorboard, mlflow or wandb (repeatable, or comma-separated): hyper-parameters, "
    "every epoch, final/ metrics and plots; the logs go in the run folder.",
)
@click.option(
    "--tracking-dir",
    type=click.Path(file_okay=False),
    help="Where --report-to trackers write instead of the run folder (one place to compare many runs).",
)
@click.option("--no-save", is_flag=True, help="Do not store the adapter or the run folder.")
@json_option
def finetune(
    model_id,
    data,
    task,
    task_opts,
    val,
    test,
    unlabeled,
    tapt_steps,
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
    ema_decay,
    augment,
    hflip,
    head,
    dropout,
    shots,
    seed,
    name,
    text_column,
    label_column,
    delimiter,
    encoding,
    max_skipped_fraction,
    random_weights,
    method_opts,
    variant,
    repeat,
    tune_trials,
    tune_minutes,
    report_to,
    tracking_dir,
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
      zoo finetune -m efficientnet-lite0 -d ./photos --report-to tensorboard,mlflow
      zoo finetune -m minilm-l6 -d books.tsv --method dann --unlabeled kitchen.tsv --test kitchen_test.tsv
      zoo finetune -m minilm-l6 -d books.tsv --method lora --unlabeled kitchen.tsv --tapt-steps 200
      zoo finetune -m minilm-l6 -d reviews.csv --method lora --tune 20 --test test.csv
      zoo finetune -m minilm-l6 -d reviews.csv --method auto --shots 8
      zoo finetune -m efficientnet-lite0 -d ./raccoon --task object-detection --method lora
      zoo finetune -m resnet50 -d ./camvid --method full --task-option decoder=deeplabv3

    \b
    Detection and segmentation: --method linear_probe trains the task head only (frozen backbone);
    lora, full, bitfit, ln_tuning and bottleneck also adapt the backbone; --epochs, --lr and --batch-size
    default to the task trainer's own (12 epochs, lr 2e-4, batch 4; segmentation 20, 3e-4, 8).
    """
    from zoo_core.commands._tasks import augmentation_flags, finetune_task, run_dense_finetune

    method_options = _parse_options(method_opts, "--option")
    dense = finetune_task(task, data, model_id)
    if dense is None and task_opts:
        raise ZooError("--task-option: only detection and segmentation tasks take task options; drop it")
    if dense is not None:
        if variant:
            method_options["variant"] = variant
        flags = dict(locals())
        flags.update(
            method_options=method_options,
            task_options=_parse_options(task_opts, "--task-option"),
            save=not no_save,
            pretrained=not random_weights,
        )
        run_dense_finetune(*dense, model_id, data, flags, as_json)
        return
    from zoo_core.engine.pipeline import finetune as run_finetune

    if method == "auto" and variant:
        raise ZooError("--variant belongs to a specific method, not --method auto; name the method with --method")
    if method == "auto" and (tune_trials is not None or tune_minutes is not None):
        raise ZooError(
            "--tune and --method auto do not combine: a search tunes one method; run --method auto first, "
            "then --tune with the method it picked"
        )
    if variant:
        from zoo_core.options import describe_options

        choices = [
            row["choices"]
            for row in describe_options(get_zoo().get("methods", method).options)
            if row["name"] == "variant"
        ]
        if not choices:
            raise ZooError(f"--variant: method '{method}' has no variants; drop --variant (zoo methods show {method})")
        method_options["variant"] = variant

    data_options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    backbone_options = augmentation_flags(model_id, augment, hflip)
    log = (lambda message: None) if as_json else _echo_err

    settings = {
        "method": method,
        "val": val,
        "test": test,
        "unlabeled": unlabeled,
        "tapt_steps": tapt_steps,
        "name": name,
        "head": head,
        "head_options": {"dropout": dropout},
        "method_options": dict(method_options),
        "pretrained": not random_weights,
        "shots": shots,
        "data_options": data_options,
        "backbone_options": backbone_options or None,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "warmup": warmup,
        "patience": patience,
        "grad_accum": grad_accum,
        "label_smoothing": label_smoothing,
        "class_weights": class_weights,
        "ema_decay": ema_decay,
        "progress": not as_json,
        "report_to": list(report_to) or None,
        "tracking_dir": tracking_dir,
    }
    settings = {k: v for k, v in settings.items() if v is not None}  # flags left unset keep the defaults
    tuning = tune_trials is not None or tune_minutes is not None
    if tuning and repeat > 1:
        raise ZooError("--tune and --repeat do not combine: tune once, then --repeat with the settings it chose")
    if repeat > 1:
        from zoo_core.engine.pipeline import finetune_repeated

        repeated = finetune_repeated(model_id, data, repeat, seed=seed, zoo=get_zoo(), log=log, **settings)
        if repeated.runs[0].is_main_process:
            summary = repeated.summary()
            if method == "auto":  # which method the seeds ran, and why (a seed's split may tip the choice)
                picked = sorted({run.method for run in repeated.runs})
                summary["method"] = picked[0] if len(picked) == 1 else picked
                summary["notes"] = sorted(
                    {n for run in repeated.runs for n in run.notes if n.startswith("method auto:")}
                )
                if not as_json:
                    for note in summary["notes"]:
                        click.echo(f"note: {note}")
            _report_repeats(summary, as_json)
        return
    tuned = None
    if tuning:
        from zoo_core.engine.settings import FinetuneConfig
        from zoo_core.engine.tuning import tune

        config = FinetuneConfig().updated(seed=seed, save=not no_save, **settings)
        tuned = tune(model_id, data, config, trials=tune_trials, minutes=tune_minutes, zoo=get_zoo(), log=log)
        result = tuned.final
    else:
        result = run_finetune(model_id, data, seed=seed, save=not no_save, zoo=get_zoo(), log=log, **settings)
    if not result.is_main_process:
        return  # under torchrun / accelerate launch only the main process reports
    if as_json:
        emit_json(tuned.as_dict() if tuned is not None else result.as_dict())
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
    if tuned is not None and tuned.study_dir:
        click.echo(f"tuning study: {tuned.study_dir} (trials.csv, trials.png, study.json)")


def _report_repeats(summary: dict[str, Any], as_json: bool) -> None:
    """Mean and sample standard deviation over seeded repeats (how few-shot results are reported)."""
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"{summary['repeats']} seeded repeats (seeds {summary['seeds'][0]}..{summary['seeds'][-1]}), "
        f"{summary['eval_split']}: accuracy {summary['accuracy_mean']:.4f} +/- {summary['accuracy_std']:.4f}, "
        f"macro-F1 {summary['macro_f1_mean']:.4f} +/- {summary['macro_f1_std']:.4f} (mean +/- sd)"
    )


@click.command()
@click.argument("adapter")
@click.option("--data", "-d", required=True, type=click.Path(exists=True), help="Labelled data to evaluate on.")
@column_options
@click.option("--allow-base-mismatch", is_flag=True, help="Load even if the base weights differ from training.")
@json_option
def evaluate(
    adapter, data, text_column, label_column, delimiter, encoding, max_skipped_fraction, allow_base_mismatch, as_json
):
    """Evaluate a stored adapter (NAME or NAME@VERSION) on labelled data (of the adapter's task).

    \b
    Examples:
      zoo evaluate flowers-lite0 --data ./photos_test
      zoo evaluate reviews@2 --data test.csv --json
      zoo evaluate raccoon-detector --data ./raccoon/test
    """
    from zoo_core.commands._tasks import adapter_runner, run_dense_evaluate

    dense = adapter_runner(adapter)
    if dense is not None:
        run_dense_evaluate(*dense, adapter, data, allow_base_mismatch, as_json)
        return
    from zoo_core.engine.pipeline import evaluate as run_evaluate
    from zoo_core.metrics import format_report

    data_options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    metrics = run_evaluate(
        adapter, data, zoo=get_zoo(), allow_base_mismatch=allow_base_mismatch, data_options=data_options
    )
    if as_json:
        emit_json(metrics)
        return
    for note in metrics.get("notes", []):
        _echo_err(f"note: {note}")
    echo_skipped(metrics.get("skipped", []))
    click.echo(format_report(metrics))


@click.command()
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
@click.option(
    "--draw",
    type=click.Path(file_okay=False),
    help="Detection and segmentation: write each image with its boxes or mask drawn into this folder.",
)
@click.option(
    "--mask-dir",
    type=click.Path(file_okay=False),
    help="Segmentation: where the predicted mask PNGs go (default: ./masks).",
)
@click.option(
    "--score-threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Detection: leave out boxes scoring below this.",
)
@column_options
@json_option
def predict(
    adapter,
    inputs,
    top_k,
    allow_base_mismatch,
    support,
    draw,
    mask_dir,
    score_threshold,
    text_column,
    label_column,
    delimiter,
    encoding,
    max_skipped_fraction,
    as_json,
):
    """Predict labels with a stored adapter. INPUTS are image files, or texts for text models.

    \b
    Examples:
      zoo predict flowers-lite0 rose1.jpg tulip2.jpg
      zoo predict reviews "Great food, friendly staff" --top-k 2 --json
      zoo predict flowers-protonet new.jpg --support my_labelled_folder/
      zoo predict raccoon-detector photo.jpg --draw drawn/

    Detection and segmentation adapters print one JSON object per image: boxes ([xmin, ymin, xmax, ymax]
    in pixels), labels and scores; or the path of the mask PNG written and the pixels per class.
    """
    from zoo_core.commands._tasks import adapter_runner, run_dense_predict

    dense = adapter_runner(adapter)
    if dense is None and (draw or mask_dir):
        raise ZooError(
            f"--draw and --mask-dir: adapter {adapter} is a classifier; they are for detection and "
            "segmentation adapters"
        )
    if dense is not None:
        if support is not None or top_k != 1:
            raise ZooError(f"--support and --top-k are for classifiers; adapter {adapter} is a {dense[0].name} one")
        options: dict[str, Any] = {"allow_base_mismatch": allow_base_mismatch, "draw": draw}
        if dense[0].name == "object-detection":
            options["score_threshold"] = score_threshold
        elif mask_dir:
            options["mask_dir"] = mask_dir
        run_dense_predict(*dense, adapter, inputs, options, as_json)
        return
    from zoo_core.data import collect_skipped
    from zoo_core.engine.pipeline import predict as run_predict

    data_options = column_values(text_column, label_column, delimiter, encoding, max_skipped_fraction)
    if data_options and support is None:
        raise ZooError(
            "--text-column, --label-column, --delimiter, --encoding and --max-skipped-fraction "
            "say how to read --support data; give --support, or leave them out"
        )
    with collect_skipped() as skipped:  # from the --support data
        results = run_predict(
            adapter,
            inputs,
            zoo=get_zoo(),
            top_k=top_k,
            allow_base_mismatch=allow_base_mismatch,
            support=support,
            data_options=data_options,
        )
    echo_skipped(skipped, full_list="")
    if as_json:
        emit_json(results)
        return
    for row in results:
        extra = "  ".join(f"{t['label']} {t['score']:.3f}" for t in row["top"][1:])
        click.echo(f"{row['label']}\t{row['score']:.3f}\t{row['input']}" + (f"\t({extra})" if extra else ""))


@click.command()
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
