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
  mean and variance).
"""

from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape, format_shape, numel
from .args import Arg

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from typing import Any, ClassVar


class Args(dict):
    """A layer's typed arguments, readable as attributes: ``a.f``, ``a.n``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class LayerKind:
    """Base of every layer kind. Subclasses set `name`, `args` and override the rules."""

    name: ClassVar[str] = ""
    args: ClassVar[tuple[Arg, ...]] = ()
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1  # None: any number (add, concat)

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

    def params(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 0

    def buffers(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 0

    def mults(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 0

    def flops(self, a: Args, ins: list[Shape], out: Shape) -> int:
        return 0

    def notes(self, a: Args, ins: list[Shape], out: Shape) -> list[str]:
        """Things worth telling the user that are not errors (e.g. uneven `same` padding)."""
        return []


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


def _render(value: object) -> str:
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
        if value is None:
            continue
        default = arg.typed_default
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
