"""`zoo adapters pull`: the counterpart of push, through huggingface_hub's cache (offline here)."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo_core.engine.export import HUB_SUBFOLDER, prepare_hub_folder, pull_from_hub
from zoo_core.engine.pipeline import finetune, predict
from zoo_core.errors import AdapterError
from zoo_core.store import AdapterStore
from zoo_core.testing.tiny import TINY_TEXT

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_repo(tmp_path, monkeypatch):
    """``publish(ref, repo_id)``: what ``zoo adapters push`` uploads, laid out as huggingface_hub's
    cache holds a downloaded repo (blobs, snapshot links, refs/main), with HF_HUB_OFFLINE=1."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def publish(ref: str | Path, repo_id: str):
        """``ref``: an adapter (uploaded as push does) or a folder uploaded as it is."""
        staging = (
            ref if isinstance(ref, Path) else prepare_hub_folder(ref, tmp_path / f"up-{repo_id.replace('/', '-')}")
        )
        repo = cache / f"models--{repo_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / COMMIT
        for index, file in enumerate(sorted(p for p in staging.rglob("*") if p.is_file())):
            blob = repo / "blobs" / f"blob{index}"
            blob.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, blob)
            link = snapshot / file.relative_to(staging)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(blob)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(COMMIT)
        return snapshot

    return publish


@pytest.mark.slow  # trains two models
def test_pull_imports_what_push_uploads_as_a_new_version(tiny_zoo, text_file, hub_repo):
    finetune(TINY_TEXT, text_file, method="lora", zoo=tiny_zoo, epochs=1, name="reviews")
    finetune(TINY_TEXT, text_file, zoo=tiny_zoo, epochs=1, name="probe")
    lora_snapshot = hub_repo("reviews", "me/reviews-lora")
    assert (lora_snapshot / "adapter_config.json").is_file() and (
        lora_snapshot / HUB_SUBFOLDER / "adapter.json"
    ).is_file()
    hub_repo("probe", "me/probe")
    texts = ["the food was very good", "awful"]
    for repo, original in (("me/reviews-lora", "reviews"), ("me/probe", "probe")):
        ref = pull_from_hub(repo, name="pulled")
        meta = ref.metadata()
        assert meta["pulled_from"] == {"repo_id": repo, "commit": COMMIT}
        assert ref.verification(meta) == "verified"
        assert predict(str(ref), texts, zoo=tiny_zoo) == predict(original, texts, zoo=tiny_zoo)
    assert [str(r) for r in AdapterStore().list() if r.name == "pulled"] == ["pulled@1", "pulled@2"]


@pytest.mark.slow  # trains a model
def test_pull_refuses_a_tampered_file_and_stores_nothing(tiny_zoo, text_file, hub_repo):
    finetune(TINY_TEXT, text_file, zoo=tiny_zoo, epochs=1, name="probe")
    snapshot = hub_repo("probe", "me/probe")
    weights = (snapshot / "adapter.safetensors").resolve()
    data = bytearray(weights.read_bytes())
    data[-2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(
        AdapterError, match=r"me/probe.*adapter.safetensors is corrupt|adapter.safetensors is corrupt.*me/probe"
    ):
        pull_from_hub("me/probe", name="bad")
    assert not [r for r in AdapterStore().list() if r.name == "bad"]


def test_pull_of_a_repo_missing_from_the_cache_offline_is_one_line(hub_repo):
    result = CliRunner().invoke(__import__("zoo_core.cli").cli.cli, ["adapters", "pull", "nobody/nothing"])
    assert result.exit_code == 1
    assert "cannot pull nobody/nothing: it is not in the Hub cache and offline mode" in result.output
    assert "Traceback" not in result.output


def test_pull_refuses_a_repo_without_a_zoo_adapter(hub_repo, tmp_path):
    staging = tmp_path / "peft-only"
    staging.mkdir()
    (staging / "adapter_config.json").write_text("{}")
    hub_repo(staging, "me/peft-only")
    with pytest.raises(AdapterError, match="holds no transfer-zoo adapter"):
        pull_from_hub("me/peft-only")


@pytest.mark.slow  # trains a model
def test_pull_command_prints_the_new_version(tiny_zoo, text_file, hub_repo, run_zoo, tiny_catalog):
    finetune(TINY_TEXT, text_file, zoo=tiny_zoo, epochs=1, name="probe")
    hub_repo("probe", "me/probe")
    code, out, err = run_zoo("adapters", "pull", "me/probe", "--name", "theirs")
    assert code == 0, err
    assert "pulled me/probe" in out and "theirs@1" in out
