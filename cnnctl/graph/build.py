"""NetworkSpec -> Graph: the walk over a spec that expands it into layers and infers every shape.

Expansion walks the spec once, appending nodes in order, so references can only point
backwards and the graph is acyclic by construction. Each node's numbers come from its
layer kind (`cnnctl.layers`); each composite expands in a module of its own (`blocks`,
`repeat`, `residual`, `gate`, `branches`, `split`; `references` resolves `from=`/`with=`). This module holds
what they share: the lists, the names, the problems, and the count made before building.

Paths: an unnamed item is named after its kind, numbered within its list (`conv1`,
`conv2`, `pool1`); `id:` names it explicitly. A repeat's passes are `1`, `2`, ...; a
composite whose body is a single unnamed item does not add a level (`layer2.1.conv1`
rather than `layer2.1.bottleneck1.residual1.conv1`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import ModuleType

from ..errors import CnnctlError, LimitError, Loc, Problem, ShapeError, did_you_mean, quoted, too_many
from ..layers import KINDS, Args, LayerKind
from ..layers.args import REQUIRED, ArgValueError, parse_int, rounding_advice
from ..layers.base import shorthand
from ..limits import CACHE_ENTRIES, MAX_DEPTH, MAX_FAILED_LAYERS, MAX_LAYERS, MAX_PROBLEMS, MAX_VALUES
from ..notation.spec import (
    BlockDef,
    BranchesItem,
    FailedItem,
    GateItem,
    Item,
    LayerItem,
    NetworkSpec,
    RepeatItem,
    ResidualItem,
    SplitItem,
    Value,
    texts_of,
    walk,
)
from ..notation.variants import unchosen_problems
from ..shapes import Shape, format_shape, numel
from ..values import lookalike_hint
from . import blocks, branches, droppath, gate, outputs, references, repeat, residual, split, unbuilt
from .blocks import Env, substitute
from .dropped import crop_hint, dropped_hint
from .guess import guessed_volume
from .nodes import FAILED, INPUT, UNKNOWN, Graph, Group, Node
from .scope import Names, Scope, lone
from .softmaxes import double_softmaxes

# What a layer computes is a pure function of its kind, arguments and input shapes, and its
# arguments of their texts: both are kept across files (a search over thousands of similar
# networks meets the same layers again), up to CACHE_ENTRIES entries each.
INFERRED: dict[tuple, tuple] = {}  # (kind, argument values, input shapes) -> output, counts, notes, text
TYPED: dict[tuple, Args] = {}  # (kind, written texts) -> typed arguments

# Each composite's module: `expand(builder, item, scope, env, path, input)` builds it,
# `least(builder, item, env)` counts the fewest layers it makes.
COMPOSITES: dict[type, ModuleType] = {
    RepeatItem: repeat,
    ResidualItem: residual,
    GateItem: gate,
    BranchesItem: branches,
    SplitItem: split,
}


def parse_volume(text: str, loc: Loc | None, what: str = "input") -> Shape:
    """`224x224x3` -> (224, 224, 3); a located error with a hint otherwise."""
    parts = str(text).strip().lower().replace("×", "x").split("x")
    example = "e.g. `224x224x3` (height x width x channels)"
    if len(parts) != 3:
        hint = example
        if len(parts) == 2 and len(text) < 40:
            hint = f"give channels too: `{text}x1` for grayscale, `{text}x3` for RGB"
        elif len(parts) == 1 and str(text).strip().isdigit() and len(text) < 40:  # a vector: its shape is not derivable
            n = int(text)
            hint = f"a vector of {n:,} values is `1x1x{n}`; an image is HxWxC with H*W*C = {n:,}" + (
                f" (e.g. `{square_volume(n)}`)" if square_volume(n) else ""
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
        raise CnnctlError.at(
            f"{what} `{text}` is absurdly large ({h * w * c:,} values; at most {MAX_VALUES:,})",
            loc,
            hint=f"the limit is {MAX_VALUES:,} values per example (H*W*C): with {c} channel{'s' if c != 1 else ''}, "
            f"up to {math.isqrt(MAX_VALUES // c)}x{math.isqrt(MAX_VALUES // c)}x{c}",
        )
    return h, w, c


def square_volume(n: int) -> str | None:
    """A square image of `n` values, 3 channels or 1 (3,072: `32x32x3`; 784: `28x28x1`), or None."""
    for c in (3, 1):
        side = math.isqrt(n // c) if n % c == 0 else 0
        if side > 1 and side * side * c == n:
            return f"{side}x{side}x{c}"
    return None


def build_graph(
    spec: NetworkSpec,
    input_shape: Shape | str | None = None,
    widths: Mapping[str, int] | None = None,
    input_from: str = "input",
) -> Graph:
    """Expand `spec` into a Graph. `input_shape` overrides the file's `input:` (a text is read
    here, named `input_from` in messages: `--input`); `widths`, the output width (`units` of an
    fc, `n` of a conv) of the layers at those paths: a classifier's head made anew for another
    number of classes."""
    overridden = input_shape is not None
    input_shape, wrong_input = read_input(spec, input_shape, input_from)
    # The input's problems join the file's, each in its place; an override's, which has none, first.
    first = [p for p in wrong_input if p.loc is None]
    located = [*spec.problems, *(p for p in wrong_input if p.loc is not None)]

    def failed(more: tuple[Problem, ...]) -> CnnctlError:
        return CnnctlError([*first, *sorted([*located, *more], key=_place)])

    try:
        schedule = droppath.read(spec)
    except CnnctlError as exc:
        raise failed(exc.problems) from None
    builder = Builder(spec, input_shape, schedule)
    builder.problems = located
    builder.seen.update((p.loc, p.message) for p in located)
    builder.widths = dict(widths or {})
    try:
        env = blocks.file_env(spec)  # the file's own arguments, if it has any (a family's multipliers)
    except CnnctlError as exc:
        raise failed(exc.problems) from None
    try:
        if spec.blocks:
            cycles = blocks.cycles(spec)
            if cycles:
                builder.record(CnnctlError(cycles))
        builder.check_size(spec.layers, env)
        top = Scope(INPUT)
        out = builder.sequence(spec.layers, top, env, Names(""))
        if len(builder.reached) < len(spec.blocks):
            unbuilt.check_blocks(builder)
    except LimitError as exc:  # the parser's problems first, then the builder's, each once
        told = [*first, *builder.problems]
        raise LimitError([*told, *(p for p in exc.problems if p not in told)]) from None
    if builder.problems or first:  # with those of `outputs:`, which names layers: every problem of the file in one run
        told = outputs.problems_after_failure(spec, builder.nodes, top.ids, builder.renumbered) if builder.nodes else []
        every = [*first, *sorted([*builder.problems, *told], key=_place)]
        if len(every) > MAX_PROBLEMS:
            raise too_many(every, Loc(spec.file))
        if overridden and not wrong_input:
            every = _blame_override(spec, every, input_shape, input_from, widths)
        # the layers' notes: one may explain an error; not those of layers built from a guess;
        # and a softmax before the output, known from the layers built (a failed one, of no kind,
        # passes nothing on); the heads of `outputs:` are not resolved here, so only the main output's
        guessed = {builder.nodes[i].path for i in builder.guessed}
        doubled = double_softmaxes(builder.nodes, {out}) if out != INPUT else []
        raise CnnctlError(every, [*(w for w in builder.warnings if w.layer not in guessed), *doubled])
    if out == INPUT:
        raise CnnctlError.at("the network has no layers", Loc(spec.file, 1, 1))
    nodes = builder.nodes
    droppath.apply(builder, nodes)
    heads = outputs.resolve(spec, nodes, top.ids, resizing=bool(widths) and nodes[-1].path in widths)
    if widths and heads and (resized := _heads_resized(nodes, heads, widths)) != widths:
        return build_graph(spec, input_shape, resized)
    name = spec.own_name
    unchosen = unchosen_problems(spec)  # a member's own mistakes stop only that member: notes here
    outs = {h.index for h in heads}
    doubled = double_softmaxes(nodes, {nodes[-1].index, *outs})
    volume = outputs.scores_in_a_volume(nodes, bool(spec.train))
    warnings = [*builder.warnings, *_unused_outputs(nodes, outs), *doubled, *volume, *unchosen]
    return Graph(
        name,
        spec.file,
        input_shape,
        tuple(nodes),
        tuple(warnings),
        spec.description,
        spec.train,
        tuple(builder.groups),
        heads,
        spec.train_keys,
        spec.settings,
    )


def read_input(spec: NetworkSpec, given: Shape | str | None, given_as: str = "input") -> tuple[Shape, list[Problem]]:
    """The network's input shape: `given` (a text read here, named `given_as` in messages) or
    else the file's `input:`. One that cannot be read is UNKNOWN, with its problem: the layers
    are checked all the same, as below a layer that failed (their arguments, references, ids),
    so a wrong input does not hide the file's other mistakes."""
    if given is not None and not isinstance(given, str):
        return given, []
    if given is None and spec.input is None:
        hint = "add `input: 32x32x3` (HxWxC) or pass --input"
        return UNKNOWN, [Problem("no `input:` size", Loc(spec.file, 1, 1), None, hint)]
    try:
        if given is not None:
            return parse_volume(given, None, given_as), []
        return parse_volume(str(spec.input.text), spec.input.loc), []
    except CnnctlError as exc:
        return UNKNOWN, list(exc.problems)


