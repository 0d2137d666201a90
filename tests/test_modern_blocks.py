"""The blocks of the bundled modern networks compute what their papers (and torchvision) do.

Counts alone do not prove the same network. For each new construct, a hand-written PyTorch
module of the block, written here from the paper's description and independent of cnnctl,
gets random weights and batch-norm statistics; they are copied into cnnctl's compiled block
(the same block text as the bundled file, taken from it), and both must give the same output.
"""

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402
from helpers import EXAMPLES, make_divisible  # noqa: E402
from torch import nn  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.catalog import bundled  # noqa: E402


def bundled_block(arch: str, input: str, layers: list) -> cnnctl.Graph:
    """A network of the bundled file's own blocks (and schedule), on a small input; `arch` may
    also name an example file (`eca_resnet50d.yaml`)."""
    path = EXAMPLES / arch if arch.endswith(".yaml") else Path(bundled()[arch])
    doc = yaml.safe_load(path.read_text())
    doc.update(input=input, layers=layers)
    return cnnctl.load_text(yaml.safe_dump(doc, sort_keys=False), f"{arch}-block.yaml")


def randomize(module: nn.Module, seed: int) -> None:
    """Weights and batch-norm statistics far from their initial values, so that every one matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.dtype.is_floating_point:
                value = torch.randn(t.shape, generator=g) * 0.5
                t.copy_(value.abs() + 0.5 if name.endswith("running_var") else value)


def copy_into(source: nn.Module, target: nn.Module) -> None:
    """Every tensor of `source`'s state, in order, into `target`'s (a Linear's weight into a 1x1 conv's)."""
    ours, theirs = list(target.state_dict().items()), list(source.state_dict().values())
    assert len(ours) == len(theirs), [k for k, _ in ours]
    with torch.no_grad():
        for (name, t), value in zip(ours, theirs, strict=True):
            assert t.numel() == value.numel(), (name, tuple(t.shape), tuple(value.shape))
            t.copy_(value.reshape(t.shape))


def same_output(reference: nn.Module, graph: cnnctl.Graph, shape: tuple[int, ...], seed: int = 0) -> None:
    randomize(reference, seed)
    model = cnnctl.to_torch(graph)
    copy_into(reference, model)
    reference.eval()
    model.eval()
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        expected, got = reference(x), model(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), float((got - expected).abs().max())


# -- EfficientNet's MBConv with squeeze-and-excitation ------------------------------------------
class MBConv(nn.Module):
    """Tan & Le 2019: expand (unless t = 1), depthwise, SE on a quarter of the *input*
    channels with SiLU, linear projection; the input added when size and channels stay."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, t: int):
        super().__init__()
        e = make_divisible(cin * t)
        layers = []
        if e != cin:
            layers += [nn.Conv2d(cin, e, 1, bias=False), nn.BatchNorm2d(e), nn.SiLU()]
        layers += [nn.Conv2d(e, e, k, stride, (k - 1) // 2, groups=e, bias=False), nn.BatchNorm2d(e), nn.SiLU()]
        self.body = nn.Sequential(*layers)
        self.fc1 = nn.Conv2d(e, max(1, cin // 4), 1)
        self.fc2 = nn.Conv2d(max(1, cin // 4), e, 1)
        self.project = nn.Sequential(nn.Conv2d(e, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        scale = torch.sigmoid(self.fc2(F.silu(self.fc1(F.adaptive_avg_pool2d(y, 1)))))
        y = self.project(y * scale)
        return y + x if self.residual else y


@pytest.mark.parametrize(
    ("layer", "cin", "cout", "k", "stride", "t"),
    [
        ("mbconv_res n=40 k=5 t=6", 40, 40, 5, 1, 6),
        ("mbconv n=80 k=3 s=2 t=6", 40, 80, 3, 2, 6),
        ("mbconv1 n=16", 32, 16, 3, 1, 1),
    ],
)  # fmt: skip
def test_efficientnet_mbconv_with_squeeze_and_excitation(layer, cin, cout, k, stride, t):
    graph = bundled_block("efficientnet_b0", f"14x14x{cin}", [layer])
    same_output(MBConv(cin, cout, k, stride, t), graph, (cin, 14, 14))


# -- MobileNetV3's block: hard-swish, SE with a hard sigmoid squeezing the expanded channels ----
class MobileNetV3Block(nn.Module):
    def __init__(self, cin: int, k: int, e: int, cout: int):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(cin, e, 1, bias=False), nn.BatchNorm2d(e), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(e, e, k, 1, k // 2, groups=e, bias=False), nn.BatchNorm2d(e), nn.Hardswish())
        squeeze = make_divisible(e // 4)
        self.fc1, self.fc2 = nn.Conv2d(e, squeeze, 1), nn.Conv2d(squeeze, e, 1)
        self.project = nn.Sequential(nn.Conv2d(e, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.dw(self.expand(x))
        y = y * F.hardsigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(y, 1)))))
        return self.project(y) + x


def test_mobilenet_v3_block_with_a_hard_sigmoid_gate():
    graph = bundled_block("mobilenet_v3_large", "7x7x160", [{"residual": ["bneck_se k=5 e=960 n=160 act=hardswish"]}])
    same_output(MobileNetV3Block(160, 5, 960, 160), graph, (160, 7, 7))


# -- ConvNeXt's block ------------------------------------------------------------------------------
class CNBlock(nn.Module):
    """Liu et al. 2022: 7x7 depthwise, layer norm over channels (channels last), an MLP of
    Linear layers expanding 4 times with GELU, a layer scale, added to the input."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.scale = nn.ParameterDict({"layer_scale": nn.Parameter(torch.full((dim, 1, 1), 1e-6))})  # after fc2

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.scale["layer_scale"] * y


def test_convnext_block():
    same_output(CNBlock(32), bundled_block("convnext_tiny", "9x9x32", ["cnblock"]), (32, 9, 9))


def test_convnext_downsampling_layer_norm_over_channels():
    reference = nn.Sequential()  # LayerNorm2d then a 2x2 stride-2 conv
    norm, conv = nn.LayerNorm(16, eps=1e-6), nn.Conv2d(16, 32, 2, 2)
    reference.add_module("norm", norm)
    reference.add_module("conv", conv)
    reference.forward = lambda x: conv(norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
    same_output(reference, bundled_block("convnext_tiny", "8x8x16", ["downsample 32"]), (16, 8, 8))


# -- ConvNeXt V2's block: GRN in the MLP, no layer scale ----------------------------------------------
class PaperGRN(nn.Module):
    """Woo et al. 2023, Algorithm 1 (the paper's code, channels last): the L2 norm of each
    channel over H and W, divided by its mean over the channels + 1e-6; gamma * (x * N) + beta + x."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """7x7 depthwise, layer norm (channels last), Linear to 4C, GELU, GRN, Linear back, added
    to the input: the paper's block, written with Linear layers on NHWC as its code does."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = PaperGRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        y = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(y))))
        return x + y.permute(0, 3, 1, 2)


def test_convnextv2_block_with_global_response_normalisation():
    same_output(ConvNeXtV2Block(16), bundled_block("convnextv2_atto", "9x9x16", ["block"]), (16, 9, 9))


def test_grn_alone_is_the_papers_and_a_new_one_is_the_identity():
    reference = nn.Sequential()
    grn = PaperGRN(8)
    reference.add_module("grn", grn)
    reference.forward = lambda x: grn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    graph = cnnctl.load_text("input: 5x6x8\nlayers: [grn]")
    same_output(reference, graph, (8, 5, 6))
    x = torch.randn(2, 8, 5, 6)
    assert torch.equal(cnnctl.to_torch(graph)(x), x)  # gamma and beta start at 0: x + 0 * ... + 0


# -- ECA-Net: a 1-D convolution across the pooled channels, in a gate -------------------------------
def paper_kernel(channels: int) -> int:
    """Wang et al. 2020, eq. 12 with gamma 2 and b 1, as their code computes it (floating point)."""
    t = int(abs((math.log(channels, 2) + 1) / 2))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """The paper's module: global average pool, Conv1d of one k-wide filter across the
    channels (no bias, (k-1)/2 zeros each side), sigmoid, each channel scaled by its value."""

    def __init__(self, channels: int):
        super().__init__()
        k = paper_kernel(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = F.adaptive_avg_pool2d(x, 1)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * torch.sigmoid(y)


class ECADownBottleneck(nn.Module):
    """ResNet-D's downsampling bottleneck with ECA after the last bn (timm's ecaresnet50d): stride
    on the 3x3; the shortcut averages 2x2 (ceil, padding not counted), then a 1x1 conv and bn."""

    def __init__(self, cin: int, n: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, n, 1, bias=False), nn.BatchNorm2d(n)
        self.conv2, self.bn2 = nn.Conv2d(n, n, 3, 2, 1, bias=False), nn.BatchNorm2d(n)
        self.conv3, self.bn3 = nn.Conv2d(n, 4 * n, 1, bias=False), nn.BatchNorm2d(4 * n)
        self.eca = ECA(4 * n)
        self.pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
        self.down_conv, self.down_bn = nn.Conv2d(cin, 4 * n, 1, bias=False), nn.BatchNorm2d(4 * n)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.eca(self.bn3(self.conv3(y)))
        return F.relu(y + self.down_bn(self.down_conv(self.pool(x))))


@pytest.mark.parametrize("channels", [64, 256, 2048])  # kernels 3, 5 and 7 by the paper's rule
def test_eca_gate_is_the_papers(channels):
    graph = bundled_block("eca_resnet50d.yaml", f"3x4x{channels}", ["eca"])
    assert [n.params for n in graph.nodes if n.kind == "channelconv"] == [paper_kernel(channels)]
    same_output(ECA(channels), graph, (channels, 3, 4))


def test_eca_resnet_d_downsampling_bottleneck():
    same_output(ECADownBottleneck(64, 32), bundled_block("eca_resnet50d.yaml", "8x8x64", ["down 32"]), (64, 8, 8))


# -- ShuffleNetV2's units --------------------------------------------------------------------------
def channel_shuffle(x, groups: int):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def branch(cin: int, c: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
        nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c),
        nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
    )  # fmt: skip


class ShuffleUnit(nn.Module):
    """Ma et al. 2018: stride 1 splits the channels, one half through the branch; stride 2
    runs two branches on the whole input. Concatenated, then shuffled between two groups."""

    def __init__(self, cin: int, c: int, stride: int):
        super().__init__()
        self.stride = stride
        if stride == 2:
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, 2, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            )  # fmt: skip
        self.branch2 = branch(cin if stride == 2 else c, c, stride)

    def forward(self, x):
        if self.stride == 1:
            kept, rest = x.chunk(2, dim=1)
            out = torch.cat((kept, self.branch2(rest)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


@pytest.mark.parametrize(("layer", "cin", "c", "stride"), [("unit 58", 116, 58, 1), ("down 58", 24, 58, 2)])
def test_shufflenet_v2_units(layer, cin, c, stride):
    graph = bundled_block("shufflenet_v2_x1_0", f"12x12x{cin}", [layer])
    same_output(ShuffleUnit(cin, c, stride), graph, (cin, 12, 12))


# -- split attention: SKNet's selective kernel and ResNeSt's split attention ---------------------
def conv_bn(cin: int, cout: int, k: int = 1, stride: int = 1, dilation: int = 1, groups: int = 1) -> nn.Sequential:
    padding = dilation * (k - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, padding, dilation, groups=groups, bias=False), nn.BatchNorm2d(cout)
    )


class SelectiveKernel(nn.Module):
    """Li et al. 2019 (Selective Kernel Networks), section 3.1, with timm's input split: split
    (a 3x3 path and a 3x3 path dilated by 2, the 5x5 of the paper, each on half the input),
    fuse (U = sum of the paths, s = its global average, z = ReLU(BN(W s)): an eighth of the
    channels, at least 16), select (a_k = softmax over the paths of A_k z; V = sum_k a_k U_k)."""

    def __init__(self, cin: int, c: int, stride: int):
        super().__init__()
        d = make_divisible(c / 8, 16)
        self.paths = nn.ModuleList([conv_bn(cin // 2, c, 3, stride, dilation) for dilation in (1, 2)])
        self.reduce = nn.Sequential(nn.Conv2d(c, d, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU())
        self.select = nn.Conv2d(d, 2 * c, 1, bias=False)  # A and B of the paper, one conv

    def forward(self, x):
        halves = x.chunk(2, dim=1)
        u = [F.relu(path(half)) for path, half in zip(self.paths, halves, strict=True)]
        z = self.reduce((u[0] + u[1]).mean(dim=(2, 3), keepdim=True))
        a = self.select(z).view(x.shape[0], 2, -1, 1, 1).softmax(dim=1)  # per channel, across the paths
        return a[:, 0] * u[0] + a[:, 1] * u[1]


class SKBasicBlock(nn.Module):
    """ResNet's basic block whose first 3x3 conv is a selective kernel (timm's skresnet18)."""

    def __init__(self, cin: int, c: int, stride: int):
        super().__init__()
        self.sk = SelectiveKernel(cin, c, stride)
        self.conv2 = conv_bn(c, c, 3)
        self.shortcut = conv_bn(cin, c, 1, stride) if stride != 1 or cin != c else nn.Identity()

    def forward(self, x):
        return F.relu(self.conv2(self.sk(x)) + self.shortcut(x))


@pytest.mark.parametrize(
    ("layer", "cin", "c", "stride"),
    [("basic n=32", 32, 32, 1), ("basic n=64 s=2 shortcut=projection", 32, 64, 2)],
)
def test_sknet_selective_kernel_block(layer, cin, c, stride):
    graph = bundled_block("skresnet18", f"10x10x{cin}", [layer])
    same_output(SKBasicBlock(cin, c, stride), graph, (cin, 10, 10))


class SplitAttention(nn.Module):
    """Zhang et al. 2020 (ResNeSt), section 3.2 and figure 4's radix-major form: one grouped
    3x3 conv (groups = radix x cardinality) makes `radix` splits of the width; their sum is
    pooled, squeezed by a grouped 1x1 conv with bias, BN and ReLU, and expanded to one value
    per split and channel; rSoftMax takes, in each cardinal group, the softmax across the
    splits; the output is the splits weighed by it, summed."""

    def __init__(self, c: int, radix: int = 2, cardinality: int = 1):
        super().__init__()
        self.radix, self.cardinality = radix, cardinality
        d = max(32, make_divisible(c * radix / 4))
        self.conv = conv_bn(c, c * radix, 3, groups=radix * cardinality)
        self.fc1 = nn.Conv2d(c, d, 1, groups=cardinality)
        self.bn1 = nn.BatchNorm2d(d)
        self.fc2 = nn.Conv2d(d, c * radix, 1, groups=cardinality)

    def forward(self, x):
        n = x.shape[0]
        splits = F.relu(self.conv(x)).view(n, self.radix, -1, *x.shape[2:])
        gap = splits.sum(dim=1).mean(dim=(2, 3), keepdim=True)
        logits = self.fc2(F.relu(self.bn1(self.fc1(gap))))
        # rSoftMax: the logits are cardinality x radix x (c / cardinality); softmax across radix
        weights = logits.view(n, self.cardinality, self.radix, -1).transpose(1, 2).softmax(dim=1)
        return (splits * weights.reshape(n, self.radix, -1, 1, 1)).sum(dim=1)


class ResNeStBottleneck(nn.Module):
    """timm's resnest50d bottleneck: 1x1, split attention, a 3x3 average pool of the stride
    where it downsamples, 1x1 to 4c; the shortcut average-pools, then a 1x1 conv and BN."""

    def __init__(self, cin: int, c: int, stride: int):
        super().__init__()
        self.reduce = nn.Sequential(*conv_bn(cin, c), nn.ReLU())
        self.splat = SplitAttention(c)
        self.pool = nn.AvgPool2d(3, stride, 1) if stride > 1 else nn.Identity()
        self.expand = conv_bn(c, 4 * c)
        self.shortcut = nn.Identity()
        if stride > 1 or cin != 4 * c:
            pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
            self.shortcut = nn.Sequential(pool if stride > 1 else nn.Identity(), *conv_bn(cin, 4 * c))

    def forward(self, x):
        return F.relu(self.expand(self.pool(self.splat(self.reduce(x)))) + self.shortcut(x))


@pytest.mark.parametrize(("layer", "cin", "c", "stride"), [("bottleneck n=32", 128, 32, 1), ("down n=32", 64, 32, 2)])
def test_resnest_split_attention_block(layer, cin, c, stride):
    graph = bundled_block("resnest50d", f"8x8x{cin}", [layer])
    same_output(ResNeStBottleneck(cin, c, stride), graph, (cin, 8, 8))


def test_split_attention_with_cardinal_groups_is_resnests_rsoftmax():
    # radix 2, cardinality 2: the attention's grouped convs write group by group, rSoftMax
    # reads them so; `split:` with `groups: 2` and rsoftmax's groups
    text = """input: 6x6x16
layers:
  - conv f=3 p=1 groups=4 n=32 bias=false
  - bn act=relu
  - split: [chunk 2 i=1, chunk 2 i=2]
    attention:
      - pool avg global
      - conv f=1 n=32 groups=2
      - bn act=relu
      - conv f=1 n=32 groups=2
    groups: 2
"""
    same_output(SplitAttention(16, radix=2, cardinality=2), cnnctl.load_text(text), (16, 6, 6))


# -- ReXNet: channels added onto part of the channels ------------------------------------------
class LinearBottleneck(nn.Module):
    """Han et al. 2020 (ReXNet), as timm builds it: a 1x1 expansion to 6x (SiLU), a 3x3
    depthwise conv and BN, optionally squeeze-and-excitation to a twelfth with BN and ReLU
    inside, ReLU6, a linear 1x1 projection to `cout`; at stride 1 the input is added onto
    the first `cin` of the `cout` channels."""

    def __init__(self, cin: int, cout: int, stride: int, se: bool):
        super().__init__()
        e = cin * 6
        self.expand = nn.Sequential(*conv_bn(cin, e), nn.SiLU())
        self.depthwise = conv_bn(e, e, 3, stride, groups=e)
        self.se = None
        if se:
            self.se = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Conv2d(e, e // 12, 1), nn.BatchNorm2d(e // 12), nn.ReLU(),
                nn.Conv2d(e // 12, e, 1), nn.Sigmoid(),
            )  # fmt: skip
        self.project = conv_bn(e, cout)
        self.cin, self.shortcut = cin, stride == 1 and cin <= cout

    def forward(self, x):
        y = self.depthwise(self.expand(x))
        if self.se is not None:
            y = y * self.se(y)
        y = self.project(F.relu6(y))
        if self.shortcut:
            y = torch.cat([y[:, : self.cin] + x, y[:, self.cin :]], dim=1)
        return y


@pytest.mark.parametrize(
    ("layer", "cin", "cout", "stride", "se"),
    [
        ("bneck_add n=61", 50, 61, 1, True),
        ("bneck_add n=38 se=0", 27, 38, 1, False),
        ("bneck n=50 s=2", 38, 50, 2, True),
    ],
)
def test_rexnet_linear_bottleneck_adds_onto_part_of_the_channels(layer, cin, cout, stride, se):
    graph = bundled_block("rexnet_100", f"8x8x{cin}", [layer])
    same_output(LinearBottleneck(cin, cout, stride, se), graph, (cin, 8, 8))


# -- the smaller constructs, each against PyTorch's own function -------------------------------------
def test_adaptive_pooling_is_pytorchs():
    graph = cnnctl.load_text("input: 13x11x3\nlayers: [pool avg out=6x4]")
    same_output(nn.AdaptiveAvgPool2d((6, 4)), graph, (3, 13, 11))
    graph = cnnctl.load_text("input: 5x5x3\nlayers: [pool max out=7]")
    same_output(nn.AdaptiveMaxPool2d(7), graph, (3, 5, 5))


def test_group_norm_and_a_broadcast_add():
    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.GroupNorm(4, 8)

        def forward(self, x):
            return self.norm(x) + x.mean(dim=(2, 3), keepdim=True)

    graph = cnnctl.load_text(
        "input: 6x6x8\nlayers:\n  - groupnorm 4 id=n\n  - pool avg global from=input\n  - add with=n"
    )
    same_output(Reference(), graph, (8, 6, 6))


def test_droppath_drops_whole_examples_in_training_and_is_the_identity_in_eval():
    graph = cnnctl.load_text("input: 4x4x2\nlayers: [droppath 0.5]")
    model = cnnctl.to_torch(graph)
    x = torch.ones(64, 2, 4, 4)
    torch.manual_seed(0)
    model.train()
    y = model(x)
    per_example = y.flatten(1)
    # each example is all zeros or all 1 / (1 - 0.5) = 2: dropped or kept whole ("row" mode)
    assert all(set(row.tolist()) in ({0.0}, {2.0}) for row in per_example)
    assert 10 < int((per_example[:, 0] == 0).sum()) < 54  # about half of 64 dropped
    model.eval()
    assert torch.equal(model(x), x)


def test_new_activations_are_pytorchs():
    graph = cnnctl.load_text("input: 4x4x3\nlayers: [hardsigmoid, mish, swish]")
    x = torch.randn(2, 3, 4, 4) * 3
    assert torch.allclose(cnnctl.to_torch(graph)(x), F.silu(F.mish(F.hardsigmoid(x))))
