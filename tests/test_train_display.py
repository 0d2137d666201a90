"""What `cnnctl train` shows: the bar, the rows, and what a second Ctrl-C leaves behind."""

import io
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
from rich.console import Console  # noqa: E402

from cnnctl.data import DataSplits, Split  # noqa: E402
from cnnctl.render.progress import ROW, TrainDisplay  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402


def display(out: io.StringIO) -> TrainDisplay:
    console = Console(file=out, force_terminal=True, width=160, highlight=False)
    split = Split(torch.zeros(10, 1, 1, 1, dtype=torch.uint8), torch.zeros(10))
    data = DataSplits("d", split, split, ["a", "b"], (0.5,), (0.5,), [], val_from="x")
    return TrainDisplay(console, TrainConfig(epochs=3), torch.device("cpu"), data, "runs/x", resumed=False)


def test_the_bar_shows_accuracy_in_percent_as_the_rows_do():
    out = io.StringIO()
    shown = display(out)
    shown.start_epoch(0, 10, 0)
    shown.step(5, SimpleNamespace(loss=0.5, accuracy=0.875), 32)
    shown.progress.refresh()
    text = out.getvalue()
    assert "acc 87.50%" in text and "acc 0.875" not in text
    shown.abandon()
    assert shown.progress is None


def test_every_column_of_the_rows_has_a_label_ending_where_its_values_end():
    import re

    header = ROW.format(epoch="epoch", train_loss="train loss", train_acc="train acc", val_loss="val loss",
                        val_acc="val acc", lr="lr", secs="time")  # fmt: skip
    row = ROW.format(epoch=1, train_loss="0.1", train_acc="1%", val_loss="0.2", val_acc="2%", lr="0.001", secs="0.5s")
    labels = [m.end() for m in re.finditer(r"\S+(?: \S+)?", header)]
    values = [m.end() for m in re.finditer(r"\S+", row)]
    assert len(labels) == len(values) == 7 and labels == values


def test_a_dense_runs_rows_have_a_pixel_accuracy_and_an_miou_column_under_their_labels():
    # The row once ended `mIoU 94.72%` under no label, its pixel accuracy under `val acc`.
    import re

    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)  # no terminal: no bar, the rows alone
    from cnnctl.data import DataSplits, Split

    split = Split(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.zeros(10, 4, 4))  # a mask per image: dense
    data = DataSplits("d", split, split, ["a", "b"], (0.5,), (0.5,), [], val_from="x")
    shown = TrainDisplay(console, TrainConfig(epochs=1), torch.device("cpu"), data, "runs/x", resumed=False)
    shown.start_epoch(0, 1, 0)
    row = {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.9, "val_loss": 0.25, "val_accuracy": 0.98,
           "val_miou": 0.9472, "lr": 0.001, "seconds": 1.5}  # fmt: skip
    shown.end_epoch(row, improved=False)
    header, values = out.getvalue().splitlines()[-2:]
    labels = [m.group() for m in re.finditer(r"\S+(?: \S+)*", header)]
    assert labels == ["epoch", "train loss", "train acc", "val loss", "val pixel acc", "mIoU", "lr", "time"]
    ends = [m.end() for m in re.finditer(r"\S+(?: \S+)*", header)]
    assert ends == [m.end() for m in re.finditer(r"\S+", values)]  # each value ends where its label ends
    assert values.split()[4:6] == ["98.00%", "94.72%"]


