"""What users give, read safely (cnnctl.files, limits.py): a FIFO or a device never hangs a
command, a file's declared sizes are checked before it is read, a run's files are bounded,
and a damaged weights file is said to be damaged whatever is asked of it first.

Every command that could hang runs under an alarm (`within`), so a regression fails the test
instead of hanging it; the memory cases run in a subprocess under an address-space limit.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import struct
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import run_main

ROOT = Path(__file__).resolve().parent.parent
NET = "name: ok\ninput: 32x32x3\nlayers:\n  - conv f=3 p=same n=8 act=relu\n  - pool max f=2 s=2\n  - fc 4\n"
FIFO_HINT = "cnnctl reads only regular files"


class Blocked(Exception):  # not TimeoutError: an OSError, which a reader's `except OSError` would turn into a message
    pass


@contextmanager
def within(seconds: int):
    """Fail (not hang) where the body takes longer than `seconds`: opening a FIFO blocks for ever."""

    def expired(*_):
        raise Blocked(f"still running after {seconds} s: blocked on a FIFO?")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def a_run(folder: Path, epochs: int = 2) -> Path:
    """A run folder as `cnnctl train` leaves it, its checkpoints aside (what `runs` and `plot` read)."""
    folder.mkdir(parents=True)
    (folder / "network.yaml").write_text(NET)
    (folder / "config.json").write_text(json.dumps({"epochs": epochs, "data": "shapes", "input": "32x32x3"}))
    (folder / "status.json").write_text(json.dumps({"status": "finished", "epochs": epochs, "network": "ok"}))
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_accuracy": 0.5 + e / 100} for e in range(1, epochs + 1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "results.csv").write_text("epoch,val_accuracy\n" + "".join(f"{r['epoch']},0.5\n" for r in rows))
    return folder


def fifo(path: Path) -> Path:
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    return path


# -- 1. FIFOs: refused, never opened for a read that waits ----------------------------------------


def test_runs_lists_the_other_runs_and_marks_the_one_whose_config_json_is_a_fifo(tmp_path, monkeypatch, capsys):
    a_run(tmp_path / "good")
    fifo(a_run(tmp_path / "bad") / "config.json")
    with within(30):
        code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path))
    assert code == 0, err
    assert "\ngood " in out and "\nbad " in out  # both listed
    assert f"{tmp_path / 'bad' / 'config.json'}: the run's config.json cannot be read (a FIFO (named pipe)" in out


@pytest.mark.parametrize("name", ["metrics.jsonl", "results.csv"])
def test_plot_of_a_fifo_metrics_file_is_refused(name, tmp_path, monkeypatch, capsys):
    path = fifo(tmp_path / name)
    with within(30):
        code, _, err = run_main(monkeypatch, capsys, "plot", str(path), "-o", str(tmp_path / "c.png"))
    assert code == 2 and f"error: {path}: cannot read {name}: a FIFO (named pipe), not a regular file" in err
    assert FIFO_HINT in err


def test_plot_of_a_run_whose_config_json_is_a_fifo_draws_its_curves(tmp_path, monkeypatch, capsys):
    run = a_run(tmp_path / "r")
    fifo(run / "config.json")
    with within(30):
        code, _, err = run_main(monkeypatch, capsys, "plot", str(run), "-o", str(tmp_path / "c.png"))
    assert code == 0 and (tmp_path / "c.png").is_file(), err


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_evaluate_and_predict_of_a_run_whose_config_json_is_a_fifo_say_so(command, tmp_path, monkeypatch, capsys):
    run = a_run(tmp_path / "r")
    fifo(run / "config.json")
    (tmp_path / "x.png").write_bytes(b"")
    extra = ["--data", "shapes"] if command == "evaluate" else [str(tmp_path / "x.png")]
    with within(60):
        code, _, err = run_main(monkeypatch, capsys, command, str(run), *extra)
    assert code == 2 and "Traceback" not in err
    assert f"error: {run / 'config.json'}: the run's config.json cannot be read (a FIFO (named pipe)" in err


def _weights(tmp_path: Path) -> Path:
    """Weights of NET, as a state_dict (random: only their shapes matter here)."""
    import torch

    import cnnctl

    path = tmp_path / "w.pt"
    torch.save(cnnctl.to_torch(cnnctl.load_text(NET)).state_dict(), path)
    return path


def test_predict_of_a_fifo_image_says_so_and_predicts_the_others(tmp_path, monkeypatch, capsys):
    from PIL import Image

    (tmp_path / "net.yaml").write_text(NET)
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "red.png")
    image = fifo(tmp_path / "fifo.png")
    args = ["predict", str(tmp_path / "net.yaml"), "--weights", str(_weights(tmp_path))]
    with within(60):
        code, out, err = run_main(monkeypatch, capsys, *args, "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5",
                                  str(tmp_path / "red.png"), str(image))  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert f"error: {image}: cannot read the image: a FIFO (named pipe), not a regular file" in err
    assert "1 of 2 images not read" in err


@pytest.mark.parametrize("suffix", [".pt", ".safetensors", ".onnx"])
def test_a_fifo_given_as_weights_is_told_as_a_fifo(suffix, tmp_path, monkeypatch, capsys):
    (tmp_path / "net.yaml").write_text(NET)
    path = fifo(tmp_path / f"w{suffix}")
    with within(60):
        code, _, err = run_main(monkeypatch, capsys, "weights", str(tmp_path / "net.yaml"), str(path))
    assert code == 2 and "no such" not in err
    assert f"error: {path}: a FIFO (named pipe), not a weights file" in err and FIFO_HINT in err


def test_a_fifo_given_as_a_checkpoint_is_told_as_a_fifo(tmp_path, monkeypatch, capsys):
    (tmp_path / "net.yaml").write_text(NET)
    path = fifo(tmp_path / "best.pt")
    with within(60):
        args = ["evaluate", str(tmp_path / "net.yaml"), "--checkpoint", str(path), "--data", "shapes"]
        code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and f"error: {path}: a FIFO (named pipe), not a checkpoint" in err


def test_a_fifo_network_file_is_refused(tmp_path, monkeypatch, capsys):
    path = fifo(tmp_path / "net.yaml")
    with within(30):
        code, _, err = run_main(monkeypatch, capsys, "summarize", str(path))
    assert code == 2 and "not a regular file" in err  # told before it is read (cli), as read_text tells it too


def test_open_regular_refuses_a_fifo_that_takes_the_files_place_after_its_check(tmp_path, monkeypatch):
    # The path is checked, then opened without blocking and checked again on what was opened:
    # a FIFO swapped in between (here, by the first os.stat) is caught by the second check.
    from cnnctl import files

    path = tmp_path / "config.json"
    path.write_text("{}")
    real_stat, swaps = os.stat, []

    def swapped(p, *args, **kwargs):
        found = real_stat(p, *args, **kwargs)
        if str(p) == str(path) and not swaps:
            swaps.append(p)
            path.unlink()
            os.mkfifo(path)
        return found

    monkeypatch.setattr(files.os, "stat", swapped)
    with within(10), pytest.raises(files.Unread, match="a FIFO"), files.open_regular(path):
        pass


# -- 2. weights whose declared sizes would exhaust memory: refused before anything is read -------

AS_LIMIT = 4_000_000_000  # what the report ran under: past it, an allocation fails as a MemoryError


def _limited_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """cnnctl in a process of at most AS_LIMIT bytes of address space, for at most 120 s."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cnnctl", *args], cwd=cwd, env=env, preexec_fn=limit,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


