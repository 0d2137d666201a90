"""What a run writes beside its checkpoints (results.csv, status.json, curves.png, TensorBoard's
events) and the commands that read run folders back: `cnnctl plot` and `cnnctl runs`."""

import csv
import io
import json
import math
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import cnnctl  # noqa: E402
from cnnctl import CnnctlError  # noqa: E402
from cnnctl.errors import INTERRUPTED  # noqa: E402
from cnnctl.run_folders import list_runs, read_history  # noqa: E402
from cnnctl.train.config import TrainConfig  # noqa: E402
from cnnctl.train.loop import train  # noqa: E402
from cnnctl.train.runlog import results_csv, tensorboard_tag  # noqa: E402
from tests.test_train import SMALL_NET, small_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEPS_PER_EPOCH = 384 // 32  # small_data's 384 training images in batches of 32


def run(folder: Path, *, stop: int | None = None, resume: bool = False, console=None, **settings):
    config = TrainConfig(epochs=2, batch_size=32, seed=3, device="cpu", out=str(folder), **settings)
    return train(
        cnnctl.load_text(SMALL_NET), config, network_title="small", dataset=small_data(), stop_after_steps=stop,
        resume=str(folder) if resume else None, console=console,
    )  # fmt: skip


def jsonl_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def csv_rows(folder: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((folder / "results.csv").read_text())))


def same_rows(folder: Path) -> None:
    """results.csv holds metrics.jsonl's rows: the same columns in the same order, the same numbers."""
    from_json, from_csv = jsonl_rows(folder), csv_rows(folder)
    assert len(from_csv) == len(from_json)
    for a, b in zip(from_json, from_csv, strict=True):
        assert list(a) == list(b)
        assert {k: float(v) for k, v in a.items()} == {k: float(v) for k, v in b.items()}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return struct.unpack(">II", data[16:24])


