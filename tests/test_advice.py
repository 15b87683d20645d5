"""`zoo methods suggest`: the advice follows the data, and every number it cites is in BENCHMARKS.md."""

import json
import re
from pathlib import Path

from zoo_core.advice import EVIDENCE, advise

ROOT = Path(__file__).resolve().parents[1]


def test_cited_numbers_are_the_measured_ones():
    benchmarks = (ROOT / "BENCHMARKS.md").read_text()
    for lines in EVIDENCE.values():
        for line in lines:
            for number in re.findall(r"0\.\d{4}", line):
                assert number in benchmarks, f"advice cites {number}, which BENCHMARKS.md does not contain"


def test_advice_by_examples_per_class():
    assert advise(4, 5, "image").method == "protonet"
    assert advise(8, 22, "text").method == "contrastive"
    assert advise(40, 5, "text").method == "linear_probe"
    assert advise(400, 22, "text").method == "lora"
    assert advise(4000, 5, "image").method == "full"
    assert advise(400, 5, "image").evidence == EVIDENCE["image"]


def test_cli_suggests_for_the_users_data(run_zoo, tiny_catalog, image_folder):
    code, out, err = run_zoo(
        "--catalog",
        str(tiny_catalog),
        "methods",
        "suggest",
        "--data",
        str(image_folder),
        "--model",
        "tiny-image",
        "--json",
    )
    assert code == 0, err
    advice = json.loads(out)
    assert advice["modality"] == "image" and 10 <= advice["min_per_class"] < 100
    assert advice["method"] == "linear_probe" and f"{advice['min_per_class']} examples per class" in advice["reason"]
    code, out, err = run_zoo("methods", "suggest", "--data", str(image_folder), "--model", "no-such-model")
    assert code == 1 and "no-such-model" in err
