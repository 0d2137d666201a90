"""What `memory`, `compare` and the training and roofline parts of `flops` show: analysis
data -> Table (for table/markdown/csv) or a JSON-able dict."""

from __future__ import annotations

from ..analysis.memory import CUBLAS_WORKSPACE, TrainingMemory
from ..analysis.receptive import Field
from ..analysis.roofline import Profile, Roofline, fp32_peak
from ..analysis.training import OPTIMIZER_WORDS, OPTIMIZERS, TrainingCost, TrainingStep
from ..catalog import file_json
from ..limits import MAX_INT
from ..shapes import format_shape
from ..words import duration, exact, size, size_in, size_unit
from ..words import ratio as ratio_text
from .table import Column, Table, num
from .views.summary import field_text

DEVICES = {"cuda": "a CUDA GPU", "cpu": "a CPU"}  # memory --device, in words
KEPT_MODEL = (
    "Kept for backward: the tensors PyTorch's kernels keep for the module cnnctl builds (each storage once: a "
    "conv's input, relu's output, batch norm's input and statistics, max pooling's int64 indices, dropout's "
    "mask...; an fc's flattened copy of a channels_last map); equal to the bytes measured with "
    "torch.autograd.graph.saved_tensors_hooks for every bundled network on CPU, channels_last as train runs it "
    "(tests/test_training_memory.py)."
)
PEAK_MODEL = {  # by --device: see cnnctl.analysis.memory
    "cuda": "Peak (cuda): the backward pass followed layer by layer, what is kept freed as its layers are done and "
    "each gradient alive from the layer that makes it to the layer it is for; plus the batch (once: where the "
    "first layer keeps the input as given, autograd holds that same tensor), cuBLAS's 32 MiB workspace (with an "
    "fc) and an allowance of 6% of what is kept, rounded up to a byte, for cuDNN's workspaces and the "
    "allocator's rounding. Under --amp each tensor in the dtype CUDA autocast gives it (layer and group norm in "
    "float32). Within 7% above the peaks measured on an H200 for six networks (README, Memory of a training "
    "step).",
    "cpu": "Peak (cpu): weights, gradients, optimizer state, what is kept, the most the backward pass holds at "
    "once beyond it (followed as on a GPU, what is kept freed as its layers are done, with the copies CPU "
    "kernels make: batch norm's second input gradient, a pool's contiguous copies where its output is flattened "
    "by copy), the loss's log-softmax, and the largest copy of a weight: the fused optimizer step and the backward "
    "pass copy each weight channels_last lays out apart from a contiguous tensor, the forward pass each conv's "
    "weight into oneDNN's layout (output channels padded up to 16), one at a time; in "
    "float32, the largest scratch of a grouped conv's weight gradient, groups x up16(n/groups) x up16(C_in/groups) "
    "x f_h x f_w x 4 bytes, where oneDNN's depthwise kernel does not take it: an upper estimate, but for oneDNN's "
    "per-thread scratchpad of a conv's forward pass (a tiny network at batch 1 or 2) and 16-bit convs' scratch "
    "(README, Memory of a training step).",
}


def memory_model(device: str) -> tuple[str, str]:
    """What the memory figures are, for --device."""
    return KEPT_MODEL, PEAK_MODEL.get(device, PEAK_MODEL["cuda"])


def field_json(f: Field | None) -> dict:
    """A receptive field in summarize's keys, the one shape every command gives it in: `receptive_field`
    [height, width] (null: the whole input, or no map at all), `field_jump` and `field_start` [height,
    width], and `field_uneven` only where true."""
    if f is None or f.whole:
        return {"receptive_field": None, "field_jump": None, "field_start": None}
    # the tuples as they are: JSON writes them as arrays
    out = {"receptive_field": f.size, "field_jump": f.jump, "field_start": f.start}
    if f.uneven:
        out["field_uneven"] = True
    return out


