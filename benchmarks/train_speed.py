"""`cnnctl train` end to end against a plain PyTorch script, LeNet-5 on MNIST-size data, CPU.

    python benchmarks/train_speed.py [--epochs 3]

Both train the same compiled LeNet-5 (`cnnctl.to_torch(..., logits=True)`), with Adam at
lr 0.001, batch 64, on the same 8,000 training and 2,000 validation images (the MNIST
test set in ../shared/data/mnist when present, else the built-in shapes), validating
after every epoch. The plain script is the usual one: a `TensorDataset` of normalised
float images and `DataLoader(..., shuffle=True)`. cnnctl's time includes everything it
does per epoch: batching by index from uint8 tensors, validation, metrics and two
checkpoints written to disk. Goal (issue 3): cnnctl >= 1.3x the script's images/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import cnnctl
from cnnctl.data import load_data
from cnnctl.train.config import TrainConfig
from cnnctl.train.loop import train

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data"


def plain_script(graph, data, epochs: int, batch: int) -> float:
    """Seconds for `epochs` epochs the way a hand-written script does it."""
    mean, std = data.mean[0], data.std[0]
    x_train = (data.train.x.float() / 255 - mean) / std
    x_val = (data.val.x.float() / 255 - mean) / std
    start = time.perf_counter()
    torch.manual_seed(0)
    model = cnnctl.to_torch(graph, logits=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader = DataLoader(TensorDataset(x_train, data.train.y), batch_size=batch, shuffle=True)
    val_loader = DataLoader(TensorDataset(x_val, data.val.y), batch_size=batch)
    for _ in range(epochs):
        model.train()
        for xb, yb in train_loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for xb, yb in val_loader:
                correct += int((model(xb).argmax(1) == yb).sum())
    return time.perf_counter() - start


def with_cnnctl(graph, data, epochs: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(epochs=epochs, batch_size=batch, device="cpu", seed=0, out=tmp)
        start = time.perf_counter()
        train(graph, config, network_title="lenet5", dataset=data)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    graph = cnnctl.load("lenet5")
    if (MNIST / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        data = load_data("mnist", graph.input_shape, data_dir=MNIST, val_split=0.2, seed=0)
    else:
        data = load_data("shapes", graph.input_shape)
    images = len(data.train.y) * args.epochs
    ours, theirs = [], []
    for _ in range(args.rounds):  # alternate, so both see the same machine noise
        ours.append(with_cnnctl(graph, data, args.epochs, 64))
        theirs.append(plain_script(graph, data, args.epochs, 64))
    a, b = images / min(ours), images / min(theirs)
    print(f"data: {data.name}, {len(data.train.y):,} train / {len(data.val.y):,} val images, {args.epochs} epochs")
    print(f"cnnctl train: {a:,.0f} img/s; plain DataLoader script: {b:,.0f} img/s; ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
