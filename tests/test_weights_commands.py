"""`--weights SOURCE` for evaluate, predict, export and bench (issue 21, item 1's other commands):
a state_dict of a module written by hand, with its own names (tests/test_weights_by_structure.py's
Hand), placed onto cnnctl's network gives the hand-written module's outputs in each command."""

import importlib.util
import json

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
import torch.nn.functional as F  # noqa: E402

from cnnctl.train import bench as bench_module  # noqa: E402
from tests.helpers import run_main  # noqa: E402
from tests.test_weights_by_structure import NET, trained_hand  # noqa: E402

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)  # given with --mean/--std: the state_dict records none
GIVEN = ["--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD))]


@pytest.fixture
def source(tmp_path):
    """The hand-written module (eval mode), its state_dict file, and the network file it fits."""
    hand = trained_hand()
    path = tmp_path / "hand.pt"
    torch.save(hand.state_dict(), path)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    return hand, str(path), str(net)


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 pixels as the hand-written module takes them: / 255, then MEAN and STD."""
    x = pixels.permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def random_pixels(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 8, 8, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_evaluate_gives_the_source_modules_confusion_matrix_and_loss(source, tmp_path, monkeypatch, capsys):
    hand, weights, net = source
    folder, pixels, labels = tmp_path / "pics", [], []
    for k in range(3):  # 3 classes of 5 random 8x8 images: the network's input size, nothing resized
        (folder / f"c{k}").mkdir(parents=True)
        for i, image in enumerate(random_pixels(5, seed=k)):
            Image.fromarray(image.numpy()).save(folder / f"c{k}" / f"{i}.png")
            pixels.append(image)
            labels.append(k)
    code, out, err = run_main(monkeypatch, capsys, "evaluate", net, "--weights", weights, "--data", str(folder),
                              "--split", "all", *GIVEN, "--device", "cpu", "--format", "json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    with torch.no_grad():  # independently: the hand-written module on the images as written, its first 3 scores
        logits = hand(normalised(torch.stack(pixels)))[:, :3]
    confusion = torch.zeros(3, 3, dtype=torch.int64)
    for truth, guess in zip(labels, logits.argmax(1).tolist(), strict=True):
        confusion[truth, guess] += 1
    assert report["confusion"] == confusion.tolist() and report["examples"] == 15
    assert report["loss"] == pytest.approx(F.cross_entropy(logits, torch.tensor(labels)).item(), rel=1e-5)
    assert report["checkpoint"] == f"8 tensors from {weights}, placed by structure, in the order of the layers"


def test_predict_gives_the_source_modules_probabilities(source, tmp_path, monkeypatch, capsys):
    hand, weights, net = source
    image = random_pixels(1, seed=9)
    Image.fromarray(image[0].numpy()).save(tmp_path / "x.png")
    code, out, err = run_main(monkeypatch, capsys, "predict", net, "--weights", weights, str(tmp_path / "x.png"),
                              *GIVEN, "-k", "3", "--device", "cpu", "--format", "json")  # fmt: skip
    assert code == 0, err
    with torch.no_grad():
        top = F.softmax(hand(normalised(image)), dim=1)[0].topk(3)
    (result,) = json.loads(out)["predictions"]
    assert [row["class"] for row in result["top"]] == [str(i) for i in top.indices.tolist()]  # numbered: none recorded
    assert [row["probability"] for row in result["top"]] == pytest.approx(top.values.tolist(), abs=1e-6)
    code, out, err = run_main(monkeypatch, capsys, "predict", net, "--weights", weights, str(tmp_path / "x.png"),
                              *GIVEN, "--device", "cpu")  # fmt: skip
    assert code == 0 and f"weights 8 tensors from {weights}, placed by structure" in " ".join(out.split())


def test_export_writes_a_file_that_gives_the_source_modules_output(source, tmp_path, monkeypatch, capsys):
    hand, weights, net = source
    out_file = tmp_path / "tiny.py"
    code, out, err = run_main(monkeypatch, capsys, "export", net, "--weights", weights, *GIVEN, "-o", str(out_file))
    assert code == 0, err
    assert f"weights 8 tensors from {weights}, placed by structure" in out
    spec = importlib.util.spec_from_file_location("tiny_export", out_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = module.Tiny()
    exported.load_state_dict(torch.load(tmp_path / "tiny.pt", weights_only=True))  # written beside it
    assert tuple(module.MEAN) == MEAN and tuple(module.STD) == STD  # the normalisation given
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(exported.eval()(x), hand(x), atol=1e-6)


def test_export_to_onnx_gives_the_source_modules_output(source, tmp_path, monkeypatch, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    hand, weights, net = source
    code, out, err = run_main(monkeypatch, capsys, "export", net, "--weights", weights, *GIVEN, "-o",
                              str(tmp_path / "tiny.onnx"))  # fmt: skip
    assert code == 0, err
    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = hand(x)
    got = torch.from_numpy(session.run(None, {"image": x.numpy()})[0])
    assert torch.allclose(got, expected, atol=1e-5)
    assert json.loads(session.get_modelmeta().custom_metadata_map["cnnctl.mean"]) == pytest.approx(list(MEAN))


def test_bench_times_the_network_with_the_weights(source, monkeypatch, capsys):
    hand, weights, net = source
    timed = []
    original = bench_module._step

    def recording(model, mode, fast, *heads_weights):
        timed.append(model)
        return original(model, mode, fast, *heads_weights)

    monkeypatch.setattr(bench_module, "_step", recording)
    code, out, err = run_main(monkeypatch, capsys, "bench", net, "--weights", weights, "--mode", "forward", "--steps",
                              "1", "--repeats", "1", "--warmup", "0", "--device", "cpu")  # fmt: skip
    assert code == 0, err  # no --mean/--std: synthetic data needs no normalisation
    assert f"weights: 8 tensors from {weights}, placed by structure" in " ".join(out.split())
    (model,) = timed
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # forward passes only: the weights and batch norm statistics are the source's
        assert torch.allclose(model.eval()(x), hand(x), atol=1e-6)


COMMANDS = {  # each command's arguments but the network, the weights, --mean and --std
    "evaluate": ["--data", "shapes", "--device", "cpu"],
    "predict": ["x.png", "--device", "cpu"],
    "export": ["-o", "tiny.py"],
    "bench": ["--steps", "1", "--repeats", "1", "--device", "cpu"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_weights_that_do_not_fit_are_one_message_naming_the_tensor(command, tmp_path, monkeypatch, capsys):
    wide = tmp_path / "wide.pt"
    torch.save(trained_hand(filters=5).state_dict(), wide)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    monkeypatch.chdir(tmp_path)
    given = GIVEN if command != "bench" else []
    code, out, err = run_main(monkeypatch, capsys, command, str(net), "--weights", str(wide), *COMMANDS[command],
                              *given)  # fmt: skip
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err
    assert f"{wide}: the weights do not fit layer" in err and "`stem.weight` of 5x3x3x3" in err
    assert not (tmp_path / "tiny.py").exists()


NOT_BOTH = "give --weights or a run (--checkpoint RUN, or the run in place of ARCH), not both"


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_weights_and_a_checkpoint_together_are_one_message(command, source, tmp_path, monkeypatch, capsys):
    _, weights, net = source
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, command, net, "--weights", weights, "--checkpoint", "runs/x",
                              *COMMANDS[command])  # fmt: skip
    assert code == 2 and err.count("error:") == 1 and NOT_BOTH in err


def test_weights_and_a_run_in_place_of_arch_are_refused_as_with_checkpoint(source, tmp_path, monkeypatch, capsys):
    # `predict RUN img --weights W` once ran W's weights, quietly dropping the run's and its class names
    _, weights, net = source
    run = tmp_path / "run"
    args = ["--data", "shapes", "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--out", str(run)]
    assert run_main(monkeypatch, capsys, "train", net, *args)[0] == 0
    Image.fromarray(random_pixels(1, seed=5)[0].numpy()).save(tmp_path / "x.png")
    monkeypatch.chdir(tmp_path)
    for command in ("evaluate", "predict", "export"):
        code, out, err = run_main(monkeypatch, capsys, command, str(run), "--weights", weights, *COMMANDS[command],
                                  *GIVEN)  # fmt: skip
        assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, (command, err)
        assert NOT_BOTH in err, command
    assert not (tmp_path / "tiny.py").exists()


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_weights_that_record_no_normalisation_need_mean_and_std(command, source, tmp_path, monkeypatch, capsys):
    _, weights, net = source
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(monkeypatch, capsys, command, net, "--weights", weights, *COMMANDS[command])
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err
    assert f"{weights}: the weights record no normalisation" in err
    assert "--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 (ImageNet's" in err
    assert not (tmp_path / "tiny.py").exists()
    # the hint's other way, inputs not normalised, is one the commands take
    assert "or --mean 0,0,0 --std 1,1,1 for weights trained on pixel values / 255 as they are" in err
    if command == "export":
        code, out, err = run_main(monkeypatch, capsys, command, net, "--weights", weights, *COMMANDS[command],
                                  "--mean", "0,0,0", "--std", "1,1,1")  # fmt: skip
        assert code == 0 and (tmp_path / "tiny.py").exists(), err


def test_the_network_files_train_mean_and_std_serve_weights_that_record_none(source, tmp_path, monkeypatch, capsys):
    # What `cnnctl import` writes for an ONNX file cnnctl exported: the network with a `train:`
    # section holding the normalisation, the weights apart (recording none). predict takes the
    # file's mean and std, as if given with --mean and --std; --mean and --std still come first.
    hand, weights, net = source
    image = random_pixels(1, seed=9)
    Image.fromarray(image[0].numpy()).save(tmp_path / "x.png")
    section = f"train:\n  mean: {','.join(map(str, MEAN))}\n  std: {','.join(map(str, STD))}\n"
    (tmp_path / "with_train.yaml").write_text(NET + section)
    code, out, err = run_main(monkeypatch, capsys, "predict", str(tmp_path / "with_train.yaml"), "--weights", weights,
                              str(tmp_path / "x.png"), "-k", "3", "--device", "cpu", "--format", "json")  # fmt: skip
    assert code == 0, err
    with torch.no_grad():
        top = F.softmax(hand(normalised(image)), dim=1)[0].topk(3)
    (result,) = json.loads(out)["predictions"]
    assert [row["probability"] for row in result["top"]] == pytest.approx(top.values.tolist(), abs=1e-6)
    other = ["--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]
    code, out, err = run_main(monkeypatch, capsys, "predict", str(tmp_path / "with_train.yaml"), "--weights", weights,
                              str(tmp_path / "x.png"), "-k", "3", "--device", "cpu", "-f", "json", *other)  # fmt: skip
    (result,) = json.loads(out)["predictions"]
    assert [row["probability"] for row in result["top"]] != pytest.approx(top.values.tolist(), abs=1e-6)
    (tmp_path / "half.yaml").write_text(NET + "train:\n  mean: 0.4,0.5,0.6\n")  # std missing: one message there
    code, out, err = run_main(monkeypatch, capsys, "predict", str(tmp_path / "half.yaml"), "--weights", weights,
                              str(tmp_path / "x.png"), "--device", "cpu")  # fmt: skip
    line = len(NET.splitlines()) + 2
    assert code == 2 and err.count("error:") == 1
    assert f"half.yaml:{line}:9: `train: mean` is given without" in err


def test_a_cnnctl_runs_weights_bring_its_normalisation_and_classes(source, tmp_path, monkeypatch, capsys):
    _, _, net = source
    run = tmp_path / "run"
    args = ["--data", "shapes", "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--out", str(run)]
    assert run_main(monkeypatch, capsys, "train", net, *args)[0] == 0
    Image.fromarray(random_pixels(1, seed=5)[0].numpy()).save(tmp_path / "x.png")
    image = ["--device", "cpu", "--format", "json", str(tmp_path / "x.png")]
    code, out, err = run_main(monkeypatch, capsys, "predict", str(run), *image)  # the run's checkpoint itself
    assert code == 0, err
    expected = json.loads(out)["predictions"][0]["top"]
    code, out, err = run_main(monkeypatch, capsys, "predict", net, "--weights", str(run), *image)  # no --mean/--std
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["top"] == expected  # its mean and std, and its class names (not numbers)
    assert not expected[0]["class"].isdigit()


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_runs_weights_for_another_number_of_input_channels_are_told_as_another_networks(
    command, source, tmp_path, monkeypatch, capsys
):
    # Once: "the channel mean from the weights ... has 3 values for a network of 1 input channels".
    _, _, net = source
    run = tmp_path / "run"
    args = ["--data", "shapes", "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--out", str(run)]
    assert run_main(monkeypatch, capsys, "train", net, *args)[0] == 0  # `tiny`, at 8x8x3
    gray = tmp_path / "gray.yaml"
    gray.write_text(NET.replace("name: tiny", "name: gray").replace("input: 8x8x3", "input: 8x8x1"))
    more = ["--epochs", "1", "--out", str(tmp_path / "again")] if command == "train" else []
    code, out, err = run_main(monkeypatch, capsys, command, str(gray), "--weights", str(run), "--data", "shapes",
                              "--device", "cpu", *more)  # fmt: skip
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err
    assert f"{run} holds tiny's weights (trained at input 8x8x3: 3 channels), not gray's (1 input channel)" in err
    assert "channel mean" not in err


class _Runs:  # what a pickle asks to call when loaded: never called (weights_only refuses it)
    def __reduce__(self):
        return (print, ("ran",))


def test_a_damaged_or_code_asking_checkpoint_in_a_run_is_said_so_not_as_no_normalisation(
    source, tmp_path, monkeypatch, capsys
):
    # Both were "the weights record no normalisation": recorded_state took any error for a state_dict's.
    _, _, net = source
    run = tmp_path / "run"
    args = ["--data", "shapes", "--epochs", "1", "--batch-size", "32", "--device", "cpu", "--out", str(run)]
    assert run_main(monkeypatch, capsys, "train", net, *args)[0] == 0
    Image.fromarray(random_pixels(1, seed=5)[0].numpy()).save(tmp_path / "x.png")
    best = run / "best.pt"
    whole = best.read_bytes()
    best.write_bytes(whole[:3000])  # cut short
    cut = f"{best}: not a readable cnnctl checkpoint: cut short (its zip archive has no directory)"
    for weights in (str(run), str(best)):
        for command in (["export", net, "-o", str(tmp_path / "o.onnx")], ["predict", net, str(tmp_path / "x.png")]):
            code, _, err = run_main(monkeypatch, capsys, *command, "--weights", weights)
            assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
            assert err.startswith(f"error: {cut}"), err
            assert "no normalisation" not in err
    state = torch.load(run / "last.pt", weights_only=True)
    torch.save({**state, "evil": _Runs()}, best)  # a whole archive that asks to run code
    code, _, err = run_main(monkeypatch, capsys, "export", net, "-o", str(tmp_path / "o.onnx"), "--weights", str(run))
    assert code == 2 and "no normalisation" not in err
    assert err.startswith(f"error: {best}: this file asks to run code when loaded (`print`)"), err
    assert not (tmp_path / "o.onnx").exists()


def test_weights_that_are_not_finite_are_refused_from_every_source(source, tmp_path, monkeypatch, capsys):
    # A checkpoint's were refused; a state_dict's, a .safetensors file's, an ONNX file's were
    # placed, and training then blamed the learning rate for its `nan` loss.
    safetensors_torch = pytest.importorskip("safetensors.torch")
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    hand, good, net = source
    state = hand.state_dict()
    state["stem.weight"][0, 0, 0, 0] = float("nan")  # 1 of 4x3x3x3 = 108
    state["head.bias"][1] = float("inf")  # 1 of 10
    pt, st = tmp_path / "nan.pt", tmp_path / "nan.safetensors"
    torch.save(state, pt)
    safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, st)
    told = ["its tensor `stem.weight` holds 1 NaN value of 108", "its tensor `head.bias` holds 1 infinite value of 10"]
    for path in (pt, st):
        for command in (["weights", net, str(path)], ["train", net, "--weights", str(path), "--data", "shapes",
                        "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "run")]):  # fmt: skip
            code, _, err = run_main(monkeypatch, capsys, *command)
            assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
            assert err.startswith(f"error: {path}: the weights are not all finite numbers"), err
            assert all(words in err for words in told), err
    exported = tmp_path / "good.onnx"
    assert run_main(monkeypatch, capsys, "export", net, "--weights", good, *GIVEN, "-o", str(exported))[0] == 0
    model = onnx.load(str(exported))
    first = max(model.graph.initializer, key=lambda t: len(numpy_helper.to_array(t).shape))  # the conv's weights
    values = numpy_helper.to_array(first).copy()
    values.flat[:2] = float("nan")
    first.CopyFrom(numpy_helper.from_array(values, first.name))
    poisoned = tmp_path / "nan.onnx"
    onnx.save(model, str(poisoned))
    code, _, err = run_main(monkeypatch, capsys, "weights", net, str(poisoned))
    assert code == 2 and err.count("error:") == 1, err
    assert f"its tensor `{first.name}` holds 2 NaN values of {values.size:,}" in err, err
