"""`train --save-every`: last.pt written in the middle of an epoch too, as Ctrl-C writes it, so that
a run killed without warning (kill -9, the out-of-memory killer, a preempted job) resumes from there
and ends with the weights of a run that was never killed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cnnctl.train.checkpoint import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NET = "input: 16x16x1\nlayers:\n  - conv f=3 p=same n=4 act=relu\n  - pool max f=2\n  - dropout 0.2\n  - fc 10\n"
STEPS = 6000 // 256  # the shapes data's 6,000 training images at batch 256: 23 whole steps an epoch


def cnnctl(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnctl", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})  # fmt: skip


def test_a_run_killed_after_a_mid_epoch_save_resumes_there_to_the_uninterrupted_weights(tmp_path):
    (tmp_path / "tiny.yaml").write_text(NET)
    args = ["train", "tiny.yaml", "--epochs", "2", "--batch-size", "256", "--threads", "1", "--seed", "4"]
    whole = cnnctl(tmp_path, *args, "--out", "whole")
    assert whole.returncode == 0, whole.stderr
    # Killed at step 10 of epoch 2, no cleanup at all (CNNCTL_TEST_FAULT: os._exit, as kill -9 leaves
    # it): its last save every 4 steps was at step 8 of that epoch.
    killed = cnnctl(tmp_path, *args, "--out", "k", "--save-every", "4steps",
                    env={"CNNCTL_TEST_FAULT": f"0:{STEPS + 10}"})  # fmt: skip
    assert killed.returncode == 1, killed.stderr
    saved = load_checkpoint(str(tmp_path / "k"))
    assert (saved["epoch"], saved["step"]) == (1, 8)
    resumed = cnnctl(tmp_path, "train", "--resume", "k")
    assert resumed.returncode == 0, resumed.stderr
    assert "resume: from k/last.pt, epoch 2 from step 9 (8 steps of it done)" in resumed.stdout
    mine, theirs = (load_checkpoint(str(tmp_path / d))["model"] for d in ("k", "whole"))
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_without_save_every_a_killed_run_keeps_only_its_epochs_end(tmp_path):
    (tmp_path / "tiny.yaml").write_text(NET)
    killed = cnnctl(tmp_path, "train", "tiny.yaml", "--epochs", "2", "--batch-size", "256", "--threads", "1",
                    "--out", "k", env={"CNNCTL_TEST_FAULT": f"0:{STEPS + 10}"})  # fmt: skip
    assert killed.returncode == 1
    saved = load_checkpoint(str(tmp_path / "k"))
    assert (saved["epoch"], saved["step"]) == (1, 0)  # what --save-every saves beyond


def test_a_run_stopped_after_its_epochs_last_step_is_told_its_validation_comes_next(tmp_path):
    """Ctrl-C between an epoch's last step and its validation: the checkpoint holds every step of the
    epoch, so there is no step left to go on from (an epoch of 4 steps has no step 5)."""
    from cnnctl.train.position import Position, resumed_at

    run = tmp_path / "run"
    run.mkdir()
    said = resumed_at(str(run), Position(epoch=1, step=4), steps=4)
    assert said == f"resume: from {run / 'last.pt'}, epoch 2: its 4 steps done, its validation next"
    assert "step 5" not in said
    assert resumed_at(str(run), Position(epoch=1, step=3), steps=4).endswith("epoch 2 from step 4 (3 steps of it done)")
    assert resumed_at(str(run), Position(epoch=1, step=3)).endswith("epoch 2 from step 4 (3 steps of it done)")
