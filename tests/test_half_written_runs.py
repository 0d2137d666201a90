"""Runs a kill, a copy or a full disk left half-written: a metrics.jsonl whose last line is
cut short is read without it (and said), a checkpoint cut short is flagged by `runs` and
refused with the run's other checkpoint named, and a run without rows says so at its folder."""

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnnctl.errors import CnnctlError
from cnnctl.run_folders import list_runs, read_histories, read_history, read_rows
from cnnctl.run_marks import cut_short, intact_other

ROW1 = {"epoch": 1, "train_loss": 2.0, "train_accuracy": 0.2, "val_loss": 1.9, "val_accuracy": 0.25, "lr": 0.001}
ROW2 = ROW1 | {"epoch": 2, "val_accuracy": 0.5}


def a_run(folder: Path, metrics: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "architecture.json").write_text("{}")
    (folder / "config.json").write_text(json.dumps({"epochs": 3, "data": "shapes", "input": "16x16x1"}))
    (folder / "metrics.jsonl").write_text(metrics)
    return folder


def whole_zip(path: Path) -> bytes:
    with zipfile.ZipFile(path, "w") as z:  # what torch.save writes: a zip archive
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00." * 100)
    return path.read_bytes()


def test_a_last_line_cut_short_is_left_out_and_said(tmp_path):
    cut = json.dumps(ROW2)[:25]  # what a copy or a disk that stopped mid-write leaves: no line break
    folder = a_run(tmp_path / "runs" / "r", json.dumps(ROW1) + "\n" + cut)
    notes = []
    assert read_rows(folder / "metrics.jsonl", notes) == [ROW1]
    (note,) = notes
    assert note.loc.line == 2 and "its last line is cut short" in note.message and "left out" in note.message
    history = read_history(str(folder))
    assert history.rows == [ROW1]
    histories, warnings = read_histories([str(folder)])  # what plot draws, and says
    assert histories[0].rows == [ROW1] and "cut short" in warnings[0]
    (info,) = list_runs(str(tmp_path / "runs"))  # runs keeps the run's best accuracy
    assert info.best_val_accuracy == 0.25 and info.epochs_done == 1
    assert any("cut short" in p.message for p in info.problems)


def test_a_broken_middle_line_is_refused_with_the_whole_of_what_json_found(tmp_path):
    broken = '{"epoch": 1, "train_loss": "2.0'
    column = broken.index('"2.0') + 1  # where the string that never ends opens, counted from 1
    folder = a_run(tmp_path / "r", broken + "\n" + json.dumps(ROW2) + "\n")
    with pytest.raises(CnnctlError) as info:
        read_rows(folder / "metrics.jsonl")
    (problem,) = info.value.problems
    # the decoder's "Unterminated string starting at" is completed by its column, never left cut
    assert problem.message == f"not a JSON row: Unterminated string starting at column {column}"
    assert (problem.loc.line, problem.loc.col) == (1, column)


def test_a_last_line_with_its_line_break_that_is_not_json_is_refused(tmp_path):
    folder = a_run(tmp_path / "r", json.dumps(ROW1) + "\n" + "not json\n")  # written whole: damaged, not cut
    with pytest.raises(CnnctlError, match="not a JSON row: Expecting value at column 1"):
        read_rows(folder / "metrics.jsonl")


