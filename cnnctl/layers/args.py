"""Argument types of the notation: how a written value becomes a typed one.

Raw values arrive as text, whether from the shorthand (`conv f=1x7 n=64`) or a YAML
mapping (`{f: 3, bias: false}`), so each type parses a string and says, in words a
person understands, what it expected when the text does not fit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import quoted
from ..exact import ExprError, is_fraction_text, read_number
from ..limits import MAX_CHANNEL_VALUES, MAX_INT
from ..values import ArgValueError, TooLarge, is_whole_text, number_text, whole_text

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from typing import Any

TRUE_WORDS = {"true", "yes", "on", "1"}
FALSE_WORDS = {"false", "no", "off", "0"}


class NotWhole(ArgValueError):
    """A fraction where a whole number goes: `s=1.5` written, or `n=${32 * 1.2}`, 38.4, computed."""


ROUNDING = "use ceil(...), floor(...), round(...) or divisible(..., 8)"
"""How an expression (`${...}`) that comes out a fraction is made whole."""


def rounding_advice(exc: ArgValueError, written: str) -> str:
    """What follows a NotWhole message where the value was computed from `written`: an expression
    must say how to round (`${32 * w}` -> `${round(32 * w)}`); a value written as it is needs no
    more than "must be a whole number" (`s=1.5`), and a block argument put in as it is (`$k`) is
    rounded in an expression of its own. Nothing for another mistake."""
    if not isinstance(exc, NotWhole) or "$" not in written:
        return ""
    if "${" in written:
        return f": {ROUNDING}"
    name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", written[written.index("$") + 1 :])  # `$name`, as blocks reads it
    example = f"`${{round({name[0]})}}`" if name else "`${round(...)}`"
    return f": round it in an expression, e.g. {example} (or ceil, floor, divisible(..., 8))"


def parse_int(text: str, minimum: int = 1) -> int:
    """A whole number written as digits with at most one sign (`-3`, `+3`; not `--3` or `+-3`),
    from `minimum` to MAX_INT: `values.whole_text`, with the notation's range and its fractions."""
    text = str(text).strip()
    if not is_whole_text(text) and is_fraction_text(text):
        # `s=1.5`, or `n=${32 * 1.2}` (38.4): callers add `rounding_advice`
        raise NotWhole(f"must be a whole number, got {text}")
    try:
        value = whole_text(text)
    except TooLarge as exc:
        raise TooLarge(f"{exc} (at most {MAX_INT:,})") from None
    if value < minimum:
        raise ArgValueError(f"must be at least {minimum}, got {value}")
    if value > MAX_INT:
        raise TooLarge(f"{value:,} is too large (at most {MAX_INT:,})")
    return value


def parse_pair(text: str, minimum: int = 1) -> tuple[int, int]:
    """`3` -> (3, 3); `1x7` -> (1, 7) (height x width)."""
    text = str(text).strip().lower()
    parts = text.split("x")
    if len(parts) == 1:
        v = parse_int(parts[0], minimum)
        return v, v
    # `3x` or `x7`: the whole value is quoted, not its empty half (a fraction keeps its own message)
    if len(parts) == 2 and all(is_whole_text(p.strip()) or is_fraction_text(p.strip()) for p in parts):
        return parse_int(parts[0], minimum), parse_int(parts[1], minimum)
    raise ArgValueError(f"expected a number or HxW such as `1x7`, got {quoted(text)}")


def parse_bool(text: str) -> bool:
    word = str(text).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ArgValueError(f"expected true or false, got {quoted(text)}")


def parse_float(text: str, lo: float, hi: float, hi_open: bool = False, lo_open: bool = False) -> float:
    """A number in [lo, hi] (`lo_open`/`hi_open`: without that end), written in ASCII
    (`values.number_text`)."""
    value = number_text(text)
    if not (lo <= value <= hi) or (hi_open and value == hi) or (lo_open and value == lo) or value != value:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ArgValueError(f"must be in {left}{lo:g}, {hi:g}{right}, got {quoted(str(text).strip())}")
    return value


