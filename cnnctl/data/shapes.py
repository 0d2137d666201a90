"""`shapes`: a synthetic 10-class data set drawn in torch, for trying a network without downloads.

Each image is one shape at a random position and size, light on a darker background, with
mild Gaussian noise; in colour (C=3) foreground and background get random hues. Drawn
directly at the network's HxW, vectorised over the whole batch (7,000 32x32 images take
a few tens of milliseconds). The same seed gives the same images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..words import first
from . import Split
from .adapt import Raw, check_memory, n

if TYPE_CHECKING:
    from . import Request, Source

CLASSES = [
    "square",
    "square outline",
    "disc",
    "ring",
    "triangle",
    "plus",
    "cross",
    "horizontal bar",
    "vertical bar",
    "dot grid",
]
TRAIN, VAL = 6000, 1000


def _masks(label: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor, t: torch.Tensor):
    """Boolean (N, H, W): is each pixel inside its image's shape? `dx`, `dy` are offsets from the
    centre (N, H, W); `r` the half-size and `t` the stroke width, (N, 1, 1)."""
    ax, ay = dx.abs(), dy.abs()
    box = torch.maximum(ax, ay)
    dist = (dx * dx + dy * dy).sqrt()
    half = t / 2
    inside = box <= r
    spacing = r * 0.8
    gx = (dx / spacing).round().clamp(-1, 1) * spacing
    gy = (dy / spacing).round().clamp(-1, 1) * spacing
    dot = ((dx - gx) ** 2 + (dy - gy) ** 2).sqrt() <= torch.clamp(r * 0.22, min=0.8)
    shapes = [
        inside,  # square
        inside & (box >= r - t),  # square outline
        dist <= r,  # disc
        (dist <= r) & (dist >= r - t),  # ring
        (dy >= -r) & (dy <= r * 0.8) & (ax <= (dy + r) * 0.6),  # triangle, apex up
        ((ax <= half) | (ay <= half)) & inside,  # plus
        (((dx - dy).abs() <= half * 1.4) | ((dx + dy).abs() <= half * 1.4)) & inside,  # cross
        (ay <= half) & (ax <= r),  # horizontal bar
        (ax <= half) & (ay <= r),  # vertical bar
        dot,  # dot grid, 3x3
    ]
    out = torch.zeros_like(inside)
    for k, mask in enumerate(shapes):
        out |= mask & (label == k)
    return out


def make_shapes(count: int, h: int, w: int, c: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` images (count, c, h, w) uint8 and labels (count,) int64, classes balanced to
    within one image. Deterministic in `seed`."""
    x, y, _ = draw_shapes(count, h, w, c, seed)
    return x, y


def draw_shapes(
    count: int, h: int, w: int, c: int = 1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`make_shapes`' images and labels, and each image's shape pixels: bool (count, h, w)."""
    gen = torch.Generator().manual_seed(int(seed))
    size = min(h, w)
    y = torch.arange(count) % len(CLASSES)
    y = y[torch.randperm(count, generator=gen)]

    def uniform(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(count, *shape, generator=gen)

    r = uniform(0.18, 0.42, 1, 1) * size
    t = torch.clamp(r * uniform(0.25, 0.4, 1, 1), min=1.5)
    # Centres keep the whole shape inside the image.
    cy = r + 0.5 + uniform(0, 1, 1, 1) * (h - 2 * r - 1).clamp(min=0)
    cx = r + 0.5 + uniform(0, 1, 1, 1) * (w - 2 * r - 1).clamp(min=0)
    yy = torch.arange(h, dtype=torch.float32).view(1, h, 1) + 0.5
    xx = torch.arange(w, dtype=torch.float32).view(1, 1, w) + 0.5
    mask = _masks(y.view(-1, 1, 1), xx - cx, yy - cy, r, t).unsqueeze(1)  # (N, 1, H, W)
    fg = uniform(0.6, 1.0, 1, 1, 1)
    bg = uniform(0.0, 0.3, 1, 1, 1)
    if c == 3:  # random hues: the brightest channel of the shape still stands out
        fg = fg * torch.rand(count, 3, 1, 1, generator=gen).clamp(min=0.15)
        fg = fg / fg.amax(dim=1, keepdim=True) * uniform(0.6, 1.0, 1, 1, 1)
        bg = bg * torch.rand(count, 3, 1, 1, generator=gen)
    image = torch.where(mask, fg, bg)
    image = image + 0.06 * torch.randn(count, image.shape[1], h, w, generator=gen)
    image = (image * 255).round_().clamp_(0, 255).to(torch.uint8)
    if image.shape[1] != c:
        image = image.expand(-1, c, -1, -1).contiguous()
    return image, y, mask[:, 0]


def load_shapes(
    shape: tuple[int, int, int],
    *,
    seed: int = 0,
    train: int = TRAIN,
    val: int = VAL,
    masks: tuple[int, int, int] | None = None,
) -> Raw:
    """The `shapes` data set drawn at `shape` (H, W, C): `train` and `val` images, seeded.
    With `masks` (a dense network's output H, W, K), each image's label is its mask (see
    cnnctl.data.masks.shape_masks)."""
    h, w, c = shape
    # Drawing takes about a dozen times the final bytes: refuse before allocating them.
    check_memory((train + val) * h * w * c * 12, f"drawing the shapes data at {h}x{w}x{c}")
    # Two streams from one seed: seed s and s + 1 would otherwise share images across seeds.
    x_train, y_train, px_train = draw_shapes(train, h, w, c, seed=2 * int(seed))
    x_val, y_val, px_val = draw_shapes(val, h, w, c, seed=2 * int(seed) + 1)
    classes = list(CLASSES)
    if masks is not None:
        from .masks import resize_masks, shape_masks

        size = masks[:2]
        (y_train, classes), (y_val, _) = shape_masks(px_train, y_train, masks[2]), shape_masks(px_val, y_val, masks[2])
        y_train, y_val = resize_masks(y_train, size), resize_masks(y_val, size)
    colour = "random colours" if c == 3 else ("grayscale" if c == 1 else f"grayscale replicated to {c} channels")
    notes = [
        f"generated {n(train)} training and {n(val)} validation images of {len(CLASSES)} shapes "
        f"at {h}x{w}x{c}, {colour} (seed {seed})"
    ]
    if masks is not None:
        notes.append(f"masks of {len(classes)} classes per pixel ({first(classes, 3)}) at {size[0]}x{size[1]}")
    return Raw("shapes", classes, Split(x_train, y_train), Split(x_val, y_val), notes)


def load_source(source: Source, request: Request) -> Raw:
    """The registered `shapes` (cnnctl.data.DATA_SETS), drawn for `request`."""
    return load_shapes(request.shape, seed=request.seed, masks=request.masks)