def status(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


def cli(*args: str, cwd: Path = ROOT, code: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "cnnctl", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("logs") / "finished"
    assert run(folder).status == 0
    return folder


def test_results_csv_has_the_rows_of_metrics_jsonl(finished):
    same_rows(finished)
    assert [r["epoch"] for r in csv_rows(finished)] == ["1", "2"]
    assert next(csv.reader(io.StringIO((finished / "results.csv").read_text()))) == [
        "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds",
    ]  # fmt: skip
    assert status(finished)["status"] == "finished" and status(finished)["epochs_done"] == 2
    assert not list(finished.glob(".*.tmp"))


def test_results_csv_takes_every_metric_a_row_has():
    rows = [{"epoch": 1, "val_loss": 0.5}, {"epoch": 2, "val_loss": math.nan, "val_miou": 0.25}]
    text = results_csv(rows)
    assert text == "epoch,val_loss,val_miou\n1,0.5,\n2,,0.25\n"  # NaN (null in JSON) is an empty field
    assert results_csv([]) == "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds\n"


def test_curves_png_is_drawn_when_the_run_ends(finished):
    width, height = png_size(finished / "curves.png")
    assert 800 <= width <= 2000 and 300 <= height <= 1000, (width, height)  # two panels side by side
    assert (finished / "curves.png").stat().st_size > 10_000  # lines and text, not an empty canvas


def test_a_stopped_then_resumed_run_keeps_results_csv_equal_to_its_checkpoint(tmp_path):
    folder = tmp_path / "stopped"
    stopped = run(folder, stop=STEPS_PER_EPOCH + 5)  # in the middle of epoch 2
    assert stopped.status == INTERRUPTED
    same_rows(folder)
    assert len(csv_rows(folder)) == 1
    assert status(folder)["status"] == "stopped"
    png_size(folder / "curves.png")  # drawn for the epoch so far
    (folder / ".results.csv.tmp").write_text("half a file")  # what a run killed while writing leaves
    resumed = run(folder, resume=True)
    assert resumed.status == 0
    same_rows(folder)
    assert [r["epoch"] for r in jsonl_rows(folder)] == [1, 2]
    assert status(folder)["status"] == "finished"
    assert not (folder / ".results.csv.tmp").exists()


def test_a_diverged_run_says_so_in_its_status(tmp_path):
    folder = tmp_path / "diverged"
    with pytest.raises(CnnctlError, match="training diverged"):
        run(folder, optimizer="sgd", lr=1e9)
    assert status(folder)["status"] == "diverged"
    (info,) = list_runs(str(tmp_path))
    assert info.status == "diverged"


def hide_matplotlib(monkeypatch) -> None:
    """As if matplotlib were not installed: importing it fails (None in sys.modules)."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_without_matplotlib_training_ends_well_and_says_how_to_get_curves(tmp_path, monkeypatch):
    from rich.console import Console

    hide_matplotlib(monkeypatch)
    said = io.StringIO()
    result = run(tmp_path / "plain", console=Console(file=said, width=300))
    assert result.status == 0
    assert not (tmp_path / "plain" / "curves.png").exists() and (tmp_path / "plain" / "results.csv").is_file()
    (line,) = [ln for ln in said.getvalue().splitlines() if "curves.png" in ln]
    assert "not drawn: matplotlib is not installed" in line and 'pip install -e ".[plot]"' in line, line
    assert "pip install matplotlib" in line


def test_curves_of_a_run_named_in_chinese_warn_once_as_plot_does(tmp_path, monkeypatch):
    # curves.png was drawn in DejaVu Sans alone: 实, 验 as boxes, and matplotlib's own
    # "Glyph 23454 missing from font(s)" warnings printed, a pair of lines per character
    pytest.importorskip("matplotlib", reason="curves.png is drawn with matplotlib (the plot extra)")
    import warnings

    from cnnctl.render import glyphs
    from cnnctl.train.runlog import RunLog

    monkeypatch.setattr(glyphs, "fallbacks", lambda text, first="": [])  # no installed font has them
    folder = tmp_path / "实验"
    folder.mkdir()
    config = TrainConfig(epochs=2, batch_size=32, seed=3, device="cpu", out=str(folder))
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_accuracy": 0.5 + e / 100} for e in (1, 2)]
    said: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with RunLog(folder, config, [], say=said.append, network="small") as log:
            log.epoch(history)
            log.end("finished", history)
    png_size(folder / "curves.png")
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    (warned,) = [line for line in said if "warning:" in line]
    assert warned.startswith("warning: no font installed here has 实 (U+5B9E), 验 (U+9A8C)"), warned
    assert f"`{folder / 'curves.png'}`" in warned and "fonts-noto-cjk" in warned


def test_plot_without_matplotlib_is_an_error_with_the_install_hint(finished, tmp_path):
    hidden = "import sys; sys.modules['matplotlib'] = None; from cnnctl.cli import main; main(sys.argv[1:])"
    done = cli("plot", str(finished), "-o", str(tmp_path / "c.png"), code=hidden)
    assert done.returncode == 2, done.stderr
    assert "matplotlib is not installed" in done.stderr and "pip install matplotlib" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "c.png").exists()


def test_plot_draws_two_runs_on_the_same_axes(finished, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    rows = [{"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.5 / e, "train_accuracy": 0.2 * e,
             "val_accuracy": 0.15 * e, "lr": 0.001, "seconds": 1.0} for e in (1, 2, 3)]  # fmt: skip
    (other / "results.csv").write_text(results_csv(rows))  # results.csv alone does too
    done = cli("plot", str(finished), str(other), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    drawn = json.loads(done.stdout)
    assert drawn["file"] == "curves.png" and drawn["metric"] == "both"  # several runs: ./curves.png
    assert [r["name"] for r in drawn["runs"]] == ["finished", "other"]
    assert [r["run_dir"] for r in drawn["runs"]] == [str(finished), str(other)]  # train's key for a run folder
    assert [len(r["epoch"]) for r in drawn["runs"]] == [2, 3]
    assert drawn["runs"][1]["val_loss"] == [2.5, 1.25, 2.5 / 3]
    assert drawn["runs"][0]["val_accuracy"] == [r["val_accuracy"] for r in jsonl_rows(finished)]
    assert png_size(tmp_path / "curves.png")[0] > 800
    (tmp_path / "curves.png").unlink()
    table = cli("plot", str(other), "--metric", "loss", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "drawn in curves.png" in table.stdout  # one run too: here, not into the run's folder
    assert not (other / "curves.png").exists()
    width, _ = png_size(tmp_path / "curves.png")
    assert width < 800  # one panel
    before = (tmp_path / "curves.png").read_bytes()
    again = cli("plot", str(finished), cwd=tmp_path)  # a file the user did not name is never replaced
    assert again.returncode == 2 and "`curves.png` already exists" in again.stderr and "-o curves.png" in again.stderr
    assert (tmp_path / "curves.png").read_bytes() == before
    named = cli("plot", str(finished), "-o", "curves.png", cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    assert png_size(tmp_path / "curves.png")[0] > 800  # named: replaced, by the two-panel picture
    redrawn = cli("plot", str(finished), cwd=tmp_path)  # plot's own picture of the same run: drawn again over it
    assert redrawn.returncode == 0 and "drawn in curves.png" in redrawn.stdout, redrawn.stderr
    other_runs = cli("plot", str(finished), str(other), cwd=tmp_path)  # of other runs: still refused
    assert other_runs.returncode == 2 and "`curves.png` already exists" in other_runs.stderr


def test_plot_of_a_run_with_no_finished_epoch_says_so(tmp_path):
    empty = tmp_path / "fresh"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    (empty / "metrics.jsonl").write_text("")
    done = cli("plot", str(empty))
    assert done.returncode == 2 and "no finished epoch yet" in done.stderr and "Traceback" not in done.stderr
    missing = cli("plot", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such run folder" in missing.stderr


def fake_run(folder: Path, rows: int, planned: int, said: str | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"epochs": planned, "data": "shapes"}))
    (folder / "architecture.json").write_text(json.dumps({"name": "lenet5"}))
    (folder / "metrics.jsonl").write_text(
        # an accuracy is a share (runs refuses one above 1): 1 from epoch 50 on
        "".join(json.dumps({"epoch": e, "val_accuracy": 0.5 + min(e, 50) / 100}) + "\n" for e in range(1, rows + 1))
    )
    if said:
        (folder / "status.json").write_text(json.dumps({"status": said, "epochs": planned}))
    (folder / "last.pt").write_bytes(b"")
    return folder


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
time.sleep(60)
"""


def test_runs_lists_each_run_with_its_status(finished, tmp_path):
    stopped = tmp_path / "stopped"
    assert run(stopped, stop=5).status == INTERRUPTED  # started now: the newest
    live = fake_run(tmp_path / "live", 1, 5, "running")
    fake_run(tmp_path / "dead", 3, 5, "running")  # said running, holds no lock: killed
    fake_run(tmp_path / "old", 4, 4, None)  # from before status.json: all its epochs are there
    for name in ("live", "dead", "old"):  # runs from before `started` was recorded: config.json's time
        os.utime(tmp_path / name / "config.json", (time.time() - 100, time.time() - 100))
    (tmp_path / "not-a-run").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(live / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        runs = {r.name: r for r in list_runs(str(tmp_path))}
        done = cli("runs", str(tmp_path), "--format", "json")
    finally:
        holder.kill()
        holder.wait()
    assert set(runs) == {"stopped", "live", "dead", "old"}
    assert [r["name"] for r in json.loads(done.stdout)["runs"]][0] == "stopped"  # the newest first
    for listed in json.loads(done.stdout)["runs"]:  # RFC 3339, as status.json's: `+00:00`, never `+0000`
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", listed["updated"])
    assert {name: r.status for name, r in runs.items()} == {
        "stopped": "stopped", "live": "running", "dead": "killed", "old": "finished",
    }  # fmt: skip
    assert (runs["stopped"].epochs_done, runs["stopped"].epochs) == (0, 2) and runs["stopped"].last_pt
    assert (runs["dead"].epochs_done, runs["dead"].best_val_accuracy) == (3, 0.53)
    assert {r.name: r.status for r in list_runs(str(tmp_path))}["live"] == "killed"  # its process is gone
    (info,) = list_runs(str(finished))  # a run folder itself
    assert (info.status, info.epochs_done, info.epochs, info.network) == ("finished", 2, 2, "small")
    assert info.best_pt == str(finished / "best.pt") and info.best_epoch == read_history(str(finished)).best()[1]


def test_runs_are_listed_by_when_they_started_which_nothing_done_to_them_later_changes(tmp_path):
    # They were listed by their newest file: a refused command or `plot` that wrote into a
    # run moved it to the top. Each run records when it started, in its config.json.
    older, newer = fake_run(tmp_path / "older", 2, 2, "finished"), fake_run(tmp_path / "newer", 1, 2, "finished")
    # the older as runs wrote it before (`+0000`), the newer in RFC 3339 (`-02:00`), as they write it now
    for folder, started in ((older, "2026-01-01T10:00:00+0000"), (newer, "2026-01-01T09:00:00-02:00")):  # 11:00 UTC
        (folder / "config.json").write_text(json.dumps({"epochs": 2, "data": "shapes", "started": started}))
    before = fake_run(tmp_path / "before", 1, 2, "finished")  # from before `started`: its config.json's time
    os.utime(before / "config.json", (1_000_000_000, 1_000_000_000))  # 2001
    later = time.time() + 60
    for path in (older, *older.iterdir()):  # as if something wrote into the older run just now
        os.utime(path, (later, later))
    assert [r.name for r in list_runs(str(tmp_path))] == ["newer", "older", "before"]
    assert list_runs(str(tmp_path))[1].updated == later  # what it shows as its last write is still its files'


def test_a_run_records_when_it_started(finished):
    from datetime import datetime

    said = json.loads((finished / "config.json").read_text())["started"]
    started = datetime.strptime(said, "%Y-%m-%dT%H:%M:%S%z")
    assert abs(started.timestamp() - (finished / "config.json").stat().st_mtime) < 5
    # RFC 3339, as jq's fromdateiso8601 reads it: the offset with its colon (`+00:00`), not `+0000`
    for when in (said, status(finished)["updated"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", when), when


@pytest.mark.parametrize(("zone", "said"), [("UTC", "1970-01-01T00:00:00+00:00"),
                                            ("Asia/Kolkata", "1970-01-01T05:30:00+05:30")])  # fmt: skip
def test_times_are_written_in_rfc_3339_local_time(monkeypatch, zone, said):
    from cnnctl.run_folders import stamp

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert stamp(0) == said  # the epoch, in the zone's local time with its offset
    finally:
        monkeypatch.undo()
        time.tzset()


def test_runs_table_from_the_command_line(finished, tmp_path):
    fake_run(tmp_path / "big", 1_234, 2_000, "stopped")
    table = cli("runs", str(tmp_path))
    assert table.returncode == 0, table.stderr
    line = next(ln for ln in table.stdout.splitlines() if ln.startswith("big"))
    assert "1,234/2,000" in line and "stopped" in line and "last.pt" in line and "lenet5" in line
    rows = list(csv.DictReader(io.StringIO(cli("runs", str(tmp_path), "--format", "csv").stdout)))
    assert (rows[0]["epochs_done"], rows[0]["epochs_planned"], rows[0]["status"]) == ("1234", "2000", "stopped")
    assert "best_val_accuracy" in rows[0] and all(h == h.lower() and " " not in h for h in rows[0])  # snake_case
    # the JSON's keys and values: `name`, not `run`; `updated` in RFC 3339, as the JSON's, not `2026-12-05 07:24`
    listed = json.loads(cli("runs", str(tmp_path), "--format", "json").stdout)["runs"]
    (updated,) = [r["updated"] for r in listed if r["name"] == "big"]
    (big,) = [r for r in rows if r.get("name") == "big"]
    assert big["updated"] == updated and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", updated)
    missing = cli("runs", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr and "Traceback" not in missing.stderr


def test_tensorboard_tags_put_train_and_val_side_by_side():
    assert [tensorboard_tag(k) for k in ("train_loss", "val_accuracy", "val_miou", "lr")] == [
        "loss/train", "accuracy/val", "miou/val", "lr",
    ]  # fmt: skip


def test_tensorboard_without_its_package_is_refused_before_the_run_starts(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    with pytest.raises(CnnctlError, match="pip install tensorboard"):
        run(tmp_path / "tb", tensorboard=True)
    assert not (tmp_path / "tb").exists()  # told before the run folder was made


def test_tensorboard_gets_each_epochs_scalars_once_even_across_a_resume(tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard package is not installed: pip install tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = tmp_path / "tb"
    assert run(folder, stop=STEPS_PER_EPOCH + 3, tensorboard=True).status == INTERRUPTED
    assert run(folder, resume=True, tensorboard=True).status == 0
    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr"} <= set(events.Tags()["scalars"])
    rows = jsonl_rows(folder)
    for key in ("train_loss", "val_accuracy"):
        scalars = events.Scalars(tensorboard_tag(key))
        assert [s.step for s in scalars] == [1, 2]  # epoch 1 once, although both sessions wrote it
        assert [s.value for s in scalars] == pytest.approx([r[key] for r in rows], rel=1e-6)


@pytest.mark.parametrize(
    ("raised", "said"), [(RuntimeError("a worker died"), "failed"), (KeyboardInterrupt(), "stopped")]
)
def test_a_run_that_leaves_by_an_exception_is_recorded_so(tmp_path, raised, said):
    from cnnctl.train.runlog import RunLog

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(type(raised)), RunLog(folder, TrainConfig(epochs=3), [{"epoch": 1}], network="net") as log:
        assert status(folder)["status"] == "running"
        log.epoch([{"epoch": 1, "val_accuracy": 0.5}])
        raise raised
    recorded = status(folder)
    assert (recorded["status"], recorded["epochs_done"], recorded["epochs_planned"]) == (said, 1, 3)
    assert recorded.get("reason") == ("a worker died" if said == "failed" else None)
    (info,) = list_runs(str(tmp_path))
    assert (info.status, info.network, info.reason) == (said, "net", recorded.get("reason"))
    assert not (folder / "curves.png").exists()  # drawn only where the run ends as it should


def test_plot_leaves_out_a_run_with_no_finished_epoch_among_several(tmp_path):
    from cnnctl.run_folders import read_histories

    started = tmp_path / "started"
    started.mkdir()
    (started / "config.json").write_text("{}")  # a run stopped in its first epoch: no rows yet
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 1.0, "val_accuracy": 0.5}\n')
    kept, warnings = read_histories([str(finished), str(started)])
    assert [h.name for h in kept] == ["finished"]
    assert warnings == [f"`{started}` has no finished epoch yet: left out"]
    with pytest.raises(CnnctlError, match="has no finished epoch yet: nothing to plot"):
        read_histories([str(started)])


def test_a_run_read_back_for_plot_keeps_the_line_under_its_title(tmp_path):
    from cnnctl.run_folders import read_history

    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("".join(f'{{"epoch": {k}, "val_accuracy": 0.5}}\n' for k in (1, 2, 3)))
    (folder / "config.json").write_text(
        '{"data": "/data/flowers/", "epochs": 10, "augment": "crop,flip", "label_smoothing": 0.1}'
    )
    (folder / "status.json").write_text('{"status": "finished", "epochs": 10, "network": "resnet18"}')
    about = read_history(str(folder)).about
    assert about == (
        "resnet18 on flowers; augment crop,flip; label smoothing 0.1 (in the train loss); "
        "stopped early at epoch 3 of 10"
    )
    (folder / "status.json").write_text('{"status": "stopped", "epochs": 10, "network": "resnet18"}')
    assert "stopped early" not in read_history(str(folder)).about  # a Ctrl-C is no early stop


def test_runs_says_a_damaged_metrics_file_and_keeps_the_status_the_run_recorded(tmp_path, monkeypatch, capsys):
    # Once: a cut metrics.jsonl read as no epochs, and a finished 3/3 run was listed `0/3 ... stopped early`.
    from tests.helpers import run_main

    folder = fake_run(tmp_path / "b3", rows=3, planned=3, said=None)
    (folder / "status.json").write_text(json.dumps({"status": "finished", "epochs_done": 3, "epochs": 3}))
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "val_accuracy": 0.5')  # cut in its first row
    (info,) = list_runs(str(tmp_path))
    assert (info.status, info.epochs_done, info.epochs, info.best_val_accuracy) == ("finished", 3, 3, None)
    (problem,) = info.problems
    assert (problem.loc.file, problem.loc.line) == (str(folder / "metrics.jsonl"), 1)
    code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path))
    assert code == 0 and f"{folder / 'metrics.jsonl'}:1:" in out and "not a JSON row" in out
    row = next(line for line in out.splitlines() if line.startswith("b3 "))
    assert "3/3" in row and "finished" in row and "stopped early" not in row
    code, out, _ = run_main(monkeypatch, capsys, "runs", str(tmp_path), "--format", "json")
    (listed,) = json.loads(out)["runs"]
    assert listed["problems"][0]["line"] == 1 and listed["problems"][0]["file"] == str(folder / "metrics.jsonl")
    # plot says the line, and what to do: the same rows in results.csv, where the run has it.
    code, _, err = run_main(monkeypatch, capsys, "plot", str(folder))
    assert code == 2 and "metrics.jsonl:1:" in err and "hint: mend or delete that line" in err
    (folder / "results.csv").write_text("epoch,val_accuracy\n1,0.5\n")
    code, _, err = run_main(monkeypatch, capsys, "plot", str(folder))
    assert code == 2 and f"`cnnctl plot {folder / 'results.csv'}` reads them" in err
    # Without epochs_done in status.json, the epochs done are unknown: `?`, not 0.
    (folder / "status.json").write_text(json.dumps({"status": "finished", "epochs": 3}))
    (info,) = list_runs(str(tmp_path))
    assert (info.status, info.epochs_done) == ("finished", None)


@pytest.mark.parametrize(
    ("line", "told"),
    [
        ('{"epoch": 1e999, "val_accuracy": 0.5}', "`epoch` is inf: an epoch is a whole number from 1"),
        ('{"epoch": -1, "val_accuracy": 0.5}', "`epoch` is -1: an epoch is a whole number from 1"),
        ('{"epoch": 2.5, "val_accuracy": 0.5}', "`epoch` is 2.5: an epoch is a whole number from 1"),
        ('{"epoch": 2, "val_accuracy": 1e308}', "`val_accuracy` is 1e+308: an accuracy is a share from 0 to 1"),
        ('{"epoch": 2, "train_accuracy": -0.1}', "`train_accuracy` is -0.1: an accuracy is a share from 0 to 1"),
        # a dense run's mean IoU was read unchecked: 1.5 shown as 150% (IoU = |A∩B| / |A∪B| <= 1)
        ('{"epoch": 2, "val_miou": 1.5}', "`val_miou` is 1.5: a mean IoU is a share from 0 to 1"),
        ('{"epoch": 2, "val_miou": -0.5}', "`val_miou` is -0.5: a mean IoU is a share from 0 to 1"),
        ('{"epoch": 2, "val_loss": -1e999}', "`val_loss` is -inf: a loss is a finite number, 0 or more"),
        ('{"epoch": 2, "train_loss": "low"}', "`train_loss` is 'low': a loss is a finite number, 0 or more"),
    ],
)
def test_runs_flags_a_metrics_row_holding_values_no_run_writes(tmp_path, line, told):
    # Read as given, `{"epoch": 1e999}` showed an `inf%` accuracy and `{"epoch": -1}` best.pt's
    # epoch -1: a value out of its range is a damaged line, told at its place as any other.
    folder = fake_run(tmp_path / "r", rows=1, planned=3, said="finished")
    with (folder / "metrics.jsonl").open("a") as f:
        f.write(line + "\n")
    (info,) = list_runs(str(tmp_path))
    assert info.best_val_accuracy == 0.51 and info.best_epoch == 1  # the damaged row left out, the other kept
    (problem,) = info.problems
    key = told.split("`")[1]
    assert problem.message == f"1 row of 2 left out, not as a run writes them; the first: {told}"
    assert (problem.loc.file, problem.loc.line, problem.loc.col) == (
        str(folder / "metrics.jsonl"), 2, line.index(f'"{key}"') + 1,
    )  # fmt: skip
    # results.csv is read by the same rule (plot reads it where metrics.jsonl is missing)
    (folder / "metrics.jsonl").unlink()
    (folder / "results.csv").write_text("epoch,val_accuracy\n1,0.5\n2,1.5\n")
    with pytest.raises(CnnctlError) as info:
        read_history(str(folder))
    (problem,) = info.value.problems
    assert problem.message == "`val_accuracy` is 1.5: an accuracy is a share from 0 to 1"
    assert (problem.loc.file, problem.loc.line) == (str(folder / "results.csv"), 3)


def test_runs_reads_a_row_of_every_value_a_run_writes(tmp_path):
    # the edges of each range, and null (no validation, a NaN written as null) are a run's own
    folder = fake_run(tmp_path / "r", rows=0, planned=3, said="finished")
    (folder / "metrics.jsonl").write_text(
        '{"epoch": 1, "train_loss": 0, "train_accuracy": 0, "val_loss": null, "val_accuracy": null}\n'
        '{"epoch": 2, "train_loss": 0.0, "train_accuracy": 1.0, "val_loss": 2.5, "val_accuracy": 1, "val_miou": 1}\n'
        '{"epoch": 3, "train_loss": 0.1, "train_accuracy": 0.5, "val_loss": 2.5, "val_accuracy": 0, "val_miou": 0}\n'
    )
    (info,) = list_runs(str(tmp_path))
    assert info.problems == () and (info.best_val_accuracy, info.best_epoch) == (1, 2)


def test_status_json_names_the_planned_epochs_as_runs_and_train_do_and_old_files_still_read(
    tmp_path, monkeypatch, capsys
):
    # status.json wrote `epochs` where runs' and train's JSON say `epochs_planned`: one key per concept.
    from cnnctl.train.runlog import RunLog
    from tests.helpers import run_main

    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"epochs": 5}))
    with RunLog(folder, TrainConfig(epochs=7), [], network="net") as log:  # a resumed run's new --epochs 7
        log.end("finished", [{"epoch": 1, "val_accuracy": 0.5}])
    recorded = status(folder)
    assert recorded["epochs_planned"] == 7 and "epochs" not in recorded
    old = fake_run(tmp_path / "old", rows=2, planned=4, said="stopped")  # status.json as written before: `epochs`
    (old / "config.json").write_text(json.dumps({"epochs": 3, "data": "shapes"}))  # status.json's 4 wins, as ever
    code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path), "--format", "json")
    assert code == 0, err
    assert {r["name"]: r["epochs_planned"] for r in json.loads(out)["runs"]} == {"new": 7, "old": 4}


