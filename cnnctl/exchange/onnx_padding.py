"""What export writes of padding PyTorch's layers cannot express (uneven `p=same`, `same` at a
stride): the backend pads with F.pad before the conv or pool, which the TorchScript exporter writes
as a Pad whose pads it works out from constants (ConstantOfShape, Concat, Reshape, Slice,
Transpose, Cast). Here each such Pad is taken into the window reading it, as ONNX's own uneven
`pads` [top, left, bottom, right]: a static graph, smaller, and what `cnnctl import` reads back as
`p=same`. Only where exact: zeros into a Conv, zeros into an AveragePool then counting them, -inf
into a MaxPool (the value its own pads have). Export's check (ONNX Runtime against PyTorch) runs
on the file so written.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto


def _constant(model: ModelProto, tensor: str, makers: dict[str, NodeProto]):
    """The values of `tensor` where it is worked out from constants alone (a numpy array), else None."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    inits = {i.name: i for i in model.graph.initializer}
    if tensor in inits:
        return numpy_helper.to_array(inits[tensor]) if not inits[tensor].external_data else None
    needed, seen, todo = [], set(), [tensor]
    while todo:
        t = todo.pop()
        if t in seen or not t or t in inits:
            continue
        seen.add(t)
        node = makers.get(t)
        if node is None or node.op_type == "Shape":  # the graph's input, or a size of data
            return None
        needed.append(node)
        todo.extend(node.input)
    order = [n for n in model.graph.node if any(n is m for m in needed)]
    used = {t for n in order for t in n.input}
    graph = helper.make_graph(
        order, "pads", [], [helper.make_empty_tensor_value_info(tensor)], [i for n, i in inits.items() if n in used]
    )
    small = helper.make_model(graph, opset_imports=list(model.opset_import))
    try:
        return ReferenceEvaluator(small).run(None, {})[0]
    except Exception:  # what the reference cannot work out stays a Pad (export's check runs either way)
        return None


def _exact(reader: NodeProto, value: float) -> bool:
    """Whether a Pad of `value` taken into `reader`'s own pads computes the same."""
    from onnx import helper

    a = {x.name: helper.get_attribute_value(x) for x in reader.attribute}
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return False
    if reader.op_type == "Conv":
        return value == 0
    if reader.op_type == "MaxPool":
        return value == -math.inf
    own = any(a.get("pads", [0, 0, 0, 0]))  # not counted where count_include_pad is 0: unlike the Pad's zeros
    return (
        reader.op_type == "AveragePool"
        and value == 0
        and not a.get("ceil_mode", 0)
        and (a.get("count_include_pad", 0) or not own)
    )


def pads_taken_in(model: ModelProto) -> None:
    """Each Pad of constant pads on height and width, read by one Conv or pool alone, taken into
    that window's `pads` where exact (_exact); the nodes that only worked out its pads removed."""
    import numpy as np
    from onnx import helper

    graph = model.graph
    makers = {t: n for n in graph.node for t in n.output}
    readers: dict[str, list[NodeProto]] = {}
    for n in graph.node:
        for t in n.input:
            readers.setdefault(t, []).append(n)
    outputs = {o.name for o in graph.output}
    taken = []
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        mode = next((helper.get_attribute_value(x) for x in pad.attribute if x.name == "mode"), b"constant")
        reader = readers.get(pad.output[0], [])
        if mode not in (b"constant", "constant") or len(reader) != 1 or pad.output[0] in outputs or len(pad.input) > 3:
            continue
        pads = _constant(model, pad.input[1], makers) if len(pad.input) > 1 else None
        value = _constant(model, pad.input[2], makers) if len(pad.input) > 2 and pad.input[2] else np.zeros(1)
        if pads is None or value is None or pads.size != 8 or value.size != 1:
            continue
        p = [int(v) for v in pads.reshape(-1)]
        if any(p[i] for i in (0, 1, 4, 5)) or min(p) < 0 or not _exact(reader[0], float(value.reshape(-1)[0])):
            continue
        window = reader[0]
        own = next((list(x.ints) for x in window.attribute if x.name == "pads"), [0, 0, 0, 0])
        for x in [x for x in window.attribute if x.name in ("pads", "count_include_pad")]:
            window.attribute.remove(x)
        added = [p[2], p[3], p[6], p[7]]  # ONNX Pad's [N, C, H, W begins, N, C, H, W ends] -> a window's
        window.attribute.append(helper.make_attribute("pads", [o + q for o, q in zip(own, added, strict=True)]))
        if window.op_type == "AveragePool":
            window.attribute.append(helper.make_attribute("count_include_pad", 1))
        window.input[0] = pad.input[0]
        taken.append(pad)
    for pad in taken:
        graph.node.remove(pad)
    _without_unread(model)


def _without_unread(model: ModelProto) -> None:
    """The nodes none of whose outputs is read (by a node or as the graph's output) removed, until none is."""
    graph = model.graph
    while True:
        read = {t for n in graph.node for t in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(t in read for t in n.output if t)]
        if not dead:
            return
        for n in dead:
            graph.node.remove(n)
