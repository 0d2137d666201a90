"""Integer arithmetic for block arguments: `${mid * 4}`, `${blocks - 1}`, `${divisible(c * 6, 8)}`.

A tiny recursive-descent evaluator over integers, names, `+ - * / // %`, parentheses and
three functions: `min`, `max` and `divisible(v, d)`, the channel rounding of MobileNet and
EfficientNet. No `eval`: a network file can compute a size, never run code. `/` must
divide exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_TOKEN = re.compile(r"\s*(?:([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*/%(),]))")  # ASCII digits: not `${٣}`
MAX_VALUE = 2**62


class ExprError(ValueError):
    """What is wrong with an expression, in words."""


def divisible(v: int, d: int) -> int:
    """`v` rounded to a multiple of `d`, never below `d` nor below 90% of `v`: torchvision's
    `_make_divisible` (MobileNet, EfficientNet), in whole numbers: ``int(v + d/2) // d * d``
    is ``(v + d//2) // d * d`` for a whole `v`, and ``r < 0.9*v`` is ``10*r < 9*v``."""
    if d < 1:
        raise ExprError(f"divisible(v, d) needs d >= 1, got {d}")
    rounded = max(d, (v + d // 2) // d * d)
    return rounded + d if 10 * rounded < 9 * v else rounded


FUNCTIONS: dict[str, Callable[[int, int], int]] = {"divisible": divisible, "min": min, "max": max}


def evaluate(text: str, lookup: Callable[[str], int]) -> int:
    """The value of `text`; `lookup(name)` gives each name's integer value."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot read `{text[pos:].strip()}` in `{text}`")
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
        raise ExprError(f"unexpected `{tokens[parser.i][1]}` in `{text}`")
    return value


class _Parser:
    def __init__(self, tokens, lookup, text):
        self.tokens, self.lookup, self.text, self.i, self.depth = tokens, lookup, text, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) and self.tokens[self.i][0] == "op" else None

    def sum(self) -> int:
        value = self.product()
        while self.peek() in ("+", "-"):
            op = self.tokens[self.i][1]
            self.i += 1
            rhs = self.product()
            value = value + rhs if op == "+" else value - rhs
            self.check(value)
        return value

    def product(self) -> int:
        value = self.unary()
        while self.peek() in ("*", "/", "//", "%"):
            op = self.tokens[self.i][1]
            self.i += 1
            rhs = self.unary()
            if op == "*":
                value *= rhs
            elif rhs == 0:
                raise ExprError(f"division by zero in `{self.text}`")
            elif op == "/":
                if value % rhs:
                    raise ExprError(f"{value} / {rhs} is not a whole number in `{self.text}`; use // to round down")
                value //= rhs
            elif op == "//":
                value //= rhs
            else:
                value %= rhs
            self.check(value)
        return value

    def unary(self) -> int:
        # A loop, not recursion: `${------n}` with thousands of signs must not overflow the stack.
        sign = 1
        while self.peek() in ("-", "+"):
            sign = -sign if self.peek() == "-" else sign
            self.i += 1
        return sign * self.atom()

    def atom(self) -> int:
        if self.i >= len(self.tokens):
            raise ExprError(f"`{self.text}` ends too early")
        kind, tok = self.tokens[self.i]
        self.i += 1
        if kind == "num":
            if len(tok) > 18:
                raise ExprError(f"`{tok}` is too large")
            return int(tok)
        if kind == "name":
            if self.peek() == "(":
                return self.call(tok)
            return self.lookup(tok)
        if tok == "(":
            self.depth += 1
            if self.depth > 32:
                raise ExprError("parentheses nested too deep")
            value = self.sum()
            if self.peek() != ")":
                raise ExprError(f"missing `)` in `{self.text}`")
            self.i += 1
            self.depth -= 1
            return value
        raise ExprError(f"unexpected `{tok}` in `{self.text}`")

    def call(self, name: str) -> int:
        """`name(a, b)`: one of FUNCTIONS, with two arguments."""
        if name not in FUNCTIONS:
            raise ExprError(f"unknown function `{name}` in `{self.text}` (there are {', '.join(FUNCTIONS)})")
        self.i += 1  # the `(`
        self.depth += 1
        if self.depth > 32:
            raise ExprError("parentheses nested too deep")
        args = [self.sum()]
        while self.peek() == ",":
            self.i += 1
            args.append(self.sum())
        if self.peek() != ")":
            raise ExprError(f"missing `)` in `{self.text}`")
        self.i += 1
        self.depth -= 1
        if len(args) != 2:
            raise ExprError(f"`{name}` takes 2 arguments, got {len(args)}")
        value = FUNCTIONS[name](*args)
        self.check(value)
        return value

    def check(self, value: int) -> None:
        if abs(value) > MAX_VALUE:
            raise ExprError(f"`{self.text}` is far too large")
