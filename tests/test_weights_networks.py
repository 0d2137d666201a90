"""Issue 21's proof: state_dicts of hand-written MobileNetV2, EfficientNet-B0 and ConvNeXt-T in
torchvision's layout (tests/torchvision_layout.py; ResNet-18's is tests/test_pretrained.py's),
loaded with `--weights`, give the hand-written module's logits.

Every tensor that starts constant (batch norm's and layer norm's scales and shifts, ConvNeXt's
layer scales of 1e-6) is made random and batch norm's statistics are those of a random batch,
so that a tensor placed in the place of another of its shape changes the logits (the swap test
shows it does). The networks are compared at 64x64, where each is a few hundred million
multiplications or less."""

import importlib.util

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.exchange.weights import COUNTERS, place_weights  # noqa: E402
from tests.helpers import run_main  # noqa: E402
from tests.torchvision_layout import NETWORKS  # noqa: E402

INPUT = "64x64x3"  # small, and still 2x2 at the last stage of each (a stride of 32)
MEAN, STD = ("--mean", "0.485,0.456,0.406"), ("--std", "0.229,0.224,0.225")  # a state_dict records none


def distinct(module: nn.Module, seed: int) -> None:
    """Every tensor of `module` that starts constant made random, and batch norm's statistics
    those of a random batch (the activations stay of the order of 1, so the logits are too)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point() and tensor.numel() > 1 and bool((tensor == tensor.flatten()[0]).all()):
                low, high = (-0.1, 0.1) if name.endswith("bias") else (0.5, 1.5)
                tensor.copy_(torch.rand(tensor.shape, generator=g) * (high - low) + low)
        norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average: after one batch, that batch's statistics
        if norms:
            module.train()(images(4, g))
        for norm in norms:
            norm.momentum = 0.1
    module.eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Each test here runs on one thread: at 64x64 the convolutions are small, and a second thread
    spinning against the other test workers on a shared machine made the file several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """source(NAME): the hand-written network (random, eval mode), its state_dict saved with
    torch.save as a published file is, and its logits (`logits`); each made once."""
    made = {}

    def get(name: str) -> tuple[nn.Module, str, torch.Tensor]:
        if name not in made:
            torch.manual_seed(list(NETWORKS).index(name))  # the same whichever test asks first
            hand = NETWORKS[name]()
            distinct(hand, seed=7)
            path = tmp_path_factory.mktemp(name) / f"{name}.pth"
            torch.save(hand.state_dict(), path)
            made[name] = hand, str(path), logits(hand)
        return made[name]

    return get


def placed_network(name: str, weights: str) -> tuple[nn.Module, object]:
    """cnnctl's bundled network at INPUT, with `weights` placed as --weights places them."""
    model = cnnctl.to_torch(cnnctl.load(name, INPUT), logits=True).eval()
    return model, place_weights(model, weights)


def logits(model: nn.Module) -> torch.Tensor:
    """`model`'s logits of two random images, the same each time."""
    with torch.no_grad():
        return model(images(2, torch.Generator().manual_seed(1)))


def images(n: int, g: torch.Generator) -> torch.Tensor:
    """`n` random images at INPUT, NCHW."""
    return torch.randn(n, 3, 64, 64, generator=g)


@pytest.mark.parametrize("name", NETWORKS)
def test_a_hand_written_networks_state_dict_gives_its_logits(name, source):
    hand, weights, expected = source(name)
    model, placement = placed_network(name, weights)
    # Names differ (torchvision's against cnnctl's layer paths): placed by structure, every tensor.
    tensors = [k for k in hand.state_dict() if not k.endswith(COUNTERS)]
    assert not placement.by_name and len(placement.placed) == len(tensors)
    assert expected.shape == (2, 1000) and expected.std() > 0.1  # of the order of 1: atol 1e-5 is far below
    torch.testing.assert_close(logits(model), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "swapped",
    [
        ("features.5.conv.1.0.weight", "features.6.conv.1.0.weight"),  # two depthwise convolutions, 192x1x3x3
        ("features.5.conv.0.1.running_var", "features.6.conv.0.1.running_var"),  # two batch norms' statistics, 192
    ],
)
def test_two_tensors_of_one_shape_swapped_change_the_logits(swapped, source, tmp_path):
    _, weights, expected = source("mobilenet_v2")
    state = torch.load(weights, weights_only=True)
    a, b = swapped
    assert state[a].shape == state[b].shape and not torch.equal(state[a], state[b])
    state[a], state[b] = state[b], state[a]
    torch.save(state, tmp_path / "swapped.pth")
    model, placement = placed_network("mobilenet_v2", str(tmp_path / "swapped.pth"))
    assert len(placement.placed) == len([k for k in state if not k.endswith(COUNTERS)])  # shapes cannot tell
    got = logits(model)
    assert (got - expected).abs().max() > 1e-2  # only the logits can: the comparison above would fail
    with pytest.raises(AssertionError):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_export_with_the_weights_writes_convnexts_logits(source, tmp_path, monkeypatch, capsys):
    # Through the command line: ConvNeXt, whose layer scales are taken ahead of their turn and whose
    # Linear layers' weights go into 1x1 convolutions.
    hand, weights, expected = source("convnext_tiny")
    out_file = tmp_path / "convnext.py"
    code, out, err = run_main(monkeypatch, capsys, "export", "convnext_tiny", "--input", INPUT, "--weights", weights,
                              *MEAN, *STD, "-o", str(out_file))  # fmt: skip
    assert code == 0, err
    assert f"weights {len(hand.state_dict())} tensors from {weights}, placed by structure" in " ".join(out.split())
    spec = importlib.util.spec_from_file_location("convnext_export", out_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = module.ConvnextTiny()
    exported.load_state_dict(torch.load(tmp_path / "convnext.pt", weights_only=True))  # written beside it
    torch.testing.assert_close(logits(exported.eval()), expected, rtol=1e-5, atol=1e-5)
