"""summarize: the command people run most, alone in its module so that it imports only what it
needs (not the roofline's devices, not the other commands' options). No torch."""

from typing import Annotated, Optional

from ..limits import MAX_INT
from ..shapes import DTYPE_BYTES
from . import common  # common._load, looked up when called: one place to stand in for reading a network
from .common import Format, _output
from .options import arch_argument, choice, columns, format_option, input_option, option, whole, words


def summarize_cmd(
    arch: Annotated[str, arch_argument()],
    input: Annotated[Optional[str], input_option()] = None,
    batch: Annotated[int, option("-b", "--batch", parser=whole(1, MAX_INT), metavar="B",
                                 help="Batch size: memory is for B images, and totals per batch are added.")] = 1,
    dtype: Annotated[str, option("--dtype", parser=choice(tuple(DTYPE_BYTES)), metavar="TYPE",
                                 complete=words(*DTYPE_BYTES),
                                 help="Element type for memory: " + ", ".join(DTYPE_BYTES) + ".")] = "float32",
    depth: Annotated[Optional[int], option("-d", "--depth", parser=whole(1), metavar="N",
                                           help="Collapse layer paths deeper than N.")] = None,
    columns: Annotated[Optional[tuple], option("-c", "--columns", parser=columns, metavar="A,B,...",
        help="Columns to show, in order: layer, shorthand, output, from (where a layer's inputs come from), params, "
        "buffers, mults, flops, field (receptive field), jump, start, memory. Default: layer, shorthand, output, "
        "from (for branched networks), params, mults, field.")] = None,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Per-layer shapes, params, multiplications, receptive fields; totals, memory.

    One row per layer: path, shorthand, output HxWxC, where its inputs come from (when not
    simply the layer above), parameters, multiplications and receptive field; then totals and
    memory for the batch and dtype. --columns picks the columns, in every format.
    """
    from ..analysis import summarize
    from ..render.views import summary_json, summary_table

    graph = common._load(arch, input)
    summary = summarize(graph, depth=depth, batch=batch, dtype=dtype)
    _output(format, lambda: summary_json(summary, columns), lambda: [summary_table(summary, columns)], graph)
    return 0
