"""Contract checks for backbone families and adaptation methods (in the spirit of scikit-learn's
``check_estimator``): each check raises ``AssertionError`` naming the broken rule."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from zoo_core.engine.method import AdaptationMethod
from zoo_core.engine.model import TransferModel, build_backbone, build_head
from zoo_core.options import TRAIN_SETTINGS, coerce_options
from zoo_core.specs import load_spec_object


def sample_batch(backbone, n: int = 4, seed: int = 0) -> Any:
    """A small batch of the backbone's modality, through its own preprocessor."""
    prep = backbone.preprocessor(train=False)
    if backbone.modality == "image":
        import numpy as np
        from PIL import Image

        rng = np.random.RandomState(seed)
        items: list[Any] = [Image.fromarray(rng.randint(0, 255, (40, 40, 3), dtype="uint8")) for _ in range(n)]
    else:
        items = ["the food was good", "the service was awful and slow", "great", "what is this place"][:n]
    return prep.collate([prep.load(item) for item in items])


def check_backbone(zoo, model: str) -> None:
    """Builds with random and pretrained weights; pooled features have shape [batch, num_features]."""
    torch.manual_seed(0)
    for pretrained in (False, True):
        backbone = build_backbone(zoo, model, pretrained=pretrained)
        assert backbone.modality in ("image", "text"), (
            f"backbone modality must be image or text, got {backbone.modality}"
        )
        batch = sample_batch(backbone)
        with torch.no_grad():
            features = backbone.eval()(batch)
        assert features.shape == (4, backbone.num_features), (
            f"rule: features are [batch, num_features]; got {tuple(features.shape)} vs num_features "
            f"{backbone.num_features}"
        )
        assert torch.isfinite(features).all(), "rule: features are finite"
        if backbone.modality == "text":
            # Same length, one word apart: a tokenizer that maps words to [UNK] fails here.
            prep = backbone.preprocessor(train=False)
            pair = prep.collate([prep.load("the food was good"), prep.load("the food was bad")])
            with torch.no_grad():
                good, bad = backbone(pair)
            assert not torch.allclose(good, bad), "rule: different words give different features (check the tokenizer)"
        with torch.no_grad():
            again = backbone(batch)
        assert torch.equal(features, again), "rule: eval-mode features are deterministic"
        assert (backbone.weights_sha256 is not None) == pretrained, "rule: weights_sha256 is set iff pretrained"
        assert backbone.layer_groups(), "rule: layer_groups() is not empty"
    _check_continued_pretraining(zoo, model, backbone, batch, features)


def _check_continued_pretraining(zoo, model: str, backbone: Any, batch: Any, features: torch.Tensor) -> None:
    """A family's ``continued_pretraining`` trains the backbone in place and returns a record."""
    spec = zoo.get("backbones", zoo.catalog.get(model).family)
    if not spec.continued_pretraining:
        return
    import tempfile

    train = load_spec_object(spec, "continued_pretraining")
    with tempfile.TemporaryDirectory(prefix="zoo-contract-") as folder:
        items: list[Any] = ["the food was good", "the staff was bad", "a great place", "not nice"] * 2
        if backbone.modality == "image":
            from PIL import Image

            generator = torch.Generator().manual_seed(0)
            items = []
            for index in range(8):
                pixels = (torch.rand(32, 32, 3, generator=generator) * 255).to(torch.uint8).numpy()
                items.append(f"{folder}/{index}.png")
                Image.fromarray(pixels).save(items[-1])
        record = train(backbone, items, steps=2, seed=0, device="cpu", log=lambda message: None, progress=False)
    assert isinstance(record, dict) and record.get("steps") == 2, "rule: continued pre-training returns its record"
    with torch.no_grad():
        after = backbone.eval()(batch)
    assert torch.isfinite(after).all(), "rule: features stay finite after continued pre-training"
    assert not torch.equal(after, features), "rule: continued pre-training changes the backbone"


