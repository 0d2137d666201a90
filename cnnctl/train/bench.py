"""`cnnctl bench`: time forward and training steps of the compiled network on synthetic data.

Each step is timed alone, after a warm-up, with the device synchronised, so the figures
are latencies and their percentiles (p50, p90, p99). The throughput reported is sustained:
the images of all timed steps over their wall time (the sum of their latencies: the steps
run back to back), so a stall counts for what it cost rather than vanishing in a median.
The timed steps run in `repeats` rounds of `steps` each; the contenders (forward and
training step, the network and the --reference) alternate round by round, so a change in
the machine's speed hits them alike, and the spread of the rounds' throughputs shows how
steady the machine was. Achieved TFLOP/s (and MFU) comes from the sustained rate and the
analyzer's exact count: a forward pass is 2 x multiplications per image, a training step
2 x its forward and backward multiplications (`cnnctl.analysis.training`). Beside each
measurement, the roofline estimate (`cnnctl.analysis.roofline`) for the device: a GPU's
published peaks, or for a CPU a profile measured here from a matmul and a copy, before the
timings and again after them (the best of each figure; the two told apart when they disagree:
the machine was busy). On a CPU without --peak-tflops, MFU is against that measured peak.

A measurement is *noisy* as cnnctl.analysis.timings defines it: a stall, or the machine's
speed changing.

With data (`bench --data`), where the time of training goes: the data is loaded as `train`
loads it (cnnctl.train.sources.load_training_data, seed 0, the settings' defaults) and its
batch sources made as a run makes them (make_sources), nothing written (a stream's
unreadable images only counted). Three rates, at the same batch: the loader alone (the
training BatchSource iterated, each batch on the device and normalised, nothing done with
it), the training step alone (the synthetic `train` timing), and the two together as
training runs them (each batch augmented and stepped on; loader processes prepare the next
batches meanwhile). The loader and together passes each take `warmup` batches first (at
least one, and one per loader process: their start, and the batches they made together
then, are not timed), then time steps x repeats batches back to back, the device
synchronised at the end; epochs follow one another as in training. The slower of the
loader and the step is the bottleneck.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch

from ..analysis.roofline import Profile, check_device_figures, profile_of_device, roofline
from ..analysis.timings import BenchResult, DataTiming, Pass, Timing
from ..analysis.training import training_cost
from ..device_memory import memory_guard
from ..errors import CnnctlError
from ..graph import Graph
from ..limits import MAX_BENCH_REPEATS, MAX_BENCH_STEPS
from .config import TrainConfig
from .device import resolve_device
from .fastpath import FastPath, apply_backend_flags, compiled, decide
from .metrics import training_loss

if TYPE_CHECKING:
    from ..data import DataSplits
    from .sources import Sources

STEP_SHARE = 0.2  # of a GPU's 16-bit peak, what a CNN's training step reaches (ResNet-50, bf16, compiled, H200: 17%)
UNKNOWN_GPU_TFLOPS = 400.0  # a GPU without a profile counts as this fast
Progress = Callable[[int, int], None]  # (units done, units in all): see bench()


def expected_step_seconds(device: torch.device, step_flops: int) -> tuple[float, float]:
    """The time a training step of `step_flops` takes on the GPU `device` at STEP_SHARE of its
    16-bit peak (UNKNOWN_GPU_TFLOPS for a GPU without a profile: counted fast), and that peak
    in TFLOP/s: an estimate before anything runs, for decisions (cnnctl.train.decoding, CUDA graphs)."""
    peak = peak_for(device, None) or UNKNOWN_GPU_TFLOPS
    return step_flops / (peak * 1e12 * STEP_SHARE), peak


def peak_for(device: torch.device, given: float | None, dtype: str = "bfloat16") -> float | None:
    """The peak TFLOP/s MFU is measured against: `given` (--peak-tflops), else a known GPU's
    dense peak in `dtype` (its 16-bit one when it has no peak in `dtype`), else None. In float32
    that is TF32's where the GPU has it: the convs' peak, most of a CNN's FLOPs (an fc runs at the
    plain FP32 peak: the roofline models each layer at its own, `layer_peak`); the output says so."""
    if given is not None or device.type != "cuda":
        return given
    profile = profile_of_device(torch.cuda.get_device_name(device))
    if profile is None:
        return None
    return profile.peak.get(dtype, max(profile.peak.values())) / 1e12


def bench(
    graph: Graph,
    *,
    device_name: str = "auto",
    batch_size: int = 32,
    steps: int = 20,
    warmup: int = 5,
    repeats: int = 3,
    modes: tuple[str, ...] = ("forward", "train"),
    amp: bool = False,
    compile: bool = False,
    reference: bool = False,
    peak_tflops: float | None = None,
    threads: int | None = None,
    data: TrainConfig | None = None,
    weights: str | None = None,
    progress: Progress | None = None,
) -> BenchResult:
    """Time `graph`'s forward and training steps on synthetic data (see the module's
    docstring); with `data` (the settings of --data, --workers, --stream, --augment), also
    the loader of that data, alone and feeding the training step. `weights` (--weights,
    anything train's takes): timed with them; the data normalised as train does with them.
    `progress(done, total)`, in steps (batches for the data's passes), is told as each
    contender's warm-up, each timed round and each pass over the data ends (never while a
    round is timed)."""
    device = resolve_device(device_name)
    check_device_figures(peak_tflops, names=("--peak-tflops", "--bandwidth"))  # a peak of 1e-300 made MFU absurd
    if not (1 <= steps <= MAX_BENCH_STEPS and 1 <= repeats <= MAX_BENCH_REPEATS and 0 <= warmup <= MAX_BENCH_STEPS):
        raise CnnctlError.at(
            f"--steps {steps}, --repeats {repeats}, --warmup {warmup}: steps from 1 to {MAX_BENCH_STEPS:,}, "
            f"repeats from 1 to {MAX_BENCH_REPEATS}, warm-up steps from 0 to {MAX_BENCH_STEPS:,}"
        )
    if data is not None and "train" not in modes:
        raise CnnctlError.at(
            "--data times the loader against the training step, and --mode forward leaves the step out",
            hint="leave out --mode (or give --mode train) with --data",
        )
    with memory_guard(device, batch_size):
        return _bench(
            graph, device, batch_size, steps, warmup, repeats, modes, amp, compile, reference, peak_tflops, threads,
            data, weights, progress or (lambda done, total: None),
        )  # fmt: skip


def _bench(
    graph, device, batch_size, steps, warmup, repeats, modes, amp, compile, reference, peak_tflops, threads, data,
    weights, progress,
):  # fmt: skip
    from ..backend import to_torch
    from ..graph.outputs import dense_shape
    from .reference import REFERENCES

    dense = dense_shape(graph)  # a network scoring every pixel: its targets are masks
    if len(graph.output_shape) != 1 and dense is None:
        raise CnnctlError.at(
            "bench times classifiers and dense prediction: the network must end in a vector of scores or a volume "
            "HxWxK larger than 1x1",
            hint="add `flatten`",
        )
    notes: list[str] = []
    model = to_torch(graph, logits=True)
    stats = None  # with --data: computed over its training images, as train does
    if weights is not None:  # before the data: weights that do not fit are told at once
        from .weighted import weighted_model

        placed = weighted_model(graph, torch.device("cpu"), weights=weights, command="bench", normalised=False)
        model, stats = placed.model, placed.stats
        notes.append(f"weights: {placed.said}")
    # The data first: a mistake in --data is told before any timing.
    loaded = _training_sources(graph, data, device, batch_size, stats) if data is not None else None
    h, w, c = graph.input_shape
    models = {"cnnctl": model}
    fast = decide(device, amp, compile=False, threads=threads)  # compile is applied per model below
    apply_backend_flags(fast)
    if fast.threads is not None:
        notes.append(fast.threads_said)
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
    targets = (batch_size, dense[0], dense[1]) if dense else (batch_size,)
    y = torch.randint(0, graph.output_shape[-1], targets, device=device)
    cost = training_cost(graph)
    profile = device_profile(device)  # a CPU's measured now, and again after the timings (below)
    dtype = fast.compute_dtype
    if profile is not None and dtype not in profile.peak:
        notes.append(f"roofline: the {profile.name} profile has no {dtype} peak")
        profile = None
    runs = []  # (model's label, mode, module, step)
    for label, model in models.items():
        model = model.to(device, memory_format=torch.channels_last)
        if compile:
            model = compiled(model)
            notes.append("torch.compile: the first steps (warm-up) include compilation")
        runs += [(label, mode, model, _step(model, mode, fast, tuple(h.weight for h in graph.heads))) for mode in modes]
    # What progress counts: each contender's steps, then the data's two passes' timed batches.
    total, done = len(runs) * (warmup + repeats * steps) + (2 * repeats * steps if loaded is not None else 0), 0
    progress(done, total)
    for _, mode, model, step in runs:
        model.train(mode == "train")
        for _ in range(warmup):
            step(x, y)
        _sync(device)
        done += warmup
        progress(done, total)
    latencies: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):  # the contenders alternate: a change in the machine's speed hits them alike
        for (_, mode, model, step), times in zip(runs, latencies, strict=True):
            model.train(mode == "train")
            for _ in range(steps):
                start = time.perf_counter()
                step(x, y)
                _sync(device)
                times.append(time.perf_counter() - start)
            done += steps
            progress(done, total)
    # A CPU measured before the timings and again after them: a machine whose speed changed
    # meanwhile (others' work) gives two profiles that disagree (BenchResult.profile_disagreement).
    # The roofline takes the best of each figure: a stall only ever slows a measurement down.
    measured = (profile, measured_cpu_profile()) if profile is not None and profile.key == "cpu" else ()
    if measured:
        profile = best_profile(measured)
    mixed = fast.amp_dtype is not None  # autocast over float32 weights
    estimate = {  # the roofline's lower bound of a step, in what the step computes in
        mode: roofline(graph, profile, batch_size, dtype, training=mode == "train", amp=mixed).seconds
        if profile else None
        for mode in ("forward", "train")
    }  # fmt: skip
    timings = []
    for (label, mode, _, _), times in zip(runs, latencies, strict=True):
        flops = 2 * (cost.step_mults if mode == "train" else graph.mults) * batch_size  # inference: without heads
        timings.append(Timing(label, mode, batch_size, times, flops, estimate[mode], repeats))
    notes += fast.notes
    peak = peak_for(device, peak_tflops, dtype)
    peak_measured = peak is None and profile is not None and profile.key == "cpu"
    if peak_measured:  # a CPU: MFU against its peak as measured here (said so), rather than none
        peak = profile.peak[dtype] / 1e12
    result = BenchResult(str(device), timings, peak, sorted(set(notes)), profile, dtype=dtype,
                         peak_measured=peak_measured, measured_profiles=measured, network=graph.title)  # fmt: skip
    if loaded is not None:
        index = next(i for i, (label, mode, _, _) in enumerate(runs) if (label, mode) == ("cnnctl", "train"))
        model, step = runs[index][2:]
        model.train(True)

        def loader_timed() -> None:
            progress(total - repeats * steps, total)

        timed = time_data(data.data, *loaded, step, timings[index], batch_size, warmup, steps * repeats, device,
                          loader_timed)  # fmt: skip
        result = result._replace(data=timed)
        progress(total, total)
    return result


def _training_sources(graph: Graph, config: TrainConfig, device: torch.device, batch: int, stats=None):
    """The data of `config` loaded as `train` loads it and its batch sources made as a run
    makes them, checked as a run checks them: (DataSplits, Sources, loader processes).
    `stats`: the normalisation the weights bring (data.stats.Stats), else computed."""
    from .data_checks import check_batch, check_classes
    from .sources import load_training_data, loader_workers, make_sources

    workers = loader_workers(config)
    data = load_training_data(config, graph, workers, stats=stats)
    check_classes(graph, data.classes)
    sources = make_sources(data, config, graph, device, workers)
    check_batch(sources.train, batch, 1, graph)
    return data, sources, workers


def time_data(
    spec: str, data: DataSplits, sources: Sources, workers: int, step: Callable, step_timing: Timing, batch: int,
    warmup: int, batches: int, device: torch.device, passed: Callable[[], None] = lambda: None,
) -> DataTiming:  # fmt: skip
    """The loader of `sources` timed alone, then feeding `step` (a training step on (x, y)),
    each pass `warmup` batches (at least one) and then `batches` timed; `step_timing`: the
    step alone, on synthetic data. `passed()` is called between the two passes."""
    from ..data.loader import cores as usable_cores

    # Never the loader processes' start, nor the batches they bank meanwhile: started together,
    # each has its first batch ready at about the same time, and timing from the first would
    # count those as made in no time (30 timed batches of 16 processes read 2.4x too fast).
    warmup = max(1, warmup, workers if data.streamed else 0)

    def loaded(epoch: int) -> Iterator:
        return sources.train.epoch(epoch, 0, batch, 0, 1)

    def fed(epoch: int) -> Iterator:
        return sources.training(epoch, 0, batch, 0, 1)

    loader = _timed(_epochs(loaded), None, warmup, batches, device)
    passed()
    together = _timed(_epochs(fed), step, warmup, batches, device)
    skipped = len(sources.skipped.names) if sources.skipped is not None else 0
    streamed = bool(data.streamed)
    return DataTiming(spec, streamed, workers if streamed else 0, usable_cores(), batch, warmup, loader, step_timing,
                      together, skipped, (*data.notes, *sources.notes, *filter(None, [sources.decoding])))  # fmt: skip


def _epochs(epoch: Callable[[int], Iterator]) -> Iterator:
    """The batches of epoch 0, then 1, and so on, as training takes them."""
    for n in itertools.count():
        yield from epoch(n)


def _timed(batches: Iterator, step: Callable | None, warmup: int, count: int, device: torch.device) -> Pass:
    """`warmup` batches of `batches` (each given to `step`, if any), then `count` timed back
    to back, the device synchronised before and after."""
    try:
        for _ in range(warmup):
            x, y = next(batches)
            if step is not None:
                step(x, y)
        _sync(device)
        images = 0
        start = time.perf_counter()
        for _ in range(count):
            x, y = next(batches)
            if step is not None:
                step(x, y)
            images += len(y)
        _sync(device)
        return Pass(count, images, time.perf_counter() - start)
    finally:
        batches.close()  # a stream's loader drops the batches it had prepared


def device_profile(device: torch.device) -> Profile | None:
    """The roofline profile of `device`: a known GPU's data sheet, or this CPU measured."""
    if device.type == "cuda":
        return profile_of_device(torch.cuda.get_device_name(device))
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
    # the figures are the profile's fields (JSON's peak_flops_per_second, bandwidth_bytes_per_second), not its name
    return Profile("this CPU (measured)", {"float32": peak}, bandwidth, key="cpu")


def best_profile(measured: tuple[Profile, ...]) -> Profile:
    """One profile of several measurements of the same CPU: the highest peak and bandwidth of them."""
    peak = {dtype: max(p.peak[dtype] for p in measured) for dtype in measured[0].peak}
    return measured[0]._replace(peak=peak, bandwidth=max(p.bandwidth for p in measured))


def _step(
    model, mode: str, fast: FastPath, weights: tuple[float, ...] = ()
) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One step of `mode` on a batch (x, y) (the caller puts the module in training or eval mode
    first); `weights`, of the heads' losses (`outputs:`) in training."""
    autocast = fast.autocast()
    if mode == "forward":

        def forward(x, y):
            with torch.inference_mode(), autocast:
                model(x)

        return forward
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train_step(x, y):
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = training_loss(model(x), y, weights)[0]  # with the heads' losses (`outputs:`)
        loss.backward()
        optimizer.step()

    return train_step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
