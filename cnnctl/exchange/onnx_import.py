"""An ONNX file read back into cnnctl's notation (`cnnctl import model.onnx -o net.yaml`).

Reads the graph with the `onnx` package (no runtime, no torch, nothing executed: ONNX is
data) and maps each operator of OPERATORS to a layer kind (that table is what `cnnctl import
--help` lists, and what an unknown operator's hint names). An activation whose input is read
by nothing else joins the layer before it as `act=` (`conv ... act=relu`), as does
x * sigmoid(x) (SiLU). A layer gets an id only where a later layer other than the next reads
it; ids come from the weights' names (`layer1.1.conv1.weight` -> `layer1_1_conv1`), else from
the ONNX node's. What cnnctl cannot read is a problem naming the ONNX node (its name,
operator and index), at the file; every such problem of a file is told in one run.

An ONNX file is anything anyone wrote, so what is read is bounded (cnnctl/limits.py):

- The file: only a regular file (a folder, a FIFO, a device is refused before it is opened,
  and it is opened without blocking and checked again), of at most MAX_ONNX_BYTES (2 GiB,
  protobuf's own limit for one message), read by cnnctl and then parsed.
- The graph is checked before any node is read: each input made by the graph's input, an
  initializer or an earlier node (so a cycle is a located problem, not a loop), each node with
  an output, no tensor made twice, each operator with the inputs and the attributes (of the
  right types) it needs. Whatever still trips a reader is a located "malformed node" problem.
- External data (tensors whose values lie in another file): `onnx` is never let resolve it.
  Importing a network needs only a weight's dims, which the file holds even where its values
  lie elsewhere: `import_onnx` never reads them; `read_weights` reads one when asked (`cnnctl
  import -o` writes them beside the network, `--weights FILE.onnx` loads them), by the same
  rules as the constants below. The constants whose values are read (clip bounds, resize
  scales, reshape shapes, slice bounds) are read only where they hold at most
  MAX_ONNX_CONSTANT values, and, where stored outside, only from a regular file inside the
  model's own folder (the folder of the path given, never the working directory): a location
  that is absolute or holds `..`, a link leading out of the folder, a FIFO, a device, or an
  offset and length that do not fit the file or the tensor are refused, at the node.
- The network made is built to check it (`build_imported`); a layer that does not build is
  told at the ONNX node(s) it came from, with the builder's shapes and hint.
"""

from __future__ import annotations

import math
import os
import re
import stat

from ..errors import CnnctlError, LimitError, Loc, Problem, shown, too_many
from ..layers import KINDS
from ..layers.base import exact_number
from ..limits import MAX_CHANNEL_VALUES, MAX_ONNX_BYTES, MAX_ONNX_CONSTANT, MAX_ONNX_NODES, MAX_PROBLEMS
from ..records import record
from .preprocessing import recorded_in_onnx
from .write_notation import Entry, traced_layers

NAME = re.compile(r"[^A-Za-z0-9_-]+")
GENERATED = "<imported>"  # the file name the text made is built under, before its lines are traced back
# ONNX operator -> the activation kind it is read as, where it has no attributes to read
# (each kind declares its `onnx_op`; Gelu's approximate="tanh" is refused).
ACTIVATIONS = {kind.onnx_op: name for name, kind in KINDS.items() if kind.onnx_op}
# The element types of a constant whose values are read (TensorProto's names).
NUMBERS = {"FLOAT", "DOUBLE", "FLOAT16", "BOOL", "INT8", "INT16", "INT32", "INT64",
           "UINT8", "UINT16", "UINT32", "UINT64"}  # fmt: skip
FUSES = frozenset(name for name, kind in KINDS.items() if kind.takes_act)  # kinds with an `act=` argument


@record
class Operator:
    read: str  # the _Reader method that reads it
    inputs: int = 1  # the inputs it must have (the first ones; later ones are optional)
    note: str = ""  # what of it is read, where not every use of it (said by --help)
    activation: bool = False


