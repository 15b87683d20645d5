"""Quiet, honest output: the libraries' bars, warnings and log lines stay out of zoo's output unless -v."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios

import pytest

from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT

# Three kinds of third-party noise, each made the way the libraries make it.
NOISE = """
import sys
from zoo_core.quiet import configure_output
configure_output(verbose=sys.argv[1] == "verbose")
import warnings
from transformers.utils import logging
from huggingface_hub.utils import tqdm
logging.get_logger("transformers.modeling_utils").warning("LEAK-LOG")
warnings.warn("LEAK-WARNING")
for _ in tqdm(range(3), desc="LEAK-BAR"):
    pass
print("zoo's own line")
"""


@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_library_noise_is_silenced_unless_verbose(mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_DISABLE", "TRANSFORMERS_", "ZOO_VERBOSE"))}
    proc = subprocess.run([sys.executable, "-c", NOISE, mode], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "zoo's own line" in out
    leaks = [word for word in ("LEAK-LOG", "LEAK-WARNING", "LEAK-BAR") if word in out]
    assert leaks == ([] if mode == "quiet" else ["LEAK-LOG", "LEAK-WARNING", "LEAK-BAR"])


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run ``zoo ARGS`` with stdout and stderr on one pseudo-terminal, as a person sees it."""
    main, secondary = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, where tqdm draws empty bars; size it like a window.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from zoo_core.cli import main; main()", *args],
        stdout=secondary,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(secondary)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(main)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return b"".join(chunks).decode(errors="replace")


THIRD_PARTY = (
    "Loading weights",
    "Writing model shards",
    "Warning:",
    "warn(",
    "huggingface/tokenizers",
    "Some weights",
    "INFO",
    "Creating initial MLflow",
    "alembic",
)


@pytest.mark.slow  # trains two tiny models
def test_finetune_on_a_terminal_shows_zoo_output_only(tiny_catalog, text_file, image_folder):
    env = {**os.environ, "ZOO_CATALOG": str(tiny_catalog)}
    text = _on_a_terminal(
        ["finetune", "-m", TINY_TEXT, "-d", str(text_file), "--method", "lora", "--epochs", "2", "--name", "t"]
        + ["--report-to", "tensorboard,mlflow"],  # two chatty libraries
        env,
    )
    image = _on_a_terminal(["finetune", "-m", TINY_IMAGE, "-d", str(image_folder), "--name", "i"], env)
    for output in (text, image):
        assert not [marker for marker in THIRD_PARTY if marker in output], output[-3000:]
        assert "adapter saved as" in output
    # zoo's own progress: a bar per epoch, one for feature extraction.
    assert "epoch 1/2" in text and "epoch 2/2" in text and "evaluate (validation)" in text
    assert "features" in image
