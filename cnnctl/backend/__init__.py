"""The PyTorch backend: a cnnctl Graph compiled to a `torch.nn.Module`.

This package is the only part of cnnctl that imports torch. It reads the graph the
analyzer built (never the YAML), so the module has exactly the analyzed shapes and
parameters; tests check both, and the multiplications, against PyTorch itself.
"""

from .builders import BUILDERS
from .module import GraphModule, sync_batch_norm, to_torch

__all__ = ["BUILDERS", "GraphModule", "sync_batch_norm", "to_torch"]
