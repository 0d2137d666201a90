"""cnnctl import on hostile ONNX files: graphs of real exports mutated at random (inputs and
outputs dropped, duplicated and rewired, attributes deleted and changed, dims changed, cycles,
nodes swapped, tensors moved to external data that points anywhere), the files cut short and
bit-flipped, and external data aimed out of the model's folder, at a FIFO, at /dev/zero.

Every case runs in-process through the CLI, from a seeded generator. Every outcome is an
import or exit code 2 with messages at the file, naming the ONNX node where one is at fault;
never a traceback; within a second or so (nothing can block: a FIFO or a device is refused
before it is opened); and no file outside the model's folder is opened (every os.open and
open is watched), nor read (a decoy outside, whose scales would show in the network, never
does).
"""

import builtins
import contextlib
import io
import os
import random
import resource
import time
import warnings

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

from onnx import AttributeProto, TensorProto, helper  # noqa: E402

from cnnctl.limits import MAX_PROBLEMS  # noqa: E402
from tests.helpers import onnx_model, onnx_tensor, run_main  # noqa: E402

SEED = 18
# A small network of most of what the reader reads: an exported file of it has Constant,
# Clip, LRN, Slice, Reshape, Transpose, LayerNormalization, Mul, Resize, ConvTranspose, ...
FUZZ_NET = """version: 1
name: fuzz_base
input: 16x16x4
layers:
  - conv f=3 p=1 n=8 act=relu6 id=stem
  - lrn size=3
  - chunk 2 i=1 id=kept
  - chunk 2 i=2 from=stem
  - conv f=1 n=4 bias=false act=hardswish
  - bn act=silu id=computed
  - concat from=kept,computed
  - shuffle 2
  - layernorm
  - gate:
      - pool avg global
      - conv f=1 n=2 act=gelu
      - conv f=1 n=8 act=hardsigmoid
  - upsample 2
  - conv f=3 s=2 p=1 n=8 act=tanh
  - layerscale 0.1
  - add with=stem act=elu
  - pool avg f=2 p=1
  - deconv f=2 s=2 n=4 act=relu
  - pool max f=3 s=2 ceil
  - fc 10 act=softmax
"""
WHOLE_FILE = (  # problems of the file as a whole rather than of one node
    "not a readable ONNX file",
    "an ONNX file with no graph",
    "the graph has",
    "its input is",
    "the network read from it",
    "the graph's input",
    "stopped after",
)
HOSTILE_INTS = [0, -1, 1, 2, 3, 7, 2**31, 2**62, -(2**62)]
HOSTILE_FLOATS = [0.0, -1.0, 0.5, 1.5, 1e38, float("inf"), float("-inf"), float("nan")]
HOSTILE_TEXTS = [b"", b"NOTSET", b"SAME_UPPER", b"linear", b"tanh", b"\xff\x00"]
HOSTILE_DIMS = [0, -1, 1, 2, 4, 50_000, 2**40]
OPERATORS = [  # what a node becomes: read ones, those of patterns, unknown ones
    "Conv", "Gemm", "Resize", "Slice", "Reshape", "Transpose", "Clip", "LRN", "Sin", "Add", "Mul", "Concat",
    "ReduceMean", "ReduceMax", "Split", "Shape", "Gather", "Unsqueeze", "MatMul", "Erf", "Div", "Flatten", "Sub",
]  # fmt: skip


