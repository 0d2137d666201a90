"""What a layer kind is: its arguments, and its rules for shape, parameters and cost.

Each kind is one class in one place. Its docstring states the formulas; its methods
compute them. The analysis registry (`cnnctl.layers.KINDS`) and the PyTorch backend's
builders are keyed by the same `name`.

Counting conventions, shared by all kinds:

- ``mults``: multiplications by weights, the course's and torchvision's convention: only
  conv, deconv and fc have any. Bias adds, pooling, normalisation, activations and adds
  cost none.
- ``flops``: ``2 * mults`` (a multiply and an accumulate per weight) plus one add per bias
  value plus each kind's element-wise work, as stated in its docstring.
- ``params``: trainable values; ``buffers``: non-trainable state (batch norm's running
  mean and variance). ``param_shapes`` names the tensors that hold the params, with their
  shapes, as the PyTorch module cnnctl builds holds them (its state_dict's names and order).

What a training step adds, also one rule per kind (`cnnctl.analysis.training` and
`cnnctl.analysis.memory` sum them over the graph):

- ``backward_mults``: multiplications by weights in the backward pass: the weight gradient
  (as many as the forward) and, when the layer's input needs a gradient, the input gradient
  (as many again). The first layer's input gradient is never computed, nor that of a layer
  with nothing trainable before it.
- ``backward_flops``: ``2 * backward_mults`` plus one add per bias value for the bias gradient,
  plus element-wise work counted as equal to the forward's (a gradient through an element-wise
  function is one operation per value), only where a gradient flows through the layer: to its
  input (something trainable comes before it) or to its own parameters (bn's scale and shift,
  a conv's weights through its `act=`). A pool, activation or norm without parameters on the
  image, with nothing trainable before it, computes no gradient: 0 backward FLOPs.
- ``saved``: the tensors autograd keeps from the forward pass for the backward pass, as
  PyTorch's kernels keep them for the module cnnctl builds (measured with
  ``torch.autograd.graph.saved_tensors_hooks``, `tests/test_training_memory.py`).
- ``window``: the geometry that receptive fields grow by (`cnnctl.analysis.receptive`).
- ``moves_data``: whether the forward pass moves the layer's inputs and output through memory
  (the roofline's bytes): not a view, nor the identity dropout is at inference.
"""

from __future__ import annotations

from ..errors import ShapeError
from ..records import record
from ..shapes import Shape, format_shape, numel
from .args import Arg, ArgSpec

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from typing import Any, ClassVar


INPUT0, OUTPUT, OWN = 0, -1, -2
"""What a `Saved` tensor is: an input of the layer (its index, from 0), the layer's own output
(shared with every later layer that keeps it), or a tensor of the layer's own."""


@record
class Saved:
    """One tensor a layer keeps for its backward pass.

    `of` is an input's index, OUTPUT or OWN; an OWN tensor has `values` per example (or in
    all, when not `per_example`: batch norm's statistics), `itemsize` bytes each (0: the
    activations' dtype; 8: int64 indices; 1: a bool mask, `dense.MASK`; `norm.STATS`: statistics,
    float32 on a GPU).
    """

    of: int
    values: int = 0
    per_example: bool = True
    itemsize: int = 0


@record
class Window:
    """How one output position sees its input along one axis: a window of `k` positions,
    `s` apart, the first starting `p` before the input's first (padding). `transposed`: the
    input is spread out instead (deconv, upsample), each position `s` output positions apart.
    `d`: the taps' spacing (dilation); `k` is then the span, ``d*(taps - 1) + 1``.
    `adaptive`: ``(n, out)`` for adaptive pooling of `n` positions to `out` whose windows,
    ``floor(i*n/out)`` to ``ceil((i+1)*n/out) - 1``, are not all `s` apart (`uneven`;
    `pool.adaptive_window`); `k`, `s` and `p` then bound them. `corners`: ``(a, b)`` for bilinear
    upsampling with align_corners: output ``o`` reads ``floor(o*a/b)`` to ``ceil(o*a/b)``
    (also uneven, bounded the same way)."""

    k: int | float
    s: int | float
    p: int | float
    transposed: bool = False
    adaptive: tuple[int, int] | tuple[()] = ()
    d: int = 1
    corners: tuple[int, int] | tuple[()] = ()

    @property
    def uneven(self) -> bool:
        return bool(self.adaptive or self.corners)


