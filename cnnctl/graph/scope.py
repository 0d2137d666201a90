"""What one list of layers sees and how its layers are named.

A `Scope` holds the ids a reference can reach: those defined so far in this list, then in
the lists around it, but never past a block's body (it sees only its own layers and its
input). `Names` hands out the paths of one list's layers: `conv1`, `conv2`, ... around the
ids written there.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import Loc
from ..notation.spec import BranchesItem, FailedItem, GateItem, Item, LayerItem, RepeatItem, ResidualItem, SplitItem


class Scope:
    """What references can see: ids defined so far, chained to the enclosing list."""

    __slots__ = ("ids", "input", "later", "parent", "sealed")

    def __init__(self, input: int, parent: Scope | None = None, sealed: bool = False):
        self.input = input  # the list's input, what `input` means here
        self.parent = parent
        self.sealed = sealed  # a block body: sees nothing outside itself
        self.ids: dict[str, int] = {}
        self.later: dict[str, Loc] = {}  # ids defined further down this list

    def chain(self) -> Iterator[Scope]:
        """This scope and the enclosing ones it can see, innermost first."""
        scope: Scope | None = self
        while scope is not None:
            yield scope
            if scope.sealed:
                return
            scope = scope.parent

    def lookup(self, name: str) -> int | None:
        return next((s.ids[name] for s in self.chain() if name in s.ids), None)

    def visible(self) -> list[str]:
        return ["input", *(name for s in self.chain() for name in s.ids)]

    def defined_later(self, name: str) -> Loc | None:
        return next((s.later[name] for s in self.chain() if name in s.later), None)


class Names:
    """The path namespace of one list: hands out `conv1`, `conv2`, ... avoiding explicit ids."""

    __slots__ = ("counters", "prefix", "taken")

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.taken: set[str] = set()
        self.counters: dict[str, int] = {}

    def path(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def auto(self, base: str) -> str:
        k = self.counters.get(base, 0) + 1
        name = f"{base}{k}"
        while name in self.taken:
            k += 1
            name = f"{base}{k}"
        self.counters[base] = k
        self.taken.add(name)
        return name

    def fixed(self, name: str) -> str:
        """`name` itself unless taken (then `name1`, `name2`, ...)."""
        if name in self.taken:
            return self.auto(name)
        self.taken.add(name)
        return name

    def child(self, name: str) -> Names:
        return Names(self.path(name))


def base_name(item: Item) -> str:
    """What an unnamed item is named after, numbered within its list (`conv1`, `repeat2`)."""
    if isinstance(item, (LayerItem, FailedItem)):
        return item.kind
    if isinstance(item, RepeatItem):
        return "repeat"
    if isinstance(item, ResidualItem):
        return "residual"
    if isinstance(item, GateItem):
        return "gate"
    if isinstance(item, BranchesItem):
        return item.merge
    if isinstance(item, SplitItem):
        return "split"
    raise TypeError(item)  # pragma: no cover