def _hand_module():
    """A small CNN written by hand as PyTorch code, not by cnnctl: what torch.onnx.export
    writes from user code (a layer scale, a residual add, the global pool as a mean)."""
    import torch
    from torch import nn

    class Hand(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.block = nn.Conv2d(8, 8, 3, padding=1)
            self.scale = nn.Parameter(torch.full((8, 1, 1), 0.5))
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = torch.relu(self.bn(self.conv(x)))
            x = self.pool(x + self.scale * torch.relu(self.block(x)))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return Hand().eval()


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, bytes]:
    """Real files torch's exporters write: `cnnctl export` of LeNet-5 and FUZZ_NET, and a module
    written by hand through both of PyTorch's exporters (TorchScript-based and dynamo)."""
    torch = pytest.importorskip("torch")
    from cnnctl.api import load, load_text
    from cnnctl.exchange.export import export

    folder = tmp_path_factory.mktemp("exports")
    files = {}
    for name, graph in (("lenet5", load("lenet5")), ("fuzz_base", load_text(FUZZ_NET))):
        export(graph, "onnx", str(folder / f"{name}.onnx"))
        files[name] = (folder / f"{name}.onnx").read_bytes()
    for name, dynamo in (("hand_torchscript", False), ("hand_dynamo", True)):
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            try:
                whole = {"external_data": False} if dynamo else {}  # the weights in the file itself
                torch.onnx.export(
                    _hand_module(), (torch.randn(1, 3, 16, 16),), str(folder / name), dynamo=dynamo, **whole
                )
            except ImportError:  # the dynamo exporter needs onnxscript
                continue
        files[name] = (folder / name).read_bytes()
    return files


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A model's folder with what external data may point at, inside and out, and decoys
    outside it: `decoy.bin` beside the folder and `scales.bin` in the working directory, each
    holding scales of 3 where the folder's own `scales.bin` holds 2."""
    import numpy as np

    inside, cwd = tmp_path / "model", tmp_path / "cwd"
    inside.mkdir()
    cwd.mkdir()
    scales = {2: np.array([1, 1, 2, 2], np.float32).tobytes(), 3: np.array([1, 1, 3, 3], np.float32).tobytes()}
    (inside / "scales.bin").write_bytes(scales[2])
    (tmp_path / "decoy.bin").write_bytes(scales[3])
    (cwd / "scales.bin").write_bytes(scales[3])
    (inside / "link_out.bin").symlink_to(tmp_path / "decoy.bin")
    (inside / "zero.bin").symlink_to("/dev/zero")
    (inside / "sub").mkdir()
    os.mkfifo(inside / "fifo.bin")
    monkeypatch.chdir(cwd)
    return inside


LOCATIONS = [  # where external data may claim to be, from the model's folder
    "scales.bin",
    "missing.bin",
    "../decoy.bin",
    "sub/../../decoy.bin",
    "link_out.bin",
    "zero.bin",
    "fifo.bin",
    "sub",
    "/dev/zero",
    "",
]


def _check(case: str, path, folder, monkeypatch, capsys) -> tuple[int, str, str]:
    """Import `path` through the CLI, watching every file opened: an import or exit code 2
    with messages at the file, quickly, nothing opened outside `folder`."""
    opened: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def os_open(file, *args, **kwargs):
        opened.append(os.fspath(file))
        return real_os_open(file, *args, **kwargs)

    def any_open(file, *args, **kwargs):
        if not isinstance(file, int):
            opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "open", os_open)
        m.setattr(builtins, "open", any_open)
        m.setattr(io, "open", any_open)
        start = time.perf_counter()
        try:
            code, out, err = run_main(m, capsys, "import", str(path))
        except Exception as exc:  # a traceback: the case that made it
            pytest.fail(f"{case}: {type(exc).__name__}: {exc}")
        took = time.perf_counter() - start
    where = os.path.realpath(folder)
    outside = [p for p in opened if os.path.commonpath([where, os.path.realpath(p)]) != where]
    assert not outside, f"{case}: opened {outside}"
    assert took < 5, f"{case}: {took:.1f} s"
    assert code in (0, 2) and "Traceback" not in err, f"{case}: exit code {code}\n{err}"
    if code == 0:
        assert out.startswith("# Imported by cnnctl from ") and "\nlayers:\n  - " in out, f"{case}: {out}"
        return code, out, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert out == "" and 1 <= len(errors) <= MAX_PROBLEMS + 1, f"{case}: {err}"
    for line in errors:
        assert line.startswith(f"error: {path}: "), f"{case}: {line}"
        assert "ONNX node" in line or any(w in line for w in WHOLE_FILE), f"{case}: {line}"
    return code, out, err


