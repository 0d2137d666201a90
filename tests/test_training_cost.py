"""The cost of a training step (cnnctl.analysis.training) against PyTorch and against hand counts.

Independent checks: PyTorch's FlopCounterMode counts the multiply-accumulates of a real forward
and backward pass through the compiled module (2 FLOPs each, the convolutions' and matrix
products' only), which must be twice cnnctl's `step_mults`; taught to count each softmax it
runs at cnnctl's documented 3 per value (forward and backward alike), it says which softmaxes a
training step runs (not a final one: the loss applies its own); small networks and ResNet-18
are counted by hand.
"""

import csv
import functools
import io
import warnings
from math import prod
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from helpers import EXAMPLES, named_layers, nchw  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.analysis.training import training_cost  # noqa: E402
from cnnctl.backend import to_torch  # noqa: E402
from cnnctl.catalog import bundled  # noqa: E402
from cnnctl.layers import KINDS  # noqa: E402

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def readme_correction() -> dict:
    """The README's correction of FlopCounterMode's count of `aten.convolution_backward`, run as
    written there (*A training step*): its `conv_backward_flops`, counting the groups.

    Why not PyTorch's formula: torch 2.13's `conv_backward_flop` counts the weight gradient as
    a convolution of the input by the output gradient without dividing by `groups` (pytorch
    PR #183405), so a grouped convolution's weight gradient is counted `groups` times over (a
    depthwise one: once per channel). The forward convolution multiplies each output value
    (each input value, transposed) by the weights of one filter: ``w_shape[1:]`` values
    (``C_in/groups x k_h x k_w``; transposed, ``C_out/groups x k_h x k_w``). The input gradient
    pairs every one of those products with an output gradient once, and so does the weight
    gradient: each costs as much as the forward. The bias gradient is a sum (no multiplications).
    """
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = text.index("```python\n", text.index("give it this formula for the convolution's backward"))
    block = text[start + len("```python\n") : text.index("```", start + 1)]
    names: dict = {}
    exec(compile(block, "README.md", "exec"), names)  # the block as the README gives it, no copy of it here
    return {torch.ops.aten.convolution_backward: names["conv_backward_flops"]}


CORRECTED = readme_correction()


def softmax_flops(*args, out_shape=None, **kwargs) -> int:
    """`aten._softmax` and its backward at cnnctl's documented count (`cnnctl flops`' "Counted:"):
    3 per value (exp, add to the sum, divide), the backward as the forward. FlopCounterMode has
    no formula for them: stock, it counts them 0. The loss's log-softmax (`aten._log_softmax`,
    inside cross-entropy) is another operator, left at 0: cnnctl does not count the loss."""
    return 3 * prod(out_shape)


SOFTMAX = {torch.ops.aten._softmax: softmax_flops, torch.ops.aten._softmax_backward_data: softmax_flops}

# Small networks counted by hand below; also run through the counter.
TINY = {
    # 6x6x1 -> conv f=3 n=1 -> 4x4x1: 16 outputs x 9 taps = 144 mults.
    "one_conv": "input: 6x6x1\nlayers: [conv f=3 n=1]",
    # ... -> conv f=3 n=1 -> 2x2x1: 4 outputs x 9 taps = 36 mults.
    "two_convs": "input: 6x6x1\nlayers: [conv f=3 n=1, conv f=3 n=1]",
    # 6x6x1 -> pool max f=2 -> 3x3x1 -> conv f=3 n=1 -> 1x1x1: 9 mults.
    "pool_first": "input: 6x6x1\nlayers: [pool max f=2, conv f=3 n=1]",
    # 6x6x1 -> conv f=3 n=2 -> 4x4x2 (16 x 2 x 9 = 288 mults) -> fc 3: 32 x 3 = 96 mults.
    "conv_fc": "input: 6x6x1\nlayers: [conv f=3 n=2, fc 3 act=softmax]",
    # two outputs, each a final softmax the loss applies (`outputs:`): an inline one and a
    # layer; a softmax in between (over a 4x4x2 map's channels) is run and counted.
    "two_heads": "input: 6x6x1\noutputs: [main, {aux: 0.3}]\n"
    "layers: [conv f=3 n=2 act=softmax id=c1, fc 3 act=softmax id=aux, fc 3 from=c1, softmax id=main]",
    # depthwise 8x8x4 -> 8x8x4, 9 taps of 1 channel each: 8*8*4*9 = 2,304 mults;
    # then a grouped 1x1 (4 groups of 1 -> 2 channels): 8*8*8*1 = 512 mults.
    "depthwise": "input: 8x8x4\nlayers: [conv f=3 p=same n=4 groups=4, conv f=1 n=8 groups=4]",
}


