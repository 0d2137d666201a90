"""Images read from disk while training: the BatchSource of data too large to hold.

The stream is the in-memory source's twin (cnnctl.train.batches): the same order of each
epoch, a function of (seed, epoch) only; the same steps, each worker (rank) taking its own
slice of every global batch; the same count of whole steps. Only where the pixels come
from differs: each batch is one request to a `torch.utils.data.DataLoader` worker process,
which decodes its images (cnnctl.data.decode, the one decode path) into one uint8 tensor.
A request names its images, so whichever loader process serves it, however many there are,
the batch is the same: a resumed run, or one on another number of ranks or loader workers,
sees exactly the batches it would have seen, and no two ranks read the same image.

Host memory is bounded whatever the data's size: the index (cnnctl.data.samples: a few
flat tensors) plus, per loader worker, its prefetched batches.

Image folders are read in the epoch's random order, file by file. Shards are read forward:
the epoch's order takes the shards in a seeded order and shuffles the images within windows
of WINDOW consecutive images (a shuffle buffer, computed rather than filled, so each step's
images are known in advance), so the loader's reads move through the shards.

An image that cannot be read is left out of its batch, named in the run folder's
skipped.txt and counted in the epoch's line; above MAX_BAD of the images read, the run stops.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import CnnctlError
from .decode import area_box, centre_box, decode, decode_box
from .samples import Samples

WINDOW = 4096  # images shuffled together in an epoch of shards
MAX_BAD = 0.01  # the share of unreadable images a run tolerates
BAD_FLOOR = 100  # ... once this many images have been read (one bad among the first ten is not 10%)
CENTRE = 224 / 256  # the evaluation recipe's centre crop: 224 of the shorter side resized to 256
PREFETCH = 4  # batches each loader worker prepares ahead
MAX_WORKERS = 32


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which containers and taskset set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """Loader workers when --workers is not given: one per usable core, up to 8 (more
    rarely helps one GPU; each costs a process)."""
    return max(1, min(8, usable_cores()))


@dataclass(frozen=True)
class Recipe:
    """How each image of a split becomes the network's input in the loader: "fit" (padded
    or resized whole, the rule of data held in memory and of predict), "rrc" (a random
    resized crop, drawn per image from (seed, epoch, its place in the epoch)), "centre"
    (the evaluation recipe of photos: resized to cover the input at 256/224, centre-cropped)."""

    name: str = "fit"
    flip: bool = False  # half the images flipped left to right, drawn like the crop

    def said(self, target: tuple[int, int, int]) -> str:
        h, w, _ = target
        flipped = ", half flipped left to right" if self.flip else ""
        if self.name == "rrc":
            from ..train.augment import RATIO, SCALE

            area, aspect = f"{SCALE[0]:g}-{SCALE[1]:g}", f"{RATIO[0]:.2f}-{RATIO[1]:.2f}"
            return f"random resized crop to {h}x{w} (area {area}, aspect {aspect}) from the image as stored{flipped}"
        if self.name == "centre":
            side = round(min(h, w) / CENTRE)
            return f"resized so the shorter side is {side}, then the centre {h}x{w} (the 256 -> 224 recipe)"
        return f"each adapted to {h}x{w} as predict adapts one (padded where a little smaller, else resized){flipped}"


def epoch_order(samples: Samples, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch `epoch`: the in-memory source's for files (cnnctl.train.batches.order);
    for shards, the shards in a seeded order, then windows of WINDOW images shuffled."""
    from ..train.batches import order

    n = len(samples)
    if samples.kind != "shards":
        return order(n, seed, epoch)
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 7 + 1)
    # Each image's place in its shard's stored order, shards taken in a seeded order.
    shards = torch.randperm(len(samples.names), generator=gen)
    rank_of_shard = torch.empty_like(shards)
    rank_of_shard[shards] = torch.arange(len(shards))
    stored = torch.argsort(rank_of_shard[samples.shard.long()] * (1 << 40) + samples.offset, stable=True)
    out = torch.empty_like(stored)
    for start in range(0, n, WINDOW):
        part = stored[start : start + WINDOW]
        out[start : start + len(part)] = part[torch.randperm(len(part), generator=gen)]
    return out


