"""The compiled torch module is the analyzed graph: same parameters, shapes and multiplications.

Independent checks: PyTorch counts the parameters, runs the forward pass (with a hook on
every layer) and counts FLOPs with its own FlopCounterMode (2 per multiply-accumulate).
"""

import math
import warnings

import pytest

torch = pytest.importorskip("torch")

from helpers import named_layers, nchw  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.backend import BUILDERS, to_torch  # noqa: E402
from cnnctl.catalog import bundled  # noqa: E402
from cnnctl.layers import KINDS, LayerKind  # noqa: E402

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def torch_shape(shape):
    """cnnctl's HxWxC (or a vector N) as torch's per-example shape."""
    return nchw(shape) if len(shape) == 3 else tuple(shape)


def test_every_layer_kind_has_a_builder_and_no_more():
    assert set(BUILDERS) == set(KINDS)


def check(graph):
    torch.manual_seed(0)
    model = to_torch(graph).eval()
    assert sum(p.numel() for p in model.parameters()) == graph.params
    running = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    assert running == graph.buffers
    seen = {}
    for path, module in named_layers(model):
        module.register_forward_hook(lambda mod, args, out, path=path: seen.__setitem__(path, tuple(out.shape[1:])))
    x = torch.randn(1, *nchw(graph.input_shape))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(x)
    assert tuple(y.shape[1:]) == torch_shape(graph.output_shape)
    # in eval mode the heads (`outputs:`) do not run: the inference network, as counted
    assert seen == {n.path: torch_shape(n.shape) for n in graph.inference_nodes()}
    assert counter.get_total_flops() == 2 * graph.mults


@pytest.mark.parametrize("name", sorted(bundled()))
def test_bundled_architecture_compiles_to_the_analyzed_module(name):
    check(cnnctl.load(name))


@pytest.mark.parametrize("name", ["unet_small", "residual_small", "three_conv_network", "inception_bottleneck"])
def test_examples_compile_to_the_analyzed_module(name):
    from pathlib import Path

    check(cnnctl.load(Path(__file__).parents[1] / "examples" / f"{name}.yaml"))


def check_param_shapes(graph):
    """Each layer's param_shapes (torch-free, from its kind) are its built module's parameters,
    names, order and shapes; their sizes sum to its params. Built on the meta device: shapes
    without memory, so that VGG-16's 138 M values cost nothing."""
    with torch.device("meta"):
        model = to_torch(graph)
    for node, (path, module) in zip(graph.nodes, named_layers(model), strict=True):
        built = tuple((name, tuple(p.shape)) for name, p in module.named_parameters())
        shapes = KINDS[node.kind].param_shapes(node.args, graph.input_shapes(node), node.shape)
        assert shapes == built, path
        assert sum(math.prod(shape) for _, shape in shapes) == node.params, path


@pytest.mark.parametrize("name", sorted(bundled()))
def test_param_shapes_are_the_built_modules_of_every_bundled_architecture(name):
    check_param_shapes(cnnctl.load(name))


