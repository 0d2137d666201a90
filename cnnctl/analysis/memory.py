"""Memory of a training step: weights, gradients, optimizer state, and what the forward pass
keeps for the backward pass.

Each layer kind says which tensors PyTorch keeps for its backward pass (`LayerKind.saved`):
an input, its own output, or tensors of its own (max pooling's int64 indices, batch norm's
statistics, dropout's mask). A tensor kept by several layers (a conv's output that the next
layer's relu and a later add both keep) is counted once, as autograd holds one storage. A layer
that nothing trainable feeds keeps nothing: autograd does not record it. The network's last
softmax keeps nothing either: training leaves it to the loss.

The peak of a step is modelled as everything at once: weights and buffers, gradients,
optimizer state, the kept activations and the largest layer's gradients in flight. It is
linear in the batch, so the largest batch within a budget is one division.
"""

from __future__ import annotations

from ..errors import CnnctlError
from ..graph import INPUT, Graph
from ..layers import KINDS
from ..layers.base import OUTPUT, OWN
from ..layers.dense import MASK
from ..records import record
from ..shapes import DTYPE_BYTES, numel
from .training import OPTIMIZERS, needs_grad

AMP_BYTES = 2  # autocast computes in bfloat16 or float16
DEVICES = ("cuda", "cpu")


@record
class LayerMemory:
    """Bytes kept for backward that a layer brings: its output, if a layer keeps it, and its
    own tensors (per example and fixed)."""

    path: str
    per_example: int
    fixed: int


@record
class TrainingMemory:
    """Bytes of one training step at `batch`. `saved` and `workspace` grow with the batch."""

    batch: int
    dtype: str
    optimizer: str
    amp: bool
    device: str
    weights: int  # parameters and buffers
    gradients: int
    optimizer_state: int
    saved_per_example: int  # kept for backward, per example (the input included, when kept)
    saved_fixed: int  # kept for backward whatever the batch (batch norm's statistics)
    workspace_per_example: int  # the largest layer's output and input gradients at once
    layers: tuple[LayerMemory, ...]

    @property
    def saved(self) -> int:
        return self.saved_fixed + self.saved_per_example * self.batch

    @property
    def workspace(self) -> int:
        return self.workspace_per_example * self.batch

    @property
    def fixed(self) -> int:
        """What does not grow with the batch."""
        return self.weights + self.gradients + self.optimizer_state + self.saved_fixed

    @property
    def per_example(self) -> int:
        return self.saved_per_example + self.workspace_per_example

    @property
    def peak(self) -> int:
        return self.fixed + self.per_example * self.batch

    def largest_batch(self, budget: int) -> int:
        """The largest batch whose peak fits in `budget` bytes (0: not even one example)."""
        return max((budget - self.fixed) // self.per_example, 0) if budget >= self.fixed else 0


def training_memory(
    graph: Graph,
    batch: int = 1,
    dtype: str = "float32",
    optimizer: str = "adam",
    amp: bool = False,
    device: str = "cuda",
) -> TrainingMemory:
    """The memory of a training step of `graph` (see the module's docstring for the model)."""
    if batch < 1:
        raise CnnctlError.at(f"--batch must be at least 1, got {batch}")
    if dtype not in DTYPE_BYTES:
        raise CnnctlError.at(f"unknown dtype `{dtype}`", hint="one of " + ", ".join(DTYPE_BYTES))
    if optimizer not in OPTIMIZERS:
        raise CnnctlError.at(f"unknown optimizer `{optimizer}`", hint="one of " + ", ".join(OPTIMIZERS))
    size = DTYPE_BYTES[dtype]
    act = AMP_BYTES if amp else size  # bytes of an activation value
    mask = MASK if device == "cuda" else act
    outputs, own = _kept(graph)
    layers: list[LayerMemory] = []
    input_bytes = numel(graph.input_shape) * act if INPUT in outputs else 0
    for n in graph.nodes:
        per, fixed = (numel(n.shape) * act if n.index in outputs else 0), 0
        for values, per_example, itemsize in own.get(n.index, ()):
            nbytes = values * (act if itemsize == 0 else mask if itemsize == MASK else itemsize)
            if per_example:
                per += nbytes
            else:
                fixed += nbytes
        layers.append(LayerMemory(n.path, per, fixed))
    workspace = max(
        (numel(n.shape) + sum(numel(s) for s in graph.input_shapes(n))) * act for n in graph.nodes
    )  # fmt: skip
    params = graph.params
    return TrainingMemory(
        batch,
        dtype,
        optimizer,
        amp,
        device,
        weights=(params + graph.buffers) * size,
        gradients=params * size,
        optimizer_state=OPTIMIZERS[optimizer][1] * params * size,
        saved_per_example=input_bytes + sum(m.per_example for m in layers),
        # autocast keeps each conv's and fc's 16-bit copy of its weights for the backward pass
        saved_fixed=sum(m.fixed for m in layers) + (params * AMP_BYTES if amp else 0),
        workspace_per_example=workspace,
        layers=tuple(layers),
    )


def _kept(graph: Graph) -> tuple[set[int], dict[int, list[tuple[int, bool, int]]]]:
    """What the forward pass keeps: the nodes (and INPUT) whose outputs are kept, and by node,
    the (values, per_example, itemsize) of its own tensors."""
    grads = needs_grad(graph)
    outputs: set[int] = set()
    own: dict[int, list[tuple[int, bool, int]]] = {}
    last = graph.nodes[-1].index
    for n in graph.nodes:
        if not grads[n.index]:
            continue  # nothing trainable on any path to it: autograd records nothing
        args = n.args
        if n.index == last:
            if n.kind == "softmax":
                continue  # left to the loss in training
            if args.get("act") == "softmax":
                args = type(args)({**args, "act": "none"})
        kind = KINDS[n.kind]
        for s in kind.saved(args, graph.input_shapes(n), n.shape):
            if s.of == OWN:
                own.setdefault(n.index, []).append((s.values, s.per_example, s.itemsize))
            else:
                outputs.add(_storage(graph, n.index if s.of == OUTPUT else n.inputs[s.of]))
    return outputs, own


def _storage(graph: Graph, index: int) -> int:
    """The node (or INPUT) whose memory the output of `index` is: itself, unless it is a view."""
    while index != INPUT and KINDS[graph.nodes[index].kind].is_view(graph.nodes[index].args):
        index = graph.nodes[index].inputs[0]
    return index
