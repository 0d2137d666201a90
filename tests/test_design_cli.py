"""The designer's commands from the command line: memory, compare, flops' training and roofline
parts, summarize's columns. Figures come from the course and hand formulas; mistakes are one
located message and exit 2."""

import csv
import io
import json
import math
import re

import pytest
from test_cli import cli

from cnnctl.analysis.roofline import profile_named, roofline
from cnnctl.analysis.summary import summarize
from cnnctl.api import load, load_text
from cnnctl.catalog import bundled
from cnnctl.graph import INPUT
from cnnctl.render.views.summary import summary_table

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
    assert row.split()[-3:] == ["120,422,400", "12,443,648", f"{BOTTLENECK / DIRECT:.3g}x"]  # about 10x fewer


def test_compare_shows_a_networks_memory_in_one_unit_and_ratios_with_an_x():
    # resnet18's training memory was `1.02 GiB` above `1,014.30 MiB`; its ratio to lenet5's `4355.309`
    data = json.loads(cli("compare", "lenet5", "resnet18", "-f", "json").stdout)["networks"]
    text = cli("compare", "lenet5", "resnet18").stdout.splitlines()
    peak = next(ln for ln in text if ln.startswith("training memory ("))
    less = next(ln for ln in text if ln.startswith("training memory less"))
    gib = data[1]["memory_peak_bytes"] / 2**30
    assert gib >= 1 and f"{gib:.2f} GiB" in peak
    assert re.findall(r"[0-9.,]+ [KMG]iB", less)[1] == f"{data[1]['memory_less_cublas_bytes'] / 2**30:.2f} GiB"
    mults = next(ln for ln in text if ln.startswith("multiplications (forward"))
    assert mults.split()[-1] == f"{round(data[1]['mults'] / data[0]['mults']):,}x" == "4,355x"
    field = next(ln for ln in text if ln.startswith("receptive field"))
    assert field.split()[-1] == f"{435 / 16:.1f}x"  # 435 and 16: resnet18's layer4 and lenet5's last map


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
    assert (a["field_layer"], a["receptive_field"]) == ("layer4.2.add", [435, 435])
    # in summarize's keys and shape: [h, w] arrays (layer4's stride is 32; its start by hand in test_receptive_field)
    summary = json.loads(cli("summarize", "resnet18", "--columns", "layer,field,jump,start", "-f", "json").stdout)
    row = next(r for r in summary["layers"] if r["path"] == "layer4.2.add")
    assert (a["receptive_field"], a["field_jump"], a["field_start"]) == (
        row["receptive_field"], row["field_jump"], row["field_start"])  # fmt: skip
    assert a["field_jump"] == [32, 32] and "field_uneven" not in a
    assert b["field_layer"] == "layer4.3.add"


def test_compare_needs_two_networks():
    out = cli("compare", "resnet18")
    assert out.returncode == 2 and "needs two networks" in out.stderr and "Traceback" not in out.stderr


def test_compare_tells_every_invalid_networks_problems_in_one_run(tmp_path, monkeypatch, capsys):
    # only the first invalid file was told: the user mended it, ran again, and met the next
    from helpers import run_main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("input: 8x8x1\nlayers:\n  - conv f=9 n=2\n")  # 9x9 on 8x8
    (tmp_path / "b.yaml").write_text("input: 8x8x1\nlayers:\n  - fc 10\n  - conv f=3 n=2\n")  # conv on a vector
    code, out, err = run_main(monkeypatch, capsys, "compare", "a.yaml", "lenet5", "b.yaml", "missing.yaml")
    assert code == 2 and out == ""
    assert [line.split(":")[1].strip() for line in err.splitlines() if line.startswith("error:")] == [
        "a.yaml", "b.yaml", "no file `missing.yaml` here, and no bundled architecture called `missing`",
    ]  # fmt: skip
    code, out, _ = run_main(monkeypatch, capsys, "compare", "a.yaml", "b.yaml", "--format", "json")
    assert [e["file"] for e in json.loads(out)["errors"]] == ["a.yaml", "b.yaml"]


def test_compare_tells_the_warnings_found_with_the_errors(tmp_path, monkeypatch, capsys):
    # the pool that drops a row of 7 explains the 9x9 conv's error (3x3 left): compare told the error alone
    from helpers import run_main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ew.yaml").write_text("input: 7x7x1\nlayers:\n  - pool max f=2 s=2\n  - conv f=9 n=2\n  - fc 2\n")
    (tmp_path / "w.yaml").write_text("input: 7x7x1\nlayers:\n  - pool max f=2 s=2\n  - fc 2\n")  # valid, warned
    code, out, err = run_main(monkeypatch, capsys, "compare", "ew.yaml", "w.yaml")
    assert code == 2 and out == ""
    warned = [line.split(":")[1].strip() for line in err.splitlines() if line.startswith("warning:")]
    assert warned == ["ew.yaml", "w.yaml"], err
    code, out, _ = run_main(monkeypatch, capsys, "compare", "ew.yaml", "w.yaml", "--format", "json")
    data = json.loads(out)
    assert [e["line"] for e in data["errors"]] == [4] and [w["file"] for w in data["warnings"]] == ["ew.yaml", "w.yaml"]


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
    out = json.loads(cli("memory", "resnet18", "--device", "cuda", "--budget", "8GiB", "-f", "json").stdout)
    best = out["largest_batch"]
    assert out["budget_bytes"] == 8 * 2**30 and best > 0
    gpu = ("--device", "cuda")  # the figures of a GPU, on any machine
    at = json.loads(cli("memory", "resnet18", *gpu, "--batch", str(best), "-f", "json").stdout)["peak_bytes"]
    over = json.loads(cli("memory", "resnet18", *gpu, "--batch", str(best + 1), "-f", "json").stdout)["peak_bytes"]
    assert at <= 8 * 2**30 < over
    # the figures are those of that batch, not of the default one (64)
    assert out["batch"] == best and out["peak_bytes"] == out["largest_batch_peak_bytes"] == at
    assert out["settings_from"]["batch"] == "the largest within --budget"
    table = cli("memory", "resnet18", "--device", "cuda", "--budget", "8GiB").stdout
    assert f"batch {best:,}," in table.splitlines()[0] and "the figures above are at it" in table
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
    # the weights in summarize's names: torchvision's 11,689,512 params; a bn's running mean and variance,
    # 2 x its channels: 64 + 4 x 64 + (4 + 1) x 128 + 5 x 256 + 5 x 512 = 4,800 channels
    assert (out["param_bytes"], out["buffer_bytes"]) == (4 * 11_689_512, 4 * 2 * 4_800)
    assert out["weight_bytes"] == out["param_bytes"] + out["buffer_bytes"]
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
        (["summarize", "resnet18", "--columns", "layer,feild"], "no column `feild` (did you mean `field`?)"),
        # the help and README call the first column the layer's path: the hint names it, and every column
        (
            ["summarize", "resnet18", "--columns", "path,params"],
            "no column `path` (did you mean `layer`?)\n  hint: "
            "the columns: layer, shorthand, input, output, kernel, from, params, buffers, mults, flops, field, jump, "
            "start, reach, memory",
        ),
        (["summarize", "resnet18", "--columns", "layer,xyz"], "no column `xyz`\n  hint: the columns: layer, shorthand"),
        # every name not found in one message, each with its hint (was: the first alone)
        (
            ["summarize", "resnet18", "--columns", "layer,imput,kernal,xyz"],
            "no columns `imput` (did you mean `input`?), `kernal` (did you mean `kernel`?), `xyz`\n  hint:",
        ),
        (["flops", "resnet18", "--top", "0"], "must be at least 1"),
        # was `--columns no columns ``, ```
        (["summarize", "lenet5", "--columns", ","], "error: --columns needs column names, got `,`\n  hint: e.g."),
    ],
)
def test_mistakes_on_the_new_options_are_one_message(args, message):
    out = cli(*args)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2  # the message and its hint


