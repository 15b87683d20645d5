"""Rank catalog models for object detection and semantic segmentation (``zoo recommend`` on dense
data) by a PROXY, said so wherever the ranking is shown.

A transferability score such as LogME rates pooled features against one label per item; dense
tasks label boxes and pixels instead. The proxy turns them into labelled items and scores those
exactly as ``zoo recommend`` scores classification data (the same candidates, calibration, time
budget, stratified subsample, half-sample noise estimate, ties and notes, from
:mod:`zoo_core.engine.recommend`):

- **Detection**: one crop per labelled box, with a context margin of :data:`CONTEXT_MARGIN` of the
  box's width and height on each side (clipped to the image), labelled with its class; plus
  background crops, :data:`BACKGROUND` (random boxes of the sizes of the image's own boxes, seeded,
  with IoU below :data:`BACKGROUND_MAX_IOU` with every labelled box, covering at most half of any
  and at most half inside them; as many as the labelled crops, capped), with the same margin. A one-class set such as
  raccoon thus still has two classes, and the score says how well a backbone's features separate
  the classes from each other and objects from background.
- **Segmentation**: per image and per class covering at least :data:`MIN_REGION_SHARE` of its
  pixels (the ignore index left out), the crop of the box around that class's pixels, with the
  pixels of the box that are not the class set to the image's mean colour, labelled with the class.

At most :data:`MAX_PER_CLASS` crops per class (a seeded random choice). It measures the pooled
features of the objects (or regions), not the feature maps a detector or decoder is built on:
a ranking to start from, not a prediction of mAP or mIoU. Only image models that give feature
maps can serve these tasks: a text model is refused in one line, an image model without feature
maps gets a row saying so. Without ``candidates``, the models scored are the ``zoo models suggest``
ranking of the models the catalog lists for the task (``zoo models list --task object-detection``).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo_core.errors import DataError, ZooError

DETECTION, SEGMENTATION = "object-detection", "semantic-segmentation"
DENSE_TASKS = (DETECTION, SEGMENTATION)
#: The label of the background crops of detection data.
BACKGROUND = "__background__"
#: Context around a box, as a share of its width (left and right) and height (top and bottom).
CONTEXT_MARGIN = 0.10
#: A background box has an IoU below this with every labelled box of its image...
BACKGROUND_MAX_IOU = 0.3
#: ...covers at most this share of any of them (a large box around a small object shows the object),
#: and at most this share of it lies in labelled boxes (a small box inside an object shows the object).
BACKGROUND_MAX_COVER = 0.5
#: Random boxes tried per background crop wanted, before giving up on that image.
BACKGROUND_TRIES = 50
#: Crops per class, at most (a seeded random choice of them): bounds the time spent on a large dataset.
MAX_PER_CLASS = 250
#: Boxes narrower or lower than this (pixels) are left out: upscaled to the model's input they show nothing.
MIN_BOX_SIDE = 4
#: A class region smaller than this share of its image's pixels is left out.
MIN_REGION_SHARE = 0.01
#: Segmentation: at most this many masks are decoded (a seeded random choice of the images).
MAX_MASKS_READ = 1000
#: Crops are shrunk to at most this side (pixels) when made: above every catalog model's input size,
#: so the features hardly change, and a chunk of crops of large photos stays small in memory.
MAX_CROP_SIDE = 512
#: From this many labelled objects (or class regions) per class on, adapting the backbone is suggested.
LORA_FROM_PER_CLASS = 100

DETECTION_PROXY = (
    "detection proxy: {scorer} of the pooled features of crops of the labelled boxes (with a {margin:.0%} "
    "context margin) and of as many background boxes (IoU < {iou:g} with every labelled box), labelled with "
    "their class; it measures how well each backbone tells the objects' classes and background apart, not a "
    "prediction of mAP"
)
SEGMENTATION_PROXY = (
    "segmentation proxy: {scorer} of the pooled features of, per image and class present, the box around the "
    "class's pixels (the box's other pixels set to the image's mean colour), labelled with the class; it "
    "measures how well each backbone tells the classes' regions apart, not a prediction of mIoU"
)


@dataclass(frozen=True)
class Crop:
    """One proxy item: the box ``[x0, y0, x1, y1]`` (whole pixels, inside the image) of ``image``,
    labelled ``label``. Segmentation regions also name the mask and the class's value in it: the
    box's pixels of other values are set to the image's mean colour when the crop is made."""

    image: str
    box: tuple[int, int, int, int]
    label: str
    mask: str | None = None
    value: int | None = None


# ------------------------------------------------------------------------------------ which task


def dense_task_of(data: str | Path, task: str | None) -> tuple[str, str | None] | None:
    """``(task, note)`` when ``recommend`` should rank ``data`` for a dense task: ``task`` when it
    is one, else the task of the data's dense layout (the note says so); None for classification."""
    from zoo_core.data.dense import detect_dense_layout, task_of_layout

    if task is not None:
        return (task, None) if task in DENSE_TASKS else None
    layout = detect_dense_layout(data)
    if layout is None:
        return None
    path = Path(data)
    if layout == "voc" and path.is_dir() and any(p.name.lower() == "segmentationclass" for p in path.iterdir()):
        raise ZooError(
            f"{data} holds both boxes (Annotations/) and masks (SegmentationClass/); "
            f"choose with --task {DETECTION} or --task {SEGMENTATION}"
        )
    found = task_of_layout(layout)
    return found, f"task {found}, from the {layout} layout of {data} (--task chooses another)"


