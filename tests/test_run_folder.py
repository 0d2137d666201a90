"""The run folder: one run owns it at a time, a full disk is told plainly and loses nothing,
and what a killed run left half-written is cleaned when the run resumes."""

import errno
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
resource = pytest.importorskip("resource")  # POSIX: the file-size limit (ulimit -f); record locks too

from idxfiles import write_idx  # noqa: E402
from test_train import SMALL_NET, small_data  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.data import make_shapes  # noqa: E402
from cnnctl.train.checkpoint import load_checkpoint  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(folder: Path, epochs: int, resume: str | None = None):
    """A small run in this process, on data of its own."""
    config = TrainConfig(epochs=epochs, batch_size=64, seed=1, device="cpu", out=str(folder))
    return train(cnnctl.load_text(SMALL_NET), config, network_title="small", resume=resume, dataset=small_data(256, 64))


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    """The small network as a file, and a few images beside it, for runs from the command line."""
    return small_net_with_data(tmp_path_factory.mktemp("net"))


def small_net_with_data(folder: Path) -> Path:
    """`small.yaml` in `folder`, with 256 training and 64 test images in IDX files in `folder/data`."""
    x, y = make_shapes(256 + 64, 16, 16, 1, seed=0)
    write_idx(folder / "data", "train", x[:256, 0], y[:256])
    write_idx(folder / "data", "t10k", x[256:, 0], y[256:])
    path = folder / "small.yaml"
    path.write_text(SMALL_NET)
    return path