def test_memory_csv_names_its_first_column():
    rows = list(csv.reader(io.StringIO(cli("memory", "lenet5", "-f", "csv").stdout)))
    # no `size` restating the bytes; a row by its JSON key first (the words change with the settings: `adam: 2`)
    assert rows[0] == ["key", "part", "bytes"] and rows[1][:2] == ["weight_bytes", "weights and buffers"]
    assert [row[0] for row in rows[1:]] == [*[k for k in json.loads(cli("memory", "lenet5", "-f", "json").stdout)
                                              if k.endswith("_bytes") and k in {r[0] for r in rows}]]  # fmt: skip
    assert rows[-1][0] == "peak_bytes"


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
    assert out["training"]["optimizer_flops"]["sgd_without_momentum"] == 2 * 11_689_512


def test_roofline_per_layer_is_the_max_of_compute_and_memory():
    out = json.loads(cli("flops", "lenet5", "--per-layer", "--profile", "a100", "-f", "json").stdout)
    # A100's data sheet: TF32 156 (a conv, as cuDNN runs it), FP32 19.5 TFLOPS (the rest), 2,039 GB/s
    tf32, fp32, bandwidth = 156e12, 19.5e12, 2.039e12
    for layer in out["layers"]:
        peak = tf32 if layer["path"].startswith("conv") else fp32
        assert layer["seconds"] == pytest.approx(max(layer["flops"] / peak, layer["roofline_bytes"] / bandwidth))
        assert "bytes" not in layer  # `roofline_bytes`, as every count of bytes in JSON ends `_bytes`
    conv1 = next(r for r in out["layers"] if r["path"] == "conv1")
    # 32x32x1 in, 28x28x6 out, 156 params, float32
    assert conv1["roofline_bytes"] == 4 * (32 * 32 + 28 * 28 * 6 + 156)
    assert out["roofline"]["lower_bound"] is True


# Each profile's two float32 peaks, dense, in TFLOP/s: (TF32 tensor cores, plain FP32), from the vendors'
# documents (a figure given only with sparsity halved): NVIDIA's H100 data sheet (SXM: TF32 989* and FP32 67,
# 66.9 in the Hopper white paper's table; PCIe: 756* and 51), the H100 NVL data sheet (835* and 60), the H200
# data sheet (989* and 67; the die and clocks of H100 SXM), the A100 data sheet (156 and 19.5), the L40S data
# sheet (183 and 91.6), the L4 data sheet (120* and 30.3), the A10 data sheet (62.5 and 31.2), the Ada
# Lovelace white paper (RTX 4090: 82.6 and 82.6), the GA102 white paper (RTX 3090: 35.6 and 35.6); V100 and
# T4 have no TF32: their data sheets' FP32 15.7 and 8.1 for both.
FLOAT32_PEAKS = {"h100": (989.4 / 2, 66.9), "h100_pcie": (756 / 2, 51), "h100_nvl": (835 / 2, 60),
                 "h200": (989.4 / 2, 66.9), "a100": (156, 19.5), "l40s": (183, 91.6), "l4": (120 / 2, 30.3),
                 "a10": (62.5, 31.2), "rtx4090": (82.6, 82.6), "rtx3090": (35.6, 35.6), "v100": (15.7, 15.7),
                 "t4": (8.1, 8.1)}  # fmt: skip


@pytest.mark.parametrize("key", sorted(FLOAT32_PEAKS))
def test_each_profile_has_the_data_sheets_two_float32_peaks(key):
    from cnnctl.analysis.roofline import PROFILES, layer_peak

    tf32, fp32 = FLOAT32_PEAKS[key]
    profile = PROFILES[key]
    # a conv (and a deconv) at TF32's, as cuDNN runs it by PyTorch's default; an fc's matmul at FP32's
    assert layer_peak(profile, "float32", "conv") == pytest.approx(tf32 * 1e12, rel=1e-3)
    assert layer_peak(profile, "float32", "deconv") == pytest.approx(tf32 * 1e12, rel=1e-3)
    assert layer_peak(profile, "float32", "fc") == pytest.approx(fp32 * 1e12, rel=1e-3)
    # in 16 bits one peak for every layer, as before
    sixteen = "float16" if key in ("v100", "t4") else "bfloat16"
    assert layer_peak(profile, sixteen, "fc") == layer_peak(profile, sixteen, "conv") == profile.peak[sixteen]


def test_a_float32_conv_runs_at_tf32_and_an_fc_at_fp32():
    # H100 SXM, float32: conv1 of 1x1x1 -> 1x1x4096 (f=1, 4,096 filters), then fc 4096 on its 4,096 values.
    # The fc: 4,096 x 4,096 multiplications, 2 FLOPs each plus its 4,096 biases = 33,558,528 FLOPs, moving
    # (4,096 in + 4,096 out + 16,781,312 weights) x 4 bytes = 67,158,016: intensity 0.5, memory-bound; at batch
    # 4,096 its FLOPs are 137,455,730,688 and its bytes 4 x (2 x 4,096 x 4,096 + 16,781,312) = 201,342,976:
    # intensity 682.7, above both ridges: compute-bound, at FP32's 66.9 TFLOP/s (TF32's 494.7 would be 7.4x less)
    from cnnctl.analysis.roofline import PROFILES, roofline

    graph = load_text("input: 1x1x1\nlayers: [conv f=1 n=4096, fc 4096]")
    times = {t.path: t for t in roofline(graph, PROFILES["h100"], batch=4096).layers}
    fc = times["fc1"]
    assert (fc.flops, fc.bytes, fc.compute_bound) == (137_455_730_688, 201_342_976, True)
    assert fc.seconds == pytest.approx(137_455_730_688 / 66.9e12)  # 2.05 ms
    conv = times["conv1"]  # 4,096 x 4,096 x (2 FLOPs + 1 bias): 50,331,648 FLOPs, 4 x (4,096 x 4,097 + 8,192)
    assert (conv.flops, conv.bytes) == (50_331_648, 4 * (4096 * 4097 + 8192))
    assert conv.seconds == pytest.approx(max(50_331_648 / 494.7e12, conv.bytes / 3.35e12))
    # a training step: the fc's forward and backward FLOPs at FP32's too (its backward is matmuls)
    step = {t.path: t for t in roofline(graph, PROFILES["h100"], batch=4096, training=True).layers}
    assert step["fc1"].seconds == pytest.approx(max(step["fc1"].flops / 66.9e12, step["fc1"].bytes / 3.35e12))
    # the notes say both peaks and both ridges; JSON gives both peaks
    out = json.loads(cli("flops", "lenet5", "--profile", "h100", "-f", "json").stdout)["roofline"]
    assert (out["peak_flops_per_second"], out["fp32_peak_flops_per_second"]) == (494.7e12, 66.9e12)
    assert out["fp32_ridge_flops_per_byte"] == pytest.approx(66.9e12 / 3.35e12)  # 20.0
    text = cli("flops", "lenet5", "--profile", "h100").stdout
    assert "Roofline on H100 SXM (float32: convs at TF32 494.7, fc at FP32 66.9 TFLOP/s, 3,350 GB/s)" in text
    assert "Ridge point: 147.7 FLOP/B for a conv" in text and "20.0 FLOP/B for the other layers" in text
    # in bfloat16, and on a device of one float32 peak, one peak
    bf16 = json.loads(cli("flops", "lenet5", "--profile", "h100", "--dtype", "bf16", "-f", "json").stdout)
    assert bf16["roofline"]["fp32_peak_flops_per_second"] is None
    v100 = json.loads(cli("flops", "lenet5", "--profile", "v100", "-f", "json").stdout)["roofline"]
    assert v100["peak_flops_per_second"] == v100["fp32_peak_flops_per_second"] == 15.7e12
    assert "(float32, 15.7 TFLOP/s, 900 GB/s)" in cli("flops", "lenet5", "--profile", "v100").stdout
    custom = ("--peak-tflops", "90", "--bandwidth", "1000")
    one = json.loads(cli("flops", "lenet5", *custom, "-f", "json").stdout)["roofline"]
    assert one["peak_flops_per_second"] == one["fp32_peak_flops_per_second"] == 90e12