def build_prepared(zoo, model: str, method: str, num_classes: int = 3, seed: int = 0, **options: Any):
    torch.manual_seed(seed)
    spec = zoo.get("methods", method)
    backbone = build_backbone(zoo, model, pretrained=True)
    net = TransferModel(backbone, build_head(zoo, "linear", backbone.num_features, num_classes))
    # What the pipeline passes: every default that is not a training setting, then the caller's options.
    config = {k: v for k, v in spec.defaults.items() if k not in TRAIN_SETTINGS}
    config.update(options)
    adaptation = load_spec_object(spec)(**config)
    adaptation.prepare(net)
    return net, adaptation, spec


def check_method_declarations(spec: Any, adaptation: Any) -> None:
    """What a method declares: it is an AdaptationMethod subclass named as its spec; its ``Options``
    is a dataclass whose every field has a help string, the one its spec names; its options are an
    instance of it and round-trip through ``describe()`` (what an adapter records and reloads)."""
    assert isinstance(adaptation, AdaptationMethod), (
        f"rule: a method's factory returns an AdaptationMethod subclass (zoo_core.engine.method), "
        f"got {type(adaptation).__name__}"
    )
    cls = type(adaptation)
    assert adaptation.name == spec.name, (
        f"rule: the method's name is its spec's name (adapters are reloaded by it); "
        f"{cls.__name__}.name is '{adaptation.name}', the spec's '{spec.name}'"
    )
    assert bool(getattr(spec, "uses_unlabeled_data", False)) == bool(cls.uses_unlabeled_data), (
        f"rule: MethodSpec(uses_unlabeled_data=...) repeats {cls.__name__}.uses_unlabeled_data "
        f"({cls.uses_unlabeled_data}); the spec says {getattr(spec, 'uses_unlabeled_data', False)}"
    )
    options_cls = cls.Options
    assert isinstance(options_cls, type) and dataclasses.is_dataclass(options_cls), (
        f"rule: {cls.__name__}.Options is a dataclass (subclass zoo_core.options.MethodOptions), got {options_cls!r}"
    )
    undocumented = [f.name for f in dataclasses.fields(options_cls) if not f.metadata.get("help")]
    assert not undocumented, (
        f"rule: every option has a help string (declare it with zoo_core.options.option(default, help)); "
        f"{options_cls.__name__} lacks one for {undocumented}"
    )
    if spec.options is not None:
        assert spec.options is options_cls, (
            f"rule: the spec's options are the method's Options; MethodSpec(options={spec.options.__name__}) "
            f"but {cls.__name__}.Options is {options_cls.__name__}"
        )
    else:
        assert not dataclasses.fields(options_cls), (
            f"rule: a method with options names them in its spec: MethodSpec(options={options_cls.__name__})"
        )
    assert isinstance(adaptation.options, options_cls), (
        f"rule: self.options is an instance of {options_cls.__name__}, got {type(adaptation.options).__name__}"
    )
    if adaptation.uses_unlabeled_data:
        assert cls.set_unlabeled is not AdaptationMethod.set_unlabeled, (
            f"rule: a method with uses_unlabeled_data receives the data through set_unlabeled; {cls.__name__} "
            "does not override it"
        )
    described = adaptation.describe()
    assert described.get("name") == spec.name, (
        f"rule: describe() records the method's name '{spec.name}', got {described.get('name')!r}"
    )
    again = coerce_options(options_cls, described.get("config", {}), what=f"method '{spec.name}'")
    assert again == adaptation.options, (
        f"rule: describe()['config'] rebuilds the same options; {again} != {adaptation.options}"
    )