def cli(net: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cnnctl", "train", str(net), *args]
    if "--resume" not in args:
        command += ["--data", str(net.parent / "data"), "--batch-size", "64", "--device", "cpu"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, **kwargs)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp"))


# --- A disk that fills up -------------------------------------------------------------------


def no_room_after(size: int):
    """os.fdopen whose files take `size` bytes, then fail as a full disk does (ENOSPC)."""
    real = os.fdopen

    class Disk(io.FileIO):
        def write(self, data):
            if self.tell() + len(data) > size:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(data)

    def fdopen(fd, mode="r", *args, **kwargs):
        return io.BufferedWriter(Disk(fd, "wb")) if mode == "wb" else real(fd, mode, *args, **kwargs)

    return fdopen


def test_a_full_disk_while_saving_keeps_the_last_checkpoint_and_says_how_to_resume(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    run(folder, epochs=1)
    saved = (folder / "last.pt").read_bytes()
    monkeypatch.setattr(os, "fdopen", no_room_after(4096))  # torch.save fails part-way through
    with pytest.raises(CnnctlError) as info:
        run(folder, epochs=2, resume=str(folder))
    (problem,) = info.value.problems
    assert problem.loc.file == str(folder)  # where: the run folder
    assert "last.pt" in problem.message and "the disk is full" in problem.message
    assert f"resume with: cnnctl train small --resume {folder}" in problem.hint
    assert (folder / "last.pt").read_bytes() == saved  # the earlier checkpoint is intact
    assert leftovers(folder) == []  # and the half-written one is gone


def test_a_full_disk_while_writing_the_metrics_is_told_the_same_way(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    real = Path.write_bytes

    def write_bytes(self, data, *args, **kwargs):
        if self.name.startswith(".metrics.jsonl"):
            real(self, data[:10], *args, **kwargs)  # part of it, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(CnnctlError) as info:
        run(folder, epochs=1)
    (problem,) = info.value.problems
    assert problem.loc.file == str(folder) and "metrics.jsonl" in problem.message
    assert "the disk is full" in problem.message and f"--resume {folder}" in problem.hint
    assert load_checkpoint(folder)["epoch"] == 1 and leftovers(folder) == []
    # Once there is room, resuming the finished run writes the metrics the full disk lost.
    monkeypatch.setattr(Path, "write_bytes", real)
    assert not (folder / "metrics.jsonl").exists()
    run(folder, epochs=1, resume=str(folder))
    rows = (folder / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1 and '"epoch": 1' in rows[0]


def test_a_failed_write_is_a_full_disk_by_its_errno_or_by_the_space_left(tmp_path, monkeypatch):
    from cnnctl.train import rundir

    def write_failure(exc, folder):  # why the run says a write of a file in `folder` failed; None: not a failed write
        try:
            rundir.raise_write_failure(exc, folder / "metrics.jsonl")
        except rundir.WriteFailed as failed:
            return failed.reason
        return None

    assert write_failure(OSError(errno.ENOSPC, "No space left on device"), tmp_path) == "the disk is full"
    assert "quota" in write_failure(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path)
    assert "file-size limit" in write_failure(OSError(errno.EFBIG, "File too large"), tmp_path)
    assert write_failure(OSError(errno.EACCES, "Permission denied"), tmp_path) == "Permission denied"
    assert write_failure(ValueError("not a write"), tmp_path) is None
    # torch.save to a path fails with this alone, no OSError: the free space tells.
    torch_says = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
    assert write_failure(torch_says, tmp_path) == "the write failed"  # plenty of room here
    full = os.statvfs_result((4096, 4096, 1000, 0, 0, 100, 0, 0, 0, 255))
    monkeypatch.setattr(os, "statvfs", lambda path: full)
    assert write_failure(torch_says, tmp_path) == "the disk is full"


def test_a_failed_write_of_a_runs_file_exits_as_every_commands_failed_write(tmp_path):
    # rundir kept its own rule: every OSError was the machine's (exit 1). writing.write_failed's
    # is the one rule: no room and an I/O error are the machine's (1); a folder made read-only or
    # permission taken away are the user's to fix (2). The errno is fed directly: the suite runs
    # as root, where chmod refuses nothing.
    from cnnctl.train import rundir

    def told(number):  # the error train ends with, where a write of last.pt failed with `number`
        try:
            rundir.raise_write_failure(OSError(number, os.strerror(number)), tmp_path / "last.pt")
        except rundir.WriteFailed as failed:
            return failed.error("small")
        raise AssertionError("not a failed write")

    for number in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
        assert told(number).exit_code == 1, os.strerror(number)
    for number in (errno.EACCES, errno.EROFS, errno.EPERM, errno.ENAMETOOLONG):
        error = told(number)
        assert error.exit_code == 2, os.strerror(number)
        # the reason in the system's words, as every command's (writing._cannot_write) says it
        assert error.problems[0].message == f"cannot write last.pt: {os.strerror(number)}"
    # a library's own words for an errno are read for it, as writing reads them
    said = RuntimeError("Error while serializing: I/O error: Permission denied (os error 13)")
    with pytest.raises(rundir.WriteFailed) as info:
        rundir.raise_write_failure(said, tmp_path / "last.pt")
    assert info.value.reason == os.strerror(errno.EACCES) and info.value.error("small").exit_code == 2


def file_size_limit(size: int):
    def apply():  # in the child: a write past the limit fails (EFBIG) instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def test_a_real_file_size_limit_stops_a_resumed_run_with_its_checkpoint_intact(net, tmp_path):
    out = tmp_path / "run"
    assert cli(net, "--epochs", "1", "--out", str(out)).returncode == 0
    saved = (out / "last.pt").read_bytes()
    full = cli(net, "--resume", str(out), "--epochs", "2", preexec_fn=file_size_limit(len(saved) // 2))
    assert full.returncode == 1, full.stderr  # the machine is to be fixed, not the input: not 2
    assert f"error: {out}: cannot write last.pt: the file-size limit (ulimit -f) was hit" in full.stderr
    assert f"resume with: cnnctl train --resume {out}" in full.stderr and "Traceback" not in full.stderr
    assert (out / "last.pt").read_bytes() == saved and leftovers(out) == []
    again = cli(net, "--resume", str(out), "--epochs", "2")  # room again: the line given works
    assert again.returncode == 0, again.stderr
    assert load_checkpoint(out)["epoch"] == 2


def test_a_new_run_that_cannot_write_its_first_file_says_how_to_start_again(net, tmp_path):
    out = tmp_path / "run"
    full = cli(net, "--epochs", "1", "--out", str(out), preexec_fn=file_size_limit(512))
    assert full.returncode == 1, full.stderr
    assert f"error: {out}: cannot write architecture.json: the file-size limit" in full.stderr
    assert f"--out {out}" in full.stderr and "Traceback" not in full.stderr
    assert leftovers(out) == []


# --- One run per folder -----------------------------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from cnnctl.train.rundir import hold
with hold(Path(sys.argv[1]), new=False) as claim:
    claim.begin()  # a run under way: it says who it is in the lock file
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_folder_in_use_is_refused_at_once_naming_the_process_that_holds_it(net, tmp_path):
    folder = tmp_path / "run"
    run(folder, epochs=1)
    config = (folder / "config.json").read_text()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert holder.stdout.readline() == "held\n"
        writing = folder / ".last.pt.k2x9.tmp"  # the live run's checkpoint being written
        writing.write_bytes(b"half")
        for args in (["--out", str(folder), "--epochs", "1"], ["--resume", str(folder), "--epochs", "3"]):
            refused = cli(net, *args)
            assert refused.returncode == 2, refused.stderr
            said = f"{folder}: the run folder is in use by process {holder.pid} on host {socket.gethostname()}"
            assert said in refused.stderr
            assert "hint:" in refused.stderr and "Traceback" not in refused.stderr
        assert (folder / "config.json").read_text() == config  # nothing of the second run was written
        assert writing.exists()  # nor anything of the first removed
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_killed_runs_lock_and_temporary_files_do_not_stop_its_resume(tmp_path):
    folder = tmp_path / "run"
    run(folder, epochs=1)
    # kill -9 in the middle of saving: the lock file stays (its lock went with the process)
    # and so do the temporary files it was writing.
    (folder / ".lock").write_text("4194303\nelsewhere\ncnnctl train small\n")
    left = [folder / ".last.pt.a1b2c3.tmp", folder / ".best.pt.d4e5.tmp", folder / ".metrics.jsonl.tmp"]
    for path in left:
        path.write_bytes(b"cut short")
    resumed = run(folder, epochs=2, resume=str(folder))
    assert resumed.status == 0 and resumed.epochs_done == 2
    assert leftovers(folder) == []


def test_the_temporary_files_of_every_file_a_run_writes_are_removed_as_leftovers(tmp_path):
    # The temporary names were a list of their own, shorter than the run's files: a killed
    # run's half-written weights.txt, data-index.pt or skipped.txt stayed in its folder for good.
    from cnnctl.train.rundir import remove_leftovers

    written = ["weights.txt", "data-index.pt", "skipped.txt", "network.yaml", "config.json", "status.json",
               "architecture.json", "metrics.jsonl", "results.csv", "curves.png"]  # fmt: skip
    left = [f".{name}.tmp" for name in written] + [".last.pt.k2x9.tmp", ".best.pt.a1b2.tmp"]
    others = [".notes.txt.tmp", "weights.txt.tmp", ".lock"]  # not a run's temporary file: anyone's
    for name in left + others:
        (tmp_path / name).write_bytes(b"cut short")
    remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)


def test_a_run_refused_before_writing_anything_leaves_no_folder(tmp_path):
    # The lock is taken first, in a folder made for it: a mistake found next (here, a data
    # set that does not exist) must not leave an empty run folder behind at each attempt.
    config = TrainConfig(epochs=1, device="cpu", data="no-such-data", out=str(tmp_path / "runs" / "r"))
    with pytest.raises(CnnctlError, match="unknown data set"):
        train(cnnctl.load_text(SMALL_NET), config, network_title="small")
    assert not (tmp_path / "runs" / "r").exists()


def test_a_stop_signal_during_a_save_stops_the_run_and_is_not_a_failed_write(tmp_path, monkeypatch):
    # SIGTERM from torchrun's launcher raised SystemExit inside torch.save; its zip writer then
    # failed with "unexpected pos", and the run ended "cannot write last.pt: the write failed".
    from cnnctl.train.checkpoint import save_checkpoint

    def save(obj, f):
        try:
            raise SystemExit(143)  # the worker's SIGTERM handler, mid-write
        except SystemExit:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0") from None

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(SystemExit) as info:
        save_checkpoint(tmp_path / "last.pt", {"epoch": 1})
    assert info.value.code == 143 and list(tmp_path.iterdir()) == []


def test_a_restarted_run_removes_what_the_killed_one_left_half_written(tmp_path):
    # A run killed before its first checkpoint, started again with the same --out (not
    # resumed: there is nothing to resume), kept the killed run's temporary files.
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "architecture.json").write_text("{}")  # what a run writes first
    (folder / "config.json").write_text("{}")
    ours = [".last.pt.a1b2c3.tmp", ".status.json.tmp", ".network.yaml.tmp"]  # cnnctl's own pattern
    theirs = ["notes.tmp", ".notes.tmp", ".last.pt"]  # not cnnctl's temporary files: kept
    for name in ours + theirs:
        (folder / name).write_bytes(b"cut short")
    (folder / "sub").mkdir()
    (folder / "sub" / ".last.pt.x.tmp").write_bytes(b"not in the run folder itself")
    assert run(folder, epochs=1).status == 0
    assert not [name for name in ours if (folder / name).exists()]
    assert all((folder / name).read_bytes() == b"cut short" for name in theirs)
    assert (folder / "sub" / ".last.pt.x.tmp").exists()


def snapshot(folder: Path) -> tuple[int, dict[str, tuple[int, bytes]]]:
    """The folder's modification time, and every file in it (hidden ones too) with its own and its bytes."""
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir() if p.is_file()}
    return folder.stat().st_mtime_ns, files


def test_a_refused_command_and_plot_change_nothing_in_the_run_folder(net, tmp_path, monkeypatch, capsys):
    # The refusals wrote the lock file (who held it) and removed temporary files; plot drew
    # into RUN/curves.png: each moved the run up `cnnctl runs`, which ordered by the newest file.
    from helpers import run_main

    folder = tmp_path / "run"
    run(folder, epochs=1)
    (folder / ".last.pt.k2x9.tmp").write_bytes(b"half")  # a killed write: a run that starts removes it, no other
    other = tmp_path / "other.yaml"
    other.write_text(SMALL_NET.replace("pool max", "pool avg"))  # the same weights, another network
    before = snapshot(folder)
    time.sleep(0.05)  # a write now would show in the modification times
    refusals = {
        "already holds a run": ["train", str(net), "--out", str(folder), "--epochs", "1", "--device", "cpu"],
        "trained on another network": ["train", str(other), "--resume", str(folder), "--epochs", "2"],
    }
    for said, args in refusals.items():
        code, _, err = run_main(monkeypatch, capsys, *args)
        assert code == 2 and said in err, err
        assert snapshot(folder) == before, args
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, "plot", str(folder))
    assert code == 0, err
    assert (tmp_path / "curves.png").is_file() and "curves.png" in out  # where it is documented: here
    assert snapshot(folder) == before


def test_resume_needs_no_arch_the_run_folder_names_its_network(net, tmp_path, monkeypatch, capsys):
    from helpers import run_main

    out = tmp_path / "run"
    first = cli(net, "--epochs", "1", "--out", str(out))
    assert first.returncode == 0, first.stderr
    code, said, err = run_main(monkeypatch, capsys, "train", "--resume", str(out), "--epochs", "2")
    assert code == 0, err
    assert load_checkpoint(out)["epoch"] == 2
    assert json.loads((out / "status.json").read_text())["network"] == "small"  # its file's name, as before
    # a network given that is not the run's is refused as ever; no network and no run, told
    other = tmp_path / "other.yaml"
    other.write_text(SMALL_NET.replace("pool max", "pool avg"))
    code, _, err = run_main(monkeypatch, capsys, "train", str(other), "--resume", str(out), "--epochs", "3")
    assert code == 2 and "trained on another network" in err, err
    code, _, err = run_main(monkeypatch, capsys, "train", "--epochs", "3")
    assert code == 2 and err.startswith("error: which network? give ARCH") and "--resume RUN" in err, err
    # the run's checkpoint does as well as its folder
    code, said, err = run_main(monkeypatch, capsys, "train", "--resume", str(out / "last.pt"), "--epochs", "3")
    assert code == 0 and load_checkpoint(out)["epoch"] == 3, err
    # and the line that goes on after a stop names no ARCH either
    from cnnctl.render.progress import resume_line

    assert resume_line("", out) == f"resume with: cnnctl train --resume {out}"
    assert resume_line("", out, "--nproc-per-node 2") == f"resume with: cnnctl train --resume {out} --nproc-per-node 2"
    assert resume_line(str(net), out) == f"resume with: cnnctl train --resume {out}"  # the run keeps its network


def test_the_printed_resume_line_of_a_run_trained_at_another_input_works(net, tmp_path, monkeypatch, capsys):
    # Once: `train NET --input 12x12x1`, stopped, printed `cnnctl train NET --resume RUN`, which
    # read NET at its own input (16x16x1) and was refused: the checkpoint was trained at 12x12x1.
    import functools

    from helpers import run_main

    import cnnctl.train.loop as loop
    from cnnctl.errors import INTERRUPTED

    out = tmp_path / "run"
    given = ("--data", str(net.parent / "data"), "--batch-size", "64", "--device", "cpu", "--epochs", "2")
    with monkeypatch.context() as m:  # Ctrl-C in the middle of epoch 2 (256 images: 4 steps an epoch)
        m.setattr(loop, "train", functools.partial(loop.train, stop_after_steps=6))
        code, said, err = run_main(monkeypatch, capsys, "train", str(net), "--input", "12x12x1", *given,
                                   "--out", str(out))  # fmt: skip
    assert code == INTERRUPTED, err
    (line,) = [text for text in said.splitlines() if text.startswith("resume with: ")]
    assert line == f"resume with: cnnctl train --resume {out}"
    words = line.removeprefix("resume with: ").split()
    assert words[:2] == ["cnnctl", "train"]
    code, _, err = run_main(monkeypatch, capsys, *words[1:])
    assert code == 0, err
    assert load_checkpoint(out)["epoch"] == 2


def test_resume_of_a_run_that_lost_its_config_json_goes_on_from_its_checkpoint(net, tmp_path, monkeypatch, capsys):
    # Once: `train --resume RUN` refused a run whose config.json was gone, though last.pt records the run.
    import functools

    from helpers import run_main

    import cnnctl.train.loop as loop
    from cnnctl.errors import INTERRUPTED

    given = ("--data", str(net.parent / "data"), "--batch-size", "64", "--device", "cpu", "--epochs", "2")
    full, part = tmp_path / "full", tmp_path / "part"
    code, _, err = run_main(monkeypatch, capsys, "train", str(net), *given, "--out", str(full))
    assert code == 0, err
    with monkeypatch.context() as m:  # Ctrl-C in the middle of epoch 2 (256 images: 4 steps an epoch)
        m.setattr(loop, "train", functools.partial(loop.train, stop_after_steps=6))
        code, _, err = run_main(monkeypatch, capsys, "train", str(net), *given, "--out", str(part))
    assert code == INTERRUPTED and load_checkpoint(part)["step"] == 2, err
    written = json.loads((part / "config.json").read_text())
    (part / "config.json").unlink()
    # A network.yaml the checkpoint's record does not match: neither tells how it was built.
    (part / "network.yaml").write_text(SMALL_NET.replace("pool max", "pool avg"))
    code, _, err = run_main(monkeypatch, capsys, "train", "--resume", str(part))
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert f"error: {part / 'config.json'}: the run's config.json is missing, and its last.pt does not tell" in err
    assert f"hint: give the network it trained as ARCH (a family's member as FILE:MEMBER): `cnnctl train ARCH " \
           f"--resume {part}`" in err  # fmt: skip
    (part / "network.yaml").write_text(SMALL_NET)
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", str(part))
    assert code == 0, err
    said = f"{part / 'config.json'}: config.json is missing: the run's input, member and head were told from "
    assert (out + err).count(said + f"{part / 'last.pt'}, and config.json is written again") == 1, out + err
    ended, straight = load_checkpoint(part), load_checkpoint(full)
    assert ended["epoch"] == 2 and ended["model"].keys() == straight["model"].keys()
    assert all(torch.equal(ended["model"][k], straight["model"][k]) for k in straight["model"]), "not the same run"
    again = json.loads((part / "config.json").read_text())  # every command reads the run again
    assert {k: again.get(k) for k in ("input", "data", "epochs", "seed")} == {
        k: written[k] for k in ("input", "data", "epochs", "seed")
    }
    code, _, err = run_main(monkeypatch, capsys, "summarize", str(part))
    assert code == 0, err


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names an open file through /proc/self/fd (Linux)")
def test_a_resume_reads_its_last_pt_once_though_config_json_is_lost(net, tmp_path, monkeypatch, capsys):
    # `train --resume RUN` whose config.json is gone once read last.pt three times (the network's settings,
    # the run's settings, the state to go on from): now once, passed on.
    import functools

    from helpers import run_main

    import cnnctl.train.loop as loop
    from cnnctl.errors import INTERRUPTED

    given = ("--data", str(net.parent / "data"), "--batch-size", "64", "--device", "cpu", "--epochs", "2")
    part = tmp_path / "part"
    with monkeypatch.context() as m:  # Ctrl-C in the middle of epoch 2 (256 images: 4 steps an epoch)
        m.setattr(loop, "train", functools.partial(loop.train, stop_after_steps=6))
        code, _, err = run_main(monkeypatch, capsys, "train", str(net), *given, "--out", str(part))
    assert code == INTERRUPTED, err
    (part / "config.json").unlink()
    reads = []
    load = torch.load

    def named(f) -> str | None:  # a path, or a file opened from one (cnnctl.files opens it by descriptor)
        if isinstance(f, (str, os.PathLike)):
            return Path(f).name
        try:
            return Path(os.readlink(f"/proc/self/fd/{f.fileno()}")).name
        except (AttributeError, OSError, ValueError):
            return None

    def counted(f, *args, **kwargs):
        if named(f) == "last.pt":
            reads.append(f)
        return load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counted)
    code, _, err = run_main(monkeypatch, capsys, "train", "--resume", str(part))
    assert code == 0, err
    assert len(reads) == 1 and load_checkpoint(part)["epoch"] == 2, reads  # and the run went on to its end


def test_a_lost_config_json_is_told_from_the_checkpoint_a_member_and_a_head_too(tmp_path):
    # The member from the checkpoint's network name (`family_big`), the head from its layers and classes.
    from cnnctl.train.checkpoint import network_record, resume_settings

    family = "input: 8x8x3\nargs: n=4\nvariants:\n  wide: n=16\n  big: n=8 input=16x16x3\n" \
             "layers:\n  - conv f=3 p=same n=${n * 2}\n  - pool avg global\n  - flatten\n  - fc 7\n"  # fmt: skip
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "network.yaml").write_text(family)
    trained = cnnctl.load_text(family, "family.yaml", None, {"fc1": 3}, "big")  # fc 7 made anew for 3 classes
    state = {"config": {"epochs": 2, "seed": 1}, "network": network_record(trained), "arch": "family_big",
             "classes": ["a", "b", "c"], "workers": 1}  # fmt: skip
    settings, note = resume_settings(folder, state)
    assert (settings["input"], settings["member"], settings["head"]) == (
        "16x16x3",
        "big",
        {"layer": "fc1", "classes": 3},
    )
    assert settings["epochs"] == 2 and "config.json is missing" in note
    # the network as written, the default member: no member, no head
    state |= {"network": network_record(cnnctl.load_text(family, "family.yaml")), "arch": "family"}
    settings, _ = resume_settings(folder, state)
    assert (settings["input"], "member" in settings, "head" in settings) == ("8x8x3", False, False)
    # a member with settings (`big,n=5`): in the name a run records (Graph.title), not in the member's alone
    deeper = cnnctl.load_text(family, "family.yaml", None, None, "big,n=5")
    state |= {"network": network_record(deeper), "arch": deeper.title}
    assert deeper.title == "family_big:n=5"
    settings, _ = resume_settings(folder, state)
    assert (settings["input"], settings["member"], "head" in settings) == ("16x16x3", "big,n=5", False)
    state |= {"arch": "family_big"}  # a checkpoint written before runs recorded the settings: one message
    with pytest.raises(CnnctlError, match="its last.pt does not tell the family member or head"):
        resume_settings(folder, state)
    wider = cnnctl.load_text(family, "family.yaml", None, None, "n=5")
    state |= {"network": network_record(wider), "arch": wider.title}
    assert resume_settings(folder, state)[0]["member"] == "n=5"  # settings of no member


