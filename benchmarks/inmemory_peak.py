"""Peak memory and start-up of `cnnctl train` on a folder of ImageNet-sized photos (issue 20).

    python benchmarks/inmemory_peak.py [--photos DIR] [--count 3000] [--mode memory|stream|default]

Runs `cnnctl train benchmarks/tiny.yaml --data PHOTOS --epochs 1 --device cpu` in a
subprocess on `--count` JPEGs of 500x375 in 10 classes (benchmarks/photos.py makes them once)
at the network's 224x224x3, and samples /proc every 50 ms for the process tree (the trainer
and its DataLoader workers): the sum of their RSS, and of their PSS (shared pages, such as
torch's libraries in forked workers, counted once across the tree: the honest total); and
the largest single process's RSS (getrusage of the children). Times: until the trainer's
first line (`training on ...`: the data is loaded and adapted, the first step follows) and
the whole run. `--mode memory` passes `--no-stream` where `cnnctl train` has that option
(data held in memory), `stream` passes `--stream`, `default` neither.
Issue 20's target: peak below 1.5 GB for 3,000 photos (9.2 GB before it).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from photos import folder_bytes, make_photos

HERE = Path(__file__).resolve().parent
TINY = HERE / "tiny.yaml"
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += _children(p)
    return found


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


class Sampler(threading.Thread):
    """The peak RSS and PSS sums of a process tree, sampled every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_pss = self.most_processes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pids = tree(self.pid)
            self.most_processes = max(self.most_processes, len(pids))
            self.peak_rss = max(self.peak_rss, sum(rss(p) for p in pids))
            self.peak_pss = max(self.peak_pss, sum(pss(p) for p in pids))
            time.sleep(self.every)


def mode_options(mode: str) -> list[str]:
    """The option that asks `cnnctl train` for `mode`, where it has one (read from its --help)."""
    if mode == "default":
        return []
    helps = subprocess.run([sys.executable, "-m", "cnnctl", "train", "--help"], capture_output=True, text=True).stdout
    option = "--no-stream" if mode == "memory" else "--stream"
    if option in helps:
        return [option]
    if mode == "stream":
        sys.exit("this cnnctl has no --stream: cannot measure streaming")
    return []  # no streaming yet: the data is held in memory anyway


def measure(photos: Path, mode: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "cnnctl", "train", str(TINY), "--data", str(photos), "--epochs", "1",
                   "--device", "cpu", "--out", str(Path(out) / "run"), *mode_options(mode)]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sampler = Sampler(process.pid)
        sampler.start()
        first_line, lines = None, []
        for line in process.stdout:
            lines.append(line.rstrip())
            if first_line is None and line.startswith(("training on", "resuming on")):
                first_line = time.perf_counter() - started
        code = process.wait()
        whole = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
    if code != 0:
        print("\n".join(lines[-20:]))
        sys.exit(f"cnnctl train failed (exit {code})")
    biggest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    return {"first_line": first_line, "whole": whole, "rss_tree": sampler.peak_rss, "pss_tree": sampler.peak_pss,
            "biggest": biggest, "processes": sampler.most_processes, "lines": lines}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=os.path.join(tempfile.gettempdir(), "cnnctl-bench-photos-3000"))
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--mode", choices=("memory", "stream", "default"), default="memory")
    args = parser.parse_args()
    photos = make_photos(args.photos, args.count, (500, 375))
    print(f"{args.count:,} JPEGs of 500x375 in {photos} ({folder_bytes(photos) / 1e6:.1f} MB), trained at 224x224x3")
    result = measure(photos, args.mode)
    for line in result["lines"]:
        if line.startswith(("data:", "training on")):
            print(f"  | {line}")
    pss, rss, biggest = (result[k] / 1e9 for k in ("pss_tree", "rss_tree", "biggest"))
    print(f"peak memory: {pss:.2f} GB PSS over the process tree ({rss:.2f} GB RSS summed, "
          f"{result['processes']} processes at most); largest process {biggest:.2f} GB RSS")  # fmt: skip
    print(
        f"first step after {result['first_line']:.1f} s (the trainer's first line); whole run {result['whole']:.1f} s"
    )


if __name__ == "__main__":
    main()