# -- flops: training step and roofline ---------------------------------------------------------
def training_rows(cost: TrainingCost, batch: int, forward_flops: int | None = None) -> list[list]:
    """The rows `flops` adds for a training step (one example, and the batch); `forward_flops`: the
    forward FLOPs shown above where the training forward's differ (a final softmax the loss applies,
    left out), which adds the training forward's row, the difference said, so the rows add up."""
    forward = []
    if forward_flops is not None:
        left = forward_flops - cost.forward_flops
        forward = [["forward_flops", f"training-forward FLOPs (final softmax left to the loss: -{left:,})",
                    cost.forward_flops]]  # fmt: skip
    steps = [["step_mults", "training-step multiplications", cost.step_mults],
             ["step_flops", "training-step FLOPs", cost.step_flops]]  # fmt: skip
    rows = [
        ["backward_mults", "backward multiplications", cost.backward_mults],
        steps[0],
        *forward,
        ["backward_flops", "backward FLOPs", cost.backward_flops],
        steps[1],
    ]
    if batch > 1:
        rows += [[f"batch_{key}", f"{name} x batch {batch}", value * batch] for key, name, value in steps]
    # the key: the JSON's (flops' `training` object), the CSV's first column
    return [[key, name, value, value] for key, name, value in rows]


def training_notes(cost: TrainingCost, step: TrainingStep | None = None, explain: bool = False) -> list[str]:
    """What the training rows count (with `explain`); the optimizer's update: for `step` (the one
    train runs for the network, with where its settings came from), and with `explain` (or
    without a step) for each optimizer in train's words. Frozen parameters (`--freeze`) are said
    apart: the optimizer updates the trainable ones only."""
    params = f"{exact(cost.params)} trainable parameters ({exact(cost.frozen)} frozen: no update)"
    told = step.from_.items() if step is not None else ()
    said = "; ".join(f"{name}: {where}" for name, where in told if name not in ("amp", "batch"))
    if not explain and step is not None:
        whose = f" of the {params}" if cost.frozen else ""
        return [f"Optimizer update per step{whose}, whatever the batch: {step.words} ({said}), "
                f"{exact(cost.optimizer_flops(step.kind))} FLOPs"]  # fmt: skip
    updates = ", ".join(f"{OPTIMIZER_WORDS[name]} {exact(cost.optimizer_flops(name))}" for name in OPTIMIZERS)
    whose = f", of the {params}" if cost.frozen else ""
    runs = []
    if step is not None:
        runs = [f"The step `cnnctl train` runs: {step.words} ({said}), {exact(cost.optimizer_flops(step.kind))} "
                "FLOPs an update"]  # fmt: skip
    optimizer = (
        f"Optimizer update per step, whatever the batch, in FLOPs{whose}: {updates} (per parameter: "
        + ", ".join(f"{OPTIMIZER_WORDS[name]} {flops}" for name, (flops, _) in OPTIMIZERS.items())
        + "; weight decay 2 more, except adamw's 1 included)"
    )
    if not explain:
        return [optimizer]
    return [
        "Backward: the weight gradient of every conv, deconv and fc (as many multiplications as the forward), "
        "and the input gradient of every layer with something trainable before it (the first conv's is never "
        "computed); element-wise work as the forward's, only where a gradient flows through the layer: to its "
        "input (something trainable before it) or to its own parameters (a pool or activation on the image "
        "computes none). A final softmax (the output's `act=softmax` or softmax layer, a head's too) is left to "
        "the loss, as `cnnctl train` runs it (cross-entropy on logits): in the FLOPs row, not in the training "
        "step's. 2 x training-step multiplications = PyTorch's "
        "FlopCounterMode over forward and backward (with PyTorch's grouped-convolution weight-gradient count "
        "corrected, pytorch PR #183405).",
        optimizer,
        *runs,
    ]


