"""Issues 2 and 20: wall time of `zoo models list --json` and `zoo models show <id>` as ratios to
`python -c "import torch"`, over the whole catalog (registry.json plus the plugins' catalogs, ~1,900
models with the timm plugin's generated catalog).

All are run as fresh processes, alternating, `--repeats` times; medians are compared.
Target: each ratio under 0.25 (listing or showing the catalog must not cost a torch import).

    python benchmarks/cli_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

ZOO = [sys.executable, "-c", "from zoo_core.cli import main; main()"]


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--show", default="timm/convnext_tiny.fb_in22k", help="the model 'zoo models show' shows")
    args = parser.parse_args()
    commands = {
        "zoo models list --json": [*ZOO, "models", "list", "--json"],
        f"zoo models show {args.show}": [*ZOO, "models", "show", args.show],
    }
    baseline = [sys.executable, "-c", "import torch"]
    listed = subprocess.run(commands["zoo models list --json"], check=True, capture_output=True, text=True).stdout
    for cmd in [*commands.values(), baseline]:  # warm the file cache for all
        wall(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    torch_times = []
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            times[name].append(wall(cmd))
        torch_times.append(wall(baseline))
    torch_median = statistics.median(torch_times)
    print(f"catalog: {len(json.loads(listed))} models")
    print(f"python -c 'import torch': {torch_median * 1000:.0f} ms (median of {args.repeats})")
    for name, values in times.items():
        median = statistics.median(values)
        ratio = median / torch_median
        print(f"{name}: {median * 1000:.0f} ms (median of {args.repeats}), ratio {ratio:.3f} (target < 0.25)")


if __name__ == "__main__":
    main()
