"""What each command shows: report data -> Table (for table/markdown/csv) or a JSON-able dict."""

from __future__ import annotations

from ..analysis.receptive import Field
from ..analysis.summary import COUNTED, NOT_COUNTED, Summary
from ..errors import Problem, printable
from ..graph import named_from
from ..shapes import format_shape
from ..words import accuracy, both, duration, exact, plural, share, short, size
from .table import Column, Table, clean, num

LAYER = Column("Layer", squeeze=True)
SHORTHAND = Column("Shorthand", wrap=True)


def field_text(f: Field) -> str:
    """`212`, `7x3`, `~5` (uneven: the largest of the positions' fields, which differ), or `all`
    (every output value sees the whole input)."""
    if f.whole:
        return "all"
    h, w = (round(v, 2) for v in f.size)
    return ("~" if f.uneven else "") + (f"{h:g}" if h == w else f"{h:g}x{w:g}")


# summarize's columns: name -> (header, the row's value, how it is shown). `from` is shown by
# default only where some layer's input is not simply the layer above (Keras' "Connected to").
SUMMARY_COLUMNS = ("layer", "shorthand", "input", "output", "kernel", "from", "params", "buffers", "mults", "flops",
                   "field", "jump", "start", "memory")  # fmt: skip
DEFAULT_COLUMNS = ("layer", "shorthand", "output", "from", "params", "mults", "field")  # googlenet fits 80 columns
# Other names for them, for the hint of a column not found: `layer` is the layer's path.
COLUMN_SYNONYMS = {"path": "layer", "name": "layer", "shape": "output", "macs": "mults", "receptive_field": "field",
                   "input_shape": "input", "output_shape": "output", "weights": "kernel", "weight": "kernel",
                   "kernel_shape": "kernel"}  # fmt: skip


def inputs_text(shapes: tuple) -> str:
    """The volumes a layer takes: `14x14x8`, or a join's `14x14x8 + 14x14x8`."""
    return " + ".join(format_shape(s) for s in shapes)


def kernel_text(tensors: tuple) -> str:
    """A layer's trainable tensors as PyTorch names and holds them: `weight 8x1x3x3, bias 8`."""
    return ", ".join(f"{name} {format_shape(shape)}" for name, shape in tensors)


def _pair(values: tuple) -> str:
    a, b = values
    return f"{a:g}" if a == b else f"{a:g}x{b:g}"


def _connections(s: Summary) -> list[str]:
    """Each row's inputs, where they are not simply the row above (the first row's: the input),
    named from the row's own group where that cannot be read as another row (`named_from`):
    `branch1.conv1` inside `inception3a`."""
    out, above = [], "input"
    paths = {r.path for r in s.rows}
    for r in s.rows:
        out.append("" if r.inputs in ((), (above,)) else ", ".join(named_from(r.path, r.inputs, paths)))
        above = r.path
    return out


SHAPE_COLUMNS = ("input", "kernel")  # the columns of what summarize collects only when asked (`shapes`)


def _check_shapes(s: Summary, columns: tuple[str, ...] | None) -> None:
    if columns is not None and not s.shapes and any(c in SHAPE_COLUMNS for c in columns):
        raise ValueError("the input and kernel columns need summarize(..., shapes=True)")  # cnnctl's mistake