def peak_words(profile: Profile, dtype: str) -> str:
    """The dtype and the peak a roofline computes at, as the notes say them: `bfloat16, 989.4
    TFLOP/s`; in float32 where the GPU has TF32 beside plain FP32, both and which layers run at
    which (cnnctl.analysis.roofline.layer_peak): `float32: convs at TF32 494.7, fc at FP32 66.9
    TFLOP/s`."""
    peak, fp32 = profile.peak[dtype] / 1e12, fp32_peak(profile, dtype)
    if fp32 is None or fp32 == profile.peak[dtype]:
        return f"{dtype}, {peak:g} TFLOP/s"
    return f"{dtype}: convs at TF32 {peak:g}, fc at FP32 {fp32 / 1e12:g} TFLOP/s"


def roofline_notes(r: Roofline, step: Roofline | None = None) -> list[str]:
    """The roofline's total for a forward pass (and, with `step`, a training step's on the same
    device) and its formula; the ridge point (of convs and of the rest, where their peaks differ)."""
    compute = r.compute_bound_seconds / r.seconds if r.seconds else 0.0
    peak, bandwidth = r.peak / 1e12, f"{r.profile.bandwidth / 1e9:,.0f} GB/s"
    precision = peak_words(r.profile, r.dtype)
    if r.amp:  # 16 bits: one peak
        precision = f"mixed {r.dtype}: activations in autocast's dtypes, float32 weights, {peak:g} TFLOP/s"
    training = []
    if step is not None:
        share = step.compute_bound_seconds / step.seconds if step.seconds else 0.0
        training = [
            f"Roofline of a training step, batch {step.batch:,}: at least {duration(step.seconds)}, {share:.0%} of "
            "it in compute-bound layers; each layer at max((forward + backward FLOPs) / peak, 3 x its forward "
            "bytes / bandwidth) (the backward reads the output's gradient and what was kept, and writes the "
            "input's and the weights' gradients; dropout moves its data), a frozen layer's forward alone, the "
            "optimizer's update not included"
        ]
    two = r.fc_peak != r.peak
    peaks = ""
    if two:  # cnnctl.analysis.roofline.layer_peak
        peaks = (
            " (float32: a conv at the TF32 peak, as cuDNN runs it by PyTorch's default; an fc's matmul and "
            "element-wise work at the FP32 peak, PyTorch's default leaving matmuls out of TF32)"
        )
    ridge = f"Ridge point: {r.ridge:,.1f} FLOP/B ({peak:g} TFLOP/s / {bandwidth})"
    if two:
        ridge = (f"Ridge point: {r.ridge:,.1f} FLOP/B for a conv ({peak:g} TFLOP/s / {bandwidth}), "
                 f"{r.fc_ridge:,.1f} FLOP/B for the other layers ({r.fc_peak / 1e12:g} TFLOP/s)")  # fmt: skip
    return [
        f"Roofline on {r.profile.name} ({precision}, {bandwidth}), "
        f"batch {r.batch:,}: at least {duration(r.seconds)} per forward pass, {compute:.0%} of it in "
        "compute-bound layers; a lower bound: each layer at max(FLOPs / peak, bytes / bandwidth)"
        f"{peaks}, bytes = inputs + output + weights once (none for a view, such as flatten, or dropout at "
        "inference)",
        *training,
        f"{ridge}: a layer whose intensity (FLOPs / bytes, FLOP/B) is above it is compute-bound, below it memory-bound",
    ]


def profile_json(profile: Profile, dtype: str) -> dict:
    """A device profile as every command's JSON gives it: its key (`h100`), its display name beside
    it, the peak (of `dtype`: a conv's, TF32's in float32 where the GPU has it), in float32 the
    plain FP32 peak an fc runs at (`fp32_peak_flops_per_second`: the same where the device has one
    float32 peak; null in another dtype), and the bandwidth the roofline is drawn with."""
    return {
        "profile": profile.key,
        "profile_name": profile.name,
        "peak_flops_per_second": profile.peak[dtype],
        "fp32_peak_flops_per_second": fp32_peak(profile, dtype),
        "bandwidth_bytes_per_second": profile.bandwidth,
    }


