"""cnnctl import: ONNX back into the notation. Exported then imported, a network keeps its
counts, shapes and outputs; ONNX written by torch.onnx.export from hand-written modules
imports with the counts their own parameters and the course's formula give."""

import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

from torch import nn  # noqa: E402

from cnnctl.api import load, load_text, to_torch  # noqa: E402
from cnnctl.catalog import bundled  # noqa: E402
from cnnctl.exchange.export import example_input, export  # noqa: E402
from cnnctl.exchange.onnx_import import import_onnx  # noqa: E402
from tests.helpers import EXAMPLES, run_main  # noqa: E402

ROUND_TRIP = sorted(bundled()) + sorted(str(p) for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("net", ROUND_TRIP)
def test_export_then_import_keeps_counts_shapes_and_outputs(net, tmp_path):
    graph = load(net)
    torch.manual_seed(0)
    model = to_torch(graph).eval()
    export(graph, "onnx", str(tmp_path / "net.onnx"))  # its own initialised weights: compared below by order
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
    assert "(Sin) (and 1 more Sin node): no cnnctl layer kind" in err
    assert "(Cos): no cnnctl layer kind" in err
    assert err.count("error:") == 2  # one message per operator, every one in one run
    assert err.count("hint:") == 1  # what cnnctl reads, said once


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
