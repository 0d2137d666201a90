"""Choosing a member of a family file: its `variants:` entry, and settings, put in for its `args:`.

A family file declares its own arguments (`args: width=1.0 depth=1.0 dropout=0.2`), uses them
in its layers like a block's (`${divisible(32 * width, 8)}`), and names its members
(`variants: {b3: width=1.2 depth=1.4 dropout=0.3 input=300x300x3}`). A choice is what follows
the `:` of an ARCH (`efficientnet.yaml:b3`, `efficientnet_b3:dropout=0.1`): at most one member
name and `name=value` settings, separated by commas; the member's values are put in for the
file's defaults, then the settings for the member's. Nothing chosen: the file's defaults.

An argument with a default takes the type of its default (`arg_type`): `depth=1` whole numbers,
`width=1.0` any number, `se=false` true or false; a text, an expression or no default, anything.
A value that does not fit is one message where it is written (`misfit`): a member's at its line
(the parser), a setting at the command line (`choose`), an expression's value once the file's
arguments are put in (`cnnctl.graph.blocks.file_env`); never a message at each of its uses.

A number argument may declare its range after its default, in brackets: one bound or two,
each a comparison with a number (`width=1.0 (>0)`, `depth=1 (>=1)`, `dropout=0.2 (>=0 <1)`,
`read_range`). A value outside it is told at the same places as one of another type, with
the range (`misfit`); the file's own default and its members' values are checked against it
when the file is read (`cnnctl.notation.parse`).
"""

from __future__ import annotations

import re

from ..errors import CnnctlError, Loc, Problem, did_you_mean, quoted, shown
from ..layers.args import BOOL, ArgType, ArgValueError, NotWhole, parse_int, parse_number
from ..limits import MAX_INT
from .expr import ExprError, format_number, read_number
from .spec import NetworkSpec, Range, Value, Variant

COMMAND_LINE = Loc("the command line")  # where a setting given with the ARCH was written

# What a file's argument takes, by its default (`arg_type`), and a hint for a value that does not fit.
WHOLE = ArgType("a whole number", lambda text: parse_int(text, -MAX_INT))
NUMBER = ArgType("a number", parse_number)
HINTS = {
    WHOLE: "a whole number such as `3` or `-1`; an expression `${...}` must come out whole (ceil, floor, round)",
    NUMBER: "a number such as `1.2`, `3` or `1e-3`, or an expression `${...}`",
    BOOL: "true or false",
}


def arg_type(default: Value | None) -> ArgType | None:
    """What a file's argument takes: the type of its default (`1`: a whole number, `1.0`: any
    number, `true`/`false`: true or false); None, anything: a text, an expression, no default."""
    text = str(default.text).strip() if default is not None else "$"
    if "$" in text:  # an expression's value depends on the arguments before it
        return None
    if text.lower() in ("true", "false"):
        return BOOL
    return next((kind for kind in (WHOLE, NUMBER) if _fits(kind, text)), None)


def _fits(kind: ArgType, text: str) -> bool:
    try:
        kind.parse(text)
    except ArgValueError:
        return False
    return True


def misfit(name: str, default: Value | None, text: str, bounds: Range | None = None) -> tuple[str, str] | None:
    """Why `text` cannot be the value of the file's argument `name` (declared with `default`
    and, if it has one, the range `bounds`): a message and a hint; None where it fits, or it is
    an expression (told once it has a value: `cnnctl.graph.blocks.file_env`)."""
    if "$" in text:
        return None
    kind = arg_type(default)
    try:
        if kind is not None:
            kind.parse(text)
    except ArgValueError as exc:  # "expected ..." says what the message does; another why is the hint
        why = str(exc)
        hint = HINTS[kind] if why.startswith("expected") or isinstance(exc, NotWhole) else why
        return f"`{name}` takes {kind.describe} (its default: {default.text}), not {quoted(text)}", hint
    if bounds is not None and not holds(bounds, text):
        example = f", such as its default {default.text}" if default is not None and holds(bounds, default.text) else ""
        message = f"`{name}` must be {describe(bounds)} (its range: `{bounds.text}`), not {quoted(text)}"
        return message, f"give `{name}` {(kind or NUMBER).describe} {describe(bounds)}{example}"
    return None


