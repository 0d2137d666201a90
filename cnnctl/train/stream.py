"""Images read from disk while training: the BatchSource of data too large to hold.

The stream is the in-memory source's twin (cnnctl.train.batches): the same order of each
epoch, a function of (seed, epoch) only; the same steps, each rank taking its own slice of
every global batch; the same count of whole steps. Only where the pixels come from differs:
each batch is one request to a loader process (cnnctl.data.loader), which decodes its
images into one tensor. A request names its images, so a resumed run, or one on another
number of ranks or loader workers, sees exactly the batches it would have seen, and no two
ranks read the same image.

Host memory is bounded whatever the data's size: the index (cnnctl.data.samples: a few
flat tensors) plus, per loader worker, its prefetched batches.

With `gpu` (cnnctl.data.gpu_decode, chosen by cnnctl.train.decoding), the loader processes
hand over each batch's JPEGs as stored, with their crops, and the GPU decodes and crops
them, a thread of its own two batches ahead of the step.

Image folders are read in the epoch's random order, file by file. Shards are read forward:
the epoch's order takes the shards in a seeded order and shuffles the images within windows
of WINDOW consecutive images (a shuffle buffer, computed rather than filled, so each step's
images are known in advance), so the loader's reads move through the shards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Iterator

import torch

from ..data.gpu_decode import GpuDecoder
from ..data.loader import MAX_WORKERS, PREFETCH, Images, Loader, Recipe, Requests, Skipped, worker_start
from ..data.samples import Samples
from .batches import Batch, Normalise, order, steps_in_epoch

WINDOW = 4096  # images shuffled together in an epoch of shards


def epoch_order(samples: Samples, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch `epoch`: the in-memory source's for files (cnnctl.train.batches.order);
    for shards, the shards in a seeded order, then windows of WINDOW images shuffled."""
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


def _worker_start() -> str | None:
    """How loader processes start: forked (at once, sharing the index's pages), but from a
    fork server in a data-parallel worker, whose communication threads (gloo's, NCCL's) make
    a plain fork unsafe: a lock one of them holds at the fork stays held in the child."""
    import torch.distributed as dist

    return "forkserver" if dist.is_available() and dist.is_initialized() else None


@functools.cache
def reuse_batch_memory() -> None:
    """Let glibc's malloc keep a freed batch for the next one. A float batch of 64 images of
    224x224x3 is 38 MB, above the largest size glibc keeps in its heap (32 MB): each batch
    would be mapped afresh and its 9,400 new pages zeroed by the kernel on first touch, which
    costs more than normalising them. Raising the mapping and trimming thresholds to 1 GiB
    keeps such blocks for reuse; the peak is unchanged, and a process that freed its batches
    keeps them mapped until it ends. Elsewhere (macOS, musl) nothing is done."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    most = 1 << 30
    mallopt(-3, most)  # M_MMAP_THRESHOLD
    mallopt(-1, most)  # M_TRIM_THRESHOLD


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
        gpu: GpuDecoder | None = None,
    ):
        self.samples, self.seed = samples, seed
        if device.type == "cpu":
            reuse_batch_memory()
        self.normalise = Normalise(mean, std, device)
        self.black = self.normalise.black
        self.skipped = skipped if skipped is not None else Skipped(listed=len(samples))
        self._requests = Requests()
        workers = min(workers, MAX_WORKERS)
        # The workers hand over uint8 (a quarter of the bytes of float), normalised here, on the
        # device; with `gpu`, the JPEGs as stored, decoded there.
        self.gpu = gpu
        self.loader = Loader(
            Images(samples, target, recipe, seed, encoded=gpu is not None),
            batch_size=None,  # each request is a whole batch
            sampler=self._requests,
            num_workers=workers,
            persistent_workers=workers > 0,
            prefetch_factor=PREFETCH if workers > 0 else None,
            pin_memory=device.type == "cuda",
            worker_init_fn=worker_start(),
            # Its own generator: a loader draws its workers' seeds from the global one otherwise,
            # and a resumed run would then draw different dropout masks than the run it continues.
            generator=torch.Generator().manual_seed(seed),
            multiprocessing_context=_worker_start() if workers > 0 else None,
        )

    @property
    def images(self) -> int:
        return len(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def steps_per_epoch(self, batch: int, world: int) -> int:
        return steps_in_epoch(len(self.samples), 0, batch, world)

    def epoch(self, epoch: int, start: int, batch: int, rank: int, world: int) -> Iterator[Batch]:
        perm = epoch_order(self.samples, self.seed, epoch)
        per_step = batch * world
        requests = []
        for step in range(start, self.steps_per_epoch(batch, world)):
            first = step * per_step + rank * batch  # the global batch's place in the order, then this worker's
            requests.append((epoch, first, perm[first : first + batch]))
        return self._batches(requests)

    def in_order(self, batch: int, rank: int, world: int) -> Iterator[Batch]:
        n = len(self.samples)
        begin, end = n * rank // world, n * (rank + 1) // world
        requests = [(0, s, torch.arange(s, min(s + batch, end))) for s in range(begin, end, batch)]
        return self._batches(requests)

    def _batches(self, requests: list) -> Iterator[Batch]:
        self._requests.requests = requests
        parts = self.gpu.ahead(self.loader) if self.gpu is not None else iter(self.loader)
        try:
            for x, y, bad in parts:
                self.skipped.add(bad)
                if len(y) == 0:  # every image unreadable: nothing to train on (Skipped stops the run first)
                    continue
                yield self.normalise(x, y)
        finally:  # a pass left early (an epoch stopped): the GPU's decoding thread ends before the next
            if self.gpu is not None:
                parts.close()
