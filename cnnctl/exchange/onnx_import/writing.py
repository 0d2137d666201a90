"""The layers read, written as a network file: references only where needed, the header saying
where it comes from, and the `train:` normalisation the network was trained with.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...errors import CnnctlError, Loc, printable, shown
from ...layers.base import exact_number
from ...records import record
from ...writing import is_utf8
from ..preprocessing import recorded_in_onnx
from ..write_notation import NAME, Entry, traced_layers
from .layer import Layer
from .told import comment_text

if TYPE_CHECKING:
    from onnx import ModelProto

    from .reader import Reader


@record
class Imported:
    text: str  # the network file
    origins: dict  # line of `text` (1-based) -> for each layer it writes, the ONNX nodes it comes from
    layers: tuple = ()  # the Layers written, in the order of the network's nodes once built
    notes: tuple = ()  # what the reading changed or left out that the user should know (also in the header)
    warnings: tuple = ()  # what of the file the network does not hold (an output left out), said on stderr too


def write_imported(model: ModelProto, path: str, name: str | None, reader: Reader) -> Imported:
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
    kept, heads, notes, warned = _outputs(kept, reader, through)
    notes.extend([*_training_bns(reader), *_folded_bns(reader), *_stored_dtype(reader)])
    position = {t: i for i, (t, _) in enumerate(kept)}
    position[reader.source] = -1
    entries = [
        Entry(
            " ".join([layer.kind, *layer.words]), tuple(position[through.get(u, u)] for u in layer.inputs), layer.name
        )
        for _, layer in kept
    ]
    traced = traced_layers(entries, heads=tuple(position[t] for t in heads))
    h, w, c = reader.input_shape
    file = comment_text(os.path.basename(path))
    record = recorded_in_onnx({p.key: p.value for p in model.metadata_props}, path)  # what cnnctl's export wrote
    own = model.graph.name if model.graph.name not in ("", "main_graph", "torch_jit", "torch-jit-export") else ""
    title = name or NAME.sub("_", record.get("arch") or own or file.rsplit(".", 1)[0]).strip("_")[:64] or "imported"
    trained = _trained_with(reader.prelude or (record.get("mean"), record.get("std")), c, path)
    classes = record.get("classes", [])
    said = ""
    if classes:
        from ...words import first

        said = f"# Trained on {len(classes):,} classes, by output index: {comment_text(first(classes, 10), 200)}"
    producer = comment_text(" ".join(x for x in (model.producer_name, model.producer_version) if x))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), "?")
    head = [
        f"# Imported by cnnctl from {file} (ONNX opset {opset}{', written by ' + producer if producer else ''}):",
        f"# {len(model.graph.node):,} ONNX nodes read as {len(kept):,} layers"
        + (
            ", after the prelude that takes uint8 NHWC pixels and normalises them (see `train:`)."
            if reader.prelude
            else "."
        ),
        *(f"# Warning: {warning}" for warning in warned),
        *(f"# Note: {note}" for note in notes),
        *([said] if said else []),
        "version: 1",
        f"name: {_scalar(title)}",
        f"input: {h}x{w}x{c}",
        "layers:",
    ]
    origins = {  # line (1-based) -> the ONNX nodes of each layer it writes
        len(head) + k + 1: [reader.describe_all(kept[i][1].nodes) for i in at] for k, (_, at) in enumerate(traced) if at
    }
    origins[head.index("layers:")] = [f"the graph's input {shown(reader.source)}"]  # the `input:` line
    text = "\n".join([*head, *(line for line, _ in traced), *trained]) + "\n"
    return Imported(text, origins, tuple(layer for _, layer in kept), tuple(notes), tuple(warned))


def _first_and_more(reader: Reader, nodes: list[int]) -> str:
    """The first of `nodes` as the reader names a node, and how many more there are."""
    return reader.describe(nodes[0]) + (f" and {len(nodes) - 1:,} more" if len(nodes) > 1 else "")


def _training_bns(reader: Reader) -> list[str]:
    """A note where batch norms were exported in training mode (training_mode=1: each batch
    normalised by its own mean and variance): cnnctl's bn, at inference, uses the running ones."""
    found = reader.training_bns
    if not found:
        return []
    return [
        f"{_first_and_more(reader, found)}: training_mode=1 (each batch normalised by its own statistics); "
        "read as `bn`, which at inference uses the running mean and variance stored (export with "
        "model.eval() for the file to do so too)"
    ]


