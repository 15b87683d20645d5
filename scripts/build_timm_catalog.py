#!/usr/bin/env python
"""Generate ``plugins/zoo_timm/catalog_timm.json``: every pretrained timm weight, with honest metadata.

Run at development time with the pinned timm (never at listing time: the timm plugin ships the file
and registers it through ``register_catalogs``)::

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/build_timm_catalog.py               # write the file
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/build_timm_catalog.py --jobs 2      # build models in 2 processes
    .venv/bin/python scripts/build_timm_catalog.py --counts-cache /tmp/counts.json # reuse counted models

The output depends only on the timm version, the copied results tables and ``zoo_core/registry.json``:
entries are sorted by id and written one per line, so a regenerated file diffs cleanly.

Where each field comes from (every entry's ``source`` repeats it, field by field):

* ``timm.models.get_pretrained_cfg(name)``: the id (``timm/<name>`` when ``hf_hub_id`` is that repo;
  another Hub repo id as given, status "experimental" because the zoo loads its file as-is, without
  timm's checkpoint filter; weights with no Hub id are skipped and counted), ``arch``, the input spec
  (size, mean, std, interpolation, crop_pct; a crop_pct over 1 is clipped to the schema's maximum 1.0
  and the entry says so), ``license`` ("unknown" and missing -> null), ``source_head`` (num_classes,
  with ``label_set`` from :data:`LABEL_SETS`; null for a head that is an image-text embedding
  projection, see :data:`EMBEDDING_MAX`), ``description`` (the cfg's notes) and ``paper``
  (``paper_ids`` ``arXiv:X`` -> ``https://arxiv.org/abs/X``).
* Counted: ``params_m`` is the parameter count of ``timm.create_model(name, pretrained=False,
  num_classes=<cfg num_classes>)`` built on the meta device (the classifier included);
  ``num_features`` is the pooled pre-logits width, ``model.head_hidden_size`` when the model has one,
  else ``model.num_features``. A model that does not build on the meta device gets null for both.
* timm's published results (``plugins/zoo_timm/results/``, huggingface/pytorch-image-models at
  :data:`RESULTS_COMMIT`): ``metric`` (ImageNet-1k top-1) and ``top5`` from ``results-imagenet.csv``,
  the row at the entry's input size, else at the cfg's test_input_size, else the best row (the
  evaluated size is in the metric's source); ``gmacs`` and ``infer_samples_per_sec`` from the CPU
  benchmark table, the architecture's row at the entry's input size only.
* ``pretraining``: the tag rule below, cross-checked with ``model_metadata-in1k.csv`` where that table
  has a row for the weight; on disagreement the table wins and the summary lists the case.

Pretraining rule. The tag (the part after the dot) is split on ``_``; ``ft`` separates stages. The
first stage is the pre-training data (several data tokens: trained on all of them, joined by " + "),
each later stage a fine-tune ("fine-tuned on A, then on B"). Only data tokens count; the rest (lab,
recipe, epochs, resolution: ``fb``, ``sw``, ``augreg``, ``e300``, ``r224``, ``384``...) is ignored.
A tag whose first stage names no data (``mae``, ``fcmae_ft_in1k``, ``seer``, ``fb``, ``qwen3_vl_8b``)
gets null, counted in the summary. Data tokens:

===================  ========================================
token                pretraining
===================  ========================================
in1k                 imagenet-1k
in12k                imagenet-12k
in21k                imagenet-21k
in22k                imagenet-22k
jft                  jft-300m
ig1b                 instagram-1b
yfcc100m             yfcc-100m
yfcc15m              yfcc-15m
laion2b              laion-2b
laion400m            laion-400m
laiona               laion-aesthetics
datacomp1b           datacomp-1b
datacompxl           datacomp-xl
dfn2b                dfn-2b
dfn5b                dfn-5b
metaclip_2pt5b       metaclip-2.5b
metaclip_400m        metaclip-400m
metaclip2_worldwide  metaclip2-worldwide
openai               openai-clip (wit-400m)
webli                webli
lvd142m              lvd-142m
lvd1689m             lvd-1689m
merged2b             merged-2b
m38m                 merged-38m
m30m                 merged-30m
cc12m                cc-12m
sa1b                 sa-1b
sat493m              sat-493m
===================  ========================================

Examples: ``in1k``, ``fb_in1k``, ``sw_in1k`` -> "imagenet-1k"; ``in22k_ft_in1k`` -> "imagenet-22k,
fine-tuned on imagenet-1k"; ``augreg_in21k_ft_in1k`` -> "imagenet-21k, fine-tuned on imagenet-1k";
``in22k_ft_in22k_in1k`` -> "imagenet-22k, fine-tuned on imagenet-22k, then on imagenet-1k";
``ns_jft_in1k`` -> "jft-300m + imagenet-1k"; ``laion2b_ft_in12k_in1k`` -> "laion-2b, fine-tuned on
imagenet-12k, then on imagenet-1k"; ``openai`` -> "openai-clip (wit-400m)"; a fine-tune stage that
names no data reads "further fine-tuned (data not named in the tag)". ``model_metadata-in1k.csv`` has
a row for a weight when the row's name is a deprecated timm name for that exact weight, or the
weight's architecture with a single pretrained weight; rows for an architecture with several weights
do not say which one they describe and are not used. Its vocabulary: :data:`METADATA_PRETRAIN`.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "zoo_core" / "registry.json"
OUTPUT = ROOT / "plugins" / "zoo_timm" / "catalog_timm.json"
RESULTS_DIR = ROOT / "plugins" / "zoo_timm" / "results"
RESULTS_COMMIT = "aa4b5850c1543fa488abf260f18390eda46cf85d"
RESULTS_CSV = "results-imagenet.csv"
BENCHMARK_CSV = "benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv"
METADATA_CSV = "model_metadata-in1k.csv"
TASKS = ["image-classification", "feature-extraction"]
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
CROP_PCT_MAX = 1.0  # the schema's maximum for input.crop_pct

#: Classifier sizes whose label set is known (others: source_head without label_set).
LABEL_SETS = {
    1000: "imagenet-1k",
    11821: "imagenet-12k",
    21841: "imagenet-22k",  # the full ImageNet (fall 2011), as Microsoft/Meta's in22k weights count it
    21843: "imagenet-21k",  # the same data with Google's two extra classes (timm's in21k weights)
    11221: "imagenet-21k-p",  # MIIL's processed ImageNet-21K (winter 2021)
}

#: A head of at most this width whose size is no label set is an image-text embedding projection (CLIP,
#: SigLIP, PE, MobileCLIP, ViTamin: 384 to 1,280 wide in timm 1.0.31), not a classifier: no source_head.
EMBEDDING_MAX = 1280

#: Data tokens of a timm tag (see the module docstring's table; compound tokens are matched first).
DATA_TOKENS = {
    "in1k": "imagenet-1k",
    "in12k": "imagenet-12k",
    "in21k": "imagenet-21k",
    "in22k": "imagenet-22k",
    "jft": "jft-300m",
    "ig1b": "instagram-1b",
    "yfcc100m": "yfcc-100m",
    "yfcc15m": "yfcc-15m",
    "laion2b": "laion-2b",
    "laion400m": "laion-400m",
    "laiona": "laion-aesthetics",
    "datacomp1b": "datacomp-1b",
    "datacompxl": "datacomp-xl",
    "dfn2b": "dfn-2b",
    "dfn5b": "dfn-5b",
    "metaclip_2pt5b": "metaclip-2.5b",
    "metaclip_400m": "metaclip-400m",
    "metaclip2_worldwide": "metaclip2-worldwide",
    "openai": "openai-clip (wit-400m)",
    "webli": "webli",
    "lvd142m": "lvd-142m",
    "lvd1689m": "lvd-1689m",
    "merged2b": "merged-2b",
    "m38m": "merged-38m",
    "m30m": "merged-30m",
    "cc12m": "cc-12m",
    "sa1b": "sa-1b",
    "sat493m": "sat-493m",
}

#: model_metadata-in1k.csv's ``pretrain`` column: (the data set compared with the tag's first stage,
#: the pretraining text used when the table wins). Every row is for a weight with an ImageNet-1k head.
METADATA_PRETRAIN = {
    "in1k": ("imagenet-1k", "imagenet-1k"),
    "in1k-dist": ("imagenet-1k", "imagenet-1k (knowledge distillation)"),
    "in1k-ap": ("imagenet-1k", "imagenet-1k (AdvProp)"),
    "in1k-adv": ("imagenet-1k", "imagenet-1k (adversarial training)"),
    "in21k": ("imagenet-21k", "imagenet-21k, fine-tuned on imagenet-1k"),
    "in21k-selfsl": ("imagenet-21k", "imagenet-21k (self-supervised), fine-tuned on imagenet-1k"),
    "jft300m-ns": ("jft-300m", "jft-300m + imagenet-1k (noisy student)"),
    "yfc-semisl": ("yfcc-100m", "yfcc-100m (semi-supervised), fine-tuned on imagenet-1k"),
    "ig1b-swsl": ("instagram-1b", "instagram-1b (semi-weakly supervised), fine-tuned on imagenet-1k"),
    "ig1b-wsl": ("instagram-1b", "instagram-1b (weakly supervised), fine-tuned on imagenet-1k"),
}

# ImageNet-21k and -22k name one data set (the full ImageNet); the tag rule keeps the authors' name.
_SAME_DATA = {"imagenet-22k": "imagenet-21k"}


def _data_tokens(tag: str) -> list[str]:
    """The tag's tokens, with compound data tokens (``metaclip_400m``) kept whole."""
    for compound in sorted((t for t in DATA_TOKENS if "_" in t), key=len, reverse=True):
        tag = re.sub(rf"(^|_){compound}(?=_|$)", lambda m, c=compound: m.group(1) + c.replace("_", "~"), tag)
    return [token.replace("~", "_") for token in tag.split("_") if token]