def _blame_override(
    spec: NetworkSpec, problems: list[Problem], shape: Shape, given_as: str, widths: Mapping[str, int] | None
) -> list[Problem]:
    """`problems` of a build at an input other than the file's, those the file's own input does
    not meet at that place saying so: the shapes that fail there come from `--input`."""
    own, wrong = read_input(spec, None)
    if wrong or own == shape:
        return problems
    try:
        build_graph(spec, own, widths)
        places = set()
    except CnnctlError as exc:
        places = {p.loc for p in exc.problems}
    note = f", with {given_as} {format_shape(shape)} (the file's input is {format_shape(own)})"
    return [p if p.loc in places else p._replace(message=p.message + note) for p in problems]


def _heads_resized(nodes: list[Node], heads: tuple, widths: Mapping[str, int]) -> dict[str, int]:
    """`widths` and, where they make the main output's layer anew (a head for other classes),
    each head's last layer at the same width: the auxiliary classifiers score the same classes."""
    main = nodes[-1].path
    return {**{path: widths[main] for path in outputs.resized_with(nodes, heads, main) if main in widths}, **widths}


class Guessed(CnnctlError):
    """The problems of a layer that failed, with the `volume` it plausibly made: the builder goes
    on from it (`Builder.recovered`), so that later, independent mistakes are told in the same
    run. A join that does not fit (`Unjoined`), or a line whose arguments are wrong (guess.py)."""

    misread = True  # a line's volume guessed from what it says: composites read it as unknown

    def __init__(self, problems: list[Problem], volume: Shape | None):
        super().__init__(problems)
        self.volume = volume


