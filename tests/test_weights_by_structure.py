"""Weights from elsewhere (issue 21, first part): a state_dict of a module written by hand,
with its own names, placed onto cnnctl's network by structure (`train --weights`)."""

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.cli import run as run_cli  # noqa: E402
from cnnctl.exchange.weights import by_structure, place_weights  # noqa: E402
from tests.test_stream import NET as STREAM_NET  # noqa: E402

NET = STREAM_NET.replace("fc 3", "fc 10")  # the streaming tests' small network, for the 10 shapes


class Hand(nn.Module):
    """The same network written by hand, other names, as another codebase would."""

    def __init__(self, filters: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, filters, 3, padding=1)
        self.norm = nn.BatchNorm2d(filters)
        self.head = nn.Linear(filters, 10)

    def forward(self, x):
        return self.head(F.relu(self.norm(self.stem(x))).mean((2, 3)))


def trained_hand(filters: int = 4) -> Hand:
    torch.manual_seed(5)
    hand = Hand(filters)
    hand.norm.running_mean.uniform_(-1, 1)  # statistics no fresh network has
    hand.norm.running_var.uniform_(0.5, 2)
    return hand.eval()


def test_a_hand_written_modules_state_dict_placed_by_structure_computes_its_function(tmp_path):
    hand = trained_hand()
    path = tmp_path / "hand.pt"
    torch.save(hand.state_dict(), path)
    model = cnnctl.to_torch(cnnctl.load_text(NET), logits=True).eval()
    placed = place_weights(model, str(path)).placed
    assert [(p.given, p.shape) for p in placed] == [
        (name, tuple(t.shape)) for name, t in hand.state_dict().items() if not name.endswith("num_batches_tracked")
    ]
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), hand(x), atol=1e-6)


