"""cnnctl export: a PyTorch source file, TorchScript and ONNX, each giving the compiled
module's outputs for every bundled network and example, with a checkpoint's weights."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from cnnctl.api import load, load_text, to_torch  # noqa: E402
from cnnctl.backend.builders import BUILDERS, SOURCES  # noqa: E402
from cnnctl.catalog import bundled  # noqa: E402
from cnnctl.exchange.export import example_input  # noqa: E402
from cnnctl.exchange.preprocessing import Preprocessing  # noqa: E402
from cnnctl.exchange.pytorch_source import class_name, pytorch_source  # noqa: E402
from cnnctl.graph.outputs import inference_graph  # noqa: E402
from cnnctl.layers import KINDS  # noqa: E402
from cnnctl.layers.activation import Activation  # noqa: E402
from tests.helpers import EXAMPLES, ruff_objections, run_main  # noqa: E402

NETWORKS = sorted(bundled()) + sorted(str(p) for p in EXAMPLES.glob("*.yaml"))


def _import(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _compiled(net: str):
    graph = inference_graph(load(net))  # what is exported: no heads only training runs (`outputs:`)
    torch.manual_seed(0)
    model = to_torch(graph).eval()
    x = example_input(graph, batch=3)
    with torch.no_grad():
        return graph, model, x, model(x)


def test_every_kind_is_written_as_source():
    assert set(SOURCES) == set(KINDS) == set(BUILDERS)


@pytest.mark.parametrize("net", NETWORKS)
def test_pytorch_source_is_ruff_clean_and_the_same_network(net, tmp_path):
    graph, model, x, expected = _compiled(net)
    path = tmp_path / "net.py"
    path.write_text(pytorch_source(graph))
    assert not ruff_objections(path)  # ruff's defaults, anywhere
    written = _import(path, class_name(graph.name))()
    assert list(written.state_dict()) == list(model.state_dict())  # same keys, same order
    written.load_state_dict(model.state_dict())
    with torch.no_grad():
        got = written.eval()(x)
    if any(getattr(m, "over_channels", False) for m in model.modules()):
        # ConvNeXt's MLP: the backend runs its 1x1 convs as F.linear on channels-last data, the
        # written source as Conv2d: the same sums in another order (equal on one thread, not on two)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5 * expected.abs().max().item())
    else:
        assert torch.equal(got, expected)


# Every kind of input an exported file can state (cnnctl.exchange.pytorch_source): none, the
# statistics of a vector, an image padded or resized whole (in colour, in gray, with one class or
# several), and the centre crop of a run that streamed random resized crops, whose rules are
# cnnctl.data.decode's own source, copied in.
STATED = {
    "nothing": None,
    "a vector's statistics": Preprocessing((12,), (0.5,), (0.25,)),
    "padded": Preprocessing((3, 8, 8), (0.5, 0.4, 0.3), (0.2, 0.2, 0.2), classes=("cat", "dog")),
    "gray, one class": Preprocessing((1, 8, 8), (0.5,), (0.25,), classes=("only",)),
    "resized": Preprocessing((3, 8, 8), (0.5, 0.4, 0.3), (0.2, 0.2, 0.2), pad=False),
    "centre crop": Preprocessing((3, 8, 8), (0.5, 0.4, 0.3), (0.2, 0.2, 0.2), classes=("a", "b"), centre=224 / 256),
}


@pytest.mark.parametrize("stated", sorted(STATED))
def test_every_kind_of_exported_file_is_as_ruff_formats_it(stated, tmp_path):
    # the centre crop's file, its rules copied from cnnctl's 120 columns, was reformatted by ruff's 88
    graph = load_text("name: tiny\ninput: 8x8x3\nlayers:\n  - conv f=3 n=4 p=1\n  - pool avg global\n  - fc 2\n")
    path = tmp_path / "net.py"
    path.write_text(pytorch_source(graph, STATED[stated]))
    assert not ruff_objections(path)


def test_a_channelconv_with_bias_is_written_with_its_bias(tmp_path):
    # no bundled network has one: ECA's gate with a Conv1d's bias, written and run as the compiled one
    graph = load_text("name: eca\ninput: 4x4x8\nlayers:\n  - gate: [pool avg global, channelconv 3 bias, sigmoid]\n")
    torch.manual_seed(0)
    model = to_torch(graph).eval()
    with torch.no_grad():
        model.gate1.channelconv1.bias.fill_(2.0)  # a bias left out, or not added, shows
    path = tmp_path / "net.py"
    path.write_text(pytorch_source(graph))
    assert not ruff_objections(path)  # F imported for the helper's F.conv2d
    written = _import(path, class_name(graph.name))()
    names = ["gate1.channelconv1.weight", "gate1.channelconv1.bias"]
    assert list(written.state_dict()) == list(model.state_dict()) == names
    written.load_state_dict(model.state_dict())
    x = example_input(graph, batch=3)
    with torch.no_grad():
        assert torch.equal(written.eval()(x), model(x))


@pytest.mark.parametrize(
    ("layer", "said"),
    [
        ("pool avg f=3 s=1 p=1 count_pad=false", "nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)"),
        ("deconv f=3 s=2 p=1 op=1x0 n=4", "output_padding=(1, 0)"),
    ],
)
def test_an_average_without_the_padding_and_a_deconvs_output_padding_are_written(layer, said, tmp_path):
    # no bundled network has them: written as PyTorch's own arguments, and run as the compiled module
    graph = load_text(f"name: written\ninput: 5x7x3\nlayers: [{layer}]\n")
    torch.manual_seed(0)
    model = to_torch(graph).eval()
    path = tmp_path / "net.py"
    path.write_text(pytorch_source(graph))
    assert said in path.read_text()
    written = _import(path, class_name(graph.name))()
    written.load_state_dict(model.state_dict())
    x = example_input(graph, batch=3)
    with torch.no_grad():
        assert torch.equal(written.eval()(x), model(x))


@pytest.mark.parametrize("net", NETWORKS)
def test_torchscript_reloads_and_gives_the_same_outputs(net, tmp_path, monkeypatch, capsys):
    graph, model, x, expected = _compiled(net)
    out = tmp_path / "net.ts"
    monkeypatch.setattr("cnnctl.exchange.export.to_torch", lambda g: model)  # these weights
    code, said, err = run_main(monkeypatch, capsys, "export", net, "-o", str(out))
    assert code == 0, err
    assert "torch.jit.load" in said
    loaded = torch.jit.load(str(out))
    with torch.no_grad():
        assert (loaded(x) - expected).abs().max().item() <= 1e-5  # another batch size than export checked


@pytest.mark.parametrize("suffix", [".ts", ".safetensors"])
def test_a_file_name_not_utf8_is_shown_as_its_bytes_in_the_line_to_copy(suffix, tmp_path, monkeypatch, capsys):
    # `-o "$(printf 'x\xe9.ts')"`: Python holds the byte as a surrogate; the report's last line
    # printed it as Python's repr, `'x\udce9.ts'`, where every other line says `x\xe9.ts`.
    out = tmp_path / (b"x\xe9".decode(errors="surrogateescape") + suffix)
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(out))
    assert code == 0 and out.is_file(), err
    shown = f"{tmp_path}/x\\xe9{suffix}"  # a backslash: the byte's escape, as the messages write it
    assert f"wrote {shown}: lenet5" in said
    assert f"('{shown}')" in said.splitlines()[-1] and "udce9" not in said


@pytest.mark.parametrize("net", NETWORKS)
def test_onnx_runs_in_onnxruntime_like_pytorch(net, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    graph, model, x, expected = _compiled(net)
    out = tmp_path / "net.onnx"
    monkeypatch.setattr("cnnctl.exchange.export.to_torch", lambda g: model)
    code, said, err = run_main(monkeypatch, capsys, "export", net, "-o", str(out))
    assert code == 0, err
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"image": x.numpy()})[0])  # batch 3: the batch axis is free
    assert (got - expected).abs().max().item() <= 1e-4


def test_an_adaptive_pool_onnx_cannot_write_is_refused_at_its_line_before_exporting(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    net = tmp_path / "pa.yaml"  # 16 to 3: windows of different sizes; 3x3 to 3x1: even
    net.write_text("input: 16x16x8\nlayers:\n  - conv f=3 p=same n=8\n  - pool avg out=3\n  - pool max out=3x1\n")
    code, out, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(tmp_path / "pa.onnx"))
    assert code == 2 and out == "" and "Traceback" not in err and err.count("error:") == 1, err
    assert f"{net}:4:5: layer `pool1`: `pool avg out=3` pools 16x16 to 3x3" in err and "hint: choose an out=" in err
    assert not (tmp_path / "pa.onnx").exists()
    net.write_text("input: 16x16x8\nlayers:\n  - pool max out=5x3\n  - pool avg out=5x1\n  - pool max out=2x1\n")
    code, out, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(tmp_path / "pa.onnx"))
    assert code == 2 and err.count("error:") == 2, err  # every such pool of the file in one run
    assert "`pool max out=5x3` pools 16x16 to 5x3" in err and "`pool max out=2x1` pools 5x1 to 2x1" in err, err
    net.write_text("input: 16x16x8\nlayers:\n  - pool avg out=4x2\n  - pool max out=2\n")  # even: written
    code, out, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(tmp_path / "pa.onnx"))
    assert code == 0 and (tmp_path / "pa.onnx").is_file(), err


BILINEAR = {  # a segmentation head's ending (FCN, DeepLabV3: F.interpolate(..., mode="bilinear"))
    "half_pixel": "name: seg\ninput: 12x10x3\nlayers: [conv f=3 s=2 p=1 n=4 act=relu, conv f=1 n=2, "
    "upsample 2 mode=bilinear]",
    "align_corners": "name: seg\ninput: 9x9x3\nlayers: [conv f=3 s=3 n=4 act=relu, "
    "upsample 3 mode=bilinear align_corners=true, conv f=3 p=1 n=2]",
}


@pytest.mark.parametrize("coordinates", sorted(BILINEAR))
def test_bilinear_upsampling_exports_as_a_linear_resize(coordinates, tmp_path, monkeypatch, capsys):
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    path = tmp_path / "seg.yaml"
    path.write_text(BILINEAR[coordinates])
    graph, model, x, expected = _compiled(str(path))
    # the source: F.interpolate with the same mode and corners, the same outputs
    source = tmp_path / "seg.py"
    source.write_text(pytorch_source(graph))
    assert not ruff_objections(source)  # as every network's source
    written = _import(source, class_name(graph.name))()
    written.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(written.eval()(x), expected)
    # ONNX: one Resize, linear, with the coordinates PyTorch's align_corners means
    out = tmp_path / "seg.onnx"
    monkeypatch.setattr("cnnctl.exchange.export.to_torch", lambda g: model)
    code, _, err = run_main(monkeypatch, capsys, "export", str(path), "-o", str(out))
    assert code == 0, err
    (resize,) = [n for n in onnx.load(str(out)).graph.node if n.op_type == "Resize"]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in resize.attribute}
    assert attributes["mode"] == b"linear"
    assert attributes["coordinate_transformation_mode"].decode() in (
        ("align_corners",) if coordinates == "align_corners" else ("half_pixel", "pytorch_half_pixel")
    )
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"image": x.numpy()})[0])
    assert (got - expected).abs().max().item() <= 1e-5


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    done = subprocess.run(
        [sys.executable, "-m", "cnnctl", "train", "lenet5", "--epochs", "1", "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_a_checkpoint_exports_with_its_weights(trained, tmp_path, monkeypatch, capsys):
    graph = load("lenet5")
    state = torch.load(trained / "best.pt", weights_only=True)
    model = to_torch(graph).eval()
    model.load_state_dict(state["model"])
    x = example_input(graph)
    with torch.no_grad():
        expected = model(x)
    out = tmp_path / "lenet.py"
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "--checkpoint", str(trained), "-o", str(out))
    assert code == 0, err
    assert str(trained / "best.pt") in said and "lenet.pt" in said
    written = _import(out, class_name("lenet5"))()
    written.load_state_dict(torch.load(tmp_path / "lenet.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(written.eval()(x), expected)
    ts = tmp_path / "lenet.ts"
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "--checkpoint", str(trained), "-o", str(ts))
    assert code == 0, err
    with torch.no_grad():
        assert (torch.jit.load(str(ts))(x) - expected).abs().max().item() <= 1e-5


def test_the_pytorch_exports_how_to_use_line_runs_as_printed(trained, tmp_path, monkeypatch, capsys):
    # It said `from l import Lenet5, preprocess; ...torch.load(...); net.eval()(preprocess(PIL.Image.open(png)))
    # (its state_dict keys are cnnctl's)`: torch, PIL.Image and png undefined, and a remark that is no Python.
    from PIL import Image

    Image.new("L", (28, 28), 200).save(tmp_path / "image.png")  # the image the line names, a 28x28 digit's size
    for name, more in (("fresh.py", ()), ("l.py", ("--checkpoint", str(trained)))):
        code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / name), *more)
        assert code == 0, err
        line = said.splitlines()[-1]
        done = subprocess.run([sys.executable, "-c", line], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, (line, done.stderr)
        if more:  # the trained network's probabilities of the image: lenet5's 10 classes
            assert "preprocess(Image.open('image.png'))" in line and "net.load_state_dict(torch.load('l.pt'" in line
            assert done.stdout.startswith("tensor([[") and done.stdout.count(",") >= 9, done.stdout


def test_weights_export_as_safetensors_that_weights_reads_back(trained, tmp_path, monkeypatch, capsys):
    # `export -o w.safetensors` was "cannot tell what to write"
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    from cnnctl.exchange.weights import place_weights

    state = torch.load(trained / "best.pt", weights_only=True)["model"]
    out = tmp_path / "w.safetensors"
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "--checkpoint", str(trained), "-o", str(out))
    assert code == 0 and "as safetensors weights" in said and "checked: --weights reading it back" in said, err
    written = load_file(str(out))
    assert set(written) == set(state) and all(torch.equal(written[k], state[k]) for k in state)  # the network's names
    with safe_open(str(out), framework="pt") as opened:
        about = opened.metadata()
    assert (about["written_by"], about["network"], about["weights"]) == ("cnnctl export", "lenet5", "trained")
    assert json.loads(about["order"]) == list(state)  # the definition order, as `cnnctl import` writes it
    assert json.loads(about["cnnctl.mean"]) == json.loads(json.dumps(torch.load(trained / "best.pt")["mean"]))
    model = to_torch(load("lenet5"))
    assert place_weights(model, str(out)).by_name  # what --weights does with it
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    again = tmp_path / "again.safetensors"
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "--weights", str(out), "-o", str(again))
    assert code == 0, err
    assert all(torch.equal(v, state[k]) for k, v in load_file(str(again)).items())


def test_the_cli_knows_every_export_format():
    from cnnctl.cli.use import EXPORT_FORMATS
    from cnnctl.exchange.export import FORMATS

    assert EXPORT_FORMATS == FORMATS


def test_a_checkpoint_of_another_network_is_refused(trained, tmp_path, monkeypatch, capsys):
    code, _, err = run_main(
        monkeypatch, capsys, "export", "alexnet", "--checkpoint", str(trained), "-o", str(tmp_path / "a.ts")
    )
    assert code == 2 and "lenet5" in err and "Traceback" not in err
    assert not (tmp_path / "a.ts").exists()


def test_a_run_at_another_input_names_the_input_and_the_run_alone(trained, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "a.onnx")
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "--input", "28x28x1", "--checkpoint", str(trained),
                            "-o", out)  # fmt: skip
    assert code == 2 and "the checkpoint was trained at input 32x32x1; this network takes 28x28x1" in err, err
    said = " ".join(err.split())
    assert f"hint: give --input 32x32x1, or give the run alone: `cnnctl export {trained}`" in said
    assert "use that ARCH" not in said and "a copy of it" not in said  # neither works: export has --input
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "--input", "32x32x1", "--checkpoint", str(trained),
                            "-o", out)  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "net.bin"], "cannot tell what to write"),
        (["-o", "/dev/null/net.onnx"], "`/dev/null` is a file, not a folder"),  # a missing folder is made
        (["-o", "net.bin", "--format", "keras"], "keras"),
        (["-o", "net.onnx", "--with-preprocessing"], "no normalisation is known"),
        (["-o", "net.py", "--with-preprocessing"], "preprocess(image)"),
        (["-o", "net.safetensors", "--with-preprocessing"], "holds the weights, not the network"),
    ],
)
def test_mistakes_are_one_message(args, said, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", *args)
    assert code == 2 and said in err and "Traceback" not in err


def test_a_format_the_files_suffix_contradicts_is_refused_before_writing(monkeypatch, capsys, tmp_path):
    # once: `-o out.onnx --format torchscript` wrote TorchScript into out.onnx, to be read as ONNX elsewhere
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / "out.onnx"),
                            "--to", "torchscript")  # fmt: skip
    assert code == 2 and err.count("error:") == 1
    assert "ends in .onnx, which names ONNX; --to torchscript writes TorchScript" in err
    assert f"hint: name it {tmp_path / 'out.ts'}, or give --to onnx" in err
    assert not (tmp_path / "out.onnx").exists()
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / "out.model"),
                            "--to", "pytorch")  # fmt: skip
    assert code == 0 and (tmp_path / "out.model").read_text().startswith('"""'), err  # a suffix that names nothing


