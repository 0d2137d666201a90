"""The command line. Thin: parse options, call the API, render; catch only CnnctlError."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from . import __version__, worker
from .analysis import DTYPE_BYTES, summarize
from .api import load
from .catalog import bundled
from .errors import INTERRUPTED, LOST_PEERS, CnnctlError, RunFailed
from .graph import parse_volume
from .limits import MAX_INT
from .render.table import Table, show
from .render.views import (
    catalog_table,
    flops_json,
    flops_table,
    problem_json,
    summary_json,
    summary_table,
    validate_lines,
    validate_table,
    validate_total,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Analyze CNN architectures written in the course's shorthand: shapes, parameters, multiplications.",
)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


Arch = Annotated[
    str, typer.Argument(metavar="ARCH", help="A YAML file, or a bundled name such as vgg16 (see `cnnctl list`).")
]
InputOpt = Annotated[Optional[str], typer.Option("--input", "-i", help="Input volume HxWxC, overriding the file's.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
SummarizeBatchOpt = Annotated[
    int,
    typer.Option(
        "--batch", "-b", min=1, max=MAX_INT, help="Batch size: memory is for B images, and totals per batch are added."
    ),
]
FlopsBatchOpt = Annotated[
    int,
    typer.Option("--batch", "-b", min=1, max=MAX_INT, help="Batch size: adds multiplications and FLOPs for B images."),
]


class _Command(TyperCommand):
    """Usage lines show `ARCH`, not typer's `{ARCH}` for a required argument."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


