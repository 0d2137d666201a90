"""The command line: a typer app (cnnctl.cli.app), one module per command or small group of
commands, each command's options beside its handler. A command's module is imported only
when that command runs; typer itself only when a command line is parsed.

main() turns what a command raises into one message and an exit status: CnnctlError
(something the user gave: fix the input) exit 2; a mistake on the command line, exit 2 with a
hint (cnnctl.cli.app); a run that could not go on for its machine (FaultError: a full disk, a
loader process killed; RunFailed: a worker died) exit 1, or RunFailed's own status; a run that
diverged exit 2, as its fix is a setting (a lower --lr); Ctrl-C 130, SIGTERM 143 (train); a
reader of standard output that went away, BROKEN_PIPE. Anything else is a bug in cnnctl and
keeps its traceback.
"""

from __future__ import annotations

import errno
import gc
import os
import sys

from .. import worker
from ..errors import BROKEN_PIPE, INTERRUPTED, LOST_PEERS, CnnctlError, RunFailed

# Every command, in `cnnctl --help`'s order: its name -> the module of cnnctl.cli holding its
# handler `<name>_cmd`. The lists of names (help, did-you-mean, completion) come from here.
COMMANDS: dict[str, str] = {
    "summarize": "summarize",
    "flops": "analyze",
    "memory": "analyze",
    "compare": "analyze",
    "draw": "draw",
    "export": "use",
    "import": "exchange",
    "schema": "exchange",
    "validate": "check",
    "list": "check",
    "pack": "pack",
    "train": "train",
    "evaluate": "use",
    "predict": "use",
    "bench": "use",
    "weights": "use",
    "plot": "runs",
    "runs": "runs",
}
# The modules whose commands never import torch (tests/test_no_torch.py checks them), and so
# the analysis commands.
TORCH_FREE = ("summarize", "analyze", "draw", "exchange", "check")
ANALYSIS = tuple(name for name, module in COMMANDS.items() if module in TORCH_FREE)


def run(argv: list[str]) -> int:
    """Parse `argv` and run its command; the exit status."""
    from .app import run as run_app

    return run_app(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point. A CnnctlError (something the user gave) becomes one message on stderr and
    exit code 2; a FaultError or RunFailed (a run that could not go on: a full disk, a dead
    worker), exit code 1, or LOST_PEERS for a worker that stopped because another one died.
    A reader of standard output that went away (`| head -1`) ends any command quietly with
    BROKEN_PIPE, as git and ls end there; a training goes on to its end all the same (see
    TrainDisplay), and its status says so."""
    argv = sys.argv[1:] if argv is None else argv
    _whole_writes()
    if sys.stderr is None:  # started without one (`2>&-`): its messages go nowhere, stdout's JSON and the status tell
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (open while the process lives, as a stderr is)
    if worker.gave_up():  # restarted after the user's mistake: nothing new would happen
        worker.leave(0)
    collecting = gc.isenabled()
    from .common import _written

    _written.clear()  # a caller in the same process (the tests) runs commands one after another
    if argv[:1] and argv[0] in ANALYSIS:
        # These commands build objects by the hundred thousand for a large network and free
        # none before the process ends: the cycle collector would only walk them again and
        # again (a third of the time for 100,000 layers).
        gc.disable()
    try:
        status = run(argv)
    except BrokenPipeError:  # stdout's reader went away: nobody is left to read a message
        worker.stdout_gone()
        status = BROKEN_PIPE
    except KeyboardInterrupt:  # an analysis, or the start of any command: nothing to save
        if worker.speaks():
            sys.stderr.write("stopped by Ctrl-C: nothing was changed\n")
        status = INTERRUPTED
    except CnnctlError as exc:
        if worker.speaks():
            sys.stderr.write(exc.told() + "\n")
            from .common import errors_json

            errors_json(exc.problems, argv, exc.warnings)
        if exc.exit_code == 2:  # the user's mistake: a restarted worker would only repeat it
            worker.give_up()
        status = exc.exit_code
    except RunFailed as exc:
        # A worker that only lost its peers says so under plain torchrun; under cnnctl's
        # launcher, the launcher's one line names the worker that failed.
        if not (exc.exit_code == LOST_PEERS and worker.under_cnnctls_launcher()):
            sys.stderr.write(f"{exc}\n")
        status = exc.exit_code
    except SystemExit as exc:  # the shell's completion, answered
        status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except (OSError, AttributeError) as exc:
        failed = _output_failed(exc)
        if failed is None:
            raise
        status = failed
    finally:
        if collecting:  # as it was, for a caller in the same process (the tests)
            gc.enable()
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        worker.stdout_gone()
    except OSError as exc:  # what was left in the buffer met a full disk
        status = _output_failed(exc) or 2
    if worker.lost_stdout() and status == 0:  # what was written went nowhere
        status = BROKEN_PIPE
    worker.leave(status)


def _whole_writes() -> None:
    """Standard output written whole or not at all. Unbuffered (`python -u`, PYTHONUNBUFFERED),
    Python's text layer writes to the file descriptor directly and drops what a short write
    leaves (a file at `ulimit -f`: the first 1,024 bytes written, the rest gone, exit 0); a
    buffered writer writes the rest, and meets the error. Line-buffered, as the terminal sees it."""
    import io

    raw = getattr(sys.stdout, "buffer", None)
    if isinstance(raw, io.FileIO) and not raw.closed:
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(raw), encoding=sys.stdout.encoding, errors=sys.stdout.errors, line_buffering=True
        )


def _output_failed(exc: BaseException) -> int | None:
    """Tell a failed write to standard output as one message, and its exit status: 1 for the
    machine's fault (a full disk, `> /dev/full`; a quota; an I/O error: writing.MACHINE_FAULTS,
    as for any file cnnctl writes), 2 for no standard output at all (`>&-`, the command line's
    doing). None for anything else. Files cnnctl writes itself are told naming the file; these
    errors name none."""
    from ..writing import MACHINE_FAULTS

    if isinstance(exc, AttributeError):  # print() on a closed stdout (None) fails this way
        if sys.stdout is not None:
            return None
        reason, status = "there is none (closed, as `>&-` does)", 2
    elif getattr(exc, "filename", None) is None and exc.errno in (*MACHINE_FAULTS, errno.EBADF):
        reason, status = exc.strerror or str(exc), 1 if exc.errno in MACHINE_FAULTS else 2
    else:
        return None
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (what is left to write goes nowhere, quietly)
    sys.stderr.write(
        str(CnnctlError.at(f"cannot write to standard output: {reason}",
                           hint="send the output to a file on a disk with room, or let it show here")) + "\n"
    )  # fmt: skip
    return status


__all__ = ["main", "run", "COMMANDS"]
