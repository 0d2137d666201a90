"""Ctrl-C and SIGTERM at every moment of a command: during start-up, during training, after
it finished. Each moment gets one line saying what was saved, and the exit status a shell
expects (130 after Ctrl-C, 143 after SIGTERM, 0 for a run that had finished)."""

from __future__ import annotations

import sys
import types

import pytest
from helpers import run_main

from cnnctl import __main__ as entry
from cnnctl.cli import common as cli  # where the commands read a network (`load_network`)


def test_ctrl_c_while_the_command_line_is_imported_is_one_line(monkeypatch, capsys):
    class Importing(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt  # as if Ctrl-C came in the middle of importing cnnctl.cli

    monkeypatch.setitem(sys.modules, "cnnctl.cli", Importing("cnnctl.cli"))
    with pytest.raises(SystemExit) as exit_info:
        entry.main()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "stopped by Ctrl-C while starting: nothing was done\n"


def test_ctrl_c_during_an_analysis_is_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C came while the network was read

    monkeypatch.setattr(cli, "load_network", interrupted)
    code, _, err = run_main(monkeypatch, capsys, "summarize", "lenet5")
    assert (code, err) == (130, "stopped by Ctrl-C: nothing was changed\n")


def test_ctrl_c_before_training_begins_says_nothing_was_saved(monkeypatch, capsys, tmp_path):
    # It used to end with exit 130 and no word (the framework turned KeyboardInterrupt into a silent exit).
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C came while the network was read, or torch imported

    monkeypatch.setattr(cli, "load_network", interrupted)
    code, _, err = run_main(monkeypatch, capsys, "train", "lenet5", "--out", str(tmp_path / "run"))
    assert (code, err) == (130, "stopped by Ctrl-C before training began: nothing was saved\n")
    assert not (tmp_path / "run").exists()


def test_a_signal_after_the_run_finished_leaves_it_finished(tmp_path, monkeypatch):
    # Ctrl-C or SIGTERM after the last epoch was saved turned a finished run into exit 130 / 143.
    import os
    import signal

    pytest.importorskip("torch")
    from test_train import SMALL_NET, small_data

    import cnnctl
    from cnnctl.render.progress import TrainDisplay
    from cnnctl.train.config import TrainConfig
    from cnnctl.train.loop import train

    finish = TrainDisplay.finish

    def finish_then_signals(self, *args, **kwargs):
        for sig in (signal.SIGINT, signal.SIGTERM):  # while "done" is printed
            os.kill(os.getpid(), sig)
        return finish(self, *args, **kwargs)

    monkeypatch.setattr(TrainDisplay, "finish", finish_then_signals)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    config = TrainConfig(out=str(tmp_path / "run"), epochs=1, batch_size=32, seed=0, device="cpu")
    try:
        result = train(cnnctl.load_text(SMALL_NET), config, network_title="small", dataset=small_data(), then_exit=True)
        assert result.status == 0 and result.epochs_done == 1
        # The command line exits next: until it does, a signal is ignored rather than a KeyboardInterrupt.
        assert all(signal.getsignal(sig) is signal.SIG_IGN for sig in before)
        os.kill(os.getpid(), signal.SIGINT)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert (tmp_path / "run" / "last.pt").is_file()


# --- a reader that goes away (`cnnctl ... | head -1`) -----------------------------------------

PIPED_NET = "input: 16x16x1\nlayers: [conv f=3 p=same n=4 act=relu, pool max f=2, fc 10 act=softmax]\n"


def piped(args: list[str], cwd, lines_read: int):
    """`cnnctl ARGS | head -LINES_READ`, with a real pipe: its reader closes it after that many
    lines (0: before anything is written). The exit status and what came on stderr."""
    import subprocess

    command = [sys.executable, "-m", "cnnctl", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    for _ in range(lines_read):
        assert process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    return process.wait(timeout=300), err


def test_a_command_whose_reader_goes_away_ends_quietly(tmp_path):
    # `cnnctl evaluate RUN | head -1` ended in a BrokenPipeError traceback; `cnnctl train ... |
    # head -1` exited 1 without a word and recorded its finished run as `stopped`.
    import json

    from cnnctl.errors import BROKEN_PIPE

    pytest.importorskip("torch")
    (tmp_path / "net.yaml").write_text(PIPED_NET)
    args = ["train", "net.yaml", "--epochs", "2", "--batch-size", "64", "--device", "cpu", "--out", "run"]
    code, err = piped(args, tmp_path, lines_read=1)
    assert (code, err) == (BROKEN_PIPE, "")  # 128 + SIGPIPE, as git and ls end there
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert (status["status"], status["epochs_done"]) == ("finished", 2)  # it trained on to its end
    code, err = piped(["evaluate", "run", "--device", "cpu"], tmp_path, lines_read=0)
    assert (code, err) == (BROKEN_PIPE, "")
    code, err = piped(["runs", "."], tmp_path, lines_read=0)  # a command without torch, the same
    assert (code, err) == (BROKEN_PIPE, "")


def test_a_progress_reader_that_goes_away_does_not_stop_a_run(tmp_path):
    # `cnnctl train ... --format json 2>&1 >out.json | head -3`: the progress's reader closed
    # its pipe after the first line; the run stopped after epoch 1 with exit 1 and no JSON
    # (rich's own way out pointed stdout at the null device and exited).
    import json
    import subprocess

    pytest.importorskip("torch")
    (tmp_path / "net.yaml").write_text(PIPED_NET)
    args = ["train", "net.yaml", "--epochs", "3", "--batch-size", "64", "--device", "cpu", "--out", "run"]
    command = [sys.executable, "-m", "cnnctl", *args, "--format", "json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert process.stderr.readline().startswith("training on cpu")
    process.stderr.close()  # the reader goes away before the first epoch's row
    out = process.stdout.read()
    assert process.wait(timeout=300) == 0
    document = json.loads(out)  # whole
    assert (document["status"], document["epochs_done"], len(document["history"])) == ("finished", 3, 3)
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert (status["status"], status["epochs_done"]) == ("finished", 3)
