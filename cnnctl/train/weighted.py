"""A network with the weights a command runs it with (evaluate, predict, export, bench): a
run's checkpoint, or anything --weights takes, placed; the normalisation and the image recipe
that come with them."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.loader import Recipe, validation_recipe
from ..data.stats import Stats
from ..errors import CnnctlError, Loc, Problem
from ..graph import Graph
from ..graph.outputs import dense_shape
from ..shapes import format_shape
from ..words import first, plural
from .background import training_background
from .checkpoint import EVALUATE, Checkpoint, damaged, load_checkpoint, load_weights, run_weights, weights_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..backend.module import GraphModule
    from ..exchange.export import Trained
    from ..exchange.weights import Placement


def load_model(
    graph: Graph, checkpoint: str | Path, device: torch.device, command: str = "evaluate", logits: bool = True
) -> tuple[GraphModule, dict]:
    """The compiled graph with the checkpoint's weights (logits out, unless not `logits`), and
    the checkpoint.

    `command` (evaluate, predict or export) is named in the hints (checkpoint.TAKES_INPUT: export has --input).
    """
    from ..backend import to_torch

    checkpoint = weights_file(checkpoint)
    state = load_checkpoint(checkpoint, EVALUATE)
    model = to_torch(graph, logits=logits)
    load_weights(model, state, checkpoint, graph.title, command)
    check_statistics(state, graph, checkpoint)
    return model.to(device, memory_format=torch.channels_last).eval(), state


@dataclass
class Weighted:
    """A network with the weights a command runs it with, and what a checkpoint would record of them."""

    model: torch.nn.Module  # in eval mode, on `device`
    state: dict  # a checkpoint's record: its mean, std and classes where known (a run's: its settings too)
    stats: Stats | None  # the normalisation of its input; None where none is known (an old checkpoint)
    said: str  # where the weights came from (and how they were placed), in words: a report's header
    device: torch.device
    pretrained: bool = False  # torchvision's ImageNet weights: photos prepared as they were evaluated
    # How an image file becomes the input for these weights: a run's validation recipe (as its
    # settings record it), torchvision's evaluation crop, else adapted whole.
    recipe: Recipe = field(default_factory=Recipe)
    # The network they run in: ARCH, or ARCH with its head built for the classes the weights record
    # (head_for_weights: evaluate's and predict's, which have no --head); None: the caller's.
    graph: Graph | None = None


def weighted_model(
    graph: Graph,
    device: torch.device,
    checkpoint: str | Path | None = None,
    weights: str | None = None,
    mean: tuple | None = None,
    std: tuple | None = None,
    command: str = "evaluate",
    logits: bool = True,
    normalised: bool = True,
) -> Weighted:
    """The compiled graph with its weights, for evaluate, predict, export and bench: a run's
    checkpoint (`checkpoint`: the same network, checked), or `weights`, anything train's
    --weights takes (a cnnctl run or checkpoint, a .pt/.pth state_dict, a .safetensors file, an
    ONNX file, torchvision|imagenet), placed by name or by structure (exchange.weights.place_weights:
    all or, with one message, none). The input's normalisation: `mean` and `std` (--mean, --std)
    where given, else the weights' own (the checkpoint's, a run's, ImageNet's for torchvision's),
    else the network file's `train:` mean and std (`file_stats`);
    `normalised`: --weights that record none, without --mean and --std, are one message (bench's
    synthetic data needs none). Classes: a run's, ImageNet's for torchvision's, else none."""
    from ..data.stats import from_weights
    from ..errors import CnnctlError
    from .weights_from import given_stats, stats_for_weights

    channels = graph.input_shape[2] if len(graph.input_shape) == 3 else 1
    if weights is not None and checkpoint is not None:  # a run named either way: its weights or the others?
        raise CnnctlError.at(
            "give --weights or a run (--checkpoint RUN, or the run in place of ARCH), not both",
            hint="a run: its checkpoint, normalisation and classes; --weights SOURCE: weights from anywhere onto "
            "ARCH, a network (a run as SOURCE brings its normalisation and classes too)",
        )
    if weights is None:
        model, state = load_model(graph, checkpoint, device, command, logits)
        file = str(weights_file(checkpoint))
        given = mean is not None or std is not None
        stats = given_stats(mean, std, channels) if given else from_weights(state, channels, file)
        return Weighted(model, _recorded(state, stats), stats, file, device, recipe=recipe_of(state), graph=graph)
    stats = stats_for_weights(weights, mean, std, channels, graph.title) or file_stats(graph, channels)
    if stats is None and normalised:  # the weights' own faults first (unreadable, not finite, not fitting):
        placed_weights(graph, weights, logits, command=command)  # a damaged file is never asked its mean and std
        raise _no_normalisation(weights, command, channels)
    return _placed(graph, device, weights, stats, logits, command)


