"""Layers that ONNX writes as several operators (a written-out GELU, GRN, ECA's channel conv):
found before the pass from the operator each starts at, each then read at its last node. The
finders themselves lie with their family (activations, normalisation, eca).
"""

from __future__ import annotations

from ...records import record
from .told import Unread


@record
class Pattern:
    """A layer that ONNX writes as several operators, found before the pass (find_patterns)."""

    read: str  # the Reader method that reads it, at its last node
    x: str  # the tensor it reads, as the nodes name it
    nodes: list  # its nodes but the last
    last: int  # its last node, whose output is the layer's
    held: tuple = ()  # what else it found: a GRN's gamma, beta, eps and layout; a channel conv's filter and size
    # timm's ECA (channelconv_timm_at): the mean over H and W without keepdims it reads, read as the
    # pool alone (its N x C as cnnctl's 1x1xC), and the Reshape of its gate back to N x C x 1 x 1
    pooled: str = ""
    back: int | None = None


# The operator each pattern starts from -> the Reader method that finds it there.
PATTERN_STARTS = {
    "Erf": "gelu_at",
    "Softplus": "mish_at",
    "ReduceL2": "grn_at",
    "InstanceNormalization": "groupnorm_at",
    "Conv": "channelconv_at",
    "ReduceMean": "layernorm_written_at",  # not read: told once, its output standing in (normalisation)
}


# Other patterns from the same operator: tried in turn where the first is not found.
PATTERN_ALSO = {"channelconv_at": ("channelconv1d_at", "channelconv_timm_at", "eca_mlp_at")}


class Patterns:
    """Finding the patterns, before the pass."""

    def find_patterns(self) -> None:
        """The layers written as several operators, each found from the operator that starts it
        (PATTERN_STARTS) and read as one layer at its last node, where its constants are what the
        layer's are and nothing outside the pattern reads what lies between; else its first
        operator is told as one cnnctl does not read (Erf, ReduceL2), or its nodes are read alone."""
        for i, node in enumerate(self.nodes):
            find = PATTERN_STARTS.get(node.op_type)
            found = None
            for method in (find, *PATTERN_ALSO.get(find, ())) if find and node.input and node.output else ():
                try:
                    found = getattr(self, method)(i)
                except (Unread, IndexError, KeyError, ValueError, TypeError, OverflowError):  # malformed
                    found = None  # node by node
                if found is not None:
                    break
            if found is not None and not (self.inside & {*found.nodes, found.last}):
                self.patterns[found.last] = found
                self.inside.update(found.nodes)
                if found.pooled:
                    self.unflattened.add(found.pooled)
                if found.back is not None:
                    self.relaid.add(found.back)