class Images(torch.utils.data.Dataset):
    """What a loader worker serves: a request (epoch, position, indices) gives the batch of
    those images, decoded into one uint8 tensor (N, C, H, W, channels_last in memory: the
    layout the network runs in), their labels, and the images it could not read as (name,
    message). With `normalise` (training on the CPU), the batch comes normalised: the
    workers do that arithmetic beside each other, not the training process."""

    def __init__(self, samples: Samples, target: tuple[int, int, int], recipe: Recipe, seed: int, normalise=None):
        self.samples, self.target, self.recipe, self.seed = samples, target, recipe, seed
        self.normalise = normalise
        self.opened: dict = {}  # the shards this process keeps open (each worker has its own copy)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, request: tuple[int, int, torch.Tensor]):
        epoch, position, index = request
        h, w, c = self.target
        x = torch.empty((len(index), h, w, c), dtype=torch.uint8)  # each image one contiguous copy
        kept, bad = [], []
        for k, i in enumerate(index.tolist()):
            try:
                x[len(kept)] = self._image(i, epoch, position + k).permute(1, 2, 0)
                kept.append(k)
            except CnnctlError as exc:
                bad.append((self.samples.name(i), exc.problems[0].message))
        labels = self.samples.labels[index]
        if bad:
            labels = labels[torch.tensor(kept, dtype=torch.long)]
        x = x[: len(kept)].permute(0, 3, 1, 2)  # N, C, H, W in channels_last
        if self.normalise is not None:
            x, labels = self.normalise(x, labels)
        return x, labels, bad

    def _image(self, i: int, epoch: int, place: int) -> torch.Tensor:
        source = self.samples.source(i, self.opened)
        recipe = self.recipe
        if recipe.name == "centre":
            h, w, _ = self.target
            return decode_box(source, self.target, centre_box(h, w, CENTRE))
        if recipe.name == "fit" and not recipe.flip:
            return decode(source, self.target)
        area, ratio, cx, cy, flip = self.draws(epoch, place)
        flip = recipe.flip and flip < 0.5
        if recipe.name == "rrc":
            return decode_box(source, self.target, area_box(area, ratio, cx, cy), flip)
        x = decode(source, self.target)
        return x.flip(2) if flip else x

    def draws(self, epoch: int, place: int) -> tuple[float, float, float, float, float]:
        """The draws for the image at `place` of epoch `epoch`'s order: a random resized
        crop's area, log aspect and place (cx, cy), and a uniform number that flips it below 0.5."""
        from ..train.augment import RATIO, SCALE

        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 1_000_000_007 + place)
        area, ratio, cx, cy, flip = torch.rand(5, generator=gen, dtype=torch.float64).tolist()
        log_lo, log_hi = math.log(RATIO[0]), math.log(RATIO[1])
        return SCALE[0] + (SCALE[1] - SCALE[0]) * area, log_lo + (log_hi - log_lo) * ratio, cx, cy, flip


class _Requests(torch.utils.data.Sampler):
    """The requests of one pass, set before each (the loader's workers outlive the passes)."""

    def __init__(self) -> None:
        self.requests: list = []

    def __iter__(self):
        return iter(self.requests)

    def __len__(self) -> int:
        return len(self.requests)


@dataclass
class Skipped:
    """The images a stream could not read: named once each in `file` (the run folder's
    skipped.txt), counted against the images read."""

    file: Path | None = None
    seen: int = 0
    names: set[str] = field(default_factory=set)
    epoch_bad: int = 0  # this epoch's, for its line

    def add(self, read: int, bad: list[tuple[str, str]]) -> None:
        self.seen += read + len(bad)
        self.epoch_bad += len(bad)
        new = [(name, message) for name, message in bad if name not in self.names]
        self.names.update(name for name, _ in new)
        if new and self.file is not None:
            with open(self.file, "a", encoding="utf-8") as out:  # appended: a line per image, from any rank
                out.writelines(f"{name}: {message}\n" for name, message in new)
        total = len(self.names)
        if bad and total > MAX_BAD * max(self.seen, BAD_FLOOR):
            where = f" (each named in {self.file})" if self.file is not None else ""
            raise CnnctlError.at(
                f"{total:,} of the {self.seen:,} images read could not be decoded{where}, more than "
                f"{MAX_BAD:.0%}: the first, {bad[0][0]}: {bad[0][1]}",
                hint="repair or remove the damaged files; a few among many are skipped",
            )


