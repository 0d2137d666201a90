"""The designer's commands from the command line: memory, compare, flops' training and roofline
parts, summarize's columns. Figures come from the course and hand formulas; mistakes are one
located message and exit 2."""

import csv
import io
import json
import math

import pytest
from test_cli import cli

from cnnctl.analysis.summary import summarize
from cnnctl.api import load, load_text
from cnnctl.graph import INPUT
from cnnctl.render.views import summary_table

# The course's Inception example: 28x28x192 -> 5x5 conv to 32 channels, directly or through a
# 1x1 bottleneck of 16: (28*28*32)*(5*5*192) and (28*28*16)*(1*1*192) + (28*28*32)*(5*5*16).
DIRECT = 28 * 28 * 32 * 5 * 5 * 192
BOTTLENECK = 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16


def test_compare_answers_the_bottleneck_question_in_one_command():
    out = cli("compare", "examples/inception_5x5.yaml", "examples/inception_bottleneck.yaml", "-f", "json")
    assert out.returncode == 0, out.stderr
    a, b = json.loads(out.stdout)["networks"]
    assert (a["mults"], b["mults"]) == (DIRECT, BOTTLENECK) == (120_422_400, 12_443_648)
    text = cli("compare", "examples/inception_5x5.yaml", "examples/inception_bottleneck.yaml").stdout
    row = next(ln for ln in text.splitlines() if ln.startswith("multiplications (forward"))
    assert row.split()[-3:] == ["120,422,400", "12,443,648", f"{BOTTLENECK / DIRECT:.3f}"]  # about 10x fewer


def test_compare_shows_stages_side_by_side():
    out = cli("compare", "resnet18", "resnet34", "-f", "csv")
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0][0] == "figure" and rows[0][1:3] == ["resnet18", "resnet34"]  # no empty first header
    params = next(r for r in rows if r[0] == "params")
    assert params[1:3] == ["11689512", "21797672"]  # torchvision's published counts
    text = cli("compare", "resnet18", "resnet34").stdout
    assert "per stage" in text and "layer3" in text


def test_compare_gives_the_field_of_the_last_map_not_of_the_global_pool():
    out = cli("compare", "resnet18", "resnet50", "-f", "json")
    a, b = json.loads(out.stdout)["networks"]
    # ResNet-18's layer4 by hand (test_receptive_field); a global pool's would be 627 or `all`
    assert (a["field_layer"], a["receptive_field"]["size"]) == ("layer4.2.add", [435, 435])
    assert b["field_layer"] == "layer4.3.add"


def test_compare_needs_two_networks():
    out = cli("compare", "resnet18")
    assert out.returncode == 2 and "needs two networks" in out.stderr and "Traceback" not in out.stderr


def test_compare_names_a_run_by_its_folder_and_repeated_names_by_what_was_given(tmp_path, monkeypatch, capsys):
    # `compare runs/l1 lenet5` labelled both columns and the ratio `lenet5 / lenet5`
    from helpers import run_main

    monkeypatch.chdir(tmp_path)
    text = "name: tiny\ninput: 8x8x1\nlayers:\n  - fc 10\n"
    (tmp_path / "runs" / "l1").mkdir(parents=True)
    (tmp_path / "runs" / "l1" / "network.yaml").write_text(text)  # what a run folder holds of its network
    (tmp_path / "runs" / "l1" / "config.json").write_text('{"data": "shapes", "epochs": 1}')  # and of its settings
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text.replace("fc 10", "fc 20"))
    code, out, err = run_main(monkeypatch, capsys, "compare", "runs/l1", "a.yaml")
    assert code == 0, err
    header = out.splitlines()[1].split()
    assert header == ["runs/l1", "tiny", "tiny", "/", "runs/l1"]  # the columns, then the ratio's
    code, out, err = run_main(monkeypatch, capsys, "compare", "a.yaml", "b.yaml")  # both called tiny
    assert code == 0 and out.splitlines()[1].split() == ["a.yaml", "b.yaml", "b.yaml", "/", "a.yaml"], err


