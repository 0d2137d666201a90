"""The volume a layer that failed plausibly makes, so that the layers after it are still built
and their own, independent mistakes told in the same run (`conv f=3 p=0 n=` then `pool f=99`:
the pool is wrong whatever the conv's `n`).

The guess is the layer's own shape rule on what its line says: each argument that reads as
its kind's, the kind's defaults for the others, and, for the width (`n` of a conv, `units` of
an fc) where it is missing or does not read, the input's channels. A value that reads as no value of
its argument takes the default (`s=0`: `s=1`). Where that still gives no volume (an unknown
kind, a missing argument with no default, an input of unknown shape, a rule the guess breaks),
there is no guess and the shapes after it stay unknown, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..errors import CnnctlError, ShapeError
from ..layers import Args, LayerKind
from ..layers.args import REQUIRED, ArgValueError
from ..notation.spec import Value
from ..shapes import Shape
from .blocks import Env, Unbound, substitute


def guessed_volume(
    kind: LayerKind,
    written: Mapping[str, Value],
    env: Env | None,
    path: str,
    ins: list[Shape],
    infer: Callable[[LayerKind, Args, list[Shape]], tuple],
    width: str | None = None,
) -> Shape | None:
    """The output volume of a layer of `kind` whose line failed, from the `written` arguments
    that read (`infer`: the builder's shape rule, which also checks the output; `width`: the
    kind's argument that sets its output channels, build.WIDTH_ARG's); None where none can be
    guessed."""
    if not ins:
        return None
    args = Args(kind.defaults)
    for name, value in written.items():
        arg = kind.arg(name)
        if arg is None:
            continue
        try:
            args[name] = arg.type.parse(str(substitute(value, env, path).text))
        except (ArgValueError, CnnctlError, Unbound):
            continue  # the default stands in for it: its mistake is told by the line's problems
    if width is not None and args.get(width) is REQUIRED and ins[0]:
        args[width] = ins[0][-1]  # the input's channels: the volume's size kept
    if REQUIRED in args.values():
        return None
    try:
        kind.check_args(args)
        return infer(kind, args, ins)[0]
    except (ShapeError, CnnctlError, ArgValueError):
        return None