class Unjoined(Guessed):
    """A join (add, concat, mul, a residual's sum) whose inputs do not fit, with the `volume` it
    plausibly meant: its main path's (the first input's), its channels summed for a concat.
    The builder goes on from it (`Builder.recovered`), so that later, independent mistakes
    are told in the same run."""

    misread = False


class FollowsOn(Exception):  # noqa: N818 - a signal, as blocks.Unbound
    """A mistake of a layer built from a guessed volume when one after that guess is told:
    not told, its layer's shape unknown (`Builder.follows_on`)."""


def joined(kind: str, shapes: list[Shape]) -> Shape | None:
    """The volume a join of `shapes` that do not fit plausibly meant: the first's, with every
    input's channels for a concat of volumes; None where it is not a volume."""
    first = shapes[0]
    if len(first) != 3 or any(len(s) != 3 for s in shapes):
        return None
    return (first[0], first[1], sum(s[2] for s in shapes)) if kind == "concat" else first


def same_mistake(message: str) -> str:
    """`message` less the numbers in brackets a block's use puts in (`the input channels (16)`):
    a block's mistake met at each use with other numbers is one mistake of its line."""
    return _COUNTED.sub("", message)


_COUNTED = re.compile(r" \([0-9][0-9,]*\)")


def _place(problem: Problem) -> tuple[int, int]:
    """Problems in the order of the file; those with no line (a limit met) after them."""
    loc = problem.loc
    return (loc.line, loc.col) if loc is not None and loc.line > 0 else (2**62, 0)


def _unused_outputs(nodes: list[Node], heads: set[int]) -> list[Problem]:
    """Layers whose output goes nowhere: usually a join (`with=`) that was forgotten; a head
    `outputs:` declares is meant to."""
    used = {i for n in nodes for i in n.inputs} | heads
    return [
        Problem("its output is never used", n.loc, n.path, "join it to the network (`with=`/`from=`) or remove it")
        for n in nodes[:-1]
        if n.index not in used
    ]


USES_NAMED = 5  # the lines of a block's uses a message lists; the others are counted

# The argument that sets a layer's output width, by kind: what a head made anew changes.
WIDTH_ARG = {"fc": "units", "conv": "n"}


