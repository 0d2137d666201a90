"""The command line. Thin: parse options, call the API, render; catch only CnnctlError."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from . import __version__
from .api import load
from .build import parse_volume
from .catalog import bundled
from .errors import CnnctlError
from .render.table import Table, show
from .render.views import catalog_table, flops_json, flops_table, summary_json, summary_table
from .report import DTYPE_BYTES, summarize

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Analyze CNN architectures written in the course's shorthand: shapes, parameters, multiplications.",
)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


Arch = Annotated[
    str, typer.Argument(metavar="ARCH", help="A YAML file, or a bundled name such as vgg16 (see `cnnctl list`).")
]
InputOpt = Annotated[Optional[str], typer.Option("--input", "-i", help="Input volume HxWxC, overriding the file's.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", min=1, help="Batch size for memory (and batch totals).")]


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _warn(graph) -> None:
    for w in graph.warnings:
        sys.stderr.write(w.format("warning") + "\n")


def _load(arch: str, input: str | None):
    shape = parse_volume(input, None, "--input") if input is not None else None
    return load(arch, shape)


@app.command("summarize")
def summarize_cmd(
    arch: Arch,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    dtype: Annotated[str, typer.Option(help="Element type for memory: " + ", ".join(DTYPE_BYTES))] = "float32",
    depth: Annotated[
        Optional[int], typer.Option("--depth", "-d", min=1, help="Collapse layer paths deeper than N.")
    ] = None,
    format: FormatOpt = Format.table,
) -> None:
    """Per layer: output dimensions, parameters, multiplications; then totals and memory."""
    graph = _load(arch, input)
    summary = summarize(graph, depth=depth, batch=batch, dtype=dtype)
    if format is Format.json:
        _print_json(summary_json(summary))
    else:
        _warn(graph)
        show(summary_table(summary), format.value)


@app.command("flops")
def flops_cmd(
    arch: Arch,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    per_layer: Annotated[bool, typer.Option("--per-layer", help="Each layer's share, heaviest first.")] = False,
    format: FormatOpt = Format.table,
) -> None:
    """The cost of one forward pass: multiplications and FLOPs, exact, and what is counted.

    Multiplications: conv, deconv and fc multiply-accumulates (torchvision's "GFLOPS",
    PyTorch FlopCounterMode / 2). FLOPs: 2 x multiplications + 1 per bias value +
    element-wise work per value: bn 2, activations 1 (softmax 3), max pool f*f-1 and
    avg pool f*f per output, add 1 per extra input, lrn 2*size+3.
    """
    graph = _load(arch, input)
    summary = summarize(graph, batch=batch)
    if format is Format.json:
        _print_json(flops_json(summary, per_layer))
    else:
        _warn(graph)
        show(flops_table(summary, per_layer), format.value)


@app.command("validate")
def validate_cmd(
    files: Annotated[list[str], typer.Argument(metavar="FILE...", help="Network files (or bundled names) to check.")],
    input: InputOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Check network files: exit 0 when all are valid, else list every problem and exit 2."""
    results = []
    for arch in files:
        try:
            graph = _load(arch, input)
            results.append(
                {
                    "file": arch,
                    "ok": True,
                    "layers": len(graph.nodes),
                    "params": graph.params,
                    "mults": graph.mults,
                    "problems": [w.format("warning") for w in graph.warnings],
                }
            )
        except CnnctlError as exc:
            results.append({"file": arch, "ok": False, "problems": [p.format() for p in exc.problems]})
    bad = [r for r in results if not r["ok"]]
    if format is Format.json:
        _print_json({"ok": not bad, "files": results})
    else:
        for r in results:
            if r["ok"]:
                sys.stdout.write(
                    f"ok  {r['file']}  ({r['layers']:,} layers, {r['params']:,} params, {r['mults']:,} mults)\n"
                )
                for p in r["problems"]:
                    sys.stdout.write("  " + p.replace("\n", "\n  ") + "\n")
            else:
                sys.stderr.write(f"FAIL {r['file']}\n")
                for p in r["problems"]:
                    sys.stderr.write("  " + p.replace("\n", "\n  ") + "\n")
        if len(results) > 1:
            sys.stdout.write(f"{len(results) - len(bad)} valid, {len(bad)} invalid\n")
    if bad:
        raise typer.Exit(2)


@app.command("list")
def list_cmd(format: FormatOpt = Format.table) -> None:
    """The bundled architectures, with input, params and multiplications."""
    entries = []
    for name, path in bundled().items():
        graph = load(path)
        entries.append(
            {
                "name": name,
                "input": "x".join(map(str, graph.input_shape)),
                "params": graph.params,
                "mults": graph.mults,
                "flops": graph.flops,
                "description": (graph.description.strip().splitlines() or [""])[0],
            }
        )
    if format is Format.json:
        _print_json(entries)
    else:
        show(catalog_table(entries), format.value)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"cnnctl {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """cnnctl: exact shapes, parameters and costs of CNNs written in the course's shorthand."""


def main() -> None:
    """Entry point: run the app; a CnnctlError becomes one message on stderr and exit code 2."""
    try:
        app()
    except CnnctlError as exc:
        sys.stderr.write(str(exc) + "\n")
        sys.exit(2)


__all__ = ["app", "main", "Table"]
