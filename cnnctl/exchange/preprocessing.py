"""The input an exported network expects: its shape, and how an image becomes it.

A trained network expects each image as it saw the training images: adapted to the input
(converted to its channels, padded or resized: the rules `cnnctl predict` follows,
cnnctl.data.decode.adaptation), its pixel values scaled to 0..1, then normalised per channel
with the training data's mean and standard deviation (which its checkpoint keeps). Fed raw
pixels, it answers wrongly without a word, so every export states it: the message, the
PyTorch file's docstring and its MEAN, STD, `adapt()`, `normalize()` and `preprocess()`, the
ONNX file's metadata_props, the TorchScript file's extra file. Exported with
--with-preprocessing, the network takes the adapted images' uint8 pixels (NHWC) and scales
and normalises them itself. Said here, once, for all of them. Pure Python.

Nothing of this is stored in a checkpoint beyond its mean and std: the input's size and
channels are its network record's, and the adaptation follows from them by cnnctl's rules.
"""

from __future__ import annotations

import json

from ..records import record

# The ONNX metadata_props keys (and the TorchScript extra file) that carry it.
ONNX_KEYS = (
    "cnnctl.input", "cnnctl.preprocessing", "cnnctl.mean", "cnnctl.std", "cnnctl.adaptation", "cnnctl.classes"
)  # fmt: skip
TORCHSCRIPT_FILE = "cnnctl_preprocessing.json"


@record
class Preprocessing:
    """The input an exported network takes: `shape` per example, NCHW without N ((C, H, W),
    or (features,) for a vector); `mean` and `std` per channel, of pixel values scaled to
    0..1, as the checkpoint recorded them, or None where nothing is known (`unknown` says why);
    `adaptation`, how an image file of any size becomes one of `shape`, in words; `classes`, the
    names of the outputs, where the checkpoint has them; `inside`: the network takes uint8
    pixels NHWC and normalises them itself (--with-preprocessing); `pad`: a little smaller
    image is padded, not resized (cnnctl.data.adapt.sizing; False for a dense network, whose
    images were resized as their masks were)."""

    shape: tuple[int, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    unknown: str = ""  # why there are no statistics: "initialised weights", ...
    adaptation: str = ""
    classes: tuple[str, ...] = ()
    inside: bool = False
    pad: bool = True

    @property
    def layout(self) -> str:
        if self.inside:
            c, h, w = self.shape
            return f"uint8 (N, {h}, {w}, {c}) NHWC"
        dims = ", ".join(map(str, self.shape))
        return f"float32 (N, {dims})" + (" NCHW" if len(self.shape) == 3 else "")

    def steps(self) -> str:
        """How an image becomes the input, in words."""
        if self.mean is None or self.std is None:
            return f"no normalisation is known ({self.unknown})"
        colours = {1: "grayscale", 3: "RGB"}.get(self.shape[0], f"{self.shape[0]}-channel")
        statistics = f"mean {_values(self.mean)} and std {_values(self.std)} per channel"
        if self.inside:
            return (
                f"{colours} pixel values 0-255 as they are: the network scales them by 1/255 and normalises them "
                f"with {statistics} itself"
            )
        return f"{colours} pixel values / 255, then normalise with {statistics}: (x - mean) / std"

    def text(self) -> str:
        """One line: `float32 (N, 1, 32, 32) NCHW: grayscale pixel values / 255, then ...`."""
        return f"{self.layout}: {self.steps()}"

    def as_json(self) -> dict:
        """`shape` and `layout` of what the network takes; `scale`, `mean` and `std` of the
        normalisation (`normalised_inside` with --with-preprocessing), `adaptation` and `classes`."""
        c, *rest = self.shape
        return {
            "shape": ["N", *rest, c] if self.inside else ["N", *self.shape],
            "layout": "NHWC" if self.inside else "NCHW" if len(self.shape) == 3 else "NC",
            "dtype": "uint8" if self.inside else "float32",
            "scale": None if self.mean is None else "1/255",
            "mean": None if self.mean is None else list(self.mean),
            "std": None if self.std is None else list(self.std),
            "normalised_inside": self.inside,
            "adaptation": self.adaptation or None,
            "classes": list(self.classes) or None,
            "text": self.text(),
        }

    def onnx_props(self) -> dict[str, str]:
        """The ONNX file's metadata_props (keys ONNX_KEYS; mean, std and classes as JSON lists,
        each where known)."""
        props = {"cnnctl.input": self.layout, "cnnctl.preprocessing": self.steps()}
        if self.mean is not None and self.std is not None:
            props |= {"cnnctl.mean": json.dumps(list(self.mean)), "cnnctl.std": json.dumps(list(self.std))}
        if self.adaptation:
            props["cnnctl.adaptation"] = self.adaptation
        if self.classes:
            props["cnnctl.classes"] = json.dumps(list(self.classes))
        return props


def _values(values: tuple[float, ...]) -> str:
    """One channel's value as it is (`0.1307`); several as a tuple (`(0.4914, 0.4822, 0.4465)`)."""
    text = ", ".join(repr(float(v)) for v in values)
    return text if len(values) == 1 else f"({text})"
