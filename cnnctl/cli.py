"""The command line. Thin: parse options, call the API, render; catch only CnnctlError.

Built on the standard library's argparse: a command line framework cost a third of every
start (typer and click took 30 ms of `cnnctl summarize`'s 120). Each command is a function
of its parsed options, declared below with them; a mistake on the command line is one
`error:` line with a hint and exit code 2, like a mistake in a file.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from enum import Enum

from . import __version__, worker
from .errors import BROKEN_PIPE, INTERRUPTED, LOST_PEERS, CnnctlError, Problem, RunFailed, did_you_mean, quoted
from .limits import MAX_INT


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


ANALYSIS = (
    "summarize",
    "flops",
    "validate",
    "list",
    "memory",
    "compare",
    "draw",
    "schema",
    "import",
)  # the commands that never import torch


# -- what the commands share -------------------------------------------------------------------
def _print_json(data: object) -> None:
    """Valid JSON (RFC 8259) on stdout: a NaN or infinite float is written as null."""
    from .render.numbers import json_text

    sys.stdout.write(json_text(data) + "\n")


def _output(format: Format, data: Callable[[], object], tables: Callable[[], list], graph=None) -> None:
    """JSON for scripts; else the tables in the chosen text format, after the graph's warnings.

    Several tables are separated by a blank line (in Markdown, the line that ends a table);
    CSV writes the first table only (a CSV stream has one header; the first carries the
    others' values in csv-only columns where they matter, as evaluate's confusion matrix).
    """
    if format is Format.json:
        _print_json(data())
        return
    from .render.table import show

    if graph is not None:
        _warn(graph)
    shown = tables()
    if format is Format.csv:
        shown = shown[:1]
    for i, table in enumerate(shown):
        if i:
            sys.stdout.write("\n")
        show(table, format.value)


def _warn(graph) -> None:
    for w in graph.warnings:
        sys.stderr.write(w.format("warning") + "\n")


def _load(arch: str, input: str | None, settings: bool = True):
    """The network ARCH; with `settings`, its `train:` section checked too (a broken file is
    broken whichever command reads it). `train` checks it with its options instead."""
    from .api import load
    from .graph import parse_volume

    shape = parse_volume(input, None, "--input") if input is not None else None
    graph = load(arch, shape)
    if settings and graph.train:
        from .train.config import resolve_config  # pure Python; imported only for files that have one

        resolve_config(graph.train, {})
    return graph


# -- the commands ------------------------------------------------------------------------------
def summarize_cmd(o: argparse.Namespace) -> int:
    """Per-layer shapes, params, multiplications, receptive fields; totals, memory.

    One row per layer: path, shorthand, output HxWxC, where its inputs come from (when not
    simply the layer above), parameters, multiplications and receptive field; then totals and
    memory for the batch and dtype. --columns picks the columns, in every format.
    """
    from .analysis import summarize
    from .render.views import summary_json, summary_table

    graph = _load(o.arch, o.input)
    summary = summarize(graph, depth=o.depth, batch=o.batch, dtype=o.dtype)
    columns = o.columns
    _output(o.format, lambda: summary_json(summary, columns), lambda: [summary_table(summary, columns)], graph)
    return 0


def flops_cmd(o: argparse.Namespace) -> int:
    """Exact multiplications and FLOPs: forward, backward, a training step; a roofline time.

    In full and in K/M/G, with what is and is not counted; --batch adds totals per batch.
    The backward pass: the weight gradients, and the input gradients of layers with something
    trainable before them; the optimizer's update per step. With --profile (h100, h200, a100,
    l4, t4) or --peak-tflops and --bandwidth: each layer's roofline time, a lower bound.

    Multiplications: conv, deconv and fc multiply-accumulates (torchvision's "GFLOPS",
    PyTorch FlopCounterMode / 2). FLOPs: 2 x multiplications + 1 per bias value +
    element-wise work per value: bn 2, layer and group norm 8, activations 1 (softmax 3),
    max pool f*f-1 and avg pool f*f per output, add and mul 1 per extra input, lrn 2*size+3.
    """
    from .analysis import summarize
    from .analysis.training import training_cost
    from .render.views import flops_json, flops_table

    graph = _load(o.arch, o.input)
    summary = summarize(graph, batch=o.batch)
    cost = training_cost(graph)
    times = _roofline(o, graph)
    per_layer = o.per_layer or o.top is not None
    _output(
        o.format,
        lambda: flops_json(summary, per_layer, cost, times, o.top),
        lambda: [flops_table(summary, per_layer, cost, times, o.top)],
        graph,
    )
    return 0


def _roofline(o: argparse.Namespace, graph):
    """The roofline of --profile, or of --peak-tflops and --bandwidth; None without them."""
    from .analysis.roofline import custom_profile, profile_named, roofline

    if o.peak_tflops is not None or o.bandwidth is not None:
        if o.peak_tflops is None or o.bandwidth is None or o.profile is not None:
            raise CnnctlError.at(
                "a roofline needs a device: --profile NAME, or both --peak-tflops and --bandwidth",
                hint="e.g. --profile h100, or --peak-tflops 989 --bandwidth 3350",
            )
        profile = custom_profile(o.peak_tflops, o.bandwidth, o.dtype)
    elif o.profile is not None:
        profile = profile_named(o.profile)
    else:
        return None
    return roofline(graph, profile, o.batch, o.dtype)


def memory_cmd(o: argparse.Namespace) -> int:
    """Memory of a training step: weights, gradients, optimizer state, activations.

    The activations are those PyTorch keeps for the backward pass, layer kind by layer kind
    (measured equal on every bundled network); the peak counts everything at once. With
    --budget, the largest batch that fits.
    """
    from .analysis.memory import training_memory
    from .render.design import memory_json, memory_layers_table, memory_table

    graph = _load(o.arch, o.input)
    m = training_memory(graph, o.batch, o.dtype, o.optimizer, o.amp, o.device)
    per_layer = o.per_layer or o.top is not None
    tables = [memory_table(m, graph.name, o.budget)] + ([memory_layers_table(m, o.top)] if per_layer else [])
    _output(o.format, lambda: memory_json(m, graph.name, o.budget, per_layer), lambda: tables, graph)
    return 0


def compare_cmd(o: argparse.Namespace) -> int:
    """Networks side by side: params, multiplications, training, memory, field, latency.

    One column per network (and their ratio for two), then their stages. Training memory and
    latency are for --batch, --dtype, --optimizer and the device --profile (default h100).
    """
    from .analysis.compare import compare
    from .analysis.roofline import profile_named
    from .render.design import compare_json, compare_tables

    if len(o.files) < 2:
        raise CnnctlError.at("`compare` needs two networks or more", hint=f"e.g. cnnctl compare {o.files[0]} resnet50")
    profile = profile_named(o.profile)
    graphs = [_load(arch, o.input) for arch in o.files]
    entries = compare(graphs, o.batch, o.dtype, o.optimizer, profile, o.budget)
    where = dict(batch=o.batch, dtype=o.dtype, optimizer=o.optimizer, profile=profile.name, budget=o.budget)
    _output(o.format, lambda: compare_json(entries, where), lambda: compare_tables(entries, where))
    return 0


def draw_cmd(o: argparse.Namespace) -> int:
    """Draw the network: a graph (SVG, PNG, PDF by Graphviz; DOT; Mermaid) or the course's volumes.

    The graph view shows each layer's shorthand, output volume and parameters; composites
    (repeats, blocks, residuals, gates, branches) as clusters, skips dashed; --depth N
    collapses what lies deeper than N (a ResNet-152 stage becomes one box, `36 x bottleneck`).
    .svg, .png and .pdf need Graphviz's `dot`; .dot and .mmd (Mermaid, rendered in Markdown
    by GitHub and GitLab) need nothing. --style volumes draws a sequential network as the
    course's volumes HxWxC, in SVG with nothing installed.

    Without -o the picture goes to NAME.svg in this folder, only as a new file: one that is
    there already is replaced only when named with -o. --format json without -o prints what
    would be drawn and writes nothing.
    """
    from .analysis.diagram import diagram, volumes
    from .render import picture
    from .render.diagram import count_clusters, diagram_json, to_dot, to_mermaid

    graph = _load(o.arch, o.input)
    named = o.output is not None
    out = o.output if named else None if o.format is Format.json else picture.default_name(graph.name)
    fmt = picture.picture_format(out) if out else None
    if out and not named:
        picture.refuse_existing(out)  # before the layout, which can take a while
    if o.style == "volumes":
        if fmt not in ("svg", None):
            raise CnnctlError.at(
                f"the volume view is drawn as SVG, not {fmt}",
                hint=f"write `{out.rsplit('.', 1)[0]}.svg`; a browser shows and prints it",
            )
        if o.depth is not None:
            raise CnnctlError.at("--depth collapses the graph view; the volume view draws every volume")
        from .render.volumes import to_svg

        vols = volumes(graph)
        if out:
            picture.write_file(out, to_svg(graph.name, vols, graph.params, graph.mults).encode(), replace=named)
        data = {
            "name": graph.name,
            "file": out,
            "format": fmt,
            "style": "volumes",
            "volumes": [{"path": v.path, "output": list(v.shape), "layers": list(v.ops)} for v in vols],
        }
        said = f"{len(vols)} volumes"
    else:
        d = diagram(graph, o.depth)
        if out:
            if fmt == "mermaid":
                body = to_mermaid(d).encode()
            else:
                text = to_dot(d, fmt != "dot" and picture.reverses_clusters())  # .dot: for current Graphviz
                body = text.encode() if fmt == "dot" else picture.lay_out(text, fmt, out, len(d.boxes))
            picture.write_file(out, body, replace=named)
        data = diagram_json(d, out, fmt)
        boxes = len(d.boxes) - 1
        said = f"{boxes:,} {'box' if boxes == 1 else 'boxes'} in {count_clusters(d.top):,} clusters"
    _warn(graph)
    if o.format is Format.json:
        _print_json(data)
    else:
        opener = {"dot": "lay it out with `dot -Tsvg`", "mermaid": "paste it into Markdown in a ```mermaid block"}
        sys.stdout.write(f"wrote {out}: {graph.name}, {said} ({opener.get(fmt, 'open it in a browser or viewer')})\n")
    return 0


def import_cmd(o: argparse.Namespace) -> int:
    """Read an ONNX file into cnnctl's notation: analysable and trainable here.

    The ONNX operators below map to layer kinds; an activation read by nothing else joins the
    layer before as act=. What cnnctl cannot read is told per ONNX node (name, operator,
    index), every one in one run. The file written is checked by building it, and its counts
    are printed. Needs `pip install onnx` (no torch, no runtime).
    """
    from .exchange.onnx_import import build_imported
    from .render import picture
    from .render.numbers import exact, short

    text, graph = build_imported(o.file, o.name)  # what was read builds: every shape fits
    if o.output is None:
        sys.stdout.write(text)
        return 0
    picture.write_file(o.output, text.encode())
    if o.format is Format.json:
        counts = {"layers": len(graph.nodes), "params": graph.params, "mults": graph.mults}
        shapes = {"input": list(graph.input_shape), "output": list(graph.output_shape)}
        _print_json({"file": o.output, "name": graph.name, **counts, **shapes})
    else:
        sys.stdout.write(
            f"wrote {o.output}: {graph.name}, {len(graph.nodes):,} layers, {exact(graph.params)} params, "
            f"{short(graph.mults)} multiplications\n(`cnnctl summarize {o.output}` for the rest)\n"
        )
    return 0


def schema_cmd(o: argparse.Namespace) -> int:
    """The JSON Schema of the notation, for editors: completion, docs on hover, checks while typing.

    Made from the layer registry: every kind with its arguments, their types and docs. Save it
    (`cnnctl schema -o cnnctl.schema.json`) and point your editor's YAML extension at it (see
    the README). It checks the structure; `cnnctl validate` checks the rest (shapes, the
    shorthand inside strings, block arguments).
    """
    import json

    from .exchange.schema import notation_schema
    from .render import picture

    text = json.dumps(notation_schema(), indent=2, ensure_ascii=False) + "\n"
    if o.output:
        picture.write_file(o.output, text.encode())
        sys.stderr.write(f"wrote {o.output}\n")
    else:
        sys.stdout.write(text)
    return 0


def export_cmd(o: argparse.Namespace) -> int:
    """Write the network for other tools: ONNX, TorchScript, or a PyTorch source file.

    With --checkpoint RUN (a run folder: its best.pt, else last.pt; or a checkpoint file) the
    trained weights go with it. What is written is checked first: ONNX run by ONNX Runtime,
    TorchScript reloaded, the source file imported, and each output compared with PyTorch's.
    ONNX needs `pip install 'cnnctl[onnx]'`. --format onnx|torchscript|pytorch picks what is
    written (default: from FILE's suffix: .onnx, .ts, .py); --format json prints the report as JSON.
    The report, and each file, states the input the network expects: its shape, and with a
    checkpoint the run's normalisation (pixel values / 255, then its mean and std per channel).
    """
    graph = _load(o.arch, o.input)
    from .exchange.export import export, format_for

    report = o.format in ("json", "table")
    fmt = format_for(o.output, None if report else o.format)
    from .catalog import run_input

    checkpoint = o.checkpoint or (o.arch if run_input(o.arch) is not None else None)  # a run: its weights
    done = export(graph, fmt, o.output, checkpoint)
    _warn(graph)
    if o.format == "json":
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
    from .exchange.pytorch_source import class_name

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


def validate_cmd(o: argparse.Namespace) -> int:
    """Check network files; exit 2 if any is invalid.

    Exit 0 when all are valid; otherwise every problem is listed and the exit code is 2.
    """
    from .render.views import problem_json, validate_lines, validate_table, validate_total

    results = []
    for arch in o.files:
        try:
            graph = _load(arch, o.input)  # its `train:` section too, checked as `cnnctl train` would
            results.append(
                {
                    "file": arch,
                    "ok": True,
                    "layers": len(graph.nodes),
                    "params": graph.params,
                    "mults": graph.mults,
                    "problems": [w.format("warning") for w in graph.warnings],
                    "details": [problem_json(w, "warning") for w in graph.warnings],
                }
            )
        except CnnctlError as exc:
            problems = exc.problems
            results.append(
                {
                    "file": arch,
                    "ok": False,
                    "problems": [p.format() for p in problems],
                    "details": [problem_json(p) for p in problems],
                }
            )
    bad = [r for r in results if not r["ok"]]
    if o.format is Format.json:
        _print_json({"ok": not bad, "files": results})
    elif o.format is not Format.table:  # csv, markdown: one table on stdout, a row per file
        _output(o.format, lambda: None, lambda: [validate_table(results)])
    else:
        # ok lines on stdout; a failure, like any error, on stderr (tests/test_bad_input.py
        # relies on it). The total names the invalid files, so stdout alone says which.
        for r in results:
            stream = sys.stdout if r["ok"] else sys.stderr
            sys.stdout.flush()
            stream.write("".join(line + "\n" for line in validate_lines(r)))
            stream.flush()
        if len(results) > 1:
            sys.stdout.write(validate_total(results) + "\n")
    return 2 if bad else 0


def list_cmd(o: argparse.Namespace) -> int:
    """The bundled architectures: input, params, mults."""
    from .api import load
    from .catalog import bundled
    from .render.views import catalog_table

    entries = []
    for name, path in bundled().items():
        graph = load(path)
        entries.append(
            {
                "name": name,
                "input": "x".join(map(str, graph.input_shape)),
                "params": graph.params,
                "mults": graph.mults,
                "flops": graph.flops,
                "description": (graph.description.strip().splitlines() or [""])[0],
            }
        )
    _output(o.format, lambda: entries, lambda: [catalog_table(entries)])
    return 0


LAUNCHER_ONLY = ("node_rank", "rdzv_endpoint", "rdzv_timeout", "max_restarts")


def train_cmd(o: argparse.Namespace) -> int:
    """Train on a dataset; keep metrics and checkpoints.

    Settings come from the defaults, then the file's `train:` section, then these options.
    Ctrl-C stops after the current step, saves a checkpoint and says how to resume (exit 130;
    143 after SIGTERM); `--resume RUN` needs no ARCH, the run folder keeps its network. With
    --nproc-per-node N, N workers train in data parallel (torch.distributed), each on its own
    share of every batch; `torchrun --nproc-per-node N -m cnnctl train ...` works too.
    """
    started = False  # set once the run itself begins, to say what a Ctrl-C stopped
    config = None
    try:
        given = [f"--{name.replace('_', '-')}" for name in LAUNCHER_ONLY if getattr(o, name) is not None]
        if given and o.nproc_per_node is None and o.nnodes is None:
            raise CnnctlError.at(
                f"{', '.join(given)} without --nproc-per-node: one process has no workers to launch",
                hint="add --nproc-per-node N (and --nnodes for several machines)",
            )
        if o.arch is None and not o.resume:
            raise CnnctlError.at(
                "which network? give ARCH: a network file or a bundled name",
                hint="e.g. cnnctl train lenet5; a run is continued with --resume RUN alone",
            )
        arch, shape = (o.arch, o.input) if o.arch is not None else _resumed_network(o.resume, o.input)
        graph = _load(arch, shape, settings=False)  # checked below, with the options
        network = graph.name if o.arch is not None else _run_network_name(o.resume) or graph.name
        from .train.config import resolve_config
        from .train.settings import NAMES

        overrides = {name: getattr(o, name) for name in NAMES}
        if o.resume and o.out:
            raise CnnctlError.at("--out and --resume together", hint="a resumed run continues in its own folder")
        if o.resume:  # the checkpoint's settings: torch reads it
            from .train.loop import resumed_config

            config = resumed_config(o.resume, overrides)
        else:  # checked before torch is imported: a mistake is told in a tenth of a second
            config = resolve_config(graph.train, overrides)
        from .train.loop import train

        if o.nproc_per_node is not None or o.nnodes is not None:
            from .train.launch import LaunchOptions, launch_training

            options = LaunchOptions(
                o.nproc_per_node or 1, o.nnodes or 1, o.node_rank, o.rdzv_endpoint, o.rdzv_timeout or 300,
                o.max_restarts or 0,
            )  # fmt: skip
            args = ["train", *([o.arch] if o.arch is not None else []), *(["--input", o.input] if o.input else [])]
            args += ["--resume", o.resume] if o.resume else []
            worker_args = [*args, "--format", o.format.value]
            return launch_training(graph, config, options, worker_args, o.resume, source=o.arch)
        console = None
        if o.format is Format.json:
            from .render.progress import stderr_console

            console = stderr_console()
        started = True
        source = o.arch if o.arch is not None else ""  # the line that resumes it names no ARCH either
        result = train(graph, config, arch=network, resume=o.resume, console=console, source=source, then_exit=True)
        if o.format is Format.json and worker.rank0():  # one document, from rank 0
            best = result.best_val_accuracy if result.best_val_accuracy >= 0 else None  # None: no validation
            _print_json({"run_dir": str(result.run_dir), "status": result.status, "epochs_done": result.epochs_done,
                         "best_val_accuracy": best, "history": result.history})  # fmt: skip
        return result.status
    except KeyboardInterrupt:  # before the loop could catch it, or a second one: stop now
        if worker.speaks():
            folder = _run_folder(o.resume, config)
            if started and folder is not None and (folder / "last.pt").is_file():  # what was saved goes on
                from .render.progress import resume_line

                sys.stderr.write("stopped at once: nothing more was saved (checkpoints written before are kept)\n")
                sys.stderr.write(resume_line(o.arch, folder) + "\n")
            elif started:
                sys.stderr.write("stopped by Ctrl-C before the run's first checkpoint: nothing was saved\n")
            else:
                sys.stderr.write("stopped by Ctrl-C before training began: nothing was saved\n")
        return INTERRUPTED


def _resumed_network(resume: str, input: str | None) -> tuple[str, str | None]:
    """ARCH and --input for `train --resume RUN` given without ARCH: the run folder, whose
    network.yaml is the network it trains, at the input of its config.json (--input, if
    given, is checked against the checkpoint as ever)."""
    from .catalog import RUN_NETWORK, run_input
    from .train.rundir import run_folder

    folder = run_folder(resume)
    if not (folder / RUN_NETWORK).is_file():
        from .train.checkpoint import load_checkpoint

        load_checkpoint(resume)  # no run there, or a damaged one: its own message
        raise CnnctlError.at(
            f"the run `{folder}` does not keep its network ({RUN_NETWORK}): give the ARCH it trained",
            hint=f"cnnctl train ARCH --resume {resume}",
        )
    return str(folder), input or run_input(str(folder))


def _run_network_name(resume: str) -> str | None:
    """The name a run knows its network by (its file's name, which network.yaml lost)."""
    from .train.rundir import run_folder
    from .train.runs import network_name

    return network_name(run_folder(resume))


def _run_folder(resume: str | None, config):
    """The folder a train command writes to (a Path), once the run has named it (None before)."""
    from pathlib import Path  # not at the top: the analysis commands never import pathlib (tests/test_no_torch.py)

    if resume:
        from .train.rundir import run_folder

        return run_folder(resume)
    return Path(config.out) if config is not None and config.out else None


def evaluate_cmd(o: argparse.Namespace) -> int:
    """Accuracy, per-class accuracy, confusion matrix.

    Runs a checkpoint on the validation split of its data (or of --data), or --split test,
    train or all.
    """
    graph = _load(o.arch, None)
    from .render.views import evaluation_json, evaluation_tables
    from .train.evaluate import evaluate

    result = evaluate(graph, _weights(o), o.data, o.data_dir, device_name=o.device or "auto", split=o.split)
    _output(o.format, lambda: evaluation_json(result), lambda: evaluation_tables(result))
    return 0


def _weights(o: argparse.Namespace) -> str:
    """--checkpoint, or ARCH itself when it is a run folder or a checkpoint in one
    (`cnnctl evaluate RUN`, `cnnctl evaluate RUN/last.pt`)."""
    from .catalog import run_input, runs_in

    if o.checkpoint is not None:
        return o.checkpoint
    if run_input(o.arch) is not None:
        return o.arch
    runs = runs_in("runs")  # what there is to give, where `cnnctl train` writes
    raise CnnctlError.at(
        "which weights? give --checkpoint RUN, or the run folder itself in place of ARCH",
        hint=f"e.g. cnnctl {o.command} {runs[0]} (`cnnctl runs` lists the runs in ./runs)"
        if runs
        else f"no runs in ./runs: `cnnctl train {o.arch}` writes one there",
    )


def predict_cmd(o: argparse.Namespace) -> int:
    """Top classes of images, with probabilities.

    A folder means the PNG and JPEG files in it. Says how each image was adapted (size, mode,
    conversion), and warns of a dark-on-light image for a light-on-dark network (MNIST). An
    image that cannot be read is an error on stderr; the others are still predicted (exit 2).
    """
    graph = _load(o.arch, None)
    from .render.views import prediction_json, prediction_table
    from .train.checkpoint import weights_file
    from .train.evaluate import predict

    results = predict(graph, _weights(o), o.images, o.top_k, o.device or "auto", invert=o.invert)
    used = str(weights_file(_weights(o)))
    _output(o.format, lambda: prediction_json(results), lambda: [prediction_table(results, used)])
    failed = [r for r in results if r.error is not None]
    sys.stdout.flush()  # the table first, then what went wrong
    for r in failed:
        sys.stderr.write(r.error.format() + "\n")
    if failed and len(results) > 1:
        sys.stderr.write(Problem(f"{len(failed)} of {len(results)} images not read; the others were predicted").format()
                         + "\n")  # fmt: skip
    return 2 if failed else 0


def bench_cmd(o: argparse.Namespace) -> int:
    """Time forward and training steps: images/s, latency, TFLOP/s.

    Synthetic data, after a warm-up, the device synchronised after each step; --repeats
    rounds of --steps steps. images/s is sustained (all timed images over their wall time),
    beside the per-step p50/p90/p99 and the spread between repeats; a noisy measurement
    (p90/p50 > 1.5, or repeats more than 20% apart) is marked and its ratios uncertain.
    TFLOP/s uses the analyzer's exact counts (forward 2 x mults, a training step 2 x its
    forward and backward mults); MFU needs a known GPU or --peak-tflops.
    """
    graph = _load(o.arch, o.input)
    from .render.views import bench_json, bench_table
    from .train.bench import bench

    modes = ("forward", "train") if o.mode == "both" else (o.mode,)
    result = bench(
        graph, device_name=o.device or "auto", batch_size=o.batch_size, steps=o.steps, warmup=o.warmup,
        repeats=o.repeats, modes=modes, amp=o.amp, compile=o.compile, reference=o.reference, peak_tflops=o.peak_tflops,
        threads=o.threads,
    )  # fmt: skip
    _output(o.format, lambda: bench_json(result), lambda: [bench_table(result)])
    return 0


def plot_cmd(o: argparse.Namespace) -> int:
    """Draw runs' loss and accuracy against the epoch; several runs on the same axes.

    Reads each run's metrics.jsonl (else results.csv): a run folder, or one of those files.
    The picture goes to ./curves.png (or -o FILE: .png, .svg, .pdf), never into a run folder
    unasked: a run's own curves.png is the one its training drew. The legend names each run
    by its folder. Needs matplotlib (pip install matplotlib, or pip install -e ".[plot]").
    """
    import os

    from .render.curves import FORMATS, NoMatplotlib, curves_picture
    from .render.picture import write_file
    from .render.runs import plot_json, plot_table
    from .train.runs import CURVES, read_histories

    runs, warnings = read_histories(o.runs)
    for warning in warnings:
        sys.stderr.write(Problem(warning).format("warning") + "\n")
    out = o.output or CURVES  # here: reading runs changes nothing in their folders
    stem, suffix = os.path.splitext(out)
    fmt = suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise CnnctlError.at(
            f"cannot draw `{out}`: the picture is written as " + ", ".join(f".{f}" for f in FORMATS),
            hint=f"e.g. -o {stem}.png",
        )
    try:
        picture = curves_picture(runs, o.metric, fmt)
    except NoMatplotlib as exc:
        from .render.curves import INSTALL

        raise CnnctlError.at(f"`cnnctl plot` draws with matplotlib: {exc}", hint=INSTALL) from None
    write_file(out, picture)
    _output(o.format, lambda: plot_json(runs, out, o.metric), lambda: [plot_table(runs, out, o.metric)])
    return 0


def runs_cmd(o: argparse.Namespace) -> int:
    """The runs in a folder: network, data, epochs, best accuracy, status, checkpoints.

    Every run folder in DIR (default ./runs: a folder holding config.json or last.pt), the
    newest first. Status: running (a process holds the run's lock), finished, stopped early
    (--patience), stopped (Ctrl-C or SIGTERM: --resume continues it), diverged, failed (the
    reason follows the table), killed (it ended without a word: kill -9, out of memory, a
    machine that went down), unknown (a run from before runs recorded how they end).
    """
    from .render.runs import runs_json, runs_table
    from .train.runs import list_runs

    runs = list_runs(o.folder)
    _output(o.format, lambda: runs_json(o.folder, runs), lambda: [runs_table(o.folder, runs)])
    return 0


# -- the options -------------------------------------------------------------------------------
def whole(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """A whole number from `lo` (to `hi`), in ASCII digits."""

    def parse(text: str) -> int:
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isdigit() and digits.isascii()) or len(digits) > 19:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {quoted(text)}")
        value = int(text)
        if value < lo or (hi is not None and value > hi):
            span = f"from {lo:,} to {hi:,}" if hi is not None else f"at least {lo:,}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value:,}")
        return value

    return parse


integer = whole(-(2**63))  # a setting's whole number: its range is the settings' to check


def number(text: str) -> float:
    """A number in ASCII (`nan` and `inf` too: the settings say why they do not fit)."""
    try:
        if not text.isascii() or "_" in text:
            raise ValueError
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {quoted(text)}") from None


UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30,
         "TiB": 2**40}  # fmt: skip