def summary_table(s: Summary, columns: tuple[str, ...] | None = None) -> Table:
    _check_shapes(s, columns)
    wired = _connections(s)
    if columns is None:
        columns = tuple(c for c in DEFAULT_COLUMNS if c != "from" or any(wired))
    cells = {
        "layer": (LAYER, lambda r, i: r.path),
        "shorthand": (SHORTHAND, lambda r, i: r.text),
        # a join's several shapes wrap between them on a narrow terminal; the tensors (a line each
        # row, 30 characters at most in the bundled networks) keep each name by its shape
        "input": (Column("Input", right=True, wrap=True), lambda r, i: inputs_text(r.in_shapes)),
        "output": (num("Output"), lambda r, i: format_shape(r.shape)),
        "kernel": (Column("Kernel"), lambda r, i: kernel_text(r.param_shapes)),
        "from": (Column("From", wrap=True, least=8), lambda r, i: wired[i]),  # gives way before the others
        "params": (num("Params", exact), lambda r, i: r.params),
        "buffers": (num("Buffers", exact), lambda r, i: r.buffers),
        "mults": (num("Mults", exact), lambda r, i: r.mults),
        "flops": (num("FLOPs", exact), lambda r, i: r.flops),
        "field": (num("Field"), lambda r, i: field_text(r.field)),
        "jump": (num("Jump"), lambda r, i: "-" if r.field.whole else _pair(r.field.jump)),
        "start": (num("Start"), lambda r, i: "-" if r.field.whole else _pair(r.field.start)),
        "memory": (num("Memory", size), lambda r, i: r.memory),  # CSV: bytes
    }
    chosen = [cells[c] for c in columns]
    rows = [[value(r, i) for _, value in chosen] for i, r in enumerate(s.rows)]
    m = s.memory
    per_batch = f", {both(s.mults * m.batch)} per batch of {m.batch:,}" if m.batch > 1 else ""
    flops_batch = f", {both(s.flops * m.batch)} per batch of {m.batch:,}" if m.batch > 1 else ""
    inference = " at inference" if s.heads else ""
    notes = [
        f"Layers: {s.layers:,}   input {format_shape(s.input_shape)} -> output {format_shape(s.output_shape)}",
        f"Params: {both(s.params - s.frozen)} trainable"
        + (f", {both(s.frozen)} frozen (up to and including `{s.frozen_at}`)" if s.frozen_at else "")
        + f", {exact(s.buffers)} non-trainable buffers"
        + (f"; {both(s.inference_params)} at inference, without the heads" if s.heads else ""),
        f"Multiplications: {both(s.mults)} per image{inference}{per_batch}"
        + (f"; {both(s.mults_with_heads)} in training, with the heads" if s.heads else ""),
        f"FLOPs: {both(s.flops)} per image{inference}{flops_batch}"
        + (f"; {both(s.flops_with_heads)} in training" if s.heads else "")
        + " (`cnnctl flops` says what is counted)",
        *head_notes(s),
        f"Memory ({m.dtype}, batch {m.batch:,}): input {size(m.input)}, activations {size(m.activations)}, "
        f"params {size(m.params)}, buffers {size(m.buffers)}, total {size(m.total)} (a training step: "
        "`cnnctl memory`)",
    ]
    notes += column_notes(s, columns)
    return Table(f"{s.name}  ({s.file})", [column for column, _ in chosen], rows, notes)


# Why positions' fields differ (a field's `because`), for the legend of `~`.
UNEVEN_BECAUSE = {
    "upsample": "an upsample",
    "deconv": "a deconv",
    "pool": "adaptive pooling whose windows are not evenly placed",
    "gate": "a gate whose own field misses pixels, where it is a field that contains each position's",
}


def column_notes(s: Summary, columns: tuple[str, ...]) -> list[str]:
    """A line for each shown column that a number alone does not explain: the field's (with
    the reasons for `~` that the table has), jump, start, memory, input and kernel."""
    notes = []
    if "input" in columns:
        notes.append("Input: the volume each layer takes (a + b: a join's several; a group's: those it reads)")
    if "kernel" in columns:
        notes.append(
            "Kernel: each layer's trainable tensors as PyTorch names and shapes them (state_dict): conv weight "
            "n x C_in/groups x f_h x f_w, deconv C_in x n/groups x f_h x f_w, fc out x in; their sizes sum to Params"
        )
    if "field" in columns:
        uneven = [r.field for r in s.rows if r.field.uneven]
        reasons = sorted({why for f in uneven for why in f.because})
        marks = ""
        if reasons:
            marks = "~: the largest of the positions' fields, which differ after "
            marks += " or ".join(UNEVEN_BECAUSE.get(why, f"a {why}") for why in reasons) + "; "
        elif uneven:
            marks = "~: a field that contains each position's; "
        notes.append(
            "Field: the receptive field of each output value, in input pixels per side, padding included: a field "
            f"larger than the image reaches into it ({marks}all: every pixel of the image)"
        )
    if "jump" in columns:
        same = any(r.field.jump == (0, 0) and not r.field.whole for r in s.rows)  # after fc: one field for all
        notes.append(
            "Jump: how far apart, in input pixels, neighbouring output positions' fields start (the product of the "
            "strides" + ("; 0: every value sees the same pixels)" if same else ")")
        )
    if "start" in columns:
        notes.append("Start: the input pixel where output position 0's field starts (negative: in the padding)")
    if "memory" in columns:
        notes.append(f"Memory: the bytes of each layer's output ({s.memory.dtype}, batch {s.memory.batch:,})")
    return notes


