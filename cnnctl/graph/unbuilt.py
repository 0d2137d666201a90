"""Lists that no pass builds, checked all the same: the body of a `repeat: 0`, the lists of a
composite whose own line failed (a count that is not a number, a reference to nothing), the
body of a block used only there, and of a block no layer uses at all.

They make no layer, yet a mistake written in them is a mistake of the file, found the day the
count changes or the block is used: it is told now, located where it is written, as a built
list's would be. "Checked" means what can be known without an input:

- each line as written: argument names and values typed as when built (`conv f=abc`), the
  required ones given, the number of inputs a kind takes; a block use's values put in, its
  required arguments given, and its body checked with the values it gives; a repeat's count
  and `first:` (keys and values), a residual's shortcut word, a join's `act`; one id per list.
- references: `from=`/`with=` must name an id visible there by the rules of a built list
  (earlier in its list or in the lists around it, never past a block's body, `input`). An id
  of an unbuilt list is visible after it in that list and the lists nested in it, as if it
  ran once: nothing outside a list sees its ids in any case, so no built layer can depend on
  a layer that is not built, and no reference is told wrong that a pass would find.
- not shapes: no volume reaches these lists. A `repeat: 0` body would take the repeat's input
  on a first pass, but it makes none, and the shapes a larger count gives are checked when it
  gives them; a block with no use has no input at all. So no shape rule is applied (sizes that
  fit, channels that divide, a pool's `out` beside `f`), and a value that uses `in_h`, `in_w`,
  `in_c` or an argument no use gives is not typed: it has no value (`blocks.Unbound`).
- block recursion: told for every block before anything is built (`blocks.cycles`).

Nothing is built and each list is checked once for the arguments in force (`Builder.checked`):
a block used fifty times with the same arguments checks its `repeat: 0` once.
"""

from __future__ import annotations

from ..errors import CnnctlError, LimitError, Problem
from ..layers import KINDS
from ..limits import MAX_BLOCK_DEPTH, MAX_DEPTH, MAX_LAYERS
from ..notation.spec import (
    SHORTCUTS,
    BlockDef,
    BranchesItem,
    FailedItem,
    Item,
    LayerItem,
    RepeatItem,
    ResidualItem,
    SplitItem,
    Value,
)
from . import blocks, references, repeat, residual
from .blocks import Env, Unbound, substitute
from .nodes import INPUT
from .scope import Names, Scope, lone, names_of

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder


def check_blocks(b: Builder) -> None:
    """The body of every block that no use has reached, its arguments unknown."""
    for name, block in b.spec.blocks.items():
        if name in b.reached:
            continue
        b.block_uses.append((name, None))  # its problems say which block they are in
        b.unbuilt_from = block
        try:
            check(b, block.body, Scope(INPUT, sealed=True), Env(block, {}, None, True), Names(name), True)
        finally:
            b.block_uses.pop()
            b.unbuilt_from = None


def check_inside(b: Builder, item: Item, scope: Scope, env: Env | None, path: str) -> None:
    """The lists of a composite that is not built, once per item and arguments in force."""
    key = (id(item), env.key if env is not None else None)
    if key in b.checked:
        return
    b.checked.add(key)
    outermost = b.unbuilt_from is None
    if outermost:
        b.unbuilt_from = item
    try:
        lists(b, item, scope, env, path)
    finally:
        if outermost:
            b.unbuilt_from = None


def check(
    b: Builder, items: tuple[Item, ...], scope: Scope, env: Env | None, names: Names, collapse: bool = False
) -> None:
    """An unbuilt list, item by item: each problem recorded, the layers named, as `Builder.sequence` does."""
    b.declare(items, scope, names)
    only = lone(items, names, collapse)
    for item in items:
        b.unbuilt += 1
        if b.unbuilt > MAX_LAYERS:  # blocks using blocks with new arguments multiply their uses
            raise too_many_unbuilt(b, item)
        path = names.prefix if only else names.path(names.of(item))
        problems = line_problems(b, item, scope, env, path)
        if problems:
            b.record(CnnctlError(problems))
        if b.depth >= MAX_DEPTH:  # as deep as a built list may go, and no deeper
            raise b.too_deep(item, path)
        b.depth += 1
        try:
            lists(b, item, scope, env, path)
        finally:
            b.depth -= 1
        if item.id is not None:
            b.define(item.id, scope, names, scope.input)  # found by references; names nothing built


def too_many_unbuilt(b: Builder, item: Item) -> LimitError:
    """The error for lists no pass builds that hold more than MAX_LAYERS layers: told at the
    `repeat` or block they are in, as a network too large is told at its largest item."""
    where = b.unbuilt_from or item
    if isinstance(where, BlockDef):
        what = f"block `{where.name}`, which no use builds,"
    elif isinstance(where, RepeatItem):
        what = "the body of this `repeat`, which makes no pass,"
    else:
        what = "the layers of this item, which is not built,"
    return LimitError.at(
        f"checking {what} would go past {MAX_LAYERS:,} layers",
        where.loc,
        hint="blocks using blocks with new arguments multiply their layers, built or not",
    )


def line_problems(b: Builder, item: Item, scope: Scope, env: Env | None, path: str) -> list[Problem]:
    """What is wrong with an item's own line: its references, then what it sets."""
    problems: list[Problem] = []
    try:  # the inputs it names, and how many: a layer kind's count, one for a composite or a block
        inputs = references.inputs(b, item, scope, scope.input, path, env)
        if isinstance(item, LayerItem) and not item.is_block:
            wrong = b.inputs_problem(KINDS[item.kind], inputs, item.loc, path)
            problems.extend([wrong] if wrong else [])
        elif not isinstance(item, FailedItem):
            b.single(inputs, item, path)
    except Unbound:  # `from=$src` of a block no use gives `src`: neither its ids nor their count known
        pass
    except CnnctlError as exc:
        problems.extend(exc.problems)
    return problems + own_problems(b, item, env, path)


