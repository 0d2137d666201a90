"""cnnctl import reads what both of PyTorch's ONNX exporters write (issue 22): the TorchScript-based
one (dynamo=False) and the default since 2.9 (dynamo=True, through onnxscript). Each pattern is a
module written here, exported by both, imported: its own parameter count, the multiplications of
the course's formula, and with the file's weights the outputs ONNX Runtime gives on it (1e-5)."""

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
ort = pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.exchange.weights import place_weights  # noqa: E402
from cnnctl.graph.outputs import inference_graph  # noqa: E402
from tests.helpers import run_main  # noqa: E402


def _dynamo_runs() -> bool:
    try:
        import onnxscript  # noqa: F401  # the dynamo exporter writes its graphs with it
    except ImportError:
        return False
    return True


EXPORTERS = [
    pytest.param(False, id="torchscript"),
    pytest.param(True, id="dynamo", marks=pytest.mark.skipif(not _dynamo_runs(), reason="needs onnxscript")),
]


def exported(
    module: nn.Module, tmp_path, dynamo: bool, shape=(3, 8, 8), opset: int | None = None, folding: bool = True
) -> str:
    """`module` (eval mode, its batch norms kept) through torch.onnx.export, for one image of `shape` (CHW);
    `folding=False`: the TorchScript exporter's do_constant_folding=False (what it stores, laid out in the graph)."""
    torch.manual_seed(0)
    path = tmp_path / f"{type(module).__name__}_{'dynamo' if dynamo else 'ts'}{'' if folding else '_nf'}.onnx"
    keep = {} if dynamo else {"training": torch.onnx.TrainingMode.PRESERVE}  # dynamo keeps them as they are
    versions = {"opset_version": opset} if opset else {}
    versions |= {} if folding else {"do_constant_folding": False}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # dynamo's progress lines
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(1, *shape),), str(path), dynamo=dynamo, **keep, **versions)
    return str(path)


def imported(path: str, monkeypatch, capsys):
    """`cnnctl import path -o net.yaml`: the network read, and its module with the file's weights."""
    net = path.removesuffix(".onnx") + ".yaml"
    code, out, err = run_main(monkeypatch, capsys, "import", path, "-o", net)
    assert code == 0, err
    graph = cnnctl.load(net)
    model = cnnctl.to_torch(graph).eval()
    place_weights(model, path)
    return graph, model


def same_outputs(model: nn.Module, path: str, shape=(3, 8, 8), rtol: float = 0.0) -> bool:
    """The module's outputs are ONNX Runtime's on the file, within 1e-5 (and `rtol` of theirs), on random images."""
    images = np.random.default_rng(1).standard_normal((3, 1, *shape)).astype(np.float32)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    with torch.no_grad():
        for x in images:
            theirs = session.run(None, {name: x})[0]
            ours = model(torch.from_numpy(x)).numpy()
            if ours.shape != theirs.shape and ours.size == theirs.size:  # 1x1xC against C: the same values
                ours = ours.reshape(theirs.shape)
            if not np.allclose(ours, theirs, rtol=rtol, atol=1e-5):
                return False
    return True


def randomized(module: nn.Module) -> nn.Module:
    """Every parameter and buffer random (batch norms' statistics positive), so that nothing
    misplaced can pass for placed (a factor of 1, a mean of 0)."""
    torch.manual_seed(2)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if "var" in name else torch.randn_like(t))
    return module


# -- Add and Mul with stored values (item 1) -----------------------------------------------------
class Scaled(nn.Module):
    """A conv, then one element-wise operation with a constant or a stored tensor (`how`)."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 3)
        self.shift = nn.Parameter(torch.randn(1, 4, 1, 1))
        self.scalar = nn.Parameter(torch.randn(1))
        self.columns = nn.Parameter(torch.randn(6))  # C=4 channels, but 6 columns: broadcast over W
        self.factor = nn.Parameter(torch.randn(4, 1, 1))
        self.factor4 = nn.Parameter(torch.randn(1, 4, 1, 1))

    def forward(self, x):
        y = self.conv(x)
        return {
            "y + 1.0": lambda: y + 1.0,
            "y * 2.0": lambda: y * 2.0,
            "y + shift": lambda: y + self.shift,
            "y * scalar": lambda: y * self.scalar,
            "y * columns": lambda: y * self.columns,
            "y * factor": lambda: y * self.factor,
            "factor * y": lambda: self.factor * y,
            "y * factor4": lambda: y * self.factor4,
        }[self.how]()


REFUSED = {  # the operation -> what its message says (one value or one per channel is an affine)
    "y * columns": "multiplies by the stored `{stored}` (values of 6), not one value or one per channel",
}


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize(
    ("how", "scale", "shift"),
    [
        ("y + 1.0", None, (1.0,)),
        ("y * 2.0", (2.0,), None),
        ("y + shift", None, "shift"),
        ("y * scalar", "scalar", None),
    ],
)
def test_an_add_or_mul_of_one_value_or_one_per_channel_is_an_affine(
    how, scale, shift, dynamo, tmp_path, monkeypatch, capsys
):
    module = randomized(Scaled(how))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.kind for n in graph.nodes] == ["conv", "affine"]
    given = {"scale": scale, "shift": shift}
    held = {
        k: tuple(getattr(module, v).detach().reshape(-1).tolist()) if isinstance(v, str) else v
        for k, v in given.items()
    }
    affine = graph.nodes[1]
    for name, values in held.items():
        assert affine.args[name] == (values or (1.0 if name == "scale" else 0.0,))
    # nothing trains: the conv's 4x27 + 4 only; the values written, as buffers
    assert graph.params == 4 * 27 + 4
    assert affine.buffers == sum(len(v) for v in held.values() if v)
    assert affine.mults == 0 and affine.flops == 6 * 6 * 4  # one operation per value
    assert same_outputs(model, path)


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("how", list(REFUSED))
def test_an_add_or_mul_of_stored_values_is_one_message_at_its_node(how, dynamo, tmp_path, monkeypatch, capsys):
    import onnx

    path = exported(Scaled(how), tmp_path, dynamo)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.count("error:") == 1 and err.startswith(f"error: {path}: ONNX node "), err
    nodes = onnx.load(path).graph.node  # the operation is the last node; the conv (and a Constant) before it
    op, count = nodes[-1], len(nodes)
    stored = next(t for t in op.input if t not in {o for n in nodes if n.op_type == "Conv" for o in n.output})
    assert f"({op.op_type}, node {count} of {count}): " + REFUSED[how].format(stored=stored) in err, err
    assert "hint: cnnctl reads an Add or Mul of layers" in err


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("how", ["y * factor", "factor * y", "y * factor4"])
def test_a_factor_per_channel_on_either_side_is_a_layerscale(how, dynamo, tmp_path, monkeypatch, capsys):
    module = Scaled(how)
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.kind for n in graph.nodes] == ["conv", "layerscale"]
    # the conv's 4x27 + 4 and the factor's 4 (the module holds other tensors its forward leaves unused)
    assert graph.params == 4 * 27 + 4 + 4
    assert graph.mults == 6 * 6 * 4 * (3 * 3 * 3)  # output volume x filter volume; a factor is no weight
    assert same_outputs(model, path)


# -- the dynamo exporter's forms (item 2) --------------------------------------------------------
class Pooled(nn.Module):
    """conv, bn, relu, max pool, then the global pool as `how` writes it, and a classifier."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        x = torch.cat([x], 1)  # one input: DenseNet's, written as a Concat of one
        pooled = {
            "mean": lambda: x.mean([2, 3]),
            "adaptive": lambda: torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1),
            "view": lambda: nn.functional.adaptive_avg_pool2d(x, 1).view(x.size(0), -1),
            "amax": lambda: x.amax((2, 3), keepdim=True).reshape(1, 8),
        }[self.how]()
        return self.fc(pooled)


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("how", ["mean", "adaptive", "view", "amax"])
def test_global_pools_flattens_and_a_one_input_concat_are_read(how, dynamo, tmp_path, monkeypatch, capsys):
    module = randomized(Pooled(how))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    kinds = [n.kind for n in graph.nodes]
    assert "concat" not in kinds and kinds.count("pool") == 2, kinds  # the max pool and the global one
    own = sum(p.numel() for p in module.parameters())
    bn_folded = graph.params == own - 16 + 8  # eval-mode exports may fold bn into the conv: its bias
    assert graph.params == own or bn_folded  # 216 + 16 + 45
    assert graph.mults == 8 * 8 * 8 * (3 * 3 * 3) + 8 * 5  # conv's output volume x filter volume, then fc
    assert graph.output_shape == (5,)
    assert same_outputs(model, path)


