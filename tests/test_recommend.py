"""zoo recommend: ranking, budget subsampling, suggestions and clear errors for bad input."""

import json

import numpy as np
import pytest

from zoo_core.engine.recommend import AHEAD_SHARE, Ranked, _score_noise, recommend, suggest_method
from zoo_core.errors import DataError, ZooError


def test_ranks_candidates_with_a_versioned_score(tiny_zoo, text_file):
    result = recommend(text_file, candidates=["tiny-text"], zoo=tiny_zoo, verify=1, budget_seconds=None)
    assert result.scorer == "logme" and result.scorer_version
    row = result.candidates[0]
    assert row.model == "tiny/bert-2l" and row.score is not None and 0 <= row.verify_accuracy <= 1
    assert result.num_scored == result.num_items == 32


@pytest.mark.slow  # trains a model
def test_recommend_then_linear_probe_reuses_the_features(tiny_zoo, image_folder, monkeypatch):
    from zoo_core.engine.pipeline import finetune
    from zoo_timm._impl import TimmBackbone

    recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, budget_seconds=None)

    def no_backbone(self, batch):
        raise AssertionError("the backbone ran although recommend had extracted these items")

    monkeypatch.setattr(TimmBackbone, "forward", no_backbone)
    result = finetune("tiny-image", image_folder, method="linear_probe", zoo=tiny_zoo, save=False)
    assert 0 <= result.metrics["accuracy"] <= 1


def test_budget_subsamples_stratified_and_says_so(tiny_zoo, image_folder):
    result = recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, budget_seconds=1e-9)
    assert result.num_scored == 15 and result.num_items == 36  # 5 per class floor
    assert any("stratified sample of 15 of 36" in note for note in result.notes)


def test_wrong_modality_and_headless_source_scorers_are_clear_errors(tiny_zoo, image_folder, text_file):
    with pytest.raises(ZooError, match="not image models"):
        recommend(image_folder, candidates=["tiny-text"], zoo=tiny_zoo)
    with pytest.raises(ZooError, match="no candidate has a source head"):
        recommend(text_file, candidates=["tiny-text"], zoo=tiny_zoo, scorer="leep")


def test_source_head_is_the_pretrained_classifier(tiny_zoo, tiny_catalog):
    import timm
    import torch
    from safetensors.torch import load_file

    from zoo_core.engine.model import build_backbone

    backbone = build_backbone(tiny_zoo, "tiny-image").eval()
    reference = timm.create_model("test_efficientnet", num_classes=10).eval()
    reference.load_state_dict(load_file(str(tiny_catalog.parent / "tiny_timm.safetensors")))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        probs = backbone.source_probs(backbone(x))
        expected = torch.softmax(reference(x).double(), dim=1)
    assert probs.shape == (4, 10) and torch.allclose(probs, expected, atol=1e-5)
    assert not any("source" in name for name, _ in backbone.named_parameters())  # never trained nor stored
    assert build_backbone(tiny_zoo, "tiny-image", pretrained=False).source_probs(torch.zeros(1, 8)) is None


@pytest.mark.parametrize("scorer", ["leep", "nce"])
def test_source_head_scorers_rank_models_with_a_classifier(tiny_zoo, image_folder, scorer):
    result = recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, scorer=scorer, budget_seconds=None)
    row = result.candidates[0]
    assert row.error is None and np.isfinite(row.score)
    if scorer == "leep":
        assert row.score <= 0  # an average log-likelihood


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


def test_a_candidate_whose_weights_fail_is_skipped_not_fatal(tiny_catalog, image_folder, tmp_path):
    import io

    from zoo_core.errors import WeightsError
    from zoo_core.plugins import Zoo, make_plugin_manager

    catalog = json.loads(tiny_catalog.read_text())
    image = next(m for m in catalog["models"] if m["id"] == "tiny/test-efficientnet")
    missing = {
        **image,
        "id": "tiny/missing",
        "aliases": ["tiny-missing"],
        "weights": [{**image["weights"][0], "path": str(tmp_path / "gone.safetensors")}],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({**catalog, "models": [image, missing]}))
    zoo = Zoo(make_plugin_manager(stderr=io.StringIO()), catalog_paths=[str(path)])
    result = recommend(
        image_folder, candidates=["tiny-image", "tiny-missing"], zoo=zoo, budget_seconds=None, offline=False
    )  # offline would filter it out before trying
    assert [c.model for c in result.candidates] == ["tiny/test-efficientnet", "tiny/missing"]
    assert result.candidates[1].score is None and "gone.safetensors" in result.candidates[1].error
    assert any("1 candidates skipped" in note and "tiny/missing" in note for note in result.notes)
    with pytest.raises(WeightsError, match="no candidate could be loaded: WeightsError"):
        recommend(image_folder, candidates=["tiny-missing"], zoo=zoo, offline=False)