NETWORKS = {
    "same_padding_with_stride": "input: 15x15x3\nlayers: [conv f=3 s=2 p=same n=4, pool max f=3 s=2 p=same]",
    "uneven_same_padding": "input: 7x7x3\nlayers: [conv f=2 p=same n=4, pool avg f=2 s=1 p=same]",
    "non_square_dilated_grouped": "input: 17x19x8\nlayers: [conv f=1x7 p=0x3 n=8 groups=4 dilation=2]",
    "deconv_upsample_concat": (
        "input: 8x8x4\nlayers:\n  - conv f=3 p=same n=4 id=a\n  - deconv f=2 s=2 n=4\n  - upsample 2\n"
        "  - pool max f=4 s=4\n  - concat with=a\n  - flatten\n  - bn\n  - fc 3 act=softmax"
    ),
    "activations": "input: 6x6x2\nlayers: [relu, relu6, leaky 0.2, elu, gelu, silu, sigmoid, tanh, hardswish, softmax]",
    "global_pools_lrn_dropout": "input: 9x9x6\nlayers: [lrn 3, pool max global, dropout 0.3, fc 4, bn act=relu]",
    "ceil_pooling": "input: 112x112x3\nlayers: [pool max f=3 s=2 ceil, pool avg f=3 s=2 p=1 ceil]",
    "deconv_output_padding": (
        "input: 7x9x3\nlayers: [deconv f=3 s=2 p=1 op=1 n=4, deconv f=3 s=2 p=2 op=1x0 n=2 dilation=2 bias=false]"
    ),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_layer_kinds_compile_to_the_analyzed_shapes(name):
    check(cnnctl.load_text(NETWORKS[name]))


# Every kind with parameters, in the forms that change their shapes: groups, no bias, a
# non-square filter, a vector input (bn, layerscale, layernorm on one), ECA's kernel rule, its bias.
PARAM_KINDS = """
input: 9x10x8
layers:
  - conv f=3x1 p=same n=12 groups=4 bias=false
  - deconv f=2x3 s=2 n=6 groups=2
  - groupnorm 3
  - layernorm
  - grn
  - layerscale 0.1
  - channelconv
  - channelconv 5 bias
  - pool avg global
  - fc 7 bias=false
  - bn
  - layerscale
  - layernorm
  - fc 3
"""


@pytest.mark.parametrize("name", ["kinds_with_params", *sorted(NETWORKS)])
def test_param_shapes_are_the_built_modules_of_every_kind(name):
    graph = cnnctl.load_text(PARAM_KINDS if name == "kinds_with_params" else NETWORKS[name])
    check_param_shapes(graph)
    if name == "kinds_with_params":  # it holds every kind that has parameters (a new one is to be added here)
        with_params = {name for name, kind in KINDS.items() if type(kind).param_shapes is not LayerKind.param_shapes}
        assert {n.kind for n in graph.nodes if n.params} == with_params


@pytest.mark.parametrize(
    ("h", "w", "f", "s", "p", "ceil"),
    [
        (4, 4, 3, 2, 0, True),
        (6, 7, 3, 2, 1, True),
        (112, 112, 3, 2, 0, True),
        (5, 5, 2, 2, 1, True),
        (9, 8, 4, 3, 2, True),
        (3, 3, 4, 2, 0, True),
        (7, 9, 3, 2, 1, False),
    ],  # fmt: skip
)
def test_pool_flops_add_up_the_windows_pytorch_averages_over(h, w, f, s, p, ceil):
    # PyTorch's divisor for each output, seen on a map of ones: the input values a window reads
    # (divisor 1: their sum) over their mean. A ceil-mode window that hangs over the end is cut
    # at the padded input's end (4x4, f=3 s=2 ceil: 9, 6, 6, 4); padding counts (count_include_pad)
    ones = torch.ones(1, 1, h, w)
    mean = torch.nn.functional.avg_pool2d(ones, f, s, p, ceil_mode=ceil)
    read = torch.nn.functional.avg_pool2d(ones, f, s, p, ceil_mode=ceil, divisor_override=1)
    divisors = int((read / mean).round().sum())
    ceil_word = " ceil" if ceil else ""
    avg = cnnctl.load_text(f"input: {h}x{w}x1\nlayers: [pool avg f={f} s={s} p={p}{ceil_word}]")
    maximum = cnnctl.load_text(f"input: {h}x{w}x1\nlayers: [pool max f={f} s={s} p={p}{ceil_word}]")
    assert avg.nodes[0].flops == divisors  # one add per value and the divide
    # a max compares the input values its window covers (its -inf padding needs none), one fewer
    # than them: on ones padded with zeros, the window's sum
    assert maximum.nodes[0].flops == int(read.sum()) - mean.numel()
    # and cnnctl's avg pool divides as that: PyTorch's count_include_pad=True (its default)
    assert torch.allclose(to_torch(avg)(ones), mean)


def test_an_average_with_same_padding_counts_the_zeros_as_pytorch_not_tensorflow():
    """`pool avg f=3 s=1 p=same` is PyTorch's `p=1` with count_include_pad=True: a corner of a
    map of ones averages 4 ones and 5 zeros, 4/9; TensorFlow's SAME would give 1 (README)."""
    ones = torch.ones(1, 1, 4, 4)
    out = to_torch(cnnctl.load_text("input: 4x4x1\nlayers: [pool avg f=3 s=1 p=same]"))(ones)
    assert torch.allclose(out, torch.nn.functional.avg_pool2d(ones, 3, 1, 1, count_include_pad=True))
    assert out[0, 0, 0, 0].item() == pytest.approx(4 / 9)


@pytest.mark.parametrize(
    ("h", "w", "f", "s", "p", "ceil"),
    [(4, 4, 3, 1, 1, False), (6, 7, 3, 2, 1, True), (9, 8, 5, 2, 2, False), (5, 6, 3, 2, 1, True)],
)
def test_avg_pool_without_the_padding_is_pytorchs_count_include_pad_false(h, w, f, s, p, ceil):
    # PyTorch's divisor for each output without the padding, read off a map of ones: the input
    # values its window covers (divisor 1: their sum); cnnctl's FLOPs are their sum, its module the same average
    ones = torch.ones(1, 1, h, w)
    covered = torch.nn.functional.avg_pool2d(ones, f, s, p, ceil_mode=ceil, divisor_override=1)
    ceil_word = " ceil" if ceil else ""
    avg = cnnctl.load_text(f"input: {h}x{w}x3\nlayers: [pool avg f={f} s={s} p={p}{ceil_word} count_pad=false]")
    assert avg.nodes[0].flops == 3 * int(covered.sum())
    x = torch.randn(2, 3, h, w)
    theirs = torch.nn.functional.avg_pool2d(x, f, s, p, ceil_mode=ceil, count_include_pad=False)
    assert torch.allclose(to_torch(avg)(x), theirs)


@pytest.mark.parametrize(
    ("h", "w", "f", "s", "p", "ceil"),
    [(4, 4, 3, 1, 1, False), (6, 7, 3, 2, 1, True), (9, 8, 5, 2, 2, False), (112, 112, 3, 2, 1, False)],
)
def test_max_pool_comparisons_are_over_the_input_values_each_window_covers(h, w, f, s, p, ceil):
    # PyTorch's max pool pads with -inf, which needs no comparison: a window of k input values
    # compares k - 1 times. k read off torch, independently of cnnctl: unfold a map of ones
    # padded with zeros, each column a window, its sum the input values it covers
    ones = torch.nn.functional.pad(torch.ones(1, 1, h, w), (p, p, p, p))
    out_h, out_w = (torch.nn.functional.max_pool2d(torch.ones(1, 1, h, w), f, s, p, ceil_mode=ceil)).shape[2:]
    # a ceil window hanging over the end: pad the far side with more zeros so that unfold makes it
    extra_h, extra_w = max(0, (out_h - 1) * s + f - (h + 2 * p)), max(0, (out_w - 1) * s + f - (w + 2 * p))
    windows = torch.nn.functional.unfold(torch.nn.functional.pad(ones, (0, extra_w, 0, extra_h)), f, stride=s)
    assert windows.shape[2] == out_h * out_w
    comparisons = int((windows.sum(1) - 1).sum())
    ceil_word = " ceil" if ceil else ""
    pool = cnnctl.load_text(f"input: {h}x{w}x3\nlayers: [pool max f={f} s={s} p={p}{ceil_word}]")
    assert pool.nodes[0].flops == 3 * comparisons


def test_state_dict_keys_follow_layer_paths():
    keys = set(to_torch(cnnctl.load("resnet50")).state_dict())
    assert "layer3.2.conv1.weight" in keys
    assert "layer2.1.shortcut.conv.weight" in keys
    assert "layer2.1.shortcut.bn.running_var" in keys
    assert "fc.bias" in keys


def test_dropout_and_batch_norm_follow_train_and_eval_mode():
    graph = cnnctl.load_text("input: 4x4x3\nlayers: [bn, dropout 0.5, flatten]")
    model = to_torch(graph)
    x = torch.randn(8, 3, 4, 4) * 3 + 5
    model.train()
    torch.manual_seed(0)
    y = model(x)
    assert (y == 0).float().mean() > 0.3  # dropout zeroes about half in training
    assert abs(float(y.detach().mean())) < 1.0  # bn normalises with batch statistics
    model.eval()
    assert torch.equal(model(x), model(x))  # deterministic at evaluation
    assert (model(x) == 0).sum() == 0


def test_logits_mode_leaves_out_a_final_softmax_only():
    for text in ("input: 4x4x1\nlayers: [fc 3 act=softmax]", "input: 4x4x1\nlayers: [fc 3, softmax]"):
        graph = cnnctl.load_text(text)
        torch.manual_seed(0)
        probs = to_torch(graph)
        torch.manual_seed(0)
        logits = to_torch(graph, logits=True)
        x = torch.randn(5, 1, 4, 4)
        assert torch.allclose(probs(x).sum(dim=1), torch.ones(5))
        assert torch.allclose(torch.softmax(logits(x), dim=1), probs(x), atol=1e-6)
    # the heads' too (`outputs:`): each is a loss output, as the main one (Graph.softmax_left_to_loss)
    heads = (
        "input: 4x4x1\noutputs: [main, {aux: 0.3}]\n"
        "layers: [conv f=1 n=2 id=c1, fc 3 id=aux act=softmax, fc 3 from=c1, softmax id=main]"
    )
    graph = cnnctl.load_text(heads)
    torch.manual_seed(0)
    probs = to_torch(graph).train()
    torch.manual_seed(0)
    logits = to_torch(graph, logits=True).train()
    x = torch.randn(5, 1, 4, 4)
    for p, lg in zip(probs(x), logits(x), strict=True):
        assert torch.allclose(p.sum(dim=1), torch.ones(5))
        assert not torch.allclose(lg.sum(dim=1), torch.ones(5))
        assert torch.allclose(torch.softmax(lg, dim=1), p, atol=1e-6)
    graph = cnnctl.load_text("input: 4x4x1\nlayers: [fc 3 act=tanh]")
    x = torch.randn(5, 1, 4, 4)
    torch.manual_seed(0)
    a = to_torch(graph)(x)
    torch.manual_seed(0)
    assert torch.equal(to_torch(graph, logits=True)(x), a)  # nothing else changes
