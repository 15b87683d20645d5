"""Export adapters (PEFT format, archive), import archives, push to the Hub."""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from zoo_core.engine.adapters import WEIGHTS_FILE, verify_files
from zoo_core.errors import AdapterError
from zoo_core.paths import offline_mode
from zoo_core.store import METADATA_FILE, AdapterRef, AdapterStore, read_metadata

PEFT_METHODS = {"lora"}
HEAD_FILE = "zoo_head.safetensors"
HEAD_CONFIG = "zoo_head.json"


def export_peft(ref: str, out: str | Path, *, store: AdapterStore | None = None) -> Path:
    """Write ``adapter_config.json`` + ``adapter_model.safetensors`` that plain
    ``peft.PeftModel.from_pretrained(base_model, out)`` loads, where ``base_model`` is the family's
    own model (``transformers.AutoModel`` for ``hf``; ``timm.create_model(arch, num_classes=0)``
    for ``timm``). The trained head and pooling go beside them (``zoo_head.*``), since PEFT has no
    place for a head on a bare encoder."""
    from peft import LoraConfig
    from safetensors.torch import load_file, save_file

    store = store or AdapterStore()
    adapter = store.resolve(ref)
    metadata = adapter.metadata()
    verify_files(adapter, metadata)
    adapter.require_verified(metadata)
    method = metadata["method"]
    if method["name"] not in PEFT_METHODS:
        raise AdapterError(
            f"adapter {adapter} uses method '{method['name']}', which has no PEFT format; "
            f"PEFT export supports {', '.join(sorted(PEFT_METHODS))}. Use --format archive instead"
        )
    state = load_file(str(adapter.path / WEIGHTS_FILE))
    prefix = "backbone.model."
    peft_state, head_state = {}, {}
    for key, tensor in state.items():
        if key.startswith(prefix) and "lora_" in key:
            # peft stores keys without the adapter name: ...query.lora_A.default.weight -> ...query.lora_A.weight
            peft_state["base_model.model." + key[len(prefix) :].replace(".default.", ".")] = tensor
        elif key.startswith("head."):
            head_state[key[len("head.") :]] = tensor
    if not peft_state:
        raise AdapterError(f"adapter {adapter} has no LoRA tensors to export")
    config = method.get("config", {})
    if not isinstance(config.get("target_modules"), list):
        raise AdapterError(f"adapter {adapter}: its {METADATA_FILE} records no LoRA target_modules to export")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    LoraConfig(
        r=int(config.get("r", 8)),
        lora_alpha=int(config.get("alpha", 16)),
        lora_dropout=float(config.get("dropout", 0.0)),
        target_modules=list(config["target_modules"]),
        bias="none",
        base_model_name_or_path=metadata["base_model"]["id"],
    ).save_pretrained(str(out))
    save_file(peft_state, str(out / "adapter_model.safetensors"))
    save_file(head_state, str(out / HEAD_FILE))
    preprocessing = metadata.get("preprocessing", {})
    (out / HEAD_CONFIG).write_text(
        json.dumps(
            {
                "labels": metadata["labels"],
                "head": metadata["head"],
                "base_model": metadata["base_model"],
                "pooling": metadata["base_model"].get("pooling"),
                "preprocessing": preprocessing,
                "zoo_adapter": str(adapter),
            },
            indent=2,
            sort_keys=True,
        )
    )
    shutil.copyfile(adapter.path / "README.md", out / "README.md")
    return out


def export_archive(ref: str, out: str | Path, *, store: AdapterStore | None = None) -> Path:
    """A ``.tar.gz`` of the adapter folder (every file, hashes included) for ``zoo adapters import``.

    Its verification marker goes with it: the imported copy is verified exactly when this one is."""
    store = store or AdapterStore()
    adapter = store.resolve(ref)
    verify_files(adapter, adapter.metadata())
    out = Path(out)
    if out.is_dir():
        out = out / f"{adapter.name}-v{adapter.version}.tar.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as archive:
        archive.add(adapter.path, arcname=f"{adapter.name}")
    return out


def import_archive(path: str | Path, *, name: str | None = None, store: AdapterStore | None = None) -> AdapterRef:
    """Add an archive made by :func:`export_archive` to the store as a new version.

    Its ``adapter.json`` is checked against the schema (every path it lists must stay inside the
    adapter folder; the weights must be listed) and every listed file against its sha256 before
    anything is stored; any problem is one :class:`AdapterError` line naming the archive."""
    store = store or AdapterStore()
    path = Path(path)
    if not path.is_file():
        raise AdapterError(f"{path}: no such archive")
    hint = " (export it again with 'zoo adapters export NAME --format archive')"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with tarfile.open(path, "r:*") as archive:
                archive.extractall(tmp, filter="data")  # refuses absolute paths and links outside
        except (tarfile.TarError, OSError, ValueError) as exc:
            raise AdapterError(f"{path} is not a readable adapter archive: {exc}") from None
        folders = [p for p in Path(tmp).iterdir() if p.is_dir()]
        if len(folders) != 1 or not (folders[0] / METADATA_FILE).is_file():
            raise AdapterError(f"{path} does not hold one adapter folder with {METADATA_FILE}")
        source = folders[0]
        where = f"{path} ({source.name}/{METADATA_FILE})"
        metadata = read_metadata(source / METADATA_FILE, where, hint)
        verify_files(AdapterRef(metadata["name"], metadata["version"], source), metadata, where=where)
        target = name or metadata["name"]

        def write(folder: Path) -> dict[str, Any]:
            for item in source.iterdir():
                if item.name == METADATA_FILE:
                    continue
                (shutil.copytree if item.is_dir() else shutil.copyfile)(item, folder / item.name)
            return {k: v for k, v in metadata.items() if k not in {"name", "version"}} | {"imported_from": str(path)}

        return store.save(target, write)


def push_to_hub(
    ref: str, repo_id: str, *, private: bool = False, store: AdapterStore | None = None, token: str | None = None
) -> str:
    """Upload the adapter to the Hub: the PEFT folder for LoRA adapters, else the adapter folder."""
    store = store or AdapterStore()
    adapter = store.resolve(ref)
    staging = Path(tempfile.mkdtemp(prefix="zoo-push-"))
    if adapter.metadata()["method"]["name"] in PEFT_METHODS:
        export_peft(ref, staging, store=store)
    else:
        shutil.copytree(adapter.path, staging, dirs_exist_ok=True)
    if offline_mode():
        raise AdapterError(
            f"cannot push {adapter} to {repo_id}: offline mode (HF_HUB_OFFLINE/ZOO_OFFLINE) is on. "
            f"The prepared folder is {staging}; upload it later with "
            f"'huggingface-cli upload {repo_id} {staging}'"
        )
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(staging), repo_id=repo_id, commit_message=f"Upload {adapter} from transfer-zoo"
        )
    except Exception as exc:
        raise AdapterError(
            f"push of {adapter} to {repo_id} failed: {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}. The prepared folder is {staging}"
        ) from None
    return str(getattr(info, "commit_url", info))
