"""One image file to the network's input: the one decode path of training folders, mask
folders and predict alike.

`decode(path, target)` reads the header (refusing an image with more pixels than the input
needs before anything is decoded), converts the file's mode to grayscale or RGB through
Pillow, and adapts the pixels to `target` (H, W, C) by `cnnctl.data.adapt.plan`: padded or
resized, channels converted or replicated. It is a plain module-level function of picklable
arguments, so a DataLoader worker can call it image by image.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..device_memory import out_of_memory
from ..errors import CnnctlError, Loc
from ..files import Unread, regular_bytes
from ..limits import MAX_IMAGE_BYTES
from .samples import ImageBytes

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from PIL.Image import Image

# What an image is read from: a file's path, or its bytes as read from a shard (with a name).
ImageSource = str | Path | ImageBytes

# Pillow's modes of one gray value per pixel (alpha aside): decoded as "L"; any other as "RGB".
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
# The most pixels an image may have, read from its header before anything is decoded: the
# larger of a floor that takes any phone photo (12 to 50 megapixels) and 64 times the
# network input's H x W (8 times its side). More would be decoded only to be shrunk away,
# and a PNG of a few KB can claim billions of pixels (a decompression bomb).
PIXEL_FLOOR = 64_000_000
PIXEL_RATIO = 64
# An image more than REDUCE_FROM times the input's side on an axis is reduced before it becomes
# an array, to no less than REDUCE_TO times the input on each axis it shrinks on: a JPEG while
# it is decoded (libjpeg's DCT scaling, Pillow's draft), then any image by the mean of whole
# blocks of kx x ky pixels (Pillow's reduce, rounded to whole values; the pixels past the last
# whole block, fewer than a block, split between both sides, left out), then resized exactly as
# any other. The result differs by rounding from resizing the whole image at once; below
# REDUCE_FROM nothing changes. A crop's box (decode_box) is reduced by the same rule, and an image
# with its mask alike (masks.reduced_pair: the mask by choice, never averaged). It bounds what
# decoding one image holds to about 7 bytes per pixel of the file (Pillow's decoded image, up
# to 4 bytes a pixel, and its conversion to L or RGB, up to 3; a mask, 1 of its own) and the
# file's bytes, plus about 10 bytes per value of at most (4 H) x (4 W) x C
# (the reduced image, its array, and the float32 resize): at the 64-megapixel floor and a
# 224x224x3 input, about 500 MB and the file (a 7,999x7,999 RGBA PNG: 492 MB, 1.66 GB before;
# a 7,999x7,999 grayscale PNG to 16x16 held 1.9 GB in training before, 30 bytes a pixel).
REDUCE_FROM = 4
REDUCE_TO = 2
SCALE = (0.08, 1.0)  # random resized crop: the share of the image's area kept (Inception's recipe)
RATIO = (3 / 4, 4 / 3)  # and the crop's aspect ratio, drawn log-uniformly


EMPTY = "cannot read the image: an empty file (0 bytes)"
MISSING = "cannot read the image: no such file"  # a listed image gone from the disk (cnnctl.data.loader.Skipped)
# What to do about unreadable images held in memory (evaluate has no --stream: the hint names train's)


def pillow() -> ModuleType:
    """The PIL.Image module, or the one message that says Pillow is missing."""
    try:
        from PIL import Image
    except ImportError:
        raise CnnctlError.at("reading images needs Pillow, which is not installed", hint="pip install pillow") from None
    return Image


def mode_for(channels: int) -> str:
    """The Pillow mode an image is decoded in for a network of `channels` input channels:
    RGB for 3, else grayscale (one channel, replicated to any other count as training does)."""
    return "RGB" if channels == 3 else "L"


def adaptation(target: tuple[int, int, int], pad: bool = True, centre: float | None = None) -> str:
    """How `decode` (and so `cnnctl predict`) brings an image file of any size and mode to a
    network input of `target` (H, W, C), in words: the rules of `mode_for` and of
    `cnnctl.data.adapt.sizing` (`pad` False: always resized, as images with masks are), or,
    with `centre` (the crop's share of the resized image), the evaluation recipe of photos
    (`centre_box`, `decode_box`); which an exported network's metadata and docstring state."""
    from .adapt import PAD_RATIO

    h, w, c = target
    if mode_for(c) == "RGB":
        colour = "converted to RGB (Pillow's convert('RGB'))"
    else:
        colour = "converted to grayscale (Pillow's convert('L'): L = 0.299 R + 0.587 G + 0.114 B)"
        colour += f", the gray value replicated to {c} channels" if c > 1 else ""
    upright = "shown upright where its EXIF orientation says it is stored sideways"
    if centre is not None:
        return (
            f"an image is {colour}, any alpha channel dropped, {upright}; then {centre_said(h, w, centre)}: "
            "the crop's corners rounded to whole pixels of the image as stored, then one bilinear resize, "
            "antialiased to shrink (a JPEG is first decoded reduced by libjpeg where the crop keeps the input's "
            f"pixels, Pillow's draft(); a crop still more than {REDUCE_FROM} times {h}x{w} on a side is first "
            f"reduced to no less than {REDUCE_TO} times it by the mean of whole blocks, Pillow's reduce())"
        )
    padded = f"one smaller by at most {PAD_RATIO:g} times on each side is padded with zeros to {h}x{w} (centred), "
    return (
        f"an image is {colour}, any alpha channel dropped, {upright}; then one of {h}x{w} is taken as it is, "
        f"{padded if pad else ''}any other is resized to {h}x{w} (area averaging to shrink, bilinear to grow, "
        f"rounded to whole values 0-255; the aspect ratio is not kept), one more than {REDUCE_FROM} times "
        f"{h}x{w} on a side first reduced to no less than {REDUCE_TO} times it by the mean of whole blocks "
        "(Pillow's reduce(); a JPEG first by libjpeg while it is decoded, Pillow's draft())"
    )


@contextmanager
def open_image(path: ImageSource, size: tuple[int, int] | None) -> Iterator[Image]:
    """The Pillow image at `path` (or in the bytes of an ImageBytes), its header read but
    nothing decoded, refused when it has more pixels than a network input of `size` (H, W)
    needs (see PIXEL_FLOOR); `size` None (no network yet: `cnnctl pack`), more than Pillow
    decodes. Anything Pillow raises for a broken or missing file is one message naming it."""
    image = pillow()
    h, w = size or (0, 0)
    limit, why = max(PIXEL_FLOOR, PIXEL_RATIO * h * w), f"the larger of {PIXEL_FLOOR:,} and {PIXEL_RATIO} x H x W"
    refused = 2 * image.MAX_IMAGE_PIXELS if image.MAX_IMAGE_PIXELS else None  # what Pillow will not decode
    if size is None or refused is not None and refused < limit:  # an input of more than 1,672x1,672
        limit, why = refused, "Pillow's limit: it refuses to decode more"
    purpose = f" for a {h}x{w} input" if size is not None else ""
    downscale = f"downscale the images: the network takes {h}x{w}" if size is not None else "downscale the image"
    try:
        # The check below decides on the header, names the file and the image's size: Pillow's
        # warning (from half its limit) would be noise.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", image.DecompressionBombWarning)
            with _header(image, path) as im:
                if limit is not None and im.width * im.height > limit:
                    raise CnnctlError.at(
                        f"an image of {im.width}x{im.height} pixels (width x height: {im.width * im.height:,} "
                        f"pixels), more than the {limit:,} read{purpose} ({why})",
                        Loc(str(path)),
                        hint=downscale,
                    )
                yield im
    except CnnctlError:
        raise
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        raise _no_memory(path, size) from None
    except FileNotFoundError:
        raise CnnctlError.at(MISSING, Loc(str(path))) from None
    except Unread as refused:  # a FIFO, a device, a folder: never opened as one would block
        why = MISSING if refused.message == "no such file" else f"cannot read the image: {refused.message}"
        raise CnnctlError.at(why, Loc(str(path)), hint=refused.hint) from None
    except Exception as exc:  # Pillow raises many kinds for a broken file (OSError, SyntaxError, ValueError...)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc  # a loop of links: no errno, no path
        raise CnnctlError.at(f"cannot read the image: {why}", Loc(str(path))) from None


def _no_memory(path: ImageSource, size: tuple[int, int] | None) -> CnnctlError:
    """The one message where decoding or adapting an image ran out of memory (an allocator's
    traceback before: `DefaultCPUAllocator: can't allocate memory`)."""
    takes = f": the network takes {size[0]}x{size[1]}" if size is not None else ""
    return CnnctlError.at(
        "out of memory decoding the image", Loc(str(path)), hint=f"downscale the image{takes}; or free memory"
    )


class _NamedBytes(io.BytesIO):
    """A shard member's bytes, which Pillow's messages name as the member, not as a BytesIO."""

    def __init__(self, source: ImageBytes):
        super().__init__(source.data)
        self.name = source.name

    def __repr__(self) -> str:
        return self.name


def _header(image, path: ImageSource) -> Image:
    """`image.open(path)` without Pillow's decompression-bomb check: only the header is read,
    and open_image's own check of the same size, which names the image's width and height, comes
    before anything is decoded (Pillow's error says only how many pixels it allows)."""
    # Pillow refuses twice MAX_IMAGE_PIXELS (89 megapixels), reading the limit when an image
    # is opened: off for this one call, back at once.
    most = image.MAX_IMAGE_PIXELS
    image.MAX_IMAGE_PIXELS = None
    try:
        if not isinstance(path, ImageBytes):  # only a regular file (cnnctl.files), read whole: its header first
            path = ImageBytes(str(path), regular_bytes(path, MAX_IMAGE_BYTES))
        if not path.data:  # said as what it is: Pillow's `cannot identify image file` would not
            raise CnnctlError.at(EMPTY, Loc(path.name))
        return image.open(_NamedBytes(path))
    finally:
        image.MAX_IMAGE_PIXELS = most


def pixels(im: Image, mode: str) -> torch.Tensor:
    """The Pillow image `im` in `mode` ("L" or "RGB") as a (C, H, W) uint8 tensor: the one
    place an image becomes an array. Decodes it: call inside `open_image`."""
    if im.mode != mode:  # convert() to its own mode would only copy it
        im = im.convert(mode)
    data = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    return data.view(im.height, im.width, len(im.getbands())).permute(2, 0, 1)


# -- EXIF orientation: a camera's photo stored sideways, with a tag saying how to show it --------
ORIENTATION = 0x0112  # the EXIF tag: 1 upright, 2-8 the flips and quarter turns below (as PIL.ImageOps.exif_transpose)
# What each orientation stored needs to be shown upright, in words (predict says it).
TURNS = {2: "flipped left to right", 3: "turned 180°", 4: "flipped top to bottom", 5: "transposed (flipped along "
         "its main diagonal)", 6: "turned 90° clockwise", 7: "transversed (flipped along its other diagonal)",
         8: "turned 90° anticlockwise"}  # fmt: skip


def orientation(im: Image) -> int:
    """The EXIF orientation of the opened image `im` (1 to 8; 1 where there is none or it is
    not one of them), read from its header: the tag a camera writes for a photo taken on its
    side, which viewers (and torchvision.io.decode_image, PIL.ImageOps.exif_transpose) follow.
    A PNG's eXIf chunk is read where it comes before the pixels, where Pillow writes it:
    Pillow would decode the whole image to look for one after them."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        turn = im.getexif().get(ORIENTATION, 1)
    except Exception:  # a damaged EXIF block: the pixels are still the image's
        return 1
    return turn if isinstance(turn, int) and 1 <= turn <= 8 else 1


def upright_size(im: Image, turn: int) -> tuple[int, int]:
    """(width, height) of the image `im` shown as its orientation `turn` says: swapped for 5 to 8."""
    width, height = im.size
    return (height, width) if turn >= 5 else (width, height)


def upright(x: torch.Tensor, turn: int) -> torch.Tensor:
    """The pixels `x` (C, H, W) as stored, shown as the orientation `turn` says, exactly as
    PIL.ImageOps.exif_transpose shows them: flips and transposes move values, never change one."""
    turned = {
        2: lambda: x.flip(2),
        3: lambda: x.flip(1, 2),
        4: lambda: x.flip(1),
        5: lambda: x.transpose(1, 2),
        6: lambda: x.rot90(-1, (1, 2)),
        7: lambda: x.transpose(1, 2).flip(1, 2),
        8: lambda: x.rot90(1, (1, 2)),
    }.get(turn)
    return x if turned is None else turned().contiguous()


# The orientation that undoes each: a turn by a quarter (6, 8) is undone by the other; the rest by themselves.
UNDONE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def stored_box(box: tuple[int, int, int, int], turn: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The box of the image as stored whose pixels, shown upright (`upright`), are the pixels
    `box` (left, top, right, bottom) of the image shown upright, `width` x `height`."""
    left, top, right, bottom = box
    return {
        1: box,
        2: (width - right, top, width - left, bottom),
        3: (width - right, height - bottom, width - left, height - top),
        4: (left, height - bottom, right, height - top),
        5: (top, left, bottom, right),
        6: (top, width - right, bottom, width - left),
        7: (height - bottom, width - right, height - top, width - left),
        8: (height - bottom, left, height - top, right),
    }[turn]


def reduced(im: Image, mode: str, size: tuple[int, int], turn: int) -> tuple[Image, str]:
    """The opened image `im` (orientation `turn`) reduced for a network input of `size` (H, W)
    where it is more than REDUCE_FROM times that on a side (`_reduce_early`), and what was done
    in words ("" where nothing was). Call before anything is decoded (a JPEG's draft works only
    then)."""
    before = upright_size(im, turn)
    im = _reduce_early(im, (size[1], size[0]) if turn >= 5 else size, mode)
    after = upright_size(im, turn)
    if after == before:
        return im, ""
    how = "libjpeg's DCT scaling while decoded, then " if im.format == "JPEG" else ""
    return im, (
        f"reduced {before[1]}x{before[0]} to {after[1]}x{after[0]} ({how}the mean of whole blocks), "
        f"as it is more than {REDUCE_FROM} times the input"
    )


# The rule by which a much larger image is reduced before it is resized, as one self-contained
# function: `reduced` follows it, and an exported PyTorch file holds its very source (its
# `adapt()`, cnnctl.exchange.pytorch_source), so that a network used outside cnnctl reads a
# large image as `cnnctl predict` does. Keep it plain Python of its arguments, REDUCE_FROM
# and REDUCE_TO, within 88 columns; the image unannotated (the file imports no PIL at its top).
def _reduce_early(image, size: tuple[int, int], mode: str):
    """The PIL image `image` as stored reduced where it is more than REDUCE_FROM times
    `size` (H, W: the input's sides along the image as stored) on a side, to no less than
    REDUCE_TO times it on each side that shrinks: a JPEG not yet decoded by libjpeg's DCT
    scaling (draft()), then the image in `mode` by the mean of whole blocks of kx x ky
    pixels (reduce(); the pixels past the last whole block, fewer than a block, split
    between both sides, left out). The image itself where it is not that large."""
    (h, w), (width, height) = size, image.size
    if width <= REDUCE_FROM * w and height <= REDUCE_FROM * h:
        return image
    if image.format == "JPEG":  # scaled only: libjpeg's own gray is not convert("L")'s
        image.draft(None, (min(width, REDUCE_TO * w), min(height, REDUCE_TO * h)))
    kx = max(1, image.width // (REDUCE_TO * w))
    ky = max(1, image.height // (REDUCE_TO * h))
    if kx == 1 and ky == 1:
        return image
    if image.mode != mode:  # reduce() averages values: a palette's indices are not
        image = image.convert(mode)
    # whole blocks only: a partial last one would weigh as a whole one in the resize
    left, top = image.width % kx // 2, image.height % ky // 2
    box = (left, top, left + image.width // kx * kx, top + image.height // ky * ky)
    return image.reduce((kx, ky), box)


def read(
    path: ImageSource, size: tuple[int, int], mode: str, notes: list[str] | None = None, *, reduce: bool = True
) -> torch.Tensor:
    """The image file at `path` decoded in `mode` and shown upright (its EXIF orientation
    followed), (C, H, W) uint8; `size` (H, W) is the network input's, which bounds the pixels
    read (see open_image). At its own size, or where it is more than REDUCE_FROM times the
    input's side, reduced (`reduced`, said in `notes`); `reduce` False: always at its own size
    (an image whose mask must match it pixel for pixel)."""
    with open_image(path, size) as im:
        turn = orientation(im)
        if reduce:
            im, said = reduced(im, mode, size, turn)
            if said and notes is not None:
                notes.append(said)
        return upright(pixels(im, mode), turn)


def fit(
    x: torch.Tensor,
    target: tuple[int, int, int],
    path: ImageSource,
    notes: list[str] | None = None,
    *,
    pad: bool = True,
) -> torch.Tensor:
    """The image `x` (C, H, W) uint8 from `path` adapted to `target` (H, W, C) by
    `cnnctl.data.adapt.plan`, what was done appended to `notes`; a plan that cannot be
    followed is said of that file."""
    from .adapt import adapt

    try:
        return adapt(x[None], target, notes, pad=pad)[0]
    except (MemoryError, RuntimeError) as exc:  # the resize's float32 copy
        if not out_of_memory(exc):
            raise
        raise _no_memory(path, target[:2]) from None
    except CnnctlError as exc:
        problem = exc.problems[0]
        raise CnnctlError.at(problem.message, Loc(str(path)), hint=problem.hint) from None


def decode(
    path: ImageSource,
    target: tuple[int, int, int],
    mode: str | None = None,
    *,
    pad: bool = True,
    notes: list[str] | None = None,
) -> torch.Tensor:
    """The image file at `path` as a (C, H, W) uint8 tensor for a network input of `target`
    (H, W, C): decoded in `mode` (default `mode_for(C)`), then adapted by the rules of
    `cnnctl.data.adapt.plan` (`pad` False: resized even where padding would do, as for
    images whose masks are resized alike). What adapting did is appended to `notes`."""
    h, w, c = target
    return fit(read(path, (h, w), mode or mode_for(c), notes), target, path, notes, pad=pad)


# -- a part of the image, resized to the input: the crops of a photo recipe --------------------
Box = tuple[float, float, float, float]  # left, top, right, bottom, in pixels of the image as stored


def decode_box(
    path: ImageSource,
    target: tuple[int, int, int],
    box: Callable[[int, int], Box],
    flip: bool = False,
    notes: list[str] | None = None,
    box_said: str = "",
) -> torch.Tensor:
    """The part `box(width, height) -> Box` of the image at `path` (a random resized crop, a
    centre crop) resized to `target` (H, W, C) in one resampling (`resize`), flipped left to
    right with `flip`, as a (C, H, W) uint8 tensor. A JPEG is reduced while it is decoded
    (libjpeg's DCT scaling, Pillow's `draft`) to the least size whose box still covers the
    input's pixels: a 4,000x3,000 photo cropped to 224x224 decodes at an eighth of its size.
    The box is taken in whole pixels of the decoded image (`whole_box`), as torchvision's
    crops are, and only its pixels are copied out of Pillow: reduced first, by the mean of whole
    blocks, where they are still more than REDUCE_FROM times the input on a side (`_reduce_early`'s
    rule). Where the crop lies is `cnnctl.data.crops.crop_plan`'s, which the GPU path follows too.
    What is done is appended to `notes`, in the order it is done: the scaling while decoded, the
    crop (of the image shown upright, H x W; `box_said`: what the box is, in words), the
    reduction, the resize: said here, where it is done, so the words cannot tell another order."""
    from .crops import crop_plan

    h, w, c = target
    mode = mode_for(c)
    with open_image(path, (h, w)) as im:
        turn = orientation(im)  # the box is of the image shown upright; the crop, of the image as stored
        size = im.size  # as stored, before draft decodes it smaller
        plan = crop_plan(size, turn, box(*upright_size(im, turn)), (h, w), im.format == "JPEG")
        if plan.scale > 1:  # scaled only: libjpeg's own gray (its Y) is not convert("L")'s
            im.draft(None, plan.request)
        crop = im.crop(plan.kept)
        # A box still more than REDUCE_FROM times the input (any PNG's; a JPEG's past libjpeg's
        # least scale, 1/8) is reduced by the rule of whole images: what becomes an array is bounded alike.
        if plan.blocks != (1, 1):
            crop = (crop if crop.mode == mode else crop.convert(mode)).reduce(plan.blocks)
        x = resize(upright(pixels(crop, mode), turn), (h, w))
    if notes is not None:  # each in the frame of the image shown upright
        swapped = turn >= 5
        width, height = (size[1], size[0]) if swapped else size
        now_w, now_h = (plan.decoded[1], plan.decoded[0]) if swapped else plan.decoded
        part = stored_box(plan.kept, UNDONE[turn], *plan.decoded)  # the crop, shown upright
        small = None
        if plan.blocks != (1, 1):
            kx, ky = plan.blocks[::-1] if swapped else plan.blocks
            small = ((part[3] - part[1]) // ky, (part[2] - part[0]) // kx)
        notes += _box_notes((height, width), (now_h, now_w), part, small, (h, w), box_said)
    if flip:
        x = x.flip(2)
    return x.expand(c, -1, -1).contiguous() if x.shape[0] != c else x


def _box_notes(
    image: tuple[int, int], decoded: tuple[int, int], part: tuple[int, int, int, int],
    reduced: tuple[int, int] | None, size: tuple[int, int], box_said: str,
) -> list[str]:  # fmt: skip
    """decode_box's steps in words, in order: the image (H, W shown upright) `decoded` smaller by
    libjpeg, the `part` (left, top, right, bottom) of it cropped, `reduced` to (H, W) by whole
    blocks (None: not), then resized to `size` (H, W)."""
    said = []
    if decoded != image:
        said.append(f"decoded at {decoded[0]}x{decoded[1]} by libjpeg's DCT scaling (of {image[0]}x{image[1]})")
    ph, pw = part[3] - part[1], part[2] - part[0]
    what = f" ({box_said})" if box_said else ""
    said.append(f"cropped {decoded[0]}x{decoded[1]} to {ph}x{pw} at ({part[0]}, {part[1]}){what}")
    if reduced is not None:
        said.append(f"reduced {ph}x{pw} to {reduced[0]}x{reduced[1]} (the mean of whole blocks), as it is more "
                    f"than {REDUCE_FROM} times the input")  # fmt: skip
        ph, pw = reduced
    ratio = " (aspect ratio changed)" if ph * size[1] != size[0] * pw else ""
    said.append(f"resized {ph}x{pw} to {size[0]}x{size[1]} (bilinear, antialiased){ratio}")
    return said


# whole_box, _span, resize and centre_box: an exported PyTorch file of a run validated on the
# centre crop holds their source too (cnnctl.exchange.pytorch_source), which ruff's defaults must
# leave as it is: within 88 columns, a long signature split with a trailing comma (kept at 120).
def whole_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """`box` with its sides rounded to whole pixels, each at least one pixel long, within an
    image of `width` x `height`: the crop of both the CPU and the GPU paths."""
    left, right = _span(box[0], box[2], width)
    top, bottom = _span(box[1], box[3], height)
    return left, top, right, bottom


def _span(start: float, end: float, size: int) -> tuple[int, int]:
    first = min(math.floor(start + 0.5), size - 1)
    return first, max(first + 1, min(size, math.floor(end + 0.5)))


def resize(
    x: torch.Tensor,
    size: tuple[int, int],
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The image `x` (C, H, W) resized to `size` (H, W) in `dtype` (by default x's): bilinear,
    antialiased when it shrinks (each output pixel the weighted mean of the input pixels under
    it, as Pillow's BILINEAR; within 0.05 levels of it on average). On uint8, PyTorch's kernel
    (vectorised for 3-channel images kept channel-last, as decoded) takes less than half of
    Pillow's time: what makes the random resized crop cheaper than the JPEG decoding."""
    x = x[None].to(dtype or x.dtype)
    if x.shape[2:] == size:
        return x[0].clone()
    out = torch.nn.functional.interpolate(
        x,
        size=size,
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return out[0]


def resize_box(x: torch.Tensor, box: Box, size: tuple[int, int], dtype: torch.dtype | None = None) -> torch.Tensor:
    """The part `box` of the image `x` (C, H, W), in whole pixels (`whole_box`), resized to
    `size` (H, W) in `dtype` (`resize`)."""
    left, top, right, bottom = whole_box(box, x.shape[-1], x.shape[-2])
    return resize(x[:, top:bottom, left:right], size, dtype)


def centre_said(h: int, w: int, ratio: float) -> str:
    """The centre crop of `centre_box` in words: `resized so the shorter side is 37, then the
    centre 32x32 (the 256 -> 224 recipe)`."""
    side = round(min(h, w) / ratio)
    return f"resized so the shorter side is {side}, then the centre {h}x{w} (the {round(224 / ratio)} -> 224 recipe)"


def centre_box(h: int, w: int, ratio: float) -> Callable[[int, int], Box]:
    """The centre crop of the evaluation recipe: the image resized so that it covers the
    input at `ratio` of its size (224 / 256: the shorter side to 256 for a 224x224 input),
    then the input's H x W taken from its centre. As a box of the image as stored."""

    def box(width: int, height: int) -> Box:
        # pixels of the resized image per pixel stored
        scale = max(h / ratio / height, w / ratio / width)
        bw, bh = min(w / scale, width), min(h / scale, height)
        left, top = (width - bw) / 2, (height - bh) / 2
        return left, top, left + bw, top + bh

    return box


def area_box(area: float, log_ratio: float, cx: float, cy: float) -> Callable[[int, int], Box]:
    """A random resized crop's box from its draws: `area`, the share of the image kept;
    `log_ratio`, the log of its aspect (width / height); `cx`, `cy` in [0, 1], where it lies
    in the room left. Sides are clamped to the image's (cnnctl.train.augment draws them)."""

    def box(width: int, height: int) -> Box:
        ratio = math.exp(log_ratio)
        bw = min(math.sqrt(area * ratio * width * height), width)
        bh = min(math.sqrt(area / ratio * width * height), height)
        left, top = cx * (width - bw), cy * (height - bh)
        return left, top, left + bw, top + bh

    return box