def test_the_first_tensor_that_does_not_fit_is_named_with_both_shapes(tmp_path):
    path = tmp_path / "wide.pt"
    torch.save(trained_hand(filters=5).state_dict(), path)
    model = cnnctl.to_torch(cnnctl.load_text(NET), logits=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(cnnctl.CnnctlError) as caught:
        place_weights(model, str(path))
    said = str(caught.value)
    assert str(path) in said and "it takes" in said and "4x3x3x3" in said and "`stem.weight` of 5x3x3x3" in said
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing placed in part
    with pytest.raises(cnnctl.CnnctlError, match="more tensors than"):
        by_structure({"a": (2,), "b": (3,)}, {"x": (2,)}, "f.pt")


def test_train_starts_from_the_weights_and_says_where_each_went(tmp_path, capsys):
    path = tmp_path / "hand.pt"
    torch.save(trained_hand().state_dict(), path)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    args = ["--data", "shapes", "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--out", str(run)]
    assert run_cli(["train", str(net), "--weights", str(path), *args]) == 0
    out = " ".join(capsys.readouterr().out.split())  # however the terminal wraps it
    assert f"weights: 8 tensors from {path}, placed by structure" in out  # 6 weights, 2 batch norm statistics
    table = (run / "weights.txt").read_text().splitlines()
    assert table[0] == f"# from {path}" and table[1].split() == ["Tensor", "From", "Shape"] and len(table) == 11
    assert set(table[2].replace(" ", "")) == {"-"}  # the rule under the header, as `cnnctl weights` prints it
    assert table[3].split()[1:] == ["stem.weight", "4x3x3x3"] and table[-1].split()[1:] == ["head.bias", "10"]


def test_a_file_that_is_not_plain_tensors_is_refused_without_running_it(tmp_path):
    path = tmp_path / "code.pt"
    torch.save({"w": torch.zeros(2), "f": Hand}, path)  # a class: unpickling it would import and run code
    model = cnnctl.to_torch(cnnctl.load_text(NET), logits=True)
    with pytest.raises(cnnctl.CnnctlError, match="asks to run code when loaded .*; it was not loaded"):
        place_weights(model, str(path))  # as a checkpoint asking for code is told (one loader of a .pt)
    (tmp_path / "list.pt").write_bytes(b"")
    with pytest.raises(cnnctl.CnnctlError, match="cannot read the weights"):
        place_weights(model, str(tmp_path / "list.pt"))


def test_a_stray_file_is_told_it_is_not_a_torch_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights\n")
    model = cnnctl.to_torch(cnnctl.load_text(NET), logits=True)
    with pytest.raises(cnnctl.CnnctlError, match="not a file torch.save wrote"):
        place_weights(model, str(path))


def test_a_tensor_a_block_defines_before_its_layers_and_a_linear_in_a_1x1_conv_are_placed():
    """torchvision's ConvNeXt block defines its layer scale before its layers, and runs its 1x1 convolutions as
    Linear layers (out x in): placed by shape a few places ahead of the turn, and reshaped onto out x in x 1 x 1."""
    from cnnctl.exchange.weights import by_structure

    own = {"b.conv1.weight": (4, 1, 7, 7), "b.conv1.bias": (4,), "b.conv2.weight": (8, 4, 1, 1),
           "b.conv2.bias": (8,), "b.scale.weight": (4, 1, 1)}  # fmt: skip
    given = {"x.layer_scale": (4, 1, 1), "x.block.0.weight": (4, 1, 7, 7), "x.block.0.bias": (4,),
             "x.block.3.weight": (8, 4), "x.block.3.bias": (8,)}  # fmt: skip
    placed = {p.own: p.given for p in by_structure(given, own, "w.pt")}
    assert placed == {"b.conv1.weight": "x.block.0.weight", "b.conv1.bias": "x.block.0.bias",
                      "b.conv2.weight": "x.block.3.weight", "b.conv2.bias": "x.block.3.bias",
                      "b.scale.weight": "x.layer_scale"}  # fmt: skip
    wrong = r"takes `b.conv1.weight` of 4x1x7x7, and the source's tensor 1 in order"
    with pytest.raises(cnnctl.CnnctlError, match=wrong):
        by_structure({"x.w": (4, 1, 5, 5), **{k: v for k, v in given.items() if k != "x.block.0.weight"}}, own, "w.pt")


ECA_NET = """name: eca
input: 4x4x16
layers:
  - conv f=1 n=16 bias=false
  - gate: [pool avg global, channelconv 5, sigmoid]
"""


class PaperECA(nn.Module):
    """A 1x1 conv, then ECA as the paper (and timm's EcaModule) write it: global average pool, a
    Conv1d of one 5-wide filter across the channels (no bias, 2 zeros each side), sigmoid, each
    channel scaled by its value. Its weight is stored as 1 x 1 x 5, under timm's names."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(16, 16, 1, bias=False)
        self.se = nn.Module()
        self.se.conv = nn.Conv1d(1, 1, 5, padding=2, bias=False)

    def forward(self, x):
        x = self.conv1(x)
        y = x.mean((2, 3))[:, None, :]  # N x 1 x C: the channels along the Conv1d's length
        return x * torch.sigmoid(self.se.conv(y))[:, 0, :, None, None]


def test_ecas_conv1d_weight_is_placed_on_a_channelconv_and_computes_the_papers_gate(tmp_path):
    torch.manual_seed(2)
    paper = PaperECA().eval()
    with torch.no_grad():
        paper.se.conv.weight.uniform_(-2, 2)  # far from a fresh layer's, so a weight left out shows
    path = tmp_path / "eca.pt"
    torch.save(paper.state_dict(), path)
    model = cnnctl.to_torch(cnnctl.load_text(ECA_NET)).eval()
    placed = place_weights(model, str(path)).placed
    assert [(p.given, p.shape) for p in placed] == [("conv1.weight", (16, 16, 1, 1)), ("se.conv.weight", (1, 1, 5, 1))]
    x = torch.randn(3, 16, 4, 4)
    with torch.no_grad():
        assert torch.allclose(model(x), paper(x), atol=1e-6)
    with pytest.raises(cnnctl.CnnctlError, match=r"takes `.*weight` of 1x1x5x1, and the source's .* of 1x1x3"):
        by_structure({"conv1.weight": (16, 16, 1, 1), "se.conv.weight": (1, 1, 3)}, model.state_dict(), "w.pt")


def test_ecas_conv1d_with_a_bias_is_told_as_a_bias_the_channelconv_has_not(tmp_path):
    # ECA whose Conv1d has a bias has no network in the notation (`cnnctl import` says why): its
    # state_dict onto the ECA network names the bias left over and the layer its weight went to.
    paper = PaperECA()
    paper.se.conv = nn.Conv1d(1, 1, 5, padding=2, bias=True)
    path = tmp_path / "eca.pt"
    torch.save(paper.state_dict(), path)
    model = cnnctl.to_torch(cnnctl.load_text(ECA_NET)).eval()
    before = {name: t.clone() for name, t in model.state_dict().items()}
    said = (r"the first left over is `se.conv.bias` of 1, the bias of `se.conv`, whose weight went to "
            r"`gate1.channelconv1.weight`: that layer has none")  # fmt: skip
    with pytest.raises(cnnctl.CnnctlError, match=said):
        place_weights(model, str(path))
    assert all(torch.equal(t, before[name]) for name, t in model.state_dict().items())  # nothing placed in part


def test_ecas_conv1d_with_a_bias_is_placed_on_a_channelconv_with_bias_by_structure_and_by_name(tmp_path):
    # `channelconv 5 bias`: the paper's weight (1 x 1 x 5) and bias (1) under timm's names, placed
    # by structure; the network's own state_dict (its own names) then placed by name onto another
    torch.manual_seed(3)
    paper = PaperECA()
    paper.se.conv = nn.Conv1d(1, 1, 5, padding=2, bias=True)
    with torch.no_grad():
        paper.se.conv.weight.uniform_(-2, 2)
        paper.se.conv.bias.fill_(1.5)  # far from a fresh layer's (within 1/sqrt(5)), so a bias left out shows
    paper.eval()
    path = tmp_path / "eca.pt"
    torch.save(paper.state_dict(), path)
    net = cnnctl.load_text(ECA_NET.replace("channelconv 5", "channelconv 5 bias"))
    model = cnnctl.to_torch(net).eval()
    placement = place_weights(model, str(path))
    assert not placement.by_name
    assert [(p.given, p.shape) for p in placement.placed] == [
        ("conv1.weight", (16, 16, 1, 1)), ("se.conv.weight", (1, 1, 5, 1)), ("se.conv.bias", (1,))
    ]  # fmt: skip
    x = torch.randn(3, 16, 4, 4)
    with torch.no_grad():
        assert torch.allclose(model(x), paper(x), atol=1e-6)
    own = tmp_path / "own.pt"
    torch.save(model.state_dict(), own)
    again = cnnctl.to_torch(net).eval()
    assert place_weights(again, str(own)).by_name
    with torch.no_grad():
        assert torch.allclose(again(x), paper(x), atol=1e-6)


def test_a_run_folder_is_read_by_the_reader_its_caller_passes(tmp_path):
    # Runs are the trainer's, a layer above exchange/: a folder given as weights is read by the
    # `read_run` the command passes (cnnctl.train.checkpoint.run_weights), else refused in one message.
    hand = trained_hand()
    asked = []

    def read_run(folder):
        asked.append(folder)
        return hand.state_dict()

    model = cnnctl.to_torch(cnnctl.load_text(NET), logits=True).eval()
    placed = place_weights(model, str(tmp_path), read_run=read_run).placed
    assert asked == [tmp_path] and len(placed) == len(hand.state_dict()) - 1  # all but the step counter
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), hand(x), atol=1e-6)
    with pytest.raises(cnnctl.CnnctlError, match="a folder, not a weights file") as caught:
        place_weights(cnnctl.to_torch(cnnctl.load_text(NET)), str(tmp_path))
    assert str(tmp_path) in str(caught.value)


BODY = {"stem.weight": (8, 3, 3, 3), "stem.bias": (8,), "body.weight": (16, 8, 3, 3), "body.bias": (16,)}
HEAD = {"fc.weight": (1000, 16), "fc.bias": (1000,)}
OWN = {**BODY, "fc.weight": (3, 16), "fc.bias": (3,)}  # the head made anew for 3 classes


def test_a_source_with_a_tensor_more_than_the_network_names_that_tensor_not_the_head():
    """A checkpoint that holds a tensor the network has no place for (an EMA copy, an auxiliary head),
    with a new head to make: the message names the tensor left over, wherever it stands, never the
    head, which is made anew as for a source without it."""
    for given in ({**BODY, **HEAD, "extra.proj.weight": (3, 3)}, {"extra.proj.weight": (3, 3), **BODY, **HEAD}):
        with pytest.raises(cnnctl.CnnctlError) as caught:
            by_structure(given, OWN, "extra.pth", skip="fc")
        said = str(caught.value)
        assert "the source has more tensors than the network (7 against 6)" in said
        assert "the first left over is `extra.proj.weight` of 3x3" in said
        assert "does not fit layer `fc`" not in said
        assert "torch.save(model.state_dict(), FILE)" in caught.value.problems[0].hint


def test_without_the_tensor_more_the_same_source_places_and_leaves_its_head_out():
    placed = by_structure({**BODY, **HEAD}, OWN, "plain.pth", skip="fc")
    assert [(p.own, p.given, p.left_out) for p in placed] == [
        *((name, name, None) for name in BODY),
        ("fc.weight", "fc.weight", (1000, 16)),
        ("fc.bias", "fc.bias", (1000,)),
    ]


def test_a_source_of_other_names_and_a_tensor_more_is_told_the_tensor_more():
    """Names unlike the network's: the source's head is its last tensors left over, and what is
    left after it, the tensor more, is named."""
    given = {"a.w": (8, 3, 3, 3), "a.b": (8,), "c.w": (16, 8, 3, 3), "c.b": (16,), "aux.w": (5, 5)}
    given |= {"head.w": (1000, 16), "head.b": (1000,)}
    with pytest.raises(cnnctl.CnnctlError, match=r"first left over is `aux.w` of 5x5"):
        by_structure(given, OWN, "other.pth", skip="fc")


def test_a_layer_that_does_not_fit_names_the_sources_tensor_in_its_turn_not_one_passed_over():
    own = {**BODY, "fc.weight": (3, 16), "fc.bias": (3,)}
    given = {"extra.w": (3, 3), **BODY, "fc.weight": (3, 17), "fc.bias": (3,)}
    with pytest.raises(cnnctl.CnnctlError, match=r"the source's tensor 6 in order is `fc.weight` of 3x17"):
        by_structure(given, own, "w.pth")