def test_memory_budget_gives_the_largest_batch_that_fits():
    out = json.loads(cli("memory", "resnet18", "--budget", "8GiB", "-f", "json").stdout)
    best = out["largest_batch"]
    assert out["budget_bytes"] == 8 * 2**30 and best > 0
    at = json.loads(cli("memory", "resnet18", "--batch", str(best), "-f", "json").stdout)["peak_bytes"]
    over = json.loads(cli("memory", "resnet18", "--batch", str(best + 1), "-f", "json").stdout)["peak_bytes"]
    assert at <= 8 * 2**30 < over
    # the parts add up, and adam keeps two values per parameter (float32: 8 bytes each)
    assert out["optimizer_state_bytes"] == 2 * 4 * 11_689_512
    assert out["gradient_bytes"] == 4 * 11_689_512
    parts = (
        "weight_bytes",
        "gradient_bytes",
        "optimizer_state_bytes",
        "saved_bytes",
        "batch_bytes",
        "in_flight_bytes",
        "cublas_workspace_bytes",
        "allowance_bytes",
    )
    assert sum(out[k] for k in parts) == out["peak_bytes"]
    # and by the README's formula: fixed + per example x b + 6% of what is kept, rounded up
    kept = out["saved_fixed_bytes"] + out["saved_per_example_bytes"] * out["batch"]
    assert kept == out["saved_bytes"]
    by_hand = out["fixed_bytes"] + out["per_example_bytes"] * out["batch"] + math.ceil(kept * 6 / 100)
    assert by_hand == out["peak_bytes"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["memory", "resnet18", "--budget", "16 GB2"], "expected a size"),
        (["memory", "resnet18", "--budget", "16Gib"], "expected a size"),
        (["memory", "resnet18", "--optimizer", "adan"], "expected one of"),
        (["flops", "resnet18", "--peak-tflops", "100"], "needs a device"),
        (["flops", "resnet18", "--profile", "h10"], "no device profile `h10`"),
        (["flops", "resnet18", "--profile", "t4", "--dtype", "bfloat16"], "no bfloat16 peak"),
        (["flops", "resnet18", "--profile", "h100", "--amp", "--dtype", "fp32"], "--amp computes in 16 bits"),
        (["flops", "resnet18", "--amp"], "--amp is for the roofline, which needs a device"),
        (["flops", "resnet18", "--dtype", "bf16"], "--dtype is for the roofline, which needs a device"),  # was ignored
        (["summarize", "resnet18", "--columns", "layer,feild"], "no column `feild` (did you mean `field`?)"),
        # the help and README call the first column the layer's path: the hint names it, and every column
        (
            ["summarize", "resnet18", "--columns", "path,params"],
            "no column `path` (did you mean `layer`?)\n  hint: "
            "the columns: layer, shorthand, output, from, params, buffers, mults, flops, field, jump, start, memory",
        ),
        (["summarize", "resnet18", "--columns", "layer,xyz"], "no column `xyz`\n  hint: the columns: layer, shorthand"),
        (["flops", "resnet18", "--top", "0"], "must be at least 1"),
    ],
)
def test_mistakes_on_the_new_options_are_one_message(args, message):
    out = cli(*args)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2  # the message and its hint


def test_memory_csv_names_its_first_column():
    rows = list(csv.reader(io.StringIO(cli("memory", "lenet5", "-f", "csv").stdout)))
    assert rows[0][:2] == ["part", "bytes"] and rows[1][0] == "weights and buffers"


def test_budget_sizes_read_as_written():
    from cnnctl.cli.options import nbytes

    assert nbytes("16GiB") == 16 * 2**30
    assert nbytes("80 GB") == 80 * 10**9
    assert nbytes("1.5TiB") == 3 * 2**39
    assert nbytes("512B") == 512


@pytest.mark.parametrize("command", [("memory", "resnet18", "--budget"), ("pack", "imgs", "-o", "out", "--shard-size")])
def test_a_size_without_its_unit_is_refused(command):
    # `--budget 1` was a budget of 1 byte: "Largest batch within 1 B: 0"
    out = cli(*command, "12")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{command[-1]} needs a unit, got `12`\n  hint: e.g. 12GiB or 12GB (12B for bytes)" in out.stderr


def test_flops_top_keeps_the_heaviest_and_sums_the_rest():
    out = json.loads(cli("flops", "resnet18", "--top", "3", "-f", "json").stdout)
    assert len(out["layers"]) == 3
    text = cli("flops", "resnet18", "--top", "3").stdout
    other = next(ln for ln in text.splitlines() if ln.startswith("(48 other layers)"))
    rest = out["mults"] - sum(r["mults"] for r in out["layers"])
    assert f"{rest:,}" in other


