"""Summarize time against network depth: generated plain-conv networks of 1,000 to 10,000 layers.

    python benchmarks/depth_scaling.py [--runs 5]

Each network is `conv f=3 p=same n=16 act=relu` repeated, written out layer by layer (so
the parser and the builder both see every layer). Prints the whole-process median per
depth and the ratio 10,000 / 1,000. Goals (issue 2): 10,000 layers in at most 2 s, and
at most 12x the time of 1,000 (linear growth).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEPTHS = (1_000, 2_000, 5_000, 10_000)


def network(depth: int) -> str:
    lines = ["version: 1", f"name: plain{depth}", "input: 32x32x16", "layers:"]
    lines += ["  - conv f=3 p=same n=16 act=relu"] * depth
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("cnnctl") or sys.exit("install cnnctl first (pip install -e .)")
    medians = {}
    with tempfile.TemporaryDirectory() as tmp:
        for depth in DEPTHS:
            path = Path(tmp) / f"plain{depth}.yaml"
            path.write_text(network(depth))
            subprocess.run([exe, "summarize", str(path)], check=True, stdout=subprocess.DEVNULL)
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run([exe, "summarize", str(path)], check=True, stdout=subprocess.PIPE)
                times.append(time.perf_counter() - start)
            medians[depth] = statistics.median(times)
            print(f"{depth:>6,} layers: median {medians[depth]:.3f} s over {args.runs} runs")
    print(f"ratio 10,000 / 1,000 layers: {medians[10_000] / medians[1_000]:.1f}x")


if __name__ == "__main__":
    main()
