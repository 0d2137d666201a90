"""The command this process runs (`summarize`, `draw`), for a hint far below the CLI that shows
a command line to type: it names the command the user ran, not one it would have to guess.

The CLI sets it once it knows the command (cnnctl.cli.app.run); from Python (cnnctl.api) it is
None, and such a hint says `COMMAND`.
"""

from __future__ import annotations

PROG = "cnnctl"
_running: list[str | None] = [None]  # a list: set in place, read by whoever imported the module


def set_running(command: str | None) -> None:
    """The command the CLI runs now (None: none, or not yet known)."""
    _running[0] = command


def running() -> str | None:
    """The command the CLI runs, None outside it."""
    return _running[0]


def typed(rest: str) -> str:
    """A command line of the running command: `cnnctl draw -` for `typed("-")` while draw runs,
    `cnnctl COMMAND -` outside the CLI."""
    return f"{PROG} {running() or 'COMMAND'} {rest}"