def _placed(graph: Graph, device: torch.device, weights: str, stats, logits: bool, command: str) -> Weighted:
    """`weights` (--weights) placed into the compiled graph (see weighted_model)."""
    from ..exchange.pretrained import imagenet_classes, is_pretrained
    from .weights_from import other_input, placement_said, recorded_state

    graph, head = head_for_weights(graph, weights) if command in ("evaluate", "predict") else (graph, "")
    model, placement, path, said = placed_weights(graph, weights, logits, command=command)
    pretrained = is_pretrained(weights)
    state = {"classes": imagenet_classes()} if pretrained else dict(recorded_state(path) or {})
    state.pop("model", None)  # the weights themselves are in the model
    model = model.to(device, memory_format=torch.channels_last).eval()
    if pretrained:  # as they were evaluated
        from ..exchange.pretrained import published

        recipe = Recipe("centre", share=published(graph.name).crop_share)
    else:  # a run's (its checkpoint's settings), an exported file's (cnnctl.centre), else adapted whole
        recipe = recipe_of(state)
    said = placement_said(placement, said) + head
    if (trained := other_input(weights, graph)) is not None:  # they fit (a global pool), but met other sizes
        here = format_shape(graph.input_shape)
        said += f"; trained at input {trained}, used here at {here}"
        # Said on stderr too, by every command that places them (evaluate, predict, export): the figures
        # at another size than the weights learned are silently worse (a run's 79% read as 27%).
        warning = Problem(
            f"{weights} was trained at input {trained}; {graph.title} here takes {here}: the weights fit it, "
            "but what they learned of sizes does not",
            hint=f"give --input {trained} as they were trained",
        )
        sys.stderr.write(warning.format("warning") + "\n")
    return Weighted(model, _recorded(state, stats), stats, said, device, pretrained, recipe, graph)


def head_for_weights(graph: Graph, weights: str) -> tuple[Graph, str]:
    """`graph` with its head built for the classes `weights` record (a cnnctl run or checkpoint, a
    file cnnctl exported), as train builds one for its data's (finetune.head_for_data: the run's
    --head layer where it recorded one, else the last fc or conv), and the words that say so; as
    it is, and "", where they record none, or as many as it has outputs, or it cannot be built
    again (a per-pixel network, one given as text)."""
    from ..api import load_text
    from ..exchange.pretrained import is_pretrained
    from .checkpoint import member_choice
    from .finetune import head_for_data
    from .weights_from import recorded_state

    if is_pretrained(weights) or dense_shape(graph) is not None or len(graph.output_shape) != 1 or not graph.text:
        return graph, ""
    saved = Checkpoint.of(recorded_state(weights) or {})
    classes = len(saved.classes or ())
    recorded = (saved.config or {}).get("head")  # the layer a run made anew (--head), where it did
    path = recorded.get("layer") if isinstance(recorded, dict) and isinstance(recorded.get("layer"), str) else None
    try:
        made = head_for_data(graph, classes, path, True, False, lambda: True) if classes else None
    except CnnctlError:  # no such layer here: the weights' own message (placed_weights, _other_head)
        return graph, ""
    if made is None:
        return graph, ""
    layer, width = made
    choice = member_choice(graph.text, graph.file, graph.title)
    built = load_text(graph.text, graph.file, graph.input_shape, {layer: classes}, choice)
    return built, (f"; head `{layer}` built for the {plural(classes, 'class', 'classes')} they record "
                   f"({graph.title} as written has {width:,} outputs)")  # fmt: skip


