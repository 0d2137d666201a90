"""The reader: one pass over an ONNX graph, node by node, each read by its operator's method (or
its pattern's) into a Layer; the families of readers are mixed in from their own modules.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...errors import CnnctlError, Loc, shown
from ...shapes import Shape
from ..write_notation import NAME  # what an id may not hold: one rule for every name written
from .activations import Activations
from .arithmetic import Arithmetic
from .attention import Attention
from .attributes import attributes_of
from .conv_and_pool import ConvAndPool
from .eca import ECA
from .excitation import Excitation
from .given_input import input_volume
from .layer import Layer
from .normalisation import Normalisation
from .operators import OPERATORS, operators_read
from .padding import Padding
from .patterns import Pattern, Patterns
from .prelude import Prelude
from .reshapes import Reshapes
from .stored_layouts import StoredLayouts
from .told import Told, Unread, comment_text
from .values import FOLDS, Values, constant_value
from .wiring import Wiring

if TYPE_CHECKING:
    from onnx import NodeProto


def _declared(value) -> str:
    """The shape a graph's input declares: `1x3x224x224` (`?` for a size it leaves unknown)."""
    dims = value.type.tensor_type.shape.dim
    return "x".join(str(d.dim_value) if d.HasField("dim_value") else "?" for d in dims) or "no shape"


# Where an operator cnnctl has no kind for is most often part of one it reads: what to do instead.
UNREAD_HINTS = {
    "Softplus": "softplus alone has no cnnctl kind; x * tanh(softplus(x)) is read as mish (torch.onnx.export with "
    "dynamo=True writes Mish as one operator)",
}


# The operators of a quantized model (int8 weights, dequantized in the graph or computed in integers): told as
# such wherever they stand, on weights (a value, to any other operator) or on the network's values.
QUANTIZED = frozenset({"DequantizeLinear", "QuantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
                       "ConvInteger", "MatMulInteger"})  # fmt: skip
QUANTIZED_HINT = "cnnctl reads floating-point weights: import the model before quantization"


