"""The PyTorch side of each layer kind, registered under the kind's name (`cnnctl.layers.KINDS`):
its builder (`BUILDERS`: the analyzed node and its input shapes -> the torch module) and how
it is written as PyTorch source (`SOURCES`, for `cnnctl export`). A kind's two sit together
below; tests check that every kind has both.

Shapes are cnnctl's HxWxC; torch works in NCHW, so channels are `shape[-1]` here.
A source writer takes (node, input shapes, input expressions, its module's expression) and
returns (the constructor, or None for a layer that is only an expression; the output's
expression). Helpers torch.nn lacks (LayerNorm2d, LayerScale, DropPath, channel_shuffle,
radix_softmax) are written into the file by cnnctl.exchange.pytorch_source where a network
uses them.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..graph import Node
from ..layers import KINDS, Args
from ..layers.activation import ACTIVATIONS
from ..layers.conv import resolve_padding
from ..layers.crop import crop_offsets
from ..layers.pool import Pool
from ..shapes import Shape, numel
from . import functional as fn

Builder = Callable[[Node, list[Shape]], nn.Module]
Writer = Callable[[Node, list[Shape], list[str], str], tuple[str | None, str]]

BUILDERS: dict[str, Builder] = {}
SOURCES: dict[str, Writer] = {}


def builds(*kinds: str) -> Callable[[Builder], Builder]:
    """Register the decorated function as the builder of `kinds`."""

    def register(build: Builder) -> Builder:
        BUILDERS.update(dict.fromkeys(kinds, build))
        return build

    return register


def writes(*kinds: str) -> Callable[[Writer], Writer]:
    """Register the decorated function as the source writer of `kinds`."""

    def register(write: Writer) -> Writer:
        SOURCES.update(dict.fromkeys(kinds, write))
        return write

    return register


def _split(pads: tuple[tuple[int, int], tuple[int, int]]) -> tuple[tuple[int, int] | None, tuple[int, ...]]:
    """Symmetric padding as torch's `padding=(h, w)` and no F.pad; else None and F.pad's
    (left, right, top, bottom)."""
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        return (top, left), ()
    return None, (left, right, top, bottom)


def _size_source(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else str(tuple(pair))


def _padded_source(x: str, pad: tuple[int, ...], value: str = "") -> str:
    return f"F.pad({x}, {pad}{value})" if pad else x


def _act_source(text: str, act: str | None, given: Args | None = None) -> str:
    """`text` through the activation `act`, with its arguments as `given` (an activation layer)
    or their defaults (an inline `act=leaky`)."""
    if act in (None, "none"):
        return text
    values = {arg.name: (given or {}).get(arg.name, arg.default) for arg in KINDS[act].args}
    return fn.ACTIVATION_FUNCTIONS[act].source.format(x=text, **values)


def _filter_options(a, padding: tuple[int, int] | None) -> str:
    """`, stride=2, padding=1, groups=32, bias=False`: the options that are not torch's defaults."""
    options = [
        f", stride={_size_source(a.s)}" if a.s != (1, 1) else "",
        f", padding={_size_source(padding)}" if padding and padding != (0, 0) else "",
        f", dilation={_size_source(a.dilation)}" if a.dilation != (1, 1) else "",
        f", groups={a.groups}" if a.groups != 1 else "",
        "" if a.bias else ", bias=False",
    ]
    return "".join(options)


# -- conv, deconv ---------------------------------------------------------------------------
@builds("conv")
def conv(node: Node, ins: list[Shape]) -> nn.Module:
    a = node.args
    symmetric, explicit = _split(resolve_padding(a, ins[0][0], ins[0][1]))
    module = fn.Conv2d(
        ins[0][2], a.n, a.f, stride=a.s, padding=symmetric or 0, dilation=a.dilation, groups=a.groups, bias=a.bias
    )
    module.setup(a.act, explicit or None)
    return module