def graph_of(name):
    if name in TINY:
        return cnnctl.load_text(TINY[name])
    if name.endswith(".yaml"):
        return cnnctl.load(EXAMPLES / name)
    return cnnctl.load(name)


def step_loss(graph, out):
    """The loss `cnnctl train` minimises (train/metrics.py's `training_loss`: cross-entropy on
    the logits, the heads' at their weights), against class 0 for every example or pixel."""
    from cnnctl.train.metrics import training_loss

    main = out[0] if isinstance(out, tuple) else out
    y = torch.zeros(main.shape[:1] + main.shape[2:], dtype=torch.long, device=main.device)
    return training_loss(out, y, tuple(h.weight for h in graph.heads))[0]


def counted(graph):
    """FLOPs FlopCounterMode counts for one training step's forward and backward pass of one
    example, as (stock, corrected, softmax): two counters nested around the same pass each count
    every operation; the corrected one also counts the softmaxes (SOFTMAX), told apart.

    The module cnnctl compiles for training (`logits=True`) and its input live on the meta
    device: shapes only, no arithmetic, so even the largest network is counted in seconds. The
    loss is train's: cross-entropy has no mm or convolution, so it adds no multiplications.
    Two examples, counted and halved (every counted operation's FLOPs grow with the batch):
    batch norm in training refuses a single value per channel, which a squeeze-and-excitation's
    or an attention's bn sees with one, and Inception v3's auxiliary head on its 1x1 maps.
    """
    with torch.device("meta"):
        model = to_torch(graph, logits=True).train()
    x = torch.empty(2, *nchw(graph.input_shape), device="meta")
    with (
        FlopCounterMode(display=False) as stock,
        FlopCounterMode(display=False, custom_mapping={**CORRECTED, **SOFTMAX}) as corrected,
    ):
        step_loss(graph, model(x)).backward()
    by_op = corrected.get_flop_counts()["Global"]
    softmax = sum(by_op.get(op, 0) for op in SOFTMAX)
    return stock.get_total_flops() // 2, (corrected.get_total_flops() - softmax) // 2, softmax // 2


@functools.cache
def graph_and_counts(name):
    graph = graph_of(name)
    return graph, counted(graph)


def grouped_mults(graph):
    """Multiplications of the convolutions with groups, each times (groups - 1): what the stock
    counter adds to their weight gradients (it counts each `groups` times)."""
    return sum((n.args.groups - 1) * n.mults for n in graph.nodes if n.kind in ("conv", "deconv"))


NETWORKS = [*sorted(bundled()), "unet_small.yaml", "residual_small.yaml", *sorted(TINY)]


@pytest.mark.parametrize("name", NETWORKS)
def test_step_multiplications_are_what_pytorch_counts(name):
    graph, (_, flops, _) = graph_and_counts(name)
    cost = training_cost(graph)
    assert flops == 2 * cost.step_mults, (
        f"{name}: FlopCounterMode (groups-corrected) counts {flops:,} FLOPs for a forward and backward "
        f"pass, cnnctl says 2 x {cost.step_mults:,} = {2 * cost.step_mults:,}"
    )
    # The forward alone is cnnctl's `mults` (as tests/test_backend.py checks at inference), with the heads
    # only training runs (`outputs:`) where there are some.
    assert (
        cost.forward_mults
        == graph.mults_with_heads
        == graph.mults + sum(graph.nodes[i].mults for i in graph.training_only)
    )
    assert cost.step_mults == cost.forward_mults + cost.backward_mults


@pytest.mark.parametrize("name", NETWORKS)
def test_the_correction_changes_grouped_convolutions_only(name):
    graph, (stock, corrected, _) = graph_and_counts(name)
    extra = grouped_mults(graph)
    assert stock - corrected == 2 * extra, (name, stock, corrected, extra)
    if not any(n.kind in ("conv", "deconv") and n.args.groups > 1 for n in graph.nodes):
        assert stock == corrected, name


def counted_softmax(graph, cost):
    """The softmax FLOPs cnnctl's training step counts, forward and backward, by the documented
    formulas: a softmax or rsoftmax layer's FLOPs are its softmax's; a weighted layer's are
    2 x multiplications + 1 per bias value + its activation's, so `act=softmax`'s are the rest."""
    total = 0
    for n, c in zip(graph.nodes, cost.layers, strict=True):
        if n.kind in ("softmax", "rsoftmax"):
            total += c.forward_flops + c.backward_flops
        elif n.args.get("act") == "softmax":
            bias = prod(n.shape) if n.args.get("bias") else 0
            total += c.forward_flops - 2 * c.forward_mults - bias
            total += c.backward_flops - 2 * c.backward_mults - bias
    return total


