"""What `cnnctl train` shows: the set-up, a progress bar per epoch, a row per epoch, a summary.

The bar (rich) is drawn only on a terminal; rows and messages are plain lines, so logs
and CI output stay readable. Where no bar is drawn (a log file, a pipe, NO_COLOR, TERM=dumb),
a plain progress line every `--log-interval` says that the run is alive and how far it is.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from ..every import Every
from ..terminal import color_system, cursor_codes_allowed, draws_bars, reader_gone, stderr_console
from ..words import exact, loss, plural
from .table import clean

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import torch
    from rich.console import Console

ROW = "{epoch:>5}  {train_loss:>10}  {train_acc:>9}  {val_loss:>8}  {val_acc:>7}  {lr:>9}  {secs:>6}"
# Dense prediction's rows: the validation accuracy is over pixels, and the mIoU has a column of its own
DENSE_ROW = "{epoch:>5}  {train_loss:>10}  {train_acc:>9}  {val_loss:>8}  {val_acc:>13}  {miou:>7}  {lr:>9}  {secs:>6}"
# The bar's figures at their widest, in the order they give way from the end on a narrow terminal;
# the bar itself keeps at least BAR_LEAST cells
_BAR_WIDEST = ("loss 0.0000", "acc 100.00%", "99,999 img/s")
BAR_LEAST = 10


def resume_line(source: str | None, run_dir: str | Path, options: str = "") -> str:
    """The command that continues a run: `source` is the ARCH as the user gave it, named only
    where the run folder does not keep its network. A run that does needs no ARCH, and is better
    without: `--resume RUN` alone takes the network at the run's own input and head, where the ARCH
    would be read at its default input (`train resnet18 --input 32x32x3`, resumed as `train
    resnet18 --resume RUN`, was refused: trained at 32x32x3, the network takes 224x224x3)."""
    from pathlib import Path

    from ..run_marks import RUN_NETWORK

    if (Path(run_dir) / RUN_NETWORK).is_file():
        source = None
    words = ["cnnctl train", (source or "").strip(), f"--resume {run_dir}", options]
    return "resume with: " + " ".join(w for w in words if w)


class TrainDisplay:
    """The lines of a training, on stdout (or `console`). A reader of stdout that goes away
    (`cnnctl train ... | head -1`) does not stop the run: the rest goes nowhere, the run
    trains on to its end and its status.json says how it ended (rich's own way out would
    raise SystemExit(1), leaving a finished run `stopped`)."""

    # config: train's TrainConfig, data: its data set (render imports nothing of train/); network: the network
    # trained in words, its name and size (train.run_notes.network_said)
    def __init__(self, console: Console | None, config, device: torch.device, data, run_dir: str | Path,
                 resumed: bool, world: int = 1, network: str = "") -> None:  # fmt: skip
        self.console = console or _stdout_console()
        self.config = config
        self.progress = None
        self.task = None
        self.started = time.perf_counter()
        self.images = 0
        say = self.line
        verb = "resuming" if resumed else "training"
        where = f"{world} workers ({device.type})" if world > 1 else str(device)
        batch = f"batch {config.batch_size}"
        if world > 1:
            batch += f" per worker ({config.batch_size * world} a step)"
        # each split's images, as JSON's train_images and val_images count them (DataSplits.counted)
        val = f"{exact(data.counted('val'))} val" if data.val_from else "no validation"
        per_pixel = " per pixel" if data.train.y.dim() == 3 else ""
        say(
            f"{verb} on {where} | {network + ' | ' if network else ''}"
            f"{data.name}: {exact(data.counted('train'))} train, {val}, "
            f"{len(data.classes)} classes{per_pixel} | {batch}, {config.optimizer} lr {config.learning_rate:g}"
            f", {plural(config.epochs, 'epoch')} | run folder {run_dir}"
        )
        for note in data.notes:  # a warning (`warning: ...`, DataSplits.warnings) as every warning is said
            say(note if note.startswith("warning: ") else f"data: {note}")
        self.dense = bool(per_pixel)  # its rows: DENSE_ROW
        if per_pixel:
            say("dense prediction: loss and accuracy over pixels; mIoU, the mean over classes of intersection/union")
        self.header = False
        self.said = len(_BAR_WIDEST)  # how many of the bar's figures fit beside it (start_epoch)
        # where no bar is drawn: a plain line every --log-interval
        self.every = None if draws_bars(self.console) else Every(config.log_interval)

    def line(self, text: str) -> None:
        """`text` as written: never read as markup (a network named `[bold]`), its control
        characters escaped (an ESC in a network's or a folder's name cannot drive the terminal)."""
        try:
            self.console.print(clean(text), markup=False, highlight=False, soft_wrap=True)
        except BrokenPipeError:  # a rich without Console.on_broken_pipe
            reader_gone(self.console)

    def _header(self) -> None:
        """The rows' labels, once: over the bar on a terminal (after any notes on the set-up); in a
        log, with the first row, so that the progress lines of the first epoch come before the
        table rather than between its header and its first row."""
        if not self.header:
            self.header = True
            labels = {"epoch": "epoch", "train_loss": "train loss", "train_acc": "train acc", "val_loss": "val loss",
                      "lr": "lr", "secs": "time"}  # fmt: skip
            if self.dense:
                self.line(DENSE_ROW.format(**labels, val_acc="val pixel acc", miou="mIoU"))
            else:
                self.line(ROW.format(**labels, val_acc="val acc"))

    def start_epoch(self, epoch: int, steps: int, start: int) -> None:
        self.epoch_started = time.perf_counter()
        self.epoch_images = 0
        self.epoch, self.steps, self.first = epoch, steps, start
        if self.every is not None:
            self.every.start()
            return
        self._header()
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        label, count = f"epoch {epoch + 1}/{self.config.epochs}", f"{steps}/{steps}"
        # the bar at least BAR_LEAST cells and the time left whole: the figures that do not fit go,
        # the rate first (at 60 columns the time left was cut to `0:…`, the bar 2 cells)
        room = self.console.width - len(label) - len(count) - len("0:00:00") - BAR_LEAST - 4
        self.said = next((k for k in range(len(_BAR_WIDEST), 0, -1) if len("  ".join(_BAR_WIDEST[:k])) < room), 0)
        columns = [TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}")]
        if self.said:
            columns.append(TextColumn("{task.fields[stats]}"))
        self.progress = Progress(*columns, TimeRemainingColumn(), console=self.console, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("", total=steps, completed=start, stats=self._bar_stats())

    def _bar_stats(self, stats: Any = None, speed: float = 0.0) -> str:
        """`loss 0.6931  acc 81.20%  12,345 img/s`, as many of them as fit (`said`); `-` for
        each before a step has run (was `loss 0  acc 0.00%  0 img/s`)."""
        if stats is None:
            words = ["loss -", "acc -", "- img/s"]
        else:
            words = [f"loss {loss(stats.loss)}", f"acc {stats.accuracy:.2%}", f"{speed:,.0f} img/s"]
        return "  ".join(words[: self.said])

    def step(self, done: int, stats, batch: int) -> None:
        self.images += batch
        self.epoch_images += batch
        if self.progress is not None and (done % 5 == 0 or done == self.progress.tasks[0].total):
            speed = self.epoch_images / max(time.perf_counter() - self.epoch_started, 1e-9)
            self.progress.update(self.task, completed=done, stats=self._bar_stats(stats, speed))
        elif self.every is not None and done != self.steps and self.every.due(done):  # the epoch's row says the last
            self.line(self._progress_line(done, stats))

    def _progress_line(self, done: int, stats) -> str:
        """`epoch 2/10  step 120/500  1,234 img/s  loss 0.6931  acc 61.20%  ETA 0:05:07`: the running
        loss and accuracy of the epoch so far, the rate and the time left of the steps this process took."""
        seconds = max(time.perf_counter() - self.epoch_started, 1e-9)
        of = f"/{self.steps:,}" if self.steps else ""
        words = [f"epoch {self.epoch + 1}/{self.config.epochs}", f"step {done:,}{of}",
                 f"{self.epoch_images / seconds:,.0f} img/s", f"loss {loss(stats.loss)}",
                 f"acc {stats.accuracy:.2%}"]  # fmt: skip
        if self.steps and done > self.first:
            words.append(f"ETA {_clock(seconds / (done - self.first) * (self.steps - done))}")
        return "  ".join(words)

    def _stop_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def abandon(self) -> None:
        """The run ends by an error or a second Ctrl-C: the bar goes, so no copy of it stays behind."""
        self._stop_bar()

    def end_epoch(self, row: dict, improved: bool) -> None:
        self._stop_bar()
        self._header()
        values = {
            "epoch": row["epoch"],
            "train_loss": loss(row["train_loss"]),
            "train_acc": f"{row['train_accuracy']:.2%}",
            "val_loss": loss(row["val_loss"]) if row["val_loss"] == row["val_loss"] else "-",  # NaN: no validation
            "val_acc": f"{row['val_accuracy']:.2%}" if row["val_accuracy"] == row["val_accuracy"] else "-",
            "lr": f"{row['lr']:.3g}",
            "secs": f"{row['seconds']:.1f}s",
        }
        if self.dense:
            miou = f"{row['val_miou']:.2%}" if _number(row.get("val_miou")) else "-"
            text = DENSE_ROW.format(**values, miou=miou)
        else:
            text = ROW.format(**values)
        self.line(text + ("  *" if improved else ""))

    def stopped_early(self, epochs: int, monitor: str, patience: int, best: dict) -> None:
        value = f"{best[monitor]:.2%}" if monitor == "val_accuracy" else loss(best[monitor])
        self.line(
            f"early stop after epoch {epochs}: {monitor} has not improved for {plural(patience, 'epoch')} "
            f"(best {value} at epoch {best['epoch']}, kept in best.pt)"
        )

    def interrupted(self, run_dir: Path, arch: str, options: str = "") -> None:
        self._stop_bar()
        self.line(f"stopped: checkpoint saved to {run_dir / 'last.pt'}")
        self.line(resume_line(arch, run_dir, options))

    def finish(self, history: list[dict], best: dict | None, monitor: str, stopped_early: bool = False) -> None:
        """`best`: the epoch best.pt holds, chosen by `monitor`; None without validation."""
        self._stop_bar()
        seconds = time.perf_counter() - self.started
        speed = self.images / seconds if seconds else 0.0
        if not self.images and stopped_early:
            self.line("nothing to do: the run has stopped early; to train on, resume with a larger --patience")
        elif not self.images:
            self.line(
                f"nothing to do: the run has finished its {plural(len(history), 'epoch')}; "
                "to train more, resume with a larger --epochs (the total)"
            )
        elif history:
            what = best_said(best, monitor) if best else "no validation, last.pt holds the final weights"
            with_val = " incl. validation" if best else ""
            self.line(f"done: {what}; {exact(self.images)} images in {seconds:.1f}s ({speed:,.0f} img/s{with_val})")


def _clock(seconds: float) -> str:
    """A time left as a clock shows it, `0:05:07` (hours, minutes, seconds)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def best_said(best: dict, monitor: str) -> str:
    """`best val accuracy 97.50% at epoch 3`, or by another monitor, `best val_loss 0.0712 at
    epoch 2 (val accuracy 97.10%)`: the figures of the one epoch best.pt holds."""
    accuracy = f"{best['val_accuracy']:.2%}" if _number(best.get("val_accuracy")) else "n/a"
    if monitor == "val_accuracy":
        return f"best val accuracy {accuracy} at epoch {best['epoch']}"
    return f"best {monitor} {loss(best[monitor])} at epoch {best['epoch']} (val accuracy {accuracy})"