class Stream:
    """The streaming BatchSource (cnnctl.train.batches.BatchSource) over `samples`."""

    def __init__(
        self,
        samples: Samples,
        target: tuple[int, int, int],
        mean,
        std,
        device: torch.device,
        *,
        seed: int = 0,
        workers: int = 0,
        recipe: Recipe = Recipe(),
        skipped: Skipped | None = None,
    ):
        from ..train.batches import Normalise  # the trainer's side: imported when a stream is made

        self.samples, self.target, self.seed, self.device = samples, target, seed, device
        self.recipe = recipe
        self.normalise = Normalise(mean, std, device)
        self.black = self.normalise.black
        self.skipped = skipped if skipped is not None else Skipped()
        self._requests = _Requests()
        workers = min(workers, MAX_WORKERS)
        # On the CPU the workers normalise too; for a GPU they hand over uint8 (a quarter of the
        # bytes to copy), normalised there.
        in_workers = self.normalise if device.type == "cpu" and workers > 0 else None
        self.loader = torch.utils.data.DataLoader(
            Images(samples, target, recipe, seed, in_workers),
            batch_size=None,  # each request is a whole batch
            sampler=self._requests,
            num_workers=workers,
            persistent_workers=workers > 0,
            prefetch_factor=PREFETCH if workers > 0 else None,
            pin_memory=device.type == "cuda",
            worker_init_fn=_one_thread,
            # Its own generator: a loader draws its workers' seeds from the global one otherwise,
            # and a resumed run would then draw different dropout masks than the run it continues.
            generator=torch.Generator().manual_seed(seed),
        )

    @property
    def images(self) -> int:
        return len(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def steps_per_epoch(self, batch: int, world: int) -> int:
        from ..train.batches import steps_in_epoch

        return steps_in_epoch(len(self.samples), 0, batch, world)

    def epoch(self, epoch: int, start: int, batch: int, rank: int, world: int):
        perm = epoch_order(self.samples, self.seed, epoch)
        per_step = batch * world
        requests = []
        for step in range(start, self.steps_per_epoch(batch, world)):
            first = step * per_step + rank * batch  # the global batch's place in the order, then this worker's
            requests.append((epoch, first, perm[first : first + batch]))
        return self._batches(requests)

    def in_order(self, batch: int, rank: int, world: int):
        n = len(self.samples)
        begin, end = n * rank // world, n * (rank + 1) // world
        requests = [(0, s, torch.arange(s, min(s + batch, end))) for s in range(begin, end, batch)]
        return self._batches(requests)

    def _batches(self, requests: list) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self._requests.requests = requests
        normalised = self.loader.dataset.normalise is not None
        for x, y, bad in self.loader:
            self.skipped.add(len(y), bad)
            if len(y) == 0:  # every image of the batch unreadable: nothing to train on (Skipped stops the run first)
                continue
            yield (x, y) if normalised else self.normalise(x, y)


def decode_all(
    samples: Samples, target: tuple[int, int, int], workers: int, batch: int = 64, skipped: Skipped | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of `samples` decoded as recipe "fit" decodes it, in order, by `workers`
    loader processes: (uint8 (N, C, H, W), labels), unreadable images left out (told to
    `skipped`). A sample for the channel statistics; data held in memory."""
    skipped = skipped if skipped is not None else Skipped()
    requests = _Requests()
    requests.requests = [(0, s, torch.arange(s, min(s + batch, len(samples)))) for s in range(0, len(samples), batch)]
    workers = min(workers, MAX_WORKERS, len(requests))
    loader = torch.utils.data.DataLoader(
        Images(samples, target, Recipe(), 0), batch_size=None, sampler=requests, num_workers=workers,
        prefetch_factor=PREFETCH if workers > 0 else None, worker_init_fn=_one_thread,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    h, w, c = target
    x = torch.empty((len(samples), c, h, w), dtype=torch.uint8)
    y = torch.empty(len(samples), dtype=torch.int64)
    kept = 0
    for part, labels, bad in loader:
        skipped.add(len(labels), bad)
        x[kept : kept + len(labels)], y[kept : kept + len(labels)] = part, labels
        kept += len(labels)
    return x[:kept], y[:kept]


def _one_thread(_worker: int) -> None:
    """A loader worker decodes with one thread: the workers are the parallelism. Ctrl-C
    reaches the whole process group: the trainer finishes its step and saves, so its loader
    workers must not die of it first (SIGTERM still ends them at once)."""
    import signal

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
