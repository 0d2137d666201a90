"""How close `cnnctl memory`'s activations are to what PyTorch really keeps for backward.

    python benchmarks/memory_accuracy.py [--batch 2] [--amp]

For every bundled network: the compiled module's training forward pass on CPU, laid out
channels_last as `cnnctl train` runs it, with every
tensor autograd packs for the backward pass seen through `saved_tensors_hooks`; the bytes of
the distinct storages (parameters and buffers left out) against cnnctl's estimate. With
--amp, under CPU autocast to bfloat16, against `cnnctl memory --amp`.
"""

from __future__ import annotations

import argparse
import contextlib
import warnings

import torch

import cnnctl
from cnnctl.analysis.memory import training_memory
from cnnctl.backend import to_torch
from cnnctl.catalog import bundled

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def measured(graph, batch: int, amp: bool = False) -> int:
    """Bytes of the distinct storages a training forward pass keeps for backward."""
    model = to_torch(graph, logits=True).train().to(memory_format=torch.channels_last)  # as train lays it out
    own = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    kept: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in own:
            kept.setdefault(storage.data_ptr(), storage.nbytes())
        return t

    h, w, c = graph.input_shape
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        model(torch.rand(batch, c, h, w).contiguous(memory_format=torch.channels_last))
    return sum(kept.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--amp", action="store_true")
    options = parser.parse_args()
    batch, amp = options.batch, options.amp
    print(f"{'network':<20} {'measured bytes':>15} {'cnnctl bytes':>15} {'ratio':>7}")
    for name in sorted(bundled()):
        graph = cnnctl.load(name)
        got = measured(graph, batch, amp)
        estimate = training_memory(graph, batch, amp=amp, device="cpu").saved
        print(f"{name:<20} {got:>15,} {estimate:>15,} {estimate / got:>7.4f}")


if __name__ == "__main__":
    main()
