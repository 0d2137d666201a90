"""`cnnctl bench`: time forward and training steps of the compiled network on synthetic data.

Each step is timed alone, after a warm-up, with the device synchronised, so the figures
are latencies and their percentiles, not an average hiding stalls. Achieved TFLOP/s comes
from the analyzer's exact count: a forward pass is 2 x multiplications per image, a training
step 2 x its forward and backward multiplications (`cnnctl.analysis.training`). Beside each
measurement, the roofline estimate (`cnnctl.analysis.roofline`) for the device: a GPU's
published peaks, or for a CPU a profile measured here from a matmul and a copy.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..analysis.roofline import PROFILES, Profile, roofline
from ..analysis.training import training_cost
from ..errors import CnnctlError
from ..graph import Graph
from .device import memory_guard, resolve_device
from .fastpath import FastPath, compiled, decide

# Dense bf16 peaks in TFLOP/s, from the vendors' data sheets, by device-name substring.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "V100": 125.0, "T4": 65.0}


@dataclass
class Timing:
    model: str  # "cnnctl" or "reference"
    mode: str  # "forward" or "train"
    batch: int
    latencies: list[float]  # seconds per step
    flops_per_step: int
    roofline_seconds: float | None = None  # the roofline's lower bound for one step

    @property
    def images_per_second(self) -> float:
        return self.batch / statistics.median(self.latencies)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]

    @property
    def tflops(self) -> float:
        return self.flops_per_step / statistics.median(self.latencies) / 1e12


@dataclass
class BenchResult:
    device: str
    timings: list[Timing]
    peak_tflops: float | None
    notes: list[str]
    profile: str | None = None  # the roofline's device profile


def peak_for(device: torch.device, given: float | None) -> float | None:
    if given is not None or device.type != "cuda":
        return given
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def bench(
    graph: Graph,
    *,
    device_name: str = "auto",
    batch_size: int = 32,
    steps: int = 20,
    warmup: int = 5,
    modes: tuple[str, ...] = ("forward", "train"),
    amp: bool = False,
    compile: bool = False,
    reference: bool = False,
    peak_tflops: float | None = None,
) -> BenchResult:
    device = resolve_device(device_name)
    if peak_tflops is not None and not (math.isfinite(peak_tflops) and peak_tflops > 0):
        raise CnnctlError.at(f"--peak-tflops {peak_tflops}: give the device's peak, a number above 0")
    with memory_guard(device, batch_size):
        return _bench(graph, device, batch_size, steps, warmup, modes, amp, compile, reference, peak_tflops)


def _bench(graph, device, batch_size, steps, warmup, modes, amp, compile, reference, peak_tflops) -> BenchResult:
    from ..backend import to_torch
    from .reference import REFERENCES

    if len(graph.output_shape) != 1:
        raise CnnctlError.at("bench times classifiers: the network must end in a vector of scores")
    h, w, c = graph.input_shape
    models = {"cnnctl": to_torch(graph, logits=True)}
    notes: list[str] = []
    fast = decide(device, amp, compile=False)  # compile is applied per model below
    if reference:
        if graph.name not in REFERENCES:
            raise CnnctlError.at(
                f"no hand-written reference for `{graph.name}`", hint="references: " + ", ".join(REFERENCES)
            )
        torch.manual_seed(0)
        models["reference"] = REFERENCES[graph.name]()
        ours = sum(p.numel() for p in models["cnnctl"].parameters())
        theirs = sum(p.numel() for p in models["reference"].parameters())
        if ours != theirs:
            raise CnnctlError.at(f"the reference has {theirs:,} parameters, the network {ours:,}: not the same network")
    x = torch.randn(batch_size, c, h, w, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, graph.output_shape[0], (batch_size,), device=device)
    cost = training_cost(graph)
    profile = device_profile(device)
    estimate = {
        mode: roofline(graph, profile, batch_size, "float32", training=mode == "train").seconds if profile else None
        for mode in ("forward", "train")
    }
    timings = []
    for label, model in models.items():
        model = model.to(device, memory_format=torch.channels_last)
        if compile:
            model = compiled(model)
            notes.append("torch.compile: the first steps (warm-up) include compilation")
        for mode in modes:
            step = _step(model, x, y, mode, fast)
            for _ in range(warmup):
                step()
            _sync(device)
            latencies = []
            for _ in range(steps):
                start = time.perf_counter()
                step()
                _sync(device)
                latencies.append(time.perf_counter() - start)
            flops = 2 * (cost.step_mults if mode == "train" else cost.forward_mults) * batch_size
            timings.append(Timing(label, mode, batch_size, latencies, flops, estimate[mode] if amp is False else None))
    notes += fast.notes
    name = profile.name if profile else None
    return BenchResult(str(device), timings, peak_for(device, peak_tflops), sorted(set(notes)), name)


def device_profile(device: torch.device) -> Profile | None:
    """The roofline profile of `device`: a known GPU's data sheet, or this CPU measured."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return next((p for key, p in PROFILES.items() if key.upper() in name.upper()), None)
    if device.type == "cpu":
        return measured_cpu_profile()
    return None


def measured_cpu_profile(size: int = 1024, copy_mib: int = 128) -> Profile:
    """This CPU's float32 peak (the best of several matmuls) and bandwidth (the best of several copies)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    src = torch.empty(copy_mib * 2**20 // 4)
    dst = torch.empty_like(src)
    torch.mm(a, b)
    dst.copy_(src)
    best_mm = best_copy = float("inf")
    for _ in range(10):  # the best of several: a shared machine's stalls only ever slow one down
        start = time.perf_counter()
        torch.mm(a, b)
        best_mm = min(best_mm, time.perf_counter() - start)
        start = time.perf_counter()
        dst.copy_(src)
        best_copy = min(best_copy, time.perf_counter() - start)
    peak = 2 * size**3 / best_mm
    bandwidth = 2 * src.numel() * 4 / best_copy  # read and write
    return Profile(f"this CPU (measured: {peak / 1e9:,.0f} GFLOP/s, {bandwidth / 1e9:,.1f} GB/s)",
                   {"float32": peak}, bandwidth)  # fmt: skip


def _step(model, x, y, mode: str, fast: FastPath):
    autocast = fast.autocast()
    if mode == "forward":
        model.eval()

        def forward():
            with torch.inference_mode(), autocast:
                model(x)

        return forward
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        optimizer.step()

    return train_step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
