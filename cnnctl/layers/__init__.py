"""The registry of layer kinds: name -> the one object that owns that kind's rules.

Each kind registers itself in its own module (`@registered` on its class, `cnnctl.layers.base`);
importing the modules here fills `KINDS`. The PyTorch backend registers a builder and a source
writer under the same names (`cnnctl.backend.builders`); tests check that every kind has them.
"""

from __future__ import annotations

from importlib import import_module

from .args import Arg, ArgSpec
from .base import KINDS, Args, LayerKind

# The modules that define kinds, in the order their kinds are listed (in hints, the schema);
# importing each registers its kinds. The activations are listed last, though their module
# registers them first (the other kinds' `act=` type comes from it, so it is imported by theirs).
# A test checks that every module of the package that registers a kind is named here.
MODULES = ("conv", "pool", "dense", "norm", "merge", "crop", "channels", "activation")
for _module in MODULES:
    import_module(f"{__name__}.{_module}")


def _listed_at(name: str) -> int:
    module = type(KINDS[name]).__module__.rsplit(".")[-1]
    return MODULES.index(module) if module in MODULES else len(MODULES)  # unlisted: the test names it


for _name in sorted(KINDS, key=_listed_at):
    KINDS[_name] = KINDS.pop(_name)

KIND_ALIASES: dict[str, str] = {alias: kind.name for kind in KINDS.values() for alias in kind.aliases}
"""Other names of a kind, accepted as it: the same function under another paper's name."""
KIND_SYNONYMS: dict[str, str] = {name: written for kind in KINDS.values() for name, written in kind.synonyms.items()}
"""Other tools' names of the kinds, with what to write in cnnctl, for a "did you mean" hint
(not accepted: they may differ)."""

__all__ = ["KINDS", "KIND_ALIASES", "KIND_SYNONYMS", "Arg", "ArgSpec", "Args", "LayerKind"]
