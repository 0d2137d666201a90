"""Fine-tuning (cnnctl.train.finetune): a run from weights trained for other classes gets a new head, the rest
placed by structure; --freeze keeps layers (and their batch norm statistics) as trained; the recipe's defaults;
summarize's trainable and frozen counts; and, on the real MNIST digits, transfer that beats random weights."""

import gzip
import json
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("PIL.Image")

from cnnctl.errors import CnnctlError  # noqa: E402
from tests.helpers import MNIST_DIR, NO_MNIST, run_main  # noqa: E402
from tests.idxfiles import write_idx  # noqa: E402
from tests.test_stream import NET, coded_folder  # noqa: E402


class Source(torch.nn.Module):
    """An independent hand-written module of the test network's structure, trained for 7 classes."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 7)


@pytest.fixture
def setup(tmp_path):
    net = tmp_path / "net7.yaml"
    net.write_text(NET.replace("fc 3", "fc 7"))
    torch.manual_seed(11)
    source = Source()
    source.bn.running_mean.uniform_(-1, 1)
    source.bn.running_var.uniform_(0.5, 2.0)
    torch.save(source.state_dict(), tmp_path / "source.pt")
    return str(net), str(coded_folder(tmp_path / "imgs", n=48, classes=3)), source, tmp_path


def trained(run):
    return torch.load(run / "last.pt", weights_only=True)


def test_a_run_from_weights_for_other_classes_gets_a_new_head_and_the_rest_as_trained(setup, monkeypatch, capsys):
    net, data, source, tmp = setup
    run = tmp / "run"
    args = ("train", net, "--data", data, "--weights", str(tmp / "source.pt"), "--freeze", "bn1", "--epochs", "2",
            "--batch-size", "8", "--device", "cpu", "--out", str(run))  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "head: `fc1` made anew for the data's 3 classes (it had 7 outputs" in out
    # conv1's 112 and bn1's 8; bn1 is a batch norm: its statistics are frozen too, and said so
    assert "up to and including `bn1`, batch norm statistics too; " in " ".join(out.split())
    model = trained(run)["model"]
    # Frozen up to bn1: the source's weights and batch norm statistics, exactly, after two epochs of training.
    assert torch.equal(model["conv1.weight"], source.conv.weight) and torch.equal(model["conv1.bias"], source.conv.bias)
    for ours, theirs in (("weight", "weight"), ("running_mean", "running_mean"), ("running_var", "running_var")):
        assert torch.equal(model[f"bn1.{ours}"], getattr(source.bn, theirs))
    assert model["fc1.weight"].shape == (3, 4) and model["fc1.bias"].shape == (3,)  # the data's 3 classes
    config = json.loads((run / "config.json").read_text())
    assert config["head"] == {"layer": "fc1", "classes": 3}
    table = (run / "weights.txt").read_text()
    assert "fc1.weight" in table and "made anew; fc.weight of 7x4 left out" in table
    # Every command that reads the run builds its network with the new head.
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(run), "--format", "json")
    assert code == 0 and json.loads(out)["output"] == "3"
    code, out, err = run_main(monkeypatch, capsys, "evaluate", str(run), "--device", "cpu", "--format", "json")
    assert code == 0, err
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", str(run), "--epochs", "3")
    assert code == 0, err


def test_freeze_keeps_the_layers_up_to_it_and_trains_the_rest(setup, monkeypatch, capsys):
    net, data, source, tmp = setup
    run = tmp / "run"
    args = ("train", net, "--data", data, "--weights", str(tmp / "source.pt"), "--freeze", "conv1", "--epochs", "1",
            "--batch-size", "8", "--lr", "0.05", "--device", "cpu", "--out", str(run))  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    # 3*3*3*4 + 4; conv1 has no batch norm: no "batch norm statistics too" (once said of any network)
    assert "frozen: 112 parameters of the layers up to and including `conv1`; " in " ".join(out.split())
    assert "batch norm statistics" not in " ".join(out.split())
    assert "without --weights" not in out
    # summarize of the run counts as it trained (once: every parameter trainable, its --freeze ignored)
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(run), "--format", "json")
    assert code == 0 and json.loads(out)["totals"]["frozen_params"] == 112, out
    model = trained(run)["model"]
    assert torch.equal(model["conv1.weight"], source.conv.weight)
    assert not torch.equal(model["bn1.weight"], source.bn.weight)  # after conv1: it trains
    assert not torch.equal(model["bn1.running_mean"], source.bn.running_mean)  # and its statistics move


def test_freezing_without_weights_is_warned_once(setup, monkeypatch, capsys):
    # Once: nothing said, and the frozen layers kept their random first weights for the whole run.
    net, data, _, tmp = setup
    args = ("train", net, "--data", data, "--freeze", "conv1", "--epochs", "1", "--batch-size", "8", "--device",
            "cpu", "--out", str(tmp / "run"))  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, *args)
    said = " ".join(out.split())
    assert code == 0, err
    assert said.count("warning: --freeze conv1 without --weights: the frozen layers keep their random first") == 1


def test_a_run_from_weights_takes_the_fine_tuning_defaults_and_says_them(setup, monkeypatch, capsys):
    from cnnctl.train.config import DEFAULT_LR

    net, data, _, tmp = setup
    run = tmp / "run"
    args = ("train", net, "--data", data, "--weights", str(tmp / "source.pt"), "--epochs", "2", "--batch-size", "8",
            "--device", "cpu", "--out", str(run))  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "recipe: fine-tuning: warm-up 1 epoch, lr 0.0001 (a tenth of adam's default), the new head at 10x" in out
    config = json.loads((run / "config.json").read_text())
    assert config["lr"] == pytest.approx(DEFAULT_LR["adam"] / 10) and config["warmup_epochs"] == 1
    groups = trained(run)["optimizer"]["param_groups"]
    rates = sorted({g["lr"] for g in groups})
    assert len(rates) == 2 and rates[1] == pytest.approx(10 * rates[0])  # the head's group at 10x, warm-up alike
    # Given settings decide instead; a run without --weights keeps the plain defaults.
    other = tmp / "other"
    code, out, err = run_main(monkeypatch, capsys, "train", net, "--data", data, "--epochs", "1", "--batch-size", "8",
                              "--device", "cpu", "--out", str(other), "--lr", "0.01")  # fmt: skip
    assert code == 0, err
    assert "fine-tuning" not in out
    config = json.loads((other / "config.json").read_text())
    assert (config["lr"], config["warmup_epochs"], config["head_lr_factor"]) == (0.01, 0, 1.0)


def test_summarize_counts_frozen_and_trainable_parameters(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "--freeze", "conv2", "--format", "json")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    frozen = (5 * 5 * 1 * 6 + 6) + (5 * 5 * 6 * 16 + 16)  # LeNet-5's conv1 and conv2: weights and biases
    assert totals["frozen_params"] == frozen and totals["trainable_params"] == 61_706 - frozen
    code, out, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "--freeze", "conv2")
    assert "59,134 (59.13 K) trainable, 2,572 (2.57 K) frozen (up to and including `conv2`)" in out


def test_a_path_that_is_not_a_layer_is_one_message(setup, monkeypatch, capsys):
    net, data, _, tmp = setup
    code, out, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "--freeze", "conv3")
    assert code == 2 and "--freeze conv3: no layer `conv3` in lenet5" in err
    assert "the same name with other numbers: `conv1`, `conv2`" in err  # not a slip for conv2: another layer
    args = ("train", net, "--data", data, "--weights", str(tmp / "source.pt"), "--head", "bn1", "--epochs", "1",
            "--device", "cpu", "--out", str(tmp / "r"))  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and "--head bn1: a `bn` layer" in err and "--head fc1" in err
    assert "Traceback" not in err
    # An inner conv: once made at the data's width, it broke the layers after it (an error inside the file).
    code, out, err = run_main(monkeypatch, capsys, *args[:7], "conv1", *args[8:])
    said = " ".join(err.split())
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
    assert "--head conv1: layers with weights come after it, so it does not score the classes" in said
    assert "hint: --head fc1" in said and str(net) not in said  # nothing inside the network's file


def test_the_layers_that_score_are_the_last_with_weights_of_each_output():
    import cnnctl
    from cnnctl.train.finetune import scoring_layers

    assert scoring_layers(cnnctl.load("lenet5")) == ["fc3"]  # fc1 and fc2 have weights after them
    resnet = cnnctl.load("resnet18")
    assert scoring_layers(resnet) == ["fc"]  # no conv of a block, whose sum and pool lead to it


def mnist_digits():
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(NO_MNIST)

    def read(name: str, header: int) -> torch.Tensor:  # the IDX layout: a header, then the bytes
        with gzip.open(MNIST_DIR / name) as f:
            return torch.frombuffer(bytearray(f.read()[header:]), dtype=torch.uint8)

    return read("t10k-images-idx3-ubyte.gz", 16).view(-1, 28, 28), read("t10k-labels-idx1-ubyte.gz", 8).long()


def test_fine_tuning_on_few_images_beats_the_same_budget_from_random_weights(tmp_path, monkeypatch, capsys):
    """LeNet-5 trained on 4,000 images of the ten digits, then one epoch on 500 other images of 5-9 as a task of
    its own (five classes 0-4: the head made anew): on 1,000 held-out images of 5-9 it beats the same epoch from
    random weights (which has its head made for the five classes too). The same recipe for both (rate, no warm-up,
    one rate for all): only where the weights start differs. (Measured: 80.6% against 39.1%; a source of the
    digits 0-4 alone transferred little to 5-9 in one epoch: 50.1% against 65.0%.)"""
    x, y = mnist_digits()
    rest = torch.arange(4000, len(y))
    high = rest[y[rest] >= 5]  # images the source never saw
    write_idx(tmp_path / "ten", "train", x[:4000], y[:4000])
    write_idx(tmp_path / "high", "train", x[high[:500]], y[high[:500]] - 5)
    write_idx(tmp_path / "high", "t10k", x[high[500:1500]], y[high[500:1500]] - 5)
    common = ("--device", "cpu", "--seed", "2")
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--data", str(tmp_path / "ten"), "--epochs", "2",
                            "--out", str(tmp_path / "pre"), *common)  # fmt: skip
    assert code == 0, err
    recipe = ("--data", str(tmp_path / "high"), "--epochs", "1", "--val-split", "0", "--lr", "0.001",
              "--warmup-epochs", "0", "--head-lr-factor", "1", *common)  # fmt: skip
    accuracy = {}
    for name, start in (("fine-tuned", ("--weights", str(tmp_path / "pre"))), ("random", ())):
        code, out, err = run_main(monkeypatch, capsys, "train", "lenet5", *recipe, *start,
                                  "--out", str(tmp_path / name))  # fmt: skip
        assert code == 0, err
        assert "made for the data's 5 classes" in err + out or "made anew for the data's 5 classes" in err + out
        code, out, err = run_main(monkeypatch, capsys, "evaluate", str(tmp_path / name), "--split", "test",
                                  "--device", "cpu", "--format", "json")  # fmt: skip
        assert code == 0, err
        accuracy[name] = json.loads(out)["accuracy"]
    assert accuracy["fine-tuned"] > accuracy["random"] + 0.15, accuracy


def test_new_head_is_refused_without_a_layer_that_scores_classes():
    from cnnctl.api import load_text
    from cnnctl.train.finetune import head_layer

    graph = load_text("name: p\ninput: 8x8x3\nlayers:\n  - pool avg global\n")
    with pytest.raises(CnnctlError, match="no fc or conv layer"):
        head_layer(graph, None)


def test_safetensors_place_by_name_and_a_foreign_one_without_order_is_refused(setup, monkeypatch, capsys):
    """A .safetensors file stores its tensors sorted by name: with the network's names it places by name (the new
    head left out); with other names its order of the layers is lost, so it is refused rather than misplaced."""
    from safetensors.torch import save_file

    net, data, source, tmp = setup
    theirs = {k: v.contiguous() for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    ours = dict(zip(("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                     "fc1.weight", "fc1.bias"), theirs.values(), strict=True))  # fmt: skip
    save_file(ours, str(tmp / "ours.safetensors"))
    save_file(theirs, str(tmp / "theirs.safetensors"))
    common = ("--data", data, "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--freeze", "bn1")
    code, out, err = run_main(monkeypatch, capsys, "train", net, "--weights", str(tmp / "ours.safetensors"),
                              "--out", str(tmp / "a"), *common)  # fmt: skip
    assert code == 0, err
    assert "weights: 6 tensors from" in " ".join(out.split()) and "placed by name" in out
    assert torch.equal(trained(tmp / "a")["model"]["conv1.weight"], source.conv.weight)
    code, out, err = run_main(monkeypatch, capsys, "train", net, "--weights", str(tmp / "theirs.safetensors"),
                              "--out", str(tmp / "b"), *common)  # fmt: skip
    assert code == 2 and "keeps its tensors sorted by name" in err and "torch.save" in err


def test_freeze_takes_a_group_of_layers_up_to_its_last(monkeypatch, capsys):
    code, out, err = run_main(monkeypatch, capsys, "summarize", "resnet18", "--freeze", "layer2", "--format", "json")
    assert code == 0, err
    conv, bn = (lambda k, c_in, c_out: k * k * c_in * c_out), (lambda c: 2 * c)  # no conv biases; bn's scale, shift
    stem = conv(7, 3, 64) + bn(64)
    layer1 = 2 * (2 * (conv(3, 64, 64) + bn(64)))
    layer2 = conv(3, 64, 128) + bn(128) + conv(3, 128, 128) + bn(128) + conv(1, 64, 128) + bn(128)  # with the shortcut
    layer2 += 2 * (conv(3, 128, 128) + bn(128))
    assert json.loads(out)["totals"]["frozen_params"] == stem + layer1 + layer2 == 683_072
    code, out, err = run_main(monkeypatch, capsys, "summarize", "resnet18", "--freeze", "layr2")
    assert code == 2 and "did you mean `layer2`?" in err


def test_freezing_every_layer_is_one_message_before_the_run_folder_is_made(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, out, err = run_main(monkeypatch, capsys, "train", "lenet5", "--freeze", "fc3", "--epochs", "1",
                              "--device", "cpu", "--out", str(run))  # fmt: skip
    assert code == 2 and "--freeze fc3 freezes every layer with weights: nothing would train" in err
    assert "Traceback" not in err and not (run / "config.json").exists()
    code, out, err = run_main(monkeypatch, capsys, "train", "lenet5", "--head", "fc3", "--head-lr-factor", "5",
                              "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "r2"))  # fmt: skip
    assert code == 0, err
    assert (
        "--head and --head-lr-factor unused: a head is made anew only where the network (or the --weights) scores "
        "another number of classes than the data has" in " ".join(out.split())
    )


def test_cnnctl_weights_shows_where_each_tensor_goes_before_anything_runs(setup, monkeypatch, capsys):
    net, _, source, tmp = setup
    code, out, err = run_main(monkeypatch, capsys, "weights", net, str(tmp / "source.pt"), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    theirs = [k for k in source.state_dict() if not k.endswith("num_batches_tracked")]  # the module's own order
    ours = ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
            "fc1.weight", "fc1.bias"]  # fmt: skip
    assert [(t["tensor"], t["from"]) for t in report["tensors"]] == list(zip(ours, theirs, strict=True))
    assert report["by_name"] is False and report["tensors"][-2]["shape"] == [7, 4]
    # the weights placed under the key every command gives the weights used (predict's, evaluate's), not `source`
    assert "source" not in report and str(tmp / "source.pt") in report["weights"]
    code, out, err = run_main(monkeypatch, capsys, "weights", net, str(tmp / "source.pt"))
    assert code == 0 and "8 tensors from" in out and "placed by structure" in out and "bn1.running_var" in out
    assert f"8 tensors from {report['weights']}, placed" in " ".join(out.split())
    code, out, err = run_main(monkeypatch, capsys, "weights", "lenet5", str(tmp / "source.pt"))
    assert code == 2 and "do not fit layer `conv1`: it takes `conv1.weight` of 6x1x5x5" in err
    assert "Traceback" not in err
    # --weights SOURCE, as every other command spells it (once refused: `takes no option --weights`)
    code, out, err = run_main(monkeypatch, capsys, "weights", net, "--weights", str(tmp / "source.pt"))
    assert code == 0 and "8 tensors from" in out and "placed by structure" in out
    code, out, err = run_main(monkeypatch, capsys, "weights", net, str(tmp / "source.pt"), "--weights", "imagenet")
    assert code == 2 and "give the weights once: SOURCE or --weights SOURCE" in err
    code, out, err = run_main(monkeypatch, capsys, "weights", net)
    assert code == 2 and "which weights? give SOURCE" in err


@pytest.mark.parametrize("named", [False, True], ids=["by-structure", "by-name"])
def test_weights_for_other_classes_than_the_network_scores_get_its_head_made_anew(setup, monkeypatch, capsys, named):
    # The network already scores the data's 3 classes; the weights were trained for 7: its head is made anew.
    _, data, source, tmp = setup
    net = tmp / "net3.yaml"
    net.write_text(NET)  # fc 3
    weights = tmp / "source.pt"
    if named:  # the network's own names (a cnnctl run's), so placed by name
        ours = {"conv": "conv1", "bn": "bn1", "fc": "fc1"}
        state = {ours[k.split(".")[0]] + k[k.index(".") :]: v for k, v in source.state_dict().items()}
        torch.save(state, weights := tmp / "named.pt")
    run = tmp / "run"
    args = ("train", str(net), "--data", data, "--weights", str(weights), "--freeze", "bn1", "--epochs", "1",
            "--batch-size", "8", "--device", "cpu", "--out", str(run))  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 0, err
    said = " ".join(out.split())
    assert "head: `fc1` made anew for the data's 3 classes (the weights had 7 outputs" in said
    assert "6 tensors from" in said and "the new head at 10x the rate" in said
    model = trained(run)["model"]
    assert torch.equal(model["conv1.weight"], source.conv.weight)  # frozen: as the source has it
    assert json.loads((run / "config.json").read_text())["head"] == {"layer": "fc1", "classes": 3}
    left_out = "fc1.weight" if named else "fc.weight"
    assert f"made anew; {left_out} of 7x4 left out" in (run / "weights.txt").read_text()
    # Weights that differ elsewhere too are still told, at the first tensor that does not fit.
    net.write_text(NET.replace("n=4", "n=5"))
    args = (*args[:-1], str(tmp / "other"))
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and "the weights do not fit layer `conv1`" in err and "Traceback" not in err


def tiny_run(monkeypatch, capsys, tmp, name, net_text, data, *extra):
    """A one-epoch run of the network `net_text` (written as `name`.yaml) on `data`; its folder."""
    net = tmp / f"{name}.yaml"
    net.write_text(net_text)
    run = tmp / f"run_{name}"
    code, out, err = run_main(monkeypatch, capsys, "train", str(net), "--data", data, "--epochs", "1",
                              "--batch-size", "8", "--device", "cpu", "--out", str(run), *extra)  # fmt: skip
    assert code == 0, err
    return run


def test_from_scratch_a_classifier_written_for_more_classes_gets_its_head_made_for_the_data(
    setup, monkeypatch, capsys, tmp_path
):
    net, data, _, tmp = setup  # net7.yaml: `tiny` ending in fc 7; the data: 3 classes
    run = tmp / "run"
    code, out, err = run_main(monkeypatch, capsys, "train", net, "--data", data, "--epochs", "1", "--batch-size", "8",
                              "--device", "cpu", "--out", str(run))  # fmt: skip
    assert code == 0, err
    said = " ".join(out.split())
    assert "head: `fc1` made for the data's 3 classes (tiny has 7 outputs" in said and "never a target" not in said
    assert "the new head at 10x" not in said  # from scratch every layer starts at random: no faster head
    assert json.loads((run / "config.json").read_text())["head"] == {"layer": "fc1", "classes": 3}
    assert trained(run)["model"]["fc1.weight"].shape == (3, 4)  # 3 classes of the 4 channels pooled
    assert {g["lr"] for g in trained(run)["optimizer"]["param_groups"]} == {0.001}  # adam's default, one rate
    # The run's network, rebuilt by every command, scores 3 classes: the export and predict's probabilities.
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(run), "--format", "json")
    assert code == 0 and json.loads(out)["output"] == "3"
    onnx = pytest.importorskip("onnx")
    code, out, err = run_main(monkeypatch, capsys, "export", str(run), "-o", str(tmp / "net.onnx"))
    assert code == 0, err
    output = onnx.load(str(tmp / "net.onnx")).graph.output[0].type.tensor_type.shape.dim
    assert output[-1].dim_value == 3
    image = next((tmp / "imgs" / "class0").iterdir())
    code, out, err = run_main(monkeypatch, capsys, "predict", str(run), str(image), "--top-k", "5", "--format", "json")
    assert code == 0, err
    top = json.loads(out)["predictions"][0]["top"]
    assert sorted(t["class"] for t in top) == ["class0", "class1", "class2"]
    assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-6)
    # --head chooses the layer: given, it is used, not said to be unused; resumed, the run keeps its head.
    code, out, err = run_main(monkeypatch, capsys, "train", net, "--data", data, "--epochs", "1", "--batch-size", "8",
                              "--head", "fc1", "--device", "cpu", "--out", str(tmp / "r2"))  # fmt: skip
    assert code == 0 and "unused" not in out and "made for the data's 3 classes" in out, err
    code, out, err = run_main(monkeypatch, capsys, "train", "--resume", str(run), "--epochs", "2")
    assert code == 0, err
    assert trained(run)["model"]["fc1.weight"].shape == (3, 4)


def test_from_scratch_a_network_of_fewer_outputs_than_classes_is_still_refused(setup, monkeypatch, capsys):
    _, data, _, tmp = setup
    net = tmp / "net2.yaml"
    net.write_text(NET.replace("fc 3", "fc 2"))
    code, out, err = run_main(monkeypatch, capsys, "train", str(net), "--data", data, "--epochs", "1",
                              "--device", "cpu", "--out", str(tmp / "r"))  # fmt: skip
    assert code == 2 and "the network has 2 outputs, but the data has 3 classes" in err


def test_fine_tuning_from_a_run_says_its_heads_classes_and_its_imagenet_statistics(setup, monkeypatch, capsys):
    net7, data, _, tmp = setup
    imagenet = ("--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225")
    source = tiny_run(
        monkeypatch, capsys, tmp, "tiny3", NET, data, *imagenet
    )  # fc 3, trained with ImageNet's statistics
    two = str(coded_folder(tmp / "two", n=32, classes=2))
    run = tmp / "ft"
    code, out, err = run_main(monkeypatch, capsys, "train", net7, "--weights", str(source), "--data", two, "--epochs",
                              "1", "--batch-size", "8", "--device", "cpu", "--out", str(run))  # fmt: skip
    assert code == 0, err
    said = " ".join(out.split())
    # The network file has 7 outputs; the weights', left out for the 2 classes, 3 (weights.txt says 3x4).
    assert "head: `fc1` made anew for the data's 2 classes (the weights had 3 outputs" in said
    assert "fc1.weight of 3x4 left out" in (run / "weights.txt").read_text()
    assert (
        f"input normalised with ImageNet's mean 0.485,0.456,0.406 and std 0.229,0.224,0.225, as {source} recorded"
        in said
    )
    recorded = trained(run)  # the statistics the run trained with, and records for every command after it
    assert recorded["mean"] == pytest.approx([0.485, 0.456, 0.406]) and recorded["std"] == pytest.approx(
        [0.229, 0.224, 0.225]
    )


FLAT = """name: flat
input: 8x8x3
layers:
  - conv f=3 n=2 p=1
  - relu
  - flatten
  - fc 3
