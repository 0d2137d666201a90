"""cnnctl: CNN architectures in the course's shorthand; exact shapes, parameters and costs.

The analysis side (this package minus `cnnctl.backend`) never imports torch.
"""

from .api import load, load_text, to_torch
from .errors import CnnctlError
from .graph import Graph, Node
from .report import summarize

__version__ = "0.1.0"
__all__ = ["CnnctlError", "Graph", "Node", "load", "load_text", "summarize", "to_torch", "__version__"]