def test_a_checkpoint_cut_short_is_flagged_and_the_other_one_named(tmp_path):
    folder = a_run(tmp_path / "runs" / "r", json.dumps(ROW1) + "\n")
    data = whole_zip(folder / "last.pt")
    (folder / "best.pt").write_bytes(data[: len(data) // 2])  # cut in the middle: no zip directory
    assert cut_short(str(folder / "best.pt")) and not cut_short(str(folder / "last.pt"))
    assert intact_other(str(folder / "best.pt")) == str(folder / "last.pt")
    assert intact_other(str(folder / "last.pt")) is None  # best.pt is no way out
    (info,) = list_runs(str(tmp_path / "runs"))
    (problem,) = [p for p in info.problems if p.loc.file == str(folder / "best.pt")]
    assert "best.pt is cut short" in problem.message


def test_a_checkpoint_cut_short_is_refused_naming_the_runs_intact_one(tmp_path):
    torch = pytest.importorskip("torch")
    from cnnctl.train.checkpoint import EVALUATE, load_checkpoint

    folder = tmp_path / "r"
    folder.mkdir()
    torch.save({"weights": torch.zeros(1000)}, folder / "last.pt")
    data = (folder / "last.pt").read_bytes()
    (folder / "best.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CnnctlError) as info:
        load_checkpoint(folder / "best.pt", EVALUATE)
    (problem,) = info.value.problems
    assert "cut short" in problem.message
    assert f"the run's last.pt is whole: give {folder / 'last.pt'}" in problem.hint


def test_plot_of_a_run_with_checkpoints_and_no_metrics_says_so_at_its_folder(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    whole_zip(folder / "last.pt")
    with pytest.raises(CnnctlError) as info:
        read_histories([str(folder)])
    (problem,) = info.value.problems
    assert problem.loc.file == str(folder)
    assert "the run has checkpoints (last.pt) but no metrics.jsonl or results.csv" in problem.message


class _Payload:  # what a pickle may ask to call when loaded: `runs` must say so, never call it
    def __reduce__(self):
        return (os.system, ("exit 3",))


def test_a_checkpoint_asking_to_run_code_is_flagged_without_loading_it(tmp_path):
    # Both were shown as a healthy run: only a cut short zip was flagged.
    folder = a_run(tmp_path / "runs" / "r", json.dumps(ROW1) + "\n")
    with zipfile.ZipFile(folder / "best.pt", "w") as z:  # torch.save's layout, a payload in its pickle
        z.writestr("archive/data.pkl", pickle.dumps({"w": _Payload()}, protocol=2))
    (folder / "last.pt").write_bytes(pickle.dumps({"w": _Payload()}))  # a bare pickle
    (info,) = list_runs(str(tmp_path / "runs"))
    said = {p.loc.file: p.message for p in info.problems}
    for name in ("best.pt", "last.pt"):
        told = "asks to run code when loaded (`posix.system`): cnnctl never loads it"
        assert said[str(folder / name)] == f"{name} {told}"


def test_a_fifo_for_a_checkpoint_does_not_stop_runs(tmp_path):
    # cut_short opened it as a file: `runs` waited for ever for a writer.
    folder = a_run(tmp_path / "runs" / "r", json.dumps(ROW1) + "\n")
    os.mkfifo(folder / "best.pt")
    result = subprocess.run([sys.executable, "-m", "cnnctl", "runs", str(tmp_path / "runs")], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert not cut_short(str(folder / "best.pt"))


@pytest.mark.parametrize("name", ["metrics.jsonl", "results.csv"])
def test_runs_leaves_out_a_broken_row_and_keeps_the_others(name, tmp_path, monkeypatch, capsys):
    # One bad row made `runs` drop the whole file: the run's accuracy was "-", its epochs status.json's.
    from tests.helpers import run_main

    rows = [ROW1, ROW2 | {"val_accuracy": 7}, ROW1 | {"epoch": 3, "val_accuracy": 0.75}]  # row 2: no accuracy is 7
    folder = a_run(tmp_path / "runs" / "r", "".join(json.dumps(row) + "\n" for row in rows))
    if name == "results.csv":  # a run with only its table of rows (metrics.jsonl lost)
        (folder / "metrics.jsonl").unlink()
        (folder / name).write_text(",".join(ROW1) + "\n" + "".join(",".join(map(str, r.values())) + "\n" for r in rows))
    (info,) = list_runs(str(tmp_path / "runs"))
    assert (info.best_val_accuracy, info.best_epoch) == (0.75, 3)  # the best of rows 1 and 3
    (note,) = info.problems
    line = 3 if name == "results.csv" else 2  # results.csv's header is its line 1
    column = json.dumps(rows[1]).index('"val_accuracy"') + 1 if name == "metrics.jsonl" else 1
    assert (note.loc.file, note.loc.line, note.loc.col) == (str(folder / name), line, column)
    assert note.message == "1 row of 3 left out, not as a run writes them; the first: `val_accuracy` is 7: an " \
                           "accuracy is a share from 0 to 1"  # fmt: skip
    code, out, _ = run_main(monkeypatch, capsys, "runs", str(tmp_path / "runs"))
    assert code == 0 and f"{folder / name}:{line}:{column}: 1 row of 3 left out" in out and "75.0" in out, out
    with pytest.raises(CnnctlError):  # plot draws no curve through a broken row: it says where it is
        read_rows(folder / name)


def test_a_results_csv_field_longer_than_the_csv_module_reads_is_a_broken_row_not_a_traceback(
    tmp_path, monkeypatch, capsys
):
    # A line under the 1 MiB bound whose field is past the csv module's 131,072 characters raised
    # `_csv.Error` out of `plot`: it is a broken row at its line, as any other.
    from tests.helpers import run_main

    folder = a_run(tmp_path / "runs" / "r", "")
    (folder / "metrics.jsonl").unlink()
    header = ",".join(ROW1)
    good = ",".join(map(str, ROW1.values()))
    (folder / "results.csv").write_text(f"{header}\n{good}\n7,{'9' * 500_000}{',1' * (len(ROW1) - 2)}\n")
    with pytest.raises(CnnctlError) as caught:
        read_rows(folder / "results.csv")
    (problem,) = caught.value.problems
    assert (problem.loc.line, problem.loc.col) == (3, 1) and "field larger than field limit" in problem.message
    code, out, err = run_main(monkeypatch, capsys, "plot", str(folder / "results.csv"), "-o", str(tmp_path / "p.png"))
    assert code == 2 and "Traceback" not in err and f"{folder / 'results.csv'}:3:1" in err, err
    (info,) = list_runs(str(tmp_path / "runs"))  # runs keeps the good row
    assert info.problems and info.problems[0].message.startswith("1 row of 2 left out")
