"""`concat:` and `add:` with branches: parallel paths from the same input, joined (Inception).

Branches are a list (named `branch1`, `branch2`, ...) or a mapping of names; each is a list
of layers or a single layer; an empty list is the identity. The join is a `concat` or an
`add` (with its `act`) named after it.
"""

from __future__ import annotations

from ..layers import KINDS, Args
from ..notation.spec import BranchesItem
from .blocks import Env
from .scope import Names, Scope

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder


def expand(b: Builder, item: BranchesItem, scope: Scope, env: Env | None, path: str, current: int) -> int:
    names = Names(path)
    b.group(path, "branches", f"{item.merge} of {len(item.branches)} branches", item.loc)
    outs = parallel(b, item.branches, scope, env, names, current, "branch")
    args = b.merge_args(item.act, env, path) if item.merge == "add" else Args()
    return b.add_node(KINDS[item.merge], args, outs, item.loc, names.path(names.fixed(item.merge)))


def parallel(b: Builder, paths, scope: Scope, env: Env | None, names: Names, current: int, prefix: str) -> list[int]:
    """Each (label, body, loc) of `paths` built from `current` in a scope of its own, named by
    its label or `prefix`1, 2, ...: the outputs. An empty body passes its input through."""
    outs = []
    for i, (label, body, _loc) in enumerate(paths, 1):
        label = label or f"{prefix}{i}"
        names.taken.add(label)
        outs.append(b.sequence(body, Scope(current, parent=scope), env, names.child(label)) if body else current)
    return outs


def least(b: Builder, item: BranchesItem, env: Env | None) -> int:
    """Every branch's layers and the join."""
    return sum(b.least_layers(body, env) for _, body, _ in item.branches) + 1