def roofline_json(r: Roofline) -> dict:
    return {
        **profile_json(r.profile, r.dtype),
        "dtype": r.dtype,
        "amp": r.amp,
        "batch": r.batch,
        "seconds": r.seconds,
        "compute_bound_seconds": r.compute_bound_seconds,
        "roofline_bytes": r.bytes,  # what the layers move, as `training.roofline_bytes`
        "ridge_flops_per_byte": r.ridge,  # a conv's; the other layers' where their peak differs (float32)
        "fp32_ridge_flops_per_byte": r.fc_ridge if r.dtype == "float32" else None,
        "lower_bound": True,
    }


# -- memory ------------------------------------------------------------------------------------
def step_settings(step: TrainingStep, device: str = "cuda") -> str:
    """The training step's settings and where each came from: `batch 16 (the file's train:),
    sgd (momentum 0.9) (optimizer: the file's train:; momentum: train's default), ...`; on a CPU
    with amp, said not to be train's step (train runs float32 there: `train_runs`)."""
    said = {"batch": f"batch {step.batch:,}", "optimizer": f"optimizer {step.optimizer}",
            "momentum": f"momentum {step.momentum:g}", "amp": f"amp {'on' if step.amp else 'off'}"}  # fmt: skip
    settings = ", ".join(f"{said[name]} ({where})" for name, where in step.from_.items())
    if not train_runs(device, step.amp):
        return f"Settings: {settings}; not the step `cnnctl train` runs: {CPU_AMP}"
    return f"Settings, as `cnnctl train` runs the step: {settings}"


# `cnnctl train` turns amp off on a CPU (train/fastpath.py decide(); bench says so too)
CPU_AMP = "on a CPU train runs float32 (its --amp is off there); these figures are CPU autocast's to bfloat16"


def train_runs(device: str, amp: bool) -> bool:
    """Whether `cnnctl train` runs the step as sized: not with amp on a CPU, where it runs float32."""
    return not (amp and device == "cpu")


def step_json(step: TrainingStep) -> dict:
    """The step's settings as JSON: batch, optimizer in train's words, momentum (sgd), amp, and
    `settings_from`: where each came from."""
    out = {"batch": step.batch, "optimizer": step.optimizer}
    if step.optimizer == "sgd":
        out["momentum"] = step.momentum
    return {**out, "amp": step.amp, "settings_from": dict(step.from_)}


def memory_parts(m: TrainingMemory, optimizer: str | None = None) -> list[tuple[str, str, int]]:
    """The terms of the peak, in the order they add up: (JSON key, label, bytes). A GPU's terms
    (the batch, cuBLAS's workspace, the allowance) only on --device cuda, where they are modelled.
    `optimizer`: the optimizer in train's words (`sgd (momentum 0.9)`), else its model's name."""
    state = OPTIMIZERS[m.optimizer][1]
    cuda = m.device == "cuda"
    parts = [
        ("weight_bytes", "weights and buffers", m.weights),
        ("gradient_bytes", "gradients", m.gradients),
        ("optimizer_state_bytes", f"optimizer state ({optimizer or m.optimizer}: {state} per parameter)",
         m.optimizer_state),
        ("saved_bytes", "activations kept for backward", m.saved),
    ]  # fmt: skip
    if not cuda:
        return [
            *parts,
            ("in_flight_bytes", "gradients in flight (the most the backward pass holds)", m.in_flight),
            ("weight_copy_bytes", "a weight's copy (the largest)", m.weight_copy),
            ("conv_scratch_bytes", "a grouped conv's weight-gradient scratch (oneDNN, the largest)", m.conv_scratch),
        ]
    return [
        *parts,
        ("batch_bytes", "the batch (0 where a layer keeps it as given)", m.batch_input),
        ("in_flight_bytes", "gradients in flight at the peak", m.in_flight),
        ("cublas_workspace_bytes", "cuBLAS's workspace (with an fc)", m.cublas_workspace),
        ("allowance_bytes", f"allowance ({m.allowance_percent}% of kept, rounded up)", m.allowance),
    ]


