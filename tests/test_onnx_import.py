"""cnnctl import: ONNX back into the notation. Exported then imported, a network keeps its
counts, shapes and outputs; ONNX written by torch.onnx.export from hand-written modules
imports with the counts their own parameters and the course's formula give."""

import json
import os
import re
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

import onnx  # noqa: E402
from torch import nn  # noqa: E402

from cnnctl.api import load, load_text, to_torch  # noqa: E402
from cnnctl.catalog import bundled  # noqa: E402
from cnnctl.errors import CnnctlError  # noqa: E402
from cnnctl.exchange.export import example_input, export  # noqa: E402
from cnnctl.exchange.onnx_import import import_onnx  # noqa: E402
from cnnctl.graph.outputs import inference_graph  # noqa: E402
from tests.helpers import EXAMPLES, onnx_model, onnx_tensor, place_imported, run_main  # noqa: E402

ROUND_TRIP = sorted(bundled()) + sorted(str(p) for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("net", ROUND_TRIP)
def test_export_then_import_keeps_counts_shapes_and_outputs(net, tmp_path):
    check_round_trip(load(net), tmp_path)


@pytest.mark.parametrize("align", ["false", "true"])
def test_bilinear_upsampling_comes_back_from_its_export(align, tmp_path):
    text = (
        f"input: 10x12x3\nlayers: [conv f=3 s=2 p=1 n=4, upsample 2 mode=bilinear align_corners={align}, conv f=1 n=2]"
    )
    check_round_trip(load_text(text), tmp_path)


def check_round_trip(written, tmp_path):
    """`written` exported to ONNX and imported: the same counts, shapes and outputs."""
    graph = inference_graph(written)  # what an exported file holds: no heads only training runs (`outputs:`)
    torch.manual_seed(0)
    model = to_torch(graph).eval()
    export(written, "onnx", str(tmp_path / "net.onnx"))  # its own initialised weights: compared below by order
    back = load_text(import_onnx(str(tmp_path / "net.onnx")))
    assert (back.params, back.buffers, back.mults, back.flops) == (
        graph.params,
        graph.buffers,
        graph.mults,
        graph.flops,
    )
    assert (back.input_shape, back.output_shape) == (graph.input_shape, graph.output_shape)
    # The same weights, layer by layer in order, give the same outputs.
    imported = to_torch(back).eval()
    mine, theirs = imported.state_dict(), model.state_dict()
    assert [v.shape for v in mine.values()] == [v.shape for v in theirs.values()]
    imported.load_state_dict(dict(zip(mine, theirs.values(), strict=True)))
    x = example_input(graph)
    with torch.no_grad():
        assert torch.allclose(imported(x), model(x), atol=1e-5)


def _import(module: nn.Module, shape: tuple[int, int, int], tmp_path, preserve: bool = True):
    """`module` through torch's own exporter, then cnnctl's import."""
    path = tmp_path / "hand.onnx"
    h, w, c = shape
    mode = torch.onnx.TrainingMode.PRESERVE if preserve else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(1, c, h, w),), str(path), dynamo=False, training=mode)
    return load_text(import_onnx(str(path)))


class HandVGG(nn.Module):
    """Two 3x3 convs with batch norm, a max pool, global average pool, a classifier."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(16)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.b1(self.c1(x)))
        x = self.pool(torch.relu(self.c2(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class HandResidual(nn.Module):
    """A stem, one basic residual block with an identity shortcut, SiLU, an SE gate."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.a = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.squeeze = nn.Conv2d(8, 2, 1)
        self.excite = nn.Conv2d(2, 8, 1)
        self.head = nn.Linear(8 * 8 * 8, 5)

    def forward(self, x):
        x = nn.functional.silu(self.stem(x))
        y = self.b(torch.relu(self.bn(self.a(x))))
        x = torch.relu(x + y)
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        x = x * torch.sigmoid(self.excite(torch.relu(self.squeeze(s))))
        return self.head(x.flatten(1))


def test_a_hand_written_vgg_imports_with_its_own_counts(tmp_path):
    module = HandVGG()
    graph = _import(module, (16, 16, 3), tmp_path)
    assert graph.params == sum(p.numel() for p in module.parameters())  # 432 + 32 + 4,640 + 330
    # the course's formula: (output volume) x (filter volume), then fc
    assert graph.mults == 16 * 16 * 16 * (3 * 3 * 3) + 16 * 16 * 32 * (3 * 3 * 16) + 32 * 10
    assert graph.output_shape == (10,)


def test_a_hand_written_residual_se_block_imports_with_its_own_counts(tmp_path):
    module = HandResidual()
    graph = _import(module, (16, 16, 3), tmp_path)
    assert graph.params == sum(p.numel() for p in module.parameters())
    convs = 8 * 8 * 8 * 27 + 2 * (8 * 8 * 8 * 72) + 1 * 1 * 2 * 8 + 1 * 1 * 8 * 2
    assert graph.mults == convs + 512 * 5
    kinds = [n.kind for n in graph.nodes]
    assert kinds.count("add") == 1 and kinds.count("mul") == 1  # the shortcut, the gate
    assert graph.nodes[0].text.endswith("act=silu")  # x * sigmoid(x), read as one activation


def test_an_eval_mode_export_folds_batch_norm_into_the_conv(tmp_path):
    # torch's exporter in eval mode folds each bn into the conv before it: the file holds a
    # biased conv and no bn, and that is the network cnnctl reads
    module = HandVGG()
    graph = _import(module, (16, 16, 3), tmp_path, preserve=False)
    assert [n.kind for n in graph.nodes].count("bn") == 0
    assert graph.params == sum(p.numel() for p in module.parameters()) - 32 + 16  # bn's 32 out, a bias of 16 in


class Trigonometric(nn.Module):
    """Operators no layer kind computes: Sin twice, Cos once."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        x = self.c(x)
        return torch.sin(torch.sin(x) + torch.cos(x))


def test_what_cnnctl_cannot_read_is_told_per_operator(tmp_path, monkeypatch, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Trigonometric().eval(), (torch.randn(1, 3, 8, 8),), str(tmp_path / "t.onnx"), dynamo=False)
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "t.onnx"))
    assert code == 2 and out == "" and "Traceback" not in err
    # the nodes in order: Conv, Sin, Cos, Add, Sin; each told by its name, operator and index
    assert "ONNX node `/Sin` (Sin, node 2 of 5) (and 1 more Sin node): no cnnctl layer kind" in err
    assert "ONNX node `/Cos` (Cos, node 3 of 5): no cnnctl layer kind" in err
    assert err.count("error:") == 2  # one message per operator, every one in one run
    assert err.count("hint:") == 1  # what cnnctl reads, said once


class AfterUnread(nn.Module):
    """Sqrt and Abs, which no layer kind computes, then a bicubic Resize, which cnnctl's upsample is not."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        x = torch.abs(self.c2(torch.sqrt(torch.relu(self.c1(x)) + 1)))
        return nn.functional.interpolate(x, scale_factor=2, mode="bicubic")


def test_a_node_after_one_that_is_not_read_is_still_told(tmp_path, monkeypatch, capsys):
    # the Resize reads the Abs's output: its own refusal (its mode) is told with theirs, in one run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(AfterUnread().eval(), (torch.randn(1, 3, 8, 8),), str(tmp_path / "a.onnx"), dynamo=False)
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "a.onnx"))
    assert code == 2 and out == "" and "Traceback" not in err
    assert "(Sqrt, node" in err and "(Abs, node" in err
    assert "(Resize, node" in err and "cubic interpolation" in err
    assert err.count("error:") == 3


def test_a_node_after_a_refused_layer_is_still_told(tmp_path, monkeypatch, capsys):
    # Once: after a Conv with auto_pad (a known operator its reader refused then; now uneven pads no
    # `p=` expresses) the bicubic Resize reading it went untold. The Conv is a layer on its own, not
    # a step of a pattern: both told.
    nodes = [
        _node("Conv", ["x", "w"], ["c"], "conv", pads=[0, 0, 2, 2], kernel_shape=[3, 3]),
        _node("Resize", ["c", "", "s"], ["y"], "up", mode="cubic"),
    ]
    path = _saved(onnx_model(nodes, [_weights(4, 3, 3, 3), onnx_tensor("s", [1, 1, 2, 2])]), tmp_path / "m.onnx")
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "ONNX node `conv` (Conv, node 1 of 2): uneven padding [0, 0, 2, 2]" in err
    assert "ONNX node `up` (Resize, node 2 of 2): cubic interpolation" in err
    assert err.count("error:") == 2


def test_an_operator_reading_only_what_follows_from_a_told_node_is_not_told(tmp_path, monkeypatch, capsys):
    # N3 item 5: a mean over the channels, not kept, is no layer (nor a layer's stand-in: it drops an axis); what
    # reads it is no layer either, so the Sin after it, an operator cnnctl does not read, is told no more than the
    # Relu would be: its problem follows from the first. A Sin of the input beside it is its own, and told
    nodes = [
        _node("ReduceMean", ["x"], ["m"], "mean", axes=[1], keepdims=0),
        _node("Sin", ["m"], ["s"], "sine_of_mean"),
        _node("Sin", ["x"], ["t"], "sine_of_x"),
        _node("Add", ["t", "x"], ["y"], "add"),
    ]
    path = _saved(onnx_model(nodes, []), tmp_path / "m.onnx")
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "ONNX node `mean` (ReduceMean, node 1 of 4): a reduction over axes `[1]`" in err, err
    assert "ONNX node `sine_of_x` (Sin, node 3 of 4): no cnnctl layer kind does this" in err, err
    assert "sine_of_mean" not in err and "more Sin" not in err and err.count("error:") == 2, err