def test_flops_states_the_training_step():
    out = json.loads(cli("flops", "resnet18", "-f", "json").stdout)
    # torchvision's ResNet-18: 1,814,073,344 forward; the backward's weight gradients as many,
    # its input gradients as many less conv1's 118,013,952 (the image's is never computed)
    assert out["training"]["step_mults"] == 3 * 1_814_073_344 - 118_013_952 == 5_324_206_080
    assert out["training"]["optimizer_flops"]["sgd"] == 2 * 11_689_512


def test_roofline_per_layer_is_the_max_of_compute_and_memory():
    out = json.loads(cli("flops", "lenet5", "--per-layer", "--profile", "a100", "-f", "json").stdout)
    peak, bandwidth = 156e12, 2.039e12  # A100's TF32 and HBM figures
    for layer in out["layers"]:
        assert layer["seconds"] == pytest.approx(max(layer["flops"] / peak, layer["bytes"] / bandwidth))
    conv1 = next(r for r in out["layers"] if r["path"] == "conv1")
    # 32x32x1 in, 28x28x6 out, 156 params, float32
    assert conv1["bytes"] == 4 * (32 * 32 + 28 * 28 * 6 + 156)
    assert out["roofline"]["lower_bound"] is True


# LeNet-5's conv1: 32x32x1 in, 28x28x6 out, 156 params
CONV1_VALUES, CONV1_PARAMS = 32 * 32 + 28 * 28 * 6, 156


def test_roofline_in_mixed_precision_is_the_16_bit_peak_and_2_byte_activations():
    out = json.loads(cli("flops", "lenet5", "--per-layer", "--profile", "h100", "--amp", "-f", "json").stdout)
    peak, bandwidth = 989.4e12, 3.35e12  # H100 SXM's dense BF16 and HBM3 figures
    assert (out["roofline"]["dtype"], out["roofline"]["amp"]) == ("bfloat16", True)
    for layer in out["layers"]:
        assert layer["seconds"] == pytest.approx(max(layer["flops"] / peak, layer["bytes"] / bandwidth))
    conv1 = next(r for r in out["layers"] if r["path"] == "conv1")
    assert conv1["bytes"] == 2 * CONV1_VALUES + 4 * CONV1_PARAMS  # float32 weights, read once
    # a T4 has no bf16: mixed precision runs in float16 there, at its 65 TFLOP/s
    t4 = json.loads(cli("flops", "lenet5", "--profile", "t4", "--amp", "-f", "json").stdout)["roofline"]
    assert (t4["dtype"], t4["peak_flops_per_second"]) == ("float16", 65e12)
    assert "mixed float16: 2-byte activations, float32 weights" in cli("flops", "lenet5", "--profile", "t4",
                                                                       "--amp").stdout  # fmt: skip


EX06 = "input: 8x8x3\nlayers: [conv f=3 n=4 bias=false, bn act=relu, pool max f=2, flatten, dropout 0.3, fc 10]"


def test_roofline_of_a_small_network_is_readable_and_views_move_nothing(tmp_path):
    # ex06 at batch 8 on an H100 (float32): bytes of inputs + output x 8 x 4 + weights x 4.
    # conv1 (192 + 144) x 32 + 108 x 4 = 11,184; bn1 (144 + 144) x 32 + (8 + 8) x 4 = 9,280;
    # pool1 (144 + 36) x 32 = 5,760; fc1 (36 + 10) x 32 + 370 x 4 = 2,952; flatten (a view) and
    # dropout (the identity at inference) move nothing: 29,176 bytes, every layer memory-bound.
    (tmp_path / "ex06.yaml").write_text(EX06)
    args = ("flops", str(tmp_path / "ex06.yaml"), "--profile", "h100", "--batch", "8", "--per-layer")
    out = json.loads(cli(*args, "-f", "json").stdout)
    moved = {r["path"]: r["bytes"] for r in out["layers"]}
    assert moved == {"conv1": 11_184, "bn1": 9_280, "pool1": 5_760, "fc1": 2_952, "flatten1": 0, "dropout1": 0}
    assert out["roofline"]["seconds"] == pytest.approx(29_176 / 3.35e12)  # 8.709 ns
    assert out["roofline"]["ridge_flops_per_byte"] == pytest.approx(494.7e12 / 3.35e12)  # 147.7
    text = cli(*args).stdout
    assert "at least 8.71 ns per forward pass" in text
    assert "Ridge point: 147.7 FLOP/B" in text
    header = next(ln for ln in text.splitlines() if ln.startswith("Layer"))
    assert header.split()[-3:] == ["FLOP/B", "Time", "Bound"]
    conv1 = next(ln for ln in text.splitlines() if ln.startswith("conv1"))
    # 7,776 FLOPs x 8 over 11,184 bytes; 11,184 / 3.35e12 s
    assert conv1.split()[-4:] == [f"{7776 * 8 / 11184:.2f}", "3.34", "ns", "memory"]
    flatten = next(ln for ln in text.splitlines() if ln.startswith("flatten1"))
    assert flatten.split()[-4:] == ["-", "0", "s", "-"]