# memory's footer without --explain: the model in a line (memory_model in full with it)
MODEL_SHORT = "Computed from the network, not measured (--explain: what is kept for backward, how the peak is modelled)"


def memory_table(
    m: TrainingMemory,
    name: str,
    budget: int | None,
    step: TrainingStep | None = None,
    explain: bool = False,
    device_from: str | None = None,
) -> Table:
    """`step`: the settings the step was sized for and where they came from (said in a note);
    `explain`: how the figures are modelled, in full (else a line); `budget`: the device's
    memory, `m` being at the largest batch within it; `device_from`: how --device came to be
    (`--device auto: no CUDA GPU seen`)."""
    words = step.words if step is not None else m.optimizer
    rows = [[key, label, nbytes, nbytes] for key, label, nbytes in memory_parts(m, words)]
    rows.append(["peak_bytes", "peak of a training step", m.peak, m.peak])
    amp = ", mixed precision (16-bit activations)" if m.amp else ""
    if not train_runs(m.device, m.amp):
        amp = ", CPU autocast (bfloat16 activations), not what train runs"
    device = DEVICES.get(m.device, m.device)
    said = device_from or f"--device {m.device}"
    title = (
        f"{name}: memory of a training step, estimated for {device} ({said}), batch {m.batch:,}, "
        f"{m.dtype}{amp}, {words}"
    )
    allowance = f" + {m.allowance_percent}% of {exact(m.saved)} kept, rounded up" if m.allowance_percent else ""
    each = [f"{exact(m.saved_per_example)} kept", f"{exact(m.batch_input_per_example)} the batch",
            f"{exact(m.in_flight_per_example)} in flight"]  # fmt: skip
    notes = [step_settings(step, m.device)] if step is not None else []
    notes += [
        f"Peak = {exact(m.fixed)} whatever the batch + {exact(m.per_example)} per example x {m.batch:,}{allowance}. "
        f"Per example: {' + '.join(each if m.device == 'cuda' else each[::2])}; kept = {exact(m.saved_fixed)} "
        f"whatever the batch + {exact(m.saved_per_example)} x {m.batch:,}",
    ]
    if explain:
        notes.append(
            "Computed from the network, not measured: nothing runs, whatever this machine has. --device picks the "
            "kernels' model: PyTorch's CUDA kernels (cuda: dropout's mask 1 byte per value, statistics float32, "
            "autocast's dtypes) or its CPU kernels (cpu)."
        )
    if budget is not None and m.batch >= MAX_INT:  # the budget has room for more than any batch may be
        notes.append(f"Largest batch within {size(budget)}: {m.batch:,}, the largest a batch may be (peak "
                     f"{size(m.peak)}, within the budget); the figures above are at it")  # fmt: skip
    elif budget is not None:  # `m` is at the largest batch within it (`memory --budget`)
        notes.append(f"Largest batch within {size(budget)}: {m.batch:,} (peak {size(m.peak)}); the figures above are "
                     f"at it, one more example would need {size(m._replace(batch=m.batch + 1).peak)}")  # fmt: skip
    notes += list(memory_model(m.device)) if explain else [MODEL_SHORT]
    # CSV: every column named, a row by its JSON key (the label's words change with the settings); the size only
    # restates the bytes (as flops' short column)
    columns = [Column("key", csv_only=True), Column("", key="part"), num("bytes", exact),
               Column("size", size, right=True, csv=False)]  # fmt: skip
    return Table(title, columns, rows, notes)


def kept_rows(m: TrainingMemory, depth: int | None = None) -> list[tuple[int, str, int, int]]:
    """What is kept for backward at the batch, by the layer whose tensor it is (the input
    image, or autocast's copy of it, as `input`): (its place in network order, path, bytes, layers),
    largest first (ties in network order), the one order of the table, CSV and JSON; the rows add up
    to `m.saved`. `depth`: the layers of each group of paths deeper than that in one row, as
    summarize --depth collapses them (analysis.summary.group_key)."""
    from ..analysis.summary import group_key

    layers = [("input", m.input_saved)] + [(r.path, r.per_example * m.batch + r.fixed) for r in m.layers]
    groups: dict[str, list[int]] = {}
    for path, b in layers:
        if b:
            groups.setdefault(path if depth is None or path == "input" else group_key(path, depth), []).append(b)
    rows = [(i, key, sum(kept), len(kept)) for i, (key, kept) in enumerate(groups.items())]
    return sorted(rows, key=lambda r: -r[2])