def test_import_writes_a_file_that_summarize_reads(tmp_path, monkeypatch, capsys):
    export(load("resnet18"), "onnx", str(tmp_path / "r.onnx"))
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "r.onnx"), "-o", str(tmp_path / "r.yaml"))
    assert code == 0, err
    assert "11,689,512 params" in out  # torchvision's ResNet-18
    text = (tmp_path / "r.yaml").read_text()
    # layer1's two blocks are identical: one repeat, whose shortcut adds the pass's input
    assert "  - repeat: 2\n" in text and "      - add act=relu with=input\n" in text
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(tmp_path / "r.yaml"))
    assert code == 0 and "1,814,073,344" in out


def test_the_readmes_import_transcript_is_the_commands_output(tmp_path, monkeypatch, capsys):
    # The README's transcript once missed export's `output:` line. What may differ on another
    # machine is masked: ONNX Runtime's difference from PyTorch, torch's version and the opset.
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    command = "$ cnnctl export resnet18 -o resnet18.onnx && cnnctl import resnet18.onnx -o back.yaml\n"
    sample = readme[readme.index(command) + len(command) :].split("```", 1)[0]
    said, head = sample.split("$ head -17 back.yaml\n")
    monkeypatch.chdir(tmp_path)
    code, exported, err = run_main(monkeypatch, capsys, "export", "resnet18", "-o", "resnet18.onnx")
    assert code == 0, err
    code, imported, err = run_main(monkeypatch, capsys, "import", "resnet18.onnx", "-o", "back.yaml")
    assert code == 0, err
    written = "".join((tmp_path / "back.yaml").read_text().splitlines(keepends=True)[:17])

    def masked(text: str) -> str:
        text = re.sub(r"within \S+ on", "within X on", text)
        return re.sub(r"\(ONNX opset \d+, written by pytorch [^)]*\)", "(ONNX opset N, written by pytorch V)", text)

    assert masked(exported + imported) == masked(said)
    assert masked(written) == masked(head)


@pytest.mark.parametrize(
    ("content", "said"),
    [(None, "no such file"), (b"\x00\x01 not protobuf \xff" * 10, "not a readable ONNX file")],
)
def test_a_file_that_is_not_onnx_is_one_message(content, said, tmp_path, monkeypatch, capsys):
    path = tmp_path / "x.onnx"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_main(monkeypatch, capsys, "import", str(path))
    assert code == 2 and said in err and "Traceback" not in err


def test_a_missing_onnx_file_is_told_the_ones_beside_it(tmp_path, monkeypatch, capsys):
    # `import nothing.onnx` was "no such file" and nothing more
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(monkeypatch, capsys, "import", "nothing.onnx")
    assert code == 2 and "hint: this folder holds no .onnx file; `cnnctl export ARCH -o net.onnx` writes one" in err
    for name in ("model.onnx", "other.onnx"):
        (tmp_path / name).write_bytes(b"")
    code, _, err = run_main(monkeypatch, capsys, "import", "modle.onnx")
    assert code == 2 and err.splitlines() == ["error: modle.onnx: no such file", "  hint: did you mean `model.onnx`?"]
    code, _, err = run_main(monkeypatch, capsys, "import", "nothing.onnx")
    assert code == 2 and "hint: the ONNX files in this folder: model.onnx, other.onnx" in err


def _torchscript(path):
    torch.jit.script(nn.Conv2d(3, 2, 1)).save(str(path))


def _state_dict(path):
    torch.save(nn.Conv2d(3, 2, 1).state_dict(), str(path))


def _legacy_state_dict(path):
    torch.save(nn.Conv2d(3, 2, 1).state_dict(), str(path), _use_new_zipfile_serialization=False)


def _safetensors(path):
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"conv.weight": np.zeros((2, 3, 1, 1), np.float32)}, str(path))


def _zip(path):
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("model/readme.txt", "not a model")


@pytest.mark.parametrize(
    ("write", "name", "said", "hint"),
    [
        (_torchscript, "model.ts", "a TorchScript archive (torch.jit.save), not ONNX", "--to onnx"),
        (_state_dict, "model.pt", "a PyTorch file (torch.save", "--weights model.pt"),
        (_legacy_state_dict, "model.pt", "a PyTorch file (torch.save's pickle", "--weights model.pt"),
        (_safetensors, "w.safetensors", "a .safetensors file: weights without the network", "--weights w.safetensors"),
        (_zip, "model.zip", "a zip archive, not ONNX", "torch.onnx.export"),
    ],
)
def test_a_model_saved_in_another_format_is_told_as_that_format(write, name, said, hint, tmp_path, monkeypatch,
                                                                capsys):  # fmt: skip
    write(tmp_path / name)
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / name))
    assert code == 2 and out == "" and "Traceback" not in err
    assert said in err and hint in err
    assert "torch.onnx.export" in err or "safetensors" in said  # how to get ONNX from PyTorch
    assert "not a readable ONNX file" not in err


def test_import_does_not_import_torch(tmp_path):
    import subprocess
    import sys

    from tests.test_no_torch import PROBE

    export(load("lenet5"), "onnx", str(tmp_path / "l.onnx"))
    args = ["import", str(tmp_path / "l.onnx"), "-o", str(tmp_path / "l.yaml")]
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, check=True)
    torch_modules, _ = out.stdout.strip().splitlines()[-2:]  # onnx brings typing: only torch is checked
    assert torch_modules == "[]"
    # LeNet-5: 2 convs, 2 pools, 3 fcs; the flatten implicit, the activations inline
    assert (tmp_path / "l.yaml").read_text().count("\n  - ") == 7
    assert (tmp_path / "l.safetensors").is_file()  # its weights too, written without torch (issue 21)


# -- hostile and malformed files (issues 18 and 19) ----------------------------------------------
def _node(op: str, inputs: list, outputs: list, name: str, **attrs):
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=name, **attrs)


def _weights(*dims: int, name: str = "w"):
    import numpy as np

    return onnx_tensor(name, np.zeros(dims))


def _claimed(*dims: int):
    """A float tensor that claims `dims` and holds no values."""
    from onnx import TensorProto

    return TensorProto(name="v", dims=dims, data_type=TensorProto.FLOAT)


def _saved(model, path) -> str:
    import onnx

    onnx.save(model, str(path))
    return str(path)


def _refused(monkeypatch, capsys, path: str, *args: str) -> str:
    """Import `path`: exit code 2, one message naming the file, no traceback; the message."""
    code, out, err = run_main(monkeypatch, capsys, "import", path, *args)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.startswith(f"error: {path}: ") and err.count("error:") == 1, err
    return err


