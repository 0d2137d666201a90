"""The input an exported network expects: its shape, and how an image becomes it.

A trained network expects each image as it saw the training images: pixel values scaled to
0..1, then normalised per channel with the training data's mean and standard deviation
(which its checkpoint keeps). Fed raw pixels, it answers wrongly without a word, so every
export states it: the message, the PyTorch file's docstring and its MEAN, STD and
`normalize()`, the ONNX file's metadata_props, the TorchScript file's extra file. Said here,
once, for all of them. Pure Python.
"""

from __future__ import annotations

import json

from ..records import record

# The ONNX metadata_props keys (and the TorchScript extra file) that carry it.
ONNX_KEYS = ("cnnctl.input", "cnnctl.preprocessing", "cnnctl.mean", "cnnctl.std")
TORCHSCRIPT_FILE = "cnnctl_preprocessing.json"


@record
class Preprocessing:
    """The input an exported network takes: `shape` per example, NCHW without N ((C, H, W),
    or (features,) for a vector); `mean` and `std` per channel, of pixel values scaled to
    0..1, as the checkpoint recorded them, or None where nothing is known (`unknown` says why)."""

    shape: tuple[int, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    unknown: str = ""  # why there are no statistics: "initialised weights", ...

    @property
    def layout(self) -> str:
        dims = ", ".join(map(str, self.shape))
        return f"float32 (N, {dims})" + (" NCHW" if len(self.shape) == 3 else "")

    def steps(self) -> str:
        """How an image becomes the input, in words."""
        if self.mean is None or self.std is None:
            return f"no normalisation is known ({self.unknown})"
        colours = {1: "grayscale", 3: "RGB"}.get(self.shape[0], f"{self.shape[0]}-channel")
        return (
            f"{colours} pixel values / 255, then normalise with mean {_values(self.mean)} and std "
            f"{_values(self.std)} per channel: (x - mean) / std"
        )

    def text(self) -> str:
        """One line: `float32 (N, 1, 32, 32) NCHW: grayscale pixel values / 255, then ...`."""
        return f"{self.layout}: {self.steps()}"

    def as_json(self) -> dict:
        return {
            "shape": ["N", *self.shape],
            "layout": "NCHW" if len(self.shape) == 3 else "NC",
            "scale": None if self.mean is None else "1/255",
            "mean": None if self.mean is None else list(self.mean),
            "std": None if self.std is None else list(self.std),
            "text": self.text(),
        }

    def onnx_props(self) -> dict[str, str]:
        """The ONNX file's metadata_props (keys ONNX_KEYS; mean and std as JSON lists, when known)."""
        props = {"cnnctl.input": self.layout, "cnnctl.preprocessing": self.steps()}
        if self.mean is not None and self.std is not None:
            props |= {"cnnctl.mean": json.dumps(list(self.mean)), "cnnctl.std": json.dumps(list(self.std))}
        return props


def _values(values: tuple[float, ...]) -> str:
    """One channel's value as it is (`0.1307`); several as a tuple (`(0.4914, 0.4822, 0.4465)`)."""
    text = ", ".join(repr(float(v)) for v in values)
    return text if len(values) == 1 else f"({text})"
