"""The compiled network written for other tools: ONNX, TorchScript, or a PyTorch source file,
with a checkpoint's weights or freshly initialised ones, and checked before it is kept; or its
weights alone, as a .safetensors file named as the network's own (what `--weights` reads).

Each file is written beside its target, checked, then renamed into place: an ONNX file is run
by ONNX Runtime (where installed) and a TorchScript file reloaded, and their outputs compared
with PyTorch's on a random input; a PyTorch source file is imported and its module run with
the same weights; a .safetensors file is read back as `--weights` reads it, into the network
anew, and run. A check that fails leaves nothing behind. Each file, and the report, states
the input the network expects: the run's normalisation, how predict adapts an image to the
input, the class names (cnnctl.exchange.preprocessing). With --with-preprocessing, ONNX and
TorchScript hold the network behind its normalisation: uint8 NHWC pixels in (WithPreprocessing).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import io
import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch

from ..backend import to_torch
from ..device_memory import SMALLER_INPUT, memory_guard, refuse_beyond_memory
from ..errors import CnnctlError, Loc, Problem, printable
from ..graph import Graph
from ..graph.outputs import dense_shape, inference_graph
from ..records import record
from ..shapes import format_shape
from ..words import size
from ..writing import refuse_unwritable, replaces_companion, write_file, write_through
from .onnx_padding import pads_taken_in
from .preprocessing import TORCHSCRIPT_FILE, Preprocessing
from .pytorch_source import class_name, pytorch_source

FORMATS = ("onnx", "torchscript", "pytorch", "safetensors")
SUFFIXES = {".onnx": "onnx", ".py": "pytorch", ".ts": "torchscript", ".jit": "torchscript",
            ".safetensors": "safetensors"}  # fmt: skip
# What PyTorch users save a state_dict to (torch.save), and TorchScript too: written only as
# TorchScript asked for by name (--to torchscript), else refused with the choices.
AMBIGUOUS = (".pt", ".pth")
NAMES = {"onnx": "ONNX", "pytorch": "PyTorch source", "torchscript": "TorchScript",
         "safetensors": "safetensors weights"}  # fmt: skip
EXAMPLES = {"onnx": ".onnx", "pytorch": ".py", "torchscript": ".ts", "safetensors": ".safetensors"}
TOLERANCE = 1e-4  # largest absolute difference from PyTorch's output that passes the check
OPSET = 20  # the first with Gelu as one operator (opset 17 spells it with Erf)


@record
class Exported:
    file: str
    format: str
    weights: str  # where they came from: a checkpoint's path, or "initialised"
    checked: str  # what the check ran: "ONNX Runtime", "torch.jit.load", "the module itself", or ""
    difference: float  # its largest absolute difference from PyTorch's output
    input: Preprocessing  # what the network expects: its shape, and the run's normalisation
    extra: tuple[str, ...] = ()  # other files written (a source file's weights)
    replaced: tuple[str, ...] = ()  # those of `extra` that replaced the one export wrote for `file` before


def format_for(out: str, asked: str | None) -> str:
    """What to write to `out`: `asked` (--to), else what its suffix names; a suffix that
    names another format than the one asked for is refused (a `.onnx` file of TorchScript
    would be read as ONNX by every other tool, and fail). `.pt` and `.pth` (AMBIGUOUS) hold
    TorchScript only where it is asked for."""
    suffix = Path(out).suffix.lower()
    stem = Path(out).with_suffix("")
    if suffix in AMBIGUOUS and asked != "torchscript":
        raise CnnctlError.at(
            f"`{out}` ends in {suffix}, which PyTorch uses for a state_dict (torch.save) and for TorchScript alike",
            hint=f"TorchScript: name it {stem}.ts, or give --to torchscript to keep {suffix}; the network as "
            f"PyTorch source with its trained weights as a state_dict beside it: -o {stem}.py (writes {stem}.pt too, "
            f"with --checkpoint or --weights); the weights alone: -o {stem}.safetensors",
        )
    if asked is not None:
        named = SUFFIXES.get(suffix)
        if named is not None and named != asked:
            raise CnnctlError.at(
                f"`{out}` ends in {suffix}, which names {NAMES[named]}; --to {asked} writes {NAMES[asked]}",
                hint=f"name it {Path(out).with_suffix(EXAMPLES[asked])}, or give --to {named}",
            )
        return asked
    if suffix not in SUFFIXES:
        named = "end the name in .onnx, .ts (TorchScript), .py or .safetensors (the weights alone)"
        raise CnnctlError.at(
            f"cannot tell what to write from `{out}`",
            hint=f"give --to onnx|torchscript|pytorch|safetensors, or {named}",
        )
    return SUFFIXES[suffix]


@record
class Trained:
    """A network with trained weights, as export takes it: gathered by the layer that reads
    runs and weights files (cnnctl.train.weighted.trained_for_export, for --checkpoint and
    --weights), so that export itself only writes files."""

    model: torch.nn.Module  # the graph compiled, its weights in it, in eval mode, on the CPU
    said: str  # where the weights came from (and how they were placed), in words
    mean: tuple[float, ...] | None = None  # the input's normalisation; None where none is known
    std: tuple[float, ...] | None = None
    classes: tuple[str, ...] = ()  # the class names by output index, where known
    # The training images' background, where they have a convention (MNIST's light on dark):
    # the data they came from and how they are drawn ("light on dark"); None for photos.
    background: tuple[str, str] | None = None
    # How validation prepared the images: None, adapted whole; else the centre crop of the photo
    # recipe, its share of the resized image (cnnctl.data.decode.centre_box; a run that streamed
    # random resized crops, torchvision's weights).
    centre: float | None = None
    unknown: str = "the checkpoint records none"  # why no normalisation is known, where none is


def output_said(graph: Graph) -> str:
    """What the exported network gives, in words: a final softmax (a layer, or `act=softmax`), which
    export keeps (training leaves it to the loss), makes probabilities; else scores (logits)."""
    last, shape = graph.nodes[-1], graph.output_shape
    dims = f"(N, {shape[2]}, {shape[0]}, {shape[1]}) NCHW" if len(shape) == 3 else f"(N, {', '.join(map(str, shape))})"
    per = " per pixel" if len(shape) == 3 else ""
    if last.applies_softmax:
        return f"float32 {dims}: probabilities{per}, a softmax over the {shape[-1]:,} classes (they sum to 1)"
    return f"float32 {dims}: scores{per} (logits, no softmax): apply a softmax for probabilities"


def model_for(graph: Graph, trained: Trained | None) -> tuple[torch.nn.Module, str, Preprocessing]:
    """The compiled graph in eval mode, with the `trained` weights where given (else freshly
    initialised ones), where they came from in words, and the input it expects (with their
    normalisation, and how images are adapted)."""
    shape = graph.input_shape
    per_example = (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)
    if trained is None:
        unknown = "initialised weights: export with --checkpoint RUN for a trained network and its normalisation"
        return (
            to_torch(graph).eval(),
            "initialised (no --checkpoint)",
            Preprocessing(per_example, unknown=unknown, output=output_said(graph)),
        )
    model = trained.model.to(memory_format=torch.contiguous_format)
    known = {  # what the run used, whether or not its normalisation is known
        "adaptation": adaptation(graph, trained.background, trained.centre),
        "classes": tuple(trained.classes),
        "pad": dense_shape(graph) is None,  # the images of masks were resized, never padded
        "centre": trained.centre,
        "output": output_said(graph),
    }
    if trained.mean is None or trained.std is None:
        return model, trained.said, Preprocessing(per_example, unknown=trained.unknown, **known)
    return model, trained.said, Preprocessing(per_example, tuple(trained.mean), tuple(trained.std), **known)


def without_heads(graph: Graph, model: torch.nn.Module) -> tuple[Graph, torch.nn.Module]:
    """The network an exported file holds: the inference network, without the heads only
    training runs (`outputs:`), and its weights taken from `model`'s (the same paths)."""
    if not graph.heads:
        return graph, model
    inference = inference_graph(graph)
    slim, weights = to_torch(inference).eval(), model.state_dict()
    slim.load_state_dict({name: weights[name] for name in slim.state_dict()})
    return inference, slim