def test_a_run_of_a_member_with_settings_is_named_without_a_colon():
    # runs/NAME-TIMESTAMP of a network named `fam_big:depth=2` (Graph.title): no `:` in a folder's name
    from cnnctl.train.rundir import run_dir_for

    folder = run_dir_for(None, "fam_big:depth=2")
    assert folder.parent.name == "runs" and folder.name.startswith("fam_big_depth_2-") and ":" not in folder.name
    assert run_dir_for(None, "lenet5").name.startswith("lenet5-")


def test_a_run_of_a_member_with_an_expression_is_one_folder():
    # `dropout=${1/1000}` in the title made runs/fam_dropout=${1/1000}-TIMESTAMP: a folder `...${1` in runs/
    from cnnctl.train.rundir import run_dir_for

    folder = run_dir_for(None, "efficientnet:dropout=${1/1000}")
    assert folder.parent == Path("runs") and folder.name.startswith("efficientnet_dropout___1_1000_-")


def test_a_run_killed_while_it_read_its_data_is_told_as_no_epoch_finished_and_started_again_there(
    net, tmp_path, monkeypatch, capsys
):
    # Killed before its first epoch, its folder held only the lock: `--resume` said "no such
    # checkpoint", with the hint to give a run folder (it was one).
    from helpers import run_main

    folder = tmp_path / "k2"
    folder.mkdir()
    (folder / ".lock").write_text("")  # kill -9 while the data was read: nothing else was written
    code, _, err = run_main(monkeypatch, capsys, "train", "--resume", str(folder))
    assert code == 2 and "no such checkpoint" not in err, err
    assert f"error: {folder}: no epoch of this run finished" in err and "nothing was saved" in err
    assert f"without --resume, with --out {folder}" in err
    started = cli(net, "--epochs", "1", "--out", str(folder))  # as the hint says: the folder is taken
    assert started.returncode == 0, started.stderr
    assert (folder / "last.pt").is_file()