MALFORMED = {
    "a cycle": (
        [_node("Relu", ["c"], ["a"], "r0"), _node("Relu", ["a"], ["c"], "r1")],
        [],
        "ONNX node `r0` (Relu, node 1 of 2): reads `c`, which only a later node makes",
    ),
    "a tensor nothing makes": ([_node("Relu", ["nothing"], ["y"], "r")], [], "nothing in the graph makes"),
    "a node with no output": ([_node("Relu", ["x"], [], "r")], [], "ONNX node `r` (Relu, node 1 of 1): has no output"),
    "a conv with no weights": ([_node("Conv", ["x"], ["y"], "c")], [], "(Conv, node 1 of 1): Conv needs 2 inputs"),
    "a 1-D conv": (
        [_node("Conv", ["x", "w"], ["y"], "c")],
        [_weights(4, 3, 3)],
        "a Conv over 1 dimension: cnnctl's conv is 2-D",
    ),
    "a gemm with no weights": (
        [_node("Flatten", ["x"], ["f"], "f"), _node("Gemm", ["f"], ["y"], "g")],
        [],
        "(Gemm, node 2 of 2): Gemm needs 2 inputs",
    ),
    "a pool with two pads": (
        [_node("MaxPool", ["x"], ["y"], "p", kernel_shape=[2, 2], pads=[1, 1])],
        [],
        "attribute `pads` is `[1, 1]`: cnnctl reads 4 whole numbers",
    ),
    "a mul of one input": ([_node("Mul", ["x"], ["y"], "m")], [], "(Mul, node 1 of 1): Mul needs 2 inputs"),
    "an lrn with no size": ([_node("LRN", ["x"], ["y"], "l")], [], "(LRN, node 1 of 1): needs its attribute `size`"),
    "a resize by infinity": (
        [_node("Resize", ["x", "", "s"], ["y"], "r", mode="nearest")],
        [onnx_tensor("s", [1, 1, float("inf"), float("inf")])],
        "scales by inf: not a whole factor",
    ),
    "a reshape to infinite groups": (  # what no check foresaw: told by the reader's guard, at its node
        [_node("Reshape", ["x", "s"], ["y"], "r")],
        [onnx_tensor("s", [1, float("inf"), 3, 8, 8])],
        "ONNX node `r` (Reshape, node 1 of 1): a malformed Reshape node",
    ),
    "a constant of 50,000 x 50,000": (
        [
            _node("Constant", [], ["s"], "k", value=_claimed(50_000, 50_000)),
            _node("Resize", ["x", "", "s"], ["y"], "r", mode="nearest"),
        ],
        [],
        "the constant `s` of 50,000 x 50,000 values: cnnctl reads constants of at most 64",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_graph_is_one_message_at_its_node(case, tmp_path, monkeypatch, capsys):
    nodes, initializers, said = MALFORMED[case]
    path = _saved(onnx_model(nodes, initializers), tmp_path / "m.onnx")
    assert said in _refused(monkeypatch, capsys, path)


def _resize_model(location: str, folder):
    """A model in `folder` whose Resize scales are external data at `location`."""
    scales = onnx_tensor("s", [1, 1, 2, 2], location)
    model = onnx_model([_node("Resize", ["x", "", "s"], ["y"], "r", mode="nearest")], [scales])
    return _saved(model, folder / "m.onnx")


def test_external_data_is_read_from_the_models_folder_not_the_working_directory(tmp_path, monkeypatch, capsys):
    import numpy as np

    (tmp_path / "model").mkdir()
    (tmp_path / "elsewhere").mkdir()
    _resize_model("scales.bin", tmp_path / "model")
    (tmp_path / "model" / "scales.bin").write_bytes(np.array([1, 1, 2, 2], np.float32).tobytes())
    (tmp_path / "elsewhere" / "scales.bin").write_bytes(np.array([1, 1, 3, 3], np.float32).tobytes())  # a decoy
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, err = run_main(monkeypatch, capsys, "import", "../model/m.onnx")
    assert code == 0, err
    assert "\n  - upsample 2\n" in out  # the model's own scales, not the working directory's 3


@pytest.mark.parametrize("where", ["absolute", "dot-dot", "a link out"])
def test_external_data_outside_the_models_folder_is_refused(where, tmp_path, monkeypatch, capsys):
    import numpy as np

    (tmp_path / "model").mkdir()
    decoy = tmp_path / "decoy.bin"
    decoy.write_bytes(np.array([1, 1, 3, 3], np.float32).tobytes())
    (tmp_path / "model" / "link.bin").symlink_to(decoy)
    location = {"absolute": str(decoy), "dot-dot": "../decoy.bin", "a link out": "link.bin"}[where]
    path = _resize_model(location, tmp_path / "model")
    monkeypatch.chdir(tmp_path / "model")  # where a reader resolving against the working directory looks
    err = _refused(monkeypatch, capsys, path)
    assert "ONNX node `r` (Resize, node 1 of 1): the constant `s` is stored outside the file" in err
    assert "not a file inside the model's folder" in err


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="the open file's own name is read from /proc/self/fd")
def test_external_data_swapped_for_a_link_after_its_check_is_refused(tmp_path, monkeypatch, capsys):
    import numpy as np

    from cnnctl.exchange.onnx_import import file as onnx_file

    (tmp_path / "model").mkdir()
    decoy = tmp_path / "decoy.bin"
    decoy.write_bytes(np.array([1, 1, 3, 3], np.float32).tobytes())
    inside = tmp_path / "model" / "scales.bin"
    inside.write_bytes(np.array([1, 1, 2, 2], np.float32).tobytes())
    path = _resize_model("scales.bin", tmp_path / "model")
    real_open = os.open

    def swapping_open(name, *args):  # another process replaces the file by a link, just after the check
        if str(name).endswith("scales.bin") and not os.path.islink(inside):
            inside.unlink()
            inside.symlink_to(decoy)
        return real_open(name, *args)

    monkeypatch.setattr(onnx_file.os, "open", swapping_open)
    err = _refused(monkeypatch, capsys, path)
    assert "the constant `s` is stored outside the file" in err and "replaced by a link" in err


@pytest.mark.parametrize("kind", ["/dev/zero", "a FIFO"])
def test_only_a_regular_file_is_read(kind, tmp_path, monkeypatch, capsys):
    path = kind
    if kind == "a FIFO":  # opened for reading, it would wait for a writer forever
        path = str(tmp_path / "pipe.onnx")
        os.mkfifo(path)
    err = _refused(monkeypatch, capsys, path)
    assert ("a device" if kind == "/dev/zero" else "a FIFO") in err and "not a regular file" in err


def test_a_file_over_the_size_bound_is_refused_before_it_is_read(tmp_path, monkeypatch, capsys):
    from cnnctl.exchange.onnx_import import file as onnx_file

    path = tmp_path / "big.onnx"
    path.write_bytes(b"\0" * 1001)
    monkeypatch.setattr(onnx_file, "MAX_ONNX_BYTES", 1000)
    assert "1,001 bytes: more than cnnctl reads (1,000)" in _refused(monkeypatch, capsys, str(path))


def test_a_network_that_does_not_build_is_told_at_its_onnx_nodes(tmp_path, monkeypatch, capsys):
    # groups=2 on 3 input channels: read, but the notation's conv refuses it when built
    nodes = [_node("Conv", ["x", "w"], ["a"], "c1", group=2), _node("Relu", ["a"], ["y"], "r1")]
    path = _saved(onnx_model(nodes, [_weights(4, 1, 3, 3)]), tmp_path / "g.onnx")
    err = _refused(monkeypatch, capsys, path, "-o", str(tmp_path / "g.yaml"))
    assert "ONNX nodes `c1` (Conv, node 1 of 2) and `r1` (Relu, node 2 of 2), read as `conv f=3 n=4 groups=2" in err
    assert "groups=2 must divide both the input channels (3) and n (4)" in err and "hint:" in err
    assert "<imported>" not in err and "g.yaml" not in err and not (tmp_path / "g.yaml").exists()


def test_a_repeated_layer_that_does_not_build_is_told_at_its_own_node(tmp_path, monkeypatch, capsys):
    # four identical 3x3 convs on 8x8: 6, 4, 2, then nothing; written as one `repeat: 4`
    nodes = [_node("Conv", [f"c{k - 1}" if k else "x", f"w{k}"], [f"c{k}"], f"conv{k}") for k in range(4)]
    weights = [_weights(3, 3, 3, 3, name=f"w{k}") for k in range(4)]
    path = _saved(onnx_model(nodes, weights), tmp_path / "r.onnx")
    err = _refused(monkeypatch, capsys, path)
    assert "ONNX node `conv3` (Conv, node 4 of 4), read as `conv f=3 n=3 bias=false`: filter 3x3" in err
    assert "input 2x2x3" in err


@pytest.mark.parametrize(
    ("scales", "said"),
    [
        ([1, 1, 1.5, 1.5], "scales by 1.5: not a whole factor"),
        ([1, 1, 0.5, 0.5], "scales by 0.5: not a whole factor"),
        ([2, 1, 2, 2], "scales N and C by 2 and 1"),
        ([1, 2, 2, 2], "scales N and C by 1 and 2"),
    ],
)
def test_a_resize_other_than_by_a_whole_factor_is_refused(scales, said, tmp_path, monkeypatch, capsys):
    model = onnx_model([_node("Resize", ["x", "", "s"], ["y"], "r", mode="nearest")], [onnx_tensor("s", scales)])
    err = _refused(monkeypatch, capsys, _saved(model, tmp_path / "r.onnx"))
    assert f"ONNX node `r` (Resize, node 1 of 1): {said}" in err
    if "not a whole factor" in said:  # what the notation lacks, and so what must change
        assert "the notation has no fractional resize" in err and "the model must change" in err


def test_a_resize_by_a_whole_factor_is_an_upsample(tmp_path, monkeypatch, capsys):
    model = onnx_model([_node("Resize", ["x", "", "s"], ["y"], "r", mode="nearest")], [onnx_tensor("s", [1, 1, 3, 3])])
    code, out, err = run_main(monkeypatch, capsys, "import", _saved(model, tmp_path / "r.onnx"))
    assert code == 0 and out.endswith("layers:\n  - upsample 3\n"), err


@pytest.mark.parametrize(
    ("attributes", "written"),
    [
        ({"coordinate_transformation_mode": "half_pixel"}, "upsample 2 mode=bilinear"),
        ({}, "upsample 2 mode=bilinear"),  # half_pixel: Resize's default
        ({"coordinate_transformation_mode": "pytorch_half_pixel"}, "upsample 2 mode=bilinear"),
        ({"coordinate_transformation_mode": "align_corners"}, "upsample 2 mode=bilinear align_corners=true"),
    ],
)
def test_a_linear_resize_by_a_whole_factor_is_a_bilinear_upsample(attributes, written, tmp_path, monkeypatch, capsys):
    node = _node("Resize", ["x", "", "s"], ["y"], "r", mode="linear", **attributes)
    model = onnx_model([node], [onnx_tensor("s", [1, 1, 2, 2])])
    code, out, err = run_main(monkeypatch, capsys, "import", _saved(model, tmp_path / "r.onnx"))
    assert code == 0 and out.endswith(f"layers:\n  - {written}\n"), err


@pytest.mark.parametrize(
    ("attributes", "scales", "said"),
    [
        ({"mode": "cubic"}, [1, 1, 2, 2], "cubic interpolation"),
        *(
            ({"coordinate_transformation_mode": where}, [1, 1, 2, 2], f"with coordinate_transformation_mode `{where}`")
            for where in ("asymmetric", "tf_crop_and_resize", "half_pixel_symmetric", "tf_half_pixel_for_nn")
        ),
        ({"exclude_outside": 1}, [1, 1, 2, 2], "linear interpolation with exclude_outside=1"),
        ({"antialias": 1}, [1, 1, 0.5, 0.5], "scales by 0.5: not a whole factor"),  # antialias filters this
        ({}, [1, 1, 2, 3], "scales height by 2 and width by 3"),
        ({}, [1, 1, 1.5, 1.5], "scales by 1.5: not a whole factor"),
    ],
)
def test_a_linear_resize_other_than_pytorchs_bilinear_is_refused(
    attributes, scales, said, tmp_path, monkeypatch, capsys
):
    attributes = {"mode": "linear", **attributes}
    model = onnx_model(
        [_node("Resize", ["x", "", "s"], ["y"], "r", **attributes)], [onnx_tensor("s", scales)], opset=19
    )
    err = _refused(monkeypatch, capsys, _saved(model, tmp_path / "r.onnx"))
    assert "ONNX node `r` (Resize, node 1 of 1): " in err and said in err and err.count("error:") == 1


@pytest.mark.parametrize("corners", ["half_pixel", "align_corners"])
def test_an_antialiased_linear_resize_that_upscales_is_a_bilinear_upsample(corners, tmp_path, monkeypatch, capsys):
    # ONNX's antialias filters only when a scale is below 1: upscaling by 2 it changes nothing,
    # as ONNX Runtime's outputs with it on and off show, so it is read as the plain upsample
    ort = pytest.importorskip("onnxruntime")
    import numpy as np

    def resize(antialias: int):
        node = _node("Resize", ["x", "", "s"], ["y"], "r", mode="linear", antialias=antialias,
                     coordinate_transformation_mode=corners)  # fmt: skip
        return onnx_model([node], [onnx_tensor("s", [1, 1, 2, 2])], opset=19)

    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    outputs = [
        ort.InferenceSession(resize(on).SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for on in (0, 1)
    ]
    # the same to float32 rounding (the antialiased kernel sums its weights in another order)
    assert outputs[0].shape == (1, 3, 16, 16) and np.allclose(outputs[0], outputs[1], rtol=0, atol=1e-6)
    code, out, err = run_main(monkeypatch, capsys, "import", _saved(resize(1), tmp_path / "r.onnx"))
    written = "upsample 2 mode=bilinear" + (" align_corners=true" if corners == "align_corners" else "")
    assert code == 0 and out.endswith(f"layers:\n  - {written}\n"), err
    imported = to_torch(load_text(out)).eval()  # and it computes what ONNX Runtime does
    with torch.no_grad():
        assert np.allclose(imported(torch.from_numpy(x)).numpy(), outputs[1], atol=1e-5)


def test_upsamples_linear_mode_is_not_pytorchs_bilinear(tmp_path, monkeypatch, capsys):
    # opset 9's Upsample samples output o at o/scale (ONNX Runtime: asymmetric), which neither of
    # PyTorch's bilinear modes does: told, with the way out
    model = onnx_model(
        [_node("Upsample", ["x", "s"], ["y"], "u", mode="linear")], [onnx_tensor("s", [1, 1, 2, 2])], opset=9
    )
    err = _refused(monkeypatch, capsys, _saved(model, tmp_path / "u.onnx"))
    assert "ONNX node `u` (Upsample, node 1 of 1): Upsample's linear mode" in err and "newer opset" in err


def test_import_help_lists_every_operator_the_reader_reads(monkeypatch, capsys):
    from cnnctl.exchange.onnx_import import OPERATORS

    code, out, _ = run_main(monkeypatch, capsys, "import", "--help")
    words = set(out.replace(",", " ").replace(";", " ").replace("(", " ").split())
    assert code == 0 and set(OPERATORS) <= words
    # those the review found missing, by name: the table itself could have lost them
    assert {"LayerNormalization", "LRN", "Slice", "Reshape", "Transpose", "Identity", "Dropout"} <= words


def test_an_activation_joins_every_kind_that_takes_act():
    """FUSES is every kind with an `act=` argument (layer norm and group norm have one too)."""
    from cnnctl.exchange.onnx_import import FUSES
    from cnnctl.layers import KINDS

    takes_act = {name for name, kind in KINDS.items() if "act" in [a.name for a in kind.args]}
    assert {"conv", "deconv", "fc", "bn", "layernorm", "groupnorm", "add", "mul"} <= takes_act
    assert set(FUSES) == takes_act


def test_a_relu_after_a_layer_norm_is_read_as_its_act(tmp_path):
    graph = load_text("input: 8x8x3\nlayers:\n  - conv f=3 n=4\n  - layernorm\n  - relu\n  - pool avg global\n")
    export(graph, "onnx", str(tmp_path / "ln.onnx"))
    text = import_onnx(str(tmp_path / "ln.onnx"))
    assert "  - layernorm act=relu\n" in text and "  - relu\n" not in text
    back = load_text(text)
    assert (back.params, back.flops, back.output_shape) == (graph.params, graph.flops, graph.output_shape)


@pytest.mark.parametrize("op", ["Relu", "Sigmoid", "Tanh", "HardSwish", "Elu", "Gelu", "Mish"])
def test_each_activation_operator_is_read_as_its_kind(op, tmp_path, monkeypatch, capsys):
    model = onnx_model([_node(op, ["x"], ["y"], "a")], [])
    code, out, err = run_main(monkeypatch, capsys, "import", _saved(model, tmp_path / "a.onnx"))
    assert code == 0 and out.endswith(f"layers:\n  - {op.lower()}\n"), err


# -- a radix softmax (issue 24): Reshape to N x radix x ..., Softmax over axis 1, Reshape back ----
def _radix_model(grid: list, back: list = (-1, 4, 2, 2)):
    import numpy as np
    from onnx import numpy_helper

    shapes = [numpy_helper.from_array(np.array(v, np.int64), name) for name, v in (("grid", grid), ("back", back))]
    nodes = [
        _node("Conv", ["x", "w"], ["c"], "conv"),
        _node("Reshape", ["c", "grid"], ["g"], "grid"),
        _node("Softmax", ["g"], ["s"], "softmax", axis=1),
        _node("Reshape", ["s", "back"], ["y"], "back"),
    ]
    return onnx_model(nodes, [_weights(4, 3, 1, 1), *shapes], shape=(1, 3, 2, 2))


def test_a_softmax_across_equal_parts_of_the_channels_is_an_rsoftmax(tmp_path, monkeypatch, capsys):
    path = _saved(_radix_model([-1, 2, 2, 2, 2]), tmp_path / "r.onnx")
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 0, err
    assert "\n  - rsoftmax 2\n" in out


def test_a_softmax_across_a_reshape_that_mixes_the_examples_is_one_message(tmp_path, monkeypatch, capsys):
    # 1 x 4 x 2 x 2 read as 2 x 2 x 2 x 2 x 1: the first axis is not the batch's
    path = _saved(_radix_model([2, 2, 2, 2, 1]), tmp_path / "r.onnx")
    assert "a softmax across a reshape that mixes the examples" in _refused(monkeypatch, capsys, path)


# -- GRN and ECA's channel convolution, as torch.onnx.export writes the hand-written modules ---------
class TimmGRN(nn.Module):
    """A conv, then GRN as timm's GlobalResponseNorm writes it channels first (its gamma and
    beta joined by addcmul): x + beta + gamma * (x * N), N = ||x||_HW / (mean_C ||x||_HW + 1e-6)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.weight, self.bias = nn.Parameter(torch.randn(8)), nn.Parameter(torch.randn(8))

    def forward(self, x):
        x = self.conv(x)
        g = x.norm(p=2, dim=(2, 3), keepdim=True)
        n = g / (g.mean(dim=1, keepdim=True) + 1e-6)
        return x + torch.addcmul(self.bias.view(1, -1, 1, 1), self.weight.view(1, -1, 1, 1), x * n)


class PaperECA(nn.Module):
    """A conv, then ECA as its authors' code writes it: the pooled channels through a Conv1d of
    3 taps (no bias) between a squeeze and transposes, a sigmoid, each channel scaled."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.eca = nn.Conv1d(1, 1, 3, padding=1, bias=False)

    def forward(self, x):
        x = self.conv(x)
        y = nn.functional.adaptive_avg_pool2d(x, 1)
        y = self.eca(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * torch.sigmoid(y)


@pytest.mark.parametrize(
    ("module", "kind", "params"), [(TimmGRN, "grn", 8 * 3 + 8 + 2 * 8), (PaperECA, "channelconv 3", 8 * 3 + 8 + 3)]
)
def test_hand_written_grn_and_eca_import_with_their_weights(module, kind, params, tmp_path):
    from cnnctl.exchange.onnx_import import read_weights

    reference = module().eval()
    path = tmp_path / "hand.onnx"
    x = torch.randn(2, 3, 5, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(reference, (x[:1],), str(path), dynamo=False)
    got = read_weights(str(path))
    assert f"- {kind}\n" in got.text and got.graph.params == params  # the conv's 32 and the layer's own
    rebuilt = to_torch(got.graph).eval()
    placement = place_imported(rebuilt, {name: got.array(name) for name in got.shapes}, tmp_path)
    assert len(placement.placed) == len(rebuilt.state_dict())
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), reference(x), atol=1e-5)


# -- what cnnctl's own export records, read back (the item G) ---------------------------
SMALL = "name: tiny\ninput: 6x6x3\nlayers: [conv f=3 n=4 act=relu, fc 5 act=softmax]\n"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's: float32 can hold them only rounded
CLASSES = ("ant", "bee", "cat", "dog", "eel")


def _exported(path, preprocessing: bool = False):
    """SMALL exported by cnnctl with weights, normalisation MEAN and STD and CLASSES (as a
    checkpoint's would give), to `path`; the module whose weights it holds."""
    from cnnctl.exchange.export import Trained

    torch.manual_seed(0)
    model = to_torch(load_text(SMALL)).eval()
    export(load_text(SMALL), "onnx", str(path), Trained(model, "test", MEAN, STD, CLASSES), preprocessing)
    return model


def test_import_keeps_the_name_normalisation_and_classes_cnnctl_export_recorded(tmp_path):
    # The file is named `x.onnx` and torch names its graph `main_graph`: the network's name
    # comes from the metadata export wrote, as do the mean and std (a `train:` section, which
    # training from the weights takes) and the classes (said in a comment).
    _exported(tmp_path / "x.onnx")
    text = import_onnx(str(tmp_path / "x.onnx"))
    assert "\nname: tiny\n" in text
    assert text.endswith("train:\n  mean: 0.485,0.456,0.406\n  std: 0.229,0.224,0.225\n")
    assert "# Trained on 5 classes, by output index: ant, bee, cat, dog, eel\n" in text
    assert load_text(text).name == "tiny"  # the file written is a valid network file, its train: section too
    assert "name: renamed" in import_onnx(str(tmp_path / "x.onnx"), "renamed")  # --name still decides


def test_an_export_with_preprocessing_imports_as_the_network_behind_its_prelude(tmp_path):
    # --with-preprocessing writes uint8 NHWC pixels -> Transpose -> Cast -> Div 255 -> Sub mean
    # -> Div std before the network: read as the network's normalisation, the network after it
    # imported with the same text and weights as the plain export's.
    from cnnctl.exchange.onnx_import import read_weights

    model = _exported(tmp_path / "plain.onnx")
    _exported(tmp_path / "inside.onnx", preprocessing=True)
    plain, inside = (read_weights(str(tmp_path / f)) for f in ("plain.onnx", "inside.onnx"))
    body = [line for line in inside.text.splitlines() if not line.startswith("# ")]
    assert body == [line for line in plain.text.splitlines() if not line.startswith("# ")]
    assert "# 11 ONNX nodes read as 2 layers, after the prelude that takes uint8 NHWC pixels" in inside.text
    assert "input: 6x6x3\n" in inside.text and "  mean: 0.485,0.456,0.406\n" in inside.text  # float32's shortest
    expected = {name: t.numpy() for name, t in model.state_dict().items()}
    assert set(inside.shapes) == set(expected)
    for name in expected:
        assert (inside.array(name) == expected[name]).all(), name


def _uint8_model(nodes, initializers=()):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 8, 8, 3])
    y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("divisor", [255.0, 256.0])
