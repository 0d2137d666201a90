"""Whether a picture's text can be drawn by the fonts installed here: a network or run named in
Chinese or Japanese is drawn as boxes ("tofu") by a font without those glyphs.

Graphviz (pango) falls back through fontconfig to any installed font that has a glyph by itself;
matplotlib draws with one font unless given a list (`drawing_fonts`: the fonts fontconfig says
have what DejaVu Sans, its default, lacks). Where no installed font has them, the command warns
once (`missing_glyphs`), naming the characters and what to install. fontconfig is asked once,
through `fc-list` (where there is none, as on Windows, Graphviz's text is not checked).
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator

from ..errors import Problem

MATPLOTLIB_FONT = "DejaVu Sans"  # matplotlib's default sans-serif, shipped with it
INSTALL_FONT = (
    "install a font that has them (Chinese, Japanese, Korean: Debian/Ubuntu `sudo apt install fonts-noto-cjk`, "
    "Fedora `sudo dnf install google-noto-sans-cjk-fonts`), then draw it again"
)
SVG_TEXT = "; or write `.svg`, whose text the browser draws with its own fonts"
_GLYPH = re.compile(r"Glyph (\d+) .*missing from (?:current )?font")  # matplotlib's warning


@functools.cache
def _fonts() -> tuple[tuple[str, frozenset[int]], ...] | None:
    """Each installed font's family and the code points it has, as fontconfig lists them; None
    where it cannot be asked."""
    program = shutil.which("fc-list")
    if program is None:
        return None
    try:
        done = subprocess.run([program, "--format", "%{family[0]}|%{charset}\n"], capture_output=True,
                              text=True, timeout=20, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    fonts = []
    for line in done.stdout.splitlines():
        family, _, ranges = line.partition("|")
        points: set[int] = set()
        for span in ranges.split():
            first, _, last = span.partition("-")
            with contextlib.suppress(ValueError):
                points.update(range(int(first, 16), int(last or first, 16) + 1))
        fonts.append((family, frozenset(points)))
    return tuple(fonts)


def _drawn(text: str) -> list[str]:
    """The characters of `text` a font must have, once each, in order: not ASCII (every font
    has it), not a space or a control."""
    return list(dict.fromkeys(c for c in text if ord(c) > 0x7E and c.isprintable() and not c.isspace()))


def no_font_has(text: str) -> str:
    """The characters of `text` that no installed font has ("" where fontconfig cannot tell)."""
    fonts = _fonts()
    if not fonts:
        return ""
    return "".join(c for c in _drawn(text) if not any(ord(c) in points for _, points in fonts))


def fallbacks(text: str, first: str = MATPLOTLIB_FONT) -> list[str]:
    """The families that have the characters of `text` the font `first` lacks, one for each
    such character (the first font fontconfig lists with it), each once."""
    fonts = _fonts() or ()
    own = next((points for family, points in fonts if family == first), None)
    if own is None:
        return []
    found: dict[str, None] = {}
    for c in _drawn(text):
        if ord(c) not in own:
            family = next((f for f, points in fonts if ord(c) in points and f != first), None)
            if family is not None:
                found[family] = None
    return list(found)


def missing_glyphs(chars: str, path: str, svg_is_text: bool = True) -> Problem:
    """The warning that `path` shows `chars` as boxes: no font here has them. `svg_is_text`: the
    same picture as SVG keeps its text as text (draw's; matplotlib's plot writes paths)."""
    more = f" and {len(chars) - 8} more" if len(chars) > 8 else ""
    shown = ", ".join(f"{c} (U+{ord(c):04X})" for c in chars[:8]) + more
    hint = INSTALL_FONT + (SVG_TEXT if svg_is_text else "")
    return Problem(f"no font installed here has {shown}: `{path}` shows them as empty boxes", hint=hint)


@contextlib.contextmanager
def drawing_fonts(text: str) -> Iterator[list[str]]:
    """matplotlib drawing `text` in DejaVu Sans, then in the installed fonts that have what it
    lacks; yields the list that holds, once the block is done, the characters still drawn as
    boxes (from matplotlib's own warnings, which are not shown: the caller warns once)."""
    from .mpl import matplotlib_module

    matplotlib_module("figure")  # NoMatplotlib where it cannot be imported
    import matplotlib

    lacking: list[str] = []
    with (
        warnings.catch_warnings(record=True) as caught,
        matplotlib.rc_context({"font.family": [MATPLOTLIB_FONT, *fallbacks(text)]}),
    ):
        warnings.simplefilter("always")
        yield lacking
    for w in caught:
        found = _GLYPH.search(str(w.message))
        if found:
            lacking.append(chr(int(found.group(1))))
        else:  # any other warning, as it would have been shown
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    lacking[:] = list(dict.fromkeys(lacking))
