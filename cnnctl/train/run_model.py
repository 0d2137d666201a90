"""A run's model: its first weights (random, from the seeded global state, or --weights placed,
the head made anew left out), the layers --freeze keeps, --sync-bn; the lines that say each."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..analysis import summarize
from ..data.stats import WEIGHTS_ORIGIN
from ..errors import CnnctlError
from ..exchange.pretrained import IMAGENET_ORIGIN, is_pretrained
from ..graph import Graph
from .config import TrainConfig
from .data_checks import unused_outputs
from .run_head import Head, placed_head_said
from .weights_from import (
    are_imagenets,
    numbers,
    other_input,
    other_input_said,
    other_network,
    placement_said,
    trained_elsewhere,
    weights_said,
)
from .world import World, check_sync_bn

if TYPE_CHECKING:
    from ..data import DataSplits


@dataclass
class Model:
    """The module a run trains, and what was decided in making it."""

    module: torch.nn.Module
    head: Head
    placement: Any  # where --weights put each tensor (exchange.weights.Placement), for weights.txt; None
    frozen_norms: list[torch.nn.Module]  # batch norms kept in evaluation mode: their statistics frozen
    notes: list[str]
    head_note: str | None = None  # the head --weights left out, said with the data's notes


def weights_source(graph: Graph, config: TrainConfig, fresh: bool) -> str | None:
    """The file --weights names: torchvision's ImageNet weights fetched into torch.hub's cache
    (before the data is read: a network they are not for, or no network to download them
    over, is told at once), or the file given; None for random weights or a resumed run."""
    from ..exchange.pretrained import fetch

    if not fresh or not config.weights:
        return None
    return fetch(graph.name) if is_pretrained(config.weights) else config.weights


def build_model(
    graph: Graph, config: TrainConfig, data: DataSplits, head: Head, weights_from: str | None,
    world: World, device: torch.device, run_dir: Path, fresh: bool = True,
) -> Model:  # fmt: skip
    """The network's first weights (from the seeded global random state, or `weights_from`);
    `fresh`: a new run, not a resumed one (whose notes were said when it began)."""
    from ..backend import to_torch

    model = Model(to_torch(graph, logits=True), head, None, [], [])
    if weights_from:  # a resumed run has its weights in its checkpoint
        model = _with_weights(model, graph, config, data, weights_from, run_dir)
    if config.freeze:
        model = _frozen(model, graph, config, fresh)
    if note := unused_outputs(graph, data.classes):
        model.notes.append(note)
    if config.sync_bn:
        model.notes.append(_sync_batch_norm(model.module, world, device))
    return replace(model, module=model.module.to(device, memory_format=torch.channels_last))


def _with_weights(
    model: Model, graph: Graph, config: TrainConfig, data: DataSplits, weights_from: str, run_dir: Path
) -> Model:
    """`model` with the --weights placed, but the head made anew for the data's classes."""
    from .finetune import placed_with_head

    made = model.head.layer is not None  # made anew for the data's classes (run_head.new_head)
    placed = placed_with_head(model.module, graph, weights_from, config.weights, model.head.layer, config.head,
                              data.classes, lambda: weights_refused(config.weights, graph, model.module))  # fmt: skip
    head = Head(placed.head, model.head.had, placed.kept)
    head_note = None
    if head.layer is not None:
        width = head.had if made else None
        head_note = placed_head_said(graph, head, len(data.classes), config.weights, placed.theirs, width)
    notes = [f"weights: {placement_said(placed.placement, weights_said(config.weights, weights_from, graph.name))} "
             f"(each in {run_dir / 'weights.txt'})"]  # fmt: skip
    if trained := other_input(config.weights, graph):
        notes.append(other_input_said(config.weights, trained, graph))
    return replace(model, head=head, placement=placed.placement, notes=model.notes + notes, head_note=head_note)


def _frozen(model: Model, graph: Graph, config: TrainConfig, fresh: bool) -> Model:
    """`model` with the layers up to --freeze kept as they are, batch norm statistics too."""
    from .finetune import freeze

    norms = freeze(model.module, graph, config.freeze)
    counts = summarize(graph, freeze=config.freeze)
    statistics = ", batch norm statistics too" if norms else ""  # said only where a frozen layer has them
    notes = [f"frozen: {counts.frozen:,} parameters of the layers up to and including `{config.freeze}`"
             f"{statistics}; {counts.params - counts.frozen:,} train"]  # fmt: skip
    if fresh and not config.weights:  # frozen at their random first weights: a slip, most likely
        notes.append(f"warning: --freeze {config.freeze} without --weights: the frozen layers keep their random "
                     "first weights and never learn (--weights SOURCE freezes trained ones)")  # fmt: skip
    return replace(model, frozen_norms=norms, notes=model.notes + notes)


def normalisation_said(weights: str, data: DataSplits) -> str:
    """The line every run says of how its input is normalised: the mean and std and where they come
    from (data.stats.Stats.origin): as the weights were trained (torchvision's with ImageNet's
    statistics, a cnnctl run's or checkpoint's with the ones it recorded, ImageNet's where it was
    itself trained from torchvision's), given (--mean and --std, the file's `train:`), or computed
    over the training images (a stream's estimated from a seeded sample). `weights`: the --weights a
    new run starts from ("" for none, or a resumed run's)."""
    mean, std = numbers(data.mean), numbers(data.std)
    origin = data.stats_from
    if weights and is_pretrained(weights) and origin == IMAGENET_ORIGIN:
        return (f"input normalised with ImageNet's mean {mean} and std {std}, as the weights were trained "
                "(--mean and --std to change)")  # fmt: skip
    if weights and origin.startswith(WEIGHTS_ORIGIN):
        whose = "ImageNet's " if are_imagenets(data.mean, data.std) else "the "
        return (f"input normalised with {whose}mean {mean} and std {std}, as {weights} recorded "
                "(--mean and --std to change)")  # fmt: skip
    # computed or estimated over the training images, else given by someone: "from --mean and --std"
    said = origin if origin.startswith(("computed", "estimated")) or not origin else f"from {origin}"
    return f"input normalised with mean {mean} and std {std}" + (f", {said}" if said else "")


def weights_refused(weights: str, graph: Graph, model: torch.nn.Module) -> CnnctlError | None:
    """Why --weights do not fit where a likelier cause than the tensor placing stopped at is
    known: another network's, as they record; trained at another input. None otherwise."""
    if (other := other_network(weights, graph, model.state_dict())) is not None:
        return other  # another network's, as they record: not the tensor it stopped at
    if trained := other_input(weights, graph):  # the likelier cause: said so
        return trained_elsewhere(weights, trained, graph, "train")
    return None


def _sync_batch_norm(model: torch.nn.Module, world: World, device: torch.device) -> str:
    if not world.distributed:
        return "--sync-bn: one process, nothing to synchronise"
    check_sync_bn(device)
    from ..backend import sync_batch_norm

    count = sync_batch_norm(model)
    return f"--sync-bn: {count} batch norm layer{'s' if count != 1 else ''} use statistics over all workers"
