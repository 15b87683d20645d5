"""Issue 15, bad options: every training and method option is checked before any work, and a bad
one is refused in one line naming it and its valid range; nothing is trained or stored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CASES = [
    (["--epochs", "0"], "'epochs' must be at least 1"),
    (["--epochs", "-3"], "'epochs' must be at least 1"),
    (["--grad-accum", "0"], "'grad_accum' must be at least 1"),
    (["--shots", "0"], "--shots must be at least 1"),
    (["--warmup", "5"], "'warmup' must be at most 1.0"),
    (["--lr", "inf"], "'lr' takes float: expected a finite number"),
    (["--lr", "nan"], "'lr' takes float: expected a finite number"),
    (["--batch-size", "0"], "'batch_size' must be at least 1"),
    (["-o", "bogus=3", "-o", "alpah=4"], "unknown option 'bogus'"),
    (["-o", "alpah=4"], "unknown option 'alpah'. Did you mean 'alpha'?"),
    (["-o", "r=abc"], "option 'r' takes int: expected an integer, got 'abc'"),
    (["-o", "r=0"], "option 'r' must be at least 1"),
    (["-o", "epochs=3"], "'epochs' is a training setting: pass --epochs instead"),
    (["--variant", "pfeiffer"], "--variant: method 'lora' has no variants"),
    (["--name", "../evil"], "invalid adapter name '../evil'"),
    (["--name", "evil@2"], "invalid adapter name 'evil@2'"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_option_is_refused_before_any_work(args, message, tiny_catalog, tmp_path):
    from click.testing import CliRunner

    from zoo_core.cli import cli

    # Unreadable data: a check that ran after loading would report the data instead of the option.
    data = tmp_path / "broken.csv"
    data.write_bytes(b"\x00\xff not a table")
    argv = ["--catalog", str(tiny_catalog), "finetune", "-m", "tiny-text", "-d", str(data), "--method", "lora", *args]
    result = CliRunner().invoke(cli, argv)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert message in lines[0] and "internal error" not in lines[0], lines[0]
    home = Path(os.environ["ZOO_HOME"])
    assert not list(home.glob("adapters/*/v*")) and not list(home.glob("runs/*"))  # nothing trained or stored


@pytest.mark.slow  # a fresh process per case; the in-process test above covers every case
def test_the_real_command_line_refuses_in_one_line(tiny_catalog, tmp_path, run_zoo):
    data = tmp_path / "broken.csv"
    data.write_bytes(b"\x00\xff not a table")
    code, _, err = run_zoo(
        "--catalog", str(tiny_catalog), "finetune", "-m", "tiny-text", "-d", str(data), "--method", "lora",
        "-o", "alpah=4",
    )  # fmt: skip
    assert code == 1 and err.strip().splitlines() == [
        "Error: method 'lora': unknown option 'alpah'. Did you mean 'alpha'? Known options: alpha, dropout, "
        "head_init, r, target_modules"
    ]


def test_python_api_checks_the_same_way(tiny_zoo, text_file):
    from zoo_core.engine.pipeline import finetune
    from zoo_core.errors import ZooError

    with pytest.raises(ZooError, match="'epochs' must be at least 1"):
        finetune("tiny-text", text_file, method="lora", epochs=0, zoo=tiny_zoo)
    with pytest.raises(ZooError, match="Did you mean 'alpha'"):
        finetune("tiny-text", text_file, method="lora", method_options={"alpah": 4}, zoo=tiny_zoo)
    with pytest.raises(ZooError, match="--shots must be at least 1"):
        finetune("tiny-text", text_file, method="protonet", shots=0, zoo=tiny_zoo)
