"""``zoo demo``: a local Gradio page for a stored classification adapter.

Light at import: torch (through :mod:`zoo_core.engine`) and gradio are imported by the functions
that need them, so the CLI's listings stay fast. The page predicts with the same code as
``zoo predict`` (:func:`zoo_core.engine.inference.predict_items`, then softmax and top-k), on the
very file the browser uploaded (``type="filepath"``, no re-encoding), so both give the same labels
and probabilities for the same input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.errors import AdapterError, DataError, ZooError
from zoo_core.store import AdapterRef, AdapterStore

if TYPE_CHECKING:  # pragma: no cover
    import gradio

    from zoo_core.plugins import Zoo

GRADIO_MISSING = "zoo demo needs gradio: pip install 'transfer-zoo[demo]'"
DEMO_TASKS = ("image-classification", "text-classification")


def import_gradio() -> Any:
    """Import gradio with everything it would send out switched off; one line when it is missing."""
    # Read at import and at Blocks() time: analytics and the version check post to api.gradio.app,
    # and huggingface_hub's telemetry goes to huggingface.co. A local page has no business with either.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    # launch() checks its own URL with httpx, which would send even that through a proxy.
    if any(os.environ.get(var) for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        for var in ("NO_PROXY", "no_proxy"):
            current = [host for host in os.environ.get(var, "").split(",") if host]
            os.environ[var] = ",".join(dict.fromkeys([*current, "127.0.0.1", "localhost", "::1"]))
    try:
        import gradio
    except ImportError:
        raise ZooError(GRADIO_MISSING) from None
    return gradio


def demo_adapter(adapter_ref: str, store: AdapterStore | None = None) -> tuple[AdapterRef, dict[str, Any]]:
    """Resolve ``adapter_ref`` and refuse what the page cannot show (torch-free, so it fails fast)."""
    ref = (store or AdapterStore()).resolve(adapter_ref)
    metadata = ref.metadata()
    # Adapters saved before "task" was recorded are classifiers: nothing else existed then.
    task = str(metadata.get("task", "classification"))
    if task != "classification" and task not in DEMO_TASKS:
        raise AdapterError(
            f"adapter {ref} is a '{task}' adapter; zoo demo shows classification adapters only "
            f"({', '.join(DEMO_TASKS)})"
        )
    return ref, metadata


def _md(value: Any) -> str:
    """``value`` as literal Markdown text: labels and names are the user's, never markup."""
    text = " ".join(str(value).split())
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~" else ch for ch in text)


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def card_markdown(metadata: dict[str, Any]) -> str:
    """The adapter's card for the page: what it is, how well it did and on which split, its labels."""
    base = metadata.get("base_model", {})
    method = metadata.get("method", {})
    labels = list(metadata.get("labels", []))
    metrics = metadata.get("metrics") or {}
    split = metadata.get("eval_split", "validation")
    options = method.get("config") or {}
    shown_options = ", ".join(f"{_md(k)}={_md(_short(v))}" for k, v in sorted(options.items()))
    rows = [
        ("adapter", f"`{metadata.get('ref', metadata.get('name', '?'))}`"),
        ("task", _md(metadata.get("task", "classification"))),
        ("base model", f"`{base.get('id', '?')}`"),
        ("method", f"`{method.get('name', '?')}`" + (f" ({shown_options})" if shown_options else "")),
    ]
    scores = [
        f"{name} {metrics[key]:.4f}"
        for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1"))
        if isinstance(metrics.get(key), (int, float))
    ]
    if scores:
        where = f"{_md(split)} split, {metrics.get('num_samples', '?')} examples"
        rows.append((f"metrics ({where})", ", ".join(scores)))
    else:
        rows.append(("metrics", "none recorded"))
    if isinstance(metadata.get("data"), dict) and "num_train" in metadata["data"]:
        rows.append(("trained on", f"{metadata['data']['num_train']} examples"))
    pulled = metadata.get("pulled_from")
    if isinstance(pulled, dict):
        rows.append(("pulled from", f"`{pulled.get('repo_id', '?')}` at {str(pulled.get('commit', '?'))[:12]}"))
    elif metadata.get("imported_from"):
        rows.append(("imported from", _md(metadata["imported_from"])))
    more = f", ... ({len(labels) - 50} more)" if len(labels) > 50 else ""
    rows += [
        (f"labels ({len(labels)})", ", ".join(_md(label) for label in labels[:50]) + more),
        ("created", _md(metadata.get("created", "?"))),
    ]
    lines = ["### Adapter card", ""]
    lines += [f"- **{key}**: {value}" for key, value in rows]
    lines += ["", f"The same predictions on the command line: `zoo predict {metadata.get('ref', 'NAME')} INPUT...`"]
    return "\n".join(lines)