class Reader(
    Told,
    Wiring,
    Values,
    StoredLayouts,
    Prelude,
    Patterns,
    Excitation,
    ConvAndPool,
    Padding,
    Normalisation,
    ECA,
    Attention,
    Arithmetic,
    Activations,
    Reshapes,
):
    """One pass over an ONNX graph: each operator's reader makes a Layer (or joins an
    activation to the layer before); the tensors name what each layer reads."""

    def __init__(self, model, path: str, input: Shape | None = None):
        graph = model.graph
        self.model, self.graph, self.path = model, graph, path
        self.folder = os.path.dirname(os.path.abspath(path))  # where its external data may lie
        self.nodes = graph.node
        # the opset of ONNX's own operators: what some mean changes with it (Softmax's axis, before 13)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.inits = {i.name: i for i in graph.initializer}
        self.constants = dict(self.inits)  # tensor -> its TensorProto, decoded only where a reader needs it
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                value = constant_value(node)
                if value is not None:
                    self.constants[node.output[0]] = value
        # Constants' outputs: values written in the graph (by exporters that store weights so, and torch's
        # literals, `torch.tensor([...])`), stored values as initializers are (fold_stored_layouts), but fixed
        self.literals: set[str] = set()
        self.decoded: dict = {}  # tensor -> its values (a numpy array), once read
        # a stored weight's layout, folded (fold_stored_layouts): its output -> the node, read with it
        self.laid_out: dict[str, int] = {}
        inputs = [i for i in graph.input if i.name not in self.inits]
        if len(inputs) != 1:
            named = ", ".join(f"{shown(i.name)} ({_declared(i)})" for i in inputs[:4])
            named += ", ..." if len(inputs) > 4 else ""
            raise CnnctlError.at(
                f"the graph has {len(inputs)} inputs{': ' + named if inputs else ''}; cnnctl networks take one image",
                Loc(path),
                hint="export the network of one input (torch.onnx.export(model, (x,), ...) with one tensor), or "
                "import each branch that takes one as a network of its own",
            )
        # sizes the file leaves unknown beyond the batch (before --input sets them): values worked out from them
        self.dynamic = "?" in _declared(inputs[0]).split("x", 1)[-1]
        self.input_shape = input_volume(inputs[0], input, path)  # unknown sizes given, set in the graph
        self.source = inputs[0].name
        self.data = self.from_the_input()  # tensors computed from the input's values (stand_in)
        self.alias: dict[str, str] = {}  # tensor -> the tensor it equals (Identity, a joined activation)
        self.made: dict[str, Layer] = {}  # tensor -> the layer whose output it is
        self.order: list[tuple[str, Layer]] = []  # (output tensor, layer), in graph order
        self.readers: dict[str, int] = {}  # tensor -> how many nodes read it
        self.read_by: dict[str, int] = {}  # tensor -> the last node that reads it (the only one, where readers is 1)
        self.consumers: dict[str, list[int]] = {}  # tensor -> the nodes that read it
        for i, node in enumerate(graph.node):
            for t in node.input:
                self.readers[t] = self.readers.get(t, 0) + 1
                self.read_by[t] = i
                self.consumers.setdefault(t, []).append(i)
        # a Pad's output -> (its pads top, left, bottom, right, the tensor it pads, its node): the window reading it
        self.padded: dict[str, tuple[tuple[int, int, int, int], str, int]] = {}
        self.shifts: dict[str, str] = {}  # an Add's output -> the affine's (a Mul's) that took the Add in
        self.maker: dict[str, int] = {}  # tensor -> the node that makes it (check_wiring)
        # Outputs of nodes already told: what reads them is not told again. Where the node is an
        # operator cnnctl does not know, or a layer on its own (layer_like), and its output is
        # data, it stands in as a layer instead (stand_in), so what reads it is read and told as
        # ever: every problem in one run.
        self.failed: set[str] = set()
        self.dropped: set[str] = set()  # outputs of layers taken into another (a SiLU's sigmoid)
        self.found: dict[tuple[str, str], list] = {}  # (operator, message) -> [first node, count, hint]
        # Patterns of several operators that make one layer, half read: a channel shuffle's
        # grid (Reshape to 5-D, then Transpose), layers over channels on channels-last data
        # (Transpose to NHWC, LayerNormalization, MatMul by a stored C_in x C_out weight and
        # Add of its bias, activations, Transpose back: ConvNeXt's block).
        self.grid: dict[str, tuple[str, int, bool, list]] = {}  # tensor -> (its volume, groups, transposed, nodes)
        # a radix softmax's groups of parts (Reshape to N x groups x radix x D x H x W, then Transpose):
        # tensor -> (its volume, groups, radix, transposed, nodes)
        self.radix: dict[str, tuple[str, int, int, bool, list]] = {}
        self.radix_out: set[str] = set()  # outputs of a radix softmax's Softmax, before the Reshape back
        self.nhwc: dict[str, tuple[str, int]] = {}  # tensor -> (the NCHW tensor it is a view of, the transpose)
        # tensors, as the nodes name them, that are channels-last (NHWC) data: the outputs of
        # layers read on it, of activations and Identities of it, until a Transpose back
        self.normed: set[str] = set()
        self.biases: dict[int, str] = {}  # an Add of a MatMul's bias -> the MatMul's output (the layer has it)
        # Layers that ONNX writes as several operators (find_patterns): a written-out GELU, GRN,
        # a convolution across the channels. Each is read at its last node (-> the pattern).
        self.patterns: dict[int, Pattern] = {}
        self.inside: set[int] = set()  # nodes of a pattern other than its last: read with it
        self.restrided: dict[int, str] = {}  # a Gather of every value in order (torch's as_strided) -> the tensor
        self.picked: set[str] = set()  # outputs of Gathers of one channel (x[:, k]), a chunk once unsqueezed
        self.unflattened: set[str] = set()  # means over H and W without keepdims a channel conv reads: pools alone
        # views that change nothing cnnctl holds, read as nothing: Reshapes of a channel conv's N x 1 x C (its
        # gate) to N x C x 1 x 1; a squeeze-and-excitation's views between N x C x 1 x 1 and N x C (excitation)
        self.relaid: set[int] = set()
        self.excited: set[int] = set()  # Gemms and MatMuls of a squeeze-and-excitation's N x C: 1x1 convs
        self._shapes: dict[str, tuple] | None = None  # tensor -> its dims, from ONNX's shape inference
        self.index = 0  # the node being read
        self.training_bns: list[int] = []  # BatchNormalizations of training_mode=1: read as at inference, said
        # the mean and std of the prelude export --with-preprocessing writes, where the network has it (read_prelude)
        self.prelude: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def real(self, t: str) -> str:
        while t in self.alias:
            t = self.alias[t]
        return t

    def read(self, i: int, node: NodeProto) -> None:
        self.index = i
        op = node.op_type
        operator = OPERATORS.get(op)
        if i in self.inside:  # a node of a pattern (a written-out GELU...): read with its last node
            return
        if node.output and (node.output[0] in self.laid_out or node.output[0] in self.failed):
            return  # a stored weight laid out (a stored value itself), or one that could not be: told
        pattern = self.patterns.get(i)
        # An operator cnnctl has no reader for (Sqrt, Abs) is a hole in a plain flow of data: what
        # reads it is read and told too; so is a node a reader refused that is a layer on its own
        # (layer_like). Another may be part of a pattern, whose other nodes would only echo it.
        unknown = node.domain not in ("", "ai.onnx") or (operator is None and pattern is None)
        given = [pattern.x] if pattern else [t for t in node.input if t]  # what it reads, as the nodes name it
        if any(t in self.failed for t in given):  # a value whose node was told: no more of it, whatever reads it
            self.failed.update(node.output)
            return
        try:
            if node.domain not in ("", "ai.onnx"):
                raise Unread(f"an operator of the domain {shown(node.domain)}", "cnnctl reads ONNX's own operators")
            if op in QUANTIZED:
                raise Unread(f"{op}, an operator of a quantized model (int8): no cnnctl layer kind does this",
                             QUANTIZED_HINT)  # fmt: skip
            if operator is None and pattern is None and not any(t in self.data for t in node.output):
                raise Unread(  # no data out: a value, worked out from sizes (a resize's from x.shape) or constants
                    f"works out a value with {comment_text(op, 40)}: cnnctl works out {', '.join(FOLDS)} of known "
                    "values (the sizes of an input of known size, constants)",
                    "re-export at a fixed size (torch.onnx.export without dynamic_axes or dynamic_shapes): the "
                    "exporter then writes the values it works out as constants"
                    if self.dynamic
                    else "the input's size is fixed: the value is worked out by an operator cnnctl does not; "
                    "onnxsim (onnx-simplifier) or onnxruntime's offline optimisation writes such values as constants",
                )
            if operator is None and pattern is None:  # a pattern may end in one read only there (Unsqueeze)
                raise Unread("no cnnctl layer kind does this", UNREAD_HINTS.get(op, f"cnnctl reads "
                              f"{operators_read(notes=False)}"))  # fmt: skip
            count = sum(1 for t in node.input[: operator.inputs] if t) if operator else 1
            if operator and count < operator.inputs:
                raise Unread(f"{op} needs {operator.inputs} inputs; it has {count}")
            ins = [self.real(t) for t in node.input if t]
            read = "relay" if i in self.relaid else pattern.read if pattern else operator.read
            layer = getattr(self, read)(node, attributes_of(node), ins)
            if layer is not None:
                for t in layer.inputs:
                    if t != self.source and t not in self.made:
                        raise Unread(self.not_a_layer(t))
            activation = (pattern.read in ("gelu", "mish")) if pattern else operator.activation and op != "Softmax"
            per_value = activation or op in ("Identity", "Dropout", "Cast")
            self.keep_channels_last(node, given, layer, per_value)
        except Unread as unread:
            self.tell(i, unread.message, unread.hint)
            if unknown or (pattern is None and self.layer_like(node)):
                self.stand_in(node)
            else:
                self.failed.update(node.output)
            return
        except (IndexError, KeyError, ValueError, TypeError, OverflowError, ZeroDivisionError):
            # what the checks above let through: told at the node, never a traceback
            self.tell(
                i, f"a malformed {comment_text(op, 40)} node", "onnx.checker.check_model(model) says what is wrong"
            )
            self.failed.update(node.output)
            return
        if layer is not None:
            layer.nodes.append(i)
            self.made[node.output[0]] = layer
            self.order.append((node.output[0], layer))

    def relay(self, node: NodeProto, a: dict, ins: list) -> None:
        """A view that changes nothing cnnctl holds (`relaid`): its output is its input, the node read
        with the layer that made it."""
        self.alias[node.output[0]] = ins[0]
        self.made[ins[0]].nodes.append(self.index)

    def stand_in(self, node: NodeProto) -> None:
        """After node `node`, an operator cnnctl does not know or a layer its reader refused
        (layer_like), was told: each of its outputs that is data (computed from the input's
        values) stands in as a layer of no kind, keeping the layout of what it read, so the
        nodes reading it are read and their own problems told too (a bilinear Resize after an
        Abs); one that is a value worked out from sizes is `failed`: what reads it would only
        fail for want of it."""
        nhwc = any(t in self.normed for t in node.input)
        for t in node.output:
            if not t:
                continue
            if t not in self.data:
                self.failed.add(t)
                continue
            self.made[t] = self.layer(f"({node.op_type})", [], [], t, [self.index])
            if nhwc:
                self.normed.add(t)

    def layer_like(self, node: NodeProto) -> bool:
        """Whether node `node`, refused by its reader, stands where a layer would: it reads
        volumes (the input, layers' outputs: not a tensor a pattern reshaped or transposed and
        holds half read) and keeps their rank (a Conv with auto_pad, a pool with dilations). Such
        a refusal is the node's own: what reads its output has problems of its own to tell (a
        bilinear Resize after it). A step of a pattern (ECA's Conv1d on N x 1 x C, a Reshape to
        -1, a Softmax across reshaped parts) is not: the steps after it would only echo it."""
        read = [t for t in node.input if t in self.data]
        if not read or any(self.real(t) != self.source and self.real(t) not in self.made for t in read):
            return False
        ranks = {len(dims) for t in (read[0], *node.output) if t and (dims := self.shape(t)) is not None}
        return len(ranks) <= 1  # the same rank in and out, where shape inference knows them

    def keep_channels_last(self, node: NodeProto, given: list, layer: Layer | None, value_by_value: bool) -> None:
        """A node reading channels-last (NHWC) data: an activation's or an Identity's output stays
        so; the readers over channels (layer norm, MatMul and its bias, SiLU, a Transpose back)
        mark their own; any other would misread it, and is told."""
        nhwc = next((t for t in given if t in self.normed), None)
        if nhwc is None or node.output[0] in self.normed or node.op_type == "Transpose":
            return
        if value_by_value:  # value by value: the layout stays
            self.normed.add(node.output[0])
            return
        read_as = f"as a `{layer.kind}` layer" if layer is not None else f"in a {comment_text(node.op_type, 40)}"
        raise Unread(
            f"reads {shown(nhwc)}, channels-last (NHWC) data, {read_as}",
            "cnnctl reads channels-last data through a layer norm, a MatMul by stored weights (a 1x1 conv) and "
            "activations, until a Transpose back to NCHW",
        )

    def not_a_layer(self, t: str) -> str:
        """Why a layer cannot read tensor `t`: it is stored values, or no layer's output."""
        if t in self.inits or t in self.constants:
            return f"reads the stored values {shown(t)}: cnnctl's layers read the input and other layers"
        maker = self.maker.get(t)
        made_by = f", made by {self.describe(maker)}," if maker is not None else ""
        return f"reads {shown(t)}{made_by} which is no layer cnnctl reads"

    def weight_name(self, t: str, fallback: str) -> str:
        """`layer1.0.conv1.weight` (or its `.bias`) -> `layer1_0_conv1`; `fallback` where `t` is not so
        named. A stored weight laid out in the graph (`/fc1/Transpose_output_0`) is named by its source's."""
        ends = (".weight", ".bias")
        base = next((n[: -len(end)] for n in (t, self.origin(t)) for end in ends if n.endswith(end)), fallback)
        return NAME.sub("_", base.replace(".", "_")).strip("_") or "layer"

    def layer(
        self, kind: str, words: list, inputs: list, name: str, nodes: list | None = None, stored: tuple = ()
    ) -> Layer:
        return Layer(kind, words, inputs, name, list(nodes or []), stored)