def own_problems(b: Builder, item: Item, env: Env | None, path: str) -> list[Problem]:
    """What is wrong with what an item's line sets (not its references), for an item not built."""
    problems: list[Problem] = []
    if isinstance(item, (LayerItem, FailedItem)):
        problems.extend(b.value_problems(item, env, path))
    elif isinstance(item, RepeatItem):
        try:
            repeat.read_count(item, env, path)
        except Unbound:
            pass
        except CnnctlError as exc:
            problems.extend(exc.problems)
        problems.extend(repeat.first_problems(b, item, path))
        if len(passes(b, item, env, path)) == 1 and item.first:  # `first:` fits, and no pass takes what it replaces
            problems.extend(replaced_problems(b, item, env, path))
    elif isinstance(item, ResidualItem):
        if isinstance(item.shortcut, str):
            try:
                word = str(substitute(Value(item.shortcut, item.shortcut_loc or item.loc), env, path).text)
                if word not in SHORTCUTS:
                    raise residual.unknown_shortcut(item, word, path)
            except Unbound:
                pass
            except CnnctlError as exc:
                problems.extend(exc.problems)
        problems.extend(join_problems(b, item.act, env, path))
    elif isinstance(item, BranchesItem) and item.merge == "add":
        problems.extend(join_problems(b, item.act, env, path))
    elif isinstance(item, SplitItem) and item.groups is not None:  # the softmax's groups
        problems.extend(
            b.argument_problems(KINDS["rsoftmax"], {"groups": item.groups}, env, item.groups.loc, path, complete=False)
        )
    return problems


def passes(b: Builder, item: RepeatItem, env: Env | None, path: str) -> list[tuple[Item, ...]]:
    """The bodies of a repeat's passes, to check: the first with `first:`'s values (where its
    keys fit), then the others as written; both unless the count is known to be one, so that
    what either would tell is told."""
    if not item.first or repeat.first_problems(b, item, path):
        return [item.body]
    first = (repeat.with_first(item), *item.body[1:])
    try:
        one = repeat.read_count(item, env, path)[0] == 1
    except (CnnctlError, Unbound):
        one = False
    return [first] if one else [first, item.body]


def replaced_problems(b: Builder, item: RepeatItem, env: Env | None, path: str) -> list[Problem]:
    """What is wrong with the first item's own values that `first:` replaces, when no pass uses
    them (a single pass takes `first:`'s)."""
    head = item.body[0]
    if not isinstance(head, LayerItem):
        return []
    replaced = {k: v for k, v in head.args.items() if k in item.first}
    if not replaced:
        return []
    if not head.is_block:
        return b.argument_problems(KINDS[head.kind], replaced, env, head.loc, path, complete=False)
    block = b.spec.blocks.get(head.kind)
    return blocks.use_problems(block, replaced, env, head.loc, path, complete=False) if block else []


def join_problems(b: Builder, act: Value | None, env: Env | None, path: str) -> list[Problem]:
    """The problems of the `act` of a residual's or branches' `add`."""
    if act is None:
        return []
    return b.argument_problems(KINDS["add"], {"act": act}, env, act.loc, path)


def lists(b: Builder, item: Item, scope: Scope, env: Env | None, path: str) -> None:
    """The lists nested in `item`, each from its own scope, named as their first pass would be;
    a block's body for the use `item` is."""
    if isinstance(item, LayerItem):
        if item.is_block:
            block_use(b, item, env, path)
    elif isinstance(item, RepeatItem):  # its passes, `first:` in the first
        (body,) = item.lists
        for i, items in enumerate(passes(b, item, env, path), 1):
            check(b, items, Scope(scope.input, parent=scope), env, Names(repeat.pass_path(path, i)), body.collapse)
    else:
        names = Names(path)
        for nested in item.lists:
            check(b, nested.items, Scope(scope.input, parent=scope), env, names_of(nested, names), nested.collapse)


def block_use(b: Builder, item: LayerItem, env: Env | None, path: str) -> None:
    """The body of a block used in an unbuilt list, with the values this use gives it and the
    defaults they allow (the unknown ones unbound). Not for a use that a build would refuse
    before its body (an argument missing or wrong: its line tells it), nor a block using
    itself (told: `blocks.cycles`), nor past the depth a built use is refused at; once per
    block and values."""
    block = b.spec.blocks.get(item.kind)
    inside = [name for name, _ in b.block_uses]
    if block is None or item.kind in inside or len(inside) >= MAX_BLOCK_DEPTH:
        return
    values: dict[str, Value] = {}
    for pname, default in block.params.items():
        given = item.args.get(pname)
        try:
            if given is not None:
                values[pname] = substitute(given, env, path)
            elif default is None:
                return
            else:
                values[pname] = substitute(default, Env(block, values, None, True), path)
        except Unbound:
            continue
        except CnnctlError as exc:
            if given is None:  # a default that cannot be put in: told at this use, as when built
                b.record(exc)
            return
    inner = Env(block, values, None, True)
    key = ("use", inner.key)
    if key in b.checked:
        return
    b.checked.add(key)
    b.reached.add(item.kind)  # its body is checked: `check_blocks` need not
    b.block_uses.append((item.kind, item.loc))
    try:
        check(b, block.body, Scope(INPUT, sealed=True), inner, Names(path), collapse=True)
    finally:
        b.block_uses.pop()