def pretraining_stages(tag: str) -> list[list[str]]:
    """The data of each stage of ``tag`` (stage 0 = pre-training, then one per ``ft``)."""
    stages: list[list[str]] = [[]]
    for token in _data_tokens(tag):
        if token == "ft":
            stages.append([])
        elif token in DATA_TOKENS:
            stages[-1].append(DATA_TOKENS[token])
    return stages


def parse_pretraining(tag: str) -> str | None:
    """The pretraining text for a timm tag by the rule in the module docstring; None when unknown."""
    stages = pretraining_stages(tag)
    if not stages[0]:
        return None
    text = " + ".join(stages[0])
    steps = [data for stage in stages[1:] for data in (stage or [None])]
    for i, data in enumerate(steps):
        then = ", then" if i else ","
        if data is None:
            text += f"{then} further fine-tuned (data not named in the tag)"
        else:
            text += f"{then} on {data}" if i else f", fine-tuned on {data}"
    return text


def _same_data(name: str) -> str:
    return _SAME_DATA.get(name, name)


# -- the published tables ----------------------------------------------------------------------------------


def _read_csv(name: str) -> list[dict[str, str]]:
    with open(RESULTS_DIR / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _cite(table: str) -> str:
    return f"timm {table} (huggingface/pytorch-image-models@{RESULTS_COMMIT[:8]})"


def metadata_rows(names: list[str]) -> tuple[dict[str, dict[str, str]], Counter]:
    """model_metadata-in1k.csv rows by the weight they describe (see the docstring's matching rule)."""
    from timm.models import get_deprecated_models

    deprecated = get_deprecated_models()
    known = set(names)
    by_arch: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_arch[name.split(".", 1)[0]].append(name)
    matched: dict[str, dict[str, str]] = {}
    counts: Counter = Counter()
    for row in _read_csv(METADATA_CSV):
        target = deprecated.get(row["model"], row["model"]) or ""
        if target in known:
            matched[target] = row
            counts["rows matched by timm's deprecated name"] += 1
        elif "." not in target and len(by_arch.get(target, [])) == 1:
            matched[by_arch[target][0]] = row
            counts["rows matched by an architecture with a single weight"] += 1
        elif "." not in target and by_arch.get(target):
            counts["rows not used: the architecture has several weights"] += 1
        else:
            counts["rows not used: no such weight in this timm"] += 1
    return matched, counts


def results_rows() -> dict[str, list[dict[str, str]]]:
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _read_csv(RESULTS_CSV):
        rows[row["model"]].append(row)
    return rows


def benchmark_rows() -> dict[tuple[str, int], dict[str, str]]:
    rows = {}
    for row in _read_csv(BENCHMARK_CSV):
        rows.setdefault((row["model"], int(row["infer_img_size"])), row)
    return rows


# -- counting parameters on the meta device ----------------------------------------------------------------


def count_model(name: str) -> dict[str, Any]:
    """Build ``name`` on the meta device; its parameter count and pooled feature width, or the error."""
    import logging
    import warnings

    import timm
    import torch
    from timm.models import get_pretrained_cfg

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    cfg = get_pretrained_cfg(name)
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, num_classes=cfg.num_classes)
        params = sum(p.numel() for p in model.parameters())
        width = getattr(model, "head_hidden_size", None) or model.num_features
        return {"params": int(params), "num_features": int(width)}
    except Exception as exc:  # any failure is recorded, and counted in the summary
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}


