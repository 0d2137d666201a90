"""From raw images to the network's input: hold-out, the adaptation plan (padding or resizing,
channels) and its executor, the one check of what data is held in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..errors import CnnctlError, Loc
from ..limits import MAX_VAL_SPLIT
from . import DataSplits, Split, images_at_once
from .samples import Samples
from .stats import Stats, computed

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .loader import Skipped

# Padding is used while the padded image is at most this much larger than the data on each
# axis (28 -> 32 pads; 28 -> 224 would be a tiny digit in a sea of zeros: resized instead).
PAD_RATIO = 1.5
# A data set adapted to a large input (CIFAR-10 at 224x224x3 is 9 GB) is refused above this.
MAX_BYTES = 4 << 30
# ITU-R 601-2 luma as Pillow's convert("L") computes it (documented L = R * 299/1000 +
# G * 587/1000 + B * 114/1000), in 16-bit fixed point: (19595 R + 38470 G + 7471 B + 32768) >> 16.
# The same numbers for images in memory (CIFAR's arrays) as for decoded files, bit for bit.
LUMA = (19595, 38470, 7471)


@dataclass
class Raw:
    """A data set as read, before adaptation: `val` and `test` are None where it has none.

    A split is images in memory (a Split) or image files not decoded yet (Samples, from an
    image folder): `finish` holds out by index, then decodes each file straight to the
    network's input (cnnctl.data.loader.decode_all), in the input's mode as every path does
    (decode.mode_for); `mode` ("L" or "RGB") is the files' own, as found. `native`
    (H, W, C) is what such files are said to be in the notes: their one size, or the input's
    size where they have several (each is adapted on its own, folder.py says how)."""

    name: str
    classes: list[str]
    train: Split | Samples
    val: Split | Samples | None
    notes: list[str] = field(default_factory=list)
    test: Split | Samples | None = None
    test_from: str = "its test split"  # which files: "the t10k files", "test/"
    no_test: str = ""  # why there is none, where the data set's registration says
    # where `train` comes from where it is not training files: "the t10k files" (MNIST's test
    # files alone: trained on, validation held out from them)
    train_from: str = ""
    mode: str = "RGB"
    native: tuple[int, int, int] | None = None
    lost: int = 0  # images listed that can never be read (samples beyond a shard's cut): counted as unreadable


def n(count: int) -> str:
    return f"{count:,}"


def check_memory(
    nbytes: int, what: str, where: Loc | None = None, hint: str = "train at a smaller input size (--input)"
) -> None:
    """The one check of what data cnnctl holds in memory: `what` (in words, "70,000 images at
    224x224x3") is refused when its `nbytes` are more than MAX_BYTES, before they are allocated."""
    if nbytes > MAX_BYTES:
        raise CnnctlError.at(
            f"{what}: {nbytes / 2**30:.1f} GiB, more than the {MAX_BYTES / 2**30:g} GiB of data cnnctl holds in memory",
            where,
            hint=hint,
        )


def check_memory_free(nbytes: int, what: str, where: Loc | None, hint: str) -> None:
    """Refuse data to be held in memory whose `nbytes` are more than MEMORY_SHARE of the memory
    free now (limits.available_memory; unchecked where that cannot be told), before they are
    allocated: a small file claiming more (a gzip bomb) would otherwise fill the memory while
    it is decompressed, and fail where the system kills cnnctl, not with a message."""
    from ..limits import MEMORY_SHARE, available_memory
    from ..words import size

    free = available_memory()
    if free and nbytes > free * MEMORY_SHARE:
        raise CnnctlError.at(
            f"{what}: {size(nbytes)}, more than {MEMORY_SHARE:.0%} of the {size(free)} of memory free now: "
            "the data set does not fit in memory",
            where,
            hint=hint,
        )


def check_input_shape(shape: Iterable[int]) -> tuple[int, int, int]:
    try:
        h, w, c = (int(d) for d in shape)
    except (TypeError, ValueError):
        raise CnnctlError.at(f"the input shape must be H, W, C (three integers), not {shape!r}") from None
    if min(h, w, c) < 1:
        raise CnnctlError.at(f"the input shape {h}x{w}x{c} has a zero or negative size")
    if min(h, w) < 4:
        raise CnnctlError.at(f"an input of {h}x{w} pixels is too small for an image data set")
    return h, w, c


def check_val_split(val_split: float) -> None:
    """0 holds nothing out (all the data trains; validation only where the data has its own)."""
    if not isinstance(val_split, (int, float)) or not 0.0 <= float(val_split) <= MAX_VAL_SPLIT:
        raise CnnctlError.at(
            f"the validation fraction must be from 0 to {MAX_VAL_SPLIT}, not {val_split!r}",
            hint="0.1 holds out a tenth of the images; 0 trains on all of them",
        )


def hold_out(split: Split | Samples, val_split: float, seed: int) -> tuple[Split | Samples, Split | Samples]:
    """A seeded random `val_split` of `split` for validation, the rest for training (disjoint),
    by index: files (Samples) are held out before they are decoded, and a folder held in
    memory and the same folder streamed hold out the same images."""
    total = len(split)
    k = round(total * val_split)
    if total < 2:
        raise CnnctlError.at(f"{total} image{'s' if total != 1 else ''}: too few to hold some out for validation")
    k = min(max(k, 1), total - 1)
    perm = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))
    return split.take(perm[k:].sort().values), split.take(perm[:k].sort().values)


