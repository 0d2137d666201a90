"""What `cnnctl flops` shows: the totals or each layer's cost, with what is counted; the JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...analysis.summary import COUNTED, NOT_COUNTED, Summary
from ...catalog import file_json
from ...shapes import format_shape
from ...words import both, duration, exact, share, short
from ..table import Column, Table, num
from .summary import LAYER, SHORTHAND, head_notes, heads_json

if TYPE_CHECKING:
    from ...analysis.layer_costs import LayerCostRow
    from ...analysis.roofline import Roofline
    from ...analysis.training import TrainingCost, TrainingStep

# flops' footer without --explain: what the counts are, in a line (COUNTED and NOT_COUNTED in full with it)
COUNTED_SHORT = (
    "Counted: multiplications = weight multiply-accumulates (PyTorch FlopCounterMode / 2); FLOPs = 2 x those + "
    "bias and element-wise work (--explain: the full definitions)"
)


def flops_table(
    s: Summary,
    per_layer: bool,
    cost: TrainingCost | None = None,
    times: Roofline | None = None,
    top: int | None = None,
    step: TrainingStep | None = None,
    explain: bool = False,
    step_times: Roofline | None = None,
    depth: int | None = None,
) -> Table:
    """Totals (forward; with `cost`, backward and a training step), or with `per_layer` each
    layer's share, heaviest first (the `top` ones, then the rest in one row); with `times`
    (a Roofline), each layer's roofline time; `step`: the training step train runs (its optimizer);
    `explain`: the full definitions of what is counted, else a line; `step_times`: the roofline of
    a training step on the same device, its total said beside the forward pass's; `depth`: the
    per-layer rows collapsed to groups of paths (as summarize --depth)."""
    from ...analysis.layer_costs import layer_costs
    from ..design import roofline_notes, training_notes, training_rows  # only what flops shows

    notes = [COUNTED_SHORT]
    if explain:
        notes = [f"Counted: {line}" for line in COUNTED] + [f"Not counted: {line}" for line in NOT_COUNTED]
    if cost is not None:
        notes += training_notes(cost, step, explain)
    if times is not None:
        notes += roofline_notes(times, step_times)
    batch = s.memory.batch
    if per_layer:
        rows = []
        for r in layer_costs(s, cost, times, top, depth):
            label = r.path if r.path is not None else f"({r.layers:,} other layers)"
            row = [label, r.shorthand, r.mults, r.mults_share, r.flops, r.flops_share]
            if cost is not None:
                row.append(r.backward_mults)
            if times is not None:
                row += [r.intensity, r.seconds, _bound(r) if r.layers == 1 else ""]
            if s.frozen_at and cost is not None:
                row += [_frozen(r), r.frozen]
            rows.append(row)
        each = "layer" if depth is None else f"group of paths deeper than {depth} (--depth)"
        title = f"{s.name}: cost per {each}, heaviest first (input {format_shape(s.input_shape)})"
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
            Column("Share", share, right=True, key="mults_share"),  # each Share follows its count
            num("FLOPs", exact),
            Column("Share", share, right=True, key="flops_share"),  # CSV: distinct headers, fractions
        ]
        if cost is not None:
            columns.append(num("Bwd mults", exact, key="backward_mults"))
        if times is not None:
            # CSV: the intensity and the time in seconds, as computed
            columns += [num("FLOP/B", _intensity, key="intensity"), Column("Time", duration, right=True, key="seconds"),
                        Column("Bound")]  # fmt: skip
        if s.frozen_at and cost is not None:  # --freeze: which layers it freezes (their Bwd mults are 0)
            # CSV: how many of the row's layers are frozen (a layer's 1 or 0), as JSON's `others` counts them
            columns += [Column("Frozen", csv=False), Column("frozen layers", csv_only=True)]
            notes.append(f"Frozen: the layers up to and including `{s.frozen_at}` (--freeze): no backward, "
                         "their parameters not updated")  # fmt: skip
        return Table(title, columns, rows, [total, *notes])
    # each row: its JSON key (CSV's first column: the words change with the settings), its words, the value twice
    rows = [["mults", "multiplications", s.mults, s.mults], ["flops", "FLOPs", s.flops, s.flops]]
    if batch > 1:
        rows += [
            ["batch_mults", f"multiplications x batch {batch}", s.mults * batch, s.mults * batch],
            ["batch_flops", f"FLOPs x batch {batch}", s.flops * batch, s.flops * batch],
        ]
    if s.heads:  # the rows above are inference's; a training forward pass runs the heads too
        rows += [["mults_with_heads", "multiplications with the heads (training)", s.mults_with_heads,
                  s.mults_with_heads],
                 ["flops_with_heads", "FLOPs with the heads (training)", s.flops_with_heads,
                  s.flops_with_heads]]  # fmt: skip
        notes += head_notes(s)
    if cost is not None:
        # the training forward's FLOPs where no row above gives them: a final softmax left to the loss, so that
        # they and the backward FLOPs add up to the step's
        shown = s.flops_with_heads if s.heads else s.flops
        rows += training_rows(cost, batch, None if cost.forward_flops == shown else shown)
    if s.heads:  # at inference as list gives them, then with the heads as training has them (compare's labels)
        rows += [["inference_params", "params at inference", s.inference_params, s.inference_params],
                 ["params", "params with the heads (training)", s.params, s.params]]  # fmt: skip
    else:
        rows.append(["params", "params", s.params, s.params])
    if s.frozen_at:  # --freeze: what trains and what does not (the optimizer updates the first only)
        rows += [["trainable_params", "trainable params", s.params - s.frozen, s.params - s.frozen],
                 ["frozen_params", f"frozen params (up to and including `{s.frozen_at}`)", s.frozen,
                  s.frozen]]  # fmt: skip
    title = f"{s.name}: cost of one forward pass on {format_shape(s.input_shape)}"
    if cost is not None:
        title = f"{s.name}: cost of a forward pass and a training step on {format_shape(s.input_shape)}"
    # CSV: the name and the exact value (the short column only restates it)
    columns = [Column("key", csv_only=True), Column("", key="count"), num("exact", exact),
               Column("short", short, right=True, csv=False)]  # fmt: skip
    return Table(title, columns, rows, notes)


def _intensity(flops_per_byte: float | None) -> str:
    """A roofline intensity: `0.13`, `148.25`; `-` for a layer that moves no bytes."""
    return "-" if flops_per_byte is None else f"{flops_per_byte:,.2f}"


def _bound(t: LayerCostRow) -> str:
    """What bounds a layer's roofline time: `compute`, `memory`, or `-` where it takes none."""
    return "-" if not t.seconds else "compute" if t.compute_bound else "memory"


