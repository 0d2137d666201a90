"""A table as data (title, columns, rows of raw values, notes) and its four renderings.

Rows hold raw values (ints, strings, None); each column says how a value is shown. Plain
text, Markdown and rich apply that; CSV writes the raw values (`4089184256`, bytes as an
integer), so a script can read it.

Every string that reaches the output goes through `clean`: a control character from a
file (an ESC, say) is escaped, so a network's name cannot drive the terminal. On a
terminal nothing is read as rich markup: `name: "net [/v2]"` is shown as written.

Plain text is written by hand rather than through rich: when output is piped, this is
what scripts and benchmarks read, and it must be fast (no rich import at all).
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable

from ..errors import bytes_escaped, one_line
from ..terminal import color_system

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from typing import IO, Any

# On a terminal a wrapping column (a layer's shorthand) keeps at least this width, and a
# squeezed name column (a layer's path) this one; both go down to FOLD_MIN_WIDTH only where
# the table would not fit otherwise. Other columns (numbers, shapes) keep their full width.
WRAP_MIN_WIDTH = 12
SQUEEZE_MIN_WIDTH = 10
FOLD_MIN_WIDTH = 10


class Column:
    """A column's header and how its values are shown.

    Plain classes, not dataclasses: building a dataclass costs a millisecond or more at start-up.
    """

    __slots__ = ("name", "fmt", "right", "wrap", "squeeze", "csv", "key", "csv_only", "least", "prose", "paths")

    def __init__(
        self,
        name: str,
        fmt: Callable[[Any], str] = str,  # how a raw value is shown in a text table
        *,
        right: bool = False,  # numbers: right-aligned
        wrap: bool = False,  # on a narrow terminal this column wraps; the others do not
        squeeze: bool = False,  # a name: folds too, but only where the table cannot fit otherwise
        csv: bool = True,  # False for a column that only restates another one (a short form)
        key: str | None = None,  # the CSV header, where `name` needs its neighbours (two `Share` columns)
        csv_only: bool = False,  # a column only CSV writes (text shows it in another table)
        least: int | None = None,  # a wrap column that gives way first, down to this width
        prose: bool = False,  # free text (a description): wraps in plain text too, given a width
        paths: bool = False,  # a wrap column of layer paths (From): a path breaks after a dot, as a squeeze one's
    ) -> None:
        self.name, self.fmt, self.right, self.wrap, self.squeeze, self.csv = name, fmt, right, wrap, squeeze, csv
        self.key, self.csv_only, self.least, self.prose = key or csv_key(name), csv_only, least, prose
        self.paths = paths

    def __repr__(self) -> str:
        return f"Column({self.name!r})"


def csv_key(title: str) -> str:
    """A column's title as its CSV header, in the snake_case of JSON's keys: `Mults share` ->
    `mults_share`, `Layer` -> `layer`. A header that carries a name from the data (a class, a
    network) is given as the column's `key` instead, the name as written."""
    return "_".join(re.findall(r"[0-9a-z]+", title.lower()))


def num(name: str, fmt: Callable[[Any], str] = str, key: str | None = None) -> Column:
    """A right-aligned numeric column (`key`: its CSV header, where not `name`'s)."""
    return Column(name, fmt, right=True, key=key)