DEEP = "[" * 100_000  # Python's JSON parser recurses once per `[`: a RecursionError, not a JSONDecodeError
LONG = '{"epoch": 1, "val_accuracy": ' + "9" * 5000 + "}"  # Python refuses to make an int of over 4,300 digits


@pytest.mark.parametrize("text", [DEEP, LONG], ids=["nested", "long-int"])
def test_run_files_python_cannot_parse_are_a_message_never_a_traceback(tmp_path, monkeypatch, capsys, text):
    # Once: runs and plot crashed on the ValueError of a long integer, and runs, plot and summarize RUN on the
    # RecursionError of `[[[...`, both past `except json.JSONDecodeError`.
    from tests.helpers import run_main

    folder = fake_run(tmp_path / "r", rows=2, planned=2, said="finished")
    (folder / "network.yaml").write_text(SMALL_NET)  # a run for ARCH: summarize RUN reads its config.json
    (folder / "metrics.jsonl").write_text(text + "\n")
    for name in ("config.json", "status.json", "architecture.json"):
        (folder / name).write_text(text)
    code, out, err = run_main(monkeypatch, capsys, "runs", str(tmp_path))
    assert code == 0 and "Traceback" not in out + err
    assert f"{folder / 'metrics.jsonl'}:1:1: " in out and f"{folder / 'config.json'}: " in out
    why = "nested too deeply" if text is DEEP else "an integer of more than 4,300 digits"
    assert out.count(why) == 2, out  # metrics.jsonl's line and config.json, each at its file
    code, out, err = run_main(monkeypatch, capsys, "plot", str(folder))
    assert code == 2 and f"error: {folder / 'metrics.jsonl'}:1:1: not a JSON row: " in err and why in err
    assert "Traceback" not in err
    code, out, err = run_main(monkeypatch, capsys, "summarize", str(folder))
    assert code == 2 and f"error: {folder / 'config.json'}: the run's config.json cannot be read" in err
    assert why in err and "Traceback" not in err
    # plot reads the run's other files leniently: with metrics.jsonl sound, its curves are drawn.
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "val_accuracy": 0.5}\n')
    code, out, err = run_main(monkeypatch, capsys, "plot", str(folder), "-o", str(tmp_path / "c.png"))
    assert code == 0 and (tmp_path / "c.png").is_file(), err


