"""What -o may write over: never a file the command reads, a run's own files, a device or a
FIFO, or (where the command names its kind) a file of another kind; and a write that fails
(a full disk) is one message that leaves no temporary file behind."""

import contextlib
import json
import math
import os
import resource
import sys
from pathlib import Path

import pytest

from tests.helpers import run_main

NET = "input: 8x8x3\nlayers:\n  - conv f=3 n=4\n  - relu\n"


def _net(folder: Path) -> Path:
    path = folder / "net.yaml"
    path.write_text(NET)
    return path


def test_import_refuses_to_write_over_its_own_onnx_file(monkeypatch, capsys, tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"the user's model")  # refused before it is read: its content does not matter
    code, _, err = run_main(monkeypatch, capsys, "import", str(onnx), "-o", str(onnx))
    assert code == 2 and err.count("error:") == 1
    assert f"`{onnx}` is a file this command reads: writing it would destroy it" in err
    assert onnx.read_bytes() == b"the user's model"


def test_export_refuses_to_write_into_a_run_folder(monkeypatch, capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "network.yaml").write_text(NET)
    (run / "config.json").write_text("{}")
    (run / "best.pt").write_bytes(b"the run's best weights")
    net = _net(tmp_path)
    args = ("export", str(net), "--checkpoint", str(run), "-o", str(run / "best.pt"), "--to", "torchscript")
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and f"`{run / 'best.pt'}` is a file of the run folder `{run}`" in err, err
    assert (run / "best.pt").read_bytes() == b"the run's best weights"


def test_a_new_file_beside_a_runs_files_is_written_and_none_of_its_files_replaced(monkeypatch, capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"the": "run\'s settings"}')
    code, _, err = run_main(monkeypatch, capsys, "schema", "-o", str(run / "config.json"))
    assert code == 2 and f"`{run / 'config.json'}` is a file of the run folder `{run}`" in err, err
    assert (run / "config.json").read_text() == '{"the": "run\'s settings"}'
    code, _, err = run_main(monkeypatch, capsys, "schema", "-o", str(run / "cnnctl.schema.json"))
    assert code == 0, err
    assert json.loads((run / "cnnctl.schema.json").read_text())["$schema"].startswith("http://json-schema.org/")


def test_a_pytorch_export_never_writes_its_weights_over_the_checkpoint_it_reads(monkeypatch, capsys, tmp_path):
    net, checkpoint = _net(tmp_path), tmp_path / "net.pt"
    checkpoint.write_bytes(b"trained weights")  # the source file's weights would go to net.pt
    code, _, err = run_main(monkeypatch, capsys, "export", str(net), "--checkpoint", str(checkpoint),
                            "-o", str(tmp_path / "net.py"))  # fmt: skip
    assert code == 2 and f"`{checkpoint}` is a file this command reads" in err, err
    assert checkpoint.read_bytes() == b"trained weights" and not (tmp_path / "net.py").exists()


def test_schema_replaces_only_a_json_file(monkeypatch, capsys, tmp_path):
    net = _net(tmp_path)
    code, _, err = run_main(monkeypatch, capsys, "schema", "-o", str(net))
    assert code == 2 and f"`{net}` exists and is not a .json file" in err, err
    assert net.read_text() == NET
    old = tmp_path / "old.json"
    old.write_text("{}")
    assert run_main(monkeypatch, capsys, "schema", "-o", str(old))[0] == 0
    assert "properties" in json.loads(old.read_text()) or "$defs" in json.loads(old.read_text())
    new = tmp_path / "new.yml"  # a new file takes any name
    assert run_main(monkeypatch, capsys, "schema", "-o", str(new))[0] == 0 and new.read_text().startswith("{")


@pytest.mark.parametrize(
    "args",
    [
        ("schema", "-o", "{out}.json"),
        ("draw", "{net}", "--style", "volumes", "-o", "{out}.svg"),
        ("export", "{net}", "-o", "{out}.py"),
        ("import", "{onnx}", "-o", "{out}.yaml"),
    ],
    ids=lambda args: args[0],
)
def test_a_fifo_or_a_folder_is_never_replaced_by_a_file(args, monkeypatch, capsys, tmp_path):
    net, onnx = _net(tmp_path), tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    suffix = args[-1].rsplit(".", 1)[1]
    fifo = tmp_path / f"pipe.{suffix}"
    os.mkfifo(fifo)
    given = [a.format(net=net, onnx=onnx, out=tmp_path / "pipe") for a in args]
    code, _, err = run_main(monkeypatch, capsys, *given)
    assert code == 2 and f"error: `{fifo}` is a FIFO (named pipe), not a file: give a file path" in err, err
    assert fifo.is_fifo()
    folder = tmp_path / f"folder.{suffix}"
    folder.mkdir()
    given = [a.format(net=net, onnx=onnx, out=tmp_path / "folder") for a in args]
    code, _, err = run_main(monkeypatch, capsys, *given)
    assert code == 2 and f"`{folder}` is a folder: name the file to write" in err, err
    assert folder.is_dir() and not list(folder.iterdir())


def test_a_link_to_a_file_is_replaced_by_the_file_written(monkeypatch, capsys, tmp_path):
    target, link = tmp_path / "target.json", tmp_path / "link.json"
    target.write_text("kept")
    link.symlink_to(target)
    assert run_main(monkeypatch, capsys, "schema", "-o", str(link))[0] == 0
    assert not link.is_symlink() and link.read_text().startswith("{") and target.read_text() == "kept"


