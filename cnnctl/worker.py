"""What a process started by torchrun does differently at its edges: who speaks, how it
exits, and how it tells cnnctl's launcher not to restart the group for the user's mistake;
and what any cnnctl process does when the reader of its standard output or error goes away.

Read from the environment only (torchrun's RANK, LOCAL_RANK, TORCHELASTIC_*), so the CLI can
use it without importing torch.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from typing import NoReturn

# Set by cnnctl's launcher for its workers: a file that a worker creates when it stops on a
# mistake of the user's. torchrun restarts a group after any failed worker and has no "do
# not restart" exit code, so the restarted workers look for this file and end at once.
GIVE_UP = "CNNCTL_GIVE_UP"

# Set by cnnctl's launcher for the workers of `cat net.yaml | cnnctl train - --nproc-per-node N`:
# the run folder's network.yaml, where the launcher wrote what was piped into it (a worker's
# standard input is not the pipe). A worker names that file as one process names the pipe.
PIPED = "CNNCTL_PIPED"


def under_launcher() -> bool:
    """A worker started by torchrun (or by `cnnctl train --nproc-per-node`)."""
    return "TORCHELASTIC_RUN_ID" in os.environ


def under_cnnctls_launcher() -> bool:
    """A worker that `cnnctl train --nproc-per-node` started: the launcher tells what happened."""
    return under_launcher() and GIVE_UP in os.environ


def piped_file() -> str | None:
    """The file a worker reads in place of the network piped into its launcher; None elsewhere."""
    return os.environ.get(PIPED) if under_launcher() else None


def rank0() -> bool:
    """Not a worker of a data-parallel run, or its rank 0."""
    return os.environ.get("RANK", "0") == "0"


def speaks() -> bool:
    """Workers of a data-parallel run meet the same mistake at once: the first worker of
    each machine tells it (a missing folder may be missing on one machine only)."""
    return rank0() or os.environ.get("LOCAL_RANK", "0") == "0"


def give_up() -> None:
    """Record that the run stopped on the user's mistake, so a restart does not repeat it."""
    path = os.environ.get(GIVE_UP)
    if path and under_launcher():
        with open(path, "a"):
            pass


def gave_up() -> bool:
    """A restarted worker of a run that already stopped on the user's mistake."""
    path = os.environ.get(GIVE_UP)
    return (
        bool(path)
        and under_launcher()
        and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0"
        and (os.path.exists(path))
    )


_stdout_gone = False


def stdout_gone() -> None:
    """The reader of standard output went away (`cnnctl train ... | head -1`): what is still
    written there goes to the null device, as Python's documentation recommends, so neither
    a later line nor the flush at exit fails again. A training goes on to its end."""
    global _stdout_gone
    _stdout_gone = True
    _to_devnull(sys.stdout)


def stderr_gone() -> None:
    """The reader of standard error went away (`cnnctl train ... 2>&1 >out.json | head -3`):
    progress and notes still written there go to the null device, and the command goes on (a
    training to its end, its JSON on stdout whole). Its exit status is not changed: what a
    script reads, stdout and the status, is intact."""
    _to_devnull(sys.stderr)


def _to_devnull(stream) -> None:
    """Point `stream`'s file descriptor at the null device, as Python's documentation advises
    after a BrokenPipeError (https://docs.python.org/3/library/signal.html#note-on-sigpipe), so
    that neither a later write nor the flush at exit fails again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file (captured by a test, or None): nothing to point
        pass


def lost_stdout() -> bool:
    """Whether the reader of standard output went away during this process."""
    return _stdout_gone


def ignore_late_signals() -> None:
    """The run is over and the process is about to exit: a late Ctrl-C or SIGTERM has
    nothing left to stop. Outside the main thread, where handlers cannot be set, nothing."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread
            return


def leave(code: int) -> NoReturn:
    """Exit with `code`. A worker leaves without the interpreter's normal teardown, whether
    its group broke or the run finished: the process group's threads can abort it there
    ("terminate called without an active exception", SIGABRT), hiding the code and making
    a finished run look failed. Rank 0 writes its files atomically and they are complete by
    now, so nothing is lost by leaving at once."""
    if under_launcher():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
