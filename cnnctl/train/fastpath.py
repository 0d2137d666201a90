"""The speed settings of a run, decided once from the device and the options, and printed.

Each is on where it is safe and pays: on a GPU, mixed precision (bf16, or fp16 with a
gradient scaler), torch.compile, cudnn.benchmark and the data kept in GPU memory; on a
CPU, none of these helps a small network (bf16 is several times slower than float32 here,
and compiling costs more seconds than it saves), so they are off unless asked for.
channels_last and fused optimizers are on everywhere.

On a CPU the number of intra-op threads matters most on a shared machine: PyTorch splits
every operator over all cores and ends it at a barrier, so when another process holds a
core, each operator waits a scheduler time slice for the thread that was descheduled (a
small network then runs four times slower; benchmarks/threads_under_load.py). The run takes
as many threads as there are idle cores (the cores this process may use, less the threads
of other processes running now), at least one; OMP_NUM_THREADS or --threads decide instead.
The count is recorded with the run's settings, and a resumed run takes it again: float
results depend on it (a sum split over more threads rounds differently).

CUDA graphs (--cuda-graphs): a small network's step on a GPU is bound by launching its
kernels, not by their arithmetic: each launch costs the host a few microseconds (Python,
PyTorch's dispatcher, the driver), and LeNet-5's kernels finish faster than that. Replayed
as a CUDA graph, the forward and the backward are each one launch. cnnctl captures them with
torch.compile's "reduce-overhead" mode, which records one graph per shape, checks that the
step's tensors stay where the graph expects them, and falls back to launching kernels itself
where a graph cannot hold the step; the loss, the optimizer's fused step and the running
metrics run as before, so what is recorded and read is unchanged. `auto` turns it on when
  - the device is a GPU, torch.compile is on, and the run is one process (DDP's gradient
    hooks communicate outside any graph);
  - every batch has the same shape: the data is held in memory (the last, partial step of
    an epoch is always left out; a stream's batches lose their unreadable images), and
  - the step is launch-bound: its arithmetic, at bench.STEP_SHARE of the GPU's peak, takes
    less time than launching it, KERNELS_PER_LAYER kernels a layer at LAUNCH_SECONDS each.
    LeNet-5 at batch 64 on an H200: 147 MFLOP, ~1 µs of arithmetic against ~105 µs of
    launches: on; ResNet-50 at batch 256: 6.2 TFLOP, ~32 ms against ~1.9 ms: off.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..data.loader import cores
from ..device_memory import device_memory

if TYPE_CHECKING:
    from ..graph import Graph

# Keep a dataset in GPU memory when it takes at most this share of it; larger ones stay in
# pinned host memory and are copied batch by batch, overlapping the previous step.
ON_DEVICE_SHARE = 0.25
# A kernel launch's cost to the host (Python, the dispatcher, the CUDA driver): a few
# microseconds; and the kernels a layer launches in a training step: forward, input and
# weight gradients (element-wise layers launch fewer, normalisations more).
LAUNCH_SECONDS = 5e-6
KERNELS_PER_LAYER = 3


@dataclass(frozen=True)
class FastPath:
    device: torch.device
    amp_dtype: torch.dtype | None  # None: float32 throughout
    compile: bool
    cudnn_benchmark: bool
    notes: tuple[str, ...]  # why something asked for is off
    threads: int | None = None  # intra-op CPU threads set for the run (None: PyTorch's own)
    threads_why: str = ""
    cuda_graphs: bool = False  # the step replayed as CUDA graphs (torch.compile mode="reduce-overhead")
    cuda_graphs_why: str = ""  # why on or off ("" where there is nothing to say: not a GPU)

    @property
    def compute_dtype(self) -> str:
        """What the arithmetic runs in, by the analyzer's name: float32, or autocast's bfloat16 or float16."""
        return "float32" if self.amp_dtype is None else str(self.amp_dtype).removeprefix("torch.")

    @property
    def grad_scaler(self) -> bool:
        """fp16 needs its gradients scaled against underflow; bf16 has float32's range."""
        return self.amp_dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @property
    def threads_said(self) -> str:
        """`1 CPU thread (4 busy elsewhere on 2 cores; --threads N to choose)`."""
        return f"{self.threads} CPU thread{'s' if self.threads != 1 else ''} ({self.threads_why})"

    def describe(self, optimizer: str, fused: bool = True, decoding: str = "") -> str:
        """One line: what is on, then what is off. `fused`: did the optimizer get its fused kernel;
        `decoding`: where a stream's JPEGs are decoded (cnnctl.train.decoding), when it says."""
        on = ["channels_last", f"fused {optimizer}" if fused else optimizer]
        if self.amp_dtype is not None:
            on.append("bf16 autocast" if self.amp_dtype == torch.bfloat16 else "fp16 autocast with a gradient scaler")
        if self.compile:
            on.append("torch.compile")
        if self.cuda_graphs:
            on.append(f"CUDA graphs ({self.cuda_graphs_why})")
        if self.cudnn_benchmark:
            on.append("cudnn.benchmark")
        if self.threads is not None:
            on.append(self.threads_said)
        if decoding:
            on.append(decoding)
        off = []
        if self.amp_dtype is None:
            off.append("amp")
        if not self.compile:
            off.append("compile")
        if not self.cuda_graphs and self.cuda_graphs_why:
            off.append(f"CUDA graphs ({self.cuda_graphs_why})")
        return "fast path: " + ", ".join(on) + (f"; off: {', '.join(off)}" if off else "")