# ------------------------------------------------------------------------------------ detection crops


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x0, y0, x1, y1]`` boxes (0 when either has no area)."""
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _intersection(a: Sequence[float], b: Sequence[float]) -> float:
    return _area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])


def with_margin(
    box: Sequence[float], width: int, height: int, margin: float = CONTEXT_MARGIN
) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` of its width and height on each side, to whole pixels, clipped to the image."""
    dx, dy = margin * (box[2] - box[0]), margin * (box[3] - box[1])
    x0, y0 = max(0, math.floor(box[0] - dx)), max(0, math.floor(box[1] - dy))
    x1, y1 = min(width, math.ceil(box[2] + dx)), min(height, math.ceil(box[3] + dy))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def background_boxes(
    width: int,
    height: int,
    boxes: Sequence[Sequence[float]],
    sizes: Sequence[tuple[float, float]],
    wanted: int,
    rng: Any,
) -> list[list[float]]:
    """Up to ``wanted`` random boxes in a ``width`` x ``height`` image, each of a size drawn from
    ``sizes`` (scaled by 0.5-1.5; halved for the second half of the tries, so that an image mostly
    covered by its objects can still give some), with IoU below :data:`BACKGROUND_MAX_IOU` with
    every box of ``boxes``, covering at most :data:`BACKGROUND_MAX_COVER` of any and lying at most
    that share inside them, and with IoU below 0.5 with one another (not the same background twice)."""
    found: list[list[float]] = []
    tries = wanted * BACKGROUND_TRIES
    for attempt in range(tries):
        if len(found) >= wanted or not sizes:
            break
        w, h = sizes[int(rng.integers(len(sizes)))]
        scale = float(rng.uniform(0.5, 1.5)) * (0.5 if attempt >= tries // 2 else 1.0)
        w = min(float(width), max(float(MIN_BOX_SIDE), w * scale))
        h = min(float(height), max(float(MIN_BOX_SIDE), h * scale))
        x0, y0 = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
        box = [x0, y0, x0 + w, y0 + h]
        overlaps = [_intersection(box, b) for b in boxes]
        if (
            all(box_iou(box, b) < BACKGROUND_MAX_IOU for b in boxes)
            and all(o <= BACKGROUND_MAX_COVER * _area(b) for o, b in zip(overlaps, boxes))
            and sum(overlaps) <= BACKGROUND_MAX_COVER * _area(box)
            and all(box_iou(box, f) < 0.5 for f in found)
        ):
            found.append(box)
    return found


def _capped(indices: Sequence[int], cap: int, rng: Any) -> list[int]:
    """``indices``, or a random ``cap`` of them, in their order."""
    if len(indices) <= cap:
        return list(indices)
    return sorted(int(i) for i in rng.choice(list(indices), size=cap, replace=False))


def detection_crops(
    data: Any,
    *,
    seed: int = 0,
    margin: float = CONTEXT_MARGIN,
    max_per_class: int = MAX_PER_CLASS,
) -> tuple[list[Crop], list[str]]:
    """The proxy items of a :class:`~zoo_core.data.dense.DetectionData` and notes saying what they are.

    A crop per labelled box (at most ``max_per_class`` per class), ``margin`` of context on each
    side; and background crops (:func:`background_boxes`, seeded per image, the same margin):
    as many per image as it has boxes (one for an image without boxes, of the sizes of all the
    data's boxes), then at most as many in all as there are labelled crops and ``max_per_class``.
    The images are visited in a seeded random order until that many are placed. In image order,
    each image's labelled crops first. Reads no pixels (the data has the sizes)."""
    import numpy as np

    objects: list[tuple[int, Crop]] = []
    small = 0
    for i, item in enumerate(data.items):
        for box, label in zip(item.boxes, item.labels):
            if box[2] - box[0] < MIN_BOX_SIDE or box[3] - box[1] < MIN_BOX_SIDE:
                small += 1
                continue
            objects.append((i, Crop(item.image, with_margin(box, item.width, item.height, margin), label)))
    by_class: dict[str, list[int]] = {}
    for k, (_, crop) in enumerate(objects):
        by_class.setdefault(crop.label, []).append(k)
    rng = np.random.default_rng(seed)
    kept = sorted(k for label in sorted(by_class) for k in _capped(by_class[label], max_per_class, rng))
    objects = [objects[k] for k in kept]

    all_sizes = [(b[2] - b[0], b[3] - b[1]) for item in data.items for b in item.boxes]
    backgrounds: list[tuple[int, Crop]] = []
    wanted_total = 0
    cap = min(len(objects), max_per_class)
    # Images in a seeded random order, until the cap is reached: placing boxes is pure Python, and
    # on a large set (COCO: 118k images) placing them everywhere to keep a few would outlast the budget.
    for i in np.random.default_rng([seed, len(data.items)]).permutation(len(data.items)).tolist():
        if len(backgrounds) >= cap:
            break
        item = data.items[i]
        own = [(b[2] - b[0], b[3] - b[1]) for b in item.boxes]
        wanted = min(len(item.boxes) or 1, cap - len(backgrounds))
        wanted_total += wanted
        boxes = background_boxes(
            item.width, item.height, item.boxes, own or all_sizes, wanted, np.random.default_rng([seed, i])
        )
        backgrounds += [
            (i, Crop(item.image, with_margin(b, item.width, item.height, margin), BACKGROUND)) for b in boxes
        ]
    found_background = len(backgrounds)
    # Image order, each image's objects before its backgrounds: an image is decoded once per chunk.
    crops = [
        crop
        for _, _, crop in sorted(
            [(i, 0, c) for i, c in objects] + [(i, 1, c) for i, c in backgrounds], key=lambda t: (t[0], t[1])
        )
    ]
    counts = {label: len(ix) for label, ix in sorted(by_class.items())}
    notes = [
        f"proxy items: {len(objects)} crops of the {sum(counts.values())} labelled boxes "
        f"({', '.join(f'{label} {n}' for label, n in counts.items())}; at most {max_per_class} per class) "
        f"and {len(backgrounds)} background crops, from {len(data.items)} images"
    ]
    if small:
        notes.append(f"{small} boxes under {MIN_BOX_SIDE} px on a side left out of the proxy")
    if found_background < min(wanted_total, cap):
        notes.append(
            f"only {found_background} background boxes with IoU < {BACKGROUND_MAX_IOU:g} with every labelled box "
            f"could be placed ({wanted_total} wanted): the objects cover most of their images"
        )
    return crops, notes


# ------------------------------------------------------------------------------------ segmentation regions


def segmentation_regions(
    data: Any,
    *,
    seed: int = 0,
    min_share: float = MIN_REGION_SHARE,
    max_per_class: int = MAX_PER_CLASS,
    max_masks: int = MAX_MASKS_READ,
) -> tuple[list[Crop], list[str]]:
    """The proxy items of a :class:`~zoo_core.data.dense.SegmentationData` and notes saying what they are.

    Per image and per class covering at least ``min_share`` of the image's pixels (the ignore
    index is no class), the box around all of that class's pixels, labelled with the class name
    (at most ``max_per_class`` per class, a seeded choice). Decodes at most ``max_masks`` masks
    (a seeded random choice of the images, when there are more)."""
    import numpy as np

    from zoo_core.data.dense import read_mask

    names = list(data.class_names)
    order = list(range(len(data.items)))
    if len(order) > max_masks:
        order = sorted(int(i) for i in np.random.default_rng(seed).choice(len(order), max_masks, replace=False))
    regions: list[Crop] = []
    present: set[str] = set()
    for i in order:
        item = data.items[i]
        mask = read_mask(item.mask)
        valid = mask != data.ignore_index if data.ignore_index is not None else np.ones(mask.shape, bool)
        values = mask[valid & (mask >= 0) & (mask < len(names))]
        counts = np.bincount(values.ravel(), minlength=len(names))
        for value in np.flatnonzero(counts):
            present.add(names[value])
            if counts[value] < min_share * mask.size:
                continue
            ys, xs = np.nonzero(mask == value)
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            regions.append(Crop(item.image, box, names[value], item.mask, int(value)))
    by_class: dict[str, list[int]] = {}
    for k, crop in enumerate(regions):
        by_class.setdefault(crop.label, []).append(k)
    rng = np.random.default_rng(seed)
    kept = sorted(k for label in sorted(by_class) for k in _capped(by_class[label], max_per_class, rng))
    counts_by_class = {label: len(ix) for label, ix in sorted(by_class.items(), key=lambda kv: names.index(kv[0]))}
    notes = [
        f"proxy items: {len(kept)} class regions of {len(order)} images "
        f"({', '.join(f'{label} {n}' for label, n in counts_by_class.items())}; regions under {min_share:.0%} of "
        f"their image left out; at most {max_per_class} per class)"
    ]
    if len(order) < len(data.items):
        notes.append(f"masks of {len(order)} of the {len(data.items)} images read (a random choice, seed {seed})")
    tiny = sorted(present - set(by_class), key=names.index)
    if tiny:
        which = f"classes {', '.join(tiny)} never cover" if len(tiny) > 1 else f"class {tiny[0]} never covers"
        notes.append(f"{which} {min_share:.0%} of an image: not in the proxy")
    return [regions[k] for k in kept], notes


# ------------------------------------------------------------------------------------ making the crops


def make_crops(crops: Sequence[Crop], max_side: int = MAX_CROP_SIDE) -> list[Any]:
    """The crops as RGB PIL images, each shrunk to at most ``max_side`` pixels a side; a region's
    pixels of other classes set to its image's mean colour. An image is decoded once for its
    consecutive crops; one that cannot be decoded is a DataError naming it."""
    import numpy as np
    from PIL import Image

    from zoo_core.data.dense import read_mask
    from zoo_core.engine.loaders import load_item

    def decode(path: str) -> Any:
        with Image.open(path) as handle:
            return np.asarray(handle.convert("RGB"))

    made = []
    last: tuple[str, Any, Any] | None = None  # (path, RGB array, mean colour)
    last_mask: tuple[str, Any] | None = None
    for crop in crops:
        if last is None or last[0] != crop.image:
            last = (crop.image, load_item(decode, crop.image), None)
        path, pixels, mean = last
        x0, y0, x1, y1 = crop.box
        region = pixels[y0:y1, x0:x1]
        if crop.mask is not None:
            # The region's own pixels only, the rest of its box the image's mean colour: the box of a
            # class that spreads over the image (road, sky, background) would otherwise show mostly the
            # other classes, and every class present would get nearly the same crop. Masked pooling
            # of feature maps would do this exactly; extract_features pools whole images.
            if mean is None:
                mean = pixels.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
                last = (path, pixels, mean)
            if last_mask is None or last_mask[0] != crop.mask:
                last_mask = (crop.mask, read_mask(crop.mask))
            region = region.copy()
            region[last_mask[1][y0:y1, x0:x1] != crop.value] = mean
        image = Image.fromarray(np.ascontiguousarray(region))
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
        made.append(image)
    return made


# ------------------------------------------------------------------------------------ advice


def dense_method(task: str, per_class: float, params_m: float | None = None) -> tuple[str, str]:
    """The method to start a dense fine-tune with, for this many labelled objects (detection) or
    class regions (segmentation) per class, and why: ``linear_probe`` (frozen backbone, the FPN and
    head trained) below :data:`LORA_FROM_PER_CLASS`, else ``lora``. Classification's thresholds
    carried over; the methods that need pooled features (protonet, contrastive) cannot train a dense head."""
    head = "FPN and detection head" if task == DETECTION else "decoder"
    what = "labelled boxes" if task == DETECTION else "class regions"
    if per_class < LORA_FROM_PER_CLASS:
        return "linear_probe", (
            f"{per_class:.0f} {what} per class: keep the backbone frozen and train only the {head}, "
            "fast and hard to overfit; try lora if it plateaus (a rule of thumb carried over from "
            "classification, not measured on dense tasks here)"
        )
    return "lora", (
        f"{per_class:.0f} {what} per class: enough to adapt the backbone; LoRA in the backbone (the {head} "
        "trains too) stays cheap and keeps the adapter small (a rule of thumb carried over from "
        "classification, not measured on dense tasks here)"
    )


# ------------------------------------------------------------------------------------ recommend


def recommend_dense(
    data: str | Path,
    *,
    task: str | None = None,
    candidates: Sequence[str] | None = None,
    max_params_m: float | None = None,
    offline: bool | None = None,
    budget_seconds: float | None = 90.0,
    top: int | None = None,
    scorer: str = "logme",
    verify: int = 0,
    seed: int = 0,
    resamples: int | None = None,
    zoo=None,
    log: Callable[[str], None] | None = None,
    data_options: dict[str, Any] | None = None,
    task_note: str | None = None,
    started: float | None = None,
) -> Any:
    """Rank candidate models for ``task`` (object-detection or semantic-segmentation; None: from the
    data's layout) on ``data``'s training split by the proxy the module docstring describes.

    Returns a :class:`~zoo_core.engine.recommend.Recommendation` whose ``proxy`` (also the first
    note) says what was scored; ``num_items`` and ``num_scored`` count crops. The options are
    :func:`~zoo_core.engine.recommend.recommend`'s (``data_options``: only ``max_skipped_fraction``).
    """
    from zoo_core.data import skipped_summary
    from zoo_core.engine.dense.pipeline import check_model
    from zoo_core.engine.recommend import (
        RESAMPLES,
        Recommendation,
        _candidate_entries,
        _rank_candidates,
        _scorer,
    )
    from zoo_core.paths import offline_mode
    from zoo_core.plugins import Zoo
    from zoo_core.transferability import SCORER_VERSION

    started = time.perf_counter() if started is None else started
    resamples = RESAMPLES if resamples is None else resamples
    if resamples < 0 or resamples == 1:
        raise ZooError(f"resamples must be 0 (no noise estimate) or at least 2, got {resamples}")
    zoo = zoo or Zoo()
    log = log or (lambda message: None)
    offline = offline_mode() if offline is None else offline
    if task is None:
        found = dense_task_of(data, None)
        if found is None:
            raise DataError(
                f"{data}: not object detection or segmentation data (no VOC, COCO, YOLO or mask layout); "
                "pass --task for the task it is"
            )
        task, task_note = found
    if task not in DENSE_TASKS:
        raise ZooError(f"task '{task}' is not a dense task; recommend_dense ranks for {' or '.join(DENSE_TASKS)}")
    options = dict(data_options or {})
    skip_fraction = options.pop("max_skipped_fraction", None)
    if options:
        flags = ", ".join("--" + key.replace("_", "-") for key in sorted(options))
        raise ZooError(f"{flags}: not for {task} (tables of text only); drop it")
    zoo.get("tasks", task)
    entries_given = [zoo.catalog.get(name) for name in candidates] if candidates else []
    for entry in entries_given:
        check_model(zoo, entry, task)  # a text model: one line, before any data is read
    needs_head, score_fn = _scorer(zoo, scorer)

    train = _load_train(data, task, seed, skip_fraction)
    if train.skipped:
        log(skipped_summary(train.skipped, full_list="--json output"))
    if task == DETECTION:
        crops, crop_notes = detection_crops(train, seed=seed)
        objects = [c for c in crops if c.label != BACKGROUND]
        per_class = len(objects) / max(1, len({c.label for c in objects}))
        proxy = DETECTION_PROXY.format(scorer=scorer, margin=CONTEXT_MARGIN, iou=BACKGROUND_MAX_IOU)
        sizes = [(item.width, item.height) for item in train.items]
    else:
        crops, crop_notes = segmentation_regions(train, seed=seed)
        per_class = len(crops) / max(1, len({c.label for c in crops}))
        proxy = SEGMENTATION_PROXY.format(scorer=scorer)
        sizes = _header_sizes([item.image for item in train.items])
    labels = [c.label for c in crops]
    classes = sorted(set(labels))
    if len(classes) < 2:
        only = f"only '{classes[0]}'" if classes else "none"
        why = (
            "no background box with IoU < 0.3 with every labelled box could be placed"
            if task == DETECTION and classes
            else f"no other class covers {MIN_REGION_SHARE:.0%} of an image"
            if task == SEGMENTATION and classes
            else "no labelled object"
        )
        raise DataError(
            f"{train.source}: the {task} proxy needs crops of at least 2 classes, and there are {only} ({why}); "
            "check the annotations"
        )

    summary: dict[str, Any] = {
        "data": str(data),
        "modality": "image",
        "classes": len([c for c in classes if c != BACKGROUND]),
        "examples": len(train),
        "min_per_class": min(labels.count(c) for c in classes if c != BACKGROUND),
        "image_size": _median_size(sizes),
    }
    size = summary["image_size"]
    summary["kind"] = "images, taken to be photos" + (f" (about {size[0]}x{size[1]} px)" if size else "")

    def describe(cut: Any) -> str:
        n = len(cut.suggestions)
        return (
            f"scored {n} of the {cut.matching} image models the catalog lists for {task} (zoo models list --task "
            f"{task}), shortlisted as `zoo models suggest` ranks them: {cut.rule()}; give --candidates to score others"
        )

    entries, picked_notes = _candidate_entries(
        zoo,
        None,
        data,
        task=task,
        candidates=candidates,
        max_params_m=max_params_m,
        offline=offline,
        scorer=scorer,
        needs_head=needs_head,
        summary=summary,
        describe=describe,
    )

    def needs_maps(backbone: Any) -> None:
        from zoo_core.engine.dense import supports_feature_maps

        if not supports_feature_maps(backbone):
            raise ZooError(f"it gives no feature maps, which {task} needs (zoo models list --task {task})")

    ranking = _rank_candidates(
        zoo,
        entries,
        crops,
        labels,
        method_of=lambda entry: dense_method(task, per_class, entry.params_m),
        # The final pooled features: the proxy's crops are never probed again, so the wider
        # multi-level matrix classification extracts for a later linear probe would be wasted.
        features="last",
        started=started,
        budget_seconds=budget_seconds,
        scorer=scorer,
        score_fn=score_fn,
        needs_head=needs_head,
        verify=verify,
        seed=seed,
        resamples=resamples,
        offline=offline,
        top=top,
        log=log,
        unit="crops",
        materialise=make_crops,
        check=needs_maps,
    )
    notes = [proxy, *([task_note] if task_note else []), *train.notes, *crop_notes, *picked_notes, *ranking.notes]
    return Recommendation(
        task=task,
        scorer=scorer,
        scorer_version=SCORER_VERSION,
        num_items=len(crops),
        num_scored=ranking.num_scored,
        num_classes=len(classes),
        candidates=ranking.ranked,
        notes=notes,
        seconds=round(time.perf_counter() - started, 2),
        resamples=ranking.resamples,
        tied_with_best=ranking.tied,
        skipped=[s.as_dict() for s in train.skipped],
        proxy=proxy,
    )


def _load_train(data: str | Path, task: str, seed: int, max_skipped_fraction: float | None) -> Any:
    """The training split of the dense dataset at ``data`` (all of it when it has no split)."""
    from zoo_core.data.dense import load_detection_splits, load_segmentation_splits

    load = load_detection_splits if task == DETECTION else load_segmentation_splits
    return load(data, val_fraction=0, seed=seed, max_skipped_fraction=max_skipped_fraction)["train"]


def _header_sizes(paths: Sequence[str], first: int = 16) -> list[tuple[int, int]]:
    """``(width, height)`` of up to ``first`` images spread over ``paths``, from their headers."""
    from zoo_core.data import image_header_size

    sample = list(paths[:: max(1, len(paths) // first)][:first])
    return [size for size in map(image_header_size, sample) if size is not None]


def _median_size(sizes: Sequence[tuple[int, int]]) -> list[int] | None:
    if not sizes:
        return None
    return [int(statistics.median(s[0] for s in sizes)), int(statistics.median(s[1] for s in sizes))]
