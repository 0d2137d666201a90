"""What several test files share: the CLI run in-process, torchvision's rounding of channel
counts, the examples folder, cnnctl's HxWxC as torch's CxHxW, ruff's verdict on an exported file."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# The real MNIST test set in IDX files (see ../shared/data/README): from CNNCTL_TEST_DATA, a
# folder holding `mnist/`, else the shared folder beside the project. Tests that need it skip
# without it, and say how to give it (`-rs` shows the reason in pytest's summary line).
TEST_DATA = Path(os.environ.get("CNNCTL_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
MNIST_DIR = TEST_DATA / "mnist"
NO_MNIST = f"the real MNIST IDX files are not in {MNIST_DIR}: set CNNCTL_TEST_DATA to a folder holding mnist/"


RUFF = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")


def ruff_objections(path: Path) -> str:
    """What `ruff check` and `ruff format --check` say of the file `path` with ruff's defaults
    (`--isolated`: not this project's 120 columns, as wherever an exported file lands); "" where
    both leave it as it is."""
    said = ""
    for check in (["check", "--isolated"], ["format", "--check", "--isolated"]):
        done = subprocess.run([RUFF, *check, str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            said += done.stdout + done.stderr
    return said


def nchw(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """cnnctl's HxWxC volume as torch's per-example CxHxW."""
    h, w, c = shape
    return (c, h, w)


def named_layers(model) -> list:
    """(path, module) of every layer of a compiled network (cnnctl.backend.module.GraphModule), in
    graph order: the node each step of its forward pass runs."""
    return [(node.path, module) for node, (module, _) in zip(model.graph.nodes, model.steps, strict=True)]


def place_imported(model, arrays: dict, folder) -> object:
    """The arrays an ONNX file stores (onnx_import.read_weights, name -> numpy array, in the
    network's order) placed into `model` as in use: written as `cnnctl import` writes them
    (save_safetensors), then placed as `train --weights` places a file (place_weights)."""
    from cnnctl.exchange.weights import place_weights, save_safetensors

    path = str(Path(folder) / "imported.safetensors")
    save_safetensors(path, arrays, {"written_by": "a test"})
    return place_weights(model, path)


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr). Any exception but SystemExit fails the test."""
    from cnnctl import cli

    monkeypatch.setattr(sys, "argv", ["cnnctl", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    out, err = capsys.readouterr()
    return info.value.code, out, err


def make_divisible(v: float, d: int = 8) -> int:
    """torchvision's rounding of channel counts (`_make_divisible`)."""
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


def onnx_model(nodes: list, initializers: tuple = (), shape: tuple = (1, 3, 8, 8), opset: int = 17):
    """A one-input ONNX model made with onnx.helper: `nodes` read `x` (NCHW `shape`)."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    last = next((t for n in reversed(nodes) for t in n.output if t), "x")
    y = helper.make_tensor_value_info(last, TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def onnx_tensor(name: str, values, location: str | None = None, offset: int | None = None, length: int | None = None):
    """An initializer of float32 `values`; with `location`, stored as external data there
    (offset and length as given: the file is the test's to write)."""
    import numpy as np
    from onnx import numpy_helper
    from onnx.external_data_helper import set_external_data

    tensor = numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)
    if location is not None:
        set_external_data(tensor, location, offset, length)
        tensor.data_location = tensor.EXTERNAL
        tensor.ClearField("raw_data")
    return tensor
