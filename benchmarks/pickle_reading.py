"""How long `cnnctl runs` takes to judge a large checkpoint without torch (cnnctl.pickled.read_pickle).

    python benchmarks/pickle_reading.py [--runs 100] [--repeat 5]

Writes, into a temporary folder, ResNet-50's state_dict (the bundled network built by
cnnctl.to_torch: 25.6 M parameters, about 100 MB) as torch.save writes it (a zip archive) and in
torch's legacy format (_use_new_zipfile_serialization=False: pickles, then the storages' bytes),
and a checkpoint as cnnctl's are (its format tag, the model and Adam's state of each parameter).
Prints the best of `--repeat` reads of each, then the time `list_runs` takes over `--runs` run
folders, each holding that checkpoint as best.pt and last.pt (hard links: no copies on disk).
The files are written by a child process, which imports torch; this one, which measures, does not
(as `runs`: a process holding torch's objects collects its garbage more slowly). The files are
read from the page cache after the first time: the figures are the reader's, not the disk's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnctl.pickled import read_pickle
from cnnctl.run_folders import list_runs

FILES = {
    "state_dict (zip)": "zip.pt",
    "state_dict (legacy)": "legacy.pt",
    "checkpoint, Adam's state too": "checkpoint.pt",
}


def best_of(repeat: int, work) -> float:
    """The fastest of `repeat` calls of `work`, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def write_checkpoints(folder: Path) -> None:
    """ResNet-50's state_dict in both of torch's formats, and a checkpoint with Adam's state (FILES)."""
    import torch

    import cnnctl
    from cnnctl.catalog import bundled

    model = cnnctl.to_torch(cnnctl.load(bundled()["resnet50"]))
    state = model.state_dict()
    optimizer = torch.optim.Adam(model.parameters())
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # Adam's state: exp_avg and exp_avg_sq of each parameter
    files = {what: folder / name for what, name in FILES.items()}
    torch.save(state, files["state_dict (zip)"])
    torch.save(state, files["state_dict (legacy)"], _use_new_zipfile_serialization=False)
    network = {"input": [224, 224, 3], "layers": [[f"l{i}", "relu", [i - 1]] for i in range(200)]}
    torch.save({"format": "cnnctl-checkpoint-1", "model": state, "optimizer": optimizer.state_dict(),
                "network": network, "epoch": 1}, files["checkpoint, Adam's state too"])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", metavar="DIR", help=argparse.SUPPRESS)  # the child that writes the files
    args = parser.parse_args()
    if args.write:
        write_checkpoints(Path(args.write))
        return
    assert "torch" not in sys.modules, "the process that measures imports no torch, as `runs`"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, __file__, "--write", tmp], check=True)
        files = {what: folder / name for what, name in FILES.items()}
        for what, path in files.items():
            read_pickle(str(path))  # into the page cache
            seconds = best_of(args.repeat, lambda path=path: read_pickle(str(path)))
            print(f"{what}: {path.stat().st_size / 1e6:.1f} MB, read_pickle {seconds * 1e3:.1f} ms")
        runs = folder / "runs"
        for i in range(args.runs):
            run = runs / f"run{i:03d}"
            run.mkdir(parents=True)
            (run / "config.json").write_text(json.dumps({"epochs": 1}))
            (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "val_accuracy": 0.5}) + "\n")
            for name in ("best.pt", "last.pt"):
                os.link(files["checkpoint, Adam's state too"], run / name)
        list_runs(str(runs))
        seconds = best_of(max(1, args.repeat // 2), lambda: list_runs(str(runs)))
        print(f"list_runs over {args.runs} runs (best.pt and last.pt each): {seconds:.2f} s")


if __name__ == "__main__":
    main()
