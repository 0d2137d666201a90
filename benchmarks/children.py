"""What the benchmarks that run the installed `cnnctl` share: finding it, and measuring one
child process the way GNU time does."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GNU_TIME = "/usr/bin/time"


def installed_cnnctl(gnu_time: bool = False) -> str:
    """The installed `cnnctl` console script, run as a user would; with `gnu_time`, also
    check that GNU time is there to measure it."""
    exe = shutil.which("cnnctl") or sys.exit("install cnnctl first (pip install -e .)")
    if gnu_time and not Path(GNU_TIME).is_file():
        sys.exit("this benchmark measures peak memory with GNU time: apt-get install time")
    return exe


def run(command: list[str], cwd: Path | None = None) -> tuple[int, str, float, float]:
    """(exit code, output, seconds, peak MiB) of one child process, run alone.

    The peak is GNU time's (`/usr/bin/time -f %M`): Linux starts a child's peak memory at
    its parent's, so a Python parent would lend it its own tens of MB.
    """
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as peak:
        start = time.perf_counter()
        code = subprocess.run(
            [GNU_TIME, "-q", "-f", "%M", "-o", peak.name, *command],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
        wall = time.perf_counter() - start
        out.seek(0)
        return code, out.read().decode("utf-8", "replace"), wall, int(peak.read().split()[-1]) / 1024
