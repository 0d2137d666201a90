"""cnnctl's streaming loader against the DataLoader script a user would write (issue 20).

    python benchmarks/loader_speed.py [--images 3000] [--size 500x375] [--workers 2] [--rounds 3]

The data: `--images` JPEGs of `--size` (benchmarks/photos.py). Both loaders make batches of
64 images at 224x224x3 with a random resized crop (area 0.08-1, aspect 3/4-4/3) and a
flip, with the same number of worker processes, and are iterated alone, without a model:

- the plain script: `torch.utils.data.DataLoader(num_workers=N, shuffle=True)` over a
  Dataset that opens each file with Pillow, converts it to RGB, crops and resizes it in one
  `resize(box=...)`, flips it, and returns it as a float tensor / 255, normalised with
  ImageNet's mean and std (ToTensor and Normalize), the default collate stacking the batch;
- cnnctl's stream (cnnctl.train.stream.Stream) as `cnnctl train --stream --augment rrc,flip`
  builds it: batches requested whole, decoded as stored (a JPEG reduced while decoding where
  the crop allows), cropped in whole pixels, resized by PyTorch's uint8 kernel and flipped in
  the workers, handed over as uint8 and normalised to float in this process.

This process, which only counts the batches (and normalises cnnctl's), runs with one
PyTorch thread: the cores are the workers', and a second thread spinning between its
short tasks would take their time.

The two take turns, round by round (each round one epoch over the folder, after one epoch
of warm-up that fills the file cache and starts the workers); images/s per round and the
ratio of the medians are printed.

Goal: cnnctl's loader at least 1.5 times the plain script's rate, on the same workers.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import make_photos  # noqa: E402

SIDE, BATCH = 224, 64
MEAN = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1)  # ImageNet's, as both loaders normalise
STD = torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)


class PlainPhotos(torch.utils.data.Dataset):
    """The per-image Dataset of the script a user writes with Pillow alone."""

    def __init__(self, root: Path):
        self.files = sorted((str(p), int(p.parent.name[1:])) for p in root.glob("c*/*.jpg"))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image

        path, label = self.files[i]
        image = Image.open(path).convert("RGB")
        width, height = image.size
        area = random.uniform(0.08, 1.0) * width * height
        ratio = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = min(width, round(math.sqrt(area * ratio))), min(height, round(math.sqrt(area / ratio)))
        x, y = random.randint(0, width - w), random.randint(0, height - h)
        image = image.resize((SIDE, SIDE), Image.Resampling.BILINEAR, box=(x, y, x + w, y + h))
        if random.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(SIDE, SIDE, 3)
        return pixels.permute(2, 0, 1).float().div_(255).sub_(MEAN).div_(STD), label  # ToTensor, Normalize


def plain_epochs(root: Path, workers: int):
    loader = torch.utils.data.DataLoader(PlainPhotos(root), batch_size=BATCH, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0, drop_last=True)  # fmt: skip
    while True:
        yield loader


def cnnctl_epochs(root: Path, workers: int):
    from cnnctl.data import load_data
    from cnnctl.data.loader import Recipe
    from cnnctl.data.stats import given
    from cnnctl.train.stream import Stream

    stats = given((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 3, "ImageNet's")
    data = load_data(str(root), (SIDE, SIDE, 3), stream=True, workers=workers, stats=stats, val_split=0.0)
    stream = Stream(data.train, (SIDE, SIDE, 3), stats.mean, stats.std, torch.device("cpu"), workers=workers,
                    recipe=Recipe("rrc", flip=True))  # fmt: skip
    epoch = 0
    while True:
        yield stream.epoch(epoch, 0, BATCH, 0, 1)
        epoch += 1


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live children (the loader workers),
    from /proc: a measure that other load on the machine barely moves, beside the wall clock."""
    tick, me, total = os.sysconf("SC_CLK_TCK"), os.getpid(), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(stat.parent.name) == me or int(fields[1]) == me:  # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def rate(batches) -> tuple[float, float]:
    """Images per second of wall time and CPU milliseconds per image over one epoch."""
    start, cpu, images = time.perf_counter(), cpu_seconds(), 0
    for _, y in batches:
        images += len(y)
    return images / (time.perf_counter() - start), (cpu_seconds() - cpu) * 1000 / images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--size", default="500x375", help="WIDTHxHEIGHT of the JPEGs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    width, height = (int(v) for v in args.size.lower().split("x"))
    root = Path(os.environ.get("CNNCTL_BENCH", tempfile.gettempdir())) / f"photos-{args.images}-{width}x{height}"
    make_photos(root, args.images, size=(width, height))
    loaders = {
        "plain DataLoader + Pillow": plain_epochs(root, args.workers),
        "cnnctl stream": cnnctl_epochs(root, args.workers),
    }
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    cpu: dict[str, list[float]] = {name: [] for name in loaders}
    for epochs in loaders.values():  # warm-up: the file cache, the workers' start
        rate(next(epochs))
    for _ in range(args.rounds):
        for name, epochs in loaders.items():
            images_per_s, ms_per_image = rate(next(epochs))
            rates[name].append(images_per_s)
            cpu[name].append(ms_per_image)
    print(f"{args.images:,} JPEGs of {width}x{height} to {SIDE}x{SIDE}, random resized crop + flip, "
          f"{args.workers} workers, {os.cpu_count()} cores; CPU time of this process and its workers")  # fmt: skip
    for name, values in rates.items():
        print(
            f"  {name:<28} {statistics.median(values):8,.0f} img/s  (rounds: {', '.join(f'{v:,.0f}' for v in values)})"
            f"  {statistics.median(cpu[name]):.2f} CPU ms/image"
        )
    plain, ours = (statistics.median(v) for v in rates.values())
    plain_cpu, ours_cpu = (statistics.median(v) for v in cpu.values())
    print(f"  cnnctl / plain: {ours / plain:.2f}x the images per second, {plain_cpu / ours_cpu:.2f}x per CPU second")


if __name__ == "__main__":
    main()
