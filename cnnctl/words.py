"""How numbers are written: exact with thousands separators, and short with a unit."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

_UNITS = (
    (10**24, "Y"),
    (10**21, "Z"),
    (10**18, "E"),
    (10**15, "P"),
    (10**12, "T"),
    (10**9, "G"),
    (10**6, "M"),
    (10**3, "K"),
)


def exact(n: int) -> str:
    """`15470264320` -> `15,470,264,320`."""
    return f"{n:,}"


def short(n: int) -> str:
    """`15470264320` -> `15.47 G`; `61706` -> `61.71 K`; below 1000 the number itself.

    Units go up to Y (10**24); larger numbers are written in Y (`1234.00 Y`).
    """
    if abs(n) < 1000:
        return str(n)
    for scale, unit in _UNITS:
        # Compare after rounding, so 999,999 is `1.00 M` rather than `1000.00 K`.
        if round(abs(n) / scale, 2) >= 1:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def both(n: int) -> str:
    """`15,470,264,320 (15.47 G)`; small numbers stay alone."""
    return exact(n) if abs(n) < 1000 else f"{exact(n)} ({short(n)})"


_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def size(nbytes: int) -> str:
    """Bytes in binary units: `58.61 MiB`, `1,023.87 MiB`; up to YiB (2**80), larger sizes in YiB."""
    return size_in(nbytes, size_unit(nbytes))


def size_unit(nbytes: int) -> str:
    """The binary unit `size` writes `nbytes` in: the largest where the value, rounded to two
    decimals, is below 1024 (`B` below 1 KiB; YiB for all larger)."""
    value = float(nbytes)
    for unit in _BINARY:
        if value < 1024 if unit == "B" else round(value, 2) < 1024 or unit == _BINARY[-1]:
            return unit
        value /= 1024
    raise AssertionError  # pragma: no cover


def size_in(nbytes: int, unit: str) -> str:
    """Bytes in the binary `unit` given, as `size` writes them: figures shown side by side in
    one unit (`1.02 GiB` above `0.99 GiB`, not `1,014.30 MiB`)."""
    if unit == "B":
        return f"{nbytes:,.0f} B"
    return f"{nbytes / 1024 ** _BINARY.index(unit):,.2f} {unit}"


def ratio(x: float) -> str:
    """A ratio to 3 significant digits, its integer digits all kept, with an `x`: `4,355x`,
    `29.7x`, `1.25x`, `0.0123x`."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}x"
    decimals = max(2 - math.floor(math.log10(abs(x))), 0)
    if round(abs(x), decimals) >= 10 ** (3 - decimals) and decimals:  # 9.996 -> 10.0: one digit fewer after the point
        decimals -= 1
    return f"{x:,.{decimals}f}x"


_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def duration(seconds: float) -> str:
    """A time in the unit that fits, to 3 significant digits: `10.1 ns`, `201 ns`, `2.50 ms`,
    `1,234 s`; below a nanosecond still in ns (`0.500 ns`), and 0 as `0 s`."""
    digits = 3
    if seconds == 0 or not math.isfinite(seconds):
        return "0 s" if seconds == 0 else str(seconds)
    for scale, unit in _TIME_UNITS:
        value = abs(seconds) / scale
        # the unit where the value, once rounded, is at least 1 (999.96 µs is `1.00 ms`)
        if round(value, max(digits - 1, 0)) >= 1 or unit == "ns":
            decimals = max(digits - 1 - math.floor(math.log10(value)), 0)
            if round(value, decimals) >= 10 ** (digits - decimals):  # 9.996 -> 10.0, one digit fewer after the point
                decimals = max(decimals - 1, 0)
            return f"{math.copysign(value, seconds):,.{decimals}f} {unit}"
    raise AssertionError  # pragma: no cover


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def share(fraction: float | None) -> str:
    """A fraction as a percentage: `0.25` -> `25.0%`; None (no whole to share) -> `-`."""
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def accuracy(value: float | None) -> str:
    """An accuracy (or IoU) in percent to two places: `0.9871` -> `98.71%`; None or NaN -> `-`."""
    return "-" if value is None or value != value else f"{value:.2%}"