class Segmented(nn.Module):
    """torchvision's segmentation endings: a pooled branch upsampled to the features' size (DeepLabV3's
    ASPP pooling), then the head's output to the image's, `F.interpolate(size=x.shape[-2:],
    mode="bilinear")` (its sizes computed from Shape of the input), or by a `scale_factor`."""

    def __init__(self, align: bool, by_size: bool):
        super().__init__()
        self.align, self.by_size = align, by_size
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        size = x.shape[-2:]
        f = torch.relu(self.c2(torch.relu(self.c1(x))))
        pooled = nn.functional.interpolate(self.pool(f), size=f.shape[-2:], mode="bilinear", align_corners=False)
        y = self.head(torch.cat([f, pooled], 1))
        if self.by_size:
            return nn.functional.interpolate(y, size=size, mode="bilinear", align_corners=self.align)
        return nn.functional.interpolate(y, scale_factor=4, mode="bilinear", align_corners=self.align)


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("align", [False, True], ids=["half_pixel", "align_corners"])
@pytest.mark.parametrize("by_size", [True, False], ids=["size", "scale_factor"])
def test_bilinear_interpolation_is_read_as_a_bilinear_upsample(by_size, align, dynamo, tmp_path, monkeypatch, capsys):
    module = randomized(Segmented(align, by_size))
    with torch.no_grad():  # outputs near 1, not 100: float32's rounding of them is within 1e-5
        for p in module.parameters():
            p.mul_(0.2)
    shape = (3, 16, 16)
    path = exported(module, tmp_path, dynamo, shape=shape)
    graph, model = imported(path, monkeypatch, capsys)
    ups = [n for n in graph.nodes if n.kind == "upsample"]
    # 1x1 to the 4x4 features, then the 4x4 head's output to the 16x16 image: by 4 each
    assert [(n.args.scale, n.args.mode, bool(n.args.align_corners), n.shape) for n in ups] == [
        (4, "bilinear", False, (4, 4, 8)),
        (4, "bilinear", align, (16, 16, 4)),
    ]
    assert graph.params == sum(p.numel() for p in module.parameters())
    # the course's formula: 8x8x8 * 3*3*3, 4x4x8 * 3*3*8, 4x4x4 * 16
    assert graph.mults == 8 * 8 * 8 * 27 + 4 * 4 * 8 * 72 + 4 * 4 * 4 * 16
    assert sum(n.flops for n in ups) == 8 * (4 * 4 * 8 + 16 * 16 * 4)  # 8 per output value (4 multiply-adds)
    assert same_outputs(model, path, shape=shape)


@pytest.mark.parametrize("opset", [13, 17])
def test_older_opsets_write_reductions_with_attributes(opset, tmp_path, monkeypatch, capsys):
    module = randomized(Pooled("mean"))
    path = exported(module, tmp_path, False, opset=opset)  # ReduceMean's axes: an attribute before opset 18
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.kind for n in graph.nodes].count("pool") == 2 and same_outputs(model, path)


class Chunked(nn.Module):
    """x.chunk(2, dim=1) between two convolutions: the dynamo exporter writes a Split; the TorchScript one two
    Slices whose bounds it computes from the tensor's Shape (Gather, Add, Div, Mul)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.mix = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        a, b = self.conv(x).chunk(2, dim=1)
        return self.mix(a) + b


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_chunk_is_read_from_a_split_or_from_slices_whose_bounds_come_from_the_shape(
    dynamo, tmp_path, monkeypatch, capsys
):
    module = randomized(Chunked())
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.kind for n in graph.nodes] == ["conv", "chunk", "chunk", "conv", "add"]
    assert graph.params == (3 * 3 * 3 * 8 + 8) + (4 * 4 + 4)  # the two convolutions' weights and biases
    assert graph.mults == 8 * 8 * 8 * 27 + 8 * 8 * 4 * 4  # each output volume x its filter volume
    assert graph.output_shape == (8, 8, 4)
    assert same_outputs(model, path)


class AddedOntoPart(nn.Module):
    """ReXNet's shortcut: a conv to 8 channels whose first 3 get the input added, the other 5 kept."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return torch.cat([y[:, 0:3] + x, y[:, 3:]], dim=1)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_slices_at_any_bounds_are_read_as_slices(dynamo, tmp_path, monkeypatch, capsys):
    module = randomized(AddedOntoPart())
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert sorted(n.text for n in graph.nodes if n.kind == "slice") == ["slice 0 3", "slice 3"]
    assert graph.output_shape == (8, 8, 8) and graph.params == 3 * 3 * 3 * 8 + 8
    assert same_outputs(model, path)


