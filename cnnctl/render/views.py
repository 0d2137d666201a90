"""What each command shows: report data -> Table (for table/markdown/csv) or a JSON-able dict."""

from __future__ import annotations

from ..analysis.summary import COUNTED, NOT_COUNTED, Summary, heaviest
from ..errors import Problem, printable
from ..shapes import format_shape
from .numbers import both, exact, plural, share, short, size
from .table import Column, Table, clean, num

LAYER = Column("Layer", squeeze=True)
SHORTHAND = Column("Shorthand", wrap=True)


def summary_table(s: Summary) -> Table:
    rows = [[r.path, r.text, format_shape(r.shape), r.params, r.mults, r.memory] for r in s.rows]
    m = s.memory
    per_batch = f", {both(s.mults * m.batch)} per batch of {m.batch:,}" if m.batch > 1 else ""
    flops_batch = f", {both(s.flops * m.batch)} per batch of {m.batch:,}" if m.batch > 1 else ""
    notes = [
        f"Layers: {s.layers:,}   input {format_shape(s.input_shape)} -> output {format_shape(s.output_shape)}",
        f"Params: {both(s.params)} trainable, {exact(s.buffers)} non-trainable buffers",
        f"Multiplications: {both(s.mults)} per image{per_batch}",
        f"FLOPs: {both(s.flops)} per image{flops_batch} (`cnnctl flops` says what is counted)",
        f"Memory ({m.dtype}, batch {m.batch:,}): input {size(m.input)}, activations {size(m.activations)}, "
        f"params {size(m.params)}, total {size(m.total)}",
    ]
    columns = [
        LAYER,
        SHORTHAND,
        num("Output"),
        num("Params", exact),
        num("Mults", exact),
        num("Memory", size),  # CSV: bytes
    ]
    return Table(f"{s.name}  ({s.file})", columns, rows, notes)


def summary_json(s: Summary) -> dict:
    m = s.memory
    shapes: dict = {}  # each distinct shape written once: 100,000 layers have a few dozen

    def shape_text(shape: tuple[int, ...]) -> str:
        text = shapes.get(shape)
        if text is None:
            text = shapes[shape] = format_shape(shape)
        return text

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
                "output": shape_text(r.shape),
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


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def flops_table(s: Summary, per_layer: bool) -> Table:
    notes = [f"Counted: {line}" for line in COUNTED] + [f"Not counted: {line}" for line in NOT_COUNTED]
    batch = s.memory.batch
    if per_layer:
        rows = [
            [r.path, r.text, r.mults, _share(r.mults, s.mults), r.flops, _share(r.flops, s.flops)] for r in heaviest(s)
        ]
        title = f"{s.name}: cost per layer, heaviest first (input {format_shape(s.input_shape)})"
        total = f"Total: {both(s.mults)} multiplications, {both(s.flops)} FLOPs per image"
        if batch > 1:
            total += f"; {both(s.mults * batch)} and {both(s.flops * batch)} per batch of {batch:,}"
        columns = [
            LAYER,
            SHORTHAND,
            num("Mults", exact),
            Column("Share", share, right=True, key="Mults share"),  # each Share follows its count
            num("FLOPs", exact),
            Column("Share", share, right=True, key="FLOPs share"),  # CSV: distinct headers, fractions
        ]
        return Table(title, columns, rows, [total, *notes])
    rows = [["multiplications", s.mults, s.mults], ["FLOPs", s.flops, s.flops]]
    if batch > 1:
        rows += [
            [f"multiplications x batch {batch}", s.mults * batch, s.mults * batch],
            [f"FLOPs x batch {batch}", s.flops * batch, s.flops * batch],
        ]
    rows.append(["params", s.params, s.params])
    title = f"{s.name}: cost of one forward pass on {format_shape(s.input_shape)}"
    # CSV: the name and the exact value (the short column only restates it)
    columns = [Column(""), num("exact", exact), Column("short", short, right=True, csv=False)]
    return Table(title, columns, rows, notes)


def flops_json(s: Summary, per_layer: bool) -> dict:
    out = {
        "name": s.name,
        "file": s.file,
        "input": format_shape(s.input_shape),
        "batch": s.memory.batch,
        "mults": s.mults,
        "flops": s.flops,
        "batch_mults": s.mults * s.memory.batch,
        "batch_flops": s.flops * s.memory.batch,
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
    rows = [[e["name"], e["input"], e["params"], e["mults"], e["description"]] for e in entries]
    columns = [
        Column("Name", squeeze=True),
        Column("Input"),
        num("Params", exact),
        num("Mults", short),
        Column("Description", wrap=True),
    ]
    return Table("Bundled architectures (use by name: cnnctl summarize NAME)", columns, rows)


def problem_json(problem: Problem, severity: str = "error") -> dict:
    """One problem for scripts and editors: its parts as fields (line and column 1-based,
    None where unknown), and the text as cnnctl prints it."""
    loc = problem.loc
    return {
        "severity": severity,
        "file": loc.file if loc else None,
        "line": loc.line if loc and loc.line > 0 else None,
        "column": loc.col if loc and loc.col > 0 else None,
        "layer": problem.layer,
        "message": printable(problem.message),
        "hint": printable(problem.hint) if problem.hint else None,
        "text": problem.format(severity),
    }


def validate_lines(result: dict) -> list[str]:
    """One file in `validate`'s text report: `ok  FILE  (...)` or `FAIL FILE`, then its problems."""
    name = clean(result["file"])
    if result["ok"]:
        counts = f"{plural(result['layers'], 'layer')}, {result['params']:,} params, {result['mults']:,} mults"
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
            r["file"],
            "ok" if r["ok"] else "FAIL",
            r.get("layers"),
            r.get("params"),
            r.get("mults"),
            "; ".join(" ".join(line.strip() for line in p.splitlines()) for p in r["problems"]),
        ]
        for r in results
    ]
    columns = [
        Column("File", squeeze=True),
        Column("Status"),
        num("Layers", _count),
        num("Params", _count),
        num("Mults", _count),
        Column("Problems", wrap=True),
    ]
    return Table(validate_total(results), columns, rows)


