"""Padding in and out of ONNX: export writes F.pad's uneven `p=same` as the Conv's or pool's own
`pads`; import reads those, a constant Pad before a window (F.pad, TensorFlow's same written out)
and auto_pad as `p=N`, `p=HxW` or `p=same` where exact, and refuses the rest naming the pads."""

import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

import numpy as np  # noqa: E402
from onnx import helper  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from cnnctl.api import load, load_text, to_torch  # noqa: E402
from cnnctl.catalog import bundled  # noqa: E402
from cnnctl.exchange.onnx_import import import_onnx, read_weights  # noqa: E402
from tests.helpers import onnx_model, onnx_tensor, place_imported, run_main  # noqa: E402
from tests.test_onnx_import import check_round_trip  # noqa: E402

# p=same at a stride, of even filters, of pools, on odd sizes: each splits its padding unevenly
GENERATED = [
    "input: 16x16x3\nlayers: [conv f=3 s=2 p=same n=8]",
    "input: 15x14x3\nlayers: [conv f=4 s=2 p=same n=8 act=relu, pool max f=3 s=2 p=same, pool avg f=2 s=1 p=same, "
    "conv f=2 p=same n=4, fc 3]",
    "input: 17x17x3\nlayers: [conv f=5 s=3 p=same n=4, conv f=3 s=2 p=same dilation=2 n=4]",
]
# every bundled network that pads `same` (alexnet, googlenet, vgg16: none at a stride)
SAME = sorted(net for net, path in bundled().items() if "p=same" in Path(path).read_text())


@pytest.mark.parametrize("text", GENERATED)
def test_uneven_same_comes_back_from_its_export(text, tmp_path):
    check_round_trip(load_text(text), tmp_path)  # the same params, mults, FLOPs, shapes and outputs
    model = onnx.load(str(tmp_path / "net.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert "Pad" not in ops and "ConstantOfShape" not in ops  # static: the pads are the windows' own
    back = import_onnx(str(tmp_path / "net.onnx"))
    assert back.count("p=same") >= 1


@pytest.mark.parametrize("net", SAME)
def test_bundled_networks_with_same_come_back_from_their_export(net, tmp_path):
    check_round_trip(load(net), tmp_path)


def test_export_writes_same_at_a_stride_as_the_convs_own_uneven_pads(tmp_path, monkeypatch, capsys):
    # the brief's case: once the export wrote F.pad's subgraph, and import refused its own file
    (tmp_path / "t.yaml").write_text("version: 1\nname: tfsame\ninput: 16x16x3\nlayers:\n  - conv f=3 s=2 p=same n=8\n")
    code, _, err = run_main(monkeypatch, capsys, "export", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "t.onnx"))
    assert code == 0, err
    (conv,) = onnx.load(str(tmp_path / "t.onnx")).graph.node
    # ceil(16/2) = 8 outputs: (8 - 1)*2 + 3 - 16 = 1 to pad, the odd one after: top 0, left 0, bottom 1, right 1
    pads = next(helper.get_attribute_value(a) for a in conv.attribute if a.name == "pads")
    assert conv.op_type == "Conv" and list(pads) == [0, 0, 1, 1]
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "t.onnx"))
    assert code == 0 and out.endswith("layers:\n  - conv f=3 s=2 p=same n=8\n"), err


def _exported(module: nn.Module, shape: tuple[int, int, int], path) -> str:
    """`module` through torch's TorchScript exporter at a fixed size (the exporter's own F.pad subgraph)."""
    h, w, c = shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(1, c, h, w),), str(path), dynamo=False)
    return str(path)


class Padded(nn.Module):
    """F.pad then a window (`window`: a conv or a pool), as TensorFlow-style `same` is written in PyTorch."""

    def __init__(self, pads: tuple, window: nn.Module, mode: str = "constant"):
        super().__init__()
        self.pads, self.window, self.mode = pads, window, mode

    def forward(self, x):
        return self.window(F.pad(x, self.pads, mode=self.mode))


