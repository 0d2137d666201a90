"""Numbers read from text, and the ranges they may take: one rule for a file's value and a
command-line option alike (the training settings and every command's numeric options).

Pure Python and small: `cnnctl summarize --batch N` reads its number with it at start-up.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import quoted
from .layers.args import ArgValueError
from .limits import MAX_INT


def whole_text(text: str) -> int:
    """A whole number in ASCII digits with at most one sign; its range is the setting's."""
    text = str(text).strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isdigit() and digits.isascii()):
        raise ArgValueError(f"expected a whole number, got {quoted(text[:24])}")
    if len(digits) > 19:  # beyond any setting's range; int() of a huge text would take long
        raise ArgValueError(f"{quoted(text if len(text) <= 24 else text[:24] + '...')} is far too large")
    return int(text)


def number_text(text: str) -> float:
    """A number in ASCII (`nan` and `inf` too: the setting's range says why they do not fit);
    Python's float() also reads `1_000` and other scripts' digits, which no one means."""
    text = str(text).strip()
    try:
        if not text.isascii() or "_" in text:
            raise ValueError
        return float(text)
    except ValueError:
        raise ArgValueError(f"expected a number, got {quoted(text[:24])}") from None


class Whole:
    """A whole number from `lo` to `hi` (None: no bound above but the 19 digits read)."""

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
