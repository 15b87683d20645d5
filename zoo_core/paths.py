"""Where transfer-zoo keeps its files: ``ZOO_HOME`` (default: the user's data dir)."""

from __future__ import annotations

import os
from pathlib import Path


def zoo_home() -> Path:
    """The root of the adapter store and caches; ``ZOO_HOME`` moves it."""
    override = os.environ.get("ZOO_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("transfer-zoo", appauthor=False))


def cache_dir(*parts: str) -> Path:
    """A folder under ``$ZOO_HOME/cache`` (features, converted weights); created on demand."""
    path = zoo_home().joinpath("cache", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline_mode() -> bool:
    """True when the user asked for no network: ``ZOO_OFFLINE`` or ``HF_HUB_OFFLINE``."""
    return any(
        os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
        for var in ("ZOO_OFFLINE", "HF_HUB_OFFLINE")
    )


def hub_cache_dir() -> str | None:
    """The Hugging Face Hub cache, read at call time (huggingface_hub reads it once, at its own
    import): ``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else None for huggingface_hub's default."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    return None
