"""Weights given with --weights, for every command that takes them (train, evaluate, predict,
export, bench): the normalisation their input takes, what a cnnctl run or checkpoint given as
weights records, and where they came from and how they were placed, in words. Placing them is
cnnctl.exchange.weights; torchvision's are cnnctl.exchange.pretrained."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CnnctlError
from ..exchange.pretrained import IMAGENET_MEAN, IMAGENET_ORIGIN, IMAGENET_STD, is_pretrained, published
from ..shapes import format_shape
from .checkpoint import load_checkpoint

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import torch

    from ..data.stats import Stats
    from ..exchange.weights import Placement
    from ..graph import Graph


def imagenet_stats(channels: int) -> Stats:
    """ImageNet's mean and std, which torchvision's weights were trained with."""
    from ..data.stats import given

    return given(IMAGENET_MEAN, IMAGENET_STD, channels, IMAGENET_ORIGIN)


def are_imagenets(mean: Sequence[float], std: Sequence[float]) -> bool:
    """Whether per-channel `mean` and `std` are ImageNet's (torchvision's weights were trained with them)."""
    ours, theirs = (*mean, *std), (*IMAGENET_MEAN, *IMAGENET_STD)
    return len(ours) == len(theirs) and all(abs(a - b) < 1e-6 for a, b in zip(ours, theirs, strict=True))


def numbers(values: Iterable[float]) -> str:
    """`0.485,0.456,0.406`: per-channel values as the options take them."""
    return ",".join(f"{v:g}" for v in values)


def given_stats(mean: tuple | None, std: tuple | None, channels: int) -> Stats:
    """--mean and --std, both given, one number per input channel."""
    from ..data.stats import given

    if mean is None or std is None:
        missing, present = ("--std", "--mean") if std is None else ("--mean", "--std")
        raise CnnctlError.at(
            f"{present} is given without {missing}: the input is normalised with both",
            hint="give both, e.g. --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 (ImageNet's)",
        )
    return given(mean, std, channels, "--mean and --std")


def stats_for_weights(
    weights: str | None, mean: tuple | None, std: tuple | None, channels: int, network: str | None = None
) -> Stats | None:
    """The normalisation of a network (named `network`) with --weights: --mean and --std where
    given, else the weights' own (ImageNet's for torchvision's, a cnnctl run's or exported ONNX
    file's recorded ones); None where neither says (weights from elsewhere, or none)."""
    if mean is not None or std is not None:
        return given_stats(mean, std, channels)
    if is_pretrained(weights):
        return imagenet_stats(channels)
    if weights:  # a cnnctl run's weights (or its exported ONNX file): the statistics they were trained with
        return _stats_of_weights(weights, channels, network)
    return None


def recorded_state(path: str) -> dict | None:
    """What a cnnctl run or checkpoint given as --weights records (its checkpoint: the mean and
    std it was trained with, its classes, its settings), or an ONNX file cnnctl exported (its
    metadata: the mean, std and classes, exchange.weights.onnx_record) or a .safetensors file it
    exported (the same keys in its metadata); None for weights from elsewhere (a state_dict,
    another's safetensors or ONNX file), which record none."""
    from ..exchange.weights import STATE_DICT_HINT, load_pt, onnx_record, safetensors_record
    from ..run_marks import is_checkpoint, refuse_run_record, run_of
    from .checkpoint import EVALUATE, FORMAT, NotCheckpoint, weights_file

    refuse_run_record(path, "weights")
    if Path(path).suffix == ".onnx" and Path(path).is_file():  # read_state's rule for an ONNX file
        return onnx_record(path) or None
    if Path(path).suffix == ".safetensors" and Path(path).is_file():
        return safetensors_record(path) or None
    if run_of(path) is None and not (Path(path).is_file() and is_checkpoint(path)):
        return None
    if run_of(path) is None:  # a file, read here first: a damaged one, or one asking for code, is said so now
        state = load_pt(path, "cannot read the weights", hint=STATE_DICT_HINT)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            return None  # a state_dict from elsewhere
    try:  # a damaged checkpoint, or one asking for code, is said so: never "the weights record no normalisation"
        return load_checkpoint(weights_file(path), EVALUATE)
    except NotCheckpoint:  # a state_dict saved as .pt (in a run folder too): no statistics
        return None


def _stats_of_weights(path: str, channels: int, network: str | None = None):
    """The normalisation a cnnctl run or checkpoint (or an ONNX file cnnctl exported) given as
    --weights was trained with; None for weights from elsewhere, which record none. Weights of a
    network of another number of input channels are told as such, before their statistics."""
    from ..data.stats import from_weights
    from .checkpoint import weights_file

    state = recorded_state(path)
    if state is None:
        return None
    file = str(weights_file(path))
    check_input_channels(state, channels, network, path, file)
    return from_weights(state, channels, file)