class SpatialGate(nn.Module):
    """CBAM's spatial attention: the mean and max across the channels, a 7x7 conv to one map, a sigmoid, times x."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x):
        x = self.conv(x)
        maps = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(maps))


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_pools_across_the_channels_are_read_as_a_spatial_gate(dynamo, tmp_path, monkeypatch, capsys):
    module = randomized(SpatialGate())
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    pools = [n for n in graph.nodes if n.kind == "pool"]
    assert len(pools) == 2 and all(n.shape == (8, 8, 1) for n in pools)
    assert graph.params == (3 * 3 * 3 * 6 + 6) + (7 * 7 * 2 + 1)
    assert graph.output_shape == (8, 8, 6)
    assert same_outputs(model, path, rtol=1e-5)  # a 7x7 sum of random weights: values in the tens


# -- a fixed scale and shift (item 3c) -----------------------------------------------------------
class Shifted(nn.Module):
    """A conv, then a fixed scale and shift: of numbers (`conv(x) * 2.0 + 1.0`) or of buffers per
    channel (`conv(x) * self.scale + self.shift`, how cnnctl's own affine is exported)."""

    def __init__(self, buffers: bool):
        super().__init__()
        self.stored = buffers
        self.conv = nn.Conv2d(3, 4, 3)
        self.register_buffer("scale", torch.tensor([0.5, -2.0, 3.0, 0.25]).reshape(4, 1, 1))
        self.register_buffer("shift", torch.tensor([1.0, 0.0, -1.5, 2.0]).reshape(4, 1, 1))

    def forward(self, x):
        y = self.conv(x)
        return y * self.scale + self.shift if self.stored else y * 2.0 + 1.0


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("buffers", [False, True], ids=["numbers", "buffers"])
def test_a_mul_then_an_add_of_fixed_values_is_one_affine(buffers, dynamo, tmp_path, monkeypatch, capsys):
    path = exported(Shifted(buffers), tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.kind for n in graph.nodes] == ["conv", "affine"]  # one layer, not a layerscale and a shift
    affine = graph.nodes[1]
    scale, shift = ((0.5, -2.0, 3.0, 0.25), (1.0, 0.0, -1.5, 2.0)) if buffers else ((2.0,), (1.0,))
    assert (affine.args.scale, affine.args.shift) == (scale, shift)
    assert graph.params == 4 * 27 + 4 and affine.buffers == len(scale) + len(shift)
    assert affine.flops == 2 * 6 * 6 * 4 and affine.mults == 0
    assert sorted(k for k in model.state_dict() if "affine" in k) == [f"{affine.path}.scale", f"{affine.path}.shift"]
    assert same_outputs(model, path)


# -- ConvNeXt's block: Linear layers on channels-last data, GELU written out (item 1) ------------
class ConvNeXtBlock(nn.Module):
    """A stem conv, then torchvision's CNBlock: 7x7 depthwise, permute to NHWC, LayerNorm over the channels,
    Linear(C, 4C), GELU, Linear(4C, C), permute back, a layer scale (C x 1 x 1, factor first), plus the input."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1 = nn.Linear(c, 4 * c)
        self.fc2 = nn.Linear(4 * c, c)
        self.layer_scale = nn.Parameter(torch.ones(c, 1, 1))

    def forward(self, x):
        x = self.stem(x)
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = self.fc2(nn.functional.gelu(self.fc1(y))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


C = 8  # the block's channels, on an 8 x 8 image
CONVNEXT_PARAMS = (27 * C + C) + (49 * C + C) + 2 * C + (C * 4 * C + 4 * C) + (4 * C * C + C) + C
CONVNEXT_MULTS = 8 * 8 * (C * 27 + C * 49 + C * 4 * C + 4 * C * C)  # positions x (each conv's C_out x filter volume)


def check_convnext_block(path: str, module: nn.Module, monkeypatch, capsys) -> None:
    graph, model = imported(path, monkeypatch, capsys)
    texts = [n.text for n in graph.nodes]
    assert [t.split()[0] for t in texts] == ["conv", "conv", "layernorm", "conv", "conv", "layerscale", "add"], texts
    assert texts[3].startswith(f"conv f=1 n={4 * C}") and texts[3].endswith("act=gelu"), texts  # Linear + GELU
    assert texts[4].startswith(f"conv f=1 n={C}") and "bias=false" not in texts[4], texts  # the bias joined
    assert graph.params == CONVNEXT_PARAMS == sum(p.numel() for p in module.parameters())
    assert graph.mults == CONVNEXT_MULTS
    assert graph.output_shape == (8, 8, C)
    assert same_outputs(model, path, rtol=1e-5)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_linear_layers_on_channels_last_data_are_read_as_1x1_convs(dynamo, tmp_path, monkeypatch, capsys):
    module = randomized(ConvNeXtBlock(C))
    check_convnext_block(exported(module, tmp_path, dynamo), module, monkeypatch, capsys)


class OfficialConvNeXtBlock(ConvNeXtBlock):
    """The block as ConvNeXt's own code writes it: the layer scale `gamma` of shape (C,), applied
    channels-last, before the permute back (torchvision's is C x 1 x 1, after it)."""

    def __init__(self, c: int = 8):
        super().__init__(c)
        self.layer_scale = nn.Parameter(torch.ones(c))

    def forward(self, x):
        x = self.stem(x)
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = self.layer_scale * self.fc2(nn.functional.gelu(self.fc1(y)))
        return x + y.permute(0, 3, 1, 2)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_layer_scale_on_channels_last_data_is_a_layerscale(dynamo, tmp_path, monkeypatch, capsys):
    # once "multiplies by the stored layer_scale (values of 8), not one value or one per channel":
    # on N x H x W x C data a vector of C is one factor per channel
    module = randomized(OfficialConvNeXtBlock(C))
    check_convnext_block(exported(module, tmp_path, dynamo), module, monkeypatch, capsys)


def laid_out_weights(path: str) -> set[str]:
    """The operators of the file that read a stored weight (an initializer) and only lay it out."""
    import onnx

    graph = onnx.load(path).graph
    stored = {i.name for i in graph.initializer}
    layouts = {"Transpose", "Reshape", "Unsqueeze", "Squeeze", "Cast"}
    return {n.op_type for n in graph.node if n.op_type in layouts and n.input and n.input[0] in stored}


@pytest.mark.parametrize("block", [ConvNeXtBlock, OfficialConvNeXtBlock])
def test_linear_weights_transposed_in_the_graph_without_constant_folding_are_read_as_stored(
    block, tmp_path, monkeypatch, capsys
):
    # L3: once "a transpose `[1, 0]` that is not part of a channel shuffle or layer norm": without constant
    # folding nn.Linear's weight is stored as it is and transposed by a Transpose node before the MatMul
    module = randomized(block(C))
    path = exported(module, tmp_path, False, opset=17, folding=False)
    assert laid_out_weights(path) == {"Transpose"}
    check_convnext_block(path, module, monkeypatch, capsys)


class Viewed(nn.Module):
    """A conv, then a factor and a shift per channel stored as C values and laid out by views:
    `.view(1, -1, 1, 1)` (a Reshape) and `[:, None, None]` (two Unsqueezes)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.scale, self.shift = nn.Parameter(torch.randn(4)), nn.Parameter(torch.randn(4))

    def forward(self, x):
        return self.conv(x) * self.scale.view(1, -1, 1, 1) + self.shift[:, None, None]


@pytest.mark.parametrize("block", [ConvNeXtBlock, Viewed])
def test_an_export_without_constant_folding_reads_as_the_folded_one(block, tmp_path, monkeypatch, capsys):
    # what constant folding would have stored is what is read: the same network, the same outputs (Viewed's
    # factor and shift are an affine's, its buffers, either way)
    module = randomized(block())
    nf, folded_path = (exported(module, tmp_path, False, opset=17, folding=f) for f in (False, True))
    assert laid_out_weights(nf) and not laid_out_weights(folded_path)
    (folded, _), (laid_out, model) = (imported(p, monkeypatch, capsys) for p in (folded_path, nf))
    assert [n.text for n in laid_out.nodes] == [n.text for n in folded.nodes]
    assert (laid_out.params, laid_out.buffers) == (folded.params, folded.buffers)
    assert laid_out.params + laid_out.buffers == sum(p.numel() for p in module.parameters())
    assert same_outputs(model, nf, rtol=1e-5)


def test_weights_laid_out_in_the_graph_export_again_from_the_onnx_file(tmp_path, monkeypatch, capsys):
    # `cnnctl export net.yaml --weights model.onnx`: the file's weights, transposed in its graph, placed
    # by name in the network imported from it, give the module's outputs
    import json

    module = randomized(ConvNeXtBlock(C))
    path = exported(module, tmp_path, False, opset=17, folding=False)
    net = str(tmp_path / "net.yaml")
    assert run_main(monkeypatch, capsys, "import", path, "-o", net)[0] == 0
    code, out, err = run_main(monkeypatch, capsys, "weights", net, path, "--format", "json")
    assert code == 0, err
    placed = json.loads(out)
    assert placed["by_name"]  # the network imported from the file has its weights' names
    import onnx

    graph = onnx.load(path).graph  # each shown by the file's own name, as Netron does: an initializer's, or
    values = {i.name for i in graph.initializer} | {o for n in graph.node for o in n.output}  # its Transpose's
    assert {t["from"] for t in placed["tensors"]} <= values
    assert len(placed["tensors"]) == len(list(module.parameters()))
    back = str(tmp_path / "back.onnx")
    code, out, err = run_main(monkeypatch, capsys, "export", net, "--weights", path, "-o", back)
    assert code == 0, err
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(back, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_gelu_written_out_with_erf_is_read_as_gelu(tmp_path, monkeypatch, capsys):
    import onnx

    module = randomized(ConvNeXtBlock(C))
    path = exported(module, tmp_path, False, opset=17)  # below opset 20 GELU is Div, Erf, Add, Mul, Mul
    assert "Erf" in {n.op_type for n in onnx.load(path).graph.node} and "Gelu" not in {
        n.op_type for n in onnx.load(path).graph.node
    }
    check_convnext_block(path, module, monkeypatch, capsys)


class ChannelsLastAdd(nn.Module):
    """A layer norm on channels-last data, then an Add on that data: no cnnctl layer reads it so."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        y = self.norm(self.conv(x).permute(0, 2, 3, 1))
        return (y + torch.relu(y)).permute(0, 3, 1, 2)


def test_another_layer_on_channels_last_data_is_one_message_at_its_node(tmp_path, monkeypatch, capsys):
    path = exported(ChannelsLastAdd(), tmp_path, False)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.count("error:") == 1 and "(Add, node " in err, err
    assert "channels-last (NHWC) data, as a `add` layer" in err and "hint: cnnctl reads channels-last data" in err


# -- torchvision's zoo: the importer's last patterns (item 2) -------------------------------------
class Normalised(nn.Module):
    """torchvision's normalisation inside the network, `(x - mean) / std`, then a conv: of buffers
    per channel (1 x 3 x 1 x 1) or of numbers."""

    def __init__(self, buffers: bool):
        super().__init__()
        self.stored = buffers
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv((x - self.mean) / self.std if self.stored else (x - 0.5) / 0.25)


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("buffers", [False, True], ids=["numbers", "buffers"])
def test_a_sub_and_a_div_by_constants_are_affines(buffers, dynamo, tmp_path, monkeypatch, capsys):
    path = exported(Normalised(buffers), tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.kind for n in graph.nodes] == ["affine", "affine", "conv"]
    mean, std = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) if buffers else ((0.5,), (0.25,))
    # x - mean adds -mean; x / std multiplies by 1 / std, in float32 as the file holds std
    assert graph.nodes[0].args.shift == tuple(-float(np.float32(m)) for m in mean)
    assert graph.nodes[1].args.scale == tuple(float(np.float32(1) / np.float32(s)) for s in std)
    assert graph.params == 4 * 27 + 4 and graph.buffers == 2 * len(mean)  # the values written, as buffers
    assert graph.mults == 6 * 6 * 4 * 27  # the conv's: an affine multiplies by constants, no weights
    assert same_outputs(model, path)


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("momentum", [0.1, 0.01, 0.3])
def test_batch_norms_momentum_is_read(momentum, dynamo, tmp_path, monkeypatch, capsys):
    # first, so that no exporter can fold it into a conv before it
    module = nn.Sequential(nn.BatchNorm2d(3, momentum=momentum), nn.Conv2d(3, 4, 3))
    graph, _ = imported(exported(module, tmp_path, dynamo), monkeypatch, capsys)
    bn = next(n for n in graph.nodes if n.kind == "bn")
    assert bn.args.momentum == momentum  # ONNX keeps 1 - momentum (the running statistics' share)


def restrided(tmp_path, order) -> str:
    """conv, the mean over height and width, then torch 2.14's dynamo exporter's as_strided of it
    to its own size (ConvNeXt's adaptive average pool): a Reshape to -1 and a Gather of the values
    at `order`, shaped 1 x 4 x 1 x 1; then a flatten and an fc. Written with onnx.helper."""
    import onnx
    from onnx import helper, numpy_helper

    from tests.helpers import onnx_model, onnx_tensor

    rng = np.random.default_rng(3)
    ints = [numpy_helper.from_array(np.array(v, dtype=np.int64), n) for n, v in
            (("axes", [-1, -2]), ("flat", [-1]), ("order", np.array(order).reshape(1, 4, 1, 1)))]  # fmt: skip
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
        helper.make_node("ReduceMean", ["c", "axes"], ["m"], name="mean", keepdims=1),
        helper.make_node("Reshape", ["m", "flat"], ["r"], name="reshape"),
        helper.make_node("Gather", ["r", "order"], ["g"], name="as_strided", axis=0),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    weights = [onnx_tensor(n, rng.standard_normal(s)) for n, s in
               (("w", (4, 3, 3, 3)), ("b", (4,)), ("fw", (5, 4)), ("fb", (5,)))]  # fmt: skip
    path = str(tmp_path / "restrided.onnx")
    onnx.save(onnx_model(nodes, (*weights, *ints), opset=18), path)
    return path


def test_an_as_strided_of_a_tensor_to_its_own_size_is_the_tensor(tmp_path, monkeypatch, capsys):
    path = restrided(tmp_path, [0, 1, 2, 3])
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.kind for n in graph.nodes] == ["conv", "pool", "fc"]
    assert graph.params == 4 * 27 + 4 + 5 * 4 + 5 and graph.mults == 6 * 6 * 4 * 27 + 4 * 5
    assert same_outputs(model, path)


