"""Whose fault a failed write is, by one rule for every command (cnnctl.writing.write_failed):
a full disk, a quota, the `ulimit -f` limit or an I/O error is the machine's (exit 1, as
train's faults); permission denied, a read-only file system or a name too long is the user's
(exit 2). The full disk is simulated as tests/test_written_names.py does: the OS call that
would write the file raises OSError(ENOSPC)."""

import errno
import json
import os
from pathlib import Path

import pytest
from helpers import run_main

from cnnctl.errors import CnnctlError, FaultError
from cnnctl.writing import write_failed, write_through

NET = "input: 8x8x1\nlayers:\n  - conv f=3 n=2\n  - flatten\n  - fc 3\n"
MACHINE = [errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO]
USER = [errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG]


def failing(number: int):
    """An OS call that fails with `number`, as the system would say it."""

    def fail(*args, **kwargs):
        raise OSError(number, os.strerror(number))

    return fail


@pytest.mark.parametrize("number", MACHINE + USER)
def test_the_errno_decides_the_exit_code(tmp_path, number):
    def write(tmp: str) -> None:
        failing(number)()

    with pytest.raises(CnnctlError) as info:
        write_through(str(tmp_path / "x.json"), write)
    assert info.value.exit_code == (1 if number in MACHINE else 2)
    assert isinstance(info.value, FaultError) == (number in MACHINE)
    assert os.strerror(number) in info.value.problems[0].message


def test_a_librarys_own_words_and_an_exception_raised_from_one_are_read_for_the_errno():
    said = Exception("Error while serializing: I/O error: No space left on device (os error 28)")
    assert write_failed("cannot write", None, said).exit_code == 1  # safetensors' words
    try:
        try:
            failing(errno.EIO)()
        except OSError as exc:
            raise RuntimeError("file write failed") from exc
    except RuntimeError as wrapped:  # torch's zip writer's, the OSError its cause
        assert write_failed("cannot write", None, wrapped).exit_code == 1
    denied = write_failed("cannot write", None, OSError(errno.EACCES, "Permission denied"), hint="choose another")
    assert denied.exit_code == 2 and denied.problems[0].hint == "choose another"


def test_a_folder_named_as_the_file_stays_the_users_mistake(tmp_path):
    with pytest.raises(CnnctlError) as info:
        write_through(str(tmp_path), lambda tmp: None)
    assert info.value.exit_code == 2 and "is a folder" in info.value.problems[0].message


def test_a_run_folder_that_cannot_be_made(tmp_path):
    from cnnctl.train.rundir import _cannot_create

    full = _cannot_create(tmp_path / "r", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert full.exit_code == 1 and full.problems[0].hint == "the disk is full: make room on the disk"
    denied = _cannot_create(tmp_path / "r", OSError(errno.EACCES, os.strerror(errno.EACCES)))
    assert denied.exit_code == 2 and denied.problems[0].hint == "give --out a folder you can write in"


def a_run(folder: Path) -> Path:
    """A finished run's records, as plot reads them (no checkpoint needed)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"epochs": 2, "data": "shapes"}')
    row = '"train_loss": 1.0, "val_loss": 1.1, "train_accuracy": 0.5, "val_accuracy": 0.4'
    (folder / "metrics.jsonl").write_text("".join(f'{{"epoch": {e}, {row}}}\n' for e in (1, 2)))
    (folder / "status.json").write_text('{"status": "finished", "epochs": 2}')
    return folder


def onnx_file(path: Path) -> str:
    pytest.importorskip("onnx")
    import onnx
    from helpers import onnx_model
    from onnx import helper

    onnx.save(onnx_model([helper.make_node("Relu", ["x"], ["y"])]), path)
    return str(path)


def command(name: str, tmp_path: Path) -> list[str]:
    """The command line of `name` writing its file (or folder) under `tmp_path`."""
    net = tmp_path / "net.yaml"
    net.write_text(NET)
    if name == "schema":
        return ["schema", "-o", str(tmp_path / "s.json")]
    if name == "draw":
        return ["draw", str(net), "-o", str(tmp_path / "net.dot")]
    if name == "export":
        pytest.importorskip("torch")
        return ["export", str(net), "--to", "pytorch", "-o", str(tmp_path / "net.py")]
    if name == "import":
        return ["import", onnx_file(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.yaml")]
    if name == "plot":
        pytest.importorskip("matplotlib")
        return ["plot", str(a_run(tmp_path / "r1")), "-o", str(tmp_path / "c.png")]
    assert name == "pack"
    pytest.importorskip("webdataset")
    from test_shards import image_folder

    image_folder(tmp_path / "img")
    return ["pack", str(tmp_path / "img"), "-o", str(tmp_path / "out")]


def fail_writes(monkeypatch, name: str, number: int) -> None:
    """Make the write of the command's file fail with `number`: the rename that puts a file in
    place (every -o), or the creation of a shard (pack)."""
    if name == "pack":
        from cnnctl.data import pack

        def shard_open(path, mode="r", *args, **kwargs):
            if "x" in mode:
                failing(number)()
            return open(path, mode, *args, **kwargs)

        monkeypatch.setattr(pack, "open", shard_open, raising=False)
    else:
        monkeypatch.setattr(os, "replace", failing(number))


@pytest.mark.parametrize("name", ["schema", "draw", "export", "import", "plot", "pack"])
def test_each_commands_full_disk_is_exit_1_and_permission_denied_exit_2(name, tmp_path, monkeypatch, capsys):
    args = command(name, tmp_path)
    before = sorted(os.listdir(tmp_path))
    with monkeypatch.context() as patched:
        fail_writes(patched, name, errno.ENOSPC)
        code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 1, err  # was 2: the machine is to be fixed, not what was given
    assert "No space left on device" in err and "hint: the disk is full: make room on the disk" in err
    assert "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == before  # nothing half-written left
    with monkeypatch.context() as patched:
        fail_writes(patched, name, errno.EACCES)
        code, out, err = run_main(monkeypatch, capsys, *args, *(["--format", "json"] if name != "draw" else []))
    assert code == 2, err
    assert "Permission denied" in err and "the disk is full" not in err


def test_a_full_disks_json_has_its_error_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "replace", failing(errno.ENOSPC))
    code, out, _ = run_main(monkeypatch, capsys, *command("import", tmp_path), "--format", "json")
    assert code == 1
    (error,) = json.loads(out)["errors"]
    assert error["file"] == str(tmp_path / "m.yaml") and error["hint"] == "the disk is full: make room on the disk"