@contextlib.contextmanager
def full_disk(limit: int = 200):
    """Files written past `limit` bytes fail as on a full disk (EFBIG: RLIMIT_FSIZE; Python
    ignores SIGXFSZ), in this process alone; no bytecode is cached meanwhile (a .pyc cut short
    would break later imports)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    cached = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        sys.dont_write_bytecode = cached


@pytest.mark.parametrize("suffix", [".onnx", ".ts", ".py", ".safetensors"])
def test_an_export_onto_a_full_disk_is_one_message_and_leaves_nothing(suffix, monkeypatch, capsys, tmp_path):
    # TorchScript's own writer aborted the process (rc 134, a C++ stack) and left .x.tmp.ts behind
    out = tmp_path / "out"
    out.mkdir()
    net = _net(tmp_path)
    import torch  # noqa: F401 - imported before the limit: nothing of it is written then

    with full_disk():
        code, _, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(out / f"x{suffix}"))
    assert code == 1, err  # a full disk is the machine's fault, as in train: exit 1
    # at the file (its place, as every error gives one), with what to do: the one disk-full wording
    assert err.startswith(f"error: {out / 'x'}{suffix}: cannot write the file: File too large"), err
    assert "hint: the file-size limit (ulimit -f) was hit: raise the limit" in err
    assert err.count("\n") <= 2
    assert not list(out.iterdir())


def test_export_refuses_an_input_whose_example_batch_cannot_fit(monkeypatch, capsys, tmp_path):
    # `summarize` takes it; export's check runs a batch of 2, which alone would be 240 GB
    net = tmp_path / "huge.yaml"
    net.write_text("input: 100000x100000x3\nlayers:\n  - relu\n")
    monkeypatch.setattr("cnnctl.device_memory.device_memory", lambda device: 64 * 1024**3)
    code, _, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(tmp_path / "h.onnx"))
    values = 100000 * 100000 * 3
    need = 4 * 2 * (values + values)  # float32 input and relu's output, batch 2; no weights
    assert code == 2 and err.count("error:") == 1, err
    assert f"need {need / 1024**3:,.2f} GiB as float32, more than the 64.00 GiB of memory cpu has" in err
    assert "hint: give it a smaller --input" in err and not (tmp_path / "h.onnx").exists()
    assert math.isclose(need, 4.8e11)


def test_an_allocation_that_fails_during_export_is_one_message(monkeypatch, capsys, tmp_path):
    import torch

    def refuse(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(torch, "randn", refuse)
    net = _net(tmp_path)
    code, _, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(tmp_path / "n.ts"))
    assert code == 2 and err.startswith("error: out of memory on cpu with batch 2"), err
    assert "smaller --input" in err


def test_a_whole_file_read_as_one_value_is_not_echoed(monkeypatch, capsys, tmp_path):
    lines = [f"user{i}:x:{i}:{i}::/home/user{i}:/bin/sh" for i in range(200)]  # /etc/passwd's kind
    for text in ("x" * 100_000, "\n".join(lines)):
        net = tmp_path / "net.yaml"
        net.write_text(text + "\n")
        code, _, err = run_main(monkeypatch, capsys, "summarize", str(net))
        assert code == 2 and len(err) < 500, err[:1000]
        assert f"({len(text if text.startswith('x') else ' '.join(lines)):,} characters)" in err


@pytest.mark.parametrize(
    "layers",
    ["  - " + "k" * 5000, "  - conv f=3 n=4 " + "w" * 5000, "  - relu\n    " + "c" * 5000],
    ids=["kind", "word", "continued"],
)
def test_a_long_word_in_a_layer_is_shortened_in_its_message(layers, monkeypatch, capsys, tmp_path):
    net = tmp_path / "net.yaml"
    net.write_text(f"input: 8x8x3\nlayers:\n{layers}\n")
    code, _, err = run_main(monkeypatch, capsys, "summarize", str(net))
    assert code == 2 and "characters)" in err and len(err) < 800, err[:1000]


def test_a_symbolic_link_loop_is_named_as_one(monkeypatch, capsys, tmp_path):
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    code, _, err = run_main(monkeypatch, capsys, "summarize", str(tmp_path / "a.yaml"))
    assert code == 2 and f"error: `{tmp_path / 'a.yaml'}` is a symbolic link loop" in err, err
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nothing.yaml")
    code, _, err = run_main(monkeypatch, capsys, "summarize", str(tmp_path / "gone.yaml"))
    assert code == 2 and f"is a symbolic link to `{tmp_path / 'nothing.yaml'}`, which does not exist" in err, err


def test_the_volume_view_of_many_shape_keeping_layers_takes_linear_time():
    # each activation folded into the volume before copied its tuple of layers: 240,000 relus
    # in a row took 105 s to draw (20,000: 1.8 s)
    import time
    from types import SimpleNamespace

    from cnnctl.analysis.diagram import volumes
    from cnnctl.graph import INPUT

    count = 60_000
    nodes = [SimpleNamespace(index=i, inputs=(i - 1,) if i else (INPUT,), shape=(8, 8, 3), kind="relu", params=0,
                             text="relu", path=f"relu{i + 1}") for i in range(count)]  # fmt: skip
    graph = SimpleNamespace(nodes=nodes, input_shape=(8, 8, 3))
    start = time.perf_counter()
    got = volumes(graph)
    assert time.perf_counter() - start < 1.0
    assert len(got) == 1 and got[0].ops == ("relu",) * count