# -- mutated graphs ------------------------------------------------------------------------------
def _tensors(model) -> list[str]:
    graph = model.graph
    names = [i.name for i in graph.input] + [i.name for i in graph.initializer]
    return names + [t for n in graph.node for t in n.output]


def _hostile_attribute(rng: random.Random, attribute) -> None:
    kind = attribute.type
    if kind == AttributeProto.INTS:
        attribute.ClearField("ints")
        attribute.ints.extend(rng.choice(HOSTILE_INTS) for _ in range(rng.randrange(6)))
    elif kind == AttributeProto.INT:
        attribute.i = rng.choice(HOSTILE_INTS)
    elif kind == AttributeProto.FLOAT:
        attribute.f = rng.choice(HOSTILE_FLOATS)
    elif kind == AttributeProto.FLOATS:
        attribute.ClearField("floats")
        attribute.floats.extend(rng.choice(HOSTILE_FLOATS) for _ in range(rng.randrange(6)))
    elif kind == AttributeProto.STRING:
        attribute.s = rng.choice(HOSTILE_TEXTS)
    else:  # a tensor (a Constant's value): another type altogether
        attribute.type = rng.choice([AttributeProto.INT, AttributeProto.STRING, AttributeProto.UNDEFINED])


def _some_tensor(rng: random.Random, model):
    """An initializer, a Constant's value or None."""
    graph = model.graph
    values = [a.t for n in graph.node if n.op_type == "Constant" for a in n.attribute if a.HasField("t")]
    tensors = list(graph.initializer) + values
    return rng.choice(tensors) if tensors else None


def _mutate(rng: random.Random, model) -> str:
    """One random change to `model`, in place; what it was."""
    graph = model.graph
    nodes = graph.node
    i = rng.randrange(len(nodes))
    node = nodes[i]
    what = rng.choice(
        [
            "drop input", "duplicate input", "rewire input", "drop output", "rewire output", "delete attribute",
            "change attribute", "change dims", "cycle", "swap nodes", "change operator", "huge constant",
            "change input dims", "external data", "cut initializer",
        ]
    )  # fmt: skip
    if what == "drop input" and node.input:
        del node.input[rng.randrange(len(node.input))]
    elif what == "duplicate input" and node.input:
        node.input.insert(rng.randrange(len(node.input) + 1), rng.choice(node.input))
    elif what == "rewire input" and node.input:
        node.input[rng.randrange(len(node.input))] = rng.choice([*_tensors(model), "", "ghost"])
    elif what == "drop output" and node.output:
        del node.output[rng.randrange(len(node.output))]
    elif what == "rewire output" and node.output:
        node.output[rng.randrange(len(node.output))] = rng.choice([*_tensors(model), ""])
    elif what == "delete attribute" and node.attribute:
        del node.attribute[rng.randrange(len(node.attribute))]
    elif what == "change attribute" and node.attribute:
        _hostile_attribute(rng, node.attribute[rng.randrange(len(node.attribute))])
    elif what == "change dims" and (tensor := _some_tensor(rng, model)) is not None:
        tensor.ClearField("dims")
        tensor.dims.extend(rng.choice(HOSTILE_DIMS) for _ in range(rng.randrange(6)))
    elif what == "cycle" and i + 1 < len(nodes) and node.input:
        later = nodes[rng.randrange(i, len(nodes))]  # itself, or a node after it
        if later.output:
            node.input[0] = later.output[0]
    elif what == "swap nodes":
        j = rng.randrange(len(nodes))
        kept = type(node)()
        kept.CopyFrom(node)
        node.CopyFrom(nodes[j])
        nodes[j].CopyFrom(kept)
    elif what == "change operator":
        node.op_type = rng.choice(OPERATORS)
    elif what == "huge constant" and (tensor := _some_tensor(rng, model)) is not None:
        tensor.ClearField("dims")
        tensor.dims.extend([50_000, 50_000])
    elif what == "cut initializer" and graph.initializer:
        del graph.initializer[rng.randrange(len(graph.initializer))]
    elif what == "change input dims":
        dims = graph.input[0].type.tensor_type.shape.dim
        dims[rng.randrange(len(dims))].dim_value = rng.choice(HOSTILE_DIMS[2:])
    elif what == "external data" and (tensor := _some_tensor(rng, model)) is not None:
        from onnx.external_data_helper import set_external_data

        if not tensor.HasField("raw_data"):  # values written as float_data: moved out as bytes
            from onnx import numpy_helper

            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name))
        del tensor.external_data[:]
        offset, length = rng.choice([None, 0, 8, 2**62]), rng.choice([None, 0, 16, 2**62])
        set_external_data(tensor, rng.choice(LOCATIONS), offset, length)
        tensor.data_location = TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
    else:
        return f"{what} (nothing to change)"
    return f"{what} at node {i + 1}"


