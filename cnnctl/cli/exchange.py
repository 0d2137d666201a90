"""The commands that read a network from other tools and describe the notation for them: import, schema.
Neither imports torch."""

import sys
from collections.abc import Callable
from typing import Annotated, Optional

from ..errors import one_line
from .common import Format, examples, print_json, print_lines, to_stdout
from .options import argument, format_option, formats, input_option, option, words


@examples(
    ("cnnctl import model.onnx", "the network in the notation, on standard output"),
    ("cnnctl import model.onnx -o net.yaml --name mynet", "net.yaml, and its weights in net.safetensors"),
    ("cnnctl import model.onnx --format json", "its name, counts, input and output, and the text, as JSON"),
)
def import_cmd(
    file: Annotated[str, argument("FILE.onnx", "An ONNX model file.")],
    output: Annotated[Optional[str], option("-o", "--output", metavar="FILE",
                                            help="The network file to write (a file there is replaced only if "
                                            "it is .yaml or .yml); - is standard output, the default.")] = None,
    name: Annotated[Optional[str], option("--name", help="The network's name. Default: the graph's, else the "
                                          "file's.")] = None,
    input: Annotated[Optional[str], input_option("The input volume HxWxC where the file leaves its sizes unknown "
                                                 "(exported with dynamic axes or shapes).")] = None,
    format: Annotated[Format, format_option(Format.table, Format.json)] = Format.table,
) -> int:  # fmt: skip
    """Read an ONNX file into cnnctl's notation: analysable and trainable here.

    The ONNX operators below map to layer kinds; an activation read by nothing else joins the
    layer before as act=. What cnnctl cannot read is told per ONNX node (name, operator,
    index), every one in one run. The file written is checked by building it, and its counts
    are printed. With -o, the weights the ONNX file stores are written beside it
    (net.yaml -> net.safetensors; a file there that import did not write for net.yaml is never
    replaced) under the network's own names: `cnnctl train net.yaml --weights net.safetensors`
    starts from them. Needs `pip install onnx safetensors` (no
    torch, no runtime). A file exported with dynamic sizes (batch, height, width) is read at
    --input HxWxC: the sizes it leaves unknown are those (it must agree with those it fixes), as
    are the network file's `input:` and what the graph works out from them.
    """
    import math

    from ..exchange.onnx_import import read_weights
    from ..exchange.weights import check_weight_sizes
    from ..graph.build import parse_volume
    from ..words import exact, short
    from ..writing import replaces_companion, write_file

    shape = parse_volume(input, None, "--input") if input is not None else None
    if to_stdout(output):  # `-o -` too: no weights are written beside standard output
        got = read_weights(file, name, shape)  # what was read builds: every shape fits
        text, graph = got.text, got.graph
        _warn(got.warnings)
        if format is Format.json:  # what -o reports, the network file's text in place of the files written
            print_json({"file": None, **_counts(graph), "text": text})
        else:
            sys.stdout.write(text)
        return 0
    weights = weights_beside(output, file)
    replacing = replaces_companion(weights, output, _imported_for(output), "the weights")  # before reading
    got = read_weights(file, name, shape)  # the network built, and where its stored weights go in it
    graph = got.graph
    _warn(got.warnings)
    stored = sum(math.prod(dims) for dims in got.shapes.values())  # known from the file, nothing read yet
    kept = bool(got.shapes) and stored == graph.params + graph.buffers  # a weight the graph computes: none written
    if kept:  # only weights that will be written are read: every one before anything is written, bounded first
        check_weight_sizes(got.stored(), file)
        arrays = {tensor: got.array(tensor) for tensor in got.shapes}
        _warn_non_finite(arrays, {name: tensor for name, (tensor, _) in got.sources.items()}, file)
        _write_weights(weights, arrays, file, output)
    write_file(output, got.text.encode())
    why = ""  # why no weights were written
    if not got.shapes:
        why = f"{file} stores none (structure only)"
    elif not kept:
        why = f"{file} stores {exact(stored)} of the network's {exact(graph.params + graph.buffers)} values"
    if format is Format.json:
        written = (
            {"file": weights, "tensors": len(got.shapes), "replaced": replacing} if kept else {"file": None, "why": why}
        )
        print_json({"file": output, **_counts(graph), "weights": written})
        return 0
    lines = [
        f"wrote {output}: {graph.name}, {len(graph.nodes):,} layers, {exact(graph.params)} params, "
        f"{short(graph.mults)} multiplications"
    ]
    if kept:
        again = ", replacing those imported for it before" if replacing else ""
        lines.append(f"wrote {weights}: its weights from {file}, {len(got.shapes):,} tensors under the network's names"
                     f"{again} (`cnnctl train {output} --weights {weights}` starts from them)")  # fmt: skip
    else:
        lines.append(f"no weights written: {why}")
    lines.extend(f"note: {note}" for note in got.notes)  # also in the network file's header
    lines.append(f"(`cnnctl summarize {output}` for the rest)")
    print_lines(lines)
    return 0


