"""Issue 20: wall time of a filtered, sorted `zoo models list` as a ratio to `python -c "import torch"`.

The command is the issue's example,
`zoo models list --task image-classification --max-params 10M --license apache-2.0 --sort top1`
(the table, as a user sees it). Both are run as fresh processes, alternating, `--repeats` times, after
one warm-up run of each; medians are compared. Target: ratio under 0.25 (filtering the catalog,
plugin catalogs included, must not cost a torch import). Prints how many catalog models were
searched, so the ratio can be read against the catalog's size.

    python benchmarks/models_filter_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

FILTERS = ["--task", "image-classification", "--max-params", "10M", "--license", "apache-2.0", "--sort", "top1"]


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    zoo = [sys.executable, "-c", "from zoo_core.cli import main; main()"]
    listing = [*zoo, "models", "list", *FILTERS]
    baseline = [sys.executable, "-c", "import torch"]
    wall(listing), wall(baseline)  # warm the file cache for both
    zoo_times, torch_times = [], []
    for _ in range(args.repeats):
        zoo_times.append(wall(listing))
        torch_times.append(wall(baseline))
    everything = json.loads(subprocess.run([*zoo, "models", "list", "--json"], capture_output=True, check=True).stdout)
    matched = json.loads(subprocess.run([*listing, "--json"], capture_output=True, check=True).stdout)
    zoo_median, torch_median = statistics.median(zoo_times), statistics.median(torch_times)
    print(f"catalog: {len(everything)} models; the filters keep {len(matched)}")
    print(f"zoo models list {' '.join(FILTERS)}: {zoo_median * 1000:.0f} ms (median of {args.repeats})")
    print(f"python -c 'import torch': {torch_median * 1000:.0f} ms (median of {args.repeats})")
    print(f"ratio {zoo_median / torch_median:.3f} (target < 0.25)")


if __name__ == "__main__":
    main()
