"""A run's data: loaded and normalised as its settings say (or as its checkpoint was trained),
with a note for each setting this data leaves unused."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..graph import Graph
from .checkpoint import checkpoint_file
from .config import TrainConfig
from .settings import BY_NAME
from .sources import load_training_data, loader_workers
from .weights_from import stats_for_weights
from .world import World

if TYPE_CHECKING:
    from ..data import DataSplits


def load_data(
    config: TrainConfig, graph: Graph, world: World, run_dir: Path, dataset: DataSplits | None,
    state: dict | None, resume: str | None,
) -> tuple[DataSplits, int]:  # fmt: skip
    """The data (`dataset`, where the caller made it), normalised with the statistics given
    (--mean, --std), else computed; a resumed run normalises with those its checkpoint was
    trained with. With the loader processes a stream reads it with."""
    from ..data.stats import from_weights
    from ..data.streamed import INDEX
    from ..render.progress import ListingLine

    if state:  # the ones the weights were trained with
        stats = from_weights(state, graph.input_shape[2], checkpoint_file(resume))
    else:  # --mean and --std, else the weights' own; None: computed over the training images
        stats = stats_for_weights(config.weights, config.mean, config.std, graph.input_shape[2], graph.title)
    progress = ListingLine() if world.leader and dataset is None else None
    workers = loader_workers(config)
    data = dataset or load_training_data(
        config,
        graph,
        workers,
        stats=stats,
        index=run_dir / INDEX,  # listed once: by the launcher, or before a resume
        progress=progress,
    )
    if progress is not None:
        progress.done()
    if config.stream is None and data.streamed is not None:  # the choice made, kept for a resume
        config.stream = data.streamed
    data.notes += unused_settings(config, data)
    return data, workers


def unused_settings(config: TrainConfig, data: DataSplits) -> list[str]:
    """The settings given that this data does not use, each said, not silently ignored."""
    notes = []
    if config.workers is not None and not data.streamed:
        notes.append(f"--workers {config.workers} unused: loader processes read streamed data only, "
                     "and this data is held in memory")  # fmt: skip
    own_split = data.val_from.startswith("its ")  # its validation or test split (adapt.validation)
    if own_split and config.val_split != BY_NAME["val_split"].default:
        notes.append(f"--val-split {config.val_split:g} unused: it holds training images out only where "
                     f"the data has no validation or test split, and this data validates on "
                     f"{data.val_from}")  # fmt: skip
    if config.decode != "auto" and not data.streamed:
        notes.append(f"--decode {config.decode} unused: it says where streamed JPEGs are decoded, "
                     "and this data is decoded once into memory")  # fmt: skip
    return notes