HUGE_OUT = 715_827_882  # a 715,827,882 x 3 x 1 x 1 float32 weight: 8 GiB, in a sparse file that uses no disk


def test_onnx_external_data_larger_than_memory_is_refused_before_it_is_read(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    size = HUGE_OUT * 3 * 4
    weight = TensorProto(name="W", dims=[HUGE_OUT, 3, 1, 1], data_type=TensorProto.FLOAT)
    for key, value in {"location": "sparse.bin", "offset": "0", "length": str(size)}.items():
        weight.external_data.add(key=key, value=value)
    weight.data_location = TensorProto.EXTERNAL
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], "conv")], "g", [x], [y], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    with open(tmp_path / "sparse.bin", "wb") as f:
        f.truncate(size)
    done = _limited_cli("import", "m.onnx", "-o", "o.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"its tensors hold {size:,} bytes (the largest, `W`, {size:,}): more than cnnctl reads" in done.stderr
    assert not (tmp_path / "o.safetensors").exists()
    (tmp_path / "net.yaml").write_text(NET)  # a network: the tensor fits none of its places
    done = _limited_cli("weights", "net.yaml", "m.onnx", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    # NET's largest tensor: fc 4 from 16x16x8 = 2,048 values x 4 outputs
    assert f"the tensor `W` holds {HUGE_OUT * 3:,} values ({size:,} bytes), more than the network's largest " \
           f"tensor ({16 * 16 * 8 * 4:,} values)" in done.stderr  # fmt: skip


def _safetensors(path: Path, tensors: dict, data_bytes: int) -> None:
    """A .safetensors file of `tensors` (name -> (dtype, shape, (begin, end))) whose data part is
    `data_bytes` long, left sparse (zeros that use no disk)."""
    header = json.dumps({n: {"dtype": d, "shape": s, "data_offsets": list(o)} for n, (d, s, o) in tensors.items()})
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header.encode())
        f.truncate(8 + len(header) + data_bytes)


def test_a_safetensors_tensor_larger_than_memory_is_refused_before_it_is_read(tmp_path):
    size = HUGE_OUT * 3 * 4
    _safetensors(tmp_path / "w.safetensors", {"conv1.weight": ("F32", [HUGE_OUT, 3, 1, 1], (0, size))}, size)
    (tmp_path / "net.yaml").write_text(NET)
    done = _limited_cli("weights", "net.yaml", "w.safetensors", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"`conv1.weight`, {size:,}): more than cnnctl reads" in done.stderr


def test_a_pt_archive_larger_than_cnnctl_reads_is_refused_before_torch_reads_it(tmp_path, monkeypatch, capsys):
    import torch

    from cnnctl import limits

    (tmp_path / "net.yaml").write_text(NET)
    path = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(1000)}, path)  # its storage: 4,000 bytes
    monkeypatch.setattr(limits, "available_memory", lambda: 3000)  # a checkpoint is bounded by the memory free
    code, _, err = run_main(monkeypatch, capsys, "weights", str(tmp_path / "net.yaml"), str(path))
    assert code == 2 and "more than cnnctl reads (3,000 bytes: the memory available now)" in err, err


