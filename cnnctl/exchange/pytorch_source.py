"""The network as a readable PyTorch file: one `nn.Module` class, no cnnctl needed to run it.

Its submodules nest as the compiled module's do (`layer3.2.conv1` is
`self.layer3["2"].conv1`), so their `state_dict` keys are equal and a cnnctl checkpoint's
weights load into it. The forward pass is written out layer by layer, one line each, with
the output volume in a comment; a value gets a name of its own only where a later layer
other than the next one reads it (a skip, a branch's input).

How each layer kind is written lives beside its builder (`cnnctl.backend.builders.SOURCES`,
keyed like `cnnctl.layers.KINDS`: a test keeps them equal); this module lays out the file.
Exported with a checkpoint, the file also states the input the network expects: its
docstring says it, and MEAN, STD, `normalize()` and, for images, `adapt()` and `preprocess()`
do it (cnnctl.exchange.preprocessing); the rules of adapting an image's size are written as
cnnctl's own functions (cnnctl.data.adapt.sizing, resized, padded; for a run validated on the
photo recipe's centre crop, cnnctl.data.decode.centre_box, whole_box, resize), their source
copied in.
"""

from __future__ import annotations

import json
import keyword
import re
import textwrap

from ..backend.builders import SOURCES
from ..errors import printable
from ..graph import INPUT, Graph
from ..graph.outputs import inference_graph
from ..shapes import format_shape
from ..writing import is_utf8
from .preprocessing import Preprocessing

WIDTH = 88  # ruff's and black's line length, where the file will most likely be formatted

HELPERS = {
    "LayerNorm2d": '''
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of each position of an NCHW volume (ConvNeXt's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)
''',
    "LayerScale": '''
class LayerScale(nn.Module):
    """A learned factor per channel."""

    def __init__(self, shape: tuple[int, ...], init: float):
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight
''',
    "GRN": '''
class GRN(nn.Module):
    """Global response normalisation (ConvNeXt V2): each channel's L2 norm over H and W,
    divided by its mean over the channels (+ eps); gamma * (x * N) + beta + x."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norms = torch.linalg.vector_norm(x, dim=(2, 3), keepdim=True)
        scaled = norms / (norms.mean(dim=1, keepdim=True) + self.eps)
        gamma, beta = self.weight.view(1, -1, 1, 1), self.bias.view(1, -1, 1, 1)
        return gamma * (x * scaled) + beta + x
''',
    "ChannelConv": '''
class ChannelConv(nn.Module):
    """ECA's 1-D convolution across the channels at each position: one filter of `kernel`
    weights (with `bias`, one value added to every output), the channels laid along a spatial
    axis (C x H*W, an f x 1 filter)."""

    def __init__(self, kernel: int, shape: tuple[int, ...], bias: bool = False):
        super().__init__()
        h, w, c = shape if len(shape) == 3 else (1, 1, shape[0])
        self.weight = nn.Parameter(torch.zeros(1, 1, kernel, 1))
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None
        self.laid = (-1, 1, c, h * w)
        self.volume = (-1, c, h, w) if len(shape) == 3 else (-1, c)
        self.padding = ((kernel - 1) // 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        laid = x.reshape(self.laid)
        return F.conv2d(laid, self.weight, self.bias, padding=self.padding).reshape(self.volume)
''',
    "Affine": '''
class Affine(nn.Module):
    """A fixed scale and shift per channel, x * scale + shift: buffers, not parameters
    (saved in the state_dict, never trained); None: left out (a scale of 1, a shift of 0)."""

    def __init__(self, scale, shift, volume: bool):
        super().__init__()
        for name, values in (("scale", scale), ("shift", shift)):
            if values is not None:
                shape = (len(values), 1, 1) if volume else (len(values),)
                self.register_buffer(name, torch.tensor(values).reshape(shape))
            else:
                setattr(self, name, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is not None:
            x = x * self.scale
        if self.shift is not None:
            x = x + self.shift
        return x
''',
    "channel_shuffle": '''
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """The channels as a groups x C/groups grid, transposed (ShuffleNet)."""
    n, c = x.shape[:2]
    rest = x.shape[2:]
    return x.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)
''',
    "radix_softmax": '''
def radix_softmax(x: torch.Tensor, radix: int, groups: int) -> torch.Tensor:
    """A softmax across `radix` equal parts of the channels at each channel, the channels
    read as `groups` groups of parts and written part by part (ResNeSt's rSoftMax)."""
    n, c = x.shape[:2]
    rest = x.shape[2:]
    parts = x.reshape(n, groups, radix, c // (groups * radix), *rest).transpose(1, 2)
    return parts.softmax(dim=1).reshape(n, c, *rest)
''',
    "DropPath": '''
class DropPath(nn.Module):
    """Stochastic depth: in training each example is dropped with probability `rate`, the
    others scaled by 1/(1 - rate); the identity in eval mode."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep
''',
}


