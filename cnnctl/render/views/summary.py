"""What `cnnctl summarize` shows: its columns, the table with its notes, the JSON."""

from __future__ import annotations

from ...analysis.receptive import Field
from ...analysis.summary import Summary
from ...catalog import file_json
from ...graph import named_from
from ...shapes import format_shape
from ...words import both, exact, plural, size
from ..table import Column, Table, num
from .problems import problem_json

LAYER = Column("Layer", squeeze=True)
SHORTHAND = Column("Shorthand", wrap=True)


def field_text(f: Field) -> str:
    """`212`, `7x3`, `~5` (the largest of the positions' fields, which differ in size), or `all`
    (every output value sees the whole input). A field of one size placed unevenly (after a
    deconv f=2 s=2) is its size, unmarked: the legend says so (column_notes)."""
    if f.whole:
        return "all"
    h, w = (round(v, 2) for v in f.size)
    return ("~" if f.sizes_differ else "") + (f"{h:g}" if h == w else f"{h:g}x{w:g}")


# summarize's columns: name -> (header, the row's value, how it is shown). `from` is shown by
# default only where some layer's input is not simply the layer above (Keras' "Connected to").
SUMMARY_COLUMNS = ("layer", "shorthand", "input", "output", "kernel", "from", "params", "buffers", "mults", "flops",
                   "field", "jump", "start", "reach", "memory")  # fmt: skip
DEFAULT_COLUMNS = ("layer", "shorthand", "output", "from", "params", "mults", "field")  # googlenet fits 82 columns
# Other names for them, for the hint of a column not found: `layer` is the layer's path.
COLUMN_SYNONYMS = {"path": "layer", "name": "layer", "shape": "output", "macs": "mults", "receptive_field": "field",
                   "input_shape": "input", "output_shape": "output", "weights": "kernel", "weight": "kernel",
                   "kernel_shape": "kernel", "field_reach": "reach"}  # fmt: skip


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


SHAPE_COLUMNS = ("input", "kernel", "reach")  # the columns of what summarize collects only when asked (`shapes`)


def _check_shapes(s: Summary, columns: tuple[str, ...] | None) -> None:
    if columns is not None and not s.shapes and any(c in SHAPE_COLUMNS for c in columns):
        raise ValueError("the input, kernel and reach columns need summarize(..., shapes=True)")  # cnnctl's mistake


