"""The head a run makes anew for its data's classes (cnnctl.train.finetune decides where), the
network built again with it, and the lines that say so."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis.summary import layer_at
from ..catalog import resolve_member
from ..errors import CnnctlError
from ..graph import Graph
from .config import TrainConfig
from .finetune import head_for_data, made_anew


@dataclass(frozen=True)
class Head:
    """The layer a run made anew for the data's classes, if any."""

    layer: str | None = None
    had: int | None = None  # its width in the network as written, where --weights made it anew
    kept: bool = False  # at the data's width, with the weights' own tensors (finetune.HeadPlacement.kept)


def rebuilt(named: str, graph: Graph, widths: dict[str, int]) -> Graph:
    """The network `named` (a file or a bundled name) again, those layers at those widths, from
    the text `graph` was read from (the file may have changed since: the run trains, and keeps
    as network.yaml, what was read)."""
    from ..api import load

    return load(named, graph.input_shape, widths, text=graph.text or None)


def rebuildable(named: str) -> bool:
    """Whether the network is named by a file or a bundled name (not given as text), so that
    it can be built again with a head of another width (`rebuilt`)."""
    try:
        resolve_member(named)
    except CnnctlError:
        return False
    return True


def resumed_head(graph: Graph, widths: dict[str, int] | None, named: str) -> tuple[Graph, Head]:
    """The head a resumed run made (`widths`: its config.json's, run_marks.recorded_head), and
    its network built with it where the network as given has another width there."""
    if not widths:
        return graph, Head()
    layer = next(iter(widths))
    if layer_at(graph, layer, "the run's head").shape[-1] != widths[layer]:
        graph = rebuilt(named, graph, widths)
    return graph, Head(layer)


def new_head(graph: Graph, classes: int, config: TrainConfig, dense: bool, named: str) -> tuple[Graph, Head, list[str]]:
    """The head a new run makes anew for the data's `classes` (finetune.head_for_data), the
    network built with it and the line to say: for a run from --weights trained for other
    classes (its line comes once they are placed: run_model), or from scratch, for a classifier
    written for more classes than the data has (fewer is check_classes' message; a per-pixel
    network's width is left as written, as is a network given as text, which cannot be built
    again at another width)."""
    made = head_for_data(graph, classes, config.head, bool(config.weights), dense, lambda: rebuildable(named))
    if made is None:
        return graph, Head(), []
    layer, width = made
    graph = rebuilt(named, graph, {layer: classes})
    if config.weights:  # the network's width; the line says the weights' own, once they are placed
        return graph, Head(layer, had=width), []
    said = made_anew_said(graph, Head(layer), classes, f"{graph.title} has {width:,} outputs", "made")
    return graph, Head(layer), [said]


def anew(graph: Graph, head: Head) -> tuple[str, ...]:
    """The layers made anew for the data's classes: the head, and the auxiliary heads with it."""
    return () if head.kept else made_anew(graph, head.layer)


def made_anew_said(graph: Graph, head: Head, classes: int, had: str, made: str = "made anew") -> str:
    """The line saying the head (and the auxiliary heads with it) was `made` for `classes`."""
    aux = [f"`{path}`" for path in anew(graph, head)[1:]]
    return (
        f"head: `{head.layer}` {made} for the data's {classes:,} classes ({had}; --head PATH chooses "
        "another layer)" + (f"; the auxiliary heads' {', '.join(aux)} with it" if aux else "")
    )


def placed_head_said(
    graph: Graph, head: Head, classes: int, weights: str, theirs: int | None, width: int | None
) -> str:
    """The head made anew because the weights scored another number of classes, in words:
    the layer's `width` in the network as written where the weights' tensors left out for it
    (`theirs`: finetune.HeadPlacement's) have it too (torchvision's 1,000), else theirs (a run's
    own head: 3, where the network file has 1,000)."""
    if head.kept:
        return (f"head: `{head.layer}` at the data's {classes:,} classes, as {weights} has it: its "
                f"weights kept ({graph.title} as written has {width:,} outputs)")  # fmt: skip
    had = f"it had {width:,} outputs" if theirs in (None, width) else f"the weights had {theirs:,} outputs"
    return made_anew_said(graph, head, classes, had)
