"""`cnnctl evaluate` and `cnnctl predict`: a trained checkpoint on a dataset, or on images."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import Split
from ..data.loader import Recipe, validation_recipe
from ..data.stats import Stats
from ..errors import CnnctlError, Loc, Problem, quoted
from ..graph import Graph
from ..graph.outputs import dense_shape
from ..shapes import format_shape
from ..words import first, plural
from .batches import Batches
from .checkpoint import EVALUATE, Checkpoint, damaged, load_checkpoint, load_weights, run_weights, weights_file
from .device import resolve_device
from .loop import check_classes
from .metrics import EVAL_BATCH, evaluate_batches, iou, mean_iou

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..exchange.export import Trained


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    classes: list[str]
    per_class: list[float | None]  # accuracy per true class, exactly; None for a class with no examples
    confusion: list[list[int]]  # [true][predicted] counts
    examples: int
    checkpoint: str = ""  # the file whose weights were used
    split: str = ""  # the data they were measured on: "the validation split of mnist"
    # Dense prediction: the counts above are of pixels (`pixels` of them, in `examples` images)
    # and each class has its intersection over union (None: neither present nor predicted).
    iou: list[float | None] | None = None
    pixels: int = 0
    split_name: str = "val"  # --split: val, test, train or all

    @property
    def mean_iou(self) -> float:
        return mean_iou(self.iou or [])


def load_model(
    graph: Graph, checkpoint: str | Path, device: torch.device, command: str = "evaluate", logits: bool = True
):
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
    if weights is not None and checkpoint is not None:
        raise CnnctlError.at(
            "give --weights or --checkpoint, not both",
            hint="--checkpoint RUN: a run's checkpoint of this network; --weights SOURCE: weights from anywhere",
        )
    if weights is None:
        model, state = load_model(graph, checkpoint, device, command, logits)
        file = str(weights_file(checkpoint))
        given = mean is not None or std is not None
        stats = given_stats(mean, std, channels) if given else from_weights(state, channels, file)
        return Weighted(model, _recorded(state, stats), stats, file, device, recipe=recipe_of(state))
    stats = stats_for_weights(weights, mean, std, channels, graph.title) or file_stats(graph, channels)
    if stats is None and normalised:
        raise _no_normalisation(weights, command, channels)
    return _placed(graph, device, weights, stats, logits, command)


def _placed(graph: Graph, device: torch.device, weights: str, stats, logits: bool, command: str) -> Weighted:
    """`weights` (--weights) placed into the compiled graph (see weighted_model)."""
    from ..exchange.pretrained import imagenet_classes, is_pretrained
    from .weights_from import other_input, placement_said, recorded_state

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
    said = placement_said(placement, said)
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
    return Weighted(model, _recorded(state, stats), stats, said, device, pretrained, recipe)


def recipe_of(state: dict) -> Recipe:
    """How an image file becomes the input for weights that record `state`: the centre crop an
    exported ONNX or safetensors file records (`centre`, its metadata's `cnnctl.centre`:
    exchange.preprocessing.recorded_in_onnx), else the validation recipe of the run whose
    settings it holds (validation_recipe), else adapted whole."""
    if state.get("centre") is not None:
        return Recipe("centre", share=state["centre"])
    return validation_recipe(Checkpoint.of(state).config or {})


def placed_weights(graph: Graph, weights: str, logits: bool = True, *, command: str):
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
        None if background is None else (background.data, background.drawn),
        loaded.recipe.share if loaded.recipe.name == "centre" else None,
        *(["the weights come from an ONNX file, which takes its input as it is"] if onnx else []),
    )


def _recorded(state: dict, stats) -> dict:
    """`state` with the normalisation used as its mean and std (what a checkpoint of it would record)."""
    if stats is None:
        return state
    return {**state, "mean": list(stats.mean), "std": list(stats.std)}


def file_stats(graph: Graph, channels: int):
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


def evaluate(
    graph: Graph,
    checkpoint: str | Path,
    data_spec: str | None,
    data_dir: str | None,
    batch_size: int = EVAL_BATCH,
    device_name: str = "auto",
    split: str | None = None,
    weights: str | None = None,
    mean: tuple | None = None,
    std: tuple | None = None,
) -> Evaluation:
    """`split`: val (the validation split the run had), test (the data's test split), train
    (the images it trained on) or all (every image of the data); None: val on the run's own
    data, all of other data (`data_spec` that is not what the run trained on, or any with
    weights from no run), whose val split would be no held-out part of anything. `weights`
    (--weights) in place of `checkpoint`, `mean` and `std` (--mean, --std): see weighted_model."""
    from ..data import load_data
    from ..data.streamed import INDEX, is_streamable

    device = resolve_device(device_name)
    loaded = weighted_model(graph, device, checkpoint, weights, mean, std)
    model, state = loaded.model, loaded.state
    saved = Checkpoint.of(state)
    config = saved.config or {}  # a run's settings; weights from elsewhere have none
    if data_spec is None and "data" not in config:
        raise CnnctlError.at(
            "which data? the weights come from no cnnctl run, so there is no data they were trained on",
            hint="give --data DATA (a data set or an image folder), with --split all for every image of a folder",
        )
    other = other_data(config, data_spec)
    split = split or ("all" if other else "val")
    if other and split == "val":
        why = other if "data" not in config else f"`{data_spec}` is not this run's data: {other}"
        raise CnnctlError.at(
            f"--split val is the validation split a run held out of its own data, and {why}",
            hint=f"leave --split out to evaluate on all of `{data_spec}` (or --split test for its test split)",
        )
    # Normalised as it was trained: the weights' statistics (or --mean/--std), not the evaluated data's.
    trained_with = loaded.stats
    val_split = 0.0 if other else config.get("val_split", 0.1)  # other data: nothing of it was held out
    from ..data.loader import default_workers

    recipe = loaded.recipe  # each image as the weights' validation read it, whatever the data
    # The run's own image folder: the images it listed (its index), not the folder as it is now, out
    # of which another validation split would be held out.
    index = weights_file(checkpoint).parent / INDEX if checkpoint is not None and not other else None
    data = load_data(
        data_spec or config["data"],
        graph.input_shape,
        data_dir=data_dir or config.get("data_dir"),
        val_split=0.0 if split == "all" else val_split,
        seed=config.get("seed", 0),
        test=split in ("test", "all"),
        masks=dense_shape(graph),
        stats=trained_with,
        # A run's own data streams as it did (an image folder too large to hold). Data given (--data), an
        # image folder or shards, streams as a streamed run reads its own: each image read with the weights'
        # recipe (a centre crop from the image as stored, for a photo recipe's run and torchvision's weights),
        # an unreadable one left out and counted, up to loader.MAX_BAD of them; other data is held.
        stream=config.get("stream") if data_spec is None else (True if is_streamable(data_spec) else None),
        workers=default_workers(),
        index=index,
    )
    # A run's classes must be the data's; other weights take the data's (torchvision's ImageNet names aside).
    # Told before the network's outputs are counted: a trained head of another width is the run's classes,
    # not a last layer to rewrite (`make the last layer fc 4` was the hint once).
    if saved.config is not None and saved.classes and list(saved.classes) != list(data.classes):
        raise CnnctlError.at(
            f"the checkpoint was trained on the {plural(len(saved.classes), 'class', 'classes')} "
            f"{first(saved.classes, 5)}, but `{data.name}` has {plural(len(data.classes), 'class', 'classes')} "
            f"{first(data.classes, 5)}",
            hint="evaluate on the data it was trained on",
        )
    check_classes(graph, data.classes)
    # said in the header where there is a run whose data this is not (weights from elsewhere have none)
    images, measured_on = chosen_split(data, split, bool(other), other if "data" in config else "")
    if loaded.pretrained:  # ImageNet's 1,000 outputs, read for the data's classes by their names
        model = _imagenet_outputs(model, list(data.classes), data.name)
        measured_on += f"; scored on ImageNet's outputs for its {plural(len(data.classes), 'class', 'classes')}"
        if data.streamed:
            measured_on += f"; each image {recipe.said(graph.input_shape)}"
    batches = evaluation_source(data, images, graph.input_shape, device, recipe)
    k = len(data.classes)
    confusion = torch.zeros(k, k, dtype=torch.int64)
    from ..data.loader import loader_faults_raised, rerun_error

    with loader_faults_raised(rerun_error("evaluate")):
        stats = evaluate_batches(model, batches, k, confusion, batch_size=batch_size)
    counts = confusion.tolist()
    # From the integer counts (`33 / 34 = 0.9705882352941176`), not float32 tensors (`0.970588207244873`).
    per_class = [row[i] / sum(row) if sum(row) else None for i, row in enumerate(counts)]
    used = loaded.said
    dense = dense_shape(graph) is not None  # then the counts are of pixels
    skipped = getattr(batches, "skipped", None)  # a stream leaves unreadable images out
    left_out = skipped.epoch_bad if skipped is not None else 0
    if left_out:
        measured_on += f"; {plural(left_out, 'unreadable image')} left out"
    if data.changed:  # the run's own images, changed in place since it listed them
        measured_on += f"; {data.changed}"
    return Evaluation(
        stats.loss, stats.accuracy, list(data.classes), per_class, counts, len(images) - left_out, used, measured_on,
        iou=iou(counts) if dense else None, pixels=stats.seen if dense else 0, split_name=split,
    )  # fmt: skip


class _Outputs(torch.nn.Module):
    """A network's outputs at `index`, in that order: ImageNet's scores of the data's classes."""

    def __init__(self, model: torch.nn.Module, index: list[int]):
        super().__init__()
        self.model = model
        self.register_buffer("index", torch.tensor(index, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).index_select(1, self.index.to(x.device))


def _imagenet_outputs(model: torch.nn.Module, classes: list[str], data: str) -> torch.nn.Module:
    """`model` (ImageNet's weights, its 1,000-class head) scoring the data's `classes`, each
    read from ImageNet's output of the same name (case aside; a name ImageNet has twice, its
    first); one message naming the first class ImageNet does not have."""
    from ..exchange.pretrained import imagenet_classes

    where: dict[str, int] = {}
    for i, name in enumerate(imagenet_classes()):
        where.setdefault(name.lower(), i)
    missing = [c for c in classes if c.lower() not in where]
    if missing:
        raise CnnctlError.at(
            f"`{data}`'s classes are not ImageNet's: {quoted(missing[0])} is not one of its 1,000 class names"
            + (f" ({plural(len(missing) - 1, 'other')} neither)" if len(missing) > 1 else ""),
            hint="ImageNet's weights score ImageNet's classes (named as cnnctl/data/imagenet_classes.txt, one "
            "folder per class); for other classes fine-tune them: cnnctl train ARCH --weights imagenet --data DATA",
        )
    return _Outputs(model, [where[c.lower()] for c in classes]).eval()


def evaluation_source(data, images, shape: tuple[int, int, int], device: torch.device, recipe: Recipe):
    """The batch source evaluate reads `images` through: in memory (adapted whole), or
    streamed by loader processes, each image as `recipe` says: the weights' (Weighted.recipe:
    a run's validation recipe, the centre crop of one that streamed random resized crops;
    torchvision's, the centre crop they were evaluated with)."""
    if not data.streamed:
        return Batches(images, data.mean, data.std, device)
    from ..data.loader import default_workers
    from .stream import Stream

    return Stream(images, shape, data.mean, data.std, device, workers=default_workers(), recipe=recipe)


def other_data(config: dict, data_spec: str | None) -> str:
    """Why `data_spec` (--data) is not the data the run trained on, in words: what it trained
    on ("" where it is that data: not given, or naming the same data set or folder as the
    run's config)."""
    from ..data import data_set
    from .config import absolute_data_paths

    if "data" not in config:
        return "the weights come from no cnnctl run" if data_spec is not None else ""
    if data_spec is None:
        return ""
    given, trained = absolute_data_paths({"data": data_spec})["data"], str(config["data"])
    if given == trained or (data_set(given) and data_set(given) is data_set(trained)):
        return ""
    return f"it trained on {os.path.basename(trained.rstrip('/')) or trained}"


def chosen_split(data, split: str, other: bool = False, why: str = "") -> tuple[Split, str]:
    """The images of `split` and what they are, in words, for the report's header; `other`: the
    data is not what the weights were trained on (`why`, from `other_data`, is said there)."""
    aside = f"; not this run's data: {why}" if why else ""
    if split == "test" and data.test is None and other and data.train_from:
        # a folder of test files alone (MNIST's t10k): trained on where they were the run's own
        # data (`no_test` says so), but here every image is the test split
        return _every(data), f"the test split of {data.name} ({data.train_from}, all of it{aside})"
    if split == "test":
        if data.test is None and data.no_test:
            raise CnnctlError.at(
                f"`{data.name}` has no test split: {data.no_test}",
                hint="leave --split out to evaluate on all of it"
                if other
                else "use --split val (the default), or evaluate on other images with --data DIR --split all",
            )
        if data.test is None:
            raise CnnctlError.at(
                f"`{data.name}` has no test split",
                hint="a test split is a test/ folder beside train/ (image folders), t10k-* or test-* IDX files "
                "beside the training files, or CIFAR-10's test_batch; or give the test images as "
                "--data DIR --split all",
            )
        also = "; it was also the validation split while training" if data.test is data.val and not other else ""
        return data.test, f"the test split of {data.name} ({data.test_from}{also}{aside})"
    if split == "train":
        said = [f"{data.train_from}, its only files"] if data.train_from and other else []
        said += [aside[2:]] if why else [] if other else ["the images it trained on"]
        return data.train, f"the training split of {data.name}" + (f" ({'; '.join(said)})" if said else "")
    if split == "all":
        return _every(data), f"{data.name}, all of it ({aside[2:]})" if why else f"{data.name}, all its splits"
    if not data.val_from:
        raise CnnctlError.at(
            "the run held out no validation split (--val-split 0 on data with one split)",
            hint="evaluate with --split test (data with a test split), or on other images: --data DIR --split all",
        )
    where = "" if data.val_from == "its validation split" else f" ({data.val_from})"
    return data.val, f"the validation split of {data.name}{where}"


def _every(data):
    """Every image of `data`: its splits together (the test split once, where it was also the
    validation split)."""
    parts = [data.train, data.val] + ([data.test] if data.test is not None and data.test is not data.val else [])
    if data.streamed:
        from ..data.samples import Samples

        return Samples.concat(parts)
    return Split(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]))


