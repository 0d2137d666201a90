"""cnnctl's module against the same network written by hand, in the same training step.

    python benchmarks/module_overhead.py [--device auto|cpu|cuda] [--networks a,b] [--modes eager,compiled]
                                         [--steps 20] [--rounds 10] [--threads N] [--out table.md]

Each network is timed against an independent module of the same network: the hand-written
ones of cnnctl.train.reference (LeNet-5, ResNet-18/50, ConvNeXt-T), else torchvision's model
of the same name where torchvision is installed and counts the same parameters. A training
step is forward (under bf16 autocast on a GPU, as `train` runs it), cross-entropy, backward
and an SGD step, on random data in channels-last order, each model eager or torch.compile'd
(--modes). Chunks of --steps steps alternate between the two models --rounds times, so both
see the same machine noise; the totals give images/s and the ratio cnnctl / reference (goal,
issues 3 and 23: >= 0.98).

On a CPU (the default there): LeNet-5 (32x32x1, batch 64) and ResNet-18 (112x112x3 to keep
runs short, batch 16), eager. On a GPU: every bundled network with a reference, at its
input, batch 64 (LeNet-5 256), eager and compiled. --out writes the table in Markdown.

CPU threads as `cnnctl bench` chooses them (cnnctl.train.fastpath.decide): the cores that
are idle now, or --threads N. Progress goes to stderr, a line per network and mode as its
rounds are timed. The load average is read before and after (os.getloadavg against the
cores): where others' work kept more than half the cores busy, the output says that its
figures are not comparable with the README's, which were measured on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import cnnctl
from cnnctl.catalog import bundled
from cnnctl.data.loader import cores
from cnnctl.train.fastpath import apply_backend_flags, decide
from cnnctl.train.reference import REFERENCES

LOADED = 0.5  # of the cores: a 1-minute load average above this share of them makes the figures incomparable

# On a CPU: the two networks and sizes of issue 3 (a few seconds each).
CPU_RUNS = {"lenet5": (None, 64), "resnet18": ("112x112x3", 16)}


@dataclass
class Row:
    network: str
    input: str
    batch: int
    mode: str  # eager or compiled
    reference: str  # hand-written or torchvision
    ours: float  # images/s
    theirs: float
    spread: float  # the round-to-round standard deviation of the ratio

    @property
    def ratio(self) -> float:
        return self.ours / self.theirs


def reference_for(name: str) -> tuple[torch.nn.Module, str] | None:
    """The hand-written module of `name`, else torchvision's (None when neither exists)."""
    if name in REFERENCES:
        return REFERENCES[name](), "hand-written"
    try:
        import torchvision.models as models
    except ImportError:
        return None
    make = getattr(models, name, None)
    return (make(weights=None), "torchvision") if make is not None else None


def stepper(model, x, y, device: torch.device):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    amp = device.type == "cuda"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def progress(line: str) -> None:
    """A line on stderr, at once: the table on stdout stays clean for a pipe or a file."""
    print(line, file=sys.stderr, flush=True)


