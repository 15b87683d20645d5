"""Deployment exports on the bundled weights: fidelity and latency against zoo's own prediction.

Two small adapters: EfficientNet-Lite0 ``linear_probe`` (``features=last``, so that timm can hold
it) on a flowers subset (20 train / 8 validation / 13 test images per class, from the seeded split
of ../shared/data/flowers, duplicates left out), and all-MiniLM-L6-v2 ``lora`` (2 epochs) on
yelp_labelled (100 train / 30 validation / 32 test sentences per class, seeded 80/20 split). Each
is exported in every format that takes it (onnx and timm; onnx and transformers) and loaded the way
its users load it: ONNX Runtime (CPUExecutionProvider) with preprocessing.json replayed by hand
(PIL + NumPy) or the saved tokenizer; timm.create_model from the folder with timm's own transform;
AutoModelForSequenceClassification with trust_remote_code. Per export: max |logit difference| and
top-1 agreement against zoo's predict on the adapter's stored samples and on 64 test items, and
latency per item on those 64 items (preprocessing included on both sides, batches of 32, best of 2
after a warm-up) against zoo's predict_items in the same run. The linear probe's zoo side runs the
backbone (its feature cache is bypassed: the test items are cached from the evaluation, which would
time a lookup instead of the model).

    python benchmarks/deploy_exports.py            # ZOO_HOME=... to reuse the adapters of a previous run
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import flowers, split_train_test, yelp

ITEMS = 64
BATCH = 32


def per_class(data, k: int):
    """The first ``k`` items of each class (the splits are already seeded and shuffled by class)."""
    seen: dict[str, int] = {}
    keep = []
    for index, label in enumerate(data.labels):
        if seen.get(label, 0) < k:
            seen[label] = seen.get(label, 0) + 1
            keep.append(index)
    return data.subset(keep)


def best_of(run, repeats: int = 2) -> float:
    """Seconds per item of ``run()`` over ITEMS items, best of ``repeats`` (after one warm-up)."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) / ITEMS


def batches(items):
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def pixels(path: str, steps: list[dict]):
    """preprocessing.json's steps with PIL and NumPy alone."""
    import numpy as np
    from PIL import Image

    modes = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}
    image, array = None, None
    for step in steps:
        if step["op"] == "open":
            image = Image.open(path).convert(step["mode"])
        elif step["op"] == "resize_shorter_side":
            width, height, size = image.width, image.height, step["size"]
            shape = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
            image = image.resize(shape, modes[step["interpolation"]])
        elif step["op"] == "center_crop":
            crop_h, crop_w = step["size"]
            top, left = int(round((image.height - crop_h) / 2)), int(round((image.width - crop_w) / 2))
            image = image.crop((left, top, left + crop_w, top + crop_h))
        elif step["op"] == "to_float":
            array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) * np.float32(step["scale"])
        elif step["op"] == "normalize":
            mean, std = (np.array(step[k], dtype=np.float32)[:, None, None] for k in ("mean", "std"))
            array = (array - mean) / std
    return array


