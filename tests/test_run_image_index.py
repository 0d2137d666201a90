"""A run on an image folder keeps its list of images (data-index.pt), held in memory as streamed:
its validation split is held out of that list, so `evaluate RUN` and `train --resume` see the
images the run saw, whatever was added to the folder since; images gone since are one message."""

import json

import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from cnnctl.cli import run as run_cli  # noqa: E402
from cnnctl.data.streamed import INDEX  # noqa: E402
from cnnctl.errors import CnnctlError  # noqa: E402

NET = """name: tiny
input: 8x8x3
layers:
  - conv f=3 n=4 p=1
  - relu
  - pool avg global
  - fc 2
"""


def folder_of(root, first, count):
    """Images `first` .. `first + count - 1`, even ones in class0, odd ones in class1, each its own colour."""
    for i in range(first, first + count):
        (root / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i, 255 - i, 7 * i % 256)).save(root / f"class{i % 2}" / f"{i:03d}.png")
    return root


@pytest.fixture
def trained(tmp_path, capsys):
    """A run held in memory on 40 images (4 held out), one epoch."""
    folder = folder_of(tmp_path / "imgs", 0, 40)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    args = ["--data", str(folder), "--no-stream", "--epochs", "1", "--batch-size", "8", "--device", "cpu"]
    code = run_cli(["train", str(net), *args, "--out", str(run)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "held in memory (--no-stream)" in out.out and "36 train, 4 val" in out.out
    return folder, run


def evaluated(run, capsys) -> dict:
    code = run_cli(["evaluate", str(run), "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_a_run_held_in_memory_keeps_its_list_of_images(trained):
    _, run = trained
    assert (run / INDEX).is_file()


def test_evaluate_scores_the_run_s_own_validation_split_after_images_were_added(trained, capsys):
    folder, run = trained
    before = evaluated(run, capsys)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert before["examples"] == 4 and before["accuracy"] == pytest.approx(history[-1]["val_accuracy"])
    folder_of(folder, 40, 9)  # 49 images listed anew would hold out 5 others
    assert evaluated(run, capsys) == before


def test_resume_trains_on_the_images_the_run_listed(trained, capsys):
    folder, run = trained
    folder_of(folder, 40, 9)
    code = run_cli(["train", "--resume", str(run), "--epochs", "2", "--device", "cpu"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "36 train, 4 val" in out.out and "images added to the folder since are not used" in out.out


def test_images_gone_since_the_run_listed_them_are_one_message(trained, capsys):
    folder, run = trained
    for i in (3, 5):
        (folder / "class1" / f"{i:03d}.png").unlink()
    with pytest.raises(CnnctlError) as caught:
        run_cli(["evaluate", str(run)])
    (problem,) = caught.value.problems
    assert problem.message == (
        f"2 images of the 40 the run listed ({run / INDEX}) are gone from {folder} since: "
        "class1/003.png, class1/005.png"
    )
    assert problem.hint.startswith("put them back: the run trains and validates on the images it listed")
    with pytest.raises(CnnctlError) as caught:
        run_cli(["train", "--resume", str(run), "--epochs", "2", "--device", "cpu"])
    assert caught.value.problems[0].message == problem.message


def changed_in_place(folder, names):
    """Each image drawn anew in another colour, its modification time a second later: the same name, other pixels."""
    import os

    for name in names:
        path = folder / name
        before = path.stat().st_mtime_ns
        Image.new("RGB", (8, 8), (1, 2, 3)).save(path)
        os.utime(path, ns=(before + 10**9, before + 10**9))


@pytest.mark.parametrize("held", ["--no-stream", "--stream"])
def test_images_changed_in_place_since_the_run_listed_them_are_said_once_by_resume_and_evaluate(held, tmp_path,
                                                                                                 capsys):  # fmt: skip
    # the index kept names only: an image drawn over since was read as if it were the one listed, unsaid
    folder = folder_of(tmp_path / "imgs", 0, 20)
    net = tmp_path / "tiny.yaml"
    net.write_text(NET)
    run = tmp_path / "run"
    args = ["--data", str(folder), held, "--workers", "0", "--epochs", "1", "--batch-size", "8", "--device", "cpu"]
    assert run_cli(["train", str(net), *args, "--out", str(run)]) == 0
    capsys.readouterr()
    changed_in_place(folder, ["class1/005.png", "class0/004.png", "class1/011.png"])
    said = "3 images changed since the run listed them (another size or modification time): class0/004.png, ..."
    assert run_cli(["train", "--resume", str(run), "--epochs", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"data: {said}; each read as it is now" in out.splitlines(), out
    assert out.count("changed since") == 1
    assert run_cli(["evaluate", str(run)]) == 0
    assert f"; {said}, weights" in capsys.readouterr().out
    changed_in_place(folder, ["class0/004.png"])  # changed again: still one of three, not said twice
    assert run_cli(["evaluate", str(run), "--format", "json"]) == 0
    assert said in json.loads(capsys.readouterr().out)["data_words"]


def test_a_list_kept_without_sizes_and_times_is_read_back_as_it_was(trained, capsys):
    # an index an older cnnctl kept (version 1, names only): used, its images not checked
    folder, run = trained
    record = torch.load(run / INDEX, weights_only=True)
    assert record["version"] == 2 and set(record["stamps"]) == {"train"}
    sizes = [(folder / f"class{i % 2}" / f"{i:03d}.png").stat().st_size for i in range(40)]
    listed = sorted(range(40), key=lambda i: (i % 2, i))  # class0's files, then class1's
    assert record["stamps"]["train"][:, 0].tolist() == [sizes[i] for i in listed]
    del record["stamps"]
    torch.save(dict(record, version=1), run / INDEX)
    before = evaluated(run, capsys)
    changed_in_place(folder, ["class1/003.png"])
    folder_of(folder, 40, 9)
    assert run_cli(["train", "--resume", str(run), "--epochs", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "36 train, 4 val" in out and "the list of images read back from" in out and "changed since" not in out
    assert evaluated(run, capsys)["examples"] == before["examples"] == 4


def test_the_launcher_lists_a_new_run_s_folder_once_and_a_resumed_one_s_not_at_all(trained, capsys, monkeypatch):
    # on --resume the launcher of several workers listed the folder anew (a stat per image), then dropped the list
    import cnnctl.data.streamed as streamed
    import cnnctl.train.launch as launcher

    folder, run = trained
    listed, started = [], []
    real = streamed.listing
    monkeypatch.setattr(streamed, "listing", lambda *args, **kw: listed.append(args[0]) or real(*args, **kw))
    monkeypatch.setattr(launcher, "launch", lambda options, args, *told: started.append(args) or 0)  # no torchrun
    two = ["--nproc-per-node", "2", "--device", "cpu"]
    assert run_cli(["train", "--resume", str(run), "--epochs", "2", *two]) == 0
    assert len(started) == 1 and listed == []  # its workers read the run's list back
    new = folder.parent / "new"
    args = ["--data", str(folder), "--epochs", "1", "--batch-size", "8", "--out", str(new)]
    assert run_cli(["train", str(folder.parent / "tiny.yaml"), *args, *two]) == 0
    assert len(started) == 2 and listed == [str(folder)] and (new / INDEX).is_file()


def test_a_list_read_back_is_told_as_checked_not_as_listed_while_it_lasts(trained):
    # the progress line said `listing the data:` while the run's list was read back and nothing was listed
    from cnnctl.data.streamed import listing

    folder, run = trained
    told = []
    found = listing(str(folder), run / INDEX, lambda count, what="images listed", *doing: told.append(doing))
    assert found.kept == str(run / INDEX) and told and set(told) == {("checking the run's list of images",)}
    told.clear()
    listing(str(folder), None, lambda count, what="images listed", *doing: told.append(doing))
    assert told and set(told) == {()}  # listed: the line's own words, `listing the data`
