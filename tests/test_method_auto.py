"""``zoo finetune --method auto``: the advisor picks the method from the data (examples per class
after --shots, modality, model size, --unlabeled, budget), the choice replaces "auto" everywhere
downstream, and the reason is a note; the numbers it quotes are in BENCHMARKS.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zoo_core.advice import DOMAIN_ADAPTATION_CHOICE, choose_method, suggest_method
from zoo_core.errors import ZooError
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT, write_text_file

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ the choice


def test_choose_method_follows_suggest_method_for_labelled_data():
    for per_class, params, modality in [(4, 5, "image"), (8, 22, "text"), (40, 5, "text"), (400, 22, "text")]:
        assert choose_method(per_class, params, modality) == suggest_method(per_class, params, modality)
    assert choose_method(5000, 5, "image")[0] == "full"


def test_unlabelled_data_picks_the_domain_adaptation_method_measured_best():
    for modality in ("text", "image"):
        method, reason = choose_method(400, 22, modality, unlabeled=True)
        assert method == "mcc" and "unlabelled target-domain data" in reason
    assert choose_method(4, 22, "text", unlabeled=True)[0] == "mcc"


def test_a_low_budget_keeps_the_backbone_frozen():
    assert choose_method(400, 22, "text", budget="low")[0] == "linear_probe"
    assert choose_method(4, 22, "text", budget="low")[0] == "protonet"
    assert choose_method(40, 22, "text", budget="low") == suggest_method(40, 22, "text")  # frozen already
    with pytest.raises(ZooError, match="budget must be one of low"):
        choose_method(40, 22, "text", budget="huge")


def test_the_domain_adaptation_numbers_are_the_means_in_benchmarks_md():
    text = (ROOT / "BENCHMARKS.md").read_text()
    section = text.split("## Domain adaptation with unlabelled target data", 1)[1].split("\n## ", 1)[0]
    means = " ".join(re.findall(r"Mean over the \w+ pairs:[^\n]*(?:\n[^\n|]+)*", section))
    measured = {(m, v) for m, v in re.findall(r"(\w+) \**(0\.\d{4})", means)}
    assert measured, "no 'Mean over the ... pairs' lines under the domain adaptation section"
    for modality, (method, reason) in DOMAIN_ADAPTATION_CHOICE.items():
        quoted = set(re.findall(r"(\w+) (0\.\d{4})", reason))
        assert quoted and quoted <= measured, f"{modality}: {quoted - measured} not in BENCHMARKS.md's means"
        assert method in {m for m, _ in quoted}
    text_means = {m: float(v) for m, v in re.findall(r"(\w+) \**(0\.\d{4})", means.split("Mean over the two")[0])}
    assert max(text_means, key=lambda m: text_means[m]) == DOMAIN_ADAPTATION_CHOICE["text"][0]


# ------------------------------------------------------------------------------ the pipeline


def test_few_shots_pick_a_few_shot_method(tiny_zoo, image_folder):
    from zoo_core.engine.pipeline import finetune

    result = finetune(TINY_IMAGE, image_folder, method="auto", shots=4, zoo=tiny_zoo, save=False)
    assert result.method == "protonet"
    assert any(n.startswith("method auto: picked 'protonet' because 4 examples per class") for n in result.notes)


def test_more_data_picks_the_usual_method_and_the_adapter_records_it(tiny_zoo, tmp_path):
    from zoo_core.engine.pipeline import finetune

    data = write_text_file(tmp_path / "big.csv", per_class=130)  # ~104 per class train after validation
    result = finetune(TINY_TEXT, data, method="auto", epochs=1, zoo=tiny_zoo)
    assert result.method == "lora" and result.adapter == "tiny-text-lora@1"
    note = next(n for n in result.notes if n.startswith("method auto:"))
    assert "picked 'lora' because" in note
    stored = json.loads((Path(result.adapter_path) / "adapter.json").read_text())
    assert stored["method"]["name"] == "lora"
    assert stored["manifest"]["method_choice"] == {"asked": "auto", "picked": "lora", "reason": note}
    manifest = json.loads((Path(result.run_dir) / "manifest.json").read_text())
    assert manifest["method"]["name"] == "lora" and manifest["method_choice"]["picked"] == "lora"
    assert "-lora-" in Path(result.run_dir).name


def test_unlabelled_data_picks_a_domain_adaptation_method(tiny_zoo, text_file, tmp_path):
    from zoo_core.engine.pipeline import finetune

    target = write_text_file(tmp_path / "target.csv", per_class=8, seed=1)
    result = finetune(TINY_TEXT, text_file, method="auto", unlabeled=target, epochs=1, zoo=tiny_zoo, save=False)
    assert result.method == "mcc"
    assert any("picked 'mcc' because unlabelled target-domain data" in n for n in result.notes)


def test_method_options_with_auto_are_refused_before_training(tiny_zoo, text_file):
    from zoo_core.engine.pipeline import finetune

    with pytest.raises(ZooError, match=r"--method auto takes no method options \(r\): they belong to a specific"):
        finetune(TINY_TEXT, text_file, method="auto", method_options={"r": "4"}, zoo=tiny_zoo, save=False)
    result = finetune(TINY_TEXT, text_file, method="auto", method_options={"budget": "low"}, zoo=tiny_zoo, save=False)
    assert result.method == "linear_probe"


# ------------------------------------------------------------------------------ the CLI


@pytest.mark.slow  # fresh processes over the tiny catalog
def test_the_cli_says_what_auto_picked_and_why(run_zoo, tiny_catalog, image_folder):
    base = ["--catalog", str(tiny_catalog), "finetune", "-m", "tiny-image", "-d", str(image_folder), "--method", "auto"]
    code, out, err = run_zoo(*base, "--shots", "4", "--no-save")
    assert code == 0, err
    assert "note: method auto: picked 'protonet' because 4 examples per class" in out
    code, out, err = run_zoo(*base, "--shots", "4", "--name", "auto-pick", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["method"] == "protonet" and result["adapter"] == "auto-pick@1"
    assert any(n.startswith("method auto: picked 'protonet' because") for n in result["notes"])


@pytest.mark.slow  # fresh processes over the tiny catalog
def test_the_cli_refuses_options_of_a_method_with_auto_in_one_line(run_zoo, tiny_catalog, text_file):
    base = ["--catalog", str(tiny_catalog), "finetune", "-m", "tiny-text", "-d", str(text_file), "--method", "auto"]
    for extra, message in [
        (["-o", "r=8"], "--method auto takes no method options (r)"),
        (["--variant", "houlsby"], "--variant belongs to a specific method, not --method auto"),
        (["--tune", "2"], "--tune and --method auto do not combine"),
    ]:
        code, out, err = run_zoo(*base, *extra)
        assert code != 0 and message in err, err
        assert len(err.strip().splitlines()) == 1, err
