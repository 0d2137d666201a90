"""Augmentation of training batches, on the device, a whole batch at a time.

Each step's random choices (crop offsets, flips, crop boxes) are drawn on the CPU from a
generator seeded by (seed, epoch, position of the step in the epoch's order) for the whole
global batch; each worker takes its own slice. So a run resumed mid-epoch, or on another
number of workers, augments every image exactly as the uninterrupted run did. The images
themselves never leave the device: crops are gathers, flips a `where`, random resized
crops one `grid_sample`.

Masks of dense prediction (N, H, W) move with their images: crops and flips alike, and
nearest-neighbour sampling in a random resized crop; pixels that come from padding get
IGNORE, which the loss and the metrics skip.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data.decode import RATIO, SCALE  # the random resized crop's ranges, on the device as in the loader
from ..data.loader import draws_generator
from ..data.masks import IGNORE


def crop_padding(h: int, w: int) -> int:
    """The padding of a padded random crop: 4 pixels at CIFAR's 32x32, an eighth of the side."""
    return max(1, round(min(h, w) / 8))


class Augment:
    """`spec` as cnnctl.train.config.parse_augment writes it: `crop`, `flip`, `rrc`, joined by commas."""

    def __init__(self, spec: str, seed: int, fill: torch.Tensor):
        self.ops = tuple(spec.split(",")) if spec and spec != "none" else ()
        self.seed = seed
        self.fill = fill  # (1, C, 1, 1): a black pixel once normalised, for the padding of a crop

    def __bool__(self) -> bool:
        return bool(self.ops)

    def generator(self, epoch: int, position: int) -> torch.Generator:
        return draws_generator(self.seed, epoch, position)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, position: int, total: int, start: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment the images `start:start + len(x)` of the global batch of `total` images that
        begins at `position` of epoch `epoch`'s order; `y` too where it is a mask."""
        gen = self.generator(epoch, position)
        part = slice(start, start + len(x))
        for op in self.ops:  # every op draws for the whole global batch: each worker's slice agrees
            if op == "crop":
                x, y = self._crop(x, y, gen, total, part)
            elif op == "flip":
                flip = (torch.rand(total, generator=gen) < 0.5)[part].to(x.device)
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
                if y.dim() == 3:
                    y = torch.where(flip.view(-1, 1, 1), y.flip(2), y)
            elif op == "rrc":
                x, y = self._resized_crop(x, y, gen, total, part)
        return x.contiguous(memory_format=torch.channels_last), y

    def _crop(self, x, y, gen, total: int, part: slice):
        n, c, h, w = x.shape
        p = crop_padding(h, w)
        dy = torch.randint(0, 2 * p + 1, (total,), generator=gen)[part].to(x.device)
        dx = torch.randint(0, 2 * p + 1, (total,), generator=gen)[part].to(x.device)
        padded = self.fill.to(x.dtype).expand(n, c, h + 2 * p, w + 2 * p).clone()
        padded[:, :, p : p + h, p : p + w] = x
        rows = (torch.arange(h, device=x.device).view(1, h) + dy.view(n, 1)).view(n, h, 1)
        cols = (torch.arange(w, device=x.device).view(1, w) + dx.view(n, 1)).view(n, 1, w)
        batch = torch.arange(n, device=x.device).view(n, 1, 1)
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (n, h, w, c) gathered
        if y.dim() == 3:
            masks = torch.full((n, h + 2 * p, w + 2 * p), IGNORE, dtype=y.dtype, device=y.device)
            masks[:, p : p + h, p : p + w] = y
            y = masks[batch, rows, cols]
        return x, y

    def _resized_crop(self, x, y, gen, total: int, part: slice):
        """A box of SCALE of the area and RATIO of aspect, inside the image, resized to its size."""
        area = SCALE[0] + (SCALE[1] - SCALE[0]) * torch.rand(total, generator=gen)
        log_ratio = math.log(RATIO[0]) + (math.log(RATIO[1]) - math.log(RATIO[0])) * torch.rand(total, generator=gen)
        ratio = log_ratio.exp()
        # Box sides as shares of the image's (1: all of it); clamped, so a box never leaves the image.
        bw = (area * ratio).sqrt().clamp(max=1.0)
        bh = (area / ratio).sqrt().clamp(max=1.0)
        cx = (torch.rand(total, generator=gen) * 2 - 1) * (1 - bw)
        cy = (torch.rand(total, generator=gen) * 2 - 1) * (1 - bh)
        theta = torch.zeros(total, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = bw, cx, bh, cy
        theta = theta[part].to(x.device)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if y.dim() == 3:
            masks = F.grid_sample(y[:, None].float(), grid, mode="nearest", align_corners=False)
            y = masks[:, 0].round().to(y.dtype)
        return x, y
