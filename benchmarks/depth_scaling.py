"""Summarize time against network depth: generated plain-conv networks of 1,000 to 100,000 layers.

    python benchmarks/depth_scaling.py [--runs 5] [--format json]

Each network is `conv f=3 p=same n=16 act=relu` repeated, written out layer by layer (so
the parser and the builder both see every layer). Prints the whole-process median and
peak memory (GNU time's) per depth, the time per layer, and the ratios between depths. Goals: 10,000
layers in at most 2 s and at most 12x the time of 1,000 (issue 2); 100,000 layers in at
most 1.5 s with `--format json`, linear in the layers (issue 9).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from children import installed_cnnctl, run

DEPTHS = (1_000, 10_000, 100_000)


def network(depth: int) -> str:
    lines = ["version: 1", f"name: plain{depth}", "input: 32x32x16", "layers:"]
    lines += ["  - conv f=3 p=same n=16 act=relu"] * depth
    return "\n".join(lines) + "\n"


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak MiB of one run (GNU time's: see children.run)."""
    code, out, wall, peak = run(command)
    if code != 0:
        sys.exit(f"failed: {' '.join(command)}\n{out[-2000:]}")
    return wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--format", default="table", choices=("table", "json"))
    args = parser.parse_args()
    exe = installed_cnnctl(gnu_time=True)
    medians = {}
    with tempfile.TemporaryDirectory() as tmp:
        for depth in DEPTHS:
            path = Path(tmp) / f"plain{depth}.yaml"
            path.write_text(network(depth))
            command = [exe, "summarize", str(path), "--format", args.format]
            timed(command)  # warm the file cache and the bytecode
            results = [timed(command) for _ in range(args.runs)]
            medians[depth] = statistics.median(t for t, _ in results)
            peak = max(mib for _, mib in results)
            print(
                f"{depth:>7,} layers: median {medians[depth]:.3f} s over {args.runs} runs "
                f"({medians[depth] / depth * 1e6:.1f} µs a layer), peak {peak:,.0f} MiB"
            )
    for small, big in zip(DEPTHS, DEPTHS[1:], strict=False):
        print(f"ratio {big:,} / {small:,} layers: {medians[big] / medians[small]:.1f}x")


if __name__ == "__main__":
    main()
