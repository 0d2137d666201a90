"""Ctrl-C and SIGTERM at every moment of a command: during start-up, during training, after
it finished. Each moment gets one line saying what was saved, and the exit status a shell
expects (130 after Ctrl-C, 143 after SIGTERM, 0 for a run that had finished)."""

from __future__ import annotations

import sys
import types

import pytest
from helpers import run_main

from cnnctl import __main__ as entry
from cnnctl import cli


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

    monkeypatch.setattr(cli, "_load", interrupted)
    code, _, err = run_main(monkeypatch, capsys, "summarize", "lenet5")
    assert (code, err) == (130, "stopped by Ctrl-C: nothing was changed\n")


def test_ctrl_c_before_training_begins_says_nothing_was_saved(monkeypatch, capsys, tmp_path):
    # It used to end with exit 130 and no word (the framework turned KeyboardInterrupt into a silent exit).
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if Ctrl-C came while the network was read, or torch imported

    monkeypatch.setattr(cli, "_load", interrupted)
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
        result = train(cnnctl.load_text(SMALL_NET), config, arch="small", dataset=small_data(), then_exit=True)
        assert result.status == 0 and result.epochs_done == 1
        # The command line exits next: until it does, a signal is ignored rather than a KeyboardInterrupt.
        assert all(signal.getsignal(sig) is signal.SIG_IGN for sig in before)
        os.kill(os.getpid(), signal.SIGINT)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert (tmp_path / "run" / "last.pt").is_file()
