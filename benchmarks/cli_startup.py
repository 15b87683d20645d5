"""Issue 2, acceptance 1: wall time of `zoo models list --json` as a ratio to `python -c "import torch"`.

Both are run as fresh processes, alternating, `--repeats` times; medians are compared.
Target: ratio under 0.25 (listing the catalog must not cost a torch import).

    python benchmarks/cli_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    listing = [sys.executable, "-c", "from zoo_core.cli import main; main()", "models", "list", "--json"]
    baseline = [sys.executable, "-c", "import torch"]
    wall(listing), wall(baseline)  # warm the file cache for both
    zoo_times, torch_times = [], []
    for _ in range(args.repeats):
        zoo_times.append(wall(listing))
        torch_times.append(wall(baseline))
    zoo_median, torch_median = statistics.median(zoo_times), statistics.median(torch_times)
    print(f"zoo models list --json: {zoo_median * 1000:.0f} ms (median of {args.repeats})")
    print(f"python -c 'import torch': {torch_median * 1000:.0f} ms (median of {args.repeats})")
    print(f"ratio {zoo_median / torch_median:.3f} (target < 0.25)")


if __name__ == "__main__":
    main()
