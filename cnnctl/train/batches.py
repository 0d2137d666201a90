"""The training loop's only view of data: a batch source, and the first one, a split held
as one uint8 tensor, batched by index and normalised batch by batch.

A batch source gives the batches of an epoch for (epoch, start step, rank, world), the
steps an epoch has where it knows them, and every image once for validation. It keeps no
resume state of its own: an epoch's order is a function of (seed, epoch) and each worker's
share a function of its rank, so a checkpoint holds only the epoch and the steps done in
it, and a run resumed mid-epoch, or on another number of workers, sees the same batches.

The in-memory source: a batch is an index into the split, not a collation of samples: no
DataLoader, no worker processes. On a GPU the split lives in GPU memory when it fits (MNIST
and CIFAR-10 take a few hundred MB); otherwise it stays in host memory and each batch is
gathered into a pinned buffer and copied without blocking: the gather on the CPU overlaps
the GPU's work on the step before, and the copy is queued behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch

from ..data.masks import IGNORE, UNSCORED
from .fastpath import keep_on_device

Batch = tuple[torch.Tensor, torch.Tensor]  # normalised float NCHW images, int64 targets (classes or masks)


class BatchSource(Protocol):
    """What a data source implements for training and evaluation (cnnctl.train.loop)."""

    black: torch.Tensor  # (1, C, 1, 1): a zero pixel once normalised, what an augmenting crop pads with

    @property
    def images(self) -> int | None:
        """The images of one epoch; None where the source cannot tell (a stream)."""

    def steps_per_epoch(self, batch: int, world: int) -> int | None:
        """Whole steps of `batch` images on each of `world` workers in one epoch; None where unknown."""

    def epoch(self, epoch: int, start: int, batch: int, rank: int, world: int) -> Iterator[Batch]:
        """Worker `rank`'s `batch` images of each step of epoch `epoch`, from step `start` on
        (the steps done before a resume), in an order fixed by (seed, epoch)."""

    def in_order(self, batch: int, rank: int, world: int) -> Iterator[Batch]:
        """Worker `rank`'s share of every image once, in batches of at most `batch`: evaluation."""


