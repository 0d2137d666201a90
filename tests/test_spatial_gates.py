"""Spatial gates: `mul`/`add` broadcasting an HxWx1 map over the channels, pooling across the
channels (`pool avg|max channels`), and the CBAM block they make (examples/cbam.yaml) against a
hand-written PyTorch CBAM (Woo et al. 2018: the paper's formulas, the authors' 7x7 conv + bn).

Expected counts come from the formulas (the example's header shows the arithmetic); outputs from
torch's own reductions and the hand-written module, with its weights copied in.
"""

import copy

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from helpers import EXAMPLES, nchw, run_main  # noqa: E402
from test_backend import check  # noqa: E402
from test_modern_blocks import randomize, same_output  # noqa: E402
from test_notation import readme_snippet  # noqa: E402
from test_training_memory import assert_same  # noqa: E402
from torch import nn  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.analysis.receptive import receptive_fields  # noqa: E402
from cnnctl.errors import ShapeError  # noqa: E402
from cnnctl.exchange.pytorch_source import class_name, pytorch_source  # noqa: E402
from cnnctl.exchange.schema import notation_schema  # noqa: E402
from cnnctl.layers import KINDS, Args  # noqa: E402
from cnnctl.train.settings import NAMES  # noqa: E402


def layer(name: str, ins: list[tuple], **given):
    """(shape, params, mults, flops) of one layer of kind `name` on input shapes `ins`."""
    kind = KINDS[name]
    a = Args({**kind.defaults, **given})
    out = kind.shape(a, ins)
    return out, kind.params(a, ins, out), kind.mults(a, ins, out), kind.flops(a, ins, out)


# -- broadcasting an HxWx1 map over the channels ----------------------------------------------------
def test_mul_and_add_broadcast_an_hxwx1_map_over_the_channels():
    # 6x5x4 * 6x5x1: each of the 30 positions scaled by its one value, in all 4 channels:
    # output 6x5x4, 6*5*4 = 120 products (FLOPs; no multiplications by weights)
    assert layer("mul", [(6, 5, 4), (6, 5, 1)]) == ((6, 5, 4), 0, 0, 120)
    assert layer("mul", [(6, 5, 1), (6, 5, 4)]) == ((6, 5, 4), 0, 0, 120)
    assert layer("add", [(6, 5, 4), (6, 5, 1)]) == ((6, 5, 4), 0, 0, 120)
    # BAM: a 1x1xC channel map plus an HxWx1 spatial one is HxWxC, 6*5*4 sums, then sigmoid (1 per value)
    assert layer("add", [(1, 1, 4), (6, 5, 1)], act="sigmoid") == ((6, 5, 4), 0, 0, 120 + 120)


def test_shapes_that_do_not_broadcast_are_refused_naming_both():
    with pytest.raises(ShapeError, match=r"cannot multiply 6x5x4 and 6x5x3: the channels differ \(4 and 3\)") as exc:
        layer("mul", [(6, 5, 4), (6, 5, 3)])
    assert "n=4" in exc.value.hint and "1" in exc.value.hint
    with pytest.raises(ShapeError, match="cannot multiply different shapes") as exc:
        layer("mul", [(6, 5, 4), (3, 5, 1)])  # a map of another size: no position to pair with
    assert "HxWx1" in exc.value.hint
    # in a file, the message names each input and its shape, once, at the layer
    text = "input: 6x6x4\nlayers:\n  - conv f=1 n=3 id=a\n  - conv f=3 n=1 from=input\n  - mul with=a"
    with pytest.raises(cnnctl.CnnctlError) as info:
        cnnctl.load_text(text)
    said = str(info.value)
    assert ":5:5: layer `mul1`: cannot multiply different shapes (inputs: `conv1` 4x4x1, `a` 6x6x3)" in said, said


def test_a_broadcast_spatial_map_gives_torchs_product():
    graph = cnnctl.load_text("input: 5x4x3\nlayers:\n  - conv f=3 p=1 n=1 id=map\n  - mul with=input")
    assert graph.output_shape == (5, 4, 3)
    model = cnnctl.to_torch(graph).eval()
    x = torch.randn(2, *nchw(graph.input_shape))
    conv = model.get_submodule("map")
    with torch.no_grad():
        assert torch.equal(model(x), conv(x) * x)


# -- pooling across the channels ----------------------------------------------------------------------
def test_pool_across_the_channels_counts():
    # 6x5x8 -> 6x5x1; per position max: 8 - 1 comparisons, avg: 8 (7 adds and a divide)
    assert layer("pool", [(6, 5, 8)], op="max", channels=True) == ((6, 5, 1), 0, 0, 30 * 7)
    assert layer("pool", [(6, 5, 8)], op="avg", channels=True) == ((6, 5, 1), 0, 0, 30 * 8)
    graph = cnnctl.load_text("input: 6x5x8\nlayers: [pool max channels, pool avg channels]")
    assert [n.text for n in graph.nodes] == ["pool max channels", "pool avg channels"]  # the shorthand
    assert graph.params == graph.mults == 0


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("pool max channels f=2", "it takes no `f`"),
        ("pool avg channels global", "it takes no `global`"),
        ("pool avg channels out=2", "it takes no `out`"),
        ("pool max channels p=1", "it takes no `p`"),
    ],
)
def test_pool_across_the_channels_takes_no_window(written, said):
    with pytest.raises(cnnctl.CnnctlError) as info:
        cnnctl.load_text(f"input: 6x6x4\nlayers: [{written}]")
    assert "`channels` pools the values at each position" in str(info.value) and said in str(info.value)


