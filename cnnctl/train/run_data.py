"""A run's data: loaded and normalised as its settings say (or as its checkpoint was trained),
with a note for each setting this data leaves unused."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.loader import MAX_BAD, SKIPPED
from ..graph import Graph
from ..words import plural
from .checkpoint import checkpoint_file
from .config import TrainConfig
from .settings import BY_NAME
from .sources import load_training_data, loader_workers
from .weights_from import stats_for_weights
from .world import World

if TYPE_CHECKING:
    from ..data import DataSplits
    from ..data.loader import Skipped


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
    """The settings given that this data (or the optimizer: --momentum) does not use, each
    said, not silently ignored."""
    from .step_defaults import unused_momentum

    momentum = config.momentum if config.momentum != BY_NAME["momentum"].default else None
    notes = [note] if (note := unused_momentum(config.optimizer, momentum)) else []
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


def unreadable_note(data: DataSplits, run_dir: Path) -> list[str]:
    """Data held in memory with images that could not be read: how many were left out (a
    stream's are counted after each epoch)."""
    if not data.unreadable:
        return []
    # of which split, the header's counts being of the images read
    words = {"train": "training", "val": "validation", "test": "test"}
    of = ", ".join(f"{n:,} {words[split]}" for split, n in data.left_out.items() if n and split in words)
    return [f"left out {plural(len(data.unreadable), 'unreadable image')} ({of}), not counted in the first line, "
            f"at most {MAX_BAD:.0%} of those listed (named in {run_dir / SKIPPED})"]  # fmt: skip


def name_unreadable(data: DataSplits, run_dir: Path) -> None:
    """The image files held in memory that could not be read, in skipped.txt as a stream names
    its own (each once: a resumed run, which reads the same files again, adds none)."""
    from ..data.loader import Skipped
    from ..errors import Problem

    told = Skipped(run_dir / SKIPPED, listed=data.images_listed, deferred=True)
    told.add([(name, Problem(why)) for name, why in data.unreadable.items()])


def data_counts(data: DataSplits, skipped: Skipped | None) -> dict[str, Any]:
    """The images of each split (DataSplits.counted: held in memory, those read; streamed, those
    listed), and how many were left out unreadable (by the one rule, cnnctl.data.loader.Skipped:
    a stream's found so far, this run's resumed sessions' included; data held in memory's, found
    as it was decoded, none of them among the splits' counts)."""
    if data.streamed:
        left_out = len(skipped.names) if skipped is not None else 0
    else:
        left_out = len(data.unreadable)
    return {"train_images": data.counted("train"), "val_images": data.counted("val"),
            "images_skipped": left_out, "streamed": data.streamed}  # fmt: skip
