"""The parsed network: what the file says, with where it says it, before any shape is known.

Values are still text here (``"$n"``, ``"1x7"``): block arguments are substituted and
values typed when the graph is built. Every item keeps its location so the builder can
point at the line that caused a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .errors import Loc


class Value(NamedTuple):
    """A written value (text, or a list of texts for `from`/`with`) and its location."""

    text: str | tuple[str, ...]
    loc: Loc


@dataclass(frozen=True)
class Item:
    """Common to every entry of a `layers:` list."""

    loc: Loc
    id: Value | None
    source: tuple[Value, ...] | None  # `from=`: exactly these inputs, by id
    extra: tuple[Value, ...]  # `with=`: the previous output plus these


@dataclass(frozen=True)
class LayerItem(Item):
    """One layer (`conv f=3 n=64`) or one use of a block (`basic n=64 s=2`)."""

    kind: str = ""
    is_block: bool = False
    args: dict[str, Value] = field(default_factory=dict)
    text: str = ""  # as written, for messages


@dataclass(frozen=True)
class RepeatItem(Item):
    """`repeat: N` with a `layers:` body; `first:` overrides arguments of the first pass."""

    times: Value | None = None
    body: tuple[Item, ...] = ()
    first: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class ResidualItem(Item):
    """`residual:` a main path whose output is added to its input (through `shortcut`)."""

    body: tuple[Item, ...] = ()
    shortcut: str | tuple[Item, ...] = "identity"  # identity | projection | layers
    shortcut_loc: Loc | None = None
    act: Value | None = None


@dataclass(frozen=True)
class BranchesItem(Item):
    """`concat:` or `add:` of parallel branches, each starting from the same input."""

    merge: str = "concat"
    branches: tuple[tuple[str | None, tuple[Item, ...], Loc], ...] = ()
    act: Value | None = None


@dataclass(frozen=True)
class BlockDef:
    """A reusable, parameterised group of layers under `blocks:`."""

    name: str
    params: dict[str, Value | None]  # None: required
    body: tuple[Item, ...]
    loc: Loc


@dataclass(frozen=True)
class NetworkSpec:
    file: str
    name: str
    input: Value | None
    layers: tuple[Item, ...]
    blocks: dict[str, BlockDef] = field(default_factory=dict)
    description: str = ""
