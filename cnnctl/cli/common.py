"""What the commands share, without the command-line framework: output formats, the JSON
and table output, loading a network. Imported by tests and by every command module."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from ..errors import one_line
from ..files import DASH

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..errors import Problem
    from ..graph import Graph


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"

    def __str__(self) -> str:  # the word itself (typer maps an enum option's value back through str())
        return self.value


def examples(*lines: tuple[str, str]) -> Callable[[Callable], Callable]:
    """A command's examples, the last section of its --help: (the command line, what it does)
    pairs, written above its handler. tests/test_help_examples.py parses every line with the
    command's own options and runs the analysis commands' ones."""

    def attach(handler: Callable) -> Callable:
        handler.examples = lines
        return handler

    return attach


_written = []  # the JSON documents a command has written (an error after one adds no second)

# The version of every `--format json` document's layout, its first key `format_version`: raised when a key
# is renamed or removed or its meaning changes, so that a script can tell which layout it reads.
FORMAT_VERSION = 1


def print_json(data: dict) -> None:
    """Valid JSON (RFC 8259) on stdout: a NaN or infinite float is written as null; the
    document (always an object) opens with its `format_version`."""
    from ..words import json_text

    sys.stdout.write(json_text({"format_version": FORMAT_VERSION, **data}) + "\n")
    _written.append(True)


def print_lines(lines: Sequence[str]) -> None:
    """A command's report in lines on stdout (`wrote FILE: ...`, as every writer says it), each
    kept to one line: a name or file from the user escaped, as messages write it."""
    sys.stdout.write("".join(one_line(line) + "\n" for line in lines))


def to_stdout(output: str | None) -> bool:
    """Whether `-o` names standard output, where a command's file is text: left out, or `-`."""
    return output is None or output == DASH


def asked_json(argv: list[str]) -> bool:
    """Whether the command line asks for JSON (`--format json`, `-f json`, `--format=json`)."""
    args = argv[: argv.index("--")] if "--" in argv else argv
    pairs = zip(args, [*args[1:], ""], strict=False)  # each word and the next: none left (`[]`) is no pair
    return any(a in ("--format=json", "-fjson") or a in ("-f", "--format") and b == "json" for a, b in pairs)


def errors_json(problems: Sequence[Problem], argv: list[str], warnings: Sequence[Problem] = ()) -> None:
    """A command's mistakes on stdout as JSON where the command line asked for JSON and no
    document was written: `{"errors": [...]}`, each problem as `validate --format json` gives
    it (file, line, column, message, hint, text), and `"warnings"` found with them, if any;
    the message on stderr stays as it is."""
    if _written or not asked_json(argv):
        return
    from ..render.views.problems import problem_json

    document = {"errors": [problem_json(p) for p in problems]}
    if warnings:
        document["warnings"] = [problem_json(w, "warning") for w in warnings]
    print_json(document)


def show_result(
    format: Format, data: Callable[[], object], tables: Callable[[], list], graph: Graph | list[Graph] | None = None
) -> None:
    """JSON for scripts; else the tables in the chosen text format, after the graph's warnings
    (`graph`: one network, or the list of those compared); in JSON, its `warnings` (with_warnings).

    Several tables are separated by a blank line (in Markdown, the line that ends a table);
    CSV writes the first table only (a CSV stream has one header; the first carries the
    others' values in csv-only columns where they matter, as evaluate's confusion matrix).
    """
    graphs = [] if graph is None else graph if isinstance(graph, list) else [graph]  # (a Graph is a tuple)
    if format is Format.json:
        print_json(with_warnings(data(), graphs) if graphs else data())
        return
    from ..render.table import show

    for one in graphs:
        print_warnings(one)
    shown = tables()
    if format is Format.csv:
        shown = shown[:1]
    for i, table in enumerate(shown):
        if i:
            sys.stdout.write("\n")
        show(table, format.value)


def with_warnings(data: dict, graphs: list) -> dict:
    """An analysis command's JSON with the networks' `warnings`, each as `validate --format json`
    gives a problem (file, line, column, layer, message, hint: render.views.problems.problem_json); a
    document that has them already keeps its own."""
    from ..render.views.problems import problem_json

    return {**data, "warnings": data.get("warnings", [problem_json(w, "warning") for g in graphs for w in g.warnings])}


def print_warnings(graph: Graph) -> None:
    for w in graph.warnings:
        sys.stderr.write(w.format("warning") + "\n")


def load_network(arch: str, input: str | None, settings: bool = True, widths: dict[str, int] | None = None,
                 input_from: str = "--input") -> Graph:  # fmt: skip
    """The network ARCH (`widths`, `input_from`: api.load's); with `settings`, its `train:` section
    checked too (a broken file is broken whichever command reads it). `train` checks it with its
    options instead."""
    from ..api import load

    graph = load(arch, input, widths, input_from)  # a wrong --input is told with the file's problems
    if settings and graph.train:
        from ..train.config import resolve_config  # pure Python; imported only for files that have one

        resolve_config(graph.train, {}, graph.input_shape[2], graph.train_keys)
    return graph
