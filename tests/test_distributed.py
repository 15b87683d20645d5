"""The same `zoo finetune` runs under torchrun with two CPU processes (gloo) and matches one process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun not installed beside this Python")
def test_two_cpu_processes_match_one(tiny_catalog, text_file, tmp_path):
    args = [
        "--catalog",
        str(tiny_catalog),
        "finetune",
        "-m",
        "tiny-text",
        "-d",
        str(text_file),
        "--method",
        "full",
        "--epochs",
        "3",
        "--lr",
        "0.005",
        "--batch-size",
        "8",
        "--dropout",
        "0",
        "--no-save",
        "--json",
    ]
    env = {**os.environ, "ZOO_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, "-m", "zoo_core.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert single.returncode == 0, single.stderr[-2000:]
    double = subprocess.run(
        [
            str(TORCHRUN),
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            "-m",
            "zoo_core.cli",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert double.returncode == 0, double.stderr[-2000:]
    one = json.loads(single.stdout)
    two = json.loads(double.stdout)  # exactly one JSON document: only the main process reports
    assert two["metrics"]["num_samples"] == one["metrics"]["num_samples"]  # gathered, not per shard
    assert len(two["history"]) == len(one["history"])
    # Same global batches and averaged gradients; dropout streams differ per process, so allow noise.
    for a, b in zip(one["history"], two["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.15, abs=0.05)
    assert abs(two["accuracy"] - one["accuracy"]) <= 0.25