def test_compare_s_latency_says_both_float32_peaks():
    out = json.loads(cli("compare", "lenet5", "alexnet", "--no-amp", "-f", "json").stdout)
    assert (out["profile"], out["peak_flops_per_second"], out["fp32_peak_flops_per_second"]) == (
        "h100", 494.7e12, 66.9e12)  # fmt: skip
    flops = json.loads(cli("flops", "alexnet", "--profile", "h100", "--batch", "64", "-f", "json").stdout)
    assert out["networks"][1]["latency_seconds"] == pytest.approx(flops["roofline"]["seconds"])
    text = cli("compare", "lenet5", "alexnet", "--no-amp").stdout
    assert "roofline latency (H100 SXM, batch 64, float32: convs at TF32 494.7, fc at FP32 66.9 TFLOP/s)" in text


@pytest.mark.parametrize(
    ("figures", "said"),
    [(("1e-300", "1e-300"), "--peak-tflops 1e-300 and --bandwidth 1e-300: not a device's figure"),
     (("2e6", "100"), "--peak-tflops 2e+06: not a device's figure"),
     (("100", "1e-4"), "--bandwidth 0.0001: not a device's figure"),
     (("nan", "100"), "--peak-tflops nan: not a device's figure")],
)  # fmt: skip
def test_absurd_device_figures_are_refused_in_one_message(figures, said):
    # 1e-300 TFLOP/s and GB/s printed a 300-digit number of seconds and "0 GB/s"
    out = cli("flops", "lenet5", "--peak-tflops", figures[0], "--bandwidth", figures[1])
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"error: {said}\n" in out.stderr
    assert "--peak-tflops: 1e-06 to 1e+06 TFLOP/s" in out.stderr or "--bandwidth: 0.001 to 1e+07 GB/s" in out.stderr
    # the ends of the ranges are figures
    ends = cli("flops", "lenet5", "--peak-tflops", "1e6", "--bandwidth", "1e-3", "-f", "json")
    assert ends.returncode == 0


# LeNet-5's conv1: 32x32x1 in, 28x28x6 out, 156 params
CONV1_VALUES, CONV1_PARAMS = 32 * 32 + 28 * 28 * 6, 156


def test_roofline_in_mixed_precision_is_the_16_bit_peak_and_autocast_s_dtypes():
    out = json.loads(cli("flops", "lenet5", "--per-layer", "--profile", "h100", "--amp", "-f", "json").stdout)
    peak, bandwidth = 989.4e12, 3.35e12  # H100 SXM's dense BF16 and HBM3 figures
    assert (out["roofline"]["dtype"], out["roofline"]["amp"]) == ("bfloat16", True)
    # the profile by its key, the README's `"profile": "h100"`, its display name beside it
    assert (out["roofline"]["profile"], out["roofline"]["profile_name"]) == ("h100", "H100 SXM")
    for layer in out["layers"]:
        assert layer["seconds"] == pytest.approx(max(layer["flops"] / peak, layer["roofline_bytes"] / bandwidth))
    conv1 = next(r for r in out["layers"] if r["path"] == "conv1")
    # the float32 image read in 4 bytes, the 16-bit output written in 2, float32 weights read once
    assert conv1["roofline_bytes"] == 4 * 32 * 32 + 2 * 28 * 28 * 6 + 4 * CONV1_PARAMS
    # layer norm runs in float32 under CUDA autocast (as `memory --amp` says): its 16-bit input
    # read in 2 bytes, its float32 output written in 4; a layer scale's output is float32 too
    text = "input: 4x4x1\nlayers: [conv f=1 n=2, layernorm, layerscale, conv f=1 n=3]"
    rows = {t.path: t.bytes for t in roofline(load_text(text), profile_named("h100"), 1, "bfloat16", amp=True).layers}
    assert rows["layernorm1"] == 32 * 2 + 32 * 4 + 4 * 4  # + 4 float32 params
    assert rows["layerscale1"] == 32 * 4 + 32 * 4 + 2 * 4
    assert rows["conv2"] == 32 * 4 + 48 * 2 + 9 * 4
    # a T4 has no bf16: mixed precision runs in float16 there, at its 65 TFLOP/s
    t4 = json.loads(cli("flops", "lenet5", "--profile", "t4", "--amp", "-f", "json").stdout)["roofline"]
    assert (t4["dtype"], t4["peak_flops_per_second"]) == ("float16", 65e12)
    t4_text = cli("flops", "lenet5", "--profile", "t4", "--amp").stdout
    assert "mixed float16: activations in autocast's dtypes, float32 weights" in t4_text


EX06 = "input: 8x8x3\nlayers: [conv f=3 n=4 bias=false, bn act=relu, pool max f=2, flatten, dropout 0.3, fc 10]"


def test_roofline_of_a_small_network_is_readable_and_views_move_nothing(tmp_path):
    # ex06 at batch 8 on an H100 (float32): bytes of inputs + output x 8 x 4 + weights x 4.
    # conv1 (192 + 144) x 32 + 108 x 4 = 11,184; bn1 (144 + 144) x 32 + (8 + 8) x 4 = 9,280;
    # pool1 (144 + 36) x 32 = 5,760; fc1 (36 + 10) x 32 + 370 x 4 = 2,952; flatten (a view) and
    # dropout (the identity at inference) move nothing: 29,176 bytes, every layer memory-bound.
    (tmp_path / "ex06.yaml").write_text(EX06)
    args = ("flops", str(tmp_path / "ex06.yaml"), "--profile", "h100", "--batch", "8", "--per-layer")
    out = json.loads(cli(*args, "-f", "json").stdout)
    moved = {r["path"]: r["roofline_bytes"] for r in out["layers"]}
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


