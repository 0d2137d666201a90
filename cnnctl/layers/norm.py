"""Normalisation: batch norm, local response normalisation (AlexNet, GoogLeNet), layer and
group norm (ConvNeXt, detection heads), layer scale (ConvNeXt), and a fixed scale and shift
per channel (torchvision's transform_input)."""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape, numel
from .activation import ACT
from .args import Arg, Float, Int, Numbers, OrNone
from .base import (
    INPUT0,
    OWN,
    Args,
    LayerKind,
    Saved,
    activation_flops,
    activation_saved,
    registered,
    require_volume,
    weight_and_bias,
)

STATS = -1
"""`Saved.itemsize` of a normalisation's mean and inverse deviation: float32 on a GPU whatever the
activations' dtype (PyTorch's CUDA kernels, cuDNN's batch norm included, keep them in their float
accumulators); the memory analysis reads it as the activations' dtype on a CPU."""


class Normalisation(LayerKind):
    """Base of the normalisations with a learned scale and shift per channel: shape
    unchanged, ``2*C`` params, an inline activation and an `eps`."""

    args = (
        Arg("act", ACT, "none", "activation applied to the output"),
        Arg("eps", Float(0, 1, lo_open=True), 1e-5, "added to the variance"),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return ins[0]

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * out[-1]

    def param_shapes(self, a: Args, ins: list[Shape], out: Shape) -> tuple[tuple[str, Shape], ...]:
        return weight_and_bias((out[-1],), out[-1])  # the scale gamma, the shift beta


@registered
class BatchNorm(Normalisation):
    """Batch normalisation: `bn`, or `bn act=relu`, `bn eps=1e-3 momentum=0.01`. Shape unchanged.

    Params: ``2*C`` (scale gamma and shift beta per channel). Buffers (not trainable):
    ``2*C`` (running mean and variance). No multiplications by the course's convention.
    FLOPs: ``2`` per value (inference form: one scale, one shift) + the activation's.
    Keeps for backward: its input, the batch's mean and inverse deviation (``2*C`` in all),
    and what its activation keeps.
    """

    name = "bn"
    counted = "bn 2 per value"
    synonyms = {  # noqa: RUF012 - never mutated
        "batchnorm": "bn",
        "batch_norm": "bn",
        "batchnorm2d": "bn",
        "norm": "bn",
    }
    # PyTorch's: each training batch moves the running statistics `momentum` of the way to its
    # own (x = (1 - momentum) x + momentum batch); none: their plain average over every batch.
    # Only batch norm tracks statistics: layer and group norm have no momentum.
    args = (
        *Normalisation.args,
        Arg("momentum", OrNone(Float(0, 1)), 0.1, "how far each training batch moves the running statistics"),
    )

    def buffers(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * out[-1]

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * numel(out) + activation_flops(a, out)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(INPUT0), Saved(OWN, 2 * out[-1], per_example=False, itemsize=STATS), *activation_saved(a, out))


@registered
class LRN(LayerKind):
    """Local response normalisation across channels: `lrn size=5`, AlexNet's alpha=1e-4 beta=0.75 k=2 (PyTorch's k=1).

    The defaults are AlexNet's (Krizhevsky et al. 2012); PyTorch's nn.LocalResponseNorm defaults to
    k=1: write `k=1` for its.

    ``b = a / (k + alpha/size * sum of a^2 over `size` neighbouring channels)^beta``.
    Shape unchanged, no params, no multiplications by the course's convention.
    FLOPs: ``2*size + 3`` per value (``size`` squares, ``size - 1`` adds, then scale, add k,
    power and divide).
    Keeps for backward (PyTorch's LocalResponseNorm, written with several operations): its
    input, the padded squares ``(C + size - 1)*H*W``, and two more tensors of its size.
    """

    name = "lrn"
    counted = "lrn 2*size+3 per value"
    autocast = "out32"  # its pow runs in float32
    args = (
        Arg("size", Int(), 5, "channels in the window", positional=True),
        Arg("alpha", Float(0, 1e6), 1e-4, "the sum of squares' scale (AlexNet's 1e-4)"),
        Arg("beta", Float(0, 1e6), 0.75, "the power (AlexNet's 0.75)"),
        Arg("k", Float(0, 1e6), 2.0, "added before the power: AlexNet's 2; PyTorch's LocalResponseNorm has 1"),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return require_volume("lrn", ins[0])

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return (2 * a.size + 3) * numel(out)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        h, w, c = out
        return Saved(INPUT0), Saved(OWN, (c + a.size - 1) * h * w), Saved(OWN, 2 * numel(out))


# FLOPs per value of a normalisation that computes its statistics at inference: the mean
# (1 add), the variance (a subtract, a square, an add), normalising (a subtract and a
# multiply by 1/sqrt) and the learned scale and shift (2). The per-group division and square
# root are not counted: one per group, not per value.
NORM_FLOPS = 8


@registered
class LayerNorm(Normalisation):
    """Layer normalisation over the channels at each position: `layernorm eps=1e-6`.

    On a volume, each position's ``C`` values are normalised (ConvNeXt's LayerNorm2d); on a
    vector, its values. Shape unchanged.
    Params: ``2*C`` (scale and shift per channel); no buffers (nothing is tracked).
    No multiplications by the course's convention. FLOPs: ``8`` per value (mean 1,
    variance 3, normalise 2, scale and shift 2) + the activation's.
    Keeps for backward: its input, a mean and an inverse deviation per position (per
    example for a vector), and what its activation keeps.
    """

    name = "layernorm"
    counted = "layernorm and groupnorm 8 per value"  # groupnorm's formula is this one's
    autocast = "32"
    autocast_cpu = ""  # not on CPU autocast's float32 list: in its input's dtype
    synonyms = {"ln": "layernorm", "layer_norm": "layernorm"}  # noqa: RUF012 - never mutated

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return NORM_FLOPS * numel(out) + activation_flops(a, out)

    def statistics(self, a: Args, out: Shape) -> int:
        """How many values are normalised together, per example: each position's."""
        return numel(out[:-1])

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(INPUT0), Saved(OWN, 2 * self.statistics(a, out), itemsize=STATS), *activation_saved(a, out))


@registered
class GroupNorm(LayerNorm):
    """Group normalisation: `groupnorm 32`: the channels in `g` groups, each group's values
    (all positions) normalised together; `g` must divide ``C``. Shape unchanged.
    Params: ``2*C``; no buffers. No multiplications. FLOPs: ``8`` per value (as layernorm)
    + the activation's. Keeps for backward: its input, a mean and an inverse deviation per
    group, and what its activation keeps.
    """

    name = "groupnorm"
    autocast = "32"
    synonyms = {"gn": "groupnorm", "group_norm": "groupnorm"}  # noqa: RUF012 - never mutated
    args = (Arg("g", Int(), doc="number of groups", positional=True, show=True), *Normalisation.args)

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        if ins[0][-1] % a.g:
            raise ShapeError(
                f"{a.g} groups do not divide the {ins[0][-1]} channels",
                hint=f"choose g among the divisors of {ins[0][-1]}",
            )
        return ins[0]

    def statistics(self, a: Args, out: Shape) -> int:
        return a.g


@registered
class LayerScale(LayerKind):
    """Layer scale: `layerscale 1e-6`: a learned factor per channel, starting at `init`
    (ConvNeXt, CaiT). Shape unchanged.
    Params: ``C``. Multiplications: 0 (they scale, as an activation does; torchvision and
    FlopCounterMode do not count them). FLOPs: ``1`` per value. Keeps its input (for the
    factors' gradient).
    """

    name = "layerscale"
    counted = "layerscale 1 per value"
    autocast = "out32"  # its factors are float32 parameters
    args = (Arg("init", Float(0, 1e6), 1e-6, "the factor every channel starts from", positional=True, show=True),)

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return ins[0]

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return out[-1]

    def param_shapes(self, a: Args, ins: list[Shape], out: Shape) -> tuple[tuple[str, Shape], ...]:
        return (("weight", (out[-1], 1, 1) if len(out) == 3 else (out[-1],)),)  # broadcast over NCHW

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return numel(out)

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return (Saved(INPUT0),)


# The largest magnitude of a fixed scale or shift: far past any normalisation's, yet finite.
AFFINE_BOUND = 1e6


@registered
class Affine(LayerKind):
    """A fixed scale and shift per channel: `affine scale=0.458,0.448,0.45 shift=-0.03,-0.088,-0.188`,
    ``x * scale + shift``, each one number for every channel or one per channel (Inception v3's
    and GoogLeNet's `transform_input`, a normalisation inside the network). Shape unchanged.

    Written as scale and shift, not mean and std: that is what an ONNX Mul and Add hold, and
    what is multiplied and added, so an imported one is exact (``1/std`` and ``-mean/std``
    would be divisions to undo). Normalising by a mean and std is ``scale = 1/std``,
    ``shift = -mean/std``.
    Params: 0 (nothing trains). Buffers: the values written, of the scale where it is not 1,
    of the shift where it is not 0 (saved in the state_dict, so weights carry them).
    Multiplications: 0 (by constants, not weights: as layerscale's, torchvision and
    FlopCounterMode count none). FLOPs: ``1`` per value for each of the scale (not 1) and the
    shift (not 0). Keeps nothing for backward (a gradient through a constant factor is that
    factor).
    """

    name = "affine"
    counted = "affine 1 per value for each of its scale and shift"
    args = (
        Arg("scale", Numbers(-AFFINE_BOUND, AFFINE_BOUND), "1", "the factor, one or one per channel", show=True),
        Arg("shift", Numbers(-AFFINE_BOUND, AFFINE_BOUND), "0", "added after it, one or one per channel", show=True),
    )

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        c = ins[0][-1]
        for name in ("scale", "shift"):
            count = len(a[name])
            if count not in (1, c):
                raise ShapeError(
                    f"{count} values of `{name}` for {c} channels",
                    hint=f"give one number for every channel or one per channel ({c})",
                )
        return ins[0]

    @staticmethod
    def applied(a: Args) -> tuple[str, ...]:
        """Which of scale and shift do something: a scale of 1 and a shift of 0 are left out."""
        return tuple(name for name, none in (("scale", 1.0), ("shift", 0.0)) if any(v != none for v in a[name]))

    def buffers(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return sum(len(a[name]) for name in self.applied(a))

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return len(self.applied(a)) * numel(out)


# GRN's FLOPs: per value, a square and an add for each channel's norm, then x * N, the scale
# gamma, the shift beta and the input added back; per channel, the square root, its share of
# the mean over the channels (an add), the eps added and the division.
GRN_FLOPS_PER_VALUE = 6
GRN_FLOPS_PER_CHANNEL = 4


@registered
class GRN(LayerKind):
    """Global response normalisation (ConvNeXt V2, Woo et al. 2023): `grn`, `grn eps=1e-6`.
    Per channel, ``G_c = ||x_c||_2`` over height and width; ``N_c = G_c / (mean_c G + eps)``;
    the output is ``gamma * (x * N) + beta + x``, with ``gamma`` and ``beta`` starting at 0
    (so a new GRN is the identity). Shape unchanged; a volume only (the norm is over H and W).
    Params: ``2*C`` (gamma and beta). Multiplications: 0 (by activations and learned factors
    per channel, as layerscale's). FLOPs: ``6`` per value (square and add for the norm, x * N,
    gamma, beta, the input added) + ``4`` per channel (square root, the mean's add, eps,
    divide). Keeps for backward (the module cnnctl builds, as the paper's code): its input,
    ``x * N`` (``H*W*C``), and per example the norms, the normalised norms (``C`` each) and the
    mean plus eps (1): ``H*W*C + 2*C + 1`` values of its own.
    Receptive field: the whole input (each output value reads every position through the norms).
    """

    name = "grn"
    counted = "grn 6 per value + 4 per channel"
    autocast = "out32"  # its norm runs in float32 (CUDA autocast's float32 list has norm, the CPU's not)
    autocast_cpu = ""
    synonyms = {"globalresponsenorm": "grn", "global_response_norm": "grn"}  # noqa: RUF012 - never mutated
    args = (Arg("eps", Float(0, 1, lo_open=True), 1e-6, "added to the mean of the norms"),)

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        return require_volume("grn", ins[0])

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 2 * out[-1]

    param_shapes = Normalisation.param_shapes  # gamma and beta, C values each (timm's)

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return GRN_FLOPS_PER_VALUE * numel(out) + GRN_FLOPS_PER_CHANNEL * out[-1]

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        return Saved(INPUT0), Saved(OWN, numel(out) + 2 * out[-1] + 1)

    def window(self, a: Args, ins: list[Shape], out: Shape) -> None:
        return None