@pytest.mark.parametrize(
    ("pads", "window", "written"),
    [
        ((0, 1, 0, 1), nn.Conv2d(3, 8, 3, 2), "conv f=3 s=2 p=same n=8"),  # same_padding(16, 3, 2) == (0, 1)
        ((1, 1, 2, 2), nn.Conv2d(3, 8, 3), "conv f=3 p=2x1 n=8"),  # even per axis
        # its own 1 and F.pad's (0, 1): (16 - 1) + 4 - 16 = 3 to pad, split (1, 2)
        ((0, 1, 0, 1), nn.Conv2d(3, 4, 4, padding=1), "conv f=4 p=same n=4"),
        ((0, 1, 0, 1), nn.AvgPool2d(2, 1), "pool avg f=2 s=1 p=same"),  # zeros counted, as cnnctl's same counts them
        ((1, 1, 1, 1), nn.AvgPool2d(3, 2, count_include_pad=False), "pool avg f=3 s=2 p=1"),
    ],
)
def test_a_pad_of_zeros_before_a_window_is_its_padding(pads, window, written, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = _exported(Padded(pads, window), (16, 16, 3), tmp_path / "p.onnx")
    got = read_weights(path)
    assert got.text.endswith(f"layers:\n  - {written}\n"), got.text
    rebuilt = to_torch(got.graph).eval()
    place_imported(rebuilt, {name: got.array(name) for name in got.shapes}, tmp_path)
    assert _max_difference(ort, path, rebuilt, (1, 3, 16, 16)) < 1e-5


def _max_difference(ort, path: str, rebuilt, shape: tuple) -> float:
    """The largest difference between ONNX Runtime's output of the file and the imported network's."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        return float(np.abs(rebuilt(torch.from_numpy(x)).numpy() - expected).max())


def _refused(monkeypatch, capsys, path: str) -> str:
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err and err.count("error:") == 1, err
    return err


@pytest.mark.parametrize(
    ("pads", "window", "mode", "said"),
    [
        ((0, 2, 0, 2), nn.Conv2d(3, 8, 3, 2), "constant", "uneven padding [0, 0, 2, 2] (top, left, bottom, right)"),
        ((1, 1, 1, 1), nn.Conv2d(3, 8, 3), "reflect", "a Pad of mode `reflect`, pads [0, 0, 1, 1, 0, 0, 1, 1]"),
        ((1, 1, 1, 1), nn.Conv2d(3, 8, 3), "replicate", "a Pad of mode `edge`, pads [0, 0, 1, 1, 0, 0, 1, 1]"),
        # zeros before a max pool: ONNX's own pads of a max pool are -inf, not the same
        (
            (1, 1, 1, 1),
            nn.MaxPool2d(3, 2),
            "constant",
            "a Pad of constant value 0 (1 top, 1 left, 1 bottom, 1 right) read by a MaxPool",
        ),  # fmt: skip
    ],
)
def test_a_pad_that_is_no_windows_padding_is_refused_naming_it(pads, window, mode, said, tmp_path, monkeypatch, capsys):
    err = _refused(monkeypatch, capsys, _exported(Padded(pads, window, mode), (16, 16, 3), tmp_path / "p.onnx"))
    assert said in err
    if "uneven" in err:  # where p=same would pad otherwise: said
        assert "p=same pads [0, 0, 1, 1] here" in err
    else:
        assert "cnnctl has no padding layer" in err


def _conv(path, tmp_path, **attrs) -> str:
    """One Conv of 4 filters of 2x2 (or `kernel_shape`) on 1 x 3 x 8 x 8, with `attrs`, saved."""
    kernel = attrs.pop("kernel", 2)
    w = onnx_tensor("w", np.random.default_rng(1).standard_normal((4, 3, kernel, kernel)))
    model = onnx_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attrs)], (w,))
    onnx.save(model, str(tmp_path / path))
    return str(tmp_path / path)


@pytest.mark.parametrize(
    ("attrs", "written"),
    [
        ({"auto_pad": "VALID"}, "conv f=2 n=4 bias=false"),
        ({"auto_pad": "SAME_UPPER"}, "conv f=2 p=same n=4 bias=false"),  # 1 to pad on 8: the odd one after
        ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, "conv f=2 s=2 n=4 bias=false"),  # (4 - 1)*2 + 2 - 8 = 0
        ({"auto_pad": "SAME_LOWER", "kernel": 3}, "conv f=3 p=1 n=4 bias=false"),  # 2 to pad: one a side
    ],
)
def test_auto_pad_is_read_as_the_padding_it_means(attrs, written, tmp_path, monkeypatch, capsys):
    ort = pytest.importorskip("onnxruntime")
    path = _conv("c.onnx", tmp_path, **attrs)
    got = read_weights(path)
    assert got.text.endswith(f"layers:\n  - {written}\n"), got.text
    rebuilt = to_torch(got.graph).eval()
    place_imported(rebuilt, {name: got.array(name) for name in got.shapes}, tmp_path)
    assert _max_difference(ort, path, rebuilt, (1, 3, 8, 8)) < 1e-5


def test_same_lower_of_an_odd_padding_is_refused_naming_its_pads(tmp_path, monkeypatch, capsys):
    # f=2 on 8: 1 to pad, SAME_LOWER puts it before (top, left), cnnctl's same after
    err = _refused(monkeypatch, capsys, _conv("c.onnx", tmp_path, auto_pad="SAME_LOWER"))
    assert "ONNX node `conv` (Conv, node 1 of 1): uneven padding [1, 1, 0, 0] (top, left, bottom, right)" in err
    assert "p=same pads [0, 0, 1, 1] here" in err


def test_a_value_worked_out_at_a_fixed_size_is_not_told_to_re_export_at_one(tmp_path, monkeypatch, capsys):
    # the input's size is fixed in the file: dynamic axes are not the cause, and the hint does not say so
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv"),
        helper.make_node("Shape", ["y"], ["s"], name="shape"),
        helper.make_node("Abs", ["s"], ["t"], name="abs"),
        helper.make_node("Reshape", ["y", "t"], ["z"], name="reshape"),
    ]
    model = onnx_model(nodes, (onnx_tensor("w", np.ones((4, 3, 1, 1))),))
    onnx.save(model, str(tmp_path / "m.onnx"))
    err = _refused(monkeypatch, capsys, str(tmp_path / "m.onnx"))
    assert "ONNX node `abs` (Abs, node 3 of 4): works out a value with Abs" in err
    assert "re-export at a fixed size" not in err and "the input's size is fixed" in err


@pytest.mark.parametrize(
    ("after", "said"),
    [
        ([], "that no node reads (it is the graph's output)"),  # the Pad is the graph's output
        (["Conv", "Relu"], "read by 2 nodes (Conv, Relu)"),
    ],
)
def test_a_pad_no_window_takes_in_is_told_plainly(after, said, tmp_path, monkeypatch, capsys):
    # Once: "a Pad [0, 0, 1000000000, ...] of 0 read by 0 nodes": its value and its readers said plainly.
    from onnx import numpy_helper

    pads = numpy_helper.from_array(np.array([0, 0, 10**9, 2, 0, 0, 3, 4], np.int64), "pads")
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], "pad")]
    initializers = [pads]
    if after:
        w = onnx_tensor("w", np.ones((4, 3, 1, 1)))
        nodes += [helper.make_node("Conv", ["p", "w"], ["c"], "conv"), helper.make_node("Relu", ["p"], ["r"], "relu")]
        nodes += [helper.make_node("Add", ["c", "r"], ["y"], "add")]
        initializers.append(w)
    path = tmp_path / "pad.onnx"
    onnx.save(onnx_model(nodes, initializers), str(path))
    err = _refused(monkeypatch, capsys, str(path))
    assert f"a Pad of constant value 0 (1,000,000,000 top, 2 left, 3 bottom, 4 right) {said}: not the padding" in err
