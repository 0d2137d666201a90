"""Numbers read from text, and the ranges they may take: one rule for a file's value and a
command-line option alike (a layer's arguments, the training settings, every command's numeric
options and sizes). Below the layers and the notation, which read their numbers with it.

Pure Python and small: `cnnctl summarize --batch N` reads its number with it at start-up.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import quoted
from .limits import MAX_INT

WHOLE_DIGITS = 19
"""Digits of the longest whole number read: beyond every range (MAX_INT has 10, a seed 19), and
Python's int() of a text of thousands of digits would take long."""


class ArgValueError(ValueError):
    """A written value that does not fit its type; the message says what was expected."""


class TooLarge(ArgValueError):
    """A whole number above its range (MAX_INT for a layer's argument)."""


def is_whole_text(text: str) -> bool:
    """Whether `text` is written as a whole number: ASCII digits with at most one sign (`-3`,
    `+3`; not `--3`, `+-3`, `1_000` or another script's digits)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isdigit() and digits.isascii()


def whole_text(text: str) -> int:
    """A whole number as `is_whole_text` says, of at most WHOLE_DIGITS digits; its range is the
    caller's (a setting's, `parse_int`'s)."""
    text = str(text).strip()
    if not is_whole_text(text):
        raise ArgValueError(f"expected a whole number, got {quoted(text)}")
    if len(text.lstrip("+-")) > WHOLE_DIGITS:
        raise TooLarge(f"{quoted(text)} is far too large")
    return int(text)


def number_text(text: str) -> float:
    """A number in ASCII (`nan` and `inf` too: the caller's range says why they do not fit);
    Python's float() also reads `1_000` and other scripts' digits, which no one means."""
    text = str(text).strip()
    try:
        if not text.isascii() or "_" in text:
            raise ValueError
        return float(text)
    except ValueError:
        raise ArgValueError(f"expected a number, got {quoted(text)}") from None


# Characters a slide or a word processor puts where the notation wants ASCII: each with the
# ASCII it stands for (full-width letters and digits, `５`, are NFKC's: `lookalike_hint`).
LOOKALIKES = {
    "×": "x",  # U+00D7 multiplication sign, `3×3`
    "−": "-",  # U+2212 minus sign
    "–": "-",  # U+2013 en dash
    "—": "-",  # U+2014 em dash
    "“": "",  # U+201C, U+201D curly double quotes: a value is written without quotes
    "”": "",
    "‘": "",  # U+2018, U+2019 curly single quotes
    "’": "",
}


def ascii_spelling(text: str) -> str:
    """`text` with the LOOKALIKES, full-width characters and every script's decimal digits
    (Arabic-Indic `٣`, Devanagari `३`: Unicode's decimal value) written in ASCII."""
    import unicodedata  # on the error path only

    def ascii_of(c: str) -> str:
        digit = unicodedata.decimal(c, None)
        return str(digit) if digit is not None else unicodedata.normalize("NFKC", c)

    return "".join(LOOKALIKES.get(c, ascii_of(c) if ord(c) > 0x7F else c) for c in text)


def lookalike_hint(text: str, name: str = "", written: str | None = None) -> str | None:
    """A hint for a value written with characters that look like ASCII but are not (`3×3`,
    `−0.1`, `５`), naming each and the value in ASCII (after `name=`, an argument's; `written`
    in its place where the plain ASCII needs more, a space after YAML's `:`); None where there
    are none."""
    fixed = ascii_spelling(text)
    if fixed == text or not fixed.isascii():
        return None
    fixed = fixed if written is None else written
    odd = dict.fromkeys(c for c in text if ord(c) > 0x7F)
    named = [f"`{c}` (U+{ord(c):04X}) is not `{ascii_spelling(c)}`" for c in odd if ascii_spelling(c)]
    quotes = [c for c in odd if not ascii_spelling(c)]
    if quotes:
        codes = ", ".join(f"U+{ord(c):04X}" for c in quotes)
        are = "are quotes" if len(quotes) > 1 else "is a quote"
        named.append(f"{' '.join(f'`{c}`' for c in quotes)} ({codes}) {are}: a value needs none")
    written = f"{name}={fixed}" if name else fixed
    return f"write `{written}` in ASCII: {', '.join(named)} (a character from a slide or a word processor)"


class Whole:
    """A whole number from `lo` to `hi` (None: no bound above but the WHOLE_DIGITS digits read)."""

    def __init__(self, lo: int, hi: int | None = MAX_INT):
        self.lo, self.hi = lo, hi
        self.text = f"{lo:,} to {hi:,}" if hi is not None else f"at least {lo:,}"

    def __call__(self, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ArgValueError(f"expected a whole number, got {value!r}")
        if value < self.lo or (self.hi is not None and value > self.hi):
            span = f"from {self.lo:,} to {self.hi:,}" if self.hi is not None else f"at least {self.lo:,}"
            raise ArgValueError(f"must be {span}, got {value:,}")


class Real:
    """A finite number in [lo, hi] ((lo, hi] with lo_open); nan and infinity never pass."""

    def __init__(self, lo: float, hi: float = math.inf, *, lo_open: bool = False):
        self.lo, self.hi, self.lo_open = lo, hi, lo_open
        low = f"greater than {lo:g}" if lo_open else f"of at least {lo:g}"
        if hi == math.inf:
            self.wanted = f"a finite number {low}"
        else:
            self.wanted = f"a finite number {low} and at most {hi:g}" if lo_open else f"a number from {lo:g} to {hi:g}"
        self.text = f"above {lo:g}, at most {hi:g}" if lo_open else f"{lo:g} to {hi:g}"

    def __call__(self, value: Any) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not (self.lo < value if self.lo_open else self.lo <= value) or value > self.hi:
            raise ArgValueError(f"must be {self.wanted}, got {value!r}")
