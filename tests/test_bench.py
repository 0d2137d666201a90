"""`cnnctl bench`: timings, the analyzer's FLOPs, and the hand-written references."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from helpers import named_layers  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.analysis.roofline import PROFILES  # noqa: E402
from cnnctl.analysis.timings import SPREAD_LIMIT, TAIL_LIMIT, BenchResult, Timing  # noqa: E402
from cnnctl.render.table import plain, to_csv  # noqa: E402
from cnnctl.render.views.bench import bench_json, bench_table, verdict  # noqa: E402
from cnnctl.train.bench import bench  # noqa: E402
from cnnctl.train.reference import REFERENCES  # noqa: E402
from cnnctl.words import plural  # noqa: E402


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_references_have_the_bundled_parameter_counts(name):
    assert sum(p.numel() for p in REFERENCES[name]().parameters()) == cnnctl.load(name).params


def test_bench_times_both_models_and_modes_with_the_analyzers_flops():
    graph = cnnctl.load("lenet5")
    result = bench(graph, device_name="cpu", batch_size=8, steps=3, warmup=1, repeats=2, reference=True)
    assert [(t.model, t.mode) for t in result.timings] == [
        ("cnnctl", "forward"), ("cnnctl", "train"), ("reference", "forward"), ("reference", "train"),
    ]  # fmt: skip
    forward, train = result.timings[:2]
    assert forward.flops_per_step == 2 * 416_520 * 8  # 2 x multiplications x batch
    # a training step: forward 416,520, backward the weights' 416,520 and the inputs' without conv1's
    # 117,600 (the image's gradient is never computed), 2 FLOPs each
    assert train.flops_per_step == 2 * (416_520 + 416_520 + (416_520 - 117_600)) * 8
    # 2 repeats of 3 steps each, every contender
    assert all(len(t.latencies) == 6 and t.repeats == 2 and t.steps == 3 for t in result.timings)
    assert all(len(t.repeat_images_per_second) == 2 for t in result.timings)
    for t in result.timings:  # sustained: all the images over all the steps' time
        assert t.images_per_second == pytest.approx(8 * 6 / sum(t.latencies))
    assert set(result.reference_ratios()) == {"forward", "train"}
    # a CPU without --peak-tflops: MFU against its peak measured here, before the timings and again after
    # them, the best of the two (a stall only ever slows a measurement down)
    assert result.peak_measured and len(result.measured_profiles) == 2
    best = max(p.peak["float32"] for p in result.measured_profiles)
    assert result.profile.peak["float32"] == best and result.peak_tflops == best / 1e12


def test_percentiles_and_rates_follow_their_definitions():
    t = Timing("cnnctl", "forward", 10, [0.1, 0.4, 0.2, 0.3], 10**12)
    assert (t.percentile(50), t.percentile(90), t.percentile(99)) == (0.2, 0.4, 0.4)
    # one slow step in four: the median step (0.1 s) would claim 100 img/s; sustained is 40 over 0.8 s
    t = Timing("cnnctl", "forward", 10, [0.1, 0.1, 0.1, 0.5], 10**12)
    assert t.images_per_second == pytest.approx(10 * 4 / 0.8)
    assert t.tflops == pytest.approx(1 / (0.8 / 4))  # 10^12 FLOPs a step, a step every 0.2 s


def test_a_reference_must_be_the_same_network():
    with pytest.raises(CnnctlError, match="not the same network"):
        bench(cnnctl.load("lenet5", input="28x28x1"), device_name="cpu", steps=1, warmup=0, reference=True)
    with pytest.raises(CnnctlError, match="no hand-written reference"):
        bench(cnnctl.load("alexnet"), device_name="cpu", steps=1, warmup=0, reference=True)


def bench_command(*options: str) -> dict:
    """`cnnctl bench lenet5 --batch-size 4 OPTIONS --format json` in a new process, its report."""
    out = subprocess.run(
        [sys.executable, "-m", "cnnctl", "bench", "lenet5", "--batch-size", "4", *options, "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_bench_command_json_with_mfu_from_a_given_peak():
    report = bench_command("--steps", "2", "--warmup", "0", "--mode", "forward", "--peak-tflops", "1")
    (timing,) = report["timings"]
    assert timing["mfu"] == pytest.approx(timing["flops_per_second"] / 1e12)
    # the network is named: the document's `network`, cnnctl's module's row by it (it was `cnnctl`)
    assert report["network"] == "lenet5" and timing["model"] == "lenet5"
    # MFU's peak in FLOP/s, as every peak in JSON, under a key of its own: not a `peak_tflops` that was null on a CPU
    # beside the roofline's measured peak; here 1 TFLOP/s where the roofline has this CPU's measured one
    assert "peak_tflops" not in report and report["mfu_peak_flops_per_second"] == 1e12
    assert report["roofline"]["profile"] == "cpu" and report["roofline"]["peak_flops_per_second"] != 1e12


@pytest.mark.parametrize("peak", [float("nan"), float("inf"), 0.0])
def test_a_peak_that_is_not_a_positive_number_is_refused(peak):
    with pytest.raises(CnnctlError, match="--peak-tflops"):
        bench(cnnctl.load("lenet5"), device_name="cpu", steps=1, warmup=0, peak_tflops=peak)


def test_running_out_of_memory_is_the_batch_sizes_fault_not_a_traceback():
    from cnnctl.device_memory import memory_guard

    cpu = torch.device("cpu")
    # The messages PyTorch's CPU allocator and CUDA caching allocator give.
    for text in ["[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to "
                 "allocate 37632000000 bytes", "CUDA out of memory. Tried to allocate 20.00 GiB"]:  # fmt: skip
        with (
            pytest.raises(CnnctlError, match="out of memory on cpu with batch 4,096") as caught,
            memory_guard(cpu, 4096),
        ):
            raise RuntimeError(text)
        assert "lower --batch-size" in str(caught.value)
    with pytest.raises(RuntimeError, match="shape mismatch"), memory_guard(cpu, 4096):  # other errors go on
        raise RuntimeError("shape mismatch")


def repeats(*rounds: list[float]) -> list[float]:
    return [x for r in rounds for x in r]


STEADY = repeats(*[[0.010, 0.0105, 0.011, 0.0105] * 5] * 3)  # 3 repeats of 20 steps, within 10%
STALLED = repeats(*[[0.01] * 16 + [0.1] * 4] * 3)  # one step in five stalls for 90 ms


def test_a_steady_series_is_not_noisy():
    t = Timing("cnnctl", "train", 8, STEADY, 10**9, repeats=3)
    assert t.tail == pytest.approx(0.011 / 0.0105)  # p90 / p50 of the three values
    assert t.spread == pytest.approx(0.0)  # identical repeats
    assert not t.noisy and t.noise_reason is None
    assert t.images_per_second == pytest.approx(8 * 60 / (15 * 0.010 + 30 * 0.0105 + 15 * 0.011))


def test_a_stalled_series_is_noisy_and_its_throughput_counts_the_stalls():
    t = Timing("cnnctl", "train", 8, STALLED, 10**9, repeats=3)
    assert t.percentile(50) == 0.01 and t.percentile(90) == 0.1  # 48 steps of 10 ms, 12 of 100 ms
    assert t.tail == pytest.approx(10.0) and t.tail > TAIL_LIMIT
    assert t.noisy and "p90 is 10.00x p50" in t.noise_reason
    assert t.images_per_second == pytest.approx(8 * 60 / (48 * 0.01 + 12 * 0.1))  # not 8 / 0.01 = 800
    assert t.spread == pytest.approx(0.0)  # every repeat stalled alike


def test_repeats_that_drift_apart_are_noisy():
    # two repeats at 10 ms a step, one at 13 ms: 800, 800 and 615.4 img/s, (800 - 615.4) / 800 = 23%
    t = Timing("cnnctl", "forward", 8, repeats([0.01] * 20, [0.01] * 20, [0.013] * 20), 10**9, repeats=3)
    assert t.repeat_images_per_second == pytest.approx([800, 800, 8 / 0.013])
    assert t.spread == pytest.approx((800 - 8 / 0.013) / 800) and t.spread > SPREAD_LIMIT
    assert t.tail == pytest.approx(1.3)  # under the tail limit: only the spread says so
    assert t.noisy and "differ by 23% of their median" in t.noise_reason
    # within the limit: 10 and 11 ms, (800 - 727.3) / 800 = 9%
    assert not Timing("cnnctl", "forward", 8, repeats([0.01] * 20, [0.011] * 20), 10**9, repeats=2).noisy


def test_ratios_come_from_sustained_throughput_and_are_uncertain_when_noisy():
    # The same median step (10 ms) for both; the network's stalls make it slower all the same.
    ours = Timing("cnnctl", "forward", 8, STALLED, 10**9, roofline_seconds=0.005, repeats=3)
    theirs = Timing("reference", "forward", 8, repeats(*[[0.01] * 20] * 3), 10**9, repeats=3)
    result = BenchResult("cpu", [ours, theirs], None, [], PROFILES["h100"])
    ratio = result.reference_ratios()["forward"]
    sustained = (8 * 60 / (48 * 0.01 + 12 * 0.1)) / (8 * 60 / 0.6)
    assert ratio.value == pytest.approx(sustained) and ratio.value == pytest.approx(0.6 / 1.68)
    assert ratio.repeats == pytest.approx([0.2 / 0.56] * 3)  # each repeat: 20 steps in 0.56 s against 0.2 s
    assert ratio.uncertain
    assert ours.roofline_ratio == pytest.approx((1.68 / 60) / 0.005)  # the mean step over the estimate
    steady = BenchResult("cpu", [Timing("cnnctl", "forward", 8, STEADY, 10**9, repeats=3), theirs], None, [])
    assert not steady.reference_ratios()["forward"].uncertain and not steady.noisy


def test_a_noisy_measurement_says_so_in_the_table_and_json():
    ours = Timing("cnnctl", "forward", 8, STALLED, 10**9, roofline_seconds=0.005, repeats=3)
    theirs = Timing("reference", "forward", 8, repeats(*[[0.01] * 20] * 3), 10**9, roofline_seconds=0.005, repeats=3)
    result = BenchResult("cpu", [ours, theirs], None, [], PROFILES["h100"])
    text = plain(bench_table(result))
    row = next(line for line in text.splitlines() if line.startswith("cnnctl"))
    assert "NOISY" in row and f"{(1.68 / 60) / 0.005:.1f}x (noisy)" in row
    assert f"{8 * 60 / 1.68:,.1f}" in row  # sustained img/s
    assert f"cnnctl / hand-written reference = {0.6 / 1.68:.3f} (noisy)" in text
    assert "NOISY: cnnctl forward: p90 is 10.00x p50" in text and "--threads 1" in text
    assert "NOISY: reference" not in text  # the steady one is not flagged
    data = bench_json(result)
    assert data["noisy"] is True and data["noise_thresholds"] == {"p90_over_p50": 1.5, "spread": 0.2}
    first, second = data["timings"]
    assert first["noisy"] is True and "stalled" in first["noise_reason"] and first["roofline_ratio_uncertain"]
    assert second["noisy"] is False and second["noise_reason"] is None
    assert first["images_per_second"] == pytest.approx(8 * 60 / 1.68) and first["seconds"] == pytest.approx(1.68)
    assert data["reference_ratio"]["forward"]["uncertain"] is True
    # CSV: plain numbers, the ratio without its mark
    header, cnnctl_row = to_csv(bench_table(result)).splitlines()[:2]
    fields = dict(zip(header.split(","), cnnctl_row.split(","), strict=True))
    assert float(fields["roofline_ratio"]) == pytest.approx((1.68 / 60) / 0.005) and fields["measurement"] == "NOISY"
    assert float(fields["slowest_repeat_images_per_second"]) == pytest.approx(8 * 20 / 0.56)
    # the CSV's columns are the JSON's keys, in its units: `mode` (not `step`), latencies in seconds
    assert fields["mode"] == first["mode"] == "forward"
    assert not set(fields) - set(first) - {"slowest_repeat_images_per_second", "fastest_repeat_images_per_second",
                                           "measurement"}  # fmt: skip
    # STALLED: 48 steps of 10 ms and 12 of 100 ms; p50 10 ms, p90 100 ms (the 54th of 60)
    assert (first["p50_seconds"], first["p90_seconds"]) == (pytest.approx(0.01), pytest.approx(0.1))
    assert float(fields["p50_seconds"]) == pytest.approx(0.01) and "latency_ms" not in first


def test_bench_names_the_network_timed_and_the_reference_as_such():
    ours = Timing("cnnctl", "forward", 8, [0.01] * 4, 10**9)
    theirs = Timing("reference", "forward", 8, [0.01] * 4, 10**9)
    result = BenchResult("cpu", [ours, theirs], None, [], network="lenet5")
    lines = plain(bench_table(result)).splitlines()
    assert lines[0].startswith("bench lenet5 on cpu")
    assert [line.split()[0] for line in lines[3:5]] == ["lenet5", "reference"]
    data = bench_json(result)
    assert data["network"] == "lenet5" and [t["model"] for t in data["timings"]] == ["lenet5", "reference"]


def test_the_roofline_rate_stands_beside_the_measured_one():
    t = Timing("cnnctl", "train", 8, repeats(*[[0.01] * 20] * 3), 10**9, roofline_seconds=0.002, repeats=3)
    result = BenchResult("cuda:0", [t], 989.4, [], PROFILES["h100"], dtype="bfloat16")
    assert t.roofline_images_per_second == pytest.approx(8 / 0.002)  # the batch over the estimate's step
    text = plain(bench_table(result))
    # the column is named as the option (--mode) and the JSON (`mode`) name it: it was `step`
    assert text.splitlines()[1].split()[:3] == ["model", "mode", "batch"]
    assert "MFU against 989.4 TFLOP/s (bfloat16)" in text.splitlines()[0]
    row = next(line for line in text.splitlines() if line.startswith("cnnctl"))
    assert "4,000" in row and "800.0" in row  # the roofline's img/s, then the measured
    assert "on H100 SXM in mixed bfloat16" in text
    data = bench_json(result)
    assert data["dtype"] == "bfloat16" and data["timings"][0]["roofline_images_per_second"] == pytest.approx(4000)
    # the profile as flops --profile gives it: its key, its name beside it, the data sheet's figures as numbers
    # (in bfloat16 one peak: no FP32 one beside it)
    assert data["roofline"] == {"profile": "h100", "profile_name": "H100 SXM", "peak_flops_per_second": 989.4e12,
                                "fp32_peak_flops_per_second": None,
                                "bandwidth_bytes_per_second": 3.35e12}  # fmt: skip


def test_bench_in_float32_says_mfu_is_against_tf32_and_the_roofline_s_two_peaks():
    # H100 SXM in float32: convs at TF32's 494.7 TFLOP/s, an fc at FP32's 66.9 (its data sheet's, dense)
    t = Timing("cnnctl", "train", 8, repeats(*[[0.01] * 20] * 3), 10**9, roofline_seconds=0.002, repeats=3)
    result = BenchResult("cuda:0", [t], 494.7, [], PROFILES["h100"], dtype="float32")
    text = plain(bench_table(result))
    assert "MFU against 494.7 TFLOP/s (float32: TF32's, the convs' peak; an fc runs at FP32's 66.9)" in text
    assert "on H100 SXM in float32: convs at TF32 494.7, fc at FP32 66.9 TFLOP/s" in text
    roof = bench_json(result)["roofline"]
    assert (roof["peak_flops_per_second"], roof["fp32_peak_flops_per_second"]) == (494.7e12, 66.9e12)
    # --peak-tflops given: MFU against it, said as the dtype alone
    given = plain(bench_table(result._replace(peak_tflops=100.0)))
    assert "MFU against 100 TFLOP/s (float32)" in given


def test_a_measured_cpu_profile_is_a_key_and_its_figures_are_fields():
    from cnnctl.train.bench import measured_cpu_profile

    cpu = measured_cpu_profile(size=64, copy_mib=1)
    t = Timing("cnnctl", "forward", 8, repeats(*[[0.01] * 20] * 3), 10**9, roofline_seconds=0.002, repeats=3)
    result = BenchResult("cpu", [t], None, [], cpu)
    roof = bench_json(result)["roofline"]
    assert (roof["profile"], roof["profile_name"]) == ("cpu", "this CPU (measured)")
    assert roof["peak_flops_per_second"] == cpu.peak["float32"] > 0 and roof["bandwidth_bytes_per_second"] > 0
    # the text still says the figures measured
    figures = f"{cpu.peak['float32'] / 1e9:,.0f} GFLOP/s, {cpu.bandwidth / 1e9:,.1f} GB/s"
    assert f"on this CPU (measured): {figures} in float32" in plain(bench_table(result))


def test_a_small_roofline_estimate_is_shown_in_the_unit_that_fits():
    # a few µs (a small network's step) was `0.00` in a column of milliseconds
    t = Timing("cnnctl", "forward", 8, repeats(*[[0.01] * 20] * 3), 10**9, roofline_seconds=3.3e-6, repeats=3)
    table = bench_table(BenchResult("cuda:0", [t], 989.4, [], PROFILES["h100"]))
    row = next(line for line in plain(table).splitlines() if line.startswith("cnnctl"))
    assert "3.30 µs" in row
    header, first = to_csv(table).splitlines()[:2]
    fields = dict(zip(header.split(","), first.split(","), strict=True))
    assert float(fields["roofline_seconds"]) == pytest.approx(3.3e-6)  # CSV in seconds, as JSON's roofline_seconds


@pytest.mark.parametrize(("dtype", "peak"), [("bfloat16", 989.4), ("float16", 989.4), ("float32", 494.7)])
def test_mfu_is_against_the_peak_of_what_the_step_computes_in(monkeypatch, dtype, peak):
    from cnnctl.train.bench import peak_for

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert peak_for(torch.device("cuda"), None, dtype) == pytest.approx(peak)  # H100 SXM, dense
    assert peak_for(torch.device("cuda"), 100.0, dtype) == 100.0  # --peak-tflops decides
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    assert peak_for(torch.device("cuda"), None, "bfloat16") == pytest.approx(65)  # no bf16: its float16 peak


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bench_amp_on_a_gpu_prints_the_16_bit_roofline_and_mfu():
    from cnnctl.analysis.roofline import profile_of_device, roofline

    graph = cnnctl.load("resnet18", input="64x64x3")
    result = bench(graph, device_name="cuda", batch_size=32, steps=3, warmup=2, repeats=1, amp=True)
    profile = profile_of_device(torch.cuda.get_device_name())
    if profile is None:
        pytest.skip("a GPU without a profile")
    dtype = "bfloat16" if torch.cuda.get_device_capability()[0] >= 8 else "float16"
    assert result.dtype == dtype and result.peak_tflops == pytest.approx(profile.peak[dtype] / 1e12)
    for t in result.timings:
        expected = roofline(graph, profile, 32, dtype, training=t.mode == "train", amp=True).seconds
        assert t.roofline_seconds == pytest.approx(expected)


def test_bench_command_json_reports_repeats_and_sustained_throughput():
    report = bench_command("--steps", "3", "--repeats", "2", "--warmup", "1", "--mode", "train")
    (timing,) = report["timings"]
    assert (timing["steps"], timing["repeats"], len(timing["repeat_images_per_second"])) == (3, 2, 2)
    assert timing["images_per_second"] == pytest.approx(4 * 3 * 2 / timing["seconds"])
    # the whole is the harmonic combination of its two equal-sized repeats
    a, b = timing["repeat_images_per_second"]
    assert timing["images_per_second"] == pytest.approx(2 / (1 / a + 1 / b))
    assert isinstance(report["noisy"], bool) and timing["noisy"] == (timing["noise_reason"] is not None)


# -- bench --data: where the time of training goes ------------------------------------------------
QUICK = ("--device", "cpu", "--batch-size", "4", "--steps", "2", "--repeats", "2", "--warmup", "1", "--mode", "train")


@pytest.fixture
def tiny(tmp_path):
    """A tiny network and a folder of 40 PNGs in 3 classes (36 trained on, 4 held out)."""
    from tests.test_stream import NET as TINY
    from tests.test_stream import coded_folder

    net = tmp_path / "tiny.yaml"
    net.write_text(TINY)
    return str(net), str(coded_folder(tmp_path / "imgs", n=40))


def test_bench_data_streamed_gives_the_loader_the_step_and_both_together(tiny, monkeypatch, capsys):
    from tests.helpers import run_main

    net, folder = tiny
    args = ("bench", net, "--data", folder, "--stream", "--workers", "1", "--augment", "rrc,flip", *QUICK)
    code, out, err = run_main(monkeypatch, capsys, *args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)["data"]
    assert (data["streamed"], data["workers"], data["batch"], data["warmup"]) == (True, 1, 4, 1)
    assert data["batches"] == 2 * 2  # --steps x --repeats
    rates, seconds = data["images_per_second"], data["seconds"]
    assert all(rates[k] > 0 for k in ("loader", "step", "together"))
    for k in ("loader", "together"):  # 4 whole batches of 4 readable images over their wall time
        assert rates[k] == pytest.approx(4 * 4 / seconds[k])
    (step,) = json.loads(out)["timings"]  # the step alone is the synthetic training step's figure
    assert rates["step"] == step["images_per_second"]
    slower = "loader" if rates["loader"] < rates["step"] else "step"
    assert data["bottleneck"] == slower and data["verdict"].startswith(f"the {slower}: ")
    assert data["images_skipped"] == 0 and any("random resized crop" in note for note in data["notes"])
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    table = out.split("where the time goes: ", 1)[1]
    body = table.split("\n\n", 1)[0].splitlines()[3:]  # the rows: after the title, the header and its rule
    rows = {line.split()[0]: line.split() for line in body}
    assert set(rows) == {"loader", "step", "together"}
    assert all(float(row[1].replace(",", "")) > 0 and row[2] == "4" for row in rows.values())
    assert "streamed from disk, 1 loader process" in " ".join(rows["loader"])
    assert "\nbottleneck: the loader: " in table or "\nbottleneck: the step: " in table


def test_bench_data_by_name_times_the_loader_of_data_held_in_memory(tmp_path, monkeypatch, capsys):
    from tests.helpers import run_main

    net = tmp_path / "tiny.yaml"
    from tests.test_stream import NET as TINY

    net.write_text(TINY.replace("fc 3", "fc 10"))  # shapes has 10 classes
    code, out, err = run_main(monkeypatch, capsys, "bench", str(net), "--data", "shapes", *QUICK, "--format", "json")
    assert code == 0, err
    data = json.loads(out)["data"]
    assert (data["data"], data["streamed"], data["workers"]) == ("shapes", False, 0)  # no loader processes
    assert all(v > 0 for v in data["images_per_second"].values())
    code, out, err = run_main(monkeypatch, capsys, "bench", str(net), "--data", "shapes", *QUICK)
    assert code == 0, err
    assert "the training batches alone (held in memory, batched by index)" in out


def test_bench_data_errors_are_trains_and_the_options_need_data(tiny, monkeypatch, capsys):
    from tests.helpers import run_main

    net, folder = tiny
    for data in ("nope", str(Path(folder) / "missing"), str(Path(folder) / "class0" / "00000.png")):
        bench_code, _, bench_err = run_main(monkeypatch, capsys, "bench", net, "--data", data, *QUICK)
        train_code, _, train_err = run_main(monkeypatch, capsys, "train", net, "--data", data, "--device", "cpu")
        assert bench_code == train_code == 2 and bench_err == train_err and bench_err.startswith("error: ")
    code, _, err = run_main(monkeypatch, capsys, "bench", net, "--data", folder, *QUICK[:-2], "--batch-size", "64")
    assert code == 2 and "--batch-size 64 is more than the 36 training images" in err  # train's check
    code, _, err = run_main(monkeypatch, capsys, "bench", net, "--workers", "2", *QUICK)
    assert code == 2 and "--workers without --data" in err
    code, _, err = run_main(monkeypatch, capsys, "bench", net, "--data", folder, *QUICK[:-2], "--mode", "forward")
    assert code == 2 and "--mode forward leaves the step out" in err


class Slow:
    """A batch source of `n` batches of `batch` images per epoch, each `seconds` late."""

    def __init__(self, seconds: float, batch: int = 4, n: int = 3):
        self.seconds, self.batch, self.n = seconds, batch, n
        self.black = torch.zeros(1, 3, 1, 1)

    def epoch(self, epoch, start, batch, rank, world):
        for _ in range(start, self.n):
            time.sleep(self.seconds)
            yield torch.zeros(self.batch, 3, 8, 8), torch.zeros(self.batch, dtype=torch.long)


def timed_with(loader_sleep: float, step_sleep: float, streamed: bool = True, workers: int = 1):
    """time_data over a Slow source and a step that sleeps `step_sleep`, 6 batches of 4 timed."""
    from types import SimpleNamespace

    from cnnctl.train.augment import Augment
    from cnnctl.train.bench import time_data
    from cnnctl.train.sources import Sources

    source = Slow(loader_sleep)
    sources = Sources(source, source, Augment("none", 0, source.black), None, [])
    data = SimpleNamespace(streamed=streamed, notes=[])
    step_alone = Timing("cnnctl", "train", 4, [step_sleep] * 6, 10**9)  # as bench measures it: 4 / step_sleep img/s
    return time_data("slow", data, sources, workers, lambda x, y: time.sleep(step_sleep), step_alone, 4, 1, 6,
                     torch.device("cpu"))  # fmt: skip


def test_a_slow_loader_is_named_the_bottleneck():
    timing = timed_with(loader_sleep=0.02, step_sleep=0.001)
    assert timing.loader.batches == timing.together.batches == 6 and timing.loader.images == 24
    # each batch waits 20 ms: at most 4 / 0.02 = 200 img/s, alone or feeding the step (across epochs of 3)
    assert timing.loader.seconds >= 6 * 0.02 and timing.together.seconds >= 6 * (0.02 + 0.001)
    assert timing.loader.images_per_second <= 200 and timing.step.images_per_second == pytest.approx(4000)
    assert timing.bottleneck == "loader"
    rate = f"{timing.loader.images_per_second:,.0f}"
    assert verdict(timing) == f"the loader: {rate} img/s against the step's 4,000; more --workers (now 1; the " \
        f"machine has {plural(timing.cores, 'usable core')}) or shards"  # fmt: skip


def test_a_slow_step_is_named_the_bottleneck():
    timing = timed_with(loader_sleep=0.0, step_sleep=0.02)
    assert timing.together.seconds >= 6 * 0.02  # each step waits 20 ms
    assert timing.step.images_per_second == pytest.approx(200) and timing.loader.images_per_second > 200
    assert timing.bottleneck == "step"
    rate = f"{timing.loader.images_per_second:,.0f}"
    assert verdict(timing).startswith(f"the step: 200 img/s against the loader's {rate}; the loader keeps up")


def test_the_bottleneck_line_says_what_would_help():
    from cnnctl.render.views.bench import bottleneck_said

    assert bottleneck_said(410, 2300, True, 1, 2) == (
        "the loader: 410 img/s against the step's 2,300; more --workers (now 1; the machine has 2 usable cores) or "
        "shards"
    )
    assert bottleneck_said(410, 2300, True, 2, 2) == (
        "the loader: 410 img/s against the step's 2,300; shards, or more cores (2 loader processes already share the "
        "2 usable cores)"
    )
    assert "gathered from memory by the training process" in bottleneck_said(410, 2300, False, 0, 2)
    assert bottleneck_said(4100, 2300, True, 1, 2).startswith("the step: 2,300 img/s against the loader's 4,100; ")


def test_bench_data_warms_up_one_batch_per_loader_process(tiny, monkeypatch, capsys):
    """Loader processes started together finish their first batches together: timing from the
    first would count the rest as made in no time, so each process's first batch is warm-up."""
    from tests.helpers import run_main

    net, folder = tiny
    args = ("bench", net, "--data", folder, "--stream", "--workers", "3", *QUICK, "--warmup", "0")
    code, out, err = run_main(monkeypatch, capsys, *args, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["data"]["warmup"] == 3


# -- ConvNeXt's MLP over channels, as torchvision writes it ---------------------------------------
def test_convnexts_mlp_runs_as_linear_layers_and_computes_what_the_hand_written_one_does():
    from cnnctl.backend.functional import Conv2d

    model = cnnctl.to_torch(cnnctl.load("convnext_tiny", input="32x32x3"), logits=True)
    over = [path for path, m in named_layers(model) if isinstance(m, Conv2d) and m.over_channels]
    # the two 1x1 convs of each of the 18 blocks' MLP, after its layer norm; never the stem, the
    # depthwise convs or the downsampling convs
    assert len(over) == 36 and all(p.endswith((".conv2", ".conv3")) for p in over)
    resnet = cnnctl.to_torch(cnnctl.load("resnet50", input="32x32x3"))
    assert not any(isinstance(m, Conv2d) and m.over_channels for _, m in named_layers(resnet))  # after bn, not ln
    reference = REFERENCES["convnext_tiny"]()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layerscale1.weight"):
                p.fill_(0.5)  # the MLP's share, 1e-6 at the start, made to count
        for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
            theirs.copy_(ours.view_as(theirs))  # the same order: conv weights (O, I, 1, 1) are Linear's (O, I)
    model.eval(), reference.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = reference(x)
        linear = model(x.contiguous(memory_format=torch.channels_last))  # the Linear path
        conv = model(x)  # NCHW data: the 1x1 convs as convs
    torch.testing.assert_close(linear, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conv, expected, rtol=1e-4, atol=1e-4)


# -- what a new user ran into ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "bound", "hint"),
    [("--steps", "from 1 to 10,000", "--repeats"), ("--repeats", "from 1 to 100", "--steps"),
     ("--warmup", "from 0 to 10,000", "warm")],
)  # fmt: skip
def test_steps_repeats_and_warmup_are_bounded_in_one_message_with_a_hint(option, bound, hint):
    # `--steps 1000000000000` ran for ever, printing nothing: refused at once (a new process,
    # so that an unbounded run fails this test by its timeout instead of hanging it)
    out = subprocess.run(
        [sys.executable, "-m", "cnnctl", "bench", "lenet5", "--device", "cpu", option, "1000000000000"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and out.stdout == ""
    message, hint_line = out.stderr.strip().split("\n")
    assert message == f"error: {option} must be {bound}, got 1,000,000,000,000"
    assert hint_line.startswith("  hint: ") and hint in hint_line and "--help" not in hint_line
    with pytest.raises(CnnctlError, match="steps from 1 to 10,000, repeats from 1 to 100"):
        bench(cnnctl.load("lenet5"), device_name="cpu", **{option[2:]: 10**12})


def test_a_count_below_its_range_is_told_its_range_not_to_measure_longer(monkeypatch, capsys):
    # the hint to measure longer with more --repeats is for a count above the bound, not for 0
    from helpers import run_main

    for option in ("--steps", "--repeats"):
        code, out, err = run_main(monkeypatch, capsys, "bench", "lenet5", "--device", "cpu", option, "0")
        assert code == 2 and err.count("error:") == 1 and f"{option} must be from 1 to" in err
        assert "measure longer" not in err and "give more" not in err


def test_progress_is_told_in_steps_between_the_timed_rounds():
    told = []
    bench(cnnctl.load("lenet5"), device_name="cpu", batch_size=2, steps=3, warmup=1, repeats=2,
          progress=lambda done, total: told.append((done, total)))  # fmt: skip
    # two contenders (forward, train): each warms up 1 step, then 2 rounds of 3 steps each, in turn
    total = 2 * (1 + 2 * 3)
    assert told == [(0, total), (1, total), (2, total), (5, total), (8, total), (11, total), (14, total)]


def test_a_peak_below_zero_is_refused_with_a_hint(monkeypatch, capsys):
    from helpers import run_main

    code, out, err = run_main(monkeypatch, capsys, "bench", "lenet5", "--device", "cpu", "--peak-tflops", "-1")
    assert code == 2 and out == ""
    assert err.startswith("error: --peak-tflops -1: not a device's figure\n  hint: give the device's own, from its "
                          "data sheet (dense, no sparsity); --peak-tflops: 1e-06 to 1e+06 TFLOP/s\n")  # fmt: skip
    # a tiny positive peak, as flops' (MFU of 1e300)
    code, _, err = run_main(monkeypatch, capsys, "bench", "lenet5", "--device", "cpu", "--peak-tflops", "1e-300")
    assert code == 2 and err.startswith("error: --peak-tflops 1e-300: not a device's figure")


def test_bench_data_takes_trains_batch_and_says_what_it_read_before_the_tables(tmp_path, monkeypatch, capsys):
    # bench --data timed at 32 where train takes 64, and its `listed... / streamed...` notes came after the tables
    from cnnctl.train.config import TrainConfig
    from tests.helpers import run_main
    from tests.test_stream import NET as TINY

    net = tmp_path / "tiny.yaml"
    net.write_text(TINY.replace("fc 3", "fc 10"))  # shapes has 10 classes
    quick = [a for a in QUICK if a not in ("--batch-size", "4")]
    code, out, err = run_main(monkeypatch, capsys, "bench", str(net), "--data", "shapes", *quick, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["data"]["batch"] == TrainConfig().batch_size == 64
    assert [t["batch"] for t in report["timings"]] == [64]  # the step alone at the same batch
    code, out, err = run_main(monkeypatch, capsys, "bench", str(net), *quick, "--format", "json")
    assert code == 0 and [t["batch"] for t in json.loads(out)["timings"]] == [32]  # synthetic data alone: 32
    code, out, err = run_main(monkeypatch, capsys, "bench", str(net), "--data", "shapes", *QUICK)
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith("data: generated ") and out.index("data: ") < out.index("bench tiny on ")
    assert "\ngenerated " not in out  # said once, before, not again under the tables


def cpu_profile(gflops: float, gbs: float):
    from cnnctl.analysis.roofline import Profile

    return Profile("this CPU (measured)", {"float32": gflops * 1e9}, gbs * 1e9, key="cpu")


def test_rates_are_shown_in_the_unit_that_fits_and_a_cpus_measured_peak_gives_mfu():
    # 10^9 FLOPs a step, a step every 10 ms: 100 GFLOP/s (was `0.100` in a TFLOP/s column); 10^11: 10 TFLOP/s
    slow = Timing("cnnctl", "forward", 8, repeats(*[[0.01] * 20] * 3), 10**9, repeats=3)
    fast = Timing("cnnctl", "train", 8, repeats(*[[0.01] * 20] * 3), 10**11, repeats=3)
    cpu = cpu_profile(200, 20)
    result = BenchResult("cpu", [slow, fast], 0.2, [], cpu, peak_measured=True, measured_profiles=(cpu, cpu))
    table = bench_table(result)
    text = plain(table)
    assert "MFU against 200.00 GFLOP/s (float32, this CPU's peak as measured here" in text.splitlines()[0]
    rows = [line for line in text.splitlines() if line.startswith("cnnctl")]
    assert rows[0].split()[-7:-4] == ["100.00", "GFLOP/s", "50.0%"]  # MFU 100 / 200 GFLOP/s
    assert "10.00 TFLOP/s" in rows[1]
    header, first = to_csv(table).splitlines()[:2]
    # CSV and JSON: FLOP/s, as every rate (`*_flops_per_second`); 10^9 FLOPs every 10 ms is 10^11 FLOP/s
    assert float(dict(zip(header.split(","), first.split(","), strict=True))["flops_per_second"]) == pytest.approx(1e11)
    data = bench_json(result)
    assert data["mfu_peak_flops_per_second"] == 200e9 and data["mfu_peak_measured"] is True
    assert data["timings"][0]["flops_per_second"] == pytest.approx(1e11) and data["machine_busy"] is None
    assert "machine is busy" not in text  # the two measurements agree


def test_a_cpu_measured_apart_says_the_machine_is_busy():
    t = Timing("cnnctl", "forward", 8, repeats(*[[0.01] * 20] * 3), 10**9, roofline_seconds=0.002, repeats=3)
    # peaks 100 and 50 GFLOP/s: 50 apart, 67% of their median 75; bandwidths 20 and 19 GB/s agree (5%)
    measured = (cpu_profile(100, 20), cpu_profile(50, 19))
    result = BenchResult("cpu", [t], 0.1, [], cpu_profile(100, 20), peak_measured=True, measured_profiles=measured)
    said = "the machine is busy: this CPU measured 100.0 and 50.0 GFLOP/s (67% apart) before and after the timings"
    assert said in plain(bench_table(result)) and "GB/s (" not in result.profile_disagreement
    data = bench_json(result)
    assert data["machine_busy"].startswith(said) and data["timings"][0]["roofline_ratio_uncertain"] is True
    assert [p["peak_flops_per_second"] for p in data["roofline_measured"]] == [100e9, 50e9]
    # within 20% of each other (100 and 85: 16%), nothing is said
    calm = result._replace(measured_profiles=(cpu_profile(100, 20), cpu_profile(85, 20)))
    assert calm.profile_disagreement is None


def test_a_step_faster_than_its_roofline_says_the_bound_is_wrong():
    # 10 ms a step against an estimate of 20 ms, a lower bound: 0.50x
    t = Timing("cnnctl", "train", 8, repeats(*[[0.01] * 20] * 3), 10**9, roofline_seconds=0.02, repeats=3)
    result = BenchResult("cpu", [t], None, [], cpu_profile(100, 20))
    text = plain(bench_table(result))
    assert "cnnctl train: the step took 0.50x its roofline estimate, faster than a lower bound allows" in text
    assert "caches" in text and bench_json(result)["timings"][0]["faster_than_roofline"] is True
    slower = t._replace(roofline_seconds=0.005)  # 2x the estimate: nothing to say
    assert "faster than a lower bound" not in plain(bench_table(result._replace(timings=[slower])))


def module_overhead():
    """benchmarks/module_overhead.py as a module (benchmarks/ is no package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "module_overhead.py"
    spec = importlib.util.spec_from_file_location("module_overhead", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_module_overhead_tells_its_rounds_and_a_loaded_machine(monkeypatch, capsys):
    mo = module_overhead()
    tiny = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 1, 10)) for _ in range(2)]
    mo.compare(*tiny, (1, 4, 4), 2, 1, 2, torch.device("cpu"), "tiny eager")
    err = capsys.readouterr().err.splitlines()  # on stderr, as they happen: stdout keeps the table
    assert err[0].startswith("tiny eager: warm-up") and [ln.split(" of ")[0] for ln in err[1:]] == [
        "tiny eager: round 1/2", "tiny eager: round 2/2"]  # fmt: skip
    monkeypatch.setattr(mo, "cores", lambda: 2)
    # a 1-minute load average above half the 2 cores, before or after: not comparable with the README's
    loaded = mo.load_said(1.2, 0.4, "1 CPU thread")
    assert loaded.startswith("1 CPU thread; load average 1.20 before, 0.40 after, on 2 cores: the machine is loaded")
    assert "not comparable with the README's" in loaded
    assert mo.load_said(0.3, 1.0, "2 CPU threads").endswith(": quiet")
    table = mo.markdown([], torch.device("cpu"), loaded)
    assert table.rstrip().splitlines()[-1] == loaded[:1].upper() + loaded[1:] + "."