def check_method(zoo, method: str, model: str, **options: Any) -> None:
    """The method's declarations hold (:func:`check_method_declarations`); one optimiser step
    changes only what the method trains; the adapter state round-trips exactly; the output shape
    is unchanged; frozen base weights stay frozen. ``options``: method options to check it with
    (default: its defaults)."""
    torch.manual_seed(0)
    reference_backbone = build_backbone(zoo, model, pretrained=True).eval()
    net, adaptation, spec = build_prepared(zoo, model, method, **options)
    # After prepare(), which may record choices (PEFT methods record the target layers they chose).
    check_method_declarations(spec, adaptation)
    batch = sample_batch(net.backbone)
    with torch.no_grad():
        base_features = reference_backbone(batch)
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    reference = {f"backbone.{k}": v for k, v in reference_backbone.state_dict().items()}

    def base_key(key: str) -> str | None:
        """The pre-trained tensor a state key holds, if any (peft renames x.weight to x.base_layer.weight)."""
        plain = key.replace(".base_layer.", ".")
        return plain if plain in reference else None

    # prepare() must not touch pre-trained weights, whatever it injects.
    for key, tensor in before.items():
        ref_key = base_key(key)
        if ref_key is not None and tensor.dtype.is_floating_point:
            assert torch.equal(tensor, reference[ref_key]), (
                f"rule: prepare() does not modify pretrained weights ({key})"
            )
    if adaptation.preserves_base_output:
        net.eval()
        with torch.no_grad():
            start_features = net.backbone(batch)
        assert torch.allclose(start_features, base_features, atol=1e-5, rtol=1e-4), (
            "rule: a zero-initialised adapter leaves the initial output equal to the base model's; max difference "
            f"{(start_features - base_features).abs().max().item():.2e}"
        )
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable, "rule: prepare() leaves something trainable"
    if spec.trains == "head":
        assert all(n.startswith("head.") for n in trainable), (
            f"rule: a head-only method trains only head.*, not {sorted(trainable)[:3]}"
        )
    declared = adaptation.tuned_base_parameters(net)
    if spec.trains != "all":
        trainable_base = {n for n in trainable if base_key(n) is not None and n not in declared}
        assert not trainable_base, (
            f"rule: the method keeps base weights frozen (or declares them in "
            f"tuned_base_parameters); trainable: {sorted(trainable_base)[:5]}"
        )

    # One real step with a large learning rate so that every trained tensor moves.
    adaptation.set_train_mode(net)
    optimizer = torch.optim.SGD([p for _, p in adaptation.optimised_parameters(net)], lr=1.0)
    logits = net(batch)
    assert logits.shape == (4, 3), f"rule: output shape is [batch, num_classes], got {tuple(logits.shape)}"
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0]))
    loss.backward()
    optimizer.step()
    after = net.state_dict()
    changed = {k for k in before if k in after and not torch.equal(before[k], after[k])}
    saved = set(adaptation.adapter_state(net))
    unsaved_changes = {k for k in changed if k not in saved and not k.endswith("num_batches_tracked")}
    assert not unsaved_changes, (
        f"rule: everything a step changes is in adapter_state; not saved: {sorted(unsaved_changes)[:5]}"
    )
    if spec.trains != "all":
        base_changed = {k for k in changed if base_key(k) is not None and k not in declared}
        assert not base_changed, f"rule: the method keeps base weights frozen; changed: {sorted(base_changed)[:5]}"

    # Round trip, as an adapter is reloaded: a fresh model prepared with the recorded options and
    # loaded with the state gives equal outputs.
    net.eval()
    state = {k: v.clone() for k, v in adaptation.adapter_state(net).items()}
    fresh, fresh_method, _ = build_prepared(zoo, model, method, seed=1, **adaptation.describe()["config"])
    fresh_method.load_adapter_state(fresh, state)
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(net(batch), fresh(batch)), "rule: adapter_state round-trips exactly"
    assert base_features.shape[-1] == net.backbone.num_features


