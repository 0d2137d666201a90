"""`--weights torchvision` (issue 21, item 3): torchvision's ImageNet weights, offline.

No test downloads anything: torch.hub's download is replaced by one that fails, and the
published file is stood in for by a state_dict of the hand-written ResNet-18 of
cnnctl/train/reference.py (torchvision's layout, its own names) saved into a temporary
$TORCH_HOME cache, the table's file name made to carry its SHA-256 as torchvision's do."""

import hashlib
import json
import urllib.error
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.exchange.pretrained import HUB, TORCHVISION, cached_file, fetch, imagenet_classes, shapes_digest  # noqa: E402
from cnnctl.exchange.weights import place_weights  # noqa: E402
from cnnctl.train.reference import REFERENCES  # noqa: E402
from tests.helpers import run_main  # noqa: E402

URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"  # torchvision's ResNet18_Weights.IMAGENET1K_V1
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as torchvision's transforms give them


def no_download(*args, **kwargs):
    raise AssertionError("downloaded although the file is in the cache")


def offline(*args, **kwargs):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture
def hand_resnet18(tmp_path, monkeypatch):
    """The hand-written ResNet-18 (eval mode, batch norm statistics no fresh network has), saved
    where torch.hub keeps the published file; downloading fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    torch.manual_seed(3)
    hand = REFERENCES["resnet18"]()
    for module in hand.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    hand.fc.bias.data.uniform_(-3, 3)  # classes that stand apart
    return hand.eval(), cache_as_published(tmp_path, monkeypatch, "resnet18", hand.state_dict())


def cache_as_published(tmp_path, monkeypatch, network: str, state) -> Path:
    """`state` saved into the $TORCH_HOME cache as `network`'s published file, the table's URL
    named by the file's own SHA-256 (as torchvision's are: torch.hub checks the name's prefix)."""
    saved = tmp_path / "saved.pth"
    torch.save(state, saved)
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()[:8]
    path = tmp_path / "torch" / "hub" / "checkpoints" / f"{network}-{digest}.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    saved.rename(path)
    monkeypatch.setitem(TORCHVISION, network, TORCHVISION[network]._replace(url=HUB + path.name))
    return path


def test_each_network_of_the_table_has_the_structure_torchvisions_weights_fit():
    # The digests are of the networks checked to give torchvision's logits (benchmarks/torchvision_reference.py):
    # each bundled network's must still equal them.
    for name, published in TORCHVISION.items():
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            model = cnnctl.to_torch(cnnctl.load(name), logits=True)
        assert shapes_digest(model.state_dict()) == published.shapes, name
    # ...and the hand-written ResNet-18 and -50, written independently in torchvision's layout, have them too.
    assert shapes_digest(REFERENCES["resnet18"]().state_dict()) == TORCHVISION["resnet18"].shapes
    assert shapes_digest(REFERENCES["resnet50"]().state_dict()) == TORCHVISION["resnet50"].shapes
    assert TORCHVISION["resnet18"].url == URL


def test_the_cached_file_is_used_without_the_network_and_gives_the_sources_logits(hand_resnet18):
    hand, path = hand_resnet18
    assert cached_file(TORCHVISION["resnet18"].url) == str(path)  # $TORCH_HOME/hub/checkpoints/NAME
    assert fetch("resnet18") == str(path)  # no_download not called
    model = cnnctl.to_torch(cnnctl.load("resnet18", "64x64x3"), logits=True).eval()
    place_weights(model, fetch("resnet18"))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), hand(x))


def test_train_starts_from_them_with_imagenets_mean_and_std(hand_resnet18, tmp_path, monkeypatch, capsys):
    hand, _ = hand_resnet18
    data = tmp_path / "pics"
    for k, colour in enumerate(((200, 30, 30), (30, 200, 30))):
        (data / f"c{k}").mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (32, 32), tuple(v + 5 * i for v in colour)).save(data / f"c{k}" / f"{i}.png")
    run = tmp_path / "run"
    code, out, err = run_main(
        monkeypatch, capsys, "train", "resnet18", "--weights", "torchvision", "--input", "32x32x3", "--data",
        str(data), "--epochs", "1", "--batch-size", "2", "--lr", "1e-300", "--device", "cpu", "--out", str(run),
    )  # fmt: skip
    assert code == 0, err
    said = " ".join(out.split())  # however the terminal wraps it
    # 2 classes, not ImageNet's 1,000: fc is made anew, and the other 100 of the 102 tensors placed.
    assert "head: `fc` made anew for the data's 2 classes (it had 1,000 outputs" in said
    url = TORCHVISION["resnet18"].url
    assert f"weights: 100 tensors from torchvision's ImageNet weights for resnet18 ({url}, cached as" in said
    assert "input normalised with ImageNet's mean 0.485,0.456,0.406 and std 0.229,0.224,0.225" in said
    assert (run / "weights.txt").read_text().startswith("# from torchvision's ImageNet weights for resnet18")
    state = torch.load(run / "last.pt", weights_only=False)
    assert tuple(state["mean"]) == MEAN and tuple(state["std"]) == STD
    # A learning rate that moves no float32 weight: the convolutions are the source's, as placed.
    own = state["model"]
    assert torch.equal(own[next(k for k in own if k.endswith("weight"))], hand.conv1.weight)


