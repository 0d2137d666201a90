"""The parsed network: what the file says, with where it says it, before any shape is known.

Values are still text here (``"$n"``, ``"1x7"``): block arguments are substituted and
values typed when the graph is built. Every item keeps its location so the builder can
point at the line that caused a problem.

Every item of a `layers:` list has `loc`, `id` (its explicit name), `source` (`from=`:
exactly these inputs, by id) and `extra` (`with=`: the previous output plus these).
The classes are records (`cnnctl.records`, NamedTuples without `typing`): cnnctl starts
in a fraction of a second, and dataclasses cost a millisecond each to create at import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ..errors import Loc, Problem
from ..records import record


@record
class Value:
    """A written value (text, or a list of texts for `from`/`with`) and its location."""

    text: str | tuple[str, ...]
    loc: Loc


def split_names(v: Value, at_each: bool = True) -> tuple[Value, ...]:
    """The ids of a reference, `a,b` or `a, b`: each at its place in the text (`at_each`), or
    all at the reference's (a block argument's text put in for `$src`, written elsewhere)."""
    out = []
    text = str(v.text)
    offset = 0
    for part in text.split(","):
        if part.strip():
            where = v.loc.shifted(offset + len(part) - len(part.lstrip())) if at_each else v.loc
            out.append(Value(part.strip(), where))
        offset += len(part) + 1
    return tuple(out)


ID_LISTS = ("from", "with")  # the arguments that list ids: `from=a,b`


def listed_ids(key: str, written: str) -> str:
    """`from=enc1,enc2`: the ids of `written` (a list as another language writes one, `[enc1,
    enc2]`, or with spaces, `enc1, enc2`) as the notation lists them, for a hint."""
    ids = written.replace("[", " ").replace("]", " ").replace(",", " ").split()
    return f"{key}={','.join(ids)}"


def lookalike_ids(key: str, written: str, mapping: bool = False) -> tuple[str, str] | None:
    """`from=a，b` (a full-width comma, U+FF0C, as an input method types it): the message and
    hint of ids listed with characters that look like ASCII but are not (values.LOOKALIKES and
    full-width ones); None where there are none. `mapping`: written `from: a，b`."""
    from ..values import lookalike_hint  # on the error path only

    hint = lookalike_hint(written, "" if mapping else key)
    said = f"{key}: {written}" if mapping else f"{key}={written}"
    return None if hint is None else (f"`{said}`: ids and the commas between them are ASCII", hint)


class MovedArgs(Mapping):
    """The arguments of a line written again further down (a generated network repeats one
    line 100,000 times): those read the first time, each value moved to this line's place
    when it is looked at. Moving them all at once was half the time of reading such a file;
    building a layer needs only their texts (`texts`, the same for every use) unless one is wrong.
    """

    __slots__ = ("file", "first", "line", "shift", "texts")

    def __init__(self, first: dict[str, Value], texts: tuple, file: str, line: int, shift: int):
        self.first, self.texts, self.file, self.line, self.shift = first, texts, file, line, shift

    def __getitem__(self, name: str) -> Value:
        v = self.first[name]
        return Value(v.text, Loc(self.file, self.line, v.loc.col + self.shift))

    def items(self) -> list[tuple[str, Value]]:  # Mapping's, in one pass (a block's `$` lines use it)
        file, line, shift = self.file, self.line, self.shift
        return [(k, Value(v.text, Loc(file, line, v.loc.col + shift))) for k, v in self.first.items()]

    def values(self) -> list[Value]:
        return [v for _, v in self.items()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.first)

    def __len__(self) -> int:
        return len(self.first)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


def texts_of(args: dict[str, Value] | MovedArgs) -> tuple[tuple[str, str], ...]:
    """(name, text) of each argument, as written."""
    if type(args) is MovedArgs:
        return args.texts
    return tuple([(name, v[0]) for name, v in args.items()])


@record
class Nested:
    """A list of layers an item holds (a repeat's body, a residual's main path or shortcut, a
    branch, a split's attention) and how its layers are named: at the item's own path (`label`
    None), or under `label` inside it (`shortcut`, `branch2`, a branch's own name). `collapse`:
    a lone unnamed item in it takes the list's path instead of adding a level of its own.

    Each item type says its lists (`Item.lists`), in the order they are built: the walks over
    a spec, the block uses found in it, the check of lists no pass builds and the builders
    all go through them, so that a composite's lists are spelled out in one place."""

    items: tuple[Item, ...]
    label: str | None = None
    collapse: bool = False


def adds_no_level(items: tuple[Item, ...]) -> bool:
    """A main path that is one block or composite adds no level (`residual1.conv1`, not
    `residual1.two1.conv1`); one plain layer keeps its name beside the join."""
    return len(items) == 1 and not (type(items[0]) is LayerItem and not items[0].is_block)


SHORTCUT = "shortcut"
"""The name a residual's shortcut takes under its path (a list of layers, or a projection)."""

SHORTCUTS = ("identity", "projection")
"""The words a residual's `shortcut:` may be; a list of layers is the other shortcut."""


@record
class LayerItem:
    """One layer (`conv f=3 n=64`) or one use of a block (`basic n=64 s=2`)."""

    loc: Loc
    id: Value | None
    source: tuple[Value, ...] | None
    extra: tuple[Value, ...]
    kind: str = ""
    is_block: bool = False
    args: dict[str, Value] | MovedArgs = {}  # noqa: RUF012 - never mutated
    text: str = ""  # as written, for messages

    lists = ()  # a block's body is the block's, not the item's

    @property
    def base_name(self) -> str:
        """What it is named after unnamed, numbered within its list (`conv1`, `bottleneck2`)."""
        return self.kind


@record
class RepeatItem:
    """`repeat: N` with a `layers:` body; `first:` overrides arguments of the first pass."""

    loc: Loc
    id: Value | None
    source: tuple[Value, ...] | None
    extra: tuple[Value, ...]
    times: Value | None = None
    body: tuple[Item, ...] = ()
    first: dict[str, Value] = {}  # noqa: RUF012 - never mutated

    base_name = "repeat"

    @property
    def lists(self) -> tuple[Nested, ...]:
        """The body, whose passes are named by their number (`graph.repeat.pass_path`)."""
        return (Nested(self.body, None, True),)


@record
class ResidualItem:
    """`residual:` a main path whose output is added to its input (through `shortcut`)."""

    loc: Loc
    id: Value | None
    source: tuple[Value, ...] | None
    extra: tuple[Value, ...]
    body: tuple[Item, ...] = ()
    shortcut: str | tuple[Item, ...] = "identity"  # identity | projection | layers
    shortcut_loc: Loc | None = None
    act: Value | None = None

    base_name = "residual"

    @property
    def lists(self) -> tuple[Nested, ...]:
        main = Nested(self.body, None, adds_no_level(self.body))
        return (main, Nested(self.shortcut, SHORTCUT)) if isinstance(self.shortcut, tuple) else (main,)


@record
class GateItem:
    """`gate:` a path whose output multiplies its input (squeeze-and-excitation's scale)."""

    loc: Loc
    id: Value | None
    source: tuple[Value, ...] | None
    extra: tuple[Value, ...]
    body: tuple[Item, ...] = ()

    base_name = "gate"

    @property
    def lists(self) -> tuple[Nested, ...]:
        return (Nested(self.body, None, adds_no_level(self.body)),)


@record
class BranchesItem:
    """`concat:` or `add:` of parallel branches, each starting from the same input."""

    loc: Loc
    id: Value | None
    source: tuple[Value, ...] | None
    extra: tuple[Value, ...]
    merge: str = "concat"
    branches: tuple[tuple[str | None, tuple[Item, ...], Loc], ...] = ()
    act: Value | None = None

    @property
    def base_name(self) -> str:
        return self.merge

    @property
    def lists(self) -> tuple[Nested, ...]:
        """Each branch, named by its label or `branch1`, `branch2`, ..."""
        return tuple(Nested(body, label or f"branch{i}") for i, (label, body, _) in enumerate(self.branches, 1))


@record
class SplitItem:
    """`split:` parallel paths from the same input, summed, whose sum an `attention:` path weighs
    path by path and channel by channel, softmax-ed across the paths (SKNet, ResNeSt)."""

    loc: Loc
    id: Value | None
    source: tuple[Value, ...] | None
    extra: tuple[Value, ...]
    paths: tuple[tuple[str | None, tuple[Item, ...], Loc], ...] = ()
    attention: tuple[Item, ...] = ()
    groups: Value | None = None  # ResNeSt's cardinality: groups of paths in the attention's output

    base_name = "split"

    @property
    def lists(self) -> tuple[Nested, ...]:
        """Each path, named by its label or `path1`, `path2`, ...; then the attention."""
        paths = (Nested(body, label or f"path{i}") for i, (label, body, _) in enumerate(self.paths, 1))
        return (*paths, Nested(self.attention, "attention"))


@record
class FailedItem:
    """An item the parser could not read (its problem is already told). It keeps its place,
    its name and its id, so the layers around it are still built and checked: one unknown
    kind does not hide the value errors of the others. A layer refused for one of its
    arguments (an unknown name, a word with no place) keeps the others, its references
    and its kind, so that their problems are told too: one run, every problem of a line."""

    loc: Loc
    id: Value | None
    source: tuple[Value, ...] | None = None
    extra: tuple[Value, ...] = ()
    kind: str = "layer"
    args: dict[str, Value] = {}  # noqa: RUF012 - never mutated; the arguments that could be bound
    told: tuple[Problem, ...] = ()  # the parser's problems of its words: the builder names their layer
    is_block: bool = False  # a block's use, named as one (`stage1_1`)

    lists = ()

    @property
    def base_name(self) -> str:
        return self.kind


Item = LayerItem | RepeatItem | ResidualItem | GateItem | BranchesItem | SplitItem | FailedItem


BLOCK_INPUT = ("in_h", "in_w", "in_c")
"""Names a block's expressions read its input's height, width and channels by (`${in_c * 6}`)."""


@record
class BlockDef:
    """A reusable, parameterised group of layers under `blocks:`."""

    name: str
    params: dict[str, Value | None]  # None: required
    body: tuple[Item, ...]
    loc: Loc
    # Its `args:` could not be read (told there): what it takes is unknown, so neither its
    # uses' values nor its body's `$names` are blamed for being undeclared.
    refused: bool = False


@record
class Variant:
    """A member of a family file (`variants:`): values of the file's own `args:` and, if it
    has another, its input size (EfficientNet-B3: `width=1.2 depth=1.4 input=300x300x3`)."""

    name: str
    values: dict[str, Value]
    input: Value | None
    loc: Loc
    # What is wrong in its line (an argument the file does not declare, a value out of range):
    # told where it is chosen (`notation.variants.choose`), a note where the file is used as
    # written; another member is built as ever. `cnnctl validate` tells them all.
    problems: tuple[Problem, ...] = ()


@record
class Range:
    """The values a file's argument may take, as its `args:` declares them after its default
    (`width=1.0 (>0)`, `depth=1 (>=1)`, `dropout=0.2 (>=0 <1)`): a bound each side or one,
    None where there is none; `notation.variants` reads, describes and checks them."""

    low: object  # int | Fraction (`notation.expr.Number`): exact, as the file's arithmetic is
    low_open: bool  # `>`: the bound itself is outside
    high: object
    high_open: bool  # `<`
    text: str  # as written: `(>=0 <1)`
    loc: Loc


@record
class OutputItem:
    """One entry of `outputs:`: a layer's id (or path) and, for a head, the weight of its loss."""

    name: Value
    weight: Value | None = None  # None: 1, the main output's
    main: bool = False  # the first entry written: one the parser refused leaves none, and makes no other the main


@record
class NetworkSpec:
    file: str
    name: str
    input: Value | None
    layers: tuple[Item, ...]
    blocks: dict[str, BlockDef]
    description: str = ""
    train: dict[str, Value] = {}  # noqa: RUF012 - never mutated; training settings, read by cnnctl.train
    droppath: dict[str, Value] = {}  # noqa: RUF012 - never mutated; stochastic depth's schedule, typed by graph
    outputs: tuple[OutputItem, ...] = ()  # `outputs:`, the main output first; resolved by graph
    problems: tuple[Problem, ...] = ()  # found while parsing; the builder adds its own and tells them all
    args: dict[str, Value | None] = {}  # noqa: RUF012 - never mutated; the file's own arguments (`args:`), None: required
    # The same as declared, whatever a member or a setting put into `args` (`notation.variants.choose`):
    # each takes the type of its default (`notation.variants.arg_type`).
    declared: dict[str, Value | None] = {}  # noqa: RUF012 - never mutated
    ranges: dict[str, Range] = {}  # noqa: RUF012 - never mutated; the declared ranges of `args` (`width=1.0 (>0)`)
    variants: dict[str, Variant] = {}  # noqa: RUF012 - never mutated; its members by name (`variants:`)
    variants_loc: Loc | None = None  # where `variants:` is, for a message about a member
    train_keys: dict[str, Loc] = {}  # noqa: RUF012 - never mutated; where each `train:` setting's name is written
    member: str | None = None  # the member chosen (`notation.variants.choose`); None: the file as written
    settings: str = ""  # the settings given on top of it, as on the command line: `depth=2,width=1.1`

    @property
    def own_name(self) -> str:
        """The network's name: its `name:`, else its file's without folder and suffix."""
        return self.name or self.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def walk(items: Iterable[Item]) -> Iterator[Item]:
    """Every item of `items` and of all the lists nested in them (not inside the blocks they use)."""
    stack: list[Item] = list(items)
    while stack:
        item = stack.pop()
        yield item
        for nested in item.lists:
            stack.extend(nested.items)
