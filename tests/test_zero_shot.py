"""Zero-shot text classification from label names (``zoo zero-shot``) on the tiny BERT: the class
vectors are the normalised template embeddings, predictions are the argmax of cosine similarities
through the stored adapter, bad input is refused in one line."""

from __future__ import annotations

import json

import pytest

from zoo_core.errors import ZooError
from zoo_core.testing.contracts import check_method
from zoo_core.testing.tiny import TINY_IMAGE, TINY_TEXT

TEMPLATES = ["{}", "it was {} and {}"]  # a name may appear twice; the second template has no period


@pytest.fixture
def bert(tiny_catalog):
    """The tiny BERT and its tokenizer, loaded with transformers alone (not through zoo)."""
    from transformers import AutoModel, AutoTokenizer

    entry = next(m for m in json.loads(tiny_catalog.read_text())["models"] if m["id"] == TINY_TEXT)
    folder = entry["weights"][0]["path"]
    return AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def embed(bert, texts):
    """L2-normalised mean-pooled last hidden states (the tiny catalog entry's pooling), computed here."""
    import torch

    model, tokenizer = bert
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def expected_classes(bert, names, templates):
    import torch

    return torch.stack([embed(bert, [t.replace("{}", name) for t in templates]).mean(0) for name in names])


def test_contract(tiny_zoo):
    check_method(tiny_zoo, "zero_shot", TINY_TEXT)


def test_the_head_is_the_mean_of_the_normalised_template_embeddings(tiny_zoo, bert):
    import torch

    from zoo_core.engine.zero_shot import zero_shot

    result = zero_shot(TINY_TEXT, "good,bad,food", templates=TEMPLATES, zoo=tiny_zoo, save=False)
    assert result.labels == result.class_names == ["good", "bad", "food"]
    torch.testing.assert_close(
        result.model_obj.head.weight.detach(), expected_classes(bert, ["good", "bad", "food"], TEMPLATES)
    )
    assert result.metrics is None and result.eval_split is None and result.adapter is None


def test_predict_and_evaluate_through_the_adapter_give_the_argmax_of_cosines(tiny_zoo, bert, text_file):
    import torch

    from zoo_core.data import load_labelled
    from zoo_core.engine.inference import evaluate, predict
    from zoo_core.engine.zero_shot import zero_shot

    # LABEL=NAME: the file's labels are pos/neg, the names embedded are good/bad.
    result = zero_shot(TINY_TEXT, "pos=good,neg=bad", templates=TEMPLATES, test=text_file, zoo=tiny_zoo)
    data = load_labelled(text_file)
    classes = torch.nn.functional.normalize(expected_classes(bert, ["good", "bad"], TEMPLATES), dim=-1)
    cosines = embed(bert, data.items) @ classes.T
    wanted = [["pos", "neg"][i] for i in cosines.argmax(1).tolist()]
    accuracy = sum(w == y for w, y in zip(wanted, data.labels)) / len(data)

    predictions = predict(result.adapter, data.items, zoo=tiny_zoo, top_k=2)
    assert [p["label"] for p in predictions] == wanted
    probabilities = torch.tensor(
        [[t["score"] for t in sorted(p["top"], key=lambda t: t["label"] != "pos")] for p in predictions]
    )
    torch.testing.assert_close(probabilities, (20.0 * cosines).softmax(1), atol=1e-4, rtol=1e-4)
    assert evaluate(result.adapter, text_file, zoo=tiny_zoo)["accuracy"] == pytest.approx(accuracy)
    assert result.metrics["accuracy"] == pytest.approx(accuracy) and result.eval_split == "test"


def test_the_adapter_reloads_verified_and_says_zero_shot(tiny_zoo):
    from huggingface_hub import ModelCard

    from zoo_core.engine.adapters import load_trained_model
    from zoo_core.engine.zero_shot import zero_shot
    from zoo_core.store import AdapterStore

    result = zero_shot(TINY_TEXT, ["good", "bad"], name="tiny-zs", temperature=10, zoo=tiny_zoo)
    ref = AdapterStore().resolve(result.adapter)
    meta = ref.metadata()
    assert ref.verification(meta) == "verified"
    assert meta["method"] == {
        "name": "zero_shot",
        "config": {
            "templates": ["{}", "This example is {}.", "This text is about {}."],
            "class_names": ["good", "bad"],
            "temperature": 10.0,
        },
    }
    assert meta["labels"] == ["good", "bad"] and meta["eval_split"] is None
    assert meta["metrics"] == {"accuracy": None, "macro_f1": None, "num_samples": None}
    net, method, _ = load_trained_model(tiny_zoo, "tiny-zs")
    assert method.name == "zero_shot" and method.options.temperature == 10.0
    assert net.head.weight.shape == (2, 32)
    card = ModelCard.load(ref.path / "README.md")
    assert "zero-shot" in card.data.tags and card.data.eval_results is None
    assert "from label names alone: no training examples" in card.text
    assert "Never evaluated" in card.text


def test_the_default_templates_are_the_documented_ones():
    from zoo_core.commands.zero_shot import zero_shot as command
    from zoo_methods.options import ZERO_SHOT_TEMPLATES, ZeroShotOptions

    assert ZeroShotOptions().templates == list(ZERO_SHOT_TEMPLATES)
    for template in ZERO_SHOT_TEMPLATES:
        assert f"\n      {template}\n" in command.help