def test_dropout_moves_its_data_in_a_training_step():
    from cnnctl.analysis.roofline import PROFILES, roofline

    step = roofline(load_text(EX06), PROFILES["h100"], batch=8, training=True)
    moved = {t.path: t.bytes for t in step.layers}
    # 3 x forward bytes: dropout reads and writes 36 values x 8 x 4; flatten is still a view
    assert (moved["dropout1"], moved["flatten1"]) == (3 * (36 + 36) * 8 * 4, 0)


def test_compare_sets_the_fixed_workspace_apart_and_times_fit_their_unit(tmp_path):
    (tmp_path / "a.yaml").write_text("input: 6x6x1\nlayers: [conv f=3 n=1, conv f=3 n=2 act=relu]")
    (tmp_path / "b.yaml").write_text(EX06)
    files = (str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))
    a, b = json.loads(cli("compare", *files, "-f", "json").stdout)["networks"]
    assert a["memory_less_cublas_bytes"] == a["memory_peak_bytes"]  # no fc: no cuBLAS workspace
    assert b["memory_less_cublas_bytes"] == b["memory_peak_bytes"] - 32 * 2**20
    text = cli("compare", *files).stdout
    latency = next(ln for ln in text.splitlines() if ln.startswith("roofline latency"))
    assert "µs" not in latency and latency.count(" ns") == 2  # a few ns each, not `0.0 µs`
    assert "32.00 MiB wherever an fc runs" in text


@pytest.mark.parametrize(("short", "name"), [("bf16", "bfloat16"), ("fp16", "float16"), ("fp32", "float32")])
def test_dtype_short_names_are_the_long_ones(short, name):
    out = json.loads(cli("flops", "lenet5", "--per-layer", "--profile", "a100", "--dtype", short, "-f",
                         "json").stdout)  # fmt: skip
    peak = {"bfloat16": 312e12, "float16": 312e12, "float32": 156e12}[name]  # A100's dense figures
    assert (out["roofline"]["dtype"], out["roofline"]["peak_flops_per_second"]) == (name, peak)
    conv1 = next(r for r in out["layers"] if r["path"] == "conv1")
    size = 4 if name == "float32" else 2  # a pure 16-bit network: its weights in 2 bytes too
    assert conv1["bytes"] == size * (CONV1_VALUES + CONV1_PARAMS)


@pytest.mark.parametrize(
    ("cuda_name", "profile"),
    [("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H100 PCIe", "h100_pcie"), ("NVIDIA H100 NVL", "h100_nvl"),
     ("NVIDIA A100-SXM4-80GB", "a100"), ("NVIDIA A10", "a10"),
     ("NVIDIA L40S", "l40s"), ("NVIDIA L4", "l4"), ("Tesla V100-SXM2-16GB", "v100"), ("Tesla T4", "t4"),
     ("NVIDIA GeForce RTX 4090", "rtx4090"), ("NVIDIA H200", "h200"), ("NVIDIA A10G", None),
     ("NVIDIA A40", None)],
)  # fmt: skip
def test_a_gpu_is_matched_to_its_profile_by_whole_words_of_its_name(cuda_name, profile):
    from cnnctl.analysis.roofline import PROFILES, profile_of_device

    assert profile_of_device(cuda_name) == (PROFILES[profile] if profile else None)