def test_a_file_in_the_way_or_a_folder_for_a_file_is_told_with_a_hint(monkeypatch, capsys, tmp_path):
    # once: into a missing folder, no hint; into a folder, "Is a directory" (the OS's words). Now a hint for
    # each; a missing folder is made (test_export_into_folders_that_do_not_exist_makes_them...)
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / "notes.txt" / "net.onnx"))
    assert code == 2 and f"`{tmp_path / 'notes.txt'}` is a file, not a folder" in err, err
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path), "--to", "onnx")
    assert (
        code == 2
        and err == f"error: `{tmp_path}` is a folder: name the file to write\n  hint: e.g. -o {tmp_path}/lenet5.onnx\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # nothing written


def test_onnx_without_the_package_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx fails
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / "l.onnx"))
    assert code == 2 and "pip install 'cnnctl[onnx]'" in err
    assert not list(tmp_path.iterdir())


def test_the_export_states_the_input_and_the_stated_preparation_predicts_as_cnnctl(
    trained, tmp_path, monkeypatch, capsys
):
    # The exported network expects the run's normalisation, which nothing said: fed raw
    # pixels it answered wrongly. Each export states it; raw images prepared as stated give
    # `cnnctl predict`'s answers.
    Image = pytest.importorskip("PIL.Image")
    import json

    from cnnctl.data import make_shapes

    state = torch.load(trained / "best.pt", weights_only=True)
    mean, std = state["mean"], state["std"]  # lenet5: 1 channel
    x, _ = make_shapes(6, 32, 32, 1, seed=7)  # raw pixels, 0 to 255, as images hold them
    images = []
    for i, pixels in enumerate(x):
        images.append(tmp_path / f"{i}.png")
        Image.fromarray(pixels[0].numpy(), mode="L").save(images[-1])
    code, said, err = run_main(monkeypatch, capsys, "predict", str(trained), *map(str, images), "--format", "json",
                               "-k", "1", "--device", "cpu")  # fmt: skip
    assert code == 0, err
    tops = [r["top"][0] for r in json.loads(said)["predictions"]]
    predicted = [state["classes"].index(top["class"]) for top in tops]
    stated = ((x.float() / 255 - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)).numpy()

    # the report: the table and JSON say the shape and the normalisation, from the checkpoint
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "--checkpoint", str(trained),
                               "-o", str(tmp_path / "l.py"))  # fmt: skip
    assert code == 0, err
    assert (f"input: float32 (N, 1, 32, 32) NCHW: grayscale pixel values / 255, then normalise with mean {mean[0]!r} "
            f"and std {std[0]!r} per channel: (x - mean) / std") in said.splitlines()  # fmt: skip
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "--checkpoint", str(trained),
                               "-o", str(tmp_path / "l.py"), "--format", "json")  # fmt: skip
    report = json.loads(said)["input"]
    assert (report["shape"], report["mean"], report["std"], report["scale"]) == (["N", 1, 32, 32], mean, std, "1/255")

    # the PyTorch file: its docstring says it, MEAN and STD hold it, normalize() does it
    module = importlib.util.spec_from_file_location("exported_l", tmp_path / "l.py")
    source = importlib.util.module_from_spec(module)
    module.loader.exec_module(source)
    assert "normalise with mean" in source.__doc__ and (tuple(mean), tuple(std)) == (source.MEAN, source.STD)
    assert torch.allclose(source.normalize(x), torch.from_numpy(stated))
    net = source.Lenet5()
    net.load_state_dict(torch.load(tmp_path / "l.pt", weights_only=True))
    with torch.no_grad():
        probabilities = net.eval()(source.normalize(x))  # lenet5 ends in softmax
    assert probabilities.argmax(1).tolist() == predicted
    assert probabilities.max(1).values.tolist() == pytest.approx([top["probability"] for top in tops], abs=1e-5)

    # ONNX: its metadata_props say it; the raw images prepared so give the same classes
    pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "--checkpoint", str(trained),
                            "-o", str(tmp_path / "l.onnx"))  # fmt: skip
    assert code == 0, err
    session = ort.InferenceSession(str(tmp_path / "l.onnx"), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert props["cnnctl.input"] == "float32 (N, 1, 32, 32) NCHW"
    assert (json.loads(props["cnnctl.mean"]), json.loads(props["cnnctl.std"])) == (mean, std)
    assert props["cnnctl.preprocessing"].startswith("grayscale pixel values / 255, then normalise with mean")
    got = session.run(None, {"image": stated})[0]
    assert got.argmax(1).tolist() == predicted


def _pngs(folder: Path) -> list[Path]:
    """PNG files of generated shapes (light on dark, as the run trained on) in each way predict
    adapts an image to LeNet-5's 32x32x1: a 28x28 digit padded, 32x32 RGB converted to gray,
    64x48 shrunk by area (aspect changed), 20x20 with an alpha channel grown bilinearly, and
    32x32 grayscale as it is."""
    Image = pytest.importorskip("PIL.Image")
    from cnnctl.data import make_shapes

    files = []
    for i, ((h, w), mode) in enumerate([((28, 28), "L"), ((32, 32), "RGB"), ((64, 48), "L"), ((20, 20), "RGBA"),
                                        ((32, 32), "L")]):  # fmt: skip
        pixels = make_shapes(1, h, w, 1, seed=11 + i)[0][0, 0].numpy()
        files.append(folder / f"{i}-{w}x{h}-{mode}.png")
        Image.fromarray(pixels, mode="L").convert(mode).save(files[-1])
    return files


def test_each_export_with_its_preprocessing_gives_predicts_classes_on_png_files(trained, tmp_path, monkeypatch, capsys):
    # Issue 21 (5): the preprocessing travels with the weights. The PyTorch file's
    # preprocess() (adapt() then normalize()) and the ONNX and TorchScript networks exported
    # --with-preprocessing (uint8 NHWC pixels in, normalised inside) give `cnnctl predict`'s
    # classes on PNG files of every size and mode predict adapts; ONNX metadata_props hold the
    # checkpoint's mean, std and classes.
    Image = pytest.importorskip("PIL.Image")
    import json

    import numpy as np

    state = torch.load(trained / "best.pt", weights_only=True)  # the checkpoint, read independently
    pngs = _pngs(tmp_path)
    code, said, err = run_main(monkeypatch, capsys, "predict", str(trained), *map(str, pngs), "--format", "json",
                               "-k", "1", "--device", "cpu")  # fmt: skip
    assert code == 0, err
    tops = [r["top"][0] for r in json.loads(said)["predictions"]]
    predicted = [state["classes"].index(top["class"]) for top in tops]

    def export(name: str, *more: str) -> str:
        code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "--checkpoint", str(trained),
                                   "-o", str(tmp_path / name), *more)  # fmt: skip
        assert code == 0, err
        return said

    # the PyTorch file: preprocess() of a PIL image, or of its pixels as an array
    said = export("l.py")
    assert "images: an image is converted to grayscale" in said and "preprocess(Image.open('image.png'))" in said
    spec = importlib.util.spec_from_file_location("exported_pre", tmp_path / "l.py")
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    doc = source.__doc__.replace("\n", " ")  # the words of its docstring, wherever its lines break
    assert "padded with zeros to 32x32" in doc and tuple(state["classes"]) == source.CLASSES
    assert not ruff_objections(tmp_path / "l.py")  # with preprocess(), still clean
    net = source.Lenet5()
    net.load_state_dict(torch.load(tmp_path / "l.pt", weights_only=True))
    with torch.no_grad():
        probabilities = torch.cat([net.eval()(source.preprocess(Image.open(png))) for png in pngs])
        from_arrays = torch.cat([net(source.preprocess(np.array(Image.open(png)))) for png in pngs])
    assert probabilities.argmax(1).tolist() == predicted and from_arrays.argmax(1).tolist() == predicted
    assert probabilities.max(1).values.tolist() == pytest.approx([top["probability"] for top in tops], abs=1e-5)
    pixels = [source.adapt(Image.open(png)).permute(0, 2, 3, 1) for png in pngs]  # uint8 NHWC, 32x32
    assert all(p.dtype == torch.uint8 and p.shape == (1, 32, 32, 1) for p in pixels)

    # TorchScript --with-preprocessing: uint8 NHWC pixels in
    said = export("l.ts", "--with-preprocessing")
    assert "input: uint8 (N, 32, 32, 1) NHWC: grayscale pixel values 0-255 as they are" in said
    files = {"cnnctl_preprocessing.json": ""}
    scripted = torch.jit.load(str(tmp_path / "l.ts"), _extra_files=files)
    stated = json.loads(files["cnnctl_preprocessing.json"])
    assert (stated["dtype"], stated["layout"], stated["normalised_inside"]) == ("uint8", "NHWC", True)
    assert (stated["mean"], stated["std"], stated["classes"]) == (state["mean"], state["std"], state["classes"])
    with torch.no_grad():
        assert [scripted(p).argmax(1).item() for p in pixels] == predicted

    # ONNX: metadata_props hold the checkpoint's statistics; plain, fed preprocess(); and
    # --with-preprocessing, fed the uint8 pixels
    pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed: pip install -e '.[onnx]'")
    export("plain.onnx")
    session = ort.InferenceSession(str(tmp_path / "plain.onnx"), providers=["CPUExecutionProvider"])
    got = [session.run(None, {"image": source.preprocess(Image.open(png)).numpy()})[0] for png in pngs]
    assert [g.argmax(1).item() for g in got] == predicted
    export("inside.onnx", "--with-preprocessing")
    session = ort.InferenceSession(str(tmp_path / "inside.onnx"), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert props["cnnctl.input"] == "uint8 (N, 32, 32, 1) NHWC"
    assert (json.loads(props["cnnctl.mean"]), json.loads(props["cnnctl.std"])) == (state["mean"], state["std"])
    assert json.loads(props["cnnctl.classes"]) == state["classes"]
    assert "padded with zeros to 32x32" in props["cnnctl.adaptation"]
    assert session.get_inputs()[0].type == "tensor(uint8)"
    got = [session.run(None, {"image": p.numpy()})[0] for p in pixels]
    assert [g.argmax(1).item() for g in got] == predicted


@pytest.mark.parametrize("pad", [True, False])
def test_the_pytorch_files_adapt_follows_cnnctls_rules(pad, tmp_path):
    # adapt() of the exported file is cnnctl's adaptation (cnnctl.data.adapt.adapt, which
    # training and predict follow) for images padded, shrunk, grown, of another aspect; with
    # pad False (a dense network: its images were resized as their masks were) never padded.
    pytest.importorskip("PIL.Image")
    from cnnctl.data.adapt import adapt
    from cnnctl.exchange.preprocessing import Preprocessing

    graph = load("lenet5")
    expects = Preprocessing((1, 32, 32), (0.25,), (0.5,), adaptation="as cnnctl", pad=pad)
    path = tmp_path / "net.py"
    path.write_text(pytorch_source(graph, expects))
    spec = importlib.util.spec_from_file_location("exported_adapt", path)
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    generator = torch.Generator().manual_seed(3)
    for h, w in [(28, 28), (22, 30), (64, 48), (20, 20), (32, 32), (40, 25)]:
        pixels = torch.randint(0, 256, (h, w), dtype=torch.uint8, generator=generator)
        expected = adapt(pixels[None, None], (32, 32, 1), pad=pad)
        assert torch.equal(source.adapt(pixels.numpy()), expected), (h, w)
        assert torch.equal(
            source.adapt(pixels.numpy(), invert=True), adapt(255 - pixels[None, None], (32, 32, 1), pad=pad)
        )
        assert torch.allclose(source.preprocess(pixels.numpy()), (expected.float() / 255 - 0.25) / 0.5)


def test_every_inline_activation_is_built_and_written():
    """`act=` takes every activation kind: each has a function in the backend and a source."""
    from cnnctl.backend import functional as fn
    from cnnctl.layers.activation import ACT_NAMES, ACTIVATIONS

    names = set(ACT_NAMES) - {"none"}
    assert names == {kind.name for kind in ACTIVATIONS} and names <= set(KINDS)
    assert set(fn.ACTIVATION_FUNCTIONS) == names
    x = torch.linspace(-3, 3, 7).view(1, 7, 1, 1)
    for name in names:
        assert fn.activation(name)(x).shape == x.shape


def test_the_backend_has_one_row_per_activation_kind_of_the_registry():
    """The backend's table of activations (function, in-place form, source) is keyed by exactly
    the registry's activation kinds: a kind without a row, or a row without a kind, fails."""
    from cnnctl.backend.functional import ACTIVATION_FUNCTIONS

    kinds = {name for name, kind in KINDS.items() if isinstance(kind, Activation)}
    assert {"relu", "leaky", "softmax"} <= kinds
    missing, extra = kinds - set(ACTIVATION_FUNCTIONS), set(ACTIVATION_FUNCTIONS) - kinds
    assert not missing and not extra, f"kinds without a row: {missing}; rows of no kind: {extra}"


@pytest.mark.parametrize("name", sorted(name for name, kind in KINDS.items() if isinstance(kind, Activation)))
def test_an_activation_row_agrees_with_itself(name):
    """Its function, its in-place form (on a copy) and its source text, run, give the same values."""
    from cnnctl.backend import functional as fn

    row = fn.ACTIVATION_FUNCTIONS[name]
    x = torch.linspace(-4, 4, 2 * 9 * 3).view(2, 9, 3, 1)
    want = fn.activation(name)(x)
    defaults = {arg.name: arg.default for arg in KINDS[name].args}
    written = eval(row.source.format(x="x", **defaults), {"torch": torch, "F": torch.nn.functional, "x": x})
    assert torch.allclose(written, want)
    if row.in_place is not None:
        copy = x.clone()
        assert torch.allclose(fn.activation(name, inplace=True)(copy), want)
        assert torch.allclose(copy, want)  # it really wrote in place


def test_leaky_takes_its_slope_and_defaults_to_the_kinds():
    """leaky(x) = x for x > 0, slope * x otherwise; inline (`act=leaky`) with the kind's default."""
    from cnnctl.backend import functional as fn

    x = torch.tensor([-2.0, -0.5, 0.0, 1.5])
    default = KINDS["leaky"].args[0].default
    assert torch.allclose(fn.activation("leaky", 0.2)(x), torch.tensor([-0.4, -0.1, 0.0, 1.5]))
    assert torch.allclose(fn.activation("leaky", inplace=True)(x), torch.where(x > 0, x, default * x))
    written = pytorch_source(load_text("input: 1x1x4\nlayers: [leaky 0.2, fc 3 act=leaky]"))
    assert "F.leaky_relu(x, 0.2)" in written and f"torch.flatten(x, 1)), {default})" in written


def test_the_safetensors_hint_names_the_member_with_its_settings(tmp_path, monkeypatch, capsys):
    # `export fam.yaml:big,depth=2 -o w.safetensors` said `cnnctl train|evaluate|predict fam_big --weights`: the
    # member without depth=2, whose layers the weights do not fit (Graph.title against Graph.name)
    net = tmp_path / "fam.yaml"
    net.write_text(
        "name: fam\ninput: 8x8x3\nargs: depth=1\nvariants:\n  big: depth=1\nlayers:\n"
        "  - repeat: $depth\n    layers:\n      - conv f=3 p=same n=4 act=relu\n  - pool avg global\n  - fc 2\n"
    )
    out = tmp_path / "w.safetensors"
    code, said, err = run_main(monkeypatch, capsys, "export", f"{net}:big,depth=2", "-o", str(out))
    assert code == 0, err
    assert f"cnnctl train|evaluate|predict {net}:big,depth=2 --weights {out} " in said, said  # as given: a path
    code, said, err = run_main(monkeypatch, capsys, "export", f"{net}:big,depth=2", "-o", str(tmp_path / "w.py"))
    assert code == 0 and f"import {class_name('fam_big')}" in said, err  # a class is named by the member


def test_a_name_with_quotes_backslashes_and_an_esc_exports_as_python_and_is_escaped(monkeypatch, capsys, tmp_path):
    # `"""` would end the docstring, `\N` is a syntax error in one, an ESC would reach the terminal
    net = tmp_path / "q.yaml"
    net.write_text('name: "q\\"\\"\\"z\\\\N \\e[31mY"\ninput: 8x8x1\nlayers:\n  - conv f=3 n=2\n  - fc 2\n')
    code, out, err = run_main(monkeypatch, capsys, "export", str(net), "-o", str(tmp_path / "q.py"))
    assert code == 0, err
    assert "\x1b" not in out + err and 'q"""z\\N \\x1b[31mY as PyTorch source' in out
    source = (tmp_path / "q.py").read_text()
    assert "\x1b" not in source and source.startswith("\"\"\"q'''z/N \\\\x1b[31mY: written by cnnctl from q.yaml.")
    assert not ruff_objections(tmp_path / "q.py")


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_a_pt_or_pth_file_is_ambiguous_unless_torchscript_is_asked_for(suffix, monkeypatch, capsys, tmp_path):
    # `-o model.pt` silently wrote TorchScript where a PyTorch user expects a state_dict; `.pth` was refused
    out = tmp_path / f"model{suffix}"
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(out))
    assert code == 2 and not out.exists()
    assert f"ends in {suffix}, which PyTorch uses for a state_dict (torch.save) and for TorchScript alike" in err
    stem = tmp_path / "model"
    assert f"name it {stem}.ts, or give --to torchscript" in err and f"-o {stem}.py" in err
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(out), "--to", "torchscript")
    assert code == 0 and "as TorchScript" in said, err
    assert isinstance(torch.jit.load(str(out)), torch.jit.ScriptModule)