def count_models(names: list[str], jobs: int, cache_path: Path | None) -> dict[str, dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}
    if cache_path and cache_path.exists():
        cache = json.loads(cache_path.read_text())
    todo = [n for n in names if n not in cache]
    started = time.perf_counter()
    print(f"counting {len(todo)} models on the meta device ({len(names) - len(todo)} cached)", file=sys.stderr)
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for i, (name, counted) in enumerate(zip(todo, pool.map(count_model, todo, chunksize=8))):
                cache[name] = counted
                _progress(i, len(todo), started)
    else:
        for i, name in enumerate(todo):
            cache[name] = count_model(name)
            _progress(i, len(todo), started)
    if cache_path:
        cache_path.write_text(json.dumps(cache, sort_keys=True))
    return {n: cache[n] for n in names}


def _progress(i: int, total: int, started: float) -> None:
    if (i + 1) % 100 == 0 or i + 1 == total:
        print(f"  {i + 1}/{total} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


# -- entries -----------------------------------------------------------------------------------------------


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _pick_result(rows: list[dict[str, str]], size: int, test_size: int | None) -> dict[str, str] | None:
    for wanted in (size, test_size):
        for row in rows:
            if wanted and int(row["img_size"]) == wanted:
                return row
    return rows[0] if rows else None


def build_entry(
    name: str,
    cfg: Any,
    counted: dict[str, Any],
    results: dict[str, list[dict[str, str]]],
    bench: dict[tuple[str, int], dict[str, str]],
    metadata: dict[str, dict[str, str]],
    timm_version: str,
    summary: Counter,
    disagreements: list[str],
    *,
    variant: bool = False,
) -> dict[str, Any]:
    hub_id = cfg.hf_hub_id
    # A variant architecture of another timm weight's file (e.g. a QuickGELU build of a CLIP tower)
    # reads that timm/ repo; its catalog id is timm's own name for it, since no repo of that name exists.
    own_repo = hub_id == f"timm/{name}" or variant
    arch, tag = cfg.architecture, cfg.tag or ""
    where = [f"id, arch, input, license, source_head: timm {timm_version} pretrained_cfg for {name}"]
    size = [int(v) for v in cfg.input_size]
    crop_pct = float(cfg.crop_pct) if cfg.crop_pct is not None else None
    if crop_pct is not None and crop_pct > CROP_PCT_MAX:
        where.append(f"input.crop_pct: timm's {crop_pct:g} clipped to the schema's maximum {CROP_PCT_MAX:g}")
        summary["crop_pct clipped to 1.0"] += 1
        crop_pct = CROP_PCT_MAX
    entry: dict[str, Any] = {
        "id": f"timm/{name}" if variant else hub_id,
        "aliases": [],
        "family": "timm",
        "arch": arch,
        "modality": "image",
        "tasks": list(TASKS),
        "params_m": None,
        "num_features": None,
        "input": {
            "size": size,
            "mean": [float(v) for v in cfg.mean],
            "std": [float(v) for v in cfg.std],
            "interpolation": cfg.interpolation,
            "crop_pct": crop_pct,
        },
        "source_head": None,
        "weights": [
            {
                "source": "hub",
                "repo_id": hub_id,
                "filename": "model.safetensors" if own_repo else None,
                "revision": None,
                **({"format": "safetensors"} if own_repo else {}),
                "sha256": None,
            }
        ],
        "pretraining": None,
        "license": cfg.license if cfg.license and cfg.license != "unknown" else None,
        "paper": None,
        "metric": None,
        "status": "stable" if own_repo else "experimental",
    }
    if variant:
        where.append(
            f"id: timm's name for this weight; no Hub repo has that name: the file is {hub_id}'s, built as {arch}"
        )
    notes = " ".join(str(note).rstrip(".") + "." for note in (getattr(cfg, "notes", None) or ()))
    if notes:
        entry["description"] = notes
        where.append("description: pretrained_cfg notes")
    if not own_repo:
        where.append(
            f"status experimental: the weights live in {hub_id}, not a timm/ repo; the zoo loads the file as-is, "
            "without timm's checkpoint filter"
        )
    if cfg.num_classes in LABEL_SETS or cfg.num_classes > EMBEDDING_MAX:
        entry["source_head"] = {"num_classes": int(cfg.num_classes)}
        if cfg.num_classes in LABEL_SETS:
            entry["source_head"]["label_set"] = LABEL_SETS[cfg.num_classes]
    elif cfg.num_classes:
        where.append(
            f"source_head null: timm's {cfg.num_classes}-wide head is an image-text embedding projection, "
            "not a classifier"
        )
        summary["source_head null: the head is an image-text embedding projection"] += 1
    if cfg.paper_ids and str(cfg.paper_ids).startswith("arXiv:"):
        entry["paper"] = "https://arxiv.org/abs/" + str(cfg.paper_ids).split(":", 1)[1].strip()
        where.append("paper: pretrained_cfg paper_ids")
    if "error" in counted:
        summary["params/num_features null: does not build on the meta device"] += 1
    else:
        entry["params_m"] = round(counted["params"] / 1e6, 3)
        entry["num_features"] = counted["num_features"]
        head = "classifier included" if cfg.num_classes else "no classifier"
        where.append(
            f"params_m, num_features: counted from timm.create_model(num_classes={cfg.num_classes}) on the meta "
            f"device ({head}; num_features = head_hidden_size, else num_features)"
        )
    # ImageNet-1k results
    test_size = int(cfg.test_input_size[-1]) if getattr(cfg, "test_input_size", None) else None
    row = _pick_result(results.get(name, []), size[-1], test_size)
    if row is not None:
        at = f"row {name} at {row['img_size']}px, crop_pct {row['crop_pct']}"
        entry["metric"] = {
            "name": "imagenet-1k top-1",
            "value": float(row["top1"]),
            "source": f"{_cite(RESULTS_CSV)}, {at}",
        }
        top5 = _number(row.get("top5"))
        if top5 is not None:
            entry["top5"] = top5
        where.append(f"metric (top-1){', top5' if top5 is not None else ''}: {RESULTS_CSV} {at}")
        summary["with ImageNet-1k top-1"] += 1
        csv_params = _number(row.get("param_count"))
        if entry["params_m"] is not None and csv_params is not None and abs(entry["params_m"] - csv_params) > 0.0051:
            summary["params_m differs from results-imagenet.csv param_count by more than rounding"] += 1
            disagreements.append(f"params {name}: counted {entry['params_m']} M, {RESULTS_CSV} says {csv_params} M")
    bench_row = bench.get((arch, size[-1]))
    if bench_row is not None:
        at = f"row {arch} at {bench_row['infer_img_size']}px, batch size {bench_row['infer_batch_size']}"
        filled = []
        gmacs = _number(bench_row.get("infer_gmacs"))
        speed = _number(bench_row.get("infer_samples_per_sec"))
        if gmacs is not None and gmacs >= 0:
            entry["gmacs"] = gmacs
            filled.append("gmacs")
        if speed is not None and speed > 0:
            entry["infer_samples_per_sec"] = speed
            filled.append("infer_samples_per_sec")
        if filled:
            where.append(f"{', '.join(filled)}: {BENCHMARK_CSV} {at}")
            summary["with CPU benchmark (gmacs, samples/s)"] += 1
    # pretraining
    parsed = parse_pretraining(tag)
    meta = metadata.get(name)
    pretraining, how = parsed, f"pretraining: tag '{tag}' by the tag rule (scripts/build_timm_catalog.py)"
    if meta is not None and meta["pretrain"] in METADATA_PRETRAIN and cfg.num_classes == 1000:
        data, text = METADATA_PRETRAIN[meta["pretrain"]]
        first_stage = {_same_data(d) for d in pretraining_stages(tag)[0]}
        if parsed is None:
            pretraining = text
            how = f"pretraining: {METADATA_CSV} row {meta['model']} ({meta['pretrain']}); the tag '{tag}' names no data"
            summary["pretraining from model_metadata-in1k.csv (tag names no data)"] += 1
        elif _same_data(data) in first_stage:
            how += f"; {METADATA_CSV} row {meta['model']} agrees ({meta['pretrain']})"
            summary["pretraining agrees with model_metadata-in1k.csv"] += 1
        else:
            pretraining = text
            how = (
                f"pretraining: {METADATA_CSV} row {meta['model']} ({meta['pretrain']}), preferred over the tag rule's "
                f"'{parsed}'"
            )
            summary["pretraining: model_metadata-in1k.csv disagrees with the tag, table used"] += 1
            disagreements.append(f"pretraining {name}: tag rule '{parsed}', {METADATA_CSV} '{meta['pretrain']}'")
    elif meta is not None:
        summary["model_metadata-in1k.csv row not used (unknown value or no 1000-class head)"] += 1
    if pretraining is None:
        summary["pretraining null: the tag names no pre-training data"] += 1
    else:
        entry["pretraining"] = pretraining
        where.append(how)
    entry["source"] = "; ".join(where)
    return entry


def curated_ids() -> set[str]:
    data = json.loads(REGISTRY.read_text(encoding="utf-8"))
    return {m["id"].lower() for m in data["models"]}


def check_against_curated(counts: dict[str, dict[str, Any]]) -> list[str]:
    """Our counted params_m/num_features against every curated timm entry of registry.json."""
    problems = []
    data = json.loads(REGISTRY.read_text(encoding="utf-8"))
    for model in data["models"]:
        name = model["id"].split("/", 1)[1]
        if model["family"] != "timm" or name not in counts or "error" in counts[name]:
            continue
        counted = counts[name]
        if round(counted["params"] / 1e6, 3) != model["params_m"] or counted["num_features"] != model["num_features"]:
            problems.append(
                f"{model['id']}: counted {counted['params'] / 1e6:.3f} M / {counted['num_features']}, "
                f"registry.json {model['params_m']} M / {model['num_features']}"
            )
    return problems


def build(names: list[str], counts: dict[str, dict[str, Any]], timm_version: str) -> tuple[dict[str, Any], str]:
    from timm.models import get_pretrained_cfg

    curated = curated_ids()
    results, bench = results_rows(), benchmark_rows()
    metadata, meta_counts = metadata_rows(names)
    summary: Counter = Counter()
    disagreements: list[str] = []
    skipped: dict[str, list[str]] = defaultdict(list)
    entries: dict[str, dict[str, Any]] = {}
    left_to_curated = []
    unknown_tags: set[str] = set()
    known = set(names)
    variants: dict[str, list[str]] = defaultdict(list)  # Hub id -> other architectures timm builds its file as
    for name in names:
        cfg = get_pretrained_cfg(name)
        hub_id = cfg.hf_hub_id
        if not hub_id:
            skipped["no Hub id in the pretrained cfg"].append(name)
            continue
        if not HUB_ID.match(hub_id) or len(hub_id) > 96:
            skipped["Hub id is not a valid repo id"].append(name)
            continue
        if hub_id.startswith("timm/") and hub_id != f"timm/{name}" and hub_id[5:] in known:
            # Another architecture built from the same file: listed under timm's name for it.
            variants[hub_id.lower()].append(cfg.architecture)
            summary["variant architectures of another weight's file, listed as timm/<name>"] += 1
            entry = build_entry(
                name, cfg, counts[name], results, bench, metadata, timm_version, summary, disagreements, variant=True
            )
            entries[entry["id"].lower()] = entry
            continue
        if hub_id.lower() in curated:
            left_to_curated.append(hub_id)
            skipped["curated in zoo_core/registry.json (the curated entry wins)"].append(name)
            continue
        if hub_id.lower() in entries:
            skipped["Hub id already used by another weight"].append(f"{name} -> {hub_id}")
            continue
        entry = build_entry(name, cfg, counts[name], results, bench, metadata, timm_version, summary, disagreements)
        entries[hub_id.lower()] = entry
        if entry["pretraining"] is None:
            unknown_tags.add(cfg.tag)
    for hub_id, archs in variants.items():
        if hub_id in entries:
            entry = entries[hub_id]
            also = f"timm also builds these weights as {', '.join(sorted(archs))} (listed under timm's names)."
            entry["description"] = f"{entry.get('description', '')} {also}".strip()
            entry["source"] += "; description: pretrained_cfg notes and timm's variant architectures of the same repo"
    models = sorted(entries.values(), key=lambda e: e["id"].lower())
    catalog = {
        "schema_version": 1,
        "description": (
            f"timm {timm_version}: every pretrained weight that timm.list_pretrained() lists with a Hub repo, "
            f"generated by scripts/build_timm_catalog.py from the pretrained configs, models counted on the meta "
            f"device and timm's results tables (plugins/zoo_timm/results/, huggingface/pytorch-image-models@"
            f"{RESULTS_COMMIT}). Curated entries of zoo_core/registry.json win: their ids are in left_to_curated."
        ),
        "generated_by": "scripts/build_timm_catalog.py",
        "left_to_curated": sorted(left_to_curated, key=str.lower),
        "models": models,
    }
    lines = [
        f"timm {timm_version}: {len(names)} pretrained weights, {len(models)} entries written",
        *(f"  skipped {len(v)}: {k}" for k, v in sorted(skipped.items())),
        *(f"  {v}: {k}" for k, v in sorted(summary.items())),
        *(f"  metadata table, {v} {k}" for k, v in sorted(meta_counts.items())),
    ]
    for reason, items in sorted(skipped.items()):
        if not reason.startswith("curated"):
            lines.append(f"  skipped ({reason}): {', '.join(items)}")
    failed = sorted(n for n, c in counts.items() if "error" in c)
    lines += [f"  not built on meta: {n}: {counts[n]['error']}" for n in failed]
    lines += [f"  disagreement: {d}" for d in disagreements]
    if unknown_tags:
        lines.append(f"  tags naming no pre-training data: {', '.join(sorted(unknown_tags))}")
    problems = check_against_curated(counts)
    lines.append(f"  curated timm entries checked against the counts: {len(problems)} differ")
    lines += [f"  curated differs: {p}" for p in problems]
    return catalog, "\n".join(lines)


def dump(catalog: dict[str, Any]) -> str:
    """The catalog as JSON, one model per line (small diffs, fast to read)."""
    head = {k: v for k, v in catalog.items() if k != "models"}
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    models = ",\n".join("  " + json.dumps(m, ensure_ascii=False, separators=(",", ":")) for m in catalog["models"])
    return f'{text},\n "models": [\n{models}\n ]\n}}\n'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--jobs", type=int, default=1, help="processes that build models on the meta device")
    parser.add_argument("--counts-cache", type=Path, help="JSON file of counted models, read and updated")
    parser.add_argument("--limit", type=int, help="only the first N weights (for trying the script)")
    args = parser.parse_args(argv)
    import timm

    names = timm.list_pretrained()
    if args.limit:
        names = names[: args.limit]
    counts = count_models(names, args.jobs, args.counts_cache)
    catalog, summary = build(names, counts, timm.__version__)
    json.loads(dump(catalog))  # the written text is valid JSON
    args.output.write_text(dump(catalog), encoding="utf-8")
    print(summary)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
