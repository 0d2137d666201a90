"""`gate:`: a path computed from the input, whose output multiplies the input.

Squeeze-and-excitation is the case it is for: `pool avg global`, a 1x1 conv that squeezes,
one that excites back to the input's channels, a sigmoid; the ``1x1xC`` result scales each
channel of the ``HxWxC`` input (see `mul`'s broadcasting). A path that ends in ``HxWx1`` scales
each position instead, all its channels alike (CBAM's spatial attention: `pool avg channels`,
`pool max channels`, a 7x7 conv, a sigmoid). Layers: the path's, then `mul`.
"""

from __future__ import annotations

from ..layers import KINDS, Args
from ..notation.spec import GateItem
from .blocks import Env
from .scope import Names, Scope, names_of

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder


def expand(b: Builder, item: GateItem, scope: Scope, env: Env | None, path: str, current: int) -> int:
    names = Names(path)
    b.group(path, "gate", "gate", item.loc)
    (body,) = item.lists
    scale = b.sequence(body.items, Scope(current, parent=scope), env, names_of(body, names), body.collapse)
    mul = KINDS["mul"]
    args = Args({a.name: a.typed_default for a in mul.args})
    return b.add_node(mul, args, [current, scale], item.loc, names.path(names.fixed("mul")))


def least(b: Builder, item: GateItem, env: Env | None) -> int:
    """The path's layers and the `mul`."""
    return b.least_layers(item.body, env) + 1