SOFTMAX_NETWORKS = ["lenet5", "alexnet", "resnet18", "googlenet", "skresnet18", "resnest50d", "two_heads", "conv_fc"]


@pytest.mark.parametrize("name", SOFTMAX_NETWORKS)
def test_step_counts_the_softmaxes_pytorch_runs(name):
    """A final softmax (`fc 1000 act=softmax`, each head's too) is left to the loss, as train
    runs it: counted in the forward pass at inference (`flops`' FLOPs row), not in the training
    step; the softmaxes inside the network (SKNet's and ResNeSt's rsoftmax, a softmax over a
    map's channels) run forward and backward, and are counted."""
    graph, (_, _, softmax) = graph_and_counts(name)
    cost = training_cost(graph)
    assert counted_softmax(graph, cost) == softmax, (name, counted_softmax(graph, cost), softmax)
    final = [graph.nodes[i] for i in graph.loss_outputs if graph.softmax_left_to_loss(graph.nodes[i])]
    if name not in ("skresnet18", "resnest50d"):
        assert final, name  # each has a final softmax to leave out
    for n in final:  # at inference it is counted: 3 per value
        assert n.flops == KINDS[n.kind].flops(n.args, graph.input_shapes(n), n.shape)
        c = cost.layers[n.index]
        assert n.flops - c.forward_flops == 3 * prod(n.shape)
    # the step's forward is the heads' forward too, less the final softmaxes: the figure "in training"
    every_layer = sum(n.flops for n in graph.nodes)
    assert cost.forward_flops == graph.flops_with_heads == every_layer - sum(3 * prod(n.shape) for n in final)


def forward_softmax_counted(graph) -> int:
    """The softmax FLOPs FlopCounterMode counts (at cnnctl's 3 per value, SOFTMAX) in a training
    forward pass of one example through the module train compiles (`logits=True`), the heads'
    too; the loss is not run (its log-softmax is not a softmax)."""
    with torch.device("meta"):
        model = to_torch(graph, logits=True).train()
    x = torch.empty(2, *nchw(graph.input_shape), device="meta")
    with FlopCounterMode(display=False, custom_mapping=SOFTMAX) as counter:
        model(x)
    by_op = counter.get_flop_counts()["Global"]
    return by_op.get(torch.ops.aten._softmax, 0) // 2


@pytest.mark.parametrize("name", ["googlenet", "two_heads"])
def test_training_forward_figures_count_the_softmaxes_pytorch_runs(name):
    """`flops`' "FLOPs with the heads (training)" row, its JSON `flops_with_heads`, summarize's
    "in training" FLOPs and each head's FLOPs count the softmaxes a training forward pass runs
    (PyTorch's count, SOFTMAX), not a final one the loss applies: every other FLOP of every
    layer (the heads' too) at its inference count, plus those. GoogLeNet's main `fc 1000
    act=softmax` is 3,000 FLOPs less; with the backward the row adds up to the step's FLOPs."""
    from cnnctl.analysis.summary import summarize
    from cnnctl.render.views.flops import flops_json

    graph = graph_of(name)
    softmax = {n.index: 3 * prod(n.shape) for n in graph.nodes if n.kind == "softmax" or n.args.get("act") == "softmax"}
    rest = sum(n.flops - softmax.get(n.index, 0) for n in graph.nodes)  # every FLOP but a softmax's
    expected = rest + forward_softmax_counted(graph)
    if name == "googlenet":
        assert sum(n.flops for n in graph.nodes) - expected == 3 * 1000
    s = summarize(graph)
    cost = training_cost(graph)
    out = flops_json(s, False, cost)
    assert s.flops_with_heads == out["flops_with_heads"] == expected
    assert out["flops_with_heads"] + out["training"]["backward_flops"] == out["training"]["step_flops"]
    inference = sum(n.flops for n in graph.inference_nodes())
    main_final = softmax.get(graph.nodes[-1].index, 0) if graph.softmax_left_to_loss(graph.nodes[-1]) else 0
    assert sum(h["flops"] for h in out["heads"]) == expected - (inference - main_final)