# -- 3. a run's files: bounded, and the real problem said -----------------------------------------


def test_a_config_json_larger_than_a_run_writes_is_refused_naming_it(tmp_path, monkeypatch, capsys):
    run = a_run(tmp_path / "r")
    settings = json.dumps({"epochs": 2, "data": "shapes", "input": "32x32x3"})
    (run / "config.json").write_text(settings + " " * 2**20)  # valid JSON, past 1 MiB
    code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path))
    assert code == 0, err
    assert f"{run / 'config.json'}: the run's config.json cannot be read ({len(settings) + 2**20:,} bytes: more " \
           "than cnnctl reads (1,048,576))" in out  # fmt: skip
    code, _, err = run_main(monkeypatch, capsys, "evaluate", str(run), "--data", "shapes")
    assert code == 2 and "which weights?" not in err and f"error: {run / 'config.json'}: " in err


def test_metrics_of_more_lines_than_a_run_writes_are_refused_not_counted(tmp_path, monkeypatch, capsys):
    from cnnctl.limits import MAX_ROWS

    run = a_run(tmp_path / "r", epochs=1)
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n' * (MAX_ROWS + 1))
    code, out, _ = run_main(monkeypatch, capsys, "runs", str(tmp_path))
    assert code == 0 and f"more than {MAX_ROWS:,} lines" in out and f"{MAX_ROWS + 1:,}/" not in out
    code, _, err = run_main(monkeypatch, capsys, "plot", str(run), "-o", str(tmp_path / "c.png"))
    assert code == 2 and f"error: {run / 'metrics.jsonl'}: cannot read metrics.jsonl: more than" in err


def test_a_metrics_file_past_its_size_bound_is_refused_before_it_is_read(tmp_path, monkeypatch, capsys):
    from cnnctl.limits import MAX_ROWS_BYTES

    run = a_run(tmp_path / "r", epochs=1)
    with open(run / "metrics.jsonl", "ab") as f:
        f.truncate(MAX_ROWS_BYTES + 1)  # sparse: no disk used, nothing to read in the time a test has
    with within(30):
        code, _, err = run_main(monkeypatch, capsys, "plot", str(run), "-o", str(tmp_path / "c.png"))
    assert code == 2 and f"{MAX_ROWS_BYTES + 1:,} bytes: more than cnnctl reads" in err


def test_evaluate_of_a_run_whose_config_records_no_input_says_so_not_which_weights(tmp_path, monkeypatch, capsys):
    run = a_run(tmp_path / "r")
    (run / "config.json").write_text(json.dumps({"epochs": 2, "data": "shapes"}))
    (run / "best.pt").write_bytes(b"")
    code, _, err = run_main(monkeypatch, capsys, "evaluate", str(run), "--data", "shapes")
    assert code == 2 and "which weights?" not in err
    assert f"error: {run / 'config.json'}: the run's config.json records no `input`" in err


# -- 4. weights files: what is wrong with them first ------------------------------------------------


def test_evaluate_with_a_damaged_safetensors_says_so_before_asking_for_its_normalisation(tmp_path, monkeypatch, capsys):
    (tmp_path / "net.yaml").write_text(NET)
    path = tmp_path / "w.safetensors"
    _safetensors(path, {"a": ("F32", [4], (0, 16)), "b": ("F32", [4], (8, 24))}, 24)  # b overlaps a
    args = ["evaluate", str(tmp_path / "net.yaml"), "--weights", str(path), "--data", "shapes"]
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and "normalisation" not in err
    assert f"error: {path}: cannot read the weights: a damaged .safetensors file: the tensors `a` and `b` " in err


