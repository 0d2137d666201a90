"""`outputs:`: the main output and the heads trained beside it (GoogLeNet's and Inception v3's
auxiliary classifiers, deep supervision).

The main output is the network's last layer, so every consumer that reads `nodes[-1]` reads
it. A head is a layer whose output the main output does not read; its layers are those only
it needs (its branch back to where it leaves the main path). Only training runs them: the
inference network is the graph without them (`inference_graph`), which is what evaluate,
predict and export run, and what the inference counts count.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import CnnctlError, Loc, Problem, did_you_mean, too_many
from ..limits import MAX_PROBLEMS
from ..notation.spec import NetworkSpec
from ..shapes import Shape, format_shape
from .nodes import FAILED, INPUT, UNKNOWN, Graph, Head, Node

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
    heads, problems = _read(spec, nodes, ids, resizing)
    if len(problems) > MAX_PROBLEMS:
        raise too_many(problems, Loc(spec.file))
    if problems:
        raise CnnctlError(problems)
    return heads


def problems_after_failure(
    spec: NetworkSpec, nodes: list[Node], ids: dict[str, int], renumbered: set[str]
) -> list[Problem]:
    """The problems of `outputs:` in a network whose build failed somewhere, told in the same
    run as the layers'. What a failure could explain is not blamed, as below a failed layer: a
    name no layer has is told only where no failed item could have held it (`unbuilt`). The
    other checks stand: a failed layer's shape is unknown (no shape is compared with it) and
    so are its inputs (no head is found on the main path through it)."""
    failed = {n.path for n in nodes if n.kind == FAILED}
    return _read(spec, nodes, ids, unbuilt=lambda name: unbuilt(name, failed, renumbered))[1]


def unbuilt(name: str, failed: set[str], renumbered: set[str]) -> bool:
    """Whether a layer called `name` may exist once the failures are fixed: it is inside an
    item that failed (`stage2.conv1` when the block use `stage2` did: what it holds was not
    built; `failed`: their paths), or it is an automatic name (`conv3`) in a list where a line
    the parser could not read was named after a kind it does not know (`convv1`), so the names
    after it may be numbered one off (`renumbered`: those lists, by path)."""
    parts = name.split(".")
    for k in range(len(parts)):
        inside = ".".join(parts[:k])  # the list parts[k] is named in
        if k and inside in failed:
            return True
        if inside in renumbered and parts[k][-1:].isdigit():
            return True
    return False


def _read(
    spec: NetworkSpec,
    nodes: list[Node],
    ids: dict[str, int],
    resizing: bool = False,
    unbuilt: Callable[[str], bool] | None = None,
) -> tuple[tuple[Head, ...], list[Problem]]:
    """The heads of `outputs:` and its problems (see `resolve`), more than MAX_PROBLEMS only
    when it stopped there; `unbuilt(name)`: whether a name no layer has may be one that a
    failure left unbuilt (then it is not told)."""
    if not spec.outputs:
        return (), []
    paths = {n.path: n.index for n in nodes}
    last = nodes[-1]
    main = ancestors(nodes, last.index)
    problems: list[Problem] = []
    found: dict[int, str] = {}
    heads: list[Head] = []
    for item in spec.outputs:
        if len(problems) > MAX_PROBLEMS:  # enough to stop: 20,000 misspelt names took a minute to tell
            break
        name, loc = str(item.name.text), item.name.loc
        index = ids.get(name, paths.get(name))
        if name == "input" or index == INPUT:
            problems.append(
                Problem(f"`{name}` in `outputs:` is the network's input, not a layer", loc, None, HEAD_HINT)
            )
            continue
        if index is None:
            if unbuilt is None or not unbuilt(name):
                hint = (
                    did_you_mean(name, [*ids, *paths], family=True)
                    or "name an output by its layer's `id=` (or its path in summarize)"
                )
                problems.append(Problem(f"`outputs:` names `{name}`, but no layer is called so", loc, None, hint))
            continue
        if index in found:
            problems.append(Problem(f"`{name}` in `outputs:` is the layer `{found[index]}` again", loc, None,
                                    "each output is a layer of its own"))  # fmt: skip
            continue
        found[index] = name
        if item.main:
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
    return tuple(heads), problems


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
                       _shape_hint(last.shape))  # fmt: skip
    return None


def _shape_hint(main: Shape) -> str:
    """How to end a head: in a layer of the main output's shape, `fc 10` for a classifier of 10 classes."""
    if len(main) == 1:
        return f"end the head in a layer of the main output's shape (`fc {main[0]}`)"
    return f"end the head in a layer of the main output's shape, {format_shape(main)}"


def flatten_hint(last: Node) -> str:
    """Where `flatten` goes to make a ``1x1xK`` end a vector of class scores: before a final
    softmax, so that the softmax stays the output's (one above the output is read as logits)."""
    if last.kind == "softmax":
        return "add `flatten` before this softmax: training, evaluate and predict read class scores from a vector"
    if last.applies_softmax:
        return "add `flatten` after it, and `softmax` after that in place of `act=softmax`"
    return "add `flatten` after it: training, evaluate and predict read class scores from a vector"


def scores_in_a_volume(nodes: list[Node], has_train: bool) -> list[Problem]:
    """A warning at a classifier's last layer that leaves its K class scores in a ``1x1xK``
    volume (NiN's `pool avg global` then `softmax`): the shapes are right, but training reads
    class scores from a vector, and would refuse it. A classifier by its kind (a softmax at the
    end) or by its file (a `train:` section)."""
    last = nodes[-1]
    if len(last.shape) != 3 or last.shape[:2] != (1, 1) or not (last.applies_softmax or has_train):
        return []
    return [
        Problem(
            f"the network ends in the volume {format_shape(last.shape)}, not a vector of {last.shape[2]} class "
            "scores: `train` refuses it",
            last.loc,
            last.path,
            flatten_hint(last),
        )
    ]


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