IDENTITY = (Window(1, 1, 0), Window(1, 1, 0))
"""The geometry of a layer that keeps each position where it is (activations, norms, joins)."""


class Args(dict):
    """A layer's typed arguments, readable as attributes: ``a.f``, ``a.n``.

    The dict is its own attribute dict, so ``a.f`` is one lookup: the layer rules read
    arguments hundreds of thousands of times for a large network, and a failed normal lookup
    before ``__getattr__`` cost ten times as much. (A reference to itself, as the objects of
    the analysis path are freed at exit, not collected.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.__dict__ = self

    def __getattr__(self, name: str) -> Any:  # only for a name that is not an argument
        raise AttributeError(name)


class LayerKind:
    """Base of every layer kind. Subclasses set `name`, `args` and override the rules, and
    are registered (`@registered`) in `KINDS`; the PyTorch backend registers a builder and a
    source writer under the same name (`cnnctl.backend.builders`).

    Besides its rules a kind declares what the notation and the ONNX reader need to know of it:
    `aliases`, other names accepted as it (`swish` is `silu`); `synonyms`, other tools' names
    for it, each with what to write in cnnctl instead (`maxpool` -> `pool max`), for a "did
    you mean" hint only (they may differ); `onnx_op`, the ONNX operator read as this kind
    where it has no attributes to read (the activations'); `autocast`, how CUDA autocast runs
    it (aten's autocast lists: "16" in 16 bits, as cudnn_convolution and linear; "32" in
    float32, as layer_norm; "out32" with a float32 output, as softmax or a float32 parameter
    or op; "" as its inputs); `autocast_cpu`, how CPU autocast runs it where that differs (None:
    as on CUDA; its float32 list has no layer_norm, group_norm or softmax), both read through
    `cnnctl.analysis.autocast`; and `counted`, its element-wise FLOPs in a few words, as
    `summarize`'s "Counted:" note lists them beside its formula (kinds of one rule share one
    text: layernorm and groupnorm, add and mul, the activations).
    """

    name: ClassVar[str] = ""
    args: ClassVar[tuple[Arg, ...]] = ()
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1  # None: any number (add, concat)
    aliases: ClassVar[tuple[str, ...]] = ()
    synonyms: ClassVar[dict[str, str]] = {}
    onnx_op: ClassVar[str] = ""
    autocast: ClassVar[str] = ""
    counted: ClassVar[str] = ""  # its element-wise FLOPs as the "Counted:" note says them ("bn 2 per value")
    autocast_cpu: ClassVar[str | None] = None

    @property
    def spec(self) -> ArgSpec:
        """How written words bind to the arguments (`cnnctl.notation.bind`); computed once."""
        cached = self.__dict__.get("_spec")
        if cached is None:
            cached = self.__dict__["_spec"] = ArgSpec.of(self.args)
        return cached

    @property
    def takes_act(self) -> bool:
        """Whether it has an inline activation (`act=`), which an activation after it may join."""
        return self.arg("act") is not None

    @property
    def defaults(self) -> dict[str, Any]:
        """Each argument's typed default (REQUIRED where it has none), in order; computed once."""
        cached = self.__dict__.get("_defaults")
        if cached is None:
            cached = self.__dict__["_defaults"] = {
                a.name: a.default if a.required else a.typed_default for a in self.args
            }
        return cached

    def arg(self, name: str) -> Arg | None:
        """The argument called `name`, or None."""
        table = self.__dict__.get("_by_name")
        if table is None:
            table = self.__dict__["_by_name"] = {a.name: a for a in self.args}
        return table.get(name)

    @property
    def summary(self) -> str:
        """The first line of the docstring."""
        return (self.__doc__ or "").strip().splitlines()[0]

    def shape(self, a: Args, ins: list[Shape]) -> Shape:
        """Output shape for these input shapes; raises ShapeError when they do not fit."""
        raise NotImplementedError

    def check_args(self, a: Args) -> None:
        """Raise ShapeError for arguments that fit no input at all (a pool's padding over half
        its window). `shape` calls it; the builder calls it alone where the input is unknown
        (below a layer that failed), so such a mistake is told in the same run."""

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 0

    def param_shapes(self, a: Args, ins: list[Shape], out: Shape) -> tuple[tuple[str, Shape], ...]:
        """The trainable tensors, as (name, shape), as the PyTorch module cnnctl builds holds them:
        its state_dict's names and dimension order (conv's weight: out, in/groups, f_h, f_w),
        what a student compares with their own PyTorch code. Their sizes' products sum to
        `params` (a test checks both, against the built modules of every bundled network)."""
        return ()

    def buffers(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 0

    def mults(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 0

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 0

    def notes(self, a: Args, ins: list[Shape], out: Shape) -> list[str]:
        """Things worth telling the user that are not errors (uneven `same` padding, input rows
        no window reaches: `cnnctl.layers.conv`), told as warnings at the layer's line."""
        return []

    def backward_mults(self, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
        """Multiplications by weights of the backward pass (0: a kind without weights)."""
        return 0

    def backward_flops(self, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
        """FLOPs of the backward pass: the forward's element-wise work again, only where a gradient
        flows through the layer (to its input, or to its own parameters); else 0."""
        if input_grad or self.params(a, ins, out):
            return self.flops(a, ins, out)
        return 0

    def saved(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Saved, ...]:
        """The tensors kept for the backward pass (by default none: a copy, a view, a sum)."""
        return ()

    def is_view(self, a: Args) -> bool:
        """Whether the output is a view of the first input's memory (flatten, a chunk of the
        channels): a layer that keeps it keeps the whole input alive."""
        return False

    def passes_gradient(self, a: Args) -> bool:
        """Whether its backward hands each input the output's gradient itself, no tensor of its
        own (add, concat, flatten, a droppath without a rate): read by the CUDA memory model."""
        return False

    def moves_data(self, a: Args, training: bool) -> bool:
        """Whether its forward pass reads its inputs and writes its output: the bytes the
        roofline charges it (`cnnctl.analysis.roofline`). A view moves nothing (flatten, a
        chunk or a slice of the channels); nor does a layer that is the identity at inference
        (dropout, droppath), unless `training`."""
        return not self.is_view(a)

    sized_by_last: ClassVar[bool] = False
    """Whether a last input beyond the first gives only its height and width, none of its values
    (`crop from=c1,up1`): the receptive field follows the first input alone."""

    def window(self, a: Args, ins: list[Shape], out: Shape) -> tuple[Window, Window] | None:
        """The (height, width) geometry of each output position's view of the input; None when
        every output value sees the whole input (fc, flatten)."""
        return IDENTITY


KINDS: dict[str, LayerKind] = {}
"""The registry of layer kinds: name -> the one object that owns that kind's rules
(`cnnctl.layers` imports every module, so each has registered its kinds)."""


def register(kind: LayerKind) -> LayerKind:
    """Add `kind` to KINDS; a name, alias or synonym another kind has is a mistake in cnnctl."""
    taken = {name for other in KINDS.values() for name in (other.name, *other.aliases, *other.synonyms)}
    clash = taken & {kind.name, *kind.aliases, *kind.synonyms}
    if clash or not kind.name:
        raise ValueError(f"layer kind {kind.name!r}: {sorted(clash) or 'no name'} already taken")
    KINDS[kind.name] = kind
    return kind


def registered(cls: type[LayerKind]) -> type[LayerKind]:
    """Class decorator: register the kind the class defines."""
    register(cls())
    return cls


def require_volume(kind: str, shape: Shape) -> tuple[int, int, int]:
    """The input as (H, W, C), or a ShapeError saying a volume was expected."""
    if len(shape) != 3:
        raise ShapeError(
            f"{kind} needs a volume HxWxC, but its input is the vector {format_shape(shape)}",
            hint="put it before the first `fc`/`flatten`",
        )
    return shape  # type: ignore[return-value]


def activation_flops(a: Args, out: Shape) -> int:
    """Element-wise cost of an inline activation (`act=relu`), 0 when there is none."""
    from .activation import ACTIVATION_FLOPS  # the table lives with the activation kinds

    act = a.get("act")
    return ACTIVATION_FLOPS[act] * numel(out) if act and act != "none" else 0


# Which activations PyTorch's backward computes from their output (relu: out > 0) rather
# than their input (silu, gelu...). A layer of its own keeps that tensor; an inline one
# (`act=`) runs in place where it can, and then keeps the output, or a copy of the value
# before it (relu6, silu, hardswish... clone it), or that value itself (gelu, leaky: not in
# place): a tensor of its own either way. Measured in tests/test_training_memory.py.
FROM_OUTPUT = frozenset(("relu", "sigmoid", "tanh", "softmax"))
FROM_OUTPUT_IN_PLACE = FROM_OUTPUT | {"elu"}


def activation_saved(a: Args, out: Shape) -> tuple[Saved, ...]:
    """What an inline activation (`act=relu`) keeps for its backward pass."""
    act = a.get("act")
    if not act or act == "none":
        return ()
    return (Saved(OUTPUT),) if act in FROM_OUTPUT_IN_PLACE else (Saved(OWN, numel(out)),)


def weight_and_bias(weight: Shape, bias: int | None) -> tuple[tuple[str, Shape], ...]:
    """`param_shapes` of a layer with a weight and, unless `bias` is None, a bias of that many values."""
    return (("weight", weight),) if bias is None else (("weight", weight), ("bias", (bias,)))


def weights_backward_flops(kind: LayerKind, a: Args, ins: list[Shape], out: Shape, input_grad: bool) -> int:
    """Backward FLOPs of conv, deconv, fc and channelconv: 2 per backward multiplication, one
    add per bias value (the bias gradient sums the output gradient), and the activation's
    gradient."""
    bias = numel(out) if a.bias else 0
    return 2 * kind.backward_mults(a, ins, out, input_grad) + bias + activation_flops(a, out)


def exact_number(value: float) -> str:
    """`0.5`, `2`, `1e-06`: short, where that loses nothing; else every digit (an imported
    0.458 read as float32 is 0.45800000429153442)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _render(value: object) -> str:
    if value is None:  # written `none` (`momentum=none`: PyTorch's None)
        return "none"
    if isinstance(value, tuple) and value and isinstance(value[0], float):  # numbers per channel
        return ",".join(exact_number(v) for v in value)
    if isinstance(value, tuple):
        return str(value[0]) if len(set(value)) == 1 else "x".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def shorthand(kind: LayerKind, args: Args) -> str:
    """Canonical shorthand of a layer: required and non-default arguments, in order."""
    parts = [kind.name]
    for arg in kind.args:
        value = args.get(arg.name)
        default = arg.typed_default
        if value is None and default is None:  # not given, and nothing by default (a pool's `out`)
            continue
        if not (arg.required or arg.show or value != default):
            continue
        if arg.flag and value is True:
            parts.append(arg.name)
        elif arg.name == "p" and value == (0, 0):
            parts.append("p=valid")
        elif arg.positional:
            parts.append(_render(value))
        else:
            parts.append(f"{arg.name}={_render(value)}")
    return " ".join(parts)