def test_a_cached_file_is_checked_against_the_hash_in_its_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    state = {"w": torch.arange(6.0).reshape(2, 3)}  # a tiny stand-in: the check reads bytes, not tensors
    path = cache_as_published(tmp_path, monkeypatch, "resnet18", state)
    assert fetch("resnet18") == str(path)  # its SHA-256 begins as its name says: used, not downloaded
    torch.save({"w": torch.zeros(2, 3)}, path)  # the same name, other bytes (still a loadable state_dict)
    code, _, err = run_main(monkeypatch, capsys, "predict", "resnet18", "--weights", "torchvision", str(path))
    assert code == 2, err
    begins = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    assert err.startswith(f"error: {path}: the cached download {path} is damaged or not torchvision's: its SHA-256 "
                          f"begins {begins}, not {path.stem[-8:]}"), err  # fmt: skip
    assert "hint: delete it to download again" in err and err.count("error:") == 1, err


def test_no_network_and_no_file_is_one_message_with_the_url_and_the_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    code, out, err = run_main(monkeypatch, capsys, "train", "resnet18", "--weights", "imagenet", "--device", "cpu")
    where = tmp_path / "empty" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1
    assert URL in err and f"put the file at {where}" in err and "name resolution" in err
    assert not where.exists()


def test_a_network_without_published_weights_is_told_with_those_that_have_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    code, out, err = run_main(monkeypatch, capsys, "train", "lenet5", "--weights", "torchvision", "--device", "cpu")
    assert code == 2 and err.count("error:") == 1 and "no ImageNet weights for `lenet5`" in err
    assert "resnet18" in err and "efficientnet_b0" in err and "googlenet" not in err.split("hint:")[1]


def test_imagenets_class_names_are_torchvisions_in_its_order():
    names = imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[1] == "goldfish" and names[999] == "toilet tissue"


def test_predict_with_them_names_imagenets_classes_of_the_centre_crop(hand_resnet18, tmp_path, monkeypatch, capsys):
    hand, _ = hand_resnet18
    torch.manual_seed(1)
    pixels = torch.randint(0, 256, (256, 320, 3), dtype=torch.uint8)  # H x W: the shorter side already 256
    Image.fromarray(pixels.numpy()).save(tmp_path / "photo.png")
    code, out, err = run_main(monkeypatch, capsys, "predict", "resnet18", str(tmp_path / "photo.png"), "--weights",
                              "imagenet", "--device", "cpu", "-k", "3", "--format", "json")  # fmt: skip
    assert code == 0, err
    # Independently: the centre 224x224 of the image, ImageNet's normalisation, the source module.
    crop = pixels[16:240, 48:272].permute(2, 0, 1)[None].float() / 255
    x = (crop - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        probs = F.softmax(hand(x), dim=1)[0]
    top = probs.topk(3)
    (result,) = json.loads(out)["predictions"]
    expected = [imagenet_classes()[i] for i in top.indices.tolist()]
    assert [row["class"] for row in result["top"]] == expected
    assert [row["probability"] for row in result["top"]] == pytest.approx(top.values.tolist(), abs=1e-5)


def test_evaluate_with_them_scores_imagenets_outputs_of_the_datas_classes_on_the_centre_crop(
    hand_resnet18, tmp_path, monkeypatch, capsys
):
    hand, _ = hand_resnet18
    torch.manual_seed(4)
    data, images = tmp_path / "pics", {}
    for name in ("goldfish", "tench"):  # ImageNet's classes 1 and 0, folders in the data's own order
        (data / name).mkdir(parents=True)
        for i in range(3):
            pixels = torch.randint(0, 256, (256, 320, 3), dtype=torch.uint8)  # the shorter side already 256
            Image.fromarray(pixels.numpy()).save(data / name / f"{i}.png")
            images.setdefault(name, []).append(pixels)
    code, out, err = run_main(monkeypatch, capsys, "evaluate", "resnet18", "--weights", "imagenet", "--data",
                              str(data), "--split", "all", "--device", "cpu", "--format", "json")  # fmt: skip
    assert code == 0, err
    # Independently: each image's centre 224x224, ImageNet's normalisation, the source module's outputs 1 and 0.
    expected, losses = [[0, 0], [0, 0]], []
    for truth, name in enumerate(("goldfish", "tench")):
        for pixels in images[name]:
            crop = pixels[16:240, 48:272].permute(2, 0, 1)[None].float() / 255
            x = (crop - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
            with torch.no_grad():
                scores = hand(x)[:, [imagenet_classes().index("goldfish"), imagenet_classes().index("tench")]]
            expected[truth][int(scores.argmax())] += 1
            losses.append(F.cross_entropy(scores, torch.tensor([truth])).item())
    report = json.loads(out)
    assert report["confusion"] == expected and report["classes"] == ["goldfish", "tench"]
    assert report["loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-4)  # the two outputs, in that order
    (data / "my_cat").mkdir()
    Image.fromarray(images["tench"][0].numpy()).save(data / "my_cat" / "0.png")
    code, out, err = run_main(monkeypatch, capsys, "evaluate", "resnet18", "--weights", "imagenet", "--data",
                              str(data), "--split", "all", "--device", "cpu")  # fmt: skip
    assert code == 2 and "`my_cat` is not one of its 1,000 class names" in err and "fine-tune" in err
