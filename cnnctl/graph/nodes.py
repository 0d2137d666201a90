"""The built network: nodes in topological order, each with its shape and counts.

This is what every consumer reads: the report, the renderers, the PyTorch backend.
It holds no YAML and no reference back to the parser.
"""

from __future__ import annotations

from ..errors import Loc, Problem
from ..layers import KINDS, Args
from ..records import record
from ..shapes import Shape

INPUT = -1
"""Index standing for the network's input in `Node.inputs`."""

UNKNOWN: Shape = ()
"""The output shape of a layer that failed: layers after it check their arguments, not shapes."""

FAILED = "error"
"""The kind of the stand-in for an item that failed: what it holds (a block's, a repeat's layers) is not built."""


@record
class Node:
    """One layer: where it sits (`path`), what it is, what it produces and costs."""

    index: int
    path: str  # dotted, e.g. "layer3.2.conv1"
    kind: str
    args: Args
    inputs: tuple[int, ...]  # indices of earlier nodes; INPUT for the network input
    shape: Shape  # output, (H, W, C) or (N,)
    params: int
    buffers: int
    mults: int
    flops: int
    text: str  # canonical shorthand, e.g. "conv f=3 p=same n=64 act=relu"
    loc: Loc
    notes: tuple[str, ...] = ()

    @property
    def applies_softmax(self) -> bool:
        """Whether it ends in a softmax: a softmax layer, or `act=softmax`."""
        return self.kind == "softmax" or self.args.get("act") == "softmax"


@record
class Group:
    """A composite as written, around the layers whose paths start with `path`.

    Several can share a path (a repeat's pass that is one block use whose body is one residual:
    `layer1.1`), outermost first. Diagrams draw them as clusters and collapse them with --depth.
    """

    path: str
    kind: str  # repeat, block, residual, gate, branches or split
    text: str  # what it is, in the notation: "repeat 36", "bottleneck n=256", "residual projection"
    loc: Loc


@record
class Head:
    """An output trained beside the main one (`outputs:`): an auxiliary classifier, a deep
    supervision's. Only training runs it; its loss counts `weight` times the main output's."""

    name: str  # as `outputs:` names it
    index: int  # the node whose output it is
    weight: float
    nodes: tuple[int, ...]  # the layers only it needs (none of them on the main output's path)
    loc: Loc