def recipe_of(state: dict) -> Recipe:
    """How an image file becomes the input for weights that record `state`: the centre crop an
    exported ONNX or safetensors file records (`centre`, its metadata's `cnnctl.centre`:
    exchange.preprocessing.recorded_in_onnx), else the validation recipe of the run whose
    settings it holds (validation_recipe), else adapted whole."""
    if state.get("centre") is not None:
        return Recipe("centre", share=state["centre"])
    return validation_recipe(Checkpoint.of(state).config or {})


def placed_weights(
    graph: Graph, weights: str, logits: bool = True, *, command: str
) -> tuple[GraphModule, Placement, str, str]:
    """`weights` (anything --weights takes) placed into the compiled graph, on the CPU, as every
    command places them: (the module, the Placement (exchange.weights), the file read, where the
    weights came from in words). torchvision's: every tensor, the 1,000-class head too. A cnnctl
    run's that do not fit because it was trained at another input are told so, with `command`'s
    way to that input (weights_from.trained_elsewhere)."""
    from ..backend import to_torch
    from ..exchange.pretrained import fetch, is_pretrained
    from ..exchange.weights import place_weights
    from .weights_from import other_input, other_network, trained_elsewhere, weights_said

    path = fetch(graph.name) if is_pretrained(weights) else weights
    model = to_torch(graph, logits=logits)
    try:
        placement = place_weights(model, path, read_run=run_weights)
    except CnnctlError:
        if (other := other_network(weights, graph, model.state_dict())) is not None:  # as the weights record
            raise other from None
        if (head := _other_head(weights, graph)) is not None:  # a head of another width: the likeliest cause
            raise head from None
        if trained := other_input(weights, graph):  # the likelier cause than the tensor it names: said so
            raise trained_elsewhere(weights, trained, graph, command) from None
        raise
    return model, placement, path, weights_said(weights, path, graph.name)


def _other_head(weights: str, graph: Graph) -> CnnctlError | None:
    """Weights that record their classes (a cnnctl run or checkpoint, a file cnnctl exported), of
    another number than `graph` has outputs, as the one message it is: the head of a fine-tuned
    network (and the input it was trained at, where that differs too), not the tensor where
    placing stopped. None where the classes are not recorded or their count fits."""
    from ..exchange.pretrained import is_pretrained
    from ..shapes import format_shape
    from .weights_from import other_input, recorded_state

    if is_pretrained(weights) or dense_shape(graph) is not None or len(graph.output_shape) != 1:
        return None
    state = recorded_state(weights) or {}
    classes = Checkpoint.of(state).classes or ()
    outputs = graph.output_shape[0]
    if not classes or len(classes) == outputs:
        return None
    trained = other_input(weights, graph)
    at = f", trained at input {trained}" if trained else ""
    here = f" at {format_shape(graph.input_shape)}" if trained else ""
    return CnnctlError.at(
        f"{weights} holds weights with a head of {plural(len(classes), 'class', 'classes')} ({first(classes, 5)}){at}; "
        f"{graph.title} here has {outputs:,} outputs{here}",
        Loc(str(weights_file(weights))),
        hint=f"give a network whose last layer has {len(classes)} outputs (`fc {len(classes)}`)"
        + (f" and --input {trained}" if trained else "")
        + " (`cnnctl train --weights` reads the head from them itself)",
    )