def test_uint8_pixels_read_otherwise_than_cnnctls_prelude_are_one_message(divisor, tmp_path, monkeypatch, capsys):
    # A Div by 256 is not the prelude cnnctl writes (nor is a graph of uint8 NHWC pixels without
    # the rest of it): one message at the node reading the pixels, with the way out.
    import numpy as np

    prelude = [
        _node("Transpose", ["x"], ["t"], "tr", perm=[0, 3, 1, 2]),
        _node("Cast", ["t"], ["f"], "cast", to=1),
        _node("Div", ["f", "k"], ["s"], "scale"),
        _node("Sub", ["s", "mean"], ["c"], "centre"),
        _node("Div", ["c", "std"], ["n"], "norm"),
        _node("Conv", ["n", "w"], ["y"], "conv", kernel_shape=[3, 3]),
    ]
    stored = [onnx_tensor("k", np.float32(divisor)), onnx_tensor("mean", np.full((1, 3, 1, 1), 0.5)),
              onnx_tensor("std", np.full((1, 3, 1, 1), 0.25)), _weights(4, 3, 3, 3)]  # fmt: skip
    path = _saved(_uint8_model(prelude, stored), tmp_path / "u.onnx")
    if divisor == 255.0:  # the prelude itself: the conv after it, on 8x8x3, normalised by its mean and std
        text = import_onnx(path)
        assert "input: 8x8x3\n" in text and text.endswith("train:\n  mean: 0.5,0.5,0.5\n  std: 0.25,0.25,0.25\n")
        return
    err = _refused(monkeypatch, capsys, path)
    assert "ONNX node `tr` (Transpose, node 1 of 6): the input `x` is uint8 pixels" in err
    assert "hint: export the network without --with-preprocessing" in err