@pytest.mark.parametrize(
    "labels, message",
    [
        ("positive", r"at least 2 labels to choose between, got 1 \('positive'\)"),
        ("positive,negative,positive", "the label 'positive' is given twice"),
        ("a=good,b=good", "the name 'good' is given twice"),
        ("positive,,negative", "entry 2 has an empty label"),
        ("1=,0=negative", "entry 1 has an empty name"),
        (["good"], "at least 2 labels"),
    ],
)
def test_bad_labels_are_refused_in_one_line(tiny_zoo, labels, message):
    from zoo_core.engine.zero_shot import zero_shot

    with pytest.raises(ZooError, match=message) as caught:
        zero_shot(TINY_TEXT, labels, zoo=tiny_zoo)
    assert "\n" not in str(caught.value)


def test_an_image_model_is_refused_with_the_reason(tiny_zoo):
    from zoo_core.engine.zero_shot import zero_shot

    with pytest.raises(ZooError, match="needs a text model.*image model.*CLIP are not in the catalog"):
        zero_shot(TINY_IMAGE, "cat,dog", zoo=tiny_zoo)


def test_bad_templates_and_test_labels_are_refused(tiny_zoo, text_file):
    from zoo_core.engine.zero_shot import zero_shot

    with pytest.raises(ZooError, match="has no '\\{\\}' where the label's name goes"):
        zero_shot(TINY_TEXT, "good,bad", templates=["good things"], zoo=tiny_zoo)
    with pytest.raises(ZooError, match="is given twice"):
        zero_shot(TINY_TEXT, "good,bad", templates=["{}", "{}"], zoo=tiny_zoo)
    with pytest.raises(ZooError, match="temperature must be above 0"):
        zero_shot(TINY_TEXT, "good,bad", temperature=0, zoo=tiny_zoo)
    with pytest.raises(ZooError, match="labels that are not in --labels: neg, pos"):
        zero_shot(TINY_TEXT, "good,bad", test=text_file, zoo=tiny_zoo)


def test_finetune_refuses_the_method(tiny_zoo, text_file):
    from zoo_core.engine.pipeline import finetune

    with pytest.raises(ZooError, match="learns nothing from examples.*zoo zero-shot"):
        finetune(TINY_TEXT, text_file, method="zero_shot", zoo=tiny_zoo, save=False)


def test_a_support_set_replaces_the_label_names(tiny_zoo, bert, text_file):
    import torch

    from zoo_core.data import load_labelled
    from zoo_core.engine.inference import predict
    from zoo_core.engine.zero_shot import zero_shot

    # zoo predict --support: the classes become the mean normalised embeddings of labelled examples.
    zero_shot(TINY_TEXT, "good,bad", name="zs-support", zoo=tiny_zoo)
    data = load_labelled(text_file)
    embedded = embed(bert, data.items)
    centroids = torch.stack([embedded[[y == c for y in data.labels]].mean(0) for c in ("neg", "pos")])
    wanted = [("neg", "pos")[i] for i in (embedded @ torch.nn.functional.normalize(centroids, dim=-1).T).argmax(1)]
    rows = predict("zs-support", data.items, zoo=tiny_zoo, support=text_file)
    assert [row["label"] for row in rows] == wanted


@pytest.fixture
def cli(tiny_zoo, monkeypatch):
    """The command inside a ZooGroup (one-line errors), with the tiny catalog's plugin host."""
    from click.testing import CliRunner

    import zoo_core.cli
    from zoo_core.commands._shared import ZooGroup
    from zoo_core.commands.zero_shot import zero_shot

    monkeypatch.setattr(zoo_core.cli, "_ZOO", tiny_zoo)
    group = ZooGroup()
    group.add_command(zero_shot)
    return lambda *args: CliRunner().invoke(group, ["zero-shot", *args])


def test_the_command_evaluates_and_stores(cli, text_file, tmp_path):
    templates = tmp_path / "templates.txt"
    templates.write_text("it was {}\n\nvery {}\n")
    result = cli(
        "-m", "tiny-text", "--labels", "pos=good, neg=bad", "--template", "{}", "--templates-file", str(templates),
        "--test", str(text_file), "--name", "cli-zs", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["templates"] == ["{}", "it was {}", "very {}"]
    assert report["labels"] == ["pos", "neg"] and report["class_names"] == ["good", "bad"]
    assert report["eval_split"] == "test" and 0 <= report["accuracy"] <= 1 and report["adapter"] == "cli-zs@1"
    plain = cli("-m", "tiny-text", "--labels", "good,bad", "--name", "cli-zs")
    assert plain.exit_code == 0, plain.output
    assert "not evaluated (no --test)" in plain.stdout and "adapter saved as cli-zs@2" in plain.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["-m", "tiny-text", "--labels", "good"], "at least 2 labels"),
        (["-m", "tiny-image", "--labels", "cat,dog"], "needs a text model"),
        (["-m", "tiny-text", "--labels", "good,bad", "--template", "no slot"], "has no '{}'"),
        (["-m", "tiny-text", "--labels", "good,bad", "--text-column", "text"], "say how to read --test data"),
    ],
)
def test_the_command_refuses_in_one_line(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.output