def main() -> None:
    os.environ.setdefault("ZOO_HOME", tempfile.mkdtemp(prefix="zoo-bench-"))
    import numpy as np
    import onnxruntime as ort
    import timm
    import torch
    from PIL import Image
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from zoo_core.data import DataSplits
    from zoo_core.engine.adapters import load_trained_model
    from zoo_core.engine.deploy import export_deployment
    from zoo_core.engine.inference import predict_items
    from zoo_core.engine.pipeline import finetune
    from zoo_core.errors import ZooError
    from zoo_core.plugins import Zoo
    from zoo_core.store import AdapterStore

    started = time.perf_counter()
    zoo = Zoo()
    store = AdapterStore()
    home = Path(os.environ["ZOO_HOME"])
    print(
        f"torch {torch.__version__}, onnxruntime {ort.__version__}, {torch.get_num_threads()} torch threads, "
        f"ZOO_HOME {home}"
    )

    def adapter(name: str, model: str, make_splits, **options):
        try:
            ref = store.resolve(name)
            print(f"reusing {ref}")
        except ZooError:
            result = finetune(model, make_splits(), zoo=zoo, name=name, **options)
            ref = store.resolve(result.adapter)
            print(
                f"trained {ref}: test accuracy {result.metrics['accuracy']:.3f} ({time.perf_counter() - started:.0f} s)"
            )
        return ref

    def flower_splits():
        splits = flowers(0)
        return DataSplits(
            train=per_class(splits.train, 20),
            val=per_class(splits.val, 8),
            test=per_class(splits.test, 13),
            label_names=splits.label_names,
            notes=splits.notes,
        )

    def yelp_splits():
        splits = split_train_test(yelp(), 0.2, 0)
        return DataSplits(
            train=per_class(splits.train, 100),
            val=per_class(splits.val, 30),
            test=per_class(splits.test, 32),
            label_names=splits.label_names,
            notes=splits.notes,
        )

    image_ref = adapter(
        "bench-flowers-probe", "efficientnet-lite0", flower_splits, method="linear_probe",
        method_options={"features": "last"},
    )  # fmt: skip
    text_ref = adapter("bench-yelp-lora", "minilm-l6", yelp_splits, method="lora", epochs=2)
    image_items = list(flower_splits().test.items[:ITEMS])
    text_items = list(yelp_splits().test.items[:ITEMS])
    rows = []

    def stored(ref):
        samples = json.loads((ref.path / "samples.json").read_text())
        items = samples["items"]
        return [str(ref.path / i) for i in items] if samples["modality"] == "image" else items

    def zoo_side(ref, items):
        """zoo's logits on the stored samples and on the test items, and its latency on the latter."""
        net, method, _ = load_trained_model(zoo, str(ref))
        reference = predict_items(net, method, stored(ref))
        method.uses_feature_cache = False  # time the model, not a cache lookup (same logits)
        on_items = predict_items(net, method, items, batch_size=BATCH)
        torch_latency = best_of(lambda: predict_items(net, method, items, batch_size=BATCH))
        return (reference, on_items), torch_latency

    def row(ref, fmt, seconds, run, items, zoo_logits, latency, zoo_latency, runtime):
        """One table row: ``run(items)`` gives the export's logits."""
        cells = {"adapter": str(ref), "format": fmt, "export_s": seconds, "runtime": runtime}
        for key, inputs, expected in (("samples", stored(ref), zoo_logits[0]), ("items", items, zoo_logits[1])):
            logits = torch.as_tensor(np.asarray(run(inputs)), dtype=torch.float32)
            cells[key] = len(inputs)
            cells[f"{key}_diff"] = float((logits - expected).abs().max())
            cells[f"{key}_top1"] = float((logits.argmax(-1) == expected.argmax(-1)).float().mean())
        rows.append({**cells, "ms_per_item": latency * 1e3, "zoo_ms_per_item": zoo_latency * 1e3})

    def export(ref, fmt):
        out = home / "exports" / f"{ref.name}-{fmt}"
        began = time.perf_counter()
        export_deployment(str(ref), fmt, out, zoo=zoo)
        return out, time.perf_counter() - began

    # ---- image: onnx + timm
    reference, zoo_latency = zoo_side(image_ref, image_items)
    out, seconds = export(image_ref, "onnx")
    steps = json.loads((out / "preprocessing.json").read_text())["image"]["steps"]
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])

    def onnx_images(paths):
        return np.concatenate(
            [
                session.run(["logits"], {"pixel_values": np.stack([pixels(p, steps) for p in b])})[0]
                for b in batches(paths)
            ]
        )

    latency = best_of(lambda: onnx_images(image_items))
    row(image_ref, "onnx", seconds, onnx_images, image_items, reference, latency, zoo_latency, "onnxruntime")

    out, seconds = export(image_ref, "timm")
    model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))

    @torch.no_grad()
    def timm_images(paths):
        return torch.cat(
            [model(torch.stack([transform(Image.open(p).convert("RGB")) for p in b])) for b in batches(paths)]
        )

    latency = best_of(lambda: timm_images(image_items))
    row(image_ref, "timm", seconds, timm_images, image_items, reference, latency, zoo_latency, "timm (torch)")

    # ---- text: onnx + transformers
    reference, zoo_latency = zoo_side(text_ref, text_items)
    out, seconds = export(text_ref, "onnx")
    preprocessing = json.loads((out / "preprocessing.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])

    def onnx_texts(texts):
        chunks = []
        for b in batches(texts):
            encoded = tokenizer(b, padding=True, truncation=True, max_length=preprocessing["text"]["max_length"])
            chunks.append(
                session.run(["logits"], {k: np.array(encoded[k], dtype=np.int64) for k in preprocessing["inputs"]})[0]
            )
        return np.concatenate(chunks)

    latency = best_of(lambda: onnx_texts(text_items))
    row(text_ref, "onnx", seconds, onnx_texts, text_items, reference, latency, zoo_latency, "onnxruntime")

    out, seconds = export(text_ref, "transformers")
    model = AutoModelForSequenceClassification.from_pretrained(str(out), trust_remote_code=True).eval()
    hf_tokenizer = AutoTokenizer.from_pretrained(str(out), trust_remote_code=True)

    @torch.no_grad()
    def hf_texts(texts):
        return torch.cat(
            [
                model(**hf_tokenizer(b, padding=True, truncation=True, return_tensors="pt")).logits
                for b in batches(texts)
            ]
        )

    latency = best_of(lambda: hf_texts(text_items))
    row(text_ref, "transformers", seconds, hf_texts, text_items, reference, latency, zoo_latency, "transformers")

    print()
    print(
        "| adapter | format | export s | runtime | stored samples: max abs logit diff, top-1 agreement | "
        f"{ITEMS} test items: max abs logit diff, top-1 agreement | ms/item | zoo predict ms/item | zoo / export |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['adapter']} | {r['format']} | {r['export_s']:.1f} | {r['runtime']} | "
            f"{r['samples_diff']:.2e}, {r['samples_top1']:.3f} ({r['samples']}) | "
            f"{r['items_diff']:.2e}, {r['items_top1']:.3f} ({r['items']}) | {r['ms_per_item']:.2f} | "
            f"{r['zoo_ms_per_item']:.2f} | {r['zoo_ms_per_item'] / r['ms_per_item']:.2f}x |"
        )
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
