"""The compiled module against the same network written by hand, in the same training step.

    python benchmarks/module_overhead.py [--steps 20]

LeNet-5 (32x32x1, batch 64) and ResNet-18 (torchvision's layout, hand-written in
cnnctl.train.reference, not imported from torchvision; 112x112x3 input to keep CPU runs
short, batch 16): forward + backward + SGD
step on random data, after a warm-up; prints images/s of each and the ratio
compiled / hand-written (goal, issue 3: >= 0.98). Runs alternate to share machine noise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import cnnctl
from cnnctl.train.reference import REFERENCES


def stepper(model, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def compare(name: str, compiled, hand, shape, batch: int, steps: int, rounds: int = 10) -> None:
    """Chunks of `steps` steps, alternating between the two models `rounds` times: both see
    the same machine noise, and the totals give the ratio."""
    assert sum(p.numel() for p in compiled.parameters()) == sum(p.numel() for p in hand.parameters())
    x = torch.randn(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    steps_of = {"compiled": stepper(compiled, x, y), "hand": stepper(hand, x, y)}
    seconds = {"compiled": [], "hand": []}
    for step in steps_of.values():  # warm-up
        for _ in range(3):
            step()
    for _ in range(rounds):
        for key, step in steps_of.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            seconds[key].append(time.perf_counter() - start)
    rate = {key: rounds * steps * batch / sum(s) for key, s in seconds.items()}
    spread = statistics.pstdev(a / b for a, b in zip(seconds["hand"], seconds["compiled"], strict=True))
    print(
        f"{name}: compiled {rate['compiled']:,.1f} img/s, hand-written {rate['hand']:,.1f} img/s, "
        f"ratio {rate['compiled'] / rate['hand']:.3f} (round-to-round spread {spread:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="scales the steps per chunk")
    args = parser.parse_args()
    torch.manual_seed(0)
    lenet = cnnctl.to_torch(cnnctl.load("lenet5"), logits=True)
    compare("LeNet-5, 32x32x1, batch 64", lenet, REFERENCES["lenet5"](), (1, 32, 32), 64, args.steps * 15)
    resnet = cnnctl.to_torch(cnnctl.load("resnet18", input="112x112x3"), logits=True)
    compare(
        "ResNet-18, 112x112x3, batch 16", resnet, REFERENCES["resnet18"](), (3, 112, 112), 16, max(1, args.steps // 5)
    )


if __name__ == "__main__":
    main()