def nbytes(text: str) -> int:
    """A size: `16GiB`, `80 GB`, `1.5TiB`, or bytes."""
    cut = len(text)
    while cut and (text[cut - 1].isalpha() or text[cut - 1] == " "):  # the unit is the letters at the end
        cut -= 1
    number, unit = text[:cut], text[cut:].strip()
    try:
        if not number.isascii() or "_" in number or unit not in UNITS and unit:
            raise ValueError
        value = float(number) * UNITS.get(unit, 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 16GiB or 80GB, got {quoted(text)}"
            + (f" ({did_you_mean(unit, UNITS)})" if unit and did_you_mean(unit, UNITS) else "")
        ) from None
    if not 1 <= value <= 2**60:
        raise argparse.ArgumentTypeError(f"must be from 1 byte to 1 EiB, got {quoted(text)}")
    return int(value)


def columns(text: str) -> tuple[str, ...]:
    """summarize's columns, comma-separated."""
    from .render.views import SUMMARY_COLUMNS

    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in SUMMARY_COLUMNS:
            hint = did_you_mean(name, SUMMARY_COLUMNS)
            raise argparse.ArgumentTypeError(
                f"no column {quoted(name)}" + (f" ({hint})" if hint else f": one of {', '.join(SUMMARY_COLUMNS)}")
            )
    return names


