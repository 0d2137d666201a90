"""Named tensors matched onto a network's parameters and buffers, by name and shape.

The seam every way of loading weights goes through: a cnnctl checkpoint (all or nothing,
train/checkpoint.py), the initializers of an ONNX file (exchange/onnx_import.py's
`read_weights`), and later a state_dict from another framework or a partial load (a new
classifier head). `match_weights` only compares: it takes tensors, numpy arrays or plain
shapes, imports no torch, and returns per tensor what fits and what does not; what to do
about it (refuse, or load what fits) is the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import torch


@record
class TensorMatch:
    """One name of either side: its shape in what was given and in the network (None: absent there)."""

    name: str
    given: tuple | None  # the shape of the tensor given under this name
    own: tuple | None  # the shape of the network's parameter or buffer of this name

    @property
    def fits(self) -> bool:
        return self.given is not None and self.given == self.own


@record
class WeightMatch:
    """Every name of the network (in its order), then every name given that it lacks (in theirs)."""

    tensors: tuple  # of TensorMatch

    @property
    def matched(self) -> list[str]:
        return [t.name for t in self.tensors if t.fits]

    @property
    def missing(self) -> list[str]:
        """The network's names that nothing was given for."""
        return [t.name for t in self.tensors if t.given is None]

    @property
    def unexpected(self) -> list[str]:
        """The names given that the network does not have."""
        return [t.name for t in self.tensors if t.own is None]

    @property
    def reshaped(self) -> list[TensorMatch]:
        """The names on both sides whose shapes differ, each with both shapes."""
        return [t for t in self.tensors if None not in (t.given, t.own) and t.given != t.own]

    @property
    def complete(self) -> bool:
        """Every tensor of the network given, with its shape, and nothing else given."""
        return all(t.fits for t in self.tensors)


def shape_of(value) -> tuple[int, ...]:
    """The shape of a tensor or array (anything with `.shape`), or of a shape given as such."""
    return tuple(int(d) for d in getattr(value, "shape", value))


def match_weights(given: Mapping[str, object], own: Mapping[str, object]) -> WeightMatch:
    """Match the named tensors `given` onto the network's `own` (its state_dict, or names -> shapes).

    Values are tensors, numpy arrays or shapes (tuples of sizes); only shapes are compared.
    """
    given_shapes = {name: shape_of(v) for name, v in given.items()}
    rows = [TensorMatch(name, given_shapes.get(name), shape_of(v)) for name, v in own.items()]
    rows += [TensorMatch(name, shape, None) for name, shape in given_shapes.items() if name not in own]
    return WeightMatch(tuple(rows))


def load_matched(model: torch.nn.Module, given: Mapping[str, object]) -> WeightMatch:
    """Copy into `model` each tensor of `given` (torch tensors or numpy arrays) that fits it by
    name and shape, leave the rest of `model` as it is, and return the match."""
    import torch

    report = match_weights(given, model.state_dict())
    fitting = {name: torch.as_tensor(given[name]) for name in report.matched}
    model.load_state_dict(fitting, strict=False)
    return report
