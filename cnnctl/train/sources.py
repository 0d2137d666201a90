"""What a run trains on: its data loaded as the settings say, and the batch sources the loop
and `cnnctl bench --data` read it through (in memory, or streamed), with the augmentation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..graph import Graph
from ..words import plural
from .augment import Augment, crop_padding
from .batches import Batches, BatchSource
from .config import TrainConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..data import DataSplits
    from ..data.stats import Stats


def loader_workers(config: TrainConfig) -> int:
    """The loader processes a stream is read by: --workers, else one per usable core (up to 8)."""
    from ..data.loader import default_workers

    return config.workers if config.workers is not None else default_workers()


def load_training_data(
    config: TrainConfig, graph: Graph, workers: int, *, stats: Stats | None = None, index: Path | None = None,
    progress: Callable[..., None] | None = None,
) -> DataSplits:  # fmt: skip
    """The data `config` trains `graph` on (cnnctl.data.load_data): a run's, and bench's.
    `stats`: the normalisation to use (None: computed over the training images); `index`:
    a resumed run's kept list of images; `progress`: told of a long listing."""
    from ..data import load_data  # torch-side module: imported with the trainer only
    from ..graph.outputs import dense_shape

    data = load_data(
        config.data, graph.input_shape, data_dir=config.data_dir, val_split=config.val_split, seed=config.seed,
        masks=dense_shape(graph), stats=stats, stream=config.stream, workers=workers, index=index, progress=progress,
    )  # fmt: skip
    if config.workers is not None and data.streamed:  # said once, in place of PyTorch's raw warning (train, bench)
        from ..data.loader import more_than_cores

        if note := more_than_cores(config.workers):
            data.notes.append(note)
    return data


@dataclass
class Sources:
    """What a run trains and validates on: the batch sources (cnnctl.train.batches), the
    augmentation run on the device, the stream's record of unreadable images (None for data
    held in memory) and what to say of them."""

    train: BatchSource
    val: BatchSource
    augment: Augment
    skipped: Any  # cnnctl.data.loader.Skipped, or None
    notes: list[str]
    decoding: str = ""  # where a stream's JPEGs are decoded, for the `fast path:` line (cnnctl.train.decoding)

    def training(self, epoch: int, first: int, batch: int, rank: int, world: int) -> Iterator[tuple]:
        """Worker `rank`'s training batches of epoch `epoch` from step `first`, augmented as
        the run trains on them: each drawn for the global batch at its place in the epoch's order."""
        per_step = batch * world
        batches = self.train.epoch(epoch, first, batch, rank, world)
        for step, (x, y) in enumerate(batches, first):  # `step`: the steps done before this one
            if self.augment:
                x, y = self.augment(x, y, epoch, step * per_step, per_step, rank * batch)
            yield x, y


def make_sources(
    data: DataSplits, config: TrainConfig, graph: Graph, device: torch.device, workers: int, run_dir: Path | None = None
) -> Sources:
    """The batch sources of `data` (cnnctl.data.DataSplits) as a run trains on them: data
    held in memory is batched by index (cnnctl.train.batches), a stream read by `workers`
    loader processes (cnnctl.train.stream, cnnctl.data.loader), which make a random resized
    crop from the image as stored, before it is reduced to the input `shape`, and flip it; a
    padded crop runs on the device; its JPEGs are decoded on the GPU instead where
    cnnctl.train.decoding chooses so. A stream names its unreadable images in
    `run_dir`/skipped.txt (None: only counted)."""
    ops, shape = config.augment, graph.input_shape
    if not data.streamed:
        train = Batches(data.train, data.mean, data.std, device, seed=config.seed)
        val = Batches(data.val, data.mean, data.std, device)
        return Sources(train, val, Augment(ops, config.seed, train.black), None, [])
    from ..data.gpu_decode import GpuDecoder
    from ..data.loader import SKIPPED, Skipped, recipes
    from .decoding import choose
    from .stream import Stream

    train_recipe, val_recipe, ops = recipes(ops)
    decoding = choose(config.decode, device, graph, data.train, train_recipe, shape, workers, config.seed)
    gpu = GpuDecoder(shape, device) if decoding.gpu else None
    # One population for the rule on unreadable images: every image the run listed, both splits.
    skipped = Skipped(
        Path(run_dir) / SKIPPED if run_dir is not None else None, listed=data.images_listed, lost=data.lost
    )
    common = {"device": device, "workers": workers, "skipped": skipped, "gpu": gpu}
    train = Stream(data.train, shape, data.mean, data.std, seed=config.seed, recipe=train_recipe, **common)
    val = Stream(data.val, shape, data.mean, data.std, recipe=val_recipe, **common)
    loaders = plural(workers, "loader process", "loader processes")
    where = ", decoded on the GPU" if gpu is not None else ""
    # A padded crop needs the batch: it runs on the device after the loader's work, said here too
    # (the training images' whole recipe in one line, not only in `recipe:`).
    then = ""
    if "crop" in ops.split(","):
        pad = crop_padding(shape[0], shape[1])
        then = f"; then, on the {device.type}, a random {shape[0]}x{shape[1]} crop of it padded by {pad} with black"
    notes = [f"training images: {train_recipe.said(shape)} ({loaders}{where}){then}"]
    if data.val_from:  # none held out (--val-split 0): the `no validation` note says so, and no recipe is used
        notes.append(f"validation images: {val_recipe.said(shape)}")
    return Sources(train, val, Augment(ops, config.seed, train.black), skipped, notes, decoding.said)
