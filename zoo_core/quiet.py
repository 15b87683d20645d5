"""Keep the libraries' own progress bars, advisory warnings and log lines out of zoo's output.

zoo prints its own progress (one bar per long step) and its own notes. transformers, huggingface_hub,
peft, accelerate, timm, torch and scikit-learn have their own bars ("Loading weights", "Writing model
shards"), advisory warnings and log lines; at the default verbosity they are silenced here, and
``zoo -v`` lets them through. Torch-free: only environment variables, ``warnings`` filters and
``logging`` levels, set before the libraries are imported (zoo imports them lazily) and applied again
to any that already are.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

# Libraries whose loggers are lowered to ERROR at the default verbosity.
QUIET_LOGGERS = (
    "transformers",
    "huggingface_hub",
    "peft",
    "accelerate",
    "timm",
    "torch",
    "sklearn",
    "urllib3",
    "filelock",
    "datasets",
    "sentence_transformers",
    "gradio",
    "httpx",
    "mlflow",
    "alembic",
    "onnxruntime",
)

# Environment switches the libraries read at import (set only where the user has not set them).
QUIET_ENVIRONMENT = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    # The tokenizers library warns once per DataLoader worker fork when it has already run threads.
    "TOKENIZERS_PARALLELISM": "false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GRADIO_ANALYTICS_ENABLED": "False",
    # mlflow sets its own loggers to this level when imported, over any level set before.
    "MLFLOW_LOGGING_LEVEL": "ERROR",
}

_verbose = False


def is_verbose() -> bool:
    """Whether ``zoo -v`` (or ``ZOO_VERBOSE=1``) asked for the libraries' own output."""
    return _verbose or os.environ.get("ZOO_VERBOSE", "").strip().lower() in {"1", "true", "yes", "on"}


def configure_output(verbose: bool = False) -> None:
    """Silence third-party bars, warnings and log lines unless ``verbose``; zoo's own output is not
    touched. Safe to call more than once."""
    global _verbose
    _verbose = verbose
    if is_verbose():
        return
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Python warnings raised from library code; zoo's own modules report through click, not warnings.
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # scikit-learn's ConvergenceWarning is a UserWarning
    silence_loaded_libraries()


def silence_loaded_libraries() -> None:
    """Apply the library switches to libraries already imported (env vars are read at import)."""
    if is_verbose():
        return
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
