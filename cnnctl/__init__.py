"""cnnctl: CNN architectures in the course's shorthand; exact shapes, parameters and costs.

The analysis side never imports torch; only cnnctl.backend, cnnctl.data and cnnctl.train do.
The names below are imported when first used (PEP 562): `import cnnctl` costs nothing, so
the command starts at once and a Ctrl-C in its first instant is caught (see __main__.py).
"""

import warnings
from importlib import import_module

# torch (imported only by the backend, data and train packages) warns when NumPy is absent;
# cnnctl never hands it NumPy arrays. The package root runs first, so the filter is in place.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

__version__ = "0.1.0"
_HOMES = {
    "load": "api",
    "load_text": "api",
    "to_torch": "api",
    "CnnctlError": "errors",
    "Graph": "graph",
    "Node": "graph",
    "summarize": "analysis",
}
__all__ = ["CnnctlError", "Graph", "Node", "load", "load_text", "summarize", "to_torch", "__version__"]

TYPE_CHECKING = False  # typing's name for it, without importing typing
if TYPE_CHECKING:
    from .analysis import summarize
    from .api import load, load_text, to_torch
    from .errors import CnnctlError
    from .graph import Graph, Node


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value  # once: later lookups do not come here
        return value
    raise AttributeError(f"module 'cnnctl' has no attribute {name!r}")