def test_pool_across_the_channels_keeps_each_positions_field():
    # a 3x3 conv sees 3x3 pixels; pooling its channels at each position adds nothing
    graph = cnnctl.load_text("input: 8x8x2\nlayers: [conv f=3 p=same n=4, pool max channels]")
    conv, pool = receptive_fields(graph)
    assert (pool.size, pool.jump, pool.start) == (conv.size, conv.jump, conv.start) == ((3, 3), (1, 1), (-1, -1))


def test_pool_across_the_channels_is_torchs_mean_and_max():
    graph = cnnctl.load_text("input: 5x4x6\nlayers:\n  - pool avg channels id=a\n  - pool max channels from=input")
    model = cnnctl.to_torch(graph).eval()
    x = torch.randn(3, *nchw(graph.input_shape))
    seen = {}
    for path in ("a", "pool1"):
        model.get_submodule(path).register_forward_hook(lambda m, i, out, path=path: seen.__setitem__(path, out))
    with torch.no_grad():
        model(x)
    assert torch.equal(seen["a"], x.mean(dim=1, keepdim=True))
    assert torch.equal(seen["pool1"], x.amax(dim=1, keepdim=True))


def test_pool_across_the_channels_keeps_what_autograd_keeps():
    # conv f=1 n=4 keeps its 4x4x2 input (32 values); the max pool over the 4 channels only the int64
    # index of each maximum (16 x 8 bytes), the avg pool nothing (a mean's gradient is 1/C everywhere)
    text = "input: 4x4x2\nlayers: [conv f=1 n=4 id=c, pool max channels, pool avg channels from=c]"
    assert_same(cnnctl.load_text(text), 2, "conv, pool max channels, pool avg channels")


def test_the_schema_has_the_channels_flag():
    pool = notation_schema(NAMES)["definitions"]["kind_pool"]["properties"]
    assert pool["channels"]["anyOf"][0] == {"type": "boolean"}


