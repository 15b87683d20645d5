"""zoo embed, zoo cluster and zoo recommend --unlabeled: unlabelled data, embeddings through the feature
cache, clustering metrics, choosing k, contact sheets and clear errors for bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from zoo_core.commands._shared import ZooGroup
from zoo_core.engine.unsupervised import (
    choose_k,
    clustering_metrics,
    hungarian_accuracy,
    l2_normalise,
    load_unlabelled,
    sheet_size,
)
from zoo_core.errors import DataError, ZooError


@pytest.fixture
def zoo_cli(tiny_zoo, monkeypatch):
    """Run the commands as the real CLI does (one-line errors, exit 1), on the tiny models."""
    import zoo_core.cli
    from zoo_core.commands.recommend import recommend
    from zoo_core.commands.unsupervised import cluster, embed

    monkeypatch.setattr(zoo_core.cli, "_ZOO", tiny_zoo)
    group = ZooGroup()
    for command in (embed, cluster, recommend):
        group.add_command(command)

    def run(*args: str):
        return CliRunner().invoke(group, [str(arg) for arg in args])

    return run


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{") :])


def _error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output and result.exception is not None
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


# --- unlabelled data ------------------------------------------------------------------------------


def test_reads_a_folder_of_images_without_class_folders(tmp_path, image_folder):
    plain = tmp_path / "plain"
    plain.mkdir()
    for path in sorted(image_folder.glob("*/*.png"))[:5]:
        (plain / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())
    (plain / "broken.png").write_bytes(b"not a png")
    (plain / "notes.md").write_text("not an image")
    data = load_unlabelled(plain, max_skipped_fraction=0.5)
    assert data.modality == "image" and data.labels is None and len(data) == 5
    assert [s.location for s in data.skipped] == [str(plain / "broken.png")]
    labelled = load_unlabelled(image_folder)
    assert labelled.labels is not None and set(labelled.labels) == {"class_0", "class_1", "class_2"}


def test_reads_texts_without_labels(tmp_path, text_file):
    lines = tmp_path / "questions.txt"
    lines.write_text("what is a city\n\nwho was it\nhow many\n")
    assert load_unlabelled(lines).items == ["what is a city", "who was it", "how many"]
    column = tmp_path / "texts.csv"
    column.write_text("text\ngood food\n\nbad service\n")
    data = load_unlabelled(column)
    assert data.items == ["good food", "bad service"] and data.labels is None
    records = tmp_path / "texts.jsonl"
    records.write_text('{"sentence": "nice place", "id": 1}\n{"sentence": "awful staff", "id": 2}\n')
    assert load_unlabelled(records).items == ["nice place", "awful staff"]
    labelled = load_unlabelled(text_file)  # labels, where the file has them, are kept for scoring
    assert labelled.labels is not None and set(labelled.labels) == {"pos", "neg"}


def test_unreadable_unlabelled_data_is_one_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        load_unlabelled(empty)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n")
    with pytest.raises(DataError, match="has no texts"):
        load_unlabelled(blank)
    wide = tmp_path / "wide.csv"
    wide.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="--text-column"):
        load_unlabelled(wide)


# --- embed ------------------------------------------------------------------------------------


def test_embed_npy_round_trip_and_the_cache_spares_the_backbone(zoo_cli, image_folder, tmp_path, monkeypatch):
    from zoo_timm._impl import TimmBackbone

    out = tmp_path / "emb.npy"
    summary = _json(zoo_cli("embed", "-m", "tiny-image", "-d", image_folder, "--out", out, "--json"))
    matrix = np.load(out)
    sidecar = json.loads((tmp_path / "emb.json").read_text())
    assert matrix.shape == (36, summary["dims"]) and matrix.dtype == np.float32
    assert sidecar["items"] == load_unlabelled(image_folder).items  # row i is item i
    assert sidecar["model"] == "tiny/test-efficientnet" and sidecar["dims"] == matrix.shape[1]
    assert sidecar["labels"][0] == "class_0"

    def no_backbone(self, batch):
        raise AssertionError("the backbone ran although every item's features were cached")

    monkeypatch.setattr(TimmBackbone, "forward", no_backbone)
    again = tmp_path / "again.npy"
    _json(zoo_cli("embed", "-m", "tiny-image", "-d", image_folder, "--out", again, "--json"))
    np.testing.assert_array_equal(np.load(again), matrix)


def test_embed_parquet_has_item_label_and_embedding_columns(zoo_cli, text_file, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "emb.parquet"
    summary = _json(zoo_cli("embed", "-m", "tiny-text", "-d", text_file, "--out", out, "--json"))
    table = pq.read_table(out)
    assert table.column_names == ["item", "label", "embedding"] and table.num_rows == 32
    embedding = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    assert embedding.shape == (32, summary["dims"])
    assert table.column("item").to_pylist() == load_unlabelled(text_file).items
    assert json.loads(table.schema.metadata[b"zoo"])["model"] == "tiny/bert-2l"


def test_embed_refuses_bad_output_names_and_the_wrong_modality(zoo_cli, image_folder, tmp_path):
    assert "end it in .npy or .parquet" in _error(
        zoo_cli("embed", "-m", "tiny-image", "-d", image_folder, "--out", tmp_path / "e.csv")
    )
    mixed = _error(
        zoo_cli("embed", "-m", "tiny-image", "-d", image_folder, "--out", tmp_path / "e.npy", "--format", "parquet")
    )
    assert "make them agree" in mixed
    wrong = _error(zoo_cli("embed", "-m", "tiny-text", "-d", image_folder, "--out", tmp_path / "e.npy"))
    assert "is a text model" in wrong and "--modality image" in wrong


# --- metrics and k --------------------------------------------------------------------------------


def test_hungarian_accuracy_matches_a_hand_count():
    truth = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    found = [1, 1, 0, 0, 0, 0, 2, 2, 2, 1]
    # Clusters x classes: cluster 0 holds 1 of class 0 and 3 of class 1; cluster 1, 2 of class 0 and 1 of
    # class 2; cluster 2, 3 of class 2. Best matching 0->1, 1->0, 2->2: 3 + 2 + 3 = 8 of 10.
    assert hungarian_accuracy(truth, found) == pytest.approx(0.8)
    # More clusters than classes: the unmatched cluster's items count as wrong.
    assert hungarian_accuracy([0, 0, 1, 1], [0, 1, 2, 2]) == pytest.approx(0.75)
    renamed = clustering_metrics(["a", "a", "b", "b", "c"], [7, 7, 3, 3, 5])
    assert renamed == pytest.approx({"nmi": 1.0, "ari": 1.0, "accuracy": 1.0})


@pytest.mark.parametrize("algorithm", ["kmeans", "agglomerative"])
def test_silhouette_picks_the_true_k_on_separated_blobs(algorithm):
    from sklearn.datasets import make_blobs

    x, _ = make_blobs(n_samples=200, n_features=16, centers=5, cluster_std=0.3, center_box=(-10, 10), random_state=3)
    choice = choose_k(l2_normalise(x), algorithm, seed=0)
    assert choice.k == 5 and list(choice.scores) == list(range(2, 21))
    assert choice.scores[5] == max(choice.scores.values())


# --- cluster -----------------------------------------------------------------------------------


def test_cluster_finds_separable_classes_and_writes_assignments_and_sheets(zoo_cli, image_folder, tmp_path):
    out = tmp_path / "clusters"
    (out).mkdir()
    (out / "cluster_9.png").write_bytes(b"an older run's sheet")
    result = _json(zoo_cli("cluster", "-m", "tiny-image", "-d", image_folder, "--out", out, "--json"))
    assert result["k"] == 3 and not result["k_given"] and result["normalisation"] == "L2"
    assert result["k_selection"]["scores"]["3"] == max(result["k_selection"]["scores"].values())
    assert result["metrics"] == pytest.approx({"nmi": 1.0, "ari": 1.0, "accuracy": 1.0, "num_classes": 3})
    with open(out / "assignments.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 36 and set(rows[0]) == {"item", "cluster", "label"}
    saved = json.loads((out / "assignments.json").read_text())
    assert [row["cluster"] for row in saved["assignments"]] == [int(row["cluster"]) for row in rows]
    from PIL import Image

    sheets = sorted(path.name for path in out.glob("cluster_*.png"))
    assert sheets == ["cluster_0.png", "cluster_1.png", "cluster_2.png"]  # the stale one is gone
    for row in result["clusters"]:
        with Image.open(row["contact_sheet"]) as sheet:
            assert sheet.size == sheet_size(row["size"])


def test_cluster_text_with_a_given_k_and_agglomerative(zoo_cli, text_file, tmp_path):
    result = _json(
        zoo_cli(
            "cluster",
            "-m",
            "tiny-text",
            "-d",
            text_file,
            "--k",
            "4",
            "--algorithm",
            "agglomerative",
            "--out",
            tmp_path / "c",
            "--json",
        )
    )
    assert result["k"] == 4 and result["k_given"] and result["files"]["contact_sheets"] == []
    sizes = [row["size"] for row in result["clusters"]]
    assert sum(sizes) == 32 and sizes == sorted(sizes, reverse=True)  # numbered by size
    assert 0 <= result["metrics"]["accuracy"] <= 1


def test_cluster_output_says_the_features_are_normalised_and_shows_the_scores(zoo_cli, image_folder, tmp_path):
    result = zoo_cli("cluster", "-m", "tiny-image", "-d", image_folder, "--out", tmp_path / "c")
    assert result.exit_code == 0, result.output
    assert "L2-normalised" in result.output and "<- chosen" in result.output and "NMI 1.0000" in result.output


def test_cluster_errors_are_one_line(zoo_cli, image_folder, tmp_path):
    assert "--k must be a whole number of at least 2" in _error(
        zoo_cli("cluster", "-m", "tiny-image", "-d", image_folder, "--k", "1")
    )
    assert "more than the 36 items" in _error(zoo_cli("cluster", "-m", "tiny-image", "-d", image_folder, "--k", "37"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no images" in _error(zoo_cli("cluster", "-m", "tiny-image", "-d", empty))
    few = tmp_path / "few.txt"
    few.write_text("good food\nbad food\nnice place\n")
    assert "too few to choose k" in _error(zoo_cli("cluster", "-m", "tiny-text", "-d", few, "--out", tmp_path / "c"))


# --- recommend --unlabeled --------------------------------------------------------------------------


def test_recommend_unlabeled_ranks_by_an_unsupervised_proxy_and_says_so(zoo_cli, tiny_zoo, image_folder, monkeypatch):
    from zoo_core.engine.recommend_unlabeled import recommend_unlabeled

    result = recommend_unlabeled(image_folder, candidates=["tiny-image"], zoo=tiny_zoo, budget_seconds=None)
    row = result.candidates[0]
    assert result.unlabeled and result.scorer == "silhouette" and "unsupervised proxy" in result.proxy
    assert row.k == 3 and 0 < row.score <= 1 and row.error is None
    shown = zoo_cli("recommend", "--unlabeled", "-d", image_folder, "--candidates", "tiny-image", "--k", "3")
    assert shown.exit_code == 0, shown.output
    assert "unsupervised proxy" in shown.output and "next: zoo cluster --model tiny-image" in shown.output
    # It extracted what zoo cluster extracts: clustering afterwards never runs the backbone.
    from zoo_timm._impl import TimmBackbone

    monkeypatch.setattr(TimmBackbone, "forward", lambda self, batch: pytest.fail("backbone ran"))
    assert (
        _json(
            zoo_cli(
                "cluster",
                "-m",
                "tiny-image",
                "-d",
                image_folder,
                "--k",
                "3",
                "--json",
                "--out",
                image_folder.parent / "c",
            )
        )["k"]
        == 3
    )


def test_recommend_unlabeled_refuses_label_only_options(zoo_cli, image_folder):
    assert "--scorer needs labels" in _error(
        zoo_cli("recommend", "--unlabeled", "-d", image_folder, "--scorer", "leep")
    )
    assert "--k applies only with --unlabeled" in _error(zoo_cli("recommend", "-d", image_folder, "--k", "3"))
    with pytest.raises(ZooError, match="at least 2"):
        from zoo_core.engine.recommend_unlabeled import recommend_unlabeled

        recommend_unlabeled(image_folder, k=1)
