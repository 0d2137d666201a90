"""How a run takes its folder: a default folder is made atomically (runs started in the same
second each get their own), an --out that holds other files is refused, a resume of a run
under way is told so, and a signal while the run starts stops it with a word."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fcntl")  # POSIX record locks

from test_train import SMALL_NET, small_data  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.run_folders import list_runs  # noqa: E402
from cnnctl.train import loop  # noqa: E402
from cnnctl.train.checkpoint import load_checkpoint  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(out: str | None, epochs: int = 1, resume: str | None = None):
    config = TrainConfig(epochs=epochs, batch_size=64, seed=1, device="cpu", out=out)
    return train(cnnctl.load_text(SMALL_NET), config, network_title="small", resume=resume, dataset=small_data(128, 64))


# --- Runs started in the same second ----------------------------------------------------------

CLAIMER = """
import sys, time
from pathlib import Path
from cnnctl.train.rundir import hold
start = float(sys.argv[2])
while time.time() < start:  # every process claims at the same moment
    pass
with hold(Path(sys.argv[1]), new=True, default=True) as claim:
    claim.begin()
    print(claim.folder, flush=True)
    sys.stdin.readline()  # held until the test has seen every claim
"""


def test_runs_started_together_into_the_default_name_each_make_a_folder_of_their_own(tmp_path):
    import time

    base = tmp_path / "runs" / "tiny-20261205-072432"  # the name of the second they all started in
    start = time.time() + 3  # after every interpreter has started
    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, str(base), str(start)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
        for _ in range(4)
    ]  # fmt: skip
    try:
        claimed = [p.stdout.readline().strip() for p in procs]
    finally:
        for p in procs:
            p.stdin.close()
        ended = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert [code for code, _ in ended] == [0, 0, 0, 0], ended  # none refused: it was given no --out
    names = {str(base), *(f"{base}-{n}" for n in (2, 3, 4))}
    assert sorted(claimed) == sorted(names)


def test_a_default_folder_taken_already_gives_the_run_the_next_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    taken = Path("runs") / "small-20261205-072432"
    taken.mkdir(parents=True)
    (taken / "config.json").write_text("{}")  # another run's, begun in the same second
    monkeypatch.setattr(loop, "run_dir_for", lambda out, arch, resume=None: taken)
    result = run(None)
    assert result.run_dir == Path("runs") / "small-20261205-072432-2"
    assert (result.run_dir / "last.pt").is_file() and (taken / "config.json").read_text() == "{}"
    # its config.json names its own folder: `--resume` finds the run it names
    assert json.loads((result.run_dir / "config.json").read_text())["out"] == str(result.run_dir)


# --- An --out that is no run ------------------------------------------------------------------


def test_an_out_folder_holding_other_files_is_refused_and_left_as_it_was(tmp_path):
    mine = tmp_path / "work"
    mine.mkdir()
    (mine / "config.json").write_text("my own settings\n")  # not a run's: no checkpoint, no architecture.json
    (mine / "notes.txt").write_text("keep me\n")
    with pytest.raises(CnnctlError) as info:
        run(str(mine))
    (problem,) = info.value.problems
    assert "holds other files (config.json, notes.txt) and no cnnctl run" in problem.message
    assert problem.loc.file == str(mine) and "a new folder name" in problem.hint
    assert sorted(p.name for p in mine.iterdir()) == [".lock", "config.json", "notes.txt"]
    assert (mine / "config.json").read_text() == "my own settings\n"


def test_a_folder_of_runs_as_out_is_told_as_one(tmp_path):
    # `--out runs` said "holds other files (r1, r2) and no cnnctl run" while `cnnctl runs runs` listed two runs
    runs = tmp_path / "runs"
    for name in ("r1", "r2"):
        (runs / name).mkdir(parents=True)
        (runs / name / "last.pt").write_bytes(b"")
    with pytest.raises(CnnctlError) as info:
        run(str(runs))
    (problem,) = info.value.problems
    assert f"--out {runs} is a folder of runs (2, as `cnnctl runs {runs}` lists them)" in problem.message
    assert problem.hint == f"give this run a folder of its own: --out {runs / 'NAME'} (cnnctl makes it)"
    assert sorted(p.name for p in runs.iterdir() if p.name != ".lock") == ["r1", "r2"]


def test_the_working_folder_as_out_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(SMALL_NET)
    with pytest.raises(CnnctlError, match=r"--out \. holds other files \(tiny\.yaml\)"):
        run(".")
    assert not (tmp_path / "config.json").exists()


def test_an_empty_folder_or_one_a_stopped_start_left_is_trained_into(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(str(empty)).status == 0
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / ".lock").write_text("")  # all a run stopped before writing leaves
    assert run(str(locked)).status == 0
    with pytest.raises(CnnctlError, match="already holds a run"):  # a finished run is refused as before
        run(str(empty))
    assert run(str(empty), epochs=2, resume=str(empty)).epochs_done == 2  # and resumed as before


# --- A run under way --------------------------------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from cnnctl.train.rundir import hold
with hold(Path(sys.argv[1]), new=True) as claim:
    claim.begin()
    (Path(sys.argv[1]) / "config.json").write_text("{}")  # a run that has begun, before its first checkpoint
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_resume_of_a_run_before_its_first_checkpoint_says_it_is_in_use(tmp_path):
    folder = tmp_path / "live"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(CnnctlError) as info:
            load_checkpoint(folder)
        assert f"{folder}: the run folder is in use by process {holder.pid}" in str(info.value)
        assert "before its first checkpoint" not in str(info.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    with pytest.raises(CnnctlError, match="stopped before its first checkpoint"):  # once it has ended
        load_checkpoint(folder)


def test_a_run_folder_refused_names_the_folder_as_its_file(tmp_path, monkeypatch, capsys):
    # "already holds a run" and "in use by" had no file (JSON `file: null`) where every other run-folder error has one
    from helpers import run_main

    net = tmp_path / "small.yaml"
    net.write_text(SMALL_NET)
    train_json = ["train", str(net), "--data", "shapes", "--epochs", "1", "--device", "cpu", "--format", "json"]
    done = tmp_path / "done"
    assert run(str(done)).status == 0
    capsys.readouterr()  # the run's own report
    code, out, err = run_main(monkeypatch, capsys, *train_json, "--out", str(done))
    (error,) = json.loads(out)["errors"]
    assert code == 2 and "already holds a run" in error["message"] and error["file"] == str(done), err
    live = tmp_path / "live"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(live)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        for given in (["--out", str(live)], ["--resume", str(live)]):  # its lock; a resume's checkpoint read
            code, out, err = run_main(monkeypatch, capsys, *train_json, *given)
            (error,) = json.loads(out)["errors"]
            assert code == 2 and f"is in use by process {holder.pid}" in error["message"], (given, err)
            assert error["file"] == str(live), given
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


# --- A signal while the run starts ------------------------------------------------------------

# The signal comes while the run loads its data (`load_data`), or once it has written its first
# files (`start_display`, after the folder is begun): each, then the run goes on as it would.
SIGNALLER = """
import os, signal, sys
from cnnctl.train import run_setup
name, sig = sys.argv[1], getattr(signal, sys.argv[2])
real = getattr(run_setup, name)
def signalled(*args, **kwargs):
    os.kill(os.getpid(), sig)
    return real(*args, **kwargs)
