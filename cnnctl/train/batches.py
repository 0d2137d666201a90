"""A split held as one uint8 tensor, batched by index and normalised batch by batch.

A batch is an index into the split, not a collation of samples: no DataLoader, no worker
processes. On a GPU the split lives in GPU memory when it fits (MNIST and CIFAR-10 take
a few hundred MB); otherwise it stays in host memory and each batch is gathered into a
pinned buffer and copied without blocking: the gather on the CPU overlaps the GPU's work
on the step before, and the copy is queued behind it.
"""

from __future__ import annotations

import torch

from ..data.masks import IGNORE, UNSCORED
from .fastpath import keep_on_device


class Batches:
    """x uint8 NCHW, y int64 class indices (or uint8 masks NHW, 255 for a pixel of no class);
    `get(index)` gives the normalised float batch and int64 targets on `device` (masks with
    IGNORE where no class is scored)."""

    def __init__(self, split, mean, std, device: torch.device):
        self.device = device
        # A flag, not a device comparison: torch.device("cuda") != torch.device("cuda:0").
        self.on_device = keep_on_device(device, split.x.numel() + split.y.numel() * split.y.element_size())
        home = device if self.on_device else torch.device("cpu")
        self.x = split.x.to(home)
        self.y = split.y.to(home)
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(mean, device=device, dtype=torch.float32).view(shape)
        self.std = torch.tensor(std, device=device, dtype=torch.float32).view(shape)
        # Two pinned buffers, used in turn; each is reused only after its copy has finished.
        self._staging: list[tuple[torch.Tensor, torch.Tensor, torch.cuda.Event | None]] = []
        self._turn = 0

    @property
    def index_device(self) -> torch.device:
        """Where the sample indices should be made: where the data is."""
        return self.x.device

    def __len__(self) -> int:
        return len(self.y)

    def get(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._gather(index)
        # channels_last (NHWC in memory): oneDNN's and cuDNN's fast convolution layout;
        # LeNet-5 trains about 1.5x faster with it on CPU.
        x = x.to(torch.float32, memory_format=torch.channels_last)
        if y.dim() == 3:  # masks: uint8 in memory, int64 for the loss
            y = y.long().masked_fill_(y == UNSCORED, IGNORE)
        return x.div_(255).sub_(self.mean).div_(self.std), y

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