class Builder:
    """The state of one expansion: the nodes so far, the problems, what each composite keeps."""

    def __init__(self, spec: NetworkSpec, input_shape: Shape, schedule: droppath.Schedule | None = None):
        self.spec = spec
        self.input_shape = input_shape
        self.widths: dict[str, int] = {}  # layers built at another output width (build_graph)
        self.nodes: list[Node] = []
        self.warnings: list[Problem] = []
        self.outer_repeat: RepeatItem | None = None
        self.problems: list[Problem] = list(spec.problems)  # the parser's, then the builder's
        self.seen: set[tuple] = {(p.loc, p.message) for p in spec.problems}
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
        self.droppath = schedule  # stochastic depth's schedule, if the file has one
        self.scheduled: list[int] = []  # numbers of the scheduled block uses being expanded, innermost last
        self.built: dict[tuple, object] = {}  # block uses made so far, to make again (blocks.expand)
        self.groups: list[Group] = []  # the composites expanded so far, for diagrams
        self.reached: set[str] = set()  # blocks whose body a use has built or checked (unbuilt: the others)
        self.checked: set[tuple] = set()  # unbuilt lists checked, with the arguments in force (unbuilt)
        self.unbuilt = 0  # items checked in them: at most MAX_LAYERS, as many as are built
        self.unbuilt_from: Item | BlockDef | None = None  # the outermost one being checked
        self.renumbered: set[str] = set()  # lists whose later automatic names a refused line may have shifted
        # Layers built from a failed join's or refused line's guessed volume (`recovered`) -> its node;
        # and the guesses a mistake after them was told for (`follows_on`: one each)
        self.guessed: dict[int, int] = {}
        # The guesses of a refused line's volume (guess.py): a composite reads what is built from
        # them as unknown (`shape_of`), so that only a layer's own rule, which says so, may blame them.
        self.misread: set[int] = set()
        self.followed: set[int] = set()
        # A block's mistake told (where, message, block) -> its index in `problems`, the lines of the uses meeting it
        # (its message's words, the numbers a use puts in left out: `same_mistake`), and that problem as first told
        self.block_told: dict[tuple[Loc, str, str], tuple[int, list[int], Problem]] = {}

    # -- lists -----------------------------------------------------------------------------
    def sequence(
        self, items: tuple[Item, ...], scope: Scope, env: Env | None, names: Names, collapse: bool = False
    ) -> int:
        """Expand a list of items from `scope.input`; returns the index of its output."""
        self.declare(items, scope, names)
        current = scope.input
        only = lone(items, names, collapse)
        for item in items:
            name = "" if only else names.of(item)
            try:
                current = self.item(item, scope, env, names, name, current)
            except LimitError:
                raise
            except CnnctlError as exc:
                # Report it and go on: later layers still get their arguments and references
                # checked, so one run lists every problem. Their shapes are unknown, unless the
                # volume the failed item meant can be guessed (`Guessed`): they go on from it.
                self.record(exc)
                where = names.path(name) if name else names.prefix
                volume = exc.volume if isinstance(exc, Guessed) else None
                current = self.recovered(item, where, volume, exc.misread) if volume else self.placeholder(item, where)
            except (blocks.Unbound, FollowsOn):  # its input is unknown, or a guess already blamed once: not its fault
                current = self.placeholder(item, names.path(name) if name else names.prefix)
            if item.id is not None:
                self.define(item.id, scope, names, current)
        return current

    def declare(self, items: tuple[Item, ...], scope: Scope, names: Names) -> None:
        """Note the ids of a list before it is walked: a reference to one further down is told
        where it is, and an id written twice is a problem."""
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

    def define(self, ident_value: Value, scope: Scope, names: Names, index: int) -> None:
        """An id now visible to the items after it: it names `index`."""
        ident = str(ident_value.text)
        scope.later.pop(ident, None)
        scope.ids[ident] = index
        block = self.block_uses[-1][0] if self.block_uses else None
        self.defined.setdefault(ident, (ident_value.loc, names.prefix, block))

    # -- counting before building ----------------------------------------------------------
    def check_size(self, items: tuple[Item, ...], env: Env | None = None) -> None:
        """Refuse a network that would expand beyond MAX_LAYERS layers before building any.

        Building costs tens of microseconds a layer, so a `repeat: 100000` of a ResNet block
        would take seconds to reach the limit; counting takes a walk over the file, each
        block counted once (once per set of arguments where they decide its size).
        """
        counts = [self.least_layers((item,), env) for item in items]
        total = sum(counts)
        if total <= MAX_LAYERS:
            return
        biggest = items[max(range(len(items)), key=counts.__getitem__)]
        written = [*self.spec.layers, *(i for block in self.spec.blocks.values() for i in block.body)]
        repeats = any(isinstance(i, RepeatItem) for i in walk(written))
        what = f"`repeat: {repeat.count(biggest, None):,}`" if isinstance(biggest, RepeatItem) else "this item"
        raise LimitError.at(
            f"the network would make at least {total:,} layers, more than the {MAX_LAYERS:,} layers cnnctl accepts"
            + (f" ({what} makes at least {max(counts):,})" if len(items) > 1 else ""),
            biggest.loc,
            hint="check the counts of `repeat`" if repeats else "blocks using blocks multiply their layers",
        )

    def least_layers(self, items: tuple[Item, ...], env: Env | None) -> int:
        """The fewest layers `items` expand to (exact where every count and argument can be
        read; a value that cannot is left to the builder, which reports it)."""
        total = 0
        for item in items:
            if isinstance(item, LayerItem):
                total += blocks.least(self, item, {}, env) if item.is_block else 1
            elif isinstance(item, FailedItem):
                total += 1
            else:
                total += COMPOSITES[type(item)].least(self, item, env)
            if total > MAX_LAYERS:  # enough to refuse: the rest need not be counted
                return total
        return total

    def record(self, exc: CnnctlError) -> None:
        """Keep the problems of `exc` (once each: a repeated block repeats its mistakes; the
        same mistake of a block met at another use adds that use's line to its message)."""
        for problem in exc.problems:
            in_block = None
            if self.block_uses and " (in block `" not in problem.message:
                name, use = self.block_uses[-1]  # the innermost block, and where it is used (None: nowhere built)
                if use is not None:
                    in_block = (problem.loc, same_mistake(problem.message), name)
                    if in_block in self.block_told:
                        self.also_used_at(in_block, use.line, problem)
                        continue
                    first = problem
                where = f" used at line {use.line}" if use is not None else ""
                problem = problem._replace(message=f"{problem.message} (in block `{name}`{where})")
            key = (problem.loc, problem.message)
            if key not in self.seen:
                self.seen.add(key)
                if in_block is not None:
                    self.block_told[in_block] = (len(self.problems), [use.line], first)
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

    def also_used_at(self, told: tuple[Loc, str, str], line: int, problem: Problem) -> None:
        """The problem `told` (where, message, block) again, at the block's use on `line`: its
        message names every use that meets it, up to USES_NAMED. Where this use's numbers differ
        (`n (32)` for `n (16)`), the message leaves them out and the hint says which use its own
        numbers are of."""
        index, lines, first = self.block_told[told]
        if line in lines:  # a use repeated (`repeat:`), or met again
            return
        lines.append(line)
        _, words, name = told
        message = first.message if problem.message == first.message else words
        named = ", ".join(map(str, lines[:USES_NAMED])) + (
            f" and {len(lines) - USES_NAMED:,} more" if len(lines) > USES_NAMED else ""
        )
        hint = self.problems[index].hint
        if message != first.message and first.hint and hint == first.hint:
            hint = f"at line {lines[0]}: {first.hint}"
        message = f"{message} (in block `{name}` used at lines {named})"
        self.problems[index] = self.problems[index]._replace(message=message, hint=hint)

    def recovered(self, item: Item, path: str, volume: Shape, misread: bool = False) -> int:
        """The stand-in for a join that failed, with the `volume` it plausibly meant (its main
        path's), or for a line refused (`misread`) with the volume guessed from what it says: the
        layers after it are built from it, so that their own mistakes are told (an `add` of 16x16
        to 32x32 further down). What follows from the guess is marked (`guessed`)."""
        node = Node(len(self.nodes), path, FAILED, Args(), (), volume, 0, 0, 0, 0, "", item.loc)
        self.nodes.append(node)
        self.guessed[node.index] = node.index
        if misread:
            self.misread.add(node.index)
        return node.index

    def follows_on(self, inputs: list[int] | tuple[int, ...], loc: Loc) -> str:
        """For a layer at `loc` whose shapes do not fit: "" where none of its `inputs` comes from
        a guessed volume; else a note naming the guess, for the first such mistake of each guess,
        and FollowsOn for any other (a guess may be wrong: one mistake after it is told, not a
        cascade), and for the guessed line's own met again (a repeat's next pass)."""
        guess = next((self.guessed[i] for i in inputs if i in self.guessed), None)
        if guess is None:
            return ""
        if guess in self.followed or self.nodes[guess].loc == loc:
            raise FollowsOn
        self.followed.add(guess)
        node = self.nodes[guess]
        return (
            f" (after the error at line {node.loc.line}, `{node.path}` is taken as {format_shape(node.shape)}: "
            "this may follow from it)"
        )

    def placeholder(self, item: Item, path: str) -> int:
        """A stand-in node for an item that failed, with an unknown shape."""
        node = Node(len(self.nodes), path, FAILED, Args(), (), UNKNOWN, 0, 0, 0, 0, "", item.loc)
        self.nodes.append(node)
        return node.index

    def item(self, item: Item, scope: Scope, env: Env | None, names: Names, name: str, current: int) -> int:
        path = names.path(name) if name else names.prefix
        if self.depth >= MAX_DEPTH:
            raise self.too_deep(item, path)
        self.depth += 1
        try:
            return self.expand(item, scope, env, path, current)
        finally:
            self.depth -= 1

    def too_deep(self, item: Item, path: str) -> LimitError:
        """The error for an item nested MAX_DEPTH deep: the builder recurses once per level."""
        return LimitError.at(
            f"layers nested more than {MAX_DEPTH} deep (through blocks, repeats, residuals and branches)",
            item.loc,
            layer=path,
            hint="flatten the structure: a real network nests a few levels",
        )

    def expand(self, item: Item, scope: Scope, env: Env | None, path: str, current: int) -> int:
        if isinstance(item, FailedItem):  # the parser told its problem: its shape is unknown
            return self.placeholder_checked(item, scope, env, path, current)
        try:
            inputs = references.inputs(self, item, scope, current, path, env)
        except CnnctlError as exc:
            raise self.not_built(exc, item, scope, env, path) from None
        if isinstance(item, LayerItem):
            if item.is_block:
                return blocks.expand(self, item, inputs, env, path)
            return self.layer(item, inputs, env, path)
        try:
            source = self.single(inputs, item, path)
        except CnnctlError as exc:
            raise self.not_built(exc, item, scope, env, path) from None
        return COMPOSITES[type(item)].expand(self, item, scope, env, path, source)

    def not_built(self, exc: CnnctlError, item: Item, scope: Scope, env: Env | None, path: str) -> CnnctlError:
        """`exc`, which stops `item` from being built, with the problems of what the item sets,
        and those of the lists it holds recorded: they are checked all the same (`unbuilt`)."""
        if not isinstance(item, LayerItem):
            unbuilt.check_inside(self, item, scope, env, path)
        return CnnctlError([*exc.problems, *unbuilt.own_problems(self, item, env, path)])

    def placeholder_checked(self, item: FailedItem, scope: Scope, env: Env | None, path: str, current: int) -> int:
        """The stand-in for an item the parser refused, once its references and the arguments
        it could read are checked (the parser told what it refused)."""
        if item.id is None and not self.knows(item.kind):  # named `convv1`: the `conv`s after it one off
            self.renumbered.add(path.rpartition(".")[0])
        problems: list[Problem] = []
        inputs: list[int] | None = None
        try:
            inputs = references.inputs(self, item, scope, current, path, env)
        except CnnctlError as exc:
            problems.extend(exc.problems)
        problems.extend(self.value_problems(item, env, path))
        self.name_told(item, path)
        volume = None if inputs is None or item.is_block else self.guess(item.kind, item.args, env, path, inputs)
        if problems:
            raise Guessed(problems, volume)
        return self.recovered(item, path, volume, misread=True) if volume else self.placeholder(item, path)

    def guess(
        self, kind: str, written: Mapping[str, Value], env: Env | None, path: str, inputs: list[int]
    ) -> Shape | None:
        """The volume a layer of `kind` whose line failed plausibly makes (guess.py), for the
        layers after it to be built from; None for an unknown kind, an input of unknown shape, or
        one built from a guess already (one guess at a time: no cascade of guesses)."""
        if kind not in KINDS or any(i in self.guessed for i in inputs):
            return None
        ins = [self.input_shape if i == INPUT else self.nodes[i].shape for i in inputs]
        if UNKNOWN in ins:
            return None
        return guessed_volume(KINDS[kind], written, env, path, ins, self.infer, WIDTH_ARG.get(kind))

    def name_told(self, item: FailedItem, path: str) -> None:
        """The parser's problems of a refused line, named by the layer it would have made (at
        its first use): the parser knows no paths, and `validate --format json` gives them."""
        for problem in item.told:
            if path and problem in self.problems:  # not named yet
                self.problems[self.problems.index(problem)] = problem._replace(layer=path)

    def knows(self, kind: str) -> bool:
        """Whether `kind` is one an item is named after (a layer kind, a block, a construct), as
        the line meant: a refused line's name is then the one it would have had."""
        from ..notation.parse import CONSTRUCTS  # on the error path only: the graph needs no parser

        return kind in KINDS or kind in self.spec.blocks or kind in CONSTRUCTS

    def value_problems(self, item: LayerItem | FailedItem, env: Env | None, path: str) -> list[Problem]:
        """Every problem of the values written on a layer's line (typed as its kind's, put into a
        block's): for a line not built for another reason. A refused line (FailedItem) is not
        told a missing argument: the name the parser refused is likely the one meant."""
        complete = isinstance(item, LayerItem)
        if item.kind in KINDS:
            kind = KINDS[item.kind]
            if complete:  # most lines are right, and typed once for all their uses (TYPED)
                try:
                    self.typed_args(kind, item.args, env, item.loc, path)
                    return []
                except CnnctlError as exc:
                    return list(exc.problems)
                except blocks.Unbound:  # a value without one: each of the others typed apart
                    pass
            return self.argument_problems(kind, item.args, env, item.loc, path, complete)
        block = self.spec.blocks.get(item.kind)
        if block is None:
            return []
        return blocks.use_problems(block, item.args, env, item.loc, path, complete)

    def group(self, path: str, kind: str, text: str, loc: Loc) -> None:
        """Record a composite about to be expanded under `path` (each composite calls this once)."""
        self.groups.append(tuple.__new__(Group, (path, kind, text, loc)))  # without the record's constructor

    def single(self, inputs: list[int], item: Item, path: str) -> int:
        if len(inputs) != 1:
            raise CnnctlError.at(
                f"takes one input, but {len(inputs)} are given",
                item.loc,
                layer=path,
                hint="use `from=` with one id here",
            )
        return inputs[0]

    # -- leaves ----------------------------------------------------------------------------
    def layer(
        self, item: LayerItem, inputs: list[int], env: Env | None, path: str, override: dict[str, Value] | None = None
    ) -> int:
        kind = KINDS[item.kind]
        written = {**item.args, **override} if override else item.args  # never changed: no copy
        if path in self.widths and kind.name in WIDTH_ARG:  # a head made anew (build_graph's `widths`)
            written = {**written, WIDTH_ARG[kind.name]: Value(str(self.widths[path]), item.loc)}
        try:
            args = self.typed_args(kind, written, env, item.loc, path)
        except blocks.Unbound:  # a value reads the size of an input left unknown by a failure: the others are checked
            problems = self.argument_problems(kind, written, env, item.loc, path)
            wrong = self.inputs_problem(kind, inputs, item.loc, path)
            if problems or wrong:
                raise CnnctlError([*problems, *([wrong] if wrong else [])]) from None
            return self.placeholder(item, path)
        except CnnctlError as exc:  # and the count of its inputs, the other thing its line decides alone
            wrong = self.inputs_problem(kind, inputs, item.loc, path)
            problems = [*exc.problems, *([wrong] if wrong else [])]
            raise Guessed(problems, None if wrong else self.guess(kind.name, written, env, path, inputs)) from None
        # A `droppath` without a rate takes its block's from the schedule, known once all are numbered.
        use = droppath.scheduled(self, item.loc, path) if kind.name == "droppath" and args.rate is None else None
        index = self.add_node(kind, args, inputs, item.loc, path, written=True)
        if use is not None and self.droppath is not None:
            self.droppath.pending.append((index, use))
        return index

    def add_node(
        self, kind: LayerKind, args: Args, inputs: list[int], loc: Loc, path: str, written: bool = False
    ) -> int:
        """A layer's node, its shape inferred from its inputs'. `written`: a line of the file
        (`layer`), not a node a composite adds (a residual's sum, a split's weights), which reads
        what a refused line's guessed volume made as unknown (`shape_of`)."""
        lo, hi = kind.min_inputs, kind.max_inputs
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            raise CnnctlError(self.inputs_problem(kind, inputs, loc, path))
        nodes = self.nodes
        ins = [self.input_shape if i == INPUT else nodes[i].shape for i in inputs]  # shape_of, inlined: once a layer
        if self.misread and not written and any(self.guessed.get(i) in self.misread for i in inputs):
            ins = [UNKNOWN]
        guessed = bool(self.guessed) and any(i in self.guessed for i in inputs)
        if UNKNOWN in ins or guessed:  # after a layer that failed: its problem is reported already, and not blamed here
            try:
                kind.check_args(args)  # but what the arguments alone rule out is this line's own mistake
            except ShapeError as exc:  # told as such, whatever its input (not as one that may follow from a guess)
                raise CnnctlError.at(exc.message, loc, layer=path, hint=exc.hint) from None
        if UNKNOWN in ins:
            node = Node(len(self.nodes), path, kind.name, args, tuple(inputs), UNKNOWN, 0, 0, 0, 0, "", loc)
            self.nodes.append(node)
            return node.index
        try:
            out, counts, notes, text = self.infer(kind, args, ins)
        except ShapeError as exc:
            hint = exc.hint
            after = self.follows_on(inputs, loc) if self.guessed else ""
            if len(ins) > 1:  # say which input is which, and which layer above dropped rows one of them lacks
                given = ", ".join(f"`{self.name_of(i)}` {format_shape(s)}" for i, s in zip(inputs, ins, strict=True))
                message = f"{exc.message} (inputs: {given}){after}"
                if not kind.sized_by_last:  # a join of maps (a crop's second input gives its size: its own hint)
                    crop = crop_hint(nodes, inputs, ins, self.defined)
                    hint = dropped_hint(nodes, inputs, ins, self.input_shape, self.defined) or (
                        f"{crop}; or pad or pool the paths to one size" if crop else hint
                    )
                if not after:  # the layers after it go on from what the join plausibly meant
                    raise Unjoined([Problem(message, loc, path, hint)], joined(kind.name, ins)) from None
            elif "input" in exc.message:
                message = exc.message + after
            else:
                message = f"{exc.message} (input {format_shape(ins[0])}){after}"
            raise CnnctlError.at(message, loc, layer=path, hint=hint) from None
        if len(self.nodes) >= MAX_LAYERS:
            where = self.outer_repeat.loc if self.outer_repeat else loc
            hint = "check the counts of `repeat`" if self.outer_repeat else "blocks using blocks multiply their layers"
            raise LimitError.at(f"the network expands to more than {MAX_LAYERS:,} layers", where, hint=hint)
        for note in notes:
            self.warnings.append(Problem(note, loc, path))
        index = len(nodes)
        if self.guessed:  # built from a guessed volume: so is what is built from it
            guess = next((self.guessed[i] for i in inputs if i in self.guessed), None)
            if guess is not None:
                self.guessed[index] = guess
        # Node's fields in order, made as a tuple directly (its constructor is Python, once a layer)
        nodes.append(tuple.__new__(Node, (index, path, kind.name, args, tuple(inputs), out, *counts, text, loc, notes)))
        return index

    def inputs_problem(self, kind: LayerKind, inputs: list[int], loc: Loc, path: str) -> Problem | None:
        """What is wrong with the number of inputs a layer of `kind` is given, if anything."""
        lo, hi = kind.min_inputs, kind.max_inputs
        if lo <= len(inputs) and (hi is None or len(inputs) <= hi):
            return None
        need = f"at least {lo}" if hi is None else str(lo)
        hint = (
            "give the others with `with=ID` (joined with the previous layer's output) or `from=A,B`"
            if lo > 1
            else ("use `from=ID` with a single id")
        )
        noun = "input" if need == "1" else "inputs"
        return Problem(f"`{kind.name}` takes {need} {noun}, got {len(inputs)}", loc, path, hint)

    def infer(self, kind: LayerKind, args: Args, ins: list[Shape]) -> tuple:
        """Output shape, counts, notes and shorthand of a layer. A pure function of its kind,
        arguments and input shapes, so each distinct layer (a repeated block's) is computed once."""
        key = (kind.name, tuple(args.values()), tuple(ins))
        if key in INFERRED:
            return INFERRED[key]
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
        if len(INFERRED) >= CACHE_ENTRIES:
            INFERRED.clear()
        result = INFERRED[key] = (out, counts, tuple(kind.notes(args, ins, out)), shorthand(kind, args))
        return result

    def name_of(self, index: int) -> str:
        return "input" if index == INPUT else self.nodes[index].path

    def typed_args(self, kind: LayerKind, written: dict[str, Value], env: Env | None, loc: Loc, path: str) -> Args:
        """The written values parsed by each argument's type, the defaults for the others.

        The same texts give the same arguments: they are parsed once (a ResNet writes
        `conv f=1 n=$n bias=false` in every block) and the Args shared, never changed. A
        mistake raises every problem of the line (`argument_problems`).
        """
        texts = texts_of(written)  # a repeated line's are shared: its values are not looked at
        for _, text in texts:
            if "$" in text:  # a block's argument: put in (once a layer, so a loop, not any())
                try:
                    texts = tuple(
                        [(name, substitute(written[name], env, path).text if "$" in t else t) for name, t in texts]
                    )
                except CnnctlError:
                    raise CnnctlError(self.argument_problems(kind, written, env, loc, path)) from None
                break
        key = (kind.name, texts)
        cached = TYPED.get(key)
        if cached is not None:
            return cached
        args = Args(kind.defaults)  # in the kind's order; REQUIRED where one must be written
        for name, text in texts:
            arg = kind.arg(name)
            if arg is None:  # the parser already told it
                continue
            try:
                args[name] = arg.type.parse(str(text))
            except ArgValueError:
                raise CnnctlError(self.argument_problems(kind, written, env, loc, path)) from None
        if REQUIRED in args.values():
            raise CnnctlError(self.argument_problems(kind, written, env, loc, path))
        if len(TYPED) >= CACHE_ENTRIES:
            TYPED.clear()
        TYPED[key] = args
        return args

    def argument_problems(
        self,
        kind: LayerKind,
        written: dict[str, Value],
        env: Env | None,
        loc: Loc,
        path: str,
        complete: bool = True,
    ) -> list[Problem]:
        """Every problem of a layer's written arguments, each at its value, in the line's order,
        then the required arguments not written (`complete`: the line holds all it meant to).
        A value using an argument of a block that no use gives (`blocks.Unbound`) is not typed."""
        problems: list[Problem] = []
        given = set()
        for name, value in written.items():
            arg = kind.arg(name)
            if arg is None:  # the parser already told it
                continue
            given.add(name)
            try:
                text = str(substitute(value, env, path).text)
                arg.type.parse(text)
            except blocks.Unbound:
                continue
            except CnnctlError as exc:
                problems.extend(exc.problems)
            except ArgValueError as exc:
                hint = lookalike_hint(text, name) or (did_you_mean(text, arg.type.words) if arg.type.words else None)
                if hint and text.count("×") == 1 and len(set(text.split("×"))) == 1:  # `f=3×3`: a square
                    hint += f"; or `{name}={text.split('×')[0]}`: one number is a square"
                message = f"`{name}` {exc}{rounding_advice(exc, str(value.text))}"
                problems.append(Problem(message, value.loc, path, hint or f"`{name}` is {arg.type.describe}"))
        for arg in kind.args if complete else ():
            if arg.required and arg.name not in given:
                problems.append(
                    Problem(
                        f"`{kind.name}` needs `{arg.name}` ({arg.doc})",
                        loc,
                        path,
                        f"add `{arg.name}=...`: {arg.type.describe}",
                    )
                )
        return problems

    def merge_args(self, act: Value | None, env: Env | None, path: str) -> Args:
        written = {"act": act} if act is not None else {}
        return self.typed_args(KINDS["add"], written, env, Loc(self.spec.file), path)

    def shape_of(self, index: int) -> Shape:
        """A node's output shape, as a composite's own checks read it: UNKNOWN where it is built
        from a refused line's guessed volume (`misread`), which such a check cannot say it follows from."""
        if index == INPUT:
            return self.input_shape
        if self.misread and self.guessed.get(index) in self.misread:
            return UNKNOWN
        return self.nodes[index].shape
