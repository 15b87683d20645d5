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
