"""An ONNX file read back into cnnctl's notation (`cnnctl import model.onnx -o net.yaml`).

Reads the graph with the `onnx` package (no runtime, no torch, nothing executed: ONNX is
data) and maps each operator to a layer kind: Conv, ConvTranspose, BatchNormalization,
Gemm, pooling, Add, Mul, Concat, Flatten, Resize and the activations. An activation whose
input is read by nothing else joins the layer before it as `act=` (`conv ... act=relu`), as
does x * sigmoid(x) (SiLU). A layer gets an id only where a later layer other than the next
reads it; ids come from the weights' names (`layer1.1.conv1.weight` -> `layer1_1_conv1`),
else from the ONNX node's. An operator with no cnnctl kind is a located problem naming the
ONNX node and its operator; every such problem of a file is told in one run.
"""

from __future__ import annotations

import math
import re

from ..errors import CnnctlError, Loc, Problem
from ..records import record
from .write_notation import Entry, write_layers

NAME = re.compile(r"[^A-Za-z0-9_-]+")
ACTIVATIONS = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "HardSwish": "hardswish",
    "Elu": "elu",
    "Gelu": "gelu",  # exact (erf): an approximate="tanh" is refused in read()
    "Mish": "mish",
}
FUSES = ("conv", "deconv", "fc", "bn", "add", "mul")  # kinds with an `act=` argument
MAX_NODES = 200_000
READS = (
    "cnnctl reads Conv, ConvTranspose, BatchNormalization, LayerNormalization, LRN, Gemm, MaxPool, AveragePool, "
    "the global pools, Add, Mul, Concat, Flatten, Resize, Slice (channels), a channel shuffle, Identity, Dropout "
    "and the activations"
)


@record
class Layer:
    kind: str  # cnnctl kind, for fusing
    words: list  # the shorthand after the kind: ["f=3", "n=64"]
    inputs: list  # tensor names read
    name: str  # the id it would take


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pair(values) -> str:
    a, b = int(values[0]), int(values[1])
    return str(a) if a == b else f"{a}x{b}"


def _node_id(node, fallback: str) -> str:
    """`/layer1/add_1/Add` -> `add_1`: the scope torch's exporter names a node by, its operator left out."""
    parts = [p for p in node.name.split("/") if p]
    return parts[-2] if len(parts) >= 2 else parts[0] if parts else fallback


def read_onnx(path: str):
    try:
        import onnx
    except ImportError:
        raise CnnctlError.at(
            "reading ONNX needs the `onnx` package", hint="pip install 'cnnctl[onnx]' (or just `pip install onnx`)"
        ) from None
    try:
        model = onnx.load(path, load_external_data=False)
    except FileNotFoundError:
        raise CnnctlError.at("no such file", Loc(path)) from None
    except IsADirectoryError:
        raise CnnctlError.at("a folder, not an ONNX file", Loc(path)) from None
    except Exception:  # protobuf's DecodeError and friends: not what it claims to be
        raise CnnctlError.at(
            "not a readable ONNX file", Loc(path), hint="was it cut short, or is it another format?"
        ) from None
    if len(model.graph.node) > MAX_NODES:
        raise CnnctlError.at(f"{len(model.graph.node):,} ONNX nodes: more than cnnctl reads ({MAX_NODES:,})", Loc(path))
    return model


def import_onnx(path: str, name: str | None = None) -> str:
    """The network of the ONNX file at `path` in cnnctl's notation, as YAML text."""
    model = read_onnx(path)
    reader = _Reader(model, path)
    for node in model.graph.node:
        reader.read(node)
    reader.raise_problems()
    if not reader.order:
        raise CnnctlError.at("the graph has no layers cnnctl reads", Loc(path))
    return _write(model, path, name, reader.input_shape, reader.source, reader.order)