# -- declared ranges ---------------------------------------------------------------------------
RANGE_FORM = "a range is one bound or two, in brackets after the default: `(>0)`, `(>=1)`, `(>=0 <1)`"
_BOUND = re.compile(r"\s*(>=|<=|>|<)\s*([^\s<>=()]+)")


def read_range(text: str, loc: Loc) -> Range:
    """The range written `text` (`(>0)`, `(>=0 <1)`: in brackets, a bound each side at most, each
    a comparison with a number) at `loc`; ArgValueError says what is wrong with it."""
    inside = text[1:-1] if text.startswith("(") and text.endswith(")") else None
    bounds = _bounds(inside) if inside is not None else None
    if not bounds:
        raise ArgValueError(f"{quoted(text)} is not a range")
    low = high = None
    low_open = high_open = False
    for op, number in bounds:
        if op.startswith(">"):
            if low is not None:
                raise ArgValueError(f"{quoted(text)} has two lower bounds")
            low, low_open = number, op == ">"
        else:
            if high is not None:
                raise ArgValueError(f"{quoted(text)} has two upper bounds")
            high, high_open = number, op == "<"
    if low is not None and high is not None and (low > high or (low == high and (low_open or high_open))):
        raise ArgValueError(f"{quoted(text)} holds no number")
    return Range(low, low_open, high, high_open, text, loc)


def _bounds(inside: str) -> list[tuple[str, object]] | None:
    """`>=0 <1` as [(">=", 0), ("<", 1)]; None where it is not comparisons with numbers."""
    found, end = [], 0
    for m in _BOUND.finditer(inside):
        if m.start() != end:
            return None
        try:
            number = read_number(m.group(2))
        except ExprError:
            return None
        if number is None:
            return None
        found.append((m.group(1), number))
        end = m.end()
    return found if inside[end:].strip() == "" else None


def holds(bounds: Range, text: str) -> bool:
    """Whether `text` is a number within `bounds`, compared exactly (`0.1` is a tenth)."""
    try:
        value = read_number(str(text).strip())
    except ExprError:
        return False
    if value is None:
        return False
    if bounds.low is not None and (value < bounds.low or (bounds.low_open and value == bounds.low)):
        return False
    return bounds.high is None or not (value > bounds.high or (bounds.high_open and value == bounds.high))


def describe(bounds: Range) -> str:
    """The range in words: `above 0`, `at least 0 and below 1`, `from 0 to 1`."""
    if bounds.low is not None and bounds.high is not None and not (bounds.low_open or bounds.high_open):
        return f"from {format_number(bounds.low)} to {format_number(bounds.high)}"
    words = []
    if bounds.low is not None:
        words.append(f"{'above' if bounds.low_open else 'at least'} {format_number(bounds.low)}")
    if bounds.high is not None:
        words.append(f"{'below' if bounds.high_open else 'at most'} {format_number(bounds.high)}")
    return " and ".join(words)


def choose(spec: NetworkSpec, choice: str | None) -> NetworkSpec:
    """`spec` as its member `choice` (None: as written): its arguments' values, its input size,
    its name (`efficientnet` + `b3`: `efficientnet_b3`) and the settings given on top of the
    member (`width=1.1`: `cnnctl.graph.Graph.title` shows them). The problems of the member's
    own line are told with the file's; another member's are not (`unchosen_problems`)."""
    if choice is None:
        return spec
    member, settings, problems = _read(spec, choice)
    args = dict(spec.args)
    size = spec.input
    name = spec.own_name
    told = spec.problems
    if member is not None:
        variant = spec.variants[member]
        args.update(variant.values)
        size = variant.input or size
        name = f"{name}_{member}"
        told = (*told, *variant.problems)
    for key, text in settings:
        wrong = misfit(key, spec.declared.get(key), text, spec.ranges.get(key))
        if key not in args:
            problems.append(_unknown_argument(spec, key))
        elif wrong is not None:  # told here, once: not at each layer that uses it
            problems.append(Problem(f"`{key}={text}`: {wrong[0]}", COMMAND_LINE, None, wrong[1]))
        args[key] = Value(text, COMMAND_LINE)
    if problems:  # with the file's own: every problem of the command in one run
        raise CnnctlError([*told, *problems])
    given = ",".join(f"{key}={text}" for key, text in settings)
    return spec._replace(args=args, input=size, name=name, problems=told, member=member, settings=given)


