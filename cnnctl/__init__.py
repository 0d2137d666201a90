"""cnnctl: CNN architectures in the course's shorthand; exact shapes, parameters and costs.

The analysis side never imports torch; only cnnctl.backend, cnnctl.data and cnnctl.train do.
"""

import warnings

# torch (imported only by the backend, data and train packages) warns when NumPy is absent;
# cnnctl never hands it NumPy arrays. The package root runs first, so the filter is in place.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

from .api import load, load_text, to_torch  # noqa: E402
from .errors import CnnctlError  # noqa: E402
from .graph import Graph, Node  # noqa: E402
from .report import summarize  # noqa: E402

__version__ = "0.1.0"
__all__ = ["CnnctlError", "Graph", "Node", "load", "load_text", "summarize", "to_torch", "__version__"]
