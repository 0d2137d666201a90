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

NET = """name: tiny224
input: 224x224x3
layers:
  - conv f=7 s=4 p=3 n=16
  - bn
  - relu
  - conv f=3 s=2 p=1 n=32
  - bn
  - relu
  - conv f=3 s=2 p=1 n=64
  - bn
  - relu
  - pool avg global
  - fc 10
"""

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
train(cnnctl.load(net), config, arch="tiny224", hooks=[hook])
"""


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parent, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


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
        net, marks = Path(tmp) / "tiny224.yaml", Path(tmp) / "marks.json"
        net.write_text(NET)
        command = [sys.executable, "-c", CHILD, str(net), str(root), str(Path(tmp) / "run"), str(args.steps),
                   str(args.workers), str(marks), args.mode]  # fmt: skip
        start = time.time()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while child.poll() is None:
            peak = max(peak, tree_rss(child.pid))
            time.sleep(0.05)
        end = time.time()
        output = child.stdout.read()
        if child.returncode not in (0, 130):
            sys.exit(f"training failed ({child.returncode}):\n{output}")
        first = json.loads(marks.read_text())["first_step"] - start
    print("\n".join(line for line in output.splitlines() if line.startswith("data:")))
    images = args.steps * 64 if args.steps else args.images
    print(f"first step after {first:.1f} s; {images:,} images trained, whole process {end - start:.1f} s")
    print(f"peak memory, trainer and {args.workers} loader workers together: {peak / 2**30:.2f} GiB "
          f"({peak / 1e9:.2f} GB)")  # fmt: skip


if __name__ == "__main__":
    main()
