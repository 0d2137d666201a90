"""Named tensors matched onto a network's parameters and buffers, by name and shape.

The seam every way of loading weights goes through: a cnnctl checkpoint (all or nothing,
train/checkpoint.py), the initializers of an ONNX file (exchange/onnx_import/imported_weights.py's
`read_weights`), and later a state_dict from another framework or a partial load (a new
classifier head). `match_weights` only compares: it takes tensors, numpy arrays or plain
shapes, imports no torch, and returns per tensor what fits and what does not; what to do
about it (refuse, or load what fits) is the caller's.

`--weights FILE` (train, evaluate, predict, export, bench) goes through `place_weights`: by
name where the file's names are the network's own (a cnnctl checkpoint, the .safetensors
`cnnctl import` writes beside the network it writes, that network's ONNX file), else by
structure; `save_safetensors` writes what `cnnctl import` writes, without torch.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Mapping

from ..limits import SAFETENSORS_HEADER
from ..records import record
from ..shapes import format_shape

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import torch
    from safetensors import safe_open

    from ..shapes import Shape

    # Reads the weights of a cnnctl run folder given as weights (cnnctl.train.checkpoint.run_weights:
    # its best checkpoint, checked as evaluate reads it). Runs are the trainer's, a layer above
    # this one: the commands that take --weights pass it in.
    RunReader = Callable[[Path], Mapping[str, object]]


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


def shape_of(value: object) -> tuple[int, ...]:
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


# -- weights from elsewhere, placed by structure ------------------------------------------------
COUNTERS = "num_batches_tracked"  # batch norm's step counter: a buffer, not a weight; never placed


@record
class Placed:
    """One of the network's tensors (`own`, named by its layer path) and the source's tensor
    (`given`, its name there; in a Placement, the name its file has: _as_stored) put in it, with
    their shape."""

    own: str
    given: str
    shape: tuple
    left_out: tuple | None = None  # a new head's tensor: the source's, of this shape, was left out


def by_structure(
    given: Mapping[str, object], own: Mapping[str, object], where: str, skip: str | tuple[str, ...] | None = None
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
    counts = (len(ours), len(theirs))
    anew, heads = [], []
    if skip is not None:
        places = {i for i, (name, _) in enumerate(ours) if in_layers(name, skip)}
        if len(ours) == len(theirs):  # the same network but the head: leave both heads out, place for place
            anew = [Placed(ours[i][0], theirs[i][0], ours[i][1], theirs[i][1]) for i in sorted(places)]
            theirs = [t for i, t in enumerate(theirs) if i not in places]
        else:  # the source has tensors more or fewer: its head is told apart once the rest is placed
            heads = [ours[i] for i in sorted(places)]
        ours = [t for i, t in enumerate(ours) if i not in places]
    placed = []
    pending = list(enumerate(theirs))  # the source's tensors not placed yet, in order, with their places
    taken = -1  # the place of the source's tensor placed last
    for name, shape in ours:
        if not pending:
            break  # the network has more: told below
        # The source's next tensor, or one of the few after it where the next does not fit: a block
        # may define a tensor before its layers that the network's file writes after them
        # (torchvision's ConvNeXt its layer scale), and shapes tell them apart.
        k = next((k for k, (_, (_, got)) in enumerate(pending[: REORDER + 1]) if fits(shape, got)), None)
        if k is None:
            # the source's tensor in this layer's turn: the first after the one placed last (one passed
            # over before it, a tensor the network has no place for, is not what this layer lacks)
            i, (source, got) = next(((i, t) for i, t in pending if i > taken), pending[0])
            raise CnnctlError.at(
                f"the weights do not fit layer `{name.rsplit('.', 1)[0]}`: it takes `{name}` of "
                f"{format_shape(shape)}, and the source's tensor {i + 1:,} in order is "
                f"`{stored_name(given, source)}` of {format_shape(got)}",
                Loc(where),
                hint="weights are placed by structure, in the order of the layers: the source must be this "
                f"network's ({counts[0]:,} tensors) with its layers in the same order",
            )
        taken, (source, got) = pending.pop(k)
        placed.append(Placed(name, source, shape))
    if heads:
        # the source's head, left out for the one made anew: its tensors of the head's names, else as
        # many of its last ones left over; where it has none, the network's head is what it lacks
        names = {name for name, _ in heads}
        theirs_head = [t for t in pending if t[1][0] in names] or pending[max(0, len(pending) - len(heads)) :]
        if len(placed) == len(ours) and len(theirs_head) == len(heads):
            anew = [Placed(name, t[1][0], shape, t[1][1]) for (name, shape), t in zip(heads, theirs_head, strict=True)]
            pending = [t for t in pending if t not in theirs_head]
        else:
            ours = ours + heads  # told below as the network's tensors the source lacks
    if pending or len(placed) < len(ours):
        more, less = ("the source", "the network") if pending else ("the network", "the source")
        extra = pending[0][1] if pending else ours[len(placed)]
        raise CnnctlError.at(
            f"{more} has more tensors than {less} ({max(counts):,} against "
            f"{min(counts):,}): the first left over is "
            f"`{stored_name(given, extra[0]) if pending else extra[0]}` of {format_shape(extra[1])}"
            + (_bias_without_place(extra[0], placed, own) if pending else ""),
            Loc(where),
            hint="weights are placed by structure: the source must be this network, layer for layer"
            + (
                " (a checkpoint that also holds other tensors, an EMA copy or an auxiliary head, can be "
                "saved as the model's alone: torch.save(model.state_dict(), FILE))"
                if pending
                else ""
            ),
        )
    return placed + anew


def _bias_without_place(name: str, placed: list[Placed], own: Mapping[str, object]) -> str:
    """Where the source's tensor `name`, left over, is the bias of one whose weight went to a layer
    with no bias (ECA's Conv1d with a bias, onto a `channelconv` without bias=true; a conv onto one
    of bias=false):
    that, said; else nothing."""
    layer = name.removesuffix(".bias")
    took = next((p.own for p in placed if p.given == f"{layer}.weight"), None) if name != layer else None
    if took is None or f"{took.rsplit('.', 1)[0]}.bias" in own:
        return ""
    return f", the bias of `{layer}`, whose weight went to `{took}`: that layer has none"


def in_layers(name: str, layers: str | tuple[str, ...] | None) -> bool:
    """Whether the tensor `name` is one of the layer `layers`' (a path, or several: a new head
    and the auxiliary heads made anew with it)."""
    if layers is None:
        return False
    return name.startswith(tuple(f"{p}." for p in ((layers,) if isinstance(layers, str) else layers)))


REORDER = 8  # by structure, a source tensor may be taken this many places ahead of its turn


def fits(shape: tuple, got: tuple) -> bool:
    """Whether a source tensor of shape `got` fits the network's `shape`: equal, a Linear's
    weight (out x in) where the network has a 1x1 convolution's (out x in x 1 x 1), or a
    Conv1d's (out x in x k) where the network has a k x 1 convolution's (out x in x k x 1):
    ECA's channel convolution as timm and the paper store it (`channelconv`'s is 1 x 1 x k x 1).
    Placing reshapes it onto the network's shape (_load)."""
    return shape == got or (len(got) == 2 and shape == (*got, 1, 1)) or (len(got) == 3 and shape == (*got, 1))


