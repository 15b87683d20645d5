"""The ``zoo adapters`` group (the local adapter store)."""

from __future__ import annotations

import json
from typing import Any

import click

from zoo_core.commands._shared import ZooGroup, emit_json, json_option, print_table


@click.group(cls=ZooGroup)
def adapters():
    """The local adapter store ($ZOO_HOME/adapters)."""


def _adapter_row(ref) -> dict[str, Any]:
    """One listing row; a version whose metadata is broken gets ``broken``: why (naming the file)."""
    from zoo_core.errors import ZooError
    from zoo_core.store import VERIFICATION_TEXT

    row: dict[str, Any] = {
        "name": ref.name,
        "version": ref.version,
        "ref": str(ref),
        "base_model": None,
        "method": None,
        "labels": [],
        "accuracy": None,
        "macro_f1": None,
        "eval_split": None,
        "created": None,
        "path": str(ref.path),
        "size_bytes": None,
        "verification": None,
        "status": None,
        "broken": None,
    }
    try:
        row["size_bytes"] = ref.size_bytes()
    except OSError:  # removed while we listed it
        pass
    try:
        meta = ref.metadata()
        verification = ref.verification(meta)
    except ZooError as exc:
        row["broken"] = str(exc)
        row["status"] = "BROKEN: " + str(exc).removeprefix(f"adapter {ref} is broken: ")
        return row
    metrics = meta.get("metrics", {})
    row.update(
        base_model=meta["base_model"]["id"],
        method=meta["method"]["name"],
        labels=meta["labels"],
        accuracy=metrics.get("accuracy"),
        macro_f1=metrics.get("macro_f1"),
        eval_split=meta.get("eval_split"),
        created=meta.get("created"),
        verification=verification,
        status=VERIFICATION_TEXT[verification],
    )
    return row


