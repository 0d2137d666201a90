"""`cnnctl bench`: timings, the analyzer's FLOPs, and the hand-written references."""

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.train.bench import Timing, bench  # noqa: E402
from cnnctl.train.reference import REFERENCES  # noqa: E402


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_references_have_the_bundled_parameter_counts(name):
    assert sum(p.numel() for p in REFERENCES[name]().parameters()) == cnnctl.load(name).params


def test_bench_times_both_models_and_modes_with_the_analyzers_flops():
    graph = cnnctl.load("lenet5")
    result = bench(graph, device_name="cpu", batch_size=8, steps=3, warmup=1, reference=True)
    assert [(t.model, t.mode) for t in result.timings] == [
        ("cnnctl", "forward"), ("cnnctl", "train"), ("reference", "forward"), ("reference", "train"),
    ]  # fmt: skip
    forward, train = result.timings[:2]
    assert forward.flops_per_step == 2 * 416_520 * 8  # 2 x multiplications x batch
    # a training step: forward 416,520, backward the weights' 416,520 and the inputs' without conv1's
    # 117,600 (the image's gradient is never computed), 2 FLOPs each
    assert train.flops_per_step == 2 * (416_520 + 416_520 + (416_520 - 117_600)) * 8
    assert all(len(t.latencies) == 3 and t.images_per_second > 0 for t in result.timings)
    assert result.peak_tflops is None  # a CPU: no MFU without --peak-tflops


def test_percentiles_and_rates_follow_their_definitions():
    t = Timing("cnnctl", "forward", 10, [0.1, 0.4, 0.2, 0.3], 10**12)
    assert (t.percentile(50), t.percentile(90), t.percentile(99)) == (0.2, 0.4, 0.4)
    assert t.images_per_second == pytest.approx(10 / 0.25)  # median of 0.1..0.4
    assert t.tflops == pytest.approx(1 / 0.25)


def test_a_reference_must_be_the_same_network():
    with pytest.raises(CnnctlError, match="not the same network"):
        bench(cnnctl.load("lenet5", input="28x28x1"), device_name="cpu", steps=1, warmup=0, reference=True)
    with pytest.raises(CnnctlError, match="no hand-written reference"):
        bench(cnnctl.load("alexnet"), device_name="cpu", steps=1, warmup=0, reference=True)


def test_bench_command_json_with_mfu_from_a_given_peak():
    out = subprocess.run(
        [sys.executable, "-m", "cnnctl", "bench", "lenet5", "--steps", "2", "--warmup", "0", "--batch-size", "4",
         "--mode", "forward", "--peak-tflops", "1", "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    (timing,) = report["timings"]
    assert timing["mfu"] == pytest.approx(timing["tflops"] / 1.0)


@pytest.mark.parametrize("peak", [float("nan"), float("inf"), 0.0])
def test_a_peak_that_is_not_a_positive_number_is_refused(peak):
    with pytest.raises(CnnctlError, match="--peak-tflops"):
        bench(cnnctl.load("lenet5"), device_name="cpu", steps=1, warmup=0, peak_tflops=peak)


def test_running_out_of_memory_is_the_batch_sizes_fault_not_a_traceback():
    from cnnctl.train.device import memory_guard

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