@pytest.mark.parametrize("base", ["lenet5", "fuzz_base", "hand_torchscript", "hand_dynamo"])
def test_mutated_graphs_import_or_are_refused_at_a_node(base, exports, place, monkeypatch, capsys):
    if base not in exports:
        pytest.skip("the dynamo exporter needs onnxscript")
    rng = random.Random(f"{SEED}-{base}")
    original = onnx.ModelProto()
    original.ParseFromString(exports[base])
    outcomes = {0: 0, 2: 0}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for k in range(150):
        model = onnx.ModelProto()
        model.CopyFrom(original)
        changes = [_mutate(rng, model) for _ in range(rng.choice([1, 1, 2, 3]))]
        path = place / "m.onnx"
        path.write_bytes(model.SerializeToString())
        code, out, _ = _check(f"{base} mutant {k}: {', '.join(changes)}", path, place, monkeypatch, capsys)
        assert "upsample 3" not in out  # the decoys' scales never come in
        outcomes[code] += 1
    # both outcomes come up: the mutations reach the reader, and many are still read
    assert outcomes[0] >= 10 and outcomes[2] >= 30, outcomes
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 1024**2  # KiB: under 1 GiB more


# -- cut short and bit-flipped -------------------------------------------------------------------
@pytest.mark.parametrize("base", ["lenet5", "fuzz_base"])
def test_cut_and_bit_flipped_files_import_or_are_refused(base, exports, place, monkeypatch, capsys):
    rng = random.Random(f"{SEED}-bytes-{base}")
    data = exports[base]
    path = place / "m.onnx"
    for k in range(90):
        if k % 3 == 0:  # cut short anywhere
            cut = rng.randrange(len(data))
            changed, case = data[:cut], f"{base} cut at byte {cut}"
        else:  # bits flipped, most in the graph's structure (nodes come before the weights)
            flipped = bytearray(data)
            bits = [rng.randrange(min(len(data), 4096) if rng.random() < 0.7 else len(data)) for _ in range(k % 8 + 1)]
            for b in bits:
                flipped[b] ^= 1 << rng.randrange(8)
            changed, case = bytes(flipped), f"{base} bits flipped at bytes {bits}"
        path.write_bytes(changed)
        _check(case, path, place, monkeypatch, capsys)


# -- external data -------------------------------------------------------------------------------
def _external_resize(location: str, offset: int | None = None, length: int | None = None):
    """A model whose Resize scales are external data: at `location` in the model's folder, of 16 bytes."""
    scales = onnx_tensor("s", [1, 1, 2, 2], location, offset, length)
    return onnx_model([helper.make_node("Resize", ["x", "", "s"], ["y"], name="r", mode="nearest")], [scales])


