"""Activation functions, as layers (`- relu`) and inline (`conv ... act=relu`)."""

from __future__ import annotations

from ..shapes import Shape, numel
from .args import Arg, Choice, Float
from .base import FROM_OUTPUT, INPUT0, OUTPUT, Args, LayerKind, Saved, register

# Each activation: its FLOPs per value, the ONNX operator read as it (where that operator's
# default attributes are cnnctl's function: leaky's slope, relu6's clip, hardsigmoid's alpha
# and softmax's axis are read by readers of their own), other names accepted as it (the same
# function under another paper's name), and other tools' names for it (a "did you mean" hint).
# An activation is one element-wise function evaluation per value, whatever it costs in
# hardware; softmax is three (exp, add to the sum, divide).
_TABLE: dict[str, tuple[int, str, tuple[str, ...], tuple[str, ...]]] = {
    "relu": (1, "Relu", (), ()),
    "relu6": (1, "", (), ()),
    "leaky": (1, "", (), ("leakyrelu", "leaky_relu")),
    "elu": (1, "Elu", (), ()),
    "gelu": (1, "Gelu", (), ()),  # exact (erf): the reader refuses approximate="tanh"
    "silu": (1, "", ("swish",), ()),  # ONNX has no SiLU: the reader finds x * Sigmoid(x)
    "sigmoid": (1, "Sigmoid", (), ()),
    "tanh": (1, "Tanh", (), ()),
    "hardswish": (1, "HardSwish", (), ()),
    "hardsigmoid": (1, "", (), ()),
    "mish": (1, "Mish", (), ()),
    "softmax": (3, "", (), ("softmax2d",)),
}
ACTIVATION_FLOPS: dict[str, int] = {name: row[0] for name, row in _TABLE.items()}

ACT_NAMES: tuple[str, ...] = (*ACTIVATION_FLOPS, "none")
ACT_ALIASES = {alias: name for name, row in _TABLE.items() for alias in row[2]}
ACT = Choice(*ACT_NAMES, aliases=ACT_ALIASES)
"""The type of an inline activation argument (`act=relu`)."""


class Activation(LayerKind):
    """Activation function: output shape = input shape, no parameters, no multiplications.

    FLOPs = (values) x (1 per value; 3 for softmax: exp, add to the sum, divide).
    Softmax on a volume runs over the channels of each position.
    `leaky` takes `slope` (default 0.01).
    Keeps for backward its output (relu, sigmoid, tanh, softmax) or its input (the others).
    """

    def __init__(self, name: str):
        self.name = name  # type: ignore[misc]
        _, self.onnx_op, self.aliases, synonyms = _TABLE[name]  # type: ignore[misc]
        self.synonyms = dict.fromkeys(synonyms, name)  # type: ignore[misc]
        if name == "softmax":  # on CUDA autocast's float32 list, not on the CPU's
            self.autocast, self.autocast_cpu = "out32", ""  # type: ignore[misc]
        if name == "leaky":
            self.args = (Arg("slope", Float(0, 1), 0.01, "negative slope", positional=True),)  # type: ignore[misc]

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return ins[0]

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return ACTIVATION_FLOPS[self.name] * numel(out)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(OUTPUT if self.name in FROM_OUTPUT else INPUT0),)


ACTIVATIONS: tuple[Activation, ...] = tuple(register(Activation(name)) for name in ACTIVATION_FLOPS)  # type: ignore[misc]
