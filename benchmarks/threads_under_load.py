"""LeNet-5 training steps per second on a CPU, idle and under an artificial load, by thread setting.

Issue 12, item 5: on a 2-core machine with load 4.7, `cnnctl train lenet5` ran at 940 img/s
and at 8,958 img/s with OMP_NUM_THREADS=1. The cause: PyTorch's intra-op pool (OpenMP)
splits every operator over all cores, and each operator ends at a barrier where the
threads wait for the slowest. When another process holds a core, the thread that was
descheduled arrives a whole time slice late and the others spin at the barrier meanwhile:
every small operator of a small network then costs a scheduler quantum, not microseconds.

This script measures, in a fresh process per setting (OpenMP reads its environment once),
training steps of LeNet-5 (batch 64, Adam) on synthetic data:

    threads 1 / all cores, OMP_WAIT_POLICY default / PASSIVE, idle / loaded

The load is 2 x cores processes spinning in Python (load average about 2 x cores).
Sustained images/s = images over the wall time of all timed steps.

    .venv/bin/python benchmarks/threads_under_load.py [--seconds 6]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time

STEP = r"""
import os, sys, time
import torch
import torch.nn.functional as F
import cnnctl
from cnnctl.backend import to_torch
from cnnctl.train.fastpath import choose_threads
threads = sys.argv[1]
seconds = float(sys.argv[2])
if threads == "auto":
    n, why = choose_threads(None)
else:
    n, why = int(threads), "given"
torch.set_num_threads(n)
torch.manual_seed(0)
model = to_torch(cnnctl.load("lenet5"), logits=True).to(memory_format=torch.channels_last)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
x = torch.randn(64, 1, 32, 32).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, (64,))
def step():
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()
for _ in range(20):
    step()
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    step()
    steps += 1
wall = time.perf_counter() - start
print(f"{steps * 64 / wall:.0f} {n} {why}")
"""


def spin() -> None:
    while True:
        pass


def measure(threads: str, passive: bool, seconds: float) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    done = subprocess.run(
        [sys.executable, "-c", STEP, threads, str(seconds)], capture_output=True, text=True, env=env, check=True
    )
    speed, n, *why = done.stdout.split()
    return float(speed), f"{n} ({' '.join(why)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per setting")
    o = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    settings = [("1", False), (str(cores), False), (str(cores), True), ("auto", False)]
    print(f"LeNet-5 training, batch 64, {cores} cores; sustained images/s over {o.seconds:g} s per setting")
    print(f"{'load':<8} {'threads':<52} {'OMP_WAIT_POLICY':<16} {'img/s':>8}  load average")
    for loaded in (False, True):
        spinners = []
        if loaded:
            spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(2 * cores)]
            for p in spinners:
                p.start()
            time.sleep(20)  # let the 1-minute load average see them, as the auto setting reads it
        try:
            for threads, passive in settings:
                speed, used = measure(threads, passive, o.seconds)
                label = "auto: " + used if threads == "auto" else threads
                load = os.getloadavg()[0]
                state = f"{2 * cores} spin" if loaded else "idle"
                print(f"{state:<8} {label:<52} {'PASSIVE' if passive else 'default':<16} {speed:>8,.0f}  {load:.1f}")
        finally:
            for p in spinners:
                p.kill()


if __name__ == "__main__":
    main()
