"""Lines a run says as it begins about how it trains: the recipe's extras, the loss the
auxiliary heads add, a head option no head used."""

from __future__ import annotations

from ..graph import Graph
from ..words import plural
from .config import TrainConfig


def recipe(config: TrainConfig, fine_tuning: list[str] = (), done: int = 0) -> str:
    """The training recipe's extras in one line ("" when none is used); `fine_tuning`: the
    defaults a run from weights took (cnnctl.train.finetune); `done`: the epochs a resumed run
    has done (a warm-up it is past is not said)."""
    parts = [f"fine-tuning: {', '.join(fine_tuning)}"] if fine_tuning else []
    if config.augment != "none":
        parts.append(f"augment {config.augment}")
    if config.label_smoothing:
        parts.append(f"label smoothing {config.label_smoothing:g}")
    warming = config.warmup_epochs and done < config.warmup_epochs
    if warming and not any(said.startswith("warm-up") for said in fine_tuning):
        parts.append(f"warm-up {config.warmup_epochs} epoch{'s' if config.warmup_epochs != 1 else ''}")
    if config.patience is not None:
        parts.append(f"early stop after {plural(config.patience, 'epoch')} without a better {config.monitor}")
    elif config.monitor != "val_accuracy":
        parts.append(f"best.pt by {config.monitor}")
    return "recipe: " + "; ".join(parts) if parts else ""


def heads_loss_note(graph: Graph) -> list[str]:
    """With auxiliary heads, the line saying what the two losses of the rows sum (none without)."""
    if not graph.heads:
        return []
    weighted = " + ".join(f"{h.weight:g} x {h.name}" for h in graph.heads)
    return [f"train loss: the main output's + {weighted} (the heads run in training only); "
            "val loss: the main output's alone"]  # fmt: skip


def unused_head_note(head: bool, factor: bool) -> str:
    """--head and/or --head-lr-factor given to a new run that made no head anew."""
    given = " and ".join(f for f, v in (("--head", head), ("--head-lr-factor", factor)) if v)
    return (f"{given} unused: a head is made anew only where the network (or the --weights) scores another "
            "number of classes than the data has")  # fmt: skip
