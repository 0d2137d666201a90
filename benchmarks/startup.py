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


def time_once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one run. The CPU time is what the
    process itself spent; on a shared machine it moves far less than the wall time."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir())  # no ./cnnctl
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime


def import_ms(module: str) -> float:
    """`python -X importtime -c 'import MODULE'`: the module's cumulative import, in ms."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                         text=True, check=True).stderr  # fmt: skip
    last = [ln for ln in err.splitlines() if ln.rstrip().endswith(f"| {module}")][-1]
    return int(last.split("|")[1]) / 1000


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s"


def medians(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--arch", default="resnet152")
    parser.add_argument("--baseline", default="19eb714", help="The commit of the argparse command line.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"typer (this tree)": ROOT, f"argparse ({args.baseline})": baseline_tree(args.baseline, Path(tmp))}
        commands = {name: command(tree, args.arch) for name, tree in trees.items()}
        probe = "import cnnctl.cli; print(cnnctl.cli.__file__.endswith('__init__.py'))"
        for name, (_, env) in commands.items():  # each runs its own tree (the typer one has cnnctl/cli/)
            found = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tempfile.gettempdir(), check=True,
                                   capture_output=True, text=True).stdout  # fmt: skip
            print(f"{name}: {'cnnctl/cli/ package' if 'True' in found else 'cnnctl/cli.py'}")
        for tree in trees.values():
            compileall.compile_dir(str(tree / "cnnctl"), quiet=1)
        for cmd, env in commands.values():  # warm the file cache, and check that both run
            subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=tempfile.gettempdir())
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (cmd, env) in commands.items():
                times[name].append(time_once(cmd, env))
    bare = [time_once([sys.executable, "-c", "pass"], dict(os.environ)) for _ in range(args.runs)]
    for name, measured in times.items():
        print(f"cnnctl summarize {args.arch}, {name}, wall: {summary([w for w, _ in measured])}; "
              f"CPU: {summary([c for _, c in measured])} over {args.runs} runs")  # fmt: skip
    (new, new_cpu), (old, old_cpu) = (medians(t) for t in times.values())
    print(f"typer / argparse, wall: {new / old:.2f}x ({(new - old) * 1000:+.0f} ms); CPU: {new_cpu / old_cpu:.2f}x "
          f"({(new_cpu - old_cpu) * 1000:+.0f} ms); target: at most 1.33x")  # fmt: skip
    bare_wall, bare_cpu = medians(bare)
    print(f"(python -c pass: median {bare_wall:.3f} s wall, {bare_cpu:.3f} s CPU; import typer alone: "
          f"{import_ms('typer'):.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
