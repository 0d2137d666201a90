"""A network checked against the data it is given: its classes (train, evaluate, predict, bench
alike) and a batch size the training images can fill."""

from __future__ import annotations

from ..errors import CnnctlError
from ..graph import Graph
from ..graph.outputs import dense_shape, flatten_hint
from ..shapes import format_shape
from .batches import BatchSource


def check_classes(graph: Graph, classes: list[str]) -> None:
    out, last = graph.output_shape, graph.nodes[-1]  # told at the last layer's line: the one to change
    if dense_shape(graph) is not None:
        if out[2] < len(classes):
            raise CnnctlError.at(
                f"the network scores {out[2]} classes per pixel, but the masks have {len(classes)}",
                last.loc,
                layer=last.path,
                hint=f"make the last layer `conv f=1 n={len(classes)}`",
            )
        return
    if len(out) != 1:
        raise CnnctlError.at(
            f"the network ends in the volume {format_shape(out)}; a classifier ends in a vector of class scores",
            last.loc,
            layer=last.path,
            hint=flatten_hint(last) if out[:2] == (1, 1) else f"end it with `fc {len(classes)}`",
        )
    if out[0] < len(classes):
        # Data that counts its classes from its labels says where (cnnctl.data.ClassNames).
        origin, check = getattr(classes, "origin", None), getattr(classes, "check", None)
        raise CnnctlError.at(
            f"the network has {out[0]} output{'s' if out[0] != 1 else ''}, but the data has {len(classes)} classes"
            + (f" ({origin})" if origin else ""),
            last.loc,
            layer=last.path,
            hint=f"make the last layer `fc {len(classes)}`" + (f", or {check}" if check else ""),
        )


def unused_outputs(graph: Graph, classes: list[str]) -> str | None:
    """A note when the network scores more classes than the data has: it trains (the extra
    scores are only pushed down), but it is usually a network written for other data."""
    outputs, n = graph.output_shape[-1], len(classes)
    if outputs <= n:
        return None
    last = f"conv f=1 n={n}" if dense_shape(graph) else f"fc {n}"
    return (
        f"warning: the network has {outputs:,} outputs for {n:,} classes: outputs {n} to {outputs - 1} are never "
        f"a target (make the last layer `{last}` to fit this data)"
    )


def check_batch(source: BatchSource, batch: int, workers: int, graph: Graph) -> None:
    if source.steps_per_epoch(batch, workers) == 0:
        times = f" x {workers} workers" if workers > 1 else ""
        images = source.images or 0  # a source that knows no size has steps or None, never 0
        raise CnnctlError.at(
            f"--batch-size {batch}{times} is more than the {images:,} training images",
            hint=f"use --batch-size {max(1, images // workers)} or less",
        )
    if batch == 1 and any(node.kind == "bn" for node in graph.nodes):
        raise CnnctlError.at(
            "batch norm needs at least 2 images per batch (--batch-size 1)", hint="use --batch-size 2 or more"
        )


DROPPED_SHARE = 0.1  # the share of the training images an epoch may leave out (its last, partial step) unsaid


def dropped_note(source: BatchSource, batch: int, workers: int) -> str | None:
    """What an epoch leaves out where that is more than DROPPED_SHARE of the training images:
    its last, partial step (batches.steps_in_epoch), with a batch size that leaves out less;
    None otherwise. 173 images at batch 64 train on 128 an epoch."""
    images = source.images
    if not images:
        return None
    per_step = batch * workers
    used = source.steps_per_epoch(batch, workers) * per_step
    left = images - used
    if left <= DROPPED_SHARE * images:
        return None
    note = (f"each epoch trains on {used:,} of the {images:,} training images: the last {left:,}, fewer than a step's "
            f"{per_step:,}, are left out (other images each epoch, whose order differs)")  # fmt: skip
    smaller = images // ((images // per_step + 1) * workers)  # one step more, each as full as can be
    if smaller >= 2:
        note += f"; --batch-size {smaller} trains on {smaller * workers * (images // (smaller * workers)):,} an epoch"
    return note
