"""Small modules the builders need beyond torch.nn: inline activations, joins, explicit padding."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import KINDS


class ActivationFunction(NamedTuple):
    """An activation's PyTorch side, beside its analysis side (`cnnctl.layers.activation`)."""

    function: Callable[..., torch.Tensor]
    """Called with the input, then the values of the kind's arguments in order (leaky's slope)."""
    in_place: Callable[[torch.Tensor], torch.Tensor] | None
    """The in-place form, for inline activations (`conv ... act=relu`); None where there is none."""
    source: str
    """How `cnnctl export` writes it: `{x}` is the input's expression, `{slope}` leaky's slope."""


# One row per activation kind, keyed by its name (tests check the keys are the registry's
# activations). An inline activation overwrites its input in place: the value before it is
# never an output of any layer, so that is safe, and it saves a tensor per layer (the backward
# passes of conv, fc, bn and add do not need it). Softmax runs over dimension 1: the channels
# of a volume, the units of a vector.
ACTIVATION_FUNCTIONS: dict[str, ActivationFunction] = {
    "relu": ActivationFunction(F.relu, torch.relu_, "F.relu({x})"),
    "relu6": ActivationFunction(F.relu6, partial(F.relu6, inplace=True), "F.relu6({x})"),
    "leaky": ActivationFunction(F.leaky_relu, None, "F.leaky_relu({x}, {slope})"),
    "elu": ActivationFunction(F.elu, partial(F.elu, inplace=True), "F.elu({x})"),
    "gelu": ActivationFunction(F.gelu, None, "F.gelu({x})"),
    "silu": ActivationFunction(F.silu, partial(F.silu, inplace=True), "F.silu({x})"),
    "sigmoid": ActivationFunction(torch.sigmoid, torch.sigmoid_, "torch.sigmoid({x})"),
    "tanh": ActivationFunction(torch.tanh, torch.tanh_, "torch.tanh({x})"),
    "hardswish": ActivationFunction(F.hardswish, partial(F.hardswish, inplace=True), "F.hardswish({x})"),
    "hardsigmoid": ActivationFunction(F.hardsigmoid, partial(F.hardsigmoid, inplace=True), "F.hardsigmoid({x})"),
    "mish": ActivationFunction(F.mish, partial(F.mish, inplace=True), "F.mish({x})"),
    "softmax": ActivationFunction(partial(F.softmax, dim=1), None, "F.softmax({x}, dim=1)"),
}


def activation(name: str, *arguments: float, inplace: bool = False) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The function for an activation name (`relu`, `softmax`, ...); None for `none`.

    `arguments` are the values of the kind's arguments (leaky's slope), the kind's defaults
    where none are given (an inline `act=leaky`). `inplace` picks the in-place form where there
    is one.
    """
    if name == "none":
        return None
    row = ACTIVATION_FUNCTIONS[name]
    if inplace and row.in_place is not None:
        return row.in_place
    values = arguments or tuple(arg.default for arg in KINDS[name].args)
    return (lambda x: row.function(x, *values)) if values else row.function


class Activation(nn.Module):
    """An activation as a layer of its own (`- relu`)."""

    def __init__(self, name: str, *arguments: float):
        super().__init__()
        self.name = name
        self.fn = activation(name, *arguments)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


class WithActivation:
    """Mixin: apply the layer's inline activation (`act=relu`) and any explicit padding.

    Padding that PyTorch's layers cannot express (uneven `same`, or `same` at stride > 1)
    is applied with F.pad first. The activation is a function, not a submodule, so the
    state_dict keys stay `conv1.weight`, `conv1.bias`.
    """

    act_name: str = "none"
    pad: tuple[int, int, int, int] | None = None
    pad_value: float = 0.0

    def setup(self, act: str, pad: tuple[int, int, int, int] | None = None, pad_value: float = 0.0) -> None:
        self.act_name, self.pad, self.pad_value = act, pad, pad_value
        self.act_fn = activation(act, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad, value=self.pad_value)
        x = super().forward(x)  # type: ignore[misc]
        return x if self.act_fn is None else self.act_fn(x)


class Conv2d(WithActivation, nn.Conv2d):
    """nn.Conv2d with the inline activation. `over_channels` (set by GraphModule for the 1x1
    convs of an MLP after a layer norm over channels, ConvNeXt's): on channels-last data it
    runs as F.linear over the channels of the NHWC view, as torchvision writes that MLP, the
    same weights and multiplications: a GEMM, where cuDNN's 1x1 convolution made ConvNeXt's
    eager step 8% slower than torchvision's (issue 23). An ONNX export keeps the Conv."""

    over_channels: bool = False

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if (self.over_channels and x.is_contiguous(memory_format=torch.channels_last)
                and not torch.onnx.is_in_onnx_export()):  # fmt: skip
            return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias).permute(0, 3, 1, 2)
        return super()._conv_forward(x, weight, bias)

    @property
    def pointwise(self) -> bool:
        """A 1x1 conv that mixes channels only: no stride, padding, dilation or groups."""
        one = (1, 1)
        return (self.kernel_size, self.stride, self.dilation, self.groups) == (one, one, one, 1) and self.pad is None \
            and self.padding in ((0, 0), 0)  # fmt: skip


