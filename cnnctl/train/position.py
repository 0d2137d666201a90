"""Where a run begins: the epoch and the steps done in it, all the place a run resumes from
(the batches are recomputed from them: batches.py), and a resumed run's state as its
checkpoint left it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..graph import Graph
from ..words import plural
from .checkpoint import Checkpoint, checkpoint_file, load_weights
from .metrics import EpochStats


@dataclass(frozen=True)
class Position:
    """The place a run begins at: 0, 0 for a new one."""

    epoch: int = 0  # epochs done
    step: int = 0  # steps done in epoch `epoch`
    epoch_seconds: float = 0.0  # of the epoch a resumed run goes on with, before it stopped


@dataclass
class Restored:
    """A resumed run's place, and what its epochs go on from."""

    at: Position
    stats: EpochStats  # the running sums of the epoch it stopped in
    history: list[dict[str, Any]] = field(default_factory=list)  # a row per epoch done
    skipped: int = 0  # the unreadable images the epoch it stopped in had skipped, every worker's


def restore(
    state: dict, resume: str, model: torch.nn.Module, optimizer: Any, scheduler: Any, scaler: Any, graph: Graph,
    leader: bool,
) -> Restored:  # fmt: skip
    """The run as its checkpoint left it: the weights, the optimizer's, scheduler's and
    scaler's states and the global random state put back; writes nothing (the folder is not
    yet begun). Only rank 0 goes on with the run's totals so far (its epoch's sums and
    unreadable images); the others start from zero."""
    load_weights(model, state, resume, graph.title)
    saved = Checkpoint.of(state)
    optimizer.load_state_dict(saved.optimizer)
    if scheduler is not None and saved.scheduler:
        scheduler.load_state_dict(saved.scheduler)
    if saved.scaler:
        scaler.load_state_dict(saved.scaler)
    torch.set_rng_state(saved.rng)
    stats = EpochStats(**saved.stats) if leader else EpochStats()
    at = Position(saved.epoch, saved.step, float(saved.epoch_seconds))
    # the best epoch is read from the history (`best_row`)
    return Restored(at, stats, saved.history, saved.epoch_skipped if leader else 0)


def resumed_at(resume: str, at: Position, steps: int | None = None) -> str:
    """Where a resumed run goes on from: the epoch, and the step in it, its checkpoint saved;
    `steps`, the epoch's (None where unknown): a run stopped after its epoch's last step, before
    validating it, goes on with the validation."""
    saved = checkpoint_file(resume)
    if not at.step:
        return f"resume: from {saved}, {plural(at.epoch, 'epoch')} done: epoch {at.epoch + 1} from its start"
    done = plural(at.step, "step")
    if steps is not None and at.step >= steps:
        return f"resume: from {saved}, epoch {at.epoch + 1}: its {done} done, its validation next"
    return f"resume: from {saved}, epoch {at.epoch + 1} from step {at.step + 1} ({done} of it done)"