def parse_number(text: str) -> float:
    """Any number, whole or not, as an expression reads a name's value (`2`, `1.2`, `-0.5`,
    `1e-3`, the `64/3` an expression writes; `exact.read_number`), within MAX_INT either side."""
    try:
        exact = read_number(str(text))
    except ExprError as exc:
        raise ArgValueError(str(exc)) from None
    if exact is None:
        raise ArgValueError(f"expected a number, got {quoted(text)}")
    if abs(exact) > MAX_INT:
        raise ArgValueError(f"{quoted(str(text).strip())} is too large (at most {MAX_INT:,} either side)")
    return float(exact)


class ArgType:
    """A named parser: `describe` is how messages and docs name it, `schema` how a JSON Schema
    does (the values a YAML file may hold for it: `cnnctl schema`).

    Plain classes here, not dataclasses: importing `dataclasses` (and `inspect` with it)
    costs 5 ms of every start-up.
    """

    __slots__ = ("_seen", "describe", "parser", "schema", "words")

    def __init__(
        self, describe: str, parser: Callable[[str], Any], words: tuple[str, ...] = (), schema: dict | None = None
    ):
        self.describe = describe
        self.parser = parser
        self.words = words  # the words it accepts, for "did you mean" hints
        self.schema = schema or {}
        self._seen: dict[str, Any] = {}  # networks repeat the same few values thousands of times: parsed once

    def parse(self, text: str) -> Any:
        try:
            return self._seen[text]
        except KeyError:
            value = self._seen[text] = self.parser(text)
            return value


def Int(minimum: int = 1) -> ArgType:
    what = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
    return ArgType(what, lambda t: parse_int(t, minimum), schema={"type": "integer", "minimum": minimum})


def Pair(minimum: int = 1) -> ArgType:
    what = "a size such as `3` or `1x7`" if minimum == 1 else "a size such as `1` or `0x3`"
    schema = {"anyOf": [{"type": "integer", "minimum": minimum}, {"type": "string", "pattern": _PAIR}]}
    return ArgType(what, lambda t: parse_pair(t, minimum), schema=schema)


_PAIR = r"^\s*\d+\s*[xX]\s*\d+\s*$"  # HxW


def Choice(*words: str, aliases: dict[str, str] | None = None) -> ArgType:
    """One of `words`; `aliases` are other names for some of them (`swish` is `silu`)."""
    aliases = aliases or {}

    def parse(text: str) -> str:
        word = str(text).strip().lower()
        word = aliases.get(word, word)
        if word not in words:
            raise ArgValueError(f"expected one of {', '.join(words)}; got {quoted(text)}")
        return word

    return ArgType("one of " + "|".join(words), parse, words, {"enum": [*words, *aliases]})


