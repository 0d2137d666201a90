"""Data-parallel scaling on CPU: LeNet-5 with 1 process against 2 workers, the same global batch.

    python benchmarks/ddp_scaling.py [--epochs 3] [--rounds 3] [--batch 128]

Both runs are `cnnctl train lenet5` on the same data (the MNIST test set in
../shared/data/mnist when present, else the built-in shapes), with the same global batch:
1 process x B against 2 workers x B/2 (`--nproc-per-node 2`, gloo). Images per second
come from the run's own metrics.jsonl (training and validation time per epoch, so the
launcher's and workers' start-up is left out); start-up is reported apart, end to end.

Two figures: 2 workers against 1 process on all cores (what a user of this machine gets),
and the scaling efficiency per core, 2 workers / (2 x 1 process on one thread). On a
2-core machine the single process already uses both cores (two intra-op threads), so a
second worker brings no new core; the per-core efficiency says what DDP's bookkeeping
and the all-reduce of every step cost against a thread that needs neither.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def run(data: str, epochs: int, batch: int, workers: int, out: Path, threads: int | None) -> tuple[float, float]:
    """(training images/s after start-up, wall seconds of the whole command)."""
    cmd = [sys.executable, "-m", "cnnctl", "train", "lenet5", "--data", data, "--epochs", str(epochs),
           "--batch-size", str(batch // workers), "--device", "cpu", "--out", str(out)]  # fmt: skip
    if workers > 1:
        cmd += ["--nproc-per-node", str(workers)]
    start = time.perf_counter()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    config = json.loads((out / "config.json").read_text())
    return images_per_epoch(config, data) * len(rows) / sum(r["seconds"] for r in rows), wall


def images_per_epoch(config: dict, data: str) -> int:
    from cnnctl import load
    from cnnctl.data import load_data

    graph = load("lenet5")
    loaded = load_data(data, graph.input_shape, val_split=config["val_split"], seed=config["seed"])
    return len(loaded.train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128, help="global batch (images a step)")
    args = parser.parse_args()
    data = str(MNIST) if MNIST.is_dir() else "shapes"
    print(f"data: {data}; {args.epochs} epochs, global batch {args.batch}, {os.cpu_count()} cores")
    # (label, workers, threads per process); 2 workers get one thread each from the launcher.
    setups = [("1 process, all cores", 1, None), ("1 process, 1 thread", 1, 1), ("2 workers, 1 thread each", 2, None)]
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in setups}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i, (label, workers, threads) in enumerate(setups):  # interleaved: drift hits all alike
                out = Path(tmp) / f"{i}-{r}"
                results[label].append(run(data, args.epochs, args.batch, workers, out, threads))
    for label, runs in results.items():
        speeds, walls = [s for s, _ in runs], [w for _, w in runs]
        print(f"{label:>26}: best {max(speeds):,.0f} img/s, median {statistics.median(speeds):,.0f} img/s; "
              f"whole command median {statistics.median(walls):.1f} s")  # fmt: skip
    best = {label: max(s for s, _ in runs) for label, runs in results.items()}
    two = best["2 workers, 1 thread each"]
    print(f"2 workers / 1 process on all cores: {two / best['1 process, all cores']:.2f}x")
    print(f"scaling efficiency per core, 2 workers / (2 x 1 thread): {two / (2 * best['1 process, 1 thread']):.0%}")


if __name__ == "__main__":
    main()
