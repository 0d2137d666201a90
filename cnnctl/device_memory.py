"""How much memory a device has, and what cnnctl does where a network or a batch would not fit
in it: one message rather than an allocator's traceback. Used by training, bench and export
alike (export checks its example batch), so it lies below them all."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from .errors import CnnctlError
from .words import size


def device_memory(device: torch.device) -> int | None:
    """Bytes of memory the device has in all (a GPU's, or the machine's RAM), None if unknown."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    if device.type == "cpu":
        with contextlib.suppress(AttributeError, ValueError, OSError):  # sysconf is POSIX only
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return None


def refuse_beyond_memory(need: int, device: torch.device, what: str, hint: str) -> None:
    """The one rule checked before allocating: `what` ("the network's 9 parameters need 36 B as
    float32") is refused where its `need` bytes exceed the device's whole memory (nothing then
    makes it fit; under that, an allocation that fails is memory_guard's)."""
    total = device_memory(device)
    if total is None or need <= total:
        return
    raise CnnctlError.at(f"{what}, more than the {size(total)} of memory {device} has", hint=hint)


SMALLER_INPUT = "give it a smaller --input"


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation that failed: Python's MemoryError, CUDA's, or what
    PyTorch's CPU allocator raises (a RuntimeError: `DefaultCPUAllocator: can't allocate memory`)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


@contextlib.contextmanager
def memory_guard(device: torch.device, batch_size: int, hint: str | None = None) -> Iterator[None]:
    """Running out of memory, on the GPU or in the machine's RAM, is a batch too large for it:
    the user's to change, so it becomes one message rather than an allocator's traceback.
    `hint`: what to do where the batch is not the user's (export's example batch)."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:  # torch.OutOfMemoryError (CUDA) is a RuntimeError too
        if not out_of_memory(exc):
            raise
        where = "GPU" if device.type == "cuda" else "memory"
        if hint is None:
            hint = (
                "lower --batch-size (the memory a step takes grows with it)"
                if batch_size > 1
                else f"even one image does not fit: make the network smaller, or {SMALLER_INPUT}"
            )
        raise CnnctlError.at(f"out of {where} on {device} with batch {batch_size:,}", hint=hint) from None
