"""Spec -> graph: the network expanded into layers, every shape inferred.

`build` walks a spec and names the layers; each composite has a module of its own
(`blocks`, `repeat`, `residual`, `branches`), and `references` resolves `id`/`from`/`with`.
`nodes` is the built graph that every consumer reads.
"""

from .build import build_graph, parse_volume
from .nodes import INPUT, Graph, Node, named_from

__all__ = ["INPUT", "Graph", "Node", "build_graph", "named_from", "parse_volume"]
