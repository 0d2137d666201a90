"""NetworkSpec -> Graph: expand blocks, repeats, residuals and branches; infer every shape.

Expansion walks the spec once, appending nodes in order, so references can only point
backwards and the graph is acyclic by construction. Each node's numbers come from its
layer kind (`cnnctl.layers`); this module only wires inputs, names paths and reports
problems with their location.

Paths: an unnamed item is named after its kind, numbered within its list (`conv1`,
`conv2`, `pool1`); `id:` names it explicitly. A repeat's passes are `1`, `2`, ...; a
composite whose body is a single unnamed item does not add a level (`layer2.1.conv1`
rather than `layer2.1.bottleneck1.residual1.conv1`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import CnnctlError, LimitError, Loc, Problem, ShapeError, did_you_mean, quoted, too_many
from .expr import ExprError, evaluate
from .graph import INPUT, Graph, Node
from .layers import KINDS, Args, LayerKind
from .layers.args import ArgValueError, TooLarge, parse_int
from .limits import (
    MAX_BLOCK_DEPTH,
    MAX_DEPTH,
    MAX_FAILED_LAYERS,
    MAX_INT,
    MAX_LAYERS,
    MAX_PROBLEMS,
    MAX_VALUE_CHARS,
    MAX_VALUES,
)
from .shapes import Shape, format_shape, numel
from .spec import BlockDef, BranchesItem, Item, LayerItem, NetworkSpec, RepeatItem, ResidualItem, Value

_SUBST = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$")


def parse_volume(text: str, loc: Loc | None, what: str = "input") -> Shape:
    """`224x224x3` -> (224, 224, 3); a located error with a hint otherwise."""
    parts = str(text).strip().lower().replace("×", "x").split("x")
    example = "e.g. `224x224x3` (height x width x channels)"
    if len(parts) != 3:
        hint = (
            f"give channels too: `{text}x1` for grayscale, `{text}x3` for RGB"
            if len(parts) == 2 and len(text) < 40
            else example
        )
        raise CnnctlError.at(f"{what} {quoted(text)} is not a volume HxWxC", loc, hint=hint)
    try:
        h, w, c = (parse_int(p) for p in parts)
    except ArgValueError as exc:
        raise CnnctlError.at(f"{what} {quoted(text)}: {exc}", loc, hint=example) from None
    if c >= 8 and h <= 4 and w == c:
        raise CnnctlError.at(
            f"{what} `{text}` looks channels-first",
            loc,
            hint=f"cnnctl writes volumes HxWxC, as the course does: did you mean `{w}x{c}x{h}`?",
        )
    if h * w * c > MAX_VALUES:
        raise CnnctlError.at(f"{what} `{text}` is absurdly large ({h * w * c:,} values; at most {MAX_VALUES:,})", loc)
    return h, w, c


def build_graph(spec: NetworkSpec, input_shape: Shape | None = None) -> Graph:
    """Expand `spec` into a Graph. `input_shape` overrides the file's `input:`."""
    if input_shape is None:
        if spec.input is None:
            raise CnnctlError.at(
                "no `input:` size", Loc(spec.file, 1, 1), hint="add `input: 32x32x3` (HxWxC) or pass --input"
            )
        input_shape = parse_volume(str(spec.input.text), spec.input.loc)
    builder = _Builder(spec, input_shape)
    builder.check_size(spec.layers)
    out = builder.sequence(spec.layers, _Scope(INPUT), None, _Names(""))
    if builder.problems:
        raise CnnctlError(builder.problems)
    if out == INPUT:
        raise CnnctlError.at("the network has no layers", Loc(spec.file, 1, 1))
    nodes = builder.nodes
    name = spec.name or spec.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    warnings = [*builder.warnings, *_unused_outputs(nodes)]
    return Graph(name, spec.file, input_shape, tuple(nodes), tuple(warnings), spec.description, spec.train)


def _unused_outputs(nodes: list[Node]) -> list[Problem]:
    """Layers whose output goes nowhere: usually a join (`with=`) that was forgotten."""
    used = {i for n in nodes for i in n.inputs}
    return [
        Problem("its output is never used", n.loc, n.path, "join it to the network (`with=`/`from=`) or remove it")
        for n in nodes[:-1]
        if n.index not in used
    ]


UNKNOWN: Shape = ()
"""The output shape of a layer that failed: layers after it check their arguments, not shapes."""