def check_input_channels(state: dict, channels: int, network: str | None, given: str, file: str) -> None:
    """A cnnctl checkpoint `state` (given as `given`, read from `file`) of a network with another
    number of input channels than `channels` is one message naming both networks: its mean
    and std, its first layer's weights cannot fit this network. An ONNX file cnnctl exported
    records no input: its mean has one number per channel, and a network of another name."""
    from ..errors import CnnctlError, Loc
    from ..words import plural

    trained = trained_input(state)
    if trained is not None:
        theirs_in, count = f"trained at input {format_shape(trained)}: ", trained[2]
    elif state.get("arch") not in (None, network) and isinstance(state.get("mean"), (list, tuple)):
        theirs_in, count = "", len(state["mean"])
    else:
        return
    if count == channels:
        return
    theirs, ours = state.get("arch") or "another network", network or "this network"
    raise CnnctlError.at(
        f"{given} holds {theirs}'s weights ({theirs_in}{plural(count, 'channel')}), not {ours}'s "
        f"({plural(channels, 'input channel')}): they cannot fit it",
        Loc(file),
        hint=f"give weights trained for {ours} (a run of it, or a checkpoint), or give {theirs} as the network",
    )


def other_network(weights: str, graph: Graph, own: Mapping[str, torch.Tensor]) -> CnnctlError | None:
    """Weights that do not fit `graph` and record that they are another network's (a cnnctl run or
    checkpoint, a file cnnctl exported: its `arch`), as the one message that is: `runs/r holds
    resnet18's weights, not mobilenet_v2's`, with both tensor counts (`own`: the network's
    state_dict); None where they record no
    network, or `graph`'s own (then the tensor where placing stopped says more)."""
    from ..errors import Loc
    from ..exchange.weights import COUNTERS
    from .checkpoint import weights_file

    if is_pretrained(weights):
        return None
    state = recorded_state(weights) or {}
    theirs = state.get("arch")
    if not isinstance(theirs, str) or theirs in (graph.title, graph.name):
        return None
    model = state.get("model")
    count = f" ({sum(not n.endswith(COUNTERS) for n in model):,} tensors)" if isinstance(model, dict) else ""
    ours = sum(not n.endswith(COUNTERS) for n in own)
    return CnnctlError.at(
        f"{weights} holds {theirs}'s weights{count}, not {graph.title}'s ({ours:,} tensors): they do not fit it",
        Loc(str(weights_file(weights))),
        hint=f"give weights trained for {graph.title} (`--weights imagenet` where torchvision has them), "
        f"or train {theirs} from them",
    )


def trained_input(state: dict) -> tuple[int, int, int] | None:
    """The input HxWxC a cnnctl checkpoint's network was trained at (its network record), or an
    ONNX or safetensors file cnnctl exported states (its `cnnctl.input`: the record's `input`);
    None where it records none (weights from elsewhere)."""
    network = state.get("network")
    value = network.get("input") if isinstance(network, dict) else state.get("input")
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return (value[0], value[1], value[2])
    return None


def other_input(weights: str, graph: Graph) -> str | None:
    """The input (`28x28x1`) the cnnctl run or checkpoint `weights` was trained at, where `graph`
    takes another (its channels are check_input_channels'); None where it takes the same, or
    the weights record none."""
    if is_pretrained(weights):
        return None
    state = recorded_state(weights)
    trained = trained_input(state) if state is not None else None
    return None if trained in (None, tuple(graph.input_shape)) else format_shape(trained)


def trained_elsewhere(weights: str, trained: str, graph: Graph, command: str) -> CnnctlError:
    """The weights of `weights`, trained at input `trained` (other_input), do not fit `graph`:
    its size decides the shapes of the layers after the last pooling (an fc's inputs). The hint
    is `command`'s way to that input: --input, else a copy of the network file; or the run alone."""
    from ..errors import Loc
    from ..run_marks import run_of
    from .checkpoint import TAKES_RUN, at_input_hint, run_alone_hint, weights_file

    hint = at_input_hint(command, trained)
    if command in TAKES_RUN and (run := run_of(weights)) is not None:
        hint += f", or {run_alone_hint(command, run)}"
    return CnnctlError.at(
        f"{weights} was trained at input {trained}; {graph.title} here takes {format_shape(graph.input_shape)}, "
        "and the weights do not fit it at that size",
        Loc(str(weights_file(weights))),
        hint=hint,
    )


def other_input_said(weights: str, trained: str, graph: Graph) -> str:
    """A note: the weights of `weights` fit `graph` at another input than they were trained at
    (a network that pools globally fits any), which they may not do as well at."""
    ours = format_shape(graph.input_shape)
    return f"weights: {weights} was trained at input {trained}; this run trains at {ours} (--input {trained} as it did)"


def weights_said(weights: str, path: str, network: str) -> str:
    """Where --weights `weights` (read from the file `path`) came from, in words: the file, or
    torchvision's, with its URL and cached file."""
    if not is_pretrained(weights):
        return str(path)
    return f"torchvision's ImageNet weights for {network} ({published(network).url}, cached as {path})"


def placement_said(placement: Placement, source: str) -> str:
    """How many tensors --weights placed from `source` (weights_said), and how (exchange.weights.Placement)."""
    how = "by name" if placement.by_name else "by structure, in the order of the layers"
    placed = sum(p.left_out is None for p in placement.placed)
    said = f"{placed:,} tensors from {source}, placed {how}"
    if placement.fresh:  # weights of the network without its heads (`outputs:`)
        layers = list(dict.fromkeys(t.own.rsplit(".", 1)[0] for t in placement.fresh))
        said += (f"; the source has none for the heads only training runs: their {len(placement.fresh):,} tensors "
                 f"(`{layers[0]}` to `{layers[-1]}`) start as initialised")  # fmt: skip
    return said
