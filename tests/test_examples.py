"""The course's worked examples (examples/*.yaml) give the numbers computed by hand in the notes.

Each file's header comment shows the arithmetic; the expected values below repeat it.
"""

from pathlib import Path

import pytest

import cnnctl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# file: (input, per-layer output shapes, params, multiplications)
REFERENCE = {
    # 6x6x1 * 3x3: floor((6-3)/1)+1 = 4; (4*4*1) x (3*3*1) = 144; 9 weights
    "conv_6x6_f3.yaml": ((6, 6, 1), [(4, 4, 1)], 9, 144),
    # stride 2: floor((6-3)/2)+1 = 2; (2*2*1) x (3*3*1) = 36
    "conv_6x6_f3_s2.yaml": ((6, 6, 1), [(2, 2, 1)], 9, 36),
    # 7x7, stride 2: floor((7-3)/2)+1 = 3; (3*3*1) x (3*3*1) = 81
    "conv_7x7_f3_s2.yaml": ((7, 7, 1), [(3, 3, 1)], 9, 81),
    # 6x6x3 * 3x3x3: (4*4*1) x (3*3*3) = 432; 27 weights
    "conv_6x6x3_f3.yaml": ((6, 6, 3), [(4, 4, 1)], 27, 432),
    # two filters: (4*4*2) x 27 = 864; 54 weights
    "conv_6x6x3_f3_n2.yaml": ((6, 6, 3), [(4, 4, 2)], 54, 864),
    # (28*28*32) x (5*5*192) = 25,088 x 4,800 = 120,422,400; 5*5*192*32 = 153,600
    "inception_5x5.yaml": ((28, 28, 192), [(28, 28, 32)], 153_600, 120_422_400),
    # (28*28*16) x 192 = 2,408,448; (28*28*32) x (5*5*16) = 10,035,200; sum 12,443,648
    # params 192*16 + 5*5*16*32 = 3,072 + 12,800 = 15,872
    "inception_bottleneck.yaml": ((28, 28, 192), [(28, 28, 16), (28, 28, 32)], 15_872, 12_443_648),
    # 39 -> 37 -> 17 -> 7; 7*7*40 = 1960 -> 1
    # params 280 + 5,020 + 20,040 + 1,961 = 27,301
    # mults 369,630 + 1,445,000 + 980,000 + 1,960 = 2,796,590
    "three_conv_network.yaml": (
        (39, 39, 3),
        [(37, 37, 10), (17, 17, 20), (7, 7, 40), (1960,), (1,)],
        27_301,
        2_796_590,
    ),
    # see the file's header for each line of the arithmetic
    "unet_small.yaml": (
        (32, 32, 1),
        [
            (32, 32, 8),
            (16, 16, 8),
            (16, 16, 16),
            (8, 8, 16),
            (8, 8, 32),
            (16, 16, 16),
            (16, 16, 32),
            (16, 16, 16),
            (32, 32, 16),
            (32, 32, 8),
            (32, 32, 16),
            (32, 32, 8),
            (32, 32, 2),
        ],
        13_890,
        3_301_376,
    ),
    # 4,608 + 64 + 9,216 + 64 + 512 + 64 + 18,560 = 33,088; 73,728 + 147,456 + 8,192 + 294,912 = 524,288
    "residual_small.yaml": ((8, 8, 16), [(4, 4, 32)] * 12, 33_088, 524_288),
    # channel gate: per path pool 1x1x64, fc-like 1x1 convs to 4 and back to 64; sigmoid(sum), 8x8x64 * 1x1x64;
    # spatial gate: mean and max over C 8x8x1 each, concat 8x8x2, 7x7 conv 8x8x1, bn, 8x8x64 * 8x8x1
    # params 2*(64*4+4 + 4*64+64) + 7*7*2 + 2 = 1,260; mults 2*(64*4 + 4*64) + (8*8)*(7*7*2) = 7,296
    "cbam.yaml": (
        (8, 8, 64),
        [*[(1, 1, 64), (1, 1, 4), (1, 1, 64)] * 2, (1, 1, 64), (8, 8, 64)]
        + [(8, 8, 1), (8, 8, 1), (8, 8, 2), (8, 8, 1), (8, 8, 1), (8, 8, 64)],
        1_260,
        7_296,
    ),
}


