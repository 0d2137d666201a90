"""`repeat: N`: a list of layers run N times in sequence, each pass named `1`, `2`, ...

`first:` overrides arguments of the body's first item on the first pass only (a stage
that downsamples once). `repeat: 0` makes no layer: its output is its input (a stage of one
block written as the first block, then `repeat: ${n - 1}` of the others); its body and
`first:` are checked all the same (`cnnctl.graph.unbuilt`). A pass whose body is a single
unnamed item adds no level: ResNet's stages read `layer2.1.conv1`.
"""

from __future__ import annotations

from ..errors import CnnctlError, LimitError, Problem, quoted
from ..layers import KINDS
from ..layers.args import ArgValueError, parse_int, rounding_advice
from ..limits import MAX_LAYERS
from ..notation.bind import unknown_arg_hint
from ..notation.spec import FailedItem, Item, LayerItem, RepeatItem, Value
from . import unbuilt
from .blocks import Env, readable, substitute
from .scope import Names, Scope

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder


def expand(b: Builder, item: RepeatItem, scope: Scope, env: Env | None, path: str, current: int) -> int:
    try:
        times, times_value = read_count(item, env, path)
    except CnnctlError as exc:  # no pass is made: what the body and `first:` say is still checked
        unbuilt.check_inside(b, item, scope, env, path)
        raise CnnctlError([*exc.problems, *first_problems(b, item, path)]) from None
    # Each pass makes at least one layer: a count the layers counted before building could
    # not read (it failed there) is still refused before expanding.
    if times * b.passes > MAX_LAYERS:
        inside = f" inside repeats of {b.passes:,} passes" if b.passes > 1 else ""
        raise LimitError.at(
            f"`repeat: {times:,}`{inside} would make more than {MAX_LAYERS:,} layers",
            times_value.loc if times_value else item.loc,
            layer=path,
            hint="check the counts of `repeat`",
        )
    b.group(path, "repeat", f"repeat {times}", item.loc)
    # No pass is made (none, or not with a `first:` that does not fit), but a mistake written
    # in the body (or in `first:`'s values) is one all the same.
    problems = first_problems(b, item, path)
    if times == 0 or problems:
        unbuilt.check_inside(b, item, scope, env, path)
        if problems:
            raise CnnctlError(problems)
        return current
    if times == 1 and item.first:  # the first item's values that `first:` replaces: no pass uses them
        unused = unbuilt.replaced_problems(b, item, env, path)
        if unused:
            b.record(CnnctlError(unused))
    outer = b.outer_repeat is None
    if outer:
        b.outer_repeat = item
    b.passes *= times
    (nested,) = item.lists
    try:
        for i in range(1, times + 1):
            body = nested.items
            if i == 1 and item.first:
                body = (with_first(item), *body[1:])
            names = Names(pass_path(path, i))
            current = b.sequence(body, Scope(current, parent=scope), env, names, collapse=nested.collapse)
    finally:
        b.passes //= times
        if outer:
            b.outer_repeat = None
    return current


def pass_path(path: str, i: int) -> str:
    """The path a repeat's pass `i` (from 1) names its layers under: `layer1.2`."""
    return f"{path}.{i}"


def read_count(item: RepeatItem, env: Env | None, path: str) -> tuple[int, Value | None]:
    """The count, and the value it was read from (None: not written). A count below 0 (`repeat:
    0` makes no layer) is a mistake, not an empty stage; one computed (`${ceil(n * depth) - 1}`)
    is told with its expression and its value."""
    times_value = substitute(item.times, env, path) if item.times else None
    text = str(times_value.text) if times_value else ""
    try:
        return parse_int(text, minimum=0), times_value
    except ArgValueError as exc:
        loc = times_value.loc if times_value else item.loc
        what, hint = "`repeat` count", "e.g. `repeat: 3`"
        if str(exc).startswith("must be at least"):  # below 0: not an empty stage, a mistake
            written = str(item.times.text) if item.times else ""
            computed = written.strip() != text.strip()  # `${ceil(n * depth) - 1}`, `$d`: named with its value
            what += f" {quoted(written)}" if computed else ""
            hint = "a count is 0 (`repeat: 0` makes no layer) or more"
            hint += "; check the values it is computed from" if computed else ""
        advice = rounding_advice(exc, str(item.times.text) if item.times else "")
        raise CnnctlError.at(f"{what} {exc}{advice}", loc, layer=path, hint=hint) from None


def with_first(item: RepeatItem) -> Item:
    """The body's first item with `first:`'s arguments in place of its own (`first_problems`
    has found that it has them)."""
    head = item.body[0]
    return head._replace(args={**head.args, **item.first}) if isinstance(head, LayerItem) else head


def first_problems(b: Builder, item: RepeatItem, path: str) -> list[Problem]:
    """Every key of `first:` that the body's first item has no argument for."""
    if not item.first:
        return []
    head = item.body[0]
    if isinstance(head, FailedItem):  # a line the parser refused (told there)
        return []
    if not isinstance(head, LayerItem):
        message = "`first:` applies to a layer or block, but the body starts with a composite"
        return [Problem(message, item.loc, path)]
    if head.is_block:
        block = b.spec.blocks.get(head.kind)
        if block is None:  # a block without `layers:` (the parser said so)
            return []
        names, what = list(block.params), "block"
    else:
        names, what = [a.name for a in KINDS[head.kind].args], "layer kind"
    return [
        Problem(
            f"`first:` sets `{key}`, but `{head.kind}` has no such argument",
            value.loc,
            path,
            unknown_arg_hint(head.kind, names, key, what),
        )
        for key, value in item.first.items()
        if key not in names
    ]


def count(item: RepeatItem, env: Env | None) -> int:
    """The repeat's count if it can be read, else 0 (the builder reports why)."""
    text = readable(item.times, env) if item.times else None
    try:
        return parse_int(text, minimum=0) if text is not None else 0
    except ArgValueError:
        return 0


def least(b: Builder, item: RepeatItem, env: Env | None) -> int:
    """The fewest layers: the body's, times the count (the first pass with `first:`'s arguments)."""
    times = count(item, env)
    if times and item.first and isinstance(item.body[0], LayerItem):
        first = (item.body[0]._replace(args={**item.body[0].args, **item.first}), *item.body[1:])
        return b.least_layers(first, env) + (times - 1) * b.least_layers(item.body, env)
    return times * b.least_layers(item.body, env)