def check_head(zoo, name: str) -> None:
    """Maps [batch, in_features] to [batch, num_classes]; has trainable parameters that a loss
    reaches; is deterministic in eval mode; its state round-trips exactly."""
    torch.manual_seed(0)
    head = build_head(zoo, name, 12, 5)
    assert isinstance(head, torch.nn.Module), f"rule: a head is an nn.Module, got {type(head).__name__}"
    features = torch.randn(4, 12)
    logits = head.train()(features)
    assert logits.shape == (4, 5), (
        f"rule: a head maps [batch, in_features] to [batch, num_classes]; got {tuple(logits.shape)}"
    )
    params = [p for p in head.parameters() if p.requires_grad]
    assert params, "rule: a head has trainable parameters"
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), (
        "rule: the loss reaches the head's parameters"
    )
    head.eval()
    with torch.no_grad():
        first, second = head(features), head(features)
    assert torch.equal(first, second), "rule: eval-mode outputs are deterministic"
    copy = build_head(zoo, name, 12, 5)
    copy.load_state_dict(head.state_dict())
    with torch.no_grad():
        assert torch.equal(copy.eval()(features), first), "rule: the head's state round-trips exactly"


def check_scorer(zoo, name: str) -> None:
    """Informative features score higher than noise; relabelling classes does not change the score.

    The scorer is called as ``zoo recommend`` calls it: ``score(features, labels, source_probs=...)``,
    with the source head's probabilities when its spec says ``needs_source_head``, else ``None``."""
    import numpy as np

    spec = zoo.get("scorers", name)
    scorer = load_spec_object(spec)()
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(4), 30)
    noise = rng.randn(len(labels), 12)
    informative = noise + 4.0 * np.eye(12)[labels]
    probs = None
    if spec.needs_source_head:
        probs = np.full((len(labels), 4), 0.1)
        probs[np.arange(len(labels)), labels] = 0.7
    good = scorer.score(informative, labels, source_probs=probs)
    bad = scorer.score(noise, labels, source_probs=probs)
    assert np.isfinite(good) and np.isfinite(bad), "rule: scores are finite"
    if probs is None:
        assert good > bad, f"rule: informative features score higher than noise ({good:.4f} <= {bad:.4f})"
    renamed = np.array([3, 2, 1, 0])[labels]
    again = scorer.score(informative, renamed, source_probs=probs)
    assert abs(again - good) < 1e-6 * max(1.0, abs(good)), "rule: relabelling the classes leaves the score unchanged"


def check_task(zoo, name: str) -> None:
    """A task's spec holds together: its import strings load, its ``predict_schema`` is a valid JSON
    Schema, its runner has the stage functions (:data:`zoo_core.specs.RUNNER_FUNCTIONS`), its
    ``feature_kind`` and ``status`` are known values. A task declared without a runner (a catalog's
    planned task) only needs the last."""
    import jsonschema

    from zoo_core.specs import FEATURE_KINDS, RUNNER_FUNCTIONS

    spec = zoo.get("tasks", name)
    assert spec.status in ("supported", "planned"), (
        f"rule: a task's status is supported or planned, got {spec.status!r}"
    )
    assert spec.feature_kind in FEATURE_KINDS, (
        f"rule: feature_kind is one of {FEATURE_KINDS}, got {spec.feature_kind!r}"
    )
    assert isinstance(spec.readers, tuple) and all(isinstance(r, str) for r in spec.readers), (
        "rule: readers is a tuple of layout names"
    )
    if spec.runner is None:
        assert spec.draw is None and spec.metrics is None, "rule: a task without a runner names no code"
        return
    assert spec.status == "supported", "rule: a task with a runner is supported"
    runner = load_spec_object(spec, "runner")
    for function in RUNNER_FUNCTIONS:
        assert callable(getattr(runner, function, None)), f"rule: the runner of '{name}' has a {function}() function"
    for attribute in ("metrics", "draw"):
        if getattr(spec, attribute) is not None:
            assert callable(load_spec_object(spec, attribute)), f"rule: {attribute} names a callable"
    assert spec.readers, f"rule: a task with a runner names the data layouts it reads ('{name}' names none)"
    assert isinstance(spec.predict_schema, dict), "rule: a task with a runner gives the JSON Schema of predict"
    try:
        jsonschema.Draft202012Validator.check_schema(spec.predict_schema)
    except jsonschema.SchemaError as exc:
        raise AssertionError(f"rule: predict_schema of '{name}' is a valid JSON Schema: {exc.message}") from None