def same_names(given: Mapping[str, object], own: Mapping[str, object]) -> bool:
    """Whether the source's names are exactly the network's own, batch norm's step counters aside
    (a cnnctl checkpoint, or the weights `cnnctl import` wrote for the network it wrote)."""
    return {n for n in given if not n.endswith(COUNTERS)} == {n for n in own if not n.endswith(COUNTERS)}


def by_name(
    given: Mapping[str, object], own: Mapping[str, object], where: str, skip: str | tuple[str, ...] | None = None
) -> list[Placed]:
    """The source's tensors `given`, named as the network's `own` (same_names), each placed under
    its own name; shapes are checked in the network's order, and the first that differs is one
    CnnctlError naming the tensor and both shapes, located at `where`: nothing is placed in part.
    `skip`: a layer made anew (a new head), its tensors left out (Placed with `left_out`)."""
    from ..errors import CnnctlError, Loc

    placed = []
    for name, value in own.items():
        if name.endswith(COUNTERS):
            continue
        shape, got = shape_of(value), shape_of(given[name])
        if in_layers(name, skip):
            placed.append(Placed(name, name, shape, got))
            continue
        if shape != got:
            raise CnnctlError.at(
                f"the weights do not fit layer `{name.rsplit('.', 1)[0]}`: it takes `{name}` of {format_shape(shape)}, "
                f"and the source's `{stored_name(given, name)}` is {format_shape(got)}",
                Loc(where),
                hint="the source has this network's names with another network's shapes: was the network file "
                "changed after the weights were written?",
            )
        placed.append(Placed(name, name, shape))
    return placed