class Normalise:
    """uint8 images (and their targets) as the network takes them: float on `device`, in
    channels_last, (x / 255 - mean) / std; masks as int64 with IGNORE where no class is scored."""

    def __init__(self, mean, std, device: torch.device):
        shape = (1, -1, 1, 1)
        self.device = device
        self.mean = torch.tensor(mean, device=device, dtype=torch.float32).view(shape)
        self.std = torch.tensor(std, device=device, dtype=torch.float32).view(shape)
        self.black = -self.mean / self.std  # a zero pixel once normalised
        # (x / 255 - mean) / std as x * scale + shift: one pass over the batch after the conversion, not three
        self.scale, self.shift = 1 / (255 * self.std), self.black
        self._tiled: tuple[tuple[int, int], torch.Tensor, torch.Tensor] | None = None

    def tiled(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """scale and shift repeated over an H x W x C image: multiplied element by element, not
        broadcast along the innermost axis of length C (which PyTorch does 5 times slower)."""
        if self._tiled is None or self._tiled[0] != (h, w):
            self._tiled = ((h, w), self.scale.view(-1).repeat(h, w, 1), self.shift.view(-1).repeat(h, w, 1))
        return self._tiled[1], self._tiled[2]

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        # channels_last (NHWC in memory): oneDNN's and cuDNN's fast convolution layout;
        # LeNet-5 trains about 1.5x faster with it on CPU.
        x = x.to(torch.float32, memory_format=torch.channels_last)
        if y.dim() == 3:  # masks: uint8 in memory, int64 for the loss
            y = y.long().masked_fill_(y == UNSCORED, IGNORE)
        scale, shift = self.tiled(x.shape[2], x.shape[3])
        # In place, through the N, H, W, C view of its memory: shift + x * scale in one pass over
        # the batch (addcmul), not two (mul_, then add_).
        nhwc = x.permute(0, 2, 3, 1)
        torch.addcmul(shift, nhwc, scale, out=nhwc)
        return x, y


def order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch: a function of the seed and the epoch only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def steps_in_epoch(n: int, position: int, batch: int, world: int) -> int:
    """Steps left in an epoch of `n` images from `position` (images of its order already used).

    A step takes `batch` images on each of `world` workers. A last, partial step is left
    out (its images come in other epochs, whose orders differ): every step then has the
    same images whatever the number of workers, so 1 process x 64 and 2 workers x 32 train
    alike and a run resumes on any number of workers exactly; and batch norm never sees a
    batch of one image.
    """
    return max(0, n - position) // (batch * world)


class Batches:
    """The in-memory BatchSource. x uint8 NCHW, y int64 class indices (or uint8 masks NHW,
    255 for a pixel of no class); `get(index)` gives the normalised float batch and int64
    targets on `device` (masks with IGNORE where no class is scored). `seed` fixes the
    order of each epoch."""

    def __init__(self, split, mean, std, device: torch.device, seed: int = 0):
        self.device, self.seed = device, seed
        # A flag, not a device comparison: torch.device("cuda") != torch.device("cuda:0").
        self.on_device = keep_on_device(device, split.x.numel() + split.y.numel() * split.y.element_size())
        home = device if self.on_device else torch.device("cpu")
        self.x = split.x.to(home)
        self.y = split.y.to(home)
        self.normalise = Normalise(mean, std, device)
        self.black = self.normalise.black
        # Two pinned buffers, used in turn; each is reused only after its copy has finished.
        self._staging: list[tuple[torch.Tensor, torch.Tensor, torch.cuda.Event | None]] = []
        self._turn = 0

    @property
    def index_device(self) -> torch.device:
        """Where the sample indices should be made: where the data is."""
        return self.x.device

    def __len__(self) -> int:
        return len(self.y)

    @property
    def images(self) -> int:
        return len(self)

    def steps_per_epoch(self, batch: int, world: int) -> int:
        return steps_in_epoch(len(self), 0, batch, world)

    def epoch(self, epoch: int, start: int, batch: int, rank: int, world: int) -> Iterator[Batch]:
        perm = order(len(self), self.seed, epoch).to(self.index_device)
        per_step = batch * world
        for step in range(start, self.steps_per_epoch(batch, world)):
            first = step * per_step + rank * batch  # the global batch's place in the order, then this worker's
            yield self.get(perm[first : first + batch])

    def in_order(self, batch: int, rank: int, world: int) -> Iterator[Batch]:
        n = len(self)
        begin, end = n * rank // world, n * (rank + 1) // world
        for start in range(begin, end, batch):
            yield self.get(torch.arange(start, min(start + batch, end), device=self.index_device))

    def get(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normalise(*self._gather(index))

    def _gather(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.on_device:
            return self.x[index], self.y[index]
        if self.device.type != "cuda":
            return self.x[index].to(self.device), self.y[index].to(self.device)
        n = len(index)
        if len(self._staging) < 2 or len(self._staging[0][0]) < n:
            self._staging = [
                (
                    torch.empty((n, *self.x.shape[1:]), dtype=self.x.dtype).pin_memory(),
                    torch.empty((n, *self.y.shape[1:]), dtype=self.y.dtype).pin_memory(),
                    None,
                )
                for _ in range(2)
            ]
        xs, ys, done = self._staging[self._turn]
        if done is not None:
            done.synchronize()  # the copy out of this buffer two batches ago has finished
        torch.index_select(self.x, 0, index, out=xs[:n])
        torch.index_select(self.y, 0, index, out=ys[:n])
        x = xs[:n].to(self.device, non_blocking=True)
        y = ys[:n].to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        self._staging[self._turn] = (xs, ys, event)
        self._turn = 1 - self._turn
        return x, y
