"""Folders of photo-like JPEGs for the data benchmarks (issue 20), made once and kept.

    python benchmarks/photos.py DIR N [--size 500x375]

`make_photos(root, n, size=(500, 375))` writes `n` JPEGs (quality 90) into 10 class folders
`c0` ... `c9`: blurred discs of random colours on a random background, with noise, so they
cost what a photo costs to decode (about 30 KB at 500x375, as ImageNet's average image).
Image i depends on i alone; a folder already complete (its `.complete` file names the
parameters) is kept as it is.
"""

from __future__ import annotations

import argparse
import os
import random
from multiprocessing import get_context
from pathlib import Path

CLASSES = 10


def _one(job: tuple[str, int, int, int]) -> None:
    from PIL import Image, ImageDraw, ImageFilter

    root, i, w, h = job
    rnd = random.Random(i)
    image = Image.new("RGB", (w, h), tuple(rnd.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, r = rnd.randrange(w), rnd.randrange(h), rnd.randrange(max(2, w // 25), max(3, w // 4))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rnd.randrange(256) for _ in range(3)))
    image = image.filter(ImageFilter.GaussianBlur(2))
    image = Image.blend(image, Image.effect_noise((w, h), 24).convert("RGB"), 0.12)
    image.save(Path(root) / f"c{i % CLASSES}" / f"{i:07d}.jpg", quality=90)


def make_photos(root: str | Path, n: int, size: tuple[int, int] = (500, 375), processes: int | None = None) -> Path:
    """`n` JPEGs of `size` (width, height) in `root`/c0 ... c9; kept when already made."""
    root = Path(root)
    done = root / ".complete"
    stamp = f"{n} {size[0]}x{size[1]}\n"
    if done.is_file() and done.read_text() == stamp:
        return root
    for c in range(CLASSES):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
    # Fresh processes, not forks: a caller that has imported torch has threads (OpenMP's), and a
    # fork taken while one of them holds a lock waits on that lock for ever. Ended by close and
    # join, not the context manager's terminate(): a SIGTERM the caller ignores, its workers
    # ignore too, and terminate() would wait on them for ever (gpu_check's dry run hung so in CI).
    pool = get_context("spawn").Pool(processes or os.cpu_count())
    try:
        pool.map(_one, [(str(root), i, *size) for i in range(n)], chunksize=64)
    finally:
        pool.close()
        pool.join()
    done.write_text(stamp)
    return root


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("n", type=int)
    parser.add_argument("--size", default="500x375", help="WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(make_photos(args.root, args.n, (width, height)))
