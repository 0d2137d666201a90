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

from ..errors import CnnctlError, Loc, Problem
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


def reduced_pair(
    image: Any, image_turn: int, mask: Any, mask_turn: int, size: tuple[int, int], mode: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """An image and its mask (PIL images, as stored, not yet decoded; EXIF orientations
    `image_turn`, `mask_turn`, of one size once shown upright) as the arrays (C, H, W) of both
    shown upright: the mask follows its image's geometry, orientation first. Reduced alike where
    the image shown upright is more than REDUCE_FROM times `size` (H, W: the input's) on a side,
    by the rule of any image (cnnctl.data.decode._reduce_early, without libjpeg's scaling, which
    would not keep the pixels matched): blocks of kx x ky pixels of the upright image, the pixels
    past the last whole block split between both sides and left out; the image's block by its
    mean (Pillow's reduce, on the image as stored: a mean is the same in any orientation), the
    mask's by the pixel at its centre (index kx // 2, ky // 2 in the block shown upright:
    Pillow's NEAREST), a class index never averaged with another. Both at their own size where
    the image is not that large. What a huge pair holds is then bounded as one image is: the
    mask is picked from as Pillow holds it, its whole never an array."""
    from PIL import Image

    from .decode import REDUCE_FROM, REDUCE_TO, pixels, stored_box, upright, upright_size

    (h, w), (width, height) = size, upright_size(image, image_turn)
    kx, ky = max(1, width // (REDUCE_TO * w)), max(1, height // (REDUCE_TO * h))
    if width <= REDUCE_FROM * w and height <= REDUCE_FROM * h or kx == ky == 1:
        return upright(pixels(image, mode), image_turn), upright(pixels(mask, mask.mode), mask_turn)
    if image.mode != mode:  # reduce() averages values, as decode's rule does
        image = image.convert(mode)
    left, top = width % kx // 2, height % ky // 2
    box = (left, top, left + width // kx * kx, top + height // ky * ky)
    blocks = (ky, kx) if image_turn >= 5 else (kx, ky)  # along the image as stored
    x = upright(pixels(image.reduce(blocks, stored_box(box, image_turn, width, height)), mode), image_turn)

    def stored(column: int, row: int) -> tuple[int, int]:  # the mask's pixel stored that shows at (column, row)
        return stored_box((column, row, column + 1, row + 1), mask_turn, width, height)[:2]

    # Pillow's affine transform samples the stored pixel under a*(i + 0.5) + b*(j + 0.5) + c for
    # the output pixel (i, j): that of block (i, j)'s centre shown upright, hit at its own centre.
    x0, y0 = stored(left + kx // 2, top + ky // 2)
    (x1, y1), (x2, y2) = stored(left + kx // 2 + kx, top + ky // 2), stored(left + kx // 2, top + ky // 2 + ky)
    a, b, d, e = x1 - x0, x2 - x0, y1 - y0, y2 - y0
    data = (a, b, x0 + 0.5 - (a + b) / 2, d, e, y0 + 0.5 - (d + e) / 2)
    picked = mask.transform((width // kx, height // ky), Image.Transform.AFFINE, data, Image.Resampling.NEAREST)
    return x, pixels(picked, picked.mode)


def mismatch(image_path: Path, image: Any, image_turn: int, mask_path: Path, mask: Any, mask_turn: int) -> Problem:
    """The message for a mask that is not its image's size once both are shown upright (their
    EXIF orientations followed): both files and sizes (height x width), how each is stored."""
    from .decode import upright_size

    def said(im: Any, turn: int) -> str:
        width, height = upright_size(im, turn)
        stored = f" (stored {im.height}x{im.width}, EXIF orientation {turn})" if turn != 1 else ""
        return f"{height}x{width}{stored}"

    width, height = upright_size(image, image_turn)
    return Problem(
        f"the mask is {said(mask, mask_turn)}, its image {image_path} {said(image, image_turn)}: "
        "a mask's pixels are its image's, one for one, as both are shown upright",
        Loc(str(mask_path)),
        hint=f"make the mask {height}x{width} (height x width) as its image is shown, resized by nearest "
        "neighbour so that no class index is blended",
    )


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
    from .decode import fit, mode_for, open_image, orientation, upright_size
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
    unmatched: list[Problem] = []  # every pair whose sizes differ, told at once
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
                if upright_size(m, turn) != upright_size(im, image_turn):  # told before either is decoded
                    unmatched.append(mismatch(image, im, image_turn, mask, m, turn))
                    continue
                if m.mode == "1":  # a bilevel mask: classes 0 and 1 (converting it to L makes 0 and 255)
                    m = m.convert("L").point(lambda v: v // 255)
                # shown upright, reduced alike where large; a palette mask's indices, not its colours
                native, values = reduced_pair(im, image_turn, m, turn, (h, w), mode)
            x[i] = fit(native, target, image, pad=False)
            masks[i] = resize_masks(values, out_size)[0]
        splits[split] = Split(x, masks)
    if unmatched:
        raise CnnctlError(unmatched)
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
