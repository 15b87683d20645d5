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
from zoo_core.paths import hub_cache_dir, offline_mode
from zoo_core.store import METADATA_FILE, VERIFIED_FILE, AdapterRef, AdapterStore, read_metadata

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
    if metadata["base_model"].get("continued_pretraining"):
        raise AdapterError(
            f"adapter {adapter} was trained on a backbone re-trained by continued pre-training (--tapt-steps): "
            "PEFT files on the stock base model would predict differently; use --format archive, onnx or transformers"
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
    _write_peft_card(adapter.path / "README.md", out / "README.md")
    return out


def _write_peft_card(card_file: Path, out: Path) -> None:
    """The adapter's card, relabelled for the PEFT folder: the Hub shows ``library_name: peft``
    folders with PEFT's loading snippet."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(card_file)
    card.data.library_name = "peft"
    card.data.tags = sorted({*(card.data.tags or []), "transfer-zoo", "peft"})
    card.save(out)


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
        return _import_folder(source, where, hint, name, store, {"imported_from": str(path)})


def _import_folder(
    source: Path, where: str, hint: str, name: str | None, store: AdapterStore, origin: dict[str, Any]
) -> AdapterRef:
    """Store a copy of adapter folder ``source`` as a new version of ``name`` (default: its own
    name), after checking its ``adapter.json`` and every file it lists against its sha256."""
    metadata = read_metadata(source / METADATA_FILE, where, hint)
    verify_files(AdapterRef(metadata["name"], metadata["version"], source), metadata, where=where)
    target = name or metadata["name"]

    def write(folder: Path) -> dict[str, Any]:
        for item in source.iterdir():
            if item.name == METADATA_FILE:
                continue
            (shutil.copytree if item.is_dir() else shutil.copyfile)(item, folder / item.name)
        return {k: v for k, v in metadata.items() if k not in {"name", "version"}} | origin

    return store.save(target, write)


HUB_SUBFOLDER = "transfer-zoo"  # where a PEFT-format push keeps the zoo adapter folder itself


def prepare_hub_folder(ref: str, staging: Path, *, store: AdapterStore | None = None) -> Path:
    """The folder ``push_to_hub`` uploads: for LoRA adapters the PEFT files at the root (so that
    ``peft`` loads the repo) and the zoo adapter folder under ``transfer-zoo/``; for the other
    methods the zoo adapter folder itself. Either way :func:`pull_from_hub` imports it exactly."""
    store = store or AdapterStore()
    adapter = store.resolve(ref)
    metadata = adapter.metadata()
    verify_files(adapter, metadata)
    # PEFT files at the root only where they reproduce the adapter on the stock base model.
    if metadata["method"]["name"] in PEFT_METHODS and not metadata["base_model"].get("continued_pretraining"):
        export_peft(ref, staging, store=store)
        shutil.copytree(adapter.path, staging / HUB_SUBFOLDER, dirs_exist_ok=True)
    else:
        shutil.copytree(adapter.path, staging, dirs_exist_ok=True)
    return staging


def pull_from_hub(
    repo_id: str,
    *,
    name: str | None = None,
    revision: str | None = None,
    store: AdapterStore | None = None,
    token: str | None = None,
) -> AdapterRef:
    """Download an adapter pushed by :func:`push_to_hub` through huggingface_hub (its cache;
    ``HF_HUB_OFFLINE`` honoured: offline, only a cached snapshot is used), check every file its
    ``adapter.json`` lists against the recorded sha256, and import it as a new version."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    store = store or AdapterStore()
    at = f"{repo_id}@{revision}" if revision else repo_id
    try:
        snapshot = Path(
            snapshot_download(
                repo_id, revision=revision, token=token, cache_dir=hub_cache_dir(), local_files_only=offline_mode()
            )
        )
    except LocalEntryNotFoundError:
        raise AdapterError(
            f"cannot pull {at}: it is not in the Hub cache and "
            + (
                "offline mode (HF_HUB_OFFLINE/ZOO_OFFLINE) is on; pull it once online, or unset HF_HUB_OFFLINE"
                if offline_mode()
                else "the Hub could not be reached; check the network, or the repo id"
            )
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise AdapterError(f"cannot pull {at}: {type(exc).__name__} (check the repo id, revision and token)") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise AdapterError(f"cannot pull {at}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
    folder = snapshot / HUB_SUBFOLDER if (snapshot / HUB_SUBFOLDER / METADATA_FILE).is_file() else snapshot
    if not (folder / METADATA_FILE).is_file():
        raise AdapterError(
            f"{at} holds no transfer-zoo adapter ({METADATA_FILE} at its root or in {HUB_SUBFOLDER}/); "
            "a PEFT-only repo loads with peft.PeftModel.from_pretrained instead"
        )
    commit = snapshot.name
    where = f"{at} (commit {commit[:12]}, {folder.relative_to(snapshot) / METADATA_FILE})"
    hint = " (push it again with 'zoo adapters push')"
    metadata = read_metadata(folder / METADATA_FILE, where, hint)
    files = metadata.get("files")
    listed: list[str] = list(files) if isinstance(files, dict) else []
    with tempfile.TemporaryDirectory(prefix="zoo-pull-") as tmp:
        # The cache's snapshot files are links into its blob store: copy the listed files (links
        # followed) into one real folder, so that every check runs on the bytes that get stored.
        copy = Path(tmp) / "adapter"
        copy.mkdir()
        for relative in [METADATA_FILE, VERIFIED_FILE, *listed]:
            source = folder / relative
            if not _inside(relative) or not source.is_file():
                continue  # verify_files names what is missing or outside
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy / relative)
        return _import_folder(copy, where, hint, name, store, {"pulled_from": {"repo_id": repo_id, "commit": commit}})


def _inside(relative: str) -> bool:
    """Whether a listed path stays inside the adapter folder (no absolute path, no ``..``)."""
    parts = Path(relative).parts
    return bool(parts) and not Path(relative).is_absolute() and ".." not in parts


def push_to_hub(
    ref: str, repo_id: str, *, private: bool = False, store: AdapterStore | None = None, token: str | None = None
) -> str:
    """Upload the adapter to the Hub (the folder :func:`prepare_hub_folder` makes)."""
    store = store or AdapterStore()
    adapter = store.resolve(ref)
    staging = prepare_hub_folder(ref, Path(tempfile.mkdtemp(prefix="zoo-push-")), store=store)
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
