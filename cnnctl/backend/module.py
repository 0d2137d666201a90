"""GraphModule: runs a cnnctl Graph's nodes in order, each through the module built for it.

Submodules are named by the layer paths (`layer3.2.conv1`), nested as containers, so
`state_dict` keys read like the summary: `layer3.2.conv1.weight`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import CnnctlError
from ..graph import INPUT, Graph
from .builders import BUILDERS
from .functional import BatchNorm1d, BatchNorm2d, Conv2d, SyncBatchNorm


class _Group(nn.Module):
    """A container for the layers under one path prefix (`layer3`, `layer3.2`)."""

    def forward(self, *args):  # pragma: no cover - containers are never called
        raise RuntimeError("a group of layers is not called directly")


class GraphModule(nn.Module):
    """The network as a torch module. Input NCHW (N, C, H, W); output as the graph's last node.

    A graph with heads (`outputs:`) returns, in training mode, the main output and each head's,
    a tuple in the order `outputs:` lists them; in eval mode it runs without the heads and
    returns the main output alone, as a network without them would.
    """

    def __init__(self, graph: Graph, logits: bool = False):
        super().__init__()
        self.graph = graph
        self.steps: list[tuple[nn.Module, tuple[int, ...]]] = []
        for node in graph.nodes:
            module = BUILDERS[node.kind](node, graph.input_shapes(node))
            self._place(node.path, module)
            self.steps.append((module, node.inputs))
        self.heads = tuple(h.index for h in graph.heads)
        self._mlp_over_channels()
        if logits:
            for index in graph.loss_outputs:
                if graph.softmax_left_to_loss(graph.nodes[index]):
                    self._drop_final_softmax(index)
        # Each pass runs its layers in order and drops the outputs nobody needs any more, as a
        # hand-written network frees its temporaries: (layer, the outputs it was the last to read).
        skip = graph.training_only
        self.inference = self._plan([n.index for n in graph.nodes if n.index not in skip])
        self.training_pass = self._plan([n.index for n in graph.nodes]) if self.heads else self.inference

    def _mlp_over_channels(self) -> None:
        """The 1x1 convs that read a layer norm over channels, and those that read them (ConvNeXt's
        MLP), run as Linear layers on the channels-last data (Conv2d.over_channels)."""
        over = {n.index for n in self.graph.nodes if n.kind == "layernorm"}
        for node, (module, inputs) in zip(self.graph.nodes, self.steps, strict=True):
            if isinstance(module, Conv2d) and module.pointwise and len(inputs) == 1 and inputs[0] in over:
                module.over_channels = True
                over.add(node.index)

    def _plan(self, order: list[int]) -> list[tuple[int, tuple[int, ...]]]:
        last_use: dict[int, int] = {}
        for index in order:
            for i in self.steps[index][1]:
                last_use[i] = index
        dead: dict[int, tuple[int, ...]] = {}
        for i, j in last_use.items():
            if i != INPUT and i not in self.heads:  # a head's output is returned, read or not
                dead[j] = (*dead.get(j, ()), i)
        return [(index, dead.get(index, ())) for index in order]

    def _drop_final_softmax(self, index: int) -> None:
        """Output logits: the softmax `Graph.softmax_left_to_loss` names is left out, a softmax
        layer by an identity, an inline one (`act=softmax`) by its layer without it."""
        module, inputs = self.steps[index]
        if self.graph.nodes[index].kind == "softmax":
            self.steps[index] = (nn.Identity(), inputs)
        else:
            module.act_fn = None

    def _place(self, path: str, module: nn.Module) -> None:
        parent: nn.Module = self
        *groups, leaf = path.split(".")
        for name in groups:
            child = parent._modules.get(name)
            if child is None:
                child = _Group()
                parent.add_module(name, child)
            elif not isinstance(child, _Group):
                raise CnnctlError.at(f"layer path `{path}` runs through the layer `{name}`")
            parent = child
        if leaf in parent._modules:
            raise CnnctlError.at(f"two layers have the path `{path}`")
        parent.add_module(leaf, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        heads = self.training and self.heads
        outputs: dict[int, torch.Tensor] = {INPUT: x}
        out, steps = x, self.steps
        for index, dead in self.training_pass if heads else self.inference:
            module, inputs = steps[index]
            # One input is the common case: calling without unpacking a list saves a little per layer.
            out = module(outputs[inputs[0]]) if len(inputs) == 1 else module(*[outputs[i] for i in inputs])
            outputs[index] = out
            for i in dead:
                del outputs[i]
        return (out, *(outputs[i] for i in self.heads)) if heads else out


def sync_batch_norm(model: GraphModule) -> int:
    """Replace every batch norm by one that normalises over all workers' images; the count.

    Built here rather than with torch's convert_sync_batchnorm, which would drop the
    inline activation (`bn act=relu`) and miss the module list the forward pass runs.
    """
    count = 0
    for i, node in enumerate(model.graph.nodes):
        old, inputs = model.steps[i]
        if not isinstance(old, (BatchNorm1d, BatchNorm2d)):
            continue
        new = SyncBatchNorm(old.num_features, old.eps, old.momentum, old.affine, old.track_running_stats)
        new.setup(old.act_name, old.pad, old.pad_value)
        new.act_fn = old.act_fn  # keeps a final softmax dropped for training dropped
        new.load_state_dict(old.state_dict())
        new.train(old.training)
        group, _, name = node.path.rpartition(".")
        (model.get_submodule(group) if group else model).add_module(name, new)
        model.steps[i] = (new, inputs)
        count += 1
    return count


def to_torch(graph: Graph, logits: bool = False) -> GraphModule:
    """Compile an analyzed graph to a torch module (CPU, float32, freshly initialised).

    `logits=True` leaves out a final softmax, the main output's and each head's
    (`Graph.softmax_left_to_loss`), for training with cross-entropy.
    """
    return GraphModule(graph, logits)