def test_runs_reads_each_runs_config_json_once(tmp_path, monkeypatch):
    # Once: run_info read config.json twice, with a reader that hid its errors and one that raised them.
    import builtins

    folder = fake_run(tmp_path / "r", rows=2, planned=2, said="finished")
    (folder / "network.yaml").write_text(SMALL_NET)
    opened, real = [], io.open

    def counted(file, *args, **kwargs):
        opened.append(os.path.basename(os.fspath(file)) if isinstance(file, (str, os.PathLike)) else file)
        return real(file, *args, **kwargs)

    def counted_fd(file, *args, **kwargs):  # what cnnctl.files.open_regular opens with
        opened.append(os.path.basename(os.fspath(file)))
        return real_fd(file, *args, **kwargs)

    real_fd = os.open
    monkeypatch.setattr(builtins, "open", counted)
    monkeypatch.setattr(io, "open", counted)  # what Path.read_text opens with
    monkeypatch.setattr(os, "open", counted_fd)
    (info,) = list_runs(str(tmp_path))
    assert opened.count("config.json") == 1 and info.epochs == 2 and info.problems == ()
    (folder / "config.json").unlink()
    opened.clear()
    (info,) = list_runs(str(tmp_path))
    # a missing file is found missing by its stat, before any open (cnnctl.files.open_regular)
    assert opened.count("config.json") <= 1 and "is missing" in info.problems[0].message