def test_network_yaml_is_the_text_the_run_was_built_from_though_the_file_changed_since(tmp_path):
    # network.yaml was the file read again once the folder was written: a network edited
    # right after `train` began was kept as the run's, and `evaluate RUN` then refused the
    # checkpoint ("trained on another network"). The run keeps the text it parsed.
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_NET)
    graph = cnnctl.load(path)
    path.write_text(SMALL_NET.replace("n=8", "n=4"))  # edited while the run starts (its head rebuilt too)
    folder = tmp_path / "run"
    config = TrainConfig(epochs=1, batch_size=64, seed=1, device="cpu", out=str(folder))
    result = train(graph, config, network_title="small", network_source=str(path), dataset=small_data(256, 64))
    assert result.status == 0
    assert (folder / "network.yaml").read_text() == SMALL_NET
    trained = load_checkpoint(str(folder / "last.pt"))["model"]
    assert tuple(trained["conv1.weight"].shape) == (8, 1, 3, 3)  # the network read, not the edit


def test_a_bad_input_in_a_runs_config_json_is_named_at_that_file_not_as_an_option(net, tmp_path, monkeypatch, capsys):
    # Once: `train --resume RUN` said "--input `0x28x1`" (no --input was given), and evaluate "the run's
    # input" without naming the file: the person edits the file and the key the message names.
    from helpers import run_main

    given = ("--data", str(net.parent / "data"), "--batch-size", "64", "--device", "cpu", "--epochs", "1")
    folder = tmp_path / "r"
    code, _, err = run_main(monkeypatch, capsys, "train", str(net), *given, "--out", str(folder))
    assert code == 0, err
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"input": "0x28x1"}))
    said = f"error: {folder / 'config.json'}: the run's input (`input`) `0x28x1`: must be at least 1"
    for command in (("train", "--resume", str(folder), "--epochs", "2"), ("evaluate", str(folder))):
        code, _, err = run_main(monkeypatch, capsys, *command)
        assert code == 2 and said in err and "--input" not in err.split("hint:")[0], err
    code, _, err = run_main(monkeypatch, capsys, "train", "--resume", str(folder), "--input", "0x16x1")
    assert code == 2 and "error: --input `0x16x1`: must be at least 1" in err, err  # one given is named as given