def test_a_gather_of_the_values_in_another_order_is_one_message(tmp_path, monkeypatch, capsys):
    path = restrided(tmp_path, [1, 0, 2, 3])  # the channels swapped: not the tensor itself
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1, err
    assert "ONNX node `reshape` (Reshape, node 3 of 6): a reshape other than" in err, err


class TransformInput(nn.Module):
    """torchvision's GoogLeNet and Inception v3 `transform_input` (ImageNet's normalisation
    redone as theirs): each channel picked, x[:, k], unsqueezed back, scaled and shifted by
    numbers, the three joined again; then a conv."""

    SCALE = (0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5)
    SHIFT = ((0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        channels = [torch.unsqueeze(x[:, k], 1) * self.SCALE[k] + self.SHIFT[k] for k in range(3)]
        return self.conv(torch.cat(channels, 1))


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_channel_picked_and_unsqueezed_back_is_a_chunk(dynamo, tmp_path, monkeypatch, capsys):
    path = exported(TransformInput(), tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.kind for n in graph.nodes] == [*["chunk", "affine"] * 3, "concat", "conv"]
    chunks = [n for n in graph.nodes if n.kind == "chunk"]
    assert all(n.inputs == (-1,) for n in chunks)  # each reads the image
    assert [(n.args.parts, n.args.i) for n in chunks] == [(3, 1), (3, 2), (3, 3)]
    affines = [n for n in graph.nodes if n.kind == "affine"]  # the numbers as float32, as the file holds them
    assert [n.args.scale for n in affines] == [(float(np.float32(s)),) for s in TransformInput.SCALE]
    assert [n.args.shift for n in affines] == [(float(np.float32(s)),) for s in TransformInput.SHIFT]
    assert graph.params == 4 * 27 + 4 and graph.mults == 6 * 6 * 4 * 27
    assert same_outputs(model, path)


class Attention(nn.Module):
    """Self-attention over a 2x2 grid of patches: tokens, queries times keys, a softmax over
    the tokens. cnnctl has no kind for it: what the README says is not read."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.qkv = nn.Conv2d(8, 24, 1)

    def forward(self, x):
        q, k, v = self.qkv(self.patch(x)).flatten(2).chunk(3, 1)  # N x C x tokens each
        a = torch.softmax(q.transpose(1, 2) @ k / 8**0.5, -1)
        return (v @ a.transpose(1, 2)).reshape(x.shape[0], 8, 2, 2)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_attention_is_not_read_and_is_told_at_its_nodes(dynamo, tmp_path, monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "import", exported(Attention(), tmp_path, dynamo))
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.startswith("error: ") and ": ONNX node " in err and "hint:" not in out, err


# -- ECA and GRN as timm and the official ConvNeXt V2 code write them (task 26E) ---------------------
class LinearSE(nn.Module):
    """A stem conv, then squeeze-and-excitation by nn.Linear (the SENet paper's form): the pooled
    channels viewed as N x C, fc, an activation, fc, a sigmoid, viewed back as N x C x 1 x 1 and
    multiplied in; the pool and the views as `layout` writes them, the fcs with or without a bias."""

    def __init__(self, layout: str, bias: bool, c: int = 16, r: int = 4):
        super().__init__()
        self.layout = layout
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.fc1 = nn.Linear(c, c // r, bias=bias)
        self.fc2 = nn.Linear(c // r, c, bias=bias)

    def forward(self, x):
        x = self.stem(x)
        n, c = x.shape[:2]
        if self.layout == "view":  # SENet's: x * sigmoid(fc2(relu(fc1(avgpool(x).view(N, C))))).view(N, C, 1, 1)
            y = torch.sigmoid(self.fc2(torch.relu(self.fc1(nn.functional.adaptive_avg_pool2d(x, 1).view(n, c)))))
            return x * y.view(n, c, 1, 1)
        if self.layout == "flatten":  # torch.flatten, unsqueezed back
            y = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
            return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(y)))).unsqueeze(-1).unsqueeze(-1)
        if self.layout == "mean":  # a mean without keepdims, SiLU in the squeeze, indexed back, expanded
            y = torch.sigmoid(self.fc2(nn.functional.silu(self.fc1(x.mean((2, 3))))))[:, :, None, None]
            return x * y.expand_as(x)
        y = x.amax((2, 3), keepdim=True).squeeze(-1).squeeze(-1)  # "squeeze": a max pool, squeezed, hardsigmoid
        return x * nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(y)))).reshape(n, c, 1, 1)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("layout", ["view", "flatten", "mean", "squeeze"])
@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_squeeze_and_excitation_by_linear_layers_is_read_as_the_gates_1x1_convs(
    layout, bias, dynamo, tmp_path, monkeypatch, capsys
):
    c, r = 16, 4
    module = randomized(LinearSE(layout, bias, c, r))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    pool = "pool max global" if layout == "squeeze" else "pool avg global"
    squeeze = "silu" if layout == "mean" else "relu"
    excite = "hardsigmoid" if layout == "squeeze" else "sigmoid"
    no_bias = "" if bias else " bias=false"
    texts = [n.text for n in graph.nodes][1:4]
    assert texts == [pool, f"conv f=1 n={c // r} act={squeeze}{no_bias}", f"conv f=1 n={c} act={excite}{no_bias}"]
    assert [n.kind for n in graph.nodes] == ["conv", "pool", "conv", "conv", "mul"]
    assert graph.nodes[3].shape == (1, 1, c) and graph.output_shape == (8, 8, c)
    # the stem's 27 x 16 + 16, the fcs' 16 x 4 and 4 x 16 (+ 4 and 16 biases)
    assert (
        graph.params
        == sum(p.numel() for p in module.parameters())
        == 27 * c + c + 2 * c * (c // r) + bias * (c // r + c)
    )
    assert graph.mults == 8 * 8 * c * 27 + 2 * c * (c // r)  # the stem's output volume x 27; each fc in x out
    assert same_outputs(model, path, rtol=1e-5)
    with torch.no_grad():  # and the module's own output
        x = torch.randn(1, 3, 8, 8)
        assert torch.allclose(model(x), module(x), atol=1e-5, rtol=1e-5)


class InceptionPool(nn.Module):
    """A stem conv, then Inception's branch pool: nn.AvgPool2d(3, 1, 1, count_include_pad=False), the
    padding left out of each window's divisor (or, `ceil`, a 3x3 at stride 2 in ceil mode), a 1x1 conv."""

    def __init__(self, ceil: bool):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AvgPool2d(3, 2 if ceil else 1, 1, ceil_mode=ceil, count_include_pad=False)
        self.conv = nn.Conv2d(4, 6, 1)

    def forward(self, x):
        return self.conv(self.pool(self.stem(x)))


@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_an_average_pool_without_the_padding_is_read_with_count_pad_false(ceil, dynamo, tmp_path, monkeypatch,
                                                                           capsys):  # fmt: skip
    module = randomized(InceptionPool(ceil))
    path = exported(module, tmp_path, dynamo, shape=(3, 7, 7))
    graph, model = imported(path, monkeypatch, capsys)
    words = "s=2 p=1 ceil count_pad=false" if ceil else "s=1 p=1 count_pad=false"
    assert graph.nodes[1].text == f"pool avg f=3 {words}"
    # 7x7 at stride 1: windows from -1 to 5 cover 2, 3, 3, 3, 3, 3, 2 = 19 rows and columns; at stride 2 in ceil
    # mode 4 windows (ceil(6/2) + 1) from -1, 1, 3, 5 cover 2, 3, 3, 2 = 10: each value added and the divide
    covered = 10 if ceil else 19
    assert graph.nodes[1].flops == 4 * covered * covered
    assert graph.params == sum(p.numel() for p in module.parameters())
    assert same_outputs(model, path, shape=(3, 7, 7), rtol=1e-5)  # ONNX Runtime's count_include_pad=0
    with torch.no_grad():
        x = torch.randn(1, 3, 7, 7)
        assert torch.allclose(model(x), module(x), atol=1e-5, rtol=1e-5)


class Upsampled(nn.Module):
    """A stem conv, then nn.ConvTranspose2d(f=3, s=2, p=1, output_padding=1): exactly twice the size."""

    def __init__(self, output_padding=1):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.ConvTranspose2d(4, 5, 3, stride=2, padding=1, output_padding=output_padding)

    def forward(self, x):
        return torch.relu(self.up(self.stem(x)))


@pytest.mark.parametrize("output_padding", [1, (1, 0)])
@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_transposed_conv_with_output_padding_is_a_deconv_with_op(output_padding, dynamo, tmp_path, monkeypatch,
                                                                    capsys):  # fmt: skip
    module = randomized(Upsampled(output_padding))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    op = "1" if output_padding == 1 else "1x0"
    assert [n.text for n in graph.nodes] == ["conv f=3 p=1 n=4", f"deconv f=3 s=2 p=1 n=5 act=relu op={op}"]
    # (8 - 1)*2 - 2*1 + 3 + op: 16 with op 1, 15 without
    assert graph.output_shape == ((16, 16, 5) if output_padding == 1 else (16, 15, 5))
    assert graph.params == sum(p.numel() for p in module.parameters()) == (27 * 4 + 4) + (4 * 5 * 9 + 5)
    assert graph.mults == 8 * 8 * 4 * 27 + 8 * 8 * 4 * 9 * 5  # the stem's output x 27; each input value x 9 x 5
    assert same_outputs(model, path, rtol=1e-5)
    with torch.no_grad():
        x = torch.randn(1, 3, 8, 8)
        assert torch.allclose(model(x), module(x), atol=1e-5, rtol=1e-5)


class TimmECA(nn.Module):
    """A stem conv, then ECA as timm's EcaModule writes it: the mean over height and width without
    keepdims viewed as N x 1 x C, a Conv1d of one filter of k (no bias, (k-1)/2 zeros at each end),
    a sigmoid viewed back as N x C x 1 x 1, expanded to x's shape and multiplied in."""

    def __init__(self, c: int, k: int):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        x = self.stem(x)
        y = self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))
        y = torch.sigmoid(y).view(x.shape[0], -1, 1, 1)
        return x * y.expand_as(x)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_timms_eca_is_a_pool_a_channel_conv_its_gate_and_a_mul(dynamo, tmp_path, monkeypatch, capsys):
    c, k = 12, 5
    module = randomized(TimmECA(c, k))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.text for n in graph.nodes][1:4] == ["pool avg global", f"channelconv {k}", "sigmoid"]
    assert [n.kind for n in graph.nodes] == ["conv", "pool", "channelconv", "sigmoid", "mul"]
    assert graph.nodes[2].shape == (1, 1, c) and graph.output_shape == (8, 8, c)
    assert graph.params == (27 * c + c) + k == sum(p.numel() for p in module.parameters())
    assert graph.mults == 8 * 8 * c * 27 + c * k  # the stem's output volume x filter volume; C outputs x k taps
    assert same_outputs(model, path, rtol=1e-5)  # the 1 x 1 x k filter placed as channelconv's 1 x 1 x k x 1