def test_an_error_in_the_loop_takes_the_bar_down(tmp_path, monkeypatch):
    """A second Ctrl-C (a KeyboardInterrupt out of the loop) must not leave the live bar
    behind, to be drawn again under the messages that follow."""
    import cnnctl
    from cnnctl.data import DataSplits, Split
    from cnnctl.train import loop

    stopped = []
    monkeypatch.setattr(TrainDisplay, "abandon", lambda self: stopped.append(True))

    def interrupt(self, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train_epoch", interrupt)
    x = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    data = DataSplits(
        "t", Split(x, torch.arange(64) % 2), Split(x[:8], torch.arange(8) % 2), ["a", "b"], (0.5,), (0.3,)
    )
    graph = cnnctl.load_text("input: 8x8x1\nlayers:\n  - fc 2\n")
    with pytest.raises(KeyboardInterrupt):
        loop.train(graph, TrainConfig(epochs=1, batch_size=8, device="cpu", out=str(tmp_path / "r")), network_title="t",
                   dataset=data)  # fmt: skip
    assert stopped == [True]


def test_a_second_ctrl_c_still_prints_the_resume_line_when_a_checkpoint_exists(tmp_path, monkeypatch, capsys):
    from cnnctl import cli
    from cnnctl.train import loop

    def stopped_hard(graph, config, **kwargs):
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "last.pt").write_bytes(b"saved at epoch 3")
        raise KeyboardInterrupt  # the second Ctrl-C, after the epoch-3 checkpoint

    monkeypatch.setattr(loop, "train", stopped_hard)
    assert cli.run(["train", "lenet5", "--out", str(tmp_path / "r")]) == 130
    err = capsys.readouterr().err
    assert "stopped at once: nothing more was saved" in err
    assert f"resume with: cnnctl train lenet5 --resume {tmp_path / 'r'}" in err


