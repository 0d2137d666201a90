"""Blocks: reusable groups of layers with arguments, used like a layer kind (`bottleneck n=64`).

A use binds the block's arguments (as written there, else their defaults, which may use the
arguments before them) and expands its body in a scope of its own: the body sees its own
layers and `input` (the block's input), nothing outside. Inside, `$n` is an argument's text
and `${expr}` exact arithmetic over arguments (`cnnctl.notation.expr`); `in_h`, `in_w` and
`in_c` are the block's input height, width and channels (a vector: 1, 1 and its length).
"""

from __future__ import annotations

import re

from ..errors import CnnctlError, LimitError, Loc, Problem, did_you_mean, quoted, shown
from ..limits import MAX_BLOCK_DEPTH, MAX_INT, MAX_LAYERS, MAX_VALUE_CHARS
from ..notation.expr import FUNCTIONS, MAX_VALUE, ExprError, ExprTooLarge, evaluate, format_number, read_number
from ..notation.spec import (
    BLOCK_INPUT,
    BlockDef,
    FailedItem,
    Item,
    LayerItem,
    NetworkSpec,
    RepeatItem,
    ResidualItem,
    Value,
    walk,
)
from ..notation.variants import misfit
from ..shapes import Shape
from . import droppath
from .nodes import Node
from .scope import Names, Scope

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from ..notation.expr import Number
    from .build import Builder

_SUBST = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$")


class Unbound(Exception):
    """A value that uses an argument or the input size of a block when none is known: the body
    of a block that is not built is checked without them (`cnnctl.graph.unbuilt`)."""


class Env:
    """Block arguments in force while expanding one block instance, and its input's shape.

    `unbound`: a body checked without being built, where an argument missing from `values`
    (no use gives it, or it could not be read) and the input size have no value: a text using
    one raises `Unbound`, and is not checked further.
    """

    __slots__ = ("block", "key", "shape", "unbound", "values")

    def __init__(
        self, block: BlockDef, values: dict[str, Value], shape: Shape | None = None, unbound: bool = False
    ) -> None:
        self.block = block
        self.values = values
        self.shape = shape  # None while the layers are counted, before any shape is known
        self.unbound = unbound
        # What a text substituted here depends on: its results are kept under it (SUBSTITUTED).
        self.key = (block.name, tuple((k, v.text) for k, v in values.items()), shape, unbound)

    def input_size(self, name: str) -> str | None:
        """`in_h`, `in_w` or `in_c` of the block's input; None for other names."""
        if name not in BLOCK_INPUT or self.shape is None:
            return None
        if not self.shape:  # after a layer that failed: the size is unknown, and what uses it is not checked
            raise Unbound(name)  # (a width of `${in_c // 2}` made 0 of a stand-in 1 blamed a layer for the failure)
        h, w, c = self.shape if len(self.shape) == 3 else (1, 1, self.shape[0])
        return str({"in_h": h, "in_w": w, "in_c": c}[name])