@dataclass
class _Scope:
    """What references can see: ids defined so far, chained to the enclosing list."""

    input: int
    parent: _Scope | None = None
    ids: dict[str, int] = field(default_factory=dict)
    later: dict[str, Loc] = field(default_factory=dict)  # ids defined further down this list
    sealed: bool = False  # a block body: sees nothing outside itself

    def chain(self) -> Iterator[_Scope]:
        """This scope and the enclosing ones it can see, innermost first."""
        scope: _Scope | None = self
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


@dataclass
class _Names:
    """The path namespace of one list: hands out `conv1`, `conv2`, ... avoiding explicit ids."""

    prefix: str
    taken: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def auto(self, base: str) -> str:
        k = self.counters.get(base, 0)
        while True:
            k += 1
            if f"{base}{k}" not in self.taken:
                break
        self.counters[base] = k
        self.taken.add(f"{base}{k}")
        return f"{base}{k}"

    def fixed(self, name: str) -> str:
        """`name` itself unless taken (then `name1`, `name2`, ...)."""
        if name in self.taken:
            return self.auto(name)
        self.taken.add(name)
        return name

    def child(self, name: str) -> _Names:
        return _Names(self.path(name))


class _Env:
    """Block arguments in force while expanding one block instance."""

    def __init__(self, block: BlockDef, values: dict[str, Value]):
        self.block = block
        self.values = values