def unchosen_problems(spec: NetworkSpec) -> list[Problem]:
    """The problems of the members' lines of a file used as written (no member chosen): said
    as notes, since they stop only the member they are in (`choose` tells a member's own as
    errors; `cnnctl validate` builds every member and tells them all)."""
    if spec.member is not None:
        return []
    return [problem for variant in spec.variants.values() for problem in variant.problems]


def choice_words(choice: str) -> list[str]:
    """The words of a member choice, `b3,width=1.1,dropout=${max(0.1, 0.3)}`, split at the commas
    outside `${...}` (an expression's own commas are its arguments'), each stripped."""
    words, depth, start = [], 0, 0
    for i, char in enumerate(choice):
        if char == "{" and (depth or choice[i - 1 : i] == "$"):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == "," and not depth:
            words.append(choice[start:i])
            start = i + 1
    return [w.strip() for w in [*words, choice[start:]]]


def _read(spec: NetworkSpec, choice: str) -> tuple[str | None, list[tuple[str, str]], list[Problem]]:
    """The member a choice names (None: none), its settings, and what is wrong with it."""
    member: str | None = None
    settings: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for word in choice_words(choice):
        key, eq, text = word.partition("=")
        if eq:
            if not key.strip() or not text.strip():
                problems.append(Problem(f"`{word}`: a setting is `name=value`", COMMAND_LINE, None, _arguments(spec)))
            else:
                settings.append((key.strip(), text.strip()))
        elif not word:
            empty = "no member named after `:` (or between commas)"
            problems.append(Problem(empty, COMMAND_LINE, None, _members(spec)))
        elif member is not None:
            problems.append(Problem(f"two members chosen, `{member}` and `{word}`", COMMAND_LINE, None, "choose one"))
        elif word not in spec.variants:
            problems.append(_unknown_member(spec, word))
        else:
            member = word
    return member, settings, problems


def variant_text(variant: Variant) -> str:
    """A member's values as a `variants:` line writes them: `width=1.2 depth=1.4 input=300x300x3`."""
    words = [f"{name}={value.text}" for name, value in variant.values.items()]
    return " ".join(words + ([f"input={variant.input.text}"] if variant.input is not None else []))


def members(spec: NetworkSpec) -> list[str]:
    """The names of the members a file declares, as written."""
    return list(spec.variants)


def _members(spec: NetworkSpec) -> str:
    names = members(spec)
    return f"its members: {', '.join(names)}" if names else "it declares no members (`variants:`)"


def _unknown_member(spec: NetworkSpec, word: str) -> Problem:
    where = spec.variants_loc or Loc(spec.file)
    near = did_you_mean(word, members(spec))
    hint = f"{near} ({_members(spec)})" if near else _members(spec)
    return Problem(f"`{spec.own_name}` has no member `{word}`", where, None, hint)


def _arguments(spec: NetworkSpec) -> str:
    declared = ", ".join(f"`{a}`" for a in spec.args)
    return f"its arguments (`args:`): {declared}" if declared else "it declares no arguments (`args:`)"


def _unknown_argument(spec: NetworkSpec, key: str) -> Problem:
    takes = _arguments(spec) if key != "input" else "the input size is an option: --input HxWxC"
    near = did_you_mean(key, spec.args)
    hint = f"{near} ({takes})" if near else takes
    return Problem(f"`{spec.own_name}` has no argument {shown(key)}", Loc(spec.file), None, hint)
