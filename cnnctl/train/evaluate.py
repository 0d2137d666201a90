"""`cnnctl evaluate`: a trained network scored on a data set's split: loss, accuracy, the
confusion matrix (dense prediction: pixel accuracy and IoU)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..data import Split
from ..data.loader import Recipe
from ..errors import CnnctlError, quoted
from ..graph import Graph
from ..graph.outputs import dense_shape
from ..words import first, plural
from .batches import Batches
from .checkpoint import Checkpoint, weights_file
from .data_checks import check_classes
from .device import resolve_device
from .metrics import EVAL_BATCH, TOP_K, evaluate_batches, f1, iou, mean_iou, mean_of_classes, precision, recall
from .weighted import weighted_model

if TYPE_CHECKING:
    from ..data import DataSplits
    from ..data.samples import Samples
    from .batches import BatchSource


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    classes: list[str]
    per_class: list[float | None]  # accuracy per true class, exactly; None for a class with no examples
    confusion: list[list[int]]  # [true][predicted] counts
    examples: int
    checkpoint: str = ""  # the file whose weights were used
    split: str = ""  # the data they were measured on, in words: "the validation split of mnist" (JSON data_words)
    # Dense prediction: the counts above are of pixels (`pixels` of them, in `examples` images)
    # and each class has its intersection over union (None: neither present nor predicted).
    iou: list[float | None] | None = None
    pixels: int = 0
    split_name: str = "val"  # --split: val, test, train or all
    data: str = ""  # the data as named (--data, else the run's): `mnist`, a folder's path
    skipped: int = 0  # unreadable images of the split, left out (loader.Skipped's rule)
    # Samples of the data's shards lost to a cut (index.json lists them past where a shard is cut
    # short): never read, in no split, counted by the same rule as unreadable images but not among them
    lost: int = 0
    # The share of the images whose class is among their TOP_K highest scores; None where the data
    # has TOP_K classes or fewer (every image's would be), and for dense prediction.
    top5_accuracy: float | None = None

    @property
    def mean_iou(self) -> float:
        return mean_iou(self.iou or [])

    @property
    def precision(self) -> list[float | None]:
        """Per class (None: never predicted); `per_class` is each class's recall."""
        return precision(self.confusion)

    @property
    def f1(self) -> list[float | None]:
        """Per class (None: neither present nor predicted)."""
        return f1(self.confusion)

    @property
    def balanced_accuracy(self) -> float:
        """The mean of the classes' recall (their accuracy), over the classes with examples."""
        return mean_of_classes(self.per_class)

    @property
    def macro_f1(self) -> float:
        """The mean of the classes' F1, over the classes present or predicted."""
        return mean_of_classes(self.f1)


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
    graph = loaded.graph or graph  # its head built for the classes the weights record (head_for_weights)
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
        # an unreadable one left out and counted, up to loader.MAX_BAD of the images listed; other data is held.
        stream=config.get("stream") if data_spec is None else (True if is_streamable(data_spec) else None),
        workers=default_workers(),
        index=index,
    )
    for warning in data.warnings:  # what train warned of its data (a shard cut short), in its words
        sys.stderr.write(warning + "\n")
    # A run's classes must hold the data's (by name); other weights take the data's (torchvision's ImageNet
    # names aside). Told before the network's outputs are counted: a trained head of another width is the
    # run's classes, not a last layer to rewrite (`make the last layer fc 4` was the hint once).
    classes = list(data.classes)
    among = []  # the run's classes the data lacks, where it is scored among the run's classes
    if saved.config is not None and saved.classes and list(saved.classes) != classes:
        among = run_classes_for(list(saved.classes), classes, data.name, dense_shape(graph) is not None)
    check_classes(graph, list(saved.classes) if among else data.classes)
    # said in the header where there is a run whose data this is not (weights from elsewhere have none)
    images, measured_on = chosen_split(data, split, bool(other), other if "data" in config else "")
    if among:  # each label read as the run's index of its class: a prediction of a class not here is wrong
        images = relabelled(images, [list(saved.classes).index(c) for c in classes])
        classes = list(saved.classes)
        measured_on += (f"; scored among the run's {plural(len(classes), 'class', 'classes')}, "
                        f"{first(among, 5)} not in the data (a prediction of one is wrong)")  # fmt: skip
    if loaded.pretrained:  # ImageNet's 1,000 outputs, read for the data's classes by their names
        model = _imagenet_outputs(model, classes, data.name)
        measured_on += f"; scored on ImageNet's outputs for its {plural(len(classes), 'class', 'classes')}"
        if data.streamed:
            measured_on += f"; each image {recipe.said(graph.input_shape)}"
    batches = evaluation_source(data, images, graph.input_shape, device, recipe)
    k = len(classes)
    confusion = torch.zeros(k, k, dtype=torch.int64)
    from ..data.loader import loader_faults_raised, rerun_error

    dense = dense_shape(graph) is not None  # then the counts are of pixels
    top_k = TOP_K if k > TOP_K and not dense else 0
    with loader_faults_raised(rerun_error("evaluate")):
        stats = evaluate_batches(model, batches, k, confusion, batch_size=batch_size, top_k=top_k)
    counts = confusion.tolist()
    per_class = recall(counts)
    used = loaded.said
    skipped = getattr(batches, "skipped", None)  # a stream leaves unreadable images out as it reads them
    examples = len(images)  # held in memory: those left out are not among them
    if skipped is not None:
        left_out = skipped.epoch_bad
        examples -= left_out
    else:  # data held in memory left them out as it was decoded, split by split
        left_out = sum(data.left_out.values()) if split == "all" else data.left_out.get(split, 0)
    if left_out:
        measured_on += f"; {plural(left_out, 'unreadable image')} left out"
    if data.lost:  # not of one split: a cut shard's samples past the cut are known only by their count
        measured_on += f"; {plural(data.lost, 'sample')} of its shards lost to a cut (listed in index.json past it)"
    if data.changed:  # the run's own images, changed in place since it listed them
        measured_on += f"; {data.changed}"
    return Evaluation(
        stats.loss, stats.accuracy, classes, per_class, counts, examples, used, measured_on,
        iou=iou(counts) if dense else None, pixels=stats.seen if dense else 0, split_name=split,
        data=str(data_spec or config["data"]), skipped=left_out, lost=data.lost,
        top5_accuracy=stats.top_correct / stats.seen if top_k and stats.seen else None,
    )  # fmt: skip


