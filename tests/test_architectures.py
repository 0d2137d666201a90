"""Bundled architectures give the independently published numbers, exactly.

Sources: LeCun 1998 and Krizhevsky 2012 as computed in the course notes; torchvision's
published parameter counts and GFLOPS (= multiply-accumulates); Szegedy 2014, Table 1; for
timm's networks (resnest50d, skresnet18, rexnet_100) the models timm 1.0.31 builds, counted
outside the tests (the sum of `numel` of their parameters; PyTorch's FlopCounterMode / 2 at
224x224), which timm's docs round (docs/models/.templates/models/*.md: 27.48 M, 11.96 M,
4.80 M parameters; the model cards: 5.4, 1.8 and 0.4 GMACs).
Batch norm's running statistics (2 per channel of every bn) are counted here from
torchvision's own configuration tables, written out independently of the files.
"""

from pathlib import Path

import pytest
from helpers import make_divisible

import cnnctl

REFERENCE = {
    # name: (input, params, multiplications)
    "lenet5": ((32, 32, 1), 61_706, 416_520),
    "alexnet": ((227, 227, 3), 62_378_344, 1_135_256_096),
    "vgg16": ((224, 224, 3), 138_357_544, 15_470_264_320),
    "resnet18": ((224, 224, 3), 11_689_512, 1_814_073_344),
    "resnet34": ((224, 224, 3), 21_797_672, 3_663_761_408),
    "resnet50": ((224, 224, 3), 25_557_032, 4_089_184_256),
    "resnet101": ((224, 224, 3), 44_549_160, 7_801_405_440),
    "resnet152": ((224, 224, 3), 60_192_808, 11_513_626_624),
    "googlenet": ((224, 224, 3), 13_378_280, 1_582_671_872),  # the params with its auxiliary heads (below)
    # the networks of the last ten years (issue 9's table: torchvision's figures)
    "mobilenet_v2": ((224, 224, 3), 3_504_872, 300_774_272),
    "mobilenet_v3_large": ((224, 224, 3), 5_483_032, 216_589_760),
    "efficientnet_b0": ((224, 224, 3), 5_288_548, 385_814_752),
    "convnext_tiny": ((224, 224, 3), 28_589_128, 4_455_531_264),
    "resnext50_32x4d": ((224, 224, 3), 25_028_904, 4_230_479_872),
    "shufflenet_v2_x1_0": ((224, 224, 3), 2_278_604, 144_907_992),
    "densenet121": ((224, 224, 3), 7_978_856, 2_834_161_664),
    "inception_v3": ((299, 299, 3), 27_161_264, 5_713_216_096),  # torchvision's with aux_logits=True
    # issue 24: split attention and channel slices (timm 1.0.31's models, counted; see above).
    # resnest50d's 27,483,240 is also the ResNeSt authors' PyTorch model's (imgclsmob's tables).
    "resnest50d": ((224, 224, 3), 27_483_240, 5_371_160_576),
    "skresnet18": ((224, 224, 3), 11_958_056, 1_814_337_536),
    "rexnet_100": ((224, 224, 3), 4_796_873, 398_370_392),
    # families (issue 22), at their own arguments: their first member's (every member: test_families.py)
    "efficientnet": ((224, 224, 3), 5_288_548, 385_814_752),  # efficientnet_b0
    "regnet": ((224, 224, 3), 5_495_976, 413_812_608),  # regnet_x_400mf (torchvision: 0.41 GFLOPS)
    "mobilenet_v3": ((224, 224, 3), 2_542_856, 56_510_400),  # mobilenet_v3_small (torchvision: 0.06 GFLOPS)
    # issue 24: timm's convnextv2_atto; its model card and the paper (Woo et al. 2023) round to
    # 3.7 M params and 0.55 G FLOPs: the exact figures are worked out below (convnextv2_atto_counts)
    "convnextv2_atto": ((224, 224, 3), 3_708_400, 547_332_480),
}
# The networks with heads only training runs (`outputs:`): params at inference (torchvision's
# without aux_logits; GoogLeNet's paper version's), and the heads' multiplications, in the
# training forward pass and not in the inference count above.
HEADS = {
    # GoogLeNet's two heads: avg pool 5x5/3 (14 -> 4), 1x1 conv to 128, fc 2048 -> 1024, fc 1024 -> 1000:
    # 4*4*128*512 + 2048*1024 + 1024*1000 = 4,169,728 on inception4a (512 channels), and with 528
    # channels on inception4d 4*4*128*528 + ... = 4,202,496: 8,372,224 together.
    "googlenet": (6_998_552, 4 * 4 * 128 * (512 + 528) + 2 * (2048 * 1024 + 1024 * 1000)),
    # Inception v3's: avg pool 5x5/3 (17 -> 5), 1x1 conv 768 -> 128, 5x5 conv 128 -> 768 (5 -> 1), fc 768 -> 1000
    "inception_v3": (23_834_568, 5 * 5 * 768 * 128 + 5 * 5 * 128 * 768 + 768 * 1000),
}