def test_the_file_type_is_to_and_the_report_format_so_both_can_be_given(monkeypatch, capsys, tmp_path):
    # --format was the file type here and the report's format everywhere else: `-o model.pt` (TorchScript
    # only by name) could not have its report as JSON
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / "m2.model"), "-f", "json")
    assert code == 2 and "hint: give --to onnx|torchscript|pytorch|safetensors, or end the name in .onnx" in err
    out = tmp_path / "model.pt"
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(out), "--to", "torchscript",
                               "--format", "json")  # fmt: skip
    assert code == 0 and json.loads(said)["format"] == "torchscript" and err == "", err
    assert isinstance(torch.jit.load(str(out)), torch.jit.ScriptModule)


def test_format_with_a_file_type_is_to_with_a_warning(monkeypatch, capsys, tmp_path):
    out = tmp_path / "model.pt"
    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(out), "--format", "torchscript")
    assert code == 0 and "as TorchScript" in said
    assert err.splitlines() == [
        "warning: --format torchscript names the file type: write --to torchscript",
        "  hint: --format is the report's, table or json, as in every command",
    ]
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(out), "--to", "onnx", "-f", "pytorch")
    assert code == 2 and err.startswith("error: --to onnx and --format pytorch name two file types"), err


def test_export_json_holds_what_the_report_says(tmp_path, monkeypatch, capsys):
    # the JSON lacked the report's how-to-use line (the text and the JSON were built apart, in the CLI)
    import json

    code, said, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / "a.py"))
    assert code == 0, err
    code, data, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / "b.py"), "-f", "json")
    assert code == 0, err
    report = json.loads(data)
    lines = said.splitlines()
    assert report["how_to_use"] == lines[-1].replace("from a import", "from b import").replace("'a.pt'", "'b.pt'")
    assert report["how_to_use"].startswith("from b import Lenet5; net = Lenet5()")
    assert report["warnings"] == [] and report["network"] == "lenet5"
    assert lines[0] == f"wrote {tmp_path / 'a.py'}: lenet5 as PyTorch source, weights {report['weights']}"


