"""A table as data (title, columns, rows, notes) and its four renderings.

Plain text is written by hand rather than through rich: when output is piped, this is
what scripts and benchmarks read, and it must be fast (no rich import at all).
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    right: set[int] = field(default_factory=set)  # indices of right-aligned (numeric) columns
    notes: list[str] = field(default_factory=list)  # lines printed under the table


def plain(table: Table) -> str:
    widths = [len(c) for c in table.columns]
    for row in table.rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        out = [c.rjust(widths[i]) if i in table.right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(out).rstrip()

    parts = [table.title] if table.title else []
    parts += [line(table.columns), "  ".join("-" * w for w in widths)]
    parts += [line(r) for r in table.rows]
    if table.notes:
        parts += ["", *table.notes]
    return "\n".join(parts) + "\n"


def markdown(table: Table) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    parts = [f"**{esc(table.title)}**", ""] if table.title else []
    parts.append("| " + " | ".join(esc(c) for c in table.columns) + " |")
    parts.append("| " + " | ".join("---:" if i in table.right else "---" for i in range(len(table.columns))) + " |")
    parts += ["| " + " | ".join(esc(c) for c in r) + " |" for r in table.rows]
    if table.notes:
        parts += ["", *table.notes]
    return "\n".join(parts) + "\n"


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return buf.getvalue()


def show(table: Table, fmt: str) -> None:
    """Write `table` to stdout: rich on a terminal, plain text otherwise."""
    if fmt == "markdown":
        sys.stdout.write(markdown(table))
    elif fmt == "csv":
        sys.stdout.write(to_csv(table))
    elif sys.stdout.isatty():
        _rich(table)
    else:
        sys.stdout.write(plain(table))


def _rich(table: Table) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    out = RichTable(title=table.title or None, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold")
    for i, column in enumerate(table.columns):
        out.add_column(column, justify="right" if i in table.right else "left", no_wrap=i != 1)
    for row in table.rows:
        out.add_row(*row)
    console = Console()
    console.print(out)
    for note in table.notes:
        console.print(note, highlight=False, markup=False)