def test_pool_across_the_channels_exports_as_reduce_over_axis_1(tmp_path, monkeypatch, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    net = tmp_path / "net.yaml"
    net.write_text("input: 5x4x6\nlayers: [pool avg channels id=a, pool max channels from=input, mul with=a]")
    out = tmp_path / "net.onnx"
    code, said, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(out))
    assert code == 0, err
    assert "ONNX Runtime" in said  # run and compared with PyTorch's output before it was kept
    graph = onnx.load(str(out)).graph
    constants = {t.name: numpy_helper.to_array(t).tolist() for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant":
            constants[n.output[0]] = numpy_helper.to_array(n.attribute[0].t).tolist()
    axes_and_options = {
        n.op_type: (constants[n.input[1]], {a.name: a.i for a in n.attribute})
        for n in graph.node
        if n.op_type.startswith("Reduce")
    }
    assert axes_and_options == {"ReduceMean": ([1], {"keepdims": 1}), "ReduceMax": ([1], {"keepdims": 1})}
    assert "ArgMax" not in {n.op_type for n in graph.node}


# -- CBAM ---------------------------------------------------------------------------------------------
class CBAM(nn.Module):
    """Woo et al. 2018, from the paper's formulas: the channel gate sigmoid(MLP(avg) + MLP(max)),
    one MLP (C -> C/r -> C, with biases) shared by both pooled vectors; the spatial gate
    sigmoid(bn(conv7x7([mean over C; max over C]))), the conv without bias as the authors' code."""

    def __init__(self, c: int, r: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(c, c // r, 1), nn.ReLU(), nn.Conv2d(c // r, c, 1))
        self.spatial = nn.Sequential(nn.Conv2d(2, 1, 7, padding=3, bias=False), nn.BatchNorm2d(1))

    def forward(self, x):
        x = x * torch.sigmoid(self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1)))
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


def test_cbam_example_is_cbam():
    graph = cnnctl.load(EXAMPLES / "cbam.yaml")
    c, r, (h, w) = 64, 16, (8, 8)
    mlp = c * (c // r) + c // r + (c // r) * c + c  # 580: two 1x1 convs with biases
    assert graph.params == 2 * mlp + 7 * 7 * 2 + 2 * 1  # an MLP per pooled path, the 7x7 conv, bn's 2
    assert graph.buffers == 2
    assert graph.mults == 2 * (c * (c // r) + (c // r) * c) + h * w * 7 * 7 * 2  # the paper's: MLP twice, conv
    spatial_mul = next(n for n in graph.nodes if n.path == "cbam1.gate2.mul")
    assert spatial_mul.flops == h * w * c  # 8x8x64 * 8x8x1: one product per value

    reference = CBAM(c, r)
    randomize(reference, seed=3)
    model = cnnctl.to_torch(graph)
    mlp_state, spatial_state = list(reference.mlp.state_dict().values()), list(reference.spatial.state_dict().values())
    ours = list(model.state_dict().items())
    assert len(ours) == 2 * len(mlp_state) + len(spatial_state)
    with torch.no_grad():  # the shared MLP into both paths, in the file's order: avg, max, spatial
        for (name, t), value in zip(ours, [*mlp_state, *mlp_state, *spatial_state], strict=True):
            assert t.shape == value.shape, name
            t.copy_(value)
    reference.eval(), model.eval()
    x = torch.randn(2, c, h, w, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected, got = reference(x), model(x)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5), float((got - expected).abs().max())


def test_cbam_compiles_to_the_analyzed_module_and_its_source():
    graph = cnnctl.load(EXAMPLES / "cbam.yaml")
    check(graph)  # params, buffers, each layer's shape, FlopCounterMode's count = 2 x mults
    assert_same(graph, 2, "cbam")
    namespace: dict = {}
    exec(compile(pytorch_source(graph), "cbam_source.py", "exec"), namespace)  # noqa: S102 - our own output
    written, model = namespace[class_name(graph.name)]().eval(), cnnctl.to_torch(graph).eval()
    written.load_state_dict(model.state_dict())
    x = torch.randn(2, *nchw(graph.input_shape))
    with torch.no_grad():
        assert torch.equal(written(x), model(x))


def test_the_readmes_spatial_gate_builds():
    snippet = readme_snippet("A gate whose path ends in `HxWx1`")
    graph = cnnctl.load_text("input: 8x8x16\nlayers:\n" + snippet, "readme.yaml")
    assert [n.shape for n in graph.nodes] == [(8, 8, 1), (8, 8, 1), (8, 8, 2), (8, 8, 1), (8, 8, 1), (8, 8, 16)]
    assert graph.params == 7 * 7 * 2 + 2  # the 7x7 conv on 2 channels, bn's scale and shift


# -- BAM: a 1x1xC and an HxWx1 map added into an HxWxC attention ----------------------------------------
BAM_TEXT = """
input: 12x12x32
blocks:
  bam:
    args: r=16 d=4
    layers:
      - residual:
          - gate:
              - add:
                  channel:
                    - pool avg global
                    - conv f=1 n=${in_c // r} act=relu
                    - conv f=1 n=${in_c}
                    - bn
                  spatial:
                    - conv f=1 n=${in_c // r}
                    - bn act=relu
                    - conv f=3 p=$d dilation=$d n=${in_c // r}
                    - bn act=relu
                    - conv f=3 p=$d dilation=$d n=${in_c // r}
                    - bn act=relu
                    - conv f=1 n=1
                act: sigmoid
                id: attention   # unnamed, its path would be the residual's add's (bam1.add)
layers: [bam]
"""


class BAM(nn.Module):
    """Park et al. 2018, from the paper's formulas: F + F * sigmoid(Mc(F) + Ms(F)), Mc = BN(MLP(avgpool F))
    (1x1xC), Ms = 1x1 conv to C/r, two 3x3 convs dilated by d, 1x1 conv to one map (HxWx1), BN and ReLU
    between them."""

    def __init__(self, c: int, r: int, d: int):
        super().__init__()
        m = c // r
        self.channel = nn.Sequential(nn.Conv2d(c, m, 1), nn.ReLU(), nn.Conv2d(m, c, 1), nn.BatchNorm2d(c))
        dilated = [nn.Conv2d(m, m, 3, padding=d, dilation=d), nn.BatchNorm2d(m), nn.ReLU()]
        self.spatial = nn.Sequential(
            nn.Conv2d(c, m, 1), nn.BatchNorm2d(m), nn.ReLU(), *dilated, *copy.deepcopy(dilated), nn.Conv2d(m, 1, 1)
        )

    def forward(self, x):
        return x + x * torch.sigmoid(self.channel(F.adaptive_avg_pool2d(x, 1)) + self.spatial(x))


def test_bam_adds_a_channel_and_a_spatial_map_into_one_attention():
    graph = cnnctl.load_text(BAM_TEXT, "bam.yaml")
    c, m, (h, w) = 32, 32 // 16, (12, 12)
    attention = next(n for n in graph.nodes if n.kind == "add" and n.args.act == "sigmoid")
    assert [graph.nodes[i].shape for i in attention.inputs] == [(1, 1, c), (h, w, 1)]
    assert attention.shape == (h, w, c)
    assert attention.flops == h * w * c * 2  # one sum and one sigmoid per value
    channel = (c * m + m) + (m * c + c) + 2 * c
    spatial = (c * m + m) + 2 * m + 2 * (3 * 3 * m * m + m + 2 * m) + (m + 1)
    assert graph.params == channel + spatial
    assert graph.mults == (c * m + m * c) + h * w * (c * m + 2 * 3 * 3 * m * m + m)
    same_output(BAM(c, 16, 4), graph, (c, h, w), seed=5)
