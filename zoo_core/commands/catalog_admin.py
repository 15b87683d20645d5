"""The ``zoo catalog`` group: write catalog entries (``zoo catalog add-hf REPO_ID``).

``add-hf`` reads a Hugging Face Hub repo's ``config.json`` and model card (``README.md``) through
``huggingface_hub.hf_hub_download`` and its cache (``HF_HUB_OFFLINE``/``ZOO_OFFLINE`` mean the cache
only), counts the parameters with ``transformers.AutoModel.from_config``, and appends an entry to a
user catalog file of the registry.json schema. Nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click

from zoo_core.commands._shared import ZooGroup, emit_json, get_zoo, json_option
from zoo_core.errors import CatalogError, ZooError
from zoo_core.paths import hub_cache_dir

TEXT_TASKS = ["text-classification", "sentiment-analysis", "question-classification", "feature-extraction"]

# Position ids start after the padding index (RoBERTa-style): usable length = positions - pad_token_id - 1.
_POSITION_OFFSET_TYPES = {
    "roberta",
    "xlm-roberta",
    "xlm-roberta-xl",
    "camembert",
    "longformer",
    "mpnet",
    "roberta-prelayernorm",
    "data2vec-text",
    "ibert",
}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_ST_POOLING = {  # sentence-transformers 1_Pooling/config.json flag -> zoo pooling
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_lasttoken": "last",
}


@click.group("catalog", cls=ZooGroup)
def catalog_group():
    """Write catalog entries to a user catalog file (registry.json schema)."""


def default_catalog_file() -> Path:
    """Where ``add-hf`` writes by default: the first ``ZOO_CATALOG`` file, else ``$ZOO_HOME/catalog.json``."""
    from zoo_core.paths import zoo_home

    for path in os.environ.get("ZOO_CATALOG", "").split(os.pathsep):
        if path.strip():
            return Path(path.strip()).expanduser()
    return zoo_home() / "catalog.json"


def _download(repo_id: str, filename: str, revision: str | None, *, required: bool) -> Path | None:
    """A file of the repo from the Hub or its cache; None for a missing optional file."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from zoo_core.paths import offline_mode

    offline = offline_mode()
    try:
        return Path(
            hf_hub_download(repo_id, filename, revision=revision, cache_dir=hub_cache_dir(), local_files_only=offline)
        )
    except LocalEntryNotFoundError:
        if not required:
            return None
        where = hub_cache_dir() or "the default Hub cache"
        why = "offline (HF_HUB_OFFLINE/ZOO_OFFLINE), " if offline else "the Hub could not be reached and "
        raise ZooError(
            f"'{repo_id}' is not in the local Hub cache ({where}): {why}its {filename} is not cached there. "
            f"Download it once online (huggingface-cli download {repo_id} {filename}), or check the repo id"
        ) from None
    except GatedRepoError:
        raise ZooError(f"'{repo_id}' is a gated repo: accept its terms on the Hub and log in first") from None
    except RepositoryNotFoundError:
        raise ZooError(f"'{repo_id}' is not a model repo on the Hub (or it is private); check the id") from None
    except RevisionNotFoundError:
        raise ZooError(f"'{repo_id}' has no revision '{revision}'") from None
    except EntryNotFoundError:
        if not required:
            return None
        raise ZooError(f"'{repo_id}' has no {filename}: it is not a transformers model repo") from None


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ZooError(f"cannot read {what} ({path}): {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(data, dict):
        raise ZooError(f"{what} ({path}) is not a JSON object")
    return data


def _card_metadata(path: Path | None) -> dict[str, Any]:
    """The model card's YAML front matter ({} without a card or front matter)."""
    if path is None:
        return {}
    from huggingface_hub.repocard import metadata_load

    try:
        return metadata_load(path) or {}
    except Exception as exc:  # a malformed YAML block: the card's other facts are lost, say so
        raise ZooError(
            f"cannot read the model card's front matter ({path}): {' '.join(str(exc).split())[:200]}"
        ) from None


def _as_strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [str(value)]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int, float))]
    return []