def test_import_format_json_without_output_prints_json_with_the_text(tmp_path, monkeypatch, capsys):
    import json

    _exported(tmp_path / "x.onnx")
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "x.onnx"), "--format", "json")
    assert code == 0, err
    said = json.loads(out)
    graph = load_text(SMALL)
    assert said["text"] == import_onnx(str(tmp_path / "x.onnx")) and said["file"] is None
    assert (said["name"], said["layers"], said["params"], said["mults"]) == ("tiny", 2, graph.params, graph.mults)
    assert (said["input"], said["output"]) == ("6x6x3", "5")  # volumes in JSON as every command writes them


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("cnnctl.mean", "[NaN, 0.5, 0.5]", "its metadata `cnnctl.mean` holds a number that is not finite"),
        ("cnnctl.mean", '["a", "b", "c"]', "its metadata `cnnctl.mean` is not a list of numbers"),
        ("cnnctl.mean", "[0.5, 0.5]", "its metadata `cnnctl.std` holds 3 numbers and `cnnctl.mean` 2"),
        ("cnnctl.mean", "[" * 100_000, "its metadata `cnnctl.mean` is not JSON"),
        ("cnnctl.mean", f"[1{'0' * 400}, 0.5, 0.5]", "its metadata `cnnctl.mean` holds a number that is not finite"),
        ("cnnctl.std", "[0.5, 0, 0.5]", "its metadata `cnnctl.std` holds 0"),
        ("cnnctl.std", "[1]" + " " * 17_000_000, "its metadata `cnnctl.std` holds 17,000,003 characters"),
        ("cnnctl.classes", '{"a": 1}', "its metadata `cnnctl.classes` is not a list of names"),
        ("cnnctl.classes", '["a\\u001b[2J", "b"]', "its metadata `cnnctl.classes` holds the name `a\\x1b[2J`"),
        ("cnnctl.name", "two\nlines", "its metadata `cnnctl.name` is `two\\nlines`"),
    ],
)
def test_a_bad_value_in_cnnctls_metadata_is_one_message_naming_the_key(key, value, said, tmp_path, monkeypatch,
                                                                        capsys):  # fmt: skip
    import onnx

    _exported(tmp_path / "x.onnx")
    model = onnx.load(str(tmp_path / "x.onnx"))
    onnx.helper.set_model_props(model, {p.key: p.value for p in model.metadata_props} | {key: value})
    path = _saved(model, tmp_path / "x.onnx")
    assert said in _refused(monkeypatch, capsys, path)


def test_the_record_of_an_onnx_file_is_parsed_once_until_the_file_changes(tmp_path, monkeypatch):
    # --weights FILE.onnx asks for the mean and std, then the classes: one parse of a file of up
    # to 2 GiB for both; a file written again in between is read again.
    import os

    from cnnctl.exchange import onnx_import
    from cnnctl.exchange.weights import onnx_record

    path = tmp_path / "x.onnx"
    _exported(path)
    parsed = []
    real = onnx_import.read_onnx
    monkeypatch.setattr(onnx_import, "read_onnx", lambda p: parsed.append(p) or real(p))
    first = onnx_record(str(path))
    first["classes"].append("mutated")  # a caller's copy: the next reader still gets the file's
    assert onnx_record(str(path))["classes"] == ["ant", "bee", "cat", "dog", "eel"]
    assert len(parsed) == 1
    os.utime(path, ns=(1, 1))  # as if written again
    assert onnx_record(str(path))["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert len(parsed) == 2


def test_an_exported_file_of_another_networks_channels_is_told_as_that_networks(tmp_path, monkeypatch, capsys):
    # Once: "the channel mean ... has 3 values for a network of 1 input channel", as if the mean were the mistake.
    from tests.helpers import run_main

    _exported(tmp_path / "x.onnx")  # tiny: 3 input channels, its mean one number per channel
    Image = pytest.importorskip("PIL.Image")
    Image.new("L", (32, 32)).save(tmp_path / "a.png")
    code, out, err = run_main(monkeypatch, capsys, "predict", "lenet5", "--weights", str(tmp_path / "x.onnx"),
                              str(tmp_path / "a.png"), "--device", "cpu")  # fmt: skip
    assert code == 2 and err.count("error:") == 1
    # the file states its input (cnnctl.input), said as a run's checkpoint says it
    assert "holds tiny's weights (trained at input 6x6x3: 3 channels), not lenet5's (1 input channel)" in err


# -- stored weights that do not fit their layer, or hold nothing (F2 item 5) ---------------------
@pytest.mark.parametrize("written", [False, True])
def test_a_stored_weight_that_does_not_fit_its_layer_is_told_at_its_node(written, tmp_path, monkeypatch, capsys):
    # a Conv whose weight takes 5 channels, on a 3-channel input: 4 x 3 x 3 x 3 is what the layer needs
    model = onnx_model([_node("Conv", ["x", "w"], ["y"], "badconv", pads=[1, 1, 1, 1])], [_weights(4, 5, 3, 3)])
    path = _saved(model, tmp_path / "bad.onnx")
    err = _refused(monkeypatch, capsys, path, *(["-o", str(tmp_path / "bad.yaml")] if written else []))
    assert "ONNX node `badconv` (Conv, node 1 of 1): its weight `w` is 4x5x3x3" in err
    assert "needs 4x3x3x3" in err and not (tmp_path / "bad.yaml").exists()


def test_a_weight_with_no_values_and_an_output_the_file_declares_otherwise_are_told(tmp_path, monkeypatch, capsys):
    from onnx import TensorProto, helper

    # an fc of 1,000 x 3 whose values were removed, its bias of 10, the output declared 1 x 10
    weight = TensorProto(name="fc.weight", dims=[1000, 3], data_type=TensorProto.FLOAT)
    nodes = [
        _node("GlobalAveragePool", ["x"], ["p"], "pool"),
        _node("Flatten", ["p"], ["f"], "flatten"),
        _node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], "fc", transB=1),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[weight, _weights(10, name="fc.bias")])
    path = _saved(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "h.onnx")
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err and err.count("error:") == 3, err
    said = "(Gemm, node 3 of 3), the graph's output `y` is declared 1x10 (10 per image), and the network read gives"
    assert f"{said} 1000" in err
    assert "the stored `fc.weight` of 1,000 x 3 values holds none" in err
    assert "its bias `fc.bias` is 10, and the layer read, `fc 1000` on 1x1x3, needs 1000" in err