def test_flops_profile_gives_the_training_steps_roofline(tmp_path):
    # ex06 at batch 8 on an H100 (float32), every layer memory-bound: 3 x the forward bytes, the
    # 29,176 of the forward pass (above) and dropout's (36 + 36) x 8 x 4 = 2,304, which it moves
    # in training: 3 x 31,480 = 94,440 bytes over 3.35 TB/s
    (tmp_path / "ex06.yaml").write_text(EX06)
    args = ("flops", str(tmp_path / "ex06.yaml"), "--profile", "h100", "--batch", "8")
    training = json.loads(cli(*args, "-f", "json").stdout)["training"]
    assert training["roofline_bytes"] == 3 * (29_176 + 2_304) == 94_440
    assert training["roofline_seconds"] == pytest.approx(94_440 / 3.35e12)  # 28.19 ns
    assert "Roofline of a training step, batch 8: at least 28.2 ns" in cli(*args).stdout
    # --dtype bf16, a network held in 16 bits: every byte halved, as the forward pass's
    bf16 = json.loads(cli(*args, "--dtype", "bf16", "-f", "json").stdout)["training"]
    assert bf16["roofline_bytes"] == 94_440 // 2
    # --freeze conv1: conv1 runs its forward alone, its 11,184 bytes once
    frozen = json.loads(cli(*args, "--freeze", "conv1", "-f", "json").stdout)["training"]
    assert frozen["roofline_bytes"] == 11_184 + 3 * (31_480 - 11_184)
    # a device slow enough (1 MFLOP/s) that every layer that computes is compute-bound: the step's
    # FLOPs for the batch (forward and backward, as `training.batch_step_flops` counts them) over
    # the peak, plus dropout's 3 x 2,304 bytes (it computes nothing) over 1 TB/s
    slow = ("flops", str(tmp_path / "ex06.yaml"), "--peak-tflops", "1e-6", "--bandwidth", "1000", "--batch", "8")
    out = json.loads(cli(*slow, "-f", "json").stdout)["training"]
    assert out["roofline_compute_bound_seconds"] == pytest.approx(out["batch_step_flops"] / 1e6, rel=1e-12)
    assert out["roofline_seconds"] == pytest.approx(out["batch_step_flops"] / 1e6 + 3 * 2_304 / 1e12, rel=1e-12)
    # without a device, no roofline
    assert (
        "roofline_seconds" not in json.loads(cli("flops", str(tmp_path / "ex06.yaml"), "-f", "json").stdout)["training"]
    )


def test_compare_sets_the_fixed_workspace_apart_and_times_fit_their_unit(tmp_path):
    (tmp_path / "a.yaml").write_text("input: 6x6x1\nlayers: [conv f=3 n=1, conv f=3 n=2 act=relu]")
    (tmp_path / "b.yaml").write_text(EX06)
    files = (str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))
    a, b = json.loads(cli("compare", *files, "--device", "cuda", "-f", "json").stdout)["networks"]
    assert a["memory_less_cublas_bytes"] == a["memory_peak_bytes"]  # no fc: no cuBLAS workspace
    assert b["memory_less_cublas_bytes"] == b["memory_peak_bytes"] - 32 * 2**20
    text = cli("compare", *files, "--device", "cuda").stdout
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
    assert conv1["roofline_bytes"] == size * (CONV1_VALUES + CONV1_PARAMS)


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
    assert title.startswith(f"lenet5: memory of a training step, estimated for {words} (--device {device}), batch 64")
    assert " on " not in title
    assert "Computed from the network, not measured" in out.stdout
    assert "nothing runs, whatever this machine has" in cli("memory", "lenet5", "--device", device, "--explain").stdout


def test_flops_and_memory_footers_are_short_unless_explained():
    """A short footer, as torchinfo's and fvcore's: a line of what is counted (flops) or how it
    is modelled (memory) pointing to --explain, which gives the definitions in full; JSON has
    them in full either way."""
    for command, definitions in (
        ("flops", ("Counted: FLOPs: of a forward pass", "Not counted:", "Backward:", "per parameter:")),
        ("memory", ("Kept for backward:", "Peak (cuda):", "nothing runs")),
    ):
        cuda = ["--device", "cuda"] if command == "memory" else []  # the figures of a GPU, on any machine
        short = cli(command, "lenet5", *cuda)
        notes = short.stdout.split("\n\n", 1)[1].splitlines()
        assert "--explain" in notes[-1 if command == "memory" else 0], notes
        assert all(len(line) <= 250 for line in notes), notes
        assert not any(d in short.stdout for d in definitions), command
        explained = cli(command, "lenet5", *cuda, "--explain").stdout
        assert all(d in explained for d in definitions), command
        assert explained.split("\n\n", 1)[0] == short.stdout.split("\n\n", 1)[0]  # the same table
    flops = json.loads(cli("flops", "lenet5", "-f", "json").stdout)
    assert len(flops["counted"]) == 2 and flops["counted"][1].startswith("FLOPs: of a forward pass")
    assert flops["not_counted"][0].startswith("dropout")
    model = json.loads(cli("memory", "lenet5", "--device", "cuda", "-f", "json").stdout)["model"]
    assert model[0].startswith("Kept for backward:") and model[1].startswith("Peak (cuda):")


def test_flops_notes_do_not_call_the_backward_pass_uncounted_under_its_rows():
    out = cli("flops", "lenet5", "--explain")
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


