"""What a training step keeps for the backward pass (cnnctl.analysis.memory) against PyTorch.

Independent check: `torch.autograd.graph.saved_tensors_hooks` sees every tensor autograd packs
during a real forward pass of the compiled module in training mode; the bytes of their distinct
storages, less the parameters' and buffers', are what the backward pass holds on to. Small
networks are also counted by hand from the per-kind rules.
"""

import warnings

import pytest

torch = pytest.importorskip("torch")

from helpers import EXAMPLES, nchw  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.analysis.memory import training_memory  # noqa: E402
from cnnctl.backend import to_torch  # noqa: E402
from cnnctl.catalog import bundled  # noqa: E402

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def measured_saved(graph, batch):
    """Bytes of the distinct storages autograd packs in one training-mode forward pass on the
    CPU, parameters and buffers left out (they are the weights, counted apart)."""
    torch.manual_seed(0)
    # Built on the meta device and given uninitialised CPU memory: what is kept does not depend
    # on the values, and random initialisation of VGG's 138 M weights would cost seconds.
    with torch.device("meta"):
        model = to_torch(graph, logits=True)
    model = model.to_empty(device="cpu").train()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.01)
        for b in model.buffers():
            b.fill_(1.0)
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    kept: dict[int, int] = {}
    alive = []  # hold the tensors so no storage is freed and its address reused meanwhile

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            kept[storage.data_ptr()] = storage.nbytes()
            alive.append(t)
        return t

    x = torch.randn(batch, *nchw(graph.input_shape))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    assert out.requires_grad  # recorded: grad mode was on
    return sum(kept.values())


def assert_same(graph, batch, name):
    expected = training_memory(graph, batch, device="cpu").saved
    got = measured_saved(graph, batch)
    # Today they agree to the byte; 1e-9 relative is that, for these sizes.
    assert abs(got - expected) <= 1e-9 * max(got, expected), (
        f"{name} at batch {batch}: autograd keeps {got:,} bytes, cnnctl says {expected:,} "
        f"({(expected - got) / got:+.2%})"
    )


@pytest.mark.parametrize("name", [*sorted(bundled()), "unet_small.yaml", "residual_small.yaml"])
def test_saved_bytes_are_what_autograd_keeps(name):
    graph = cnnctl.load(EXAMPLES / name) if name.endswith(".yaml") else cnnctl.load(name)
    assert_same(graph, 2, name)


def saved(text, batch, device="cpu"):
    return training_memory(cnnctl.load_text(text), batch, device=device).saved


def test_conv_keeps_its_input_relu_its_output():
    # conv keeps its input, the 6x6x1 image: 36 values; relu its output, 4x4x2: 32 values.
    # float32: (36 + 32) x 4 = 272 bytes an example.
    text = "input: 6x6x1\nlayers: [conv f=3 n=2, relu]"
    assert saved(text, 3) == 3 * 272
    assert_same(cnnctl.load_text(text), 3, "conv, relu")


def test_max_pool_keeps_int64_indices():
    # conv f=1 n=2 keeps its 4x4x1 input: 16 x 4 = 64 bytes; the pool keeps its input, the
    # conv's 4x4x2 output: 32 x 4 = 128, and an int64 index per 2x2x2 output: 8 x 8 = 64.
    text = "input: 4x4x1\nlayers: [conv f=1 n=2, pool max f=2]"
    assert saved(text, 2) == 2 * (64 + 128 + 64)
    assert_same(cnnctl.load_text(text), 2, "conv, max pool")
    # an average pool keeps its input (PyTorch's avg_pool2d backward takes it) but no indices
    avg = "input: 4x4x1\nlayers: [conv f=1 n=2, pool avg f=2]"
    assert saved(avg, 2) == 2 * (64 + 128)
    assert_same(cnnctl.load_text(avg), 2, "conv, avg pool")


def test_batch_norm_keeps_its_input_and_two_statistics_per_channel():
    # conv keeps its 4x4x3 input: 48 x 4 = 192 bytes an example; bn keeps its input, the conv's
    # 4x4x2 output: 32 x 4 = 128 an example, and the batch's mean and inverse deviation per
    # channel, 2 x 2 x 4 = 16 bytes whatever the batch.
    text = "input: 4x4x3\nlayers: [conv f=1 n=2 bias=false, bn]"
    assert saved(text, 1) == 192 + 128 + 16
    assert saved(text, 5) == 5 * (192 + 128) + 16
    assert_same(cnnctl.load_text(text), 5, "conv, bn")


