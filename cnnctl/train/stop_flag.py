"""How a signal stops a run: the flag SIGINT and SIGTERM set, which the loop reads after each step."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from .. import worker


class StopRequest:
    """Set by SIGINT (and SIGTERM): the loop finishes its current step, saves and stops.

    Under torchrun, SIGTERM is the launcher tearing the group down because a worker failed;
    the other workers may be blocked waiting for the failed one, so that one exits at once.

    Once `finished` (every epoch saved), a signal has nothing left to stop and is ignored: a
    finished run exits 0 however late a Ctrl-C comes. With `then_exit` (the command line,
    which exits once the run ends) it stays ignored after the block, up to the exit itself.

    While `starting` (from the moment the run folder is claimed until the first step), there
    is nothing to save: a signal stops the run at once (KeyboardInterrupt, `set` and `signum`
    say which), and the run says so as any stopped run does (loop._stopped_at_start).
    """

    def __init__(self, exit_on_sigterm: bool = False, then_exit: bool = False, starting: bool = False) -> None:
        self.set = False
        self.starting = starting
        self.finished = False
        self.busy = False  # a checkpoint is being written
        self.pending = False  # a second Ctrl-C came while it was
        self.signum = signal.SIGINT  # what stopped the run: the exit status is 128 + its number
        self.exit_on_sigterm = exit_on_sigterm
        self.then_exit = then_exit
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers, no graceful stop
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.finished:
            return
        if signum == signal.SIGTERM and self.exit_on_sigterm:
            raise SystemExit(128 + signum)  # unwinds through the atomic writes, which clean up
        if self.starting:  # nothing to save yet: stop now, by the way a Ctrl-C stops anything
            self.set, self.signum = True, signum
            raise KeyboardInterrupt
        if self.set:  # a second Ctrl-C: stop now, but not in the middle of writing a checkpoint
            if self.busy:
                self.pending = True
                return
            raise KeyboardInterrupt
        self.set = True
        self.signum = signum

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """A second Ctrl-C waits for the file being written: torch.save broken off mid-way
        raises its own error, and the file would be lost anyway."""
        self.busy = True
        try:
            yield
        finally:
            self.busy = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    @property
    def status(self) -> int:
        """130 after Ctrl-C (or a peer's), 143 after SIGTERM: what shells and schedulers expect."""
        return 128 + self.signum

    def __exit__(self, *exc) -> None:
        if self.finished and self.then_exit:
            worker.ignore_late_signals()
            return
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
