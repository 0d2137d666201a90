"""The training loop's seams: the batch source (its only view of data), the step hooks the
tests install; and what the loop got wrong: a batch with nothing to score, "best" by
another monitor, two evaluation batch sizes, one name for two things."""

import inspect
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import cnnctl  # noqa: E402
from cnnctl.cli import run as run_cli  # noqa: E402
from cnnctl.data import DataSplits, Split, make_shapes  # noqa: E402
from cnnctl.data.masks import UNSCORED  # noqa: E402
from cnnctl.train.batches import Batches, order  # noqa: E402
from cnnctl.train.checkpoint import EVALUATE, load_checkpoint, save_checkpoint  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from tests.test_train import SMALL_NET  # noqa: E402

NET = SMALL_NET
SEGMENTER = "input: 8x8x1\nlayers:\n  - conv f=1 n=2\n"


def shapes(n_train=192, n_val=64):
    x, y = make_shapes(n_train + n_val, 16, 16, 1, seed=0)
    return DataSplits("shapes", Split(x[:n_train], y[:n_train]), Split(x[n_train:], y[n_train:]),
                   [str(i) for i in range(10)], (0.2,), (0.3,), [])  # fmt: skip


def labelled(n: int) -> Split:
    """Images whose label is their index: a batch's labels say which images it holds."""
    return Split(torch.zeros(n, 1, 2, 2, dtype=torch.uint8), torch.arange(n))


# -- the batch source ---------------------------------------------------------------------------------


def test_each_worker_gets_its_share_of_the_same_global_batches():
    source = Batches(labelled(50), (0.0,), (1.0,), torch.device("cpu"), seed=4)
    assert source.images == 50 and source.steps_per_epoch(6, 1) == 8 and source.steps_per_epoch(3, 2) == 8
    one = [y.tolist() for _, y in source.epoch(2, 0, 6, 0, 1)]
    rank0 = [y.tolist() for _, y in source.epoch(2, 0, 3, 0, 2)]
    rank1 = [y.tolist() for _, y in source.epoch(2, 0, 3, 1, 2)]
    assert len(one) == 8 and all(len(b) == 6 for b in one)
    assert [a + b for a, b in zip(rank0, rank1, strict=True)] == one  # 2 workers x 3 images: the steps of 1 x 6
    assert len({i for b in one for i in b}) == 48  # 48 different images; the last 2 wait for other epochs
    assert [y.tolist() for _, y in source.epoch(2, 5, 6, 0, 1)] == one[5:]  # resumed after 5 steps
    assert [y.tolist() for _, y in source.epoch(3, 0, 6, 0, 1)] != one  # each epoch its own order


def test_evaluation_reads_every_image_once_shared_between_workers():
    source = Batches(labelled(10), (0.0,), (1.0,), torch.device("cpu"))
    shares = [[y.tolist() for _, y in source.in_order(2, rank, 3)] for rank in range(3)]
    assert shares == [[[0, 1], [2]], [[3, 4], [5]], [[6, 7], [8, 9]]]  # 10 * r // 3 to 10 * (r + 1) // 3


def test_hooks_see_every_step_and_may_stop_the_run(tmp_path):
    seen = []
    config = TrainConfig(epochs=2, batch_size=32, seed=3, device="cpu", out=str(tmp_path / "r"))
    result = train(cnnctl.load_text(NET), config, network_title="small", dataset=shapes(),
                   hooks=[lambda taken: seen.append(taken) or taken == 8])  # fmt: skip
    assert seen == list(range(1, 9)) and result.status != 0  # 6 steps an epoch: stopped at step 2 of epoch 2
    state = load_checkpoint(result.run_dir)
    assert (state["epoch"], state["step"]) == (1, 2) and "position" not in state


def test_a_checkpoint_that_stored_an_image_position_still_resumes_exactly(tmp_path):
    def run(name, **kw):
        config = TrainConfig(epochs=2, batch_size=32, seed=3, device="cpu", out=str(tmp_path / name))
        return train(cnnctl.load_text(NET), config, network_title="small", dataset=shapes(), **kw)

    whole = run("whole")
    stopped = run("old", stop_after_steps=8)
    state = load_checkpoint(stopped.run_dir)
    state["position"] = state.pop("step") * 32  # as written before batch sources: images of the epoch's order
    save_checkpoint(stopped.run_dir / "last.pt", {k: v for k, v in state.items() if k != "format"})
    resumed = run("old", resume=str(stopped.run_dir))
    a, b = load_checkpoint(whole.run_dir)["model"], load_checkpoint(resumed.run_dir)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- d: a batch with no scored pixel ------------------------------------------------------------------


def masks_of(x: torch.Tensor) -> torch.Tensor:
    return (x[:, 0] > 127).to(torch.uint8)  # class 1 where the pixel is bright


