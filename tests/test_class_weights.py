"""Imbalanced training classes: the header's note, train's JSON counts, and --class-weights balanced."""

import json
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.data import DataSplits, Split, make_shapes  # noqa: E402
from cnnctl.data.masks import IGNORE, UNSCORED  # noqa: E402
from cnnctl.errors import INTERRUPTED  # noqa: E402
from cnnctl.render.runs import train_json  # noqa: E402
from cnnctl.train.balance import IMBALANCE_RATIO, balanced_weights, class_counts, imbalance_note  # noqa: E402
from cnnctl.train.checkpoint import load_checkpoint  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from cnnctl.train.metrics import scored_loss  # noqa: E402
from cnnctl.train.resume_config import resumed_config  # noqa: E402

NET = """\
input: 16x16x1
layers:
  - conv f=3 p=same n=8 act=relu
  - pool max f=2
  - fc 3 act=softmax
"""
CLASSES = ["circle", "square", "triangle"]


def imbalanced(counts=(150, 60, 20), val=40) -> DataSplits:
    """Shapes relabelled into 3 classes of `counts` training images (6:3:1-like), `val` held out."""
    x, y = make_shapes(2 * (sum(counts) + val), 16, 16, 1, 0)
    y = y % 3
    picks = [torch.nonzero(y == c)[:, 0] for c in range(3)]
    train_index = torch.cat([p[:n] for p, n in zip(picks, counts, strict=True)])
    val_index = torch.cat([p[n : n + val // 3 + 1] for p, n in zip(picks, counts, strict=True)])
    order = torch.randperm(len(train_index), generator=torch.Generator().manual_seed(1))
    train_index = train_index[order]
    return DataSplits("imbalanced", Split(x[train_index], y[train_index]), Split(x[val_index], y[val_index]),
                      CLASSES, (0.2,), (0.3,), [], val_from="test data")  # fmt: skip


def run(tmp_path, name="run", resume=None, stop=None, **settings):
    settings = {"epochs": 2, "batch_size": 32, "seed": 3, "device": "cpu", **settings}
    config = TrainConfig(out=str(tmp_path / name), **settings)
    return train(cnnctl.load_text(NET), config, network_title="small", resume=resume, dataset=imbalanced(),
                 stop_after_steps=stop)  # fmt: skip


def test_balanced_weights_are_n_over_k_times_n_c():
    # The trial's 6:3:1 set: n = 2,000 images, k = 3 classes.
    weights = balanced_weights([1200, 600, 200])
    want = [Fraction(2000, 3 * 1200), Fraction(2000, 3 * 600), Fraction(2000, 3 * 200)]  # 5/9, 10/9, 10/3
    assert weights == pytest.approx([float(w) for w in want], rel=1e-15)
    # each class then weighs n / k in all, as if the classes were equal
    assert [w * c for w, c in zip(weights, [1200, 600, 200], strict=True)] == pytest.approx([2000 / 3] * 3)
    assert balanced_weights([4, 0, 4]) == [8 / 12, 0.0, 8 / 12]  # a class with no image: never a target


def test_class_counts_of_labels_and_of_masks_scored_pixels():
    assert class_counts(torch.tensor([2, 0, 2, 2, 1, 2]), 4) == [1, 1, 4, 0]
    masks = torch.tensor([[[0, 1], [UNSCORED, 1]], [[2, 2], [2, UNSCORED]]], dtype=torch.uint8)
    assert class_counts(masks, 3) == [1, 2, 3]  # the UNSCORED pixels counted for no class


def test_the_note_says_imbalance_above_the_ratio_with_counts_and_the_hint():
    assert IMBALANCE_RATIO == 3
    assert imbalance_note(["a", "b"], [300, 100], weighted=False) is None  # 3x: not more than the ratio
    note = imbalance_note(CLASSES, [1200, 600, 200], weighted=False)
    assert note.startswith("imbalanced classes (the largest 6.0x the smallest): circle 1,200, square 600, triangle 200")
    assert "--class-weights balanced" in note and "recall" in note
    assert "smallest has none" in imbalance_note(["a", "b"], [5, 0], weighted=False)


def test_the_weighted_loss_is_pytorchs_weighted_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(8, 3), torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    w = torch.tensor(balanced_weights([4, 2, 2]))
    got = scored_loss(logits, y, class_weights=w)
    assert torch.equal(got, F.cross_entropy(logits, y, weight=w))
    # written out: sum over the batch of w_y * -log p_y, over the sum of w_y
    nll = -F.log_softmax(logits, 1).gather(1, y[:, None])[:, 0]
    assert float(got) == pytest.approx(float((w[y] * nll).sum() / w[y].sum()), rel=1e-6)
    assert abs(float(got) - float(F.cross_entropy(logits, y))) > 1e-3  # not the plain loss
    # per pixel: the IGNORE pixels count for nothing, the rest weighted by their class
    logits, masks = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    masks[0, 0] = IGNORE
    assert torch.equal(scored_loss(logits, masks, class_weights=w), F.cross_entropy(logits, masks, weight=w))


def test_an_epochs_weighted_loss_is_the_weighted_cross_entropy_over_all_its_examples():
    # Once the mean of the batches' weighted means, each times its images: batches of other class
    # mixes weigh their images otherwise. The epoch's loss is sum w_y l / sum w_y over all of them.
    from cnnctl.train.metrics import EpochStats

    g = torch.Generator().manual_seed(5)
    w = torch.tensor([0.5, 1.5, 4.0])
    batches = [(torch.randn(n, 3, generator=g), torch.tensor(labels)) for n, labels in
               ((4, [0, 0, 0, 1]), (3, [2, 2, 1]), (5, [0, 1, 0, 0, 0]))]  # fmt: skip
    stats = EpochStats()
    for logits, y in batches:
        stats.add(scored_loss(logits, y, class_weights=w), logits, y, w)
    logits, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    assert stats.loss == pytest.approx(float(F.cross_entropy(logits.double(), y, weight=w.double())), rel=1e-6)
    masks = torch.tensor([[[0, 2], [IGNORE, 1]], [[2, 2], [IGNORE, IGNORE]]])  # pixels of masks, IGNORE not scored
    pixels = torch.randn(2, 3, 2, 2, generator=g)
    dense = EpochStats()
    for k in range(2):
        dense.add(scored_loss(pixels[k : k + 1], masks[k : k + 1], class_weights=w), pixels[k : k + 1],
                  masks[k : k + 1], w)  # fmt: skip
    assert dense.loss == pytest.approx(float(F.cross_entropy(pixels, masks, weight=w)), rel=1e-6)


def test_a_balanced_runs_train_loss_is_the_weighted_cross_entropy_of_its_epochs_outputs(tmp_path, monkeypatch):
    from cnnctl.train.step import TrainStep

    seen, step = [], TrainStep.__call__

    def recorded(self, x, y):  # each step's outputs, as the loss was taken of them
        loss, logits = step(self, x, y)
        seen.append((logits.double(), y))
        return loss, logits

    monkeypatch.setattr(TrainStep, "__call__", recorded)
    result = run(tmp_path, epochs=1, class_weights="balanced")
    w = torch.tensor([result.loss_class_weights[name] for name in CLASSES], dtype=torch.float64)
    logits, y = torch.cat([s[0] for s in seen]), torch.cat([s[1] for s in seen])
    expected = float(F.cross_entropy(logits, y, weight=w))
    assert result.history[0]["train_loss"] == pytest.approx(expected, rel=1e-5)
    assert abs(expected - float(F.cross_entropy(logits, y))) > 1e-3  # the weights do change it


def test_an_imbalanced_run_says_so_and_its_json_counts_each_class(tmp_path, capsys):
    result = run(tmp_path, epochs=1)
    out = capsys.readouterr().out
    assert "data: imbalanced classes (the largest 7.5x the smallest): circle 150, square 60, triangle 20 " in out
    assert "--class-weights balanced" in out and "class weights:" not in out
    document = json.loads(json.dumps(train_json(result)))
    assert document["train_class_counts"] == {"circle": 150, "square": 60, "triangle": 20}
    assert document["loss_class_weights"] is None
    balanced = run(tmp_path, "b", epochs=1, class_weights="balanced")
    out = capsys.readouterr().out
    assert "data: class weights: balanced, n / (k · n_c) of the training images: circle 0.5111, square 1.278, " \
        "triangle 3.833" in out  # 230 / (3 * 150), 230 / (3 * 60), 230 / (3 * 20)  # fmt: skip
    assert train_json(balanced)["loss_class_weights"] == pytest.approx(
        {"circle": 230 / 450, "square": 230 / 180, "triangle": 230 / 60}
    )
    assert json.loads((balanced.run_dir / "config.json").read_text())["class_weights"] == "balanced"


def test_balanced_classes_say_nothing(tmp_path, capsys):
    config = TrainConfig(out=str(tmp_path / "even"), epochs=1, batch_size=32, device="cpu")
    train(cnnctl.load_text(NET), config, network_title="small", dataset=imbalanced((60, 50, 40)))
    assert "imbalanced classes" not in capsys.readouterr().out  # 60 / 40: 1.5x


def test_a_balanced_run_resumes_exactly_and_keeps_its_weights(tmp_path):
    straight = run(tmp_path, "straight", class_weights="balanced")
    broken = run(tmp_path, "broken", class_weights="balanced", stop=9)  # mid-way through epoch 2
    assert broken.status == INTERRUPTED
    config = resumed_config(str(broken.run_dir), {"epochs": 2})  # what `train --resume RUN` trains with
    assert config.class_weights == "balanced"
    resumed = train(
        cnnctl.load_text(NET), config, network_title="small", resume=str(broken.run_dir), dataset=imbalanced()
    )
    assert resumed.status == 0
    a, b = load_checkpoint(straight.run_dir)["model"], load_checkpoint(resumed.run_dir)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = load_checkpoint(run(tmp_path, "plain").run_dir)["model"]
    assert not all(torch.equal(a[k], plain[k]) for k in a)  # the weights did change the training
    with pytest.raises(CnnctlError, match="--class-weights cannot change when a run is resumed"):
        resumed_config(str(broken.run_dir), {"class_weights": "none"})


def test_class_weights_from_the_command_line(tmp_path, monkeypatch, capsys):
    from helpers import run_main

    code, out, err = run_main(monkeypatch, capsys, "train", "lenet5", "--class-weights", "balanse", "--epochs", "1")
    assert code == 2 and "--class-weights" in err and "balanced" in err, err


def test_plot_says_a_run_weighted_its_classes():
    from cnnctl.run_folders import about_run

    assert about_run("lenet5", {"data": "shapes", "class_weights": "balanced"}, 1, True) == (
        "lenet5 on shapes; class weights balanced (in the train loss)"
    )
    assert about_run("lenet5", {"data": "shapes", "class_weights": "none"}, 1, True) == "lenet5 on shapes"


def test_dense_prediction_weighs_the_classes_of_its_scored_pixels(tmp_path, capsys):
    from cnnctl.data import load_data

    segmenter = "input: 16x16x1\nlayers:\n  - conv f=3 p=same n=4 act=relu\n  - conv f=1 n=2\n"
    data = load_data("shapes", (16, 16, 1), masks=(16, 16, 2))
    config = TrainConfig(out=str(tmp_path / "seg"), epochs=1, batch_size=64, device="cpu", class_weights="balanced")
    result = train(cnnctl.load_text(segmenter), config, network_title="seg", dataset=data)
    masks = data.train.y
    pixels = [int((masks == c).sum()) for c in (0, 1)]  # the shapes' masks score every pixel
    assert result.train_class_counts == {"background": pixels[0], "shape": pixels[1]}
    n = sum(pixels)
    assert result.loss_class_weights == pytest.approx({"background": n / (2 * pixels[0]), "shape": n / (2 * pixels[1])})
    out = capsys.readouterr().out
    assert "data: class weights: balanced, n / (k · n_c) of the training scored pixels: background " in out
    assert "imbalanced classes" not in out  # background outnumbers a shape by nature: not told


def test_a_streamed_folder_is_counted_from_its_listing(tmp_path, capsys):
    from PIL import Image

    sizes = {"cat": 36, "dog": 12, "owl": 8}  # 4.5x
    for name, count in sizes.items():
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (7 * i % 256, 40, 90)).save(tmp_path / "imgs" / name / f"{i}.png")
    net = "input: 8x8x3\nlayers:\n  - conv f=3 n=4 p=1\n  - pool avg global\n  - fc 3\n"
    config = TrainConfig(out=str(tmp_path / "run"), data=str(tmp_path / "imgs"), stream=True, workers=0, val_split=0.0,
                         epochs=1, batch_size=8, device="cpu", class_weights="balanced")  # fmt: skip
    result = train(cnnctl.load_text(net), config, network_title="tiny")
    assert result.train_class_counts == sizes  # every image trains: --val-split 0
    assert result.loss_class_weights == pytest.approx({name: 56 / (3 * c) for name, c in sizes.items()})
    out = capsys.readouterr().out
    assert "streamed" in out and "imbalanced classes (the largest 4.5x the smallest): cat 36, dog 12, owl 8" in out