def test_lenet5_step_leaves_its_softmax_to_the_loss():
    """LeNet-5's `fc 10 act=softmax`: 30 FLOPs forward (3 per value), 30 backward, neither run
    in training. Its forward at inference: 852,400 FLOPs (the file's numbers); the fc's
    backward: 84 x 10 multiplications for each gradient, 2 FLOPs each, and the bias's 10."""
    graph = cnnctl.load("lenet5")
    cost = training_cost(graph)
    fc = cost.layers[-1]
    assert graph.flops == 852_400
    assert fc.forward_flops == 2 * 840 + 10
    assert (fc.backward_mults, fc.backward_flops) == (2 * 840, 2 * 2 * 840 + 10)
    assert cost.forward_flops == 852_400 - 30
    from cnnctl.analysis.summary import summarize
    from cnnctl.render.views.flops import flops_json

    out = flops_json(summarize(graph), False, cost)
    training = out["training"]
    assert training["forward_flops"] + training["backward_flops"] == training["step_flops"] == cost.step_flops
    assert training["forward_flops"] == 852_400 - 30
    # no heads, no with-heads figure (it was 852,370, below `flops`: the training forward's, said apart)
    assert "flops_with_heads" not in out and "mults_with_heads" not in out and out["heads"] == []


def test_flops_table_rows_add_up_to_the_training_step(monkeypatch, capsys):
    # FLOPs 852,400 + backward 1,450,210 != step 2,302,580: the row of the training forward says the 30 left out
    from tests.helpers import run_main

    code, out, err = run_main(monkeypatch, capsys, "flops", "lenet5", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    rows = {row["key"]: int(row["exact"]) for row in table}  # by the JSON's keys (flops' `training` object's)
    assert next(r["count"] for r in table if r["key"] == "forward_flops") == "training-forward FLOPs (final " \
        "softmax left to the loss: -30)"  # fmt: skip
    assert code == 0 and rows["forward_flops"] == 852_400 - 30 == rows["flops"] - 30
    assert rows["forward_flops"] + rows["backward_flops"] == rows["step_flops"]


def test_stock_counter_overcounts_a_depthwise_weight_gradient_by_the_channel_count():
    """Documents the PyTorch bug the correction works around (PR #183405). When a later torch
    counts a depthwise convolution's weight gradient right, this fails: drop the correction.

    One depthwise conv, 8x8x4 -> 8x8x4, 3x3: 8*8*4*9 = 2,304 multiplications forward, and as
    many for the weight gradient (the input's gradient is not computed: it is the image's).
    """
    graph = cnnctl.load_text("input: 8x8x4\nlayers: [conv f=3 p=same n=4 groups=4]")
    mults = 8 * 8 * 4 * 9
    stock, corrected, _ = counted(graph)
    assert corrected == 2 * mults + 2 * mults
    assert stock == 2 * mults + 4 * (2 * mults)  # the weight gradient counted 4 times
    assert training_cost(graph).backward_mults == mults


@pytest.mark.parametrize(("name", "times"), [("mobilenet_v2", "6.9"), ("convnext_tiny", "2.9"),
                                           ("efficientnet_b0", "14.0")])  # fmt: skip
def test_the_readmes_stock_counter_ratios(name, times):
    """The README's figures: the stock counter over a training step, against cnnctl's (= the
    corrected counter's) multiplications, is that many times too high for these networks."""
    stock, corrected, _ = counted(graph_of(name))
    assert corrected == 2 * training_cost(graph_of(name)).step_mults  # counted over two examples
    assert f"{stock / corrected:.1f}" == times


def test_resnet18_step_is_three_forwards_less_conv1_input_gradient():
    """torchvision's ResNet-18: 1,814,073,344 multiplications forward. Backward: each weight
    gradient costs its layer's forward, each input gradient as much again, except conv1's (the
    image needs none): conv1 is 112*112*64 outputs x 7*7*3 taps = 118,013,952 mults."""
    cost = training_cost(cnnctl.load("resnet18"))
    conv1 = 112 * 112 * 64 * 7 * 7 * 3
    assert conv1 == 118_013_952
    assert cost.forward_mults == 1_814_073_344
    assert cost.backward_mults == 2 * 1_814_073_344 - conv1
    assert cost.step_mults == 3 * 1_814_073_344 - conv1 == 5_324_206_080
    first = cost.layers[0]
    assert first.path == "conv1"
    assert (first.input_grad, first.backward_mults) == (False, conv1)
    assert all(layer.input_grad for layer in cost.layers[1:])


def test_first_conv_computes_only_its_weight_gradient():
    cost = training_cost(cnnctl.load_text(TINY["one_conv"]))
    (conv,) = cost.layers
    assert (conv.forward_mults, conv.backward_mults, conv.input_grad) == (144, 144, False)
    # backward FLOPs: 2 per multiplication + the bias gradient, a sum of 16 output gradients
    assert conv.backward_flops == 2 * 144 + 16
    assert cost.step_mults == 288


def test_a_second_conv_also_computes_its_input_gradient():
    cost = training_cost(cnnctl.load_text(TINY["two_convs"]))
    first, second = cost.layers
    assert (first.backward_mults, first.input_grad) == (144, False)
    assert (second.forward_mults, second.backward_mults, second.input_grad) == (36, 72, True)
    assert cost.backward_mults == 144 + 72
    assert cost.step_mults == 144 + 36 + 144 + 72


def test_a_pool_before_the_first_conv_needs_no_input_gradient():
    cost = training_cost(cnnctl.load_text(TINY["pool_first"]))
    pool, conv = cost.layers
    assert not pool.input_grad and pool.backward_mults == 0
    assert (conv.forward_mults, conv.backward_mults, conv.input_grad) == (9, 9, False)
    assert cost.step_mults == 18


def test_element_wise_backward_work_is_counted_only_where_a_gradient_flows():
    # An Inception branch's pool on the image and the same pool after a conv: autograd runs the
    # backward of the second only (the first's output needs no gradient: nothing trainable before it)
    graph = cnnctl.load_text("input: 8x8x3\nlayers: [pool max f=3 s=1 p=1, conv f=1 n=4, pool max f=3 s=1 p=1]")
    first, conv, second = training_cost(graph).layers
    # k - 1 per output, k the input values its window covers: rows 2, 3, ..., 3, 2 = 22 per axis
    assert (first.forward_flops, first.backward_flops) == (3 * (22 * 22 - 8 * 8), 0)
    assert second.backward_flops == second.forward_flops == 4 * (22 * 22 - 8 * 8)
    needs = {}
    model = to_torch(graph)
    for path, module in named_layers(model):
        module.register_forward_hook(lambda m, args, out, path=path: needs.__setitem__(path, out.requires_grad))
    model(torch.randn(1, 3, 8, 8))
    assert needs == {"pool1": False, "conv1": True, "pool2": True}
    # and the flops report says that rule
    from cnnctl.render.design import training_notes

    assert "only where a gradient flows through the layer" in training_notes(training_cost(graph), explain=True)[0]


def test_fc_after_a_conv_computes_both_gradients():
    cost = training_cost(cnnctl.load_text(TINY["conv_fc"]))
    conv, fc = cost.layers
    assert (conv.forward_mults, conv.backward_mults) == (288, 288)
    assert (fc.forward_mults, fc.backward_mults, fc.input_grad) == (96, 192, True)
    assert cost.step_mults == 288 + 96 + 288 + 192


@pytest.mark.parametrize(
    ("optimizer", "per_param"),
    [
        ("sgd", 2),  # p -= lr*g: a multiply and a subtract
        ("momentum", 4),  # b = m*b + g (2), then p -= lr*b (2)
        ("adam", 13),  # m: 3, v: 4, sqrt(v)/c2 + eps: 3, p -= lr*m/(...): 3
        ("adamw", 14),  # adam's 13 and the decay p *= 1 - lr*wd: 1
    ],
)
def test_optimizer_update_is_a_constant_per_parameter(optimizer, per_param):
    cost = training_cost(cnnctl.load_text(TINY["conv_fc"]))
    params = (3 * 3 * 1 * 2 + 2) + (32 * 3 + 3)  # conv 20, fc 99
    assert cost.params == params == 119
    assert cost.optimizer_flops(optimizer) == per_param * 119
    # weight decay g += wd*p adds 2 a parameter; adamw's decay is already counted
    decay = 0 if optimizer == "adamw" else 2
    assert cost.optimizer_flops(optimizer, weight_decay=True) == (per_param + decay) * 119


@pytest.mark.parametrize(("name", "path"), [("resnet18", "layer2"), ("residual_small.yaml", "block1.bn2")])
def test_frozen_layers_have_no_backward(name, path):
    """--freeze PATH as train --freeze (requires_grad=False up to PATH): FlopCounterMode counts
    the frozen layers' forward only, and the first layer after them computes no input gradient."""
    from cnnctl.analysis.summary import last_in

    graph = graph_of(name)
    frozen = last_in(graph, path, "--freeze")
    with torch.device("meta"):
        model = to_torch(graph, logits=True).train()
    for module, _ in model.steps[: frozen + 1]:
        module.requires_grad_(False)
    x = torch.empty(2, *nchw(graph.input_shape), device="meta")
    with FlopCounterMode(display=False, custom_mapping=CORRECTED) as counter:
        model(x).sum().backward()
    cost = training_cost(graph, frozen)
    assert counter.get_total_flops() // 2 == 2 * cost.step_mults
    assert cost.step_mults < training_cost(graph).step_mults
    assert cost.params == sum(n.params for n in graph.nodes[frozen + 1 :])