def choice(words: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in words:
            hint = did_you_mean(text, words)
            raise argparse.ArgumentTypeError(
                f"expected one of {', '.join(words)}, got {quoted(text)}" + (f" ({hint})" if hint else "")
            )
        return text

    return parse


def formats(*allowed: Format) -> Callable[[str], Format]:
    words = tuple(f.value for f in allowed)
    check = choice(words)
    return lambda text: Format(check(text))


OPTIMIZER_STATES = ("sgd", "momentum", "adam", "adamw")  # cnnctl.analysis.training.OPTIMIZERS' names
MONITORS = ("val_accuracy", "val_loss")  # cnnctl.train.config.MONITORS (not imported: --help stays light)


def augmentations(text: str) -> str:
    from .layers.args import ArgValueError
    from .train.config import parse_augment

    try:
        return parse_augment(text)
    except ArgValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


ARCH_HELP = "A YAML file, or a bundled name such as vgg16 (see `cnnctl list`)."
DATA_HELP = "shapes (built in), mnist, fashion-mnist, cifar10, or a folder. Default: shapes."
DATA_DIR_HELP = "Where datasets are looked for ($CNNCTL_DATA, ~/.cache/cnnctl)."
DEVICE_HELP = "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps."


class _Help(argparse.RawDescriptionHelpFormatter):
    """The description as written; options in a column wide enough for `-f, --format ...`."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=36)


class Parser(argparse.ArgumentParser):
    """argparse, with cnnctl's way of telling a mistake: one `error:` line, a hint, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        text, hint = _reworded(self, message)
        sys.stderr.write(Problem(text, hint=hint).format() + "\n")
        raise SystemExit(2)


def _reworded(parser: argparse.ArgumentParser, message: str) -> tuple[str, str | None]:
    """argparse's message for a mistake, in cnnctl's words, and a hint."""
    command = parser.prog.split()[-1]
    help_hint = f"`{parser.prog} --help` lists its options and arguments"
    if message.startswith("the following arguments are required: "):
        missing = message.split(": ", 1)[1]
        return f"`{command}` needs {missing}", help_hint
    if message.startswith("unrecognized arguments: "):
        words = message.split(": ", 1)[1].split()
        if not words[0].startswith("-"):
            return f"`{command}` takes no more arguments: {quoted(' '.join(words))}", help_hint
        options = [s for a in parser._actions for s in a.option_strings]
        return f"`{command}` has no option {quoted(words[0])}", did_you_mean(
            words[0].split("=")[0], options
        ) or help_hint
    if message.startswith("argument COMMAND: invalid choice: "):
        word = message.split("'")[1] if "'" in message else message
        return f"no command {quoted(word)}", did_you_mean(word, COMMANDS) or f"the commands: {', '.join(COMMANDS)}"
    if message.startswith("argument "):
        names, _, rest = message[len("argument ") :].partition(": ")
        name = next((n for n in names.split("/") if n.startswith("--")), names.split("/")[0])
        return f"{name} {rest}", help_hint
    return message, help_hint


def _dedented(text: str) -> str:
    """A docstring's body without its common indent (textwrap would cost an import per start)."""
    lines = text.splitlines()
    indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
    return "\n".join(ln[indent:] for ln in lines)


def _wrapped(text: str, width: int = 92) -> str:
    """`text` in lines of at most `width` characters, broken between words."""
    lines = [""]
    for word in text.split():
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".lstrip()
    return "\n".join(lines)


class _Unused:
    """Takes the options of a command that is not run, and does nothing with them."""

    def add_argument(self, *args, **kwargs) -> None:
        pass


def build_parser(only: str | None = None) -> Parser:
    """The parser of every command, or with `only`, of that one command: declaring all of
    them costs more than parsing (a few milliseconds of every start)."""
    from .shapes import DTYPE_BYTES

    top = Parser(
        prog="cnnctl",
        usage="cnnctl [OPTIONS] COMMAND [ARGS]...",
        description="Analyze CNN architectures written in the course's shorthand: shapes, parameters, "
        "multiplications; train them with PyTorch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    top.add_argument("--version", action="version", version=f"cnnctl {__version__}", help="Show the version.")
    top.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands: dict[str, Parser] = {}
    top.set_defaults(commands=commands)

    def command(name: str, handler: Callable, usage: str) -> Parser:
        if only is not None and name != only:
            return _Unused()  # type: ignore[return-value]
        first, _, rest = (handler.__doc__ or "").strip().partition("\n")
        parser = sub.add_parser(
            name, help=first, description=f"{first}\n{_dedented(rest)}", prog=f"cnnctl {name}",
            usage=f"cnnctl {name} {usage}", formatter_class=_Help,
        )  # fmt: skip
        parser.set_defaults(handler=handler)
        commands[name] = parser
        return parser

    def arch(parser: Parser) -> None:
        parser.add_argument("arch", metavar="ARCH", help=ARCH_HELP)

    def input_option(parser: Parser) -> None:
        parser.add_argument("-i", "--input", metavar="HxWxC", help="Input volume HxWxC, overriding the file's.")

    def dtype_option(parser: Parser, text: str) -> None:
        parser.add_argument("--dtype", type=choice(tuple(DTYPE_BYTES)), default="float32", metavar="TYPE",
                            help=text + " One of " + ", ".join(DTYPE_BYTES) + ".")  # fmt: skip

    def format_option(parser: Parser, *allowed: Format) -> None:
        allowed = allowed or tuple(Format)
        parser.add_argument(
            "-f", "--format", type=formats(*allowed), default=Format.table, metavar="|".join(f.value for f in allowed),
            help="Output format. Default: table." if Format.csv in allowed else "json: the result on stdout, "
            "progress on stderr. Default: table.",
        )  # fmt: skip

    p = command("summarize", summarize_cmd, "[OPTIONS] ARCH")
    arch(p)
    input_option(p)
    p.add_argument("-b", "--batch", type=whole(1, MAX_INT), default=1, metavar="B",
                   help="Batch size: memory is for B images, and totals per batch are added.")  # fmt: skip
    p.add_argument("--dtype", default="float32", help="Element type for memory: " + ", ".join(DTYPE_BYTES) + ".")
    p.add_argument("-d", "--depth", type=whole(1), metavar="N", help="Collapse layer paths deeper than N.")
    p.add_argument("-c", "--columns", type=columns, metavar="A,B,...",
                   help="Columns to show, in order: layer, shorthand, output, from (where a layer's inputs come from), "
                   "params, buffers, mults, flops, field (receptive field), jump, start, memory. Default: layer, "
                   "shorthand, output, from (for branched networks), params, mults, field.")  # fmt: skip
    format_option(p)

    p = command("flops", flops_cmd, "[OPTIONS] ARCH")
    arch(p)
    input_option(p)
    p.add_argument("-b", "--batch", type=whole(1, MAX_INT), default=1, metavar="B",
                   help="Batch size: adds multiplications and FLOPs for B images.")  # fmt: skip
    p.add_argument("--per-layer", action="store_true", help="Each layer's share, heaviest first.")
    p.add_argument("--top", type=whole(1), metavar="N", help="Only the N heaviest layers (implies --per-layer).")
    dtype_option(p, "Element type for the roofline. Default: float32 (TF32 on GPUs that have it).")
    p.add_argument("--profile", metavar="NAME", help="Roofline on a device: h100, h200, a100, l4, t4.")
    p.add_argument("--peak-tflops", type=number, metavar="X", help="Roofline on your device: its peak TFLOP/s...")
    p.add_argument("--bandwidth", type=number, metavar="GB/S", help="... and its memory bandwidth in GB/s.")
    format_option(p)

    p = command("memory", memory_cmd, "[OPTIONS] ARCH")
    arch(p)
    input_option(p)
    p.add_argument("-b", "--batch", type=whole(1, MAX_INT), default=32, metavar="B", help="Batch size. Default: 32.")
    dtype_option(p, "Element type of weights and activations. Default: float32.")
    p.add_argument("--optimizer", type=choice(OPTIMIZER_STATES), default="adam", metavar="|".join(OPTIMIZER_STATES),
                   help="Its state per parameter: sgd 0, momentum 1, adam and adamw 2. Default: adam.")  # fmt: skip
    p.add_argument("--amp", action="store_true", help="Mixed precision: 16-bit activations and weight copies.")
    p.add_argument(
        "--budget", type=nbytes, metavar="SIZE", help="Device memory, e.g. 16GiB: the largest batch that fits."
    )
    p.add_argument("--device", type=choice(("cuda", "cpu")), default="cuda", metavar="cuda|cpu",
                   help="Where it trains: dropout keeps a 1-byte mask on GPUs, a float on CPUs. "
                   "Default: cuda.")  # fmt: skip
    p.add_argument("--per-layer", action="store_true", help="What each layer keeps for backward, largest first.")
    p.add_argument("--top", type=whole(1), metavar="N", help="Only the N largest (implies --per-layer).")
    format_option(p)

    p = command("compare", compare_cmd, "[OPTIONS] ARCH ARCH...")
    p.add_argument("files", nargs="+", metavar="ARCH...", help="Network files or bundled names, two or more.")
    input_option(p)
    p.add_argument("-b", "--batch", type=whole(1, MAX_INT), default=32, metavar="B",
                   help="Batch for training memory and latency. Default: 32.")  # fmt: skip
    dtype_option(p, "Element type for memory and latency. Default: float32.")
    p.add_argument("--optimizer", type=choice(OPTIMIZER_STATES), default="adam", metavar="|".join(OPTIMIZER_STATES),
                   help="For training memory. Default: adam.")  # fmt: skip
    p.add_argument("--profile", default="h100", metavar="NAME",
                   help="Device for the roofline latency: h100, h200, a100, l4, t4. Default: h100.")  # fmt: skip
    p.add_argument("--budget", type=nbytes, metavar="SIZE", help="Device memory: the largest batch of each that fits.")
    format_option(p)

    p = command("draw", draw_cmd, "[OPTIONS] ARCH")
    arch(p)
    input_option(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="The picture: .svg, .png, .pdf (Graphviz), .dot, .mmd (Mermaid); replaced if it "
                   "exists. Default: NAME.svg here, only if no such file exists (name it with -o to "
                   "replace it); with --format json, none: nothing is written.")  # fmt: skip
    p.add_argument("-d", "--depth", type=whole(1), metavar="N", help="Collapse layer paths deeper than N into one box.")
    p.add_argument("--style", type=choice(("graph", "volumes")), default="graph", metavar="graph|volumes",
                   help="graph: layers, clusters and skips; volumes: the course's volumes (sequential networks). "
                   "Default: graph.")  # fmt: skip
    format_option(p, Format.table, Format.json)

    p = command("export", export_cmd, "[OPTIONS] ARCH -o FILE")
    arch(p)
    input_option(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="The file: .onnx, .ts (TorchScript), .py.")
    p.add_argument("--checkpoint", metavar="RUN", help="A run folder (its best.pt) or checkpoint: its weights.")
    p.add_argument("-f", "--format", type=choice(("onnx", "torchscript", "pytorch", "table", "json")),
                   default="table", metavar="onnx|torchscript|pytorch|json",
                   help="What to write (default: from FILE's suffix), or json: the report as JSON.")  # fmt: skip

    p = command("import", import_cmd, "[OPTIONS] FILE.onnx")
    if only == "import":  # the reader's own table and limits, so that the two cannot differ
        from .exchange.onnx_import import operators_read
        from .limits import MAX_ONNX_BYTES, MAX_ONNX_CONSTANT

        bounds = (
            f"FILE.onnx must be a regular file of at most {MAX_ONNX_BYTES / 1024**3:g} GiB. Data it keeps in other "
            "files is read only from its own folder, and only for constants of at most "
            f"{MAX_ONNX_CONSTANT} values (a weight needs only its dims: its values are never read)."
        )
        p.epilog = f"{_wrapped(f'ONNX operators read: {operators_read()}.')}\n\n{_wrapped(bounds)}"
    p.add_argument("file", metavar="FILE.onnx", help="An ONNX model file.")
    p.add_argument("-o", "--output", metavar="FILE", help="The network file to write. Default: standard output.")
    p.add_argument("--name", help="The network's name. Default: the graph's, else the file's.")
    format_option(p, Format.table, Format.json)

    p = command("schema", schema_cmd, "[OPTIONS]")
    p.add_argument("-o", "--output", metavar="FILE", help="Write it to FILE. Default: standard output.")
    p.add_argument("-f", "--format", type=formats(Format.json), default=Format.json, metavar="json",
                   help="A JSON Schema is JSON: the only format.")  # fmt: skip

    p = command("validate", validate_cmd, "[OPTIONS] FILE...")
    p.add_argument("files", nargs="+", metavar="FILE...", help="Network files (or bundled names) to check.")
    input_option(p)
    format_option(p)

    p = command("list", list_cmd, "[OPTIONS]")
    format_option(p)

    p = command("train", train_cmd, "[OPTIONS] ARCH | --resume RUN")
    p.add_argument("arch", nargs="?", metavar="ARCH", help=ARCH_HELP + " Not needed with --resume.")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    # The settings' ranges are checked in one place, with the file's: cnnctl.train.config.CHECKS.
    p.add_argument("--epochs", type=integer, metavar="N", help="Passes over the training data. Default: 10.")
    p.add_argument("--batch-size", type=integer, metavar="N", help="Images per step (per worker). Default: 64.")
    p.add_argument("--lr", type=number, help="Learning rate. Default: 0.05 sgd, 0.001 adam.")
    p.add_argument("--optimizer", type=choice(("sgd", "adam", "adamw")), metavar="sgd|adam|adamw",
                   help="Default: adam.")  # fmt: skip
    p.add_argument("--momentum", type=number, help="SGD momentum, 0 to 1. Default: 0.9.")
    p.add_argument("--weight-decay", type=number, help="Default: 0.")
    p.add_argument("--scheduler", type=choice(("none", "step", "cosine")), metavar="none|step|cosine",
                   help="Learning-rate schedule. Default: none.")  # fmt: skip
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--seed", type=integer, help="Seeds weights, data order and split. Default: 0.")
    p.add_argument("--out", help="Run folder. Default: runs/ARCH-TIMESTAMP.")
    p.add_argument("--resume", metavar="RUN",
                   help="Continue a run: its folder or a checkpoint (ARCH may be left out).")  # fmt: skip
    p.add_argument("--val-split", type=number, metavar="X",
                   help="Share of the training images held out for validation when the data has no validation "
                   "or test split, 0 to 0.9 (0: train on all). Default: 0.1.")  # fmt: skip
    p.add_argument("--augment", type=augmentations, metavar="crop,flip|rrc,flip|none",
                   help="Augment the training images, on the device, seeded (a resume replays them): crop "
                   "(pad by H/8 and crop back, the CIFAR recipe), flip (horizontal, half the images), rrc "
                   "(random resized crop, scale 0.08-1, for photos). Default: none.")  # fmt: skip
    p.add_argument("--label-smoothing", type=number, metavar="X",
                   help="Cross-entropy's label smoothing, 0 to 0.99 (e.g. 0.1). Default: 0.")  # fmt: skip
    p.add_argument("--warmup-epochs", type=integer, metavar="N",
                   help="Raise the learning rate linearly over the first N epochs, then the schedule. "
                   "Default: 0.")  # fmt: skip
    p.add_argument("--patience", type=integer, metavar="N",
                   help="Stop early after N epochs without a better --monitor value. Default: never.")  # fmt: skip
    p.add_argument("--monitor", type=choice(MONITORS), metavar="|".join(MONITORS),
                   help="What best.pt and --patience follow. Default: val_accuracy.")  # fmt: skip
    p.add_argument("--threads", type=integer, metavar="N",
                   help="CPU threads per process. Default: the idle cores (cores less the load average), or "
                   "OMP_NUM_THREADS.")  # fmt: skip
    p.add_argument("--amp", action=argparse.BooleanOptionalAction,
                   help="Mixed precision: bf16, or fp16 with a gradient scaler. Default: on GPUs.")  # fmt: skip
    p.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="torch.compile the network. Default: on GPUs.")  # fmt: skip
    p.add_argument("--sync-bn", action=argparse.BooleanOptionalAction,
                   help="Batch norm over all workers' images (GPUs).")  # fmt: skip
    p.add_argument("--nproc-per-node", type=whole(1), metavar="N",
                   help="Data-parallel workers on this machine (torchrun's launcher). Default: 1 process.")  # fmt: skip
    p.add_argument("--nnodes", type=whole(1), metavar="N", help="Machines in a data-parallel run. Default: 1.")
    p.add_argument("--node-rank", type=whole(0), metavar="N", help="This machine's number, 0 to NNODES-1.")
    p.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                   help="Where the machines meet (needed with --nnodes > 1).")  # fmt: skip
    p.add_argument("--rdzv-timeout", type=whole(1), metavar="S",
                   help="Seconds to wait for every machine to join. Default: 300.")  # fmt: skip
    p.add_argument("--max-restarts", type=whole(0), metavar="N",
                   help="Restart the workers from the last checkpoint after a failure, N times.")  # fmt: skip
    p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction,
                   help="Write each epoch's losses, accuracies and rate to RUN/tensorboard/ (needs the "
                   "tensorboard package).")  # fmt: skip
    input_option(p)
    format_option(p, Format.table, Format.json)

    p = command("evaluate", evaluate_cmd, "[OPTIONS] RUN | ARCH --checkpoint RUN")
    p.add_argument("arch", metavar="RUN|ARCH", help="A run folder (its network and best weights), or a network.")
    p.add_argument("--checkpoint", help="A run folder (its best.pt) or a checkpoint file. Default: RUN.")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--split", type=choice(("val", "test", "train", "all")), default="val",
                   metavar="val|test|train|all",
                   help="Which images: the run's validation split, the data's test split (a test/ folder, "
                   "t10k-* IDX files, test_batch), the training split, or all of --data. Default: val.")  # fmt: skip
    p.add_argument("--device", help=DEVICE_HELP)
    format_option(p)

    p = command("predict", predict_cmd, "[OPTIONS] RUN|ARCH IMAGE...")
    p.add_argument("arch", metavar="RUN|ARCH", help="A run folder (its network and best weights), or a network.")
    p.add_argument("images", nargs="+", metavar="IMAGE...",
                   help="PNG or JPEG files, or folders of them (not their subfolders).")  # fmt: skip
    p.add_argument("--checkpoint", help="A run folder (its best.pt) or a checkpoint file. Default: RUN.")
    p.add_argument("-k", "--top-k", type=whole(1), default=5, metavar="K", help="Classes to show per image.")
    p.add_argument("--invert", action="store_true",
                   help="Use 255 - value: dark-on-light images for a light-on-dark network (MNIST).")  # fmt: skip
    p.add_argument("--device", help=DEVICE_HELP)
    format_option(p)

    p = command("bench", bench_cmd, "[OPTIONS] ARCH")
    arch(p)
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--batch-size", type=whole(1), default=32, metavar="N", help="Images per step. Default: 32.")
    p.add_argument("--steps", type=whole(1), default=20, metavar="N",
                   help="Timed steps per repeat, after the warm-up. Default: 20.")  # fmt: skip
    p.add_argument("--repeats", type=whole(1), default=3, metavar="N",
                   help="Rounds of --steps, models taking turns; their spread shows noise. Default: 3.")  # fmt: skip
    p.add_argument("--warmup", type=whole(0), default=5, metavar="N", help="Untimed steps first. Default: 5.")
    p.add_argument("--mode", type=choice(("both", "forward", "train")), default="both",
                   metavar="both|forward|train", help="Forward passes, training steps, or both.")  # fmt: skip
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=False, help="bf16 autocast (GPUs).")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False,
                   help="torch.compile the module.")  # fmt: skip
    p.add_argument("--reference", action=argparse.BooleanOptionalAction, default=False,
                   help="Also time a hand-written lenet5/resnet18/resnet50.")  # fmt: skip
    p.add_argument("--peak-tflops", type=number, help="Peak TFLOP/s, for MFU.")
    p.add_argument("--threads", type=whole(1, 4096), metavar="N",
                   help="CPU threads. Default: the idle cores (cores less the load average), or "
                   "OMP_NUM_THREADS.")  # fmt: skip
    input_option(p)
    format_option(p)

    p = command("plot", plot_cmd, "[OPTIONS] RUN [RUN...]")
    p.add_argument("runs", nargs="+", metavar="RUN...", help="Run folders (or their metrics.jsonl or results.csv).")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="The picture: .png, .svg, .pdf. Default: ./curves.png.")  # fmt: skip
    p.add_argument("--metric", type=choice(("both", "loss", "accuracy")), default="both",
                   metavar="loss|accuracy|both", help="What to draw. Default: both, side by side.")  # fmt: skip
    format_option(p, Format.table, Format.json)

    p = command("runs", runs_cmd, "[OPTIONS] [DIR]")
    p.add_argument("folder", nargs="?", default="runs", metavar="DIR",
                   help="The folder holding the run folders. Default: ./runs.")  # fmt: skip
    format_option(p)
    return top