@pytest.mark.parametrize("kind", ["safetensors", "pt", "missing"])
def test_evaluate_with_weights_not_finite_says_so_before_asking_for_their_normalisation(kind, tmp_path, monkeypatch,
                                                                                        capsys):  # fmt: skip
    # Weights that record no mean and std, with a NaN (or no file at all), were first asked for --mean/--std.
    import torch
    from safetensors.torch import save_file

    (tmp_path / "net.yaml").write_text(NET)
    state = torch.load(_weights(tmp_path), weights_only=True)
    state["fc1.bias"][1] = float("nan")  # 1 of NET's 4 output biases
    path = tmp_path / f"w.{'pt' if kind == 'pt' else 'safetensors'}"
    if kind == "pt":
        torch.save(state, path)
    elif kind == "safetensors":
        save_file({name: t.contiguous() for name, t in state.items()}, path)
    args = ["evaluate", str(tmp_path / "net.yaml"), "--weights", str(path), "--data", "shapes"]
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and "normalisation" not in err and err.count("error:") == 1, err
    told = "no such weights file" if kind == "missing" else "its tensor `fc1.bias` holds 1 NaN value of 4"
    assert err.startswith(f"error: {path}: ") and told in err, err


@pytest.mark.parametrize(
    ("offsets", "data", "told"),
    [  # 4x1x3x3 float32: 36 values of 4 bytes
        ((0, 16), 16, "the tensor `w`: its offsets give 16 bytes, its shape F32 [4,1,3,3] needs 144"),
        ((0, 144), 10, "the tensor `w` of shape [4, 1, 3, 3] (F32: 144 bytes) claims bytes 0 to 144 of the 10"),
    ],
    ids=["shape-offsets", "past-the-end"],
)
def test_a_safetensors_tensor_whose_offsets_disagree_is_told_which_way(offsets, data, told, tmp_path, monkeypatch,
                                                                       capsys):  # fmt: skip
    # Offsets of 16 bytes for a shape of 144 were told as "claims bytes 0 to 16 of the 16 the file holds".
    (tmp_path / "net.yaml").write_text(NET)
    path = tmp_path / "w.safetensors"
    _safetensors(path, {"w": ("F32", [4, 1, 3, 3], offsets)}, data)
    code, _, err = run_main(monkeypatch, capsys, "weights", str(tmp_path / "net.yaml"), str(path))
    assert code == 2 and err.count("error:") == 1, err
    assert err.startswith(f"error: {path}: cannot read the weights: a damaged .safetensors file: {told}"), err


@pytest.mark.parametrize("kind", ["cut short", "asks for code"])
def test_evaluate_with_a_damaged_pt_says_so_before_asking_for_its_normalisation(kind, tmp_path, monkeypatch, capsys):
    (tmp_path / "net.yaml").write_text(NET)
    path = _weights(tmp_path)
    if kind == "cut short":
        path.write_bytes(path.read_bytes()[:500])
    else:
        import torch

        torch.save({"model": Calls()}, path)
    args = ["evaluate", str(tmp_path / "net.yaml"), "--weights", str(path), "--data", "shapes"]
    code, _, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and "normalisation" not in err, err
    said = "cannot read the weights: " if kind == "cut short" else "asks to run code when loaded"
    assert f"error: {path}: " in err and said in err


class Calls:
    """A pickle that asks to call a function when loaded (weights_only refuses it, never calls it)."""

    def __reduce__(self):
        return (os.system, ("true",))


def test_a_pt_asking_for_code_is_one_message_as_weights_and_as_a_checkpoint(tmp_path, monkeypatch, capsys):
    import torch

    (tmp_path / "net.yaml").write_text(NET)
    path = tmp_path / "evil.pt"
    torch.save({"model": Calls()}, path)
    _, _, as_weights = run_main(monkeypatch, capsys, "weights", str(tmp_path / "net.yaml"), str(path))
    args = ["evaluate", str(tmp_path / "net.yaml"), "--checkpoint", str(path), "--data", "shapes"]
    _, _, as_checkpoint = run_main(monkeypatch, capsys, *args)
    said = f"error: {path}: this file asks to run code when loaded (`{os.system.__module__}.system`); it was not loaded"
    assert as_weights.startswith(said) and as_checkpoint.startswith(said)
    assert "weights_only" not in as_weights.splitlines()[0]  # torch's own text stays out


def test_torchs_warning_on_a_plain_pickle_is_not_shown(tmp_path, monkeypatch, capsys):
    import warnings

    (tmp_path / "net.yaml").write_text(NET)
    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps(Calls(), protocol=4))  # torch warns of protocol 4, with its file and line

    def shown(message, category, filename, lineno, file=None, line=None):  # as Python shows it, not as pytest keeps it
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = shown
        code, _, err = run_main(monkeypatch, capsys, "weights", str(tmp_path / "net.yaml"), str(path))
    assert code == 2 and "Warning" not in err and ".py:" not in err and err.count("\n") <= 2, err
