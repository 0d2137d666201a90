"""The background of a network's training images (light on dark, dark on light), from its
checkpoint's channel means, and the images predict is given that look drawn the other way."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..errors import Loc, Problem, quoted
from .checkpoint import Checkpoint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .predict import Prediction


# The training data's background, from the checkpoint's channel means (of its images scaled
# to 0..1): images that average below DARK_DATA are mostly dark, light things on a dark
# background (MNIST 0.13, Fashion-MNIST 0.29, shapes about 0.2); above 1 - DARK_DATA, dark
# on light (scanned pages, sketches); photos (CIFAR-10 0.47, ImageNet 0.45) have no
# convention. An image whose border (its outermost ring of pixels, as read: before any
# padding, which adds black) is on the other side of LIGHT_BORDER than the training data's
# background was most likely drawn the other way round: it is said, not changed.
DARK_DATA = 1 / 3
LIGHT_BORDER = 127.5  # half of 255


@dataclass
class Background:
    """What the checkpoint knows of its training images' background (see DARK_DATA)."""

    data: str  # the data they came from, as the run named it: `mnist`, a folder
    brightness: float  # their mean over the channels, 0 to 1
    dark: bool  # light things on a dark background (else dark on light)
    gray: bool = True  # the network takes one channel: drawings (MNIST's digits), which --invert is for

    @property
    def drawn(self) -> str:
        return "light on dark" if self.dark else "dark on light"


def training_background(state: dict) -> Background | None:
    """The background of the images the checkpoint was trained on, from its channel means,
    whatever the data (a named data set or a folder); None where they have no convention
    (photos) or the checkpoint records no means."""
    saved = Checkpoint.of(state)
    mean = saved.mean
    if not mean:
        return None
    brightness = sum(mean) / len(mean)
    if DARK_DATA <= brightness <= 1 - DARK_DATA:
        return None
    data = (saved.config or {}).get("data")  # a data set's name, or a folder (its name is enough here)
    data = quoted(os.path.basename(data.rstrip("/")) or data) if isinstance(data, str) else "its data"
    return Background(data, brightness, dark=brightness < DARK_DATA, gray=len(mean) == 1)


def image_warnings(x: torch.Tensor, seen: Prediction, background: Background | None, invert: bool) -> list[Problem]:
    """What may make the prediction meaningless, for the (1, c, H, W) uint8 image `x` as read
    (converted to the network's channels, inverted with --invert, not yet padded): a single
    flat value, or a background (the mean of its outermost ring of pixels, over the
    channels) on the other side of LIGHT_BORDER than the training images' background."""
    problems = []
    low, high = int(x.min()), int(x.max())
    if low == high:
        hint = (
            "whatever only its transparency drew went with the alpha channel: flatten the image onto a background first"
            if any(a.startswith("dropped the alpha") for a in seen.adapted)
            else None
        )
        problems.append(Problem(f"every pixel is {low} once adapted: a blank image", Loc(seen.image), hint=hint))
    elif background is not None:
        ring = torch.ones(x.shape[-2:], dtype=torch.bool)
        ring[1:-1, 1:-1] = False
        border = x[0][:, ring].float().mean().item()
        if (border > LIGHT_BORDER) == background.dark:
            after = " after --invert" if invert else ""
            if invert:
                hint = f"it was inverted by --invert: leave --invert out for an image already {background.drawn}"
            elif background.gray:  # a drawing in one channel: --invert is what it is for
                hint = "give --invert to predict on the inverted image (255 - value)"
            else:  # a colour photo: inverting its colours would not make it like the training images
                hint = "the network takes colour images; scores of an image unlike its training images mean little"
            problems.append(
                Problem(
                    f"a {'light' if background.dark else 'dark'} background{after}: the image's border averages "
                    f"{border:.0f} of 255, but the network was trained on {background.data}, {background.drawn} "
                    f"(its training images average {background.brightness * 255:.0f} of 255)",
                    Loc(seen.image),
                    hint=hint,
                )
            )
    return problems