def head_notes(s: Summary) -> list[str]:
    """A line for each head (`outputs:`): it runs only in training; its layers and their cost."""
    return [
        f"Head `{h.name}` (training only, {h.weight:g} x the main loss): {plural(h.layers, 'layer')} "
        f"{h.first} to {h.path}, {exact(h.params)} params, {exact(h.mults)} mults, not in the inference totals"
        for h in s.heads
    ]


def heads_json(s: Summary) -> list[dict]:
    return [
        {
            "name": h.name,
            "output": h.path,
            "first": h.first,
            "weight": h.weight,
            "layers": h.layers,
            "params": h.params,
            "mults": h.mults,
            "flops": h.flops,
            "training_only": True,
        }  # fmt: skip
        for h in s.heads
    ]


def summary_json(s: Summary, columns: tuple[str, ...] | None = None) -> dict:
    _check_shapes(s, columns)
    m = s.memory
    shapes: dict = {}  # each distinct shape written once: 100,000 layers have a few dozen

    def shape_text(shape: tuple[int, ...]) -> str:
        text = shapes.get(shape)
        if text is None:
            text = shapes[shape] = format_shape(shape)
        return text

    keys = {  # JSON fields by column; the path always
        "shorthand": ("kind", "shorthand"),
        "input": ("input_shapes",),
        "output": ("output",),
        "kernel": ("param_shapes",),
        "from": ("inputs",),
        "params": ("params",),
        "buffers": ("buffers",),
        "mults": ("mults",),
        "flops": ("flops",),
        "field": ("receptive_field", "field_uneven"),
        "jump": ("field_jump",),
        "start": ("field_start",),
        "memory": ("memory_bytes",),
    }
    wanted = (
        None if columns is None else {"path", "layers", "training_only"} | {k for c in columns for k in keys.get(c, ())}
    )
    layers = [
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
            "receptive_field": None if r.field.whole else r.field.size,  # null: the whole input
        }
        for r in s.rows
    ]
    # The field's jump and start, the input shapes and the parameters' shapes only when asked
    # for (`--columns ...,jump,start,input,kernel`): jump and start alone, two more arrays a row,
    # would cost a tenth of the time of 100,000 layers. `field_uneven` only where true.
    extra = [] if columns is None else [c for c in ("jump", "start") if c in columns]
    inputs, kernel = columns is not None and "input" in columns, columns is not None and "kernel" in columns
    for row, r in zip(layers, s.rows, strict=True):
        if r.field.uneven:
            row["field_uneven"] = True
        if r.training:
            row["training_only"] = True  # a head's (`outputs:`): not in the inference totals
        for c in extra:
            row[f"field_{c}"] = None if r.field.whole else getattr(r.field, c)
        if inputs:
            row["input_shapes"] = [shape_text(shape) for shape in r.in_shapes]
        if kernel:  # PyTorch's names and shapes, as its state_dict: {"weight": [8, 1, 3, 3], "bias": [8]}
            row["param_shapes"] = {name: list(shape) for name, shape in r.param_shapes}
    if wanted is not None:
        layers = [{k: v for k, v in row.items() if k in wanted} for row in layers]
    return {
        "name": s.name,
        "file": s.file,
        "input": format_shape(s.input_shape),
        "output": format_shape(s.output_shape),
        "layers": layers,
        "totals": {
            "layers": s.layers,
            "params": s.params,
            "trainable_params": s.params - s.frozen,
            "frozen_params": s.frozen,
            "buffers": s.buffers,
            "mults": s.mults,  # at inference: without the heads
            "flops": s.flops,
            "inference_params": s.inference_params,
            "mults_with_heads": s.mults_with_heads,  # a training forward pass (`outputs:`)
            "flops_with_heads": s.flops_with_heads,
        },  # fmt: skip
        "heads": heads_json(s),
        "memory": {
            "batch": m.batch,
            "dtype": m.dtype,
            "input_bytes": m.input,
            "activation_bytes": m.activations,
            "param_bytes": m.params,
            "buffer_bytes": m.buffers,
            "total_bytes": m.total,
        },
        "warnings": [problem_json(w, "warning") for w in s.warnings],  # as validate's details
    }