def test_status_counts_the_epochs_done_while_the_run_goes_on(tmp_path):
    # A run killed (-9) after two epochs left `epochs_done: 0` beside two rows of metrics.jsonl:
    # status.json was written only as the run started and ended.
    from cnnctl.train.runlog import RunLog

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with RunLog(folder, TrainConfig(epochs=5), [], network="net") as log:
        rows = []
        for epoch in (1, 2):
            rows.append({"epoch": epoch, "val_accuracy": 0.5})
            log.epoch(rows)
            recorded = status(folder)
            assert (recorded["status"], recorded["epochs_done"], recorded["epochs_planned"]) == ("running", epoch, 5)
        log.end("finished", rows)


def test_an_epoch_whose_checkpoint_failed_is_not_counted_as_done(tmp_path):
    # The loop appends an epoch's row, then writes last.pt: a full disk fails it, and status.json
    # must count the epochs saved (those last.pt and metrics.jsonl hold), not the row appended.
    from cnnctl.train.runlog import RunLog

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    history = [{"epoch": 1, "val_accuracy": 0.5}]
    with pytest.raises(OSError), RunLog(folder, TrainConfig(epochs=5), [], network="net") as log:
        log.epoch(history)  # epoch 1 saved
        history.append({"epoch": 2, "val_accuracy": 0.6})
        raise OSError(28, "No space left on device")  # writing epoch 2's last.pt
    recorded = status(folder)
    assert (recorded["status"], recorded["epochs_done"]) == ("failed", 1)
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1]


def test_a_resume_from_mid_epoch_that_fails_before_saving_leaves_the_run_as_it_was(tmp_path):
    # Stopped in its first epoch (last.pt saved mid-epoch, no row yet), a --resume that failed at
    # once was recorded `failed`, though last.pt was intact and resumable as before.
    from cnnctl.train.runlog import RunLog

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    before = {"status": "stopped", "epochs_done": 0, "epochs_planned": 3, "updated": "2026-12-05T13:00:00+00:00"}
    (run / "status.json").write_text(json.dumps(before))
    (run / "config.json").write_text(json.dumps({"epochs": 3}))
    with pytest.raises(CnnctlError), RunLog(run, TrainConfig(epochs=3), [], resumed=True, say=lambda _: None):
        raise CnnctlError.at("a loader process died")
    recorded = json.loads((run / "status.json").read_text())
    assert recorded["status"] == "stopped" and recorded["resume_failed"] == "a loader process died", recorded
    (info,) = list_runs(str(tmp_path / "runs"))
    assert info.status == "stopped" and info.reason == "a --resume failed: a loader process died"