# The training data's background, from the checkpoint's channel means (of its images scaled
# to 0..1): images that average below DARK_DATA are mostly dark, light things on a dark
# background (MNIST 0.13, Fashion-MNIST 0.29, shapes about 0.2); above 1 - DARK_DATA, dark
# on light (scanned pages, sketches); photos (CIFAR-10 0.47, ImageNet 0.45) have no
# convention. An image whose border (its outermost ring of pixels, as read: before any
# padding, which adds black) is on the other side of LIGHT_BORDER than the training data's
# background was most likely drawn the other way round: it is said, not changed.
DARK_DATA = 1 / 3
LIGHT_BORDER = 127.5  # half of 255
# Pillow's modes, as a sentence names them (others by their mode: `mode I;16`).
MODE_NAMES = {"1": "1-bit black and white", "L": "grayscale", "P": "palette colours", "RGB": "RGB", "CMYK": "CMYK",
              "YCbCr": "YCbCr", "LAB": "Lab", "HSV": "HSV", "I": "32-bit integer grayscale",
              "F": "32-bit float grayscale"}  # fmt: skip
ALPHA_MODES = {"RGBA": "RGB", "RGBa": "RGB", "LA": "L", "La": "L", "PA": "P"}  # each with its mode without alpha


@dataclass
class Prediction:
    """One image's outcome: its top classes and how it was read and adapted, or its error."""

    image: str
    top: list[tuple[str, float]] = field(default_factory=list)  # (class, probability), most likely first
    height: int | None = None  # as read from the file
    width: int | None = None
    mode: str | None = None  # Pillow's mode as read: L, RGB, RGBA, P...
    adapted: list[str] = field(default_factory=list)  # what was done to it, in order
    warnings: list[Problem] = field(default_factory=list)
    error: Problem | None = None  # the image could not be read: no classes


