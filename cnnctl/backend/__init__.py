"""The PyTorch backend: a cnnctl Graph compiled to a `torch.nn.Module`.

This package is the only part of cnnctl that imports torch. It reads the graph the
analyzer built (never the YAML), so the module has exactly the analyzed shapes and
parameters; tests check both, and the multiplications, against PyTorch itself.
"""

import warnings

# torch warns at import when NumPy is absent; cnnctl never hands torch NumPy arrays.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

from .builders import BUILDERS  # noqa: E402
from .module import GraphModule, to_torch  # noqa: E402

__all__ = ["BUILDERS", "GraphModule", "to_torch"]