def reach_text(reach: tuple[tuple[int, int], tuple[int, int]] | None) -> str:
    """`0-6` (rows and columns 0 to 6), `0-6x0-9` (rows, then columns), `-`: only padding."""
    if reach is None:
        return "-"
    rows, cols = (f"{a}-{b}" for a, b in reach)
    return rows if rows == cols else f"{rows}x{cols}"


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
        "from": (Column("From", wrap=True, least=8, paths=True), lambda r, i: wired[i]),  # gives way first
        "params": (num("Params", exact), lambda r, i: r.params),
        "buffers": (num("Buffers", exact), lambda r, i: r.buffers),
        "mults": (num("Mults", exact), lambda r, i: r.mults),
        "flops": (num("FLOPs", exact), lambda r, i: r.flops),
        "field": (num("Field"), lambda r, i: field_text(r.field)),
        "jump": (num("Jump"), lambda r, i: "-" if r.field.whole else _pair(r.field.jump)),
        "start": (num("Start"), lambda r, i: "-" if r.field.whole else _pair(r.field.start)),
        "reach": (num("Reach"), lambda r, i: reach_text(r.reach)),
        "memory": (num("Memory", size), lambda r, i: r.memory),  # CSV: bytes
    }
    chosen = [cells[c] for c in columns]
    rows = [[value(r, i) for _, value in chosen] for i, r in enumerate(s.rows)]
    m = s.memory
    per_batch = f", {both(s.mults * m.batch)} per batch of {m.batch:,}" if m.batch > 1 else ""
    flops_batch = f", {both(s.flops * m.batch)} per batch of {m.batch:,}" if m.batch > 1 else ""
    inference = " at inference" if s.heads else ""
    frozen = f", {both(s.frozen)} frozen (up to and including `{s.frozen_at}`)" if s.frozen_at else ""
    params = f"{both(s.params - s.frozen)} trainable{frozen}"
    if s.heads:  # the headline at inference, as list, draw and the other counts give it; the heads' beside it
        of_them = f"{both(s.params - s.frozen)} of them trainable{frozen}" if s.frozen_at else "all trainable"
        params = f"{both(s.inference_params)} at inference; {both(s.params)} in training, with the heads, {of_them}"
    notes = [
        f"Layers: {s.layers:,}   input {format_shape(s.input_shape)} -> output {format_shape(s.output_shape)}",
        f"Params: {params}, {exact(s.buffers)} non-trainable buffers",
        f"Multiplications: {both(s.mults)} per image{inference}{per_batch}"
        + (f"; {both(s.mults_with_heads)} in training, with the heads" if s.heads else ""),
        f"FLOPs: {both(s.flops)} per image{inference}{flops_batch}"
        + (f"; {both(s.flops_with_heads)} in training" if s.heads else "")
        + " (`cnnctl flops --explain` says what is counted)",
        *head_notes(s),
        # what is counted said in the line: torchinfo's "forward/backward pass size", about twice this, is read
        # as the same figure
        f"Memory ({m.dtype}, batch {m.batch:,}): input {size(m.input)}, activations {size(m.activations)} (every "
        f"layer's output once, one forward pass), params {size(m.params)}, buffers {size(m.buffers)}, total "
        f"{size(m.total)} (a training step keeps more for the backward pass, and gradients: `cnnctl memory`)",
    ]
    notes += column_notes(s, columns)
    title = s.name if s.file == s.name else f"{s.name}  ({s.file})"  # a network piped in: `<stdin>` once
    return Table(title, [column for column, _ in chosen], rows, notes)


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
        differ = [r.field for r in s.rows if r.field.sizes_differ]
        placed = [r.field for r in s.rows if r.field.uneven and not r.field.sizes_differ]

        def after(fields: list) -> str:
            reasons = sorted({why for f in fields for why in f.because})
            return " or ".join(UNEVEN_BECAUSE.get(why, f"a {why}") for why in reasons)

        marks = ""
        if differ and after(differ):
            marks = f"~: the largest of the positions' fields, which differ in size after {after(differ)}; "
        elif differ:
            marks = "~: a field that contains each position's; "
        if placed:  # the mark once said `differ` of these too (a U-Net's deconv f=2 s=2: every position 24)
            marks += (f"after {after(placed) or 'such a layer'} a field unmarked is every position's size, "
                      "placed unevenly, not start + i*jump; ")  # fmt: skip
        notes.append(
            "Field: the receptive field of each output value, in input pixels per side, padding included: a field "
            f"larger than the image reaches into it ({marks}all: every pixel of the image; `--columns ...,reach`: "
            "what it reads of the image, exactly)"
        )
    if "jump" in columns:
        same = any(r.field.jump == (0, 0) and not r.field.whole for r in s.rows)  # after fc: one field for all
        notes.append(
            "Jump: how far apart, in input pixels, neighbouring output positions' fields start (the product of the "
            "strides" + ("; 0: every value sees the same pixels)" if same else ")")
        )
    if "start" in columns:
        notes.append("Start: the input pixel where output position 0's field starts (negative: in the padding)")
    if "reach" in columns:
        notes.append(
            "Reach: the rows and columns of the image the layer's output reads, exactly (first-last; rows x columns "
            "where they differ): never the padding, nor the last rows a stride leaves out; position i's field is "
            "start + i*jump to start + i*jump + field - 1, clipped to it"
        )
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
        "reach": ("field_reach",),
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
    reach = columns is not None and "reach" in columns
    for row, r in zip(layers, s.rows, strict=True):
        if r.field.uneven:
            row["field_uneven"] = True
        if r.training:
            row["training_only"] = True  # a head's (`outputs:`): not in the inference totals
        for c in extra:
            row[f"field_{c}"] = None if r.field.whole else getattr(r.field, c)
        if inputs:
            row["input_shapes"] = [shape_text(shape) for shape in r.in_shapes]
        if reach:  # [[first row, last row], [first column, last column]]; null: only padding
            row["field_reach"] = None if r.reach is None else [list(pair) for pair in r.reach]
        if kernel:  # PyTorch's names and shapes, as its state_dict: {"weight": [8, 1, 3, 3], "bias": [8]}
            row["param_shapes"] = {name: list(shape) for name, shape in r.param_shapes}
    if wanted is not None:
        layers = [{k: v for k, v in row.items() if k in wanted} for row in layers]
    return {
        "name": s.name,
        **file_json(s.file),  # a bundled network's: its name and `"bundled": true`
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
            "batch_mults": s.mults * m.batch,  # per batch (`-b`), as the text says them and flops' JSON gives them
            "batch_flops": s.flops * m.batch,
            "inference_params": s.inference_params,
            # a training forward pass (`outputs:`): no heads, no with-heads figure
            **({"mults_with_heads": s.mults_with_heads, "flops_with_heads": s.flops_with_heads} if s.heads else {}),
        },  # fmt: skip
        "heads": heads_json(s),
        "memory": {
            "batch": m.batch,
            "dtype": m.dtype,
            "input_bytes": m.input,
            "activation_bytes": m.activations,
            "param_bytes": m.params,
            "buffer_bytes": m.buffers,
            "weight_bytes": m.params + m.buffers,  # as memory's term: parameters and buffers
            "total_bytes": m.total,
        },
        "warnings": [problem_json(w, "warning") for w in s.warnings],  # as validate's details
    }