def flops_json(
    s: Summary,
    per_layer: bool,
    cost: TrainingCost | None = None,
    times: Roofline | None = None,
    top: int | None = None,
    step: TrainingStep | None = None,
    step_times: Roofline | None = None,
    depth: int | None = None,
) -> dict:
    from ...analysis.layer_costs import layer_costs
    from ...analysis.training import OPTIMIZER_WORDS, OPTIMIZERS
    from ..design import roofline_json, step_json

    out = {
        "name": s.name,
        **file_json(s.file),  # a bundled network's: its name and `"bundled": true`
        "input": format_shape(s.input_shape),
        "batch": s.memory.batch,
        "mults": s.mults,
        "flops": s.flops,
        "batch_mults": s.mults * s.memory.batch,
        "batch_flops": s.flops * s.memory.batch,
        "params": s.params,  # all of them, the heads' too (as list's and summarize's JSON)
        "inference_params": s.inference_params,  # without the heads: the base of `mults` and `flops`
        "trainable_params": s.params - s.frozen,  # as summarize's totals: what the optimizer updates
        "frozen_params": s.frozen,
        # a training forward pass: with the heads (`outputs:`); no heads, no with-heads figure (a training forward's
        # FLOPs without a final softmax the loss applies are `training.forward_flops`)
        **({"mults_with_heads": s.mults_with_heads, "flops_with_heads": s.flops_with_heads} if s.heads else {}),
        "heads": heads_json(s),
        "counted": list(COUNTED),
        "not_counted": list(NOT_COUNTED),
    }
    if cost is not None:
        out["training"] = {
            # a training step's forward: the heads' too, a final softmax left to the loss not (step = it + backward)
            "forward_flops": cost.forward_flops,
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
        if step_times is not None:  # the step's roofline on `roofline`'s device, in its dtype (a lower bound)
            out["training"] |= {"roofline_seconds": step_times.seconds,
                                "roofline_compute_bound_seconds": step_times.compute_bound_seconds,
                                "roofline_bytes": step_times.bytes}  # fmt: skip
    if times is not None:
        out["roofline"] = roofline_json(times)
    if per_layer:
        rows = layer_costs(s, cost, times, top, depth)
        out["layers"] = [_layer_json(r) for r in rows if r.path is not None]  # a group (--depth) with its `layers`
        if rows and rows[-1].path is None:  # --top: the rest in one entry, as the table's last row
            out["others"] = {"layers": rows[-1].layers, **_layer_json(rows[-1])}
            del out["others"]["path"], out["others"]["shorthand"]
    return out


def _frozen(r: LayerCostRow) -> str:
    """A row's Frozen cell: `yes` for a frozen layer; of the rest's row, how many of its layers."""
    if r.layers > 1:
        return f"{r.frozen:,} of {r.layers:,}" if r.frozen else ""
    return "yes" if r.frozen else ""


def _layer_json(r: LayerCostRow) -> dict:
    """A LayerCostRow as JSON: its backward cost, its roofline and whether it is frozen (`frozen`;
    the rest's `frozen_layers`) only where computed."""
    row = {"path": r.path, "shorthand": r.shorthand, "mults": r.mults, "flops": r.flops,
           "mults_share": r.mults_share or 0.0, "flops_share": r.flops_share or 0.0}  # fmt: skip
    if r.layers > 1 and r.path is not None:  # a group collapsed by --depth: how many layers it sums
        row["layers"] = r.layers
    if r.backward_mults is not None:
        row.update(backward_mults=r.backward_mults, backward_flops=r.backward_flops)
    if r.seconds is not None:
        # what the roofline charges it moving (`_bytes`, as every count of bytes in JSON)
        row.update(seconds=r.seconds, roofline_bytes=r.bytes, intensity=r.intensity)
        if r.layers == 1:
            row["compute_bound"] = r.compute_bound
    if r.frozen is not None:
        row.update({"frozen": bool(r.frozen)} if r.layers == 1 else {"frozen_layers": r.frozen})
    return row