class _Builder:
    def __init__(self, spec: NetworkSpec, input_shape: Shape):
        self.spec = spec
        self.input_shape = input_shape
        self.nodes: list[Node] = []
        self.warnings: list[Problem] = []
        self.outer_repeat: RepeatItem | None = None
        self.problems: list[Problem] = []
        self.inferred: dict[tuple, tuple] = {}
        self.seen: set[tuple] = set()
        self.block_uses: list[tuple[str, Loc]] = []  # blocks being expanded and where each is used
        self.depth = 0  # items being expanded, one inside the other
        # Every id defined so far, wherever it is visible: (where, the path of its list, its
        # block), to explain a reference that cannot see it.
        self.defined: dict[str, tuple[Loc, str, str | None]] = {}
        self.failures = 0  # items that failed, each time: a repeated mistake is told once, counted each time
        self.counted: dict[tuple, int] = {}  # fewest layers of a block, by its arguments
        self.counting: list[str] = []  # blocks being counted, one inside the other
        self.fixed: dict[str, bool] = {}  # blocks whose size does not depend on their arguments
        self.passes = 1  # passes of the repeats being expanded, multiplied together

    # -- lists -----------------------------------------------------------------------------
    def sequence(
        self, items: tuple[Item, ...], scope: _Scope, env: _Env | None, names: _Names, collapse: bool = False
    ) -> int:
        """Expand a list of items from `scope.input`; returns the index of its output."""
        for item in items:
            if item.id is not None:
                ident = str(item.id.text)
                if ident in scope.later:
                    first = scope.later[ident]
                    self.record(
                        CnnctlError.at(
                            f"duplicate id `{ident}` (also at line {first.line})",
                            item.id.loc,
                            hint="ids name one layer each within a list",
                        )
                    )
                scope.later[ident] = item.id.loc
                names.taken.add(ident)
        current = scope.input
        only = collapse and names.prefix and len(items) == 1 and items[0].id is None
        for item in items:
            name = "" if only else (str(item.id.text) if item.id is not None else names.auto(_base_name(item)))
            try:
                current = self.item(item, scope, env, names, name, current)
            except LimitError:
                raise
            except CnnctlError as exc:
                # Report it and go on: later layers still get their arguments and references
                # checked, so one run lists every problem. Their shapes are unknown.
                self.record(exc)
                current = self.placeholder(item, names.path(name) if name else names.prefix)
            if item.id is not None:
                ident = str(item.id.text)
                scope.later.pop(ident, None)
                scope.ids[ident] = current
                block = self.block_uses[-1][0] if self.block_uses else None
                self.defined.setdefault(ident, (item.id.loc, names.prefix, block))
        return current

    # -- counting before building ----------------------------------------------------------
    def check_size(self, items: tuple[Item, ...]) -> None:
        """Refuse a network that would expand beyond MAX_LAYERS layers before building any.

        Building costs tens of microseconds a layer, so a `repeat: 100000` of a ResNet block
        would take seconds to reach the limit; counting takes a walk over the file, each
        block counted once (once per set of arguments where they decide its size).
        """
        counts = [self.least_layers((item,), None) for item in items]
        total = sum(counts)
        if total <= MAX_LAYERS:
            return
        biggest = items[max(range(len(items)), key=counts.__getitem__)]
        written = [*self.spec.layers, *(i for block in self.spec.blocks.values() for i in block.body)]
        repeats = any(isinstance(i, RepeatItem) for i in _walk(written))
        what = f"`repeat: {self.count_of(biggest, None):,}`" if isinstance(biggest, RepeatItem) else "this item"
        raise LimitError.at(
            f"the network would make at least {total:,} layers, more than the {MAX_LAYERS:,} layers cnnctl accepts"
            + (f" ({what} makes at least {max(counts):,})" if len(items) > 1 else ""),
            biggest.loc,
            hint="check the counts of `repeat`" if repeats else "blocks using blocks multiply their layers",
        )

    def least_layers(self, items: tuple[Item, ...], env: _Env | None) -> int:
        """The fewest layers `items` expand to (exact where every count and argument can be
        read; a value that cannot is left to the builder, which reports it)."""
        total = 0
        for item in items:
            if isinstance(item, LayerItem):
                total += self.least_in_block(item, {}, env) if item.is_block else 1
            elif isinstance(item, RepeatItem):
                times = self.count_of(item, env)
                if times and item.first and isinstance(item.body[0], LayerItem):
                    first = (item.body[0]._replace(args={**item.body[0].args, **item.first}), *item.body[1:])
                    total += self.least_layers(first, env) + (times - 1) * self.least_layers(item.body, env)
                else:
                    total += times * self.least_layers(item.body, env)
            elif isinstance(item, ResidualItem):
                if isinstance(item.shortcut, tuple):
                    shortcut = self.least_layers(item.shortcut, env)
                else:
                    written = Value(item.shortcut, item.shortcut_loc or item.loc)
                    shortcut = 2 if self.readable(written, env) == "projection" else 0  # conv and bn
                total += self.least_layers(item.body, env) + shortcut + 1  # the add
            elif isinstance(item, BranchesItem):
                total += sum(self.least_layers(body, env) for _, body, _ in item.branches) + 1
            if total > MAX_LAYERS:  # enough to refuse: the rest need not be counted
                return total
        return total

    def least_in_block(self, item: LayerItem, override: dict[str, Value], env: _Env | None) -> int:
        block = self.spec.blocks[item.kind]
        if item.kind in self.counting or len(self.counting) >= MAX_BLOCK_DEPTH:
            return 1  # a block using itself, or too deep: the builder says so
        if self.fixed_size(item.kind):  # counted once, whatever its arguments
            key: tuple = (item.kind,)
            inner = None
        else:
            try:
                values = self.block_values(block, {**item.args, **override}, env, item.loc, "")
            except CnnctlError:
                return 1
            key, inner = (item.kind, tuple((k, v.text) for k, v in values.items())), _Env(block, values)
        if key not in self.counted:
            self.counting.append(item.kind)
            try:
                self.counted[key] = self.least_layers(block.body, inner)
            finally:
                self.counting.pop()
        return self.counted[key]

    def fixed_size(self, name: str, depth: int = 0) -> bool:
        """Whether block `name` makes as many layers whatever its arguments: no `$` in the counts
        of its repeats or in its shortcuts, and only such blocks inside. (Without this, 31
        blocks each using the one below twice with new arguments took seconds to count.)"""
        if name not in self.fixed:
            if depth >= MAX_BLOCK_DEPTH:
                return False
            self.fixed[name] = False  # while it is looked at: a block using itself is not
            self.fixed[name] = all(
                not (isinstance(i, RepeatItem) and i.times is not None and "$" in str(i.times.text))
                and not (isinstance(i, ResidualItem) and isinstance(i.shortcut, str) and "$" in i.shortcut)
                and not (isinstance(i, LayerItem) and i.is_block and not self.fixed_size(i.kind, depth + 1))
                for i in _walk(self.spec.blocks[name].body)
            )
        return self.fixed[name]

    def count_of(self, item: RepeatItem, env: _Env | None) -> int:
        """A repeat's count if it can be read, else 0 (the builder reports why)."""
        text = self.readable(item.times, env) if item.times else None
        try:
            return parse_int(text, minimum=1) if text is not None else 0
        except ArgValueError:
            return 0

    def readable(self, value: Value, env: _Env | None) -> str | None:
        """`value` with block arguments substituted, or None where that fails."""
        try:
            return str(self.substitute(value, env, "").text)
        except CnnctlError:
            return None

    def record(self, exc: CnnctlError) -> None:
        """Keep the problems of `exc` (once each: a repeated block repeats its mistakes)."""
        for problem in exc.problems:
            if self.block_uses and " (in block `" not in problem.message:
                name, use = self.block_uses[-1][0], self.block_uses[0][1]
                problem = problem._replace(message=f"{problem.message} (in block `{name}` used at line {use.line})")
            key = (problem.loc, problem.message)
            if key not in self.seen:
                self.seen.add(key)
                self.problems.append(problem)
        self.failures += 1
        if len(self.problems) >= MAX_PROBLEMS:
            raise too_many(self.problems, Loc(self.spec.file))
        if self.failures >= MAX_FAILED_LAYERS:  # `repeat: 240000` of a layer with a mistake: told once, met once a pass
            raise LimitError(
                [
                    *self.problems,
                    Problem(
                        f"stopped after {self.failures:,} layers failed, repeating the mistakes above",
                        Loc(self.spec.file),
                    ),
                ]
            )

    def placeholder(self, item: Item, path: str) -> int:
        """A stand-in node for an item that failed, with an unknown shape."""
        node = Node(len(self.nodes), path, "error", Args(), (), UNKNOWN, 0, 0, 0, 0, "", item.loc)
        self.nodes.append(node)
        return node.index

    def item(self, item: Item, scope: _Scope, env: _Env | None, names: _Names, name: str, current: int) -> int:
        path = names.path(name) if name else names.prefix
        if self.depth >= MAX_DEPTH:
            raise LimitError.at(
                f"layers nested more than {MAX_DEPTH} deep (through blocks, repeats, residuals and branches)",
                item.loc,
                layer=path,
                hint="flatten the structure: a real network nests a few levels",
            )
        self.depth += 1
        try:
            return self.expand(item, scope, env, path, current)
        finally:
            self.depth -= 1

    def expand(self, item: Item, scope: _Scope, env: _Env | None, path: str, current: int) -> int:
        inputs = self.inputs(item, scope, current, path)
        if isinstance(item, LayerItem):
            if item.is_block:
                return self.block(item, inputs, env, path)
            return self.layer(item, inputs, env, path)
        if isinstance(item, RepeatItem):
            return self.repeat(item, scope, env, path, self.single(inputs, item, path))
        if isinstance(item, ResidualItem):
            return self.residual(item, scope, env, path, self.single(inputs, item, path))
        if isinstance(item, BranchesItem):
            return self.branches(item, scope, env, path, self.single(inputs, item, path))
        raise TypeError(item)  # pragma: no cover

    def single(self, inputs: list[int], item: Item, path: str) -> int:
        if len(inputs) != 1:
            raise CnnctlError.at(
                f"takes one input, but {len(inputs)} are given",
                item.loc,
                layer=path,
                hint="use `from=` with one id here",
            )
        return inputs[0]

    def inputs(self, item: Item, scope: _Scope, current: int, path: str) -> list[int]:
        refs = list(item.source) if item.source is not None else []
        found = [] if item.source is not None else [current]
        for ref in [*refs, *item.extra]:
            found.append(self.resolve(ref, scope, path))
        return found

    def resolve(self, ref: Value, scope: _Scope, path: str) -> int:
        name = str(ref.text)
        if name == "input":
            return scope.input
        index = scope.lookup(name)
        if index is not None:
            return index
        later = scope.defined_later(name)
        if later is not None:
            raise CnnctlError.at(
                f"`{name}` is defined later (line {later.line}); a layer can only take earlier layers as input",
                ref.loc,
                layer=path,
                hint="networks flow forwards: move the reference below its target",
            )
        raise CnnctlError.at(
            f"no layer with id `{name}` before this one",
            ref.loc,
            layer=path,
            hint=self.out_of_scope(name, scope, path)
            or did_you_mean(name, scope.visible())
            or "name a layer with `id=NAME` and refer to it after it",
        )

    def out_of_scope(self, name: str, scope: _Scope, path: str) -> str | None:
        """Why an id defined elsewhere cannot be seen from here, or None if it is defined nowhere.

        An id is visible after it in its own list and the lists nested in it; a block's body
        sees only its own ids and its input.
        """
        if name not in self.defined:
            return None
        loc, prefix, block = self.defined[name]
        sealed = next((s for s in scope.chain() if s.sealed), None)
        if sealed is not None and self.block_uses and block != self.block_uses[-1][0]:
            inside = self.block_uses[-1][0]
            return (
                f"`{name}` (line {loc.line}) is outside block `{inside}`, which sees only its own layers and "
                f"`input`: give the block what it needs as its input (`from=`) or as an argument"
            )
        if block is not None and (not self.block_uses or self.block_uses[-1][0] != block):
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

    # -- leaves ----------------------------------------------------------------------------
    def layer(
        self, item: LayerItem, inputs: list[int], env: _Env | None, path: str, override: dict[str, Value] | None = None
    ) -> int:
        kind = KINDS[item.kind]
        written = {**item.args, **(override or {})}
        args = self.typed_args(kind, written, env, item.loc, path)
        return self.add_node(kind, args, inputs, item.loc, path)

    def add_node(self, kind: LayerKind, args: Args, inputs: list[int], loc: Loc, path: str) -> int:
        lo, hi = kind.min_inputs, kind.max_inputs
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            need = f"at least {lo}" if hi is None else str(lo)
            hint = (
                "give the others with `with=ID` (added to the previous layer's output) or `from=A,B`"
                if lo > 1
                else ("use `from=ID` with a single id")
            )
            noun = "input" if need == "1" else "inputs"
            raise CnnctlError.at(f"`{kind.name}` takes {need} {noun}, got {len(inputs)}", loc, layer=path, hint=hint)
        ins = [self.shape_of(i) for i in inputs]
        if UNKNOWN in ins:  # after a layer that failed: its problem is reported already
            node = Node(len(self.nodes), path, kind.name, args, tuple(inputs), UNKNOWN, 0, 0, 0, 0, "", loc)
            self.nodes.append(node)
            return node.index
        try:
            out, counts, notes, text = self.infer(kind, args, ins)
        except ShapeError as exc:
            if len(ins) > 1:  # say which input is which
                given = ", ".join(f"`{self.name_of(i)}` {format_shape(s)}" for i, s in zip(inputs, ins, strict=True))
                message = f"{exc.message} (inputs: {given})"
            elif "input" in exc.message:
                message = exc.message
            else:
                message = f"{exc.message} (input {format_shape(ins[0])})"
            raise CnnctlError.at(message, loc, layer=path, hint=exc.hint) from None
        if len(self.nodes) >= MAX_LAYERS:
            where = self.outer_repeat.loc if self.outer_repeat else loc
            hint = "check the counts of `repeat`" if self.outer_repeat else "blocks using blocks multiply their layers"
            raise LimitError.at(f"the network expands to more than {MAX_LAYERS:,} layers", where, hint=hint)
        for note in notes:
            self.warnings.append(Problem(note, loc, path))
        node = Node(len(self.nodes), path, kind.name, args, tuple(inputs), out, *counts, text, loc, notes)
        self.nodes.append(node)
        return node.index

    def infer(self, kind: LayerKind, args: Args, ins: list[Shape]) -> tuple:
        """Output shape, counts, notes and shorthand of a layer. A pure function of its kind,
        arguments and input shapes, so each distinct layer (a repeated block's) is computed once."""
        key = (kind.name, tuple(args.values()), tuple(ins))
        if key in self.inferred:
            return self.inferred[key]
        out = kind.shape(args, ins)
        if any(d < 1 for d in out):
            raise ShapeError(f"output would be {format_shape(out)}: no values left")
        if numel(out) > MAX_VALUES:
            raise ShapeError(
                f"output would be {format_shape(out)}, {numel(out):,} values per example: more than the "
                f"{MAX_VALUES:,} cnnctl accepts",
                hint="check the sizes that multiply here (upsample and deconv scales, channel counts)",
            )
        counts = (
            kind.params(args, ins, out),
            kind.buffers(args, ins, out),
            kind.mults(args, ins, out),
            kind.flops(args, ins, out),
        )
        if counts[0] > MAX_VALUES:
            raise ShapeError(
                f"would have {counts[0]:,} parameters: more than the {MAX_VALUES:,} cnnctl accepts",
                hint="an fc after a large volume holds (input values) x (units) weights: pool or stride first",
            )
        result = self.inferred[key] = (out, counts, tuple(kind.notes(args, ins, out)), shorthand(kind, args))
        return result

    def name_of(self, index: int) -> str:
        return "input" if index == INPUT else self.nodes[index].path

    def typed_args(self, kind: LayerKind, written: dict[str, Value], env: _Env | None, loc: Loc, path: str) -> Args:
        args = Args()
        for arg in kind.args:
            if arg.name in written:
                value = self.substitute(written[arg.name], env, path)
                try:
                    args[arg.name] = arg.type.parse(str(value.text))
                except ArgValueError as exc:
                    hint = did_you_mean(str(value.text), arg.type.words) if arg.type.words else None
                    raise CnnctlError.at(
                        f"`{arg.name}` {exc}",
                        value.loc,
                        layer=path,
                        hint=hint or f"`{arg.name}` is {arg.type.describe}",
                    ) from None
            elif arg.required:
                raise CnnctlError.at(
                    f"`{kind.name}` needs `{arg.name}` ({arg.doc})",
                    loc,
                    layer=path,
                    hint=f"add `{arg.name}=...`: {arg.type.describe}",
                )
            else:
                args[arg.name] = arg.typed_default
        return args

    def substitute(self, value: Value, env: _Env | None, path: str) -> Value:
        """Replace `$name` and `${expr}` by the block's arguments."""
        text = value.text
        if not isinstance(text, str) or "$" not in text:
            return value
        length = [len(text)]  # of the result so far: `$a$a` doubles a text, forty such arguments a terabyte

        def lookup_value(name: str, offset: int) -> str:
            if env is None:
                raise CnnctlError.at(
                    f"`${name}` refers to a block argument, but this layer is not in a block",
                    value.loc.shifted(offset),
                    layer=path,
                    hint="block arguments exist only inside `blocks:`; write the value itself here",
                )
            if name not in env.values and name in env.block.params:  # a default using a later argument
                raise CnnctlError.at(
                    f"`{name}` is declared after the argument whose default uses it",
                    value.loc.shifted(offset),
                    layer=path,
                    hint=f"a default may use the arguments before it: move `{name}` earlier in `args:`",
                )
            if name not in env.values:
                raise CnnctlError.at(
                    f"block `{env.block.name}` has no argument `{name}`",
                    value.loc.shifted(offset),
                    layer=path,
                    hint=did_you_mean(name, env.values) or f"declare it: `args: {name}`",
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

            def number(n: str) -> int:
                v = lookup_value(n, m.start())
                try:
                    return parse_int(v, minimum=-(2**31))
                except ArgValueError as exc:
                    reason = f"too large (at most {MAX_INT:,})" if isinstance(exc, TooLarge) else "not a whole number"
                    raise ExprError(f"`{n}` is {quoted(v, 24)}, {reason}") from None

            try:
                return str(evaluate(expr, number))
            except ExprError as exc:
                raise CnnctlError.at(
                    str(exc),
                    value.loc.shifted(m.start()),
                    layer=path,
                    hint="expressions use whole numbers, argument names, + - * / // % and parentheses",
                ) from None

        return Value(_SUBST.sub(replace_match, text), value.loc)

    # -- composites ------------------------------------------------------------------------
    def block(
        self, item: LayerItem, inputs: list[int], env: _Env | None, path: str, override: dict[str, Value] | None = None
    ) -> int:
        block = self.spec.blocks[item.kind]
        stack = [name for name, _ in self.block_uses]
        if item.kind in stack:
            chain = " -> ".join([*stack[stack.index(item.kind) :], item.kind])
            raise CnnctlError.at(
                f"block `{item.kind}` uses itself ({chain})",
                item.loc,
                layer=path,
                hint="a block cannot contain itself, directly or through another block",
            )
        if len(stack) >= MAX_BLOCK_DEPTH:
            raise LimitError.at(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", item.loc, layer=path)
        values = self.block_values(block, {**item.args, **(override or {})}, env, item.loc, path)
        source = self.single(inputs, item, path)
        self.block_uses.append((item.kind, item.loc))
        try:
            scope = _Scope(source, sealed=True)
            return self.sequence(block.body, scope, _Env(block, values), _Names(path), collapse=True)
        finally:
            self.block_uses.pop()

    def block_values(
        self, block: BlockDef, written: dict[str, Value], env: _Env | None, loc: Loc, path: str
    ) -> dict[str, Value]:
        """A block's arguments for one use: as written there (in the user's own block
        arguments, `env`), else their defaults, which may use the arguments declared before
        them (`args: n m=${n*2}`)."""
        values: dict[str, Value] = {}
        for pname, default in block.params.items():
            if pname in written:
                values[pname] = self.substitute(written[pname], env, path)
            elif default is not None:
                values[pname] = self.substitute(default, _Env(block, values), path)
            else:
                raise CnnctlError.at(
                    f"block `{block.name}` needs `{pname}`",
                    loc,
                    layer=path,
                    hint=f"`{block.name}` takes: "
                    + " ".join(p if d is None else f"{p}={d.text}" for p, d in block.params.items()),
                )
        return values

    def repeat(self, item: RepeatItem, scope: _Scope, env: _Env | None, path: str, current: int) -> int:
        times_value = self.substitute(item.times, env, path) if item.times else None
        try:
            times = parse_int(str(times_value.text) if times_value else "", minimum=1)
        except ArgValueError as exc:
            loc = times_value.loc if times_value else item.loc
            raise CnnctlError.at(f"`repeat` count {exc}", loc, layer=path, hint="e.g. `repeat: 3`") from None
        # Each pass makes at least one layer, so nested counts are refused before expanding.
        if times * self.passes > MAX_LAYERS:
            inside = f" inside repeats of {self.passes:,} passes" if self.passes > 1 else ""
            raise LimitError.at(
                f"`repeat: {times:,}`{inside} would make more than {MAX_LAYERS:,} layers",
                times_value.loc if times_value else item.loc,
                layer=path,
                hint="check the counts of `repeat`",
            )
        outer = self.outer_repeat is None
        if outer:
            self.outer_repeat = item
        self.passes *= times
        try:
            for i in range(1, times + 1):
                body = item.body
                if i == 1 and item.first:
                    body = (self.with_first(item, env, path),) + body[1:]
                inner = _Scope(current, parent=scope)
                current = self.sequence(body, inner, env, _Names(f"{path}.{i}"), collapse=True)
        finally:
            self.passes //= times
            if outer:
                self.outer_repeat = None
        return current

    def with_first(self, item: RepeatItem, env: _Env | None, path: str) -> Item:
        head = item.body[0]
        if not isinstance(head, LayerItem):
            raise CnnctlError.at(
                "`first:` applies to a layer or block, but the body starts with a composite", item.loc, layer=path
            )
        names = list(self.spec.blocks[head.kind].params) if head.is_block else [a.name for a in KINDS[head.kind].args]
        for key, value in item.first.items():
            if key not in names:
                raise CnnctlError.at(
                    f"`first:` sets `{key}`, but `{head.kind}` has no such argument",
                    value.loc,
                    layer=path,
                    hint=did_you_mean(key, names),
                )
        return head._replace(args={**head.args, **item.first})

    def residual(self, item: ResidualItem, scope: _Scope, env: _Env | None, path: str, current: int) -> int:
        names = _Names(path)
        inner = _Scope(current, parent=scope)
        main = self.sequence(item.body, inner, env, names)
        shortcut = item.shortcut
        if isinstance(shortcut, str):
            shortcut = str(self.substitute(Value(shortcut, item.shortcut_loc or item.loc), env, path).text)
        if shortcut == "identity":
            skip = current
        elif shortcut == "projection":
            skip = self.projection(item, current, main, names)
        elif isinstance(shortcut, tuple):
            skip = self.sequence(shortcut, _Scope(current, parent=scope), env, names.child("shortcut"))
        else:
            raise CnnctlError.at(
                f"unknown shortcut `{shortcut}`",
                item.shortcut_loc or item.loc,
                layer=path,
                hint=did_you_mean(shortcut, ("identity", "projection"))
                or "shortcut is identity, projection, or a list of layers",
            )
        a, b = self.shape_of(main), self.shape_of(skip)
        if shortcut == "identity" and UNKNOWN not in (a, b) and a != b:
            if len(a) == len(b) == 3 and not _projection_strides(b, a):
                hint = "no stride gives that size: pad the main path's convolutions (p=same) to keep it"
            else:
                hint = "add `shortcut: projection` (a 1x1 conv and bn that match the shapes)"
            raise CnnctlError.at(
                f"the main path ends in {format_shape(a)}, but the identity shortcut carries the input "
                f"{format_shape(b)}",
                item.loc,
                layer=path,
                hint=hint,
            )
        args = self.merge_args(item.act, env, path)
        return self.add_node(KINDS["add"], args, [main, skip], item.loc, names.path(names.fixed("add")))

    def projection(self, item: ResidualItem, source: int, main: int, names: _Names) -> int:
        """ResNet's projection shortcut: 1x1 conv (no bias) with the stride that matches, then bn."""
        shape, out = self.shape_of(source), self.shape_of(main)
        if UNKNOWN in (shape, out):
            return self.placeholder(item, names.path("shortcut"))
        if len(shape) != 3 or len(out) != 3:  # a 1x1 conv maps volumes only
            raise CnnctlError.at(
                f"a projection shortcut is a 1x1 conv, which needs volumes HxWxC, but it would map "
                f"{format_shape(shape)} to {format_shape(out)}",
                item.loc,
                layer=names.prefix,
                hint="put the residual before the first `fc`/`flatten`",
            )
        strides = _projection_strides(shape, out)
        if strides is None:
            raise CnnctlError.at(
                f"no 1x1 projection maps the input {format_shape(shape)} to the main path's {format_shape(out)}",
                item.loc,
                layer=names.prefix,
                hint="the main path must divide the height and width by a whole stride; pad its convolutions "
                "(p=same) so only strides change the size",
            )
        sh, sw = strides
        sub = names.child("shortcut")
        conv_kind = KINDS["conv"]
        conv_args = Args({a.name: a.typed_default for a in conv_kind.args if not a.required})
        conv_args.update(f=(1, 1), s=(sh, sw), n=out[2], bias=False)
        conv = self.add_node(conv_kind, conv_args, [source], item.shortcut_loc or item.loc, sub.path("conv"))
        bn_kind = KINDS["bn"]
        bn_args = Args({a.name: a.typed_default for a in bn_kind.args})
        return self.add_node(bn_kind, bn_args, [conv], item.shortcut_loc or item.loc, sub.path("bn"))

    def branches(self, item: BranchesItem, scope: _Scope, env: _Env | None, path: str, current: int) -> int:
        names = _Names(path)
        outs = []
        for i, (bname, body, _loc) in enumerate(item.branches, 1):
            label = bname or f"branch{i}"
            names.taken.add(label)
            if body:
                outs.append(self.sequence(body, _Scope(current, parent=scope), env, names.child(label)))
            else:
                outs.append(current)  # an empty branch passes its input through
        args = self.merge_args(item.act, env, path) if item.merge == "add" else Args()
        return self.add_node(KINDS[item.merge], args, outs, item.loc, names.path(names.fixed(item.merge)))

    def merge_args(self, act: Value | None, env: _Env | None, path: str) -> Args:
        written = {"act": act} if act is not None else {}
        return self.typed_args(KINDS["add"], written, env, Loc(self.spec.file), path)

    def shape_of(self, index: int) -> Shape:
        return self.input_shape if index == INPUT else self.nodes[index].shape


def _walk(items: Iterable[Item]) -> Iterator[Item]:
    """Every item of `items` and of all the lists nested in them (not inside the blocks they use)."""
    stack: list[Item] = list(items)
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, (RepeatItem, ResidualItem)):
            stack.extend(item.body)
        if isinstance(item, ResidualItem) and isinstance(item.shortcut, tuple):
            stack.extend(item.shortcut)
        if isinstance(item, BranchesItem):
            stack.extend(i for _, body, _ in item.branches for i in body)


def _projection_strides(source: Shape, out: Shape) -> tuple[int, int] | None:
    """The stride of a 1x1 conv taking `source` to `out`'s height and width, if there is one."""
    (h, w, _), (oh, ow, _) = source, out
    strides = (-(-h // oh), -(-w // ow))
    if (h - 1) // strides[0] + 1 != oh or (w - 1) // strides[1] + 1 != ow:
        return None
    return strides


def _base_name(item: Item) -> str:
    if isinstance(item, LayerItem):
        return item.kind
    if isinstance(item, RepeatItem):
        return "repeat"
    if isinstance(item, ResidualItem):
        return "residual"
    if isinstance(item, BranchesItem):
        return item.merge
    raise TypeError(item)  # pragma: no cover


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