def test_the_export_says_whether_the_output_is_probabilities(tmp_path, monkeypatch, capsys):
    # Once: a final softmax was exported (training alone leaves it to the loss), and nothing said so.
    safetensors = pytest.importorskip("safetensors")
    net = tmp_path / "scores.yaml"
    net.write_text("input: 8x8x1\nlayers:\n  - flatten\n  - fc 3\n")  # no softmax: scores
    cases = {
        "lenet5": "float32 (N, 10): probabilities, a softmax over the 10 classes (they sum to 1)",  # fc 10 act=softmax
        str(net): "float32 (N, 3): scores (logits, no softmax): apply a softmax for probabilities",
    }
    for arch, said in cases.items():
        out_file = tmp_path / "w.safetensors"
        code, out, err = run_main(monkeypatch, capsys, "export", arch, "-o", str(out_file))
        assert code == 0 and f"\noutput: {said}\n" in out, err
        with safetensors.safe_open(str(out_file), "np") as opened:
            assert opened.metadata()["cnnctl.output"] == said
        code, out, err = run_main(monkeypatch, capsys, "export", arch, "-o", str(tmp_path / "w.py"))
        assert code == 0 and f"It gives {said}." in " ".join((tmp_path / "w.py").read_text().split()), err
    # the softmax is there in what was written: lenet5's rows sum to 1
    module = to_torch(load("lenet5")).eval()
    with torch.no_grad():
        rows = module(torch.rand(2, 1, 32, 32)).sum(1)
    assert torch.allclose(rows, torch.ones(2))
    onnx = pytest.importorskip("onnx")
    code, out, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(tmp_path / "w.onnx"))
    assert code == 0, err
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "w.onnx")).metadata_props}
    assert props["cnnctl.output"] == cases["lenet5"]


