"""What every deployment format shares: opening and checking the adapter, merging its tuners,
comparing an export's logits with zoo's, staging the output folder, ``zoo_export.json`` and the
README."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from zoo_core.engine.adapters import load_trained_model, verify_files
from zoo_core.engine.heads import LinearHead
from zoo_core.engine.inference import predict_items
from zoo_core.engine.model import TransferModel
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterRef, AdapterStore

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.plugins import Zoo

FORMATS = ("onnx", "transformers", "timm")
RECORD_FILE = "zoo_export.json"
ATOL = 1e-4
RTOL = 1e-4  # as the adapter's own reload check (zoo_core.engine.adapters.verify_reload)
# Which formats a modality / family can take, and what to use instead.
_NEEDS = {
    "transformers": ("text", "hf", "use --format onnx, or --format timm for image adapters"),
    "timm": ("image", "timm", "use --format onnx, or --format transformers for text adapters"),
}


@dataclass
class _Adapter:
    """A loaded adapter, its stored samples and zoo's own logits on them."""

    ref: AdapterRef
    metadata: dict[str, Any]
    net: TransferModel
    method: Any
    items: list[Any]
    expected: torch.Tensor
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return list(self.metadata["labels"])


def _open(ref: str, fmt: str, out: Path, zoo: Zoo | None, store: AdapterStore | None) -> _Adapter:
    """Check the adapter's files and verification, refuse a modality the format cannot take or an
    unusable ``out``, then load the adapter and compute zoo's logits on its stored samples (before
    anything is merged)."""
    store = store or AdapterStore()
    adapter = store.resolve(ref)
    metadata = adapter.metadata()
    verify_files(adapter, metadata)
    adapter.require_verified(metadata)
    _usable_folder(out)
    base = metadata["base_model"]
    modality = str(metadata.get("task", "")).partition("-")[0]
    if fmt in _NEEDS:
        wanted, family, instead = _NEEDS[fmt]
        if modality != wanted:
            raise AdapterError(
                f"adapter {adapter} is for {modality or 'non-' + wanted} data ({base['id']}); "
                f"--format {fmt} writes {wanted} models: {instead}"
            )
        if base.get("family") != family:
            raise AdapterError(
                f"adapter {adapter} is built on a '{base.get('family')}' backbone ({base['id']}); "
                f"--format {fmt} needs a '{family}' one: use --format onnx"
            )
    if zoo is None:
        from zoo_core.plugins import Zoo

        zoo = Zoo()
    net, method, _ = load_trained_model(zoo, str(adapter), store=store)
    items: list[Any] = []
    samples_file = adapter.path / "samples.json"
    if samples_file.is_file():  # hashed with the other files by verify_files
        samples = json.loads(samples_file.read_text())
        items = list(samples.get("items", []))
        if samples.get("modality") == "image":
            items = [str(adapter.path / item) for item in items]
    expected = predict_items(net, method, items) if items else torch.zeros(0, len(metadata["labels"]))
    return _Adapter(adapter, metadata, net, method, items, expected)


def merge_tuners(net: nn.Module) -> tuple[list[str], list[str]]:
    """Merge every peft tuner layer into its base layer and put the base layer back in its place,
    as ``merge_and_unload`` does for a ``PeftModel`` (zoo injects tuners without that wrapper).
    Returns (merged layer names, names of layers whose tuner cannot merge, left as they are)."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # pragma: no cover - peft is a dependency
        return [], []
    merged: list[str] = []
    kept: list[str] = []
    for name, module in list(net.named_modules()):
        if not isinstance(module, BaseTunerLayer) or any(name.startswith(k + ".") for k in merged + kept):
            continue
        try:
            with torch.no_grad():
                module.merge(safe_merge=True)
        except Exception:  # tuners without a merge raise NotImplementedError, or ValueError on NaNs
            kept.append(name)
            continue
        parent, _, child = name.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, child, module.get_base_layer())
        merged.append(name)
    return merged, kept


def _hooked(module: nn.Module) -> list[str]:
    """Submodules with forward hooks (how bottleneck adapters attach): a plain architecture has none."""
    return [name for name, m in module.named_modules() if m._forward_hooks or m._forward_pre_hooks]


def _merge_or_refuse(adapter: _Adapter, fmt: str) -> None:
    """Merge the tuners; refuse a format that needs the architecture's own weights when one cannot merge."""
    merged, kept = merge_tuners(adapter.net)
    name = adapter.metadata["method"]["name"]
    if kept:
        raise AdapterError(
            f"adapter {adapter.ref}: its {name} layers cannot be merged into the weights (e.g. {kept[0]}), "
            f"so --format {fmt} cannot hold them; use --format onnx"
        )
    if merged:
        adapter.notes.append(f"{name}: {len(merged)} adapted layers merged into the base weights")