def memory_layers_table(m: TrainingMemory, top: int | None, depth: int | None = None) -> Table:
    kept = [(path, b) for _, path, b, _ in kept_rows(m, depth)]
    rows = [[path, b, b] for path, b in (kept[:top] if top else kept)]
    if top and len(kept) > top:  # the rest in one row, as flops --top does: the column still adds up
        rest = sum(b for _, b in kept[top:])
        rows.append([f"({len(kept) - top:,} other layers)", rest, rest])
    return Table(
        f"kept for backward, by the {'layer' if depth is None else f'group of paths deeper than {depth}'} "
        f"whose tensor it is, largest first (batch {m.batch:,})",
        # CSV: JSON's key for what a layer keeps
        [
            Column("Layer", squeeze=True),
            Column("bytes", exact, right=True, key="saved_bytes"),
            Column("size", size, right=True, csv=False),
        ],
        rows,
        [
            f"The rows add up to what is kept: {exact(m.saved)} bytes. input: the image, as the first layers keep it "
            "(under --amp autocast's 16-bit copy); a layer's row: its output (and autocast's copies of it) where a "
            "later layer keeps it, and its own tensors"
        ],
    )


def memory_json(
    m: TrainingMemory,
    name: str,
    budget: int | None,
    per_layer: bool,
    step: TrainingStep | None = None,
    file: str | None = None,
    depth: int | None = None,
    device_from: str | None = None,
) -> dict:
    """`step`: the settings the step was sized for: the optimizer in train's words, its momentum
    and where each setting came from (`settings_from`); `file`: the network's, as read; `depth`: the
    per-layer rows collapsed (kept_rows), largest first as the table, `order` their place in the network;
    `device_from`: how --device came to be (`device_from`)."""
    settings = step_json(step) if step is not None else {"batch": m.batch, "optimizer": m.optimizer, "amp": m.amp}
    out = {
        "name": name,
        **file_json(file),
        **settings,
        "dtype": m.dtype,
        "device": m.device,
        **({"device_from": device_from} if device_from else {}),
        "train_runs_it": train_runs(m.device, m.amp),  # false: --amp on a CPU, where train runs float32
        # the terms of the peak: they add up to peak_bytes
        **{key: nbytes for key, _, nbytes in memory_parts(m)},
        "peak_bytes": m.peak,
        # weight_bytes split as summarize's memory splits it: one name for each, in every command
        "param_bytes": m.weights - m.buffers,
        "buffer_bytes": m.buffers,
        # peak = fixed + per example x batch + allowance percent of (saved fixed + saved per example x batch), up
        "per_example_bytes": m.per_example,
        "fixed_bytes": m.fixed,
        "saved_per_example_bytes": m.saved_per_example,
        "saved_fixed_bytes": m.saved_fixed,
        "allowance_percent": m.allowance_percent,
        "model": list(memory_model(m.device)),
    }
    if budget is not None:  # `m` is at the largest batch within it: `batch` and `peak_bytes` too
        out["budget_bytes"] = budget
        out["largest_batch"] = m.batch
        out["largest_batch_peak_bytes"] = m.peak
    if per_layer:
        out["layers"] = [{"path": path, "saved_bytes": b, "order": i, **({"layers": n} if n > 1 else {})}
                         for i, path, b, n in kept_rows(m, depth)]  # fmt: skip
    return out


# -- compare -----------------------------------------------------------------------------------
def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return exact(value)
    return str(value)