def test_a_training_batch_with_no_scored_pixel_contributes_nothing(tmp_path):
    """Its mean loss over no pixels was 0/0, NaN, which the divergence check read as a
    diverged run."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (24, 1, 8, 8), dtype=torch.uint8, generator=gen)
    y = masks_of(x)
    y[order(24, 5, 0)[:4]] = UNSCORED  # the first batch of the first epoch: nothing to score
    data = DataSplits("masks", Split(x, y), Split(x[:8], masks_of(x[:8])), ["dark", "bright"], (0.5,), (0.3,), [])
    config = TrainConfig(epochs=1, batch_size=4, seed=5, device="cpu", out=str(tmp_path / "r"))
    result = train(cnnctl.load_text(SEGMENTER), config, network_title="seg", dataset=data)
    row = result.history[0]
    assert result.status == 0 and row["train_loss"] == row["train_loss"] and row["val_loss"] == row["val_loss"]


def test_an_evaluation_batch_with_no_scored_pixel_contributes_nothing():
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8, generator=gen)
    y = masks_of(x)
    y[:2] = UNSCORED  # the first batch of 2
    model = torch.nn.Conv2d(1, 2, 1)
    from cnnctl.train.metrics import evaluate_batches

    stats = evaluate_batches(model, Batches(Split(x, y), (0.5,), (0.25,), torch.device("cpu")), 2, batch_size=2)
    with torch.no_grad():  # the mean over every scored pixel of the split at once
        targets = y.long().masked_fill(y == UNSCORED, -100)
        expected = F.cross_entropy(model((x.float() / 255 - 0.5) / 0.25), targets, ignore_index=-100)
    assert stats.seen == 4 * 64 and stats.loss == pytest.approx(float(expected), rel=1e-5)


# -- g: one rule for "best" ---------------------------------------------------------------------------


def test_with_monitor_val_loss_the_report_describes_the_epoch_best_pt_holds(tmp_path, monkeypatch, capsys):
    """Epoch 1 has the best accuracy, epoch 2 the best loss: best.pt is epoch 2, and so must
    be the `done` line and the JSON, not the highest accuracy of any epoch."""
    from cnnctl.train import epoch
    from cnnctl.train.metrics import EpochStats
    from tests.idxfiles import write_idx

    scripted = iter([EpochStats(0.5 * 100, 90, 100), EpochStats(0.3 * 100, 80, 100)])  # loss, accuracy
    monkeypatch.setattr(epoch, "validate", lambda self: next(scripted))
    x, y = make_shapes(64, 28, 28, 1, seed=1)
    write_idx(tmp_path / "digits", "train", x[:, 0], y)
    out = tmp_path / "r"
    code = run_cli(["train", "lenet5", "--data", str(tmp_path / "digits"), "--epochs", "2", "--batch-size", "16",
                    "--monitor", "val_loss", "--device", "cpu", "--out", str(out), "--format", "json"])  # fmt: skip
    assert code == 0 and load_checkpoint(out / "best.pt", EVALUATE)["epoch"] == 2  # its weights: no resume state
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["best_val_accuracy"] == 0.8  # epoch 2's, not epoch 1's 0.9
    assert (report["best_epoch"], report["monitor"]) == (2, "val_loss")
    assert "done: best val_loss 0.3000 at epoch 2 (val accuracy 80.00%)" in captured.err


# -- m: one evaluation batch size; k: one name per thing -----------------------------------------------


def test_validation_and_evaluate_use_one_batch_size(tmp_path, monkeypatch):
    from cnnctl.train.evaluate import evaluate
    from cnnctl.train.metrics import EVAL_BATCH

    assert inspect.signature(evaluate).parameters["batch_size"].default == EVAL_BATCH
    sizes = []
    in_order = Batches.in_order
    monkeypatch.setattr(Batches, "in_order", lambda self, batch, *a: sizes.append(batch) or in_order(self, batch, *a))
    config = TrainConfig(epochs=1, batch_size=32, seed=3, device="cpu", out=str(tmp_path / "r"))
    train(cnnctl.load_text(NET), config, network_title="small", dataset=shapes())
    assert sizes == [EVAL_BATCH]  # the validation of the one epoch


def test_iou_names_the_function_only():
    from cnnctl.train import epoch
    from cnnctl.train.metrics import EpochStats

    assert callable(epoch.iou) and not hasattr(EpochStats(), "iou") and EpochStats().class_iou is None


# -- normalisation statistics as an input --------------------------------------------------------------


def test_a_resumed_run_normalises_with_the_statistics_its_checkpoint_holds(tmp_path):
    # The weights were trained on inputs normalised with the checkpoint's mean and std: a
    # resumed run goes on with those, not with statistics computed again from the data.
    graph = cnnctl.load_text(NET)
    out = tmp_path / "run"
    config = TrainConfig(epochs=1, batch_size=32, device="cpu", out=str(out), data="shapes")
    train(graph, config, network_title="t")
    state = load_checkpoint(out / "last.pt")
    computed = state["mean"]
    state["mean"], state["std"] = [0.25], [0.5]  # as a run trained on other statistics would hold
    save_checkpoint(out / "last.pt", state)
    train(graph, TrainConfig(epochs=2, batch_size=32, device="cpu", out=str(out), data="shapes"), network_title="t",
          resume=str(out))  # fmt: skip
    after = load_checkpoint(out / "last.pt")
    assert computed != [0.25] and (after["mean"], after["std"]) == ([0.25], [0.5])


def test_train_leaves_its_callers_config_as_it_was_and_a_second_ctrl_c_names_the_folder(tmp_path, monkeypatch):
    # loop.train set `config.out` (twice) and the rest of what the run fills in on the caller's
    # object; the command read the default folder back from it to say what a second Ctrl-C left.
    # The run works on a copy, and the Ctrl-C it lets through carries the folder.
    from dataclasses import replace

    monkeypatch.chdir(tmp_path)
    config = TrainConfig(epochs=2, batch_size=32, seed=0, device="cpu")  # no --out: runs/small-STAMP
    before = replace(config)
    result = train(cnnctl.load_text(SMALL_NET), config, network_title="small", dataset=shapes())
    assert result.status == 0 and result.run_dir.parent == Path("runs")
    assert config == before and config.out is None

    def second_ctrl_c(taken: int) -> bool:
        if taken == 8:  # in epoch 2, after epoch 1's checkpoint
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt) as stopped:
        train(cnnctl.load_text(SMALL_NET), config, network_title="other", dataset=shapes(), hooks=[second_ctrl_c])
    folder = stopped.value.run_dir
    assert folder.parent == Path("runs") and folder.name.startswith("other-") and (folder / "last.pt").is_file()
    assert config == before