def adaptation(graph: Graph, background: tuple[str, str] | None, centre: float | None = None) -> str:
    """How `cnnctl predict` adapts an image file to the trained network, in words: derived
    from the input's size and channels by predict's own rules (cnnctl.data.decode.adaptation),
    the centre crop of the photo recipe where its validation took one (`centre`, Trained),
    and, for training images of a clear `background` (their data, how they are drawn: see
    Trained), that an image drawn the other way round may be inverted first (predict's --invert, an
    option)."""
    if len(graph.input_shape) != 3:
        return ""
    from ..data.decode import adaptation as rules

    words = rules(graph.input_shape, pad=dense_shape(graph) is None, centre=centre)  # images with masks: resized
    if background is not None:
        data, drawn = background
        words += (
            f"; the training images ({data}) were {drawn}: an image drawn the other way round "
            "may be inverted first, an option, never done of itself (255 - value: `cnnctl predict --invert`)"
        )
    return words


class WithPreprocessing(torch.nn.Module):
    """`net` taking images as their pixels: (N, H, W, C) uint8, already adapted to the input's
    size (Preprocessing.adaptation), scaled by 1/255 and normalised with the run's mean and std
    here, in the arithmetic `cnnctl predict` uses (--with-preprocessing)."""

    def __init__(self, net: torch.nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float() / 255
        return self.net((x - self.mean) / self.std)


EXAMPLE_BATCH = 2  # what the export is checked on: a batch of random inputs
EXPORT_HINT = f"{SMALLER_INPUT} (export checks the network on a batch of {EXAMPLE_BATCH} at its input)"


def check_example_fits(graph: Graph, batch: int = EXAMPLE_BATCH) -> None:
    """Refuse, before allocating, a check that cannot fit in the machine's memory (an input of
    100000x100000x3 is a valid network to analyse, but its example batch alone is 240 GB):
    float32 copies of the input, the largest layer output and the weights."""
    largest = max((math.prod(node.shape) for node in graph.nodes), default=0)
    need = 4 * (batch * (math.prod(graph.input_shape) + largest) + graph.params + graph.buffers)
    about = f"checking the export runs a batch of {batch} at {format_shape(graph.input_shape)}"
    refuse_beyond_memory(need, torch.device("cpu"), f"{about}: its input, largest output and weights need "
                         f"{size(need)} as float32", hint=EXPORT_HINT)  # fmt: skip


def example_input(graph: Graph, batch: int = EXAMPLE_BATCH) -> torch.Tensor:
    check_example_fits(graph, batch)
    shape = graph.input_shape
    dims = (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape
    return torch.randn(batch, *dims, generator=torch.Generator().manual_seed(0))


def example_images(graph: Graph, batch: int = EXAMPLE_BATCH) -> torch.Tensor:
    """Random uint8 pixels (N, H, W, C): what a network exported --with-preprocessing takes."""
    seeded = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (batch, *graph.input_shape), dtype=torch.uint8, generator=seeded)


def with_preprocessing(
    graph: Graph, fmt: str, model: torch.nn.Module, expects: Preprocessing
) -> tuple[WithPreprocessing, torch.Tensor, Preprocessing]:
    """The model that takes uint8 NHWC pixels and normalises them itself, its example input and
    what it expects; or why it cannot be made (one message)."""
    hint = None
    if fmt == "pytorch":
        why = "a PyTorch source file keeps the network as written"
        hint = "its preprocess(image) does it: export --checkpoint RUN -o FILE.py without --with-preprocessing"
    elif fmt == "safetensors":
        why = "a .safetensors file holds the weights, not the network"
        hint = "export the network itself with it: -o FILE.onnx or FILE.ts"
    elif len(graph.input_shape) != 3:
        why = f"`{graph.title}` takes a vector, not images"
    elif expects.mean is None or expects.std is None:
        why = f"no normalisation is known ({expects.unknown})"
        hint = "give --checkpoint RUN: a trained run's checkpoint keeps its mean and std"
    else:
        wrapped = WithPreprocessing(model, expects.mean, expects.std).eval()
        return wrapped, example_images(graph), expects._replace(inside=True)
    raise CnnctlError.at(f"--with-preprocessing cannot be written: {why}", Loc(graph.file), hint=hint)


def refuse_target(graph: Graph, fmt: str, out: str, trained: bool, reads: Iterable[str | None] = ()) -> None:
    """Refuse, before any work, to write `out` (and, for a trained PyTorch source file, its
    weights beside it, `.pt`) where that is not a file, is in a run folder, is one of the files
    the command `reads`, or is an existing file of another kind than `fmt`'s suffixes name
    (cnnctl.writing.unwritable)."""
    suffixes = tuple(suffix for suffix, kind in SUFFIXES.items() if kind == fmt)
    suffixes += AMBIGUOUS if fmt == "torchscript" else ()  # `.pt` asked for by --to torchscript
    refuse_unwritable(out, graph.name + suffixes[0], reads, suffixes)
    if fmt == "pytorch" and trained:
        refuse_unwritable(str(Path(out).with_suffix(".pt")), graph.name + ".py", reads, (".pt",))


def refuse_uneven_adaptive_pools(graph: Graph) -> None:
    """PyTorch's ONNX exporter writes an adaptive pool only where its output size divides its input
    (windows of one size: a plain pool); an uneven one (16 to 3) makes it fail with a page of its
    IR. Refused before exporting, each at its layer, with the sizes and what to write instead."""
    problems = []
    for node in graph.nodes:
        out = node.args.get("out") if node.kind == "pool" else None
        h, w = graph.input_shapes(node)[0][:2] if out is not None else (0, 0)
        if out is None or (h % out[0] == 0 and w % out[1] == 0):
            continue
        problems.append(Problem(
            f"`{node.text}` pools {h}x{w} to {out[0]}x{out[1]}: PyTorch's ONNX export writes no adaptive pool "
            "whose output size does not divide its input's (its windows differ in size)",
            node.loc,
            node.path,
            f"choose an out= that divides {h}x{w}, or a plain pool (`pool f=... s=...`); TorchScript "
            "(-o FILE.ts) writes it as it is",
        ))  # fmt: skip
    if problems:
        raise CnnctlError(problems)


def export(
    graph: Graph,
    fmt: str,
    out: str,
    trained: Trained | None = None,
    preprocessing: bool = False,
    reads: Iterable[str | None] = (),
) -> Exported:
    """`graph` written to `out` as `fmt`, with the `trained` weights (--checkpoint, --weights:
    cnnctl.train.weighted.trained_for_export) or, without, freshly initialised ones.
    `preprocessing` (--with-preprocessing, ONNX and TorchScript): the network takes uint8
    NHWC pixels and normalises them itself (WithPreprocessing). `reads`: the files the command
    reads (the network file, a checkpoint, weights), which `out` must not be (refuse_target)."""
    refuse_target(graph, fmt, out, trained is not None, reads)
    if fmt == "onnx":
        refuse_uneven_adaptive_pools(inference_graph(graph))
    with memory_guard(torch.device("cpu"), EXAMPLE_BATCH, EXPORT_HINT):  # an allocation that fails: one message
        model, used, expects = model_for(graph, trained)
        graph, model = without_heads(graph, model)
        replaced = _replaces_weights_beside(fmt, out, model, trained is not None)  # before anything is written
        x = example_input(graph)
        if preprocessing:
            model, x, expects = with_preprocessing(graph, fmt, model, expects)
        with torch.no_grad():
            expected = model(x)
    done = {}  # what the check found, from inside the write

    def write_checked(tmp: str) -> None:
        write = {"onnx": _onnx, "torchscript": _torchscript, "pytorch": _pytorch, "safetensors": _safetensors}[fmt]
        with memory_guard(torch.device("cpu"), EXAMPLE_BATCH, EXPORT_HINT):
            checked, got, extra = write(graph, model, x, Path(tmp), Path(out), expects, trained is not None)
        difference = (got - expected).abs().max().item() if got is not None else 0.0
        if difference > TOLERANCE:
            raise CnnctlError.at(
                f"the exported {fmt} network's output differs from PyTorch's by {difference:.2g}",
                Loc(graph.file),
                hint="this is a bug in cnnctl's export: please report it with the network file",
            )
        done.update(checked=checked, difference=difference, extra=extra)

    write_through(out, write_checked, keep_suffix=True)  # its suffix kept: what reads it back goes by it
    return Exported(str(Path(out)), fmt, used, done["checked"], done["difference"], expects, done["extra"], replaced)


def _replaces_weights_beside(fmt: str, out: str, model, trained: bool) -> tuple[str, ...]:
    """The state_dict a trained PyTorch source file's export writes beside it (`.pt`), where one
    is there already that export wrote for it before (a state_dict of this network's tensor
    names: exported again, it is replaced); any other file there (a checkpoint, a file of the
    person's) is refused (writing.replaces_companion). Empty where nothing is replaced."""
    if fmt != "pytorch" or not trained:
        return ()
    from .weights import load_pt

    weights, names = str(Path(out).with_suffix(".pt")), list(model.state_dict())

    def written_before(path: str) -> bool:
        try:
            held = load_pt(path, "", "")
        except CnnctlError:  # not a file torch.save wrote, or one that asks to run code: not export's
            return False
        return (
            isinstance(held, dict) and list(held) == names and all(isinstance(v, torch.Tensor) for v in held.values())
        )

    return (weights,) if replaces_companion(weights, out, written_before, "the weights") else ()


def _onnx(graph: Graph, model, x, tmp: Path, target: Path, expects: Preprocessing, trained: bool):
    try:
        import onnx  # noqa: F401 - torch.onnx.export needs it
    except ImportError:
        raise CnnctlError.at(
            "writing ONNX needs the `onnx` package", hint="pip install 'cnnctl[onnx]' (onnx, onnxscript, onnxruntime)"
        ) from None
    names = {"input_names": ["image"], "output_names": ["output"]}
    axes = {"image": {0: "batch"}, "output": {0: "batch"}}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        # TorchScript-based: a second where the dynamo-based one takes ten. PRESERVE keeps batch
        # norm as a layer of its own (eval mode would fold it into the conv before it): the file
        # holds the network as written, and `cnnctl import` reads it back with the same counts.
        keep = {"training": torch.onnx.TrainingMode.PRESERVE}
        try:
            torch.onnx.export(
                model, (x,), str(tmp), opset_version=OPSET, dynamo=False, dynamic_axes=axes, **keep, **names
            )
        except TypeError:  # a torch without the choice
            torch.onnx.export(model, (x,), str(tmp), opset_version=OPSET, dynamic_axes=axes, **names)
    _state_input(tmp, expects, graph.title)
    try:
        import onnxruntime
    except ImportError:
        return "", None, ()
    session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x.numpy()})[0]
    return "ONNX Runtime", torch.from_numpy(got), ()


