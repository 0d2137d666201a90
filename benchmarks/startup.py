"""How long `cnnctl summarize resnet152` takes as a whole process: this tree's command line
(typer) against the argparse one it replaced (commit 19eb714), paired in one run.

    python benchmarks/startup.py [--runs 21] [--arch resnet152] [--baseline 19eb714]

The baseline's package is taken from git (`git archive`) into a temporary folder; both are
run as `python -m cnnctl summarize ARCH`, output to a pipe, taking turns (this tree, then the
baseline, run after run) so that a busy machine slows both alike. Python's bytecode cache is
filled first for both, as pip does at install time. Prints each median, min and max, the
ratio of the medians (the issue's target: at most 4/3), and typer's own import time.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def baseline_tree(commit: str, into: Path) -> Path:
    """The package (and its bundled networks) at `commit`, written under `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "cnnctl", "architectures"],
                             check=True, capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def command(tree: Path, arch: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return [sys.executable, "-m", "cnnctl", "summarize", arch], env


def time_once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE)
    return time.perf_counter() - start


def import_ms(module: str) -> float:
    """`python -X importtime -c 'import MODULE'`: the module's cumulative import, in ms."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                         text=True, check=True).stderr  # fmt: skip
    last = [ln for ln in err.splitlines() if ln.rstrip().endswith(f"| {module}")][-1]
    return int(last.split("|")[1]) / 1000


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--arch", default="resnet152")
    parser.add_argument("--baseline", default="19eb714", help="The commit of the argparse command line.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"typer (this tree)": ROOT, f"argparse ({args.baseline})": baseline_tree(args.baseline, Path(tmp))}
        commands = {name: command(tree, args.arch) for name, tree in trees.items()}
        for tree in trees.values():
            compileall.compile_dir(str(tree / "cnnctl"), quiet=1)
        for cmd, env in commands.values():  # warm the file cache, and check that both run
            subprocess.run(cmd, env=env, check=True, capture_output=True)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (cmd, env) in commands.items():
                times[name].append(time_once(cmd, env))
    bare = [time_once([sys.executable, "-c", "pass"], dict(os.environ)) for _ in range(args.runs)]
    for name, measured in times.items():
        print(f"cnnctl summarize {args.arch}, {name}: {summary(measured)} over {args.runs} runs")
    new, old = (statistics.median(t) for t in times.values())
    print(f"typer / argparse: {new / old:.2f}x ({(new - old) * 1000:+.0f} ms); target: at most 1.33x")
    print(f"(python -c pass: median {statistics.median(bare):.3f} s; import typer alone: {import_ms('typer'):.0f} ms)")


if __name__ == "__main__":
    main()