def _resize(x: torch.Tensor, h: int, w: int, mode: str) -> torch.Tensor:
    """`mode`: "area" or "bilinear", as `plan` chose it. Each image is interpolated on its
    own, so a few at a time (their float32 copies within WORKING_BYTES) give the same result."""
    out = torch.empty((x.shape[0], x.shape[1], h, w), dtype=torch.uint8)
    chunk = images_at_once(4 * x.shape[1] * (x.shape[2] * x.shape[3] + h * w))
    for start in range(0, x.shape[0], chunk):
        out[start : start + chunk] = resized(x[start : start + chunk], (h, w), mode)
    return out


# `resized` and `padded` do what `sizing` chose, to a few images; an exported PyTorch file
# holds their source too (see `sizing`): plain torch, within 88 columns.
def resized(x: torch.Tensor, size: tuple[int, int], how: str) -> torch.Tensor:
    """Images (N, C, H, W) uint8 resized to `size` (H, W) by `how` ("area" or
    "bilinear"), rounded back to uint8."""
    corners = None if how == "area" else False
    x = F.interpolate(x.float(), size=size, mode=how, align_corners=corners)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def padded(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Images (N, C, H, W) uint8 padded with zeros to `size` (H, W), centred."""
    (h, w), (h0, w0) = size, x.shape[2:]
    top, left = (h - h0) // 2, (w - w0) // 2
    out = torch.zeros((x.shape[0], x.shape[1], h, w), dtype=torch.uint8)
    out[:, :, top : top + h0, left : left + w0] = x
    return out


def _to_gray(x: torch.Tensor) -> torch.Tensor:
    """RGB images (N, 3, H, W) uint8 to (N, 1, H, W) luma, exactly Pillow's convert("L"):
    L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (ITU-R 601-2, R * 299/1000 + G * 587/1000
    + B * 114/1000 in 16-bit fixed point, rounded to nearest). Image files are converted by
    Pillow itself as they are decoded (decode.pixels); this serves images that never were
    Pillow images (CIFAR's arrays), and gives every pixel the value Pillow would."""
    out = torch.empty((x.shape[0], 1, x.shape[2], x.shape[3]), dtype=torch.uint8)
    weights = torch.tensor(LUMA, dtype=torch.int32).view(1, 3, 1, 1)
    chunk = images_at_once(4 * 2 * 3 * x.shape[2] * x.shape[3])  # the int32 copy and its weighted product
    for start in range(0, x.shape[0], chunk):
        part = (x[start : start + chunk].to(torch.int32) * weights).sum(1, keepdim=True, dtype=torch.int32)
        out[start : start + chunk] = ((part + 32768) >> 16).to(torch.uint8)  # at most 255: the weights sum to 65536
    return out


@dataclass(frozen=True)
class Step:
    """One step of adapting images to a network's input: `op` is "gray" (RGB to luminance),
    "pad" or "resize" (to `size`, H x W) or "replicate" (1 channel to `channels`); `note`
    says it in words, for the notes of a data set or of a predicted image; `mode`, how a
    resize samples ("area" or "bilinear")."""

    op: str
    note: str
    size: tuple[int, int] = (0, 0)
    channels: int = 0
    mode: str = ""


# The rule by which an image's size reaches the input's, as one self-contained function: `plan`
# follows it, and an exported PyTorch file holds its very source (its `adapt()`), so that a
# network used outside cnnctl adapts images as `cnnctl predict` does. Keep it plain Python
# of its arguments and PAD_RATIO, within 88 columns.
def sizing(native: tuple[int, int], target: tuple[int, int], pad: bool = True) -> str:
    """How an image of `native` (H, W) pixels reaches `target` (H, W): "" (it is that
    size); "pad" with zeros, centred, where it is a little smaller (by up to PAD_RATIO on
    each axis) and `pad` is True; else resized, by "area" averaging to shrink or
    "bilinear" interpolation to grow (either where one axis shrinks and the other grows)."""
    (h0, w0), (h, w) = native, target
    if (h0, w0) == (h, w):
        return ""
    if pad and h0 <= h <= h0 * PAD_RATIO and w0 <= w <= w0 * PAD_RATIO:
        return "pad"
    return "area" if h <= h0 and w <= w0 else "bilinear"


def plan(native: tuple[int, int, int], target: tuple[int, int, int], *, pad: bool = True) -> list[Step]:
    """The steps that adapt images of `native` (H, W, C) to `target`, in order; raises if
    none can. A little smaller (up to PAD_RATIO on each axis) is padded with zeros, unless
    `pad` is False; else resized, by area averaging to shrink, bilinear to grow."""
    (h0, w0, c0), (h, w, c) = native, target
    steps = []
    if c0 != c and not (c0 == 1 or (c0 == 3 and c == 1)):
        raise CnnctlError.at(
            f"cannot adapt {c0}-channel images to a {c}-channel input",
            hint="1 channel can be replicated to any number and 3 (RGB) converted to 1; "
            f"give the network {c0} input channels (--input {h}x{w}x{c0})",
        )
    if c0 == 3 and c == 1:
        steps.append(Step("gray", "converted RGB to 1 channel (luminance 0.299 R + 0.587 G + 0.114 B)"))
    how = sizing((h0, w0), (h, w), pad)
    if how == "pad":
        steps.append(Step("pad", f"padded {h0}x{w0} to {h}x{w} with zeros (centred)", (h, w)))
    elif how:
        ratio = " (aspect ratio changed)" if h0 * w != h * w0 else ""
        steps.append(Step("resize", f"resized {h0}x{w0} to {h}x{w} ({how}){ratio}", (h, w), mode=how))
    if c0 == 1 and c > 1:
        steps.append(Step("replicate", f"replicated 1 channel to {c}", channels=c))
    return steps


def run(x: torch.Tensor, steps: list[Step], notes: list[str] | None = None) -> torch.Tensor:
    """Images (N, C0, H0, W0) uint8 through `steps` (from `plan`), each said in `notes`."""
    for step in steps:
        if step.op == "gray":
            x = _to_gray(x)
        elif step.op == "pad":
            x = padded(x, step.size)
        elif step.op == "resize":
            x = _resize(x, *step.size, step.mode)
        else:  # replicate
            x = x.expand(-1, step.channels, -1, -1)
        if notes is not None:
            notes.append(step.note)
    return x.contiguous()


def adapt(
    x: torch.Tensor, target: tuple[int, int, int], notes: list[str] | None = None, *, pad: bool = True
) -> torch.Tensor:
    """Images (N, C0, H0, W0) uint8 to (N, C, H, W), as `plan` chooses; its steps said in `notes`."""
    c0, h0, w0 = x.shape[1:]
    return run(x, plan((h0, w0, c0), target, pad=pad), notes)


def _at_input(
    split: Split | Samples, target: tuple[int, int, int], raw: Raw, skipped: Skipped, notes: list[str] | None = None
) -> Split:
    """`split` adapted to `target`, its steps said in `notes`: images in memory through `adapt`,
    files decoded one by one straight to `target` (each as `adapt` would do it among the others),
    an unreadable one left out and told to `skipped` (judged by the caller, once every split is read)."""
    if isinstance(split, Split):
        return Split(adapt(split.x, target, notes), split.y)
    from .loader import decode_all, workers_for

    if notes is not None:
        notes.extend(step.note for step in plan(raw.native, target))
    # Decoded in the input's mode, as a stream and predict decode them: a colour image reaches
    # a 1-channel input by Pillow's convert("L") on every path.
    x, y = decode_all(split, target, workers_for(len(split)), skipped=skipped, progress=True)
    return Split(x, y)


def validation(
    train: Split | Samples, val: Split | Samples | None, test: Split | Samples | None, test_from: str, val_split: float,
    seed: int, notes: list[str],
) -> tuple[Split | Samples, Split | Samples, str]:  # fmt: skip
    """(train, val, where val comes from in words) of a data set with the splits given (each a
    Split in memory or Samples on disk, val and test None where it has none): its own
    validation split, else its test split, else `val_split` of the training images held out
    by index (seeded: the same images in memory and streamed), else none. Said in `notes`."""
    if val is not None:
        return train, val, "its validation split"
    if test is not None:
        notes.append(f"validating on {test_from}: the data has no separate validation split")
        return train, test, f"its test split, {test_from}, as the data has no validation split"
    if val_split > 0:
        train, val = hold_out(train, val_split, seed)
        notes.append(f"held out {n(len(val))} of {n(len(train) + len(val))} images for validation (seed {seed})")
        return train, val, f"{val_split:.0%} of the training images held out (seed {seed})"
    notes.append("no validation: --val-split 0 trains on every image (best.pt is not kept; last.pt is)")
    return train, train.take(torch.zeros(0, dtype=torch.int64)), ""


def finish(
    raw: Raw,
    target: tuple[int, int, int],
    *,
    val_split: float,
    seed: int,
    test: bool = False,
    stats: Stats | None = None,
) -> DataSplits:
    """Choose the validation split (the data's own, else its test split, else held out from
    training; none with `val_split` 0), adapt the splits (image files decoded straight to the
    input, each split into one tensor of its final size), and take the normalisation
    statistics `stats` where given (the settings', the weights'), else compute them over the
    adapted training images (cnnctl.data.stats)."""
    notes = list(raw.notes)
    train, val, val_from = validation(raw.train, raw.val, raw.test, raw.test_from, val_split, seed, notes)
    test_split = raw.test if test else None
    h, w, c = target
    extra = len(test_split) if test_split is not None and test_split is not val else 0
    count = len(train) + len(val) + extra
    files = isinstance(raw.train, Samples)  # an image folder or shards: they can stream instead
    smaller = "train at a smaller input size (--input), e.g. the data's own size"
    check_memory(count * h * w * c, f"{n(count)} images at {h}x{w}x{c}",
                 hint=f"--stream reads them from disk while training, or {smaller}" if files else smaller)  # fmt: skip
    same = test_split is val
    from .loader import Skipped

    # The stream's rule (loader.Skipped), against the same population: every image listed. Judged once
    # every split is read, so that the message counts them all.
    skipped = Skipped(listed=count + raw.lost, deferred=True, lost=raw.lost)

    def counted(split: Split | Samples, said: list[str] | None = None) -> tuple[Split, int]:
        before = skipped.epoch_bad
        return _at_input(split, target, raw, skipped, said), skipped.epoch_bad - before

    left_out = {}  # the unreadable images of each split, left out
    train, left_out["train"] = counted(train, notes)
    val, left_out["val"] = counted(val)
    if test_split is not None:
        test_split, left_out["test"] = (val, left_out["val"]) if same else counted(test_split)
    skipped.judge()
    if stats is None:
        stats = computed(train.x)
    elif len(stats.mean) != c:  # checked against the network where they were taken: a caller's slip
        raise ValueError(f"{len(stats.mean)} channel means for {c} channels")
    return DataSplits(
        raw.name, train, val, raw.classes.copy(), stats.mean, stats.std, notes,  # a ClassNames stays one
        val_from=val_from, test=test_split, test_from=raw.test_from if raw.test is not None else "",
        no_test=raw.no_test if raw.test is None else "", stats_from=stats.origin, train_from=raw.train_from,
        unreadable=dict(skipped.names), left_out=left_out, lost=raw.lost,
    )  # fmt: skip
