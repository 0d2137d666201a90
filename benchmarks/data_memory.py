"""Training on an image folder: host memory and the time to the first step (issue 20).

    python benchmarks/data_memory.py                      # 50,000 JPEGs at 224x224, streamed
    python benchmarks/data_memory.py --images 3000 --size 500x375 --no-stream --steps 0

Generates (once, kept under $CNNCTL_BENCH or /tmp) a folder of `--images` JPEGs of `--size`
in 10 class folders (benchmarks/photos.py); then trains a small network on it at 224x224x3
on the CPU in a child process, the data streamed or held in memory as cnnctl chooses (or as
--stream / --no-stream force), with `--workers` loader processes; the run is stopped after
`--steps` steps of 64 images as a Ctrl-C would (0: one whole epoch). The parent samples
every 50 ms the resident memory of the trainer and all its descendants (the loader
workers) summed, and reads when the first step ended.

Goals: 50,000 JPEGs at 224x224 (7.5 GB decoded, refused before streaming) streamed with the
trainer and its workers together below 2 GB and the first step within 10 s; 3,000 photos
of 500x375 held in memory with a peak below 1.5 GB (9.2 GB before).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import make_photos  # noqa: E402

NET = Path(__file__).resolve().parent / "tiny.yaml"  # a few strided convolutions: what is measured is the data

CHILD = """
import json, sys, time
import cnnctl
from cnnctl.train.config import TrainConfig
from cnnctl.train.loop import train
net, data, out, steps, workers, marks, stream = sys.argv[1:8]
first = []
def hook(taken):
    if taken == 1:
        first.append(time.time())
        open(marks, "w").write(json.dumps({"first_step": first[0]}))
    return int(steps) > 0 and taken >= int(steps)
stream = {"auto": None, "stream": True, "memory": False}[stream]
config = TrainConfig(data=data, epochs=1, batch_size=64, device="cpu", out=out, workers=int(workers), stream=stream,
                     val_split=0.0)
train(cnnctl.load(net), config, network_title="tiny", hooks=[hook])
"""


def tree_memory(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of `pid` and all its descendants summed, in bytes (from /proc). PSS counts a
    page shared by the forked loader workers (torch's libraries, the trainer's pages) once,
    shared out; RSS counts it in every process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    pss = rss = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith(("Pss:", "Rss:")):
                        value = int(line.split()[1]) * 1024
                        pss, rss = (pss + value, rss) if line.startswith("Pss:") else (pss, rss + value)
        except OSError:  # the process ended between the listing and now
            continue
    return pss, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--size", default="224x224", help="WIDTHxHEIGHT of the JPEGs")
    parser.add_argument("--steps", type=int, default=150, help="steps of 64 images, then stop (0: a whole epoch)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stream", dest="mode", action="store_const", const="stream", default="auto")
    parser.add_argument("--no-stream", dest="mode", action="store_const", const="memory")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    root = Path(os.environ.get("CNNCTL_BENCH", tempfile.gettempdir())) / f"photos-{args.images}-{width}x{height}"
    started = time.time()
    make_photos(root, args.images, size=(width, height))
    print(f"folder: {root} ({args.images:,} JPEGs, {time.time() - started:.0f} s to make or find)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        net, marks = NET, Path(tmp) / "marks.json"
        command = [sys.executable, "-c", CHILD, str(net), str(root), str(Path(tmp) / "run"), str(args.steps),
                   str(args.workers), str(marks), args.mode]  # fmt: skip
        start = time.time()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak_pss = peak_rss = 0
        while child.poll() is None:
            pss, rss = tree_memory(child.pid)
            peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
            time.sleep(0.05)
        end = time.time()
        output = child.stdout.read()
        if child.returncode not in (0, 130):
            sys.exit(f"training failed ({child.returncode}):\n{output}")
        first = json.loads(marks.read_text())["first_step"] - start
    print("\n".join(line for line in output.splitlines() if line.startswith("data:")))
    images = args.steps * 64 if args.steps else args.images
    print(f"first step after {first:.1f} s; {images:,} images trained, whole process {end - start:.1f} s")
    print(f"peak memory, the trainer and its loader workers together: {peak_pss / 1e9:.2f} GB PSS "
          f"({peak_rss / 1e9:.2f} GB RSS summed, shared pages counted in every process)")  # fmt: skip


if __name__ == "__main__":
    main()