OPERATORS = {
    "Conv": Operator("conv", 2, "2-D"),
    "ConvTranspose": Operator("conv", 2, "2-D, no output_padding"),
    "BatchNormalization": Operator("bn", 5),
    "LayerNormalization": Operator("layernorm", 2, "over the channels, between transposes to and from NHWC"),
    "LRN": Operator("lrn"),
    "Gemm": Operator("gemm", 2, "x @ W^T + b"),
    "MatMul": Operator("matmul", 2, "by stored weights over the channels of channels-last data, as a 1x1 conv"),
    "MaxPool": Operator("pool"),
    "AveragePool": Operator("pool"),
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
    "Concat": Operator("concat", 1, "of channels; of one input, nothing"),
    "Flatten": Operator("flatten", 1, "from axis 1"),
    "Resize": Operator("resize", 1, "nearest, by a whole factor"),
    "Upsample": Operator("resize", 1, "nearest, by a whole factor"),
    "Slice": Operator("slice", 3, "a part of the channels: an equal one as `chunk`, any other as `slice`"),
    "Split": Operator("split", 1, "into equal parts of the channels: a chunk each"),
    "Shape": Operator("fold", 1, "of a tensor whose size is known: a value the others read"),
    "Gather": Operator(
        "gather",
        2,
        "of one channel, unsqueezed back, a chunk; of every value in order after a Reshape to -1, nothing; "
        "of known values",
    ),
    "Unsqueeze": Operator("unsqueeze", 1, "of one channel a Gather picked, at axis 1"),
    "Sub": Operator("sub", 2, "of a layer and a constant after it, one or one per channel, an affine; of known values"),
    "Div": Operator("div", 2, "of a layer by a constant, one or one per channel, an affine; of known values"),
    "Reshape": Operator(
        "reshape", 2, "to N x -1, a flatten; with Transpose, a channel shuffle; with Softmax, a radix softmax"
    ),
    "Transpose": Operator("transpose", 1, "in a channel shuffle, a radix softmax or around a LayerNormalization"),
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


# How a stored tensor becomes a parameter or buffer of cnnctl's layer (Layer.stored): as it is;
# transposed (Gemm's W^T, a MatMul's C_in x C_out as a 1x1 conv's C_out x C_in); negated (what a
# Sub takes away, an affine's shift); its reciprocal (what a Div divides by, an affine's scale).
READ_AS = {"": lambda v: v, "transposed": lambda v: v.T, "negated": lambda v: -v, "reciprocal": lambda v: 1 / v}

FOLDED = object()  # in _Reader.constants: a value worked out from known ones (_Reader.fold)
MAX_FOLDED = 64  # the most values an operation on known sizes reads (a shape has a few)


def operators_read(notes: bool = True) -> str:
    """The operators of OPERATORS in words: `Conv (2-D), ...; the activations Relu, ...`."""

    def named(op: str, operator: Operator) -> str:
        return f"{op} ({operator.note})" if notes and operator.note else op

    layers = [named(op, o) for op, o in OPERATORS.items() if not o.activation]
    activations = [named(op, o) for op, o in OPERATORS.items() if o.activation]
    silu = (
        "; Mul of x and Sigmoid(x) as silu; x * 0.5 * (1 + Erf(x / sqrt(2))) as gelu; "
        "gamma * (x * N) + beta + x with N = ReduceL2 over H, W / (its ReduceMean over C + eps), on NCHW or "
        "channels-last data, as grn; "
        "Reshape to N x 1 x C x HW, a Conv of one f x 1 filter and Reshape back, or Squeeze, Transpose, a Conv1d "
        "of one filter, Transpose and Unsqueeze of a pooled 1x1xC, or a Conv1d of one filter on a ReduceMean over "
        "H, W reshaped to N x 1 x C, its gate reshaped to N x C x 1 x 1, as channelconv"
        if notes
        else ""
    )
    return f"{', '.join(layers)}; the activations {', '.join(activations)}{silu}"


@record
class Layer:
    kind: str  # cnnctl kind, for fusing
    words: list  # the shorthand after the kind: ["f=3", "n=64"]
    inputs: list  # tensor names read
    name: str  # the id it would take
    nodes: list  # the indices of the ONNX nodes it comes from
    stored: tuple = ()  # (its parameter in cnnctl's module, the ONNX tensor holding it, how: READ_AS)


@record
class Pattern:
    """A layer that ONNX writes as several operators, found before the pass (find_patterns)."""

    read: str  # the _Reader method that reads it, at its last node
    x: str  # the tensor it reads, as the nodes name it
    nodes: list  # its nodes but the last
    last: int  # its last node, whose output is the layer's
    held: tuple = ()  # what else it found: a GRN's gamma, beta, eps and layout; a channel conv's filter and size
    # timm's ECA (channelconv_timm_at): the mean over H and W without keepdims it reads, read as the
    # pool alone (its N x C as cnnctl's 1x1xC), and the Reshape of its gate back to N x C x 1 x 1
    pooled: str = ""
    back: int | None = None


# The operator each pattern starts from -> the _Reader method that finds it there.
PATTERN_STARTS = {"Erf": "gelu_at", "ReduceL2": "grn_at", "Conv": "channelconv_at"}
# Other patterns from the same operator: tried in turn where the first is not found.
PATTERN_ALSO = {"channelconv_at": ("channelconv1d_at", "channelconv_timm_at")}


@record
class Imported:
    text: str  # the network file
    origins: dict  # line of `text` (1-based) -> for each layer it writes, the ONNX nodes it comes from
    layers: tuple = ()  # the Layers written, in the order of the network's nodes once built


class _Unread(Exception):
    """What cnnctl refuses to read, and a hint: a node it cannot express, a file it will not open."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


def _comment(text: str, limit: int = 80) -> str:
    """Text from the file made safe for a YAML comment: no line breaks (YAML counts U+2028 as one)."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


# -- the file ------------------------------------------------------------------------------------
def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a plain file"


REGULAR = "cnnctl reads only regular files: a FIFO or a device could block it or never end"


def _regular_bytes(
    path: str, limit: int, offset: int = 0, length: int | None = None, inside: str | None = None
) -> bytearray:
    """The bytes of the regular file `path`: all of them (at most `limit`), or `length` from `offset`.

    A folder, a FIFO or a device is refused before it is opened (opening a FIFO waits for a
    writer; /dev/zero never ends); the file is opened without blocking and checked again, in
    case another took its place in between. `inside`: the folder the file opened must lie in,
    checked again on the open file where the system names it (/proc/self/fd), so a link swapped
    in after the path was checked leads nowhere. Raises _Unread.
    """
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _Unread(f"{_kind_of(mode)}, not a regular file", REGULAR)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise _Unread("no such file") from None
    except PermissionError:
        raise _Unread("cannot be read: permission denied") from None
    except (OSError, ValueError) as exc:  # a loop of links, a name too long, a NUL in it
        raise _Unread(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(fd, "rb", buffering=0) as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Unread(f"{_kind_of(info.st_mode)}, not a regular file", REGULAR)
        opened = f"/proc/self/fd/{fd}"
        named = inside is not None and os.path.exists(opened)
        if named and os.path.commonpath([inside, os.path.realpath(opened)]) != inside:
            raise _Unread("not a file inside the model's folder (it was replaced by a link while read)")
        if length is None:
            if info.st_size > limit:
                raise _Unread(f"{info.st_size:,} bytes: more than cnnctl reads ({limit:,})")
            length = info.st_size
        elif offset + length > info.st_size:
            raise _Unread(f"bytes {offset:,} to {offset + length:,} of a file of {info.st_size:,}")
        data = bytearray(length)
        view, got = memoryview(data), 0
        file.seek(offset)
        while got < length:
            n = file.readinto(view[got:])
            if not n:  # it shrank while read
                break
            got += n
        return data[:got] if got < length else data


def read_onnx(path: str):
    """The ModelProto of the file at `path`; a CnnctlError at the file where it is not one."""
    try:
        import onnx
    except ImportError:
        raise CnnctlError.at(
            "reading ONNX needs the `onnx` package", hint="pip install 'cnnctl[onnx]' (or just `pip install onnx`)"
        ) from None
    try:
        data = _regular_bytes(path, MAX_ONNX_BYTES)
    except _Unread as refused:
        raise CnnctlError.at(refused.message, Loc(path), hint=refused.hint) from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # protobuf's DecodeError and friends: not what it claims to be
        raise CnnctlError.at(
            "not a readable ONNX file", Loc(path), hint="was it cut short, or is it another format?"
        ) from None
    if not model.HasField("graph"):
        raise CnnctlError.at("an ONNX file with no graph", Loc(path), hint="was it cut short, or is it another format?")
    if len(model.graph.node) > MAX_ONNX_NODES:
        raise CnnctlError.at(
            f"{len(model.graph.node):,} ONNX nodes: more than cnnctl reads ({MAX_ONNX_NODES:,})", Loc(path)
        )
    return model


# -- from a file to the notation ---------------------------------------------------------------
def import_onnx(path: str, name: str | None = None) -> str:
    """The network of the ONNX file at `path` in cnnctl's notation, as YAML text."""
    return read_network(path, name).text


def read_network(path: str, name: str | None = None) -> Imported:
    """The network of the ONNX file at `path`, and where each of its lines comes from."""
    return _read(path, name)[0]


def _read(path: str, name: str | None) -> tuple[Imported, _Reader]:
    model = read_onnx(path)
    reader = _Reader(model, path)
    reader.check_wiring()  # a graph whose wiring is broken is not read further: every node would be noise
    reader.read_prelude()  # uint8 pixels in: the network after the normalisation export --with-preprocessing writes
    reader.find_patterns()
    for i, node in enumerate(model.graph.node):
        reader.read(i, node)
    reader.raise_problems()
    if not reader.order:
        raise CnnctlError.at("the graph has no layers cnnctl reads", Loc(path))
    return _write(model, path, name, reader), reader


def build_imported(path: str, name: str | None = None):
    """(text, graph): the network of the ONNX file at `path`, built. A layer that does not build
    is told at the ONNX node(s) it came from, in the file given, not at a line of the text made."""
    imported = read_network(path, name)
    return imported.text, _built(imported, path)


def _built(imported: Imported, path: str):
    from ..api import load_text

    try:
        return load_text(imported.text, GENERATED)
    except CnnctlError as exc:
        problems = [_traced(p, imported, path) for p in exc.problems]
        raise (LimitError if isinstance(exc, LimitError) else CnnctlError)(problems) from None


@record
class ImportedWeights:
    """A network read from ONNX and built, with the weights the file stores under the names
    cnnctl's compiled module gives its parameters and buffers (`layer1_0_conv1.weight`).

    `shapes` is enough to match them (exchange/weights.py's match_weights) without torch or
    reading a value; `array(name)` decodes one tensor, laid out as cnnctl's parameter is.
    """

    text: str  # the network file, as `cnnctl import` writes it
    graph: object  # the network built from it
    shapes: dict  # parameter name -> the shape of its values
    sources: dict  # parameter name -> (the ONNX tensor it comes from, how it is read: READ_AS)
    reader: object  # what decodes the values, from the file read

    def array(self, name: str):
        """The values of parameter `name`, a numpy array of shape `shapes[name]`."""
        tensor, how = self.sources[name]
        values = self.reader.weight(tensor)
        # its own writable copy, not a view of the file; a factor per channel stored as 1xCx1x1 or C
        # takes the layer's own shape (the same values in the same order)
        return READ_AS[how](values).reshape(self.shapes[name]).copy()


def read_weights(path: str, name: str | None = None) -> ImportedWeights:
    """The network of the ONNX file at `path`, built, and where its stored weights go in it."""
    imported, reader = _read(path, name)
    graph = _built(imported, path)
    shapes, sources = {}, {}
    for node, layer in zip(graph.nodes, imported.layers, strict=True):  # one node per layer written
        if node.kind != layer.kind:  # the text's layers and the network's nodes out of step: a bug here
            raise CnnctlError.at(f"the weights of `{node.path}` could not be placed ({layer.kind} read)", Loc(path))
        for param, read, how in layer.stored:
            tensor = reader.real(read)  # torch's exporter stores equal weights once, read through an Identity
            if tensor not in reader.constants:  # computed by the graph, not stored: nothing to load (missing)
                continue
            dims = tuple(int(d) for d in reader.constants[tensor].dims)
            count = math.prod(dims)  # a factor per channel as 1xCx1x1 or C, a value as a scalar: the layer's shape
            if layer.kind == "affine" or (layer.kind == "layerscale" and count == node.shape[-1]):
                dims = (count, 1, 1) if len(node.shape) == 3 else (count,)
            elif layer.kind == "grn":  # gamma and beta, stored 1xCx1x1 or C: C values, as timm's
                dims = (count,)
            elif layer.kind == "channelconv":  # a Conv1d's 1 x 1 x f, as cnnctl's f x 1 filter
                dims = (1, 1, count, 1)
            if how == "transposed":  # Gemm's W^T, or a MatMul's C_in x C_out as a 1x1 conv's C_out x C_in x 1 x 1
                dims = dims[::-1] + ((1, 1) if layer.kind == "conv" else ())
            shapes[f"{node.path}.{param}"] = dims
            sources[f"{node.path}.{param}"] = (tensor, how)
    return ImportedWeights(imported.text, graph, shapes, sources, reader)


REPETITION = re.compile(r"^[^.]+\.(\d+)(\.|$)")  # `repeat1.2.conv1`, `repeat1.2`: the second time round a repeat


def _traced(problem: Problem, imported: Imported, path: str) -> Problem:
    """A problem at a line of the text made, told at the ONNX node(s) that line came from."""
    if problem.loc is None or problem.loc.file != GENERATED:
        return problem
    lines = imported.text.splitlines()
    written = lines[problem.loc.line - 1].strip().removeprefix("- ") if 0 < problem.loc.line <= len(lines) else ""
    layers = imported.origins.get(problem.loc.line)
    if not layers:
        where = f"the network read from it, at `{written}`" if written else "the network read from it"
        return Problem(f"{where}: {problem.message}", Loc(path), None, problem.hint)
    repetition = REPETITION.match(problem.layer or "") if len(layers) > 1 else None
    k = int(repetition.group(1)) - 1 if repetition else 0
    which = layers[k] if 0 <= k < len(layers) else layers[0]
    return Problem(f"{which}, read as `{written}`: {problem.message}", Loc(path), None, problem.hint)


# -- the reader ----------------------------------------------------------------------------------
def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _int(a: dict, key: str, default: int | None) -> int:
    value = a.get(key, default)
    if value is None:
        raise _Unread(f"needs its attribute `{key}`")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unread(f"attribute `{key}` is {shown(value, 30)}: not a whole number")
    return value


def _ints(a: dict, key: str, default: list | None, count: int | None = None) -> list[int]:
    value = a.get(key, default)
    if value is None:
        raise _Unread(f"needs its attribute `{key}`")
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value) or count not in (None, len(value)):
        raise _Unread(f"attribute `{key}` is {shown(value, 30)}: cnnctl reads {count or 'some'} whole numbers")
    return value


def _float(a: dict, key: str, default: float) -> float:
    value = a.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Unread(f"attribute `{key}` is {shown(value, 30)}: not a finite number")
    return float(value)


def _text(a: dict, key: str, default: str) -> str:
    value = a.get(key, default)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise _Unread(f"attribute `{key}` is {shown(value, 30)}: not a text")
    return value


def _scalar(value, what: str) -> float:
    """One number: an attribute's, or a constant's of one value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if getattr(value, "size", 0) != 1:
        raise _Unread(f"{what} is not one number")
    return float(value.reshape(-1)[0])


def _pair(values) -> str:
    a, b = int(values[0]), int(values[1])
    return str(a) if a == b else f"{a}x{b}"


def _node_id(node, fallback: str) -> str:
    """`/layer1/add_1/Add` -> `add_1`: the scope torch's exporter names a node by, its operator left out."""
    parts = [p for p in node.name.split("/") if p]
    return parts[-2] if len(parts) >= 2 else parts[0] if parts else fallback


def _whole(text: str) -> int | None:
    """A whole number written in an external data entry, or None (a 5,000-digit one too)."""
    return int(text) if text.isdecimal() and len(text) <= 20 else None


def _count(dims, cap: int) -> int | None:
    """The values of a tensor of `dims`, or None above `cap` (without multiplying them all)."""
    count = 1
    for d in dims:
        count *= d
        if count > cap:
            return None
    return count


class _Reader:
    """One pass over an ONNX graph: each operator's reader makes a Layer (or joins an
    activation to the layer before); the tensors name what each layer reads."""

    def __init__(self, model, path: str):
        graph = model.graph
        self.model, self.graph, self.path = model, graph, path
        self.folder = os.path.dirname(os.path.abspath(path))  # where its external data may lie
        self.nodes = graph.node
        self.inits = {i.name: i for i in graph.initializer}
        self.constants = dict(self.inits)  # tensor -> its TensorProto, decoded only where a reader needs it
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                value = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
                if value is not None:
                    self.constants[node.output[0]] = value
        self.decoded: dict = {}  # tensor -> its values (a numpy array), once read
        inputs = [i for i in graph.input if i.name not in self.inits]
        if len(inputs) != 1:
            raise CnnctlError.at(f"the graph has {len(inputs)} inputs; cnnctl networks take one image", Loc(path))
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
        if len(dims) != 4 or not all(d > 0 for d in dims[1:]):
            shown = "x".join(str(d) if d > 0 else "?" for d in dims[:8]) + ("x..." if len(dims) > 8 else "")
            raise CnnctlError.at(
                f"its input is {shown or 'of no shape'}: cnnctl reads networks of an image NCHW with known C, H and W",
                Loc(path),
            )
        self.input_shape = (dims[2], dims[3], dims[1])
        self.source = inputs[0].name
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
        self.shifts: dict[str, str] = {}  # an Add's output -> the affine's (a Mul's) that took the Add in
        self.maker: dict[str, int] = {}  # tensor -> the node that makes it (check_wiring)
        self.failed: set[str] = set()  # outputs of nodes already told: what reads them is not told again
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
        self.relaid: set[int] = set()  # Reshapes of a channel conv's N x 1 x C (its gate) to N x C x 1 x 1: nothing
        self._shapes: dict[str, tuple] | None = None  # tensor -> its dims, from ONNX's shape inference
        self.index = 0  # the node being read
        # the mean and std of the prelude export --with-preprocessing writes, where the network has it (read_prelude)
        self.prelude: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    # -- the prelude of a network exported --with-preprocessing --------------------------------
    def read_prelude(self) -> None:
        """Where the graph's input is uint8: the prelude cnnctl's export --with-preprocessing
        writes (exchange.export.WithPreprocessing) over its NHWC pixels, a Transpose to NCHW and a
        Cast to float (in either order), a Div by 255, a Sub of the mean and a Div by the std, each
        stored one per channel. The network is read after it: its input the normalised tensor, of
        the pixels' size and channels, the prelude's nodes read with it; its mean and std are
        kept as `prelude` (what the network file records). Any other uint8 input is one message at
        the node reading it."""
        from onnx import TensorProto

        given = next(i for i in self.graph.input if i.name == self.source)
        readers = self.consumers.get(given.name)
        if given.type.tensor_type.elem_type != TensorProto.UINT8 or not readers:
            return
        first = self.only_reader(given.name)
        try:
            found = self.prelude_nodes(first) if first is not None else None
        except (_Unread, IndexError, KeyError, ValueError, TypeError, OverflowError):  # malformed: not it
            found = None
        if found is None:
            where = self.describe(readers[0])
            raise CnnctlError.at(
                f"{where}: the input {shown(given.name)} is uint8 pixels, and what reads them is not the prelude "
                "cnnctl's export --with-preprocessing writes (Transpose to NCHW, Cast to float, Div by 255, Sub of "
                "the mean and Div by the std per channel)",
                Loc(self.path),
                hint="export the network without --with-preprocessing: it then takes the normalised float input",
            )
        nodes, normalised, mean, std = found
        h, w, c = (d.dim_value for d in given.type.tensor_type.shape.dim[1:])  # the pixels: N x H x W x C
        if len(mean) != c or len(std) != c:
            raise CnnctlError.at(
                f"{self.describe(nodes[-2])}: the prelude's mean and std hold {len(mean)} and {len(std)} values for "
                f"an input of {c} channels",
                Loc(self.path),
            )
        self.input_shape, self.source = (h, w, c), normalised
        self.inside.update(nodes)
        self.prelude = mean, std

    def prelude_nodes(self, first: int) -> tuple[list[int], str, tuple, tuple] | None:
        """(its nodes, the tensor it makes, the mean, the std) of the prelude from node `first`."""
        import numpy as np

        ops = [self.nodes[first].op_type]
        nodes = [first]
        while len(nodes) < 5:
            j = self.only_reader(self.nodes[nodes[-1]].output[0])
            if j is None:
                return None
            nodes.append(j)
            ops.append(self.nodes[j].op_type)
        if sorted(ops[:2]) != ["Cast", "Transpose"] or ops[2:] != ["Div", "Sub", "Div"]:
            return None
        transpose, cast = (self.nodes[nodes[ops.index(op)]] for op in ("Transpose", "Cast"))
        if _ints(_attrs(transpose), "perm", None) != [0, 3, 1, 2] or _int(_attrs(cast), "to", None) != 1:  # FLOAT
            return None
        scaled, centred, divided = (self.nodes[i] for i in nodes[2:])
        if self.operand(nodes[2], "Div", 255.0) != self.nodes[nodes[1]].output[0]:
            return None
        if list(centred.input[:1]) != [scaled.output[0]] or list(divided.input[:1]) != [centred.output[0]]:
            return None
        factors = []
        for node in (centred, divided):
            tensor = self.inits.get(node.input[1]) if len(node.input) == 2 else None
            if tensor is None:
                return None
            values = self.values(tensor, node.input[1], cap=MAX_CHANNEL_VALUES, role="normalisation")
            dims, count = [int(d) for d in tensor.dims], int(values.size)
            if dims not in ([count], [1, count, 1, 1], [count, 1, 1]) or not np.isfinite(values).all():
                return None
            factors.append(tuple(float(str(np.float32(v))) for v in values.reshape(-1)))  # as written, not widened
        if min(factors[1], default=0.0) <= 0:
            return None
        return nodes, divided.output[0], factors[0], factors[1]

    # -- what is told ------------------------------------------------------------------------
    def describe(self, i: int) -> str:
        """`ONNX node `conv1` (Conv, node 3 of 40)`: how a message names node `i`."""
        node = self.nodes[i]
        where = f"{_comment(node.op_type, 40) or '?'}, node {i + 1:,} of {len(self.nodes):,}"
        return f"ONNX node {shown(node.name)} ({where})" if node.name else f"ONNX node ({where})"

    def describe_all(self, nodes: list[int]) -> str:
        """The ONNX nodes a layer comes from, as `describe` names one."""
        named = [self.describe(i).removeprefix("ONNX node ") for i in sorted(nodes)]
        if len(named) == 1:
            return f"ONNX node {named[0]}"
        shown = named if len(named) <= 3 else [*named[:2], f"{len(named) - 2} more"]
        return f"ONNX nodes {', '.join(shown[:-1])} and {shown[-1]}"

    def tell(self, i: int, message: str, hint: str | None = None) -> None:
        """A problem at node `i`: told once per operator and message, with the first node and how many more."""
        op = self.nodes[i].op_type
        seen = self.found.setdefault((op, message), [i, 0, hint])
        seen[1] += 1

    def raise_problems(self) -> None:
        problems, hinted = [], set()
        for (op, message), (first, count, hint) in self.found.items():
            shown_op = _comment(op, 40)
            more = f" (and {count - 1:,} more {shown_op} node{'s' if count > 2 else ''})" if count > 1 else ""
            problems.append(Problem(f"{self.describe(first)}{more}: {message}", Loc(self.path), None, None))
            if hint not in hinted:
                problems[-1] = problems[-1]._replace(hint=hint)
                hinted.add(hint)
        if len(problems) > MAX_PROBLEMS:
            raise too_many(problems, Loc(self.path))
        if problems:
            raise CnnctlError(problems)

    # -- the wiring, before anything is read -------------------------------------------------
    def check_wiring(self) -> None:
        """Each node reads what the graph's input, an initializer or an earlier node makes, and
        makes an output no one else makes: ONNX's own rules, which the reader relies on (a node
        reading a later one's output is how a cycle shows)."""
        hint = "ONNX lists each node after those it reads (onnx.checker.check_model says what else is wrong)"
        first_made = self.maker
        for i, node in enumerate(self.nodes):
            for t in node.output:
                if t:
                    first_made.setdefault(t, i)
        known = set(self.inits) | {i.name for i in self.graph.input}
        for i, node in enumerate(self.nodes):
            for t in node.input:
                if not t or t in known:
                    continue
                j = first_made.get(t)
                if j is None:
                    self.tell(i, f"reads {shown(t)}, which nothing in the graph makes", hint)
                elif j == i:
                    self.tell(i, f"reads {shown(t)}, its own output (a cycle)", hint)
                else:
                    self.tell(i, f"reads {shown(t)}, which only a later node makes: {self.describe(j)}", hint)
            if not node.output or not node.output[0]:
                self.tell(i, "has no output", hint)
            for t in node.output:
                if t in known:
                    self.tell(i, f"makes {shown(t)}, which the graph's input, an initializer or a node made before")
                elif t:
                    known.add(t)
        self.raise_problems()

    # -- patterns found before the pass ---------------------------------------------------------
    def find_patterns(self) -> None:
        """The layers written as several operators, each found from the operator that starts it
        (PATTERN_STARTS) and read as one layer at its last node, where its constants are what the
        layer's are and nothing outside the pattern reads what lies between; else its first
        operator is told as one cnnctl does not read (Erf, ReduceL2), or its nodes are read alone."""
        for i, node in enumerate(self.nodes):
            find = PATTERN_STARTS.get(node.op_type)
            found = None
            for method in (find, *PATTERN_ALSO.get(find, ())) if find and node.input and node.output else ():
                try:
                    found = getattr(self, method)(i)
                except (_Unread, IndexError, KeyError, ValueError, TypeError, OverflowError):  # malformed
                    found = None  # node by node
                if found is not None:
                    break
            if found is not None and not (self.inside & {*found.nodes, found.last}):
                self.patterns[found.last] = found
                self.inside.update(found.nodes)
                if found.pooled:
                    self.unflattened.add(found.pooled)
                if found.back is not None:
                    self.relaid.add(found.back)

    def gelu_at(self, e: int) -> Pattern | None:
        """GELU as opsets below 20 write it, x * 0.5 * (1 + erf(x / sqrt(2))), around Erf node `e`:
        a Div by sqrt(2) (or Mul by 1/sqrt(2)), Erf, Add of 1 and two Muls, by x and by 0.5, in
        either order."""
        found = self.gelu_nodes(e)
        return Pattern("gelu", found[0], found[1], found[2]) if found is not None else None

    def gelu_nodes(self, e: int) -> tuple[str, list[int], int] | None:
        """(x, the pattern's nodes but its last, its last) for the written-out GELU around Erf node `e`."""
        scaled = self.maker.get(self.nodes[e].input[0])
        if scaled is None:
            return None
        x = self.operand(scaled, "Div", math.sqrt(2)) or self.operand(scaled, "Mul", 1 / math.sqrt(2))
        plus = self.only_reader(self.nodes[e].output[0])
        if x is None or x in self.constants or plus is None or self.operand(plus, "Add", 1.0) is None:
            return None
        m1 = self.only_reader(self.nodes[plus].output[0])
        if m1 is None or self.nodes[m1].op_type != "Mul":
            return None
        other = next((t for t in self.nodes[m1].input if t != self.nodes[plus].output[0]), None)
        product = self.nodes[m1].output[0]
        m2 = self.only_reader(product)
        if other == x:  # (1 + erf) * x, then * 0.5
            ends = m2 is not None and self.operand(m2, "Mul", 0.5) == product
            return (x, [scaled, e, plus, m1], m2) if ends else None
        if self.is_value(other, 0.5):  # (1 + erf) * 0.5, then * x
            ends = m2 is not None and self.nodes[m2].op_type == "Mul" and {*self.nodes[m2].input} == {product, x}
            return (x, [scaled, e, plus, m1], m2) if ends else None
        half = self.maker.get(other)  # x * 0.5 first, then times (1 + erf)
        if half is None or self.only_reader(other) != m1 or self.operand(half, "Mul", 0.5) != x:
            return None
        return x, [scaled, e, plus, half], m1

    def grn_at(self, r: int) -> Pattern | None:
        """GRN (ConvNeXt V2) as torch.onnx.export writes cnnctl's and the paper's: ReduceL2 of x
        over height and width (kept), ReduceMean of those norms over the channels (kept), Add of
        eps, the norms Div by it, Mul by x, Mul by a stored factor per channel (gamma), Add of a
        stored value per channel (beta), Add of x; each product and sum in either order (timm's
        addcmul adds a Mul by 1 before beta). On NCHW data (axes 2, 3 and 1), or on channels-last
        data (axes 1, 2 and 3: the official ConvNeXt V2 code's and timm's channels-last one, inside
        the block's run on NHWC data; told at the pattern's last node where x is not channels-last)."""
        node = self.nodes[r]
        x, norms = node.input[0], node.output[0]
        over = self.axes(node)
        if over not in ([2, 3], [1, 2]) or not _int(_attrs(node), "keepdims", 1) or x in self.constants:
            return None
        channels_last = over == [1, 2]
        readers = self.consumers.get(norms, [])
        ops = {self.nodes[i].op_type: i for i in readers}
        if len(readers) != 2 or {*ops} != {"ReduceMean", "Div"} or norms in {o.name for o in self.graph.output}:
            return None
        mean, div = ops["ReduceMean"], ops["Div"]
        over_channels = [3] if channels_last else [1]
        if self.axes(self.nodes[mean]) != over_channels or not _int(_attrs(self.nodes[mean]), "keepdims", 1):
            return None
        plus = self.only_reader(self.nodes[mean].output[0])
        eps = self.other(plus, "Add", self.nodes[mean].output[0]) if plus is not None else None
        if eps is None or list(self.nodes[div].input) != [norms, self.nodes[plus].output[0]]:
            return None
        scaled = self.after(div, "Mul", x)
        gamma = self.after(scaled[0], "Mul") if scaled is not None else None
        one = self.after(gamma[0], "Mul") if gamma is not None else None  # timm's addcmul: its value, 1
        ones = [one[0]] if one is not None and self.is_value(one[1], 1.0) else []
        beta = self.after(ones[0] if ones else gamma[0], "Add") if gamma is not None else None
        last = self.after(beta[0], "Add", x) if beta is not None else None
        factors = [self.stored(t) for t in (gamma[1], beta[1])] if last is not None else [None]
        shaped = (self.per_channel([int(d) for d in self.inits[t].dims], x, channels_last) for t in factors)
        if None in factors or not all(shaped):
            return None
        held = (*factors, float(self.decoded[eps].reshape(-1)[0]), channels_last)  # a wrong eps: told when built
        return Pattern("grn", x, [r, mean, plus, div, scaled[0], gamma[0], *ones, beta[0]], last[0], held)

    def channelconv_at(self, c: int) -> Pattern | None:
        """A convolution across the channels (ECA), as cnnctl's ChannelConv writes it: Reshape of
        x (N x C x H x W, or N x C) to N x 1 x C x H*W, a Conv of one stored f x 1 filter, no bias,
        padding (f-1)/2 along the channels, and Reshape back to x's own shape."""
        node = self.nodes[c]
        a = _attrs(node)
        weight = self.inits.get(node.input[1]) if len(node.input) == 2 else None
        if weight is None or [int(d) for d in weight.dims][:2] != [1, 1] or len(weight.dims) != 4:
            return None
        f, width = (int(d) for d in weight.dims[2:])
        plain = _int(a, "group", 1) == 1 and a.get("strides", [1, 1]) == [1, 1] and a.get("dilations", [1, 1]) == [1, 1]
        if width != 1 or f % 2 == 0 or not plain or a.get("pads", [0, 0, 0, 0]) != [(f - 1) // 2, 0, (f - 1) // 2, 0]:
            return None
        laid, back = self.maker.get(node.input[0]), self.only_reader(node.output[0])
        if laid is None or back is None or self.only_reader(node.input[0]) != c:
            return None
        if self.nodes[laid].op_type != "Reshape" or self.nodes[back].op_type != "Reshape":
            return None
        x = self.nodes[laid].input[0]
        dims, target = self.shape(x), self.const(self.nodes[laid], 1)
        if dims is None or None in dims[1:] or len(dims) not in (2, 4) or target is None:
            return None
        c_in, positions = dims[1], math.prod(dims[2:])
        out = self.shape(self.nodes[back].output[0])
        if [int(v) for v in target.reshape(-1)][1:] != [1, c_in, positions] or out is None or out[1:] != dims[1:]:
            return None
        return Pattern("channelconv", x, [laid, c], back, (node.input[1], f))

    def conv1d_filter(self, c: int) -> int | None:
        """Where Conv node `c` is a Conv1d of one stored filter (1 x 1 x f), f odd, no bias, padding
        (f-1)/2, stride and dilation 1 (ECA's): f."""
        node = self.nodes[c]
        a = _attrs(node)
        weight = self.inits.get(node.input[1]) if len(node.input) == 2 else None
        if weight is None or [int(d) for d in weight.dims][:2] != [1, 1] or len(weight.dims) != 3:
            return None
        f = int(weight.dims[2])
        plain = _int(a, "group", 1) == 1 and a.get("strides", [1]) == [1] and a.get("dilations", [1]) == [1]
        if f % 2 == 0 or not plain or a.get("pads", [0, 0]) != [(f - 1) // 2] * 2:
            return None
        return f

    def channelconv1d_at(self, c: int) -> Pattern | None:
        """ECA's convolution as the paper's code writes it, on a pooled N x C x 1 x 1: Squeeze of
        the last axis, Transpose to N x 1 x C, a Conv1d of one stored filter of f, no bias, padding
        (f-1)/2, Transpose back and Unsqueeze of the last axis."""
        node, f = self.nodes[c], self.conv1d_filter(c)
        if f is None:
            return None
        turned, back = self.maker.get(node.input[0]), self.only_reader(node.output[0])
        squeezed = self.maker.get(self.nodes[turned].input[0]) if turned is not None else None
        unsqueezed = self.only_reader(self.nodes[back].output[0]) if back is not None else None
        chain = [squeezed, turned, c, back, unsqueezed]
        if None in chain or [self.nodes[i].op_type for i in chain] != ["Squeeze", "Transpose", "Conv", "Transpose",
                                                                        "Unsqueeze"]:  # fmt: skip
            return None
        if any(self.only_reader(self.nodes[i].output[0]) != j for i, j in zip(chain[:-1], chain[1:], strict=True)):
            return None
        x = self.nodes[squeezed].input[0]
        dims = self.shape(x)
        turns = [_ints(_attrs(self.nodes[i]), "perm", []) for i in (turned, back)]
        ends = [self.axes(self.nodes[i]) for i in (squeezed, unsqueezed)]
        if dims is None or len(dims) != 4 or dims[2:] != (1, 1) or turns != [[0, 2, 1]] * 2 or ends != [[3], [3]]:
            return None
        return Pattern("channelconv", x, chain[:2] + [c, back], unsqueezed, (node.input[1], f))

    def channelconv_timm_at(self, c: int) -> Pattern | None:
        """ECA's convolution as timm's EcaModule writes it: a ReduceMean of x over height and width
        without keepdims (N x C), Reshape to N x 1 x C, a Conv1d of one stored filter (conv1d_filter),
        its gate (one activation, or none) and a Reshape to N x C x 1 x 1. The mean is read as the
        pool alone and the Reshape back as nothing, so the channel conv reads and makes cnnctl's
        1x1xC; the gate between is read as it is, on the same values."""
        node, f = self.nodes[c], self.conv1d_filter(c)
        laid = self.maker.get(node.input[0])
        if f is None or laid is None or self.nodes[laid].op_type != "Reshape" or self.only_reader(node.input[0]) != c:
            return None
        pooled = self.nodes[laid].input[0]
        mean = self.maker.get(pooled)
        if mean is None or self.nodes[mean].op_type != "ReduceMean" or self.only_reader(pooled) != laid:
            return None
        if self.axes(self.nodes[mean]) != [2, 3] or _int(_attrs(self.nodes[mean]), "keepdims", 1):
            return None
        gate = self.only_reader(node.output[0])
        operator = OPERATORS.get(self.nodes[gate].op_type) if gate is not None else None
        gated = operator is not None and operator.activation and self.nodes[gate].op_type != "Softmax"
        back = self.only_reader(self.nodes[gate].output[0]) if gated else gate
        if back is None or self.nodes[back].op_type != "Reshape":
            return None
        dims = self.shape(pooled)  # N x C, laid out as N x 1 x C and back as N x C x 1 x 1
        if dims is None or len(dims) != 2 or dims[1] is None:
            return None
        n, channels = dims
        laid_out, gated_back = self.shape(node.input[0]), self.shape(self.nodes[back].output[0])
        if laid_out != (n, 1, channels) or gated_back != (n, channels, 1, 1):
            return None
        return Pattern("channelconv", pooled, [laid], c, (node.input[1], f), pooled=pooled, back=back)

    def axes(self, node) -> list[int] | None:
        """The axes a Reduce node reduces over (an input from opset 18, an attribute before), of 4."""
        axes = self.const(node, 1) if len(node.input) > 1 and node.input[1] else _attrs(node).get("axes")
        return None if axes is None else sorted(int(v) % 4 for v in list(axes))

    def other(self, i: int, op: str, t: str) -> str | None:
        """Where node `i` is `op` of `t` and a constant of one value, in either order: that constant."""
        node = self.nodes[i]
        if node.op_type != op or len(node.input) != 2 or t not in node.input:
            return None
        other = node.input[1] if node.input[0] == t else node.input[0]
        if other not in self.constants or self.constants[other] is FOLDED:
            return None
        try:
            self.decoded.setdefault(other, self.values(self.constants[other], other))
        except _Unread:
            return None
        return other if self.decoded[other].size == 1 else None

    def after(self, i: int, op: str, operand: str | None = None) -> tuple[int, str] | None:
        """(the node, its other input) where the only reader of node `i`'s output is `op` of it
        and another tensor (`operand`, where given), in either order."""
        out = self.nodes[i].output[0]
        j = self.only_reader(out)
        if j is None or self.nodes[j].op_type != op or len(self.nodes[j].input) != 2 or out not in self.nodes[j].input:
            return None
        ins = list(self.nodes[j].input)
        other = ins[1] if ins[0] == out else ins[0]
        return (j, other) if operand is None or other == operand else None

    def stored(self, t: str) -> str | None:
        """The stored weight `t` is, through the Identities torch's exporter reads equal weights by."""
        seen = 0
        while t not in self.inits and seen < len(self.nodes):
            maker = self.maker.get(t)
            if maker is None or self.nodes[maker].op_type != "Identity":
                return None
            t, seen = self.nodes[maker].input[0], seen + 1
        return t

    def operand(self, i: int, op: str, value: float) -> str | None:
        """Where node `i` is `op` of a tensor and the constant `value` (second for a Div): that tensor."""
        node = self.nodes[i]
        if node.op_type != op or len(node.input) != 2:
            return None
        a, b = node.input
        if self.is_value(b, value):
            return a
        return b if op != "Div" and self.is_value(a, value) else None

    def is_value(self, t: str | None, expected: float) -> bool:
        """Whether `t` is a constant of one value, exactly `expected` in float32 (as exporters write it)."""
        import numpy as np

        if not t or t not in self.constants or self.constants[t] is FOLDED:
            return False
        try:
            if t not in self.decoded:
                self.decoded[t] = self.values(self.constants[t], t)
            value = self.decoded[t]
        except _Unread:
            return False
        return value.size == 1 and np.float32(value.reshape(-1)[0]) == np.float32(expected)

    def only_reader(self, t: str) -> int | None:
        """The one node that reads `t`, where one does and `t` is not an output of the graph."""
        readers = self.consumers.get(t, [])
        outputs = {o.name for o in self.graph.output}
        return readers[0] if len(readers) == 1 and t not in outputs else None

    # -- the pass ----------------------------------------------------------------------------
    def real(self, t: str) -> str:
        while t in self.alias:
            t = self.alias[t]
        return t

    def read(self, i: int, node) -> None:
        self.index = i
        op = node.op_type
        operator = OPERATORS.get(op)
        if i in self.inside:  # a node of a pattern (a written-out GELU...): read with its last node
            return
        pattern = self.patterns.get(i)
        try:
            if node.domain not in ("", "ai.onnx"):
                raise _Unread(f"an operator of the domain {shown(node.domain)}", "cnnctl reads ONNX's own operators")
            if operator is None and pattern is None:  # a pattern may end in one read only there (Unsqueeze)
                raise _Unread("no cnnctl layer kind does this", f"cnnctl reads {operators_read(notes=False)}")
            given = sum(1 for t in node.input[: operator.inputs] if t) if operator else 1
            if operator and given < operator.inputs:
                raise _Unread(f"{op} needs {operator.inputs} inputs; it has {given}")
            given = [pattern.x] if pattern else [t for t in node.input if t]  # what it reads, as the nodes name it
            if any(t in self.failed for t in given):  # what it reads was told already: no more of it
                self.failed.update(node.output)
                return
            ins = [self.real(t) for t in node.input if t]
            layer = getattr(self, pattern.read if pattern else operator.read)(node, _attrs(node), ins)
            if layer is not None:
                for t in layer.inputs:
                    if t != self.source and t not in self.made:
                        raise _Unread(self.not_a_layer(t))
            activation = (pattern.read == "gelu") if pattern else operator.activation and op != "Softmax"
            per_value = activation or op in ("Identity", "Dropout")
            self.keep_channels_last(node, given, layer, per_value)
        except _Unread as unread:
            self.tell(i, unread.message, unread.hint)
            self.failed.update(node.output)
            return
        except (IndexError, KeyError, ValueError, TypeError, OverflowError, ZeroDivisionError):
            # what the checks above let through: told at the node, never a traceback
            self.tell(i, f"a malformed {_comment(op, 40)} node", "onnx.checker.check_model(model) says what is wrong")
            self.failed.update(node.output)
            return
        if layer is not None:
            layer.nodes.append(i)
            self.made[node.output[0]] = layer
            self.order.append((node.output[0], layer))

    def keep_channels_last(self, node, given: list, layer: Layer | None, value_by_value: bool) -> None:
        """A node reading channels-last (NHWC) data: an activation's or an Identity's output stays
        so; the readers over channels (layer norm, MatMul and its bias, SiLU, a Transpose back)
        mark their own; any other would misread it, and is told."""
        nhwc = next((t for t in given if t in self.normed), None)
        if nhwc is None or node.output[0] in self.normed or node.op_type == "Transpose":
            return
        if value_by_value:  # value by value: the layout stays
            self.normed.add(node.output[0])
            return
        read_as = f"as a `{layer.kind}` layer" if layer is not None else f"in a {_comment(node.op_type, 40)}"
        raise _Unread(
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

    def const(self, node, i: int):
        """The values of input `i` of `node` where it is a constant (None where it is not), read
        only where small, and from external data only inside the model's folder."""
        t = node.input[i] if len(node.input) > i else ""
        tensor = self.constants.get(t) if t else None
        if tensor is None:
            return None
        if t not in self.decoded:
            self.decoded[t] = self.values(tensor, t)
        return self.decoded[t]

    def values(self, tensor, t: str, cap: int = MAX_ONNX_CONSTANT, role: str = "constant"):
        from onnx import TensorProto, helper, numpy_helper

        if tensor is FOLDED:  # worked out here from known sizes (fold): a value, never stored weights
            if role != "constant":
                raise _Unread(f"reads {shown(t)}, a value worked out from sizes, as its {role}")
            return self.decoded[t]
        what = f"the {role} {shown(t)}"
        dims = list(tensor.dims)
        if any(d < 0 for d in dims):
            raise _Unread(f"{what} has negative dims {shown(dims, 40)}")
        count = _count(dims, cap)
        if count is None:
            sizes = " x ".join(f"{d:,}" for d in dims[:6]) + (" x ..." if len(dims) > 6 else "")
            raise _Unread(f"{what} of {sizes} values: cnnctl reads {role}s of at most {cap:,}")
        if tensor.data_type not in {getattr(TensorProto, kind) for kind in NUMBERS}:
            raise _Unread(f"{what} does not hold numbers")
        size = count * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        if tensor.data_location == TensorProto.EXTERNAL:
            data = self.external(tensor, what, size)
            tensor = TensorProto(name=tensor.name, dims=dims, data_type=tensor.data_type, raw_data=bytes(data))
        elif tensor.raw_data and len(tensor.raw_data) != size:
            raise _Unread(f"{what} claims {count} values and holds {len(tensor.raw_data):,} bytes")
        try:
            return numpy_helper.to_array(tensor)
        except Exception:  # the values do not fit the dims: onnx's numpy_helper says so its own ways
            raise _Unread(f"{what} does not hold the {count} values its dims claim") from None

    def external(self, tensor, what: str, size: int) -> bytearray:
        """The `size` bytes of a tensor stored outside the file: only from a regular file
        inside the model's folder, the offset and length fitting it."""
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        what = f"{what} is stored outside the file, in {shown(location)}"
        hint = "cnnctl reads data stored outside an ONNX file only from files in the model's own folder"
        parts = re.split(r"[/\\]", location)
        if not location or "\0" in location or os.path.isabs(location) or ".." in parts:
            raise _Unread(f"{what}: not a file inside the model's folder", hint)
        folder = os.path.realpath(self.folder)
        real = os.path.realpath(os.path.join(folder, location))
        if os.path.commonpath([folder, real]) != folder:
            raise _Unread(f"{what}: not a file inside the model's folder (a link leads out of it)", hint)
        offset, length = info.get("offset", "0"), info.get("length", str(size))
        if _whole(offset) is None or _whole(length) != size:
            raise _Unread(f"{what} at offset {shown(offset, 24)}, length {shown(length, 24)}: it holds {size} bytes")
        try:
            data = _regular_bytes(real, size, _whole(offset), size, inside=folder)
        except _Unread as refused:
            raise _Unread(f"{what}: {refused.message}", hint) from None
        if len(data) != size:
            raise _Unread(f"{what}: the file was cut short while read")
        return data

    def weight(self, t: str):
        """The values of the stored weight `t` (a numpy array): from the file, or from external
        data inside the model's folder, as a constant's are; a CnnctlError at the file if not."""
        try:
            return self.values(self.constants[t], t, cap=MAX_ONNX_BYTES, role="weight")
        except _Unread as refused:
            raise CnnctlError.at(refused.message, Loc(self.path), hint=refused.hint) from None

    def shape(self, t: str) -> tuple | None:
        """The dims of tensor `t` (None for one unknown), from ONNX's shape inference, run once
        where a reader needs a shape (a slice's channels, a reshape's, a factor's)."""
        if self._shapes is None:
            self._shapes = {}
            try:
                import onnx

                inferred = onnx.shape_inference.infer_shapes(self.model).graph
                for info in [*inferred.value_info, *inferred.input, *inferred.output]:
                    dims = info.type.tensor_type.shape.dim
                    self._shapes[info.name] = tuple(d.dim_value if d.dim_value > 0 else None for d in dims)
            except Exception:  # shapes are a help only: without them what needs one is not read
                pass
        return self._shapes.get(t)

    def channels(self, t: str) -> int | None:
        """The channels of tensor `t` (NCHW's C), where shape inference knows them."""
        dims = self.shape(t)
        return dims[1] if dims is not None and len(dims) >= 2 else None

    @staticmethod
    def weight_name(t: str, fallback: str) -> str:
        """`layer1.0.conv1.weight` (or its `.bias`) -> `layer1_0_conv1`; `fallback` where `t` is not so named."""
        base = next((t[: -len(end)] for end in (".weight", ".bias") if t.endswith(end)), fallback)
        return NAME.sub("_", base.replace(".", "_")).strip("_") or "layer"

    # -- operators -------------------------------------------------------------------------
    def layer(
        self, kind: str, words: list, inputs: list, name: str, nodes: list | None = None, stored: tuple = ()
    ) -> Layer:
        return Layer(kind, words, inputs, name, list(nodes or []), stored)

    def identity(self, node, a: dict, ins: list) -> None:
        self.alias[node.output[0]] = ins[0]

    def constant(self, node, a: dict, ins: list) -> None:
        return None  # its value is read where another node needs it (const)

    def conv(self, node, a: dict, ins: list) -> Layer:
        weight = self.inits.get(node.input[1])
        if weight is None:
            raise _Unread("its weights are not stored in the file", "export with the weights as initializers")
        if len(weight.dims) != 4:
            axes = len(weight.dims) - 2
            over = f"a {node.op_type} over {axes} dimension{'s' if axes != 1 else ''}" if axes > 0 else "its weights"
            raise _Unread(f"{over}: cnnctl's conv is 2-D (weights of 4 dims: out, in, height, width)")
        groups = _int(a, "group", 1)
        transposed = node.op_type == "ConvTranspose"
        if transposed and any(_ints(a, "output_padding", [0, 0], 2)):
            raise _Unread("output_padding is not read", "cnnctl's deconv has none")
        n_out = int(weight.dims[1]) * groups if transposed else int(weight.dims[0])
        words = [f"f={_pair(weight.dims[2:])}", *_window(a), f"n={n_out}"]
        dilations = _ints(a, "dilations", [1, 1], 2)
        if dilations != [1, 1]:
            words.insert(-1, f"dilation={_pair(dilations)}")
        if groups != 1:
            words.append(f"groups={groups}")
        if len(node.input) < 3 or not node.input[2]:
            words.append("bias=false")
        kind = "deconv" if transposed else "conv"
        name = self.weight_name(node.input[1], _node_id(node, kind))
        return self.layer(kind, words, ins[:1], name, stored=_stored(node, ("weight", "bias")))  # torch's layout

    def matmul(self, node, a: dict, ins: list) -> Layer:
        """x @ W over the channels of channels-last data (torch's nn.Linear on an NHWC volume,
        ConvNeXt's MLP): a 1x1 conv of W's C_out (W stored C_in x C_out, cnnctl's weight C_out x
        C_in x 1 x 1: read transposed). The Add of a stored bias of C_out values that alone reads
        the product joins it; the output stays channels-last until a Transpose back."""
        weight = self.inits.get(node.input[1])
        if node.input[0] not in self.normed or weight is None or len(weight.dims) != 2:
            raise _Unread(
                "a MatMul other than by stored weights (C_in x C_out) over the channels of channels-last data",
                "cnnctl reads torch's Linear on NHWC data (after a Transpose to NHWC and a layer norm) as a 1x1 conv",
            )
        c_in, c_out = (int(d) for d in weight.dims)
        dims = self.shape(node.input[0])
        if dims is not None and dims[-1] not in (None, c_in):
            raise _Unread(f"multiplies {dims[-1]} channels by weights of {c_in} x {c_out}")
        out, stored = node.output[0], [("weight", node.input[1], "transposed")]
        add = self.only_reader(out)
        bias = next((t for t in self.nodes[add].input if t != out), None) if add is not None else None
        biased = self.nodes[add].op_type == "Add" and bias in self.inits and list(self.inits[bias].dims) == [c_out]
        if biased:
            self.biases[add] = out
            stored.append(("bias", bias, ""))
        self.normed.add(out)
        name = self.weight_name(bias if biased else node.input[1], _node_id(node, "conv"))
        return self.layer("conv", ["f=1", f"n={c_out}", *([] if biased else ["bias=false"])], ins[:1], name,
                          stored=tuple(stored))  # fmt: skip

    def bn(self, node, a: dict, ins: list) -> Layer:
        eps = _float(a, "epsilon", 1e-5)
        words = [] if math.isclose(eps, 1e-5, rel_tol=1e-6) else [f"eps={eps:g}"]
        momentum = _momentum(_float(a, "momentum", 0.9))
        if momentum != 0.1:
            words.append(f"momentum={momentum:g}")
        name = self.weight_name(node.input[1], _node_id(node, "bn"))
        return self.layer("bn", words, ins[:1], name, stored=_stored(node, BN_TENSORS))

    def gemm(self, node, a: dict, ins: list) -> Layer:
        weight = self.inits.get(node.input[1])
        biased = len(node.input) > 2 and node.input[2]
        plain = _float(a, "alpha", 1.0) == 1.0 and not _int(a, "transA", 0)
        if weight is None or not plain or (biased and _float(a, "beta", 1.0) != 1.0):
            raise _Unread("only x @ W^T + b with stored weights is read")
        if len(weight.dims) != 2:
            raise _Unread(f"its weights have {len(weight.dims)} dims: a Gemm's have 2")
        units = int(weight.dims[0] if _int(a, "transB", 0) else weight.dims[1])
        words = [str(units)] + ([] if biased else ["bias=false"])
        stored = _stored(node, ("weight", "bias"), transposed=() if _int(a, "transB", 0) else ("weight",))
        return self.layer("fc", words, ins[:1], self.weight_name(node.input[1], _node_id(node, "fc")), stored=stored)

    def flatten(self, node, a: dict, ins: list) -> Layer:
        axis = _int(a, "axis", 1)
        if axis != 1:
            raise _Unread(f"flattens from axis {axis}", "cnnctl flattens everything but the batch")
        return self.layer("flatten", [], ins[:1], _node_id(node, "flatten"))

    def pool(self, node, a: dict, ins: list) -> Layer:
        kernel = _ints(a, "kernel_shape", None, 2)
        if _ints(a, "dilations", [1, 1], 2) != [1, 1]:
            raise _Unread("dilated pooling is not read")
        average = node.op_type == "AveragePool"
        words = ["avg" if average else "max", f"f={_pair(kernel)}", *_window(a, stride=kernel)]
        if average and any(w.startswith("p=") for w in words) and not _int(a, "count_include_pad", 0):
            raise _Unread("averages without the padding", "cnnctl's avg pool counts the padding, as torch's")
        if _int(a, "ceil_mode", 0):
            words.append("ceil")
        return self.layer("pool", words, ins[:1], _node_id(node, "pool"))

    def global_pool(self, node, a: dict, ins: list) -> Layer:
        op = "avg" if node.op_type == "GlobalAveragePool" else "max"
        return self.layer("pool", [op, "global"], ins[:1], _node_id(node, "pool"))

    def add(self, node, a: dict, ins: list) -> Layer | None:
        product = self.biases.get(self.index)
        if product is not None:  # a MatMul's bias, joined to its 1x1 conv
            self.alias[node.output[0]] = product
            self.normed.add(node.output[0])
            self.made[product].nodes.append(self.index)
            return None
        if self.known(node):  # arithmetic on sizes (the bounds of x.chunk's slices): a value
            return self.fold(node, a, ins)
        joined = self.shifts.get(node.output[0])
        if joined is not None:  # the shift of the affine the Mul before it began
            self.alias[node.output[0]] = joined
            self.made[joined].nodes.append(self.index)
            return None
        x, y = (ins[1], ins[0]) if ins[0] in self.constants else (ins[0], ins[1])
        shift = self.fixed(y, x) if x not in self.constants else None
        if shift is not None:  # a fixed shift, one or one per channel
            words, stored = _affine_words("shift", shift, y)
            return self.layer("affine", words, [x], _node_id(node, "affine"), stored=stored)
        self.refuse_stored(ins, "adds")
        return self.layer("add", [], ins, _node_id(node, "add"))

    def concat(self, node, a: dict, ins: list) -> Layer | None:
        axis = _int(a, "axis", 1)
        if len(ins) == 1:  # torch.cat([x], 1): x itself (DenseNet's first layer of each block)
            self.alias[node.output[0]] = ins[0]
            return None
        if axis != 1:
            raise _Unread(f"joins along axis {axis}", "cnnctl concatenates channels (axis 1)")
        return self.layer("concat", [], ins, _node_id(node, "concat"))

    def reduce(self, node, a: dict, ins: list) -> Layer:
        """A mean or max over height and width: a global pool (`x.mean([2, 3])`, and how the
        dynamo exporter writes adaptive_avg_pool2d(x, 1)); without keepdims, then flattened.
        Over the channels with keepdims: a pool across them (`x.mean(1, keepdim=True)`)."""
        axes = self.const(node, 1) if len(node.input) > 1 and node.input[1] else a.get("axes")  # opset 18: an input
        over = None if axes is None else sorted(int(v) % 4 for v in list(axes))
        op = "avg" if node.op_type == "ReduceMean" else "max"
        if over == [1] and _int(a, "keepdims", 1):  # across the channels, kept as one: a spatial map (CBAM)
            return self.layer("pool", [op, "channels"], ins[:1], _node_id(node, "pool"))
        if over != [2, 3]:
            raise _Unread(
                f"a reduction over axes {shown(axes, 30)}",
                "cnnctl reads one over height and width (2, 3), or over the channels (1) keeping them",
            )
        pool = self.layer("pool", [op, "global"], ins[:1], _node_id(node, "pool"))
        if _int(a, "keepdims", 1) or node.output[0] in self.unflattened:  # (timm's ECA: its N x C read as 1x1xC)
            return pool
        pooled = f"{node.output[0]}#pooled"  # N x C x 1 x 1, then N x C: a flatten of its own
        pool.nodes.append(self.index)
        self.made[pooled] = pool
        self.order.append((pooled, pool))
        return self.layer("flatten", [], [pooled], _node_id(node, "flatten"))

    def mul(self, node, a: dict, ins: list) -> Layer | None:
        if self.known(node):
            return self.fold(node, a, ins)
        x, y = ins[0], ins[1]
        given = node.input[0]  # x as the node names it: its own shape where read through an alias (NHWC, back)
        if x in self.constants and y not in self.constants:  # factor * x, as x * factor
            x, y, given = y, x, node.input[1]
        sig = self.made.get(y)
        if sig is not None and sig.kind == "sigmoid" and sig.inputs == [x] and self.readers.get(node.input[1]) == 1:
            self.dropped.add(y)  # x * sigmoid(x): SiLU, one activation
            del self.made[y]
            if node.input[0] in self.normed or node.input[1] in self.normed:  # value by value: the layout stays
                self.normed.add(node.output[0])
            return self.activation(node, "silu", reads=2, nodes=sig.nodes)
        scale = self.fixed(y, given) if x not in self.constants else None
        shift, add, held = self.shift_after(node)
        per_channel = y in self.inits and self.per_channel([int(d) for d in self.inits[y].dims], given)
        if per_channel and shift is None and x not in self.constants:
            name = self.weight_name(y, _node_id(node, "layerscale"))  # a learned factor per channel
            return self.layer("layerscale", [], [x], name, stored=(("weight", y, ""),))
        if scale is not None:  # a fixed factor, one or one per channel, and the fixed shift after it
            words, stored = _affine_words("scale", scale, y)
            if shift is not None:
                shift_words, shift_stored = _affine_words("shift", shift, held)
                words, stored = words + shift_words, stored + shift_stored
                self.shifts[add.output[0]] = node.output[0]
            return self.layer("affine", words, [x], _node_id(node, "affine"), stored=stored)
        self.refuse_stored(ins, "multiplies by")
        return self.layer("mul", [], ins, _node_id(node, "mul"))

    def shift_after(self, node) -> tuple:
        """(the values, the Add node, the constant holding them) of a fixed shift that the only
        reader of this Mul's output adds (x * scale + shift: one affine); Nones where there is none."""
        out, nothing = node.output[0], (None, None, None)
        if self.readers.get(out) != 1:
            return nothing
        add = self.nodes[self.read_by[out]]
        if add.op_type != "Add" or add.domain not in ("", "ai.onnx") or len(add.input) != 2:
            return nothing
        held = self.real(add.input[1] if add.input[0] == out else add.input[0])
        if held not in self.constants:
            return nothing
        try:
            return self.fixed(held, self.real(node.input[0])), add, held
        except _Unread:  # told at the Add itself, when it is read
            return nothing

    def fixed(self, t: str, x: str) -> tuple[float, ...] | None:
        """The values of the constant `t` (stored or a Constant) where they are one number or
        one per channel of `x`, shaped to broadcast over them; None where they are not."""
        tensor = self.constants.get(t)
        if tensor is None or tensor is FOLDED:
            return None
        dims = [int(d) for d in tensor.dims]
        shape = self.shape(x)
        one = _count(dims, 1) == 1 and len(dims) <= (len(shape) if shape is not None else 4)
        if not (one or self.per_channel(dims, x)):
            return None
        values = self.values(tensor, t, cap=MAX_CHANNEL_VALUES)
        return tuple(float(v) for v in values.reshape(-1))

    def per_channel(self, dims: list[int], x: str, last: bool = False) -> bool:
        """Whether a constant of `dims` holds one value per channel of `x`, shaped to broadcast
        over them: Cx1x1 or 1xCx1x1 on a volume (torch's layer scale), C or 1xC on a vector (a
        C on a volume would scale its columns). Where shape inference does not know `x`, as read
        before: C or Cx1x1. `last`: `x` is channels-last (N x H x W x C): C or 1x1x1xC."""
        shape = self.shape(x)
        if last:
            if shape is not None and len(shape) != 4:
                return False
            channels = shape[-1] if shape is not None else None
            return len(dims) in (1, 4) and dims[:-1] == [1] * (len(dims) - 1) and channels in (None, dims[-1])
        if shape is None or len(shape) not in (2, 4):
            return len(dims) == 1 or (len(dims) == 3 and dims[1:] == [1, 1])
        channels = shape[1]
        forms = ([channels], [1, channels]) if len(shape) == 2 else ([channels, 1, 1], [1, channels, 1, 1])
        return channels is not None and dims in forms

    def sub(self, node, a: dict, ins: list) -> Layer | None:
        """x - c, c a constant of one value or one per channel (torchvision's normalisation
        `(x - mean) / std`): an affine whose shift is -c. Of known values: a value."""
        if self.known(node):
            return self.fold(node, a, ins)
        return self.by_constant(node, ins, "shift", "negated")

    def div(self, node, a: dict, ins: list) -> Layer | None:
        """x / c, c a constant of one value or one per channel: an affine whose scale is 1 / c
        (in float32, as the weights carry it). Of known values: a value."""
        if self.known(node):
            return self.fold(node, a, ins)
        return self.by_constant(node, ins, "scale", "reciprocal")

    def by_constant(self, node, ins: list, name: str, how: str) -> Layer:
        """The affine of a Sub or Div of a layer `x` and a constant after it (`how` its values are read)."""
        import numpy as np

        verb = "takes away" if node.op_type == "Sub" else "divides by"
        x, c = ins
        if x in self.constants or c not in self.constants:
            raise _Unread(
                f"a {node.op_type} other than of a layer and a constant after it: no cnnctl layer kind does it",
                "cnnctl reads x - c and x / c, c one value or one per channel, as an affine",
            )
        values = self.fixed(c, node.input[0])
        if values is None:
            self.refuse_stored(ins, verb)
        if how == "reciprocal" and 0.0 in values:
            raise _Unread(f"divides by the stored {shown(c)}, which holds a zero")
        values = tuple(float(READ_AS[how](np.float32(v))) for v in values)  # in float32, as the weights are read
        words, stored = _affine_words(name, values, c, how)
        return self.layer("affine", words, [x], _node_id(node, "affine"), stored=stored)

    def refuse_stored(self, ins: list, verb: str) -> None:
        """An Add or Mul with stored values where no cnnctl kind takes them (a fixed offset or
        factor, a learned shift, a factor not one per channel): told at the node, with its dims."""
        stored = next((t for t in ins if t in self.constants), None)
        if stored is None:
            return
        tensor = self.constants[stored]
        dims = list(self.decoded[stored].shape) if tensor is FOLDED else [int(d) for d in tensor.dims]
        held = "one value" if _count(dims, 1) == 1 else "values of " + "x".join(str(d) for d in dims[:6])
        raise _Unread(
            f"{verb} the stored {shown(stored)} ({held}), not one value or one per channel: no cnnctl layer kind does",
            "cnnctl reads an Add or Mul of layers (a residual, a gate), and an Add or Mul of a layer and stored "
            "values, one or one per channel (affine, layerscale)",
        )

    def leaky(self, node, a: dict, ins: list) -> Layer | None:
        return self.activation(node, f"leaky slope={_float(a, 'alpha', 0.01):g}")

    def hardsigmoid(self, node, a: dict, ins: list) -> Layer | None:
        alpha, beta = _float(a, "alpha", 0.2), _float(a, "beta", 0.5)
        if not (math.isclose(alpha, 1 / 6, rel_tol=1e-4) and math.isclose(beta, 0.5)):
            raise _Unread("alpha and beta are not PyTorch's 1/6 and 1/2")
        return self.activation(node, "hardsigmoid")

    def clip(self, node, a: dict, ins: list) -> Layer | None:
        low = a["min"] if "min" in a else self.const(node, 1)
        high = a["max"] if "max" in a else self.const(node, 2)
        if low is None or high is None or _scalar(low, "min") != 0.0 or _scalar(high, "max") != 6.0:
            raise _Unread("a clip other than [0, 6] (relu6)")
        return self.activation(node, "relu6")

    def softmax(self, node, a: dict, ins: list) -> Layer | None:
        axis = _int(a, "axis", -1)
        x = ins[0]
        parts = self.grid.get(x) if x in self.grid and not self.grid[x][2] else None
        if parts is not None or (x in self.radix and self.radix[x][3]):
            if axis != 1:
                raise _Unread(f"softmax over axis {axis} of reshaped channels", "cnnctl's rsoftmax runs across parts")
            if parts is not None:  # one group: N x radix x D x H x W
                volume, groups, radix, nodes = parts[0], 1, parts[1], parts[3]
            else:
                volume, groups, radix, _, nodes = self.radix[x]
            if not self.keeps_examples(nodes[0], volume):
                raise _Unread(
                    "a softmax across a reshape that mixes the examples or changes the number of values",
                    "cnnctl reads N x radix x ... (or N x groups x radix x ...) of each example's values",
                )
            self.radix_out.add(node.output[0])
            words = [str(radix)] + ([f"groups={groups}"] if groups > 1 else [])
            return self.layer("rsoftmax", words, [volume], _node_id(node, "rsoftmax"), list(nodes))
        if axis not in (1, -1):
            raise _Unread(f"softmax over axis {axis}", "cnnctl's runs over the channels")
        return self.activation(node, "softmax")

    def keeps_examples(self, reshape: int, volume: str) -> bool:
        """Whether the Reshape node `reshape` keeps the batch first (-1, 0 or the batch's size)
        and each example's values whole (their product is the volume's C x H x W): then a softmax
        over its axis 1 runs across equal parts of each example's channels, whatever the other dims."""
        dims = [int(d) for d in self.const(self.nodes[reshape], 1)]
        shape = self.shape(volume)
        if shape is None or len(shape) != 4 or None in shape[1:] or any(d <= 0 for d in dims[1:]):
            return False
        return dims[0] in (-1, 0, shape[0]) and math.prod(dims[1:]) == math.prod(shape[1:])

    def resize(self, node, a: dict, ins: list) -> Layer:
        hint = "cnnctl's upsample repeats each pixel a whole number of times, across and down alike"
        scales = self.const(node, 2 if node.op_type == "Resize" else 1)
        if _text(a, "mode", "nearest") != "nearest" or scales is None or scales.shape != (4,):
            raise _Unread("only nearest upsampling by constant scales is read", hint)
        n, c, h, w = (float(s) for s in scales)
        if (n, c) != (1.0, 1.0):
            raise _Unread(f"scales N and C by {n:g} and {c:g}", "cnnctl's upsample scales height and width only")
        if h != w:
            raise _Unread(f"scales height by {h:g} and width by {w:g}", hint)
        if not (math.isfinite(h) and h.is_integer() and h >= 1):
            raise _Unread(f"scales by {h:g}: not a whole factor", hint)
        return self.layer("upsample", [str(int(h))], ins[:1], _node_id(node, "upsample"))

    def reshape(self, node, a: dict, ins: list) -> Layer | None:
        shape = self.const(node, 1)
        x = ins[0]
        if self.index in self.relaid:  # timm's ECA gate, N x 1 x C to N x C x 1 x 1: cnnctl's 1x1xC as it is
            self.alias[node.output[0]] = x
            self.made[x].nodes.append(self.index)
            return None
        if x in self.radix_out and shape is not None and len(shape) in (2, 4):  # a radix softmax, back
            self.alias[node.output[0]] = x
            self.made[x].nodes.append(self.index)
            return None
        # a radix softmax's groups of parts: N, groups, radix, D/groups, H, W
        if shape is not None and shape.shape == (6,) and x not in self.radix:
            self.radix[node.output[0]] = (x, int(shape[1]), int(shape[2]), False, [self.index])
            return None
        # a shuffle's grid: N, groups, C/groups, H, W (or a radix softmax's parts: N, radix, D, H, W)
        if shape is not None and shape.shape == (5,) and x not in self.grid:
            self.grid[node.output[0]] = (x, int(shape[1]), False, [self.index])
            return None
        if x in self.grid and self.grid[x][2] and shape is not None and len(shape) in (2, 4):
            volume, groups, _, nodes = self.grid[x]
            return self.layer("shuffle", [str(groups)], [volume], _node_id(node, "shuffle"), nodes)
        if shape is not None and shape.shape == (1,) and self.strided_back(node):  # the tensor itself
            self.alias[node.output[0]] = x
            return None
        if shape is not None and shape.shape == (2,) and self.flattens(node, a, [int(v) for v in shape]):
            return self.layer("flatten", [], ins[:1], _node_id(node, "flatten"))
        raise _Unread("a reshape other than a channel shuffle's or a flatten's (to N x -1)")

    def expand(self, node, a: dict, ins: list) -> None:
        """y.expand_as(x) read only by an element-wise Mul or Add with x (timm's ECA gate): y itself,
        where what it expands to is x's shape, as the Mul or Add broadcasting y would give the same."""
        import numpy as np

        target, dims = self.const(node, 1), self.shape(node.input[0])
        j = self.only_reader(node.output[0])
        joins = j is not None and self.nodes[j].op_type in ("Mul", "Add") and len(self.nodes[j].input) == 2
        other = [t for t in self.nodes[j].input if t != node.output[0]] if joins else []
        theirs = self.shape(other[0]) if len(other) == 1 else None
        expanded = None
        if target is not None and target.ndim == 1 and dims is not None and None not in dims:
            try:
                expanded = np.broadcast_shapes(dims, tuple(int(v) for v in target))
            except ValueError:  # shapes that do not broadcast: ONNX's own rule broken
                expanded = None
        if expanded is None or theirs is None or tuple(theirs) != expanded:
            raise _Unread(
                "an Expand other than to the shape of what the one Mul or Add reading it takes with it",
                "cnnctl's mul and add broadcast a 1x1xC or HxWx1 input themselves: x * y.expand_as(x) is read as x * y",
            )
        self.alias[node.output[0]] = ins[0]

    def strided_back(self, node) -> bool:
        """Whether this Reshape to -1 is read only by a Gather of every value in order, shaped as
        the tensor was (torch's `as_strided` of a tensor to its own size, as the dynamo exporter
        writes it after the mean of an adaptive average pool): the two give the tensor back."""
        import numpy as np

        dims, gather = self.shape(node.input[0]), self.only_reader(node.output[0])
        if dims is None or None in dims or gather is None:
            return False
        after = self.nodes[gather]
        if after.op_type != "Gather" or len(after.input) != 2 or _int(_attrs(after), "axis", 0) != 0:
            return False
        tensor = self.constants.get(after.input[1])
        if tensor is None or tensor is FOLDED or [int(d) for d in tensor.dims] != list(dims):
            return False
        positions = self.values(tensor, after.input[1], cap=MAX_CHANNEL_VALUES)
        if not np.array_equal(positions.reshape(-1), np.arange(positions.size)):
            return False
        self.restrided[gather] = node.input[0]
        return True

    def gather(self, node, a: dict, ins: list) -> Layer | None:
        """The Gather of torch's as_strided (strided_back): the tensor; of one channel, read
        only by an Unsqueeze back at axis 1 (torchvision's transform_input, x[:, k] then
        unsqueeze(1)): a chunk of one channel; of known values: a value."""
        x = self.restrided.get(self.index)
        if x is not None:
            self.alias[node.output[0]] = self.real(x)
            return None
        if self.known(node):
            return self.fold(node, a, ins)
        index, channels = self.const(node, 1), self.channels(node.input[0])
        after = self.only_reader(node.output[0])
        one = index is not None and index.shape == () and channels is not None and -channels <= int(index) < channels
        if _int(a, "axis", 0) != 1 or not one or after is None or not self.unsqueezes_channels(self.nodes[after]):
            raise _Unread(
                "a Gather other than of one channel, unsqueezed back (x[:, k] then unsqueeze(1))",
                "cnnctl reads one channel picked this way as a `chunk` of one channel",
            )
        self.picked.add(node.output[0])
        k = int(index) % channels
        return self.layer("chunk", [str(channels), f"i={k + 1}"], ins[:1], _node_id(node, "chunk"))

    def unsqueezes_channels(self, node) -> bool:
        """Whether `node` is an Unsqueeze at axis 1 (its axes an input from opset 13, else an attribute)."""
        if node.op_type != "Unsqueeze" or node.domain not in ("", "ai.onnx"):
            return False
        axes = self.const(node, 1) if len(node.input) > 1 and node.input[1] else _attrs(node).get("axes")
        return axes is not None and [int(v) for v in list(axes)] == [1]

    def unsqueeze(self, node, a: dict, ins: list) -> None:
        """The Unsqueeze after a Gather of one channel (gather): with it, the chunk."""
        if node.input[0] not in self.picked or not self.unsqueezes_channels(node):
            raise _Unread("an Unsqueeze other than of one channel a Gather picked, at axis 1")
        self.alias[node.output[0]] = ins[0]
        self.made[ins[0]].nodes.append(self.index)

    def flattens(self, node, a: dict, target: list[int]) -> bool:
        """Whether a reshape to `target` keeps the batch and flattens the rest: x.view(N, -1),
        x.reshape(N, C*H*W) (0 copies the batch where allowzero is not set)."""
        dims = self.shape(node.input[0])
        batch = {-1 if target[1] != -1 else None, None if _int(a, "allowzero", 0) else 0}
        if dims is None or len(dims) != 4 or None in dims[1:]:
            return target[1] == -1 and target[0] in {1, *batch}
        return target[0] in {dims[0], *batch} and target[1] in (-1, dims[1] * dims[2] * dims[3])

    def transpose(self, node, a: dict, ins: list) -> None:
        perm, x, out = _ints(a, "perm", []), ins[0], node.output[0]
        if perm == [0, 2, 1, 3, 4, 5] and x in self.radix and not self.radix[x][3]:
            volume, groups, radix, _, nodes = self.radix[x]
            self.radix[out] = (volume, groups, radix, True, [*nodes, self.index])
        elif perm == [0, 2, 1, 3, 4] and x in self.grid:
            volume, groups, _, nodes = self.grid[x]
            self.grid[out] = (volume, groups, True, [*nodes, self.index])
        elif perm == [0, 2, 3, 1]:
            self.nhwc[out] = (x, self.index)
        elif perm == [0, 3, 1, 2] and node.input[0] in self.normed:
            self.alias[out] = x  # back to NCHW: the output of the layer read on channels-last data
            self.made[x].nodes.append(self.index)
        else:
            raise _Unread(f"a transpose {shown(perm, 30)} that is not part of a channel shuffle or layer norm")

    def layernorm(self, node, a: dict, ins: list) -> Layer:
        if _int(a, "axis", -1) != -1:
            raise _Unread("a layer norm over more than the last axis")
        eps = _float(a, "epsilon", 1e-5)
        words = [] if math.isclose(eps, 1e-5, rel_tol=1e-6) else [f"eps={eps:g}"]
        x, nodes = ins[0], []
        if x in self.nhwc:  # over the channels of each position of a volume
            self.normed.add(node.output[0])
            x, transposed = self.nhwc[x]
            nodes = [transposed]
        elif node.input[0] in self.normed:  # on channels-last data already: over its channels too
            self.normed.add(node.output[0])
        name = self.weight_name(node.input[1], _node_id(node, "layernorm"))
        return self.layer("layernorm", words, [x], name, nodes, _stored(node, ("weight", "bias")))

    def lrn(self, node, a: dict, ins: list) -> Layer:
        size, alpha = _int(a, "size", None), _float(a, "alpha", 1e-4)
        beta, k = _float(a, "beta", 0.75), _float(a, "bias", 1.0)
        words = [str(size), f"alpha={alpha:g}", f"beta={beta:g}", f"k={k:g}"]
        return self.layer("lrn", words, ins[:1], _node_id(node, "lrn"))

    def slice(self, node, a: dict, ins: list) -> Layer:
        starts, ends, axes = self.const(node, 1), self.const(node, 2), self.const(node, 3)
        steps = self.const(node, 4)
        channels = self.channels(node.input[0])
        one = all(v is not None and v.shape == (1,) for v in (starts, ends, axes))
        if not one or int(axes[0]) != 1 or channels is None:
            raise _Unread("a slice other than a part of the channels")
        if steps is not None and (steps.shape != (1,) or int(steps[0]) != 1):
            raise _Unread("a strided slice")
        # ONNX's bounds: a negative one counts from the end; both are clamped to the channels
        start, end = (min(max(b + channels if b < 0 else b, 0), channels) for b in (int(starts[0]), int(ends[0])))
        size = end - start
        if size <= 0:
            raise _Unread(f"channels {start} to {end} of {channels}: none")
        if channels % size or start % size:  # channels at any bounds (ReXNet's x[:, :C_in])
            words = [str(start)] + ([str(end)] if end < channels else [])
            return self.layer("slice", words, ins[:1], _node_id(node, "slice"))
        return self.layer("chunk", [str(channels // size), f"i={start // size + 1}"], ins[:1], _node_id(node, "chunk"))

    def split(self, node, a: dict, ins: list) -> None:
        """A Split into equal parts of the channels (how the dynamo exporter writes x.chunk):
        a `chunk` layer for each part something reads."""
        channels, parts = self.channels(node.input[0]), len(node.output)
        if _int(a, "axis", 0) != 1 or channels is None:
            raise _Unread("a split other than into parts of the channels", "cnnctl's chunk splits the channels")
        sizes = self.const(node, 1) if len(node.input) > 1 and node.input[1] else a.get("split")  # opset 13+: input
        sizes = [int(v) for v in sizes] if sizes is not None else [channels // parts] * parts
        if len(set(sizes)) != 1 or sum(sizes) != channels:
            raise _Unread(f"channels split {shown(sizes, 40)}: not equal parts", "cnnctl's chunk takes equal parts")
        name = _node_id(node, "chunk")
        for i, out in enumerate(node.output):
            if out and self.readers.get(out):
                layer = self.layer("chunk", [str(parts), f"i={i + 1}"], ins[:1], f"{name}_{i + 1}", [self.index])
                self.made[out] = layer
                self.order.append((out, layer))
        return None

    def known(self, node) -> bool:
        """Whether every input of `node` is a known value (a constant, or one folded)."""
        return all(t in self.constants for t in node.input if t)

    def fold(self, node, a: dict, ins: list) -> None:
        """Arithmetic on sizes, worked out here: Shape of a tensor whose size is known, Gather,
        Add, Sub, Mul and Div of known values (the torch exporter's bounds of x.chunk's slices).
        The result is a value the next nodes read, as a Constant's."""
        import numpy as np

        op = node.op_type
        if op == "Shape":
            dims = self.shape(node.input[0])
            if dims is None or None in dims:
                raise _Unread("the shape of a tensor whose size is not known here")
            value = np.array(dims, dtype=np.int64)[_int(a, "start", 0) : a.get("end")]
        else:
            values = [self.const(node, i) for i in range(len(node.input))]
            if any(v is None or v.size > MAX_FOLDED for v in values):
                raise _Unread(f"{op} of values that are not small known ones")
            x, y = values[0], values[1]
            if op == "Gather":
                value = np.take(x, y.astype(np.int64), axis=_int(a, "axis", 0))
            elif op == "Div" and np.issubdtype(x.dtype, np.integer):
                if not np.all(y):
                    raise _Unread("a division by zero")
                value = np.trunc(x / y).astype(x.dtype)  # ONNX's integer division truncates
            else:
                value = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](x, y)
        self.constants[node.output[0]] = FOLDED
        self.decoded[node.output[0]] = np.asarray(value)
        return None

    def gelu(self, node, a: dict, ins: list) -> Layer | None:
        """The last node of a written-out GELU (gelu_at): its x, read by two of the pattern's nodes."""
        found = self.patterns[self.index]
        return self.activation(node, "gelu", reads=2, nodes=found.nodes, given=found.x)

    def grn(self, node, a: dict, ins: list) -> Layer:
        """The last node of a GRN (grn_at): its factor and shift per channel stored, its eps."""
        found = self.patterns[self.index]
        gamma, beta, eps, channels_last = found.held
        if channels_last:  # over axes 1 and 2: height and width only where the data is channels-last
            if found.x not in self.normed:
                raise _Unread(
                    "a GRN over axes 1 and 2 (ReduceL2), the channels last (ReduceMean over axis 3), of data that is "
                    "not channels-last",
                    "cnnctl reads it on channels-last data (after a Transpose to NHWC, as in ConvNeXt V2's block), "
                    "and over axes 2 and 3 on NCHW data",
                )
            self.normed.add(node.output[0])  # read over the channels: the output stays channels-last
        words = [] if math.isclose(eps, 1e-6, rel_tol=1e-6) else [f"eps={eps:g}"]
        stored = (("weight", gamma, ""), ("bias", beta, ""))
        return self.layer("grn", words, [self.real(found.x)], _node_id(node, "grn"), found.nodes, stored)

    def channelconv(self, node, a: dict, ins: list) -> Layer:
        """The last node of a convolution across the channels (channelconv_at): its stored filter."""
        found = self.patterns[self.index]
        weight, f = found.held
        name = self.weight_name(weight, _node_id(node, "channelconv"))
        stored = (("weight", weight, ""),)
        return self.layer("channelconv", [str(f)], [self.real(found.x)], name, found.nodes, stored)

    def activate(self, node, a: dict, ins: list) -> Layer | None:
        if node.op_type == "Gelu" and _text(a, "approximate", "none") != "none":
            raise _Unread("GELU's tanh approximation", "cnnctl's gelu is the exact one (erf)")
        return self.activation(node, ACTIVATIONS[node.op_type])

    def activation(
        self, node, act: str, reads: int = 1, nodes: list | None = None, given: str | None = None
    ) -> Layer | None:
        """`act` joins the layer before as `act=` where nothing else reads that layer (SiLU's
        x * sigmoid(x) reads it twice); else it is a layer of its own. `nodes`: others it
        comes from besides the one read (SiLU's sigmoid); `given`: what it reads, where not the
        node's first input (a written-out GELU's x)."""
        given = given or node.input[0]
        x = self.real(given)
        prev = self.made.get(x)
        plain = " " not in act  # an inline act has no arguments (leaky's slope)
        alone = self.readers.get(given, 0) == reads
        if plain and prev is not None and prev.kind in FUSES and alone and not any("act=" in w for w in prev.words):
            prev.words.append(f"act={act}")
            prev.nodes.extend([*(nodes or []), self.index])
            self.alias[node.output[0]] = x
            return None
        kind, *words = act.split()
        return self.layer(kind, words, [x], _node_id(node, kind), nodes)


# A BatchNormalization's inputs after X, as torch's BatchNorm names them (its
# num_batches_tracked has no ONNX counterpart: it counts training steps, unused at inference).
BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


def _affine_words(name: str, values: tuple[float, ...], t: str, how: str = "") -> tuple[list[str], tuple]:
    """`scale=...` or `shift=...` of an affine, and where its buffer's values are stored (read
    `how`: a Sub's negated, a Div's reciprocal); nothing where they do nothing (a scale of 1, a
    shift of 0: the layer holds no buffer for them)."""
    if all(v == (1.0 if name == "scale" else 0.0) for v in values):
        return [], ()
    return [f"{name}={','.join(exact_number(v) for v in values)}"], ((name, t, how),)


def _momentum(kept: float) -> float:
    """Torch's momentum (the batch's share of the running statistics) from ONNX's (theirs kept):
    1 - it, as the shortest decimal whose 1 - d is the float32 stored (0.9 is 0.899999976: 0.1)."""
    import numpy as np

    stored = np.float32(kept)
    for digits in range(1, 10):
        given = round(1.0 - float(stored), digits)
        if np.float32(1.0 - given) == stored:
            return given
    return 1.0 - float(stored)


def _stored(node, params: tuple, transposed: tuple = ()) -> tuple:
    """(parameter, ONNX tensor, how) for each of `params`, read from the node's inputs after the
    first (the layer's input), where given."""
    inputs = node.input[1 : 1 + len(params)]
    pairs = zip(params, inputs, strict=False)
    return tuple((param, t, "transposed" if param in transposed else "") for param, t in pairs if t)


def _window(a: dict, stride: list | None = None) -> list[str]:
    """`s=` and `p=` of a conv or pool (a pool's stride defaults to its window); uneven padding is unread."""
    if _text(a, "auto_pad", "NOTSET") != "NOTSET":
        raise _Unread("auto_pad is not read", "export with explicit pads")
    words = []
    strides = _ints(a, "strides", [1, 1], 2)
    if strides != (stride or [1, 1]):
        words.append(f"s={_pair(strides)}")
    pads = _ints(a, "pads", [0, 0, 0, 0], 4)
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise _Unread(f"uneven padding {pads}", "cnnctl pads both sides of an axis alike")
    if pads[0] or pads[1]:
        words.append(f"p={_pair(pads[:2])}")
    return words


def _write(model, path: str, name: str | None, reader: _Reader) -> Imported:
    """The layers as a network file: references only where a layer does not simply read the one before."""
    order = [(t, layer) for t, layer in reader.order if t not in reader.dropped]
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
            reads[t][0].nodes.extend(layer.nodes)  # the fc is told with the flatten it took in
        else:
            kept.append((t, layer))
    position = {t: i for i, (t, _) in enumerate(kept)}
    position[reader.source] = -1
    entries = [
        Entry(
            " ".join([layer.kind, *layer.words]), tuple(position[through.get(u, u)] for u in layer.inputs), layer.name
        )
        for _, layer in kept
    ]
    traced = traced_layers(entries)
    h, w, c = reader.input_shape
    file = _comment(os.path.basename(path))
    record = recorded_in_onnx({p.key: p.value for p in model.metadata_props}, path)  # what cnnctl's export wrote
    own = model.graph.name if model.graph.name not in ("", "main_graph", "torch_jit", "torch-jit-export") else ""
    title = name or NAME.sub("_", record.get("arch") or own or file.rsplit(".", 1)[0]).strip("_")[:64] or "imported"
    trained = _trained_with(reader.prelude or (record.get("mean"), record.get("std")), c, path)
    classes = record.get("classes", [])
    said = ""
    if classes:
        from ..render.numbers import first

        said = f"# Trained on {len(classes):,} classes, by output index: {_comment(first(classes, 10), 200)}"
    producer = _comment(" ".join(x for x in (model.producer_name, model.producer_version) if x))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), "?")
    head = [
        f"# Imported by cnnctl from {file} (ONNX opset {opset}{', written by ' + producer if producer else ''}):",
        f"# {len(model.graph.node):,} ONNX nodes read as {len(kept):,} layers"
        + (
            ", after the prelude that takes uint8 NHWC pixels and normalises them (see `train:`)."
            if reader.prelude
            else "."
        ),
        *([said] if said else []),
        "version: 1",
        f"name: {title}",
        f"input: {h}x{w}x{c}",
        "layers:",
    ]
    origins = {  # line (1-based) -> the ONNX nodes of each layer it writes
        len(head) + k + 1: [reader.describe_all(kept[i][1].nodes) for i in at] for k, (_, at) in enumerate(traced) if at
    }
    origins[head.index("layers:")] = [f"the graph's input {shown(reader.source)}"]  # the `input:` line
    text = "\n".join([*head, *(line for line, _ in traced), *trained]) + "\n"
    return Imported(text, origins, tuple(layer for _, layer in kept))


def _trained_with(stats: tuple, channels: int, path: str) -> list[str]:
    """The `train:` lines that keep the normalisation the network was trained with (`stats`: the
    mean and std of its prelude or its metadata, or None), where known: training it from its
    weights normalises as they were trained (a network file's `mean` and `std` settings)."""
    mean, std = stats
    if mean is None or std is None:
        return []
    if len(mean) != channels:
        raise CnnctlError.at(
            f"its metadata `cnnctl.mean` holds {len(mean)} numbers for an input of {channels} channels",
            Loc(path),
            hint="one per input channel: was the network changed after cnnctl exported it?",
        )
    return ["train:", *(f"  {key}: {','.join(exact_number(v) for v in values)}" for key, values in
                        (("mean", mean), ("std", std)))]  # fmt: skip