# What timm's docs publish, rounded to 10,000 parameters (docs/models/.templates/models/
# resnest.md, skresnet.md, rexnet.md), and its model cards' GMACs, rounded to 0.1 G
# (huggingface.co/timm/resnest50d.in1k, /skresnet18.ra_in1k, /rexnet_100.nav_in1k).
TIMM_DOCS = {"resnest50d": (27_480_000, 5.4), "skresnet18": (11_960_000, 1.8), "rexnet_100": (4_800_000, 0.4)}


def convnextv2_atto_counts() -> tuple[int, int]:
    """(params, multiplications) of ConvNeXt V2-Atto from its configuration (widths 40, 80, 160,
    320; depths 2, 2, 6, 2; timm's 1x1-conv MLP), at 224x224."""
    params = 4 * 4 * 3 * 40 + 40 + 2 * 40  # stem: 4x4 stride-4 conv, layer norm
    mults, side, c_in = 56 * 56 * 40 * 4 * 4 * 3, 56, 40
    for i, (c, depth) in enumerate([(40, 2), (80, 2), (160, 6), (320, 2)]):
        if i:  # layer norm, 2x2 stride-2 conv
            side //= 2
            params += 2 * c_in + 2 * 2 * c_in * c + c
            mults += side * side * c * 2 * 2 * c_in
        # dwconv 7x7 (49C + C), layer norm 2C, 1x1 to 4C (4C^2 + 4C), GRN 2 * 4C, 1x1 back (4C^2 + C)
        params += depth * (50 * c + 2 * c + 4 * c * c + 4 * c + 8 * c + 4 * c * c + c)
        mults += depth * side * side * (49 * c + 8 * c * c)
        c_in = c
    return params + 2 * 320 + 320 * 1000 + 1000, mults + 320 * 1000  # head: layer norm, fc


def test_convnextv2_atto_reference_is_its_configurations_arithmetic():
    assert convnextv2_atto_counts() == REFERENCE["convnextv2_atto"][1:]


