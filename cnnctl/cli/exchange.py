"""The commands that read a network from other tools and describe the notation for them: import, schema.
Neither imports torch."""

import sys
from typing import Annotated, Optional

from .common import Format, _print_json
from .options import argument, format_option, formats, option, words


def import_cmd(
    file: Annotated[str, argument("FILE.onnx", "An ONNX model file.")],
    output: Annotated[Optional[str], option("-o", "--output", metavar="FILE",
                                            help="The network file to write. Default: standard output.")] = None,
    name: Annotated[Optional[str], option("--name", help="The network's name. Default: the graph's, else the "
                                          "file's.")] = None,
    format: Annotated[Format, format_option(Format.table, Format.json)] = Format.table,
) -> int:  # fmt: skip
    """Read an ONNX file into cnnctl's notation: analysable and trainable here.

    The ONNX operators below map to layer kinds; an activation read by nothing else joins the
    layer before as act=. What cnnctl cannot read is told per ONNX node (name, operator,
    index), every one in one run. The file written is checked by building it, and its counts
    are printed. Needs `pip install onnx` (no torch, no runtime).
    """
    from ..exchange.onnx_import import build_imported
    from ..render import picture
    from ..render.numbers import exact, short

    text, graph = build_imported(file, name)  # what was read builds: every shape fits
    if output is None:
        sys.stdout.write(text)
        return 0
    picture.write_file(output, text.encode())
    if format is Format.json:
        counts = {"layers": len(graph.nodes), "params": graph.params, "mults": graph.mults}
        shapes = {"input": list(graph.input_shape), "output": list(graph.output_shape)}
        _print_json({"file": output, "name": graph.name, **counts, **shapes})
    else:
        sys.stdout.write(
            f"wrote {output}: {graph.name}, {len(graph.nodes):,} layers, {exact(graph.params)} params, "
            f"{short(graph.mults)} multiplications\n(`cnnctl summarize {output}` for the rest)\n"
        )
    return 0


def import_epilog() -> str:
    """The reader's own table and limits, so that the help and the reader cannot differ."""
    from ..exchange.onnx_import import operators_read
    from ..limits import MAX_ONNX_BYTES, MAX_ONNX_CONSTANT

    bounds = (
        f"FILE.onnx must be a regular file of at most {MAX_ONNX_BYTES / 1024**3:g} GiB. Data it keeps in other "
        "files is read only from its own folder, and only for constants of at most "
        f"{MAX_ONNX_CONSTANT} values (a weight needs only its dims: its values are never read)."
    )
    return f"ONNX operators read: {operators_read()}.\n\n{bounds}"


import_cmd.epilog = import_epilog  # `cnnctl import --help` ends with it (the command reads that module anyway)


def schema_cmd(
    output: Annotated[Optional[str], option("-o", "--output", metavar="FILE",
                                            help="Write it to FILE. Default: standard output.")] = None,
    format: Annotated[Format, option("-f", "--format", parser=formats(Format.json), metavar="json",
                                     complete=words("json"),
                                     help="A JSON Schema is JSON: the only format.")] = Format.json,
) -> int:  # fmt: skip
    """The JSON Schema of the notation, for editors: completion, docs on hover, checks while typing.

    Made from the layer registry: every kind with its arguments, their types and docs. Save it
    (`cnnctl schema -o cnnctl.schema.json`) and point your editor's YAML extension at it (see
    the README). It checks the structure; `cnnctl validate` checks the rest (shapes, the
    shorthand inside strings, block arguments).
    """
    import json

    from ..exchange.schema import notation_schema
    from ..render import picture

    text = json.dumps(notation_schema(), indent=2, ensure_ascii=False) + "\n"
    if output:
        picture.write_file(output, text.encode())
        sys.stderr.write(f"wrote {output}\n")
    else:
        sys.stdout.write(text)
    return 0
