"""Activation functions, as layers (`- relu`) and inline (`conv ... act=relu`)."""

from __future__ import annotations

from ..records import record
from ..shapes import Shape, numel
from .args import Arg, Choice, Float
from .base import FROM_OUTPUT, INPUT0, OUTPUT, Args, LayerKind, Saved, register


@record
class ActivationRow:
    """One activation, all cnnctl knows of it besides its function (`backend/functional.py`)."""

    flops: int  # per value: one element-wise evaluation, whatever it costs in hardware; softmax 3
    # The ONNX operator read as it, where that operator's default attributes are cnnctl's
    # function (leaky's slope, relu6's clip, hardsigmoid's alpha and softmax's axis are read by
    # readers of their own).
    onnx_op: str = ""
    aliases: tuple[str, ...] = ()  # other names accepted as it: the same function under another paper's name
    synonyms: tuple[str, ...] = ()  # other tools' names for it: a "did you mean" hint
    autocast: str = ""  # as `LayerKind.autocast`: softmax is on CUDA autocast's float32 list
    autocast_cpu: str | None = None  # as `LayerKind.autocast_cpu`: softmax is not on the CPU's
    args: tuple[Arg, ...] = ()  # as a layer of its own (`leaky 0.2`); inline (`act=leaky`) it takes the defaults


_TABLE: dict[str, ActivationRow] = {
    "relu": ActivationRow(1, "Relu"),
    "relu6": ActivationRow(1),
    "leaky": ActivationRow(
        1,
        synonyms=("leakyrelu", "leaky_relu"),
        args=(Arg("slope", Float(0, 1), 0.01, "negative slope", positional=True),),
    ),
    "elu": ActivationRow(1, "Elu"),
    "gelu": ActivationRow(1, "Gelu"),  # exact (erf): the reader refuses approximate="tanh"
    "silu": ActivationRow(1, aliases=("swish",)),  # ONNX has no SiLU: the reader finds x * Sigmoid(x)
    "sigmoid": ActivationRow(1, "Sigmoid"),
    "tanh": ActivationRow(1, "Tanh"),
    "hardswish": ActivationRow(1, "HardSwish"),
    "hardsigmoid": ActivationRow(1),
    "mish": ActivationRow(1, "Mish"),
    "softmax": ActivationRow(3, synonyms=("softmax2d",), autocast="out32", autocast_cpu=""),
}
ACTIVATION_FLOPS: dict[str, int] = {name: row.flops for name, row in _TABLE.items()}

ACT_NAMES: tuple[str, ...] = (*ACTIVATION_FLOPS, "none")
ACT_ALIASES = {alias: name for name, row in _TABLE.items() for alias in row.aliases}
ACT = Choice(*ACT_NAMES, aliases=ACT_ALIASES)
"""The type of an inline activation argument (`act=relu`)."""

ACTIVATIONS_COUNTED = "activations 1 per value (softmax and rsoftmax 3)"
"""`LayerKind.counted` of every activation, and of rsoftmax: its FLOPs are softmax's."""


class Activation(LayerKind):
    """Activation function: output shape = input shape, no parameters, no multiplications.

    FLOPs = (values) x (1 per value; 3 for softmax: exp, add to the sum, divide).
    Softmax on a volume runs over the channels of each position.
    `leaky` takes `slope` (default 0.01).
    Keeps for backward its output (relu, sigmoid, tanh, softmax) or its input (the others).
    """

    counted = ACTIVATIONS_COUNTED

    def __init__(self, name: str):
        row = _TABLE[name]
        self.name, self.onnx_op, self.autocast = name, row.onnx_op, row.autocast  # type: ignore[misc]
        self.autocast_cpu = row.autocast_cpu  # type: ignore[misc]
        self.aliases, self.args = row.aliases, row.args  # type: ignore[misc]
        self.synonyms = dict.fromkeys(row.synonyms, name)  # type: ignore[misc]

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return ins[0]

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return ACTIVATION_FLOPS[self.name] * numel(out)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(OUTPUT if self.name in FROM_OUTPUT else INPUT0),)


ACTIVATIONS: tuple[Activation, ...] = tuple(register(Activation(name)) for name in ACTIVATION_FLOPS)  # type: ignore[misc]