def loss(x: float) -> str:
    """A loss in its column: `0.1234`; a diverging one in powers of ten, `7.638e+30`, not 35 digits."""
    return f"{x:.4f}" if abs(x) < 1e5 else f"{x:.4g}"


def first(items: Iterable[object], most: int) -> str:
    """`a, b, c`; `a, b, c, ...` when there are more than `most`: "..." only where some are left out."""
    items = [str(i) for i in items]
    return ", ".join(items[:most]) + (", ..." if len(items) > most else "")


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 layer`, `2 layers`, `1,000 layers`; `many` where adding an s is not the plural (`batches`)."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {many or word + 's'}"


def json_safe(data: object) -> object:
    """`data` with every NaN or infinite float, at any depth, replaced by None (JSON's null).

    RFC 8259 has no NaN or Infinity: Python's `json` would write them as bare `NaN`, which
    strict parsers (jq, JavaScript's JSON.parse) refuse.
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


def utf8_safe(data: object) -> object:
    """`data` with every string, at any depth (a dict's keys too), UTF-8 text: a name the OS
    gave that is not UTF-8 (Python holds its bytes as surrogates, `r\\udce9`) written as its
    bytes, `r\\xe9`, as the terminal shows it (cnnctl.errors.bytes_escaped). JSON would write
    the surrogate as `\\udce9`: valid JSON text, but what it decodes to cannot be encoded
    again (Python's `.encode()` raises, jq prints U+FFFD)."""
    from .errors import bytes_escaped

    if isinstance(data, str):
        return bytes_escaped(data)
    if isinstance(data, dict):
        return {utf8_safe(key): utf8_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [utf8_safe(value) for value in data]
    return data


def json_text(data: object) -> str:
    """`data` as valid JSON (RFC 8259: a NaN or infinite float becomes null; every string
    UTF-8 text, `utf8_safe`) that a person can read and that is fast to write: the top two
    levels indented, each deeper value on one line (a summary's layer rows one per line, as
    JSON Lines). Every `--format json` document is written here.

    Python's `json` writes indented output in pure Python, 3 s for 100,000 layer rows;
    each compact value goes through its C encoder instead.
    """
    try:
        text = _readable(data, 0)
    except ValueError:  # NaN or infinity somewhere (allow_nan=False refuses them): replace, write again
        data = json_safe(data)
        text = _readable(data, 0)
    # A surrogate is written `\udXXX` (so is a letter U+D000..U+D7FF, and a character past
    # U+FFFF as a pair): only then is the document walked for a name that is not UTF-8.
    if "\\ud" in text:
        text = _readable(utf8_safe(json_safe(data)), 0)
    return text


_COMPACT = json.JSONEncoder(allow_nan=False)
# The C encoder itself, made once: `JSONEncoder.encode` makes a new one for every value
# (a third of the time of 100,000 rows). `c_make_encoder` is None where Python was built
# without the C accelerator; `encode` then does the same work in Python.
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
if _C_ENCODER is not None:
    _c = _C_ENCODER(None, _COMPACT.default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, False)

    def _compact(value: object) -> str:
        return "".join(_c(value, 0))
else:  # pragma: no cover - CPython always has it
    _compact = _COMPACT.encode


_INDENT = 2  # spaces a level of a JSON document is indented by


def _readable(data: object, level: int) -> str:
    if level >= 2 or not isinstance(data, (dict, list)) or not data:
        return _compact(data)
    inner = " " * (_INDENT * (level + 1))
    if isinstance(data, dict):
        items = [f"{inner}{_compact(str(k))}: {_readable(v, level + 1)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * (_INDENT * level) + "}"
    if level == 1:  # the deepest indented level: each item compact, without a call per item to get there
        items = [inner + _compact(v) for v in data]
    else:
        items = [f"{inner}{_readable(v, level + 1)}" for v in data]
    return "[\n" + ",\n".join(items) + "\n" + " " * (_INDENT * level) + "]"
