"""Several networks side by side: the figures of every analysis, and per stage.

A stage is a top-level group of layers (`layer3` of a ResNet, `stage2` of a VGG): the first
part of the layer paths. A top-level layer (a stem's conv, the classifier) is a row of its
own, as `summarize --depth 1` shows them: every layer is in one row, so the rows add up to
the network's totals.
"""

from __future__ import annotations

from ..errors import CnnctlError
from ..graph import Graph
from ..shapes import DTYPE_BYTES
from .memory import training_memory
from .receptive import receptive_fields
from .roofline import Profile, mixed_dtype, roofline
from .summary import groups_at, last_in
from .training import training_cost


def compare(
    graphs: list[Graph],
    batch: int,
    dtype: str,
    optimizer: str,
    profile: Profile,
    budget: int | None = None,
    freeze: str | None = None,
    amp: bool = False,
    device: str = "cuda",
) -> list[dict]:
    """One entry of figures per network, as plain data; `freeze`: every layer up to and including
    that path is frozen in each network (as `train --freeze`), a path none of them lacks; `amp`
    and `device`: the training memory's (as `memory` takes them), and with `amp` the latency is
    mixed precision's (`latency_dtype`)."""
    frozen = frozen_in(graphs, freeze)
    latency_dtype = latency_dtype_of(profile, dtype, amp)
    entries = []
    for g, last in zip(graphs, frozen, strict=True):
        cost = training_cost(g, last)
        memory = training_memory(g, batch, dtype, optimizer, amp, device, freeze)
        fields = receptive_fields(g)
        last = last_map(g)
        entry = {
            "name": g.title,
            "file": g.file,
            "input": g.input_shape,
            "output": g.output_shape,
            "layers": len(g.nodes),
            # as summarize counts: every parameter and those inference uses; a forward pass at
            # inference and in training, where the heads only training runs (`outputs:`) add theirs
            "params": g.params,
            "trainable_params": cost.params,  # what the optimizer updates: --freeze's frozen apart
            "inference_params": g.inference_params,
            "mults": g.mults,
            "mults_with_heads": g.mults_with_heads,
            "flops": g.flops,
            "flops_with_heads": g.flops_with_heads,
            "heads": [h.name for h in g.heads],
            "step_mults": cost.step_mults,
            "memory_peak": memory.peak,
            # what the network makes of the peak: cuBLAS's workspace is the same for every network with an fc
            "memory_less_cublas": memory.peak - memory.cublas_workspace,
            "largest_batch": memory.largest_batch(budget) if budget is not None else None,
            "field": fields[last] if last is not None else None,
            "field_layer": g.nodes[last].path if last is not None else None,
            "latency": roofline(g, profile, batch, latency_dtype, amp=amp).seconds,
            "stages": stages(g),
        }
        entries.append(entry)
    return entries


def latency_dtype_of(profile: Profile, dtype: str, amp: bool) -> str:
    """The dtype the roofline computes in: `dtype`, or with `amp` its 16-bit type (a 16-bit
    `dtype` itself, else the device's: `mixed_dtype`)."""
    if not amp:
        return dtype
    return dtype if DTYPE_BYTES[dtype] == 2 else mixed_dtype(profile)


def frozen_in(graphs: list[Graph], freeze: str | None, option: str = "freeze") -> list[int]:
    """Each network's last frozen layer (-1: none), or one error with every network that has no
    layer or group `freeze` (naming `option`, as summary.layer_at does)."""
    if freeze is None:
        return [-1] * len(graphs)
    found, problems = [], []
    for g in graphs:
        try:
            found.append(last_in(g, freeze, option))
        except CnnctlError as exc:
            problems += exc.problems
    if problems:
        raise CnnctlError(problems)
    return found


def last_map(graph: Graph) -> int | None:
    """The index of the last layer whose output is a map of more than one position, if any: a
    global pool's 1x1 output sees the whole image (its field is `all`), the map it pools is
    what the network's depth has built up (ResNet-18's layer4, 435 on 224)."""
    return max((n.index for n in graph.nodes if len(n.shape) == 3 and n.shape[:2] != (1, 1)), default=None)


def stages(graph: Graph) -> dict[str, dict]:
    """Params and multiplications of each top-level group of layers and each top-level layer,
    in order: every layer in one of them, so they sum to `params` and `mults_with_heads`. A
    group of a head's layers alone (GoogLeNet's `aux1`) says `training_only`."""
    heads = graph.training_only
    rows = {}
    for top, members in groups_at(graph, 1).items():
        row = {
            "params": sum(n.params for n in members),
            "mults": sum(n.mults for n in members),
            "layers": len(members),
        }
        if all(n.index in heads for n in members):
            row["training_only"] = True  # said only where true, as summarize's rows
        rows[top] = row
    return rows
