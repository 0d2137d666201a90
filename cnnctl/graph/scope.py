"""What one list of layers sees and how its layers are named.

A `Scope` holds the ids a reference can reach: those defined so far in this list, then in
the lists around it, but never past a block's body (it sees only its own layers and its
input). `Names` hands out the paths of one list's layers: `conv1`, `conv2`, ... around the
ids written there.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import Loc
from ..notation.spec import Item, Nested


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

    def of(self, item: Item) -> str:
        """The name `item` takes in this list: its id, or the next of its base name (`conv3`).
        A block whose name ends in a digit is numbered after a `_` (`stage1_1`, not `stage11`,
        which reads as the eleventh `stage`). A layer kind's numbers stay as they always were
        (`relu61`): the bundled networks' paths, and the weights saved under them, keep them."""
        if item.id is not None:
            return str(item.id.text)
        base = item.base_name
        if base[-1:].isdigit() and getattr(item, "is_block", False):
            base += "_"
        return self.auto(base)


def lone(items: tuple[Item, ...], names: Names, collapse: bool) -> bool:
    """Whether the one item of a list that collapses (`Nested.collapse`; a block's body) takes
    the list's own path, adding no level (`layer1.2`, not `layer1.2.bottleneck1`): unnamed,
    and under a path. The builder and the check of unbuilt lists name alike by it."""
    return bool(collapse and names.prefix and len(items) == 1 and items[0].id is None)


def names_of(nested: Nested, names: Names) -> Names:
    """The names a nested list's layers take (`Nested.label`): the item's own, or its label's
    under the item's path, the label marked as taken there."""
    if nested.label is None:
        return names
    names.taken.add(nested.label)
    return names.child(nested.label)
