"""`outputs:`: the main output and the heads trained beside it (GoogLeNet's and Inception v3's
auxiliary classifiers, deep supervision).

The main output is the network's last layer, so every consumer that reads `nodes[-1]` reads
it. A head is a layer whose output the main output does not read; its layers are those only
it needs (its branch back to where it leaves the main path). Only training runs them: the
inference network is the graph without them (`inference_graph`), which is what evaluate,
predict and export run, and what the inference counts count.
"""

from __future__ import annotations

from ..errors import CnnctlError, Problem, did_you_mean
from ..notation.spec import NetworkSpec
from ..shapes import format_shape
from .nodes import INPUT, UNKNOWN, Graph, Head, Node

HEAD_HINT = "a head branches off the main path (`from=ID` on its first layer) and ends in a layer nothing else reads"
MAIN_HINT = "write the main path last in `layers:` and the heads before it, each branching off with `from=`"


def ancestors(nodes: list[Node] | tuple[Node, ...], index: int) -> set[int]:
    """`index` and every node its output is computed from."""
    seen, stack = {index}, [index]
    while stack:
        for i in nodes[stack.pop()].inputs:
            if i != INPUT and i not in seen:
                seen.add(i)
                stack.append(i)
    return seen


def resolve(spec: NetworkSpec, nodes: list[Node], ids: dict[str, int], resizing: bool = False) -> tuple[Head, ...]:
    """The heads `spec.outputs` names (by a top-level id, or a layer's path), after checking
    that the first is the last layer and each other one a branch the main output does not
    read, of the main output's shape (unless `resizing`: the main output is being made anew,
    the heads with it); every problem in one error."""
    if not spec.outputs:
        return ()
    paths = {n.path: n.index for n in nodes}
    last = nodes[-1]
    main = ancestors(nodes, last.index)
    problems: list[Problem] = []
    found: dict[int, str] = {}
    heads: list[Head] = []
    for k, item in enumerate(spec.outputs):
        name, loc = str(item.name.text), item.name.loc
        index = ids.get(name, paths.get(name))
        if name == "input" or index == INPUT:
            problems.append(
                Problem(f"`{name}` in `outputs:` is the network's input, not a layer", loc, None, HEAD_HINT)
            )
            continue
        if index is None:
            hint = (
                did_you_mean(name, [*ids, *paths]) or "name an output by its layer's `id=` (or its path in summarize)"
            )
            problems.append(Problem(f"`outputs:` names `{name}`, but no layer is called so", loc, None, hint))
            continue
        if index in found:
            problems.append(Problem(f"`{name}` in `outputs:` is the layer `{found[index]}` again", loc, None,
                                    "each output is a layer of its own"))  # fmt: skip
            continue
        found[index] = name
        if k == 0:
            if index != last.index:
                problems.append(Problem(f"the main output `{name}` (the first of `outputs:`) is not the network's "
                                        f"last layer, `{last.path}`", loc, None, MAIN_HINT))  # fmt: skip
        elif index != last.index:  # the main output listed after another is told at the first
            problem = _not_a_head(nodes[index], name, last, main, resizing)
            if problem is not None:
                problems.append(problem._replace(loc=loc))
            else:
                weight = float(str(item.weight.text)) if item.weight else 1.0
                heads.append(Head(name, index, weight, tuple(sorted(ancestors(nodes, index) - main)), loc))
    if problems:
        raise CnnctlError(problems)
    return tuple(heads)


def resized_with(nodes: list[Node] | tuple[Node, ...], heads: tuple[Head, ...], layer: str) -> tuple[str, ...]:
    """The layers made anew with `layer` for another number of classes (fine-tuning's new head):
    where it is the main output's, each head's last fc or conv, which scores the same classes."""
    from .build import WIDTH_ARG

    if not heads or layer != nodes[-1].path:
        return ()
    return tuple(nodes[h.index].path for h in heads if nodes[h.index].kind in WIDTH_ARG)


def _not_a_head(node: Node, name: str, last: Node, main: set[int], resizing: bool) -> Problem | None:
    """Why the layer `node` cannot be a head beside the main output `last` (whose path is `main`)."""
    if node.index in main:
        return Problem(f"`{name}` is on the main output's path (`{last.path}` reads it), so it is not a head: "
                       "inference would need it", None, None, HEAD_HINT)  # fmt: skip
    if not resizing and node.shape != last.shape and UNKNOWN not in (node.shape, last.shape):
        return Problem(f"the head `{name}` gives {format_shape(node.shape)} and the main output "
                       f"{format_shape(last.shape)}: its loss is taken against the same targets", None, None,
                       "end the head in a layer of the main output's shape (`fc 1000`)")  # fmt: skip
    return None


def dense_shape(graph: Graph) -> tuple[int, int, int] | None:
    """The output H, W, K of a network whose main output scores every pixel (it ends in a
    volume larger than 1x1: dense prediction); None for a classifier. Training, evaluate and
    predict read masks for it; export states that its images are resized, never padded."""
    out = tuple(graph.output_shape)
    return out if len(out) == 3 and out[0] * out[1] > 1 else None  # type: ignore[return-value]


def inference_graph(graph: Graph) -> Graph:
    """`graph` without its heads: the network evaluate, predict and export run, its layers
    numbered anew (their paths, and so their weights' names, kept)."""
    if not graph.heads:
        return graph
    kept = graph.inference_nodes()
    renumbered = {INPUT: INPUT} | {n.index: k for k, n in enumerate(kept)}
    nodes = tuple(n._replace(index=renumbered[n.index], inputs=tuple(renumbered[i] for i in n.inputs)) for n in kept)
    inside = {n.path.rsplit(".", k)[0] for n in kept for k in range(n.path.count(".") + 1)}  # paths and prefixes
    groups = tuple(g for g in graph.groups if g.path in inside)
    return graph._replace(nodes=nodes, heads=(), groups=groups)
