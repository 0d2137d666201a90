"""References: `id=NAME` names a layer, `from=A,B` takes exactly those inputs, `with=A` the
previous layer's output plus those. They only go backwards, so a network cannot contain a
cycle; `input` names the input of the list (the network's, or a block's).

An id is visible after it in its own list and in the lists nested in it; a block's body
sees only its own ids and its input. A reference that cannot see an id defined elsewhere
is told where that id is and why it is out of sight.

Inside a block a reference may be an argument (`from=$src`): the ids its use gives are
looked up, and a message names them, with what was written.
"""

from __future__ import annotations

from ..errors import CnnctlError, did_you_mean, quoted
from ..notation.spec import Item, Value, split_names
from .blocks import Env, Unbound, substitute
from .scope import Scope

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder


def inputs(b: Builder, item: Item, scope: Scope, current: int, path: str, env: Env | None) -> list[int]:
    """The indices an item takes: the previous output, or `from=`'s, plus `with=`'s."""
    if item.source is None and not item.extra:  # the common case: the previous layer's output
        return [current]
    found = [] if item.source is not None else [current]
    unbound = None
    for written in [*(item.source or ()), *item.extra]:
        if "$" not in str(written.text):
            found.append(resolve(b, written, scope, path))
            continue
        try:
            names = split_names(substitute(written, env, path), at_each=False)
        except Unbound as exc:  # a block's body checked without its arguments: the others still are
            unbound = exc
            continue
        found.extend(resolve(b, name, scope, path, written) for name in names)
    if unbound is not None:  # which ids, and how many, no use says
        raise unbound
    return found


def resolve(b: Builder, ref: Value, scope: Scope, path: str, written: Value | None = None) -> int:
    """The index `ref` names; `written`: the reference as written, where `ref` was put in for
    a block argument (`$src`)."""
    name = str(ref.text)
    if name == "input":
        return scope.input
    index = scope.lookup(name)
    if index is not None:
        return index
    shown = f"`{name}`" + (f" (written {quoted(written.text)})" if written is not None else "")
    later = scope.defined_later(name)
    if later is not None:
        raise CnnctlError.at(
            f"{shown} is defined later (line {later.line}); a layer can only take earlier layers as input",
            ref.loc,
            layer=path,
            hint="networks flow forwards: move the reference below its target",
        )
    raise CnnctlError.at(
        f"no layer with id {shown} before this one",
        ref.loc,
        layer=path,
        hint=out_of_scope(b, name, scope, path)
        or automatic_name(b, name, path)
        or did_you_mean(name, valid_ids(scope.visible()), family=True)
        or numbered(name, valid_ids(scope.visible()))
        or "name a layer with `id=NAME` and refer to it after it",
    )


def valid_ids(ids: list[str]) -> list[str]:
    """Of `ids`, those the notation accepts: one refused where it is written (`couche_é`) is
    kept, so that what refers to it is not blamed too, but never suggested."""
    from ..notation.parse import NAME_RE  # on the error path only: the graph needs no parser

    return [i for i in ids if NAME_RE.match(i)]


def automatic_name(b: Builder, name: str, path: str) -> str | None:
    """Where `name` is the automatic name of an earlier layer of this list (`conv1`): the
    names summarize shows are no ids (they shift when a layer is inserted above)."""
    here = path.rpartition(".")[0]
    full = f"{here}.{name}" if here else name
    node = next((n for n in reversed(b.nodes) if n.path == full), None)
    if node is None:
        return None
    return (
        f"`{name}` is the name cnnctl gives the layer at line {node.loc.line}, not an id: write `id={name}` "
        "on that line (or another id) to take its output"
    )


def numbered(name: str, visible: list[str]) -> str | None:
    """`enc` where `enc1`, `enc2` are ids: each names one layer, and several are listed."""
    ids = [v for v in visible if v.startswith(name) and v[len(name) :].isdigit()]
    if not ids:
        return None
    listed = ",".join(ids[:6])
    return f"an id names one layer: {', '.join(f'`{i}`' for i in ids[:6])}; several are joined with `from={listed}`"


def out_of_scope(b: Builder, name: str, scope: Scope, path: str) -> str | None:
    """Why an id defined elsewhere cannot be seen from here, or None if it is defined nowhere."""
    if name not in b.defined:
        return None
    loc, prefix, block = b.defined[name]
    sealed = next((s for s in scope.chain() if s.sealed), None)
    if sealed is not None and b.block_uses and block != b.block_uses[-1][0]:
        inside = b.block_uses[-1][0]
        return (
            f"`{name}` (line {loc.line}) is outside block `{inside}`, which sees only its own layers and "
            f"`input`: give the block what it needs as its input (`from=`) or as an argument"
        )
    if block is not None and (not b.block_uses or b.block_uses[-1][0] != block):
        return (
            f"`{name}` (line {loc.line}) is inside block `{block}`, and ids inside a block are not visible "
            f"outside it: give the block's use an id (`- {block} ... id=NAME`) to take its output"
        )
    here = path.rpartition(".")[0]  # the list this reference is written in
    if prefix.startswith(f"{here}.") or (not here and prefix):
        outer = prefix[len(here) + 1 :].split(".")[0] if here else prefix.split(".")[0]
        owner = f"{here}.{outer}" if here else outer
        return (
            f"`{name}` (line {loc.line}) is inside `{prefix}`, and an id is visible only after it in its "
            f"own list and the lists nested in it: give `{owner}` an id (`id=NAME`) to take its output here"
        )
    return (
        f"`{name}` (line {loc.line}) is inside `{prefix or 'the network'}`, and an id is visible only after it "
        "in its own list and the lists nested in it"
    )
