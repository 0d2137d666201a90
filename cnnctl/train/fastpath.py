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
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from dataclasses import dataclass

import torch

from .device import device_memory

# Keep a dataset in GPU memory when it takes at most this share of it; larger ones stay in
# pinned host memory and are copied batch by batch, overlapping the previous step.
ON_DEVICE_SHARE = 0.25


@dataclass(frozen=True)
class FastPath:
    device: torch.device
    amp_dtype: torch.dtype | None  # None: float32 throughout
    compile: bool
    cudnn_benchmark: bool
    notes: tuple[str, ...]  # why something asked for is off
    threads: int | None = None  # intra-op CPU threads set for the run (None: PyTorch's own)
    threads_why: str = ""

    @property
    def compute_dtype(self) -> str:
        """What the arithmetic runs in, by the analyzer's name: float32, or autocast's bfloat16 or float16."""
        return "float32" if self.amp_dtype is None else str(self.amp_dtype).removeprefix("torch.")

    @property
    def grad_scaler(self) -> bool:
        """fp16 needs its gradients scaled against underflow; bf16 has float32's range."""
        return self.amp_dtype == torch.float16

    def autocast(self):
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
        return "fast path: " + ", ".join(on) + (f"; off: {', '.join(off)}" if off else "")


def cores() -> int:
    """The cores this process may run on (its affinity: a container's or taskset's share)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


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


def choose_threads(requested: int | None) -> tuple[int, str]:
    """Intra-op threads for a CPU run, and why, in words: `requested` (--threads), else
    OMP_NUM_THREADS, else the idle cores: cores - the threads running elsewhere, rounded, from
    1 to PyTorch's default (the physical cores)."""
    if requested is not None:
        over = f"; more than the {cores()} cores this process may use" if requested > cores() else ""
        return requested, "--threads" + over
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return torch.get_num_threads(), "OMP_NUM_THREADS"
    n = cores()
    busy = busy_elsewhere()
    if busy is None:
        return torch.get_num_threads(), "PyTorch's default"
    idle = max(1, min(torch.get_num_threads(), round(n - busy)))
    return idle, f"{busy:g} busy elsewhere on {n} core{'s' if n != 1 else ''}; --threads N to choose"


def decide(device: torch.device, amp: bool | None, compile: bool | None, threads: int | None = None) -> FastPath:
    """amp/compile: True or False as asked, None for the device's default; threads: --threads."""
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
    n_threads, why = choose_threads(threads) if device.type == "cpu" or threads is not None else (None, "")
    return FastPath(device, amp_dtype, use_compile, gpu, tuple(notes), n_threads, why)


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


def compiled(module: torch.nn.Module) -> torch.nn.Module:
    """torch.compile(module), without Dynamo's note about DDP's profiler marks."""
    for name in ("torch._dynamo.variables.ctx_manager", "torch._dynamo.variables.torch"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ProfilerNote) for f in logger.filters):
            logger.addFilter(_ProfilerNote())
    return torch.compile(module)