def Float(lo: float, hi: float, hi_open: bool = False, lo_open: bool = False) -> ArgType:
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    number = {"type": "number", "exclusiveMinimum" if lo_open else "minimum": lo}
    number["exclusiveMaximum" if hi_open else "maximum"] = hi
    # YAML 1.1 reads `1e-06` (no dot) as text: written so, it is still a number to cnnctl
    schema = {"anyOf": [number, {"type": "string", "pattern": r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"}]}
    return ArgType(
        f"a number in {left}{lo:g}, {hi:g}{right}", lambda t: parse_float(t, lo, hi, hi_open, lo_open), schema=schema
    )


def channel_numbers(text: str, read: Callable[[str], float], per: str = "channel") -> tuple[float, ...]:
    """Numbers separated by commas, one per `per` (a layer's `scale=`, train's `--mean`), each
    read by `read`: at most MAX_CHANNEL_VALUES of them, counted before any is read."""
    parts = str(text).split(",")
    if len(parts) > MAX_CHANNEL_VALUES:
        raise ArgValueError(f"{len(parts):,} numbers: at most {MAX_CHANNEL_VALUES:,}, one per {per}")
    return tuple(read(part) for part in parts)


def Numbers(lo: float, hi: float) -> ArgType:
    """Numbers in [lo, hi] separated by commas, one for every channel or one per channel
    (`0.229,0.224,0.225`): a tuple of floats; how many there are is the kind's to check."""

    def parse(text: str) -> tuple[float, ...]:
        return channel_numbers(text, lambda part: parse_float(part, lo, hi))

    number = r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*"
    schema = {
        "anyOf": [
            {"type": "number", "minimum": lo, "maximum": hi},
            {"type": "string", "pattern": f"^{number}(,{number})*$"},
        ]
    }
    return ArgType(f"numbers in [{lo:g}, {hi:g}] separated by commas, one or one per channel", parse, schema=schema)


def OrNone(inner: ArgType) -> ArgType:
    """`inner`, or the word `none` for PyTorch's None (`momentum=none`: batch norm's running
    statistics as a plain average of every batch)."""

    def parse(text: str) -> Any:
        return None if str(text).strip().lower() == "none" else inner.parser(text)

    schema = {"anyOf": [inner.schema, {"enum": ["none"]}]}
    return ArgType(f"{inner.describe} or none", parse, ("none",), schema)


def OrAuto(inner: ArgType) -> ArgType:
    """`inner`, or the word `auto`: a value the kind works out from its input (ECA's kernel size)."""

    def parse(text: str) -> Any:
        return "auto" if str(text).strip().lower() == "auto" else inner.parser(text)

    schema = {"anyOf": [inner.schema, {"enum": ["auto"]}]}
    return ArgType(f"{inner.describe} or auto", parse, ("auto",), schema)


def _parse_padding(text: str) -> str | tuple[int, int]:
    word = str(text).strip().lower()
    if word in ("valid", "same"):
        return "same" if word == "same" else (0, 0)
    if word.lstrip("-").replace("x", "").isdigit():
        return parse_pair(word, minimum=0)  # a number: its own message, e.g. "must be at least 0"
    try:
        return parse_pair(word, minimum=0)
    except ArgValueError:
        raise ArgValueError(f"expected valid, same, a number or HxW; got {quoted(text)}") from None


BOOL = ArgType("true or false", parse_bool, schema={"type": "boolean"})
PADDING = ArgType(
    "valid, same, a number or HxW",
    _parse_padding,
    ("valid", "same"),
    {"anyOf": [{"enum": ["valid", "same"]}, {"type": "integer", "minimum": 0}, {"type": "string", "pattern": _PAIR}]},
)


REQUIRED: Any = object()


class Arg:
    """One argument a layer kind takes: name, type, default, and how it may be written.

    `positional` arguments may be written without `name=` in the shorthand, in order
    (`fc 120`, `pool avg`); `flag` booleans may be written as a bare word (`ceil`).
    """

    __slots__ = ("default", "doc", "flag", "name", "positional", "show", "type")

    def __init__(
        self,
        name: str,
        type: ArgType,
        default: Any = REQUIRED,
        doc: str = "",
        positional: bool = False,
        flag: bool = False,
        show: bool = False,  # always shown in the shorthand column, default or not
    ):
        self.name, self.type, self.default, self.doc = name, type, default, doc
        self.positional, self.flag, self.show = positional, flag, show

    def __repr__(self) -> str:
        return f"Arg({self.name!r})"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def typed_default(self) -> Any:
        """The default, parsed like a written value (`1` -> (1, 1) for a size)."""
        if self.required or self.default is None:
            return self.default
        return self.type.parse(str(self.default))  # cached by the type


class ArgSpec:
    """How written words bind to names (`cnnctl.notation.bind`): every argument `names` holds
    may be written `name=value`; the `positional` ones also without `name=`, in order; the
    `flags` also as a bare word (`ceil`). A kind's comes from its `args`; a block's takes all
    of its arguments in order."""

    __slots__ = ("choices", "flags", "names", "positional")

    def __init__(
        self,
        names: tuple[str, ...],
        positional: tuple[str, ...] = (),
        flags: tuple[str, ...] = (),
        choices: dict[str, tuple[str, ...]] | None = None,
    ):
        self.names, self.positional, self.flags = names, positional, flags
        self.choices = choices or {}  # a positional argument's words (`pool`'s `max`): a misnamed one is placed

    @classmethod
    def of(cls, args: tuple[Arg, ...]) -> ArgSpec:
        return cls(
            tuple(a.name for a in args),
            tuple(a.name for a in args if a.positional),
            tuple(a.name for a in args if a.flag),
            {a.name: a.type.words for a in args if a.positional and a.type.words},
        )