@writes("conv")
def conv_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    a = n.args
    symmetric, pad = _split(resolve_padding(a, ins[0][0], ins[0][1]))
    made = f"nn.Conv2d({ins[0][2]}, {a.n}, {_size_source(a.f)}{_filter_options(a, symmetric)})"
    return made, _act_source(f"{m}({_padded_source(xs[0], pad)})", a.act)


@builds("channelconv")
def channelconv(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.ChannelConv(KINDS["channelconv"].kernel(node.args, ins[0][-1]), ins[0], bias=node.args.bias)


@writes("channelconv")
def channelconv_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    kernel, bias = KINDS["channelconv"].kernel(n.args, ins[0][-1]), ", bias=True" if n.args.bias else ""
    return f"ChannelConv({kernel}, {tuple(ins[0])}{bias})", f"{m}({xs[0]})"


@builds("deconv")
def deconv(node: Node, ins: list[Shape]) -> nn.Module:
    a = node.args
    module = fn.ConvTranspose2d(
        ins[0][2],
        a.n,
        a.f,
        stride=a.s,
        padding=a.p,
        output_padding=a.op,
        dilation=a.dilation,
        groups=a.groups,
        bias=a.bias,
    )
    module.setup(a.act)
    return module


@writes("deconv")
def deconv_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    a = n.args
    output_padding = f", output_padding={_size_source(a.op)}" if a.op != (0, 0) else ""
    made = f"nn.ConvTranspose2d({ins[0][2]}, {a.n}, {_size_source(a.f)}{_filter_options(a, a.p)}{output_padding})"
    return made, _act_source(f"{m}({xs[0]})", a.act)


# -- pool -----------------------------------------------------------------------------------
@builds("pool")
def pool(node: Node, ins: list[Shape]) -> nn.Module:
    a = node.args
    if a.channels:
        return fn.ChannelPool(a.op)
    if a["global"] or a.out is not None:
        size = a.out or (1, 1)
        return nn.AdaptiveMaxPool2d(size) if a.op == "max" else nn.AdaptiveAvgPool2d(size)
    symmetric, explicit = _split(Pool().padding(a, ins))
    counted = {} if a.op == "max" else {"count_include_pad": a.count_pad}
    cls = fn.MaxPool2d if a.op == "max" else fn.AvgPool2d
    module = cls(a.f, stride=a.s or a.f, padding=symmetric or 0, ceil_mode=a.ceil, **counted)
    module.setup("none", explicit or None, float("-inf") if a.op == "max" else 0.0)
    return module


@writes("pool")
def pool_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    a = n.args
    kind = "Max" if a.op == "max" else "Avg"
    if a.channels:
        return None, fn.CHANNEL_POOLS[a.op].source.format(x=xs[0])
    if a["global"] or a.out is not None:
        return f"nn.Adaptive{kind}Pool2d({_size_source(a.out or (1, 1))})", f"{m}({xs[0]})"
    symmetric, pad = _split(Pool().padding(a, ins))
    stride = a.s or a.f
    options = "".join(
        [
            f", stride={_size_source(stride)}" if stride != a.f else "",
            f", padding={_size_source(symmetric)}" if symmetric and symmetric != (0, 0) else "",
            ", ceil_mode=True" if a.ceil else "",
            ", count_include_pad=False" if not a.count_pad else "",
        ]
    )
    value = ', value=float("-inf")' if a.op == "max" else ""
    return f"nn.{kind}Pool2d({_size_source(a.f)}{options})", f"{m}({_padded_source(xs[0], pad, value)})"


# -- fc, flatten, dropout, droppath ---------------------------------------------------------
@builds("fc")
def fc(node: Node, ins: list[Shape]) -> nn.Module:
    module = fn.Linear(numel(ins[0]), node.args.units, bias=node.args.bias)
    module.setup(node.args.act)
    return module


@writes("fc")
def fc_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    a = n.args
    x = f"torch.flatten({xs[0]}, 1)" if len(ins[0]) > 1 else xs[0]
    bias = "" if a.bias else ", bias=False"
    return f"nn.Linear({numel(ins[0])}, {a.units}{bias})", _act_source(f"{m}({x})", a.act)


@builds("flatten")
def flatten(node: Node, ins: list[Shape]) -> nn.Module:
    return nn.Flatten()


@writes("flatten")
def flatten_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return "nn.Flatten()", f"{m}({xs[0]})"


@builds("dropout")
def dropout(node: Node, ins: list[Shape]) -> nn.Module:
    return nn.Dropout(node.args.rate)


@writes("dropout")
def dropout_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return f"nn.Dropout({n.args.rate!r})", f"{m}({xs[0]})"


@builds("droppath")
def droppath(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.DropPath(node.args.rate)


@writes("droppath")
def droppath_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return f"DropPath({n.args.rate!r})", f"{m}({xs[0]})"


# -- normalisation --------------------------------------------------------------------------
def _norm(cls: type, node: Node, *args, **options) -> nn.Module:
    """A normalization layer of `args`, `options` and the node's eps, with its inline activation."""
    module = cls(*args, eps=node.args.eps, **options)
    module.setup(node.args.act)
    return module


@builds("bn")
def bn(node: Node, ins: list[Shape]) -> nn.Module:
    cls = fn.BatchNorm2d if len(ins[0]) == 3 else fn.BatchNorm1d
    return _norm(cls, node, ins[0][-1], momentum=node.args.momentum)


@builds("layernorm")
def layernorm(node: Node, ins: list[Shape]) -> nn.Module:
    return _norm(fn.ChannelLayerNorm, node, ins[0][-1])


@builds("groupnorm")
def groupnorm(node: Node, ins: list[Shape]) -> nn.Module:
    return _norm(fn.GroupNorm, node, node.args.g, ins[0][-1])


@writes("bn", "layernorm", "groupnorm")
def norm_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    a, c = n.args, ins[0][-1]
    # eps and momentum (bn's) where not torch's defaults, which are the kinds'; a momentum of
    # None is PyTorch's plain average, written as such
    defaults = KINDS[n.kind].defaults
    changed = [name for name in ("eps", "momentum") if name in a and a[name] != defaults[name]]
    options = "".join(f", {name}={a[name]!r}" for name in changed)
    made = {
        "bn": f"nn.BatchNorm{2 if len(ins[0]) == 3 else 1}d({c}{options})",
        "layernorm": f"LayerNorm2d({c}{options})",
        "groupnorm": f"nn.GroupNorm({a.get('g')}, {c}{options})",
    }[n.kind]
    return made, _act_source(f"{m}({xs[0]})", a.act)


@builds("layerscale")
def layerscale(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.LayerScale(ins[0][-1], node.args.init, volume=len(ins[0]) == 3)


@writes("layerscale")
def layerscale_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    shape = (ins[0][-1], 1, 1) if len(ins[0]) == 3 else (ins[0][-1],)
    return f"LayerScale({shape}, {n.args.init!r})", f"{m}({xs[0]})"


@builds("grn")
def grn(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.GRN(ins[0][-1], node.args.eps)


@writes("grn")
def grn_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return f"GRN({ins[0][-1]}, {n.args.eps!r})", f"{m}({xs[0]})"


def _affine_values(n: Node) -> dict[str, tuple[float, ...] | None]:
    """The scale and shift of an `affine` layer, None for one that does nothing (a scale of 1)."""
    applied = KINDS["affine"].applied(n.args)
    return {name: n.args[name] if name in applied else None for name in ("scale", "shift")}


@builds("affine")
def affine(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Affine(**_affine_values(node), volume=len(ins[0]) == 3)


@writes("affine")
def affine_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    values = _affine_values(n)
    return f"Affine({values['scale']!r}, {values['shift']!r}, volume={len(ins[0]) == 3})", f"{m}({xs[0]})"


@builds("lrn")
def lrn(node: Node, ins: list[Shape]) -> nn.Module:
    a = node.args
    return fn.LocalResponseNorm(a.size, alpha=a.alpha, beta=a.beta, k=a.k)


@writes("lrn")
def lrn_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    a = n.args
    return f"nn.LocalResponseNorm({a.size}, alpha={a.alpha!r}, beta={a.beta!r}, k={a.k!r})", f"{m}({xs[0]})"


# -- joins, channels, upsample --------------------------------------------------------------
@builds("add")
def add(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Add(node.args.act)


@builds("mul")
def mul(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Mul(node.args.act)


def _join_source(op: str) -> Writer:
    def write(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
        return None, _act_source(f" {op} ".join(xs), n.args.act)

    return write


writes("add")(_join_source("+"))
writes("mul")(_join_source("*"))


@builds("concat")
def concat(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Concat()


@writes("concat")
def concat_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return None, f"torch.cat([{', '.join(xs)}], dim=1)"


@builds("chunk")
def chunk(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Chunk(node.args.parts, node.args.i - 1, ins[0][-1])


@writes("chunk")
def chunk_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    size = ins[0][-1] // n.args.parts
    start = (n.args.i - 1) * size
    return None, f"{xs[0]}[:, {start}:{start + size}]"


@builds("slice")
def slice_(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Slice(node.args.start, node.shape[-1] + node.args.start)


@writes("slice")
def slice_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return None, f"{xs[0]}[:, {n.args.start}:{n.args.start + n.shape[-1]}]"


@builds("crop")
def crop(node: Node, ins: list[Shape]) -> nn.Module:
    top, left = crop_offsets(ins[0][:2], node.shape[:2])
    return fn.Crop(top, left, node.shape[0], node.shape[1])


@writes("crop")
def crop_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    (top, left), (h, w) = crop_offsets(ins[0][:2], n.shape[:2]), n.shape[:2]
    return None, f"{xs[0]}[:, :, {top}:{top + h}, {left}:{left + w}]"


@builds("rsoftmax")
def rsoftmax(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.RadixSoftmax(node.args.radix, node.args.groups, ins[0])


@writes("rsoftmax")
def rsoftmax_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return None, f"radix_softmax({xs[0]}, {n.args.radix}, {n.args.groups})"


@builds("shuffle")
def shuffle(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Shuffle(node.args.g, ins[0])


@writes("shuffle")
def shuffle_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return None, f"channel_shuffle({xs[0]}, {n.args.g})"


def _upsample_options(a) -> dict:
    """nn.Upsample's and F.interpolate's keywords for an `upsample` layer (align_corners only
    where bilinear: PyTorch refuses it with nearest)."""
    if a.mode == "nearest":
        return {"scale_factor": a.scale, "mode": "nearest"}
    return {"scale_factor": a.scale, "mode": "bilinear", "align_corners": bool(a.align_corners)}


@builds("upsample")
def upsample(node: Node, ins: list[Shape]) -> nn.Module:
    return nn.Upsample(**_upsample_options(node.args))


@writes("upsample")
def upsample_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    # as ruff formats Python: text in double quotes
    options = ", ".join(
        f'{k}="{v}"' if isinstance(v, str) else f"{k}={v}" for k, v in _upsample_options(n.args).items()
    )
    return None, f"F.interpolate({xs[0]}, {options})"


# -- activations, as layers and inline (`act=`) ---------------------------------------------
ACTIVATION_KINDS = tuple(kind.name for kind in ACTIVATIONS)


@builds(*ACTIVATION_KINDS)
def activation(node: Node, ins: list[Shape]) -> nn.Module:
    return fn.Activation(node.kind, *(node.args[arg.name] for arg in KINDS[node.kind].args))


@writes(*ACTIVATION_KINDS)
def activation_source(n: Node, ins: list[Shape], xs: list[str], m: str) -> tuple[str | None, str]:
    return None, _act_source(xs[0], n.kind, n.args)