def test_after_one_failed_download_the_rest_are_not_downloaded(tiny_catalog, image_folder, tmp_path, monkeypatch):
    import io

    from zoo_core.plugins import Zoo, make_plugin_manager
    from zoo_core.weights import HubSource

    catalog = json.loads(tiny_catalog.read_text())
    image = next(m for m in catalog["models"] if m["id"] == "tiny/test-efficientnet")
    hub_only = [
        {
            **image,
            "id": f"nowhere/model-{i}",
            "aliases": [f"nowhere-{i}"],
            "weights": [
                {
                    "source": "hub",
                    "repo_id": f"nowhere/model-{i}",
                    "filename": "model.safetensors",
                    "format": "safetensors",
                }
            ],
        }
        for i in range(3)
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({**catalog, "models": [*hub_only, image]}))
    zoo = Zoo(make_plugin_manager(stderr=io.StringIO()), catalog_paths=[str(path)])
    attempts = []
    real_fetch = HubSource.fetch
    monkeypatch.setattr(
        HubSource, "fetch", lambda self, source: attempts.append(source["repo_id"]) or real_fetch(self, source)
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the download fails at once, as without a network
    result = recommend(
        image_folder,
        candidates=["nowhere-0", "nowhere-1", "nowhere-2", "tiny-image"],
        zoo=zoo,
        budget_seconds=None,
        offline=False,
    )
    assert attempts == ["nowhere/model-0"]
    assert result.candidates[0].model == "tiny/test-efficientnet" and result.candidates[0].score is not None
    assert any("2 more candidates whose weights are not on this machine were not tried" in n for n in result.notes)


def test_unreadable_images_are_skipped_and_counted(tiny_zoo, image_folder):
    (image_folder / "class_1" / "broken.png").write_bytes(b"not a png")
    result = recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, budget_seconds=None)
    assert result.num_items == 36


def _candidates(**features):
    rows = []
    for name, x in features.items():
        row = Ranked(name, name, 1.0, None, 0.0, "linear_probe", "")
        row._features, row._probs = x, None
        rows.append(row)
    return rows


def test_score_noise_separates_real_gaps_from_ties():
    from zoo_core.transferability import LogMEScorer

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 30)
    signal = np.eye(4)[labels] * 3 + rng.normal(size=(120, 4))
    good = np.hstack([signal, rng.normal(size=(120, 12))])
    noise = rng.normal(size=(120, 16))
    # The same signal with other noise: as good as `good`, so which scores higher is down to the sample.
    twin = np.hstack([np.eye(4)[labels] * 3 + rng.normal(size=(120, 4)), rng.normal(size=(120, 12))])
    scorer = LogMEScorer()
    rows = _candidates(good=good, twin=twin, noise=noise)
    scores = {r.model: scorer.score(r._features, labels) for r in rows}
    rows.sort(key=lambda r: -scores[r.model])
    tied = _score_noise(rows, labels, scorer, 10, 0)
    assert set(tied) == {"good", "twin"}  # the two copies are a tie whichever came first
    assert rows[1].model == "noise" or rows[2].model == "noise"
    assert rows[-2].ahead_of_next == 1.0 and rows[0].ahead_of_next < AHEAD_SHARE
    assert all(r.score_sd > 0 for r in rows)
    # Deterministic: the same subsamples for every candidate and every call.
    again = _candidates(good=good, twin=twin, noise=noise)
    again.sort(key=lambda r: -scores[r.model])
    _score_noise(again, labels, scorer, 10, 0)
    assert [r.score_sd for r in again] == [r.score_sd for r in rows]


def test_recommend_names_tied_candidates(tiny_zoo, image_folder):
    # One model listed twice gives identical features: a tie by construction.
    result = recommend(
        image_folder, candidates=["tiny-image", "tiny-image"], zoo=tiny_zoo, budget_seconds=None, resamples=5
    )
    assert result.resamples == 5 and len(result.tied_with_best) == 2
    assert result.candidates[0].ahead_of_next == 0.0 and result.candidates[0].score_sd >= 0
    assert any(
        "within noise of one another" in note and "the smallest of them is tiny-image" in note for note in result.notes
    )
    alone = recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, budget_seconds=None)
    assert alone.resamples == 0 and alone.tied_with_best == [] and alone.candidates[0].score_sd is None


def test_too_few_items_skip_the_noise_estimate_and_say_so(tiny_zoo, tmp_path):
    from zoo_core.testing.tiny import write_image_folder

    folder = write_image_folder(tmp_path / "few", per_class=3)
    result = recommend(folder, candidates=["tiny-image", "tiny-image"], zoo=tiny_zoo, budget_seconds=None)
    assert result.resamples == 0 and result.tied_with_best == [] and result.candidates[0].score_sd is None
    assert any("too few to tell score gaps from noise" in note for note in result.notes)
    with pytest.raises(ZooError, match="resamples must be 0"):
        recommend(folder, candidates=["tiny-image"], zoo=tiny_zoo, resamples=1)