def _stored_dtype(reader: Reader) -> list[str]:
    """A note where the weights are stored in another element type than float32 (a model exported
    in half precision), or cast to one in the graph (under torch.autocast, without constant
    folding): the figures the network's file gives assume float32 unless told --dtype."""
    from onnx import TensorProto, helper

    weights = {n.input[1] for n in reader.nodes if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul")
               and len(n.input) > 1}  # fmt: skip
    held = [t for t in weights if t in reader.inits]
    # a weight the graph casts (stored_layouts) is stored as its source is, and used as its Cast gives it
    stored = {reader.inits[reader.origin(t)].data_type for t in held} - {TensorProto.FLOAT}
    cast = {reader.inits[t].data_type for t in held} - {TensorProto.FLOAT} - stored
    if not stored and not cast:
        return []

    def named(types: set) -> str:
        return " and ".join(str(helper.tensor_dtype_to_np_dtype(t)) if t != TensorProto.BFLOAT16 else "bfloat16"
                            for t in sorted(types))  # fmt: skip

    said = " and ".join([*([f"stored as {named(stored)}"] if stored else []),
                         *([f"cast to {named(cast)} in the graph"] if cast else [])])  # fmt: skip
    one = stored | cast
    return [
        f"the weights are {said}: the figures assume float32; `cnnctl summarize --dtype {named(one)}` "
        "and analyze's --dtype reckon in another"
        if len(one) == 1
        else f"the weights are {said}: the figures assume float32"
    ]


def _folded_bns(reader: Reader) -> list[str]:
    """A note where PyTorch's exporter folded batch norms into the convs before them (an eval-mode
    export): their weights are named as it names what it folded, `onnx::Conv_91` (TorchScript
    exporter) or a bias `stem.0.weight_bias` (dynamo). The network read has no bn there, and
    fewer parameters than the module exported (each bn's 2 x C, less the bias the conv gains)."""
    folded = [
        i
        for i, node in enumerate(reader.nodes)
        if node.op_type == "Conv"
        and (
            (len(node.input) > 1 and node.input[1].startswith("onnx::Conv_"))
            or (len(node.input) > 2 and node.input[2].endswith(".weight_bias"))
        )
    ]
    if not folded:
        return []
    return [
        f"{_first_and_more(reader, folded)}: weights PyTorch's exporter folded a batch norm into (as it does "
        "exporting in eval mode): read as convs with a bias, without the bn; to keep them, export with "
        "torch.onnx.export(..., dynamo=False, "
        "do_constant_folding=False) or training=torch.onnx.TrainingMode.PRESERVE"
    ]


def _scalar(text: str) -> str:
    """`text` as one YAML scalar that reads back as itself: as it is where it is a plain name, else
    quoted by YAML's own writer (`--name 'my net: {x}'`, a name starting `#` or `-`, `yes`), on one
    line (the header's lines are counted: what a line of the text came from). A name that is not
    UTF-8 (`--name "$(printf 'n\\xe9')"`: Python holds its bytes as surrogates, which no YAML can
    hold) is written as its bytes escaped, `n\\xe9`, as messages show it (`printable`)."""
    import yaml

    if not is_utf8(text):
        text = printable(text)
    dumped = yaml.safe_dump(text, allow_unicode=True, width=10**9).removesuffix("\n...\n").removesuffix("\n")
    if not dumped.isprintable():  # a line break (U+2028 too) or a control: double quotes keep one line, escaped
        dumped = yaml.safe_dump(text, default_style='"', width=10**9).removesuffix("\n")
    return dumped


