"""The commands that write the network for other tools or read it from them: export, import, schema."""

import sys
from typing import Annotated, Optional

from .common import Format, _load, _print_json, _warn
from .options import arch_argument, argument, choice, complete_run, format_option, formats, input_option, option, words


def export_cmd(
    arch: Annotated[str, arch_argument()],
    output: Annotated[str, option("-o", "--output", metavar="FILE", help="The file: .onnx, .ts (TorchScript), .py.")],
    input: Annotated[Optional[str], input_option()] = None,
    checkpoint: Annotated[Optional[str], option("--checkpoint", metavar="RUN", complete=complete_run,
                                                help="A run folder (its best.pt) or checkpoint: its weights.")] = None,
    format: Annotated[str, option("-f", "--format", parser=choice(("onnx", "torchscript", "pytorch", "table", "json")),
                                  metavar="onnx|torchscript|pytorch|json",
                                  complete=words("onnx", "torchscript", "pytorch", "json"),
                                  help="What to write (default: from FILE's suffix), or json: the report as "
                                  "JSON.")] = "table",
) -> int:  # fmt: skip
    """Write the network for other tools: ONNX, TorchScript, or a PyTorch source file.

    With --checkpoint RUN (a run folder: its best.pt, else last.pt; or a checkpoint file) the
    trained weights go with it. What is written is checked first: ONNX run by ONNX Runtime,
    TorchScript reloaded, the source file imported, and each output compared with PyTorch's.
    ONNX needs `pip install 'cnnctl[onnx]'`. --format onnx|torchscript|pytorch picks what is
    written (default: from FILE's suffix: .onnx, .ts, .py); --format json prints the report as JSON.
    The report, and each file, states the input the network expects: its shape, and with a
    checkpoint the run's normalisation (pixel values / 255, then its mean and std per channel).
    """
    graph = _load(arch, input)
    from ..exchange.export import export, format_for

    report = format in ("json", "table")
    fmt = format_for(output, None if report else format)
    from ..catalog import run_input

    checkpoint = checkpoint or (arch if run_input(arch) is not None else None)  # a run: its weights
    done = export(graph, fmt, output, checkpoint)
    _warn(graph)
    if format == "json":
        _print_json({**done._asdict(), "extra": list(done.extra), "input": done.input.as_json(), "network": graph.name})
        return 0
    name = {"onnx": "ONNX", "torchscript": "TorchScript", "pytorch": "PyTorch source"}[fmt]
    lines = [f"wrote {done.file}: {graph.name} as {name}, weights {done.weights}"]
    lines += [f"wrote {extra}: the weights, a state_dict" for extra in done.extra]
    lines.append(f"input: {done.input.text()}")
    if done.checked:
        lines.append(f"checked: {done.checked} gives PyTorch's output within {done.difference:.1e} on a random batch")
    else:
        lines.append("not run: onnxruntime is not installed (pip install onnxruntime), so the file was not checked")
    from ..exchange.pytorch_source import class_name

    module, cls = done.file.rsplit("/", 1)[-1].rsplit(".", 1)[0], class_name(graph.name)
    normalized = done.input.mean is not None  # the file has MEAN, STD and normalize()
    lines.append(
        {
            "onnx": "open it in Netron (https://netron.app) or run it with onnxruntime.InferenceSession; "
            "its metadata_props state the input (cnnctl.input, cnnctl.preprocessing)",
            "torchscript": f"load it with torch.jit.load({done.file!r}); no cnnctl needed",
            "pytorch": f"from {module} import {cls}{', normalize' if normalized else ''}; net = {cls}(); "
            + (f"net.load_state_dict(torch.load({module + '.pt'!r}, weights_only=True))" if done.extra else "")
            + ("; net.eval()(normalize(images))" if normalized else "")
            + " (its state_dict keys are cnnctl's)",
        }[fmt]
    )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


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
