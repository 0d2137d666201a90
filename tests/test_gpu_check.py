"""benchmarks/gpu_check.py, the one GPU script, run on the CPU with --dry-run: each part's code
runs (tiny networks, batches and data), so a run on the GPU cannot fail for a silly reason."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from idxfiles import write_idx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402


def test_memory_and_throughput_parts_on_the_cpu(tmp_path):
    results = gpu_check.main(["--out", str(tmp_path), "--dry-run", "--skip", "lenet,feed"])
    rows = results["memory"]["rows"]
    assert [(r["network"], r["amp"]) for r in rows] == [("lenet5", False), ("lenet5", True)]
    fp32 = rows[0]
    # What autograd keeps in LeNet-5's forward pass, measured through saved_tensors_hooks, is
    # cnnctl's figure to the byte (float32: the CPU and the GPU keep the same tensors).
    assert fp32["measured"]["saved"] == fp32["predicted"]["saved"] > 0
    assert fp32["measured"]["peak"] is None  # no max_memory_allocated on a CPU
    # kept by layer kind: every byte is under a kind, conv (the image, the tanh outputs) and fc
    kinds = fp32["measured"]["by_kind"]
    assert sum(sum(d.values()) for d in kinds.values()) == fp32["measured"]["saved"]
    assert set(kinds) <= {"conv", "pool", "fc", "tanh"} and "conv" in kinds
    layers = json.loads((tmp_path / "memory_layers.json").read_text())
    assert sum(sum(r["bytes"].values()) for r in layers["lenet5"]) == fp32["measured"]["saved"]
    bench = results["throughput"]["rows"][0]
    assert bench["network"] == "lenet5" and bench["images_per_second"] > 0
    assert bench["reference"].startswith("hand-written") and bench["ratio"] > 0
    assert results["lenet"] == {"skipped": "--skip"} and results["feed"] == {"skipped": "--skip"}
    text = (tmp_path / "gpu_check.md").read_text()
    assert "| lenet5 | fp32 |" in text and "| lenet5 | 8 | eager |" in text
    assert json.loads((tmp_path / "gpu_check.json").read_text())["info"]["dry_run"] is True
    assert "memory lenet5" in (tmp_path / "gpu_check.log").read_text()


def test_lenet_and_feed_parts_run_their_commands(tmp_path):
    # The two parts that run cnnctl's own commands, as a script: LeNet-5 on IDX files (64
    # random digits, one epoch) and the streamed feed of 40 small photos.
    mnist = tmp_path / "mnist"
    g = torch.Generator().manual_seed(0)
    write_idx(mnist, "train", torch.randint(0, 255, (64, 28, 28), generator=g), torch.arange(64) % 10)
    write_idx(mnist, "t10k", torch.randint(0, 255, (16, 28, 28), generator=g), torch.arange(16) % 10)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(out), "--dry-run", "--skip",
         "memory,throughput", "--mnist", str(mnist), "--photos", str(tmp_path / "photos")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "gpu_check.json").read_text())
    lenet = results["lenet"]
    run = lenet["rows"][0]
    assert run["exit"] == 0, run.get("output_tail")
    assert len(run["epoch_seconds"]) == 1 and run["first_epoch"] > 0
    # --cuda-graphs comes with issue 23's item 4: without it, one run and "flag missing"
    assert [r["cuda_graphs"] for r in lenet["rows"]] == (["off", "auto"] if lenet["flag"] else ["flag missing"])
    feed = results["feed"]["rows"][0]
    assert feed["decode"] == "cpu" and feed["output"]["data"]["images_per_second"]["loader"] > 0
    text = (out / "gpu_check.md").read_text()
    assert "## LeNet-5 on MNIST" in text and "| cpu |" in text
