"""What a picture of a network shows, as data; drawing is in `render/` (DOT, Mermaid, SVG).

Two views:

- `diagram(graph, depth)`: boxes (a layer, or every layer under a path collapsed by `depth`
  into one box), the edges between them, and the clusters around them: a cluster is a
  composite as written (`Graph.groups`: repeat, block, residual, gate, branches) or any path
  holding more than one box (a branch). An edge that carries an output going elsewhere too
  into a join is a skip (an identity shortcut, U-Net's copy, a gate's input).
- `volumes(graph)`: the course's picture of a sequential network, one volume HxWxC (or a
  vector) after each layer that changes it, with the layers between two volumes.
"""

from __future__ import annotations

from ..errors import CnnctlError
from ..graph import INPUT, Graph, Node, named_from
from ..layers import KINDS
from ..notation.spec import SHORTCUT
from ..records import record
from ..shapes import Shape
from .group_text import composite_texts, group_text


@record
class Box:
    """One drawn box: a layer, the input, or a group of layers collapsed by --depth."""

    key: str  # unique: "input", "n12" (a layer), "g12" (a group starting at node 12)
    path: str
    family: str  # what colours it: conv, dense, pool, norm, activation, merge, channels, input, group
    text: str  # the layer's shorthand; a group's composites ("36 x bottleneck", "residual projection"), or ""
    shape: Shape
    params: int
    mults: int
    layers: int  # graph nodes it stands for
    training: bool = False  # a head's layer (or a group of them alone): it runs only in training
    title: str = ""  # its name in the cluster it is drawn in (`conv1` in `layer1.1`): that cluster's path, then this


@record
class Edge:
    src: str
    dst: str
    skip: bool  # an output that also goes elsewhere, straight into a join: drawn dashed


@record
class Cluster:
    """A composite, or a path holding several boxes; `label` names it and says what it is."""

    path: str
    label: str
    boxes: tuple[str, ...]  # keys of the boxes directly inside
    clusters: tuple[Cluster, ...]
    training: bool = False  # all it holds is a head's: it runs only in training


@record
class Diagram:
    name: str
    input_shape: Shape
    output_shape: Shape
    params: int  # every parameter, the heads' too (`outputs:`)
    mults: int  # at inference: without the heads
    depth: int | None
    boxes: tuple[Box, ...]  # the input first, then in network order
    edges: tuple[Edge, ...]
    top: Cluster  # path "": what is at the top level
    heads: tuple[str, ...]  # the heads only training runs (`outputs:`), by name
    inference_params: int  # of `params`, those inference uses
    mults_with_heads: int  # with the heads: a training forward pass's


def family(kind: str) -> str:
    """A layer kind's family: the module of `cnnctl.layers` that defines it."""
    return type(KINDS[kind]).__module__.rsplit(".", 1)[-1] if kind in KINDS else "group"


def _family(n: Node) -> str:
    """What colours a layer: its family, but the weightless kinds beside `fc` (flatten, dropout,
    droppath) reshape or regularize, and are drawn with the other weightless helpers."""
    own = family(n.kind)
    return "channels" if own == "dense" and not n.params else own


def diagram(graph: Graph, depth: int | None = None) -> Diagram:
    """The boxes, edges and clusters of `graph`, paths deeper than `depth` parts collapsed."""
    if depth is not None and depth < 1:
        raise CnnctlError.at(f"depth must be at least 1, got {depth}")  # the parameter: the CLI refuses --depth first
    texts = composite_texts(graph)
    members: dict[str, list[Node]] = {}  # box key's path -> its nodes, in order
    for n in graph.nodes:
        key = n.path if depth is None else ".".join(n.path.split(".")[:depth])
        members.setdefault(key, []).append(n)
    box_of: dict[int, str] = {INPUT: "input"}
    boxes = [Box("input", "input", "input", "input", graph.input_shape, 0, 0, 0)]
    heads = graph.training_only
    for path, nodes in members.items():
        training = all(n.index in heads for n in nodes)
        if len(nodes) == 1:  # a layer, or a group of one (a branch of one layer): drawn as that layer
            n = nodes[0]
            box = Box(f"n{n.index}", path, _family(n), n.text, n.shape, n.params, n.mults, 1, training)
        else:
            text = group_text(path, texts)
            params, mults = sum(n.params for n in nodes), sum(n.mults for n in nodes)
            box = Box(f"g{nodes[0].index}", path, "group", text, nodes[-1].shape, params, mults, len(nodes), training)
        boxes.append(box)
        for n in nodes:
            box_of[n.index] = box.key
    edges = _edges(graph, box_of)
    top = _clusters(boxes[1:], texts, _branches(graph))
    top = top._replace(boxes=("input", *top.boxes))
    boxes = _titled(boxes, top)
    return Diagram(
        graph.title, graph.input_shape, graph.output_shape, graph.params, graph.mults, depth, tuple(boxes), edges, top,
        tuple(h.name for h in graph.heads), graph.inference_params, graph.mults_with_heads,
    )  # fmt: skip


def _edges(graph: Graph, box_of: dict[int, str]) -> tuple[Edge, ...]:
    pairs: dict[tuple[str, str], None] = {}  # in order, each once
    for n in graph.nodes:
        dst = box_of[n.index]
        for i in n.inputs:
            if box_of[i] != dst:
                pairs[box_of[i], dst] = None
    fan_out: dict[str, int] = {}
    fan_in: dict[str, int] = {}
    for src, dst in pairs:
        fan_out[src] = fan_out.get(src, 0) + 1
        fan_in[dst] = fan_in.get(dst, 0) + 1
    # A skip carries an output that also goes elsewhere straight into a join: an identity
    # shortcut, U-Net's copy, a gate's input. A projection shortcut or a branch is a path of
    # its own, drawn solid.
    return tuple(Edge(src, dst, fan_out[src] > 1 and fan_in[dst] > 1) for src, dst in pairs)


