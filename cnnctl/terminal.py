"""The terminal: the console on standard error that progress is drawn on (rich, imported when
one is made: training's bars, the decoding bar of a data loader, a command's bar) and the
colours every console uses. Below data/ and render/, which both draw there."""

from __future__ import annotations

import os
import sys


def stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, color_system=color_system())


def color_system() -> str | None:
    """rich's `color_system` for every console cnnctl opens: None (no escape codes at all) where
    NO_COLOR is set (https://no-color.org): rich itself drops only the colours and keeps bold,
    and who sets it wants plain text."""
    return None if os.environ.get("NO_COLOR") else "auto"
