"""Import keeps the weights (issue 21, item 2): `cnnctl import model.onnx -o net.yaml` writes
net.safetensors beside it under the network's own names, and `--weights` takes it (by name)
or the ONNX file itself; the network with them computes what ONNX Runtime computes on the file."""

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("safetensors")

from onnx import helper  # noqa: E402
from safetensors import safe_open  # noqa: E402
from torch import nn  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.exchange.weights import place_weights  # noqa: E402
from tests.helpers import onnx_model, run_main  # noqa: E402

COUNTER = "num_batches_tracked"  # batch norm's step counter: ONNX has none


class Hand(nn.Module):
    """A small CNN written by hand: conv, batch norm, relu, max pool, a classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.pool = nn.MaxPool2d(2)
        self.classifier = nn.Linear(8 * 4 * 4, 10)  # the shapes data's 10 classes

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(torch.relu(self.features(x))), 1))


def exported(tmp_path, keep_bn: bool = True) -> str:
    """Hand, with weights and batch norm statistics no fresh network has, through torch's
    exporter: batch norm kept, or folded into the conv (eval mode, the exporter's default)."""
    torch.manual_seed(3)
    hand = Hand()
    bn = hand.features[1]
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
    path = tmp_path / "hand.onnx"
    mode = torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(hand.eval(), (torch.randn(1, 3, 8, 8),), str(path), dynamo=False, training=mode)
    return str(path)


def onnxruntime_outputs(path: str, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[None]})[0] for x in images])  # exported for a batch of 1


def outputs(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(images)).numpy()


IMAGES = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("keep_bn", [True, False], ids=["bn kept", "bn folded by the exporter"])
def test_imported_weights_give_onnxruntimes_outputs(keep_bn, tmp_path, monkeypatch, capsys):
    onnx_file = exported(tmp_path, keep_bn)
    net, weights = tmp_path / "net.yaml", tmp_path / "net.safetensors"
    code, out, err = run_main(monkeypatch, capsys, "import", onnx_file, "-o", str(net))
    assert code == 0, err
    stored = 7 if keep_bn else 4  # conv (+ its folded bias), bn's 4, fc's 2
    assert f"wrote {weights}: its weights from {onnx_file}, {stored} tensors under the network's names" in out
    model = cnnctl.to_torch(cnnctl.load(str(net)))
    own = [name for name in model.state_dict() if not name.endswith(COUNTER)]
    with safe_open(str(weights), framework="np") as f:
        about, names = f.metadata(), set(f.keys())
    assert names == set(own)  # the compiled module's own names: loaded by name
    assert about["written_by"] == "cnnctl import" and about["source"] == "hand.onnx"
    assert json.loads(about["order"]) == own  # the network's definition order, which the file does not keep

    expected = onnxruntime_outputs(onnx_file, IMAGES)
    placement = place_weights(model, str(weights))
    assert placement.by_name and [p.own for p in placement.placed] == own
    assert np.allclose(outputs(model, IMAGES), expected, rtol=0, atol=1e-5)

    # The ONNX file itself as the source: its initializers by the import's mapping, by name.
    fresh = cnnctl.to_torch(cnnctl.load(str(net)))
    placement = place_weights(fresh, onnx_file)
    assert placement.by_name and len(placement.placed) == stored
    assert np.allclose(outputs(fresh, IMAGES), expected, rtol=0, atol=1e-5)


def test_an_onnx_file_for_another_networks_names_is_placed_by_structure(tmp_path, monkeypatch, capsys):
    onnx_file = exported(tmp_path)
    # The same layers with names of their own: the import's names are not this network's.
    text = "input: 8x8x3\nlayers:\n  - conv f=3 p=1 n=8 bias=false id=stem\n  - bn act=relu id=norm\n"
    model = cnnctl.to_torch(cnnctl.load_text(text + "  - pool max f=2\n  - fc 10 id=head\n"))
    placement = place_weights(model, onnx_file)
    assert not placement.by_name
    bn = ["weight", "bias", "running_mean", "running_var"]
    ours = ["stem.weight", *(f"norm.{t}" for t in bn), "head.weight", "head.bias"]
    # shown by the file's own names (its initializers', as torch's exporter names them: the module's), not the
    # import's (`conv1.weight`, `bn1.weight`, ...) they were read under
    theirs = [name for name in Hand().state_dict() if not name.endswith(COUNTER)]
    assert [(p.own, p.given) for p in placement.placed] == list(zip(ours, theirs, strict=True))
    assert np.allclose(outputs(model, IMAGES), onnxruntime_outputs(onnx_file, IMAGES), rtol=0, atol=1e-5)


def test_a_network_changed_after_import_is_told_the_tensor_and_both_shapes(tmp_path, monkeypatch, capsys):
    net = tmp_path / "net.yaml"
    assert run_main(monkeypatch, capsys, "import", exported(tmp_path), "-o", str(net))[0] == 0
    wider = net.read_text().replace("n=8", "n=6")
    model = cnnctl.to_torch(cnnctl.load_text(wider))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(cnnctl.CnnctlError) as caught:
        place_weights(model, str(tmp_path / "net.safetensors"))
    (problem,) = caught.value.problems
    assert problem.loc.file == str(tmp_path / "net.safetensors")
    assert "it takes `conv1.weight` of 6x3x3x3, and the source's `conv1.weight` is 8x3x3x3" in problem.message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing placed in part


