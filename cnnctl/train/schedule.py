"""When the learning rate changes, which epoch is the best, and when a run stops early.

The scheduler steps once per epoch. Warm-up raises the rate linearly over the first
`warmup_epochs` epochs (epoch k of N trains at (k + 1) / (N + 1) of the rate), then the
schedule (step or cosine) runs over the epochs left. The best epoch and early stopping are
read from the run's history, so a resumed run decides exactly as the uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch

from ..run_folders import best_epoch  # one rule for best.pt, early stopping, `cnnctl runs` and the curves' star
from .config import TrainConfig


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """None when the rate never changes; else one scheduler stepped at the end of each epoch."""
    warm = min(config.warmup_epochs, config.epochs)
    left = max(1, config.epochs - warm)
    main = None
    if config.scheduler == "step":  # divide the rate by 10 at each third of the epochs after warm-up
        main = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, left // 3), gamma=0.1)
    elif config.scheduler == "cosine":
        main = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=left)
    if not warm:
        return main
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (warm + 1), end_factor=1.0, total_iters=warm)
    if main is None:
        return warmup
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warm])


def best_row(history: list[dict[str, Any]], monitor: str) -> dict[str, Any] | None:
    """The epoch best.pt holds, by `monitor`; None while no epoch has a number for it."""
    best = best_epoch(history, monitor)
    return None if best is None else history[best]


def improved(history: list[dict[str, Any]], monitor: str) -> bool:
    """Whether the last epoch is the best so far (best.pt is then written)."""
    return bool(history) and best_epoch(history, monitor) == len(history) - 1


def stale_epochs(history: list[dict[str, Any]], monitor: str) -> int:
    """Epochs since the best one (0: the last epoch is the best)."""
    best = best_epoch(history, monitor)
    return len(history) if best is None else len(history) - 1 - best


def stops_early(history: list[dict[str, Any]], config: TrainConfig) -> bool:
    """Whether --patience ends the run before its planned last epoch. At that epoch the run ends
    anyway: it has finished, not stopped early (as `cnnctl runs` says of it)."""
    return (
        config.patience is not None
        and len(history) < config.epochs
        and stale_epochs(history, config.monitor) >= config.patience
    )
