"""Whole-process time of the designer's commands (issue 10's goal: each under 0.3 s).

    python benchmarks/design_speed.py [--runs 11]

Runs the installed `cnnctl` as a user would, each command alone, and prints the median and
the fastest of the runs. Shared machines vary: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from children import installed_cnnctl, run

COMMANDS = (
    ["memory", "resnet152", "--budget", "80GiB"],
    ["compare", "resnet50", "efficientnet_b0", "convnext_tiny"],
    ["flops", "resnet152", "--per-layer", "--profile", "h100"],
    ["summarize", "efficientnet_b0"],
)
GOAL = 0.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    runs = parser.parse_args().runs
    exe = installed_cnnctl(gnu_time=True)
    print(f"{'command':<58} {'median s':>9} {'fastest s':>9}  goal {GOAL} s")
    failed = False
    for command in COMMANDS:
        times = []
        for _ in range(runs):
            code, out, wall, _peak = run([exe, *command])
            if code != 0:
                sys.exit(f"failed: cnnctl {' '.join(command)}\n{out[-2000:]}")
            times.append(wall)
        median = statistics.median(times)
        failed |= median > GOAL and command[0] in ("memory", "compare")
        print(f"cnnctl {' '.join(command):<51} {median:>9.3f} {min(times):>9.3f}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
