"""Issue 3, acceptance 3 (second part): a second `linear_probe` run on the same data reuses the
feature cache. Baseline: the first run in a fresh ZOO_HOME, measured in the same process.

all-MiniLM-L6-v2 on yelp_labelled.tsv (seeded 80/20 split); target: second run >= 5x faster.

    python benchmarks/feature_cache.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import split_train_test, yelp


def main() -> None:
    os.environ["ZOO_HOME"] = tempfile.mkdtemp(prefix="zoo-cache-bench-")  # cold cache, always
    from zoo_core.engine.pipeline import finetune
    from zoo_core.plugins import Zoo

    zoo = Zoo()
    splits = split_train_test(yelp(), 0.2, 0)
    times, accuracies = [], []
    for _ in range(2):
        started = time.perf_counter()
        result = finetune("minilm-l6", splits, method="linear_probe", zoo=zoo, save=False)
        times.append(time.perf_counter() - started)
        accuracies.append(result.metrics["accuracy"])
    print(
        f"first run {times[0]:.2f}s (extracts features), second run {times[1]:.2f}s (cached): "
        f"speed-up {times[0] / times[1]:.1f}x (target >= 5); accuracy {accuracies[0]:.4f} / {accuracies[1]:.4f}"
    )


if __name__ == "__main__":
    main()