def test_a_network_s_name_is_shown_as_written_never_as_markup_or_an_escape_code(tmp_path, capsys):
    # `[bold]` stays text; the ESC of `\e[31m` reached the terminal as it was (red text from a file)
    from PIL import Image

    from cnnctl.cli import run as run_cli

    for i in range(16):
        (tmp_path / "imgs" / f"class{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (16 * i, 0, 0)).save(tmp_path / "imgs" / f"class{i % 2}" / f"{i}.png")
    net = tmp_path / "net.yaml"  # 5 outputs for 2 classes: the head is made anew, and the line names the network
    net.write_text('name: "[bold]n\\e[31mt"\ninput: 8x8x3\nlayers:\n  - conv f=3 n=4 p=1\n  - pool avg global\n'
                   "  - fc 5\n")  # fmt: skip
    args = ["--data", str(tmp_path / "imgs"), "--epochs", "1", "--batch-size", "4", "--device", "cpu"]
    assert run_cli(["train", str(net), *args, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "head: `fc1` made for the data's 2 classes ([bold]n\\x1b[31mt has 5 outputs;" in out, out


def test_the_listing_line_says_what_is_being_done_over_what_it_said_before():
    from cnnctl.render.progress import ListingLine

    line, out = ListingLine(), io.StringIO()
    out.isatty = lambda: True  # a terminal
    line.out = out
    line.shown = 0.0  # long ago: drawn at once
    line(120_000)
    line.shown = 0.0
    line(4096, "of 40,000 images' sizes and times read", "checking the run's list of images")
    assert out.getvalue() == (
        "\r\x1b[Klisting the data: 120,000 images listed"
        "\r\x1b[Kchecking the run's list of images: 4,096 of 40,000 images' sizes and times read"
    )


def test_no_color_draws_no_bar_and_no_cursor_code_only_the_rows(monkeypatch):
    """NO_COLOR: no escape codes at all, progress included (the README's word): the bar's cursor
    codes (hide, erase the line, up a line) are escape codes too, so no bar is drawn, as on
    TERM=dumb; the rows are printed as ever."""
    from cnnctl.terminal import draws_bars

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert draws_bars(Console(file=io.StringIO(), force_terminal=True))  # a terminal: the bar, as before
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    split = Split(torch.zeros(10, 1, 1, 1, dtype=torch.uint8), torch.zeros(10))
    data = DataSplits("d", split, split, ["a", "b"], (0.5,), (0.5,), [], val_from="x")
    console = Console(file=out, force_terminal=True, width=160, color_system=None)  # as stderr_console makes it
    shown = TrainDisplay(console, TrainConfig(epochs=3), torch.device("cpu"), data, "runs/x", resumed=False)
    shown.start_epoch(0, 10, 0)
    shown.step(5, SimpleNamespace(loss=0.5, accuracy=0.875), 32)
    assert shown.progress is None
    shown.line("a row")
    assert "\x1b" not in out.getvalue() and "a row" in out.getvalue()


def test_the_readme_names_every_setting_a_resume_may_change():
    import re
    from pathlib import Path

    from cnnctl.train.settings import BY_NAME, RESUMABLE

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    listed = re.search(r"and may change only (.*?): the rest would not replay", readme).group(1)
    assert set(re.findall(r"`(--[a-z-]+)`", listed)) == {BY_NAME[name].option for name in RESUMABLE}


def test_the_listing_line_draws_nothing_under_no_color_or_a_dumb_terminal(monkeypatch):
    # its carriage return and erase-the-line code are escape codes too (NO_COLOR: none at all)
    from cnnctl.render.progress import ListingLine

    for name, value in [("NO_COLOR", "1"), ("TERM", "dumb")]:
        monkeypatch.delenv("NO_COLOR", raising=False)
        monkeypatch.setenv("TERM", "xterm")
        monkeypatch.setenv(name, value)
        line, out = ListingLine(), io.StringIO()
        out.isatty = lambda: True
        line.out, line.shown = out, 0.0
        line(120_000)
        assert out.getvalue() == ""


# -- a plain progress line where no bar is drawn (--log-interval) ---------------------------------


def test_a_log_gets_a_progress_line_every_log_interval_with_the_epoch_step_rate_loss_and_eta(tmp_path):
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    net = tmp_path / "tiny.yaml"
    net.write_text("input: 16x16x1\nlayers:\n  - conv f=3 p=same n=4 act=relu\n  - pool max f=2\n  - fc 10\n")
    env = {**os.environ, "PYTHONPATH": str(root)}
    with (tmp_path / "out").open("w") as out, (tmp_path / "err").open("w") as err:  # a log: no terminal
        done = subprocess.run([sys.executable, "-m", "cnnctl", "train", str(net), "--epochs", "1", "--log-interval",
                               "20steps", "--threads", "1", "--out", str(tmp_path / "r")], stdout=out, stderr=err,
                              env=env, cwd=tmp_path, timeout=300)  # fmt: skip
    text = (tmp_path / "out").read_text()
    assert done.returncode == 0, text + (tmp_path / "err").read_text()
    lines = [line for line in text.splitlines() if line.startswith("epoch 1/1  step")]
    # shapes: 6,000 training images at batch 64, 93 whole steps; a line after steps 20, 40, 60, 80
    assert [re.search(r"step (\d+)/93 ", line)[1] for line in lines] == ["20", "40", "60", "80"], text
    for line in lines:
        assert re.fullmatch(r"epoch 1/1  step \d+/93  [\d,]+ img/s  loss \d\.\d{4}  acc [\d.]+%  ETA \d:\d\d:\d\d",
                            line), line  # fmt: skip
    assert text.index(lines[-1]) < text.index("\n    1 ")  # before the epoch's row


def test_by_default_a_progress_line_comes_every_30_seconds_so_a_short_epoch_gets_none(monkeypatch):
    from cnnctl import every

    clock = [100.0]
    monkeypatch.setattr(every.time, "perf_counter", lambda: clock[0])
    out = io.StringIO()
    split = Split(torch.zeros(10, 1, 1, 1, dtype=torch.uint8), torch.zeros(10))
    data = DataSplits("d", split, split, ["a", "b"], (0.5,), (0.5,), [], val_from="x")
    console = Console(file=out, force_terminal=False, width=160)  # a log file
    shown = TrainDisplay(console, TrainConfig(epochs=3), torch.device("cpu"), data, "runs/x", resumed=False)
    assert shown.every.seconds == 30 and shown.every.steps is None
    shown.start_epoch(0, 10, 0)
    stats = SimpleNamespace(loss=0.5, accuracy=0.875)
    for step, at in ((1, 110.0), (2, 129.9), (3, 130.0), (4, 150.0), (5, 160.0)):
        clock[0] = at
        shown.step(step, stats, 32)
    said = [line for line in out.getvalue().splitlines() if line.startswith("epoch 1/3")]
    assert [line.split("  ")[1] for line in said] == ["step 3/10", "step 5/10"]  # at 30 s, then 30 s after it


def test_an_interval_is_steps_or_a_time_in_one_form():
    from cnnctl.every import Every, every_text
    from cnnctl.layers.args import ArgValueError

    assert [every_text(t) for t in ("500", "500 steps", "1step", "30s", "10 min", "1h")] == [
        "500steps", "500steps", "1steps", "30s", "10min", "1h"]  # fmt: skip
    assert (Every("10min").seconds, Every("2h").seconds, Every("7steps").steps) == (600, 7200, 7)
    for bad in ("0", "10 minutes", "1.5h", "-3", "often"):
        with pytest.raises(ArgValueError, match="500steps, 30s, 10min, 1h"):
            every_text(bad)


# -- a narrow terminal, the first refresh, and a log's table kept whole ------------------------------


def bar_at(width: int, steps: int = 938) -> tuple[TrainDisplay, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, highlight=False, color_system="standard")
    split = Split(torch.zeros(10, 1, 1, 1, dtype=torch.uint8), torch.zeros(10))
    data = DataSplits("d", split, split, ["a", "b"], (0.5,), (0.5,), [], val_from="x")
    shown = TrainDisplay(console, TrainConfig(epochs=1), torch.device("cpu"), data, "runs/x", resumed=False)
    shown.start_epoch(0, steps, 0)
    return shown, out


def last_bar(out: io.StringIO) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).replace("\r", "\n").splitlines()[-1]


def test_before_any_step_the_bar_shows_dashes_not_zeros():
    shown, out = bar_at(160)
    shown.progress.refresh()
    line = last_bar(out)
    assert "loss -  acc -  - img/s" in line and "loss 0" not in line  # was `loss 0  acc 0.00%  0 img/s`
    shown.step(5, SimpleNamespace(loss=0.5, accuracy=0.875), 32)
    shown.progress.refresh()
    assert "loss 0.5000  acc 87.50%" in last_bar(out)
    shown.abandon()


@pytest.mark.parametrize("width", [50, 60, 70, 80])
def test_on_a_narrow_terminal_the_bar_keeps_its_cells_and_the_time_left_whole(width):
    # at 60 columns the time left was cut to `0:…` and the bar drawn in 2 or 3 cells
    import re

    from cnnctl.render.progress import BAR_LEAST

    shown, out = bar_at(width)
    shown.step(470, SimpleNamespace(loss=0.5, accuracy=0.875), 32)
    shown.progress.refresh()
    line = last_bar(out)
    assert len(line) <= width and "…" not in line
    assert re.search(r"(-:--:--|\d+:\d\d:\d\d)$", line), line
    bar = line[len("epoch 1/1") : line.index("470/938")]
    assert len(bar) - 2 >= BAR_LEAST, line  # its cells, between a space on either side
    shown.abandon()


def test_in_a_log_the_first_epochs_progress_lines_come_before_the_tables_header():
    # with --log-interval 40steps the lines sat between the header and the first row
    out = io.StringIO()
    split = Split(torch.zeros(10, 1, 1, 1, dtype=torch.uint8), torch.zeros(10))
    data = DataSplits("d", split, split, ["a", "b"], (0.5,), (0.5,), [], val_from="x")
    console = Console(file=out, force_terminal=False, width=160)  # a log file
    config = TrainConfig(epochs=2, log_interval="2steps")
    shown = TrainDisplay(console, config, torch.device("cpu"), data, "runs/x", resumed=False)
    stats = SimpleNamespace(loss=0.5, accuracy=0.875)
    row = {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.875, "val_loss": 0.6, "val_accuracy": 0.8, "lr": 1e-3,
           "seconds": 1.0}  # fmt: skip
    for epoch in range(2):
        shown.start_epoch(epoch, 5, 0)
        for step in range(1, 6):
            shown.step(step, stats, 32)
        shown.end_epoch({**row, "epoch": epoch + 1}, improved=False)
    lines = out.getvalue().splitlines()[1:]  # after the set-up line
    header = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("epoch  train loss"))
    assert [ln.split("  ")[:2] for ln in lines[:header]] == [["epoch 1/2", "step 2/5"], ["epoch 1/2", "step 4/5"]]
    assert lines[header + 1].split()[0] == "1"  # the header and the first row together
    assert sum(ln.lstrip().startswith("epoch  train loss") for ln in lines) == 1
