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
import sys
from collections.abc import Callable
from typing import IO, Any

from ..errors import printable

# On a terminal a wrapping column (a layer's shorthand) keeps at least this width, and a
# squeezed name column (a layer's path) this one.
WRAP_MIN_WIDTH = 12
SQUEEZE_MIN_WIDTH = 10


class Column:
    """A column's header and how its values are shown.

    Plain classes, not dataclasses: building a dataclass costs a millisecond or more at start-up.
    """

    __slots__ = ("name", "fmt", "right", "wrap", "squeeze", "csv")

    def __init__(
        self,
        name: str,
        fmt: Callable[[Any], str] = str,  # how a raw value is shown in a text table
        *,
        right: bool = False,  # numbers: right-aligned
        wrap: bool = False,  # on a narrow terminal this column wraps; the others do not
        squeeze: bool = False,  # a name: folds too, but only where the table cannot fit otherwise
        csv: bool = True,  # False for a column that only restates another one (a short form)
    ) -> None:
        self.name, self.fmt, self.right, self.wrap, self.squeeze, self.csv = name, fmt, right, wrap, squeeze, csv

    def __repr__(self) -> str:
        return f"Column({self.name!r})"


def num(name: str, fmt: Callable[[Any], str] = str) -> Column:
    """A right-aligned numeric column."""
    return Column(name, fmt, right=True)


class Table:
    """Title, columns, rows of raw values, and lines printed under the table (not in CSV)."""

    __slots__ = ("title", "columns", "rows", "notes")

    def __init__(self, title: str, columns: list[Column], rows: list[list[Any]], notes: list[str] | None = None):
        self.title, self.columns, self.rows, self.notes = title, columns, rows, notes or []


def clean(text: str) -> str:
    """`text` safe for one cell or line: control characters and newlines escaped."""
    return text if text.isprintable() else printable(text).replace("\n", "\\n")


def cells(table: Table) -> list[list[str]]:
    """The rows as shown in a text table: each value through its column's formatter."""
    return [[clean(col.fmt(v)) for col, v in zip(table.columns, row, strict=True)] for row in table.rows]


def plain(table: Table) -> str:
    header = [clean(c.name) for c in table.columns]
    rows = cells(table)
    widths = [len(c) for c in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(row: list[str]) -> str:
        out = [c.rjust(w) if col.right else c.ljust(w) for c, w, col in zip(row, widths, table.columns, strict=True)]
        return "  ".join(out).rstrip()

    parts = [clean(table.title)] if table.title else []
    parts += [line(header), "  ".join("-" * w for w in widths)]
    parts += [line(r) for r in rows]
    if table.notes:
        parts += ["", *map(clean, table.notes)]
    return "\n".join(parts) + "\n"


def markdown(table: Table) -> str:
    def esc(cell: str) -> str:
        return clean(cell).replace("|", "\\|")

    parts = [f"**{esc(table.title)}**", ""] if table.title else []
    parts.append("| " + " | ".join(esc(c.name) for c in table.columns) + " |")
    parts.append("| " + " | ".join("---:" if c.right else "---" for c in table.columns) + " |")
    parts += ["| " + " | ".join(esc(c) for c in row) + " |" for row in cells(table)]
    if table.notes:
        parts += ["", *map(clean, table.notes)]
    return "\n".join(parts) + "\n"


def to_csv(table: Table) -> str:
    """Header and raw values: integers in full without separators, None as an empty field."""
    keep = [i for i, c in enumerate(table.columns) if c.csv]

    def raw(value: Any) -> str:
        return "" if value is None else clean(value) if isinstance(value, str) else str(value)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([clean(table.columns[i].name) for i in keep])
    writer.writerows([raw(row[i]) for i in keep] for row in table.rows)
    return buf.getvalue()


def show(table: Table, fmt: str) -> None:
    """Write `table` to stdout: rich on a terminal, plain text otherwise."""
    if fmt == "markdown":
        sys.stdout.write(markdown(table))
    elif fmt == "csv":
        sys.stdout.write(to_csv(table))
    elif sys.stdout.isatty():
        rich(table)
    else:
        sys.stdout.write(plain(table))


def rich(table: Table, file: IO[str] | None = None, width: int | None = None) -> None:
    """Draw `table` with rich (imported only here) on `file` (stdout) as a terminal.

    Every string is a `rich.text.Text`, never markup. Numbers never wrap; a `wrap` column
    (the shorthand) wraps at spaces, down to WRAP_MIN_WIDTH. A `squeeze` column (the layer
    path) folds too, only when the unwrapped columns and the wrap columns at their minimum
    do not fit the terminal (`summarize googlenet` at 80 columns). Notes are printed as
    they are (soft wrap): the terminal breaks a long one where it must, rather than rich
    breaking `241.04 KiB` in the middle.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    console = Console(file=file, width=width, force_terminal=True if file is not None else None)
    rows = cells(table)
    natural = [max([len(clean(c.name))] + [len(r[i]) for r in rows]) for i, c in enumerate(table.columns)]
    gaps = 2 * (len(natural) - 1)  # one space of padding and one of box between columns
    needed = gaps + sum(min(w, WRAP_MIN_WIDTH) if c.wrap else w for c, w in zip(table.columns, natural, strict=True))
    squeezed = [i for i, c in enumerate(table.columns) if c.squeeze] if needed > console.width else []
    if squeezed:  # names and wrapping columns share what the others leave
        spare = console.width - needed + sum(natural[i] for i in squeezed)
        wraps = sum(c.wrap for c in table.columns)
        share = min(spare // len(squeezed), (spare + WRAP_MIN_WIDTH * wraps) // (len(squeezed) + wraps))
        for i in squeezed:
            natural[i] = min(natural[i], max(SQUEEZE_MIN_WIDTH, share))
            for row in rows:
                row[i] = _break_at_dots(row[i], natural[i])

    out = RichTable(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for i, col in enumerate(table.columns):
        fold = col.wrap or i in squeezed
        out.add_column(
            Text(clean(col.name)),
            justify="right" if col.right else "left",
            no_wrap=not fold,
            overflow="fold" if fold else "ellipsis",
            width=natural[i] if i in squeezed else None,
            min_width=WRAP_MIN_WIDTH if col.wrap else None,
        )
    for row in rows:
        out.add_row(*map(Text, row))
    if table.title:  # not the table's title, which rich would wrap to the table's width
        console.print(Text(clean(table.title), style="bold"), soft_wrap=True)
    console.print(out)
    if table.notes:
        console.print()
    for note in table.notes:
        console.print(Text(clean(note)), soft_wrap=True)


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