def trained_for_export(
    graph: Graph, checkpoint: str | Path | None, weights: str | None, mean: tuple | None, std: tuple | None
) -> Trained:
    """The network with its weights as `cnnctl export` writes it (cnnctl.exchange.export.Trained):
    a run's checkpoint or --weights, placed on the CPU as evaluate places them (weighted_model),
    with what export states of its input: the normalisation (where known), the class names, the
    training images' background (training_background) and the centre crop of their validation
    recipe, each whether or not the normalisation is known."""
    from ..exchange.export import Trained
    from ..exchange.weights import imported_from_onnx

    # An ONNX file's weights (or those `cnnctl import` wrote from one) take their input as it did:
    # exported again they need no normalisation (--with-preprocessing still does, and says so).
    onnx = imported_from_onnx(weights)
    loaded = weighted_model(
        graph, torch.device("cpu"), checkpoint, weights, mean, std, "export", logits=False, normalised=not onnx
    )
    stats, background = loaded.stats, training_background(loaded.state)
    return Trained(
        loaded.model,
        loaded.said,
        None if stats is None else tuple(stats.mean),
        None if stats is None else tuple(stats.std),
        tuple(Checkpoint.of(loaded.state).classes or ()),
        # drawings in one channel only: --invert is for them, not for a colour network's photos
        None if background is None or not background.gray else (background.data, background.drawn),
        loaded.recipe.share if loaded.recipe.name == "centre" else None,
        *(["the weights come from an ONNX file, which takes its input as it is"] if onnx else []),
    )


def _recorded(state: dict, stats) -> dict:
    """`state` with the normalisation used as its mean and std (what a checkpoint of it would record)."""
    if stats is None:
        return state
    return {**state, "mean": list(stats.mean), "std": list(stats.std)}


def file_stats(graph: Graph, channels: int) -> Stats | None:
    """The normalisation the network file's `train:` section gives (`mean:` and `std:`, read as
    train reads them), for weights that record none: what `cnnctl import` writes beside the
    weights it reads from an ONNX file cnnctl exported. None where the file does not give both."""
    from ..data.stats import given
    from .config import resolve_config

    config = resolve_config(graph.train, {}, channels, graph.train_keys)
    if config.mean is None or config.std is None:
        return None
    return given(config.mean, config.std, channels, "the file's train: section", graph.train["mean"].loc)


def _no_normalisation(weights: str, command: str, channels: int):
    """The message for --weights that record no normalisation, and no --mean and --std."""
    from ..errors import CnnctlError

    example = {
        3: "--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 (ImageNet's, for weights trained on it)",
        1: "--mean 0.1307 --std 0.3081 (MNIST's)",
    }.get(channels, f"one number per input channel ({channels}) in each")
    # unnormalised inputs are allowed too: one number a channel, as --mean and --std take them
    raw = f"--mean {','.join(['0'] * channels)} --std {','.join(['1'] * channels)}" if channels <= 4 else (
        f"--mean 0 and --std 1 for each of the {channels} channels")  # fmt: skip
    example += f", or {raw} for weights trained on pixel values / 255 as they are"
    return CnnctlError.at(
        f"the weights record no normalisation: {command} needs the mean and std per channel their training "
        "images were normalised with",
        Loc(str(weights)),
        hint=f"give the ones they were trained with, e.g. {example}; a cnnctl run's weights bring their own",
    )


def check_statistics(state: dict, graph: Graph, checkpoint: str | Path) -> None:
    """The checkpoint's channel means and deviations are one per input channel of `graph`."""
    channels = graph.input_shape[2]
    for key in ("mean", "std"):
        if key in state and len(state[key]) != channels:
            what = f"its `{key}` has {len(state[key])} values for a network of {plural(channels, 'channel')}"
            raise damaged(what, checkpoint, EVALUATE)