@pytest.mark.parametrize("name", ["my net: {x}", "#1 - [a, b]", "yes", "- x", 'it\'s "q"', "a\nb", "x\u2028y"])
def test_a_hostile_name_is_written_quoted_and_reads_back_as_given(name, tmp_path, monkeypatch, capsys):
    path = _saved(onnx_model([_node("Relu", ["x"], ["y"], "r")], []), tmp_path / "r.onnx")
    code, out, err = run_main(monkeypatch, capsys, "import", path, "--name", name, "-o", str(tmp_path / "n.yaml"))
    assert code == 0, err
    text = (tmp_path / "n.yaml").read_text()
    assert load(str(tmp_path / "n.yaml")).name == name
    assert len(text.splitlines()) == len(text.split("\n")) - 1  # the header's lines as written: one a line


def test_a_name_not_utf8_is_written_as_its_bytes_escaped(tmp_path, monkeypatch, capsys):
    # `--name "$(printf 'n\xe9')"` (a Latin-1 shell): Python holds the byte as a surrogate, which
    # YAML cannot hold; it was written `"n\uDCE9"`, and reading it back failed (exit 2). Written as
    # its bytes, `n\xe9` (a backslash, no surrogate), as every message shows such a name.
    path = _saved(onnx_model([_node("Relu", ["x"], ["y"], "r")], []), tmp_path / "r.onnx")
    name = b"n\xe9".decode(errors="surrogateescape")
    code, out, err = run_main(monkeypatch, capsys, "import", path, "--name", name, "-o", str(tmp_path / "n.yaml"))
    assert code == 0 and "Traceback" not in err, err
    assert load(str(tmp_path / "n.yaml")).name == "n\\xe9"
    assert f"wrote {tmp_path / 'n.yaml'}: n\\xe9, " in out


def test_a_file_name_not_utf8_is_shown_as_its_bytes_in_the_lines_written(tmp_path, monkeypatch, capsys):
    # `-o "$(printf 'o\xe9').yaml"`: Python holds the byte as a surrogate; the "wrote" lines
    # printed it raw, where every message writes `o\xe9.yaml` (printable), as export's do.
    path = _saved(onnx_model([_node("Conv", ["x", "w"], ["y"], "c")], [_weights(4, 3, 1, 1)]), tmp_path / "r.onnx")
    stem = str(tmp_path / b"o\xe9".decode(errors="surrogateescape"))
    code, out, err = run_main(monkeypatch, capsys, "import", path, "-o", stem + ".yaml")
    assert code == 0 and os.path.isfile(stem + ".yaml") and os.path.isfile(stem + ".safetensors"), err
    shown = f"{tmp_path}/o\\xe9"  # a backslash: the byte's escape
    lines = out.splitlines()
    assert lines[0].startswith(f"wrote {shown}.yaml: ") and lines[1].startswith(f"wrote {shown}.safetensors: ")
    assert f"`cnnctl train {shown}.yaml --weights {shown}.safetensors`" in lines[1]
    assert lines[-1] == f"(`cnnctl summarize {shown}.yaml` for the rest)" and "\udce9" not in out


def test_a_folder_where_the_weights_go_is_told_as_the_weights_with_a_hint_for_o(tmp_path, monkeypatch, capsys):
    path = _saved(onnx_model([_node("Conv", ["x", "w"], ["y"], "c")], [_weights(4, 3, 1, 1)]), tmp_path / "r.onnx")
    (tmp_path / "d.safetensors").mkdir()
    err = _refused_anywhere(monkeypatch, capsys, path, "-o", str(tmp_path / "d.yaml"))
    assert f"the weights go beside -o {tmp_path / 'd.yaml'}, to {tmp_path / 'd.safetensors'}: a folder is there" in err
    assert f"hint: name another network file, e.g. -o {tmp_path / 'd_imported.yaml'}" in err
    assert "d.safetensors/" not in err and not (tmp_path / "d.yaml").exists()


def _refused_anywhere(monkeypatch, capsys, *args: str) -> str:
    """`cnnctl import ARGS`: exit code 2, one message, no traceback; the message."""
    code, out, err = run_main(monkeypatch, capsys, "import", *args)
    assert code == 2 and out == "" and "Traceback" not in err and err.count("error:") == 1, err
    return err


# -- what the reading changed, said (F2 items 8 and 12) -------------------------------------------
@pytest.mark.parametrize("mode", ["EVAL", "PRESERVE", "TRAINING"])
def test_folded_and_training_mode_batch_norms_are_said(mode, tmp_path, monkeypatch, capsys):
    path = tmp_path / "hand.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        how = {"training": getattr(torch.onnx.TrainingMode, mode), "do_constant_folding": mode == "EVAL"}
        torch.onnx.export(HandVGG().eval(), (torch.randn(1, 3, 16, 16),), str(path), dynamo=False, **how)
    code, out, err = run_main(monkeypatch, capsys, "import", str(path), "-o", str(tmp_path / "h.yaml"))
    assert code == 0, err
    header = (tmp_path / "h.yaml").read_text().split("version: 1")[0]
    folded = "weights PyTorch's exporter folded a batch norm into" in out
    training = "training_mode=1 (each batch normalised by its own statistics); read as `bn`" in out
    assert (folded, training) == (mode == "EVAL", mode == "TRAINING"), out
    assert header.count("# Note: ") == out.count("note: ") == int(folded or training)


@pytest.mark.parametrize(("half", "cast"), [(True, False), (False, False), (True, True)])
def test_weights_stored_in_float16_are_said_in_one_line(half, cast, tmp_path, monkeypatch, capsys):
    # a model exported in half precision imported as any other once; the figures are float32's: said. So is a
    # float16 weight the graph casts to float32 before its Conv (N3 item 1: once said of the direct one alone)
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    kind, dtype = (TensorProto.FLOAT16, np.float16) if half and not cast else (TensorProto.FLOAT, np.float32)
    x = helper.make_tensor_value_info("x", kind, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", kind, None)
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), dtype=np.float16 if half else dtype), "w")
    nodes = [_node("Cast", ["w"], ["w32"], "cast", to=TensorProto.FLOAT)] if cast else []
    nodes.append(_node("Conv", ["x", "w32" if cast else "w"], ["y"], "conv"))
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[w])
    path = _saved(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "h.onnx")
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    said = "the weights are stored as float16: the figures assume float32; `cnnctl summarize --dtype float16`"
    assert code == 0 and out.count(said) == int(half) and out.endswith("  - conv f=3 n=4 bias=false\n"), out


