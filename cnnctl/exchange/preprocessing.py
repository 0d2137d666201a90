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
channels are its network record's, and the adaptation follows from them by cnnctl's rules,
and from the run's settings (`augment` and `stream`: the centre crop of a run that streamed
random resized crops, cnnctl.data.loader.validation_recipe).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from ..errors import shown
from ..limits import MAX_CHANNEL_VALUES, MAX_CLASS_CHARS, MAX_NAME_CHARS, MAX_RECORD_CHARS
from ..records import record

# The ONNX metadata_props keys (and the TorchScript extra file) that carry it, and the network's
# name (export's _state_input adds it: `cnnctl import` names the network it reads by it).
ONNX_KEYS = (
    "cnnctl.input", "cnnctl.preprocessing", "cnnctl.mean", "cnnctl.std", "cnnctl.adaptation", "cnnctl.classes",
    "cnnctl.name", "cnnctl.centre", "cnnctl.output",
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
    images were resized as their masks were); `centre`: images are resized to cover the input at
    1 / centre of its size and centre-cropped (cnnctl.data.decode.centre_box: the validation of a run
    that streamed random resized crops), not adapted whole."""

    shape: tuple[int, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    unknown: str = ""  # why there are no statistics: "initialised weights", ...
    adaptation: str = ""
    classes: tuple[str, ...] = ()
    inside: bool = False
    pad: bool = True
    centre: float | None = None  # the photo recipe's centre crop (its share of the resized image), else whole
    output: str = ""  # what the network gives: probabilities (a final softmax) or scores (output_said)

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
            "output": self.output or None,
            "text": self.text(),
        }

    def onnx_props(self) -> dict[str, str]:
        """The ONNX file's metadata_props (keys ONNX_KEYS; mean, std and classes as JSON lists,
        each where known; `cnnctl.centre`, where validation took the photo recipe's centre crop:
        {"recipe": "centre", "share": 0.875}, the image resized so its shorter side is the input's
        / share, then the input's H x W from its centre, cnnctl.data.decode.centre_box)."""
        props = {"cnnctl.input": self.layout, "cnnctl.preprocessing": self.steps()}
        if self.mean is not None and self.std is not None:
            props |= {"cnnctl.mean": json.dumps(list(self.mean)), "cnnctl.std": json.dumps(list(self.std))}
        if self.adaptation:
            props["cnnctl.adaptation"] = self.adaptation
        if self.classes:
            props["cnnctl.classes"] = json.dumps(list(self.classes))
        if self.centre is not None:  # what `cnnctl.adaptation` says of the crop, for a reader: recorded_in_onnx
            props["cnnctl.centre"] = json.dumps({"recipe": "centre", "share": self.centre})
        if self.output:
            props["cnnctl.output"] = self.output
        return props


def _values(values: tuple[float, ...]) -> str:
    """One channel's value as it is (`0.1307`); several as a tuple (`(0.4914, 0.4822, 0.4465)`)."""
    text = ", ".join(repr(float(v)) for v in values)
    return text if len(values) == 1 else f"({text})"