class BiasedECA(nn.Module):
    """ECA whose Conv1d has a bias (timm's EcaModule once gave it one with `act_layer`), laid out as
    timm writes it (`timm`: the mean viewed as N x 1 x C) or as the paper's code (`paper`: the pooled
    N x C x 1 x 1 squeezed and transposed): y = sigmoid(w * pooled + b), each channel scaled by it."""

    def __init__(self, layout: str, c: int = 12, k: int = 5):
        super().__init__()
        self.layout = layout
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=True)

    def forward(self, x):
        x = self.stem(x)
        if self.layout == "timm":
            y = torch.sigmoid(self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))).view(x.shape[0], -1, 1, 1)
            return x * y.expand_as(x)
        y = self.conv(x.mean((2, 3), keepdim=True).squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * torch.sigmoid(y)


@pytest.mark.parametrize("layout", ["timm", "paper"])
@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_ecas_conv1d_with_a_bias_is_a_channelconv_with_bias(layout, dynamo, tmp_path, monkeypatch, capsys):
    c, k = 12, 5
    module = randomized(BiasedECA(layout, c, k))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.text for n in graph.nodes][1:4] == ["pool avg global", f"channelconv {k} bias", "sigmoid"]
    assert graph.params == (27 * c + c) + (k + 1) == sum(p.numel() for p in module.parameters())
    assert graph.mults == 8 * 8 * c * 27 + c * k  # the bias adds no multiplication
    assert same_outputs(model, path, rtol=1e-5)  # the bias placed: sigmoid(w * pooled + b) is ONNX Runtime's


ECA_NETWORK = """name: eca_bias
input: 8x8x3
layers:
  - conv f=3 p=1 n=12
  - gate: [pool avg global, channelconv 5 bias=true, sigmoid]
"""


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_cnnctls_own_channelconv_with_bias_imports_as_itself(dynamo, tmp_path, monkeypatch, capsys):
    # cnnctl's layout (Reshape, Conv of an f x 1 filter and its bias, Reshape), as `cnnctl export` writes it
    module = randomized(cnnctl.to_torch(cnnctl.load_text(ECA_NETWORK)))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.text for n in graph.nodes][1:4] == ["pool avg global", "channelconv 5 bias", "sigmoid"]
    assert graph.params == (27 * 12 + 12) + (5 + 1) == sum(p.numel() for p in module.parameters())
    assert same_outputs(model, path, rtol=1e-5)