def predict(
    graph: Graph,
    loaded: Weighted,
    images: list[str],
    top_k: int = 5,
    invert: bool = False,
) -> list[Prediction]:
    """Top-k (class, probability) for each image file by the network with its weights
    (weighted_model); a folder stands for the images in it (see `image_files`). An image that
    cannot be read gets its error and the others go on. `invert` predicts on 255 - value
    (dark-on-light images for a light-on-dark network). The classes are the weights' (a run's,
    ImageNet's for torchvision's), else numbered. Each image is prepared as the weights'
    validation prepared theirs (Weighted.recipe): a run that streamed random resized crops,
    resized so the shorter side covers the input at 256/224 then centre-cropped, as are
    torchvision's weights (the shorter side resized to 256, or the network's own size, then the
    centre 224x224); any other run, adapted whole."""
    if dense_shape(graph) is not None:
        raise CnnctlError.at(
            f"predict names the class of an image; `{graph.title}` scores every pixel "
            f"({format_shape(graph.output_shape)})",
            hint="measure it with `cnnctl evaluate RUN` (pixel accuracy and IoU per class)",
        )
    model, state, device = loaded.model, loaded.state, loaded.device
    # Each image as the weights' validation read it (Weighted.recipe): the centre crop of a run that
    # streamed random resized crops, or of ImageNet's evaluation (the crop's share of the resized
    # shorter side), else fitted whole as trained.
    centre = loaded.recipe.share if loaded.recipe.name == "centre" else None
    classes = Checkpoint.of(state).classes or [str(i) for i in range(graph.output_shape[0])]
    check_classes(graph, classes)
    h, w, c = graph.input_shape
    from ..data.decode import pillow

    pillow()  # missing: one message, not one per image
    trained_with = loaded.stats  # an old checkpoint may record none: pixel values / 255 mapped to -1..1
    mean = torch.tensor(trained_with.mean if trained_with else [0.5] * c).view(1, -1, 1, 1)
    std = torch.tensor(trained_with.std if trained_with else [0.5] * c).view(1, -1, 1, 1)
    background = training_background(state)
    results: list[Prediction] = []
    waiting: list[tuple[Prediction, torch.Tensor]] = []  # read, not yet through the network

    def score() -> None:
        x = ((torch.cat([t for _, t in waiting]).float() / 255 - mean) / std).to(device)
        with torch.no_grad():
            probs = torch.softmax(model(x)[:, : len(classes)].float(), dim=1)
        values, index = probs.topk(min(top_k, len(classes)), dim=1)
        for (seen, _), v, i in zip(waiting, values.tolist(), index.tolist(), strict=True):
            seen.top = [(classes[k], p) for p, k in zip(v, i, strict=True)]
        waiting.clear()

    from ..data.loader import loader_faults_raised, rerun_error

    with loader_faults_raised(rerun_error("predict")):
        for seen, x in _read_images(image_files(images), (h, w, c), invert, background, centre):
            results.append(seen)
            if x is not None:
                waiting.append((seen, x))
            if len(waiting) == PREDICT_BATCH:
                score()
    if waiting:
        score()
    return results