def _count_params(config) -> int:
    """Parameters of ``AutoModel.from_config(config)``: built on the meta device (no memory), else on the CPU."""
    import torch
    from transformers import AutoModel

    try:
        with torch.device("meta"):
            model = AutoModel.from_config(config)
    except ValueError:
        raise
    except Exception:  # an architecture that cannot be built on the meta device
        model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _max_seq_len(config, model_type: str, st_config: dict[str, Any]) -> tuple[int | None, str]:
    positions = getattr(config, "max_position_embeddings", None)
    limit, how = None, "the config has no max_position_embeddings (relative positions or none): left null"
    if isinstance(positions, int) and positions > 0:
        pad = getattr(config, "pad_token_id", None)
        if model_type in _POSITION_OFFSET_TYPES and isinstance(pad, int) and positions > pad + 1:
            limit = positions - pad - 1
            how = f"{limit} = max_position_embeddings {positions} - {pad + 1} (RoBERTa-style position offset)"
        else:
            limit, how = positions, f"{positions} = max_position_embeddings"
    st_len = st_config.get("max_seq_length")
    if isinstance(st_len, int) and st_len > 0 and (limit is None or st_len <= limit):
        return st_len, f"{st_len} = max_seq_length of the repo's sentence_bert_config.json (position limit: {how})"
    return limit, how


def _pooling(config, meta: dict[str, Any], st_pooling: dict[str, Any]) -> tuple[str, str]:
    for flag, how in _ST_POOLING.items():
        if st_pooling.get(flag) is True:
            return how, f"{flag} in the repo's 1_Pooling/config.json"
    library = str(meta.get("library_name") or "")
    tags = _as_strings(meta.get("tags"))
    if library == "sentence-transformers" or "sentence-transformers" in tags:
        tag = meta.get("pipeline_tag")
        return "mean", f"guessed from the card (library_name/tags sentence-transformers, pipeline_tag {tag})"
    architectures = _as_strings(getattr(config, "architectures", None))
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "last", "guessed: a causal language model, whose last token sees the whole text"
    return "cls", "guessed: not a sentence-transformers model, so the first ([CLS]) token, as for BERT-style encoders"


def _names_in_use(target: Path) -> dict[str, str]:
    """Every id and alias of the catalogs zoo reads (lowercased -> the file that holds it), ``target`` left out:
    it may not exist yet, and :func:`_target_names` reads it."""
    from zoo_core.catalog import load_catalog

    def same(path: str) -> bool:
        return Path(path).expanduser().resolve() == target.expanduser().resolve()

    files = [(path, origin) for path, origin in get_zoo()._catalog_files() if not same(path)]
    return {
        name.lower(): entry.catalog_file or "the catalog"
        for entry in load_catalog(files).models
        for name in (entry.id, *entry.aliases)
    }


def _target_names(target: Path) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The target catalog's data (None when it does not exist yet) and its ids and aliases."""
    if not target.exists():
        return None, {}
    from zoo_core.catalog import read_catalog_file

    data = read_catalog_file(target)
    names = {n.lower(): str(target) for m in data["models"] for n in (m["id"], *m.get("aliases", []))}
    return data, names