def read_state(
    path: str, read_run: RunReader | None = None, input: Shape | None = None, largest: int | None = None
) -> dict:
    """The named tensors of a weights file: a cnnctl run or checkpoint (its weights, read and
    checked by `read_run`, as evaluate reads them: train.checkpoint.run_weights), a PyTorch
    state_dict (.pt, .pth: loaded with weights_only, so it runs no code;
    a checkpoint holding it under `state_dict` or `model` too), a .safetensors file (in the
    order its metadata keeps, where cnnctl wrote it), or an ONNX file's initializers (under
    the names of the network `cnnctl import` reads from it, in that network's order; `input`,
    the network's own, reads one exported with dynamic sizes at it). The sizes a file declares
    are checked before its values are read (check_weight_sizes; `largest`: the values of the
    network's largest tensor, where every tensor given must fit one of its places)."""
    from pathlib import Path

    import torch

    from ..checkpoint_record import FORMAT
    from ..errors import CnnctlError, Loc
    from ..files import REGULAR, not_regular
    from ..run_marks import refuse_run_record

    file = Path(path)
    refuse_run_record(str(path), "weights")
    if file.is_dir():  # a cnnctl run: its best weights
        if read_run is None:
            raise CnnctlError.at("a folder, not a weights file", Loc(str(path)),
                                 hint="give a run's checkpoint file (its best.pt or last.pt)")  # fmt: skip
        return dict(read_run(file))
    if not file.is_file():
        kind = not_regular(path)  # a FIFO, a device: said as what it is
        if kind is not None:
            raise CnnctlError.at(f"{kind}, not a weights file", Loc(str(path)), hint=REGULAR)
        kinds = "a cnnctl run or checkpoint, a .pt or .pth state_dict, a .safetensors file or an ONNX file"
        raise CnnctlError.at("no such weights file", Loc(str(path)), hint=kinds)
    if file.suffix == ".onnx":
        return _onnx_state(str(path), input, largest)
    if file.suffix == ".safetensors":
        with open_safetensors(str(path), largest=largest) as (opened, metadata):
            try:
                tensors = {name: opened.get_tensor(name) for name in opened.keys()}  # noqa: SIM118 (no iteration)
            except Exception as exc:  # a file changed while read
                raise CnnctlError.at(f"cannot read the weights: {exc}", Loc(str(path))) from None
        return _in_written_order(tensors, metadata, str(path))
    state = load_pt(str(path), "cannot read the weights", hint=STATE_DICT_HINT)
    if read_run is not None and isinstance(state, dict) and state.get("format") == FORMAT:
        return dict(read_run(file))  # a cnnctl checkpoint: checked as evaluate checks it (a damaged one refused)
    # A checkpoint holds it inside: cnnctl's and Lightning's under `model` / `state_dict`, timm's too.
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise CnnctlError.at("not a state_dict: expected a mapping of names to tensors", Loc(str(path)),
                             hint="save one with torch.save(model.state_dict(), PATH)")  # fmt: skip
    return state


@record
class StoredTensor:
    """One tensor of a weights file as its header declares it, before any value is read."""

    name: str
    values: int
    bytes: int


def check_weight_sizes(
    tensors: list[StoredTensor], path: str, largest: int | None = None, weights_only: bool = True
) -> None:
    """Refuse, before a value is read, the weights file `path` whose `tensors` hold more bytes
    than cnnctl reads (limits.weight_bytes_limit), or, given to a network whose largest tensor
    holds `largest` values, a tensor of more values than that (no place of the network fits it)
    and of more than UNPLACEABLE_BYTES (a smaller one is read: the placing names both shapes).
    `weights_only` False: a file that may hold a checkpoint's optimizer state too, bounded by the
    memory available only (limits.weight_bytes_limit). The message names the tensor and its size."""
    from ..errors import CnnctlError, Loc
    from ..limits import UNPLACEABLE_BYTES, weight_bytes_past

    if largest is not None:
        for t in tensors:
            if t.values > largest and t.bytes > UNPLACEABLE_BYTES:
                raise CnnctlError.at(
                    f"the tensor `{t.name}` holds {t.values:,} values ({t.bytes:,} bytes), more than the network's "
                    f"largest tensor ({largest:,} values): no place of the network fits it; it was not read",
                    Loc(path),
                    hint="are these the weights of another network? `cnnctl summarize` shows this one's",
                )
    past = weight_bytes_past([(t.name, t.bytes) for t in tensors], weights_only)
    if past is not None:
        raise CnnctlError.at(
            past, Loc(path), hint="a file of this size is not the weights of a network cnnctl trains; was it damaged?"
        )