def flops_table(s: Summary, per_layer: bool, cost=None, times=None, top: int | None = None, step=None) -> Table:
    """Totals (forward; with `cost`, backward and a training step), or with `per_layer` each
    layer's share, heaviest first (the `top` ones, then the rest in one row); with `times`
    (a Roofline), each layer's roofline time; `step`: the training step train runs (its optimizer)."""
    from ..analysis.layer_costs import layer_costs
    from .design import roofline_notes, training_notes, training_rows  # only what flops shows

    notes = [f"Counted: {line}" for line in COUNTED] + [f"Not counted: {line}" for line in NOT_COUNTED]
    if cost is not None:
        notes += training_notes(cost, step)
    if times is not None:
        notes += roofline_notes(times)
    batch = s.memory.batch
    if per_layer:
        rows = []
        for r in layer_costs(s, cost, times, top):
            label = r.path if r.layers == 1 else f"({r.layers:,} other layers)"
            row = [label, r.shorthand, r.mults, r.mults_share, r.flops, r.flops_share]
            if cost is not None:
                row.append(r.backward_mults)
            if times is not None:
                row += [r.intensity, r.seconds, _bound(r) if r.layers == 1 else ""]
            rows.append(row)
        title = f"{s.name}: cost per layer, heaviest first (input {format_shape(s.input_shape)})"
        total = f"Total: {both(s.mults)} multiplications, {both(s.flops)} FLOPs per image"
        if batch > 1:
            total += f"; {both(s.mults * batch)} and {both(s.flops * batch)} per batch of {batch:,}"
        if s.heads:
            total += (
                f" at inference; in training, with the heads, {both(s.mults_with_heads)} and {both(s.flops_with_heads)}"
            )
            notes += head_notes(s)
        columns = [
            LAYER,
            SHORTHAND,
            num("Mults", exact),
            Column("Share", share, right=True, key="Mults share"),  # each Share follows its count
            num("FLOPs", exact),
            Column("Share", share, right=True, key="FLOPs share"),  # CSV: distinct headers, fractions
        ]
        if cost is not None:
            columns.append(num("Bwd mults", exact))
        if times is not None:
            # CSV: the intensity and the time in seconds, as computed
            columns += [num("FLOP/B", _intensity), Column("Time", duration, right=True, key="Time s"), Column("Bound")]
        return Table(title, columns, rows, [total, *notes])
    rows = [["multiplications", s.mults, s.mults], ["FLOPs", s.flops, s.flops]]
    if batch > 1:
        rows += [
            [f"multiplications x batch {batch}", s.mults * batch, s.mults * batch],
            [f"FLOPs x batch {batch}", s.flops * batch, s.flops * batch],
        ]
    if s.heads:  # the rows above are inference's; a training forward pass runs the heads too
        rows += [["multiplications with the heads (training)", s.mults_with_heads, s.mults_with_heads],
                 ["FLOPs with the heads (training)", s.flops_with_heads, s.flops_with_heads]]  # fmt: skip
        notes += head_notes(s)
    if cost is not None:
        rows += training_rows(cost, batch)
    rows.append(["params", s.params, s.params])
    title = f"{s.name}: cost of one forward pass on {format_shape(s.input_shape)}"
    if cost is not None:
        title = f"{s.name}: cost of a forward pass and a training step on {format_shape(s.input_shape)}"
    # CSV: the name and the exact value (the short column only restates it)
    columns = [Column("", key="count"), num("exact", exact), Column("short", short, right=True, csv=False)]
    return Table(title, columns, rows, notes)


def _intensity(flops_per_byte: float | None) -> str:
    """A roofline intensity: `0.13`, `148.25`; `-` for a layer that moves no bytes."""
    return "-" if flops_per_byte is None else f"{flops_per_byte:,.2f}"


def _bound(t) -> str:
    """What bounds a layer's roofline time: `compute`, `memory`, or `-` where it takes none."""
    return "-" if not t.seconds else "compute" if t.compute_bound else "memory"


def flops_json(s: Summary, per_layer: bool, cost=None, times=None, top: int | None = None, step=None) -> dict:
    from ..analysis.layer_costs import layer_costs
    from ..analysis.training import OPTIMIZER_WORDS, OPTIMIZERS
    from .design import roofline_json, step_json

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
        "mults_with_heads": s.mults_with_heads,  # a training forward pass: with the heads (`outputs:`)
        "flops_with_heads": s.flops_with_heads,
        "heads": heads_json(s),
        "counted": list(COUNTED),
        "not_counted": list(NOT_COUNTED),
    }
    if cost is not None:
        out["training"] = {
            "backward_mults": cost.backward_mults,
            "backward_flops": cost.backward_flops,
            "step_mults": cost.step_mults,
            "step_flops": cost.step_flops,
            "batch_step_mults": cost.step_mults * s.memory.batch,
            "batch_step_flops": cost.step_flops * s.memory.batch,
            # by train's words: sgd_without_momentum, sgd_with_momentum, adam, adamw
            "optimizer_flops": {OPTIMIZER_WORDS[name].replace(" ", "_"): cost.optimizer_flops(name)
                                for name in OPTIMIZERS},
        }  # fmt: skip
        if step is not None:  # the step train runs: its optimizer, where it came from, its update
            settings = step_json(step)
            del settings["amp"], settings["settings_from"]["amp"], settings["batch"], settings["settings_from"]["batch"]
            out["training"]["optimizer"] = {**settings, "update_flops": cost.optimizer_flops(step.kind)}
    if times is not None:
        out["roofline"] = roofline_json(times)
    if per_layer:
        rows = layer_costs(s, cost, times, top)
        out["layers"] = [_layer_json(r) for r in rows if r.layers == 1]
        if rows and rows[-1].layers > 1:  # --top: the rest in one entry, as the table's last row
            out["others"] = {"layers": rows[-1].layers, **_layer_json(rows[-1])}
            del out["others"]["path"], out["others"]["shorthand"]
    return out