class _Unread(Exception):
    """A node cnnctl cannot express: what it does, and a hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


class _Reader:
    """One pass over an ONNX graph: each operator's reader makes a Layer (or joins an
    activation to the layer before); the tensors name what each layer reads."""

    def __init__(self, model, path: str):
        from onnx import numpy_helper

        graph = model.graph
        self.path = path
        self.inits = {i.name: i for i in graph.initializer}
        self.consts = {}  # small constants: clip bounds, resize scales
        for node in graph.node:
            if node.op_type == "Constant" and node.output and (value := _attrs(node).get("value")) is not None:
                self.consts[node.output[0]] = numpy_helper.to_array(value)
        for name, init in self.inits.items():
            if len(init.dims) <= 1 and math.prod(init.dims) <= 8:
                self.consts[name] = numpy_helper.to_array(init)
        inputs = [i for i in graph.input if i.name not in self.inits]
        if len(inputs) != 1:
            raise CnnctlError.at(f"the graph has {len(inputs)} inputs; cnnctl networks take one image", Loc(path))
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or not all(dims[1:]):
            shown = "x".join(str(d or "?") for d in dims)
            raise CnnctlError.at(
                f"its input is {shown}: cnnctl reads networks of an image NCHW with known C, H and W", Loc(path)
            )
        self.input_shape = (dims[2], dims[3], dims[1])
        self.source = inputs[0].name
        self.alias: dict[str, str] = {}  # tensor -> the tensor it equals (Identity, a joined activation)
        self.made: dict[str, Layer] = {}  # tensor -> the layer whose output it is
        self.order: list[tuple[str, Layer]] = []  # (output tensor, layer), in graph order
        self.readers: dict[str, int] = {}  # tensor -> how many nodes read it
        for node in graph.node:
            for t in node.input:
                self.readers[t] = self.readers.get(t, 0) + 1
        self.found: dict[tuple[str, str], list] = {}  # (operator, message) -> [first node, count, hint]
        # Patterns of several operators that make one layer, half read: a channel shuffle's
        # grid (Reshape to 5-D, then Transpose), a layer norm over channels (Transpose to
        # NHWC, LayerNormalization, Transpose back).
        self.grid: dict[str, tuple[str, int, bool]] = {}  # tensor -> (its volume, groups, transposed yet)
        self.nhwc: dict[str, str] = {}  # tensor -> the NCHW tensor it is a transposed view of
        self.normed: set[str] = set()  # layer norms' outputs, still NHWC
        self.channels: dict[str, int] = {}  # tensor -> its channels, from ONNX's shape inference
        try:
            import onnx

            inferred = onnx.shape_inference.infer_shapes(model).graph
            for info in [*inferred.value_info, *inferred.input]:
                dims = info.type.tensor_type.shape.dim
                if len(dims) >= 2 and dims[1].dim_value:
                    self.channels[info.name] = dims[1].dim_value
        except Exception:  # shapes are a help for slices only: without them a slice is not read
            pass
        self.operators = {
            "Identity": self.identity,
            "Dropout": self.identity,
            "Constant": lambda node, a, ins: None,
            "Conv": self.conv,
            "ConvTranspose": self.conv,
            "BatchNormalization": self.bn,
            "Gemm": self.gemm,
            "Flatten": self.flatten,
            "MaxPool": self.pool,
            "AveragePool": self.pool,
            "GlobalAveragePool": self.global_pool,
            "GlobalMaxPool": self.global_pool,
            "Concat": self.concat,
            "Add": lambda node, a, ins: Layer("add", [], ins, _node_id(node, "add")),
            "Mul": self.mul,
            "LeakyRelu": lambda node, a, ins: self.activation(node, f"leaky slope={float(a.get('alpha', 0.01)):g}"),
            "HardSigmoid": self.hardsigmoid,
            "Clip": self.clip,
            "Softmax": self.softmax,
            "Resize": self.resize,
            "Upsample": self.resize,
            "Reshape": self.reshape,
            "Transpose": self.transpose,
            "Slice": self.slice,
            "LayerNormalization": self.layernorm,
            "LRN": self.lrn,
            **{op: (lambda node, a, ins, act=act: self.activation(node, act)) for op, act in ACTIVATIONS.items()},
        }

    # -- the pass --------------------------------------------------------------------------
    def real(self, t: str) -> str:
        while t in self.alias:
            t = self.alias[t]
        return t

    def read(self, node) -> None:
        ins = [self.real(t) for t in node.input if t]
        reader = self.operators.get(node.op_type)
        try:
            if reader is None:
                raise _Unread("no cnnctl layer kind does this", READS)
            if node.op_type == "Gelu" and _attrs(node).get("approximate", b"none") not in (b"none", "none"):
                raise _Unread("GELU's tanh approximation", "cnnctl's gelu is the exact one (erf)")
            layer = reader(node, _attrs(node), ins)
        except _Unread as unread:
            seen = self.found.setdefault((node.op_type, unread.message), [node.name or node.op_type, 0, unread.hint])
            seen[1] += 1  # told once per operator and message, with the first node and how many more
            return
        if layer is not None:
            self.made[node.output[0]] = layer
            self.order.append((node.output[0], layer))

    def raise_problems(self) -> None:
        problems, hinted = [], set()
        for (op, message), (first, count, hint) in self.found.items():
            more = f" (and {count - 1:,} more {op} node{'s' if count > 2 else ''})" if count > 1 else ""
            shown = None if hint in hinted else hint
            problems.append(Problem(f"ONNX node `{first}` ({op}){more}: {message}", Loc(self.path), None, shown))
            hinted.add(hint)
        if problems:
            raise CnnctlError(problems)

    def const(self, node, i: int):
        return self.consts.get(node.input[i]) if len(node.input) > i and node.input[i] else None

    @staticmethod
    def weight_name(t: str, fallback: str) -> str:
        base = t[: -len(".weight")] if t.endswith(".weight") else fallback
        return NAME.sub("_", base.replace(".", "_")).strip("_") or "layer"

    # -- operators -------------------------------------------------------------------------
    def identity(self, node, a: dict, ins: list) -> None:
        self.alias[node.output[0]] = ins[0]

    def conv(self, node, a: dict, ins: list) -> Layer:
        weight = self.inits.get(node.input[1])
        if weight is None:
            raise _Unread("its weights are not stored in the file", "export with the weights as initializers")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise _Unread("auto_pad is not read", "export with explicit pads")
        groups = int(a.get("group", 1))
        transposed = node.op_type == "ConvTranspose"
        if transposed and any(a.get("output_padding", [0, 0])):
            raise _Unread("output_padding is not read", "cnnctl's deconv has none")
        n_out = int(weight.dims[1]) * groups if transposed else int(weight.dims[0])
        words = [f"f={_pair(weight.dims[2:])}", *_window(a), f"n={n_out}"]
        if list(a.get("dilations", [1, 1])) != [1, 1]:
            words.insert(-1, f"dilation={_pair(a['dilations'])}")
        if groups != 1:
            words.append(f"groups={groups}")
        if len(node.input) < 3 or not node.input[2]:
            words.append("bias=false")
        kind = "deconv" if transposed else "conv"
        return Layer(kind, words, ins[:1], self.weight_name(node.input[1], _node_id(node, kind)))

    def bn(self, node, a: dict, ins: list) -> Layer:
        eps = float(a.get("epsilon", 1e-5))
        words = [] if math.isclose(eps, 1e-5, rel_tol=1e-6) else [f"eps={eps:g}"]
        return Layer("bn", words, ins[:1], self.weight_name(node.input[1], _node_id(node, "bn")))

    def gemm(self, node, a: dict, ins: list) -> Layer:
        weight = self.inits.get(node.input[1])
        if weight is None or a.get("alpha", 1.0) != 1.0 or a.get("transA", 0):
            raise _Unread("only x @ W^T + b with stored weights is read")
        units = int(weight.dims[0] if a.get("transB", 0) else weight.dims[1])
        words = [str(units)] + ([] if len(node.input) > 2 and node.input[2] else ["bias=false"])
        return Layer("fc", words, ins[:1], self.weight_name(node.input[1], _node_id(node, "fc")))

    def flatten(self, node, a: dict, ins: list) -> Layer:
        if int(a.get("axis", 1)) != 1:
            raise _Unread(f"flattens from axis {a.get('axis')}", "cnnctl flattens everything but the batch")
        return Layer("flatten", [], ins[:1], _node_id(node, "flatten"))

    def pool(self, node, a: dict, ins: list) -> Layer:
        kernel = list(a.get("kernel_shape", [1, 1]))
        if list(a.get("dilations", [1, 1])) != [1, 1]:
            raise _Unread("dilated pooling is not read")
        average = node.op_type == "AveragePool"
        words = ["avg" if average else "max", f"f={_pair(kernel)}", *_window(a, stride=kernel)]
        if average and any(w.startswith("p=") for w in words) and not a.get("count_include_pad", 0):
            raise _Unread("averages without the padding", "cnnctl's avg pool counts the padding, as torch's")
        if a.get("ceil_mode", 0):
            words.append("ceil")
        return Layer("pool", words, ins[:1], _node_id(node, "pool"))

    def global_pool(self, node, a: dict, ins: list) -> Layer:
        op = "avg" if node.op_type == "GlobalAveragePool" else "max"
        return Layer("pool", [op, "global"], ins[:1], _node_id(node, "pool"))

    def concat(self, node, a: dict, ins: list) -> Layer:
        if int(a.get("axis", 1)) != 1:
            raise _Unread(f"joins along axis {a.get('axis')}", "cnnctl concatenates channels (axis 1)")
        return Layer("concat", [], ins, _node_id(node, "concat"))

    def mul(self, node, a: dict, ins: list) -> Layer | None:
        x, y = ins[0], ins[1]
        sig = self.made.get(y)
        if sig is not None and sig.kind == "sigmoid" and sig.inputs == [x] and self.readers.get(node.input[1]) == 1:
            self.order.remove((y, sig))  # x * sigmoid(x): SiLU, one activation
            del self.made[y]
            return self.activation(node, "silu", reads=2)
        if y in self.inits and len(self.inits[y].dims) in (1, 3):  # a learned factor per channel
            return Layer("layerscale", [], [x], self.weight_name(y, _node_id(node, "layerscale")))
        if x in self.inits or y in self.inits:
            raise _Unread("multiplies by stored values other than a factor per channel")
        return Layer("mul", [], ins, _node_id(node, "mul"))

    def hardsigmoid(self, node, a: dict, ins: list) -> Layer | None:
        if not (math.isclose(a.get("alpha", 0.2), 1 / 6, rel_tol=1e-4) and math.isclose(a.get("beta", 0.5), 0.5)):
            raise _Unread("alpha and beta are not PyTorch's 1/6 and 1/2")
        return self.activation(node, "hardsigmoid")

    def clip(self, node, a: dict, ins: list) -> Layer | None:
        low, high = a.get("min", self.const(node, 1)), a.get("max", self.const(node, 2))
        if low is None or high is None or float(low) != 0.0 or float(high) != 6.0:
            raise _Unread("a clip other than [0, 6] (relu6)")
        return self.activation(node, "relu6")

    def softmax(self, node, a: dict, ins: list) -> Layer | None:
        if int(a.get("axis", -1)) not in (1, -1):
            raise _Unread(f"softmax over axis {a.get('axis')}", "cnnctl's runs over the channels")
        return self.activation(node, "softmax")

    def resize(self, node, a: dict, ins: list) -> Layer:
        scales = self.const(node, 2 if node.op_type == "Resize" else 1)
        mode = a.get("mode", b"nearest")
        if scales is None or len(scales) != 4 or scales[2] != scales[3] or mode not in (b"nearest", "nearest"):
            raise _Unread("only nearest upsampling by a whole factor is read")
        return Layer("upsample", [str(int(scales[2]))], ins[:1], _node_id(node, "upsample"))

    def reshape(self, node, a: dict, ins: list) -> Layer | None:
        shape = self.const(node, 1)
        x = ins[0]
        if shape is not None and len(shape) == 5 and x not in self.grid:  # a shuffle's grid: N, groups, C/groups, H, W
            self.grid[node.output[0]] = (x, int(shape[1]), False)
            return None
        if x in self.grid and self.grid[x][2] and shape is not None and len(shape) in (2, 4):
            volume, groups, _ = self.grid[x]
            return Layer("shuffle", [str(groups)], [volume], _node_id(node, "shuffle"))
        raise _Unread("a reshape other than a channel shuffle's")

    def transpose(self, node, a: dict, ins: list) -> None:
        perm, x, out = list(a.get("perm", [])), ins[0], node.output[0]
        if perm == [0, 2, 1, 3, 4] and x in self.grid:
            volume, groups, _ = self.grid[x]
            self.grid[out] = (volume, groups, True)
        elif perm == [0, 2, 3, 1]:
            self.nhwc[out] = x
        elif perm == [0, 3, 1, 2] and x in self.normed:
            self.alias[out] = x  # back to NCHW: the layer norm's output
        else:
            raise _Unread(f"a transpose {perm} that is not part of a channel shuffle or layer norm")

    def layernorm(self, node, a: dict, ins: list) -> Layer:
        if int(a.get("axis", -1)) != -1 or len(ins) < 2:
            raise _Unread("a layer norm over more than the last axis")
        eps = float(a.get("epsilon", 1e-5))
        words = [] if math.isclose(eps, 1e-5, rel_tol=1e-6) else [f"eps={eps:g}"]
        x = ins[0]
        if x in self.nhwc:  # over the channels of each position of a volume
            self.normed.add(node.output[0])
            x = self.nhwc[x]
        return Layer("layernorm", words, [x], self.weight_name(node.input[1], _node_id(node, "layernorm")))

    def lrn(self, node, a: dict, ins: list) -> Layer:
        size, alpha, beta, k = (
            int(a["size"]),
            float(a.get("alpha", 1e-4)),
            float(a.get("beta", 0.75)),
            float(a.get("bias", 1.0)),
        )
        return Layer(
            "lrn", [str(size), f"alpha={alpha:g}", f"beta={beta:g}", f"k={k:g}"], ins[:1], _node_id(node, "lrn")
        )

    def slice(self, node, a: dict, ins: list) -> Layer:
        starts, ends, axes = self.const(node, 1), self.const(node, 2), self.const(node, 3)
        steps = self.const(node, 4)
        channels = self.channels.get(node.input[0])
        if starts is None or ends is None or axes is None or list(axes) != [1] or channels is None:
            raise _Unread("a slice other than a part of the channels")
        if steps is not None and list(steps) != [1]:
            raise _Unread("a strided slice")
        start, end = int(starts[0]), min(int(ends[0]), channels)
        size = end - start
        if size <= 0 or channels % size or start % size:
            raise _Unread(f"channels {start} to {end} of {channels}: not one of equal parts")
        return Layer("chunk", [str(channels // size), f"i={start // size + 1}"], ins[:1], _node_id(node, "chunk"))

    def activation(self, node, act: str, reads: int = 1) -> Layer | None:
        """`act` joins the layer before as `act=` where nothing else reads that layer (SiLU's
        x * sigmoid(x) reads it twice); else it is a layer of its own."""
        x = self.real(node.input[0])
        prev = self.made.get(x)
        plain = " " not in act  # an inline act has no arguments (leaky's slope)
        alone = self.readers.get(node.input[0], 0) == reads
        if plain and prev is not None and prev.kind in FUSES and alone and not any("act=" in w for w in prev.words):
            prev.words.append(f"act={act}")
            self.alias[node.output[0]] = x
            return None
        kind, *words = act.split()
        return Layer(kind, words, [x], _node_id(node, kind))


def _window(a: dict, stride: list | None = None) -> list[str]:
    """`s=` and `p=` of a conv or pool (a pool's stride defaults to its window); uneven padding is unread."""
    words = []
    strides = list(a.get("strides", [1, 1]))
    if strides != (stride or [1, 1]):
        words.append(f"s={_pair(strides)}")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise _Unread(f"uneven padding {pads}", "cnnctl pads both sides of an axis alike")
    if pads[0] or pads[1]:
        words.append(f"p={_pair(pads[:2])}")
    return words


def _write(model, path: str, name: str | None, shape, source: str, order: list) -> str:
    """The layers as a network file: references only where a layer does not simply read the one before."""
    reads: dict[str, list[Layer]] = {}
    for _, layer in order:
        for t in layer.inputs:
            reads.setdefault(t, []).append(layer)
    # A flatten read only by an fc is implicit in cnnctl (an fc flattens a volume itself).
    through: dict[str, str] = {}
    kept = []
    for t, layer in order:
        if layer.kind == "flatten" and [u.kind for u in reads.get(t, [])] == ["fc"]:
            through[t] = layer.inputs[0]
        else:
            kept.append((t, layer))
    position = {t: i for i, (t, _) in enumerate(kept)}
    position[source] = -1
    entries = [
        Entry(
            " ".join([layer.kind, *layer.words]), tuple(position[through.get(u, u)] for u in layer.inputs), layer.name
        )
        for _, layer in kept
    ]
    lines = write_layers(entries)
    h, w, c = shape
    file = path.rsplit("/", 1)[-1]
    own = model.graph.name if model.graph.name not in ("", "main_graph", "torch_jit", "torch-jit-export") else ""
    title = name or NAME.sub("_", own or file.rsplit(".", 1)[0]).strip("_") or "imported"
    producer = " ".join(x for x in (model.producer_name, model.producer_version) if x)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), "?")
    head = [
        f"# Imported by cnnctl from {file} (ONNX opset {opset}{', written by ' + producer if producer else ''}):",
        f"# {len(model.graph.node):,} ONNX nodes read as {len(kept):,} layers.",
        "version: 1",
        f"name: {title}",
        f"input: {h}x{w}x{c}",
        "layers:",
    ]
    return "\n".join([*head, *lines]) + "\n"