def _write_catalog(target: Path, data: dict[str, Any]) -> None:
    """Validate then write ``data`` to ``target`` atomically (a temporary file beside it, then a rename)."""
    from zoo_core.catalog import read_catalog_file

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        read_catalog_file(temporary)  # the file must load exactly as the catalog reads it
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def build_hf_entry(repo_id: str, revision: str | None, aliases: list[str]) -> dict[str, Any]:
    """The catalog entry for a Hub repo, from its config.json and model card (see ``zoo catalog add-hf``)."""
    config_path = _download(repo_id, "config.json", revision, required=True)
    assert config_path is not None
    raw = _read_json(config_path, f"{repo_id}'s config.json")
    commit = config_path.parent.name if _COMMIT.match(config_path.parent.name) else revision
    model_type = raw.get("model_type")
    if raw.get("auto_map"):
        raise ZooError(
            f"'{repo_id}' ships its own modelling code (auto_map in config.json) and needs trust_remote_code, "
            "which zoo never sets: choose a model transformers supports natively"
        )
    from transformers import AutoConfig
    from transformers import __version__ as transformers_version
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ZooError(
            f"'{repo_id}': transformers {transformers_version} does not know model_type {model_type!r}; it would "
            "need trust_remote_code (which zoo never sets) or a newer transformers"
        )
    try:
        config = AutoConfig.from_pretrained(str(config_path.parent))
    except Exception as exc:
        raise ZooError(f"'{repo_id}': its config.json does not load: {' '.join(str(exc).split())[:200]}") from None
    if getattr(config, "is_encoder_decoder", False):
        raise ZooError(
            f"'{repo_id}' is an encoder-decoder model ({model_type}); the hf family runs AutoModel as an encoder"
        )
    try:
        params = _count_params(config)
    except ValueError as exc:  # AutoModel has no class for this config
        raise ZooError(f"'{repo_id}': transformers' AutoModel cannot build a {model_type} model ({exc})") from None

    card_path = _download(repo_id, "README.md", revision, required=False)
    meta = _card_metadata(card_path)
    st_config: dict[str, Any] = {}
    st_pooling: dict[str, Any] = {}
    read = ["config.json"] + (["README.md"] if card_path else [])
    is_st = meta.get("library_name") == "sentence-transformers" or "sentence-transformers" in _as_strings(
        meta.get("tags")
    )
    if is_st:
        for name, into in (("sentence_bert_config.json", st_config), ("1_Pooling/config.json", st_pooling)):
            path = _download(repo_id, name, commit, required=False)
            if path is not None:
                into.update(_read_json(path, f"{repo_id}'s {name}"))
                read.append(name)
    seq, seq_how = _max_seq_len(config, model_type, st_config)
    pooling, pooling_how = _pooling(config, meta, st_pooling)
    license_ = meta.get("license")
    if license_ == "other" and meta.get("license_name"):
        license_ = str(meta["license_name"])
    license_ = str(license_) if license_ else None
    languages = _as_strings(meta.get("language"))
    arxiv = [t.split(":", 1)[1] for t in _as_strings(meta.get("tags")) if t.startswith("arxiv:")]
    datasets = _as_strings(meta.get("datasets"))
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
    card_words = (
        f"licence {license_ or 'not stated'} and languages {', '.join(languages) or 'not stated'} from the model "
        "card's YAML front matter"
        if card_path
        else "no README.md (model card) in the repo or cache: licence and languages unknown"
    )
    source = (
        f"zoo catalog add-hf from the Hub repo {repo_id} at revision {commit or 'main'} ({', '.join(read)}): "
        f"params {params:,} counted with transformers {transformers_version} AutoModel.from_config(that "
        "config.json) incl. "
        f"pooler where the model has one; num_features = hidden size; max_seq_len {seq_how}; {card_words}; "
        f"pooling {pooling} ({pooling_how}); metric left null"
    )
    return {
        "id": repo_id,
        "aliases": aliases,
        "family": "hf",
        "arch": model_type,
        "modality": "text",
        "tasks": list(TEXT_TASKS),
        "description": f"{repo_id} ({model_type}), added from the Hub by zoo catalog add-hf.",
        "params_m": round(params / 1e6, 6),  # exact: the count is small for tiny models
        "num_features": int(hidden) if isinstance(hidden, int) and hidden > 0 else None,
        "text": {"max_seq_len": seq, "pooling": pooling, "languages": languages},
        "source_head": None,
        "weights": [
            {
                "source": "hub",
                "repo_id": repo_id,
                "revision": commit,
                "filename": None,
                "format": "hf-dir",
                "sha256": None,
            }
        ],
        "pretraining": "+".join(datasets) or None,
        "license": license_,
        "paper": f"https://arxiv.org/abs/{arxiv[0]}" if arxiv else None,
        "metric": None,
        "status": "experimental",
        "source": source,
    }