def _layer_json(r) -> dict:
    """A LayerCostRow as JSON: its backward cost and its roofline only where computed."""
    row = {"path": r.path, "shorthand": r.shorthand, "mults": r.mults, "flops": r.flops,
           "mults_share": r.mults_share or 0.0, "flops_share": r.flops_share or 0.0}  # fmt: skip
    if r.backward_mults is not None:
        row.update(backward_mults=r.backward_mults, backward_flops=r.backward_flops)
    if r.seconds is not None:
        row.update(seconds=r.seconds, bytes=r.bytes, intensity=r.intensity)
        if r.layers == 1:
            row["compute_bound"] = r.compute_bound
    return row


def catalog_table(entries: list[dict]) -> Table:
    # params at inference, as the multiplications are (GoogLeNet's aux heads run in training only)
    inference = [e.get("inference_params", e["params"]) for e in entries]  # without the key: no heads
    rows = [[e["name"], e["input"], p, e["mults"], e["description"]] for e, p in zip(entries, inference, strict=True)]
    notes = []
    if any(e["params"] != p for e, p in zip(entries, inference, strict=True)):
        heads = ", ".join(f"{e['name']} {exact(e['params'])}" for e, p in zip(entries, inference, strict=True)
                          if e["params"] != p)  # fmt: skip
        notes.append(f"Params and mults at inference; with the heads only training runs (`outputs:`): {heads}")
    columns = [
        Column("Name", squeeze=True),
        Column("Input"),
        num("Params", exact),
        num("Mults", short),
        Column("Description", wrap=True, prose=True),
    ]
    return Table("Bundled architectures (use by name: cnnctl summarize NAME)", columns, rows, notes)


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


def evaluation_tables(e) -> list[Table]:
    """Per-class accuracy, then the confusion matrix (rows: true class, columns: predicted).

    CSV writes one table: the per-class one, with a `predicted NAME` column per class (the
    confusion matrix's rows), rather than two tables with different headers in one stream.
    """
    dense = getattr(e, "iou", None) is not None  # dense prediction: counts are pixels, and each class has its IoU
    if dense:
        title = (
            f"pixel accuracy {e.accuracy:.2%}, mean IoU {e.mean_iou:.2%}, loss {e.loss:.4f} on {exact(e.pixels)} "
            f"pixels of {plural(e.examples, 'image')} of {e.split}, weights {e.checkpoint}"
        )
    else:
        title = f"accuracy {e.accuracy:.2%}, loss {e.loss:.4f} on {plural(e.examples, 'image')} of {e.split}, "
        title += f"weights {e.checkpoint}"
    per_class = Table(
        title,
        [
            Column("class"),
            num("pixels" if dense else "examples", exact),
            num("accuracy", accuracy),  # "-": a class with no examples
            *([num("IoU", accuracy)] if dense else []),
            *(Column(f"predicted {name}", csv_only=True) for name in e.classes),
        ],
        [
            [name, sum(row), acc, *([e.iou[k]] if dense else []), *row]
            for k, (name, row, acc) in enumerate(zip(e.classes, e.confusion, e.per_class, strict=True))
        ],
    )
    # Columns by name where every name is short and distinct; else by number, the rows saying
    # which number is which class (cut names could collide: `class_0001`, `class_0002`).
    named = all(len(name) <= 12 for name in e.classes) and len(set(e.classes)) == len(e.classes)
    heads = list(e.classes) if named else [str(k) for k in range(len(e.classes))]
    confusion = Table(
        "confusion matrix (rows: true class, columns: predicted)",
        [Column("true"), *(num(head, exact) for head in heads)],
        [
            [name if named else f"{k} {name}", *row]
            for k, (name, row) in enumerate(zip(e.classes, e.confusion, strict=True))
        ],
    )
    return [per_class, confusion]


