"""The compiled module against the same network written by hand, in the same training step.

    python benchmarks/module_overhead.py [--steps 20]

LeNet-5 (32x32x1, batch 64) and ResNet-18 (torchvision's layout, written out below, not
imported; 112x112x3 input to keep CPU runs short, batch 16): forward + backward + SGD
step on random data, after a warm-up; prints images/s of each and the ratio
compiled / hand-written (goal, issue 3: >= 0.98). Runs alternate to share machine noise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import cnnctl


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2).flatten(1)
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


class Basic(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        layers, c = [], 64
        for n, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [Basic(c, n, stride), Basic(n, n, 1)]
            c = n
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = F.adaptive_avg_pool2d(self.layers(x), 1).flatten(1)
        return self.fc(x)


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
    compare("LeNet-5, 32x32x1, batch 64", lenet, LeNet5(), (1, 32, 32), 64, args.steps * 15)
    resnet = cnnctl.to_torch(cnnctl.load("resnet18", input="112x112x3"), logits=True)
    compare("ResNet-18, 112x112x3, batch 16", resnet, ResNet18(), (3, 112, 112), 16, max(1, args.steps // 5))


if __name__ == "__main__":
    main()
