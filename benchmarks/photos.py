"""ImageNet-like JPEG folders for the data benchmarks: one subfolder per class of photos.

    python benchmarks/photos.py ROOT [--count 3000] [--size 500x375]

`make_photos(root, n, size=(500, 375))` writes `n` JPEGs of `size` (width x height, as
photos are described) in `classes` subfolders, or finds them already written with the same
parameters (a `photos.json` in `root` records them, written last: an interrupted run is
made again). The content is not trivially compressible, so decoding costs what a photo's
does: smooth random shapes (ellipses and rectangles in random colours, blurred) under
Gaussian noise; at 500x375 and quality 90 a file is about 25-30 KB, as ImageNet's are (the
issue's 3,000 photos were 84 MB). Written by worker processes, one class folder each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

NOISE = 3.5  # standard deviation of the per-pixel noise, in 0..255 levels
BLUR = 2.0  # radius of the Gaussian blur that makes the shapes smooth
SHAPES = 12  # shapes drawn per image


def _photo(width: int, height: int, seed: int):
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    base = (top * (1 - ramp) + bottom * ramp) * np.ones((1, width, 1))
    image = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(SHAPES):
        x0, y0 = int(rng.integers(-width // 4, width)), int(rng.integers(-height // 4, height))
        x1, y1 = x0 + int(rng.integers(width // 10, width // 2)), y0 + int(rng.integers(height // 10, height // 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    smooth = np.asarray(image.filter(ImageFilter.GaussianBlur(BLUR)), dtype=np.float32)
    noisy = smooth + rng.normal(0.0, NOISE, smooth.shape).astype(np.float32)
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8), "RGB")


def _write_class(folder: str, first: int, count: int, size: tuple[int, int], seed: int, quality: int) -> int:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + count):
        _photo(*size, seed * 1_000_003 + i).save(out / f"{i:06d}.jpg", quality=quality)
    return count


def make_photos(
    root: str | os.PathLike,
    n: int,
    size: tuple[int, int] = (500, 375),
    classes: int = 10,
    seed: int = 0,
    quality: int = 90,
    workers: int | None = None,
) -> Path:
    """`root` holding `n` JPEGs of `size` (width, height) in `classes` class folders; made
    only where `root` does not hold them already for these parameters."""
    root = Path(root)
    params = {"n": n, "size": list(size), "classes": classes, "seed": seed, "quality": quality}
    record = root / "photos.json"
    if record.is_file() and json.loads(record.read_text()) == params:
        return root
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    workers = workers or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    per_class = [n // classes + (c < n % classes) for c in range(classes)]
    starts = [sum(per_class[:c]) for c in range(classes)]
    # Parts of at most 500 images, so a few classes do not leave the other workers idle.
    jobs = []
    for c in range(classes):
        for first in range(starts[c], starts[c] + per_class[c], 500):
            count = min(500, starts[c] + per_class[c] - first)
            jobs.append((str(root / f"class{c:02d}"), first, count, size, seed, quality))
    with ProcessPoolExecutor(workers) as pool:
        done = sum(pool.map(_write_class, *zip(*jobs, strict=True)))
    assert done == n
    record.write_text(json.dumps(params))
    return root


def folder_bytes(root: str | os.PathLike) -> int:
    return sum(p.stat().st_size for p in Path(root).rglob("*.jpg"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--size", default="500x375", help="width x height")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    root = make_photos(args.root, args.count, (width, height))
    total = folder_bytes(root)
    each = total / args.count / 1e3
    print(f"{root}: {args.count:,} JPEGs of {width}x{height}, {total / 1e6:.1f} MB ({each:.1f} KB each)")


if __name__ == "__main__":
    main()
