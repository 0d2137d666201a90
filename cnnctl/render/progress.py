"""What `cnnctl train` shows: the set-up, a progress bar per epoch, a row per epoch, a summary.

The bar (rich) is drawn only on a terminal; rows and messages are plain lines, so logs
and CI output stay readable.
"""

from __future__ import annotations

import sys
import time

from .numbers import exact, loss, plural

ROW = "{epoch:>5}  {train_loss:>10}  {train_acc:>9}  {val_loss:>8}  {val_acc:>7}  {lr:>9}  {secs:>6}"


def resume_line(source: str, run_dir, options: str = "") -> str:
    """The command that continues a run: `source` is the ARCH as the user gave it."""
    return f"resume with: cnnctl train {source} --resume {run_dir}" + (f" {options}" if options else "")


class TrainDisplay:
    def __init__(self, console, config, device, data, run_dir, resumed: bool, world: int = 1):
        from rich.console import Console

        self.console = console or Console(stderr=False, highlight=False)
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
        say(
            f"{verb} on {where} | {data.name}: {exact(len(data.train.y))} train, {exact(len(data.val.y))} val, "
            f"{len(data.classes)} classes | {batch}, {config.optimizer} lr {config.learning_rate:g}"
            f", {plural(config.epochs, 'epoch')} | run folder {run_dir}"
        )
        for note in data.notes:
            say(f"data: {note}")
        self.header = False

    def line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def start_epoch(self, epoch: int, steps: int, start: int) -> None:
        if not self.header:  # after any notes on the set-up
            self.header = True
            self.line(
                ROW.format(
                    epoch="epoch",
                    train_loss="train loss",
                    train_acc="train acc",
                    val_loss="val loss",
                    val_acc="val acc",
                    lr="lr",
                    secs="time",
                )
            )
        self.epoch_started = time.perf_counter()
        self.epoch_images = 0
        if not self.console.is_terminal:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn(f"epoch {epoch + 1}/{self.config.epochs}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.4g}  acc {task.fields[acc]:.3f}  {task.fields[speed]:,.0f} img/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("", total=steps, completed=start, loss=0.0, acc=0.0, speed=0.0)

    def step(self, done: int, stats, batch: int) -> None:
        self.images += batch
        self.epoch_images += batch
        if self.progress is not None and (done % 5 == 0 or done == self.progress.tasks[0].total):
            speed = self.epoch_images / max(time.perf_counter() - self.epoch_started, 1e-9)
            self.progress.update(self.task, completed=done, loss=stats.loss, acc=stats.accuracy, speed=speed)

    def _stop_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def end_epoch(self, row: dict, improved: bool) -> None:
        self._stop_bar()
        self.line(
            ROW.format(
                epoch=row["epoch"],
                train_loss=loss(row["train_loss"]),
                train_acc=f"{row['train_accuracy']:.2%}",
                val_loss=loss(row["val_loss"]),
                val_acc=f"{row['val_accuracy']:.2%}",
                lr=f"{row['lr']:.3g}",
                secs=f"{row['seconds']:.1f}s",
            )
            + ("  *" if improved else "")
        )

    def interrupted(self, run_dir, arch: str) -> None:
        self._stop_bar()
        self.line(f"stopped: checkpoint saved to {run_dir / 'last.pt'}")
        self.line(resume_line(arch, run_dir))

    def finish(self, history: list[dict], best: float) -> None:
        self._stop_bar()
        seconds = time.perf_counter() - self.started
        speed = self.images / seconds if seconds else 0.0
        if not self.images:
            self.line(
                f"nothing to do: the run has finished its {plural(len(history), 'epoch')}; "
                "to train more, resume with a larger --epochs (the total)"
            )
        elif history:
            self.line(
                f"done: best val accuracy {best:.2%}; {exact(self.images)} images in {seconds:.1f}s "
                f"({speed:,.0f} img/s incl. validation)"
            )


def silent_console():
    """For workers other than rank 0: the same calls, no output."""
    from rich.console import Console

    return Console(quiet=True, force_terminal=False)


def stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)
