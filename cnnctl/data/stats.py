"""Normalisation statistics: each input channel's mean and standard deviation of pixel / 255,
by which the network's input is normalised.

They are an input of loading data, from one of three origins:
- given (the settings, or a caller that knows them): `given(mean, std, channels, origin)`;
- from the weights: a checkpoint stores the statistics it was trained with, and pretrained
  weights come with theirs: `from_weights(state, channels, where)`;
- computed from the training images: a full pass over data held in memory (as always), or a
  seeded sample of at most `most` images where the data cannot be scanned: `computed(x, most)`.
Whatever their origin, a checkpoint keeps the ones used.

Importing this file does not import torch: `given` and `from_weights` need none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import CnnctlError, Loc
from ..words import plural

if TYPE_CHECKING:
    from collections.abc import Iterable

    import torch


@dataclass(frozen=True)
class Stats:
    """Per-channel mean and standard deviation of pixel / 255, and where they come from, in
    words ("computed over the 6,000 training images", "from the weights in run/best.pt")."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    origin: str


def given(mean: Iterable[float], std: Iterable[float], channels: int, origin: str, where: Loc | None = None) -> Stats:
    """`mean` and `std` as given by `origin` (the settings, the weights), checked: one finite
    number per input channel, each deviation above zero (the input is divided by it)."""
    values = {}
    for key, seq in (("mean", mean), ("std", std)):
        try:
            numbers = tuple(float(v) for v in seq)
        except (TypeError, ValueError):
            raise CnnctlError.at(f"the channel {key} from {origin} is not a list of numbers: {seq!r}", where) from None
        if len(numbers) != channels:
            raise CnnctlError.at(
                f"the channel {key} from {origin} has {len(numbers)} values for a network of "
                f"{plural(channels, 'input channel')}",
                where,
                hint="one value per input channel",
            )
        if not all(math.isfinite(v) for v in numbers):
            raise CnnctlError.at(f"the channel {key} from {origin} is not finite: {list(numbers)}", where)
        values[key] = numbers
    if min(values["std"]) <= 0:
        raise CnnctlError.at(
            f"the channel std from {origin} has {min(values['std'])}: the input is divided by it",
            where,
            hint="standard deviations above zero (ImageNet's are 0.229, 0.224, 0.225)",
        )
    return Stats(values["mean"], values["std"], origin)


WEIGHTS_ORIGIN = "the weights in"  # the origin of the statistics a checkpoint recorded: "the weights in run/best.pt"


def from_weights(state: Mapping, channels: int, where: str) -> Stats | None:
    """The statistics a checkpoint (or pretrained weights' record) `state` was trained with,
    None where it stores none; `where` names the file for the messages."""
    if "mean" not in state or "std" not in state:
        return None
    return given(state["mean"], state["std"], channels, f"{WEIGHTS_ORIGIN} {where}", Loc(str(where)))


def computed(x: torch.Tensor, *, most: int | None = None, seed: int = 0) -> Stats:
    """Per-channel mean and (population) standard deviation of `x / 255` (N, C, H, W uint8),
    in float64: over every image, or, with `most`, over a seeded random sample of that many
    (an estimate, where the data cannot be scanned)."""
    import torch

    from . import images_at_once

    total = x.shape[0]
    if most is not None and total > most:
        pick = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))[:most].sort().values
        x, origin = x[pick], f"estimated from a sample of {most:,} of the {total:,} training images (seed {seed})"
    else:
        origin = f"computed over the {total:,} training images"
    c = x.shape[1]
    sums = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    chunk = images_at_once(8 * c * x.shape[2] * x.shape[3])  # their float64 copy, squared in place
    for start in range(0, x.shape[0], chunk):
        part = x[start : start + chunk].to(torch.float64).div_(255.0)
        sums += part.sum(dim=(0, 2, 3))
        squares += part.square_().sum(dim=(0, 2, 3))
    count = max(x.shape[0] * x.shape[2] * x.shape[3], 1)
    mean = sums / count
    var = (squares / count - mean * mean).clamp_(min=0.0)
    # A channel that never varies (a constant blue, a blank test set) is centred, not divided by 0.
    std = [round(float(v), 6) for v in var.sqrt()]
    return Stats(tuple(round(float(v), 6) for v in mean), tuple(v if v > 0 else 1.0 for v in std), origin)