class TimmECAMLP(nn.Module):
    """timm's EcaModule with use_mlp, from its formula: the mean over height and width viewed as
    N x 1 x C; each channel's value to `rd` values (a Conv1d of 1 to rd filters of 1, with a bias),
    ReLU, back to one across the channels (a Conv1d of rd to 1 filter of k, with a bias), sigmoid."""

    def __init__(self, c: int = 12, rd: int = 8, k: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.conv = nn.Conv1d(1, rd, 1)
        self.conv2 = nn.Conv1d(rd, 1, k, padding=(k - 1) // 2)

    def forward(self, x):
        x = self.stem(x)
        y = self.conv2(torch.relu(self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))))
        return x * torch.sigmoid(y).view(x.shape[0], -1, 1, 1).expand_as(x)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_timms_eca_with_use_mlp_is_refused_at_its_first_conv_saying_why(dynamo, tmp_path, monkeypatch, capsys):
    path = exported(randomized(TimmECAMLP()), tmp_path, dynamo)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and err.count("error:") == 1 and "(Conv, node " in err, err
    said = "timm's ECA with use_mlp (a Conv1d of 1 to 8 filters of 1, Relu, a Conv1d of 8 to 1 filter of 3)"
    assert said in err and "shared by all the channels" in err and "use_mlp=False" in err, err


class ConvNeXtV2Block(nn.Module):
    """A stem conv, then ConvNeXt V2's block as its official code writes it: 7x7 depthwise, permute
    to NHWC, LayerNorm, Linear(C, 4C), GELU, GRN on the channels-last data (`official`: gamma and
    beta 1x1x1x4C, gamma * (x * N) + beta + x; `timm`: timm's channels-last GlobalResponseNorm,
    weight and bias of 4C joined by addcmul), Linear(4C, C), permute back, plus the input."""

    def __init__(self, grn: str, c: int = 8):
        super().__init__()
        self.grn = grn
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1 = nn.Linear(c, 4 * c)
        shape = (1, 1, 1, 4 * c) if grn == "official" else (4 * c,)
        self.gamma, self.beta = nn.Parameter(torch.zeros(shape)), nn.Parameter(torch.zeros(shape))
        self.fc2 = nn.Linear(4 * c, c)

    def forward(self, x):
        x = self.stem(x)
        y = nn.functional.gelu(self.fc1(self.norm(self.dw(x).permute(0, 2, 3, 1))))
        g = torch.norm(y, p=2, dim=(1, 2), keepdim=True)
        n = g / (g.mean(dim=-1, keepdim=True) + 1e-6)
        if self.grn == "official":
            y = self.gamma * (y * n) + self.beta + y
        else:
            y = y + torch.addcmul(self.beta.view(1, 1, 1, -1), self.gamma.view(1, 1, 1, -1), y * n)
        return x + self.fc2(y).permute(0, 3, 1, 2)


CONVNEXT_V2_PARAMS = (27 * C + C) + (49 * C + C) + 2 * C + (C * 4 * C + 4 * C) + 2 * 4 * C + (4 * C * C + C)


EXPORTS = [  # each exporter at its default opset, and the TorchScript one at 17 (GELU written out with Erf)
    *(pytest.param(e.values[0], None, id=e.id, marks=e.marks) for e in EXPORTERS),
    pytest.param(False, 17, id="opset17"),
]


@pytest.mark.parametrize(("dynamo", "opset"), EXPORTS)
@pytest.mark.parametrize("grn", ["official", "timm"])
def test_grn_on_convnext_v2s_channels_last_data_is_a_grn(grn, dynamo, opset, tmp_path, monkeypatch, capsys):
    module = randomized(ConvNeXtV2Block(grn, C))
    path = exported(module, tmp_path, dynamo, opset=opset)  # opset 17: the GELU before it written out with Erf
    graph, model = imported(path, monkeypatch, capsys)
    texts = [n.text for n in graph.nodes]
    assert [t.split()[0] for t in texts] == ["conv", "conv", "layernorm", "conv", "grn", "conv", "add"], texts
    assert texts[3].endswith("act=gelu") and texts[4] == "grn", texts
    assert graph.params == CONVNEXT_V2_PARAMS == sum(p.numel() for p in module.parameters())
    assert graph.mults == 8 * 8 * (C * 27 + C * 49 + C * 4 * C + 4 * C * C)  # positions x each conv's C_out x filter
    assert graph.output_shape == (8, 8, C)
    assert same_outputs(model, path, rtol=1e-5)  # gamma and beta (1x1x1x4C or 4C) placed as grn's 4C


class GRNOverChannelsAndHeight(nn.Module):
    """The channels-last GRN's formula on NCHW data: norms over C and H, their mean over W. Not a GRN."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gamma, self.beta = nn.Parameter(torch.randn(1, 1, 1, 8)), nn.Parameter(torch.randn(1, 1, 1, 8))

    def forward(self, x):
        x = self.conv(x)
        g = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        return self.gamma * (x * (g / (g.mean(dim=-1, keepdim=True) + 1e-6))) + self.beta + x


def test_the_channels_last_grn_on_nchw_data_is_one_message_at_its_node(tmp_path, monkeypatch, capsys):
    import onnx

    path = exported(GRNOverChannelsAndHeight(), tmp_path, False)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err, err
    count = len(onnx.load(path).graph.node)  # the GRN's last node, its Add of x, is the graph's last
    assert err.count("error:") == 1 and f"(Add, node {count} of {count}): a GRN over axes 1 and 2" in err, err
    assert "not channels-last" in err and "hint: cnnctl reads it on channels-last data" in err, err


class ExpandedIntoConcat(nn.Module):
    """A pooled 1x1 map expanded to the image's size and concatenated: an Expand no Mul or Add broadcasts."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        x = self.conv(x)
        return torch.cat([x, x.mean((2, 3), keepdim=True).expand_as(x)], 1)


def test_an_expand_not_read_by_a_mul_or_add_is_one_message_at_its_node(tmp_path, monkeypatch, capsys):
    path = exported(ExpandedIntoConcat(), tmp_path, False)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.count("error:") == 1 and "(Expand, node " in err, err
    assert "an Expand other than to the shape of what the one Mul or Add reading it takes with it" in err, err