def bn_channels_mobilenet_v2() -> int:
    total, inp = 32 + 32 + 16, 16  # stem; the t = 1 block's depthwise and projection
    for t, c, n, _ in [(6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for _ in range(n):
            total += 2 * inp * t + c  # expansion, depthwise, projection
            inp = c
    return total + 1280


def bn_channels_mobilenet_v3_large() -> int:
    rows = [(16, 16, 16), (16, 64, 24), (24, 72, 24), (24, 72, 40), (40, 120, 40), (40, 120, 40), (40, 240, 80),
            (80, 200, 80), (80, 184, 80), (80, 184, 80), (80, 480, 112), (112, 672, 112), (112, 672, 160),
            (160, 960, 160), (160, 960, 160)]  # (in, expanded, out) of Table 1  # fmt: skip
    return 16 + sum((e if e != i else 0) + e + o for i, e, o in rows) + 960


def bn_channels_efficientnet_b0() -> int:
    total, inp = 32, 32
    for t, c, n in [(1, 16, 1), (6, 24, 2), (6, 40, 2), (6, 80, 3), (6, 112, 3), (6, 192, 4), (6, 320, 1)]:
        for _ in range(n):
            e = make_divisible(inp * t)
            total += (e if e != inp else 0) + e + c
            inp = c
    return total + 1280


def bn_channels_resnext50() -> int:
    total = 64
    for n, blocks in [(64, 3), (128, 4), (256, 6), (512, 3)]:
        total += blocks * (2 * n + 2 * n + 4 * n) + 4 * n  # width 2n twice, 4n out; the projection's bn
    return total


def bn_channels_shufflenet_v2() -> int:
    total, inp = 24, 24
    for c, n in [(58, 4), (116, 8), (232, 4)]:
        total += inp + c + 3 * c  # down unit: branch 1's depthwise (in) and 1x1; branch 2's three
        total += (n - 1) * 3 * c
        inp = 2 * c
    return total + 1024


def bn_channels_densenet121() -> int:
    total, features = 64, 64
    for i, layers in enumerate([6, 12, 24, 16]):
        for _ in range(layers):
            total += features + 128  # norm1 on everything so far, norm2 on the bottleneck
            features += 32
        if i < 3:
            total += features  # the transition's norm
            features //= 2
    return total + features  # norm5


def bn_channels_inception_v3() -> int:
    stem = 32 + 32 + 64 + 80 + 192
    a = [64 + 48 + 64 + 64 + 96 + 96 + p for p in (32, 64, 64)]
    b = 384 + 64 + 96 + 96
    c = [192 + (c7 + c7 + 192) + (4 * c7 + 192) + 192 for c7 in (128, 160, 160, 192)]
    d = 192 + 320 + 4 * 192
    e = 320 + (384 + 2 * 384) + (448 + 384 + 2 * 384) + 192
    aux = 128 + 768  # AuxLogits' conv0 and conv1
    return stem + sum(a) + b + sum(c) + d + 2 * e + aux


def bn_channels_resnest50d() -> int:
    total = 32 + 32 + 64  # the deep stem
    for n, blocks in [(64, 3), (128, 4), (256, 6), (512, 3)]:
        attention = max(32, n // 2)  # SplitAttn's fc1: in x radix x 1/4, at least 32
        total += blocks * (n + 2 * n + attention + 4 * n) + 4 * n  # bn1, bn0 of 2 splits, bn1 of fc1, bn3; projection
    return total


def bn_channels_skresnet18() -> int:
    total = 64
    for n in (64, 128, 256, 512):
        attention = max(16, n // 8)  # an eighth, rounded to 16, at least 16
        total += 2 * (2 * n + attention + n)  # two blocks: two paths' bns, the attention's, conv2's
    return total + 128 + 256 + 512  # the projections' bns


def bn_channels_rexnet_100() -> int:
    total, cin = 32 + 32 + 16, 16  # stem; the first block's depthwise and projection
    for k in range(1, 16):
        cout = round(16 + 180 / 16 * k)  # channels grow by 180/16 a block, rounded as Python does
        e = 6 * cin
        total += e + e + (e // 12 if k >= 3 else 0) + cout  # expansion, depthwise, SE (from block 4), projection
        cin = cout
    return total + 1280


BN_BUFFERS = {
    "mobilenet_v2": 2 * bn_channels_mobilenet_v2(),
    "mobilenet_v3_large": 2 * bn_channels_mobilenet_v3_large(),
    "efficientnet_b0": 2 * bn_channels_efficientnet_b0(),
    "convnext_tiny": 0,  # layer norm tracks nothing
    "resnext50_32x4d": 2 * bn_channels_resnext50(),
    "shufflenet_v2_x1_0": 2 * bn_channels_shufflenet_v2(),
    "densenet121": 2 * bn_channels_densenet121(),
    "inception_v3": 2 * bn_channels_inception_v3(),
    "resnest50d": 2 * bn_channels_resnest50d(),
    "skresnet18": 2 * bn_channels_skresnet18(),
    "rexnet_100": 2 * bn_channels_rexnet_100(),
}


@pytest.mark.parametrize("name", sorted(BN_BUFFERS))
def test_batch_norm_buffers_match_torchvisions_configuration(name):
    assert cnnctl.load(name).buffers == BN_BUFFERS[name]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_bundled_architecture_matches_reference(name):
    shape, params, mults = REFERENCE[name]
    graph = cnnctl.load(name)
    assert graph.input_shape == shape
    assert graph.params == params
    assert graph.mults == mults


@pytest.mark.parametrize("name", sorted(TIMM_DOCS))
def test_timm_networks_round_to_timms_published_figures(name):
    params, gmacs = TIMM_DOCS[name]
    graph = cnnctl.load(name)
    assert round(graph.params, -4) == params
    assert round(graph.mults / 1e9, 1) == gmacs


@pytest.mark.parametrize("name", sorted(HEADS))
def test_heads_count_in_the_params_and_in_training_only(name):
    from cnnctl.analysis.summary import summarize

    inference_params, head_mults = HEADS[name]
    graph = cnnctl.load(name)
    s = summarize(graph)
    assert s.inference_params == inference_params
    assert s.mults == REFERENCE[name][2]  # the inference total as it was before the heads
    assert s.mults_with_heads - s.mults == sum(h.mults for h in s.heads) == head_mults
    assert graph.warnings == ()  # a declared head is no "output never used"


def googlenet_table1_params() -> int:
    """GoogLeNet's params at inference from Szegedy et al. 2014, Table 1, each conv and the fc
    with its bias: the stem (7x7/2 conv to 64, 1x1 to 64, 3x3 to 192), nine inception modules
    (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), the fc 1024 -> 1000."""

    def conv(k: int, c_in: int, c_out: int) -> int:
        return k * k * c_in * c_out + c_out

    params = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192)
    modules = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64), (480, 192, 96, 208, 16, 48, 64),
               (512, 160, 112, 224, 24, 64, 64), (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
               (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128),
               (832, 384, 192, 384, 48, 128, 128)]  # fmt: skip
    for c_in, n1, r3, n3, r5, n5, proj in modules:
        params += conv(1, c_in, n1) + conv(1, c_in, r3) + conv(3, r3, n3) + conv(1, c_in, r5) + conv(5, r5, n5)
        params += conv(1, c_in, proj)
    return params + 1024 * 1000 + 1000


def test_googlenets_inference_params_are_table_1s():
    assert googlenet_table1_params() == HEADS["googlenet"][0]


def test_the_readmes_table_of_bundled_networks_gives_the_published_figures_as_list_does():
    # The README's table once gave GoogLeNet's and Inception v3's params with their heads beside
    # multiplications without them, where `cnnctl list` (which it says shows them) gives both at inference.
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Bundled architectures", 1)[1].split("\n\n")[2]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    assert len(rows) == len(REFERENCE) - 3  # the three families have a table of their own
    for row in rows:
        name = row[0].removeprefix("| ")
        shape, params, mults = REFERENCE[name]
        params = HEADS[name][0] if name in HEADS else params  # at inference, as list gives them
        assert row[1:4] == ["x".join(map(str, shape)), f"{params:,}", f"{mults:,}"], name


def test_every_bundled_file_is_in_the_reference_table():
    from cnnctl.catalog import bundled

    assert set(bundled()) == set(REFERENCE)


def test_vgg16_keeps_torchvisions_parameters_at_any_input():
    # torchvision ends VGG's features with an adaptive average pool to 7x7: its classifier
    # (and so its 138,357,544 parameters) is the same at 256x256 or 300x200.
    for size in ("256x256x3", "300x200x3"):
        assert cnnctl.load("vgg16", input=size).params == 138_357_544
