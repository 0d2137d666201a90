"""Which device to train on: `auto` picks cuda, then mps, then cpu; anything else is checked."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from ..errors import CnnctlError
from ..render.numbers import size
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


def check_network_fits(graph, device: torch.device, optimizer: str, momentum: float) -> None:
    """Refuse a network whose parameters alone, with their gradients and the optimizer's state,
    exceed the device's whole memory: no batch size makes it fit, so "out of memory, lower
    --batch-size" would send the user the wrong way. float32 copies: weights (and buffers),
    a gradient per weight, and per weight two Adam moments or one SGD momentum."""
    states = 2 if optimizer in ("adam", "adamw") else 1 if momentum else 0
    need = 4 * (graph.params * (2 + states) + graph.buffers)
    biggest = max(graph.nodes, key=lambda node: node.params)
    state = {2: f", {optimizer}'s two moments", 1: ", the momentum", 0: ""}[states]
    refuse_beyond_memory(
        need,
        device,
        f"the network's {graph.params:,} parameters need {size(need)} as float32 (weights, gradients{state})",
        hint=f"make the network smaller: `{biggest.path}` alone holds {biggest.params:,} parameters"
        + (" (an fc after a large volume: pool or stride before it)" if biggest.kind == "fc" else ""),
    )


SMALLER_INPUT = "give it a smaller --input"


@contextlib.contextmanager
def memory_guard(device: torch.device, batch_size: int, hint: str | None = None) -> Iterator[None]:
    """Running out of memory, on the GPU or in the machine's RAM, is a batch too large for it:
    the user's to change, so it becomes one message rather than an allocator's traceback.
    `hint`: what to do where the batch is not the user's (export's example batch)."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:  # torch.OutOfMemoryError (CUDA) is a RuntimeError too
        text = str(exc)
        said = "can't allocate memory" in text or "out of memory" in text
        if not (isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or said):
            raise
        where = "GPU" if device.type == "cuda" else "memory"
        if hint is None:
            hint = (
                "lower --batch-size (the memory a step takes grows with it)"
                if batch_size > 1
                else f"even one image does not fit: make the network smaller, or {SMALLER_INPUT}"
            )
        raise CnnctlError.at(f"out of {where} on {device} with batch {batch_size:,}", hint=hint) from None
