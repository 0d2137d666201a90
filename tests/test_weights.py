"""The weight-matching seam (cnnctl.exchange.weights): named tensors matched onto a network's
parameters and buffers by name and shape. Hand-built state dicts; each expected report is
written out from what was built, not read back from the function."""

import subprocess
import sys

import pytest

from cnnctl.exchange.weights import TensorMatch, match_weights

# A conv (4 filters of 3x3 over 3 channels, biased), a batch norm over its 4 channels, an fc 10.
OWN = {
    "conv1.weight": (4, 3, 3, 3),
    "conv1.bias": (4,),
    "bn1.weight": (4,),
    "bn1.bias": (4,),
    "bn1.running_mean": (4,),
    "bn1.running_var": (4,),
    "bn1.num_batches_tracked": (),
    "fc.weight": (10, 64),
    "fc.bias": (10,),
}


def test_everything_given_with_its_shape_is_complete():
    report = match_weights(dict(OWN), OWN)
    assert report.complete
    assert report.matched == list(OWN)
    assert (report.missing, report.unexpected, report.reshaped) == ([], [], [])


def test_a_tensor_not_given_is_missing_and_nothing_else_is_wrong():
    given = {k: v for k, v in OWN.items() if not k.startswith("fc.")}  # a new classifier head
    report = match_weights(given, OWN)
    assert not report.complete
    assert report.missing == ["fc.weight", "fc.bias"]
    assert report.unexpected == [] and report.reshaped == []
    assert report.matched == [k for k in OWN if not k.startswith("fc.")]


def test_a_name_the_network_lacks_is_unexpected():
    given = {**OWN, "head.weight": (2, 64), "head.bias": (2,)}
    report = match_weights(given, OWN)
    assert report.unexpected == ["head.weight", "head.bias"]
    assert report.missing == [] and report.reshaped == []
    assert report.matched == list(OWN) and not report.complete
    head = [t for t in report.tensors if t.name == "head.weight"]
    assert head == [TensorMatch("head.weight", (2, 64), None)]


def test_a_shape_that_differs_is_told_with_both_shapes():
    given = {**OWN, "fc.weight": (1000, 64), "fc.bias": (1000,)}  # ImageNet's head on a 10-class network
    report = match_weights(given, OWN)
    assert report.reshaped == [
        TensorMatch("fc.weight", (1000, 64), (10, 64)),
        TensorMatch("fc.bias", (1000,), (10,)),
    ]
    assert report.missing == [] and report.unexpected == []
    assert "fc.weight" not in report.matched and len(report.matched) == len(OWN) - 2


def test_all_three_at_once_each_tensor_reported_once():
    given = {k: v for k, v in OWN.items() if k != "conv1.bias"}
    given["conv1.weight"] = (8, 3, 3, 3)
    given["extra"] = (1,)
    report = match_weights(given, OWN)
    assert report.missing == ["conv1.bias"]
    assert report.unexpected == ["extra"]
    assert report.reshaped == [TensorMatch("conv1.weight", (8, 3, 3, 3), (4, 3, 3, 3))]
    # the network's names in its order, then the one it lacks
    assert [t.name for t in report.tensors] == [*OWN, "extra"]


def test_tensors_and_arrays_are_matched_by_their_shapes():
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    own = torch.nn.Linear(5, 3).state_dict()  # weight 3x5, bias 3
    report = match_weights({"weight": np.zeros((3, 5), np.float32), "bias": torch.zeros(4)}, own)
    assert report.matched == ["weight"]
    assert report.reshaped == [TensorMatch("bias", (4,), (3,))]


def test_the_matching_imports_no_torch():
    probe = (
        "import sys; from cnnctl.exchange.weights import match_weights; "
        "match_weights({'a': (1,)}, {'a': (1,)}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