PREDICT_BATCH = 64  # images through the network at once
MANY_IMAGES = 256  # from this many, loader processes read them (a folder of photos), else this process


class _ImageFiles(torch.utils.data.Dataset):
    """Each image file read as predict reads it, with what was seen: (Prediction, (1, C, H, W)
    uint8 or None where it could not be read). In loader processes for many images."""

    def __init__(self, files, target, invert, background, centre: float | None = None):
        self.files, self.target, self.invert, self.background = files, target, invert, background
        self.centre = centre  # the evaluation recipe of photos (the crop's share of the resized image), else fitted

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        path, problem = self.files[i]
        if problem is not None:
            return Prediction(path, error=problem), None
        h, w, c = self.target
        try:
            x, seen = adapt_image(path, h, w, c, self.invert, self.background, self.centre)
            return seen, x
        except CnnctlError as exc:
            return Prediction(path, error=exc.problems[0]), None


def _read_images(files, target, invert, background, centre: float | None = None):
    """(Prediction, image) for each of `files`, in order: read by loader processes (the
    training stream's, cnnctl.data.loader) when there are many, else here."""
    from ..data.loader import default_workers, worker_start

    workers = default_workers() if len(files) >= MANY_IMAGES else 0
    loader = torch.utils.data.DataLoader(
        _ImageFiles(files, target, invert, background, centre), batch_size=None, num_workers=workers,
        prefetch_factor=4 if workers else None, worker_init_fn=worker_start(),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    yield from loader


def image_files(arguments: list[str]) -> list[tuple[str, Problem | None]]:
    """Each argument with None, but a folder stands for its PNG and JPEG files (.png, .jpg,
    .jpeg in any case, as an image-folder data set; sorted; not in its subfolders; no hidden
    files), listed by the data folders' lister (cnnctl.data.folder.list_images): a link in it
    leading out of it is not read, and comes with its problem, as does a folder without any
    image or that cannot be listed."""
    from ..data import IMAGE_SUFFIXES
    from ..data.folder import list_images

    out: list[tuple[str, Problem | None]] = []
    for argument in arguments:
        folder = Path(argument)
        if not folder.is_dir():
            out.append((argument, None))
            continue
        outside: list[tuple[Path, str]] = []
        try:
            found, others = list_images(folder, outside=outside, recursive=False)
        except OSError as exc:
            out.append((argument, Problem(f"cannot list the folder: {exc.strerror or exc}", Loc(argument))))
            continue
        hint = "a link in a folder is read only where it leads inside it: name the image itself to read it"
        refused = [(link, Problem(f"a link leading out of the folder, to {to}: not read", Loc(str(link)), hint=hint))
                   for link, to in outside if link.suffix.lower() in IMAGE_SUFFIXES]  # fmt: skip
        if not found and not refused:
            count = f" ({plural(len(others), 'other file')})" if others else ""
            hint = "predict reads the .png, .jpg and .jpeg files directly in a folder, not in its subfolders"
            out.append((argument, Problem(f"no PNG or JPEG images in this folder{count}", Loc(argument), hint=hint)))
        listed = sorted([(p, None) for p in found] + refused, key=lambda item: item[0].name)  # in the folder's order
        out += [(str(p), problem) for p, problem in listed]
    return out


def adapt_image(
    path: str,
    h: int,
    w: int,
    c: int,
    invert: bool = False,
    background: Background | None = None,
    centre: float | None = None,
) -> tuple[torch.Tensor, Prediction]:
    """An image file as predict takes it: a (1, c, h, w) uint8 tensor, as the network takes it,
    and a Prediction (no classes yet) with its size and mode as read, what may make the
    prediction meaningless (`image_warnings`, against the training images' `background`) and
    what was done to it, in order: the alpha channel dropped, the conversion to grayscale or
    RGB, the inversion, the padding or resizing (by the rules that adapt a data set to the
    network for training: cnnctl.data.adapt.plan, so a 28x28 digit is padded to 32x32 as MNIST
    was), or with `centre` the evaluation recipe of photos (the crop's share of the resized image)."""
    native, seen = image_as_read(path, h, w, c, invert)
    seen.warnings += image_warnings(native, seen, background, invert)
    if centre is None:
        return fit(native, seen, (h, w, c)), seen
    return _centre(path, seen, (h, w, c), centre, invert), seen


def _centre(path: str, seen: Prediction, target: tuple[int, int, int], share: float, invert: bool) -> torch.Tensor:
    """The evaluation recipe of photos (cnnctl.data.loader's `centre`), said in `seen`."""
    from ..data.decode import centre_box, decode_box
    from ..data.loader import Recipe

    h, w, _ = target
    x = decode_box(Path(path), target, centre_box(h, w, share))[None]
    seen.adapted.append(Recipe("centre", share=share).said(target))
    return 255 - x if invert else x


def fit(native: torch.Tensor, seen: Prediction, target: tuple[int, int, int]) -> torch.Tensor:
    """The image `image_as_read` gave, padded or resized to the network's input and its
    grayscale replicated to its channels (cnnctl.data.decode.fit, as training); said in `seen`."""
    from ..data.decode import fit as fit_image

    return fit_image(native[0], target, seen.image, seen.adapted)[None]


def image_as_read(path: str, h: int, w: int, c: int, invert: bool = False) -> tuple[torch.Tensor, Prediction]:
    """An image file as a (1, C, H, W) uint8 tensor at its own size, decoded for the
    network's `c` channels (RGB for 3, else grayscale: `fit` replicates it to `c`, as training
    does), inverted with `invert` (before any padding: the zeros padding adds stay black,
    as the training images were padded), and the Prediction saying so. (h, w): the
    network's input, which bounds what is decoded."""
    from ..data.decode import TURNS, mode_for, open_image, orientation, pixels, upright, upright_size

    seen = Prediction(path)
    mode = mode_for(c)
    with open_image(Path(path), (h, w)) as img:
        turn = orientation(img)  # a photo stored sideways: read as shown, as training reads it
        seen.width, seen.height = upright_size(img, turn)
        seen.mode = img.mode
        if turn != 1:
            seen.adapted.append(f"{TURNS[turn]}, as its EXIF orientation ({turn}) says it is shown")
        seen.adapted += _conversions(img, mode)
        native = upright(pixels(img, mode), turn)[None]
    if invert:
        native = 255 - native
        seen.adapted.append("inverted (255 - value, --invert)")
    return native, seen


def _conversions(img, to: str) -> list[str]:
    """What converting the Pillow image `img` to the mode `to` (L or RGB) does, said."""
    done = []
    mode = img.mode
    base = ALPHA_MODES.get(mode, mode)
    if mode in ALPHA_MODES:
        alpha = img.getchannel(img.getbands()[-1])
        see_through = 1 - alpha.histogram()[255] / (img.width * img.height)
        done.append(
            f"dropped the alpha channel: {see_through:.1%} of the pixels were (partly) transparent and "
            "now show the colour stored under them"
            if see_through
            else "dropped the alpha channel (every pixel was opaque)"
        )
    elif "transparency" in img.info:
        done.append("dropped the transparency: transparent pixels now show their stored colour")
    name = MODE_NAMES.get(base, f"mode {base}")
    if to == "L" and base == "RGB":
        done.append("converted RGB to grayscale (L = 0.299 R + 0.587 G + 0.114 B, ITU-R 601-2)")
    elif to == "L" and base != "L":
        done.append(f"converted {name} to grayscale")
    elif to == "RGB" and base == "L":
        done.append("converted grayscale to RGB (the gray value in each channel)")
    elif to == "RGB" and base != "RGB":
        done.append(f"converted {name} to RGB")
    return done


@dataclass
class Background:
    """What the checkpoint knows of its training images' background (see DARK_DATA)."""

    data: str  # the data they came from, as the run named it: `mnist`, a folder
    brightness: float  # their mean over the channels, 0 to 1
    dark: bool  # light things on a dark background (else dark on light)

    @property
    def drawn(self) -> str:
        return "light on dark" if self.dark else "dark on light"


def training_background(state: dict) -> Background | None:
    """The background of the images the checkpoint was trained on, from its channel means,
    whatever the data (a named data set or a folder); None where they have no convention
    (photos) or the checkpoint records no means."""
    saved = Checkpoint.of(state)
    mean = saved.mean
    if not mean:
        return None
    brightness = sum(mean) / len(mean)
    if DARK_DATA <= brightness <= 1 - DARK_DATA:
        return None
    data = (saved.config or {}).get("data")  # a data set's name, or a folder (its name is enough here)
    data = quoted(os.path.basename(data.rstrip("/")) or data) if isinstance(data, str) else "its data"
    return Background(data, brightness, dark=brightness < DARK_DATA)


def image_warnings(x: torch.Tensor, seen: Prediction, background: Background | None, invert: bool) -> list[Problem]:
    """What may make the prediction meaningless, for the (1, c, H, W) uint8 image `x` as read
    (converted to the network's channels, inverted with --invert, not yet padded): a single
    flat value, or a background (the mean of its outermost ring of pixels, over the
    channels) on the other side of LIGHT_BORDER than the training images' background."""
    problems = []
    low, high = int(x.min()), int(x.max())
    if low == high:
        hint = (
            "whatever only its transparency drew went with the alpha channel: flatten the image onto a background first"
            if any(a.startswith("dropped the alpha") for a in seen.adapted)
            else None
        )
        problems.append(Problem(f"every pixel is {low} once adapted: a blank image", Loc(seen.image), hint=hint))
    elif background is not None:
        ring = torch.ones(x.shape[-2:], dtype=torch.bool)
        ring[1:-1, 1:-1] = False
        border = x[0][:, ring].float().mean().item()
        if (border > LIGHT_BORDER) == background.dark:
            after = " after --invert" if invert else ""
            hint = (
                f"it was inverted by --invert: leave --invert out for an image already {background.drawn}"
                if invert
                else "give --invert to predict on the inverted image (255 - value)"
            )
            problems.append(
                Problem(
                    f"a {'light' if background.dark else 'dark'} background{after}: the image's border averages "
                    f"{border:.0f} of 255, but the network was trained on {background.data}, {background.drawn} "
                    f"(its training images average {background.brightness * 255:.0f} of 255)",
                    Loc(seen.image),
                    hint=hint,
                )
            )
    return problems
