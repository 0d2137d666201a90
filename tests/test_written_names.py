"""Files written under names the OS gave that are not UTF-8 (Python holds their bytes as
surrogates: `r\\udce9` for the bytes `r\\xe9`), and writes a full disk stops: one message at
the file, with the one disk-full wording, never a traceback."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnctl.errors import CnnctlError, printable
from cnnctl.writing import NO_ROOM, disk_full_hint, no_room, replace_through, write_through

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
NAME = os.fsdecode(b"x\xe9")  # the bytes x, 0xE9: Latin-1's é, not UTF-8


def test_printable_writes_the_bytes_of_a_name_that_is_not_utf8():
    assert printable(NAME) == "x\\xe9" and printable("\ud800") == "\\ud800"
    assert printable(NAME).encode()  # any terminal, file or font takes it


def test_a_name_that_is_not_utf8_is_written_through_a_temporary_name_that_is(tmp_path):
    seen = []

    def write(tmp: str) -> None:
        tmp.encode()  # what writes it (torch's ONNX exporter) may need UTF-8: it gets it
        seen.append(os.path.basename(tmp))
        Path(tmp).write_bytes(b"net")

    path = os.path.join(tmp_path, NAME + ".onnx")
    replace_through(path, write, keep_suffix=True)
    assert seen[0].startswith(".cnnctl-") and seen[0].endswith(".tmp.onnx")  # its suffix kept
    assert os.listdir(tmp_path) == [NAME + ".onnx"] and Path(path).read_bytes() == b"net"
    assert os.listdir(os.fsencode(tmp_path)) == [b"x\xe9.onnx"]  # the name as given, byte for byte


def test_a_full_disk_is_told_at_the_file_with_what_to_do(tmp_path):
    path = str(tmp_path / "big.onnx")

    def full(tmp: str) -> None:
        Path(tmp).write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(CnnctlError) as info:
        write_through(path, full)
    (problem,) = info.value.problems
    assert problem.loc.file == path and "No space left on device" in problem.message
    assert problem.hint == "the disk is full: make room on the disk"
    assert os.listdir(tmp_path) == []  # no half file


def test_a_librarys_own_words_for_a_full_disk_are_read_for_its_errno(tmp_path):
    # safetensors' SafetensorError: "Error while serializing: I/O error: ... (os error 28)"
    said = Exception("Error while serializing: I/O error: No space left on device (os error 28)")
    assert no_room(said) == NO_ROOM[errno.ENOSPC]
    assert no_room(Exception("(os error 2)")) is None and disk_full_hint(ValueError("x")) is None
    path = str(tmp_path / "w.safetensors")

    def failing(tmp: str) -> None:
        raise said

    with pytest.raises(CnnctlError) as info:
        write_through(path, failing)
    assert info.value.problems[0].loc.file == path and "make room" in info.value.problems[0].hint


def test_the_disk_full_wording_is_trains_and_everyone_elses():
    from cnnctl.train import rundir

    assert rundir._NO_ROOM is NO_ROOM  # one place (cnnctl.writing)


def test_out_naming_a_file_says_to_give_a_folder(tmp_path):
    pytest.importorskip("fcntl")
    from cnnctl.train.rundir import hold

    (tmp_path / "exist.txt").write_text("")
    with pytest.raises(CnnctlError) as info, hold(tmp_path / "exist.txt", new=True):
        pass
    (problem,) = info.value.problems
    assert problem.message == "cannot create the run folder: File exists"
    assert "this is a file: give a new folder name" in problem.hint


def test_a_class_name_that_is_not_utf8_is_an_escaped_literal_in_the_pytorch_source():
    pytest.importorskip("torch")
    import cnnctl
    from cnnctl.exchange.preprocessing import Preprocessing
    from cnnctl.exchange.pytorch_source import pytorch_source

    graph = cnnctl.load_text("input: 8x8x1\nlayers:\n  - fc 2\n")
    expects = Preprocessing((1, 1, 8, 8), (0.5,), (0.25,), classes=(NAME, "dog"))  # a run's, its class folders'
    source = pytorch_source(graph, expects)
    source.encode()  # the file is UTF-8 text
    namespace: dict = {}
    line = next(line for line in source.splitlines() if line.startswith("CLASSES ="))
    exec(line, namespace)  # noqa: S102 - the line cnnctl wrote, read back as Python reads it
    assert namespace["CLASSES"] == (NAME, "dog")


def utf8_json_strings(stdout: bytes) -> list[str]:
    """Every string (and key) of the JSON document `stdout`, each checked to be UTF-8 text:
    what jq, or Python's `.encode()` after `json.loads`, takes."""
    strings: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            value.encode()  # a lone surrogate (`\\udce9` in the JSON) raises here
            strings.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(stdout.decode()))
    return strings


