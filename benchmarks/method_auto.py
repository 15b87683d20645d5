"""Issue 16, acceptance 5: what ``zoo finetune --method auto`` picks, and why, on every development
and confirmation set of the defaults protocol (BENCHMARKS.md), with all the training data, with 8
examples per class, and with unlabelled target data. The choice is made before any model is built
(``zoo_core.engine.pipeline.resolve_auto_method``), so no training runs here.

    python benchmarks/method_auto.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol import BLOCKS, MODELS, sets


def main() -> None:
    from zoo_core.engine.pipeline import resolve_auto_method
    from zoo_core.engine.settings import FinetuneConfig
    from zoo_core.plugins import Zoo

    zoo = Zoo()
    scratch = Path(tempfile.mkdtemp(prefix="zoo-bench-auto-"))
    print("| block | set | training data | examples per class (smallest) | picked | reason |")
    print("|---|---|---|---|---|---|")
    for modality, model in MODELS.items():
        entry = zoo.catalog.get(model)
        for block in BLOCKS:
            for name, load in sets(modality, block, scratch).items():
                train = load().train
                smallest = min(train.counts().values())
                cases = [
                    ("all labels", FinetuneConfig(method="auto")),
                    ("8 per class", FinetuneConfig(method="auto", shots=8)),
                    ("all labels + unlabelled target", FinetuneConfig(method="auto", unlabeled="target")),
                ]
                for what, config in cases:
                    chosen, note = resolve_auto_method(entry, config, train)
                    per_class = 8 if config.shots else smallest
                    reason = note.split(" because ", 1)[1]
                    print(f"| {block} | {name} | {what} | {per_class} | {chosen.method} | {reason} |", flush=True)


if __name__ == "__main__":
    main()
