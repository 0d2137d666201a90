"""The dtype autocast gives each tensor of a training step, on a GPU or a CPU: one rule for the
memory model (`memory.py`) and the roofline's bytes (`roofline.py`).

Each layer kind says how CUDA autocast runs it (`LayerKind.autocast`, from aten's autocast
lists) and, where CPU autocast differs, how that does (`LayerKind.autocast_cpu`): "16" in 16
bits (conv, deconv, fc: a 16-bit copy of a float32 input is made, one per layer that reads
it: autocast caches the copies of parameters only); "32" in float32 (CUDA's layer and group
norm: a float32 copy of a 16-bit input, a float32 output); "out32" a float32 output from a
float32 parameter or op (a layer scale's factors, lrn's pow; CUDA's softmax); "" the widest
dtype of its inputs (a product of a float32 map by a 16-bit gate is float32, as PyTorch's
type promotion gives it). CPU autocast's float32 list has neither layer_norm, group_norm nor
softmax: there they run in their input's dtype (measured with PyTorch 2.13,
tests/test_training_memory.py).
"""

from __future__ import annotations

from ..graph import INPUT, Graph, Node
from ..layers import KINDS

AMP_BYTES = 2  # autocast computes in bfloat16 or float16
FLOAT32_BYTES = 4


def runs_in(n: Node, device: str, softmax_run: bool = True) -> str:
    """How autocast on `device` ("cuda" or "cpu") runs `n`: "16", "32", "out32" or "" (the module's).
    `softmax_run`: False where `n`'s inline softmax is left to the loss (Graph.softmax_left_to_loss)."""
    kind = KINDS[n.kind]
    if device == "cpu":
        return kind.autocast if kind.autocast_cpu is None else kind.autocast_cpu
    if kind.autocast in ("", "out32") and n.args.get("act") == "softmax" and softmax_run:
        return "out32"  # an inline softmax's output: CUDA's float32 list
    return kind.autocast


def dtypes(graph: Graph, size: int, amp: bool, device: str) -> dict[int, int]:
    """Bytes per value of each node's output (and INPUT's) on `device`, under autocast with `amp`
    (`size`, the dtype's, without)."""
    out = {INPUT: size}
    for n in graph.nodes:
        rule = runs_in(n, device, not graph.softmax_left_to_loss(n)) if amp else ""
        if rule == "16":
            out[n.index] = AMP_BYTES
        elif rule in ("32", "out32"):
            out[n.index] = size  # float32: by autocast, or from a float32 parameter or op (lrn's pow)
        else:
            out[n.index] = max(out[i] for i in n.inputs)
    return out


def input_bytes(n: Node, held: int, size: int, amp: bool, device: str) -> int:
    """Bytes per value of the input of `n` held in `held` bytes as `n` reads it: autocast's
    copy in 16 bits ("16") or float32 ("32"), or the input itself."""
    rule = runs_in(n, device) if amp else ""
    return AMP_BYTES if rule == "16" else size if rule == "32" else held
