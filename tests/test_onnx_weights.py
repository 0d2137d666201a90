"""The weights an ONNX file stores, read under the names cnnctl's compiled module gives its
parameters (onnx_import.read_weights), and loaded through the matching seam
(exchange/weights.py): the network rebuilt from the file computes what the file does."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")

from onnx import helper  # noqa: E402

from cnnctl.api import load_text, to_torch  # noqa: E402
from cnnctl.exchange import export as exporting  # noqa: E402
from cnnctl.exchange.onnx_import import read_weights  # noqa: E402
from cnnctl.exchange.weights import match_weights  # noqa: E402
from tests.helpers import onnx_model, onnx_tensor, place_imported  # noqa: E402

# Every kind that holds weights the reader reads: conv (and a grouped one), bn, layer norm,
# layer scale, GRN, a convolution across the channels, deconv, fc after a volume; a repeat
# (paths `repeat1.2...`) and residuals.
NET = """
version: 1
name: weights_trip
input: 8x8x3
layers:
  - conv f=3 p=1 n=8
  - bn act=relu
  - repeat: 2
    layers:
      - residual:
          - conv f=3 p=1 groups=8 n=8
          - layernorm
          - layerscale 0.5
          - grn
  - channelconv 3
  - deconv f=2 s=2 n=4
  - fc 5