def maybe(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    """`fmt` for a cell that may be None (not measured, not known), shown as `-`."""
    return lambda v: "-" if v is None else fmt(v)


class Table:
    """Title, columns, rows of raw values, and lines printed under the table (not in CSV); and
    rows only CSV writes, after the others: what a text table says in its title or notes
    (evaluate's `overall` row)."""

    __slots__ = ("title", "columns", "rows", "notes", "csv_rows")

    def __init__(
        self,
        title: str,
        columns: list[Column],
        rows: list[list[Any]],
        notes: list[str] | None = None,
        csv_rows: list[list[Any]] | None = None,
    ) -> None:
        self.title, self.columns, self.rows, self.notes = title, columns, rows, notes or []
        self.csv_rows = csv_rows or []


def clean(text: str) -> str:
    """`text` safe for one cell or line: control characters and newlines escaped."""
    return text if text.isprintable() else one_line(text)


def shown(table: Table) -> list[Column]:
    """The columns of a text table (plain, Markdown, rich): all but the csv-only ones."""
    return [c for c in table.columns if not c.csv_only]


def cells(table: Table) -> list[list[str]]:
    """The rows as shown in a text table: each value through its column's formatter."""
    return [
        [clean(col.fmt(v)) for col, v in zip(table.columns, row, strict=True) if not col.csv_only] for row in table.rows
    ]


# Markdown: only what would be read as markup where the text stands. Anywhere in a line, the
# characters that start inline markup in GitHub-flavoured Markdown: emphasis, code, links (and
# so images: `!` alone is plain), HTML (and so `>` alone is plain: `->` stays as written),
# entities, strikethrough and math; in a table cell also the cell separator `|`. A paragraph
# (a note) has the character escaped that would make its line a block: a quote, a heading, a
# list item or a rule. Digits, `,`, `.`, `%`, `x`, `-` and parentheses stay: numbers and
# shapes are readable in the source.
_INLINE = "\\`*_[]<~&$"
_CELL_ESCAPES = str.maketrans({c: "\\" + c for c in _INLINE + "|"})
_LINE_ESCAPES = str.maketrans({c: "\\" + c for c in _INLINE})
_BLOCK_START = re.compile(r"^( {0,3})(>|#{1,6}(?=\s|$)|[-+](?=\s|$)|-(?=-))")  # `*` and `_`: escaped anyway
_ORDERED_START = re.compile(r"^( {0,3}[0-9]{1,9})([.)])(?=\s|$)")  # `1. ` starts a numbered list


def markdown_text(text: str, cell: bool = True) -> str:
    """`text` shown as written, never as markup: in a table cell (`cell`), or as a line of its
    own (a paragraph, a title)."""
    if cell:
        return clean(text).translate(_CELL_ESCAPES)
    line = clean(text).translate(_LINE_ESCAPES)
    return _ORDERED_START.sub(r"\1\\\2", _BLOCK_START.sub(r"\1\\\2", line))


def plain(table: Table, width: int | None = None) -> str:
    """Plain text (piped): every row on one line, every cell whole, for grep and scripts (as
    summarize's), whatever $COLUMNS says; only given a `width`, a `prose` column wrapped to
    lines of it."""
    columns = shown(table)
    header = [clean(c.name) for c in columns]
    rows = cells(table)
    widths = [len(c) for c in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    if width is not None and any(c.prose for c in columns):
        rows = _wrap_prose(columns, rows, widths, width)

    def line(row: list[str]) -> str:
        out = [c.rjust(w) if col.right else c.ljust(w) for c, w, col in zip(row, widths, columns, strict=True)]
        return "  ".join(out).rstrip()

    parts = [clean(table.title)] if table.title else []
    parts += [line(header), "  ".join("-" * w for w in widths)]
    parts += [line(r) for r in rows]
    if table.notes:
        parts += ["", *map(clean, table.notes)]
    return "\n".join(parts) + "\n"


def _wrap_prose(columns: list[Column], rows: list[list[str]], widths: list[int], width: int) -> list[list[str]]:
    """`rows` with each `prose` cell wrapped at spaces to fit lines of `width` (the prose
    columns narrowed, `widths` updated, down to WRAP_MIN_WIDTH and never below their longest
    word, which is never broken): a wrapped row goes on in lines of its own, the other cells
    blank there."""
    import textwrap

    prose = [i for i, c in enumerate(columns) if c.prose]
    longest = {i: max((len(w) for r in rows for w in r[i].split()), default=0) for i in prose}
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0:
        widest = max(prose, key=lambda i: widths[i])
        if widths[widest] <= max(WRAP_MIN_WIDTH, len(columns[widest].name), longest[widest]):
            break
        widths[widest] -= 1
        excess -= 1
    out = []
    for row in rows:
        wrapped = (textwrap.wrap(row[i], widths[i], break_long_words=False, break_on_hyphens=False) for i in prose)
        pieces = {i: lines or [""] for i, lines in zip(prose, wrapped, strict=True)}
        for n in range(max(len(p) for p in pieces.values())):
            line = list(row) if n == 0 else [""] * len(row)
            for i, lines in pieces.items():
                line[i] = lines[n] if n < len(lines) else ""
            out.append(line)
    return out


def markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table: the title in bold, then the table, then each note as a paragraph."""
    esc = markdown_text
    columns = shown(table)
    parts = [f"**{esc(table.title, cell=False)}**", ""] if table.title else []
    parts.append("| " + " | ".join(esc(c.name) for c in columns) + " |")
    parts.append("| " + " | ".join("---:" if c.right else "---" for c in columns) + " |")
    parts += ["| " + " | ".join(esc(c) for c in row) + " |" for row in cells(table)]
    for note in table.notes:  # a blank line before each: consecutive lines would join in one paragraph
        parts += ["", esc(note, cell=False)]
    return "\n".join(parts) + "\n"


def to_csv(table: Table, terminal: bool = False) -> str:
    """Header and raw values: integers in full without separators, None as an empty field; a
    text as written (a class named with an ESC or a line break too: the csv module quotes what
    needs it), as JSON gives it, a name that is not UTF-8 as its bytes (`r\\xe9`). Data for a
    program: escaped only where it goes to a `terminal`, which its control characters would drive."""
    keep = [i for i, c in enumerate(table.columns) if c.csv]
    text = clean if terminal else bytes_escaped

    def raw(value: Any) -> str:
        return "" if value is None else text(value) if isinstance(value, str) else str(value)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([text(table.columns[i].key) for i in keep])
    writer.writerows([raw(row[i]) for i in keep] for row in [*table.rows, *table.csv_rows])
    return buf.getvalue()


def show(table: Table, fmt: str) -> None:
    """Write `table` to stdout: rich on a terminal, plain text otherwise."""
    if fmt == "markdown":
        sys.stdout.write(markdown(table))
    elif fmt == "csv":
        sys.stdout.write(to_csv(table, terminal=sys.stdout.isatty()))
    elif sys.stdout.isatty():
        rich(table)
    else:
        sys.stdout.write(plain(table))


def rich(table: Table, file: IO[str] | None = None, width: int | None = None) -> None:
    """Draw `table` with rich (imported only here) on `file` (stdout) as a terminal.

    Every string is a `rich.text.Text`, never markup. Numbers and shapes are never cut,
    wrapped or ellipsized: their columns are as wide as their widest cell. A `wrap` column
    (the shorthand) wraps at spaces, down to WRAP_MIN_WIDTH, never inside a word. A `squeeze`
    column (the layer path) breaks after dots, only when the other columns and the wrap
    columns at their minimum do not fit the terminal (`summarize googlenet` at 82 columns),
    and only where that makes the table fit; a name without dots is never broken. A table
    that cannot fit is drawn wider than the terminal, which wraps its lines: a number is
    never cut. Notes are printed as they
    are (soft wrap): the terminal breaks a long one where it must, rather than rich
    breaking `241.04 KiB` in the middle.
    """
    from rich import box
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    terminal = True if file is not None else None
    console = Console(file=file, width=width, force_terminal=terminal, color_system=color_system())
    columns, rows = shown(table), cells(table)
    natural = [max([cell_len(clean(c.name))] + [cell_len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    gaps = 2 * (len(natural) - 1)  # one space of padding and one of box between columns
    widths = _fit(columns, natural, console.width - gaps, _unbreakable(columns, rows), _unbreakable(columns, rows, 0))
    for i, col in enumerate(columns):
        if (col.squeeze or col.paths) and widths[i] < natural[i]:
            for row in rows:
                row[i] = " ".join(_break_at_dots(w, widths[i]) for w in row[i].split(" "))

    total = sum(widths) + gaps
    out = RichTable(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        # Every width is decided above. A table that cannot fit is drawn wider than the
        # terminal (which wraps the line) rather than rich shrinking a number column. (A
        # table given a width also expands to it: only one that cannot fit gets one.)
        width=total if total > console.width else None,
    )
    for i, col in enumerate(columns):
        fold = col.wrap or col.squeeze
        out.add_column(
            Text(clean(col.name)),
            justify="right" if col.right else "left",
            width=widths[i],
            no_wrap=not fold,
            overflow="fold" if fold else "crop",  # crop: never reached, the column fits its widest cell
        )
    for row in rows:
        out.add_row(*map(Text, row))
    if table.title:  # not the table's title, which rich would wrap to the table's width
        console.print(Text(clean(table.title), style="bold"), soft_wrap=True)
    console.print(out, crop=False)
    if table.notes:
        console.print()
    for note in table.notes:
        console.print(Text(clean(note)), soft_wrap=True)


def _unbreakable(columns: list[Column], rows: list[list[str]], dots: bool = True) -> list[int]:
    """Per column, the widest piece a cell may not be broken inside: a wrap column's longest
    word (a shorthand's `key=value` pair, a description's `MobileNetV3-Large`: rich would fold
    it, `act=softma` over `x`), a squeeze or `paths` column's longest piece between dots (a
    path breaks only after a dot, `(46 other layers)` at its spaces; a name without dots,
    `convnext_tiny`, never), or without `dots` its longest word; 0 for the others."""
    from rich.cells import cell_len

    def pieces(col: Column, cell: str) -> list[str]:
        if not (col.wrap or col.squeeze):
            return []
        if not (dots and (col.squeeze or col.paths)):
            return cell.split()
        return [p for word in cell.split() for p in re.findall(r"[^.]*\.|[^.]+$", word)]

    return [max((cell_len(p) for r in rows for p in pieces(c, r[i])), default=0) for i, c in enumerate(columns)]


def _fit(
    columns: list[Column], natural: list[int], room: int, words: list[int] | None = None, whole: list[int] | None = None
) -> list[int]:
    """Column widths (without the gaps) for `room` characters: only `wrap` and `squeeze` columns shrink.

    First the columns that give way first (`least`: summarize's From), down to their least;
    then the wrap columns, down to WRAP_MIN_WIDTH; then wrap and squeeze columns together,
    the widest first, down to WRAP_MIN_WIDTH and SQUEEZE_MIN_WIDTH; then both down to
    FOLD_MIN_WIDTH. No column goes below its header or its widest unbreakable piece (`words`,
    per column: see `_unbreakable`). Where the table still does not fit, a column of paths
    (squeeze or `paths`) keeps its longest word whole (`whole`; a squeeze column, without
    `whole`, its natural width): a path broken after its dots would not make it fit, and the
    table is drawn wider anyway. The sum may stay above `room`: the other columns never shrink.
    """
    words = words or [0] * len(columns)
    whole = whole or natural
    widths = list(natural)
    wraps = [i for i, c in enumerate(columns) if c.wrap]
    texts = [i for i, c in enumerate(columns) if c.wrap or c.squeeze]
    dotted = [i for i, c in enumerate(columns) if c.squeeze or c.paths]
    first = [i for i, c in enumerate(columns) if c.least is not None]
    stages = (
        (first, lambda i: columns[i].least),
        (wraps, lambda i: WRAP_MIN_WIDTH),
        (texts, lambda i: WRAP_MIN_WIDTH if columns[i].wrap else SQUEEZE_MIN_WIDTH),
        (texts, lambda i: FOLD_MIN_WIDTH),
    )
    for shrinking, floor in stages:
        excess = sum(widths) - room
        while excess > 0:
            # a header is not folded, nor a word, nor a path between its dots
            free = [i for i in shrinking if widths[i] > min(natural[i], max(floor(i), len(columns[i].name), words[i]))]
            if not free:
                break
            widest = max(free, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    if sum(widths) > room:
        for i in dotted:
            widths[i] = max(widths[i], min(whole[i], natural[i]))
    return widths


def _break_at_dots(path: str, width: int) -> str:
    """`inception3a.branch1.conv1` in lines of at most `width`, broken after a dot where it can."""
    parts = [p + "." for p in path.split(".")]
    parts[-1] = parts[-1][:-1]
    lines = [""]
    for part in parts:
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)