def evaluation_json(e) -> dict:
    return {"loss": e.loss, "accuracy": e.accuracy, "examples": e.examples, "classes": e.classes,
            "per_class_accuracy": e.per_class, "confusion": e.confusion, "checkpoint": e.checkpoint,
            "data": e.split, "split": getattr(e, "split_name", "val"),
            **(_dense_json(e) if getattr(e, "iou", None) is not None else {})}  # fmt: skip


def _dense_json(e) -> dict:
    return {"pixels": e.pixels, "iou_per_class": e.iou, "mean_iou": e.mean_iou}


def _read_as(r) -> str:
    return f"{r.height}x{r.width} {r.mode}"


def prediction_table(results, weights: str = "") -> Table:
    """`results`: cnnctl.train.evaluate.Prediction. A row per class shown; an image that could
    not be read gets one row saying `not read` (why is its error on stderr, and in CSV's `error`
    column: the class column stays as wide as the classes' names). Under the table, how each
    image was read and adapted, and any warning with its hint; CSV carries them in columns of
    its own."""
    rows, notes = [], []
    for r in results:
        if r.error is not None:
            rows.append([r.image, None, "not read", None, None, None, None, r.error.message])
            continue
        adapted = "; ".join(r.adapted) or "used as read"
        warned = "; ".join(w.message for w in r.warnings) or None
        rows += [[r.image, k, name, p, _read_as(r), adapted, warned, None] for k, (name, p) in enumerate(r.top, 1)]
        notes.append(f"{r.image}: read {_read_as(r)}; {adapted}")
        for w in r.warnings:
            notes += w.format("warning").split("\n")
    title = f"predictions, weights {weights}" if weights else "predictions"
    columns = [
        Column("image"), num("rank", _maybe(str)), Column("class"), num("probability", _maybe("{:.2%}".format)),
        Column("read", csv_only=True), Column("adapted", csv_only=True), Column("warning", csv_only=True),
        Column("error", csv_only=True),
    ]  # fmt: skip
    return Table(title, columns, rows, notes)


def prediction_json(results, weights: str) -> dict:
    """The `weights` predicted with (where they came from, as the table's title and export's
    JSON say), and each image with its `top` classes, as read (`read`: height, width, Pillow's
    mode), what was done to it (`adapted`) and `warnings`; or with its `error` alone."""
    out = []
    for r in results:
        if r.error is not None:
            out.append({"image": r.image, "error": problem_json(r.error)})
            continue
        out.append({"image": r.image, "read": {"height": r.height, "width": r.width, "mode": r.mode},
                    "adapted": r.adapted, "warnings": [problem_json(w, "warning") for w in r.warnings],
                    "top": [{"class": n, "probability": p} for n, p in r.top]})  # fmt: skip
    return {"weights": weights, "predictions": out}