# A conv from 28x28x1 to 8 channels (torchinfo's `[8, 1, 3, 3]`), a grouped one without bias,
# a join, a norm, a deconv with a non-square filter, a global pool and a classifier.
SHAPES_NET = """
input: 28x28x1
layers:
  - conv f=3 p=same n=8 id=a
  - conv f=3 p=same n=8 groups=2 bias=false
  - concat with=a
  - bn
  - deconv f=2x3 s=2 n=6 groups=2
  - pool avg global
  - fc 10
"""
# PyTorch's layouts (nn.Conv2d: out, in/groups, f_h, f_w; nn.ConvTranspose2d: in, out/groups,
# f_h, f_w; nn.Linear: out, in), each size from the layer's arguments and input channels.
SHAPES_ROWS = [
    ("a", "28x28x1", "weight 8x1x3x3, bias 8", 8 * 1 * 3 * 3 + 8),  # named by its id
    ("conv1", "28x28x8", "weight 8x4x3x3", 8 * (8 // 2) * 3 * 3),
    ("concat1", "28x28x8 + 28x28x8", "", 0),
    ("bn1", "28x28x16", "weight 16, bias 16", 2 * 16),
    ("deconv1", "28x28x16", "weight 16x3x2x3, bias 6", 16 * (6 // 2) * 2 * 3 + 6),
    ("pool1", "56x57x6", "", 0),  # (28-1)*2 + 2 = 56, (28-1)*2 + 3 = 57
    ("fc1", "1x1x6", "weight 10x6, bias 10", 10 * 6 + 10),
]


def test_summarize_input_and_kernel_columns_in_table_csv_and_markdown(tmp_path):
    from cnnctl.render.table import markdown, plain, to_csv

    s = summarize(load_text(SHAPES_NET), shapes=True)
    table = summary_table(s, ("layer", "input", "kernel", "params"))
    assert table.rows == [list(row) for row in SHAPES_ROWS]
    assert sum(row[3] for row in SHAPES_ROWS) == s.params  # the hand sizes are every param
    rows = list(csv.reader(io.StringIO(to_csv(table))))
    assert rows[0] == ["layer", "input", "kernel", "params"]  # --columns' names
    assert rows[1:] == [[p, i, k, str(n)] for p, i, k, n in SHAPES_ROWS]
    assert "| concat1 | 28x28x8 + 28x28x8 |  | 0 |" in markdown(table)
    text = plain(table)
    assert "weight 8x1x3x3, bias 8" in text and "Kernel: each layer's trainable tensors" in text
    # from the command line, the same (the columns were `no column `input``)
    net = tmp_path / "net.yaml"
    net.write_text(SHAPES_NET)
    out = cli("summarize", str(net), "--columns", "layer,input,kernel,params", "-f", "csv")
    assert out.returncode == 0, out.stderr
    assert list(csv.reader(io.StringIO(out.stdout)))[1:] == rows[1:]


def test_summarize_input_and_kernel_columns_in_json(tmp_path):
    net = tmp_path / "net.yaml"
    net.write_text(SHAPES_NET)
    out = cli("summarize", str(net), "--columns", "layer,input,kernel", "-f", "json")
    assert out.returncode == 0, out.stderr
    layers = {r["path"]: r for r in json.loads(out.stdout)["layers"]}
    assert layers["a"] == {
        "path": "a", "layers": 1, "input_shapes": ["28x28x1"], "param_shapes": {"weight": [8, 1, 3, 3], "bias": [8]}
    }  # fmt: skip
    assert layers["concat1"]["input_shapes"] == ["28x28x8", "28x28x8"] and layers["concat1"]["param_shapes"] == {}
    assert layers["deconv1"]["param_shapes"] == {"weight": [16, 3, 2, 3], "bias": [6]}
    plain = json.loads(cli("summarize", str(net), "-f", "json").stdout)["layers"]
    assert "input_shapes" not in plain[0] and "param_shapes" not in plain[0]  # only when asked for, as jump


def test_summarize_input_of_a_collapsed_group_is_what_it_reads_from_outside():
    # ResNet-18 at depth 1: layer2 reads layer1's output (56x56x64), its first block's conv and
    # its shortcut both, told once; a group's Kernel is blank (its layers' own rows have them)
    s = summarize(load("resnet18"), depth=1, shapes=True)
    table = dict((r[0], r[1:]) for r in summary_table(s, ("layer", "input", "kernel")).rows)
    assert table["layer2"] == ["56x56x64", ""]
    assert table["conv1"] == ["224x224x3", "weight 64x3x7x7"]  # bias=false
    assert table["fc"] == ["1x1x512", "weight 1000x512, bias 1000"]


def test_compare_stage_rows_hold_every_layer_and_add_up_to_the_totals(tmp_path):
    # The teacher's ex07 (two residual blocks, a pool, fc 5) against ex11 (a block, a repeated
    # block, a pool, fc 4). Before, the stage rows left out the top-level pool and fc: 944 +
    # 1,184 was not the 2,173 params above them.
    ex07 = tmp_path / "ex07.yaml"
    ex07.write_text(
        "input: 8x8x4\nlayers:\n"
        "  - residual: [conv f=3 s=2 p=1 n=8 bias=false, bn act=relu, conv f=3 p=1 n=8 bias=false, bn]\n"
        "    shortcut: projection\n    act: relu\n"
        "  - residual: [conv f=3 p=1 n=8 bias=false, bn act=relu, conv f=3 p=1 n=8 bias=false, bn]\n"
        "    act: relu\n"
        "  - pool avg global\n  - fc 5\n"
    )
    ex11 = tmp_path / "ex11.yaml"
    ex11.write_text(
        "input: 16x16x3\nblocks:\n  cbr:\n    args: n s=1\n"
        "    layers: [conv f=3 s=$s p=1 n=$n bias=false, bn act=relu]\n"
        "layers:\n  - cbr 8\n  - repeat: 3\n    id: stage\n    layers: [cbr n=16]\n    first: s=2\n"
        "  - pool avg global\n  - fc 4\n"
    )
    out = cli("compare", str(ex07), str(ex11), "-f", "json")
    assert out.returncode == 0, out.stderr
    a, b = json.loads(out.stdout)["networks"]
    # by hand: a 3x3 conv 3*3*C_in*n, a bn 2*n, the projection 1*1*4*8; fc 8*5 + 5, 16*4 + 4
    assert {k: v["params"] for k, v in a["stages"].items()} == {
        "residual1": 3 * 3 * 4 * 8 + 16 + 3 * 3 * 8 * 8 + 16 + 1 * 1 * 4 * 8 + 16,  # 944
        "residual2": 2 * (3 * 3 * 8 * 8 + 16),  # 1,184
        "pool1": 0,
        "fc1": 8 * 5 + 5,
    }
    assert {k: v["params"] for k, v in b["stages"].items()} == {
        "cbr1": 3 * 3 * 3 * 8 + 16,
        "stage": 3 * 3 * 8 * 16 + 32 + 2 * (3 * 3 * 16 * 16 + 32),
        "pool1": 0,
        "fc1": 16 * 4 + 4,
    }
    assert a["stages"]["fc1"]["mults"] == 8 * 5 and b["stages"]["fc1"]["mults"] == 16 * 4
    for net in (a, b):  # every layer in one row: the rows add up to the totals
        assert sum(v["layers"] for v in net["stages"].values()) == net["layers"]
        assert sum(v["params"] for v in net["stages"].values()) == net["params"]
        assert sum(v["mults"] for v in net["stages"].values()) == net["mults"]
    assert a["params"] == 2173  # the teacher's total
    # side by side, each network's order kept: the shared pool1 and fc1 after both networks' stages
    text = cli("compare", str(ex07), str(ex11), "-f", "markdown").stdout
    stage_table = text[text.index("| stage |") :].splitlines()[2:]
    names = [line.split(" | ")[0].strip("| ") for line in stage_table if line.startswith("|")]
    assert names == ["residual1", "residual2", "cbr1", "stage", "pool1", "fc1"]


@pytest.mark.parametrize("name", sorted(bundled()))
def test_stages_add_up_to_every_param_and_multiplication(name):
    from cnnctl.analysis.compare import stages

    graph = load(name)
    rows = stages(graph).values()
    assert sum(r["layers"] for r in rows) == len(graph.nodes)
    assert sum(r["params"] for r in rows) == graph.params  # GoogLeNet's heads too (their rows: training only)
    assert sum(r["mults"] for r in rows) == graph.mults_with_heads


def test_the_readmes_input_and_kernel_sample_is_the_commands_output():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    command = "$ cnnctl summarize examples/residual_small.yaml --columns layer,input,output,kernel,params\n"
    sample = readme[readme.index(command) + len(command) :].split("```", 1)[0]
    out = subprocess.run(
        [sys.executable, "-m", "cnnctl", *command.split()[2:]],
        capture_output=True, text=True, timeout=60, cwd=root, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert sample == out.stdout
    # the file's own hand numbers: 3*3*16*32, the projection 1*1*16*32, a bn 2*32
    assert "weight 32x16x3x3     4,608" in sample and "weight 32x16x1x1       512" in sample


def test_input_and_kernel_at_80_columns_keep_every_shape_whole():
    from cnnctl.render.table import rich

    s = summarize(load("googlenet"), shapes=True)
    out = io.StringIO()
    rich(summary_table(s, ("layer", "input", "output", "kernel", "params")), out, 80)
    text = out.getvalue()
    assert "weight 192x64x3x3, bias 192" in text  # conv3's tensors on one line, each name by its shape
    joined = s.rows[[r.path for r in s.rows].index("inception3a.concat")].in_shapes
    words = text.split()
    assert all(f"{h}x{w}x{c}" in words for h, w, c in joined)  # the join's four shapes wrapped between them


# The course's first example (a 6x6x1 image, one 3x3 filter, no bias): 9 parameters, float32.
FIRST = "input: 6x6x1\nlayers:\n  - conv f=3 n=1 bias=false\n"
FIRST_PARAMS = 9


def test_memory_sizes_the_step_train_runs_from_the_files_train_section(tmp_path):
    # `memory` ignored `train:` and said `batch 32, adam` for a file that trains sgd at 16
    net = tmp_path / "first_sgd.yaml"
    net.write_text(FIRST + "train: {optimizer: sgd, batch_size: 16}\n")
    out = json.loads(cli("memory", str(net), "--device", "cuda", "-f", "json").stdout)
    assert (out["batch"], out["optimizer"], out["momentum"], out["amp"]) == (16, "sgd", 0.9, True)
    assert out["settings_from"] == {"batch": "the file's train:", "optimizer": "the file's train:",
                                    "momentum": "train's default", "amp": "train's default on a GPU"}  # fmt: skip
    # train's sgd has momentum 0.9: one float32 buffer per parameter
    assert out["optimizer_state_bytes"] == 1 * 4 * FIRST_PARAMS
    text = cli("memory", str(net), "--device", "cuda").stdout
    assert "batch 16, float32, mixed precision (16-bit activations), sgd with momentum 0.9" in text.splitlines()[0]
    assert "batch 16 (the file's train:)" in text and "momentum 0.9 (train's default)" in text
    # the command line wins over the file, as with train; --momentum 0 keeps no state
    out = json.loads(cli("memory", str(net), "--batch", "8", "--momentum", "0", "--no-amp", "-f", "json").stdout)
    assert (out["batch"], out["momentum"], out["amp"], out["optimizer_state_bytes"]) == (8, 0.0, False, 0)
    assert out["settings_from"]["batch"] == "--batch" and out["settings_from"]["amp"] == "--no-amp"


def test_memory_defaults_are_trains(tmp_path):
    net = tmp_path / "first.yaml"
    net.write_text(FIRST)
    out = json.loads(cli("memory", str(net), "--device", "cuda", "-f", "json").stdout)
    # train's defaults: --batch-size 64, adam (two values per parameter), amp on a GPU
    assert (out["batch"], out["optimizer"], out["amp"]) == (64, "adam", True)
    assert "momentum" not in out and out["optimizer_state_bytes"] == 2 * 4 * FIRST_PARAMS
    cpu = json.loads(cli("memory", str(net), "--device", "cpu", "-f", "json").stdout)
    assert cpu["amp"] is False and cpu["settings_from"]["amp"] == "train's default on a CPU"  # train: no amp on a CPU


def test_memory_takes_trains_optimizer_words_only():
    out = cli("memory", "lenet5", "--optimizer", "momentum")  # train refuses it: sgd --momentum X
    assert out.returncode == 2 and "expected one of sgd, adam, adamw" in out.stderr


def test_int8_and_float64_are_offered_only_where_they_can_be_computed():
    out = cli("memory", "lenet5", "--dtype", "int8")  # autograd cannot train int8 weights
    assert out.returncode == 2 and "int8 is not offered here" in out.stderr and "Traceback" not in out.stderr
    assert "int8" not in cli("memory", "--help").stdout.split("--dtype")[1].split("--optimizer")[0]
    for dtype in ("fp64", "int8"):  # no device profile has a float64 or int8 peak
        out = cli("flops", "lenet5", "--profile", "h100", "--dtype", dtype)
        assert out.returncode == 2 and "no device profile has its peak" in out.stderr
    assert cli("memory", "lenet5", "--dtype", "fp64", "-f", "json").returncode == 0  # PyTorch trains float64
    # summarize's memory of a forward pass: 1 byte a value in int8 (LeNet-5's 61,706 params)
    out = json.loads(cli("summarize", "lenet5", "--dtype", "int8", "-f", "json").stdout)
    assert out["memory"]["param_bytes"] == 61_706


def test_flops_states_the_update_of_the_optimizer_train_runs(tmp_path):
    net = tmp_path / "first_sgd.yaml"
    net.write_text(FIRST + "train: {optimizer: sgd}\n")
    out = json.loads(cli("flops", str(net), "-f", "json").stdout)["training"]
    # per parameter: sgd 2 (p -= lr*g), with momentum 2 more (b = m*b + g), adam 13, adamw 14
    assert out["optimizer_flops"] == {"sgd_without_momentum": 2 * 9, "sgd_with_momentum": 4 * 9, "adam": 13 * 9,
                                      "adamw": 14 * 9}  # fmt: skip
    assert out["optimizer"] == {
        "optimizer": "sgd",
        "momentum": 0.9,
        "update_flops": 4 * 9,
        "settings_from": {"optimizer": "the file's train:", "momentum": "train's default"},
    }
    assert "The step `cnnctl train` runs: sgd with momentum 0.9" in cli("flops", str(net), "--explain").stdout
    short = cli("flops", str(net)).stdout.splitlines()[-1]
    assert short == "Optimizer update per step, whatever the batch: sgd with momentum 0.9 (optimizer: the file's " \
        "train:; momentum: train's default), 36 FLOPs"  # fmt: skip


def test_flops_freeze_says_what_trains_and_what_is_frozen():
    """LeNet-5 frozen up to fc2: only fc3 trains, 84 x 10 weights + 10 biases = 850 of its 61,706
    parameters (conv1 6*(25+1) = 156, conv2 16*(6*25+1) = 2,416, fc1 120*(400+1) = 48,120,
    fc2 84*(120+1) = 10,164 frozen: 60,856); adam updates the 850 at 13 FLOPs each."""
    out = cli("flops", "lenet5", "--freeze", "fc2")
    assert out.returncode == 0, out.stderr
    table = out.stdout.split("\n\n")[0].splitlines()[3:]  # the rows: label, exact, short
    rows = dict(re.split(r"\s{2,}", line.strip())[:2] for line in table)
    assert (rows["params"], rows["trainable params"]) == ("61,706", "850")
    assert rows["frozen params (up to and including `fc2`)"] == "60,856"
    assert "Optimizer update per step of the 850 trainable parameters (60,856 frozen: no update)" in out.stdout
    assert f"adam (optimizer: train's default), {13 * 850:,} FLOPs" in out.stdout
    assert "of the 850 trainable parameters" in cli("flops", "lenet5", "--freeze", "fc2", "--explain").stdout
    data = json.loads(cli("flops", "lenet5", "--freeze", "fc2", "-f", "json").stdout)
    assert (data["params"], data["trainable_params"], data["frozen_params"]) == (61_706, 850, 60_856)
    assert data["training"]["optimizer"]["update_flops"] == 13 * 850
    plain = json.loads(cli("flops", "lenet5", "-f", "json").stdout)
    assert (plain["trainable_params"], plain["frozen_params"]) == (61_706, 0)
    assert "trainable params" not in cli("flops", "lenet5").stdout  # said only with --freeze


def test_flops_per_layer_freeze_says_which_layers_are_frozen():
    """--freeze pool1 freezes LeNet-5's first two layers (conv1, pool1: the order they run), not
    the five after them; --per-layer said it in no row, where `flops --freeze` says it in its totals.
    A frozen layer has no backward: conv1's 0, where unfrozen it computes its weights' gradient,
    28*28*6 * 5*5*1 = 117,600 multiplications (the image's gradient never)."""
    out = cli("flops", "lenet5", "--per-layer", "--freeze", "pool1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].split()[-1] == "Frozen"
    frozen = {line.split()[0]: line.rstrip().endswith("  yes") for line in lines[3:10]}
    assert frozen == {"conv1": True, "pool1": True, "conv2": False, "pool2": False, "fc1": False, "fc2": False,
                      "fc3": False}  # fmt: skip
    data = json.loads(cli("flops", "lenet5", "--per-layer", "--freeze", "pool1", "-f", "json").stdout)
    by_path = {row["path"]: row for row in data["layers"]}
    assert {path: row["frozen"] for path, row in by_path.items()} == frozen
    assert by_path["conv1"]["backward_mults"] == 0
    unfrozen = json.loads(cli("flops", "lenet5", "--per-layer", "-f", "json").stdout)
    assert {row["path"]: row["backward_mults"] for row in unfrozen["layers"]}["conv1"] == 28 * 28 * 6 * 5 * 5 * 1
    assert all("frozen" not in row for row in unfrozen["layers"])  # said only with --freeze
    assert "Frozen" not in cli("flops", "lenet5", "--per-layer").stdout
    # --top: the rest's row counts its frozen layers (pool1 among the four lightest: fc2, fc3, pool1, pool2)
    top = json.loads(cli("flops", "lenet5", "--per-layer", "--freeze", "pool1", "--top", "3", "-f", "json").stdout)
    assert (top["others"]["layers"], top["others"]["frozen_layers"]) == (4, 1)
    rows = list(csv.DictReader(io.StringIO(cli("flops", "lenet5", "--per-layer", "--freeze", "pool1", "--top", "3",
                                                "-f", "csv").stdout)))  # fmt: skip
    assert [r["frozen_layers"] for r in rows] == ["0", "1", "0", "1"]  # conv2, conv1, fc1, the rest


def test_compare_sizes_memory_at_trains_defaults():
    out = json.loads(cli("compare", "lenet5", "alexnet", "--optimizer", "sgd", "-f", "json").stdout)
    assert (out["batch"], out["optimizer"], out["momentum"]) == (64, "sgd", 0.9)
    assert (out["profile"], out["profile_name"]) == ("h100", "H100 SXM")  # the key and its display name


def test_compare_freezes_as_flops_and_memory_do():
    """--freeze layer2 in each network, as train, flops and memory mean it. ResNet-18 then trains
    layer3 (2 x 3x3 convs of 256 in two blocks, the first from 128, a 1x1 projection, 5 bn:
    294,912 + 3 x 589,824 + 32,768 + 5 x 512 = 2,099,712), layer4 (the same at 512 from 256:
    1,179,648 + 3 x 2,359,296 + 131,072 + 5 x 1,024 = 8,393,728) and fc (512 x 1,000 + 1,000)."""
    out = json.loads(cli("compare", "resnet18", "resnet50", "--freeze", "layer2", "-f", "json").stdout)
    assert out["freeze"] == "layer2"
    r18 = out["networks"][0]
    assert (r18["params"], r18["trainable_params"]) == (11_689_512, 2_099_712 + 8_393_728 + 513_000)
    for name, network in zip(("resnet18", "resnet50"), out["networks"], strict=True):
        flops = json.loads(cli("flops", name, "--freeze", "layer2", "-f", "json").stdout)
        memory = json.loads(cli("memory", name, "--freeze", "layer2", "-f", "json").stdout)
        assert network["trainable_params"] == flops["trainable_params"]
        assert network["step_mults"] == flops["training"]["step_mults"]
        assert network["memory_peak_bytes"] == memory["peak_bytes"]
    unfrozen = json.loads(cli("compare", "resnet18", "resnet50", "-f", "json").stdout)
    assert unfrozen["freeze"] is None and unfrozen["networks"][0]["trainable_params"] == 11_689_512
    assert unfrozen["networks"][0]["step_mults"] > r18["step_mults"]
    assert "trainable params (--freeze layer2)" in cli("compare", "resnet18", "resnet50", "--freeze", "layer2").stdout
    # every network without the layer is named, in one run
    bad = cli("compare", "resnet18", "lenet5", "vgg16", "--freeze", "layer2")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "no layer `layer2` in lenet5" in bad.stderr and "no layer `layer2` in vgg16" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summarize", "nosuch"], "no file `nosuch` here"),  # the command's mistake
        (["flops", "lenet5", "--bogus"], "`flops` has no option `--bogus`"),  # the command line's
        (["memory", "lenet5", "--dtype", "int8"], "--dtype int8 is not offered here"),
    ],
)
def test_with_format_json_a_mistake_is_json_on_stdout_too(args, message):
    # it was plain text on stderr with nothing on stdout, where validate and predict gave JSON
    out = cli(*args, "--format", "json")
    assert out.returncode == 2 and message in out.stderr  # the message on stderr stays
    (error,) = json.loads(out.stdout)["errors"]
    assert message in error["message"] and error["text"].startswith("error: ") and error["severity"] == "error"
    assert cli(*args).stdout == ""  # without --format json, stdout stays empty


def test_volumes_in_json_are_hxwxc_in_every_command(tmp_path):
    # draw's volumes were [h, w, c] arrays where summarize, flops and compare write "HxWxC"
    data = json.loads(cli("draw", "lenet5", "--style", "volumes", "-f", "json").stdout)
    # the image, then conv1: (32 - 5)/1 + 1 = 28, 6 filters
    assert [v["output"] for v in data["volumes"]][:2] == ["32x32x1", "28x28x6"]
    boxes = json.loads(cli("draw", "lenet5", "-o", str(tmp_path / "l.dot"), "-f", "json").stdout)["boxes"]
    assert [b["output"] for b in boxes][:2] == ["32x32x1", "28x28x6"]
    assert json.loads(cli("summarize", "lenet5", "-f", "json").stdout)["input"] == "32x32x1"


def test_memory_budget_no_batch_fits_says_why_and_exits_2():
    # ResNet-18 in float32 with adam: weights 11,689,512 x 4 + 9,600 x 4 of buffers, gradients
    # 11,689,512 x 4, adam's state 2 x 11,689,512 x 4: 187,070,592 bytes before any example,
    # over 100 MiB (104,857,600): no batch answers the question
    out = cli("memory", "resnet18", "--budget", "100MiB")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    fixed = 4 * 11_689_512 + 4 * 9_600 + 4 * 11_689_512 + 8 * 11_689_512
    assert f"({fixed:,} bytes" in out.stderr and "are over it" in out.stderr
    assert "--optimizer sgd" in out.stderr and "--freeze" in out.stderr and "--dtype bf16" in out.stderr
    # --budget picks the batch: --batch beside it is refused
    both = cli("memory", "resnet18", "--budget", "8GiB", "--batch", "3")
    assert both.returncode == 2 and "give one of them" in both.stderr


def test_memory_amp_on_a_cpu_is_said_not_to_be_trains_step():
    # train runs float32 on a CPU (train/fastpath.py decide() turns amp off there)
    out = cli("memory", "lenet5", "--device", "cpu", "--amp")
    assert out.returncode == 0, out.stderr
    assert "not what train runs" in out.stdout.splitlines()[0]
    assert "as `cnnctl train` runs the step" not in out.stdout and "train runs float32" in out.stdout
    assert (
        json.loads(cli("memory", "lenet5", "--device", "cpu", "--amp", "-f", "json").stdout)["train_runs_it"] is False
    )
    assert json.loads(cli("memory", "lenet5", "--device", "cpu", "-f", "json").stdout)["train_runs_it"] is True
    assert "as `cnnctl train` runs the step" in cli("memory", "lenet5", "--device", "cpu").stdout


def test_compare_takes_memorys_amp_and_device():
    # the step train runs by default on a GPU is mixed precision: compare's memory row is memory's
    out = json.loads(cli("compare", "lenet5", "alexnet", "--device", "cuda", "-f", "json").stdout)
    assert (out["amp"], out["device"], out["settings_from"]["amp"]) == (True, "cuda", "train's default on a GPU")
    for flags in ([], ["--no-amp"], ["--device", "cpu"], ["--device", "cpu", "--amp"]):
        both = json.loads(cli("compare", "lenet5", "alexnet", *flags, "-f", "json").stdout)
        for name, network in zip(("lenet5", "alexnet"), both["networks"], strict=True):
            memory = json.loads(cli("memory", name, *flags, "-f", "json").stdout)
            assert network["memory_peak_bytes"] == memory["peak_bytes"], (flags, name)
    table = cli("compare", "lenet5", "alexnet", "--device", "cuda").stdout
    assert (
        "Settings, as `cnnctl train` runs the step: batch 64 (train's default), optimizer adam (train's default), "
        "amp on (train's default on a GPU)" in table
    )
    assert "float32 with amp" in table and "mixed bfloat16" in table
    assert "not the step `cnnctl train` runs" in cli("compare", "lenet5", "alexnet", "--device", "cpu", "--amp").stdout


def test_flops_depth_collapses_the_per_layer_rows_as_summarize_does_and_they_add_up():
    # `flops resnet50 --per-layer --depth 1` was an unknown option (fvcore's max_depth, torchinfo's depth)
    from cnnctl.analysis.training import training_cost
    from cnnctl.render.views.flops import flops_json

    graph = load("resnet50")
    cost = training_cost(graph)
    rows = flops_json(summarize(graph), True, cost, depth=1)["layers"]
    stages = {r.path: r for r in summarize(graph, depth=1).rows}
    assert {r["path"] for r in rows} == set(stages)  # the groups summarize --depth 1 shows
    for r in rows:
        assert r["mults"] == stages[r["path"]].mults and r.get("layers", 1) == stages[r["path"]].layers
    assert sum(r["mults"] for r in rows) == graph.mults and sum(r["flops"] for r in rows) == graph.flops
    assert sum(r["backward_mults"] for r in rows) == cost.backward_mults
    assert sum(r["mults_share"] for r in rows) == pytest.approx(1.0)
    assert [r["mults"] for r in rows] == sorted((r["mults"] for r in rows), reverse=True)  # heaviest first
    out = cli("flops", "resnet50", "--depth", "1", "--top", "2", "-f", "json")
    data = json.loads(out.stdout)
    assert [r["path"] for r in data["layers"]] == ["layer3", "layer2"] and data["others"]["layers"] == len(rows) - 2


@pytest.mark.parametrize(
    ("seen", "model", "said", "amp"),
    [
        (False, "cpu", "--device auto: no CUDA GPU seen", False),
        (True, "cuda", "--device auto: an NVIDIA GPU seen", True),
    ],
)
def test_memory_and_compares_auto_device_is_the_machine_they_run_on(monkeypatch, capsys, seen, model, said, amp):
    # memory's default was cuda (AMP, cuBLAS's workspace) on a laptop where train runs float32 on the CPU
    from helpers import run_main

    monkeypatch.setattr("cnnctl.cli.options.cuda_seen", lambda: seen)
    code, out, _ = run_main(monkeypatch, capsys, "memory", "lenet5", "-f", "json")
    out = json.loads(out)
    assert code == 0 and (out["device"], out["device_from"], out["amp"]) == (model, said, amp)
    code, out, _ = run_main(monkeypatch, capsys, "memory", "lenet5")
    assert f"({said})" in out.splitlines()[0]
    code, out, _ = run_main(monkeypatch, capsys, "compare", "lenet5", "alexnet", "-f", "json")
    assert code == 0 and (json.loads(out)["device"], json.loads(out)["device_from"]) == (model, said)


def test_cuda_seen_reads_the_drivers_files_not_torch(monkeypatch, tmp_path):
    import pathlib

    from cnnctl.cli import options

    there = set()  # the paths that exist, as far as the stand-ins say
    monkeypatch.setattr(pathlib.Path, "exists", lambda self: str(self) in there)
    monkeypatch.setattr(pathlib.Path, "is_dir", lambda self: False)
    assert options.cuda_seen() is False
    there.add("/dev/nvidia0")
    assert options.cuda_seen() is True


@pytest.mark.parametrize("command", ["memory", "compare"])
def test_every_command_takes_the_one_device_vocabulary(command):
    networks = ["lenet5"] if command == "memory" else ["lenet5", "alexnet"]
    cuda = json.loads(cli(command, *networks, "--device", "cuda:1", "-f", "json").stdout)
    assert (cuda["device"], cuda["device_from"]) == ("cuda", "--device cuda:1")  # any GPU: the CUDA kernels
    mps = cli(command, *networks, "--device", "mps")
    assert mps.returncode == 2 and "error: --device mps: cnnctl has no model of the memory" in mps.stderr
    gpu = cli(command, *networks, "--device", "gpu")
    assert gpu.returncode == 2 and "hint: did you mean `cuda`?" in gpu.stderr, gpu.stderr
    assert "expected one of auto, cpu, cuda, cuda:N, mps" in gpu.stderr


def test_device_is_one_option_with_one_vocabulary_in_every_command():
    from cnnctl.cli.app import build

    for command in ("train", "evaluate", "predict", "bench", "memory", "compare"):
        (device,) = [p for p in build(command).params if "--device" in p.opts]
        assert device.metavar == "NAME", command
        for word in ("auto", "cpu", "cuda", "cuda:0", "mps"):
            assert device.type_cast_value(None, word) == word, (command, word)  # read alike everywhere


def test_an_option_with_no_effect_is_a_warning_and_the_answer_as_without_it():
    # one policy: an option that changes nothing here is said on stderr (exit 0), never silently
    # ignored (memory's --momentum with adam), nor refused where the answer is right (flops --dtype)
    for args, extra, warning in [
        (["flops", "resnet18"], ["--dtype", "bf16"], "warning: --dtype bfloat16 unused: it is for the roofline"),
        (["flops", "resnet18"], ["--amp"], "warning: --amp unused: it is for the roofline, which needs a device"),
        (["memory", "lenet5", "--device", "cpu"], ["--momentum", "0.5"],
         "warning: --momentum 0.5 unused: momentum applies to sgd, and the optimizer is adam"),
        (["compare", "lenet5", "alexnet", "--device", "cpu"], ["--momentum", "0.5"],
         "warning: --momentum 0.5 unused: momentum applies to sgd, and the optimizer is adam"),
    ]:  # fmt: skip
        given, plain = cli(*args, *extra), cli(*args)
        assert given.returncode == 0 and warning in given.stderr, given.stderr
        assert given.stdout == plain.stdout and warning not in plain.stderr
    used = cli("memory", "lenet5", "--optimizer", "sgd", "--momentum", "0.5")
    assert used.returncode == 0 and "unused" not in used.stderr


def test_train_says_a_momentum_its_optimizer_does_not_use():
    from types import SimpleNamespace

    from cnnctl.train.config import TrainConfig
    from cnnctl.train.run_data import unused_settings

    data = SimpleNamespace(streamed=None, val_from="held out of training", images=100)
    notes = unused_settings(TrainConfig(optimizer="adam", momentum=0.5), data)
    assert notes == ["--momentum 0.5 unused: momentum applies to sgd, and the optimizer is adam"]
    assert unused_settings(TrainConfig(optimizer="sgd", momentum=0.5), data) == []