def _state_input(path: Path, expects: Preprocessing, name: str) -> None:
    """The input the network expects, and the network's `name`, in the ONNX file's
    metadata_props (Netron shows them; onnxruntime's `get_modelmeta().custom_metadata_map` reads
    them; `cnnctl import` and `--weights FILE.onnx` read them back: recorded_in_onnx). The pads of
    F.pad taken into the conv or pool after it (pads_taken_in), as `cnnctl import` reads them."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)  # weights kept apart (past 2 GB) stay so
    pads_taken_in(model)
    # protobuf's strings are UTF-8: a name from a file's that is not (`b\xe9`) as printable writes it
    props = {p.key: p.value for p in model.metadata_props} | expects.onnx_props() | {"cnnctl.name": printable(name)}
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))


def _torchscript(graph: Graph, model, x, tmp: Path, target: Path, expects: Preprocessing, trained: bool):
    # Traced: the graph has no data-dependent control flow; in eval mode dropout and drop
    # paths are the identity, as an exported network runs.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.13 calls TorchScript deprecated: said once, in the README
        traced = torch.jit.trace(model, (x,), check_trace=False)
        # the input it expects, as a file inside it: torch.jit.load(f, _extra_files={name: ""}) reads it
        # into memory, then written by Python: torch's own file writer aborts the process when a
        # write fails (a full disk), where Python's raises an OSError that is told and cleaned up
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={TORCHSCRIPT_FILE: json.dumps(expects.as_json())})
        tmp.write_bytes(buffer.getvalue())
        loaded = torch.jit.load(str(tmp))
        got = loaded(torch.cat([x, x.flip(0)]))[: len(x)]  # another batch size than traced
    return "torch.jit.load", got, ()


def _pytorch(graph: Graph, model, x, tmp: Path, target: Path, expects: Preprocessing, trained: bool):
    tmp.write_text(pytorch_source(graph, expects))
    name = f"_cnnctl_export_{graph.name}"
    # the file is still `.NAME.tmp`, which import would not read without being told it is Python
    spec = importlib.util.spec_from_file_location(
        name, tmp, loader=importlib.machinery.SourceFileLoader(name, str(tmp))
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = getattr(module, class_name(graph.name))()
    net.load_state_dict(model.state_dict())
    with torch.no_grad():
        got = net.eval()(x)
    if not trained:
        return "the module itself", got, ()
    weights = target.with_suffix(".pt")  # the checkpoint's weights, as a plain state_dict beside the source
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    write_file(str(weights), buffer.getvalue())
    return "the module itself", got, (str(weights),)


def _safetensors(graph: Graph, model, x, tmp: Path, target: Path, expects: Preprocessing, trained: bool):
    """The weights alone, under the network's own names (its state_dict's: the layer paths), with
    metadata as `cnnctl import` writes it (what wrote them, for which network, their order) and
    the input the network expects; checked by reading them back as `--weights` does, into the
    network anew."""
    from .weights import EXPORTED_BY, place_weights, save_safetensors

    arrays = {name: t.detach().cpu().contiguous().numpy() for name, t in model.state_dict().items()}
    about = {"written_by": EXPORTED_BY, "network": graph.title, "weights": "trained" if trained else "initialised"}
    # the input it expects, as an exported ONNX file states it, read back by --weights as that is
    about |= expects.onnx_props() | {"cnnctl.name": graph.title}
    save_safetensors(str(tmp), arrays, about)
    anew = to_torch(graph).eval()
    place_weights(anew, str(tmp))
    with torch.no_grad():
        got = anew(x)
    return "--weights reading it back", got, ()
