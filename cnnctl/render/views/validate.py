"""What `cnnctl validate` shows: a file's lines, the table of files, the total."""

from __future__ import annotations

from ...errors import printable
from ...words import exact, plural
from ..table import Column, Table, clean, num


def validate_lines(result: dict) -> list[str]:
    """One file in `validate`'s text report: `ok  FILE  (...)` or `FAIL FILE`, then its problems."""
    name = clean(result["named"])
    if result["ok"]:
        counts = f"{plural(result['layers'], 'layer')}, {result['params']:,} params, {result['mults']:,} mults"
        counts = f"{clean(result['read'])}; {counts}" if "read" in result else counts
        lines = [f"ok  {name}  ({counts})"]
    else:
        lines = [f"FAIL {name}"]
    return lines + ["  " + printable(p).replace("\n", "\n  ") for p in result["problems"]]


def _count(n: int | None) -> str:
    return "-" if n is None else exact(n)  # None: an invalid file has no counts


def validate_table(results: list[dict]) -> Table:
    """`validate`'s report as a table (for --format csv and markdown): one row per file.

    A file's problems (warnings for a valid one) share one cell, each on one line, joined by `; `.
    """
    rows = [
        [
            r["named"],
            r["file"],
            "true" if r["bundled"] else "false",  # as the JSON's
            "ok" if r["ok"] else "fail",  # one case in a column: `FAIL` beside `ok` read as two kinds of value
            r.get("layers"),
            r.get("params"),
            r.get("mults"),
            "; ".join(" ".join(line.strip() for line in p.splitlines()) for p in r["problems"]),
        ]
        for r in results
    ]
    columns = [
        Column("File", squeeze=True, csv=False),  # as named (`vgg`), as the text's lines say it
        Column("file", csv_only=True),  # CSV: the JSON's `file` and `bundled`, the file read (`vgg16.yaml`, true)
        Column("bundled", csv_only=True),
        Column("Status"),
        num("Layers", _count),
        num("Params", _count),
        num("Mults", _count),
        Column("Problems", wrap=True),
    ]
    return Table(validate_total(results), columns, rows)


def validate_total(results: list[dict]) -> str:
    """`1 valid, 2 invalid: a.yaml, b.yaml` (the invalid files named, so the line stands alone)."""
    bad = [clean(r["named"]) for r in results if not r["ok"]]
    line = f"{len(results) - len(bad)} valid, {len(bad)} invalid"
    return f"{line}: {', '.join(bad)}" if bad else line