def _branches(graph: Graph) -> set[str]:
    """The paths of the parallel paths a join reads: the branches of `branches` (`inc1.branch2`)
    and of `split` (`split1.path1`), a residual's `shortcut`, whatever they hold."""
    kinds: dict[str, set[str]] = {}
    for g in graph.groups:
        kinds.setdefault(g.path, set()).add(g.kind)
    out = set()
    for n in graph.nodes:
        parts = n.path.split(".")
        for i in range(1, len(parts) - 1):
            parent, child = ".".join(parts[:i]), parts[i]
            around = kinds.get(parent, set())
            if around & {"branches", "split"} or (child == SHORTCUT and "residual" in around):
                out.add(f"{parent}.{child}")
    return out


def _clusters(boxes: list[Box], texts: dict[str, list[str]], branches: set[str]) -> Cluster:
    """The tree of clusters: every path above a box that is a composite, a branch (one box
    too: `branch1` named beside `branch2`) or holds two boxes."""
    under: dict[str, int] = {}
    for b in boxes:
        parts = b.path.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            under[prefix] = under.get(prefix, 0) + 1
    clustered = {p for p, count in under.items() if count > 1 or p in texts or p in branches}

    def build(path: str, inside: list[Box]) -> Cluster:
        direct: list[str] = []
        subs: dict[str, list[Box]] = {}
        cut = len(path) + 1 if path else 0
        for b in inside:
            parts = b.path[cut:].split(".")
            # the nearest cluster below `path` on the way to the box, if any
            nested = next(
                (p for k in range(1, len(parts)) if (p := b.path[:cut] + ".".join(parts[:k])) in clustered), None
            )
            if nested is None:
                direct.append(b.key)
            else:
                subs.setdefault(nested, []).append(b)
        clusters = tuple(build(p, bs) for p, bs in subs.items())
        return Cluster(path, _label(path, texts), tuple(direct), clusters, all(b.training for b in inside))

    return build("", boxes)


def _label(path: str, texts: dict[str, list[str]]) -> str:
    """`layer1: repeat 2`, `layer1.1: basic n=64, residual identity`, `branch2`."""
    name = _relative(path, path.rpartition(".")[0])
    own = texts.get(path)
    return f"{name}: {', '.join(own)}" if own else name


def _relative(path: str, within: str) -> str:
    """`path`'s name inside the cluster `within`: what follows `within.`, led by the part before
    it where that is only a number (`layer1.1` in `layer1`, not `1`)."""
    if not within:
        return path
    name = path[len(within) + 1 :]
    return f"{within.rpartition('.')[2]}.{name}" if name.split(".")[0].isdigit() else name


def _titled(boxes: list[Box], top: Cluster) -> list[Box]:
    """The boxes with their titles: each named inside the cluster it is drawn in, so that no
    two boxes of one cluster read alike (a branch's `pool1` sits in the cluster `branch3`)."""
    within: dict[str, str] = {}

    def walk(c: Cluster) -> None:
        for key in c.boxes:
            within[key] = c.path
        for sub in c.clusters:
            walk(sub)

    walk(top)
    return [b._replace(title=_relative(b.path, within[b.key]) if b.key != "input" else "input") for b in boxes]


# -- the course's volumes -----------------------------------------------------------------


@record
class Volume:
    """A volume HxWxC (or a vector) and the layers that made it from the one before."""

    shape: Shape
    path: str  # the layer that made it; "input"
    ops: tuple[str, ...]  # their shorthand, in order (a flatten of the volume before, first)


def volumes(graph: Graph) -> tuple[Volume, ...]:
    """The volumes of a sequential network; a located error for any other."""
    paths = None
    for n in graph.nodes:
        expected = (n.index - 1,) if n.index else (INPUT,)
        if n.inputs != expected:
            paths = paths or {m.path for m in graph.nodes}
            names = named_from(n.path, ["input" if i == INPUT else graph.nodes[i].path for i in n.inputs], paths)
            # `input` alone reads as a layer's name, or the word: the network's input is said so
            took = [name if i != INPUT else "the network's input" for i, name in zip(n.inputs, names, strict=True)]
            raise CnnctlError.at(
                f"the volume view draws sequential networks, but this layer takes {', '.join(took)}, "
                "not the layer before it",
                n.loc,
                layer=n.path,
                hint="draw it as a graph (the default style), which shows branches and skips",
            )
    # (shape, path, ops) of each volume; its ops a list while they grow: a tuple copied for each
    # layer folded in made 240,000 activations in a row take minutes
    out: list[tuple[Shape, str, list[str]]] = [(graph.input_shape, "input", [])]
    # A flatten happens after the volume it flattens: it and the shape-keeping layers after it
    # (a dropout on the vector) wait for the next volume, drawn on the arrow leading to it.
    waiting: list[str] = []
    last = len(graph.nodes) - 1
    before = graph.input_shape
    for n in graph.nodes:
        changed, before = n.shape != before, n.shape
        flattens = n.kind == "flatten" and n.index != last
        # A layer with weights or a window makes a volume even where the shape stays (a 'same'
        # conv); the others fold into the volume before them (bn, activations, dropout).
        if n.params or family(n.kind) == "pool" or (changed and not flattens) or (n.index == last and waiting):
            out.append((n.shape, n.path, [*waiting, n.text]))
            waiting = []
        elif flattens or waiting:
            waiting.append(n.text)
        else:  # folds into the volume before, whose shape it keeps
            out[-1][2].append(n.text)
    return tuple(Volume(shape, path, tuple(ops)) for shape, path, ops in out)