def bench_table(result) -> Table:
    """One row per model and step; a noisy measurement says so in its row, its ratios are
    marked `(noisy)`, and a note gives the reason and what to do (see cnnctl.train.bench)."""
    rows = []
    for t in result.timings:
        roof = None if t.roofline_seconds is None else 1e3 * t.roofline_seconds
        ratio = None if roof is None else (t.roofline_ratio, t.noisy)
        lo, hi = min(t.repeat_images_per_second), max(t.repeat_images_per_second)
        rows.append([t.model, t.mode, t.batch, t.images_per_second, (lo, hi), lo, hi, t.spread,
                     1e3 * t.percentile(50), 1e3 * t.percentile(90), 1e3 * t.percentile(99), t.tflops,
                     _mfu(t, result), t.roofline_images_per_second, roof, ratio, t.roofline_ratio,
                     "NOISY" if t.noisy else "steady"])  # fmt: skip
    ms = "{:.2f}".format
    columns = [
        Column("model"), Column("step"), num("batch"), num("img/s", "{:,.1f}".format),
        # text shows the slowest and fastest repeat in one column, CSV in two; the same for a ratio's mark
        Column("repeats img/s", lambda r: f"{r[0]:,.0f}-{r[1]:,.0f}", right=True, csv=False),
        Column("slowest repeat img/s", csv_only=True), Column("fastest repeat img/s", csv_only=True),
        num("spread", _maybe("{:.1%}".format)), num("p50 ms", ms), num("p90 ms", ms), num("p99 ms", ms),
        num("TFLOP/s", "{:.3f}".format), num("MFU", share), num("roofline img/s", _maybe("{:,.0f}".format)),
        # the estimate in the unit that fits (a small network's is a few µs); CSV: milliseconds
        Column("roofline", _maybe(lambda v: duration(v / 1e3)), right=True, key="roofline ms"),
        Column("step/roofline", _maybe(_ratio("{:.1f}x")), right=True, csv=False),
        Column("step/roofline", csv_only=True), Column("measurement"),
    ]  # fmt: skip
    notes = list(result.notes)
    for t in result.timings[:1]:  # the same steps and repeats for all
        notes.append(
            f"img/s: sustained, the images of all {plural(t.repeats, 'repeat')} of {plural(t.steps, 'step')} over "
            "their wall time; repeats img/s: the slowest and the fastest repeat; spread: (fastest - slowest) / "
            "median repeat; TFLOP/s, MFU and every ratio come from the sustained rate"
        )
    for mode, r in result.reference_ratios().items():
        each = ", ".join(f"{v:.3f}" for v in r.repeats)
        notes.append(f"{mode}: cnnctl / hand-written reference = {_ratio('{:.3f}')((r.value, r.uncertain))}, "
                     f"from sustained rates; repeat by repeat {each}")  # fmt: skip
    notes.append(
        "FLOPs: forward 2 x multiplications per image, training step 2 x forward and backward "
        "multiplications (the analyzer's exact counts: `cnnctl flops`)"
    )
    if result.profile:
        notes.append(f"roofline: the estimate per step on {result.profile} in {_precision(result.dtype)} (`cnnctl "
                     "flops --profile`), and the img/s it allows: a bound on GPUs; on a CPU, caches can beat the "
                     "measured bandwidth; step/roofline: the sustained time per step over it")  # fmt: skip
    for t in result.timings:
        if t.noisy:
            notes.append(f"NOISY: {t.model} {t.mode}: {t.noise_reason}; its figures and ratios are uncertain")
    if result.noisy:
        notes.append(f"  to measure again: {result.advice}")
    peak = (f", MFU against {result.peak_tflops:g} TFLOP/s ({getattr(result, 'dtype', 'float32')})"
            if result.peak_tflops else " (no peak known: --peak-tflops)")  # fmt: skip
    return Table(f"bench on {result.device}{peak}", columns, rows, notes)


def bench_data_table(data) -> Table:
    """bench --data: the loader alone, the training step alone and the two together, and the
    bottleneck (see cnnctl.train.bench)."""
    loaders = plural(data.workers, "loader process", "loader processes")
    held = f"streamed from disk, {loaders}" if data.streamed else "held in memory, batched by index"
    step = data.step
    rows = [
        ["loader", data.loader.images_per_second, data.loader.batches, data.loader.seconds,
         f"the training batches alone ({held})"],
        ["step", step.images_per_second, len(step.latencies), step.seconds,
         "training steps on synthetic data (the cnnctl train row above)"],
        ["together", data.together.images_per_second, data.together.batches, data.together.seconds,
         "training steps fed by the loader, as `train` runs them"],
    ]  # fmt: skip
    columns = [Column("measured"), num("img/s", "{:,.1f}".format), num("batches"), num("seconds", "{:.3f}".format),
               Column("what")]  # fmt: skip
    notes = [
        f"bottleneck: {data.verdict}",
        f"loader and together: {plural(data.warmup, 'batch', 'batches')} first (not timed: the loader's start), then "
        f"{plural(data.loader.batches, 'batch', 'batches')} of {data.batch} back to back, the device synchronised at "
        "the end",
    ]
    if data.skipped:
        notes.append(f"skipped {plural(data.skipped, 'unreadable image')} (left out of the batches)")
    notes += data.notes
    return Table(f"where the time goes: {data.data}, batch {data.batch}", columns, rows, notes)


def _bench_data_json(data) -> dict:
    rates = {"loader": data.loader.images_per_second, "step": data.step.images_per_second,
             "together": data.together.images_per_second}  # fmt: skip
    seconds = {"loader": data.loader.seconds, "step": data.step.seconds, "together": data.together.seconds}
    return {"data": data.data, "streamed": data.streamed, "workers": data.workers, "usable_cores": data.cores,
            "batch": data.batch, "warmup": data.warmup, "batches": data.loader.batches, "images_per_second": rates,
            "seconds": seconds, "bottleneck": data.bottleneck, "verdict": data.verdict, "skipped": data.skipped,
            "notes": data.notes}  # fmt: skip