STATE_DICT_HINT = "a state_dict saved with torch.save(model.state_dict(), PATH)"  # a .pt given as weights
# What torch's weights_only unpickler says of a pickle that names a function or class to
# import and call (GLOBAL: "Unsupported global: GLOBAL pathlib.PosixPath was not an allowed
# global", "unsupported GLOBAL posix.system whose module posix is blocked") or calls one
# (REDUCE); its wording and case vary between versions.
_ASKS_FOR_CODE = r"unsupported global:?\s+(?:global\s+)?([\w.]+)|reduce for unrecognized function (<[^>]*>|\S+)"


def load_pt(path: str, unreadable: str, hint: str) -> object:
    """What the .pt / .pth file at `path` holds: the one place cnnctl loads one (a checkpoint, a
    state_dict given as --weights). Only a regular file (cnnctl.files), loaded with weights_only
    (tensors and plain values: nothing is imported or called), torch's warnings kept off the
    terminal. A file that asks to run code is one message, whichever command was given it;
    another that cannot be loaded is `unreadable`, with why, and `hint`."""
    import re
    import warnings
    import zipfile

    import torch

    from ..errors import CnnctlError, Loc
    from ..files import Unread, open_regular
    from ..pickled import archive_fault, code_refused, read_pickle

    try:
        with open_regular(path) as file:
            # a .pt archive (torch.save's: a zip of one file per tensor's storage) whose members claim
            # more bytes than the memory available, or not laid out as torch reads one: refused before
            # torch reads it, in the words `runs` flags it with
            fault = archive_fault(file)
            if fault is not None:
                raise CnnctlError.at(f"{unreadable}: {fault}", Loc(path), hint=hint)
            # torch's loader fills a pickle's dicts and memo as the file asks: shaped as no
            # checkpoint is (keys that share one hash, millions of opcodes), it would not end
            read = read_pickle(path)  # read once: what it asks for, said below where torch refuses it
            if read.refused is not None:
                raise CnnctlError.at(f"{unreadable}: its pickle holds {read.refused}; it was not loaded", Loc(path),
                                     hint="give a file torch.save wrote")  # fmt: skip
            file.seek(0)
            with warnings.catch_warnings():  # "Detected pickle protocol 4...": torch's file and line, noise here
                warnings.simplefilter("ignore")
                try:
                    return torch.load(file, map_location="cpu", weights_only=True)
                except Exception as exc:  # truncated, foreign, or asking for code that weights_only refuses
                    failure = exc
            file.seek(0)
            zipped = zipfile.is_zipfile(file)
    except Unread as refused:
        raise CnnctlError.at(f"{unreadable}: {refused.message}", Loc(path), hint=refused.hint) from None
    # torch's own messages ("(101)", "Invalid argument", a page on weights_only) say little to
    # the person at the terminal; what matters is which it was.
    asked = re.search(_ASKS_FOR_CODE, str(failure), re.IGNORECASE)
    named = (asked.group(1) or asked.group(2)) if asked else None if zipped else read.named
    if named and asked and asked.group(2) and not re.fullmatch(r"<[^>]*>|[\w.]+", named):
        # torch quotes the repr of what it was asked to call (`torch.Size([])`: the result of an
        # allowed call), no name: the pickle, read here, says what made it
        named = read.named
    if named:  # a bare pickle torch refuses before its names (`Unsupported operand`): read from its opcodes
        raise code_refused(path, named)
    if isinstance(failure, EOFError):
        why = "the file ends early"
    elif not zipped:  # what torch.save writes: the error of a stray file says nothing
        from ..run_marks import cut_short

        why = "cut short (its zip archive has no directory)" if cut_short(path) else "not a file torch.save wrote"
    else:
        why = _torch_refusal(failure)
    raise CnnctlError.at(f"{unreadable}: {why}", Loc(path), hint=hint)


def _torch_refusal(failure: Exception) -> str:
    """Why torch could not load a zip archive, in cnnctl's words: torch's own say a C++ file and
    line (`[enforce fail at inline_container.cc:340]`), ask for an enhancement request, or
    suggest `weights_only=False`, which would run whatever the file asks: never passed on."""
    text = str(failure)
    if "Weights only load failed" in text:
        return "its pickle holds what torch's safe loader (weights_only) does not read: not a checkpoint"
    from ..errors import one_line
    from ..pickled import LAID_OUT

    if "inline_container" in text or "hasRecord" in text or "PytorchStreamReader" in text:
        return f"{LAID_OUT} (made by hand, or damaged)"

    return one_line((text.splitlines() or [type(failure).__name__])[0])