"""


def test_weights_from_a_run_at_another_input_name_it(setup, monkeypatch, capsys):
    _, data, _, tmp = setup
    source = tiny_run(monkeypatch, capsys, tmp, "flat", FLAT, data)  # trained at 8x8x3: its fc takes 8*8*2 = 128 values
    net = tmp / "flat.yaml"
    args = ("train", str(net), "--weights", str(source), "--data", data, "--epochs", "1", "--batch-size", "8",
            "--device", "cpu")  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, *args, "--input", "10x10x3", "--out", str(tmp / "r10"))
    assert code == 2, out
    assert f"{source} was trained at input 8x8x3; flat here takes 10x10x3" in " ".join(err.split())
    assert "hint: give --input 8x8x3" in err and "Traceback" not in err and not (tmp / "r10").exists()
    # A network that pools globally fits its weights at any size: trained on, with a note.
    pooled = tiny_run(monkeypatch, capsys, tmp, "pooled", NET, data)
    code, out, err = run_main(monkeypatch, capsys, "train", str(tmp / "pooled.yaml"), "--weights", str(pooled),
                              "--data", data, "--epochs", "1", "--batch-size", "8", "--device", "cpu",
                              "--input", "12x12x3", "--out", str(tmp / "r12"))  # fmt: skip
    assert code == 0, err
    assert f"weights: {pooled} was trained at input 8x8x3; this run trains at 12x12x3 (--input 8x8x3" in out
    code, out, err = run_main(monkeypatch, capsys, *args, "--out", str(tmp / "r8"))  # the same input: no note
    assert code == 0 and "was trained at input" not in out, err


def test_weights_of_a_run_of_another_network_say_whose_they_are(setup, monkeypatch, capsys):
    # Once: `the weights do not fit layer conv1 ...`, the network's tensor count, as for any file.
    _, data, _, tmp = setup
    source = tiny_run(monkeypatch, capsys, tmp, "tiny3", NET, data)
    (tmp / "flat.yaml").write_text(FLAT)
    # tiny: conv (weight, bias), bn (weight, bias, running mean and variance), fc (weight, bias); flat: conv, fc
    said = f"{source} holds tiny's weights (8 tensors), not flat's (4 tensors): they do not fit it"
    for command, *rest in (["train", "--data", data, "--epochs", "1", "--out", str(tmp / "r")], ["weights"]):
        where = [str(source)] if command == "weights" else ["--weights", str(source)]
        code, out, err = run_main(monkeypatch, capsys, command, str(tmp / "flat.yaml"), *where, *rest)
        assert code == 2 and err.count("error:") == 1 and said in " ".join(err.split()), err


def test_evaluate_and_predict_name_the_runs_input_and_the_run_alone(setup, monkeypatch, capsys):
    # Once: evaluate and predict said only "the weights do not fit layer `fc1`: ... 3x200 ... 3x128";
    # then they had no --input to offer, only a copy of the network file.
    _, data, _, tmp = setup
    source = tiny_run(monkeypatch, capsys, tmp, "flat", FLAT, data)  # at 8x8x3: its fc takes 8*8*2 = 128 values
    (tmp / "flat10.yaml").write_text(FLAT.replace("input: 8x8x3", "input: 10x10x3"))  # its fc: 10*10*2 = 200
    image = str(next((tmp / "imgs").rglob("*.png")))
    for command, *rest in (["evaluate", "--data", data], ["predict", image]):
        for weights in (source, source / "best.pt"):  # the run, or a checkpoint in it: the run alone is its folder
            code, out, err = run_main(monkeypatch, capsys, command, str(tmp / "flat10.yaml"), "--weights",
                                      str(weights), *rest, "--device", "cpu")  # fmt: skip
            said = " ".join(err.split())
            assert code == 2 and err.count("error:") == 1 and "Traceback" not in err, err
            assert f"{weights} was trained at input 8x8x3; flat here takes 10x10x3" in said
            assert f"hint: give --input 8x8x3, or give the run alone: `cnnctl {command} {source}`" in said
        code, out, err = run_main(monkeypatch, capsys, command, str(source), *rest, "--device", "cpu")  # as hinted
        assert code == 0, err
        code, out, err = run_main(monkeypatch, capsys, command, str(tmp / "flat10.yaml"), "--input", "8x8x3",
                                  "--weights", str(source), *rest, "--device", "cpu")  # fmt: skip
        assert code == 0, err
    # Those with --input are offered it; export takes a run alone too, bench and `weights` do not.
    for command, *rest in (["export", "-o", str(tmp / "f.onnx")], ["bench", "--device", "cpu", "--steps", "1"],
                           ["weights"]):  # fmt: skip
        where = [str(source)] if command == "weights" else ["--weights", str(source)]
        code, out, err = run_main(monkeypatch, capsys, command, str(tmp / "flat.yaml"), *where, "--input", "10x10x3",
                                  *rest)  # fmt: skip
        said = " ".join(err.split())
        assert code == 2 and f"{source} was trained at input 8x8x3; flat here takes 10x10x3" in said, err
        alone = f", or give the run alone: `cnnctl export {source}`" if command == "export" else " "
        assert f"hint: give --input 8x8x3{alone}" in said + " "


def test_exported_weights_state_their_input_and_head_to_evaluate_and_predict(setup, monkeypatch, capsys):
    # Once: weights `cnnctl export` wrote of a run at 8x8x3 ran silently at the network's own input
    # (a run's 79% read as 27%), and a network of another head was told "this network's names with
    # another network's shapes: was the network file changed...?".
    net7, data, _, tmp = setup
    source = tiny_run(monkeypatch, capsys, tmp, "tiny3", NET, data)  # fc 3 after a global pool, at 8x8x3
    image = str(next((tmp / "imgs").rglob("*.png")))
    (tmp / "tiny12.yaml").write_text(NET.replace("input: 8x8x3", "input: 12x12x3"))
    for suffix in ("safetensors", "onnx"):
        if suffix == "onnx":
            pytest.importorskip("onnx")
        exported = tmp / f"tiny3.{suffix}"
        code, out, err = run_main(monkeypatch, capsys, "export", str(source), "-o", str(exported))
        assert code == 0, err
        for command, *rest in (["predict", image], ["evaluate", "--data", data]):
            code, out, err = run_main(monkeypatch, capsys, command, str(tmp / "tiny12.yaml"), "--weights",
                                      str(exported), *rest, "--device", "cpu")  # fmt: skip
            said = " ".join(err.split())
            assert code == 0 and err.count("warning:") == 1, err
            assert f"warning: {exported} was trained at input 8x8x3; tiny here takes 12x12x3" in said
            assert "hint: give --input 8x8x3 as they were trained" in said
            code, out, err = run_main(monkeypatch, capsys, command, str(tmp / "tiny12.yaml"), "--input", "8x8x3",
                                      "--weights", str(exported), *rest, "--device", "cpu")  # fmt: skip
            assert code == 0 and "warning" not in err, err
        # A network written for 7 classes: its head built for the 3 the weights record, as train builds one
        # (it was "holds weights with a head of 3 classes ...; tiny here has 7 outputs", and evaluate and
        # predict have no --head): the predictions are the run's own, the header says so.
        code, out, err = run_main(monkeypatch, capsys, "predict", net7, "--weights", str(exported), image,
                                  "--device", "cpu", "--format", "json")  # fmt: skip
        assert code == 0, err
        placed = json.loads(out)
        code, out, err = run_main(monkeypatch, capsys, "predict", str(source), image, "--device", "cpu",
                                  "--format", "json")  # fmt: skip
        assert code == 0, err
        own = json.loads(out)
        top, own_top = placed["predictions"][0]["top"], own["predictions"][0]["top"]
        assert [t["class"] for t in top] == [t["class"] for t in own_top]
        assert all(abs(a["probability"] - b["probability"]) < 1e-5 for a, b in zip(top, own_top, strict=True))
        assert "head `fc1` built for the 3 classes they record (tiny as written has 7 outputs)" in placed["weights"]
        code, out, err = run_main(monkeypatch, capsys, "evaluate", net7, "--weights", str(exported), "--data", data,
                                  "--device", "cpu", "--format", "json")  # fmt: skip
        assert code == 0 and json.loads(out)["classes"] == ["class0", "class1", "class2"], err


def test_weights_placed_by_structure_from_onnx_name_the_files_own_tensor(setup, monkeypatch, capsys):
    # Once: the message named `fc1.weight`, the name of the network read from the file, which has `fc.weight`.
    pytest.importorskip("onnx")
    _, _, source, tmp = setup  # conv (4 filters), bn, global pool, fc 7: torch's names conv.*, bn.*, fc.*
    flat = tmp / "flat.yaml"
    flat.write_text(FLAT)  # conv 2 filters first: the file's first tensor, conv.weight of 4x3x3x3, does not fit

    class Whole(torch.nn.Module):
        def __init__(self, parts):
            super().__init__()
            self.conv, self.bn, self.fc = parts.conv, parts.bn, parts.fc

        def forward(self, x):
            return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))

    file = tmp / "other.onnx"
    # torch's legacy exporter (no onnxscript needed), its names kept: conv.weight, not a folded onnx::Conv_17
    torch.onnx.export(Whole(source).eval(), torch.zeros(1, 3, 8, 8), str(file), dynamo=False,
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)  # fmt: skip
    code, out, err = run_main(monkeypatch, capsys, "weights", str(flat), str(file))
    said = " ".join(err.split())
    assert code == 2 and "the source's tensor 1 in order is `conv.weight` of 4x3x3x3" in said, err
    assert "conv1.weight` of 4" not in said


def test_evaluating_a_run_on_data_of_more_classes_names_both_sets_of_classes(setup, monkeypatch, capsys):
    # Once: `the network has 3 outputs, but the data has 4 classes / hint: make the last layer fc 4`,
    # a hint for a network file, not for a run whose head was trained on its classes.
    _, data, _, tmp = setup
    source = tiny_run(monkeypatch, capsys, tmp, "tiny3", NET, data)  # class0 to class2
    four = str(coded_folder(tmp / "four", n=48, classes=4))
    code, out, err = run_main(monkeypatch, capsys, "evaluate", str(source), "--data", four, "--device", "cpu")
    said = " ".join(err.split())
    assert code == 2 and err.count("error:") == 1, err
    assert "trained on the 3 classes class0, class1, class2, but `four` has 4 classes class0, class1, class2, " \
           "class3" in said  # fmt: skip
    assert "class3 not among them" in said and "make the last layer" not in said
    assert "hint: evaluate on images of the run's classes" in said


def test_evaluating_a_run_on_a_folder_of_some_of_its_classes_scores_them_among_all_of_its_own(
    setup, monkeypatch, capsys
):
    # A folder of 2 of the run's 3 classes was refused ("trained on the 3 classes ..., but `two` has
    # 2 classes"); it is scored among the run's 3: each image's row of the confusion matrix is the one
    # the run's whole data gives it, a prediction of the class the folder lacks counted wrong.
    _, data, _, tmp = setup
    source = tiny_run(monkeypatch, capsys, tmp, "tiny3", NET, data)  # class0 to class2
    two = tmp / "two"
    shutil.copytree(data, two)
    shutil.rmtree(two / "class1")
    args = ("--split", "all", "--device", "cpu", "--format", "json")
    code, out, err = run_main(monkeypatch, capsys, "evaluate", str(source), "--data", data, *args)
    assert code == 0, err
    whole = json.loads(out)
    code, out, err = run_main(monkeypatch, capsys, "evaluate", str(source), "--data", str(two), *args)
    assert code == 0, err
    some = json.loads(out)
    assert some["classes"] == whole["classes"] == ["class0", "class1", "class2"]
    rows = whole["confusion"]
    assert some["confusion"] == [rows[0], [0, 0, 0], rows[2]]
    right = rows[0][0] + rows[2][2]
    assert some["accuracy"] == right / (sum(rows[0]) + sum(rows[2]))  # class1 predicted: wrong
    assert some["per_class_accuracy"][1] is None  # no images of it
    assert "scored among the run's 3 classes, class1 not in the data (a prediction of one is wrong)" in " ".join(
        some["data_words"].split()
    )
    # a class the run does not know is still refused, by name
    (two / "class9").mkdir()
    shutil.copy(next((two / "class0").iterdir()), two / "class9" / "x.png")
    code, out, err = run_main(monkeypatch, capsys, "evaluate", str(source), "--data", str(two), "--device", "cpu")
    assert code == 2 and "class9 not among them" in " ".join(err.split()), err


def test_fine_tuning_a_run_again_on_its_own_classes_keeps_its_head(setup, monkeypatch, capsys):
    net7, data, _, tmp = setup
    source = tiny_run(monkeypatch, capsys, tmp, "tiny3", NET, data)  # fc 3 on the same 3 classes
    args = ("--epochs", "1", "--batch-size", "8", "--lr", "1e-300", "--device", "cpu")  # the weights stay as placed
    run = tmp / "again"
    code, out, err = run_main(monkeypatch, capsys, "train", net7, "--weights", str(source), "--data", data, *args,
                              "--out", str(run))  # fmt: skip
    assert code == 0, err
    said = " ".join(out.split())
    assert f"head: `fc1` at the data's 3 classes, as {source} has it: its weights kept (tiny as written has 7" in said
    assert "made anew" not in said and "new head" not in said
    assert torch.equal(trained(run)["model"]["fc1.weight"], trained(source)["model"]["fc1.weight"])
    assert json.loads((run / "config.json").read_text())["head"] == {"layer": "fc1", "classes": 3}
    # Other classes, as many: the head is made anew (their order says nothing of these).
    other = tmp / "other"
    shutil.copytree(data, other)
    (other / "class2").rename(other / "zebra")
    code, out, err = run_main(monkeypatch, capsys, "train", net7, "--weights", str(source), "--data", str(other),
                              *args, "--out", str(tmp / "other_run"))  # fmt: skip
    assert code == 0, err
    assert "head: `fc1` made anew for the data's 3 classes (the weights had 3 outputs" in " ".join(out.split())


def test_evaluate_and_predict_say_weights_that_fit_were_trained_at_another_input(setup, monkeypatch, capsys):
    # A network that pools globally takes a run's weights at any input: said in the header, as train says it
    _, data, _, tmp = setup
    source = tiny_run(monkeypatch, capsys, tmp, "pooled", NET, data)  # at 8x8x3
    (tmp / "pooled10.yaml").write_text(NET.replace("input: 8x8x3", "input: 10x10x3"))
    image = str(next((tmp / "imgs").rglob("*.png")))
    for command, *rest in (["evaluate", "--data", data], ["predict", image]):
        code, out, err = run_main(monkeypatch, capsys, command, str(tmp / "pooled10.yaml"), "--weights", str(source),
                                  *rest, "--device", "cpu")  # fmt: skip
        assert code == 0, err
        assert "trained at input 8x8x3, used here at 10x10x3" in " ".join((out + err).split()), out
        code, out, err = run_main(monkeypatch, capsys, command, str(tmp / "pooled.yaml"), "--weights", str(source),
                                  *rest, "--device", "cpu")  # fmt: skip
        assert code == 0 and "trained at input" not in out + err, out  # at its own input: nothing to say


def test_whether_a_head_is_made_for_the_data_is_decided_as_data():
    # finetune.head_for_data: (path, width as written) or None; the loop only says it. resnet18's
    # `fc` scores ImageNet's 1,000 classes (torchvision's resnet18.fc: Linear(512, 1000)).
    import cnnctl
    from cnnctl.train.finetune import head_for_data

    g = cnnctl.load("resnet18")
    rebuildable, text = (lambda: True), (lambda: False)
    assert head_for_data(g, 3, None, False, False, rebuildable) == ("fc", 1000)  # from scratch, fewer classes
    assert head_for_data(g, 1000, None, False, False, rebuildable) is None  # already the data's
    assert head_for_data(g, 2000, None, False, False, rebuildable) is None  # more: check_classes' error
    assert head_for_data(g, 2000, None, True, False, rebuildable) == ("fc", 1000)  # --weights: made for any count
    assert head_for_data(g, 3, None, False, True, rebuildable) is None  # per-pixel: left as written
    assert head_for_data(g, 3, None, False, False, text) is None  # given as text: cannot be built again
    assert head_for_data(g, 3, None, True, False, text) == ("fc", 1000)  # --weights for other classes: always