def _maybe(fmt):
    return lambda v: "-" if v is None else fmt(v)


def _ratio(fmt: str):
    """(ratio, uncertain) as `1.3x`, or `1.3x (noisy)` when drawn from a noisy measurement."""
    return lambda r: fmt.format(r[0]) + (" (noisy)" if r[1] else "")


def _precision(dtype: str) -> str:
    """How a step's arithmetic ran: `float32`, or `mixed bfloat16` (autocast over float32 weights)."""
    return dtype if dtype == "float32" else f"mixed {dtype}"


def _mfu(timing, result) -> float | None:
    """Model FLOPs utilization: achieved TFLOP/s over the device's peak, when the peak is known."""
    return timing.tflops / result.peak_tflops if result.peak_tflops else None


def bench_json(result) -> dict:
    """`images_per_second` is sustained (all timed steps' images over their wall time); each
    timing says whether it is `noisy` and why; ratios carry `uncertain`. A timing without its
    latencies (a summary built elsewhere) gives the base fields alone."""
    timings = []
    for t in result.timings:
        row = {"model": t.model, "mode": t.mode, "batch": t.batch, "images_per_second": t.images_per_second,
               "latency_ms": {q: 1e3 * t.percentile(q) for q in (50, 90, 99)}, "tflops": t.tflops,
               "mfu": _mfu(t, result), "roofline_seconds": t.roofline_seconds,
               "roofline_images_per_second": getattr(t, "roofline_images_per_second", None)}  # fmt: skip
        if hasattr(t, "latencies"):
            row |= {"steps": t.steps, "repeats": t.repeats, "seconds": t.seconds,
                    "repeat_images_per_second": t.repeat_images_per_second, "spread": t.spread,
                    "p90_over_p50": t.tail, "noisy": t.noisy, "noise_reason": t.noise_reason,
                    "roofline_ratio": t.roofline_ratio,
                    "roofline_ratio_uncertain": t.noisy if t.roofline_seconds is not None else None}  # fmt: skip
        timings.append(row)
    data = {"device": result.device, "peak_tflops": result.peak_tflops, "roofline_profile": result.profile,
            "dtype": getattr(result, "dtype", "float32"),
            "notes": result.notes, "timings": timings}  # fmt: skip
    if hasattr(result, "reference_ratios"):
        data |= {
            "noisy": result.noisy,
            "noise_thresholds": result.thresholds,
            "advice": result.advice if result.noisy else None,
            "reference_ratio": {mode: {"ratio": r.value, "repeats": r.repeats, "uncertain": r.uncertain}
                                for mode, r in result.reference_ratios().items()},
            "data": _bench_data_json(result.data) if getattr(result, "data", None) is not None else None,
        }  # fmt: skip
    return data


def placement_rows(placement) -> list[list[str]]:
    """Where --weights put each tensor (exchange.weights.Placement): the network's tensor, the
    source's placed in it (or, for a head made anew, the one left out), the shape; then the
    tensors the source has none for (a head only training runs), which start as initialised."""
    placed = [
        [p.own, p.given if p.left_out is None else f"(made anew; {p.given} of {format_shape(p.left_out)} left out)",
         format_shape(p.shape)] for p in placement.placed
    ]  # fmt: skip
    return placed + [[t.own, INITIALISED, format_shape(t.shape)] for t in placement.fresh]


INITIALISED = "(as initialised; the source has none)"  # a tensor's `From` where the source has none for it


def weights_table(placement, said: str, network: str) -> Table:
    """`cnnctl weights`: each tensor of the network and the source's tensor placed in it."""
    how = "by name" if placement.by_name else "by structure, in the order of the layers"
    rows = placement_rows(placement)
    columns = [Column("Tensor"), Column("From"), Column("Shape", right=True)]
    title = f"{network}: {len(placement.placed):,} tensors from {said}, placed {how}"
    if placement.fresh:
        title += f"; {len(placement.fresh):,} tensors of the heads only training runs start as initialised"
    return Table(title, columns, rows)


def weights_json(placement, said: str) -> dict:
    return {
        "source": said,
        "by_name": placement.by_name,
        "tensors": [
            *({"tensor": p.own, "from": p.given, "shape": list(p.shape)} for p in placement.placed),
            *({"tensor": t.own, "from": None, "shape": list(t.shape)} for t in placement.fresh),  # as initialised
        ],
    }