def test_a_damaged_weights_file_is_one_message(tmp_path, monkeypatch, capsys):
    net = tmp_path / "net.yaml"
    assert run_main(monkeypatch, capsys, "import", exported(tmp_path), "-o", str(net))[0] == 0
    weights = tmp_path / "net.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])  # cut short
    run = ["train", str(net), "--weights", str(weights), "--data", "shapes", "--epochs", "1", "--device", "cpu"]
    code, _, err = run_main(monkeypatch, capsys, *run, "--out", str(tmp_path / "run"))
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1, err
    assert err.startswith(f"error: {weights}: cannot read the weights"), err

    # Its metadata's order naming other tensors than it holds: told, not guessed at.
    from safetensors.numpy import save_file

    save_file({"conv1.weight": np.zeros((8, 3, 3, 3), np.float32)}, str(weights), metadata={"order": '["fc1.bias"]'})
    with pytest.raises(cnnctl.CnnctlError, match="metadata's `order` does not list its 1 tensors"):
        place_weights(cnnctl.to_torch(cnnctl.load(str(net))), str(weights))


def test_an_onnx_file_without_initializers_writes_no_weights(tmp_path, monkeypatch, capsys):
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Relu", ["p"], ["y"], "relu")]  # fmt: skip
    path = tmp_path / "bare.onnx"
    path.write_bytes(onnx_model(nodes).SerializeToString())
    code, out, err = run_main(monkeypatch, capsys, "import", str(path), "-o", str(tmp_path / "bare.yaml"))
    assert code == 0, err
    assert f"no weights written: {path} stores none (structure only)" in out
    assert not (tmp_path / "bare.safetensors").exists() and (tmp_path / "bare.yaml").exists()
    # `-o -`: standard output, as without -o (it wrote a file named `-`)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, "import", str(path), "-o", "-")
    assert code == 0 and out == (tmp_path / "bare.yaml").read_text() and not (tmp_path / "-").exists(), err


def test_train_starts_from_the_imported_weights_by_name(tmp_path, monkeypatch, capsys):
    net, weights = tmp_path / "net.yaml", tmp_path / "net.safetensors"
    assert run_main(monkeypatch, capsys, "import", exported(tmp_path), "-o", str(net))[0] == 0
    run = ["train", str(net), "--weights", str(weights), "--data", "shapes", "--epochs", "1", "--batch-size", "32"]
    code, out, err = run_main(monkeypatch, capsys, *run, "--device", "cpu", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert f"weights: 7 tensors from {weights}, placed by name" in " ".join(out.split())  # however it wraps
    table = (tmp_path / "run" / "weights.txt").read_text().splitlines()
    # under the source's line, the table `cnnctl weights` prints: its header, its rule, then the rows
    assert [line.split()[:2] for line in table[3:5]] == [["conv1.weight"] * 2, ["bn1.weight"] * 2]
    # one table code: weights.txt holds what `cnnctl weights` prints, piped, under its title
    code, out, err = run_main(monkeypatch, capsys, "weights", str(net), str(weights))
    assert code == 0, err
    assert table[1:] == out.splitlines()[1:]


def test_a_weight_refused_or_an_output_named_like_the_weights_writes_nothing(tmp_path, monkeypatch, capsys):
    from tests.helpers import onnx_tensor

    w = np.ones((2, 3, 1, 1), np.float32)
    (tmp_path / "outside.bin").write_bytes(w.tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    tensor = onnx_tensor("cw", w, location="../outside.bin", offset=0, length=w.nbytes)
    path = folder / "m.onnx"
    path.write_bytes(onnx_model([helper.make_node("Conv", ["x", "cw"], ["y"], "conv")], [tensor]).SerializeToString())
    code, out, err = run_main(monkeypatch, capsys, "import", str(path), "-o", str(folder / "net.yaml"))
    assert code == 2 and out == "" and err.count("error:") == 1 and "not a file inside" in err, err
    assert sorted(p.name for p in folder.iterdir()) == ["m.onnx"]  # neither the network nor its weights
    code, _, err = run_main(monkeypatch, capsys, "import", str(path), "-o", str(folder / "net.safetensors"))
    assert code == 2 and "names the file the weights go to" in err and "Traceback" not in err, err


def test_an_output_that_is_a_folder_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    # `-o DIR` said "cannot write `DIR`: Is a directory", after writing DIR.safetensors beside it
    source = exported(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_main(monkeypatch, capsys, "import", source, "-o", str(folder))
    assert code == 2 and out == ""
    stem = source.rsplit("/", 1)[-1].removesuffix(".onnx")
    assert err == f"error: `{folder}` is a folder: name the file to write\n  hint: e.g. -o {folder}/{stem}.yaml\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not list(folder.iterdir())
    code, _, err = run_main(monkeypatch, capsys, "import", source, "-o", f"{source}/net.yaml")  # a file in the way
    assert code == 2 and f"`{source}` is a file, not a folder" in err, err