def _onnx_state(path: str, input: Shape | None = None, largest: int | None = None) -> dict:
    """An ONNX file's initializers, as numpy arrays under the names of the network read from it
    (onnx_import.read_weights), in that network's order; sizes the file leaves unknown (dynamic
    axes) are `input`'s, the network's it is given to."""
    from ..errors import CnnctlError, Loc
    from .onnx_import import read_weights
    from .onnx_import.given_input import Unknowns

    got = read_weights(path, input=None if input is None else Unknowns(input))
    if not got.shapes:
        raise CnnctlError.at("the ONNX file stores no weights (its network has none, or computes them)", Loc(path))
    check_weight_sizes(got.stored(), path, largest)
    return Renamed({name: got.array(name) for name in got.shapes}, {n: t for n, (t, _) in got.sources.items()})


class Renamed(dict):
    """A source's tensors under names of cnnctl's own (an ONNX file's, read as the network `cnnctl
    import` writes: `fc1.weight`), with the name each has in the file (`stored`: `fc.weight`), which
    a message names: the person has the file, not the names it was read under."""

    def __init__(self, tensors: Mapping[str, object], stored: Mapping[str, str]):
        super().__init__(tensors)
        self.stored = dict(stored)


def stored_name(given: Mapping[str, object], name: str) -> str:
    """The name the source's tensor `name` has in its file (Renamed), else `name` itself."""
    return given.stored.get(name, name) if isinstance(given, Renamed) else name


def onnx_record(path: str) -> dict:
    """What the ONNX file at `path` records of the network's training, as a checkpoint records
    it: the mean, std and classes cnnctl's export wrote in its metadata_props, and the network's
    name (preprocessing.recorded_in_onnx, each value checked); empty for a file cnnctl did not write.
    A command asks for the mean and std, then the classes: the file (up to 2 GiB) is parsed once
    for both, and again only if it changed in between."""
    import copy
    import os

    try:
        found = os.stat(path)
    except OSError:  # gone since it was given: read_onnx says so, at the file
        return _onnx_record.__wrapped__(path, 0, 0)
    return copy.deepcopy(_onnx_record(path, found.st_mtime_ns, found.st_size))  # the cache's stays as read


@functools.lru_cache(maxsize=4)
def _onnx_record(path: str, mtime_ns: int, size: int) -> dict:
    from .onnx_import import read_onnx
    from .preprocessing import recorded_in_onnx

    return recorded_in_onnx({p.key: p.value for p in read_onnx(path).metadata_props}, path)


# The bytes of one value of each dtype a .safetensors header may name (the format's own list).
SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                      "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}  # fmt: skip


def _safetensors_header(file, path: str) -> tuple[list[StoredTensor], dict]:
    """The tensors a .safetensors file's header declares (checked against the file's size: each
    one's bytes lie in the file, as many as its shape and dtype need) and its metadata; a
    CnnctlError naming what is wrong, before any value is read."""
    import json
    import math
    import os
    import struct

    from ..errors import CnnctlError, Loc

    def damaged(what: str) -> CnnctlError:
        return CnnctlError.at(f"cannot read the weights: a damaged .safetensors file: {what}", Loc(path),
                              hint="was it cut short or written over? write it again")  # fmt: skip

    size = os.fstat(file.fileno()).st_size
    head = file.read(8)
    if len(head) < 8:
        raise damaged(f"{size} bytes, too short to hold a header")
    length = struct.unpack("<Q", head)[0]
    if length > min(SAFETENSORS_HEADER, size - 8):
        raise damaged(f"its header claims {length:,} bytes, in a file of {size:,}")
    try:
        header = json.loads(file.read(length))
    except (ValueError, RecursionError):
        raise damaged("its header is not JSON") from None
    if not isinstance(header, dict):
        raise damaged("its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data = size - 8 - length
    tensors, spans = [], []
    for name, entry in header.items():
        entry = entry if isinstance(entry, dict) else {}
        shape, offsets, dtype = entry.get("shape"), entry.get("data_offsets"), entry.get("dtype")
        whole = all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0
            for n in (*(shape or [None]), *(offsets or [None]))
        )
        if (
            dtype not in SAFETENSORS_DTYPES
            or not isinstance(shape, list)
            or not isinstance(offsets, list)
            or len(offsets) != 2
            or not (whole or shape == [])
        ):
            raise damaged(f"the tensor `{name}` is not described as one (dtype, shape, data_offsets)")
        values = math.prod(shape)
        begin, end = offsets
        needs = values * SAFETENSORS_DTYPES[dtype]
        if begin <= end and end - begin != needs:  # the header contradicts itself: said so, whatever the file holds
            raise damaged(
                f"the tensor `{name}`: its offsets give {end - begin:,} bytes, its shape {dtype} "
                f"[{','.join(map(str, shape))}] needs {needs:,}"
            )
        if not begin <= end <= data:
            raise damaged(
                f"the tensor `{name}` of shape {shape} ({dtype}: {needs:,} bytes) claims "
                f"bytes {begin:,} to {end:,} of the {data:,} the file holds"
            )
        tensors.append(StoredTensor(name, values, end - begin))
        spans.append((begin, end, name))
    spans.sort()
    for (_, end, first), (begin, _, second) in zip(spans, spans[1:], strict=False):
        if begin < end:
            raise damaged(f"the tensors `{first}` and `{second}` claim the same bytes")
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise damaged("its metadata is not a mapping of names to text")
    return tensors, metadata


