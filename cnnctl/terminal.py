"""The console on standard error that progress is drawn on (rich, imported when one is made):
training's bars, the decoding bar of a data loader, a command's bar. Below data/ and render/,
which both draw there."""

from __future__ import annotations

import sys


def stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)
