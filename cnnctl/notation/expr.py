"""Exact arithmetic for block arguments: `${mid * 4}`, `${divisible(32 * w, 8)}`, `${ceil(3 * d)}`.

A tiny recursive-descent evaluator over numbers (`32`, `1.1`), names, `+ - * / // %`,
parentheses and the functions of FUNCTIONS: `min`, `max`, `ceil`, `floor`, `round` and
`divisible(v, d)`, the channel rounding of MobileNet and EfficientNet. No `eval`: a network
file can compute a size, never run code.

Values are whole numbers (Python ints) until a decimal or a `/` that does not divide makes
a fraction (`fractions.Fraction`, exact: `32 * 1.1` is 35.2, not 35.2000000000000028, so a
width multiplier rounds the same way everywhere). A fraction is written back as its exact
decimal (`35.2`) or, when it has none, as `a/b` (`64/3`); `read_number` reads both back, and
a value written as a float may be (`1e-3`, `.5`: a family's number argument); both live in
`cnnctl/exact.py`, below the layers that read arguments with them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import quoted

# The exact numbers and their text live below the layers, which read arguments with them too;
# named here as well, where the notation's expressions have always found them.
from ..exact import ExprError, ExprTooLarge, format_number, fraction, read_number  # noqa: F401
from ..limits import MAX_DIGITS, MAX_EXPR_NESTING

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from ..exact import Number

# ASCII digits only: not `${٣}`; a decimal needs digits on both sides of its point (`1.5`, not `1.` or `.5`).
_TOKEN = re.compile(r"\s*(?:([0-9]+(?:\.[0-9]+)?)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*/%(),]))")
MAX_VALUE = 2**62  # of a value, and of a fraction's denominator


def _whole(value: Number) -> Number:
    """A Fraction that came out whole as the int it is (`2.5 * 2` is 5: `n=${2.5 * 2}` reads `5`)."""
    return value.numerator if not isinstance(value, int) and value.denominator == 1 else value


def divisible(v: Number, d: Number) -> int:
    """`v` rounded to the nearest multiple of `d`, never below `d` nor below 90% of `v`:
    torchvision's `_make_divisible` (MobileNet, EfficientNet), exactly: ``int(v + d/2)`` is
    ``floor(v + d/2)`` wherever the result is not raised to `d` anyway, and ``r < 0.9*v`` is
    ``10*r < 9*v``."""
    if not isinstance(d, int) or d < 1:
        raise ExprError(f"divisible(v, d) needs a whole d >= 1, got {format_number(d)}")
    rounded = max(d, (v + d // 2) // d * d if isinstance(v, int) else floor(v + fraction(d, 2)) // d * d)
    return rounded + d if 10 * rounded < 9 * v else rounded


def floor(v: Number) -> int:
    return v // 1


def ceil(v: Number) -> int:
    return -(-v // 1)


def round_half_even(v: Number) -> int:
    """The nearest whole number, a half to the even one: Python's `round` (2.5 -> 2, 3.5 -> 4)."""
    return round(v)


# name -> (how many arguments, the function)
FUNCTIONS: dict[str, tuple[int, Callable[..., Number]]] = {
    "min": (2, min),
    "max": (2, max),
    "ceil": (1, ceil),
    "floor": (1, floor),
    "round": (1, round_half_even),
    "divisible": (2, divisible),
}


def evaluate(text: str, lookup: Callable[[str], Number]) -> Number:
    """The value of `text`; `lookup(name)` gives each name's value (an int or a Fraction)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot read {quoted(text[pos:].strip(), 24)} in {quoted(text)}")
        num, name, op = m.groups()
        tokens.append(("num", num) if num else ("name", name) if name else ("op", op))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if not tokens:
        raise ExprError("empty expression `${}`")
    parser = _Parser(tokens, lookup, text)
    value = parser.sum()
    if parser.i != len(tokens):
        raise ExprError(f"unexpected {quoted(tokens[parser.i][1], 24)} in {quoted(text)}")
    return value


class _Parser:
    def __init__(self, tokens, lookup, text):
        self.tokens, self.lookup, self.i, self.depth = tokens, lookup, 0, 0
        self.shown = quoted(text)  # the expression as messages name it: a 100,000-character one is cut

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) and self.tokens[self.i][0] == "op" else None

    def sum(self) -> Number:
        value = self.product()
        while self.peek() in ("+", "-"):
            op = self.tokens[self.i][1]
            self.i += 1
            rhs = self.product()
            value = self.check(value + rhs if op == "+" else value - rhs)
        return value

    def product(self) -> Number:
        value = self.unary()
        while self.peek() in ("*", "/", "//", "%"):
            op = self.tokens[self.i][1]
            self.i += 1
            rhs = self.unary()
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise ExprError(f"division by zero in {self.shown}")
            elif op == "/":  # exact: a fraction where it does not divide
                value = fraction(value, rhs) if isinstance(value, int) and isinstance(rhs, int) else value / rhs
            elif op == "//":
                value //= rhs
            else:
                value %= rhs
            value = self.check(value)
        return value

    def unary(self) -> Number:
        # A loop, not recursion: `${------n}` with thousands of signs must not overflow the stack.
        sign = 1
        while self.peek() in ("-", "+"):
            sign = -sign if self.peek() == "-" else sign
            self.i += 1
        return sign * self.atom()

    def atom(self) -> Number:
        if self.i >= len(self.tokens):
            raise ExprError(f"{self.shown} ends too early")
        kind, tok = self.tokens[self.i]
        self.i += 1
        if kind == "num":
            if len(tok) <= MAX_DIGITS and "." not in tok:  # the common case, without the detour
                return int(tok)
            return read_number(tok)
        if kind == "name":
            if self.peek() == "(":
                return self.call(tok)
            return self.lookup(tok)
        if tok == "(":
            self.enter()
            value = self.sum()
            if self.peek() != ")":
                raise ExprError(f"missing `)` in {self.shown}")
            self.i += 1
            self.depth -= 1
            return value
        raise ExprError(f"unexpected {quoted(tok, 24)} in {self.shown}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_EXPR_NESTING:
            raise ExprError(f"parentheses nested too deep (at most {MAX_EXPR_NESTING})")

    def call(self, name: str) -> Number:
        """`name(a, ...)`: one of FUNCTIONS, with as many arguments as it takes."""
        if name not in FUNCTIONS:
            raise ExprError(f"unknown function {quoted(name, 24)} in {self.shown} (there are {', '.join(FUNCTIONS)})")
        self.i += 1  # the `(`
        self.enter()
        args = [self.sum()]
        while self.peek() == ",":
            self.i += 1
            args.append(self.sum())
        if self.peek() != ")":
            raise ExprError(f"missing `)` in {self.shown}")
        self.i += 1
        self.depth -= 1
        arity, function = FUNCTIONS[name]
        if len(args) != arity:
            raise ExprError(f"`{name}` takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}")
        return self.check(function(*args))

    def check(self, value: Number) -> Number:
        """`value`, whole where it came out whole, within bounds: no expression grows a number
        (or a fraction's denominator) past MAX_VALUE, so none takes long or much memory."""
        if isinstance(value, int):
            if abs(value) > MAX_VALUE:
                raise ExprTooLarge(f"{self.shown} is far too large")
            return value
        if abs(value) > MAX_VALUE:
            raise ExprTooLarge(f"{self.shown} is far too large")
        if value.denominator > MAX_VALUE:
            raise ExprError(f"{self.shown} is too fine a fraction (denominators up to 2^62)")
        return _whole(value)