COMMANDS = (
    "summarize",
    "flops",
    "memory",
    "compare",
    "draw",
    "export",
    "import",
    "schema",
    "validate",
    "list",
    "train",
    "evaluate",
    "predict",
    "bench",
    "plot",
    "runs",
)


def top_help(parser: Parser) -> str:
    """`cnnctl --help`: the commands, each with its whole first line."""
    choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [parser.format_usage().rstrip(), "", parser.description or "", "", "Options:"]
    lines += ["  --version   Show the version.", "  -h, --help  Show this message and exit.", "", "Commands:"]
    lines += [f"  {a.dest:<10} {a.help}" for a in choices._choices_actions]
    return "\n".join(lines) + "\n"


def run(argv: list[str]) -> int:
    """Parse `argv` and run its command; the exit status."""
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    if not argv or argv[0] in ("-h", "--help"):  # what there is to run
        sys.stdout.write(top_help(parser))
        return 0
    options, extra = parser.parse_known_args(argv)
    if extra:  # told by the command they were given to, with its options as hints
        getattr(options, "commands", {}).get(argv[0], parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return options.handler(options)


def main(argv: list[str] | None = None) -> None:
    """Entry point. A CnnctlError (something the user gave) becomes one message on stderr and
    exit code 2; a RunFailed (a run that could not go on), exit code 1, or LOST_PEERS for a
    worker that stopped because another one died. A reader of standard output that went
    away (`| head -1`) ends any command quietly with BROKEN_PIPE, as git and ls end there; a
    training goes on to its end all the same (see TrainDisplay), and its status says so."""
    argv = sys.argv[1:] if argv is None else argv
    if worker.gave_up():  # restarted after the user's mistake: nothing new would happen
        worker.leave(0)
    collecting = gc.isenabled()
    if argv[:1] and argv[0] in ANALYSIS:
        # These commands build objects by the hundred thousand for a large network and free
        # none before the process ends: the cycle collector would only walk them again and
        # again (a third of the time for 100,000 layers).
        gc.disable()
    try:
        status = run(argv)
    except BrokenPipeError:  # stdout's reader went away: nobody is left to read a message
        worker.stdout_gone()
        status = BROKEN_PIPE
    except KeyboardInterrupt:  # an analysis, or the start of any command: nothing to save
        if worker.speaks():
            sys.stderr.write("stopped by Ctrl-C: nothing was changed\n")
        status = INTERRUPTED
    except CnnctlError as exc:
        if worker.speaks():
            sys.stderr.write(str(exc) + "\n")
        worker.give_up()
        status = 2
    except RunFailed as exc:
        # A worker that only lost its peers says so under plain torchrun; under cnnctl's
        # launcher, the launcher's one line names the worker that failed.
        if not (exc.exit_code == LOST_PEERS and worker.under_cnnctls_launcher()):
            sys.stderr.write(f"{exc}\n")
        status = exc.exit_code
    except SystemExit as exc:  # argparse's way out: --help, --version, a mistake on the command line
        status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        if collecting:  # as it was, for a caller in the same process (the tests)
            gc.enable()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        worker.stdout_gone()
    if worker.lost_stdout() and status == 0:  # what was written went nowhere
        status = BROKEN_PIPE
    worker.leave(status)


__all__ = ["main"]
