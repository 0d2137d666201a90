"""What a run stopped by a signal before it could save says: one wording for the loop (a signal
while the run started) and for the command (a Ctrl-C before the loop could catch it, or a
second one, which stops at once)."""

from __future__ import annotations

from pathlib import Path


def before_training(signal_name: str) -> str:
    """The line of a run stopped before its first step (`signal_name`: `Ctrl-C`, `SIGTERM`)."""
    return f"stopped by {signal_name} before training began: nothing was saved\n"


def stopped_at_once(network_source: str | None, folder: Path | None, started: bool) -> tuple[str, bool]:
    """What the command says of a Ctrl-C it caught itself, and whether the run had saved a
    checkpoint (which a resume goes on from): `folder`, the run's (None before it was named);
    `started`, whether the run itself had begun; `network_source`, the ARCH as the user wrote it,
    for the line that resumes it."""
    saved = started and folder is not None and (folder / "last.pt").is_file()
    if saved:
        from ..render.progress import resume_line

        said = "stopped at once: nothing more was saved (checkpoints written before are kept)\n"
        return said + resume_line(network_source, folder) + "\n", True
    if started:
        return "stopped by Ctrl-C before the run's first checkpoint: nothing was saved\n", False
    return before_training("Ctrl-C"), False
