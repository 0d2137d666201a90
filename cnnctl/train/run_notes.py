"""Lines a run says as it begins about how it trains: the recipe's extras, the loss the
auxiliary heads add, a head option no head used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Loc, Problem
from ..graph import Graph
from ..words import plural, short
from .config import TrainConfig

if TYPE_CHECKING:
    from ..data import DataSplits


def network_said(title: str, graph: Graph) -> str:
    """The network a run trains, as its header names it: its name and size, as Ultralytics opens with its
    model's summary (`lenet5 (7 layers, 61,706 params, 852.40 K FLOPs an image)`): every parameter
    trained (the heads' too), the FLOPs of an inference (`cnnctl flops`)."""
    return (f"{title} ({plural(len(graph.nodes), 'layer')}, {graph.params:,} params, "
            f"{short(graph.flops)} FLOPs an image)")  # fmt: skip


def data_caveats(data: DataSplits) -> list[str]:
    """What a run warns of its data (`warning: ...`, as DataSplits.warnings are): a lone test split
    trained on (MNIST's t10k files alone, `train_from`), which leaves no unseen images to test on."""
    if not data.train_from:
        return []
    return [f"warning: {data.no_test}: no unseen images are left to test on; add the training files beside them"]


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


def run_warnings(warnings: list[str], data: str | None) -> list[Problem]:
    """The run's warnings (its lines `warning: ...`: the data's caveats) as problems of the data
    (`file`: the data as given), which train's JSON gives as `warnings`, as every command's."""
    where = Loc(str(data)) if data else None
    return [Problem(w.removeprefix("warning: "), where) for w in warnings]