@contextlib.contextmanager
def open_safetensors(
    path: str, framework: str = "pt", largest: int | None = None
) -> Iterator[tuple[safe_open, dict[str, str]]]:
    """The .safetensors file at `path` opened to read one tensor at a time (safetensors'
    safe_open), and its metadata: only a regular file (cnnctl.files), its header checked first
    (_safetensors_header) and its sizes bounded (check_weight_sizes, `largest`: the network's
    largest tensor). The one way cnnctl opens one: what its metadata records and its tensors
    both come from a file checked whole, so a damaged file is said to be damaged, whichever
    is asked first."""
    import os

    from ..errors import CnnctlError, Loc
    from ..files import Unread, open_regular

    try:
        from safetensors import safe_open
    except ImportError:
        raise CnnctlError.at("reading .safetensors needs the safetensors package", Loc(path),
                             hint="pip install safetensors") from None  # fmt: skip
    try:
        with open_regular(path) as file:
            tensors, metadata = _safetensors_header(file, path)
            check_weight_sizes(tensors, path, largest)
            same = f"/proc/self/fd/{file.fileno()}"  # the file checked, not whatever the path names by now
            try:
                opened = safe_open(same if os.path.exists(same) else path, framework=framework)
            except Exception as exc:  # what the header check above does not look at
                raise CnnctlError.at(f"cannot read the weights: {exc}", Loc(path)) from None
            with opened:
                yield opened, metadata
    except Unread as refused:
        raise CnnctlError.at(f"cannot read the weights: {refused.message}", Loc(path), hint=refused.hint) from None


class Unordered(dict):
    """A source whose tensors' order is lost: a .safetensors file stores them sorted by name, and
    only one cnnctl wrote keeps the network's order in its metadata. It places by name only."""


def safetensors_record(path: str) -> dict:
    """What a .safetensors file `cnnctl export` wrote records in its metadata, read as an ONNX
    file's (preprocessing.recorded_in_onnx: the mean, std, classes and network's name, each value
    checked); empty for a file written by anyone else; a CnnctlError for one that cannot be read."""
    from .preprocessing import recorded_in_onnx

    with open_safetensors(path, framework="numpy") as (_, metadata):  # a damaged file is said to be one here
        pass
    return recorded_in_onnx(metadata, path) if metadata.get("written_by") == EXPORTED_BY else {}


def _in_written_order(tensors: dict, metadata: Mapping[str, str] | None, path: str) -> dict:
    """A .safetensors file's `tensors` in the order its metadata keeps (ORDER, where cnnctl
    wrote it), else as read: the file itself keeps them sorted."""
    import json

    from ..errors import CnnctlError, Loc

    if not metadata or ORDER not in metadata:
        return Unordered(tensors)
    try:
        names = json.loads(metadata[ORDER])
    except ValueError:
        names = None
    listed = isinstance(names, list) and all(isinstance(n, str) for n in names)
    if not listed or len(names) != len(tensors) or set(names) != set(tensors):
        raise CnnctlError.at(
            f"a damaged weights file: its metadata's `{ORDER}` does not list its {len(tensors):,} tensors",
            Loc(path),
            hint="write it again (`cnnctl import MODEL.onnx -o NET.yaml` writes NET.safetensors)",
        )
    return {name: tensors[name] for name in names}


def _load(model: torch.nn.Module, given: Mapping[str, object], placed: list[Placed]) -> None:
    """Copy each placed tensor of `given` into `model` (in its dtype); the rest stays (the counters)."""
    import torch

    own = model.state_dict()
    tensors = {p.own: torch.as_tensor(given[p.given]).to(own[p.own].dtype).reshape(own[p.own].shape)
               for p in placed if p.left_out is None}  # fmt: skip
    model.load_state_dict(tensors, strict=False)  # the counters aside, every tensor: by_structure or by_name checked