def test_export_to_dash_is_refused_not_a_file_named_dash(monkeypatch, capsys, tmp_path):
    # `-o -` is standard output for schema and import; export wrote a 249 KB file named `-`
    monkeypatch.chdir(tmp_path)
    for to in ("onnx", "pytorch"):
        code, out, err = run_main(monkeypatch, capsys, "export", "lenet5", "--to", to, "-o", "-")
        assert code == 2 and out == "" and err.startswith("error: export writes files"), err
        assert "hint: give -o FILE" in err
    assert list(tmp_path.iterdir()) == []


def test_export_into_folders_that_do_not_exist_makes_them_as_every_o_and_train_out_do(monkeypatch, capsys, tmp_path):
    # `export -o exp/st1.safetensors` was refused where exp/ did not exist; train --out and pack -o made theirs
    out = tmp_path / "exp" / "a" / "st1.safetensors"
    code, _, err = run_main(monkeypatch, capsys, "export", "lenet5", "-o", str(out))
    assert code == 0 and out.is_file(), err
    picture = tmp_path / "pics" / "lenet5.dot"
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "-o", str(picture))
    assert code == 0 and picture.read_text().startswith("digraph"), err


def test_the_readmes_snippet_loading_an_exported_state_dict_runs_as_written(tmp_path, monkeypatch, capsys):
    # Pasted as written it once raised NameError: it used torch without importing it.
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lead = "the weights are written beside it as a plain `state_dict` (`resnet18.pt`):\n\n```python\n"
    snippet = readme[readme.index(lead) + len(lead) :].split("```", 1)[0]
    given = to_torch(load("resnet18")).state_dict()
    torch.save(given, tmp_path / "given.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run_main(monkeypatch, capsys, "export", "resnet18", "--weights", "given.pt", "--mean", "0.5,0.5,0.5",
                            "--std", "0.5,0.5,0.5", "-o", "resnet18.py")  # fmt: skip
    assert code == 0, err
    names: dict = {}
    exec(compile(snippet, "README.md", "exec"), names)  # in a namespace of its own, as a fresh script
    assert all(torch.equal(names["net"].state_dict()[k], v) for k, v in given.items())
    sys.modules.pop("resnet18", None)  # the exported module, imported by the snippet


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "safetensors"])
def test_a_how_to_use_line_says_how_to_write_the_pytorch_export_it_refers_to(fmt):
    # `export runs/a -o out/l.onnx` ended "feed it preprocess(image).numpy() of the PyTorch export",
    # a file it had not written
    from cnnctl.exchange.export import Exported
    from cnnctl.render.export import how_to_use

    expects = Preprocessing((1, 32, 32), mean=(0.13,), std=(0.31,), adaptation="padded to 32x32")
    suffix = {"onnx": "onnx", "torchscript": "ts", "safetensors": "safetensors"}[fmt]
    line = how_to_use(Exported(f"out/l.{suffix}", fmt, "runs/a/best.pt", "", 0.0, expects), "lenet5", "Lenet5")
    assert line.count("of the PyTorch export") == 1
    assert "of the PyTorch export (the same command with -o l.py writes it)" in line