@dataclass
class DemoModel:
    """An adapter loaded once, predicting one input at a time as ``zoo predict`` does."""

    net: Any
    method: Any
    metadata: dict[str, Any]
    top_k: int = 5

    @classmethod
    def load(cls, adapter_ref: str, zoo: Zoo | None = None, top_k: int = 5) -> DemoModel:
        from zoo_core.engine.adapters import load_trained_model
        from zoo_core.plugins import Zoo

        if top_k < 1:
            raise ZooError(f"top_k must be at least 1, got {top_k}")
        ref, _ = demo_adapter(adapter_ref)
        net, method, metadata = load_trained_model(zoo or Zoo(), str(ref))
        return cls(net, method, metadata, top_k)

    @property
    def modality(self) -> str:
        return str(self.net.backbone.modality)

    @property
    def labels(self) -> list[str]:
        return list(self.metadata["labels"])

    def predict(self, item: Any) -> dict[str, float]:
        """The top-k labels with their probabilities, best first, for an image path or a text."""
        from zoo_core.engine.inference import predict_items, top_labels

        if self.modality == "image":
            if item is None or not Path(item).is_file():
                raise DataError(f"image not found: {item}")
            item = str(item)
        elif not isinstance(item, str) or not item.strip():
            raise DataError("type some text to classify")
        labels = self.labels
        probabilities = predict_items(self.net, self.method, [item]).softmax(-1)[0]
        return dict(top_labels(probabilities, labels, self.top_k))


def build_blocks(model: DemoModel) -> gradio.Blocks:
    """The page for a loaded adapter: input, Predict button, top-k labels, the adapter's card."""
    gr = import_gradio()
    ref = model.metadata.get("ref", "adapter")
    image = model.modality == "image"

    def predict(item: Any) -> dict[str, float]:
        if item is None or (isinstance(item, str) and not item.strip()):
            raise gr.Error("Upload an image first." if image else "Type some text first.")
        try:
            return model.predict(item)
        except ZooError as exc:  # the same one line the CLI would print, in the page's error toast
            raise gr.Error(str(exc)) from None

    # Uploads are the user's images: gradio deletes its copies an hour after upload and when the demo stops.
    with gr.Blocks(title=f"zoo demo: {ref}", analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
        gr.Markdown(
            f"# {_md(ref)}\n{'Upload an image' if image else 'Type a text'}, then press **Predict**: "
            f"the {min(model.top_k, len(model.labels))} most likely of its {len(model.labels)} labels."
        )
        with gr.Row():
            with gr.Column():
                if image:
                    # filepath + image_mode=None: the model reads the uploaded file itself, as zoo predict
                    # reads the file on disk (no conversion or re-encoding by gradio in between).
                    source = gr.Image(type="filepath", image_mode=None, label="Image", height=320, elem_id="zoo-input")
                else:
                    source = gr.Textbox(label="Text", lines=3, placeholder="Text to classify", elem_id="zoo-input")
                button = gr.Button("Predict", variant="primary", elem_id="zoo-submit")
            with gr.Column():
                output = gr.Label(num_top_classes=model.top_k, label="Prediction", elem_id="zoo-label")
        gr.Markdown(card_markdown(model.metadata), elem_id="zoo-card")
        button.click(predict, inputs=source, outputs=output, api_name="predict")
    return blocks


def build_demo(adapter_ref: str, zoo: Zoo | None = None, top_k: int = 5) -> gradio.Blocks:
    """Load adapter ``adapter_ref`` once and build its page (not launched); its API name is ``predict``."""
    import_gradio()  # a missing gradio is one line before the model loads, not after
    return build_blocks(DemoModel.load(adapter_ref, zoo=zoo, top_k=top_k))


def launch_demo(
    blocks: gradio.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False
) -> tuple[str, str | None]:
    """Start serving ``blocks`` in the background: (local URL, public URL or None)."""
    try:
        _, local_url, share_url = blocks.launch(
            server_name=host,
            server_port=port,
            share=share,  # explicit: GRADIO_SHARE=True in the environment must not turn it on
            prevent_thread_lock=True,
            quiet=True,
            show_error=True,
            ssr_mode=False,  # would start a Node server
            mcp_server=False,
            enable_monitoring=False,
            run_history=False,  # its page offers to upload runs to a Hugging Face bucket
        )
    except OSError:  # gradio's "Cannot find empty port": taken since zoo checked it, or too slow to bind
        raise ZooError(
            f"cannot serve on {host}:{port}: the port is in use or the server did not start; pick another with --port"
        ) from None
    return str(local_url), share_url