def test_inline_silu_keeps_a_copy_inline_relu_its_output():
    # conv f=3 n=2 on 4x4x1: keeps the 16-value image (64 bytes); its 2x2x2 output (8 values,
    # 32 bytes) is kept by the fc that follows. relu runs in place and keeps that same output:
    # 64 + 32 = 96. silu, in place too, keeps a copy of the value before it: 32 more, 128.
    relu = "input: 4x4x1\nlayers: [conv f=3 n=2 act=relu, fc 3]"
    silu = "input: 4x4x1\nlayers: [conv f=3 n=2 act=silu, fc 3]"
    assert saved(relu, 2) == 2 * 96
    assert saved(silu, 2) == 2 * 128
    assert_same(cnnctl.load_text(relu), 2, "conv act=relu, fc")
    assert_same(cnnctl.load_text(silu), 2, "conv act=silu, fc")


def test_a_chunk_kept_for_backward_keeps_the_whole_input():
    # conv f=1 n=4 keeps the 4x4x1 image (64 bytes); the second conv keeps its input, a view of
    # half the first conv's channels, and with it all of them: 4x4x4 x 4 = 256 bytes.
    text = "input: 4x4x1\nlayers: [conv f=1 n=4, chunk 2 i=1, conv f=1 n=1]"
    assert saved(text, 2) == 2 * (64 + 256)
    assert_same(cnnctl.load_text(text), 2, "conv, chunk, conv")


def test_dropout_mask_is_a_byte_on_a_gpu_a_float_on_a_cpu():
    # conv keeps the 4x4x1 image (64 bytes); dropout's mask covers the 4x4x2 output: 32 values,
    # a bool each on a GPU (32 bytes), a float32 on a CPU (128 bytes).
    text = "input: 4x4x1\nlayers: [conv f=1 n=2, dropout 0.5, flatten]"
    assert saved(text, 2, device="cuda") == 2 * (64 + 32)
    assert saved(text, 2, device="cpu") == 2 * (64 + 128)
    assert_same(cnnctl.load_text(text), 2, "conv, dropout")


def test_nothing_is_kept_before_the_first_trainable_layer():
    # the relu and the pool see only the image: autograd records neither. conv keeps the
    # pool's 2x2x1 output: 4 x 4 = 16 bytes.
    text = "input: 4x4x1\nlayers: [relu, pool max f=2, conv f=1 n=1]"
    assert saved(text, 3) == 3 * 16
    assert_same(cnnctl.load_text(text), 3, "relu, pool, conv")


@pytest.mark.parametrize("budget", [0, 10**6, 10**8, 2 * 10**9, 8 * 2**30, 80 * 2**30])
def test_largest_batch_within_a_budget(budget):
    graph = cnnctl.load("resnet18")
    memory = training_memory(graph, 1)
    batch = memory.largest_batch(budget)

    def peak(b):
        return training_memory(graph, b).peak

    if batch == 0:
        assert peak(1) > budget
    else:
        assert peak(batch) <= budget < peak(batch + 1)
    # the peak is linear in the batch: fixed + per example x batch
    assert peak(7) - peak(6) == peak(2) - peak(1) == memory.per_example


def test_a_mul_of_three_inputs_keeps_them_and_the_first_product():
    # three 1x1 convs in a row on the 4x4x1 image, each 4x4x2 (32 values), multiplied together:
    # the image (16) and each conv's output (3 x 32) are kept, and so is the product of the
    # first two factors (32), its own tensor: torch multiplies two at a time, (c * a) * b.
    text = "input: 4x4x1\nlayers:\n- conv f=1 n=2 id=a\n- conv f=1 n=2 id=b\n- conv f=1 n=2\n- mul with=a,b\n"
    assert saved(text, 2) == 2 * (16 + 3 * 32 + 32) * 4
    assert_same(cnnctl.load_text(text), 2, "a mul of three")