@catalog_group.command("add-hf")
@click.argument("repo_id")
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(dir_okay=False),
    help="The catalog file to add to (created if missing). Default: the root --catalog, else the first "
    "ZOO_CATALOG file, else $ZOO_HOME/catalog.json.",
)
@click.option("--revision", help="A branch, tag or commit of the repo (default: main); the entry pins the commit.")
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    help="A short name for the model (repeatable). Default: the repo name, lower-cased, when no model uses it.",
)
@json_option
def add_hf(repo_id, catalog_file, revision, aliases, as_json):
    """Add a Hugging Face Hub text model to a user catalog, from its config.json and model card.

    Downloads config.json and README.md (or reads them from the Hub cache; HF_HUB_OFFLINE=1 or
    ZOO_OFFLINE=1: the cache only), counts the parameters with transformers' AutoModel.from_config,
    takes max_seq_len from max_position_embeddings (or sentence_bert_config.json), licence and
    languages from the card's front matter, and guesses the pooling (sentence-transformers: its
    1_Pooling config, else mean; other encoders: cls). Refuses a repo that is not cached when
    offline, a config that needs trust_remote_code, and an id already in a catalog.

    \b
    Examples:
      zoo catalog add-hf sentence-transformers/multi-qa-MiniLM-L6-cos-v1 --catalog my.json
      zoo --catalog my.json models show multi-qa-minilm-l6-cos-v1
      HF_HUB_OFFLINE=1 zoo catalog add-hf org/model      # from the Hub cache only
    """
    if not _REPO_ID.match(repo_id):
        raise ZooError(f"'{repo_id}' is not a Hub model id (write it as owner/name, e.g. BAAI/bge-small-en-v1.5)")
    ctx = click.get_current_context()
    root_catalogs = list((ctx.find_root().obj or {}).get("catalogs", ()))
    if catalog_file:
        target = Path(catalog_file).expanduser()
    elif root_catalogs:
        target = Path(root_catalogs[-1]).expanduser()
    else:
        target = default_catalog_file()
    aliases = [a.strip() for a in aliases]
    for alias in aliases:
        if not _ALIAS.match(alias):
            raise ZooError(f"alias '{alias}' is not a catalog name (lower-case letters, digits, '.', '_' and '-')")

    data, in_target = _target_names(target)
    in_use = {**_names_in_use(target), **in_target}
    if repo_id.lower() in in_use:
        raise CatalogError(
            f"'{repo_id}' is already in the catalog ({in_use[repo_id.lower()]}); see it with: zoo models show {repo_id}"
        )
    for alias in aliases:
        if alias in in_use:
            raise CatalogError(f"alias '{alias}' is already used in {in_use[alias]}; choose another with --alias")
    if not aliases:
        guess = repo_id.split("/", 1)[1].lower()
        if _ALIAS.match(guess) and guess not in in_use:
            aliases = [guess]

    entry = build_hf_entry(repo_id, revision, aliases)
    if data is None:
        data = {
            "schema_version": 1,
            "description": "transfer-zoo user catalog (entries written by zoo catalog add-hf)",
            "models": [],
        }
    data["models"].append(entry)
    _write_catalog(target, data)

    if as_json:
        emit_json(entry)
        return
    text = entry["text"]
    params = f"{entry['params_m']:g}M"
    click.echo(
        f"added {repo_id} to {target} (params {params}, max_seq_len {text['max_seq_len']}, pooling "
        f"{text['pooling']}, licence {entry['license'] or '?'}, languages {', '.join(text['languages']) or '?'})"
    )
    reads = [str(Path(p).expanduser()) for p in root_catalogs + os.environ.get("ZOO_CATALOG", "").split(os.pathsep)]
    from zoo_core.paths import zoo_home

    if str(target) not in reads and Path(target) != zoo_home() / "catalog.json":  # the user catalog is always read
        click.echo(f"use it with: zoo --catalog {target} models show {repo_id}   (or add the file to ZOO_CATALOG)")