def validate_total(results: list[dict]) -> str:
    """`1 valid, 2 invalid: a.yaml, b.yaml` (the invalid files named, so the line stands alone)."""
    bad = [clean(r["file"]) for r in results if not r["ok"]]
    line = f"{len(results) - len(bad)} valid, {len(bad)} invalid"
    return f"{line}: {', '.join(bad)}" if bad else line


def _percent(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.2%}"  # None: a class with no examples


def evaluation_tables(e) -> list[Table]:
    """Per-class accuracy, then the confusion matrix (rows: true class, columns: predicted).

    CSV writes one table: the per-class one, with a `predicted NAME` column per class (the
    confusion matrix's rows), rather than two tables with different headers in one stream.
    """
    per_class = Table(
        f"accuracy {e.accuracy:.2%}, loss {e.loss:.4f} on {exact(e.examples)} images",
        [
            Column("class"),
            num("examples", exact),
            num("accuracy", _percent),
            *(Column(f"predicted {name}", csv_only=True) for name in e.classes),
        ],
        [[name, sum(row), acc, *row] for name, row, acc in zip(e.classes, e.confusion, e.per_class, strict=True)],
    )
    confusion = Table(
        "confusion matrix (rows: true class, columns: predicted)",
        [Column("true"), *(num(name[:8], exact) for name in e.classes)],
        [[name, *row] for name, row in zip(e.classes, e.confusion, strict=True)],
    )
    return [per_class, confusion]


def evaluation_json(e) -> dict:
    return {"loss": e.loss, "accuracy": e.accuracy, "examples": e.examples, "classes": e.classes,
            "per_class_accuracy": e.per_class, "confusion": e.confusion}  # fmt: skip


def prediction_table(results: list[tuple[str, list[tuple[str, float]]]]) -> Table:
    rows = [[path, rank, name, p] for path, top in results for rank, (name, p) in enumerate(top, 1)]
    return Table("predictions", [Column("image"), num("rank"), Column("class"), num("probability", "{:.2%}".format)],
                 rows)  # fmt: skip


def prediction_json(results) -> list[dict]:
    return [{"image": path, "top": [{"class": n, "probability": p} for n, p in top]} for path, top in results]


def bench_table(result) -> Table:
    rows = []
    for t in result.timings:
        rows.append([t.model, t.mode, t.batch, t.images_per_second, 1e3 * t.percentile(50), 1e3 * t.percentile(90),
                     1e3 * t.percentile(99), t.tflops, _mfu(t, result)])  # fmt: skip
    ms = "{:.2f}".format
    columns = [
        Column("model"), Column("step"), num("batch"), num("img/s", "{:,.1f}".format), num("p50 ms", ms),
        num("p90 ms", ms), num("p99 ms", ms), num("TFLOP/s", "{:.3f}".format),
        num("MFU", share),
    ]  # fmt: skip
    notes = list(result.notes)
    by_mode = {}
    for t in result.timings:
        by_mode.setdefault(t.mode, {})[t.model] = t.images_per_second
    for mode, rates in by_mode.items():
        if "reference" in rates:
            notes.append(f"{mode}: cnnctl / hand-written reference = {rates['cnnctl'] / rates['reference']:.3f}")
    notes.append("FLOPs: forward 2 x multiplications per image (the analyzer's count), training step 3 x forward")
    peak = f", MFU against {result.peak_tflops:g} TFLOP/s" if result.peak_tflops else " (no peak known: --peak-tflops)"
    return Table(f"bench on {result.device}{peak}", columns, rows, notes)


def _mfu(timing, result) -> float | None:
    """Model FLOPs utilization: achieved TFLOP/s over the device's peak, when the peak is known."""
    return timing.tflops / result.peak_tflops if result.peak_tflops else None


def bench_json(result) -> dict:
    return {
        "device": result.device,
        "peak_tflops": result.peak_tflops,
        "notes": result.notes,
        "timings": [
            {"model": t.model, "mode": t.mode, "batch": t.batch, "images_per_second": t.images_per_second,
             "latency_ms": {q: 1e3 * t.percentile(q) for q in (50, 90, 99)}, "tflops": t.tflops,
             "mfu": _mfu(t, result)}
            for t in result.timings
        ],
    }  # fmt: skip