def _number(value: object) -> bool:
    """A value to show: not missing, not NaN."""
    return value is not None and value == value


def _stdout_console() -> Console:
    from rich.console import Console

    class Lines(Console):
        def on_broken_pipe(self) -> None:
            reader_gone(self)

    return Lines(stderr=False, highlight=False, color_system=color_system())


def silent_console() -> Console:
    """For workers other than rank 0: the same calls, no output."""
    from rich.console import Console

    return Console(quiet=True, force_terminal=False)


class ListingLine:
    """A line on stderr while a large image folder is listed, or a run's list of it read back
    and checked (`doing`), only on a terminal."""

    def __init__(self) -> None:
        self.out, self.shown, self.said = sys.stderr, time.perf_counter(), False

    def __call__(self, count: int, what: str = "images listed", doing: str = "listing the data") -> None:
        now_ = time.perf_counter()
        if now_ - self.shown >= 0.5 and self.out.isatty() and cursor_codes_allowed():
            self.shown, self.said = now_, True
            self.out.write(f"\r\x1b[K{doing}: {count:,} {what}")
            self.out.flush()

    def done(self) -> None:
        if self.said:
            self.out.write("\r\x1b[K")


class TerminalBar:
    """A bar on stderr while a command works through `total` units (rich, as training's), only
    where stderr is a terminal: `with TerminalBar("packing") as progress:` gives the callback
    `progress(done, total)`, or None elsewhere (logs and pipes get no bar).

    `unit`: what is counted, written after the count. `every`: redraw when `done` is a
    multiple of it (and at the end). `steady`: no redrawing thread, the bar drawn only when
    called: bench calls it between its timed rounds, so that nothing else runs during one."""

    def __init__(self, label: str, unit: str = "", every: int = 1, steady: bool = False) -> None:
        self.label, self.unit, self.every, self.steady = label, unit, every, steady
        self.bar = self.task = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        return self.update if sys.stderr is not None and sys.stderr.isatty() and draws_bars(stderr_console()) else None

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            from rich.markup import escape
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            count = TextColumn("{task.completed:,}/{task.total:,}" + escape(f" {self.unit}".rstrip()))
            self.bar = Progress(TextColumn(escape(self.label)), BarColumn(), count, TimeRemainingColumn(),
                                console=stderr_console(), transient=True, auto_refresh=not self.steady)  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("", total=total)
        if done % self.every == 0 or done == total:
            self.bar.update(self.task, completed=done, refresh=self.steady)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