def _ratio(a: object, b: object) -> float | None:
    """B / A of two figures where both are numbers (a receptive field: where both are square
    and not the whole input), None otherwise."""
    if isinstance(a, Field) and isinstance(b, Field):
        if a.whole or b.whole or a.size[0] != a.size[1] or b.size[0] != b.size[1]:
            return None
        a, b = a.size[0], b.size[0]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    return b / a if numeric and a else None  # type: ignore[operator]


def _figures(where: dict, heads: bool) -> list[tuple[str, str, object]]:
    """(key, label, how a value is shown in text; None: as a number) for each compared figure;
    where a network has heads only training runs (`heads`), the counts at inference, as
    summarize gives them, then with the heads."""
    step = where["step"]
    batch, dtype = f"batch {step.batch:,}", where["dtype"]
    precision = f"{dtype} with amp" if step.amp else dtype
    latency = peak_words(where["roofline_profile"], where["latency_dtype"])  # in float32: convs TF32, fc FP32
    latency = f"mixed {latency}" if step.amp else latency
    said = f" ({where['device_from']})" if where.get("device_from") else ""  # how --device came to be
    on = f"{DEVICES[where['device']]}{said}, {precision}"
    inference = " at inference" if heads else ""
    rows: list[tuple[str, str, object]] = [
        ("input", "input", format_shape),
        ("output", "output", format_shape),
        ("layers", "layers", None),
        ("inference_params", f"params{inference}", None),
        ("mults", f"multiplications (forward{inference}, per image)", None),
        ("flops", f"FLOPs (forward{inference}, per image)", None),
    ]
    if heads:
        rows += [
            ("params", "params with the heads (training)", None),
            ("mults_with_heads", "multiplications with the heads (training forward, per image)", None),
            ("flops_with_heads", "FLOPs with the heads (training forward, per image)", None),
        ]
    if where.get("freeze") is not None:
        rows.append(("trainable_params", f"trainable params (--freeze {where['freeze']})", None))
    rows += [
        ("step_mults", "multiplications (training step, per image)", None),
        ("memory_peak", f"training memory ({on}, {batch}, {step.words})", size),
        ("memory_less_cublas", "training memory less cuBLAS's workspace", size),
    ]
    if where.get("budget") is not None:
        rows.append(("largest_batch", f"largest batch within {size(where['budget'])}", None))
    rows += [
        ("field", "receptive field (last map)", field_text),
        ("latency", f"roofline latency ({where['profile_name']}, {batch}, {latency})", duration),
    ]
    return rows


def compare_tables(entries: list[dict], where: dict, labels: list[str] | None = None) -> list[Table]:
    """Side by side: a row per figure, a column per network (and B / A for two); then the stages.
    `labels`: each network's column, in place of its name (a run by its folder)."""
    names = labels or [e["name"] for e in entries]
    ratio = len(entries) == 2
    columns = [Column("", key="figure"), *(Column(n, _cell, right=True, key=n) for n in names)]  # CSV: named
    if ratio:
        columns.append(Column(f"{names[1]} / {names[0]}", lambda v: "" if v is None else ratio_text(v), right=True,
                              key=f"{names[1]}_over_{names[0]}"))  # fmt: skip
    rows = []
    heads = any(e["heads"] for e in entries)
    figures = _figures(where, heads)
    # a network's memory figures in one unit, its largest's: `1.02 GiB` above `0.99 GiB`, not `1,014.30 MiB`
    sizes = [key for key, _, shown in figures if shown is size]
    units = [size_unit(max(e[k] for k in sizes if e[k] is not None)) if any(e[k] is not None for k in sizes)
             else "B" for e in entries]  # fmt: skip
    for key, label, shown in figures:
        values = [e[key] for e in entries]
        cell = [v if shown is None or v is None else size_in(v, u) if shown is size else shown(v)
                for v, u in zip(values, units, strict=True)]  # fmt: skip
        rows.append([label, *cell])
        if ratio:
            rows[-1].append(_ratio(*values))
    notes = [
        step_settings(where["step"], where["device"]),
        "receptive field (last map): of the last layer whose output is still a map of more than one position; "
        "`all` where each of its values sees the whole image (after a squeeze-and-excitation gate)",
        "training memory: `cnnctl memory` says what it holds; of it cuBLAS's workspace, "
        f"{size(CUBLAS_WORKSPACE)} wherever an fc runs, is the same for any network: the next row leaves it out",
        "roofline latency: a lower bound, `cnnctl flops --profile` shows it layer by layer",
    ]
    if heads:
        named = "; ".join(f"{n}: {', '.join(e['heads'])}" for n, e in zip(names, entries, strict=True) if e["heads"])
        notes.append(
            f"heads only training runs (`outputs:`; {named}): not in the counts at inference, in those with the "
            "heads, in the training step and in training memory"
        )
    files = " | ".join(f"{n}: {e['file']}" for n, e in zip(names, entries, strict=True))
    tables = [Table(f"compare  ({files})", columns, rows, notes)]
    # Where no network has a group of layers, the rows would be summarize's, layer by layer.
    if any(row["layers"] > 1 for e in entries for row in e["stages"].values()):
        tables.append(_stage_table(entries, names, heads))
    return tables