def _laid_out_model(shape_of_conv: list):
    """A conv, a layer scale on it, their sum, an fc, each weight stored otherwise and laid out in the graph
    (as torch.onnx.export with do_constant_folding=False writes it): the conv's `stem.weight` as in x out x taps,
    transposed and reshaped to `shape_of_conv`; its bias 1 x 4, squeezed; the scale 4, unsqueezed to 4 x 1 x 1;
    the fc's 5 x 144 stored as float16, cast to float32 and transposed; its bias through an Identity.
    Returns (the model, the stored arrays)."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    rng = np.random.default_rng(4)
    stored = {
        "stem.weight": rng.standard_normal((3, 4, 9)).astype(np.float32),
        "stem.bias": rng.standard_normal((1, 4)).astype(np.float32),
        "gamma": rng.standard_normal(4).astype(np.float32),
        "head.weight": rng.standard_normal((5, 144)).astype(np.float16),
        "head.bias": rng.standard_normal(5).astype(np.float32),
    }
    nodes = [
        _node("Transpose", ["stem.weight"], ["wt"], "/stem/Transpose", perm=[1, 0, 2]),
        _node("Reshape", ["wt", "to"], ["w"], "/stem/Reshape"),
        _node("Squeeze", ["stem.bias", "first"], ["b"], "/stem/Squeeze"),
        _node("Conv", ["x", "w", "b"], ["c"], "/stem/Conv"),
        _node("Unsqueeze", ["gamma", "last_two"], ["g"], "/scale/Unsqueeze"),
        _node("Mul", ["c", "g"], ["m"], "/scale/Mul"),
        _node("Add", ["c", "m"], ["s"], "/sum/Add"),
        _node("Flatten", ["s"], ["f"], "/flat/Flatten"),
        _node("Cast", ["head.weight"], ["hw"], "/head/Cast", to=TensorProto.FLOAT),
        _node("Transpose", ["hw"], ["hwt"], "/head/Transpose"),  # no perm: the dims reversed
        _node("MatMul", ["f", "hwt"], ["p"], "/head/MatMul"),
        _node("Identity", ["head.bias"], ["hb"], "/head/Identity"),
        _node("Add", ["p", "hb"], ["y"], "/head/Add"),
    ]
    shapes = [_int64s("to", shape_of_conv), _int64s("first", [0]), _int64s("last_two", [1, 2])]
    return onnx_model(nodes, [*(numpy_helper.from_array(v, k) for k, v in stored.items()), *shapes]), stored


def test_weights_laid_out_in_the_graph_are_folded_and_read_as_stored(tmp_path):
    # L3: what constant folding would have stored is what is read: each weight's values as numpy lays them out,
    # the outputs onnxruntime gives on the file, the conv's id from its stored weight's name (`stem.weight`)
    import numpy as np

    ort = pytest.importorskip("onnxruntime")
    from cnnctl.exchange.onnx_import import read_weights

    model, stored = _laid_out_model([0, 0, 3, -1])  # 0: the size at that place (4, 3); -1: the rest (3)
    path = _saved(model, tmp_path / "nf.onnx")
    got = read_weights(path)
    assert got.text.split("layers:\n")[1] == (
        "  - conv f=3 n=4 id=stem\n  - layerscale id=scale\n  - add from=stem,scale\n  - fc 5\n"
    )
    expected = {
        "stem.weight": stored["stem.weight"].transpose(1, 0, 2).reshape(4, 3, 3, 3),
        "stem.bias": stored["stem.bias"][0],
        "scale.weight": stored["gamma"].reshape(4, 1, 1),
        "fc1.weight": stored["head.weight"].astype(np.float32),  # torch's Linear: out x in, as stored
        "fc1.bias": stored["head.bias"],
    }
    assert got.shapes == {name: values.shape for name, values in expected.items()}
    assert all(np.array_equal(got.array(name), values) for name, values in expected.items())
    # what reading them costs: the stored tensors, once each, as the file declares them (float16: 2 bytes)
    assert {(t.name, t.values, t.bytes) for t in got.stored()} == {
        (name, v.size, v.nbytes) for name, v in stored.items()
    }
    rebuilt = to_torch(got.graph).eval()
    placement = place_imported(rebuilt, {name: got.array(name) for name in got.shapes}, tmp_path)
    assert placement.by_name and len(placement.placed) == len(rebuilt.state_dict())
    x = np.random.default_rng(5).standard_normal((1, 3, 8, 8)).astype(np.float32)
    theirs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        assert np.allclose(rebuilt(torch.from_numpy(x)).numpy(), theirs, rtol=1e-5, atol=1e-5)


def test_a_weight_reshaped_to_another_count_is_not_folded_but_told_at_its_node(tmp_path, monkeypatch, capsys):
    # 108 values are not 5 x ? x 3 x 3: no stored value is made; told once, at the Reshape (the conv reading it is not)
    path = _saved(_laid_out_model([5, -1, 3, 3])[0], tmp_path / "bad.onnx")
    err = _refused(monkeypatch, capsys, path)
    assert err == (
        f"error: {path}: ONNX node `/stem/Reshape` (Reshape, node 2 of 13): reshapes the stored `wt` of 4x3x9 to "
        "`[5, -1, 3, 3]`: not its 108 values\n  hint: the file's graph does not fit its own weights: "
        "onnx.checker.check_model(model, full_check=True) says more\n"
    )


def test_an_fc_without_bias_comes_back_from_its_export(tmp_path):
    # F2 item 6: exported as Flatten, then MatMul by its stored W^T (a Gemm has a bias); the last, the graph's output
    text = "input: 8x8x3\nlayers: [conv f=3 n=4 act=relu, fc 10 bias=false act=relu, fc 5 bias=false]"
    check_round_trip(load_text(text), tmp_path)
    text = import_onnx(str(tmp_path / "net.onnx"))
    assert "  - fc 10 bias=false act=relu\n  - fc 5 bias=false\n" in text


def test_mish_written_out_comes_back_from_its_export_and_softplus_alone_is_told(tmp_path, monkeypatch, capsys):
    # F2 items 6 and 7: opset 20 has no Mish operator: torch writes x * tanh(softplus(x))
    check_round_trip(load_text("input: 8x8x3\nlayers: [conv f=3 n=4 act=mish, mish, fc 5]"), tmp_path)
    assert "  - conv f=3 n=4 act=mish\n  - mish\n" in import_onnx(str(tmp_path / "net.onnx"))
    path = _saved(onnx_model([_node("Softplus", ["x"], ["y"], "s")], []), tmp_path / "s.onnx")
    err = _refused(monkeypatch, capsys, path)
    assert "(Softplus, node 1 of 1): no cnnctl layer kind does this" in err
    assert "hint: softplus alone has no cnnctl kind; x * tanh(softplus(x)) is read as mish" in err


def _int64s(name: str, values: list):
    import numpy as np
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array(values, np.int64), name)


def _two_inputs():
    from onnx import TensorProto, helper

    shapes = (("a", [1, 3, 8, 8]), ("b", [1, 1, 8, 8]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in shapes]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([_node("Add", ["a", "b"], ["y"], "add")], "g", inputs, [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


SAID_WITH_SHAPES = {  # F2 item 7: what is not read, told with its sizes or attributes and a hint
    "a reshape to N x C x 1": (
        lambda: onnx_model([_node("Reshape", ["x", "s"], ["y"], "r")], [_int64s("s", [1, 192, 1])]),
        "a reshape other than a channel shuffle's or a flatten's (to N x -1): 1x3x8x8 to 1x192x1",
        "hint: cnnctl reads a Reshape as a flatten",
    ),
    "a gemm of alpha 2": (
        lambda: onnx_model(
            [_node("Flatten", ["x"], ["f"], "f"), _node("Gemm", ["f", "w"], ["y"], "g", alpha=2.0, transB=1)],
            [_weights(5, 192)],
        ),
        "(Gemm, node 2 of 2): a Gemm with alpha=2: only x @ W^T + b",
        "hint: an fc is x @ W^T + b",
    ),
    "a 1-D network": (
        lambda: onnx_model([_node("Relu", ["x"], ["y"], "r")], [], shape=(1, 2, 32)),
        "its input is 1x2x32 (N x C x L: a 1-D network, nn.Conv1d's)",
        "hint: a 1-D network is read written as a 2-D one of height 1",
    ),
    "a deconv with output_shape": (
        lambda: onnx_model(
            [_node("ConvTranspose", ["x", "w"], ["y"], "d", strides=[2, 2], output_shape=[17, 17])],
            [_weights(3, 4, 3, 3)],
        ),
        "(ConvTranspose, node 1 of 1): output_shape `[17, 17]` given instead of the padding",
        "hint: cnnctl's deconv is (n - 1)·s - 2p + f + op per side",
    ),
    "a deconv with output_padding of its stride": (
        lambda: onnx_model(
            [_node("ConvTranspose", ["x", "w"], ["y"], "d", strides=[2, 2], output_padding=[2, 1])],
            [_weights(3, 4, 3, 3)],
        ),
        "(ConvTranspose, node 1 of 1), read as `deconv f=3 s=2 n=4 op=2x1 bias=false`: output padding 2x1: its "
        "height 2 is not less than the stride 2 or the dilation 1 (input 8x8x3)",
        "hint: output padding keeps rows the filters reach",
    ),
    "two inputs": (_two_inputs, "the graph has 2 inputs: `a` (1x3x8x8), `b` (1x1x8x8)", "hint: export the network"),
}


@pytest.mark.parametrize("case", list(SAID_WITH_SHAPES))
def test_what_is_not_read_is_told_with_its_shapes_and_a_hint(case, tmp_path, monkeypatch, capsys):
    make, said, hint = SAID_WITH_SHAPES[case]
    err = _refused(monkeypatch, capsys, _saved(make(), tmp_path / "m.onnx"))
    assert said in err and hint in err, err


def test_an_average_pool_without_the_padding_comes_back_from_its_export(tmp_path):
    written = load_text("input: 9x9x3\nlayers: [conv f=3 n=8, pool avg f=3 s=1 p=1 count_pad=false, fc 5]")
    check_round_trip(written, tmp_path)
    assert "  - pool avg f=3 s=1 p=1 count_pad=false\n" in import_onnx(str(tmp_path / "net.onnx"))


def test_a_deconv_with_output_padding_comes_back_from_its_export(tmp_path):
    # nn.ConvTranspose2d(..., output_padding=1): exactly twice the size at f=3 s=2 p=1, both ways
    written = load_text("input: 7x9x3\nlayers: [deconv f=3 s=2 p=1 op=1 n=4 act=relu, deconv f=3 s=2 p=1 op=1x0 n=2]")
    assert written.nodes[0].shape == (14, 18, 4) and written.output_shape == (28, 35, 2)
    check_round_trip(written, tmp_path)
    assert "  - deconv f=3 s=2 p=1 n=2 op=1x0\n" in import_onnx(str(tmp_path / "net.onnx"))


def test_a_group_norm_comes_back_from_its_export(tmp_path):
    # F2 item 6: Reshape to N x G x -1, InstanceNormalization, Reshape back, Mul and Add per channel
    check_round_trip(load_text("input: 8x8x3\nlayers: [conv f=3 n=8, groupnorm 4 act=relu, fc 5]"), tmp_path)
    assert "  - groupnorm 4 act=relu\n" in import_onnx(str(tmp_path / "net.onnx"))


@pytest.mark.parametrize("auto", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize(("f", "s"), [(3, 2), (4, 3), (2, 2), (5, 2)])
def test_an_average_leaving_out_padding_split_unevenly_is_read_by_where_its_windows_start(
    auto, f, s, tmp_path, monkeypatch, capsys
):
    # N3 item 4: once read as `p=same count_pad=false`, which cnnctl refuses (it pads `same` with zeros it counts).
    # Leaving the padding out, each window divides by the values it covers: the padding before and the count of
    # windows are all that matter, so `p=` of the padding before (and `ceil` where the padding after adds a window)
    # gives ONNX Runtime's outputs on 8x9 (odd totals on one axis or both)
    import numpy as np

    ort = pytest.importorskip("onnxruntime")
    node = _node("AveragePool", ["x"], ["y"], "avg", kernel_shape=[f, f], strides=[s, s], auto_pad=auto,
                 count_include_pad=0)  # fmt: skip
    path = _saved(onnx_model([node], [], shape=(1, 3, 8, 9)), tmp_path / "avg.onnx")
    graph = load_text(import_onnx(path))
    assert "p=same" not in graph.nodes[0].text
    assert graph.output_shape == (-(-8 // s), -(-9 // s), 3)  # SAME: ceil(n / s)
    x = np.random.default_rng(6).standard_normal((1, 3, 8, 9)).astype(np.float32)
    theirs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        assert np.allclose(to_torch(graph).eval()(torch.from_numpy(x)).numpy(), theirs, atol=1e-6)


@pytest.mark.parametrize("auto", ["SAME_UPPER", "SAME_LOWER"])
def test_an_average_leaving_out_padding_no_cnnctl_window_matches_is_refused_at_import(
    auto, tmp_path, monkeypatch, capsys
):
    # an even window at stride 1: p= of the padding before gives one window fewer (or more) than the file's, with
    # or without ceil; told at the node, at import, not left to the builder's `p=same` hint
    node = _node("AveragePool", ["x"], ["y"], "avg", kernel_shape=[2, 2], strides=[1, 1], auto_pad=auto,
                 count_include_pad=0)  # fmt: skip
    path = _saved(onnx_model([node], []), tmp_path / "avg.onnx")
    err = _refused(monkeypatch, capsys, path)
    pads = "[0, 0, 1, 1]" if auto == "SAME_UPPER" else "[1, 1, 0, 0]"
    assert f"ONNX node `avg` (AveragePool, node 1 of 1): uneven padding {pads} (top, left, bottom, right) of an " \
           "average that leaves it out (count_include_pad 0): no cnnctl pool has these windows" in err, err  # fmt: skip
    assert "), read as `" not in err and "hint: cnnctl's `p=same` pads with zeros the average counts" in err, err


def _constant(name: str, values, **kind):
    """A Constant node holding `values` (float32, or as `kind` says: dtype=...), its output `name`."""
    import numpy as np
    from onnx import numpy_helper

    tensor = numpy_helper.from_array(np.asarray(values, dtype=kind.get("dtype", np.float32)), name)
    return _node("Constant", [], [name], f"/{name}/Constant", value=tensor)


def test_weights_written_as_constant_nodes_are_read_as_stored_ones(tmp_path):
    # N3 item 2: once "its weights are not stored in the file" at the Conv. An exporter may write weights as
    # Constant nodes; each is read as an initializer is, through the layouts that lay it out: the conv's weight
    # stored as float64 and cast to float32, the fc's stored as in x out and transposed. A factor per channel in a
    # Constant is a literal of the module's code, `torch.tensor([...])`: fixed, an affine, as before; so is a
    # shift given as `value_floats` (opset 12's form of a Constant)
    import numpy as np

    ort = pytest.importorskip("onnxruntime")
    from cnnctl.exchange.onnx_import import read_weights

    rng = np.random.default_rng(7)
    conv_w, conv_b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4).astype(np.float32)
    fc_w = rng.standard_normal((144, 5)).astype(np.float32)  # in x out: transposed in the graph
    factor = np.array([0.5, -2.0, 3.0, 0.25], np.float32).reshape(1, 4, 1, 1)
    nodes = [
        _constant("conv_w", conv_w, dtype=np.float64),
        _node("Cast", ["conv_w"], ["w"], "/conv/Cast", to=1),
        _constant("conv_b", conv_b),
        _node("Conv", ["x", "w", "conv_b"], ["c"], "/conv/Conv"),
        _constant("factor", factor),
        _node("Mul", ["c", "factor"], ["m"], "/scale/Mul"),
        _node("Constant", [], ["shift"], "/shift/Constant", value_floats=[1.0, 0.0, -1.5, 2.0]),
        _node("Unsqueeze", ["shift", "last_two"], ["s"], "/shift/Unsqueeze"),
        _node("Add", ["m", "s"], ["a"], "/shift/Add"),
        _node("Flatten", ["a"], ["f"], "/fc/Flatten"),
        _constant("fc_w", fc_w.T.copy()),
        _node("Transpose", ["fc_w"], ["wt"], "/fc/Transpose", perm=[1, 0]),
        _node("MatMul", ["f", "wt"], ["y"], "/fc/MatMul"),
    ]
    path = _saved(onnx_model(nodes, [_int64s("last_two", [1, 2])]), tmp_path / "k.onnx")
    got = read_weights(path)
    assert got.text.split("layers:\n")[1] == (
        "  - conv f=3 n=4\n  - affine scale=0.5,-2,3,0.25 shift=1,0,-1.5,2\n  - fc 5 bias=false\n"
    )
    assert got.graph.params == 4 * 27 + 4 + 144 * 5  # the affine's values are buffers: nothing of it trains
    expected = {"conv1.weight": conv_w.astype(np.float32), "conv1.bias": conv_b, "fc1.weight": fc_w.T}
    assert all(np.array_equal(got.array(name), values) for name, values in expected.items())
    rebuilt = to_torch(got.graph).eval()
    place_imported(rebuilt, {name: got.array(name) for name in got.shapes}, tmp_path)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    theirs = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        assert np.allclose(rebuilt(torch.from_numpy(x)).numpy(), theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("nodes", "said", "hint"),
    [
        (
            [_node("Cast", ["w"], ["w8"], "/conv/Cast", to=3), _node("Conv", ["x", "w8"], ["y"], "/conv/Conv")],
            "ONNX node `/conv/Cast` (Cast, node 1 of 2): casts the stored `w` of 4x3x3x3 to INT8: cnnctl reads "
            "weights as floating-point numbers",
            "a quantized model (int8) is not read: import the model before quantization",
        ),
        (
            [
                _node("DequantizeLinear", ["w", "one", "zero"], ["wd"], "/conv/Dequantize"),
                _node("Conv", ["x", "wd"], ["y"], "/conv/Conv"),
            ],
            "ONNX node `/conv/Dequantize` (DequantizeLinear, node 1 of 2): DequantizeLinear, an operator of a "
            "quantized model (int8): no cnnctl layer kind does this",
            "hint: cnnctl reads floating-point weights: import the model before quantization",
        ),
    ],
    ids=["a cast to int8", "a dequantized weight"],
)
def test_a_weight_cast_to_an_integer_or_dequantized_is_told_at_its_node(
    nodes, said, hint, tmp_path, monkeypatch, capsys
):
    # N3 item 2: once "the constant `w` of 4 x 3 x 3 x 3 values: cnnctl reads constants of at most 64" at the Cast
    import numpy as np
    from onnx import numpy_helper

    stored = [_weights(4, 3, 3, 3), onnx_tensor("one", 1.0), numpy_helper.from_array(np.int8(0), "zero")]
    err = _refused(monkeypatch, capsys, _saved(onnx_model(nodes, stored), tmp_path / "q.onnx"))
    assert said in err and hint in err, err


def test_every_refusal_of_an_import_has_a_hint(tmp_path, monkeypatch, capsys):
    # nn.Hardtanh(-2, 2) is a Clip cnnctl has no layer for: it was told with "hint": null
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Hardtanh(-2, 2), nn.Flatten(), nn.Linear(7200, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.randn(1, 3, 32, 32),), str(tmp_path / "odd.onnx"), dynamo=False)
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "odd.onnx"), "-f", "json")
    (error,) = json.loads(out)["errors"]
    assert code == 2 and "a clip other than [0, 6] (relu6)" in error["message"]
    assert "no layer for another range" in error["hint"] and "nn.ReLU6" in error["hint"]


def test_a_refusal_without_a_hint_of_its_own_says_what_cnnctl_imports():
    from cnnctl.exchange.onnx_import.told import READS_ITS_LAYERS, Told

    told = Told.__new__(Told)  # the telling alone: its nodes and file, no reading
    told.nodes, told.path, told.found = [onnx.helper.make_node("Foo", ["x"], ["y"], name="f")], "m.onnx", {}
    told.tell(0, "something cnnctl does not read")
    with pytest.raises(CnnctlError) as caught:
        told.raise_problems()
    assert caught.value.problems[0].hint == READS_ITS_LAYERS


def test_the_weights_beside_o_never_replace_a_file_import_did_not_write_for_it(tmp_path, monkeypatch, capsys):
    # Once: `import m.onnx -o ow/mine.yaml` wrote ow/mine.safetensors over the person's own file, silently.
    # Refused before anything is written; the weights import wrote for that same network file before are
    # replaced, and said to be.
    import json
    import shutil

    import numpy as np
    from safetensors.numpy import save_file

    path = _saved(onnx_model([_node("Conv", ["x", "w"], ["y"], "c")], [_weights(4, 3, 1, 1)]), tmp_path / "r.onnx")
    save_file({"mine": np.zeros(3, np.float32)}, str(tmp_path / "mine.safetensors"))  # the person's own
    (tmp_path / "text.safetensors").write_text("text\n")
    assert run_main(monkeypatch, capsys, "import", path, "-o", str(tmp_path / "a.yaml"))[0] == 0
    shutil.copyfile(tmp_path / "a.safetensors", tmp_path / "b.safetensors")  # import's, for another network file
    for stem in ("mine", "text", "b"):
        kept, network = tmp_path / f"{stem}.safetensors", tmp_path / f"{stem}.yaml"
        before = kept.read_bytes()
        err = _refused_anywhere(monkeypatch, capsys, path, "-o", str(network))
        assert f"error: `{kept}` exists and is not the weights cnnctl wrote for `{network}` before" in err
        assert kept.read_bytes() == before and not network.exists()
    code, out, err = run_main(monkeypatch, capsys, "import", path, "-o", str(tmp_path / "a.yaml"))
    assert code == 0 and "tensors under the network's names, replacing those imported for it before" in out, err
    code, out, err = run_main(monkeypatch, capsys, "import", path, "-o", str(tmp_path / "a.yaml"), "--format", "json")
    assert code == 0 and json.loads(out)["weights"]["replaced"] is True, err
    code, out, err = run_main(monkeypatch, capsys, "import", path, "-o", str(tmp_path / "new.yaml"), "--format", "json")
    assert code == 0 and json.loads(out)["weights"]["replaced"] is False, err
