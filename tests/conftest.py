"""What every test gets back: the signal handlers it found.

A command run in-process (tests/helpers.run_main) that ends a training run ignores a late
Ctrl-C or SIGTERM (cnnctl.worker.ignore_late_signals: the process is about to exit). In a test
process it would stay so for every later test, and an ignored signal is inherited by each
process started after it: a multiprocessing Pool's terminate() could then never end its
workers (gpu_check's dry run hung so in CI)."""

import signal

import pytest


@pytest.fixture(autouse=True)
def _signal_handlers_restored():
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in kept.items():
        if handler is not None:
            signal.signal(sig, handler)