# -- an export with dynamic sizes, read at --input (nu3 item T1) -----------------------------------
class Dynamic(nn.Module):
    """What an export with dynamic sizes computes from x.shape: a channel shuffle's view, a chunk,
    a resize to twice the size, a view to N x -1; conv, bn and a classifier around them."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.d = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        a, b = x.chunk(2, dim=1)
        x = torch.cat([self.d(a), b], 1)
        x = nn.functional.interpolate(x, size=(h * 2, w * 2), mode="nearest")
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        return self.fc(x.view(x.size(0), -1))


def exported_dynamic(module: nn.Module, tmp_path, dynamo: bool) -> str:
    """`module` exported at 1x3x8x8 with its batch, height and width dynamic: dynamic_axes for
    the TorchScript-based exporter, dynamic_shapes for dynamo."""
    path = str(tmp_path / f"dynamic_{'dynamo' if dynamo else 'ts'}.onnx")
    if dynamo:
        dim = torch.export.Dim
        sizes = {"dynamic_shapes": ({0: dim("n"), 2: dim("h", min=4, max=512), 3: dim("w", min=4, max=512)},)}
    else:
        sizes = {"dynamic_axes": {"x": {0: "n", 2: "h", 3: "w"}}, "training": torch.onnx.TrainingMode.PRESERVE}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(2, 3, 8, 8),), path, dynamo=dynamo, input_names=["x"], **sizes)
    return path


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_an_export_with_dynamic_sizes_is_read_at_the_input_given(dynamo, tmp_path, monkeypatch, capsys):
    module = randomized(Dynamic())
    path = exported_dynamic(module, tmp_path, dynamo)
    net = str(tmp_path / "net.yaml")
    code, _, err = run_main(monkeypatch, capsys, "import", path, "--input", "12x10x3", "-o", net)
    assert code == 0, err
    assert "input: 12x10x3\n" in (tmp_path / "net.yaml").read_text()
    graph = cnnctl.load(net)
    kinds = [n.kind for n in graph.nodes]
    assert {"shuffle", "chunk", "upsample"} <= set(kinds), kinds
    own = sum(p.numel() for p in module.parameters())
    assert graph.params in (own, own - 16)  # eval-mode exports may fold bn into the conv (which has a bias)
    # the course's formula at 12x10: the conv's and the 1x1 conv's (at 12x10) output volume x filter volume, fc
    assert graph.mults == 12 * 10 * 8 * (3 * 3 * 3) + 12 * 10 * 4 * 4 + 8 * 5
    model = cnnctl.to_torch(graph).eval()
    place_weights(model, net.removesuffix(".yaml") + ".safetensors")
    assert same_outputs(model, path, shape=(3, 12, 10))  # ONNX Runtime on the file, at the size given


def test_an_export_with_dynamic_sizes_gives_its_weights_at_the_networks_input(tmp_path, monkeypatch, capsys):
    # --weights model.onnx: the file's unknown sizes are the network's own, so its initializers are read
    module = randomized(Dynamic())
    path = exported_dynamic(module, tmp_path, dynamo=False)
    net = str(tmp_path / "net.yaml")
    code, _, err = run_main(monkeypatch, capsys, "import", path, "--input", "12x10x3", "-o", net)
    assert code == 0, err
    model = cnnctl.to_torch(cnnctl.load(net)).eval()
    place_weights(model, path)  # the ONNX file itself, not the safetensors import wrote
    assert same_outputs(model, path, shape=(3, 12, 10))


def test_an_export_with_dynamic_sizes_without_input_says_how_to_give_them(tmp_path, monkeypatch, capsys):
    path = exported_dynamic(Dynamic(), tmp_path, dynamo=False)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "its input is ?x3x?x? (N x C x H x W): its height and width are not fixed" in err
    assert "--input HxWxC" in err and "re-export the model at a fixed size" in err


@pytest.mark.parametrize(
    ("dynamic", "given", "said"),
    [
        (True, "12x10x1", "--input 12x10x1 gives 1 channel; the file's input (?x3x?x?, N x C x H x W) has 3"),
        (False, "12x10x3", "--input 12x10x3: the file fixes its input's height 8 and width 8 (1x3x8x8"),
    ],
)
def test_an_input_that_disagrees_with_the_files_is_refused_naming_both(dynamic, given, said, tmp_path, monkeypatch,
                                                                       capsys):  # fmt: skip
    path = exported_dynamic(Dynamic(), tmp_path, dynamo=False) if dynamic else exported(Dynamic(), tmp_path, False)
    code, out, err = run_main(monkeypatch, capsys, "import", path, "--input", given)
    assert code == 2 and out == "" and "Traceback" not in err
    assert said in err


class Flattened(nn.Module):
    """A conv, its output flattened as hand-written code does (`how`), an fc: exported with dynamic sizes,
    the TorchScript exporter works the flatten's target out of Shape, Gather, ReduceProd (x.numel()),
    Div, Cast, Unsqueeze and Concat before the Reshape."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        x = self.conv(x)
        return self.fc(
            {
                "view": lambda: x.view(x.size(0), -1),
                "flatten": lambda: torch.flatten(x, 1),
                "numel": lambda: x.view(x.size(0), x.numel() // x.size(0)),
                "sizes": lambda: x.reshape(x.shape[0], x.shape[1] * x.shape[2] * x.shape[3]),
            }[self.how]()
        )


@pytest.mark.parametrize("how", ["view", "flatten", "numel", "sizes"])
def test_a_flatten_whose_target_is_worked_out_from_the_size_is_a_flatten(how, tmp_path, monkeypatch, capsys):
    import onnx

    module = randomized(Flattened(how))
    path = exported_dynamic(module, tmp_path, dynamo=False)
    if how == "numel":  # what was refused before: a ReduceProd of the shape, x.numel()
        assert "ReduceProd" in {n.op_type for n in onnx.load(path).graph.node}
    net = str(tmp_path / "net.yaml")
    code, _, err = run_main(monkeypatch, capsys, "import", path, "--input", "8x8x3", "-o", net)
    assert code == 0, err
    graph = cnnctl.load(net)
    assert [n.kind for n in graph.nodes] in (["conv", "fc"], ["conv", "flatten", "fc"])
    assert graph.params == sum(p.numel() for p in module.parameters()) == 4 * 27 + 4 + 256 * 5 + 5
    assert graph.mults == 8 * 8 * 4 * 27 + 256 * 5  # the conv's output volume x filter volume, then the fc
    model = cnnctl.to_torch(graph).eval()
    place_weights(model, net.removesuffix(".yaml") + ".safetensors")
    assert same_outputs(model, path, rtol=1e-5)  # sums of 256 products of random weights: float32's rounding


def test_floor_ceil_and_range_of_known_sizes_are_worked_out(tmp_path, monkeypatch, capsys):
    # x.view(N, -1) whose target is Concat(Gather(Range(0, 2, 1) of the shape)'s first, Floor(Ceil(-1.0)))
    import onnx
    from onnx import helper, numpy_helper

    from tests.helpers import onnx_model, onnx_tensor

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv"),
        helper.make_node("Shape", ["y"], ["s"], name="shape"),
        helper.make_node("Range", ["zero", "two", "one"], ["r"], name="range"),
        helper.make_node("Gather", ["s", "r"], ["nc"], name="gather"),
        helper.make_node("Slice", ["nc", "zero1", "one1"], ["n"], name="batch"),
        helper.make_node("Ceil", ["minus"], ["c"], name="ceil"),
        helper.make_node("Floor", ["c"], ["f"], name="floor"),
        helper.make_node("Cast", ["f"], ["i"], name="cast", to=onnx.TensorProto.INT64),
        helper.make_node("Concat", ["n", "i"], ["t"], name="concat", axis=0),
        helper.make_node("Reshape", ["y", "t"], ["z"], name="reshape"),
    ]
    stored = (
        onnx_tensor("w", np.ones((4, 3, 1, 1))),
        *(numpy_helper.from_array(np.array(v, dtype=np.int64), k) for k, v in (("zero", 0), ("two", 2), ("one", 1))),
        *(numpy_helper.from_array(np.array([v], dtype=np.int64), k) for k, v in (("zero1", 0), ("one1", 1))),
        onnx_tensor("minus", np.array([-1.5], dtype=np.float32)),
    )
    model = onnx_model(nodes, stored, shape=("n", 3, "h", "w"))
    onnx.save(model, str(tmp_path / "m.onnx"))
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "m.onnx"), "--input", "8x8x3")
    assert code == 0, err
    assert out.splitlines()[-2:] == ["  - conv f=1 n=4 bias=false", "  - flatten"], out


def test_a_size_worked_out_by_an_operator_cnnctl_does_not_is_told_at_its_node(tmp_path, monkeypatch, capsys):
    # x.view(*x.shape.abs()): the Reshape's target is worked out from the size by an Abs, told once, there
    import onnx
    from onnx import helper

    from tests.helpers import onnx_model, onnx_tensor

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv"),
        helper.make_node("Shape", ["y"], ["s"], name="shape"),
        helper.make_node("Abs", ["s"], ["t"], name="abs"),
        helper.make_node("Reshape", ["y", "t"], ["z"], name="reshape"),
    ]
    model = onnx_model(nodes, (onnx_tensor("w", np.ones((4, 3, 1, 1))),), shape=("n", 3, "h", "w"))
    onnx.save(model, str(tmp_path / "m.onnx"))
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "m.onnx"), "--input", "8x8x3")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "ONNX node `abs` (Abs, node 3 of 4): works out a value with Abs: cnnctl works out Shape, Gather" in err
    assert "re-export at a fixed size" in err
    assert err.count("error:") == 1  # the Reshape, which reads it, is not told again


# -- a softmax or a layer norm over another axis than the channels (F2 items 1 and 2) ------------
class SoftmaxOver(nn.Module):
    """A conv, then a softmax over `dim`; or an fc, then one over its features (dim=-1)."""

    def __init__(self, dim: int, fc: bool = False):
        super().__init__()
        self.dim, self.fc = dim, fc
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.linear = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        y = self.conv(x)
        return torch.softmax(self.linear(y.flatten(1)) if self.fc else y, dim=self.dim)


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("dim, over", [(-1, "W (8)"), (3, "W (8)"), (2, "H (8)")])
def test_a_softmax_over_the_width_or_height_is_refused_not_read_over_the_channels(
    dim, over, dynamo, tmp_path, monkeypatch, capsys
):
    path = exported(SoftmaxOver(dim), tmp_path, dynamo)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert "(Softmax, node " in err and f"over {over}, not the channels (4)" in err, err


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("dim, fc", [(1, False), (-1, True), (1, True)])
def test_a_softmax_over_the_channels_or_an_fcs_features_is_read(dim, fc, dynamo, tmp_path, monkeypatch, capsys):
    module = randomized(SoftmaxOver(dim, fc))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert "act=softmax" in graph.nodes[-1].text or graph.nodes[-1].kind == "softmax"
    assert same_outputs(model, path)