def _warn(warnings: tuple) -> None:
    """What of the ONNX file the network does not hold, on stderr (also in the network file's header)."""
    for warning in warnings:
        sys.stderr.write(one_line(f"warning: {warning}") + "\n")


def _warn_non_finite(arrays: dict, stored: dict[str, str], file: str) -> None:
    """A warning, on stderr, where the weights read hold NaN or infinite values, naming each
    tensor by the file's own name, in the words predict, evaluate and train refuse them with later:
    the file is written all the same (its network is sound), and the person knows why now."""
    from ..errors import Loc, Problem
    from ..exchange.weights import NON_FINITE_HINT, Renamed, non_finite_said

    said = non_finite_said(Renamed(arrays, stored))
    if said is not None:
        sys.stderr.write(Problem(said, Loc(file), hint=NON_FINITE_HINT).format("warning") + "\n")


def _counts(graph) -> dict:
    """What import reports of the network it read, as JSON: its name, counts and shapes."""
    from ..shapes import format_shape

    counts = {"layers": len(graph.nodes), "params": graph.params, "mults": graph.mults}
    shapes = {"input": format_shape(graph.input_shape), "output": format_shape(graph.output_shape)}  # HxWxC, as ever
    return {"name": graph.name, **counts, **shapes}


def weights_beside(output: str, file: str = "net.onnx") -> str:
    """Where import writes the weights of the network file `output`: beside it, `net.yaml` ->
    `net.safetensors`; refused before anything is read where that is `output` itself, or
    `output` cannot be written (a folder: its weights went to FOLDER.safetensors). `file`: the
    ONNX file, whose name the hint offers."""
    import os
    import shlex

    from ..catalog import SUFFIXES as NETWORK_SUFFIXES
    from ..errors import CnnctlError
    from ..writing import refuse_unwritable, unwritable

    example = os.path.splitext(os.path.basename(file))[0] + ".yaml"
    refuse_unwritable(output, example, reads=(file,), replaces=NETWORK_SUFFIXES)
    stem = os.path.splitext(output)[0]
    weights = stem + ".safetensors"
    if weights == output:
        raise CnnctlError.at(f"-o {output} names the file the weights go to", hint="name the network file net.yaml")
    refused = unwritable(weights, example, reads=(file,), replaces=(".safetensors",))
    if refused is not None:  # told as the weights' file, which -o names by its stem: a hint for -o, not inside it
        why = "a folder is there" if os.path.isdir(weights) else refused.problems[0].message
        raise CnnctlError.at(
            f"the weights go beside -o {output}, to {weights}: {why}",
            hint=f"name another network file, e.g. -o {shlex.quote(stem + '_imported.yaml')} (its weights then "
            f"{shlex.quote(stem + '_imported.safetensors')}), or move `{weights}` away",
        )
    return weights


