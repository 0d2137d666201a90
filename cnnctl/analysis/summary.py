"""Collect what a summary or a cost report shows, as plain data. Rendering is elsewhere.

`summarize` turns a Graph into rows (optionally collapsed to a depth of the layer paths)
and totals, including memory for a batch size and dtype.
"""

from __future__ import annotations

from ..errors import CnnctlError, Problem, did_you_mean
from ..graph import INPUT, Graph, Node
from ..layers import KINDS
from ..records import record
from ..shapes import DTYPE_BYTES, Shape, numel
from .group_text import composite_texts, group_text
from .receptive import Field, Reach, map_reaches, receptive_fields

# What `multiplications` and `FLOPs` count: a forward pass (flops states the backward pass and a
# training step in rows of their own, with a note of what they count: render.design.training_notes).
# The element-wise work is each kind's own words (`LayerKind.counted`), in the registry's order,
# a text that kinds of one rule share said once.
COUNTED = (
    "multiplications: the multiply-accumulates of conv, deconv, fc and channelconv weights in a forward pass, "
    "as in the course and torchvision's GFLOPS (= PyTorch FlopCounterMode / 2)",
    "FLOPs: of a forward pass, 2 x multiplications + 1 per bias value + element-wise work: "
    + ", ".join(dict.fromkeys(kind.counted for kind in KINDS.values() if kind.counted)),
)
NOT_COUNTED = (
    "dropout, droppath, flatten, concat, crop, chunk, slice, shuffle and nearest upsample (free at inference); "
    "a gate's, grn's, layerscale's, affine's or bilinear upsample's multiplications (by activations or constants, not "
    "weights: FLOPs only); "
    "data loading and the loss",
)


@record
class Row:
    """One line of a summary: a layer, or a group of layers collapsed by --depth."""

    path: str
    kind: str
    text: str
    shape: Shape
    params: int
    buffers: int
    mults: int
    flops: int
    layers: int  # how many graph nodes this row stands for
    inputs: tuple[str, ...]  # what it reads from outside itself: rows of the summary (input, layers, groups)
    memory: int  # bytes of this row's outputs for the batch and dtype
    field: Field  # the receptive field of its output (a group: its last layer's)
    training: bool = False  # a head's layer (or a group of them): it runs only in training
    # Collected only when asked for (`summarize(..., shapes=True)`: summarize's `input`,
    # `kernel` and `reach` columns), a few microseconds a layer that 100,000 layers would feel:
    in_shapes: tuple[Shape, ...] = ()  # each input's shape (a group: of each layer outside it that it reads)
    param_shapes: tuple[tuple[str, Shape], ...] = ()  # a layer's trainable tensors (LayerKind.param_shapes)
    # the rows and columns of the image its whole output reads, exactly (`map_reaches`; a group:
    # its last layer's); None: only padding, or too large to follow
    reach: Reach | None = None


@record
class HeadCost:
    """An output trained beside the main one (`outputs:`), and what its own layers cost."""

    name: str
    path: str  # its output layer's
    weight: float  # of its loss, relative to the main output's
    first: str  # the path of its first layer
    layers: int
    params: int
    mults: int
    flops: int


@record
class Memory:
    """Bytes for a batch: input, every layer's output kept for backward, parameters, buffers
    (batch norm's running statistics: not trainable, but held with the weights)."""

    batch: int
    dtype: str
    input: int
    activations: int
    params: int
    buffers: int = 0

    @property
    def total(self) -> int:
        return self.input + self.activations + self.params + self.buffers


@record
class Summary:
    name: str
    file: str
    input_shape: Shape
    output_shape: Shape
    rows: tuple[Row, ...]
    layers: int
    params: int
    buffers: int
    mults: int
    flops: int
    memory: Memory
    warnings: tuple[Problem, ...]
    frozen: int = 0  # of `params`, those of the layers up to and including `frozen_at` (--freeze)
    frozen_at: str | None = None
    heads: tuple[HeadCost, ...] = ()  # `mults` and `flops` are at inference, without them
    mults_with_heads: int = 0  # with the heads: what a training forward pass multiplies
    flops_with_heads: int = 0  # as training runs them: a final softmax left to the loss is not counted
    inference_params: int = 0  # of `params`, those inference uses: all but the heads'
    shapes: bool = False  # whether the rows hold their input and parameter shapes and reach (`Row.in_shapes`)


