"""The cost of a training step: the forward pass, the backward pass, the optimizer's update.

Each layer kind states its backward multiplications and FLOPs (`cnnctl.layers.base`); this
module decides, from the graph, which layers need the gradient of their input, and sums.
A layer's input needs a gradient when anything before it is trainable: the first conv's
input gradient (the image's) is never computed, nor that of a layer fed only by layers
without parameters. For ResNet-18 that is 2 x 1,814,073,344 - 118,013,952 backward
multiplications (conv1's input gradient left out). A final softmax (`fc 10 act=softmax`) is
left to the loss, as train runs it (`Graph.softmax_left_to_loss`): counted at inference only.
"""

from __future__ import annotations

from ..graph import INPUT, Graph
from ..layers import KINDS
from ..records import record

# The optimizer's update per parameter: (FLOPs, state values), for PyTorch's implementations:
# sgd p -= lr*g (2); momentum b = m*b + g first (2 more, one buffer); adam m = m + (1-b1)(g - m)
# (3), v = b2*v + (1-b2)*g*g (4), sqrt(v)/c2 + eps (3), p -= lr*m/(...) (3): 13, two buffers;
# adamw decays the weights first (1 more). Weight decay in sgd and adam adds 2 (g += wd*p).
OPTIMIZERS: dict[str, tuple[int, int]] = {"sgd": (2, 0), "momentum": (4, 1), "adam": (13, 2), "adamw": (14, 2)}
WEIGHT_DECAY_FLOPS = 2


def optimizer_kind(optimizer: str, momentum: float = 0.0) -> str:
    """The OPTIMIZERS entry of a training run's settings (`train --optimizer sgd --momentum
    0.9` is "momentum": plain SGD with one buffer per parameter)."""
    return "momentum" if optimizer == "sgd" and momentum else optimizer


# Each OPTIMIZERS entry in train's words (`train --optimizer sgd` has a momentum, 0.9 unless told)
OPTIMIZER_WORDS = {"sgd": "sgd without momentum", "momentum": "sgd with momentum", "adam": "adam", "adamw": "adamw"}


def optimizer_words(optimizer: str, momentum: float = 0.0) -> str:
    """A run's optimizer in train's words: `adam`, `sgd with momentum 0.9`, `sgd without momentum`."""
    if optimizer != "sgd":
        return optimizer
    return f"sgd with momentum {momentum:g}" if momentum else "sgd without momentum"


@record
class TrainingStep:
    """The training step a figure is for, as `cnnctl train` would run it: its batch, its
    optimizer in train's words (sgd with its momentum, adam, adamw), whether it runs in mixed
    precision, and where each came from (`from_` maps a setting's name to "--batch", "the
    file's train:" or "train's default")."""

    batch: int
    optimizer: str
    momentum: float
    amp: bool
    from_: dict

    @property
    def kind(self) -> str:
        """Its OPTIMIZERS entry (the state it keeps, its update's FLOPs)."""
        return optimizer_kind(self.optimizer, self.momentum)

    @property
    def words(self) -> str:
        return optimizer_words(self.optimizer, self.momentum)


@record
class LayerCost:
    """One layer's forward and backward cost for one example in a training step: a softmax the
    loss applies (`Graph.softmax_left_to_loss`) is counted in neither."""

    path: str
    forward_mults: int
    forward_flops: int
    backward_mults: int
    backward_flops: int
    input_grad: bool  # whether its input's gradient is computed
    frozen: bool = False  # up to and including `--freeze PATH`: no backward, its parameters not updated


@record
class TrainingCost:
    """Forward, backward and a whole step for one example, as `cnnctl train` runs them (the
    heads' layers in, a final softmax left to the loss out); the optimizer's update apart (per
    step, whatever the batch)."""

    layers: tuple[LayerCost, ...]
    forward_mults: int
    forward_flops: int
    backward_mults: int
    backward_flops: int
    params: int  # trainable: those the optimizer updates
    frozen: int = 0  # of the network's parameters, those `--freeze` freezes (no gradient, no update)

    @property
    def step_mults(self) -> int:
        return self.forward_mults + self.backward_mults

    @property
    def step_flops(self) -> int:
        return self.forward_flops + self.backward_flops

    def optimizer_flops(self, optimizer: str, weight_decay: bool = False) -> int:
        """FLOPs of one update of every parameter (once per step, not per example)."""
        per_param = OPTIMIZERS[optimizer][0] + (WEIGHT_DECAY_FLOPS if weight_decay and optimizer != "adamw" else 0)
        return per_param * self.params


def needs_grad(graph: Graph, frozen: int = -1) -> list[bool]:
    """For each node, whether its output depends on a trainable parameter (so that autograd
    records it and the gradient flows back through it); the parameters of the layers up to and
    including index `frozen` (`--freeze`) are not trainable."""
    flags: list[bool] = []
    for n in graph.nodes:
        flags.append((n.params > 0 and n.index > frozen) or any(i != INPUT and flags[i] for i in n.inputs))
    return flags


def training_cost(graph: Graph, frozen: int = -1) -> TrainingCost:
    """Forward and backward multiplications and FLOPs of every layer, and their totals; the
    layers up to and including index `frozen` (`--freeze`, a prefix) are frozen: nothing
    trainable feeds them, so autograd records none of them (no backward), and the optimizer
    updates the others' parameters only."""
    grads = needs_grad(graph, frozen)
    layers = []
    for n in graph.nodes:
        kind, ins, args = KINDS[n.kind], graph.input_shapes(n), graph.training_args(n)
        input_grad = n.index > frozen and any(i != INPUT and grads[i] for i in n.inputs)
        if args is None:  # a softmax layer left to the loss: training runs an identity
            layers.append(LayerCost(n.path, 0, 0, 0, 0, input_grad))
            continue
        # a softmax left to the loss (`act=softmax`) is neither run nor differentiated: the loss's own
        flops = graph.training_flops(n)
        if n.index <= frozen:
            layers.append(LayerCost(n.path, n.mults, flops, 0, 0, False, frozen=True))
            continue
        layers.append(
            LayerCost(
                n.path,
                n.mults,
                flops,
                kind.backward_mults(args, ins, n.shape, input_grad),
                kind.backward_flops(args, ins, n.shape, input_grad),
                input_grad,
            )
        )
    return TrainingCost(
        tuple(layers),
        graph.mults_with_heads,  # a training step runs the heads (`outputs:`) too
        sum(c.forward_flops for c in layers),  # the heads' too; a softmax left to the loss not
        sum(c.backward_mults for c in layers),
        sum(c.backward_flops for c in layers),
        graph.params - sum(n.params for n in graph.nodes[: frozen + 1]),  # trainable
        sum(n.params for n in graph.nodes[: frozen + 1]),
    )