def _largest(model: torch.nn.Module, skip: str | tuple[str, ...] | None) -> int | None:
    """The values of `model`'s largest tensor: no tensor given for it may hold more. None with
    `skip` (a layer made anew): the source's tensors for it, a head of other classes, are left out."""
    return None if skip else max((v.numel() for v in model.state_dict().values()), default=0)


def _input_of(model: torch.nn.Module) -> Shape | None:
    """The input of the network `model` was built from (the backend keeps its graph), where known:
    an ONNX file exported with dynamic sizes is read at it."""
    graph = getattr(model, "graph", None)
    return getattr(graph, "input_shape", None)


@record
class Initialised:
    """One of the network's tensors (`own`, of `shape`) the source has none for: a tensor of a
    head only training runs (`outputs:`), given weights of the network without it. It keeps the
    values the network was initialised with."""

    own: str
    shape: tuple


@record
class Placement:
    """Where `--weights` put each tensor, and how."""

    placed: tuple  # of Placed, in the network's order
    by_name: bool  # the source's names were the network's own (same_names); else placed by structure
    fresh: tuple[
        Initialised, ...
    ] = ()  # the heads' tensors (`outputs:`) the source has none of, in the network's order


def non_finite(weights: Mapping[str, object]) -> list[tuple[str, str]]:
    """Each tensor (or array: an ONNX file's) of `weights` holding NaN or infinite values, with
    how many: such weights give NaN for every image (a loss of `nan`), never a prediction. The
    one check of a checkpoint's weights and of every --weights source alike, and of the weights
    `cnnctl import` writes (numpy arrays: checked without torch, which import never loads)."""
    import numpy as np

    found = []
    for name, value in weights.items():
        if isinstance(value, np.ndarray):
            bad, nans, size = _non_finite_array(value)
        else:
            bad, nans, size = _non_finite_tensor(value)
        if bad:
            kinds = " and ".join(k for k, n in (("NaN", nans), ("infinite", bad - nans)) if n)
            found.append((name, f"{bad:,} {kinds} value{'s' if bad != 1 else ''} of {size:,}"))
    return found


def _non_finite_array(value) -> tuple[int, int, int]:
    """A numpy array's values that are not finite, those of them that are NaN, and its size."""
    import numpy as np

    if not np.issubdtype(value.dtype, np.inexact):
        return 0, 0, value.size
    return int((~np.isfinite(value)).sum()), int(np.isnan(value).sum()), value.size


def _non_finite_tensor(value) -> tuple[int, int, int]:
    """A tensor's (or what torch reads as one) values that are not finite, the NaNs, its size."""
    import torch

    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    if not tensor.is_floating_point() and not tensor.is_complex():
        return 0, 0, tensor.numel()
    return int((~torch.isfinite(tensor)).sum()), int(torch.isnan(tensor).sum()), tensor.numel()


# What weights with NaN or infinite values do, and what to do: the refusal's hint and import's warning's.
NON_FINITE_HINT = (
    "such weights give NaN for every image: were they saved from a run that diverged? give weights saved before it did"
)


def non_finite_said(given: Mapping[str, object]) -> str | None:
    """`the weights are not all finite numbers: its tensor `w` holds ...`, naming each tensor of
    `given` that holds NaN or infinite values under the name its file has; None where all are
    finite. The one wording of the refusal (refuse_non_finite) and of import's warning."""
    bad = non_finite(given)
    if not bad:
        return None
    return "the weights are not all finite numbers: " + "; ".join(
        f"its tensor `{stored_name(given, name)}` holds {what}" for name, what in bad
    )


def refuse_non_finite(given: Mapping[str, object], path: str) -> None:
    """One message naming each tensor of the weights `given` (read from `path`) that holds NaN
    or infinite values, under the name its file has: placed, they train as a loss of `nan` that
    seems the learning rate's fault, and predict nothing."""
    from ..errors import CnnctlError, Loc

    said = non_finite_said(given)
    if said is not None:
        raise CnnctlError.at(said, Loc(str(path)), hint=NON_FINITE_HINT)


