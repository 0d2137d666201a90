"""The ONNX operators cnnctl reads (OPERATORS: each with the reader method that reads it), and
those words as `cnnctl import --help` lists them (`operators_read`).
"""

from __future__ import annotations

from ...layers import KINDS
from ...records import record

# ONNX operator -> the activation kind it is read as, where it has no attributes to read
# (each kind declares its `onnx_op`; Gelu's approximate="tanh" is refused).
ACTIVATIONS = {kind.onnx_op: name for name, kind in KINDS.items() if kind.onnx_op}


FUSES = frozenset(name for name, kind in KINDS.items() if kind.takes_act)  # kinds with an `act=` argument


@record
class Operator:
    read: str  # the Reader method that reads it
    inputs: int = 1  # the inputs it must have (the first ones; later ones are optional)
    note: str = ""  # what of it is read, where not every use of it (said by --help)
    activation: bool = False


OPERATORS = {
    "Conv": Operator("conv", 2, "2-D"),
    "ConvTranspose": Operator("conv", 2, "2-D, output_padding as deconv's op"),
    "BatchNormalization": Operator("bn", 5),
    "LayerNormalization": Operator("layernorm", 2, "over the channels, between transposes to and from NHWC"),
    "LRN": Operator("lrn"),
    "Gemm": Operator("gemm", 2, "x @ W^T + b; of a squeeze-and-excitation's pooled N x C, a 1x1 conv"),
    "MatMul": Operator(
        "matmul",
        2,
        "by stored weights over the channels of channels-last data or of a squeeze-and-excitation's pooled N x C, "
        "a 1x1 conv; of another N x C vector, an fc",
    ),
    "MaxPool": Operator("pool"),
    "AveragePool": Operator("pool", 1, "count_include_pad 0 with padding as count_pad=false"),
    "GlobalAveragePool": Operator("global_pool"),
    "GlobalMaxPool": Operator("global_pool"),
    "ReduceMean": Operator("reduce", 1, "over height and width, a global pool; over the channels, kept"),
    "ReduceMax": Operator("reduce", 1, "over height and width, a global pool; over the channels, kept"),
    "Add": Operator(
        "add", 2, "of two layers; of a constant, one or one per channel, an affine; of known values, a value"
    ),
    "Mul": Operator(
        "mul",
        2,
        "of two layers; by a stored factor per channel, a layerscale; by a constant, one or one per channel, "
        "an affine (with the Add of a constant after it); of known values, a value",
    ),
    "Concat": Operator("concat", 1, "of channels; of one input, nothing; of known values"),
    "Flatten": Operator("flatten", 1, "from axis 1"),
    "Resize": Operator(
        "resize",
        1,
        "nearest, or linear with half_pixel or align_corners coordinates (bilinear), by a whole factor of height "
        "and width alike, from scales or sizes",
    ),
    "Upsample": Operator("resize", 1, "nearest, by a whole factor"),
    "Slice": Operator(
        "slice",
        3,
        "a part of the channels: an equal one as `chunk`, any other as `slice`; rows and columns about the centre "
        "as `crop`; of known values",
    ),
    "Split": Operator("split", 1, "into equal parts of the channels: a chunk each"),
    "Shape": Operator("fold", 1, "of a tensor whose size is known: a value the others read"),
    "Cast": Operator(
        "cast", 1, "of known values; of a weight or the network's values to a floating-point type (autocast), nothing"
    ),
    "Squeeze": Operator("fold", 1, "of known values"),
    "ReduceProd": Operator("fold", 1, "of known values, x.numel()"),
    "Floor": Operator("fold", 1, "of known values"),
    "Ceil": Operator("fold", 1, "of known values"),
    "Range": Operator("fold", 3, "of known values"),
    "Gather": Operator(
        "gather",
        2,
        "of one channel, unsqueezed back, a chunk; of every value in order after a Reshape to -1, nothing; "
        "of known values",
    ),
    "Unsqueeze": Operator("unsqueeze", 1, "of one channel a Gather picked, at axis 1; of known values"),
    "Sub": Operator("sub", 2, "of a layer and a constant after it, one or one per channel, an affine; of known values"),
    "Div": Operator("div", 2, "of a layer by a constant, one or one per channel, an affine; of known values"),
    "Reshape": Operator(
        "reshape",
        2,
        "to N x -1, a flatten; with Transpose, a channel shuffle; with Softmax, a radix softmax; of known values",
    ),
    "Transpose": Operator(
        "transpose", 1, "in a channel shuffle, a radix softmax or around a LayerNormalization; of known values"
    ),
    "Pad": Operator(
        "pad",
        1,
        "of known pads of zeros before a Conv or an AveragePool (counting them), or of -inf before a MaxPool: "
        "its padding",
    ),
    "ConstantOfShape": Operator("fold", 1, "of known values"),
    "Expand": Operator("expand", 2, "to the shape of what the one Mul or Add reading it takes with it: nothing"),
    "Identity": Operator("identity"),
    "Dropout": Operator("identity", 1, "as at inference"),
    "Constant": Operator("constant", 0, "a value the others read"),
    **{op: Operator("activate", 1, "exact" if op == "Gelu" else "", True) for op in ACTIVATIONS},
    "LeakyRelu": Operator("leaky", 1, "", True),
    "HardSigmoid": Operator("hardsigmoid", 1, "PyTorch's", True),
    "Clip": Operator("clip", 1, "to [0, 6], as relu6", True),
    "Softmax": Operator("softmax", 1, "over the channels; across the parts of reshaped channels, `rsoftmax`", True),
}


def operators_read(notes: bool = True) -> str:
    """The operators of OPERATORS in words: `Conv (2-D), ...; the activations Relu, ...`."""

    def named(op: str, operator: Operator) -> str:
        return f"{op} ({operator.note})" if notes and operator.note else op

    layers = [named(op, o) for op, o in OPERATORS.items() if not o.activation]
    activations = [named(op, o) for op, o in OPERATORS.items() if o.activation]
    silu = (
        "; Mul of x and Sigmoid(x) as silu, of x and HardSigmoid(x) as hardswish; "
        "x * 0.5 * (1 + Erf(x / sqrt(2))) as gelu; x * Tanh(Softplus(x)) as mish; Reshape to N x G x -1, "
        "InstanceNormalization of ones and zeros, Reshape back, Mul and Add per channel as groupnorm; "
        "gamma * (x * N) + beta + x with N = ReduceL2 over H, W / (its ReduceMean over C + eps), on NCHW or "
        "channels-last data, as grn; "
        "Reshape to N x 1 x C x HW, a Conv of one f x 1 filter and Reshape back, or Squeeze, Transpose, a Conv1d "
        "of one filter, Transpose and Unsqueeze of a pooled 1x1xC, or a Conv1d of one filter on a ReduceMean over "
        "H, W reshaped to N x 1 x C, its gate reshaped to N x C x 1 x 1, as channelconv"
        if notes
        else ""
    )
    return f"{', '.join(layers)}; the activations {', '.join(activations)}{silu}"
