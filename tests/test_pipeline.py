"""The transfer pipeline end to end on tiny models: train, evaluate, save, reload, predict."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from zoo_core.engine.pipeline import evaluate, finetune, predict
from zoo_core.errors import DataError, ZooError
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT


@pytest.mark.slow  # trains a model
def test_linear_probe_on_images_saves_a_run_and_an_adapter(tiny_zoo, image_folder):
    result = finetune(TINY_IMAGE, image_folder, method="linear_probe", zoo=tiny_zoo, epochs=15, name="colours")
    assert result.metrics["num_samples"] == 6  # 20% of 12 per class rounds to 2: 6 of 36
    assert result.metrics["accuracy"] > 0.6  # colour classes are easy even for random tiny features
    assert result.adapter == "colours@1"
    run = result.run_dir
    for name in ("metrics.json", "manifest.json", "history.json", "learning_curves.png", "confusion_matrix.png"):
        assert (__import__("pathlib").Path(run) / name).is_file(), name
    manifest = json.loads((__import__("pathlib").Path(run) / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["data"]["train_fingerprint"] and manifest["packages"]["torch"]
    assert "peft" in manifest["plugins"]
    assert any("validation split" in note for note in result.notes)


@pytest.mark.slow  # trains a model
def test_same_seed_same_metrics(tiny_zoo, image_folder):
    a = finetune(TINY_IMAGE, image_folder, method="full", zoo=tiny_zoo, epochs=2, save=False, num_workers=0)
    b = finetune(TINY_IMAGE, image_folder, method="full", zoo=tiny_zoo, epochs=2, save=False, num_workers=0)
    assert a.metrics == b.metrics
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]


@pytest.mark.slow  # trains a model
def test_second_linear_probe_run_reuses_cached_features(tiny_zoo, image_folder, monkeypatch):
    first = finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, epochs=3, save=False)
    from zoo_timm._impl import TimmBackbone

    def no_backbone(self, batch):
        raise AssertionError("the backbone ran although its features were cached")

    monkeypatch.setattr(TimmBackbone, "forward", no_backbone)
    second = finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, epochs=3, save=False)
    assert second.metrics == first.metrics


def test_feature_cache_is_per_item_across_lists_and_splits(tiny_zoo, image_folder):
    from PIL import Image

    from zoo_core.data import load_image_folder
    from zoo_core.engine.features import extract_features
    from zoo_core.engine.model import build_backbone

    backbone = build_backbone(tiny_zoo, TINY_IMAGE).eval()
    items = load_image_folder(image_folder).items
    calls = []
    original = backbone.forward
    backbone.forward = lambda batch: calls.append(len(batch)) or original(batch)
    fresh = extract_features(backbone, items, use_cache=False)
    calls.clear()
    first = extract_features(backbone, items[:20])
    assert sum(calls) == 20 and torch.equal(first, fresh[:20])
    calls.clear()
    # Another list overlapping the first (another split, reversed order, a repeat): only the 16
    # unseen items go through the backbone, and every row is the item's own features.
    mixed = list(reversed(items[10:])) + [items[3]]
    out = extract_features(backbone, mixed)
    assert sum(calls) == len(items) - 20
    assert torch.equal(out, torch.cat([fresh[10:].flip(0), fresh[3:4]]))
    calls.clear()
    assert torch.equal(extract_features(backbone, items), fresh) and calls == []
    # In-memory images are fingerprinted by their pixels, never by their address.
    with Image.open(items[0]) as a, Image.open(items[1]) as b:
        pil = [a.convert("RGB"), b.convert("RGB")]
    assert torch.allclose(extract_features(backbone, pil), fresh[:2], atol=1e-6) and sum(calls) == 2
    calls.clear()
    assert torch.allclose(extract_features(backbone, pil), fresh[:2], atol=1e-6) and calls == []
    # A palette image is cached by the RGB pixels the model sees, not by its palette indices.
    indices = Image.new("P", (24, 24), 0)
    red, green = indices.copy(), indices.copy()
    red.putpalette([255, 0, 0] * 256)
    green.putpalette([0, 255, 0] * 256)
    calls.clear()
    both = extract_features(backbone, [red, green])
    assert sum(calls) == 2 and not torch.allclose(both[0], both[1])
    # Random weights are never cached; another feature kind has its own cache.
    assert extract_features(build_backbone(tiny_zoo, TINY_IMAGE, pretrained=False), items[:2]).shape == (
        2,
        fresh.shape[1],
    )
    backbone.use_features("multilevel")
    calls.clear()
    assert extract_features(backbone, items[:4]).shape[1] == backbone.num_features and sum(calls) == 4


@pytest.mark.slow  # trains a model
def test_long_texts_are_cached_as_texts(tiny_zoo, tmp_path):
    """A review longer than a file name may be must not be asked for as a path (OSError 36)."""
    from zoo_core.engine.features import extract_features
    from zoo_core.engine.model import build_backbone

    backbone = build_backbone(tiny_zoo, TINY_TEXT).eval()
    texts = ["the food was very good and nice " * 20, "the staff was very awful and bad " * 20]
    assert len(texts[0].encode()) > 255
    first = extract_features(backbone, texts)
    assert torch.equal(extract_features(backbone, texts[::-1]), first.flip(0))
    rows = [["text", "label"]] + [[t + str(i), "pos" if "good" in t else "neg"] for i in range(8) for t in texts]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    result = finetune(TINY_TEXT, path, method="linear_probe", zoo=tiny_zoo, save=False)
    assert result.metrics["accuracy"] >= 0.5


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("method", ["linear_probe", "lora", "full"])
def test_text_methods_train_and_predictions_survive_a_fresh_process(tiny_zoo, tiny_catalog, text_file, method):
    result = finetune(
        TINY_TEXT,
        text_file,
        method=method,
        zoo=tiny_zoo,
        epochs=3,
        name=f"reviews-{method}",
        lr=5e-3 if method != "linear_probe" else None,
    )
    texts = ["the food was very good and nice", "the staff was very awful and bad"]
    here = predict(result.adapter, texts, zoo=tiny_zoo, top_k=2)
    assert [r["top"][0]["label"] for r in here] == [r["label"] for r in here]
    code = (
        "import json, sys; from zoo_core.engine.pipeline import predict; from zoo_core.plugins import Zoo;"
        f"print(json.dumps(predict({result.adapter!r}, {texts!r}, "
        f"zoo=Zoo(catalog_paths=[{str(tiny_catalog)!r}]), top_k=2)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    there = json.loads(out.stdout)
    assert [r["label"] for r in there] == [r["label"] for r in here]
    assert [r["score"] for r in there] == pytest.approx([r["score"] for r in here], abs=1e-6)
    assert {t["label"] for t in there[0]["top"]} == {"pos", "neg"}  # label names survive


@pytest.mark.slow  # trains a model
def test_evaluate_a_stored_adapter(tiny_zoo, image_folder):
    result = finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, epochs=10, name="colours")
    metrics = evaluate("colours", image_folder, zoo=tiny_zoo)
    assert metrics["num_samples"] == 36 and metrics["adapter"] == "colours@1"
    assert set(metrics["per_class"]) == {"class_0", "class_1", "class_2"}
    assert result.metrics["accuracy"] <= 1.0


@pytest.mark.slow  # trains a model
def test_shots_takes_k_per_class(tiny_zoo, image_folder, tmp_path):
    result = finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, epochs=2, shots=4, save=False, test=image_folder)
    assert any("4 examples per class" in note for note in result.notes)
    assert result.eval_split == "test"


def test_modality_mismatch_is_a_clear_error(tiny_zoo, text_file):
    with pytest.raises(DataError, match="takes image data"):
        finetune(TINY_IMAGE, text_file, zoo=tiny_zoo, save=False)


def test_unknown_method_and_option(tiny_zoo, image_folder):
    with pytest.raises(ZooError, match="Did you mean 'lora'"):
        finetune(TINY_IMAGE, image_folder, method="lorra", zoo=tiny_zoo)
    with pytest.raises(ZooError, match="unknown training option 'epoch'"):
        finetune(TINY_IMAGE, image_folder, zoo=tiny_zoo, epoch=3)


def test_gradual_unfreezing_unfreezes_from_the_top(tiny_zoo):
    from zoo_core.testing.contracts import build_prepared

    net, method, _ = build_prepared(tiny_zoo, TINY_TEXT, "full", gradual_unfreeze=True)
    trainable = lambda: {n for n, p in net.named_parameters() if p.requires_grad and n.startswith("backbone.")}  # noqa: E731
    method.on_epoch_start(net, 0, 5)
    assert trainable() == set()
    method.on_epoch_start(net, 1, 5)
    top = trainable()
    assert top and all("layer.0." not in n for n in top)
    method.on_epoch_start(net, 2, 5)
    assert trainable() > top and any("layer.1." in n for n in trainable())


@pytest.mark.slow  # trains a model
def test_cli_finetune_json_and_predict(tiny_catalog, image_folder, run_zoo):
    code, out, err = run_zoo(
        "--catalog",
        str(tiny_catalog),
        "finetune",
        "-m",
        "tiny-image",
        "-d",
        str(image_folder),
        "--epochs",
        "3",
        "--name",
        "cli-colours",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert {"accuracy", "macro_f1", "adapter", "adapter_path"} <= set(data)
    image = next((image_folder / "class_1").iterdir())
    code, out, err = run_zoo("--catalog", str(tiny_catalog), "predict", "cli-colours", str(image), "--json")
    assert code == 0, err
    assert json.loads(out)[0]["label"].startswith("class_")
    code, out, err = run_zoo("--catalog", str(tiny_catalog), "predict", "cli-colour", str(image))
    assert code == 1 and "Did you mean 'cli-colours'" in err


@pytest.mark.slow  # trains a model
def test_loss_decreases_with_training(tiny_zoo, text_file):
    result = finetune(TINY_TEXT, text_file, method="full", zoo=tiny_zoo, save=False, epochs=6, lr=3e-3, patience=0)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert torch.is_tensor(next(result.model_obj.parameters()))


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize(
    "method, model",
    [
        ("bottleneck", TINY_IMAGE),
        ("bottleneck", TINY_TEXT),
        ("ia3", TINY_IMAGE),
        ("dora", TINY_TEXT),
        ("loha", TINY_TEXT),
        ("lokr", TINY_IMAGE),
        ("bitfit", TINY_TEXT),
        ("ln_tuning", TINY_IMAGE),
        ("adalora", TINY_IMAGE),
        ("vera", TINY_TEXT),
    ],
)
def test_added_methods_train_save_and_reload(tiny_zoo, image_folder, text_file, method, model):
    """Every method trains through the pipeline; the stored adapter reloads (the save verifies
    predictions on stored samples) and predicts the same as the in-memory model."""
    data = image_folder if model == TINY_IMAGE else text_file
    result = finetune(model, data, method=method, zoo=tiny_zoo, epochs=2, lr=5e-3, name=f"m-{method}")
    assert 0.0 <= result.metrics["accuracy"] <= 1.0
    assert result.history and all(math.isfinite(h["train_loss"]) for h in result.history)
    inputs = sorted(str(p) for p in image_folder.rglob("*.png"))[:3] if model == TINY_IMAGE else ["good food", "awful"]
    first = predict(result.adapter, inputs, zoo=tiny_zoo)
    again = predict(result.adapter, inputs, zoo=tiny_zoo)
    assert [r["score"] for r in first] == pytest.approx([r["score"] for r in again], abs=1e-6)


@pytest.mark.slow  # trains a model
def test_adalora_prunes_ranks_to_its_budget(tiny_zoo, text_file):
    """The rank allocator runs after every step: by the end, the kept singular values across all
    adapted layers number target_r per layer on average (the budget), not init_r."""
    result = finetune(
        TINY_TEXT,
        text_file,
        method="adalora",
        zoo=tiny_zoo,
        save=False,
        epochs=4,
        lr=5e-3,
        patience=0,
        method_options={"init_r": 6, "target_r": 2},
    )
    singular = [p for n, p in result.model_obj.backbone.model.named_parameters() if ".lora_E." in n]
    kept = sum(int((e != 0).sum()) for e in singular)
    assert singular and kept == 2 * len(singular) < 6 * len(singular)


@pytest.mark.slow  # trains a model
def test_protonet_head_is_the_nearest_prototype_rule(tiny_zoo, image_folder):
    from zoo_core.engine.heads import LinearHead
    from zoo_methods._prototypes import PrototypicalNetwork

    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=generator) * 3
    y = torch.arange(3).repeat_interleave(10)
    x = centres[y] + torch.randn(30, 16, generator=generator)
    head = LinearHead(16, 3)
    result = PrototypicalNetwork().fit_features(head, x, y.tolist(), x[:6], y[:6].tolist(), None)
    queries = torch.randn(50, 16, generator=generator) * 3
    prototypes = torch.stack([x[y == c].mean(0) for c in range(3)])
    nearest = torch.cdist(queries, prototypes).argmin(1)
    assert torch.equal(head(queries).argmax(1), nearest)
    assert result.best_state and "protonet" in result.note

    run = finetune(TINY_IMAGE, image_folder, method="protonet", zoo=tiny_zoo, name="protos", shots=4)
    assert any("protonet: " in note for note in run.notes)
    assert len(predict(run.adapter, sorted(str(p) for p in image_folder.rglob("*.png"))[:2], zoo=tiny_zoo)) == 2


def test_linear_probe_never_reports_on_data_it_was_refitted_on():
    """Without a test split the validation split is what is reported, so the probe must not be
    refitted on it: on pure-noise features, validation accuracy then stays near chance."""
    from zoo_core.engine.heads import LinearHead
    from zoo_core.engine.train import TrainConfig
    from zoo_methods._logistic import fit_logistic_head

    generator = torch.Generator().manual_seed(0)
    train_x, val_x = torch.randn(20, 64, generator=generator), torch.randn(40, 64, generator=generator)
    train_y, val_y = [0, 1] * 10, [0, 1] * 20
    grid = (1e-4,)  # weak L2: a refit on train + validation would memorise the validation points

    def val_accuracy(refit):
        head = LinearHead(64, 2)
        result = fit_logistic_head(head, train_x, train_y, val_x, val_y, TrainConfig(refit_on_val=refit), grid)
        with torch.no_grad():
            predicted = head(val_x).argmax(1)
        return float((predicted == torch.tensor(val_y)).double().mean()), result.note

    leaked, leaked_note = val_accuracy(True)
    honest, honest_note = val_accuracy(False)
    assert leaked == 1.0 and "refitted on train + validation" in leaked_note
    assert honest < 0.75 and "fitted on train only" in honest_note


@pytest.mark.slow  # trains a model
def test_pipeline_reports_validation_only_when_the_probe_did_not_train_on_it(tiny_zoo, image_folder):
    result = finetune(TINY_IMAGE, image_folder, method="linear_probe", zoo=tiny_zoo, save=False)
    assert result.eval_split == "validation"
    assert any("fitted on train only" in note for note in result.notes)


@pytest.mark.slow  # trains a model
def test_l2_sp_keeps_full_fine_tuning_near_the_pretrained_weights(tiny_zoo, text_file):
    """L2-SP (an option of `full`): with a strong pull, the backbone moves far less from its
    pre-trained weights than plain full fine-tuning with the same seed and learning rate."""
    from safetensors.torch import load_file

    from zoo_core.engine.model import build_backbone

    base = {f"backbone.{k}": v for k, v in build_backbone(tiny_zoo, TINY_TEXT).state_dict().items()}

    def drift(**options):
        result = finetune(
            TINY_TEXT,
            text_file,
            method="full",
            zoo=tiny_zoo,
            epochs=3,
            lr=1e-2,
            batch_size=4,
            method_options=options,
            name=f"sp-{bool(options)}",
        )
        state = load_file(str(Path(result.adapter_path) / "adapter.safetensors"))
        return sum(float((state[k] - v).pow(2).sum()) for k, v in base.items() if k in state and v.is_floating_point())

    free, anchored = drift(), drift(l2_sp=100.0)
    assert anchored < 0.5 * free, (anchored, free)


def test_group_scale_gives_each_level_the_weight_of_the_last():
    import torch

    from zoo_methods._logistic import group_scale

    scale = group_scale([2, 8], 10)
    torch.testing.assert_close(scale, torch.tensor([2.0, 2.0] + [1.0] * 8, dtype=torch.float64))
    # each level's standardised features then carry the same total variance: 2 * 2^2 == 8 * 1^2
    assert float((scale[:2] ** 2).sum()) == float((scale[2:] ** 2).sum())
    torch.testing.assert_close(group_scale([3, 3], 10), torch.ones(10, dtype=torch.float64))  # widths disagree


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("method, model", [("fomaml", TINY_IMAGE), ("contrastive", TINY_TEXT), ("fomaml", TINY_TEXT)])
def test_few_shot_methods_train_save_and_reload(tiny_zoo, image_folder, text_file, method, model):
    data = image_folder if model == TINY_IMAGE else text_file
    result = finetune(
        model,
        data,
        method=method,
        zoo=tiny_zoo,
        shots=6,
        name=f"fs-{method}",
        method_options={"meta_steps": 20} if method == "fomaml" else {"steps": 8},
    )
    assert any(note.startswith(f"{method}: ") for note in result.notes)
    inputs = sorted(str(p) for p in image_folder.rglob("*.png"))[:3] if model == TINY_IMAGE else ["good food", "awful"]
    assert len(predict(result.adapter, inputs, zoo=tiny_zoo)) == len(inputs)  # the save already verified a reload


@pytest.mark.slow  # trains a model
def test_contrastive_pulls_classes_together_and_apart(tiny_zoo, text_file):
    from zoo_core.data import load_labelled
    from zoo_core.engine.features import extract_features

    data = load_labelled(text_file)
    labels = torch.tensor([sorted(set(data.labels)).index(label) for label in data.labels])

    def separation(backbone):
        emb = torch.nn.functional.normalize(extract_features(backbone, data.items, use_cache=False), dim=-1)
        sim = emb @ emb.T
        same = labels[:, None] == labels[None, :]
        return float(sim[same & ~torch.eye(len(labels), dtype=torch.bool)].mean() - sim[~same].mean())

    before = finetune(
        TINY_TEXT,
        text_file,
        method="linear_probe",
        zoo=tiny_zoo,
        save=False,
        val_fraction=0.2,
        method_options={"features": "last"},
    )
    tuned = finetune(
        TINY_TEXT, text_file, method="contrastive", zoo=tiny_zoo, save=False, lr=1e-3, method_options={"steps": 30}
    )
    assert separation(tuned.model_obj.backbone) > separation(before.model_obj.backbone) + 0.1


def test_contrastive_pair_batches_are_bounded_and_class_balanced():
    from zoo_methods._contrastive import ContrastiveTuning

    labels = [i % 7 for i in range(20_000)]
    batches = ContrastiveTuning()._batches(labels, batch_size=16, steps=50, seed=0)
    assert not isinstance(batches, list)  # streamed: nothing proportional to the data (or its square)
    for batch in batches:
        counts = torch.bincount(torch.tensor([labels[i] for i in batch]))
        assert len(batch) <= 16 and (counts[counts > 0] >= 2).all() and (counts > 0).sum() >= 2


@pytest.mark.parametrize("tuned", ["fomaml", "protonet-episodes"])
def test_episodic_methods_learn_to_ignore_a_distracting_feature(tuned):
    """Classes differ along one dimension; another, shared by all classes, varies ten times more.
    Nearest-prototype misreads it; episodic training must beat the plain prototypes on new data."""
    from zoo_core.engine.heads import LinearHead
    from zoo_core.engine.train import TrainConfig
    from zoo_methods._prototypes import EpisodicHead, FirstOrderProtoMAML, PrototypicalNetwork

    generator = torch.Generator().manual_seed(0)

    def sample(n_per_class):
        y = torch.arange(4).repeat_interleave(n_per_class)
        x = torch.randn(len(y), 8, generator=generator) * 0.3
        x[:, 0] += y.float()
        x[:, 1] = torch.randn(len(y), generator=generator) * 10
        return x, y

    x, y = sample(5)
    test_x, test_y = sample(200)
    proto = LinearHead(8, 4)
    PrototypicalNetwork().fit_features(proto, x, y.tolist(), None, None, None)
    if tuned == "fomaml":
        method = FirstOrderProtoMAML(meta_steps=60, hidden=16, inner_lr=0.01)
    else:
        method = PrototypicalNetwork(episodes=60, hidden=16)
    head = EpisodicHead(LinearHead(8, 4), 8, 16, normalize=tuned == "fomaml")
    method.fit_features(head, x, y.tolist(), None, None, TrainConfig(lr=1e-2))
    with torch.no_grad():
        accuracy = lambda h: float((h(test_x).argmax(1) == test_y).float().mean())  # noqa: E731
        assert accuracy(head) > accuracy(proto) + 0.05


@pytest.mark.slow  # trains a model
def test_protonet_predicts_against_a_support_set_of_new_classes(tiny_zoo, image_folder, tmp_path, text_file):
    """A support folder replaces the stored prototypes, with its own classes; its own examples
    are then classified as their folder says (each is nearest to a prototype it helped build)."""
    import shutil

    from zoo_core.testing.tiny import write_image_folder

    run = finetune(
        TINY_IMAGE,
        image_folder,
        method="protonet",
        zoo=tiny_zoo,
        name="protos-support",
        shots=4,
        method_options={"episodes": 10},
    )  # the tuned embedding must carry over to the support set
    assert any(note.startswith("protonet: 10 training episodes") for note in run.notes)
    support = write_image_folder(tmp_path / "support", classes=2, per_class=1, seed=5)
    for folder in support.iterdir():  # rename classes: the labels must come from the support set
        shutil.move(str(folder), str(support / f"new-{folder.name}"))
    files = sorted(support.rglob("*.png"))
    results = predict(run.adapter, [str(f) for f in files], zoo=tiny_zoo, support=support)
    assert [r["label"] for r in results] == [f.parent.name for f in files]
    assert {t["label"] for t in results[0]["top"]} <= {f.parent.name for f in files}

    lp = finetune(TINY_TEXT, text_file, method="linear_probe", zoo=tiny_zoo, name="lp-no-support")
    with pytest.raises(ZooError, match="cannot take a support set.*protonet"):
        predict(lp.adapter, ["good food"], zoo=tiny_zoo, support=text_file)


def test_contrastive_takes_at_least_setfits_steps():
    from zoo_methods._contrastive import ContrastiveTuning

    method = ContrastiveTuning(iterations=10, max_steps=1000)
    # 6 classes x 8: 168 positive and 960 negative pairs; SetFit oversamples to 1920 pairs = 120 batches of 16.
    assert method.default_steps([c for c in range(6) for _ in range(8)], 16) == 120
    # 2 classes x 8: SetFit takes 2 * 64 / 16 = 8 steps; 10 iterations per example give 20.
    assert method.default_steps([c for c in range(2) for _ in range(8)], 16) == 20
    assert ContrastiveTuning(max_steps=50).default_steps([c for c in range(6) for _ in range(8)], 16) == 50