@adapters.command("list")
@json_option
def adapters_list(as_json):
    """List stored adapters, every version, with whether each passed its reload check.

    A version whose adapter.json is unreadable or invalid is listed as broken, with the reason
    (in --json: "broken": "<reason>", else null); the others are listed as usual. "verification" is
    "verified", "unverified" (its reload check never completed: loading it is refused until
    'zoo adapters verify' passes) or "legacy" (saved before verification markers: its file hashes
    are checked and it loads).

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
        row["size"] = f"{row['size_bytes'] / 1e6:.2f} MB" if row["size_bytes"] is not None else ""
    print_table(
        rows,
        [
            ("ref", "ADAPTER"),
            ("base_model", "BASE MODEL"),
            ("method", "METHOD"),
            ("acc", "ACCURACY"),
            ("size", "SIZE"),
            ("created", "CREATED"),
            ("status", "STATUS"),
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
    from zoo_core.store import VERIFICATION_TEXT, AdapterStore

    ref = AdapterStore().resolve(adapter)
    meta = ref.metadata()
    verification = ref.verification(meta)
    if as_json:
        emit_json({**meta, "path": str(ref.path), "verification": verification})
        return
    row = _adapter_row(ref)
    for key in ("ref", "base_model", "method", "accuracy", "macro_f1", "eval_split", "created", "path", "size_bytes"):
        click.echo(f"{key}: {row[key]}")
    click.echo(f"verification: {VERIFICATION_TEXT[verification]}")
    click.echo(f"labels: {', '.join(row['labels'])}")
    click.echo(f"method config: {json.dumps(meta['method'].get('config', {}), sort_keys=True)}")


@adapters.command("verify")
@click.argument("adapter")
def adapters_verify(adapter):
    """Run an adapter version's reload check: check its file hashes, reload it and compare its
    predictions on its stored samples with those recorded when it was saved; mark it verified.

    For a version whose save stopped before its check (shown as UNVERIFIED) or one saved before
    verification markers. As at save time, a version that does not reproduce its predictions is
    removed and the command fails.

    \b
    Examples:
      zoo adapters verify quickstart-digits@2
    """
    from zoo_core.commands._shared import get_zoo
    from zoo_core.engine.adapters import verify_files, verify_reload
    from zoo_core.errors import AdapterError
    from zoo_core.store import AdapterStore

    store = AdapterStore()
    ref = store.resolve(adapter)
    meta = ref.metadata()
    if ref.verification(meta) == "verified":
        click.echo(f"{ref} is already verified")
        return
    verify_files(ref, meta)
    if "samples.json" not in meta["files"]:
        raise AdapterError(
            f"adapter {ref} has no hashed samples.json (stored inputs and logits) to check its reload against"
        )
    if str(meta.get("task", "")).endswith(("detection", "segmentation")):
        from zoo_core.engine.dense.adapters import verify_dense_reload

        difference = verify_dense_reload(get_zoo(), store, str(ref))
    else:
        difference = verify_reload(get_zoo(), store, str(ref))
    store.mark_verified(ref, max_logit_difference=difference, checked_by="zoo adapters verify")
    click.echo(f"verified {ref} (max |logit difference| {difference:.3g})")


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
    type=click.Choice(["peft", "archive", "onnx", "transformers", "timm"]),
    default="archive",
    show_default=True,
    help="peft: adapter_config.json + adapter_model.safetensors for peft.PeftModel; archive: .tar.gz for "
    "'zoo adapters import'; onnx: one model.onnx graph + preprocessing.json; transformers: a text-classification "
    "folder (trust_remote_code=True); timm: model.safetensors + config.json for timm.create_model.",
)
@click.option("--out", required=True, type=click.Path(), help="Folder (file or folder for archive).")
def adapters_export(adapter, fmt, out):
    """Export an adapter for peft, zoo, ONNX Runtime, transformers or timm.

    onnx, transformers and timm run what they wrote on the adapter's stored samples and keep it only
    if its logits match zoo's (recorded in zoo_export.json). LoRA-style tuners are merged into the
    weights. onnx takes every adapter: backbone, adapter and head in one graph (dynamic batch, and
    sequence for text), preprocessing.json (image recipe or tokenizer settings, tokenizer files
    beside it) and the labels. transformers (text adapters) writes config.json (id2label), the
    weights, the tokenizer and modeling_zoo.py, a small model class with zoo's pooling (mean, cls or
    last token), which no stock *ForSequenceClassification computes: load it with
    trust_remote_code=True. timm (image adapters) writes the adapted architecture with zoo's head as
    its classifier; adapters timm cannot express (multilevel features, an MLP head, bottleneck
    modules) are refused: use onnx for those.

    \b
    Examples:
      zoo adapters export reviews-lora --format peft --out ./reviews-peft
      zoo adapters export quickstart-digits --format archive --out ./shared/
      zoo adapters export flowers-probe --format onnx --out ./flowers-onnx
      zoo adapters export reviews-lora --format transformers --out ./reviews-hf
        then: pipeline("text-classification", model="./reviews-hf", trust_remote_code=True)
      zoo adapters export flowers-lora --format timm --out ./flowers-timm
        then: timm.create_model("local-dir:./flowers-timm", pretrained=True)
    """
    if fmt in ("onnx", "transformers", "timm"):
        from zoo_core.commands._shared import get_zoo
        from zoo_core.engine.deploy import export_deployment

        path = export_deployment(adapter, fmt, out, zoo=get_zoo())
        record = json.loads((path / "zoo_export.json").read_text())
        checks = record["checks"]
        if checks.get("samples"):
            click.echo(
                f"checked on {checks['samples']} stored samples: max |logit difference| "
                f"{checks['max_abs_logit_difference']:.2g}, top-1 agreement {checks['top1_agreement']:.0%}"
            )
        for note in record.get("notes", []):
            click.echo(f"note: {note}")
        click.echo(f"exported {record['adapter']} as {fmt} to {path} ({', '.join(record['files'])})")
        return
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


@adapters.command("pull")
@click.argument("repo_id")
@click.option("--name", help="Store it under this name (default: the name it was pushed with).")
@click.option("--revision", help="A branch, tag or commit of the Hub repo (default: main).")
def adapters_pull(repo_id, name, revision):
    """Download an adapter pushed with 'zoo adapters push' and import it as a new version.

    Through huggingface_hub and its cache: with HF_HUB_OFFLINE=1 only a cached copy is used. Every
    file its adapter.json lists is checked against the recorded sha256 before anything is stored.

    \b
    Examples:
      zoo adapters pull me/reviews-lora
      zoo adapters pull me/reviews-lora --name reviews --revision v1
    """
    from zoo_core.engine.export import pull_from_hub

    ref = pull_from_hub(repo_id, name=name, revision=revision)
    click.echo(f"pulled {repo_id} as {ref} ({ref.path})")