def _imported_for(network: str) -> Callable[[str], bool]:
    """Whether a .safetensors file is the one `cnnctl import` wrote beside the network file
    `network` before: its metadata says so (written_by, the network's file name)."""

    def written_before(path: str) -> bool:
        import os

        from ..errors import CnnctlError
        from ..exchange.weights import IMPORTED_BY, open_safetensors

        try:
            with open_safetensors(path, framework="numpy") as (_, metadata):
                about = metadata or {}
        except CnnctlError:  # damaged, or no .safetensors file at all: not cnnctl's
            return False
        return about.get("written_by") == IMPORTED_BY and about.get("network") == os.path.basename(network)

    return written_before


def _write_weights(path: str, arrays: dict, source: str, network: str) -> None:
    """The weights as a .safetensors file (through a temporary file and a rename), saying in its
    metadata what it is: which ONNX file they come from, which network file they are for."""
    import os

    from ..exchange.weights import IMPORTED_BY, save_safetensors
    from ..writing import write_through

    about = {"written_by": IMPORTED_BY, "source": os.path.basename(source), "network": os.path.basename(network)}
    write_through(path, lambda tmp: save_safetensors(tmp, arrays, about))


def import_epilog() -> str:
    """The reader's own table and limits, so that the help and the reader cannot differ."""
    from ..exchange.onnx_import import operators_read
    from ..limits import MAX_ONNX_BYTES, MAX_ONNX_CONSTANT

    bounds = (
        f"FILE.onnx must be a regular file of at most {MAX_ONNX_BYTES / 1024**3:g} GiB. Data it keeps in other "
        "files is read only from its own folder, and only for constants of at most "
        f"{MAX_ONNX_CONSTANT} values, and for the weights written beside the network with -o (without -o, a "
        "weight needs only its dims: its values are never read)."
    )
    return f"ONNX operators read: {operators_read()}.\n\n{bounds}"


import_cmd.epilog = import_epilog  # `cnnctl import --help` ends with it (the command reads that module anyway)


@examples(
    ("cnnctl schema -o cnnctl.schema.json", "the schema for your editor's YAML extension"),
    ("cnnctl schema", "the same on standard output"),
)
def schema_cmd(
    output: Annotated[Optional[str], option("-o", "--output", metavar="FILE",
                                            help="Write it to FILE (a file there is replaced only if it is "
                                            ".json); - is standard output, the default.")] = None,
    format: Annotated[Optional[Format], option("-f", "--format", parser=formats(Format.json), metavar="json",
                                               complete=words("json"),
                                               help="A JSON Schema is JSON: the only format. With -o FILE, the "
                                               "result as JSON: {\"file\": FILE}.")] = None,
) -> int:  # fmt: skip
    """The JSON Schema of the notation, for editors: completion, docs on hover, checks while typing.

    Made from the layer registry: every kind with its arguments, their types and docs. Save it
    (`cnnctl schema -o cnnctl.schema.json`) and point your editor's YAML extension at it (see
    the README). It checks the structure; `cnnctl validate` checks the rest (shapes, the
    shorthand inside strings, block arguments).
    """
    import json

    from ..exchange.schema import notation_schema
    from ..train.settings import NAMES  # pure Python: the names a file's `train:` section takes
    from ..writing import refuse_unwritable, write_file

    text = json.dumps(notation_schema(NAMES), indent=2, ensure_ascii=False) + "\n"
    if to_stdout(output):  # the schema is the JSON result
        sys.stdout.write(text)
        return 0
    refuse_unwritable(output, "cnnctl.schema.json", replaces=(".json",))  # not over a network file
    write_file(output, text.encode())
    if format is Format.json:  # the file written, as import's and export's JSON name it
        print_json({"file": output})
    else:  # as every writer says it (import, export, draw)
        print_lines([f"wrote {output}: the notation's JSON Schema"])
    return 0