def test_the_weights_beside_a_source_file_never_replace_a_file_export_did_not_write(
    trained, tmp_path, monkeypatch, capsys
):
    # Once: `export RUN -o ow/precious.py` wrote ow/precious.pt over the person's checkpoint (and over a
    # text file), saying only "wrote ow/precious.pt". Refused, before anything is written; the state_dict
    # export wrote for that file before is replaced, and said to be.
    import shutil

    checkpoint, text = tmp_path / "precious.pt", tmp_path / "w.pt"
    shutil.copyfile(trained / "best.pt", checkpoint)
    text.write_text("text\n")
    for kept in (checkpoint, text):
        before = kept.read_bytes()
        source = kept.with_suffix(".py")
        code, out, err = run_main(monkeypatch, capsys, "export", str(trained), "-o", str(source))
        assert code == 2 and out == "" and err.count("error:") == 1, err
        assert f"error: `{kept}` exists and is not the weights cnnctl wrote for `{source}` before" in err
        assert kept.read_bytes() == before and not source.exists()
    source = tmp_path / "fresh.py"
    code, out, err = run_main(monkeypatch, capsys, "export", str(trained), "-o", str(source))
    assert code == 0 and f"wrote {tmp_path / 'fresh.pt'}: the weights, a state_dict\n" in out, err
    code, out, err = run_main(monkeypatch, capsys, "export", str(trained), "-o", str(source), "--format", "json")
    assert code == 0 and json.loads(out)["replaced"] == [str(tmp_path / "fresh.pt")], err
    code, out, err = run_main(monkeypatch, capsys, "export", str(trained), "-o", str(source))
    assert f"wrote {tmp_path / 'fresh.pt'}: the weights, a state_dict, replacing the one exported for it before" in out
    # another network's state_dict by that name is not this export's: refused
    torch.save({"other.weight": torch.zeros(1)}, tmp_path / "fresh.pt")
    code, out, err = run_main(monkeypatch, capsys, "export", str(trained), "-o", str(source))
    assert code == 2 and "is not the weights cnnctl wrote for" in err, err
