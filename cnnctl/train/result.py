"""What a run did, as train returns it: its folder, its exit status, its epochs and the best of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schedule import best_row


@dataclass
class RunResult:
    run_dir: Path
    status: int  # 0, or 128 + the signal that stopped it (INTERRUPTED for Ctrl-C)
    epochs_done: int
    best_val_accuracy: float | None  # of the epoch best.pt holds, chosen by `monitor`; None without validation
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None  # 1-based, as in the history; None without validation
    monitor: str = "val_accuracy"
    epochs_planned: int | None = None  # --epochs: a finished run with fewer done stopped early (--patience)
    ended: str | None = None  # status.json's word, where the status does not say it (diverged, failed)
    # train_images, val_images (each split's images listed), images_skipped (those of them left out
    # unreadable, as skipped.txt names them) and streamed; empty where the data was never loaded
    data: dict[str, Any] = field(default_factory=dict)
    # The training split's examples of each class (images; scored pixels for dense prediction), by name,
    # and the loss's weight of each (--class-weights balanced; None: unweighted). Empty before the data is read.
    train_class_counts: dict[str, int] = field(default_factory=dict)
    loss_class_weights: dict[str, float] | None = None
    warnings: list[Any] = field(default_factory=list)  # what the run warned of (errors.Problem): its data's caveats


def run_result(
    run_dir: Path,
    status: int,
    epochs_done: int,
    history: list[dict[str, Any]],
    monitor: str,
    ended: str | None = None,
    epochs_planned: int | None = None,
) -> RunResult:
    """What a run did: its best validation accuracy, of the epoch best.pt holds (chosen by
    `monitor`; None without one) and that epoch, from its history."""
    best = best_row(history, monitor)
    epoch = best["epoch"] if best else None
    return RunResult(
        run_dir, status, epochs_done, kept_accuracy(history, monitor), history, epoch, monitor, epochs_planned, ended
    )


def kept_accuracy(history: list[dict[str, Any]], monitor: str) -> float | None:
    """The validation accuracy of the epoch best.pt holds (chosen by `monitor`); None where there
    is none (no validation, a NaN)."""
    best = best_row(history, monitor)
    accuracy = best["val_accuracy"] if best is not None else None
    return accuracy if accuracy is not None and accuracy == accuracy else None
