"""The command this process runs (`summarize`, `draw`), for a hint far below the CLI that shows
a command line to type: it names the command the user ran, not one it would have to guess, and
where the hint puts a word in place of one the user gave, keeps their other words (`-o x.svg`).

The CLI sets it once it knows the command (cnnctl.cli.app.run); from Python (cnnctl.api) it is
None, and such a hint says `COMMAND`.
"""

from __future__ import annotations

import shlex

PROG = "cnnctl"
# lists: set in place, read by whoever imported the module
_running: list[str | None] = [None]
_words: list[tuple[str, ...]] = [()]  # the words typed after the command


def set_running(command: str | None, words: tuple[str, ...] | list[str] = ()) -> None:
    """The command the CLI runs now (None: none, or not yet known), and the words typed after it."""
    _running[0] = command
    _words[0] = tuple(words) if command is not None else ()


def running() -> str | None:
    """The command the CLI runs, None outside it."""
    return _running[0]


def typed(rest: str) -> str:
    """A command line of the running command: `cnnctl draw -` for `typed("-")` while draw runs,
    `cnnctl COMMAND -` outside the CLI."""
    return f"{PROG} {running() or 'COMMAND'} {rest}"


def retyped(given: str, instead: str) -> str:
    """The command line the user typed with the word `given` (its first time) as `instead`, each
    other word kept and quoted for a shell: `cnnctl draw - -o x.svg` for `cnnctl draw ff.yaml -o
    x.svg` and `retyped("ff.yaml", "-")`; `typed(instead)` where `given` was not typed (outside
    the CLI)."""
    words = list(_words[0])
    if running() is None or given not in words:
        return typed(instead)
    words[words.index(given)] = instead
    return " ".join([PROG, running(), *(shlex.quote(word) for word in words)])  # type: ignore[list-item]
