"""Data for dense prediction: images with a mask each, a class per pixel.

A network that ends in a volume HxWxK (a U-Net, say) is trained per pixel: its target is a
mask of H x W class indices. Masks are stored as uint8, with 255 for a pixel that belongs
to no class (not scored: the loss and the metrics skip it), and resized to the network's
output by nearest neighbour, so a class index never becomes a blend of two.

Two sources: the built-in ``shapes`` (it draws each shape, so it knows its pixels), and a
folder with ``images/`` and ``masks/`` side by side (a mask is the PNG of the same name,
each pixel's value its class), optionally inside ``train/``, ``val/`` and ``test/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import CnnctlError, Loc
from . import Split
from .adapt import Raw, check_memory, n

UNSCORED = 255  # a mask pixel of no class, as stored (uint8)
# The same pixel in a training batch (int64), and a pixel a crop padded: cross-entropy's
# ignore_index, which the loss and the metrics skip.
IGNORE = -100
MASK_SUFFIXES = (".png", ".bmp", ".gif", ".tif", ".tiff")  # lossless: a JPEG's mask is blurred classes


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, H0, W0) uint8 masks at `size` (H, W), nearest neighbour."""
    if tuple(masks.shape[1:]) == tuple(size):
        return masks
    out = F.interpolate(masks[:, None].float(), size=size, mode="nearest-exact")
    return out[:, 0].to(torch.uint8)