def test_summarize_shows_where_inputs_come_from():
    text = cli("summarize", "resnet18", columns=200).stdout
    add = next(ln for ln in text.splitlines() if ln.startswith("layer1.1.add "))
    assert "bn2, maxpool" in add  # the residual's two inputs, named from its block
    plain = cli("summarize", "lenet5", columns=200).stdout
    assert "From" not in plain.splitlines()[1]  # a plain chain has nothing to say there


# The nu3 user's tinyres.yaml, cut down: a residual block repeated after a top-level `bn1`, so
# `stage1.1.add` reads `stage1.1.bn2` and the top-level `bn1` beside `stage1.1.bn1`
TINYRES = """
input: 28x28x1
blocks:
  basic:
    args: n
    layers:
      - residual: [conv f=3 p=1 n=$n bias=false, bn act=relu, conv f=3 p=1 n=$n bias=false, bn]
        act: relu
layers:
  - conv f=3 p=same n=16 bias=false
  - bn act=relu
  - repeat: 2
    id: stage1
    layers: [basic 16]
  - residual: [conv f=3 p=1 n=16, conv f=3 p=1 n=16]
    shortcut: [conv f=1 n=16]
"""


def _readings(name: str, row: str, paths: set[str]) -> set[str]:
    """Every row `name` could mean, read from `row`: as a full path, or relative to any group
    `row` is in (innermost `stage1.1.`, then `stage1.`)."""
    parts = row.split(".")[:-1]
    groups = ["", *(".".join(parts[:k]) + "." for k in range(1, len(parts) + 1))]
    return {g + name for g in groups} & paths


@pytest.mark.parametrize("net", ["tinyres", "resnet18", "googlenet", "examples/unet_small.yaml"])
def test_from_names_read_as_one_row_only(net):
    """Each name in the From column means its input whichever way it is read (a full path, or
    relative to the row's groups); a full path that a row inside the group would shadow is
    marked. Before: `stage1.1.add` read `bn2, bn1`, bn1 being the top-level one."""
    summary = summarize(load_text(TINYRES) if net == "tinyres" else load(net))
    paths = {r.path for r in summary.rows}
    cells = dict(summary_table(summary, ("layer", "from")).rows)
    for r in summary.rows:
        if not cells[r.path]:
            continue
        for name, meant in zip(cells[r.path].split(", "), r.inputs, strict=True):
            full, marked = name.removesuffix(" (top level)").removesuffix(" (full path)"), name.endswith(")")
            if marked:
                assert full == meant and _readings(full, r.path, paths) > {meant}, (r.path, name)
            else:
                assert _readings(name, r.path, paths) == ({meant} if meant != "input" else set()), (r.path, name)
    if net == "tinyres":
        assert cells["stage1.1.add"] == "bn2, bn1 (top level)"
        assert cells["stage1.2.add"] == "bn2, stage1.1.add"
        assert cells["residual1.shortcut.conv1"] == "stage1.2.add"


def test_a_collapsed_row_of_one_layer_shows_that_layer():
    """--depth 2: a branch of one layer reads as that layer (its shorthand, was `(1 layer)`),
    under the branch's path; a branch of two still counts them."""
    text = "input: 8x8x4\nlayers:\n  - concat:\n      - [pool max f=3 s=1 p=1]\n      - [conv f=1 n=2, conv f=1 n=2]\n"
    rows = {r.path: r for r in summarize(load_text(text), depth=2).rows}
    assert (rows["concat1.branch1"].kind, rows["concat1.branch1"].text) == ("pool", "pool max f=3 s=1 p=1")
    assert rows["concat1.branch2"].text == "(2 layers)"


def _from_at_depth(graph, depth: int) -> dict[str, set[str]]:
    """Each shown row's sources from the graph's edges: the rows holding the layers it reads."""

    def row(index: int) -> str:
        return "input" if index == INPUT else ".".join(graph.nodes[index].path.split(".")[:depth])

    sources: dict[str, set[str]] = {}
    for n in graph.nodes:
        sources.setdefault(row(n.index), set()).update(row(i) for i in n.inputs if row(i) != row(n.index))
    return sources