class ConvTranspose2d(WithActivation, nn.ConvTranspose2d):
    pass


class MaxPool2d(WithActivation, nn.MaxPool2d):
    pass


class AvgPool2d(WithActivation, nn.AvgPool2d):
    pass


class BatchNorm2d(WithActivation, nn.BatchNorm2d):
    pass


class BatchNorm1d(WithActivation, nn.BatchNorm1d):
    pass


class SyncBatchNorm(WithActivation, nn.SyncBatchNorm):
    """Batch norm over the whole global batch of a data-parallel run (`--sync-bn`)."""


class Linear(WithActivation, nn.Linear):
    """A fully connected layer that flattens a volume input itself (the course's implicit flatten)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1) if x.dim() > 2 else x)


class Add(nn.Module):
    """Element-wise sum of the inputs (a 1x1xC one broadcasts over HxW, an HxWx1 one over the
    channels: torch's broadcasting), then the inline activation: g(z + a)."""

    def __init__(self, act: str = "none"):
        super().__init__()
        self.act_name = act
        self.act_fn = activation(act, inplace=True)

    def join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = self.join(out, x)  # a new tensor: the inputs may be needed by other layers
        return out if self.act_fn is None else self.act_fn(out)


class Mul(Add):
    """Element-wise product of the inputs (a 1x1xC or HxWx1 scale broadcasts), then the activation."""

    def join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b


class ChannelPoolFunction(NamedTuple):
    """How `pool max|avg channels` runs, and how `cnnctl export` writes it (`{x}`: the input)."""

    function: Callable[[torch.Tensor], torch.Tensor]
    source: str


# The max is torch.max over one dimension, which keeps only the int64 index of each maximum for
# backward (amax would keep its input and output: `Pool.saved`) and is one ReduceMax in ONNX
# (its indices unused); the mean keeps nothing and is one ReduceMean.
CHANNEL_POOLS: dict[str, ChannelPoolFunction] = {
    "max": ChannelPoolFunction(
        lambda x: torch.max(x, dim=1, keepdim=True).values, "torch.max({x}, dim=1, keepdim=True).values"
    ),
    "avg": ChannelPoolFunction(lambda x: torch.mean(x, dim=1, keepdim=True), "torch.mean({x}, dim=1, keepdim=True)"),
}


class ChannelPool(nn.Module):
    """Max or mean over the channels at each position, NxCxHxW -> Nx1xHxW (`pool max channels`:
    CBAM's spatial gate)."""

    def __init__(self, op: str):
        super().__init__()
        self.op = op
        self.fn = CHANNEL_POOLS[op].function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return f"op={self.op!r}"


class Concat(nn.Module):
    """Concatenation along channels (dimension 1)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class _LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each position of an NCHW volume (ConvNeXt's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)


class ChannelLayerNorm(WithActivation, _LayerNorm2d):
    """_LayerNorm2d, then the inline activation on the NCHW volume (softmax over its channels)."""


class GroupNorm(WithActivation, nn.GroupNorm):
    pass


class _LRNOperator(torch.autograd.Function):
    """torch's local response norm, exported to ONNX as its one LRN operator (the same
    formula: a / (k + alpha/size * sum of squares over `size` channels)^beta) rather than
    the thirty small operators torch's Python implementation traces into."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
        return F.local_response_norm(x, size, alpha, beta, k)

    @staticmethod
    def symbolic(g, x, size: int, alpha: float, beta: float, k: float):  # pragma: no cover - ONNX export only
        return g.op("LRN", x, size_i=size, alpha_f=alpha, beta_f=beta, bias_f=k)


