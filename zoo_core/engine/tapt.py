"""Task-adaptive pre-training as a stage of ``finetune``: ``--tapt-steps N --unlabeled PATH``
trains the backbone with its family's self-supervised objective (masked LM for text) on the
unlabelled data, then the chosen method trains on the labels, in one command.

The re-trained backbone is part of the adapter: its state is stored as
:data:`CONTINUED_FILE` (unless the method stores the whole model anyway) and loaded into the
backbone before the method is applied, so ``predict``, ``evaluate`` and the deployment exports
see exactly the trained model. A PEFT-format export refuses such adapters: on the stock base
model they would predict differently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoo_core.errors import AdapterError, ZooError
from zoo_core.paths import cache_dir
from zoo_core.specs import load_spec_object

if TYPE_CHECKING:  # pragma: no cover
    from zoo_core.engine.unlabeled import UnlabeledData
    from zoo_core.plugins import Zoo

CONTINUED_FILE = "continued_pretraining.safetensors"


def check_tapt(zoo: Zoo, entry: Any, steps: Any, unlabeled_given: bool) -> int:
    """Refuse ``--tapt-steps`` that cannot run, before any data is read or model built."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ZooError(f"--tapt-steps must be a whole number of steps, 0 or more, got {steps!r}")
    if not steps:
        return 0
    family = zoo.get("backbones", entry.family)
    if not getattr(family, "continued_pretraining", None):
        raise ZooError(
            f"--tapt-steps: the '{entry.family}' family ({entry.modality} models such as '{entry.id}') has no "
            "self-supervised objective to continue pre-training with; leave --tapt-steps out "
            "(text models of the 'hf' family support it)"
        )
    if not unlabeled_given:
        raise ZooError(
            "--tapt-steps needs --unlabeled PATH: the unlabelled texts of your task or domain to continue "
            "pre-training on (the training texts themselves are a fine choice)"
        )
    return steps


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict's names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def run_tapt(
    zoo: Zoo,
    entry: Any,
    backbone: Any,
    unlabeled: UnlabeledData,
    *,
    steps: int,
    seed: int,
    device: Any,
    log: Callable[[str], None],
    progress: bool,
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Continue pre-training ``backbone`` in place; return (what adapters record, its new state).

    The result is cached (``$ZOO_HOME/cache/tapt``) by model, weights, preprocessing, the family's
    function, the unlabelled data's fingerprint, steps and seed: the same continued pre-training is
    not paid twice (another method on it, ``--tune`` trials, a rerun). The backbone's
    ``weights_delta_sha256`` is set, so the feature cache never serves features of the pre-trained
    weights for it."""
    family = zoo.get("backbones", entry.family)
    key = _cache_key(entry, backbone, family.continued_pretraining, unlabeled, steps, seed)
    folder = cache_dir("tapt") / key if key else None
    cached = _read_cache(folder, backbone) if folder is not None else None
    if cached is not None:
        summary, state = cached
        log(f"tapt: {steps} masked-LM steps on {summary['texts']} unlabelled texts, from the cache ({folder})")
        return {**summary, "cached": True}, state
    train = load_spec_object(family, "continued_pretraining")
    summary = dict(train(backbone, unlabeled.items, steps=steps, seed=seed, device=device, log=log, progress=progress))
    state = {name: tensor.detach().cpu().clone() for name, tensor in backbone.state_dict().items()}
    summary["unlabeled"] = unlabeled.describe()
    summary["state_sha256"] = backbone.weights_delta_sha256 = state_sha256(state)
    if folder is not None:
        _write_cache(folder, summary, state)
    return summary, state


TAPT_CACHE_VERSION = 1


def _cache_key(entry: Any, backbone: Any, function: str, unlabeled: UnlabeledData, steps: int, seed: int) -> str | None:
    if backbone.weights_sha256 is None:  # random weights: nothing worth keeping
        return None
    payload = {
        "model": entry.id,
        "weights": backbone.weights_sha256,
        "preprocess": backbone.preprocessor(train=False).config(),
        "function": function,
        "data": unlabeled.fingerprint(),
        "steps": steps,
        "seed": seed,
        "v": TAPT_CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:40]


def _read_cache(folder: Path, backbone: Any) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """A cached result, loaded into ``backbone``; None when absent or not intact (then it is recomputed)."""
    from safetensors.torch import load_file

    try:
        summary = json.loads((folder / "tapt.json").read_text())
        state = load_file(str(folder / CONTINUED_FILE))
    except (OSError, ValueError, RuntimeError):  # absent, or a partial/corrupt entry: recompute
        return None
    if state_sha256(state) != summary.get("state_sha256"):
        return None
    backbone.load_state_dict(state)
    backbone.weights_delta_sha256 = summary["state_sha256"]
    return summary, state


def _write_cache(folder: Path, summary: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """Write atomically (a temporary folder renamed into place), so readers never see half an entry."""
    import shutil
    import tempfile

    from safetensors.torch import save_file

    staging = Path(tempfile.mkdtemp(prefix=".tapt-", dir=folder.parent))
    try:
        save_file(state, str(staging / CONTINUED_FILE))
        (staging / "tapt.json").write_text(json.dumps(summary, indent=1))
        staging.rename(folder)
    except OSError:  # another process wrote the same entry first, or the disk is full: the run goes on
        shutil.rmtree(staging, ignore_errors=True)


def load_continued_state(backbone: Any, folder: Path, record: dict[str, Any], adapter: str) -> None:
    """Load a stored re-trained backbone state into a freshly built backbone (before the method is applied)."""
    from safetensors.torch import load_file

    file = record.get("file")
    if file:
        state = load_file(str(folder / file))
        result = backbone.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            names = [*result.missing_keys, *result.unexpected_keys][:3]
            raise AdapterError(f"adapter {adapter}: {file} does not fit the backbone (e.g. {', '.join(names)})")
    # Without a file, the method's own state (which holds the whole backbone) brings the weights.
    backbone.weights_delta_sha256 = record.get("state_sha256")