@pytest.mark.parametrize("net", ["resnet18", "inception_v3", "googlenet", "examples/unet_small.yaml"])
def test_summarize_at_a_depth_names_the_rows_shown(net):
    graph = load(net)
    table = summary_table(summarize(graph, depth=1), ("layer", "from"))
    shown = [r[0] for r in table.rows]
    sources = _from_at_depth(graph, 1)
    assert shown == list(sources)
    for above, (path, cell) in zip(["input", *shown], table.rows, strict=False):
        if sources[path] <= {above}:
            assert cell == "", path  # reads the row above: nothing to say
        else:
            assert set(cell.split(", ")) == sources[path], path
            assert set(cell.split(", ")) <= {"input", *shown}  # never a hidden inner layer


def test_summarize_at_depth_1_leaves_the_row_above_unsaid():
    # the trial's cases: avgpool reads layer4's last add, pool1 cbr3's bn: the rows above them
    for net, path in (("resnet18", "avgpool"), ("inception_v3", "pool1"), ("googlenet", "pool3")):
        rows = {r.path: r for r in summarize(load(net), depth=1).rows}
        table = summary_table(summarize(load(net), depth=1), ("layer", "from"))
        assert dict(table.rows)[path] == "", net
        assert len(rows[path].inputs) == 1 and "." not in rows[path].inputs[0]
    unet = summary_table(summarize(load("examples/unet_small.yaml"), depth=1), ("layer", "from"))
    assert dict(unet.rows)["cat2"] == "up2, enc2"  # U-Net's copy: the encoder's row, by its name


def test_summarize_columns_pick_json_fields_too():
    out = json.loads(cli("summarize", "vgg16", "--columns", "layer,field", "-f", "json").stdout)
    pool5 = next(r for r in out["layers"] if r["path"] == "stage5.pool")
    assert set(pool5) == {"path", "layers", "receptive_field"}
    assert pool5["receptive_field"] == [212, 212]  # VGG-16's pool5, published
    out = json.loads(cli("summarize", "vgg16", "--columns", "layer,field,jump,start", "-f", "json").stdout)
    pool5 = next(r for r in out["layers"] if r["path"] == "stage5.pool")
    # five stride-2 pools: jump 32; each 3x3 conv pads 1 at the jump so far, start' = start - 1*j:
    # -(1+1 + 2+2 + 4+4+4 + 8+8+8 + 16+16+16) = -90
    assert (pool5["field_jump"], pool5["field_start"]) == ([32, 32], [-90, -90])
    fc = next(r for r in out["layers"] if r["path"] == "fc1")
    assert fc["receptive_field"] is None  # null: an fc sees the whole input
    unet = json.loads(cli("summarize", "examples/unet_small.yaml", "-f", "json").stdout)["layers"]
    assert [r.get("field_uneven", False) for r in unet][-1] is True  # after an upsample
    assert "field_uneven" not in unet[0]


@pytest.mark.parametrize(("device", "words"), [("cuda", "a CUDA GPU"), ("cpu", "a CPU")])
def test_memory_says_what_it_estimates_for_not_where_it_runs(device, words):
    # A calculation: the title must not read as if this machine had the device (`on cuda`).
    out = cli("memory", "lenet5", "--device", device)
    assert out.returncode == 0, out.stderr
    title = out.stdout.splitlines()[0]
    assert title.startswith(f"lenet5: memory of a training step, estimated for {words} (--device {device}), batch 32")
    assert " on " not in title
    assert "nothing runs, whatever this machine has" in out.stdout


def test_flops_notes_do_not_call_the_backward_pass_uncounted_under_its_rows():
    out = cli("flops", "lenet5")
    assert "backward multiplications" in out.stdout and "training-step FLOPs" in out.stdout
    notes = out.stdout.split("\n\n", 1)[1].splitlines()
    uncounted = next(line for line in notes if line.startswith("Not counted:"))
    assert "backward" not in uncounted
    counted = [line for line in notes if line.startswith("Counted:")]
    assert len(counted) == 2 and all("forward pass" in line for line in counted)


def test_the_readmes_flops_sample_is_the_commands_output(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    command = "$ cnnctl flops resnet.yaml --input 224x224x3\n"
    sample = readme[readme.index(command) + len(command) :].split("```", 1)[0]
    net = tmp_path / "resnet.yaml"  # the README's own file: the bundled resnet50
    net.write_text((root / "architectures" / "resnet50.yaml").read_text())
    out = cli("flops", str(net), "--input", "224x224x3", columns=200)
    assert out.returncode == 0, out.stderr
    assert sample == out.stdout