class LocalResponseNorm(nn.LocalResponseNorm):
    """nn.LocalResponseNorm, which exports to ONNX as one LRN operator."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return _LRNOperator.apply(x, self.size, self.alpha, self.beta, self.k)
        return super().forward(x)


class LayerScale(nn.Module):
    """A learned factor per channel, starting at `init`."""

    def __init__(self, channels: int, init: float, volume: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels, 1, 1) if volume else (channels,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


class Affine(nn.Module):
    """A fixed scale and shift per channel, `x * scale + shift`: buffers, not parameters (they
    are saved in the state_dict and move with the module, but do not train). Only what does
    something is held and computed: a scale of 1 and a shift of 0 are left out."""

    def __init__(self, scale: tuple[float, ...] | None, shift: tuple[float, ...] | None, volume: bool):
        super().__init__()
        for name, values in (("scale", scale), ("shift", shift)):
            if values is not None:
                shape = (len(values), 1, 1) if volume else (len(values),)
                self.register_buffer(name, torch.tensor(values, dtype=torch.float32).reshape(shape))
            else:
                setattr(self, name, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is not None:
            x = x * self.scale
        if self.shift is not None:
            x = x + self.shift
        return x


class DropPath(nn.Module):
    """Stochastic depth, torchvision's "row" mode: in training each example's input is zeroed
    with probability `rate` and the others scaled by 1/(1 - rate); the identity in eval."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"


class Chunk(nn.Module):
    """Part `index` (from 0) of `parts` equal parts of the `channels` channels.

    The sizes are known when the network is built: fixed numbers, so an exported graph holds
    a plain slice rather than arithmetic on the tensor's shape."""

    def __init__(self, parts: int, index: int, channels: int):
        super().__init__()
        self.parts, self.index = parts, index
        self.size = channels // parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(1, self.index * self.size, self.size)


class Slice(nn.Module):
    """Channels `start` to `end` (not included): a view, by fixed numbers (a plain Slice in ONNX)."""

    def __init__(self, start: int, end: int):
        super().__init__()
        self.start, self.end = start, end

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(1, self.start, self.end - self.start)


class Crop(nn.Module):
    """Rows `top` to `top + h` and columns `left` to `left + w` of a map (a centre crop): a view,
    by fixed numbers (plain Slices in ONNX). A second input, whose size the crop was built for,
    is read for nothing."""

    def __init__(self, top: int, left: int, h: int, w: int):
        super().__init__()
        self.top, self.left, self.h, self.w = top, left, h, w

    def forward(self, x: torch.Tensor, *size_of: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.top : self.top + self.h, self.left : self.left + self.w]