def test_half_samples_hold_half_and_a_failing_rescore_only_loses_its_spread():
    from zoo_core.transferability import LogMEScorer

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 10)
    seen = []

    class Fragile(LogMEScorer):
        def score(self, features, labels, source_probs=None):
            seen.append(len(labels))
            if features.shape[1] == 5 and len(labels) < 30:
                raise np.linalg.LinAlgError("SVD did not converge")
            return super().score(features, labels)

    rows = _candidates(a=rng.normal(size=(30, 4)), b=rng.normal(size=(30, 5)), c=rng.normal(size=(30, 6)))
    tied = _score_noise(rows, labels, Fragile(), 4, 0)
    assert set(seen) == {15}  # exactly half
    assert rows[1].score_sd is None and rows[0].ahead_of_next is None and "b" not in tied[1:]
    assert rows[0].score_sd is not None and rows[2].score_sd is not None


def test_slow_scorers_rescore_within_the_budget(tiny_zoo, image_folder, monkeypatch):
    import time

    from zoo_core.transferability import LogMEScorer

    calls = []

    def slow(self, features, labels, source_probs=None):
        calls.append(len(labels))
        time.sleep(0.2)
        return float(features[:, 0].mean())

    monkeypatch.setattr(LogMEScorer, "score", slow)
    # Two full scorings take 0.4 s, so a quarter of a 5.6 s budget affords 7 rounds at that rate
    # (5 or more unless the machine adds 40 % to a sleep).
    result = recommend(image_folder, candidates=["tiny-image", "tiny-image"], zoo=tiny_zoo, budget_seconds=5.6)
    assert 2 <= result.resamples < 10
    assert any("half-samples instead of 10, to stay within the budget" in note for note in result.notes)
    calls.clear()
    # A budget too small for 5 rounds: no noise estimate, and the note says how to get one.
    result = recommend(image_folder, candidates=["tiny-image", "tiny-image"], zoo=tiny_zoo, budget_seconds=0.3)
    assert result.resamples == 0 and result.candidates[0].score_sd is None and len(calls) == 2
    assert any("too slow to rescore within the budget" in note for note in result.notes)


def test_top_never_hides_a_model_tied_with_the_best(tiny_zoo, image_folder):
    result = recommend(image_folder, candidates=["tiny-image", "tiny-image"], zoo=tiny_zoo, budget_seconds=None, top=1)
    assert len(result.tied_with_best) == 2 and len(result.candidates) == 2


def test_leep_in_recommend_is_leep_of_the_source_head(tiny_zoo, image_folder):
    from zoo_core.data import load_image_folder
    from zoo_core.engine.features import extract_features
    from zoo_core.engine.model import build_backbone
    from zoo_core.transferability import leep

    result = recommend(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, scorer="leep", budget_seconds=None)
    data = load_image_folder(image_folder)
    backbone = build_backbone(tiny_zoo, "tiny-image").eval()
    probs = backbone.source_probs(extract_features(backbone, data.items, use_cache=False)).numpy()
    names = sorted(set(data.labels))
    expected = leep(probs, np.array([names.index(label) for label in data.labels]))
    assert result.candidates[0].score == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow  # trains a model
def test_cli_table_shows_spread_and_ties(tiny_catalog, image_folder, run_zoo):
    code, out, err = run_zoo(
        "--catalog",
        str(tiny_catalog),
        "recommend",
        "--data",
        str(image_folder),
        "--candidates",
        "tiny-image,tiny-image",
        "--budget-seconds",
        "0",
    )
    assert code == 0, err
    header = next(line for line in out.splitlines() if "MODEL" in line)
    assert "SD" in header.split() and "AHEAD" in header.split()
    assert "tied within noise: tiny-image, tiny-image" in out
    code, out, err = run_zoo(
        "--catalog",
        str(tiny_catalog),
        "recommend",
        "--data",
        str(image_folder),
        "--candidates",
        "tiny-image",
        "--resamples",
        "-1",
    )
    assert code != 0 and "-1" in (out + err)


def test_suggestions_follow_data_size():
    assert suggest_method(5, 5, "image")[0] == "protonet"
    assert suggest_method(50, 5, "image")[0] == "linear_probe"
    assert suggest_method(500, 5, "image")[0] == "lora"
    assert suggest_method(5000, 5, "image")[0] == "full"
    assert suggest_method(5000, 300, "text")[0] == "lora"


@pytest.mark.slow  # trains a model
def test_cli_json(tiny_catalog, text_file, run_zoo):
    code, out, err = run_zoo(
        "--catalog", str(tiny_catalog), "recommend", "--data", str(text_file), "--candidates", "tiny-text", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["candidates"][0]["alias"] == "tiny-text" and data["scorer_version"]
