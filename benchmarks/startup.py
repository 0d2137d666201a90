"""How long `cnnctl summarize resnet152` takes as a whole process, and that torch stays out.

    python benchmarks/startup.py [--runs 21] [--arch resnet152]

Runs the installed `cnnctl` console script (as a user would), output to a pipe, and
prints the median, min and max wall time. Python's bytecode cache is filled first so
the numbers are those of a normal install (pip compiles .pyc files at install time;
an environment with PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every run).
The goal (issue 2): median <= 0.15 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import time
from pathlib import Path

from children import installed_cnnctl

import cnnctl


def time_runs(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.PIPE)
        times.append(time.perf_counter() - start)
    return times


def torch_free(arch: str) -> bool:
    probe = (
        "import sys, io, contextlib, cnnctl.cli\n"
        f"sys.argv = ['cnnctl', 'summarize', {arch!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        cnnctl.cli.main()\n    except SystemExit:\n        pass\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return out.strip() == "False"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--arch", default="resnet152")
    args = parser.parse_args()
    compileall.compile_dir(str(Path(cnnctl.__file__).parent), quiet=1)
    exe = installed_cnnctl()
    times = time_runs([exe, "summarize", args.arch], args.runs)
    bare = time_runs([sys.executable, "-c", "pass"], args.runs)
    print(
        f"cnnctl summarize {args.arch}: median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s over {args.runs} runs"
    )
    print(f"(python -c pass: median {statistics.median(bare):.3f} s)")
    print(f"torch imported: {'no' if torch_free(args.arch) else 'YES'}")


if __name__ == "__main__":
    main()
