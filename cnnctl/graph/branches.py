"""`concat:` and `add:` with branches: parallel paths from the same input, joined (Inception).

Branches are a list (named `branch1`, `branch2`, ...) or a mapping of names; each is a list
of layers or a single layer; an empty list is the identity. The join is a `concat` or an
`add` (with its `act`) named after it.
"""

from __future__ import annotations

from ..layers import KINDS, Args
from ..notation.spec import BranchesItem, Nested
from .blocks import Env
from .scope import Names, Scope, names_of

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder


def expand(b: Builder, item: BranchesItem, scope: Scope, env: Env | None, path: str, current: int) -> int:
    names = Names(path)
    b.group(path, "branches", f"{item.merge} of {len(item.branches)} branches", item.loc)
    outs = parallel(b, item.lists, scope, env, names, current)
    args = b.merge_args(item.act, env, path) if item.merge == "add" else Args()
    return b.add_node(KINDS[item.merge], args, outs, item.loc, names.path(names.fixed(item.merge)))


def parallel(
    b: Builder, paths: tuple[Nested, ...], scope: Scope, env: Env | None, names: Names, current: int
) -> list[int]:
    """Each of `paths` built from `current` in a scope of its own, named by its label: the
    outputs. An empty one passes its input through."""
    outs = []
    for path in paths:
        inner = names_of(path, names)
        outs.append(b.sequence(path.items, Scope(current, parent=scope), env, inner) if path.items else current)
    return outs


def least(b: Builder, item: BranchesItem, env: Env | None) -> int:
    """Every branch's layers and the join."""
    return sum(b.least_layers(body, env) for _, body, _ in item.branches) + 1