def radix_grid(radix: int, groups: int, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shapes a radix softmax reads its input as (N, groups, radix, D/groups, H, W: one
    group needs no groups axis) and writes its output back as, by the sizes the layer was built
    for, fixed numbers: an exported graph holds constant shapes, not shape arithmetic."""
    h, w, c = shape if len(shape) == 3 else (1, 1, shape[0])
    spatial = (h, w) if len(shape) == 3 else ()
    parts = (radix, c // radix) if groups == 1 else (groups, radix, c // (radix * groups))
    return (-1, *parts, *spatial), (-1, c, *spatial)


class RadixSoftmax(nn.Module):
    """Softmax across `radix` parts of the channels at each channel (ResNeSt's rSoftMax, SKNet's
    selection); with `groups`, the parts of each group, written out part by part."""

    def __init__(self, radix: int, groups: int, shape: tuple[int, ...]):
        super().__init__()
        self.radix, self.groups = radix, groups
        self.grid, self.volume = radix_grid(radix, groups, shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(self.grid)
        if self.groups > 1:
            x = x.transpose(1, 2)  # groups x radix -> radix x groups: part k of every group together
        return F.softmax(x, dim=1).reshape(self.volume)

    def extra_repr(self) -> str:
        return f"radix={self.radix}, groups={self.groups}"


class Shuffle(nn.Module):
    """Channel shuffle between `groups` (ShuffleNet): the channels as a groups x C/groups
    grid, transposed. Reshaped by the sizes of the volume the layer was built for (HxWxC),
    fixed numbers, so that an exported graph holds constant shapes, not shape arithmetic."""

    def __init__(self, groups: int, shape: tuple[int, ...]):
        super().__init__()
        self.groups = groups
        h, w, c = shape if len(shape) == 3 else (1, 1, shape[0])
        self.grid = (-1, groups, c // groups, h, w)
        self.volume = (-1, c, h, w) if len(shape) == 3 else (-1, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.grid).transpose(1, 2).reshape(self.volume)


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt V2): per channel the L2 norm over height and
    width, divided by its mean over the channels (plus `eps`), then gamma * (x * N) + beta + x.
    `weight` (gamma) and `bias` (beta) start at 0, so a new GRN is the identity; stored as C
    values, as timm's GlobalResponseNorm."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norms = torch.linalg.vector_norm(x, dim=(2, 3), keepdim=True)
        scaled = norms / (norms.mean(dim=1, keepdim=True) + self.eps)
        return self.weight.view(1, -1, 1, 1) * (x * scaled) + self.bias.view(1, -1, 1, 1) + x

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps:g}"


class ChannelConv(nn.Module):
    """A 1-D convolution of one filter across the channels at each position (ECA-Net), `(f-1)/2`
    zeros at each end, and with `bias` one learned value added to every output (a Conv1d's).
    The channels are laid along a spatial axis, C x (H*W), and the filter is f x 1, so each
    position is convolved on its own without moving any value; the sizes are the volume's the
    layer was built for, fixed numbers, so an exported graph holds constant shapes (Reshape,
    Conv, Reshape)."""

    def __init__(self, kernel: int, shape: tuple[int, ...], bias: bool = False):
        super().__init__()
        h, w, c = shape if len(shape) == 3 else (1, 1, shape[0])
        self.weight = nn.Parameter(torch.empty(1, 1, kernel, 1))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Conv1d's initialisation, fan-in f
        self.bias = None
        if bias:  # nn.Conv1d's initialisation too: uniform within 1/sqrt(fan-in)
            self.bias = nn.Parameter(torch.empty(1).uniform_(-(kernel**-0.5), kernel**-0.5))
        self.laid = (-1, 1, c, h * w)
        self.volume = (-1, c, h, w) if len(shape) == 3 else (-1, c)
        self.padding = ((kernel - 1) // 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x.reshape(self.laid), self.weight, self.bias, padding=self.padding).reshape(self.volume)

    def extra_repr(self) -> str:
        return f"kernel={self.weight.shape[2]}" + (", bias=True" if self.bias is not None else "")
