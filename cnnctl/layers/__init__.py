"""The registry of layer kinds: name -> the one object that owns that kind's rules.

Each kind registers itself in its own module (`@registered` on its class, `cnnctl.layers.base`);
importing the modules here fills `KINDS`. The PyTorch backend registers a builder and a source
writer under the same names (`cnnctl.backend.builders`); tests check that every kind has them.
"""

from __future__ import annotations

from . import activation, channels, conv, dense, merge, norm, pool  # noqa: F401 - each registers its kinds
from .args import Arg, ArgSpec
from .base import KINDS, Args, LayerKind

# Listed (in hints, the schema) module by module, the activations last: their module registers
# them first, as the other kinds' `act=` type comes from it.
_ORDER = ("conv", "pool", "dense", "norm", "merge", "channels", "activation")
for _name in sorted(KINDS, key=lambda name: _ORDER.index(type(KINDS[name]).__module__.rsplit(".")[-1])):
    KINDS[_name] = KINDS.pop(_name)

KIND_ALIASES: dict[str, str] = {alias: kind.name for kind in KINDS.values() for alias in kind.aliases}
"""Other names of a kind, accepted as it: the same function under another paper's name."""
KIND_SYNONYMS: dict[str, str] = {name: written for kind in KINDS.values() for name, written in kind.synonyms.items()}
"""Other tools' names of the kinds, with what to write in cnnctl, for a "did you mean" hint
(not accepted: they may differ)."""

__all__ = ["KINDS", "KIND_ALIASES", "KIND_SYNONYMS", "Arg", "ArgSpec", "Args", "LayerKind"]
