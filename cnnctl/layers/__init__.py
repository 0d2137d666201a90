"""The registry of layer kinds: name -> the one object that owns that kind's rules.

The PyTorch backend keeps a registry of builders keyed by the same names; a test checks
that the two have the same keys.
"""

from __future__ import annotations

from .activation import ACTIVATIONS
from .args import Arg
from .base import Args, LayerKind
from .channels import Chunk, Shuffle
from .conv import Conv, Deconv
from .dense import FC, Dropout, DropPath, Flatten
from .merge import Add, Concat, Mul, Upsample
from .norm import LRN, BatchNorm, GroupNorm, LayerNorm, LayerScale
from .pool import Pool

KINDS: dict[str, LayerKind] = {
    kind.name: kind
    for kind in (
        Conv(),
        Deconv(),
        Pool(),
        FC(),
        Flatten(),
        Dropout(),
        DropPath(),
        BatchNorm(),
        LayerNorm(),
        GroupNorm(),
        LayerScale(),
        LRN(),
        Add(),
        Mul(),
        Concat(),
        Chunk(),
        Shuffle(),
        Upsample(),
        *ACTIVATIONS,
    )
}

__all__ = ["KINDS", "Arg", "Args", "LayerKind"]