def eca_resnet50d_counts() -> tuple[int, int]:
    """(params, multiplications at 224x224) of timm's ecaresnet50d (Wang et al. 2020; timm's
    model card: 25.6 M params) from torchvision's ResNet-50 (25,557,032 params, 4,089,184,256
    multiplications): the 7x7 stem replaced by three 3x3 convs of 32, 32 and 64 filters with bn
    (ResNet-D; the 2x2 average before a downsampling shortcut's 1x1 conv costs nothing and leaves
    its multiplications as they were), plus ECA's 1-D convolution of k taps on each bottleneck's
    pooled C channels, k by the paper's rule |log2(C)/2 + 1/2| made odd: 5, 5, 5, 7."""
    stem_params = 3 * 3 * 3 * 32 + 2 * 32 + 3 * 3 * 32 * 32 + 2 * 32 + 3 * 3 * 32 * 64  # last bn: ResNet-50's bn1
    stem_mults = 112 * 112 * (32 * 27 + 32 * 288 + 64 * 288)
    blocks = [(3, 256, 5), (4, 512, 5), (6, 1024, 5), (3, 2048, 7)]  # (blocks, C, k)
    params = 25_557_032 - 7 * 7 * 3 * 64 + stem_params + sum(n * k for n, _, k in blocks)
    mults = 4_089_184_256 - 112 * 112 * 64 * 7 * 7 * 3 + stem_mults + sum(n * c * k for n, c, k in blocks)
    return params, mults


# Networks of the literature given as examples: (input, params, multiplications), each from its
# own arithmetic above.
PUBLISHED = {"eca_resnet50d.yaml": ((224, 224, 3), *eca_resnet50d_counts())}


def test_every_example_has_reference_numbers():
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == set(REFERENCE) | set(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_network_examples_have_their_counts(name):
    shape, params, mults = PUBLISHED[name]
    g = cnnctl.load(EXAMPLES / name)
    assert (g.input_shape, g.params, g.mults, g.output_shape) == (shape, params, mults, (1000,))
    assert not g.warnings


def test_eca_resnet50d_is_the_figure_in_its_header():
    assert eca_resnet50d_counts() == (25_576_350, 4_328_912_640)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_example_numbers(name):
    shape, outputs, params, mults = REFERENCE[name]
    g = cnnctl.load(EXAMPLES / name)
    assert g.input_shape == shape
    assert [n.shape for n in g.nodes] == outputs
    assert g.params == params
    assert g.mults == mults
    # the course's stride-2 example floors (6 - 3)/2 = 1.5: its last row and column are read by no window
    assert [w.layer for w in g.warnings] == (["conv1"] if name == "conv_6x6_f3_s2.yaml" else [])


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_example_loads_by_path_string(name):
    # the CLI passes a string; it must find the file, not a bundled architecture
    assert cnnctl.load(str(EXAMPLES / name)).mults == REFERENCE[name][3]


def test_three_conv_network_per_layer():
    g = cnnctl.load(EXAMPLES / "three_conv_network.yaml")
    assert [n.params for n in g.nodes] == [280, 5_020, 20_040, 0, 1_961]
    # (37*37*10)*(3*3*3); (17*17*20)*(5*5*10); (7*7*40)*(5*5*20); 1960*1
    assert [n.mults for n in g.nodes] == [369_630, 1_445_000, 980_000, 0, 1_960]
    assert g.nodes[-1].args.act == "sigmoid"


def test_inception_bottleneck_is_a_tenth():
    direct = cnnctl.load(EXAMPLES / "inception_5x5.yaml").mults
    bottleneck = cnnctl.load(EXAMPLES / "inception_bottleneck.yaml")
    assert [n.mults for n in bottleneck.nodes] == [2_408_448, 10_035_200]
    assert bottleneck.mults * 9 < direct < bottleneck.mults * 10  # 120.4 M vs 12.4 M


def test_unet_small_skips():
    g = cnnctl.load(EXAMPLES / "unet_small.yaml")
    nodes = {n.path: n for n in g.nodes}
    assert nodes["cat2"].inputs == (nodes["up2"].index, nodes["enc2"].index)
    assert nodes["cat1"].inputs == (nodes["reduce1"].index, nodes["enc1"].index)
    assert nodes["up2"].kind == "deconv" and nodes["up1"].kind == "upsample"
    assert nodes["up2"].params == 2_064  # 2*2*32*16 + 16
    assert nodes["up2"].mults == 131_072  # (8*8*32) x (2*2*16)


def test_residual_small_paths_and_counts():
    g = cnnctl.load(EXAMPLES / "residual_small.yaml")
    nodes = {n.path: n for n in g.nodes}
    assert list(nodes) == [
        "block1.conv1",
        "block1.bn1",
        "block1.conv2",
        "block1.bn2",
        "block1.shortcut.conv",
        "block1.shortcut.bn",
        "block1.add",
        "block2.conv1",
        "block2.bn1",
        "block2.conv2",
        "block2.bn2",
        "block2.add",
    ]
    assert nodes["block1.shortcut.conv"].args.s == (2, 2)  # 8 -> 4
    assert nodes["block1.shortcut.conv"].params == 512  # 1*1*16*32
    assert nodes["block1.shortcut.conv"].mults == 8_192  # (4*4*32) x 16
    assert g.buffers == 320  # 5 bn x 2*32
    assert nodes["block2.add"].inputs == (nodes["block2.bn2"].index, nodes["block1.add"].index)