def reduced_pair(image: Any, mask: Any, size: tuple[int, int], mode: str) -> tuple[Any, Any]:
    """An image and its mask (PIL images of one size, as stored, not yet decoded) reduced alike
    where the image is more than REDUCE_FROM times `size` (H, W: the input's, along the image as
    stored) on a side, by the rule of any image (cnnctl.data.decode._reduce_early, without
    libjpeg's scaling, which would not keep the pixels matched): blocks of kx x ky pixels, the
    pixels past the last whole block split between both sides and left out; the image's block
    by its mean (Pillow's reduce), the mask's by the pixel at its centre (index kx // 2, ky // 2
    in it: Pillow's NEAREST), a class index never averaged with another. Both as they are
    where the image is not that large. What a huge pair holds is then bounded as one image is."""
    from PIL import Image

    from .decode import REDUCE_FROM, REDUCE_TO

    (h, w), (width, height) = size, image.size
    kx, ky = max(1, width // (REDUCE_TO * w)), max(1, height // (REDUCE_TO * h))
    if width <= REDUCE_FROM * w and height <= REDUCE_FROM * h or kx == ky == 1:
        return image, mask
    if image.mode != mode:  # reduce() averages values, as decode's rule does
        image = image.convert(mode)
    left, top = width % kx // 2, height % ky // 2
    box = (left, top, left + width // kx * kx, top + height // ky * ky)
    image = image.reduce((kx, ky), box)
    return image, mask.resize(image.size, Image.Resampling.NEAREST, box=box)


def shape_masks(pixels: torch.Tensor, labels: torch.Tensor, classes: int) -> tuple[torch.Tensor, list[str]]:
    """The masks of `shapes` for a network of `classes` outputs per pixel: with 11 or more,
    background (0) and each shape's class (1 to 10); with fewer, background and shape (0, 1)."""
    from .shapes import CLASSES

    if classes > len(CLASSES):
        return torch.where(pixels, labels.view(-1, 1, 1) + 1, 0).to(torch.uint8), ["background", *CLASSES]
    return pixels.to(torch.uint8), ["background", "shape"]


def is_mask_folder(path: Path) -> bool:
    """`images/` and `masks/` in `path`, or in its train/ folder."""
    return any((root / "images").is_dir() and (root / "masks").is_dir() for root in (path, path / "train"))


def load_mask_folder(path: Path, target: tuple[int, int, int], out_size: tuple[int, int]) -> Raw:
    """images/ + masks/ (in `path`, or in each of train/, val/, test/): images resized to
    `target` (H, W, C) as cnnctl.data.decode adapts any image (never padded: their masks are
    resized), masks to `out_size` nearest; classes 0..the largest value found, named by
    `classes.txt` (one name per line) where there is one."""
    from . import class_names_text
    from .decode import fit, mode_for, open_image, orientation, pixels, upright
    from .folder import Outside, list_images, outside_note

    roots = {s: path / s for s in ("train", "val", "test") if (path / s / "images").is_dir()}
    if "train" not in roots:
        roots = {"train": path}
    h, w, c = target
    mode = mode_for(c)  # grayscale replicated to any channel count but 3, as training replicates it
    splits: dict[str, Split] = {}
    total = 0
    top = os.path.realpath(path)  # no link inside it is followed out of it, as in a class-per-folder tree
    outside: Outside = []
    for split, root in roots.items():
        # Listed as every image folder is (hidden files, links out and subfolders left out): a mask
        # is matched to its image by name, so both folders are flat.
        images, _ = list_images(root / "images", top, outside, recursive=False)
        found, _ = list_images(root / "masks", top, outside, recursive=False, suffixes=MASK_SUFFIXES)
        by_name = {(m.stem, m.suffix.lower()): m for m in found}
        if not images:
            raise CnnctlError.at("no PNG or JPEG images", Loc(str(root / "images")))
        total += len(images)
        check_memory(total * (h * w * c + out_size[0] * out_size[1]), f"{n(total)} images with masks", Loc(str(path)))
        x = torch.empty((len(images), c, h, w), dtype=torch.uint8)
        masks = torch.empty((len(images), *out_size), dtype=torch.uint8)
        for i, image in enumerate(images):
            mask = next((by_name[key] for key in ((image.stem, s) for s in MASK_SUFFIXES) if key in by_name), None)
            if mask is None:
                raise CnnctlError.at(
                    f"no mask for {image.name}", Loc(str(root / "masks")), hint=f"expected masks/{image.stem}.png"
                )
            with open_image(image, (h, w)) as im, open_image(mask, (h, w)) as m:
                if m.mode not in ("L", "P", "1"):
                    raise CnnctlError.at(
                        f"a mask in mode {m.mode}: masks hold one class index per pixel (an 8-bit grayscale "
                        "or palette PNG)",
                        Loc(str(mask)),
                    )
                turn, image_turn = orientation(m), orientation(im)  # from the headers, before any conversion
                if m.mode == "1":  # a bilevel mask: classes 0 and 1 (converting it to L makes 0 and 255)
                    m = m.convert("L").point(lambda v: v // 255)
                if m.size == im.size and turn == image_turn:  # pixel for pixel: reduced alike where large
                    im, m = reduced_pair(im, m, (w, h) if turn >= 5 else (h, w), mode)
                native = upright(pixels(im, mode), image_turn)
                values = upright(pixels(m, m.mode), turn)  # a palette image's indices, not its colours
            if values.shape[1:] != native.shape[1:]:
                (mh, mw), (ih, iw) = values.shape[1:], native.shape[1:]
                raise CnnctlError.at(f"the mask is {mh}x{mw}, its image {ih}x{iw}", Loc(str(mask)))
            x[i] = fit(native, target, image, pad=False)
            masks[i] = resize_masks(values, out_size)[0]
        splits[split] = Split(x, masks)
    scored = torch.cat([s.y[s.y != UNSCORED] for s in splits.values()])
    top = int(scored.max()) if scored.numel() else 0
    names_file = path / "classes.txt"
    if names_file.is_file():
        classes = class_names_text(names_file.read_text())
        if len(classes) <= top:
            raise CnnctlError.at(f"{len(classes)} class names for mask values up to {top}", Loc(str(names_file)))
    else:
        classes = [str(k) for k in range(top + 1)]
    notes = [
        f"read {n(total)} images with masks ({len(classes)} classes per pixel) from {path}; "
        f"images at {h}x{w} (resized: area to shrink, bilinear to grow), masks at {out_size[0]}x{out_size[1]} (nearest)"
    ]
    if outside:
        notes.append(outside_note(sorted(set(outside)), path))
    test = splits.get("test")
    return Raw(path.resolve().name, classes, splits["train"], splits.get("val"), notes, test=test, test_from="test/")