def recorded_in_onnx(props: Mapping[str, str], where: str) -> dict:
    """What an ONNX file cnnctl exported records (its metadata_props `props`, keys ONNX_KEYS),
    read back as a checkpoint records it: `mean` and `std` (lists of numbers, one per channel),
    `classes` (names), `arch` (the network's name) and `centre` (the centre crop's share of
    the resized image, 0 to 1, where validation took one), each where the file has it
    (nothing for a file cnnctl did not write). The file is anyone's: each value is checked (JSON of the right
    types, finite numbers, std above 0, mean and std of one length, bounded sizes) and the first
    that is not is one CnnctlError at `where`, naming its key."""
    from ..errors import CnnctlError, Loc

    def bad(key: str, why: str) -> CnnctlError:
        return CnnctlError.at(
            f"its metadata `{key}` {why}",
            Loc(where),
            hint="cnnctl export writes it; export the network again, or remove the key (onnx.helper.set_model_props)",
        )

    def parsed(key: str):
        text = props[key]
        if len(text) > MAX_RECORD_CHARS:
            raise bad(key, f"holds {len(text):,} characters: more than cnnctl reads ({MAX_RECORD_CHARS:,})")
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise bad(key, f"is not JSON: {shown(text)}") from None

    record: dict = {}
    for key, field in (("cnnctl.mean", "mean"), ("cnnctl.std", "std")):
        if key not in props:
            continue
        values = parsed(key)
        numbers = isinstance(values, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        if not numbers or not values:
            raise bad(key, f"is not a list of numbers: {shown(props[key])}")
        if len(values) > MAX_CHANNEL_VALUES:
            raise bad(key, f"holds {len(values):,} numbers: at most {MAX_CHANNEL_VALUES:,}, one per channel")
        try:
            values = [float(v) for v in values]
        except OverflowError:  # a whole number past float's range
            values = [math.inf]
        if not all(math.isfinite(v) for v in values):
            raise bad(key, f"holds a number that is not finite: {shown(props[key])}")
        if field == "std" and min(values) <= 0:
            raise bad(key, f"holds {min(values)}: the input is divided by it")
        record[field] = values
    if ("mean" in record) != ("std" in record):
        present, missing = ("cnnctl.mean", "cnnctl.std") if "mean" in record else ("cnnctl.std", "cnnctl.mean")
        raise bad(present, f"is given without `{missing}`: the input is normalised with both")
    if "mean" in record and len(record["mean"]) != len(record["std"]):
        raise bad("cnnctl.std", f"holds {len(record['std'])} numbers and `cnnctl.mean` {len(record['mean'])}")
    if "cnnctl.classes" in props:
        names = parsed("cnnctl.classes")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise bad("cnnctl.classes", "is not a list of names")
        odd = next((n for n in names if len(n) > MAX_CLASS_CHARS or not n.isprintable()), None)
        if odd is not None:
            raise bad("cnnctl.classes", f"holds the name {shown(odd)}: not a line of at most "
                      f"{MAX_CLASS_CHARS:,} characters")  # fmt: skip
        record["classes"] = names
    if (size := input_of_layout(props.get("cnnctl.input", ""))) is not None:
        record["input"] = size
    if "cnnctl.name" in props:
        name = props["cnnctl.name"]
        if not name.strip() or len(name) > MAX_NAME_CHARS or not name.isprintable():
            raise bad("cnnctl.name", f"is {shown(name)}: not a name on one line of at most "
                      f"{MAX_NAME_CHARS} characters")  # fmt: skip
        record["arch"] = name
    if "cnnctl.centre" in props:
        record["centre"] = _centre(parsed("cnnctl.centre"), lambda why: bad("cnnctl.centre", why))
    return record


_LAYOUT = re.compile(r"(?:float32 \(N, (\d+), (\d+), (\d+)\) NCHW|uint8 \(N, (\d+), (\d+), (\d+)\) NHWC)")


def input_of_layout(text: str) -> list[int] | None:
    """The input [H, W, C] that `cnnctl.input` (Preprocessing.layout: `float32 (N, 3, 32, 32) NCHW`, or with
    --with-preprocessing `uint8 (N, 32, 32, 3) NHWC`) states, so that weights exported at one input and
    given to the network at another are told as a run's are (train.weights_from.trained_input); None for
    a vector input or a text of another form (the key is a description: an unknown one is left unread)."""
    found = _LAYOUT.fullmatch(text.strip())
    if found is None:
        return None
    if found.group(1) is not None:
        c, h, w = (int(found.group(i)) for i in (1, 2, 3))
    else:
        h, w, c = (int(found.group(i)) for i in (4, 5, 6))
    return [h, w, c]


def _centre(recipe, bad) -> float:
    """The share of `cnnctl.centre` (JSON {"recipe": "centre", "share": S}), a number above 0
    and at most 1 (the crop lies within the resized image); anything else is `bad(why)`."""
    share = recipe.get("share") if isinstance(recipe, dict) and recipe.get("recipe") == "centre" else None
    if not isinstance(share, (int, float)) or isinstance(share, bool):
        raise bad(f'is not {{"recipe": "centre", "share": S}} with S a number: {shown(json.dumps(recipe))}')
    value = float(share) if abs(share) < 2 else math.inf  # a whole number past float's range is no share either
    if not (math.isfinite(value) and 0 < value <= 1):
        raise bad(f"holds the share {shown(json.dumps(share))}: the centre crop is more than 0 and at most 1 "
                  "of the resized image")  # fmt: skip
    return value