def _identifier(path: str) -> str:
    name = re.sub(r"\W", "_", path.replace(".", "_"))
    return f"_{name}" if name[0].isdigit() or keyword.iskeyword(name) else name


def _access(path: str) -> str:
    """`layer3.2.conv1` -> `self.layer3["2"].conv1`."""
    out = "self"
    for i, part in enumerate(path.split(".")):
        if part.isidentifier() and not keyword.iskeyword(part):
            out += f".{part}"
        elif i == 0:
            out = f'getattr(self, "{part}")'
        else:
            out += f'["{part}"]'
    return out


def _docstring(text: str) -> str:
    """A user's text (the network's name, its description) inside a docstring of the file:
    no three quotes to end it, no backslash to start an escape (`\\N` is a syntax error),
    control characters written `\\x1b` as they read, not as an ESC in the string."""
    return printable(text.replace("\\", "/").replace('"""', "'''")).replace("\\", "\\\\")


def class_name(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    made = "".join(w[:1].upper() + w[1:] for w in words if w) or "Net"
    return f"Net{made}" if made[0].isdigit() else made


NORMALIZE = '''
def normalize(images: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) of pixel values 0 to 255 (RGB or grayscale) as the network
    takes them: scaled to 0..1, then (x - MEAN) / STD per channel."""
    mean = torch.tensor(MEAN).view(1, -1, 1, 1)
    std = torch.tensor(STD).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std
'''

# After sizing(), resized() and padded(), whose source is cnnctl's own (cnnctl.data.adapt).
ADAPT = '''
def adapt(image, invert: bool = False) -> torch.Tensor:
    """A PIL image, or a uint8 array (H, W) or (H, W, C), as the network's (1, C, H, W)
    uint8 pixels, adapted as `cnnctl predict` adapts an image file: converted to MODE by
    Pillow (any alpha channel dropped), inverted with `invert` (255 - value), padded or
    resized to SIZE as sizing() says, its gray value replicated to CHANNELS. One more than
    REDUCE_FROM times SIZE on a side is first reduced (_reduce_early(); a JPEG not yet
    loaded, as Image.open gives it, while it is decoded)."""
    import numpy as np
    from PIL import Image

    # what shows an image upright, by its EXIF orientation (as exif_transpose)
    T = Image.Transpose
    TURNS = {
        2: T.FLIP_LEFT_RIGHT,
        3: T.ROTATE_180,
        4: T.FLIP_TOP_BOTTOM,
        5: T.TRANSPOSE,
        6: T.ROTATE_270,
        7: T.TRANSVERSE,
        8: T.ROTATE_90,
    }

    if not isinstance(image, Image.Image):
        pixels = np.asarray(image, dtype=np.uint8)
        if pixels.ndim == 3 and pixels.shape[2] == 1:
            pixels = pixels[:, :, 0]
        image = Image.fromarray(pixels)
    # a photo stored sideways (its EXIF orientation): shown upright, as cnnctl reads it,
    # once reduced as _reduce_early() says where it is much larger than SIZE
    turn = image.getexif().get(0x0112, 1)
    image = _reduce_early(image, SIZE[::-1] if turn in (5, 6, 7, 8) else SIZE, MODE)
    if turn in TURNS:
        image = image.transpose(TURNS[turn])
    image = image.convert(MODE)
    x = torch.from_numpy(np.array(image)).reshape(image.height, image.width, -1)
    x = x.permute(2, 0, 1)[None]
    if invert:
        x = 255 - x
    how = sizing((image.height, image.width), SIZE, PAD)
    if how == "pad":
        x = padded(x, SIZE)
    elif how:
        x = resized(x, SIZE, how)
    return x.expand(-1, CHANNELS, -1, -1).contiguous()
'''

PREPROCESS = '''
def preprocess(image, invert: bool = False) -> torch.Tensor:
    """A PIL image, or a uint8 array (H, W) or (H, W, C), as the network takes it: (1, C,
    H, W) float32, adapted (adapt()) and normalised (normalize()), as `cnnctl predict`
    prepares an image file. `invert` for an image drawn the other way round from the
    training images (predict's --invert)."""
    return normalize(adapt(image, invert))
'''


# After centre_box(), whole_box(), _span() and resize(), whose source is cnnctl's own
# (cnnctl.data.decode): the validation recipe of a run that streamed random resized crops.
ADAPT_CENTRE = '''
def adapt(image, invert: bool = False) -> torch.Tensor:
    """A PIL image, or a uint8 array (H, W) or (H, W, C), as the network's (1, C, H, W)
    uint8 pixels, prepared as `cnnctl predict` prepares an image file for this network (as
    its validation images were): the centre part centre_box() says, its corners rounded to
    whole pixels (whole_box()), converted to MODE by Pillow (any alpha channel dropped) and
    resized to SIZE (resize()), inverted with `invert` (255 - value), its gray value
    replicated to CHANNELS. A JPEG not yet loaded (as Image.open gives it) is first reduced
    while it is decoded (Pillow's draft()) to the least size the crop keeps SIZE's pixels in;
    a crop still more than REDUCE_FROM times SIZE on a side, by _reduce_early()."""
    import numpy as np
    from PIL import Image, ImageOps

    if not isinstance(image, Image.Image):
        pixels = np.asarray(image, dtype=np.uint8)
        if pixels.ndim == 3 and pixels.shape[2] == 1:
            pixels = pixels[:, :, 0]
        image = Image.fromarray(pixels)
    # The EXIF orientation of a photo stored sideways: 5 to 8 swap its sides as shown.
    turn = image.getexif().get(0x0112, 1)
    swapped = turn in (5, 6, 7, 8)
    (h, w), (width, height) = SIZE, image.size[::-1] if swapped else image.size
    left, top, right, bottom = centre_box(h, w, CENTRE)(width, height)
    if image.format == "JPEG":
        need = (math.ceil(width * w / (right - left)), math.ceil(height * h / (bottom - top)))
        least = (min(need[0], width), min(need[1], height))
        image.draft(None, least[::-1] if swapped else least)  # scaled only, as stored
    if turn != 1:  # shown upright, as cnnctl reads it
        image = ImageOps.exif_transpose(image)
    sx, sy = image.size[0] / width, image.size[1] / height
    box = (left * sx, top * sy, right * sx, bottom * sy)
    image = image.crop(whole_box(box, *image.size)).convert(MODE)
    image = _reduce_early(image, SIZE, MODE)  # a crop still much larger than SIZE
    x = torch.from_numpy(np.array(image)).reshape(image.height, image.width, -1)
    x = resize(x.permute(2, 0, 1), SIZE)[None]
    if invert:
        x = 255 - x
    return x.expand(-1, CHANNELS, -1, -1).contiguous()
'''


def _reduce_constants() -> list[str]:
    """REDUCE_FROM and REDUCE_TO, which _reduce_early() reads, as the file states them."""
    from ..data import decode

    return [
        "# An image more than REDUCE_FROM times SIZE on a side is reduced to no less than",
        "# REDUCE_TO times it before it is resized (_reduce_early()).",
        f"REDUCE_FROM = {decode.REDUCE_FROM!r}",
        f"REDUCE_TO = {decode.REDUCE_TO!r}",
    ]


def _statistics(expects: Preprocessing | None) -> list[str]:
    """MEAN, STD and normalize(), where the training data's statistics are known; for images,
    also the input's SIZE, CHANNELS and MODE and adapt() and preprocess(), which follow
    cnnctl's own rules (their functions' source: cnnctl.data.adapt)."""
    if expects is None or expects.mean is None or expects.std is None:
        return []
    constants = [
        "# The training images' mean and standard deviation per channel, of pixel values / 255.",
        f"MEAN = {tuple(float(v) for v in expects.mean)!r}",
        f"STD = {tuple(float(v) for v in expects.std)!r}",
    ]
    if expects.classes:
        # "..." as ruff quotes; a name the OS gave that is not UTF-8 (a class folder's) as an escaped
        # literal ("r\udce9"), which Python reads back as the same string: the file stays UTF-8.
        names = ", ".join(json.dumps(name, ensure_ascii=not is_utf8(name)) for name in expects.classes)
        constants += ["# The classes, by output index.", f"CLASSES = ({names}{',' * (len(expects.classes) == 1)})"]
    if len(expects.shape) != 3:
        return [*constants, "", NORMALIZE.rstrip("\n"), ""]  # after the imports' blank line
    import inspect

    from ..data import adapt, decode
    from ..data.decode import mode_for

    c, h, w = expects.shape
    constants += [
        "# The input's height and width, its channels, and the Pillow mode images are read in.",
        f"SIZE = {(h, w)!r}",
        f"CHANNELS = {c}",
        f'MODE = "{mode_for(c)}"',
    ]
    if expects.centre is not None:  # the photo recipe's centre crop, as the run's validation took it
        constants += [
            "# Images are resized to cover SIZE at 1 / CENTRE of it, then the centre SIZE is taken.",
            f"CENTRE = {expects.centre!r}",
            "Box = tuple[float, float, float, float]  # left, top, right, bottom, in pixels",
        ]
        constants += _reduce_constants()
        functions = (decode.centre_box, decode.whole_box, decode._span, decode._reduce_early, decode.resize)
        rules = [inspect.getsource(f).rstrip("\n") for f in functions]
        blocks = [NORMALIZE.strip("\n"), *rules, ADAPT_CENTRE.strip("\n"), PREPROCESS.strip("\n")]
        return [*constants, "", "", "\n\n\n".join(blocks), ""]
    constants += [
        "# A smaller image is padded (not resized) while the input is at most this much larger",
        "# (where PAD is True; a network trained on images with masks had them resized).",
        f"PAD_RATIO = {adapt.PAD_RATIO!r}",
        f"PAD = {expects.pad!r}",
    ]
    constants += _reduce_constants()
    functions = (adapt.sizing, adapt.resized, adapt.padded, decode._reduce_early)
    rules = [inspect.getsource(f).rstrip("\n") for f in functions]
    blocks = [NORMALIZE.strip("\n"), *rules, ADAPT.strip("\n"), PREPROCESS.strip("\n")]
    return [*constants, "", "", "\n\n\n".join(blocks), ""]


def _standard_imports(statistics: list[str]) -> list[str]:
    """The standard library's modules the copied input rules use (`math`; `Callable` in the
    centre crop's annotations), then a blank line; nothing where they use none."""
    imports = ["import math"] if any("math." in line for line in statistics) else []
    imports += ["from collections.abc import Callable"] if any("Callable[" in line for line in statistics) else []
    return [*imports, ""] if imports else []


def pytorch_source(graph: Graph, expects: Preprocessing | None = None) -> str:
    """A Python file defining the network as an nn.Module named after it; `expects`: the
    input it takes (with a checkpoint: its normalisation, stated and written as normalize()).
    The inference network: heads only training runs (`outputs:`) are left out."""
    graph = inference_graph(graph)
    uses: dict[int, list[int]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            uses.setdefault(i, []).append(n.index)
    taken: set[str] = set()

    def var(i: int) -> str:
        """The name holding output `i`: `x` if only the next layer reads it."""
        readers = uses.get(i, [])
        if i == INPUT:
            return "x" if readers == [0] else "image"
        if readers == [i + 1] or i == len(graph.nodes) - 1:
            return "x"
        return names[i]

    names: dict[int, str] = {}
    for n in graph.nodes:
        name = _identifier(n.path)
        while name in taken or name in ("x", "image", "self", "torch", "nn", "F"):
            name += "_"
        taken.add(name)
        names[n.index] = name

    tree: dict = {}  # the constructors, nested by path
    lines: list[str] = []
    helpers: set[str] = set()
    first = var(INPUT)
    if first != "x":
        lines.append("image = x")
    for n in graph.nodes:
        ins = graph.input_shapes(n)
        made, expr = SOURCES[n.kind](n, ins, [var(i) for i in n.inputs], _access(n.path))
        helpers.update(h for h in HELPERS if f"{h}(" in f"{made} {expr}")
        if made is not None:
            node = tree
            *groups, leaf = n.path.split(".")
            for g in groups:
                node = node.setdefault(g, {})
            node[leaf] = made
        code, comment = f"{var(n.index)} = {expr}", f"# {format_shape(n.shape)}"
        # the output volume beside the line, or above it where the two would be too long together
        lines += [f"{code}  {comment}"] if len(code) + len(comment) + 10 <= WIDTH else [comment, code]
    lines.append("return x")

    init: list[str] = []
    for key, value in tree.items():
        target = f"self.{key}" if key.isidentifier() and not keyword.iskeyword(key) else None
        text = _tree(value, "")
        init.append(f"{target} = {text}" if target else f'self.add_module("{key}", {text})')
    cls = class_name(graph.name)
    statistics = _statistics(expects)
    used = [HELPERS[h] for h in helpers]  # ChannelConv's forward calls F.conv2d: F imported for it too
    title, doc = _docstring(graph.title), _docstring(graph.description or graph.title)
    out = [
        f'"""{title}: written by cnnctl from {_docstring(graph.file.rsplit("/", 1)[-1])}.',
        "",
        f"{doc}",
        f"Input NCHW: (N, {graph.input_shape[2]}, {graph.input_shape[0]}, {graph.input_shape[1]})"
        if len(graph.input_shape) == 3
        else f"Input: (N, {graph.input_shape[0]})",
        f"Output: {format_shape(graph.output_shape)}; {graph.params:,} parameters.",
        *_docstring_input(expects),
        *(textwrap.wrap(f"It gives {expects.output}.", WIDTH) if expects is not None and expects.output else []),
        '"""',
        "",
        *_standard_imports(statistics),
        "import torch",
        *(["import torch.nn.functional as F"] if any("F." in text for text in [*lines, *statistics, *used]) else []),
        "from torch import nn",
        "",
        *statistics,
    ]
    for h in sorted(helpers):
        out += ["", HELPERS[h].strip("\n"), ""]
    out += [
        "",
        f"class {cls}(nn.Module):",
        f'    """{title}, {graph.params:,} parameters."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *(f"        {line}" for line in "\n".join(init).splitlines()),
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        *(f"        {line}" for line in lines),
        "",
    ]
    return "\n".join(w for line in "\n".join(out).split("\n") for w in _wrap(line))


def _docstring_input(expects: Preprocessing | None) -> list[str]:
    """The docstring's lines on preparing the input, where it is known."""
    if expects is None:
        return []
    if expects.mean is None:
        return ["", *textwrap.wrap(f"Input preparation: {expects.steps()}.", WIDTH)]
    if not expects.adaptation:
        return ["", *textwrap.wrap(f"Input preparation: {expects.steps()}; normalize(images) below does both.", WIDTH)]
    said = f"Input preparation, as `cnnctl predict` does it: {expects.adaptation}. Then {expects.steps()}."
    does = "preprocess(image) below does all of it (adapt() then normalize())."
    classes = "CLASSES below names the outputs, in order." if expects.classes else ""
    return ["", *textwrap.wrap(said, WIDTH), *textwrap.wrap(f"{does} {classes}".strip(), WIDTH)]


def _split_top(text: str) -> list[str]:
    """`a, (b, c), d=[e, f]` -> its top-level comma-separated parts."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    last = text[start:].strip()
    return [*parts, last] if last else parts


def _wrap(line: str) -> list[str]:
    """A line longer than WIDTH broken at its last bracket as ruff's formatter breaks it:
    the contents on one line of their own if they fit, else one item a line, with a comma;
    an assignment of a sum or product of names (`x = a + b`) in parentheses, on one line of
    its own if it fits, else one operand a line, each after its operator."""
    if len(line) <= WIDTH:
        return [line]
    body = line.rstrip(",")
    closer = body[-1:]
    if closer not in ")]":
        return _wrap_operands(line)
    opener, depth = {")": "(", "]": "["}[closer], 0
    for i in range(len(body) - 1, -1, -1):
        depth += body[i] == closer
        depth -= body[i] == opener
        if depth == 0:
            break
    else:
        return [line]
    head, inner, tail = body[: i + 1], body[i + 1 : -1], closer + line[len(body) :]
    indent = " " * (len(line) - len(line.lstrip()))
    if not inner.strip():
        return [line]
    if len(indent) + 4 + len(inner) <= WIDTH:
        return [head, indent + "    " + inner, indent + tail]
    items = [w for part in _split_top(inner) for w in _wrap(f"{indent}    {part},")]
    return [head, *items, indent + tail]


def _wrap_operands(line: str) -> list[str]:
    """`x = a + b` too long, as ruff formats it (see `_wrap`); any other line as it is."""
    indent = " " * (len(line) - len(line.lstrip()))
    target, equals, value = line.strip().partition(" = ")
    words = value.split(" ")
    operators, operands = words[1::2], words[0::2]
    if not equals or len(words) < 3 or len(set(operators)) != 1 or operators[0] not in "+*":
        return [line]
    if not all(w.isidentifier() for w in operands):
        return [line]
    inner = indent + "    "
    if len(inner) + len(value) <= WIDTH:
        return [f"{indent}{target} = (", inner + value, f"{indent})"]
    rest = [f"{inner}{operators[0]} {w}" for w in operands[1:]]
    return [f"{indent}{target} = (", inner + operands[0], *rest, f"{indent})"]


def _tree(value: dict | str, indent: str) -> str:
    """A constructor, or an nn.ModuleDict of them written as a nested literal (as ruff formats it)."""
    if isinstance(value, str):
        return value
    inner = indent + "    "
    lines = ["nn.ModuleDict(", f"{inner}{{"]
    lines += [f'{inner}    "{k}": {_tree(v, inner + "    ")},' for k, v in value.items()]
    return "\n".join([*lines, f"{inner}}}", f"{indent})"])