def expand(
    b: Builder, item: LayerItem, inputs: list[int], env: Env | None, path: str, override: dict[str, Value] | None = None
) -> int:
    """One use of a block: its arguments bound, its body expanded from its (single) input."""
    block = b.spec.blocks.get(item.kind)
    if block is None:  # defined without a body: the parser said so
        return b.placeholder(item, path)
    stack = [name for name, _ in b.block_uses]
    if item.kind in stack:  # told before building (`cycles`), where the file says it
        return b.placeholder(item, path)
    if len(stack) >= MAX_BLOCK_DEPTH:
        raise LimitError.at(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", item.loc, layer=path)
    source = b.single(inputs, item, path)
    shape = b.shape_of(source)
    written = {**item.args, **override} if override else item.args
    values = arguments(block, written, env, item.loc, path, shape)
    b.reached.add(item.kind)
    b.group(path, "block", " ".join([item.kind, *(f"{k}={values[k].text}" for k in written if k in values)]), item.loc)
    body_env = Env(block, values, shape)
    # Everything the body's expansion depends on besides the path it is made under and the
    # index of its input (a schedule numbers each use: then every use is built).
    key = (body_env.key, b.depth, tuple(stack)) if b.droppath is None and REPLAY else None
    made = b.built.get(key) if key is not None and source not in b.guessed else None  # a guess's: built, and marked
    if made is not None and len(b.nodes) + len(made.nodes) <= MAX_LAYERS:
        return _again(b, made, path, source)
    use = droppath.enter(b, item.kind)  # its number, if stochastic depth's schedule counts this block
    b.block_uses.append((item.kind, item.loc))
    if use is not None:
        b.scheduled.append(use)
    before = (len(b.nodes), len(b.warnings), len(b.problems), b.failures, len(b.groups))
    try:
        out = b.sequence(block.body, Scope(source, sealed=True), body_env, Names(path), collapse=True)
    finally:
        b.block_uses.pop()
        if use is not None:
            b.scheduled.pop()
    if key is not None and (len(b.problems), b.failures) == before[2:4]:
        made = _made(b, before, path, source, out)
        if made is not None:
            b.built[key] = made
    return out


# Off only in the test that builds every network both ways and finds the same graphs.
REPLAY = True


class _Made:
    """The layers one use of a block made, to make again for another use with the same
    arguments and input shape (a ResNet's stage repeats one block: half its uses are such)."""

    __slots__ = ("groups", "nodes", "out", "path", "source", "start", "warnings")

    def __init__(self, nodes: list, warnings: list, groups: list, path: str, source: int, start: int, out: int):
        self.nodes, self.warnings, self.groups, self.path = nodes, warnings, groups, path
        self.source, self.start, self.out = source, start, out


def _made(b: Builder, before: tuple[int, ...], path: str, source: int, out: int) -> _Made | None:
    """What one use made, if it can be made again elsewhere: every layer under its path and
    taking only the use's input or its own layers (a block's body sees nothing else)."""

    def under(p: str | None) -> bool:  # `layer1.1.conv1` is under `layer1.1`; `layer1.10.conv1` is not
        return p is not None and (p == path or p.startswith(path + "."))

    start, warned, grouped = before[0], before[1], before[4]
    nodes = b.nodes[start:]
    inside = all(under(n.path) and all(i == source or i >= start for i in n.inputs) for n in nodes)
    warnings = b.warnings[warned:]
    if not (inside and (out == source or out >= start) and all(under(w.layer) for w in warnings)):
        return None
    return _Made(nodes, warnings, b.groups[grouped:], path, source, start, out)


def _again(b: Builder, made: _Made, path: str, source: int) -> int:
    """The layers of `made` made again under `path` from `source`: the same nodes (kinds,
    arguments, shapes, counts, places in the file), their paths and inputs moved."""
    start, cut, new = len(b.nodes), len(made.path), tuple.__new__
    offset = start - made.start
    nodes = b.nodes
    for n in made.nodes:
        inputs = tuple([source if i == made.source else i + offset for i in n.inputs])
        nodes.append(new(Node, (len(nodes), path + n.path[cut:], n.kind, n.args, inputs, *n[5:])))
    for w in made.warnings:
        b.warnings.append(w._replace(layer=path + w.layer[cut:]))
    for g in made.groups:
        b.groups.append(g._replace(path=path + g.path[cut:]))
    return source if made.out == made.source else made.out + offset


FILE = "(file)"  # the name of the file's own arguments (`args:` at the top): no block's name has brackets


def file_env(spec: NetworkSpec) -> Env | None:
    """The arguments of the file's own `args:` (a family's: `width`, `depth`) its top-level
    layers are built with, as its member chose them (`notation.variants`); None without."""
    if not spec.args:
        return None
    loc = Loc(spec.file)
    missing = [name for name, value in spec.args.items() if value is None]
    if missing and spec.member is not None and spec.variants[spec.member].problems:
        # the chosen member's own line already says why (`does not give n`, a value refused): not twice
        raise CnnctlError(())
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        chosen = f"; its members: {', '.join(spec.variants)}" if spec.variants else ""
        raise CnnctlError.at(
            f"the file needs {names} (its `args:`)",
            spec.variants_loc or loc,
            hint=f"choose a member (`FILE:MEMBER`) or set them (`FILE:name=value`){chosen}",
        )
    block = BlockDef(FILE, spec.args, spec.layers, loc)
    values = arguments(block, {}, None, loc, "")
    problems = []
    for name, written in spec.args.items():  # a member's or a setting's expression, now it has a value
        if "$" not in str(written.text):
            continue
        wrong = misfit(name, spec.declared.get(name), str(values[name].text), spec.ranges.get(name))
        if wrong is not None:
            problems.append(Problem(f"`{name}={written.text}`: {wrong[0]}", written.loc, None, wrong[1]))
    if problems:
        raise CnnctlError(problems)
    return Env(block, values)


def arguments(
    block: BlockDef, written: dict[str, Value], env: Env | None, loc: Loc, path: str, shape: Shape | None = None
) -> dict[str, Value]:
    """A block's arguments for one use: as written there (in the user's own block arguments,
    `env`), else their defaults, which may use the arguments declared before them and the
    block's input size (`args: n m=${n*2} e=${in_c*6}`; `shape` is that input's)."""
    values: dict[str, Value] = {}
    for pname, default in block.params.items():
        if pname in written:
            values[pname] = substitute(written[pname], env, path)
        elif default is not None:  # the arguments so far are its environment, if it uses any
            values[pname] = substitute(default, Env(block, values, shape), path) if "$" in default.text else default
        else:
            raise CnnctlError(needs(block, pname, loc, path))
    return values


def needs(block: BlockDef, pname: str, loc: Loc, path: str) -> Problem:
    """A required argument of `block` not given at its use."""
    takes = " ".join(p if d is None else f"{p}={d.text}" for p, d in block.params.items())
    return Problem(f"block `{block.name}` needs `{pname}`", loc, path, f"`{block.name}` takes: {takes}")


def use_problems(
    block: BlockDef, written: dict[str, Value], env: Env | None, loc: Loc, path: str, complete: bool = True
) -> list[Problem]:
    """Every problem of a block's use that is not built: its written values put in, its
    required arguments given (`complete`). Its defaults are not: they may read the size of
    an input it does not get."""
    problems: list[Problem] = []
    for value in written.values():
        try:
            substitute(value, env, path)
        except Unbound:
            pass
        except CnnctlError as exc:
            problems.extend(exc.problems)
    for pname, default in block.params.items() if complete else ():
        if default is None and pname not in written:
            problems.append(needs(block, pname, loc, path))
    return problems


def substitute(value: Value, env: Env | None, path: str) -> Value:
    """`value` with `$name` and `${expr}` replaced by the block's arguments."""
    text = value.text
    if not isinstance(text, str) or "$" not in text:
        return value
    key = (text, env.key) if env is not None else None
    done = SUBSTITUTED.get(key) if key is not None else None
    if done is not None:
        if done is UNBOUND:
            raise Unbound(text)
        return Value(done, value.loc)
    try:
        result = _substitute(value, env, path)
    except Unbound:
        if key is not None:
            _keep(key, UNBOUND)
        raise
    if key is not None:
        _keep(key, result.text)
    return result


def _keep(key: tuple, text: str) -> None:
    if len(SUBSTITUTED) >= 100_000:
        SUBSTITUTED.clear()
    SUBSTITUTED[key] = text


# (text, the arguments and input size in force) -> the text with them put in: a block used
# many times with the same arguments writes the same values (a ResNet's `${n*4}`), and a
# block checked without being built meets the same unknown values in every file (UNBOUND).
SUBSTITUTED: dict[tuple, str] = {}
UNBOUND = "$"  # no text with them put in is `$`: a value that has none (`Unbound`)


def _substitute(value: Value, env: Env | None, path: str) -> Value:
    text = value.text
    length = [len(text)]  # of the result so far: `$a$a` doubles a text, forty such arguments a terabyte

    def lookup_value(name: str, offset: int) -> str:
        if (env is None or env.block.name == FILE) and name in BLOCK_INPUT:
            raise CnnctlError.at(
                f"`${name}` is a block's input size, but this layer is not in a block",
                value.loc.shifted(offset),
                layer=path,
                hint="`in_h`, `in_w` and `in_c` exist inside `blocks:`; write the value itself here",
            )
        if env is None:
            raise CnnctlError.at(
                f"`${name}` refers to a block argument, but this layer is not in a block",
                value.loc.shifted(offset),
                layer=path,
                hint="block arguments exist only inside `blocks:`; write the value itself here",
            )
        unknown = name in env.block.params or env.block.refused or (name in BLOCK_INPUT and env.shape is None)
        if env.unbound and unknown and name not in env.values:  # a body checked without being built
            raise Unbound(name)
        size = env.input_size(name) if name not in env.values else None
        if size is not None:
            return size
        if name not in env.values and name in env.block.params:  # a default using a later argument
            raise CnnctlError.at(
                f"`{name}` is declared after the argument whose default uses it",
                value.loc.shifted(offset),
                layer=path,
                hint=f"a default may use the arguments before it: move `{name}` earlier in `args:`",
            )
        if name not in env.values:
            owner = "the file" if env.block.name == FILE else f"block `{env.block.name}`"
            raise CnnctlError.at(
                f"{owner} has no argument {shown(name)}",
                value.loc.shifted(offset),
                layer=path,
                hint=did_you_mean(name, env.block.params) or f"declare it in `args:`: {shown(name)}",
            )
        return str(env.values[name].text)

    def replace_match(m: re.Match) -> str:
        expr, name = m.group(1), m.group(2)
        if name:
            piece = lookup_value(name, m.start())
            length[0] += len(piece)
            if length[0] > MAX_VALUE_CHARS:
                raise CnnctlError.at(
                    f"`${name}` makes this value longer than {MAX_VALUE_CHARS:,} characters",
                    value.loc.shifted(m.start()),
                    layer=path,
                    hint="a block argument is a number, a size or a word; `$a$a` doubles a text",
                )
            return piece
        if expr is None:
            unclosed = text.startswith("${", m.start())
            raise CnnctlError.at(
                "`${` is not closed by `}`" if unclosed else "a lone `$`",
                value.loc.shifted(m.start()),
                layer=path,
                hint="write `$name` or `${expression}`",
            )

        def number(n: str) -> Number:
            v = lookup_value(n, m.start())
            exact = read_number(v)  # whole, or a multiplier (`w=1.1`), or a fraction another expression made
            if exact is None:
                raise ExprError(f"`{n}` is {quoted(v, 24)}, not a number")
            if abs(exact) > MAX_INT:
                raise ExprError(f"`{n}` is {quoted(v, 24)}, too large (at most {MAX_INT:,})")
            return exact

        try:
            return format_number(evaluate(expr, number))
        except ExprError as exc:
            hint = (
                f"an expression's values stay within {MAX_VALUE:,} (2^62) either way, and a layer's whole numbers "
                f"within {MAX_INT:,}"
                if isinstance(exc, ExprTooLarge)
                else "expressions use numbers (32, 1.1), argument names, + - * / // %, parentheses and "
                + ", ".join(FUNCTIONS)
            )
            raise CnnctlError.at(str(exc), value.loc.shifted(m.start()), layer=path, hint=hint) from None

    return Value(_SUBST.sub(replace_match, text), value.loc)


def readable(value: Value, env: Env | None) -> str | None:
    """`value` with block arguments substituted, or None where that fails (the builder says why)."""
    try:
        return str(substitute(value, env, "").text)
    except CnnctlError:
        return None


# -- counting before building ------------------------------------------------------------------
def least(b: Builder, item: LayerItem, override: dict[str, Value], env: Env | None) -> int:
    """The fewest layers one use of a block makes, each block counted once (once per set of
    arguments where they decide its size)."""
    block = b.spec.blocks.get(item.kind)
    if block is None or item.kind in b.counting or len(b.counting) >= MAX_BLOCK_DEPTH:
        return 1  # a block using itself, or too deep: the builder says so
    if fixed_size(b, item.kind):  # counted once, whatever its arguments
        key: tuple = (item.kind,)
        inner = None
    else:
        try:
            values = arguments(block, {**item.args, **override}, env, item.loc, "")
        except CnnctlError:
            return 1
        key, inner = (item.kind, tuple((k, v.text) for k, v in values.items())), Env(block, values)
    if key not in b.counted:
        b.counting.append(item.kind)
        try:
            b.counted[key] = b.least_layers(block.body, inner)
        finally:
            b.counting.pop()
    return b.counted[key]


def fixed_size(b: Builder, name: str, depth: int = 0) -> bool:
    """Whether block `name` makes as many layers whatever its arguments: no `$` in the counts
    of its repeats or in its shortcuts, and only such blocks inside. (Without this, 31
    blocks each using the one below twice with new arguments took seconds to count.)"""
    if name not in b.fixed:
        if depth >= MAX_BLOCK_DEPTH:
            return False
        b.fixed[name] = False  # while it is looked at: a block using itself is not
        b.fixed[name] = all(
            not (isinstance(i, RepeatItem) and i.times is not None and "$" in str(i.times.text))
            and not (isinstance(i, ResidualItem) and isinstance(i.shortcut, str) and "$" in i.shortcut)
            and not (isinstance(i, LayerItem) and i.is_block and not fixed_size(b, i.kind, depth + 1))
            for i in walk(b.spec.blocks[name].body if name in b.spec.blocks else ())
        )
    return b.fixed[name]


# -- blocks inside blocks -----------------------------------------------------------------------
def cycles(spec: NetworkSpec) -> list[Problem]:
    """Every use of a block inside a block that it (directly or through others) uses: a block
    cannot contain itself, whether it is used or not, and whether the use would run (in a
    `repeat: 0`) or not. Each cycle is told once, at the use that closes it, with its chain
    (a walk from each block in the file's order, the uses of each body in theirs)."""
    uses = {name: _uses(block.body) for name, block in spec.blocks.items()}
    problems: list[Problem] = []
    done: set[str] = set()  # blocks whose every use has been followed
    for root in spec.blocks:
        if root in done:
            continue
        path = [root]  # the blocks being followed, each inside the one before
        on_path = {root}
        pending = [iter(uses[root])]
        while pending:
            item = next(pending[-1], None)
            if item is None:
                on_path.discard(path[-1])
                done.add(path.pop())
                pending.pop()
            elif item.kind in on_path:
                chain = " -> ".join([*path[path.index(item.kind) :], item.kind])
                hint = "a block cannot contain itself, directly or through another block"
                problems.append(Problem(f"block `{item.kind}` uses itself ({chain})", item.loc, None, hint))
            elif item.kind not in done and item.kind in uses:
                path.append(item.kind)
                on_path.add(item.kind)
                pending.append(iter(uses[item.kind]))
    return problems


def _uses(items: tuple[Item, ...], found: list[LayerItem | FailedItem] | None = None) -> list[LayerItem | FailedItem]:
    """The uses of blocks in `items` and the lists nested in them, in the file's order. A line
    refused for one of its arguments is a use all the same."""
    found = [] if found is None else found
    for item in items:
        kind = type(item)
        if kind is LayerItem:
            if item.is_block:
                found.append(item)
        elif kind is FailedItem:
            found.append(item)
        else:
            for nested in item.lists:
                _uses(nested.items, found)
    return found
