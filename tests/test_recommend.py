"""zoo recommend: ranking, budget subsampling, suggestions and clear errors for bad input."""

import json

import pytest

from zoo_core.engine.recommend import recommend, suggest_method
from zoo_core.errors import DataError, ZooError


def test_ranks_candidates_with_a_versioned_score(tiny_zoo, text_file):
    result = recommend(text_file, candidates=["tiny-text"], zoo=tiny_zoo, verify=1, budget_seconds=None)
    assert result.scorer == "logme" and result.scorer_version
    row = result.candidates[0]
    assert row.model == "tiny/bert-2l" and row.score is not None and 0 <= row.verify_accuracy <= 1
    assert result.num_scored == result.num_items == 32


def test_budget_subsamples_stratified_and_says_so(tiny_zoo, image_folder):
    result = recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, budget_seconds=1e-9)
    assert result.num_scored == 15 and result.num_items == 36  # 5 per class floor
    assert any("stratified sample of 15 of 36" in note for note in result.notes)


def test_wrong_modality_and_source_head_scorers_are_clear_errors(tiny_zoo, image_folder):
    with pytest.raises(ZooError, match="not image models"):
        recommend(image_folder, candidates=["tiny-text"], zoo=tiny_zoo)
    with pytest.raises(ZooError, match="needs the source model's classifier"):
        recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, scorer="leep")


def test_bad_data_is_reported(tiny_zoo, tmp_path, image_folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError):
        recommend(empty, candidates=["tiny-image"], zoo=tiny_zoo)
    single = tmp_path / "single"
    single.mkdir()
    (image_folder / "class_0").rename(single / "class_0")
    with pytest.raises(DataError, match="only one class"):
        recommend(single, candidates=["tiny-image"], zoo=tiny_zoo)


def test_unreadable_images_are_skipped_and_counted(tiny_zoo, image_folder):
    (image_folder / "class_1" / "broken.png").write_bytes(b"not a png")
    result = recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, budget_seconds=None)
    assert result.num_items == 36


def test_suggestions_follow_data_size():
    assert suggest_method(5, 5, "image")[0] == "protonet"
    assert suggest_method(50, 5, "image")[0] == "linear_probe"
    assert suggest_method(500, 5, "image")[0] == "lora"
    assert suggest_method(5000, 5, "image")[0] == "full"
    assert suggest_method(5000, 300, "text")[0] == "lora"


def test_cli_json(tiny_catalog, text_file, run_zoo):
    code, out, err = run_zoo("--catalog", str(tiny_catalog), "recommend", "--data", str(text_file),
                             "--candidates", "tiny-text", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["candidates"][0]["alias"] == "tiny-text" and data["scorer_version"]