def _outputs(kept: list, reader: Reader, through: dict) -> tuple[list, list[str], list[str], list[str]]:
    """The layers with the graph's first output last (the network's output, as torch's first
    returned value), the tensors of its other outputs that are heads beside it (`outputs:`: of the
    same shape, trained against the same targets), notes, and warnings on the others: the notation
    has no head of another shape, so each is left out with the layers only it needs (their
    params said). The first output is moved last only where no layer reads it; where it cannot
    be, or an output is no layer's, the graph is told."""
    given = list(reader.graph.output)
    outputs = [through.get(reader.real(o.name), reader.real(o.name)) for o in given]
    if len(outputs) < 2:
        return kept, [], [], []
    at = {t: i for i, (t, _) in enumerate(kept)}
    names = ", ".join(shown(o.name) for o in given)
    if any(t not in at for t in outputs) or len(set(outputs)) != len(outputs):
        raise CnnctlError.at(
            f"the graph has {len(outputs)} outputs ({names}), not each a layer of its own cnnctl reads",
            Loc(reader.path),
            hint="export the network with one output, or each output a layer's (no input, no output twice)",
        )
    if any(outputs[0] in layer.inputs for _, layer in kept):
        raise CnnctlError.at(
            f"the graph's first output {shown(given[0].name)} (of {names}) is read by other layers: cnnctl's "
            "network ends at its output, and heads beside it are branches it does not read",
            Loc(reader.path),
            hint="export with the network's main output first, as its last layer",
        )
    main = at[outputs[0]]
    kept = [*kept[:main], *kept[main + 1 :], kept[main]]
    first = reader.shape(given[0].name)
    heads, notes, other = [], [], []
    for o, t in zip(given[1:], outputs[1:], strict=True):
        theirs = reader.shape(o.name)
        if first is not None and theirs is not None and theirs[1:] == first[1:]:
            heads.append(t)
        else:
            other.append((o, t, theirs))
    needed = _needed(kept, [outputs[0], *heads], through)
    warned = []
    for o, t, theirs in other:
        alone = [layer for u, layer in kept if u not in needed and u in _needed(kept, [t], through)]
        params = sum(_stored_params(reader, layer) for layer in alone)
        warned.append(
            f"the graph's output {shown(o.name)} ({_dims(theirs)}) is not the first's shape ({_dims(first)}), and "
            f"the notation's heads (`outputs:`) have the main output's: left out, with the "
            f"{len(alone):,} layer{'s' if len(alone) != 1 else ''} only it needs ({params:,} params); "
            f"the network's output is {shown(given[0].name)}"
        )
    kept = [(u, layer) for u, layer in kept if u in needed]
    if heads:
        beside = [shown(o.name) for o, t in zip(given[1:], outputs[1:], strict=True) if t in heads]
        notes.insert(0, f"the graph's outputs {names}: the first is the network's output, {', '.join(beside)} "
                     f"{'a head' if len(beside) == 1 else 'heads'} beside it (`outputs:`), trained against the "
                     "same targets")  # fmt: skip
    return kept, heads, notes, warned


def _needed(kept: list, ends: list[str], through: dict) -> set[str]:
    """The outputs of the layers in `kept` that the tensors `ends` are made from, those included
    (through a flatten an fc took in)."""
    made = dict(kept)
    needed, todo = set(), list(ends)
    while todo:
        t = todo.pop()
        if t in needed or t not in made:
            continue
        needed.add(t)
        todo.extend(through.get(u, u) for u in made[t].inputs)
    return needed


def _stored_params(reader: Reader, layer: Layer) -> int:
    """The values of a layer's stored weights and biases (its params, not running statistics or buffers)."""
    total = 0
    for param, tensor, _ in layer.stored:
        held = reader.inits.get(tensor)
        if param in ("weight", "bias") and held is not None:
            count = 1
            for d in held.dims:
                count *= int(d)
            total += count
    return total


def _dims(dims: tuple | None) -> str:
    return "of an unknown shape" if dims is None else "x".join("?" if d is None else str(d) for d in dims)


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
