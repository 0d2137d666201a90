"""Activation functions, as layers (`- relu`) and inline (`conv ... act=relu`)."""

from __future__ import annotations

from ..shapes import Shape, numel
from .args import Arg, Choice, Float
from .base import FROM_OUTPUT, INPUT0, OUTPUT, Args, LayerKind, Saved

# FLOPs per value. An activation is one element-wise function evaluation per value,
# whatever it costs in hardware; softmax is three (exp, add to the sum, divide).
ACTIVATION_FLOPS: dict[str, int] = {
    "relu": 1,
    "relu6": 1,
    "leaky": 1,
    "elu": 1,
    "gelu": 1,
    "silu": 1,
    "sigmoid": 1,
    "tanh": 1,
    "hardswish": 1,
    "hardsigmoid": 1,
    "mish": 1,
    "softmax": 3,
}

ACT_NAMES: tuple[str, ...] = (*ACTIVATION_FLOPS, "none")
ACT_ALIASES = {"swish": "silu"}  # the same function under another paper's name
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
        if name == "leaky":
            self.args = (Arg("slope", Float(0, 1), 0.01, "negative slope", positional=True),)  # type: ignore[misc]

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return ins[0]

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return ACTIVATION_FLOPS[self.name] * numel(out)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(OUTPUT if self.name in FROM_OUTPUT else INPUT0),)


ACTIVATIONS: tuple[Activation, ...] = tuple(Activation(name) for name in ACTIVATION_FLOPS)