def compare(
    ours, theirs, shape, batch: int, steps: int, rounds: int, device: torch.device, label: str = ""
) -> tuple[float, ...]:
    """images/s of each and the spread of their ratio: chunks of `steps` steps, the two models
    taking turns `rounds` times, so both see the same machine noise; each round told on
    stderr (`label`: which network and mode)."""
    x = torch.randn(batch, *shape, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    steps_of = {"ours": stepper(ours, x, y, device), "theirs": stepper(theirs, x, y, device)}
    seconds: dict[str, list[float]] = {"ours": [], "theirs": []}
    progress(f"{label}: warm-up (3 steps each{', and compilation' if 'compiled' in label else ''})")
    for step in steps_of.values():  # warm-up (and compilation)
        for _ in range(3):
            step()
    sync(device)
    for done in range(1, rounds + 1):
        for key, step in steps_of.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            sync(device)
            seconds[key].append(time.perf_counter() - start)
        ratio = seconds["theirs"][-1] / seconds["ours"][-1]
        progress(f"{label}: round {done}/{rounds} of {steps} steps each, ratio {ratio:.3f}")
    rate = {key: rounds * steps * batch / sum(s) for key, s in seconds.items()}
    spread = statistics.pstdev(a / b for a, b in zip(seconds["theirs"], seconds["ours"], strict=True))
    return rate["ours"], rate["theirs"], spread


def run(name: str, input: str | None, batch: int, modes: list[str], steps: int, rounds: int, device) -> list[Row]:
    graph = cnnctl.load(name, input=input) if input else cnnctl.load(name)
    found = reference_for(name)
    if found is None:
        print(f"{name}: no reference (hand-written or torchvision)")
        return []
    reference, kind = found
    ours = cnnctl.to_torch(graph, logits=True)
    counts = [sum(p.numel() for p in m.parameters()) for m in (ours, reference)]
    if counts[0] != counts[1]:
        print(f"{name}: the {kind} reference has {counts[1]:,} parameters, cnnctl's {counts[0]:,}: skipped")
        return []
    h, w, c = graph.input_shape
    rows = []
    for mode in modes:
        torch.manual_seed(0)
        models = [m.to(device, memory_format=torch.channels_last) for m in (ours, reference)]
        if mode == "compiled":
            models = [torch.compile(m) for m in models]
        rate = compare(*models, (c, h, w), batch, steps, rounds, device, f"{name} {mode}")
        row = Row(name, f"{h}x{w}x{c}", batch, mode, kind, *rate)
        print(f"{name} {row.input} batch {batch}, {mode}: cnnctl {row.ours:,.1f} img/s, {kind} {row.theirs:,.1f} "
              f"img/s, ratio {row.ratio:.3f} (round-to-round spread {row.spread:.3f})", flush=True)  # fmt: skip
        rows.append(row)
        torch._dynamo.reset()
    return rows


def load_said(before: float | None, after: float | None, threads: str) -> str:
    """The load average before and after against the cores, and whether the figures compare
    with the README's (measured on a quiet machine)."""
    if before is None or after is None:
        return f"{threads}; load average unknown here (no os.getloadavg)"
    n = cores()
    said = f"{threads}; load average {before:.2f} before, {after:.2f} after, on {n} core{'s' if n != 1 else ''}"
    if max(before, after) > LOADED * n:
        return (f"{said}: the machine is loaded (others kept more than {LOADED:.0%} of the cores busy), so these "
                "figures are not comparable with the README's, measured on a quiet machine")  # fmt: skip
    return f"{said}: quiet"


def loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None


def markdown(rows: list[Row], device: torch.device, load: str = "") -> str:
    where = torch.cuda.get_device_name(device) + ", bf16 autocast" if device.type == "cuda" else "CPU, float32"
    lines = [
        f"Training step (forward, cross-entropy, backward, SGD), channels-last, on {where}: cnnctl's module / "
        "the reference's images per second (goal: at least 0.98).",
        "",
        "| network | input | batch | mode | reference | cnnctl img/s | reference img/s | ratio | spread |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r.network} | {r.input} | {r.batch} | {r.mode} | {r.reference} | {r.ours:,.1f} | "
                     f"{r.theirs:,.1f} | {r.ratio:.3f} | {r.spread:.3f} |")  # fmt: skip
    if load:
        lines += ["", load[:1].upper() + load[1:] + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--networks", help="comma-separated; default: see the module's docstring")
    parser.add_argument("--modes", help="eager,compiled; default: eager on a CPU, both on a GPU")
    parser.add_argument("--steps", type=int, default=20, help="steps per chunk (CPU: LeNet-5 15x, ResNet-18 /5)")
    parser.add_argument("--rounds", type=int, default=10, help="chunks per model, taking turns")
    parser.add_argument("--threads", type=int, help="CPU threads; default: as `cnnctl bench` (the idle cores)")
    parser.add_argument("--out", help="write the table in Markdown here")
    args = parser.parse_args()
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    gpu = device.type == "cuda"
    before = loadavg()  # before this process adds its own threads to it
    fast = decide(device, amp=False, compile=False, threads=args.threads)  # bench's thread policy
    apply_backend_flags(fast)  # its threads; cudnn.benchmark on a GPU, as `train` sets it
    threads = fast.threads_said if fast.threads is not None else f"{torch.get_num_threads()} CPU threads"
    progress(threads)
    modes = args.modes.split(",") if args.modes else (["eager", "compiled"] if gpu else ["eager"])
    names = args.networks.split(",") if args.networks else (sorted(bundled()) if gpu else list(CPU_RUNS))
    rows = []
    for name in names:
        input, batch = (None, 256 if name == "lenet5" else 64) if gpu else CPU_RUNS.get(name, (None, 16))
        steps = args.steps if gpu else args.steps * 15 if name == "lenet5" else max(1, args.steps // 5)
        rows += run(name, input, batch, modes, steps, args.rounds, device)
    table = markdown(rows, device, load_said(before, loadavg(), threads))
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
