"""The training recipe: augmentation, label smoothing, warm-up, early stopping, --val-split 0."""

import json
import math

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.cli import run as run_cli  # noqa: E402
from cnnctl.data import DataSplits, Split, make_shapes  # noqa: E402
from cnnctl.data.masks import IGNORE  # noqa: E402
from cnnctl.errors import INTERRUPTED  # noqa: E402
from cnnctl.layers.args import ArgValueError  # noqa: E402
from cnnctl.train.augment import Augment, crop_padding  # noqa: E402
from cnnctl.train.checkpoint import EVALUATE, load_checkpoint  # noqa: E402
from cnnctl.train.config import TrainConfig, parse_augment  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from cnnctl.train.schedule import best_epoch, stale_epochs, stops_early  # noqa: E402

NET = """\
input: 16x16x1
layers:
  - conv f=3 p=same n=8 act=relu
  - pool max f=2
  - fc 10 act=softmax
"""


def data(n_train=320, n_val=96, seed=0, val=True):
    x, y = make_shapes(n_train + n_val, 16, 16, 1, seed)
    held = Split(x[n_train:], y[n_train:]) if val else Split(x[:0], y[:0])
    return DataSplits("shapes", Split(x[:n_train], y[:n_train]), held, [str(i) for i in range(10)], (0.2,), (0.3,), [],
                   val_from="test data" if val else "")  # fmt: skip


def run(tmp_path, name="run", resume=None, stop=None, dataset=None, **settings):
    settings = {"epochs": 2, "batch_size": 32, "seed": 3, "device": "cpu", **settings}
    config = TrainConfig(out=str(tmp_path / name), **settings)
    return train(cnnctl.load_text(NET), config, network_title="small", resume=resume, dataset=dataset or data(),
                 stop_after_steps=stop)  # fmt: skip


def cli(argv: list[str]) -> int:
    """The command line in this process, as `cnnctl` ends it: a CnnctlError is exit code 2."""
    import sys

    try:
        return run_cli(argv)
    except CnnctlError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2


# -- augmentation -------------------------------------------------------------------------------


def test_augment_names_are_put_in_order_and_mistakes_named():
    assert parse_augment("flip,crop") == "crop,flip" and parse_augment("FLIP + rrc") == "rrc,flip"
    assert parse_augment("none") == "none" and parse_augment("") == "none"
    with pytest.raises(ArgValueError, match="`blur` is not an augmentation; the augmentations are crop, rrc, flip"):
        parse_augment("crop,blur")
    with pytest.raises(ArgValueError, match="crop and rrc both crop"):
        parse_augment("crop,rrc")


