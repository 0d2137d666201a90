"""What each command shows: report data -> Table (for table/markdown/csv) or a JSON-able dict."""

from __future__ import annotations

from ..report import COUNTED, NOT_COUNTED, Summary, heaviest
from ..shapes import format_shape
from .numbers import both, exact, percent, short, size
from .table import Table


def summary_table(s: Summary) -> Table:
    rows = [[r.path, r.text, format_shape(r.shape), exact(r.params), exact(r.mults), size(r.memory)] for r in s.rows]
    m = s.memory
    notes = [
        f"Layers: {s.layers:,}   input {format_shape(s.input_shape)} -> output {format_shape(s.output_shape)}",
        f"Params: {both(s.params)} trainable, {exact(s.buffers)} non-trainable buffers",
        f"Multiplications: {both(s.mults)} per image"
        + (f", {both(s.mults * m.batch)} per batch of {m.batch}" if m.batch > 1 else ""),
        f"FLOPs: {both(s.flops)} per image (`cnnctl flops` says what is counted)",
        f"Memory ({m.dtype}, batch {m.batch}): input {size(m.input)}, activations {size(m.activations)}, "
        f"params {size(m.params)}, total {size(m.total)}",
    ]
    columns = ["Layer", "Shorthand", "Output", "Params", "Mults", "Memory"]
    return Table(f"{s.name}  ({s.file})", columns, rows, {2, 3, 4, 5}, notes)


def summary_json(s: Summary) -> dict:
    m = s.memory
    return {
        "name": s.name,
        "file": s.file,
        "input": format_shape(s.input_shape),
        "output": format_shape(s.output_shape),
        "layers": [
            {
                "path": r.path,
                "kind": r.kind,
                "shorthand": r.text,
                "output": format_shape(r.shape),
                "params": r.params,
                "buffers": r.buffers,
                "mults": r.mults,
                "flops": r.flops,
                "layers": r.layers,
                "inputs": list(r.inputs),
                "memory_bytes": r.memory,
            }
            for r in s.rows
        ],
        "totals": {"layers": s.layers, "params": s.params, "buffers": s.buffers, "mults": s.mults, "flops": s.flops},
        "memory": {
            "batch": m.batch,
            "dtype": m.dtype,
            "input_bytes": m.input,
            "activation_bytes": m.activations,
            "param_bytes": m.params,
            "total_bytes": m.total,
        },
        "warnings": [w.format("warning") for w in s.warnings],
    }


def flops_table(s: Summary, per_layer: bool) -> Table:
    notes = [f"Counted: {line}" for line in COUNTED] + [f"Not counted: {line}" for line in NOT_COUNTED]
    if per_layer:
        rows = [
            [r.path, r.text, exact(r.mults), percent(r.mults, s.mults), exact(r.flops), percent(r.flops, s.flops)]
            for r in heaviest(s)
        ]
        title = f"{s.name}: cost per layer, heaviest first (input {format_shape(s.input_shape)})"
        notes = [f"Total: {both(s.mults)} multiplications, {both(s.flops)} FLOPs per image", *notes]
        return Table(title, ["Layer", "Shorthand", "Mults", "Share", "FLOPs", "Share"], rows, {2, 3, 4, 5}, notes)
    rows = [
        ["multiplications", exact(s.mults), short(s.mults)],
        ["FLOPs", exact(s.flops), short(s.flops)],
        ["params", exact(s.params), short(s.params)],
    ]
    if s.memory.batch > 1:
        rows.insert(
            2,
            [
                f"multiplications x batch {s.memory.batch}",
                exact(s.mults * s.memory.batch),
                short(s.mults * s.memory.batch),
            ],
        )
    title = f"{s.name}: cost of one forward pass on {format_shape(s.input_shape)}"
    return Table(title, ["", "exact", "short"], rows, {1, 2}, notes)


def flops_json(s: Summary, per_layer: bool) -> dict:
    out = {
        "name": s.name,
        "file": s.file,
        "input": format_shape(s.input_shape),
        "batch": s.memory.batch,
        "mults": s.mults,
        "flops": s.flops,
        "params": s.params,
        "counted": list(COUNTED),
        "not_counted": list(NOT_COUNTED),
    }
    if per_layer:
        out["layers"] = [
            {
                "path": r.path,
                "shorthand": r.text,
                "mults": r.mults,
                "flops": r.flops,
                "mults_share": r.mults / s.mults if s.mults else 0.0,
                "flops_share": r.flops / s.flops if s.flops else 0.0,
            }
            for r in heaviest(s)
        ]
    return out


def catalog_table(entries: list[dict]) -> Table:
    rows = [[e["name"], e["input"], exact(e["params"]), short(e["mults"]), e["description"]] for e in entries]
    return Table(
        "Bundled architectures (use by name: cnnctl summarize NAME)",
        ["Name", "Input", "Params", "Mults", "Description"],
        rows,
        {2, 3},
    )
