"""The loading speed of the script a user would write: a plain DataLoader over the photos.

    python benchmarks/loader_plain.py [--photos DIR] [--count 3000] [--workers 2] [--epochs 2]

The yardstick for cnnctl's streaming loader (issue 20): a Dataset that opens each JPEG with
Pillow, converts it to RGB, crops a random box as torchvision's RandomResizedCrop draws it
(8-100% of the area, aspect ratio 3/4 to 4/3; the centre crop after 10 misses), resizes it
to 224x224 (bilinear), flips half of them, and makes a float tensor / 255 (as ToTensor
does); `DataLoader(num_workers=N, batch_size=64, shuffle=True)` with the default collate.
Loading only, no model. The photos (benchmarks/photos.py) are in the file cache after
they are made, so no epoch reads the disk; the first epoch also starts the workers, so the
figure is the epochs after it (each printed). `measure(loader, images)` is importable.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile
import time
from pathlib import Path

import torch
from photos import make_photos
from PIL import Image

SIZE = 224


class Photos(torch.utils.data.Dataset):
    def __init__(self, root: Path):
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.items = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).glob("*.jpg"))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        path, label = self.items[i]
        image = Image.open(path).convert("RGB")
        image = random_resized_crop(image).resize((SIZE, SIZE), Image.BILINEAR)
        if random.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(SIZE, SIZE, 3)
        return x.permute(2, 0, 1).float().div(255), label


def random_resized_crop(image: Image.Image, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> Image.Image:
    width, height = image.size
    area = width * height
    for _ in range(10):
        target = area * random.uniform(*scale)
        aspect = math.exp(random.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = random.randint(0, width - w), random.randint(0, height - h)
            return image.crop((left, top, left + w, top + h))
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def measure(loader, images: int) -> float:
    """Images per second of one pass over `loader` (any iterable of batches), `images` in all."""
    started = time.perf_counter()
    for _ in loader:
        pass
    return images / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=os.path.join(tempfile.gettempdir(), "cnnctl-bench-photos-3000"))
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    root = make_photos(args.photos, args.count, (500, 375))
    dataset = Photos(root)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=True, num_workers=args.workers)
    rates = [measure(loader, len(dataset)) for _ in range(args.epochs)]
    for epoch, rate in enumerate(rates, 1):
        print(f"epoch {epoch}: {rate:,.0f} images/s" + (" (starts the workers)" if epoch == 1 else ""))
    later = rates[1:] or rates
    print(f"plain DataLoader, {args.workers} workers, {len(dataset):,} JPEGs of 500x375 to 224x224x3: "
          f"{sum(later) / len(later):,.0f} images/s (epochs after the first)")  # fmt: skip


if __name__ == "__main__":
    main()