def merged_order(orders: list[list[str]]) -> list[str]:
    """The names of several ordered lists in one order that keeps each list's: a name not yet
    placed goes before the next of its own list's names that is (`pool1` and `fc1`, shared,
    stay after the stages each network has of its own), else at the end."""
    merged: list[str] = []
    for order in orders:
        for i, name in enumerate(order):
            if name in merged:
                continue
            after = next((later for later in order[i + 1 :] if later in merged), None)
            merged.insert(len(merged) if after is None else merged.index(after), name)
    return merged


def _stage_table(entries: list[dict], names: list[str], heads: bool) -> Table:
    """Params and multiplications per top-level group of layers and per top-level layer, a
    row each, by name across the networks: every layer in one row."""
    stages = merged_order([list(e["stages"]) for e in entries])
    stage_columns = [Column("stage")]
    for n in names:
        stage_columns += [Column(f"{n} params", _cell, right=True, key=f"{n}_params"),
                          Column(f"{n} mults", _cell, right=True, key=f"{n}_mults")]  # fmt: skip
    stage_rows = []
    for stage in stages:
        training = any(e["stages"].get(stage, {}).get("training_only") for e in entries)
        row: list = [f"{stage} (training only)" if training else stage]
        for e in entries:
            got = e["stages"].get(stage)
            row += [None, None] if got is None else [got["params"], got["mults"]]
        stage_rows.append(row)
    totals = "params and multiplications" + (" with the heads (a training forward pass)" if heads else "")
    note = f"every layer is in one row: each network's rows add up to its {totals}"
    return Table("per stage (each top-level group of layers, and each top-level layer)", stage_columns, stage_rows,
                 [note])  # fmt: skip


def compare_json(entries: list[dict], where: dict) -> dict:
    networks = []
    for e in entries:
        renamed = ("field", "input", "output", "latency", "memory_peak", "memory_less_cublas")
        item = {}
        for k, v in e.items():  # the file in its place: a bundled network's name and `"bundled": true`
            item.update(file_json(v) if k == "file" else {} if k in renamed else {k: v})
        item.update(
            input=format_shape(e["input"]),
            output=format_shape(e["output"]),
            memory_peak_bytes=e["memory_peak"],
            memory_less_cublas_bytes=e["memory_less_cublas"],
            latency_seconds=e["latency"],
            **field_json(e["field"]),
        )
        networks.append(item)
    step = step_json(where["step"])
    keys = ("dtype", "device", "device_from", "budget", "freeze")
    # the latency's device as flops' and bench's JSON give it, its peaks those of what the latency computes in
    settings = {
        **{key: where.get(key) for key in keys},
        **profile_json(where["roofline_profile"], where["latency_dtype"]),
    }
    settings["train_runs_it"] = train_runs(where["device"], where["step"].amp)
    return {**step, **settings, "networks": networks}