def _print_json(data: object) -> None:
    """Valid JSON (RFC 8259) on stdout: a NaN or infinite float is written as null."""
    from .render.numbers import json_safe

    sys.stdout.write(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


def _output(format: Format, data: Callable[[], object], tables: Callable[[], list[Table]], graph=None) -> None:
    """JSON for scripts; else the tables in the chosen text format, after the graph's warnings.

    Several tables are separated by a blank line (in Markdown, the line that ends a table);
    CSV writes the first table only (a CSV stream has one header; the first carries the
    others' values in csv-only columns where they matter, as evaluate's confusion matrix).
    """
    if format is Format.json:
        _print_json(data())
        return
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
    shape = parse_volume(input, None, "--input") if input is not None else None
    graph = load(arch, shape)
    if settings and graph.train:
        from .train.config import resolve_config  # pure Python; imported only for files that have one

        resolve_config(graph.train, {})
    return graph


@app.command("summarize", cls=_Command)
def summarize_cmd(
    arch: Arch,
    input: InputOpt = None,
    batch: SummarizeBatchOpt = 1,
    dtype: Annotated[str, typer.Option(help="Element type for memory: " + ", ".join(DTYPE_BYTES))] = "float32",
    depth: Annotated[
        Optional[int], typer.Option("--depth", "-d", min=1, help="Collapse layer paths deeper than N.")
    ] = None,
    format: FormatOpt = Format.table,
) -> None:
    """Per-layer shapes, params and multiplications; totals, memory.

    One row per layer: path, shorthand, output HxWxC, parameters, multiplications and the
    memory of its output; then totals and memory for the batch and dtype.
    """
    graph = _load(arch, input)
    summary = summarize(graph, depth=depth, batch=batch, dtype=dtype)
    _output(format, lambda: summary_json(summary), lambda: [summary_table(summary)], graph)


@app.command("flops", cls=_Command)
def flops_cmd(
    arch: Arch,
    input: InputOpt = None,
    batch: FlopsBatchOpt = 1,
    per_layer: Annotated[bool, typer.Option("--per-layer", help="Each layer's share, heaviest first.")] = False,
    format: FormatOpt = Format.table,
) -> None:
    """Exact multiplications and FLOPs of one forward pass.

    In full and in K/M/G, with what is and is not counted; --batch adds totals per batch.

    Multiplications: conv, deconv and fc multiply-accumulates (torchvision's "GFLOPS",
    PyTorch FlopCounterMode / 2). FLOPs: 2 x multiplications + 1 per bias value +
    element-wise work per value: bn 2, activations 1 (softmax 3), max pool f*f-1 and
    avg pool f*f per output, add 1 per extra input, lrn 2*size+3.
    """
    graph = _load(arch, input)
    summary = summarize(graph, batch=batch)
    _output(format, lambda: flops_json(summary, per_layer), lambda: [flops_table(summary, per_layer)], graph)


@app.command("validate", cls=_Command)
def validate_cmd(
    files: Annotated[list[str], typer.Argument(metavar="FILE...", help="Network files (or bundled names) to check.")],
    input: InputOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Check network files; exit 2 if any is invalid.

    Exit 0 when all are valid; otherwise every problem is listed and the exit code is 2.
    """
    results = []
    for arch in files:
        try:
            graph = _load(arch, input)  # its `train:` section too, checked as `cnnctl train` would
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
    if format is Format.json:
        _print_json({"ok": not bad, "files": results})
    elif format is not Format.table:  # csv, markdown: one table on stdout, a row per file
        _output(format, lambda: None, lambda: [validate_table(results)])
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
    if bad:
        raise typer.Exit(2)


@app.command("list")
def list_cmd(format: FormatOpt = Format.table) -> None:
    """The bundled architectures: input, params, mults."""
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
    _output(format, lambda: entries, lambda: [catalog_table(entries)])


class RunFormat(str, Enum):
    """A run prints progress lines and a result: a table, or JSON for scripts."""

    table = "table"
    json = "json"


class Optimizer(str, Enum):
    sgd = "sgd"
    adam = "adam"
    adamw = "adamw"


class Scheduler(str, Enum):
    none = "none"
    step = "step"
    cosine = "cosine"


DataOpt = Annotated[
    Optional[str],
    typer.Option("--data", help="shapes (built in), mnist, fashion-mnist, cifar10, or a folder. Default: shapes."),
]
DataDirOpt = Annotated[
    Optional[str], typer.Option("--data-dir", help="Where datasets are looked for ($CNNCTL_DATA, ~/.cache/cnnctl).")
]
DeviceOpt = Annotated[
    Optional[str], typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.")
]


@app.command("train", cls=_Command)
def train_cmd(
    arch: Arch,
    data: DataOpt = None,
    data_dir: DataDirOpt = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Passes over the training data. Default: 10.")] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(min=1, help="Images per step (per worker with several). Default: 64.")
    ] = None,
    lr: Annotated[
        Optional[float], typer.Option(min=1e-12, help="Learning rate. Default: 0.05 sgd, 0.001 adam.")
    ] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(help="Default: adam.")] = None,
    momentum: Annotated[Optional[float], typer.Option(min=0, max=1, help="SGD momentum. Default: 0.9.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(min=0, max=1, help="Default: 0.")] = None,
    scheduler: Annotated[Optional[Scheduler], typer.Option(help="Learning-rate schedule. Default: none.")] = None,
    device: DeviceOpt = None,
    seed: Annotated[
        Optional[int], typer.Option(min=0, max=2**32 - 1, help="Seeds weights, data order and split. Default: 0.")
    ] = None,
    out: Annotated[Optional[str], typer.Option(help="Run folder. Default: runs/ARCH-TIMESTAMP.")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue a run: its folder or a checkpoint.")] = None,
    val_split: Annotated[
        Optional[float], typer.Option(min=0, max=0.9, help="Share held out when the data has one split. Default: 0.1.")
    ] = None,
    amp: Annotated[
        Optional[bool],
        typer.Option("--amp/--no-amp", help="Mixed precision: bf16, or fp16 with a gradient scaler. Default: on GPUs."),
    ] = None,
    compile: Annotated[
        Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the network. Default: on GPUs.")
    ] = None,
    sync_bn: Annotated[
        Optional[bool], typer.Option("--sync-bn/--no-sync-bn", help="Batch norm over all workers' images (GPUs).")
    ] = None,
    nproc_per_node: Annotated[
        Optional[int],
        typer.Option(min=1, help="Data-parallel workers on this machine (torchrun's launcher). Default: 1 process."),
    ] = None,
    nnodes: Annotated[Optional[int], typer.Option(min=1, help="Machines in a data-parallel run. Default: 1.")] = None,
    node_rank: Annotated[Optional[int], typer.Option(min=0, help="This machine's number, 0 to NNODES-1.")] = None,
    rdzv_endpoint: Annotated[
        Optional[str], typer.Option(help="HOST:PORT where the machines meet (needed with --nnodes > 1).")
    ] = None,
    rdzv_timeout: Annotated[
        Optional[int], typer.Option(min=1, help="Seconds to wait for every machine to join. Default: 300.")
    ] = None,
    max_restarts: Annotated[
        Optional[int],
        typer.Option(min=0, help="Restart the workers from the last checkpoint after a failure, N times. Default: 0."),
    ] = None,
    input: InputOpt = None,
    format: Annotated[
        RunFormat, typer.Option("--format", "-f", help="json: the result on stdout, progress on stderr.")
    ] = RunFormat.table,
) -> None:
    """Train on a dataset; keep metrics and checkpoints.

    Settings come from the defaults, then the file's `train:` section, then these options.
    Ctrl-C stops after the current step, saves a checkpoint and says how to resume (exit 130; 143 after SIGTERM).
    With --nproc-per-node N, N workers train in data parallel (torch.distributed), each on
    its own share of every batch; `torchrun --nproc-per-node N -m cnnctl train ...` works too.
    """
    started = False  # set once the run itself begins, to say what a Ctrl-C stopped
    try:
        launcher_only = {"--node-rank": node_rank, "--rdzv-endpoint": rdzv_endpoint, "--rdzv-timeout": rdzv_timeout,
                         "--max-restarts": max_restarts}  # fmt: skip
        given = [flag for flag, value in launcher_only.items() if value is not None]
        if given and nproc_per_node is None and nnodes is None:
            raise CnnctlError.at(
                f"{', '.join(given)} without --nproc-per-node: one process has no workers to launch",
                hint="add --nproc-per-node N (and --nnodes for several machines)",
            )
        graph = _load(arch, input, settings=False)  # checked below, with the options
        from .train.config import resolve_config
        from .train.loop import resumed_config, train

        overrides = {
            "data": data, "data_dir": data_dir, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "optimizer": optimizer.value if optimizer else None, "momentum": momentum, "weight_decay": weight_decay,
            "scheduler": scheduler.value if scheduler else None, "device": device, "seed": seed, "out": out,
            "val_split": val_split, "amp": amp, "compile": compile, "sync_bn": sync_bn,
        }  # fmt: skip
        if resume and out:
            raise CnnctlError.at("--out and --resume together", hint="a resumed run continues in its own folder")
        config = resumed_config(resume, overrides) if resume else resolve_config(graph.train, overrides)
        if nproc_per_node is not None or nnodes is not None:
            from .train.launch import LaunchOptions, launch_training

            options = LaunchOptions(
                nproc_per_node or 1, nnodes or 1, node_rank, rdzv_endpoint, rdzv_timeout or 300, max_restarts or 0
            )
            args = ["train", arch, *(["--input", input] if input else []), *(["--resume", resume] if resume else [])]
            raise typer.Exit(launch_training(graph, config, options, [*args, "--format", format.value], resume))
        console = None
        if format is RunFormat.json:
            from .render.progress import stderr_console

            console = stderr_console()
        started = True
        result = train(graph, config, arch=graph.name, resume=resume, console=console, source=arch, then_exit=True)
        if format is RunFormat.json and worker.rank0():  # one document, from rank 0
            _print_json({"run_dir": str(result.run_dir), "status": result.status, "epochs_done": result.epochs_done,
                         "best_val_accuracy": result.best_val_accuracy, "history": result.history})  # fmt: skip
        raise typer.Exit(result.status)
    except KeyboardInterrupt:  # before the loop could catch it, or a second one: stop now
        if worker.speaks():
            sys.stderr.write(
                "stopped at once: nothing more was saved (checkpoints written before are kept)\n"
                if started
                else "stopped by Ctrl-C before training began: nothing was saved\n"
            )
        raise typer.Exit(INTERRUPTED) from None


@app.command("evaluate", cls=_Command)
def evaluate_cmd(
    arch: Arch,
    checkpoint: Annotated[str, typer.Option(help="A run folder or a checkpoint file.")],
    data: DataOpt = None,
    data_dir: DataDirOpt = None,
    device: DeviceOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Accuracy, per-class accuracy, confusion matrix.

    Runs a checkpoint on the validation split of its data (or of --data).
    """
    graph = _load(arch, None)
    from .render.views import evaluation_json, evaluation_tables
    from .train.evaluate import evaluate

    result = evaluate(graph, checkpoint, data, data_dir, device_name=device or "auto")
    _output(format, lambda: evaluation_json(result), lambda: evaluation_tables(result))


@app.command("predict", cls=_Command)
def predict_cmd(
    arch: Arch,
    images: Annotated[list[str], typer.Argument(metavar="IMAGE...", help="PNG or JPEG files.")],
    checkpoint: Annotated[str, typer.Option(help="A run folder or a checkpoint file.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Classes to show per image.")] = 5,
    device: DeviceOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Top classes of images, with probabilities."""
    graph = _load(arch, None)
    from .render.views import prediction_json, prediction_table
    from .train.evaluate import predict

    results = predict(graph, checkpoint, images, top_k, device or "auto")
    _output(format, lambda: prediction_json(results), lambda: [prediction_table(results)])


class BenchMode(str, Enum):
    both = "both"
    forward = "forward"
    train = "train"


@app.command("bench", cls=_Command)
def bench_cmd(
    arch: Arch,
    device: DeviceOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per step.")] = 32,
    steps: Annotated[int, typer.Option(min=1, help="Timed steps, after the warm-up.")] = 20,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed steps first.")] = 5,
    mode: Annotated[BenchMode, typer.Option(help="Forward passes, training steps, or both.")] = BenchMode.both,
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="bf16 autocast (GPUs).")] = False,
    compile: Annotated[bool, typer.Option("--compile/--no-compile", help="torch.compile the module.")] = False,
    reference: Annotated[bool, typer.Option(help="Also time a hand-written lenet5/resnet18/resnet50.")] = False,
    peak_tflops: Annotated[Optional[float], typer.Option(min=0.001, help="Peak TFLOP/s, for MFU.")] = None,
    input: InputOpt = None,
    format: FormatOpt = Format.table,
) -> None:
    """Time forward and training steps: images/s, latency, TFLOP/s.

    Synthetic data, after a warm-up, the device synchronised after each step. TFLOP/s uses
    the analyzer's multiplications (forward 2 x mults, training 3 x forward); MFU needs a
    known GPU or --peak-tflops.
    """
    graph = _load(arch, input)
    from .render.views import bench_json, bench_table
    from .train.bench import bench

    modes = ("forward", "train") if mode is BenchMode.both else (mode.value,)
    result = bench(
        graph, device_name=device or "auto", batch_size=batch_size, steps=steps, warmup=warmup, modes=modes,
        amp=amp, compile=compile, reference=reference, peak_tflops=peak_tflops,
    )  # fmt: skip
    _output(format, lambda: bench_json(result), lambda: [bench_table(result)])


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"cnnctl {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """cnnctl: exact shapes, parameters and costs of CNNs written in the course's shorthand."""


def main() -> None:
    """Entry point: run the app. A CnnctlError (something the user gave) becomes one message
    on stderr and exit code 2; a RunFailed (a run that could not go on), exit code 1, or
    LOST_PEERS for a worker that stopped because another one died."""
    if worker.gave_up():  # restarted after the user's mistake: nothing new would happen
        worker.leave(0)
    try:
        app()
    except KeyboardInterrupt:  # while typer builds the command line, before a command runs
        if worker.speaks():
            sys.stderr.write("stopped by Ctrl-C while starting: nothing was done\n")
        worker.leave(INTERRUPTED)
    except CnnctlError as exc:
        if worker.speaks():
            sys.stderr.write(str(exc) + "\n")
        worker.give_up()
        worker.leave(2)
    except RunFailed as exc:
        # A worker that only lost its peers says so under plain torchrun; under cnnctl's
        # launcher, the launcher's one line names the worker that failed.
        if not (exc.exit_code == LOST_PEERS and worker.under_cnnctls_launcher()):
            sys.stderr.write(f"{exc}\n")
        worker.leave(exc.exit_code)
    except SystemExit as exc:  # typer's way out, a finished run's included
        if worker.under_launcher():
            worker.leave(exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1)
        raise


__all__ = ["app", "main"]
