"""What a run writes beside its checkpoints: its rows, TensorBoard's events, its status, its curves.

Each epoch, after the checkpoint (so that they always match it, and a restart never repeats
a row): `metrics.jsonl` and `results.csv`, one row per finished epoch, each rewritten whole
through a temporary file; with --tensorboard, the epoch's scalars in `tensorboard/`. When
the run starts, `status.json` says `running`; when it ends, how: finished, stopped (Ctrl-C,
SIGTERM), diverged or failed. Then `curves.png` is drawn, once, from the rows: drawing
never slows training down.

Pure Python: torch comes only with TensorBoard's writer, matplotlib only with the picture.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CnnctlError
from ..run_folders import (
    COLUMNS,
    CURVES,
    METRICS,
    RESULTS,
    STATUS,
    TENSORBOARD,
    RunHistory,
    about_run,
    now,
    read_record,
)
from ..words import json_safe
from .rundir import WriteFailed, write_bytes, write_text

TENSORBOARD_HINT = "pip install tensorboard (then: tensorboard --logdir RUN/tensorboard)"


def results_csv(history: list[dict[str, Any]]) -> str:
    """The rows as CSV: a column per key, in the order first seen (the usual seven first, then
    any other a run records); NaN and infinities, which JSON writes as null, are empty fields.
    Floats are written as Python writes them, which reads back as the same number."""
    columns = list(dict.fromkeys([key for row in history for key in row] or COLUMNS))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_field(row.get(key)) for key in columns] for row in history)
    return buffer.getvalue()


def _field(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return str(value)


def write_logs(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """metrics.jsonl and results.csv, rewritten whole: they always match the checkpoint."""
    write_text(run_dir / METRICS, "".join(json.dumps(json_safe(row), allow_nan=False) + "\n" for row in history))
    write_text(run_dir / RESULTS, results_csv(history))


def check_logging(config: Any) -> None:
    """--tensorboard without the tensorboard package: told before the run folder is made."""
    if getattr(config, "tensorboard", False) and importlib.util.find_spec("tensorboard") is None:
        raise CnnctlError.at(
            "--tensorboard needs the tensorboard package, which is not installed", hint=TENSORBOARD_HINT
        )


def tensorboard_tag(key: str) -> str:
    """`train_loss` -> `loss/train`: TensorBoard then shows a run's train and val curves of
    each metric side by side. Other keys (`lr`, `seconds`) keep their names."""
    split, _, metric = key.partition("_")
    return f"{metric}/{split}" if split in ("train", "val") and metric else key


class RunLog:
    """The run's log, for rank 0 (the others write nothing): `with RunLog(...) as log:`
    around the run; `log.epoch(history)` after each epoch's checkpoint; `log.end(status,
    history)` where the run ends. A run that leaves by an exception instead is recorded as
    stopped (a second Ctrl-C) or failed, with the reason."""

    def __init__(
        self,
        run_dir: Path,
        config: Any,
        history: list[dict[str, Any]],
        *,
        leader: bool = True,
        say: Callable[[str], None] = print,
        network: str | None = None,  # the name the run knows its network by, for `cnnctl runs`
        resumed: bool = False,  # it goes on from a checkpoint (--resume): one saved mid-epoch has no row yet
    ) -> None:
        self.run_dir, self.config, self.history, self.leader, self.say = run_dir, config, history, leader, say
        self.network, self.resumed = network, resumed
        self.writer: Any = None  # TensorBoard's SummaryWriter, with --tensorboard
        self.logged = 0  # rows TensorBoard has been given
        self.ended_as: str | None = None
        # Epochs whose checkpoint is saved: the loop appends an epoch's row before its last.pt is
        # written, and a run that fails writing it (a full disk) did not save that epoch.
        self.saved = len(history)
        self.resumed_at = len(history)  # the epochs saved when this session began
        self.before: dict[str, Any] | None = None

    def __enter__(self) -> RunLog:
        if not self.leader:
            return self
        # A resumed run's record as it stood: a resume that fails before it has changed anything
        # puts it back (a run killed stays told as killed), with why the resume failed.
        # Resumed from a checkpoint saved mid-epoch (--save-every), a run has no row yet: its status as well.
        self.before = read_record(self.run_dir / STATUS) if self.history or self.resumed else None
        self._status("running", self.history)
        if getattr(self.config, "tensorboard", False):
            self.writer = _summary_writer(self.run_dir / TENSORBOARD, resumed=bool(self.history))
            self._scalars(self.history)
        return self

    def epoch(self, history: list[dict[str, Any]]) -> None:
        """After an epoch's checkpoint: its row in metrics.jsonl, results.csv and TensorBoard, and
        status.json's count of epochs done (so a run killed later says how far it got)."""
        if not self.leader:
            return
        self.history, self.saved = history, len(history)
        write_logs(self.run_dir, history)
        self._status("running", history)
        self._scalars(history)

    def ended(self, result: Any) -> Any:
        """The run returned: finished (status 0) or stopped by a signal. Returns `result`."""
        self.end("finished" if result.status == 0 else "stopped", result.history)
        return result

    def end(self, status: str, history: list[dict[str, Any]]) -> None:
        """Record how the run ended, then draw curves.png (once: a later call does nothing)."""
        if not self.leader or self.ended_as is not None:
            return
        self.ended_as = status
        self._status(status, history)
        self._close()
        if history:
            self._draw(history)

    def __exit__(self, kind, exc, trace) -> None:
        try:
            if self.leader and self.ended_as is None and exc is not None:
                self.ended_as = "stopped" if isinstance(exc, (KeyboardInterrupt, SystemExit)) else "failed"
                reason = str(exc).removeprefix("error: ").splitlines()[0] if str(exc) else type(exc).__name__
                with contextlib.suppress(OSError, WriteFailed):  # a full disk: the error says so already
                    saved = self.history[: self.saved]  # not an epoch whose checkpoint failed
                    if self.ended_as == "failed" and self.before and self.saved == self.resumed_at:
                        record = {**self.before, "resume_failed": reason, "updated": now()}
                        write_text(self.run_dir / STATUS, json.dumps(record, indent=2) + "\n")
                    else:
                        self._status(self.ended_as, saved, reason if self.ended_as == "failed" else None)
        finally:
            self._close()

    def _status(self, status: str, history: list[dict[str, Any]], reason: str | None = None) -> None:
        record: dict[str, Any] = {
            "status": status,
            "epochs_done": len(history),
            "epochs_planned": self.config.epochs,  # runs' and train's JSON key (status.json before: `epochs`)
            "updated": now(),
        }
        if self.network:
            record["network"] = self.network
        if reason:
            record["reason"] = reason
        write_text(self.run_dir / STATUS, json.dumps(record, indent=2) + "\n")

    def _scalars(self, history: list[dict[str, Any]]) -> None:
        if self.writer is None:
            return
        for number, row in enumerate(history[self.logged :], start=self.logged + 1):
            step = row.get("epoch", number)
            for key, value in row.items():
                scalar = isinstance(value, (int, float)) and not isinstance(value, bool)
                if key != "epoch" and scalar and math.isfinite(value):
                    self.writer.add_scalar(tensorboard_tag(key), value, step)
        self.logged = len(history)
        self.writer.flush()

    def _close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.close()

    def _about(self, history: list[dict[str, Any]]) -> str:
        return about_run(self.network, dict(vars(self.config)), len(history), self.ended_as == "finished")

    def _draw(self, history: list[dict[str, Any]]) -> None:
        """curves.png from the rows; without matplotlib, one line says how to get it. A run named
        in characters DejaVu Sans lacks (Chinese) is drawn in the installed fonts that have them,
        as plot draws it; where none has them, one warning, as plot's (glyphs.drawing_fonts)."""
        from ..render.curves import curves_picture, drawn_text
        from ..render.glyphs import drawing_fonts, missing_glyphs
        from ..render.mpl import INSTALL, NoMatplotlib

        try:
            run = RunHistory(self.run_dir.name, str(self.run_dir), METRICS, history, about=self._about(history))
            with drawing_fonts(drawn_text([run])) as lacking:
                picture = curves_picture([run])
        except NoMatplotlib as exc:
            self.say(f"note: {CURVES} was not drawn: {exc} ({INSTALL})")
            return
        except Exception as exc:  # the rows and checkpoints are saved: a picture does not fail the run
            self.say(f"note: {CURVES} was not drawn: {type(exc).__name__}: {exc}")
            return
        try:
            write_bytes(self.run_dir / CURVES, picture)
        except WriteFailed as exc:
            self.say(f"note: {CURVES} was not written: {exc.reason}")
            return
        if lacking:
            self.say(missing_glyphs("".join(lacking), str(self.run_dir / CURVES), svg_is_text=False).format("warning"))


def _summary_writer(folder: Path, resumed: bool) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise CnnctlError.at(
            f"--tensorboard: TensorBoard's writer cannot be loaded ({exc})", hint=TENSORBOARD_HINT
        ) from None
    # A resumed run gives TensorBoard its whole history again, and purge_step=1 has TensorBoard
    # hide what earlier sessions wrote: no epoch twice, none missing, whatever ended them.
    return SummaryWriter(str(folder), purge_step=1 if resumed else None)
