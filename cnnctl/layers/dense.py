"""Fully connected layers and the layers around them: flatten, dropout; stochastic depth."""

from __future__ import annotations

from ..shapes import Shape, fc_mults, fc_params, numel
from .activation import ACT
from .args import BOOL, Arg, Float, Int
from .base import (
    INPUT0,
    OWN,
    Args,
    LayerKind,
    Saved,
    activation_flops,
    activation_saved,
    registered,
    weight_and_bias,
    weights_backward_flops,
)


@registered
class FC(LayerKind):
    """Fully connected: `fc 120 act=tanh`.

    A volume input is flattened first (implicitly, ``H*W*C`` values). Output: ``units``.
    Params: ``in*units`` weights + ``units`` biases (unless ``bias=false``).
    Multiplications: ``in*units``.
    FLOPs: ``2*mults + units`` bias adds (with bias) + the activation's.
    Backward multiplications: ``mults`` for the weight gradient, as many again for the input
    gradient when the input needs one. Keeps its input (and what its activation keeps).
    Receptive field: the whole input.
    """

    name = "fc"
    autocast = "16"
    synonyms = {  # noqa: RUF012 - never mutated
        "dense": "fc",
        "linear": "fc",
        "fully_connected": "fc",
        "fullyconnected": "fc",
    }
    args = (
        Arg("units", Int(), doc="number of output units", positional=True, show=True),
        Arg("act", ACT, "none", "activation applied to the output"),
        Arg("bias", BOOL, True, "add a bias per unit", flag=True),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return (a.units,)

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return fc_params(numel(ins[0]), a.units, a.bias)

    def param_shapes(self, a: Args, ins: list[Shape], out: Shape) -> tuple[tuple[str, Shape], ...]:
        return weight_and_bias((a.units, numel(ins[0])), a.units if a.bias else None)  # nn.Linear's: out, in

    def mults(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return fc_mults(numel(ins[0]), a.units)

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * self.mults(a, ins, out) + (a.units if a.bias else 0) + activation_flops(a, out)

    def backward_mults(self, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
        return self.mults(a, ins, out) * (2 if input_grad else 1)

    def backward_flops(self, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
        return weights_backward_flops(self, a, ins, out, input_grad)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(INPUT0), *activation_saved(a, out))

    def window(self, a: Args, ins: list[Shape], out: Shape) -> None:
        return None


@registered
class Flatten(LayerKind):
    """Flatten: a volume ``HxWxC`` becomes the vector ``H*W*C``. Free: no params, no FLOPs.
    A view of its input: it moves no bytes (the roofline charges it none).

    Implicit before an `fc` that meets a volume; write it to make it visible.
    Receptive field: the whole input (a vector has no positions).
    """

    name = "flatten"

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return (numel(ins[0]),)

    def is_view(self, a: Args) -> bool:
        return True

    def passes_gradient(self, a: Args) -> bool:
        return True

    def window(self, a: Args, ins: list[Shape], out: Shape) -> None:
        return None


@registered
class Dropout(LayerKind):
    """Dropout: `dropout 0.5`. Shape unchanged; no params; counted as free (it is the
    identity at inference, where costs are measured: it returns its input, moving no bytes;
    in a training step it reads its input and writes its output).
    Keeps its mask for backward: one byte a value on a GPU (PyTorch's fused kernel keeps a
    bool mask), the activations' dtype on a CPU (its unfused form keeps the scaled noise).
    """

    name = "dropout"
    synonyms = {"dropout2d": "dropout"}  # noqa: RUF012 - never mutated
    args = (Arg("rate", Float(0, 1, hi_open=True), 0.5, "probability of zeroing a value", positional=True, show=True),)

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return ins[0]

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(OWN, numel(out), itemsize=MASK),)

    def moves_data(self, a: Args, training: bool) -> bool:
        return training


MASK = 1
"""`Saved.itemsize` of dropout's mask: a bool a value on a GPU; the memory analysis reads it
as the activations' dtype on a CPU."""


@registered
class DropPath(LayerKind):
    """Stochastic depth: `droppath 0.1` at the end of a residual's main path. In training,
    each example's path is dropped with that probability (and kept ones scaled by
    ``1/(1 - rate)``, torchvision's "row" mode); at inference it is the identity.

    Without a rate it takes its block's rate from the file's `droppath:` schedule (the rate
    grows linearly with the block's place in the network; see the README).
    Shape unchanged; no params; free, like dropout (costs are measured at inference), moving
    no bytes at inference. Keeps one scale per example for backward.
    """

    name = "droppath"
    synonyms = {"drop_path": "droppath", "stochastic_depth": "droppath"}  # noqa: RUF012 - never mutated
    args = (
        Arg("rate", Float(0, 1, hi_open=True), None, "probability of dropping the path", positional=True, show=True),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return ins[0]

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(OWN, 1),) if a.rate else ()

    def is_view(self, a: Args) -> bool:
        return not a.rate  # a rate of 0 passes its input through

    def passes_gradient(self, a: Args) -> bool:
        return self.is_view(a)  # and its gradient back

    def moves_data(self, a: Args, training: bool) -> bool:
        return training and not self.is_view(a)