def busy_elsewhere(samples: int = 11) -> float | None:
    """Threads of other processes running now: on Linux, the running count of /proc/loadavg
    (which counts this one too), its median over `samples` readings 5 ms apart; elsewhere the
    1-minute load average (which lags a minute behind); None where neither exists."""
    try:
        counts = []
        for i in range(samples):
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]))
            if i + 1 < samples:
                time.sleep(0.005)
        return max(0.0, sorted(counts)[samples // 2] - 1.0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None


def choose_threads(requested: int | None, recorded: int | None = None) -> tuple[int, str]:
    """Intra-op threads for a CPU run, and why, in words: `requested` (--threads), else
    `recorded` (the count a resumed run's checkpoint keeps), else OMP_NUM_THREADS, else the idle
    cores: cores - the threads running elsewhere, rounded, from 1 to PyTorch's default (the
    physical cores). A resumed run keeps its count: float sums split over another number of
    threads round differently, and its numbers would no longer be those of a run that went
    straight through."""
    if recorded is not None and requested in (None, recorded):
        return recorded, "recorded by the run, for the same numbers; --threads N to change"
    if requested is not None:
        over = f"; more than the {cores()} cores this process may use" if requested > cores() else ""
        if recorded is not None:
            over += f"; the run recorded {recorded}: its numbers may differ from a run that went straight through"
        return requested, "--threads" + over
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return torch.get_num_threads(), "OMP_NUM_THREADS"
    n = cores()
    busy = busy_elsewhere()
    if busy is None:
        return torch.get_num_threads(), "PyTorch's default"
    idle = max(1, min(torch.get_num_threads(), round(n - busy)))
    return idle, f"{busy:g} busy elsewhere on {n} core{'s' if n != 1 else ''}; --threads N to choose"


def decide(
    device: torch.device, amp: bool | None, compile: bool | None, threads: int | None = None,
    recorded: int | None = None,
) -> FastPath:  # fmt: skip
    """amp/compile: True or False as asked, None for the device's default; threads: --threads;
    recorded: the CPU threads a resumed run's checkpoint keeps (choose_threads)."""
    notes: list[str] = []
    gpu = device.type == "cuda"
    amp_dtype = None
    if amp or (amp is None and gpu):
        if gpu:
            # Compute capability 8 (Ampere) and later compute in bf16; older GPUs (V100, T4)
            # only emulate it, and is_bf16_supported() says yes for them too.
            amp_dtype = torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
        elif device.type == "cpu":
            notes.append("--amp: off on the CPU, where bf16 is slower than float32; it applies on GPUs")
        else:
            notes.append(f"--amp: off on {device.type}; cnnctl's mixed precision is for CUDA GPUs")
    use_compile = bool(compile) if compile is not None else gpu and _triton()
    if use_compile and gpu and not _triton():
        notes.append("--compile: off, because Triton (torch.compile's GPU code generator) is not installed")
        use_compile = False
    chosen = device.type == "cpu" or threads is not None
    n_threads, why = choose_threads(threads, recorded) if chosen else (None, "")
    return FastPath(device, amp_dtype, use_compile, gpu, tuple(notes), n_threads, why)


def launch_bound(step_flops: int, layers: int, peak_tflops: float) -> tuple[bool, str]:
    """Whether a training step of `step_flops` over `layers` layers spends longer launching its
    kernels than computing (at bench.STEP_SHARE of `peak_tflops`), and the figures, in words."""
    from ..words import short
    from .bench import STEP_SHARE

    arithmetic = step_flops / (peak_tflops * 1e12 * STEP_SHARE)
    kernels = KERNELS_PER_LAYER * layers
    launches = kernels * LAUNCH_SECONDS
    bound = arithmetic < launches
    said = (f"{short(step_flops)}FLOP a step, {'launch' if bound else 'compute'}-bound: ~{_us(arithmetic)} of "
            f"arithmetic at {STEP_SHARE:.0%} of {peak_tflops:g} TFLOP/s against ~{_us(launches)} launching "
            f"~{kernels} kernels")  # fmt: skip
    return bound, said


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.1f} ms"


def choose_cuda_graphs(
    asked: str, device_type: str, compile: bool, distributed: bool, streamed: bool, launch: tuple[bool, str] | None
) -> tuple[bool, str]:
    """--cuda-graphs `asked` (auto|on|off): on or off, and why in words ("" for nothing to say).
    `launch`: launch_bound's answer for the step (None: not computed, off a GPU)."""
    if asked == "off":
        return False, "--cuda-graphs off" if device_type == "cuda" else ""
    if device_type != "cuda":
        return False, "--cuda-graphs on, but they need a CUDA GPU" if asked == "on" else ""
    if not compile:
        return False, "captured through torch.compile, which is off"
    if distributed:
        return False, "several processes: DDP's gradient hooks communicate outside a graph"
    if asked == "on":
        return True, "--cuda-graphs on" + (" with streamed data: one graph per batch shape" if streamed else "")
    if streamed:
        return False, "the data is streamed: a batch loses its unreadable images, so shapes vary"
    bound, said = launch
    return bound, said + ("" if bound else "; --cuda-graphs on to capture it all the same")


def with_cuda_graphs(
    fast: FastPath, asked: str, graph: Graph, batch: int, distributed: bool, streamed: bool
) -> FastPath:
    """`fast` with the decision of --cuda-graphs `asked` for a training step of `graph` at `batch`."""
    from dataclasses import replace

    launch = None
    if fast.device.type == "cuda":
        from ..analysis.training import training_cost
        from .bench import expected_step_seconds

        step_flops = training_cost(graph).step_flops * batch
        peak = expected_step_seconds(fast.device, step_flops)[1]
        launch = launch_bound(step_flops, len(graph.nodes), peak)
    on, why = choose_cuda_graphs(asked, fast.device.type, fast.compile, distributed, streamed, launch)
    return replace(fast, cuda_graphs=on, cuda_graphs_why=f"{graph.title}: {why}" if on and asked == "auto" else why)


def _triton() -> bool:
    return importlib.util.find_spec("triton") is not None


def keep_on_device(device: torch.device, nbytes: int) -> bool:
    if device.type != "cuda":
        return True  # CPU: it is there already; MPS: unified memory
    total = device_memory(device)
    return total is not None and nbytes <= ON_DEVICE_SHARE * total


def apply_backend_flags(path: FastPath) -> None:
    if path.threads is not None:
        torch.set_num_threads(path.threads)
    if path.cudnn_benchmark:
        # Every step has the same shapes: let cuDNN time its algorithms once and keep the fastest.
        torch.backends.cudnn.benchmark = True


class _ProfilerNote(logging.Filter):
    """Drops Dynamo's "Profiler record function ... will be ignored": DDP's forward marks
    itself for the profiler, and compiling it prints that once per worker, a note for
    PyTorch's developers, not a problem of the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in str(record.msg)


def compiled(module: torch.nn.Module, cuda_graphs: bool = False) -> torch.nn.Module:
    """torch.compile(module), without Dynamo's note about DDP's profiler marks; with
    `cuda_graphs`, in mode "reduce-overhead": replayed as CUDA graphs."""
    for name in ("torch._dynamo.variables.ctx_manager", "torch._dynamo.variables.torch"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ProfilerNote) for f in logger.filters):
            logger.addFilter(_ProfilerNote())
    return torch.compile(module, mode="reduce-overhead") if cuda_graphs else torch.compile(module)
