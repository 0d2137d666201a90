"""Which device to train on: `auto` picks cuda, then mps, then cpu; anything else is checked."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..errors import CnnctlError
from .config import DEVICES


def available() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append("mps")
    return found


def resolve_device(name: str) -> torch.device:
    """A torch.device for `auto`, `cpu`, `cuda`, `cuda:N` or `mps`, or a clear CnnctlError."""
    word = name.strip().lower()
    here = ", ".join(available())
    if word == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if "mps" in available():
            return torch.device("mps")
        return torch.device("cpu")
    if word == "cpu":
        return torch.device("cpu")
    if word == "mps":
        if "mps" not in available():
            raise CnnctlError.at("--device mps: Apple's MPS backend is not available here", hint=f"available: {here}")
        return torch.device("mps")
    if word == "cuda" or word.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise CnnctlError.at(
                f"--device {name}: no CUDA GPU is available here"
                + ("" if torch.version.cuda else " (this PyTorch is a CPU-only build)"),
                hint=f"available: {here}; --device auto picks the best of them",
            )
        index = word.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise CnnctlError.at(f"--device {name}: there is no such GPU", hint=f"available: {here}")
        return torch.device(word)
    raise CnnctlError.at(f"--device `{name}` is not a device", hint=f"one of {DEVICES}")


@contextlib.contextmanager
def memory_guard(device: torch.device, batch_size: int) -> Iterator[None]:
    """Running out of memory, on the GPU or in the machine's RAM, is a batch too large for it:
    the user's to change, so it becomes one message rather than an allocator's traceback."""
    try:
        yield
    except RuntimeError as exc:  # torch.OutOfMemoryError (CUDA) is a RuntimeError too
        text = str(exc)
        if not (isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in text or "out of memory" in text):
            raise
        where = "GPU" if device.type == "cuda" else "memory"
        raise CnnctlError.at(
            f"out of {where} on {device} with batch {batch_size:,}",
            hint="lower --batch-size (the memory a step takes grows with it)",
        ) from None
