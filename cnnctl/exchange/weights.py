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


# -- weights from elsewhere, placed by structure ------------------------------------------------
COUNTERS = "num_batches_tracked"  # batch norm's step counter: a buffer, not a weight; never placed


@record
class Placed:
    """One of the network's tensors (`own`, named by its layer path) and the source's tensor
    (`given`, its name there) put in it, with their shape."""

    own: str
    given: str
    shape: tuple
    left_out: tuple | None = None  # a new head's tensor: the source's, of this shape, was left out


def by_structure(
    given: Mapping[str, object], own: Mapping[str, object], where: str, skip: str | None = None
) -> list[Placed]:
    """The source's tensors `given` placed onto the network's `own` in order: parameters and
    buffers in definition order on both sides (a state_dict's order), batch norm's step
    counters aside; names are not compared, shapes are, one by one. The first tensor that does
    not fit, or a count that differs, is one CnnctlError naming the network's tensor and its
    shape and the source's tensor and its shape, located at `where` (the file): nothing is
    placed in part. `skip`: a layer made anew (a new head): its tensors, and the source's in
    the same places, are left out (Placed with `left_out`)."""
    from ..errors import CnnctlError, Loc

    theirs = [(name, shape_of(v)) for name, v in given.items() if not name.endswith(COUNTERS)]
    ours = [(name, shape_of(v)) for name, v in own.items() if not name.endswith(COUNTERS)]
    anew = []
    if skip is not None and len(ours) == len(theirs):  # the same network but the head: leave both heads out
        places = {i for i, (name, _) in enumerate(ours) if name.startswith(skip + ".")}
        anew = [Placed(ours[i][0], theirs[i][0], ours[i][1], theirs[i][1]) for i in sorted(places)]
        ours = [t for i, t in enumerate(ours) if i not in places]
        theirs = [t for i, t in enumerate(theirs) if i not in places]
    placed = []
    for i, ((name, shape), (source, got)) in enumerate(zip(ours, theirs, strict=False)):  # counts compared below
        if shape != got:
            layer = name.rsplit(".", 1)[0]
            raise CnnctlError.at(
                f"the weights do not fit layer `{layer}`: it takes `{name}` of {_dims(shape)}, and the source's "
                f"tensor {i + 1:,} in order is `{source}` of {_dims(got)}",
                Loc(where),
                hint="weights are placed by structure, in the order of the layers: the source must be this "
                f"network's ({len(ours):,} tensors) with its layers in the same order",
            )
        placed.append(Placed(name, source, shape))
    if len(ours) != len(theirs):
        more, less = ("the source", "the network") if len(theirs) > len(ours) else ("the network", "the source")
        extra = (theirs if len(theirs) > len(ours) else ours)[len(placed)]
        raise CnnctlError.at(
            f"{more} has more tensors than {less} ({max(len(ours), len(theirs)):,} against "
            f"{min(len(ours), len(theirs)):,}): the first left over is `{extra[0]}` of {_dims(extra[1])}",
            Loc(where),
            hint="weights are placed by structure: the source must be this network, layer for layer",
        )
    return placed + anew


def _dims(shape: tuple) -> str:
    return "x".join(str(d) for d in shape) if shape else "a scalar"


def read_state(path: str) -> dict:
    """The named tensors of a weights file: a cnnctl run or checkpoint (its weights), a
    PyTorch state_dict (.pt, .pth: loaded with weights_only, so it runs no code; a
    checkpoint holding it under `state_dict` or `model` too), or a .safetensors file."""
    from pathlib import Path

    import torch

    from ..errors import CnnctlError, Loc

    file = Path(path)
    if file.is_dir():  # a cnnctl run: its best weights
        from ..train.checkpoint import EVALUATE, load_checkpoint, weights_file

        return dict(load_checkpoint(weights_file(file), EVALUATE)["model"])
    if not file.is_file():
        kinds = "a cnnctl run or checkpoint, a .pt or .pth state_dict, or a .safetensors file"
        raise CnnctlError.at("no such weights file", Loc(str(path)), hint=kinds)
    if file.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CnnctlError.at("reading .safetensors needs the safetensors package", Loc(str(path)),
                                 hint="pip install safetensors") from None  # fmt: skip
        try:
            return dict(load_file(str(file)))
        except Exception as exc:  # a damaged header, a truncated file
            raise CnnctlError.at(f"cannot read the weights: {exc}", Loc(str(path))) from None
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, a pickle of code (refused by weights_only), a truncated file
        import zipfile

        if isinstance(exc, EOFError):
            why = "the file ends early"
        elif not zipfile.is_zipfile(file):  # what torch.save writes: the error of a stray file says nothing
            why = "not a file torch.save wrote"
        else:
            why = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CnnctlError.at(f"cannot read the weights: {why}", Loc(str(path)),
                             hint="a state_dict saved with torch.save(model.state_dict(), PATH)") from None  # fmt: skip
    # A checkpoint holds it inside: cnnctl's and Lightning's under `model` / `state_dict`, timm's too.
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise CnnctlError.at("not a state_dict: expected a mapping of names to tensors", Loc(str(path)),
                             hint="save one with torch.save(model.state_dict(), PATH)")  # fmt: skip
    return state


def load_by_structure(model: torch.nn.Module, path: str, skip: str | None = None) -> list[Placed]:
    """The weights file at `path` (read_state) placed into `model` by structure (by_structure):
    all of them (but those of the layer `skip`, made anew) or, with one message, none."""
    import torch

    given = read_state(path)
    own = model.state_dict()
    placed = by_structure(given, own, path, skip)
    tensors = {p.own: torch.as_tensor(given[p.given]).to(own[p.own].dtype) for p in placed if p.left_out is None}
    model.load_state_dict(tensors, strict=False)  # the counters aside, every tensor: by_structure checked
    return placed
