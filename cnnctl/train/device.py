"""Which device to train on: `auto` picks cuda, then mps, then cpu; anything else is checked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..device_memory import refuse_beyond_memory
from ..errors import CnnctlError
from ..words import size
from .config import DEVICES

if TYPE_CHECKING:
    from ..graph import Graph


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


def check_network_fits(graph: Graph, device: torch.device, optimizer: str, momentum: float) -> None:
    """Refuse a network whose parameters alone, with their gradients and the optimizer's state,
    exceed the device's whole memory: no batch size makes it fit, so "out of memory, lower
    --batch-size" would send the user the wrong way. float32 copies: weights (and buffers),
    a gradient per weight, and per weight two Adam moments or one SGD momentum."""
    from ..analysis.training import OPTIMIZERS, optimizer_kind

    states = OPTIMIZERS[optimizer_kind(optimizer, momentum)][1]
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
