"""Fine-tuning: a run started from trained weights (`--weights`), perhaps for other classes.

- **A new head.** When the data has another number of classes than the layer that scores
  them (`--head PATH`, by default the network's last fc or conv with weights), that layer is
  built anew at the data's width (build_graph's `widths`), starts from random weights, and
  the source's tensors for it are left out; every other tensor is placed by structure. The
  run folder's config.json keeps the head (`head`), so every command that reads the run
  builds the same network (cnnctl.run_marks.run_head). From scratch the same mechanism makes
  the head of a classifier written for more classes than the data has (a bundled network's
  1,000) at the data's width, at the rate of the rest; and a cnnctl run given as --weights for
  the data's own classes (by name) keeps its head's weights. These decisions are made here, as
  data (head_for_data, placed_with_head: a HeadPlacement); the training loop says them.
- **Frozen layers.** `--freeze PATH`: the weights of every layer up to and including PATH,
  in the network's order, stop training, and its batch norms keep their statistics (they
  stay in evaluation mode); only the layers after PATH learn.
- **The recipe's defaults** for a run from weights: a tenth of the optimizer's default rate,
  one epoch of warm-up (in runs of more than one), and a new head at HEAD_FACTOR times the
  rate (it starts from random weights, the rest from trained ones); each given setting
  decides instead. The normalisation is the one the weights were trained with, where they
  record it (a cnnctl run or checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from ..analysis.summary import frozen_layers, layer_at
from ..errors import CnnctlError
from ..exchange.pretrained import is_pretrained
from ..exchange.weights import in_layers
from ..graph import Graph
from ..graph.build import WIDTH_ARG
from ..graph.nodes import Node
from ..graph.outputs import resized_with
from ..records import record
from .checkpoint import run_weights
from .config import DEFAULT_LR, TrainConfig

if TYPE_CHECKING:
    from ..exchange.weights import Placement

LR_SHARE = 0.1  # a run from weights: this share of the optimizer's default rate
WARMUP_EPOCHS = 1  # and this many epochs of warm-up
HEAD_FACTOR = 10.0  # a new head's rate, times the rest's


def head_layer(graph: Graph, path: str | None) -> Node:
    """The layer that scores the classes: `path` (--head), else the last fc or conv with weights."""
    if path is None:
        for node in reversed(graph.nodes):
            if node.kind in WIDTH_ARG and node.params:
                return node
        raise CnnctlError.at("the network has no fc or conv layer to score the data's classes")
    node = layer_at(graph, path, "--head")
    if node.kind not in WIDTH_ARG:
        raise CnnctlError.at(
            f"--head {path}: a `{node.kind}` layer; the head is the fc or conv layer that scores the classes",
            hint=f"--head {head_layer(graph, None).path}",
        )
    scoring = scoring_layers(graph)
    if node.path not in scoring:  # an inner layer: made at the data's width, it broke the layers after it
        raise CnnctlError.at(
            f"--head {path}: layers with weights come after it, so it does not score the classes (the head is "
            "a last fc or conv, whose outputs are the class scores)",
            hint=f"--head {' or '.join(scoring)}" if scoring else None,
        )
    return node


def scoring_layers(graph: Graph) -> list[str]:
    """The fc and conv layers with weights after which no layer with weights comes, on any path to an
    output: the layers whose outputs are scores (the main output's, and an auxiliary head's)."""
    weighted_after = [False] * len(graph.nodes)  # a layer with weights reads this one, or one after it
    for node in reversed(graph.nodes):
        for i in node.inputs:
            if i >= 0 and (node.params or weighted_after[node.index]):
                weighted_after[i] = True
    return [n.path for n in graph.nodes if n.kind in WIDTH_ARG and n.params and not weighted_after[n.index]]


def new_head(graph: Graph, classes: int, path: str | None) -> tuple[str, int] | None:
    """(the head's path, its width now) when it must be made anew for `classes`; else None."""
    node = head_layer(graph, path)
    width = node.shape[-1]
    return None if width == classes else (node.path, width)


def head_for_data(
    graph: Graph, classes: int, path: str | None, from_weights: bool, dense: bool, rebuildable: Callable[[], bool]
) -> tuple[str, int] | None:
    """(the head's path, its width as written) where a new run makes it anew for the data's
    `classes` (new_head): from --weights trained for other classes (the line that says so comes
    once they are placed: `placed_with_head`), or, from scratch, a classifier written for more
    classes than the data has; None where it stays as written: fewer is check_classes' message, a
    per-pixel network's width is left as written (`dense`), as is one that cannot be built again at
    another width (`rebuildable()`: not a network given as text)."""
    made = new_head(graph, classes, path)
    if made is None:
        return None
    _, width = made
    if not from_weights and (dense or width < classes or graph.output_shape != (width,) or not rebuildable()):
        return None
    return made


@record
class HeadPlacement:
    """How --weights went into a network with a head for the data's classes (placed_with_head)."""

    placement: object  # exchange.weights.Placement: where each tensor went
    head: str | None  # the layer made anew for the data's classes (or kept at their width); None: none
    kept: bool  # the head at the data's width with the weights' own tensors: a run on the data's classes
    theirs: int | None  # the width of the source's tensors left out for the head made anew (their classes)


def placed_with_head(
    model: torch.nn.Module, graph: Graph, source: str, weights: str, head: str | None, head_path: str | None,
    classes: list[str], refused: Callable[[], CnnctlError | None] = lambda: None,
) -> HeadPlacement:  # fmt: skip
    """The weights `source` (the file --weights `weights` names) placed into `model`, but those of
    the head made anew (`head`: head_for_data's, None where the network already scores the data's
    classes) and the auxiliary heads with it (made_anew). Where they do not fit so and no head was
    made, they are placed with the head (`head_path`, else the last fc or conv) made anew, where
    they fit that way (weights trained for another number of classes than this network scores,
    whose width already is the data's); a head made anew whose weights are a cnnctl run's on the
    data's `classes` keeps their tensors (the network file written for others). Where none fits:
    `refused()`, the likelier cause the caller knows (another network's weights, another input),
    else the first placement's error."""
    from ..exchange.weights import place_weights

    try:
        placement = place_weights(model, source, made_anew(graph, head), read_run=run_weights)
    except CnnctlError:
        other = None if head is not None else _with_other_head(model, graph, source, head_path)
        if other is None:
            if (why := refused()) is not None:
                raise why from None
            raise
        head, placement = other
        return HeadPlacement(placement, head, False, source_width(placement, head))
    if head is not None and trained_for_classes(weights, classes):
        try:
            whole = place_weights(model, source, read_run=run_weights)
        except CnnctlError:
            pass
        else:
            return HeadPlacement(whole, head, True, None)
    return HeadPlacement(placement, head, False, source_width(placement, head) if head is not None else None)


def _with_other_head(model: torch.nn.Module, graph: Graph, source: str, head_path: str | None):
    """(the head, the Placement) of the weights placed with the head (`head_path`, else the last
    fc or conv) made anew, where they fit so: weights trained for another number of classes than
    this network scores (whose width already is the data's); None where they do not fit even so."""
    from ..exchange.weights import place_weights

    head = head_layer(graph, head_path)
    try:
        placement = place_weights(model, source, made_anew(graph, head.path), read_run=run_weights)
    except CnnctlError:
        placement = None
    # A source head of this width did not fit for its inputs (trained at another input size), not its classes.
    if placement is not None and source_width(placement, head.path) != head.shape[-1]:
        return head.path, placement
    return None


def trained_for_classes(weights: str, classes: list[str]) -> bool:
    """Whether the weights are a cnnctl run's (or checkpoint's) trained for the data's classes,
    by name and in order; weights that name none are for other classes, as far as anyone knows."""
    from .weights_from import recorded_state

    state = None if is_pretrained(weights) else recorded_state(weights)
    return state is not None and list(state.get("classes") or ()) == list(classes)


def source_width(placement: Placement, head: str) -> int | None:
    """The width of the source's tensors left out for the head made anew (its classes); None where none was."""
    theirs = next((p.left_out for p in placement.placed if p.left_out and in_layers(p.own, head)), None)
    return theirs[0] if theirs else None


def made_anew(graph: Graph, head: str | None) -> tuple[str, ...]:
    """The layers a new head `head` makes anew: itself and, where it is the main output's, each
    auxiliary head's last layer (`outputs:`), resized with it (build_graph); torchvision's
    GoogLeNet and Inception v3 keep their auxiliary classifiers so when fine-tuned."""
    return () if head is None else (head, *resized_with(graph.nodes, graph.heads, head))


def apply_defaults(config: TrainConfig, from_weights: bool, new_head: bool) -> list[str]:
    """Fill the recipe settings left unset for a run from weights (or not), in `config` itself
    (the checkpoint then keeps them); the words that say which defaults were taken."""
    said = []
    if config.warmup_epochs is None:  # not all of a one-epoch run: it would train at half the rate throughout
        config.warmup_epochs = WARMUP_EPOCHS if from_weights and config.epochs > WARMUP_EPOCHS else 0
        if config.warmup_epochs:
            said.append(f"warm-up {WARMUP_EPOCHS} epoch")
    if from_weights and config.lr is None:
        config.lr = DEFAULT_LR[config.optimizer] * LR_SHARE
        said.append(f"lr {config.lr:g} (a tenth of {config.optimizer}'s default)")
    if config.head_lr_factor is None:
        config.head_lr_factor = HEAD_FACTOR if new_head else 1.0
        if new_head:
            said.append(f"the new head at {HEAD_FACTOR:g}x the rate")
    return said


def freeze(model: torch.nn.Module, graph: Graph, path: str) -> list[torch.nn.Module]:
    """Stop the weights of the layers up to and including `path` from training; returns their
    batch norms, which the caller keeps in evaluation mode (their statistics frozen too)."""
    frozen = set(frozen_layers(graph, path, "--freeze"))
    norms = []
    for name, module in model.named_modules():
        if name in frozen:
            for p in module.parameters():
                p.requires_grad_(False)
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                norms.append(module)
    if not any(p.requires_grad for p in model.parameters()):
        after = [n.path for n in graph.nodes if n.path not in frozen and n.params]
        raise CnnctlError.at(
            f"--freeze {path} freezes every layer with weights: nothing would train",
            hint="freeze an earlier layer"
            + (f", e.g. --freeze {after[0]}" if after else "")
            + " (`cnnctl summarize ARCH --freeze PATH` counts what would train)",
        )
    return norms


def param_groups(model: torch.nn.Module, head: str | tuple[str, ...] | None, factor: float, lr: float) -> list[dict]:
    """The optimizer's groups: the parameters in the model's order, in runs of the head's and
    the rest's (so a checkpoint's optimizer state lines up with them as with one group), the
    head's at `factor` times `lr`."""
    groups: list[dict] = []
    for name, p in model.named_parameters():
        in_head = factor != 1.0 and in_layers(name, head)
        rate = lr * factor if in_head else lr
        if groups and groups[-1]["lr"] == rate:
            groups[-1]["params"].append(p)
        else:
            groups.append({"params": [p], "lr": rate})
    return groups