EXTERNAL = {  # location, offset, length -> what the message says
    "absolute, the decoy": ("{decoy}", None, None, "not a file inside the model's folder"),
    "dot-dot": ("../decoy.bin", None, None, "not a file inside the model's folder"),
    "dot-dot inside a path": ("sub/../../decoy.bin", None, None, "not a file inside the model's folder"),
    "a link out of the folder": ("link_out.bin", None, None, "a link leads out of it"),
    "a link to /dev/zero": ("zero.bin", None, None, "a link leads out of it"),
    "/dev/zero": ("/dev/zero", None, None, "not a file inside the model's folder"),
    "a FIFO": ("fifo.bin", None, None, "a FIFO (named pipe), not a regular file"),
    "a folder": ("sub", None, None, "a folder, not a regular file"),
    "no such file": ("missing.bin", None, None, "no such file"),
    "a huge length": ("scales.bin", None, 2**62, "length `4611686018427387904`: it holds 16 bytes"),
    "a huge offset": ("scales.bin", 2**62, None, "bytes 4,611,686,018,427,387,904 to"),
    "past its end": ("scales.bin", 8, None, "bytes 8 to 24 of a file of 16"),
}


@pytest.mark.parametrize("case", list(EXTERNAL))
def test_external_data_outside_the_folder_or_not_a_file_is_refused(case, place, monkeypatch, capsys):
    location, offset, length, said = EXTERNAL[case]
    location = location.format(decoy=place.parent / "decoy.bin")
    path = place / "m.onnx"
    onnx.save(_external_resize(location, offset, length), str(path))
    code, _, err = _check(case, path, place, monkeypatch, capsys)
    assert code == 2 and "ONNX node `r` (Resize, node 1 of 1): the constant `s` is stored outside the file" in err
    assert said in err, err


@pytest.mark.parametrize("case", ["a huge offset", "past its end"])
def test_external_data_past_its_files_end_is_hinted_as_a_file_too_short(case, place, monkeypatch, capsys):
    # The hint was the folder rule's ("only from files in the model's own folder"): the file is there, too short.
    location, offset, length, said = EXTERNAL[case]
    path = place / "m.onnx"
    onnx.save(_external_resize(location, offset, length), str(path))
    code, _, err = _check(case, path, place, monkeypatch, capsys)
    assert code == 2 and f"{said}" in err and "the file is shorter than the model says" in err, err
    assert "hint: was it cut short, or is it another model's? export the model again, or copy its whole data " \
           "file (`scales.bin`) beside it" in err and "own folder" not in err  # fmt: skip


def test_external_data_inside_the_folder_is_read_and_weights_outside_are_never_read(place, monkeypatch, capsys):
    import numpy as np

    # the scales inside the folder, at an offset; the conv's weights claim a file that is not there
    (place / "sub" / "data.bin").write_bytes(b"\0" * 8 + np.array([1, 1, 2, 2], np.float32).tobytes())
    nodes = [
        helper.make_node("Resize", ["x", "", "s"], ["u"], name="r", mode="nearest"),
        helper.make_node("Conv", ["u", "w"], ["y"], name="c"),
    ]
    scales = onnx_tensor("s", [1, 1, 2, 2], "sub/data.bin", 8, 16)
    weights = onnx_tensor("w", np.zeros((5, 3, 3, 3)), "/nowhere/weights.bin")
    path = place / "m.onnx"
    onnx.save(onnx_model(nodes, [scales, weights]), str(path))
    code, out, err = _check("inside the folder", path, place, monkeypatch, capsys)
    assert code == 0, err
    assert out.endswith("layers:\n  - upsample 2\n  - conv f=3 n=5 bias=false\n")


def test_the_models_own_external_data_is_read_not_a_decoy_of_the_same_name(place, monkeypatch, capsys):
    # the folder's own scales.bin read from the working directory (a decoy of 3) would show
    path = place / "m.onnx"
    onnx.save(_external_resize("scales.bin"), str(path))
    code, out, err = _check("scales.bin", path, place, monkeypatch, capsys)
    assert code == 0 and "\n  - upsample 2\n" in out, err