def place_weights(
    model: torch.nn.Module, path: str, skip: str | tuple[str, ...] | None = None, read_run: RunReader | None = None
) -> Placement:
    """The weights file at `path` (read_state, a run folder read by `read_run`) placed into
    `model`: by name where the source's names are exactly the network's own (by_name), else by
    structure (by_structure), which a .safetensors file without its order cannot be; all of
    them or, with one message, none.
    `skip`: a layer made anew (a new head), its tensors (and by structure the source's in the
    same places) left out. A source with no tensors for the heads only training runs
    (`outputs:`: weights of the network without them) fits the rest; the heads stay as
    initialised (`fresh`)."""
    from ..errors import CnnctlError

    given = read_state(path, read_run, _input_of(model), _largest(model, skip))
    refuse_non_finite(given, path)  # a run's checkpoint is checked so as it is read: any other source here
    own = model.state_dict()
    try:
        placed, named = _placed(given, own, path, skip)
    except CnnctlError as whole:
        graph = getattr(model, "graph", None)
        heads = tuple(graph.nodes[i].path for i in graph.training_only) if graph is not None else ()
        rest = {name: v for name, v in own.items() if not in_layers(name, heads)}
        if len(rest) == len(own):
            raise
        try:
            placed, named = _placed(given, rest, path, skip)
        except CnnctlError:
            raise whole from None  # the whole network's message
        _load(model, given, placed)
        fresh = (Initialised(n, shape_of(v)) for n, v in own.items() if n not in rest and not n.endswith(COUNTERS))
        return Placement(_as_stored(placed, given), named, tuple(fresh))
    _load(model, given, placed)
    return Placement(_as_stored(placed, given), named)


def _as_stored(placed: list[Placed], given: Mapping[str, object]) -> tuple[Placed, ...]:
    """`placed` as the person is shown it: each source tensor by the name its file has (an ONNX
    initializer's own, `w`, which Netron shows, not `conv1.weight` it was read as: stored_name)."""
    return tuple(p._replace(given=stored_name(given, p.given)) for p in placed)


def _placed(
    given: Mapping[str, object], own: Mapping[str, object], path: str, skip: str | tuple[str, ...] | None
) -> tuple[list[Placed], bool]:
    """Where each of `own`'s tensors comes from in `given`, and whether by name."""
    from ..errors import CnnctlError, Loc

    named = same_names(given, own)
    if not named and isinstance(given, Unordered):
        first = next((n for n in given if n not in own), next(iter(given), "?"))
        raise CnnctlError.at(
            f"a .safetensors file keeps its tensors sorted by name, not in the order of the layers, and its names "
            f"are not this network's (`{first}` is not one of them): placing by structure needs that order",
            Loc(str(path)),
            hint="save the weights with torch.save(module.state_dict(), PATH) (a .pt keeps the order), or name "
            "the tensors as the network does (its layer paths, the first column of `cnnctl summarize`)",
        )
    return (by_name(given, own, path, skip) if named else by_structure(given, own, path, skip)), named


# -- the weights file `cnnctl import` writes -----------------------------------------------------
# The key of a .safetensors file's __metadata__ that keeps its names in the network's definition
# order (a JSON list): the file stores its tensors sorted, and placing by structure needs the order.
ORDER = "order"
EXPORTED_BY = "cnnctl export"  # its `written_by` where `cnnctl export` wrote it (the input it expects beside)
IMPORTED_BY = "cnnctl import"  # its `written_by` where `cnnctl import` wrote it, from an ONNX file's initializers


def imported_from_onnx(path: str | None) -> bool:
    """Whether --weights `path` are an ONNX file's: the file itself, or the .safetensors file
    `cnnctl import` wrote from one. Such weights take their input as the ONNX file did, whatever
    normalisation that was: a plain export of them needs none (the ONNX file had none)."""
    if not path or not os.path.isfile(path):
        return False
    if path.lower().endswith(".onnx"):
        return True
    if not path.lower().endswith(".safetensors"):
        return False
    with open_safetensors(path, framework="numpy") as (_, metadata):
        return (metadata or {}).get("written_by") == IMPORTED_BY


def save_safetensors(path: str, arrays: Mapping[str, object], about: Mapping[str, str]) -> None:
    """`arrays` (numpy arrays, in the network's definition order) written as a .safetensors file
    at `path`, with `about` (what it is, where from) and their order in its metadata. No torch.
    An OSError where it cannot be written (the caller tells it, with the path)."""
    import json

    from ..errors import CnnctlError

    try:
        from safetensors import SafetensorError
        from safetensors.numpy import save_file
    except ImportError:
        raise CnnctlError.at(
            "writing .safetensors needs the safetensors package", hint="pip install safetensors"
        ) from None
    from ..errors import printable

    # Metadata is UTF-8 text: a file's name that is not (`b\xe9.yaml`) is recorded as printable writes it.
    about = {key: printable(value) for key, value in about.items()}
    try:
        save_file(dict(arrays), path, metadata={**about, ORDER: json.dumps(list(arrays))})
    except SafetensorError as exc:  # its I/O errors (a folder that is not there, a full disk)
        raise OSError(str(exc)) from None
