"""The NaN policy: when the training loop reads the loss, and what a diverged run does.

One bad step turns the epoch's running loss sum NaN (or infinite), so reading the sum now
and then finds any. Reading it waits for the device: on a GPU it is read every few steps,
at the epoch's end and before any checkpoint; on a CPU, where nothing runs ahead, at
every step. A diverged run stops with a hint and writes no checkpoint: last.pt keeps the
last good weights, not these.
"""

from __future__ import annotations

import torch

from ..errors import CnnctlError
from .config import TrainConfig

GPU_CHECK_EVERY = 25  # steps between reads of the loss on a GPU


def check_every(device: torch.device) -> int:
    return GPU_CHECK_EVERY if device.type == "cuda" else 1


def diverged_error(epoch: int, step: int, config: TrainConfig) -> CnnctlError:
    """The error of a run whose loss stopped being finite in epoch `epoch` (0-based) by `step`."""
    return CnnctlError.at(
        f"the loss stopped being a finite number in epoch {epoch + 1} (by step {step}): training diverged",
        hint=f"start again with a lower --lr (now {config.learning_rate:g})"
        + (", or --optimizer adam" if config.optimizer != "adam" else ""),
    )
