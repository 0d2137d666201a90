"""The terminal: the console on standard error that progress is drawn on (rich, imported when
one is made: training's bars, the decoding bar of a data loader, a command's bar) and the
colours every console uses. Below data/ and render/, which both draw there."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def stderr_console() -> Console:
    """A console on standard error whose reader may go away (`2>&1 >out.json | head -3`)
    without stopping the command: rich's own way out would point stdout at the null device and
    exit 1, losing a training's JSON there."""
    from rich.console import Console

    class Progress(Console):
        def on_broken_pipe(self) -> None:
            reader_gone(self)

    return Progress(file=sys.stderr, highlight=False, color_system=color_system())


def reader_gone(console: Console) -> None:
    """`console`'s reader went away: it writes nothing more, and its stream (stdout or stderr)
    goes to the null device, so the command goes on to its end."""
    from . import worker

    console.quiet = True
    if console.file is sys.stdout:
        worker.stdout_gone()
    elif console.file is sys.stderr:
        worker.stderr_gone()


def draws_bars(console: Console) -> bool:
    """Whether a live progress bar is drawn on `console`: on a terminal, but neither a dumb one
    (TERM=dumb) nor under NO_COLOR, where a bar's cursor codes (hide, erase the line, up a
    line) are escape codes too: there only the plain lines are printed."""
    return console.is_terminal and not console.is_dumb_terminal and not os.environ.get("NO_COLOR")


def cursor_codes_allowed() -> bool:
    """Whether a line that redraws itself (carriage return, erase the line) may be written to a
    terminal: draws_bars' rule for a stream that is no rich console (TERM=dumb or NO_COLOR: no)."""
    return os.environ.get("TERM", "").lower() not in ("dumb", "unknown") and not os.environ.get("NO_COLOR")


def color_system() -> str | None:
    """rich's `color_system` for every console cnnctl opens: None (no escape codes at all) where
    NO_COLOR is set (https://no-color.org): rich itself drops only the colours and keeps bold,
    and who sets it wants plain text."""
    return None if os.environ.get("NO_COLOR") else "auto"