@record
class Graph:
    """A whole network. `nodes[-1]` is its output."""

    name: str
    file: str
    input_shape: Shape
    nodes: tuple[Node, ...]
    warnings: tuple[Problem, ...] = ()
    description: str = ""
    train: dict = {}  # noqa: RUF012 - never mutated; the file's `train:` settings (name -> Value), for cnnctl.train
    groups: tuple[Group, ...] = ()  # the composites, in the order they begin
    heads: tuple[Head, ...] = ()  # the outputs besides the main one, `nodes[-1]` (`outputs:`)
    train_keys: dict = {}  # noqa: RUF012 - never mutated; where each `train:` setting's name is written (name -> Loc)
    settings: str = ""  # a family member's arguments set on the command line (`width=1.1`), as given
    # The file's text as it was read and parsed (api.load_text): what a run keeps as network.yaml,
    # never the file read again later, which may have changed since. "": a graph not built from text.
    text: str = ""

    @property
    def title(self) -> str:
        """The name the network is shown by: `name`, and the settings given on top of its
        family member the way an ARCH writes them (`efficientnet_b3:width=1.1`), so that two
        networks of one member are told apart (a run records it: checkpoint.resume_settings reads
        the settings back). `name` alone is the member's: what finds its published weights and
        names its class."""
        return f"{self.name}:{self.settings}" if self.settings else self.name

    @property
    def output_shape(self) -> Shape:
        return self.nodes[-1].shape

    @property
    def loss_outputs(self) -> tuple[int, ...]:
        """The nodes whose outputs a training loss reads: the main output, then each head's."""
        return (self.nodes[-1].index, *(h.index for h in self.heads))

    def softmax_left_to_loss(self, node: Node) -> bool:
        """Whether training leaves out `node`'s softmax (a softmax layer, or `act=softmax`): a
        loss output's is left to the loss, the heads' as the main output's. Cross-entropy takes
        logits and applies log-softmax itself, more accurately than a log of a softmax; applying
        softmax twice would flatten the gradients. The compiled module (`logits=True`) asks here, and
        the memory and the cost of a training step, through `training_args`."""
        return node.applies_softmax and node.index in self.loss_outputs

    def training_args(self, node: Node) -> Args | None:
        """The arguments a training step runs `node` with: its own, but `act=none` where its
        inline softmax is left to the loss; None where the node is a softmax layer left to the
        loss (an identity in training). The training step's cost and memory both ask here."""
        if not self.softmax_left_to_loss(node):
            return node.args
        return None if node.kind == "softmax" else type(node.args)({**node.args, "act": "none"})

    def training_flops(self, node: Node) -> int:
        """`node`'s FLOPs in a training step's forward pass: its own (`flops`), less a softmax
        left to the loss (`training_args`): 0 for such a softmax layer, the layer without its
        `act=softmax` for an inline one. What every figure said to be "in training" counts."""
        args = self.training_args(node)
        if args is node.args:
            return node.flops
        if args is None:
            return 0
        return KINDS[node.kind].flops(args, self.input_shapes(node), node.shape)

    @property
    def training_only(self) -> frozenset[int]:
        """The nodes that run only in training: those of the heads."""
        return frozenset(i for h in self.heads for i in h.nodes)

    def inference_nodes(self) -> tuple[Node, ...]:
        """The nodes an inference runs: all but the heads'."""
        if not self.heads:
            return self.nodes
        skip = self.training_only
        return tuple(n for n in self.nodes if n.index not in skip)

    @property
    def params(self) -> int:
        """Trainable parameters of the whole network, the heads' too (`inference_params` without them)."""
        return sum(n.params for n in self.nodes)

    @property
    def inference_params(self) -> int:
        """Of `params`, those an inference uses: all but the heads' (`outputs:`)."""
        return sum(n.params for n in self.inference_nodes()) if self.heads else self.params

    @property
    def buffers(self) -> int:
        """Non-trainable state (batch norm running statistics)."""
        return sum(n.buffers for n in self.nodes)

    @property
    def mults(self) -> int:
        """Multiplications for one example (conv and fc multiply-accumulates), at inference:
        without the heads (`mults_with_heads` with them)."""
        return sum(n.mults for n in self.inference_nodes())

    @property
    def flops(self) -> int:
        """FLOPs for one example, as defined in `cnnctl.layers.base`, at inference."""
        return sum(n.flops for n in self.inference_nodes())

    @property
    def mults_with_heads(self) -> int:
        """Multiplications of a training forward pass: every layer, the heads' too."""
        return sum(n.mults for n in self.nodes)

    @property
    def flops_with_heads(self) -> int:
        """FLOPs of a training forward pass: every layer, the heads' too, as training runs them
        (`training_flops`: a final softmax is the loss's, not counted), so that with the backward
        FLOPs they add up to a training step's."""
        return sum(self.training_flops(n) for n in self.nodes)

    def input_shapes(self, node: Node) -> list[Shape]:
        return [self.input_shape if i == INPUT else self.nodes[i].shape for i in node.inputs]


def named_from(path: str, inputs: tuple[str, ...] | list[str], paths: set[str] | frozenset[str]) -> list[str]:
    """How the layer (or group) `path` names its `inputs` (paths among `paths`, or `input`) so
    that each reads as that one layer whether a reader takes it as a full path or as relative
    to `path`'s groups, innermost first (summarize's From column, messages): an input inside
    `path`'s group is named from it (`bn2` for `stage1.1.bn2`, from `stage1.1.add`) unless that
    short name is another layer's full path; others by their full path, marked where that also
    names a layer inside one of the groups (the top-level `bn1`, from `stage1.1.add` beside
    `stage1.1.bn1`: `bn1 (top level)`)."""
    group = path.rpartition(".")[0]
    if not group:
        return list(inputs)
    prefix = group + "."
    enclosing = [prefix]
    while "." in enclosing[-1][:-1]:
        enclosing.append(enclosing[-1][:-1].rpartition(".")[0] + ".")
    names = []
    for i in inputs:
        short = i[len(prefix) :] if i.startswith(prefix) else None
        if short is not None and short not in paths:
            names.append(short)
        elif any(g + i in paths for g in enclosing):
            names.append(f"{i} ({'top level' if '.' not in i else 'full path'})")
        else:
            names.append(i)
    return names