class LayerNormOverWidth(nn.Module):
    """nn.LayerNorm(W) on NCHW data: a norm over the width, not the channels."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(self.conv(x))


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_layer_norm_over_the_width_of_nchw_data_is_refused(dynamo, tmp_path, monkeypatch, capsys):
    path = exported(LayerNormOverWidth(), tmp_path, dynamo)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert "(LayerNormalization, node " in err and "over the width (8), not the channels (4)" in err, err


# -- a graph of several outputs (F2 item 4) ------------------------------------------------------
class TwoOutputs(nn.Module):
    """Two fcs on one pooled conv, both returned: the first returned is the main output."""

    def __init__(self, second: int):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.main = nn.Linear(8, 4)
        self.other = nn.Linear(8, second)

    def forward(self, x):
        z = torch.relu(self.conv(x)).mean((2, 3))
        return self.main(z), self.other(z)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_second_output_of_the_same_shape_is_a_head_and_the_first_stays_the_output(
    dynamo, tmp_path, monkeypatch, capsys
):
    module = randomized(TwoOutputs(4))
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert len(graph.heads) == 1 and graph.nodes[-1].params == 8 * 4 + 4  # the main fc last, the other a head
    assert graph.params == sum(p.numel() for p in module.parameters())
    inference = inference_graph(graph)
    slim, weights = cnnctl.to_torch(inference).eval(), model.state_dict()  # the file's, placed on the whole net
    slim.load_state_dict({name: weights[name] for name in slim.state_dict()})
    assert same_outputs(slim, path)  # ONNX Runtime's first output: the main one


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_a_second_output_of_another_shape_is_warned_of_and_left_out_and_the_first_stays_the_output(
    dynamo, tmp_path, monkeypatch, capsys
):
    module = randomized(TwoOutputs(2))
    path = exported(module, tmp_path, dynamo)
    net = path.removesuffix(".onnx") + ".yaml"
    code, out, err = run_main(monkeypatch, capsys, "import", path, "-o", net)
    # the notation has no head of another shape: a warning, not a note, and its own fc left out, not
    # kept as a dead layer the summary would count: Linear(8, 2), 8 x 2 + 2 params
    assert code == 0 and err.count("warning: the graph's output ") == 1 and "is not the first's shape" in err, err
    assert "left out, with the 1 layer only it needs (18 params)" in err
    assert "# Warning: the graph's output " in Path(net).read_text()
    graph = cnnctl.load(net)
    assert graph.output_shape == (4,) and not graph.heads
    assert graph.params == sum(p.numel() for p in module.parameters()) - (8 * 2 + 2)
    model = cnnctl.to_torch(graph).eval()
    place_weights(model, path)
    assert same_outputs(model, path)


# -- x * hardsigmoid(x), as opsets below 14 write hardswish (F2 item 11) -------------------------
class HardSwished(nn.Module):
    """A conv with hardswish, then one alone after a pool: each x * HardSigmoid(x) at opset 13."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return nn.functional.hardswish(torch.max_pool2d(nn.functional.hardswish(self.conv(x)), 2))


def test_x_times_hardsigmoid_of_x_is_one_hardswish(tmp_path, monkeypatch, capsys):
    module = randomized(HardSwished())
    path = exported(module, tmp_path, False, opset=13)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.text for n in graph.nodes] == ["conv f=3 p=1 n=4 act=hardswish", "pool max f=2", "hardswish"]
    assert same_outputs(model, path)


class ChannelsLastNorm(nn.Module):
    """A conv, then a layer norm over its channels, on channels-last data (ConvNeXt's)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        return self.norm(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def test_a_layer_norm_written_out_below_opset_17_is_told_with_the_opset_to_export_at(tmp_path, monkeypatch, capsys):
    path = exported(ChannelsLastNorm(), tmp_path, False, opset=13)  # F2 item 7
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and "Traceback" not in err, err
    assert "(ReduceMean, node " in err and "the mean of a LayerNorm written out" in err, err
    assert "hint: re-export at opset 17 or later" in err


class NormThenSine(ConvNeXtBlock):
    """ConvNeXt's block, then a sine of its output: an operator cnnctl does not read, after the layer norm."""

    def forward(self, x):
        return torch.sin(super().forward(x))


@pytest.mark.parametrize("opset", [11, 13])
def test_a_layer_norm_written_out_is_told_once_and_what_follows_it_only_for_its_own_problems(
    opset, tmp_path, monkeypatch, capsys
):
    # N3 item 5: once the ReduceMean, then the Pow, the second ReduceMean and the Sqrt of the same layer norm, each
    # with a generic hint that followed from the first. Now the norm is told once, at its first node; what reads it
    # is read as after a layer norm (channels-last: the Linear layers, GELU, the layer scale, the residual add), and
    # only a problem of its own (the Sin at the end) is told besides
    path = exported(NormThenSine(C), tmp_path, False, opset=opset)
    code, out, err = run_main(monkeypatch, capsys, "import", path)
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert err.count("error:") == 2, err
    assert "(ReduceMean, node 4 of " in err and "the mean of a LayerNorm written out" in err, err
    assert "(Sin, node " in err and "no cnnctl layer kind does this" in err, err


class Grouped(nn.Module):
    """A conv, then nn.GroupNorm (4 groups of 2 channels, eps 1e-3)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.GroupNorm(4, 8, eps=1e-3)

    def forward(self, x):
        return self.norm(self.conv(x))


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_torchs_group_norm_is_a_groupnorm_with_its_weights(dynamo, tmp_path, monkeypatch, capsys):
    module = randomized(Grouped())  # its factor and shift per channel random: misplaced, the outputs differ
    path = exported(module, tmp_path, dynamo)
    graph, model = imported(path, monkeypatch, capsys)
    assert [n.text for n in graph.nodes] == ["conv f=3 p=1 n=8", "groupnorm 4 eps=0.001"]
    assert graph.params == sum(p.numel() for p in module.parameters())
    assert same_outputs(model, path)


class Small(nn.Module):
    """A conv, relu, and a Linear: what torch.autocast runs in 16 bits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize("folding", [False, True], ids=["cast in the graph", "folded"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_model_exported_under_autocast_is_read_with_its_16_bit_weights(dtype, folding, tmp_path, monkeypatch,
                                                                          capsys):  # fmt: skip
    # N3 item 2: torch.onnx.export under torch.autocast casts the input and each weight to 16 bits (without constant
    # folding a Cast node before each Conv and Gemm; with it, the weights stored so); once the Casts of the weights
    # were refused as constants of more than 64 values, the Cast of the input as a Cast of the network's values.
    # Read as the network, its weights the module's rounded to 16 bits (exactly, as float32 holds them), and said
    from cnnctl.exchange.onnx_import import read_weights

    module = randomized(Small()).eval()
    path = str(tmp_path / f"small_{dtype}.onnx")
    with warnings.catch_warnings(), torch.autocast("cpu", dtype=getattr(torch, dtype)):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(1, 3, 8, 8),), path, dynamo=False, do_constant_folding=folding)
    got = read_weights(path)
    assert [n.text for n in got.graph.nodes] == ["conv f=3 n=4 act=relu", "fc 5"]
    assert got.graph.params == sum(p.numel() for p in module.parameters())
    own = {"conv1": module.conv, "fc1": module.fc}
    for name in got.shapes:
        layer, param = name.split(".")
        rounded = getattr(own[layer], param).detach().to(getattr(torch, dtype)).float().numpy()
        assert np.array_equal(got.array(name), rounded), name
    said = f"the weights are {'stored as' if folding else 'cast to'} {dtype}{'' if folding else ' in the graph'}: "
    assert any(note.startswith(said + "the figures assume float32") for note in got.notes), got.notes
