"""Exact numbers and their text: an int, or a `fractions.Fraction` where a value is not whole.

`read_number` reads a value's text (`7`, `-3`, `1.1`, `1e-3`, the `64/3` that `format_number`
writes) exactly; `format_number` writes one back. The notation's expressions (`${...}`,
`notation/expr.py`) compute with them, and the layers read a number argument with them, so
they sit below both. `fractions` is imported only when a fraction appears: most files never
need it.
"""

from __future__ import annotations

import re

from .errors import quoted
from .limits import MAX_DIGITS

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from fractions import Fraction

    Number = int | Fraction

# A number as a value's text: the `a/b` that `format_number` writes, or a decimal as a float
# argument may be written (`1`, `1.5`, `.5`, `1e-3`: a family's `dropout=1e-3` is its `width`'s kind).
_NUMBER_TEXT = re.compile(r"\s*([+-]?)(?:([0-9]+)/([0-9]+)|([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?)\s*")


class ExprError(ValueError):
    """What is wrong with an expression, in words."""


class ExprTooLarge(ExprError):
    """A number past the bound an expression's values keep to (`cnnctl.notation.expr.MAX_VALUE`,
    `MAX_DIGITS` digits written): its hint is that bound, not the syntax."""


def fraction(numerator: int, denominator: int = 1) -> Number:
    """numerator / denominator exactly: an int when whole, else a Fraction."""
    if numerator % denominator == 0:
        return numerator // denominator
    from fractions import Fraction  # here: only files with fractions pay for the import

    return Fraction(numerator, denominator)


def format_number(value: Number) -> str:
    """The text a value is written back as: `5`, `35.2`, `-0.125`, or `64/3` when no decimal is exact."""
    if isinstance(value, int):
        return str(value)
    n, d = value.numerator, value.denominator
    twos = (d & -d).bit_length() - 1
    fives, rest = 0, d >> twos
    while rest % 5 == 0:
        fives, rest = fives + 1, rest // 5
    if rest != 1:  # a third, a seventh: no decimal ends
        return f"{n}/{d}"
    places = max(twos, fives)
    digits = str(abs(n) * 10**places // d).rjust(places + 1, "0")
    return f"{'-' if n < 0 else ''}{digits[:-places]}.{digits[-places:]}"


def read_number(text: str) -> Number | None:
    """A value's text as a number (`7`, `-3`, `1.1`, `1e-3`, `64/3`), None if it is not one; a
    number with more than MAX_DIGITS digits either side of its point, as written or once its
    exponent moves the point, raises ExprError."""
    m = _NUMBER_TEXT.fullmatch(text)
    if m is None:
        return None
    sign, over_whole, over, whole, decimals, exponent = m.groups()
    shown = quoted(text.strip(), 24)
    if over is not None:  # a/b
        whole, decimals = over_whole, ""
    elif not (whole or decimals):  # `.`, `e5`, a sign alone
        return None
    whole, decimals = whole or "", decimals or ""
    shift = _exponent(exponent)
    if len(whole) > MAX_DIGITS or len(over or "") > MAX_DIGITS or len(whole) + shift > MAX_DIGITS:
        raise ExprTooLarge(f"{shown} is far too large")
    if len(decimals) > MAX_DIGITS or len(decimals) - shift > MAX_DIGITS:
        raise ExprError(f"{shown} has too many decimals (at most {MAX_DIGITS})")
    numerator = int(whole + decimals) * 10 ** max(0, shift - len(decimals))
    denominator = 10 ** max(0, len(decimals) - shift) if over is None else int(over)
    if denominator == 0:
        raise ExprError(f"division by zero in {shown}")
    return fraction(-numerator if sign == "-" else numerator, denominator)


def _exponent(text: str | None) -> int:
    """How far `e-3` moves the point; one of more digits than any number here has, far enough to
    be refused, without reading it (Python will not read an int of 5,000 digits)."""
    if text is None:
        return 0
    digits = text.lstrip("+-")
    moved = int(digits) if len(digits) <= 4 else 10**4
    return -moved if text.startswith("-") else moved


def is_fraction_text(text: str) -> bool:
    """Whether `text` is a number that is not whole (`38.4`, `64/3`): what a layer's whole
    number argument gets from `${32 * 1.2}`."""
    try:
        return not isinstance(read_number(text), int | None)
    except ExprError:
        return False