def test_crop_and_flip_move_each_image_as_drawn():
    """Against a per-image loop over the same draws: pad by H/8, take the window, flip."""
    n, c, h, w = 6, 2, 16, 12
    x = torch.randn(n, c, h, w)
    masks = torch.randint(0, 3, (n, h, w))
    fill = torch.tensor([-1.0, -2.0]).view(1, c, 1, 1)
    aug = Augment("crop,flip", seed=5, fill=fill)
    out, out_masks = aug(x, masks, epoch=2, position=64, total=n, start=0)
    p = crop_padding(h, w)
    assert p == 2  # min(16, 12) / 8 = 1.5, rounded
    gen = aug.generator(2, 64)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    for i in range(n):
        padded = torch.cat([torch.full((1, h + 2 * p, w + 2 * p), float(v)) for v in fill.flatten()])
        padded[:, p : p + h, p : p + w] = x[i]
        padded_mask = torch.full((h + 2 * p, w + 2 * p), IGNORE)
        padded_mask[p : p + h, p : p + w] = masks[i]
        want = padded[:, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        want_mask = padded_mask[dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        if flip[i]:
            want, want_mask = want.flip(2), want_mask.flip(1)
        assert torch.equal(out[i], want), i
        assert torch.equal(out_masks[i], want_mask), i
    assert 0 < int(flip.sum()) < n  # both cases were checked
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_each_worker_augments_its_slice_as_one_process_would():
    x = torch.randn(8, 1, 16, 16)
    y = torch.arange(8)
    for spec in ("crop,flip", "rrc,flip"):
        aug = Augment(spec, seed=1, fill=torch.zeros(1, 1, 1, 1))
        whole, _ = aug(x, y, 0, 32, total=8, start=0)
        halves = [aug(x[s : s + 4], y[s : s + 4], 0, 32, total=8, start=s)[0] for s in (0, 4)]
        assert torch.equal(whole, torch.cat(halves)), spec
        other, _ = aug(x, y, 0, 40, total=8, start=0)  # another step draws again
        assert not torch.equal(whole, other)


def test_random_resized_crop_samples_inside_the_image():
    """Bilinear samples of a box inside the image: a constant image stays constant, values
    stay within the image's range, and masks keep only the labels they had."""
    aug = Augment("rrc", seed=0, fill=torch.zeros(1, 1, 1, 1))
    flat = torch.full((5, 3, 20, 20), 0.25)
    out, _ = aug(flat, torch.arange(5), 0, 0, 5, 0)
    assert torch.allclose(out, flat)
    x = torch.rand(5, 3, 20, 20)
    masks = torch.randint(0, 4, (5, 20, 20))
    out, out_masks = aug(x, masks, 1, 0, 5, 0)
    assert out.shape == x.shape and float(out.min()) >= float(x.min()) and float(out.max()) <= float(x.max())
    assert set(out_masks.unique().tolist()) <= {0, 1, 2, 3} and not torch.equal(out, x)


def test_an_augmented_run_resumes_exactly(tmp_path):
    straight = run(tmp_path, "straight", augment="crop,flip")
    broken = run(tmp_path, "broken", augment="crop,flip", stop=13)  # mid-way through epoch 2
    assert broken.status == INTERRUPTED
    resumed = run(tmp_path, "broken", resume=str(broken.run_dir), augment="crop,flip")
    assert resumed.status == 0
    a, b = load_checkpoint(straight.run_dir)["model"], load_checkpoint(resumed.run_dir)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = load_checkpoint(run(tmp_path, "plain").run_dir)["model"]
    assert not all(torch.equal(a[k], plain[k]) for k in a)  # the augmentation did change the training


# -- label smoothing, warm-up, early stopping ------------------------------------------------------


def test_label_smoothing_is_cross_entropy_against_smoothed_targets(tmp_path):
    """With a learning rate of 1e-12 the weights stay the initial ones: the epoch's training
    loss is then the mean over every training image of -(1-e) log p_y - e/K sum_k log p_k."""
    eps = 0.3
    result = run(tmp_path, epochs=1, lr=1e-12, label_smoothing=eps)
    torch.manual_seed(3)  # the run's seed: the same initial weights
    from cnnctl.backend import to_torch

    model = to_torch(cnnctl.load_text(NET), logits=True)
    d = data()
    x = (d.train.x.float() / 255 - 0.2) / 0.3
    with torch.no_grad():
        logp = F.log_softmax(model(x), dim=1)
    want = (-(1 - eps) * logp.gather(1, d.train.y[:, None])[:, 0] - eps / 10 * logp.sum(1)).mean()
    assert result.history[0]["train_loss"] == pytest.approx(float(want), rel=1e-5)
    plain = float(-logp.gather(1, d.train.y[:, None]).mean())
    assert abs(result.history[0]["train_loss"] - plain) > 1e-3  # not the plain loss


def test_warm_up_then_cosine(tmp_path):
    lr, warm, epochs = 0.01, 2, 6
    result = run(tmp_path, epochs=epochs, lr=lr, warmup_epochs=warm, scheduler="cosine", optimizer="sgd")
    rates = [row["lr"] for row in result.history]
    left = epochs - warm
    want = [lr * (k + 1) / (warm + 1) for k in range(warm)]
    want += [lr * (1 + math.cos(math.pi * t / left)) / 2 for t in range(left)]
    assert rates == pytest.approx(want, rel=1e-9)


def test_early_stopping_rules_read_the_history():
    rows = [{"val_accuracy": a, "val_loss": v} for a, v in ((0.5, 1.0), (0.7, 0.9), (0.7, 0.95), (0.6, 0.8))]
    assert best_epoch(rows, "val_accuracy") == 1 and best_epoch(rows, "val_loss") == 3
    assert stale_epochs(rows, "val_accuracy") == 2 and stale_epochs(rows, "val_loss") == 0
    assert stops_early(rows, TrainConfig(patience=2)) and not stops_early(rows, TrainConfig(patience=3))
    assert not stops_early(rows, TrainConfig(patience=1, monitor="val_loss"))
    assert best_epoch([{"val_accuracy": float("nan")}], "val_accuracy") is None


def test_a_run_that_stops_improving_stops_early_and_keeps_its_best(tmp_path, capsys):
    # lr 1e-12: the weights never change, so nothing improves after epoch 1
    result = run(tmp_path, epochs=10, lr=1e-12, patience=2)
    assert result.status == 0 and result.epochs_done == 3
    assert load_checkpoint(result.run_dir / "best.pt", EVALUATE)["epoch"] == 1  # its weights: no resume state
    assert load_checkpoint(result.run_dir / "last.pt")["epoch"] == 3
    out = capsys.readouterr().out
    assert "early stop after epoch 3: val_accuracy has not improved for 2 epochs (best" in out
    assert "at epoch 1, kept in best.pt)" in out
    again = run(tmp_path, resume=str(result.run_dir), epochs=10, lr=1e-12, patience=2)  # stays stopped
    assert again.epochs_done == 3


def test_patience_needs_a_validation_split(tmp_path):
    with pytest.raises(CnnctlError, match="--patience stops on the validation split's progress"):
        run(tmp_path, patience=2, dataset=data(val=False))


# -- --val-split 0 ------------------------------------------------------------------------------------


def test_training_on_every_image_keeps_last_pt_and_says_there_is_no_validation(tmp_path, capsys):
    result = run(tmp_path, dataset=data(val=False))
    assert result.status == 0 and result.best_val_accuracy is None  # no accuracy: None, as runs and JSON say it
    assert not (result.run_dir / "best.pt").exists() and (result.run_dir / "last.pt").exists()
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_accuracy"] for r in rows] == [None, None] and all(r["train_loss"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert "320 train, no validation" in out and "done: no validation, last.pt holds the final weights" in out


def test_no_accuracy_is_none_in_the_checkpoint_too_and_an_older_ones_minus_one_reads_as_none(tmp_path):
    # "No accuracy" was -1 in the checkpoint and RunResult, None in `runs`: one way, None.
    import torch

    from cnnctl.train.checkpoint import Checkpoint

    result = run(tmp_path, epochs=1, dataset=data(val=False))
    last = result.run_dir / "last.pt"
    state = load_checkpoint(str(last))
    assert state["best"] is None
    state["best"] = -1.0  # as a checkpoint written before said it
    torch.save(state, last)
    assert Checkpoint.of(load_checkpoint(str(last))).best is None
    resumed = run(tmp_path, epochs=2, resume=str(result.run_dir), dataset=data(val=False))
    assert resumed.status == 0 and resumed.epochs_done == 2 and resumed.best_val_accuracy is None
    assert load_checkpoint(str(last))["best"] is None
    # with validation, the accuracy of the epoch best.pt holds, in both
    kept = run(tmp_path, name="val", epochs=1)
    assert (
        load_checkpoint(str(kept.run_dir / "last.pt"))["best"]
        == kept.best_val_accuracy
        == kept.history[0]["val_accuracy"]
    )


def test_val_split_zero_from_the_command_line_and_evaluate_splits(tmp_path, capsys):
    from tests.idxfiles import write_idx

    x, y = make_shapes(300, 28, 28, 1, seed=1)
    write_idx(tmp_path / "digits", "train", x[:, 0], y)
    xt, yt = make_shapes(100, 28, 28, 1, seed=2)
    write_idx(tmp_path / "other", "t10k", xt[:, 0], yt)  # a folder of test files only
    out = tmp_path / "r"
    code = cli(["train", "lenet5", "--data", str(tmp_path / "digits"), "--val-split", "0", "--epochs", "1",
                "--out", str(out), "--format", "json"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["best_val_accuracy"] is None
    assert cli(["evaluate", str(out)]) == 2
    assert "the run held out no validation split (--val-split 0" in capsys.readouterr().err
    assert cli(["evaluate", str(out), "--split", "test"]) == 2
    assert "`digits` has no test split" in capsys.readouterr().err
    assert cli(["evaluate", str(out), "--split", "train", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 300 and report["data_words"].startswith("the training split of digits")
    assert report["data"] == str(tmp_path / "digits")  # the data by its path, the sentence apart
    assert report["split"] == "train"
    assert cli(["evaluate", str(out), "--data", str(tmp_path / "other"), "--split", "all", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (
        report["examples"] == 100
        and report["data_words"] == "other, all of it (not this run's data: it trained on digits)"
    )
    assert (report["data"], report["split"]) == (str(tmp_path / "other"), "all")


def test_evaluate_on_data_the_run_never_saw_takes_all_of_it(tmp_path, capsys):
    """The nu3 user evaluated a run trained on `digits` with --data on a folder of MNIST's
    t10k files alone: it reported the folder's "validation split" (10% of it, held out of
    nothing), and --split test was refused as "trained on". Other data: all of it by default,
    its test files as its test split, --split val refused."""
    from tests.idxfiles import write_idx

    x, y = make_shapes(300, 28, 28, 1, seed=1)
    write_idx(tmp_path / "digits", "train", x[:, 0], y)
    xt, yt = make_shapes(100, 28, 28, 1, seed=2)
    write_idx(tmp_path / "mnist", "t10k", xt[:, 0], yt)  # test files only, as the user's
    xb, yb = make_shapes(40, 28, 28, 1, seed=3)
    write_idx(tmp_path / "both", "train", xb[:, 0], yb)
    write_idx(tmp_path / "both", "t10k", xt[:30, 0], yt[:30])
    out = tmp_path / "r"
    assert cli(["train", "lenet5", "--data", str(tmp_path / "digits"), "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()

    def report(*args):
        assert cli(["evaluate", str(out), *args, "--device", "cpu", "--format", "json"]) == 0
        return json.loads(capsys.readouterr().out)

    own = report()  # the run's own data: its validation split, 10% of 300 held out
    assert (own["examples"], own["split"]) == (30, "val")
    assert report("--data", str(tmp_path / "digits"))["examples"] == 30  # the same folder: still its own
    every = report("--data", str(tmp_path / "mnist"))
    assert (every["examples"], every["split"]) == (100, "all")
    assert "not this run's data: it trained on digits" in every["data_words"]
    test = report("--data", str(tmp_path / "mnist"), "--split", "test")
    assert (test["examples"], test["split"]) == (100, "test")
    assert test["data_words"].startswith("the test split of mnist")
    assert report("--data", str(tmp_path / "both"))["examples"] == 70  # train and t10k files
    assert report("--data", str(tmp_path / "both"), "--split", "test")["examples"] == 30
    assert cli(["evaluate", str(out), "--data", str(tmp_path / "mnist"), "--split", "val", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--split val is the validation split a run held out of its own data" in err and "digits" in err


# -- what a new user ran into ---------------------------------------------------------------------


def test_predict_pads_a_digit_as_training_padded_mnist(tmp_path):
    """A 28x28 digit for a 32x32 network is padded with zeros, as the IDX digits were for
    training, not stretched."""
    from PIL import Image

    from cnnctl.train.predict import adapt_image

    digit = torch.randint(0, 256, (28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    Image.frombytes("L", (28, 28), bytes(digit.flatten().tolist())).save(tmp_path / "d.png")
    x, seen = adapt_image(str(tmp_path / "d.png"), 32, 32, 1)
    assert seen.adapted == ["padded 28x28 to 32x32 with zeros (centred)"]
    assert torch.equal(x[0, 0, 2:30, 2:30], digit) and int(x.sum()) == int(digit.sum())


def test_a_classifier_is_told_a_folder_of_masks_is_for_dense_prediction(tmp_path):
    from PIL import Image

    for sub in ("images", "masks"):
        (tmp_path / "seg" / sub).mkdir(parents=True)
        Image.new("L", (8, 8)).save(tmp_path / "seg" / sub / "a.png")
    with pytest.raises(CnnctlError, match="holds images/ and masks/, data for dense prediction"):
        from cnnctl.data import load_data

        load_data(str(tmp_path / "seg"), (8, 8, 1))


def test_an_early_stopped_run_resumed_says_patience_is_what_stops_it(tmp_path, capsys):
    done = run(tmp_path, epochs=5, lr=1e-12, patience=1)
    assert done.epochs_done == 2
    capsys.readouterr()
    again = run(tmp_path, resume=str(done.run_dir), epochs=8, lr=1e-12, patience=1)
    assert again.epochs_done == 2
    out = capsys.readouterr().out
    assert "nothing to do: the run has stopped early; to train on, resume with a larger --patience" in out
    assert "larger --epochs" not in out


def test_a_resumed_epoch_counts_the_seconds_before_the_stop(tmp_path):
    broken = run(tmp_path, "b", epochs=1, stop=5)
    saved = load_checkpoint(broken.run_dir)["epoch_seconds"]
    assert saved > 0
    resumed = run(tmp_path, "b", epochs=1, resume=str(broken.run_dir))
    assert resumed.history[0]["seconds"] >= saved


def test_resuming_with_another_network_is_told_before_its_data_is_made(tmp_path):
    done = run(tmp_path, epochs=1)
    other = cnnctl.load("vgg16")  # its shapes at 224x224x3 would take 12 GiB to draw
    config = TrainConfig(epochs=1, device="cpu")
    with pytest.raises(CnnctlError, match=r"\(input 16x16x1\), not `vgg16`'s \(input 224x224x3\)"):
        train(other, config, network_title="vgg16", resume=str(done.run_dir))


def test_more_threads_than_cores_is_said():
    from cnnctl.train import fastpath

    n, why = fastpath.choose_threads(fastpath.cores() + 1)
    assert why == f"--threads; more than the {fastpath.cores()} cores this process may use"


def test_patience_running_out_at_the_last_planned_epoch_is_no_early_stop(tmp_path, capsys):
    """lr 1e-12: nothing improves after epoch 1, so with --patience 3 the run is out of patience
    after epoch 4, its last planned one: it has finished (as `cnnctl runs` says), not stopped early."""
    result = run(tmp_path, epochs=4, lr=1e-12, patience=3)
    assert result.status == 0 and result.epochs_done == 4
    out = capsys.readouterr().out
    assert "early stop after epoch" not in out
    assert json.loads((result.run_dir / "status.json").read_text())["status"] == "finished"
    again = run(tmp_path, resume=str(result.run_dir), epochs=4, lr=1e-12, patience=3)
    assert again.epochs_done == 4
    out = capsys.readouterr().out  # nothing left: the run ended at its planned last epoch
    assert "nothing to do: the run has finished its 4 epochs" in out and "stopped early" not in out


def test_a_resumed_run_says_nothing_of_options_it_was_not_given(tmp_path, capsys):
    """The checkpoint keeps the head factor its run took (1: no head made anew); `train --resume`
    replays it (resumed_config) without its being given, so `--head-lr-factor unused` is not said."""
    from cnnctl.train.resume_config import resumed_config

    first = run(tmp_path, epochs=1)
    assert load_checkpoint(first.run_dir)["config"]["head_lr_factor"] == 1.0
    capsys.readouterr()
    config = resumed_config(str(first.run_dir), {"epochs": 2})  # what `train --resume RUN --epochs 2` trains with
    again = train(cnnctl.load_text(NET), config, network_title="small", resume=str(first.run_dir), dataset=data())
    assert again.status == 0 and again.epochs_done == 2
    out = capsys.readouterr().out
    assert "resuming on cpu" in out and "unused" not in out


def test_a_resume_says_where_it_goes_on_from_and_no_warm_up_it_is_past(tmp_path, capsys):
    # Once: a resume never said its epoch and step, and said `recipe: warm-up 1 epoch` at epoch 9.
    stopped = run(tmp_path, epochs=3, warmup_epochs=1, stop=15)  # 320 images of 32: 10 steps an epoch
    assert stopped.epochs_done == 1  # and 5 steps of epoch 2
    first = capsys.readouterr().out
    assert "recipe: warm-up 1 epoch" in first and "resume: from" not in first
    run(tmp_path, resume=str(tmp_path / "run"), epochs=3)
    said = capsys.readouterr().out
    assert said.count(f"resume: from {tmp_path / 'run' / 'last.pt'}, epoch 2 from step 6 (5 steps of it done)") == 1
    assert "warm-up" not in said
    run(tmp_path, resume=str(tmp_path / "run"), epochs=4)  # a finished run given more epochs: from the next's start
    said = capsys.readouterr().out
    assert f"resume: from {tmp_path / 'run' / 'last.pt'}, 3 epochs done: epoch 4 from its start" in said


def test_the_unreadable_images_of_an_epoch_are_said_under_its_row(tmp_path, monkeypatch, capsys):
    # Once: `skipped 1 unreadable image this epoch` came before the row of the epoch it was about.
    from test_stream import NET as TINY
    from test_stream import coded_folder

    from tests.helpers import run_main

    folder = coded_folder(tmp_path / "imgs", n=48, classes=3)
    (folder / "class0" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image")
    (tmp_path / "tiny.yaml").write_text(TINY)
    code, out, err = run_main(monkeypatch, capsys, "train", str(tmp_path / "tiny.yaml"), "--data", str(folder),
                              "--stream", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--out",
                              str(tmp_path / "r"))  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    skipped = [i for i, line in enumerate(lines) if "unreadable image this epoch" in line]
    row = [i for i, line in enumerate(lines) if line.split()[:1] == ["1"]]
    assert skipped and row and skipped[0] == row[0] + 1, out