def _linear_head(adapter: _Adapter, fmt: str) -> nn.Linear:
    head = adapter.net.head
    if not isinstance(head, LinearHead):
        kind = adapter.metadata["head"]["name"]
        raise AdapterError(
            f"adapter {adapter.ref} has a '{kind}' head ({type(head).__name__}), and --format {fmt} holds one "
            "linear layer on the pooled features; use --format onnx, which exports any head"
        )
    return head.fc


def _compare(adapter: _Adapter, actual: torch.Tensor, fmt: str, what: str) -> dict[str, Any]:
    """Compare ``actual`` logits with zoo's on the stored samples as the adapter's own reload check
    does (``|a - e| <= atol + rtol |e|``: prototype logits run into the hundreds, where float32
    rounding alone passes 1e-4); refuse the export if they differ."""
    count = len(adapter.items)
    if not count:
        return {"samples": 0, "note": "the adapter stores no samples: nothing to compare"}
    expected, actual = adapter.expected, actual.float()
    difference = float((actual - expected).abs().max())
    agreement = float((actual.argmax(-1) == expected.argmax(-1)).float().mean())
    if actual.shape != expected.shape or not torch.allclose(actual, expected, atol=ATOL, rtol=RTOL):
        raise AdapterError(
            f"adapter {adapter.ref}: the {fmt} export ({what}) does not reproduce zoo's logits on the adapter's "
            f"{count} stored samples (max |difference| {difference:.3g}); nothing was written. "
            "This is a bug: please report it"
        )
    return {
        "samples": count,
        "max_abs_logit_difference": difference,
        "top1_agreement": agreement,
        "atol": ATOL,
        "rtol": RTOL,
        "compared": f"{what} vs zoo predict on the loaded adapter",
    }


def _usable_folder(out: Path) -> None:
    """``out`` must be new, empty, or an earlier export (holding ``zoo_export.json``, whose listed
    files are replaced): other people's files are never mixed with an export or deleted."""
    if out.exists() and not out.is_dir():
        raise AdapterError(f"{out} is a file; --out takes a folder for this format")
    if out.is_dir() and any(out.iterdir()) and not (out / RECORD_FILE).is_file():
        raise AdapterError(
            f"{out} is not empty and holds no earlier export ({RECORD_FILE}); give a new or empty folder"
        )


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out`` to write into; on success its files replace ``out``'s."""
    _usable_folder(out)
    earlier = out / RECORD_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.zoo-export-", dir=out.parent))
    try:
        yield tmp
        out.mkdir(exist_ok=True)
        if earlier.is_file():
            try:
                old = json.loads(earlier.read_text()).get("files", [])
            except (OSError, ValueError):
                old = []
            for name in old:
                if isinstance(name, str) and "/" not in name and (out / name).is_file():
                    (out / name).unlink()
        for item in tmp.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_record(folder: Path, adapter: _Adapter, fmt: str, checks: dict[str, Any], **extra: Any) -> None:
    from zoo_core import __version__

    files = sorted(p.name for p in folder.iterdir() if p.is_file()) + [RECORD_FILE]
    record = {
        "format": fmt,
        "adapter": str(adapter.ref),
        "base_model": adapter.metadata["base_model"]["id"],
        "method": adapter.metadata["method"]["name"],
        "labels": adapter.labels,
        "checks": checks,
        "notes": adapter.notes,
        **extra,
        "files": sorted(files),
        "created": datetime.now(timezone.utc).isoformat(),
        "zoo_version": __version__,
    }
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")


def _copy_card(adapter: _Adapter, folder: Path, usage: str) -> None:
    """The adapter's README.md, with how to load this export added at the end."""
    card = adapter.ref.path / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else f"# {adapter.ref.name}\n"
    (folder / "README.md").write_text(text.rstrip() + "\n\n## Load this export\n\n" + usage.strip() + "\n")