def test_json_writes_a_name_that_is_not_utf8_as_its_bytes_as_text_does():
    from cnnctl.words import json_text

    document = {NAME: [NAME, {"file": f"/data/{NAME}.png"}], "loss": float("nan"), "ok": "é 한 \U0001f600"}
    back = json.loads(json_text(document))
    assert back == {"x\\xe9": ["x\\xe9", {"file": "/data/x\\xe9.png"}], "loss": None, "ok": "é 한 \U0001f600"}
    assert json.dumps(back, ensure_ascii=False).encode()  # UTF-8 text throughout
    assert back["x\\xe9"][0] == printable(NAME)  # the same escape as the terminal's
    assert json.loads(json_text({"a": "\\ud800 written"})) == {"a": "\\ud800 written"}  # a backslash kept as it was


def test_each_commands_json_names_a_file_that_is_not_utf8_by_its_bytes(tmp_path, monkeypatch, capsys):
    from helpers import run_main

    bad = os.path.join(tmp_path, f"n{NAME}.yaml")
    Path(bad).write_text("input: 4x4x1\nlayers:\n  - conv f=5 n=1\n")
    shown = str(tmp_path / "nx\\xe9.yaml")
    for command in (["validate", bad], ["summarize", bad]):
        code, out, _ = run_main(monkeypatch, capsys, *command, "--format", "json")
        assert code == 2 and shown in utf8_json_strings(out.encode(errors="surrogateescape")), out
    pytest.importorskip("webdataset")
    from test_shards import image_folder

    image_folder(tmp_path / "img")
    os.rename(tmp_path / "img" / "train" / "cat", os.path.join(tmp_path, "img", "train", f"c{NAME}"))
    os.rename(tmp_path / "img" / "val" / "cat", os.path.join(tmp_path, "img", "val", f"c{NAME}"))
    Path(tmp_path, "img", "train", "dog", f"{NAME}.png").write_text("not an image")  # skipped, named
    code, out, err = run_main(monkeypatch, capsys, "pack", str(tmp_path / "img"), "-o", str(tmp_path / "out"),
                              "--format", "json")  # fmt: skip
    assert code == 0, err
    strings = utf8_json_strings(out.encode(errors="surrogateescape"))
    assert "cx\\xe9" in strings and any("dog/x\\xe9.png" in s for s in strings), out


def test_train_and_export_under_names_that_are_not_utf8(tmp_path):
    pytest.importorskip("torch")
    from test_train import SMALL_NET

    (tmp_path / "small.yaml").write_text(SMALL_NET)
    out = os.fsencode(tmp_path) + b"/r\xe9"
    args = [sys.executable, "-m", "cnnctl", "train", "small.yaml", "--data", "shapes", "--epochs", "1",
            "--device", "cpu", "--out", out, "--format", "json"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, cwd=tmp_path, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr and b"not drawn" not in done.stdout
    # config.json is the run's own record, read back by --resume: the path as given, byte for byte
    assert json.loads((Path(os.fsdecode(out)) / "config.json").read_text())["out"] == os.fsdecode(out)
    assert f"{tmp_path}/r\\xe9" in utf8_json_strings(done.stdout)  # --format json: as the terminal shows it
    for name in (b"x\xe9.onnx", b"x\xe9.py"):
        if name.endswith(b".onnx"):
            pytest.importorskip("onnx")
        export = [sys.executable, "-m", "cnnctl", "export", "small.yaml", "-o", name, "--format", "json"]
        done = subprocess.run(export, capture_output=True, cwd=tmp_path, env=ENV, timeout=300)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert any(s.endswith(os.fsdecode(name).replace(NAME, "x\\xe9")) for s in utf8_json_strings(done.stdout))
    runs = subprocess.run([sys.executable, "-m", "cnnctl", "runs", ".", "--format", "json"], capture_output=True,
                          cwd=tmp_path, env=ENV, timeout=300)  # fmt: skip
    assert runs.returncode == 0 and "r\\xe9" in utf8_json_strings(runs.stdout)
    leftovers = [n for n in os.listdir(os.fsencode(tmp_path)) if n.startswith(b".")]
    assert leftovers == []  # no `.x\xe9.tmp.onnx.data` left behind