def layer_at(graph: Graph, path: str, option: str) -> Node:
    """The node at layer path `path`, or one message (naming `option`, the setting that gave the
    path in its caller's words: `freeze` here, the command line's flag in cnnctl.cli) with the
    paths near it."""
    for node in graph.nodes:
        if node.path == path:
            return node
    groups = {n.path.rsplit(".", k)[0] for n in graph.nodes for k in range(1, n.path.count(".") + 1)}
    hint = did_you_mean(path, [*(n.path for n in graph.nodes), *sorted(groups)], family=True)
    raise CnnctlError.at(f"{option} {path}: no layer `{path}` in {graph.title}",
                         hint=hint or "the layer paths are the first column of `cnnctl summarize`")  # fmt: skip


def last_in(graph: Graph, path: str, option: str) -> int:
    """The index of the layer at `path`, or of the last layer inside the group `path` (a block's
    or a stage's prefix: `layer3` means up to `layer3.5.bn2`)."""
    inside = [n.index for n in graph.nodes if n.path.startswith(path + ".")]
    if inside and not any(n.path == path for n in graph.nodes):
        return inside[-1]
    return layer_at(graph, path, option).index


def frozen_layers(graph: Graph, path: str, option: str = "freeze") -> list[str]:
    """The paths of the layers freezing `path` freezes: every layer up to and including it (a
    layer, or all of a group of layers), in the network's order (the order they run); a path
    not in `graph` is told naming `option` (layer_at)."""
    return [n.path for n in graph.nodes[: last_in(graph, path, option) + 1]]


def summarize(
    graph: Graph,
    depth: int | None = None,
    batch: int = 1,
    dtype: str = "float32",
    freeze: str | None = None,
    shapes: bool = False,
) -> Summary:
    """Rows and totals of `graph`; `depth` collapses paths deeper than that many parts;
    `freeze`, the layer up to which parameters are frozen (`frozen`: their sum); `shapes`, each
    row's input shapes, its parameters' shapes and its reach too."""
    if depth is not None and depth < 1:
        raise CnnctlError.at(f"depth must be at least 1, got {depth}")  # the parameter: the CLI refuses --depth first
    if batch < 1:
        raise CnnctlError.at(f"batch must be at least 1, got {batch}")
    if dtype not in DTYPE_BYTES:
        raise CnnctlError.at(f"unknown dtype `{dtype}`", hint="one of " + ", ".join(DTYPE_BYTES))
    size = DTYPE_BYTES[dtype]
    reaches = map_reaches(graph) if shapes else None
    rows = _rows(graph, depth, batch * size, receptive_fields(graph), reaches)
    params, buffers, mults, flops = graph.params, graph.buffers, graph.mults, graph.flops  # each a sum over the layers
    memory = Memory(
        batch=batch,
        dtype=dtype,
        input=numel(graph.input_shape) * batch * size,
        # every layer's output is in one row; a head's only in training, not counted here
        activations=sum(numel(n.shape) for n in graph.inference_nodes()) * batch * size
        if graph.heads
        else sum(r.memory for r in rows),
        params=params * size,
        buffers=buffers * size,
    )
    return Summary(
        graph.title,
        graph.file,
        graph.input_shape,
        graph.output_shape,
        rows,
        len(graph.nodes),
        params,
        buffers,
        mults,
        flops,
        memory,
        graph.warnings,
        sum(graph.nodes[i].params for i in range(last_in(graph, freeze, "freeze") + 1)) if freeze else 0,
        freeze,
        tuple(_head_cost(graph, head) for head in graph.heads),
        graph.mults_with_heads if graph.heads else mults,
        graph.flops_with_heads,  # as training runs them: a final softmax is the loss's
        graph.inference_params,
        shapes,
    )


def _head_cost(graph: Graph, head) -> HeadCost:
    own = [graph.nodes[i] for i in head.nodes]  # they run only in training: their FLOPs as it runs them
    return HeadCost(head.name, graph.nodes[head.index].path, head.weight, own[0].path, len(own),
                    sum(n.params for n in own), sum(n.mults for n in own),
                    sum(graph.training_flops(n) for n in own))  # fmt: skip


