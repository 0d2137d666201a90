"""How a run that cannot go on ends: exit 1 where the machine failed (a full disk), 2 where a
setting is to be fixed (a diverged loss), and with --format json the run's document (its
folder, the epochs saved, how it ended) with the errors beside it."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
resource = pytest.importorskip("resource")  # the file-size limit (ulimit -f)

from test_run_folder import small_net_with_data  # noqa: E402

from cnnctl.errors import CnnctlError, FaultError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    return small_net_with_data(tmp_path_factory.mktemp("net"))


def cli(net: Path, *args: str, driver: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`cnnctl train NET ARGS --format json` (run by `driver`, a script that ends in cnnctl's main)."""
    command = [sys.executable, *(["-c", driver] if driver else ["-m", "cnnctl"]), "train", str(net)]
    if "--resume" not in args:
        command += ["--data", str(net.parent / "data"), "--batch-size", "64", "--device", "cpu"]
    command += [*args, "--format", "json"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=ENV, **kwargs)


# The loss turns NaN in epoch 2, as a too high --lr makes it do (the NaN policy's own
# tests make it so in-process: test_run_logs, test_train), after epoch 1 was saved.
DIVERGES_IN_EPOCH_2 = """
import sys
from cnnctl.train import epoch as epochs, loop
real = loop.train_epoch
def train_epoch(run, epoch):
    if epoch == 1:
        epochs.diverged(run, epoch, 3)
    return real(run, epoch)
loop.train_epoch = train_epoch
from cnnctl.cli import main
main(sys.argv[1:])
"""


def file_size_limit(size: int):
    def apply():  # in the child: a write past the limit fails (EFBIG) instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def test_the_exit_codes_say_whose_fix_it_is():
    assert CnnctlError.at("a mistake").exit_code == 2
    assert FaultError.at("the disk is full").exit_code == 1 and isinstance(FaultError.at("x"), CnnctlError)


def test_a_run_the_full_disk_stopped_exits_1_and_its_json_says_what_it_had_done(net, tmp_path):
    out = tmp_path / "run"
    first = cli(net, "--epochs", "1", "--out", str(out))
    assert first.returncode == 0, first.stderr
    row = json.loads(first.stdout)["history"][0]
    saved = (out / "last.pt").stat().st_size
    full = cli(net, "--resume", str(out), "--epochs", "3", preexec_fn=file_size_limit(saved // 2))
    assert full.returncode == 1, full.stderr
    assert "cannot write last.pt: the file-size limit (ulimit -f) was hit" in full.stderr
    result = json.loads(full.stdout)
    assert result["run_dir"] == str(out) and result["exit_code"] == 1 and result["status"] == "failed"
    assert result["history"] == [row] and result["epochs_done"] == 1  # the epoch saved, not the one that failed
    (error,) = result["errors"]
    assert error["file"] == str(out) and "cannot write last.pt" in error["message"]
    assert f"--resume {out}" in error["hint"]


def test_a_diverged_run_exits_2_and_its_json_says_so(net, tmp_path):
    out = tmp_path / "run"
    done = cli(net, "--epochs", "3", "--out", str(out), driver=DIVERGES_IN_EPOCH_2)
    assert done.returncode == 2, done.stderr  # the fix is a setting (a lower --lr): the user's to make
    result = json.loads(done.stdout)
    assert result["run_dir"] == str(out) and result["exit_code"] == 2 and result["status"] == "diverged"
    assert [row["epoch"] for row in result["history"]] == [1] and result["epochs_done"] == 1
    assert "training diverged" in result["errors"][0]["message"]
    assert "--lr" in result["errors"][0]["hint"]


def test_a_mistake_before_the_run_began_is_the_errors_alone(net, tmp_path):
    done = cli(net, "--epochs", "1", "--out", str(tmp_path / "r"), "--batch-size", "100000")
    assert done.returncode == 2
    assert list(json.loads(done.stdout)) == ["format_version", "errors"]  # no run: nothing else to say