def run_classes_for(trained: list[str], classes: list[str], data: str, dense: bool) -> list[str]:
    """The run's classes (`trained`) that data whose classes are `classes` lacks, where each of
    these is one of them by name (a folder of a few of its classes): it is then scored among the
    run's. One message where a class is not the run's (the data is other data), or for dense
    prediction, whose masks' indices are the classes' own."""
    unknown = [c for c in classes if c not in trained]
    if unknown or dense:
        its = f"`{data}` has {plural(len(classes), 'class', 'classes')} {first(classes, 5)}"
        why = f", {first(unknown, 5)} not among them" if 0 < len(unknown) < len(classes) else ""  # some: which
        raise CnnctlError.at(
            f"the checkpoint was trained on the {plural(len(trained), 'class', 'classes')} {first(trained, 5)}, "
            f"but {its}{why}",
            hint="evaluate on images of the run's classes (a folder of some of them, one class folder each, "
            "is scored among the run's classes)"
            if not dense
            else "evaluate on masks of the classes it was trained on",
        )
    return [c for c in trained if c not in classes]


def relabelled(images: Split | Samples, index: list[int]) -> Split | Samples:
    """`images` whose label i is `index[i]`: the data's class indices read as the run's."""
    import dataclasses

    lookup = torch.tensor(index, dtype=torch.int64)
    if isinstance(images, Split):
        return Split(images.x, lookup[images.y])
    return dataclasses.replace(images, labels=lookup[images.labels])


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


def evaluation_source(
    data: DataSplits, images: Split | Samples, shape: tuple[int, int, int], device: torch.device, recipe: Recipe
) -> BatchSource:
    """The batch source evaluate reads `images` through: in memory (adapted whole), or
    streamed by loader processes, each image as `recipe` says: the weights' (Weighted.recipe:
    a run's validation recipe, the centre crop of one that streamed random resized crops;
    torchvision's, the centre crop they were evaluated with)."""
    if not data.streamed:
        return Batches(images, data.mean, data.std, device)
    from ..data.loader import Skipped, default_workers
    from .stream import Stream

    # Judged as training judged them: against every image the data set listed (its run's train and
    # validation images, for the run's own split), not the split's own count, nor the images read so far.
    skipped = Skipped(listed=data.images_listed, lost=data.lost)
    return Stream(images, shape, data.mean, data.std, device, workers=default_workers(), recipe=recipe, skipped=skipped)


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


def chosen_split(data: DataSplits, split: str, other: bool = False, why: str = "") -> tuple[Split, str]:
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
