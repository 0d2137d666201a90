"""summarize: the command people run most, alone in its module so that it imports only what it
needs (not the roofline's devices, not the other commands' options). No torch."""

from typing import Annotated, Optional

from ..limits import MAX_INT
from ..render.views.summary import (  # what summarize shows: imported by it in any case
    DEFAULT_COLUMNS,
    SHAPE_COLUMNS,
    SUMMARY_COLUMNS,
)
from . import common  # common.load_network, looked up when called: one place to stand in for reading a network
from .common import Format, examples, show_result
from .options import arch_argument, columns, complete_columns, dtype_option, format_option, input_option, option, whole


@examples(
    ("cnnctl summarize lenet5", "every layer: output shape, params, multiplications, field"),
    ("cnnctl summarize vgg16 --batch 32 --dtype bf16", "memory for a batch of 32 in bfloat16"),
    ("cnnctl summarize resnet50 --depth 1 --columns layer,output,params", "stages only, three columns"),
    ("cnnctl summarize efficientnet_b3 --input 320x320x3 --format json", "a family member at another input, as JSON"),
)
def summarize_cmd(
    arch: Annotated[str, arch_argument()],
    input: Annotated[Optional[str], input_option()] = None,
    batch: Annotated[int, option("-b", "--batch", parser=whole(1, MAX_INT), metavar="B",
                                 help="Batch size: memory is for B images, and totals per batch are added. "
                                 "Default: 1.")] = 1,
    dtype: Annotated[str, dtype_option("Element type for memory. Default: float32.")] = "float32",
    depth: Annotated[Optional[int], option("-d", "--depth", parser=whole(1), metavar="N",
                                           help="Collapse layer paths deeper than N. Default: every layer.")] = None,
    columns: Annotated[Optional[tuple], option("-c", "--columns", parser=columns, metavar="A,B,...",
        complete=complete_columns,
        help=f"Columns to show, in order: {', '.join(SUMMARY_COLUMNS)} (layer: its path; input: the volumes it "
        "takes; kernel: its weights' and biases' shapes, as PyTorch holds them; from: where its inputs come from; "
        f"field: its receptive field, by the formula, padding included; reach: the rows and columns of the image "
        f"its output reads, exactly). Default: {', '.join(DEFAULT_COLUMNS)} (from for branched networks).")] = None,
    freeze: Annotated[Optional[str], option("--freeze", metavar="PATH",
        help="Count the parameters of every layer up to and including PATH as frozen (as train --freeze "
        "does), the rest as trainable. Default: a run's own --freeze, for a run folder.")] = None,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Per-layer shapes, params, multiplications, receptive fields; totals, memory.

    One row per layer: its path (column `layer`), shorthand, output HxWxC, where its inputs
    come from (when not simply the layer above), parameters, multiplications and receptive
    field; then totals and memory for the batch and dtype. --columns picks the columns, in
    every format.
    """
    from ..analysis import summarize
    from ..analysis.summary import last_in
    from ..render.views.summary import summary_json, summary_table

    graph = common.load_network(arch, input)
    if freeze is None:  # a run folder: what it trained, as it trained it
        from ..run_marks import run_config

        recorded = (run_config(arch) or {}).get("freeze")
        freeze = recorded if isinstance(recorded, str) and recorded else None
    shapes = columns is not None and any(c in SHAPE_COLUMNS for c in columns)
    if freeze:  # told in the command line's words (a run's own, as it was given to train)
        last_in(graph, freeze, "--freeze")
    summary = summarize(graph, depth=depth, batch=batch, dtype=dtype, freeze=freeze, shapes=shapes)
    show_result(format, lambda: summary_json(summary, columns), lambda: [summary_table(summary, columns)], graph)
    return 0