def group_key(path: str, depth: int) -> str:
    """The group a layer's path falls in at `depth`: its first `depth` parts (`layer4.1.conv2` at 1:
    `layer4`). The one rule of collapsing: summarize's, draw's and compare's groups, flops' and memory's
    per-layer rows at --depth."""
    return ".".join(path.split(".")[:depth])


def groups_at(graph: Graph, depth: int) -> dict[str, list[Node]]:
    """The layers by the first `depth` parts of their paths, in network order: summarize's rows
    at --depth, compare's per stage (depth 1: each top-level group, and each top-level layer)."""
    groups: dict[str, list[Node]] = {}
    for n in graph.nodes:
        groups.setdefault(group_key(n.path, depth), []).append(n)
    return groups


def _rows(
    graph: Graph,
    depth: int | None,
    bytes_per_value: int,
    fields: tuple[Field, ...],
    reaches: tuple[Reach | None, ...] | None,
) -> tuple[Row, ...]:
    """The rows; `reaches` (each node's, `map_reaches`) where the shapes are collected too."""
    shapes = reaches is not None
    nodes, new = graph.nodes, tuple.__new__
    heads = graph.training_only

    def layer_row(n: Node) -> Row:  # once a layer: Row made without its Python-level constructor
        inputs = tuple(["input" if i == INPUT else nodes[i].path for i in n.inputs])
        memory = numel(n.shape) * bytes_per_value
        rf, head = fields[n.index], n.index in heads
        ins, tensors = _shapes(graph, n) if shapes else ((), ())
        reach = reaches[n.index] if reaches is not None else None
        return new(Row, (n.path, n.kind, n.text, n.shape, n.params, n.buffers, n.mults, n.flops, 1, inputs, memory, rf,
                         head, ins, tensors, reach))  # fmt: skip

    if depth is None:
        return tuple([layer_row(n) for n in nodes])
    groups = groups_at(graph, depth)
    texts = composite_texts(graph)
    row_of = {INPUT: "input"} | {m.index: key for key, members in groups.items() for m in members}
    rows = []
    for key, members in groups.items():
        # A row reads the rows shown: a layer outside it is named by the row that holds it
        # (`layer4`, not the hidden `layer4.1.add`), each once.
        outside = {i: None for m in members for i in m.inputs if row_of[i] != key}  # each layer read, once
        inputs = tuple({row_of[i]: None for i in outside})
        if len(members) == 1:  # a layer, or a group of one (a branch of one layer): the layer's row
            rows.append(layer_row(members[0])._replace(path=key, inputs=inputs))
            continue
        in_shapes = tuple(graph.input_shape if i == INPUT else nodes[i].shape for i in outside) if shapes else ()
        # what was written there (a block's call, `6 x bottleneck`), as draw's box says it; then the count
        written = group_text(key, texts)
        count = f"({len(members)} layers)"
        rows.append(
            Row(
                key,
                "group",
                f"{written} {count}" if written else count,
                members[-1].shape,
                sum(m.params for m in members),
                sum(m.buffers for m in members),
                sum(m.mults for m in members),
                sum(m.flops for m in members),
                len(members),
                inputs,
                sum(numel(m.shape) for m in members) * bytes_per_value,
                fields[members[-1].index],
                all(m.index in heads for m in members),
                in_shapes,
                reach=reaches[members[-1].index] if reaches is not None else None,
            )
        )
    return tuple(rows)


def _shapes(graph: Graph, n: Node) -> tuple[tuple[Shape, ...], tuple[tuple[str, Shape], ...]]:
    """A layer's input shapes and its trainable tensors' names and shapes (none without params)."""
    ins = graph.input_shapes(n)
    return tuple(ins), KINDS[n.kind].param_shapes(n.args, ins, n.shape) if n.params else ()


def heaviest(summary: Summary) -> list[Row]:
    """The forward pass's rows by multiplications, then FLOPs, heaviest first (ties keep
    network order); the heads only training runs have their own lines (`Summary.heads`), so
    the shares of the inference totals add up to 100%."""
    return sorted((r for r in summary.rows if not r.training), key=lambda r: (-r.mults, -r.flops))