setattr(run_setup, name, signalled)
from cnnctl.cli import main
main(sys.argv[3:])
"""


def start_signalled(tmp_path: Path, where: str, sig: str, out: Path) -> subprocess.CompletedProcess:
    (tmp_path / "small.yaml").write_text(SMALL_NET)
    args = ["train", str(tmp_path / "small.yaml"), "--data", "shapes", "--epochs", "1", "--device", "cpu",
            "--out", str(out), "--format", "json"]  # fmt: skip
    return subprocess.run([sys.executable, "-c", SIGNALLER, where, sig, *args], capture_output=True, text=True,
                          cwd=tmp_path, env=ENV, timeout=300)  # fmt: skip


@pytest.mark.parametrize(("sig", "code", "said"), [("SIGTERM", 143, "SIGTERM"), ("SIGINT", 130, "Ctrl-C")])
def test_a_signal_while_the_data_loads_stops_the_run_with_a_word_and_leaves_no_folder(tmp_path, sig, code, said):
    out = tmp_path / "runs" / "r"
    done = start_signalled(tmp_path, "load_data", sig, out)
    assert done.returncode == code, done.stderr
    assert f"stopped by {said} before training began: nothing was saved" in done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert result["exit_code"] == code and result["status"] == "stopped" and result["history"] == []
    assert result["run_dir"] is None and not out.exists()  # no folder holding only its lock


def test_a_sigterm_after_the_run_wrote_its_first_files_records_it_stopped(tmp_path):
    out = tmp_path / "runs" / "r"
    done = start_signalled(tmp_path, "start_display", "SIGTERM", out)
    assert done.returncode == 143, done.stderr
    result = json.loads(done.stdout)
    assert result["run_dir"] == str(out) and result["status"] == "stopped" and result["epochs_done"] == 0
    assert json.loads((out / "status.json").read_text())["status"] == "stopped"
    (info,) = list_runs(str(tmp_path / "runs"))
    assert info.status == "stopped" and info.epochs_done == 0


def test_signals_are_the_runs_from_before_its_folder_is_taken(tmp_path, monkeypatch):
    """The handlers are installed before rundir.hold makes the folder: a SIGTERM there is the
    run's to tell, never the default action (killed, a folder holding only .lock left)."""
    seen = []
    real = loop._owned

    def owned(*args, **kwargs):
        seen.append(signal.getsignal(signal.SIGTERM))
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "_owned", owned)
    run(str(tmp_path / "r"))
    assert getattr(seen[0], "__self__", None).__class__.__name__ == "StopRequest"


def test_every_file_a_run_writes_is_known_as_a_runs_own():
    from cnnctl.data.streamed import INDEX
    from cnnctl.train import rundir

    assert INDEX in rundir._RUNS_OWN  # named there without importing torch's data module