"""


def scrambled(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every float tensor of `model` set to random values in [-0.5, 0.5) (a running variance
    in [0.5, 1.5)): a tensor left unloaded, or loaded into the wrong place, shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + (0.5 if name.endswith("running_var") else -0.5))
    return model.eval()


def test_weights_read_from_an_exported_network_give_its_outputs(tmp_path, monkeypatch):
    graph = load_text(NET)
    exported = {}
    made = exporting.model_for

    def with_random_weights(g, *given):  # the module export writes, with weights of its own
        model, weights, expects = made(g, *given)
        exported["model"] = scrambled(model, seed=1)
        return exported["model"], weights, expects

    monkeypatch.setattr(exporting, "model_for", with_random_weights)
    exporting.export(graph, "onnx", str(tmp_path / "net.onnx"))

    got = read_weights(str(tmp_path / "net.onnx"))
    rebuilt = scrambled(to_torch(got.graph), seed=2)
    own = rebuilt.state_dict()
    report = match_weights(got.shapes, own)  # shapes alone: nothing decoded yet
    # ONNX has no counterpart of a batch norm's step counter; everything else is there
    counters = [name for name in own if name.endswith("num_batches_tracked")]
    assert len(counters) == 1
    assert report.missing == counters and report.unexpected == [] and report.reshaped == []
    assert report.matched == [name for name in own if name not in counters]

    placement = place_imported(rebuilt, {name: got.array(name) for name in report.matched}, tmp_path)
    assert placement.by_name and [p.own for p in placement.placed] == report.matched
    x = exporting.example_input(graph)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), exported["model"](x), rtol=1e-4, atol=1e-5)


def test_an_fc_stored_untransposed_and_a_conv_stored_outside_the_file(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    conv_w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    fc_w = rng.standard_normal((4 * 6 * 6, 5)).astype(np.float32)  # x @ W: in x out (transB=0)
    fc_b = rng.standard_normal(5).astype(np.float32)
    (tmp_path / "conv.bin").write_bytes(conv_w.tobytes())
    nodes = [
        helper.make_node("Conv", ["x", "cw"], ["c"], "conv"),
        helper.make_node("Flatten", ["c"], ["f"], "flat"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], "head"),
    ]
    initializers = [
        onnx_tensor("cw", conv_w, location="conv.bin", offset=0, length=conv_w.nbytes),
        onnx_tensor("fw", fc_w),
        onnx_tensor("fb", fc_b),
    ]
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_model(nodes, initializers).SerializeToString())

    got = read_weights(str(path))
    rebuilt = scrambled(to_torch(got.graph), seed=3)
    fc = [name for name in got.shapes if got.shapes[name] == (5, 4 * 6 * 6)]
    assert len(fc) == 1 and np.array_equal(got.array(fc[0]), fc_w.T)  # torch's Linear: out x in
    placement = place_imported(rebuilt, {name: got.array(name) for name in got.shapes}, tmp_path)
    assert placement.by_name and [p.own for p in placement.placed] == list(rebuilt.state_dict())
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        assert np.allclose(rebuilt(torch.from_numpy(x)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_a_weight_outside_the_models_folder_is_refused_when_read(tmp_path):
    from cnnctl import CnnctlError

    w = np.ones((2, 3, 1, 1), np.float32)
    (tmp_path / "outside.bin").write_bytes(w.tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    nodes = [helper.make_node("Conv", ["x", "cw"], ["y"], "conv")]
    tensor = onnx_tensor("cw", w, location="../outside.bin", offset=0, length=w.nbytes)
    path = folder / "m.onnx"
    path.write_bytes(onnx_model(nodes, [tensor]).SerializeToString())
    got = read_weights(str(path))  # the network reads: a weight needs only its dims
    (name,) = got.shapes
    with pytest.raises(CnnctlError) as info:
        got.array(name)
    problem = info.value.problems[0]
    assert problem.loc.file == str(path) and "`cw`" in problem.message and "not a file inside" in problem.message


def test_reading_and_matching_the_weights_imports_no_torch(tmp_path):
    import subprocess
    import sys

    w = np.ones((2, 3, 1, 1), np.float32)
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["y"], "conv")]
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_model(nodes, [onnx_tensor("cw", w), onnx_tensor("cb", [0.5, 0.5])]).SerializeToString())
    probe = (
        "import sys\n"
        "from cnnctl.exchange.onnx_import import read_weights\n"
        "from cnnctl.exchange.weights import match_weights\n"
        f"got = read_weights({str(path)!r})\n"
        "own = {'conv1.weight': (2, 3, 1, 1), 'conv1.bias': (2,)}\n"
        "print(match_weights(got.shapes, own).complete, [float(got.array(n).sum()) for n in own])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split("\n")[:2] == ["True [6.0, 1.0]", "False"], out.stdout


def test_weights_imported_from_onnx_export_again_without_a_normalisation(tmp_path, monkeypatch, capsys):
    # F2 item 9: the ONNX file had none; its weights, imported, export as it did (what predict and
    # evaluate need to adapt images stays theirs to ask for)
    import warnings

    ort = pytest.importorskip("onnxruntime")
    from tests.helpers import run_main

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(1, 3, 8, 8),), str(tmp_path / "m.onnx"), dynamo=False)
    net = str(tmp_path / "m.yaml")
    assert run_main(monkeypatch, capsys, "import", str(tmp_path / "m.onnx"), "-o", net)[0] == 0
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for source in ("m.safetensors", "m.onnx"):
        back = str(tmp_path / f"back_{source.replace('.', '_')}.onnx")
        code, out, err = run_main(monkeypatch, capsys, "export", net, "--weights", str(tmp_path / source), "-o", back)
        assert code == 0, err
        assert "no normalisation is known (the weights come from an ONNX file, which takes its input as it is)" in out
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        got = ort.InferenceSession(back, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
        assert np.allclose(got, expected, atol=1e-5)
    code, out, err = run_main(monkeypatch, capsys, "export", net, "--weights", str(tmp_path / "m.safetensors"), "-o",
                              str(tmp_path / "u8.onnx"), "--with-preprocessing")  # fmt: skip
    assert code == 2 and "--with-preprocessing cannot be written: no normalisation is known" in err


def test_weights_from_an_onnx_file_are_shown_by_the_files_own_names(tmp_path, monkeypatch, capsys):
    # Once: `cnnctl weights net.yaml m.onnx` showed `conv.weight` (the name it was read under) as From,
    # which Netron does not show: the person matches the file's own initializer names (`cw`, `fw`, `fb`).
    import json

    from tests.helpers import run_main

    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "cw"], ["c"], "conv"),
        helper.make_node("Flatten", ["c"], ["f"], "flat"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], "head", transB=1),
    ]
    initializers = [
        onnx_tensor("cw", rng.standard_normal((4, 3, 3, 3))),
        onnx_tensor("fw", rng.standard_normal((5, 4 * 6 * 6))),
        onnx_tensor("fb", rng.standard_normal(5)),
    ]
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_model(nodes, initializers).SerializeToString())
    net = tmp_path / "net.yaml"
    net.write_text(read_weights(str(path)).text)
    code, out, err = run_main(monkeypatch, capsys, "weights", str(net), str(path), "--format", "json")
    assert code == 0, err
    assert [t["from"] for t in json.loads(out)["tensors"]] == ["cw", "fw", "fb"]
    code, out, err = run_main(monkeypatch, capsys, "weights", str(net), str(path))
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert [row[1] for row in rows if row and row[0].endswith(("weight", "bias"))] == ["cw", "fw", "fb"], out


def test_import_warns_of_weights_that_are_not_finite_in_the_words_of_the_later_refusal(tmp_path):
    # Once: `cnnctl import nan.onnx -o net.yaml` wrote its NaN weights silently; predict, evaluate and
    # train refused them later. Import says so at once, naming the file's initializer, without torch.
    import subprocess
    import sys

    w = np.ones((2, 3, 1, 1), np.float32)
    w[0, 0, 0, 0], w[1, 2, 0, 0] = np.nan, np.inf
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["y"], "conv")]
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_model(nodes, [onnx_tensor("cw", w), onnx_tensor("cb", [0.5, 0.5])]).SerializeToString())
    net = tmp_path / "net.yaml"
    probe = (
        "import sys\n"
        "from cnnctl.cli import main\n"
        "try:\n"
        f"    main(['import', {str(path)!r}, '-o', {str(net)!r}])\n"
        "except SystemExit as stop:\n"
        "    print(stop.code or 0, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split("\n")[-2] == "0 False", done.stdout + done.stderr
    said = "the weights are not all finite numbers: its tensor `cw` holds 2 NaN and infinite values of 6"
    assert f"warning: {path}: {said}" in done.stderr, done.stderr
    assert (tmp_path / "net.safetensors").is_file()  # written all the same: the network is sound
    later = subprocess.run([sys.executable, "-m", "cnnctl", "weights", str(net), str(path)],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert later.returncode == 2 and f"error: {path}: {said}" in later.stderr, later.stderr
    hint = done.stderr.split("hint:", 1)[1].strip()
    assert f"hint: {hint}" in later.stderr  # the same words
