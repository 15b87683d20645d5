"""Write and read adapter tensors and rebuild a trained model from the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from zoo_core.engine.model import TransferModel, build_backbone, build_head
from zoo_core.errors import AdapterError
from zoo_core.specs import load_object
from zoo_core.store import AdapterRef, AdapterStore
from zoo_core.weights import sha256_file

WEIGHTS_FILE = "adapter.safetensors"


def write_adapter_files(
    folder: Path, state: dict[str, torch.Tensor], metadata: dict[str, Any], card: str
) -> dict[str, Any]:
    """Write tensors and the model card into ``folder``; return metadata with file hashes."""
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in state.items()},
        str(folder / WEIGHTS_FILE),
        metadata={"format": "pt", "producer": "transfer-zoo"},
    )
    (folder / "README.md").write_text(card, encoding="utf-8")
    files = {
        path.relative_to(folder).as_posix(): sha256_file(path) for path in sorted(folder.rglob("*")) if path.is_file()
    }
    return {**metadata, "files": files}


def verify_files(ref: AdapterRef, metadata: dict[str, Any]) -> None:
    for name, expected in metadata.get("files", {}).items():
        path = ref.path / name
        if not path.is_file():
            raise AdapterError(f"adapter {ref} is missing {name} (in {ref.path})")
        actual = sha256_file(path)
        if actual != expected:
            raise AdapterError(
                f"adapter {ref}: {name} is corrupt (sha256 {actual[:16]}..., recorded {expected[:16]}...)"
            )


def load_trained_model(
    zoo, ref: str, *, store: AdapterStore | None = None, allow_base_mismatch: bool = False, offline: bool | None = None
) -> tuple[TransferModel, Any, dict[str, Any]]:
    """Rebuild (model, method, metadata) for adapter ``ref`` (``name`` or ``name@N``).

    The base model's weights must have the sha256 recorded at training time, or loading is
    refused (``allow_base_mismatch`` overrides), so an adapter never lands silently on other weights.
    """
    from safetensors.torch import load_file

    store = store or AdapterStore()
    adapter = store.resolve(ref)
    metadata = adapter.metadata()
    verify_files(adapter, metadata)
    base = metadata["base_model"]
    entry = zoo.catalog.get(base["id"])
    backbone = build_backbone(
        zoo, entry, pretrained=base.get("weights_sha256") is not None, offline=offline, **base.get("options", {})
    )
    if base.get("weights_sha256") != backbone.weights_sha256 and not allow_base_mismatch:
        raise AdapterError(
            f"adapter {adapter} was trained on {base['id']} with weights sha256 "
            f"{str(base.get('weights_sha256'))[:16]}..., "
            f"but the weights found here have sha256 {str(backbone.weights_sha256)[:16]}...; refusing to load "
            "(pass --allow-base-mismatch to override)"
        )
    if not backbone.use_features(base.get("features", "last")):
        raise AdapterError(
            f"adapter {adapter} needs '{base['features']}' features, which {entry.family} "
            "backbones here cannot give (is the family plugin older than the adapter?)"
        )
    head_cfg = metadata["head"]
    head = build_head(
        zoo, head_cfg["name"], backbone.num_features, len(metadata["labels"]), **head_cfg.get("options", {})
    )
    model = TransferModel(backbone, head)
    method_cfg = metadata["method"]
    method = load_object(zoo.get("methods", method_cfg["name"]).factory)(**method_cfg.get("config", {}))
    method.prepare(model)
    state = load_file(str(adapter.path / WEIGHTS_FILE))
    try:
        method.load_adapter_state(model, state)
    except ValueError as exc:
        raise AdapterError(f"adapter {adapter} does not fit its model: {exc}") from None
    model.eval()
    return model, method, {**metadata, "ref": str(adapter), "path": str(adapter.path)}


def model_card(metadata: dict[str, Any]) -> str:
    """A Hugging Face style README with YAML front matter."""
    base = metadata["base_model"]
    metrics = metadata.get("metrics", {})
    front = {
        "library_name": "transfer-zoo",
        "base_model": base["id"],
        "tags": ["transfer-zoo", metadata["method"]["name"], metadata.get("task", "classification")],
        "metrics": [{"name": k, "value": round(metrics[k], 4)} for k in ("accuracy", "macro_f1") if k in metrics],
    }
    lines = ["---"]
    for key, value in front.items():
        lines.append(f"{key}: {json.dumps(value)}")
    lines += [
        "---",
        "",
        f"# {metadata.get('name', 'adapter')}",
        "",
        f"A `{metadata['method']['name']}` adapter for [{base['id']}](https://huggingface.co/{base['id']}), "
        f"trained with transfer-zoo on {metadata.get('data', {}).get('num_train', '?')} examples of "
        f"{len(metadata['labels'])} classes: {', '.join(metadata['labels'][:20])}.",
        "",
    ]
    if metrics:
        lines += [
            f"Evaluated on the {metadata.get('eval_split', 'validation')} split "
            f"({metrics.get('num_samples', '?')} examples): accuracy {metrics.get('accuracy', 0):.4f}, "
            f"macro-F1 {metrics.get('macro_f1', 0):.4f}.",
            "",
        ]
    lines += ["## Use", "", "```", f"zoo predict {metadata.get('name', 'NAME')} INPUT...", "```", ""]
    return "\n".join(lines)
