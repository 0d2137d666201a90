"""The commands that run a network in PyTorch: export (which checks what it writes), evaluate,
predict, bench."""

import os
import sys
from typing import Annotated, Optional

from ..errors import CnnctlError, Loc, Problem, one_line
from ..files import DASH
from ..limits import MAX_BENCH_REPEATS, MAX_BENCH_STEPS, MAX_THREADS
from ..train.settings import BY_NAME  # pure Python: the threads setting's help
from ..train.step_defaults import DEFAULT_BATCH  # train's batch: bench --data's too
from . import common  # common.load_network, looked up when called: one place to stand in for reading a network
from .common import Format, examples, print_json, print_lines, print_warnings, show_result, with_warnings
from .options import (
    ARCH_HELP,
    arch_argument,
    argument,
    choice,
    complete_run,
    complete_run_or_arch,
    device_option,
    format_option,
    input_option,
    number,
    option,
    setting_option,
    whole,
    words,
)

BENCH_BATCH = 32  # bench's batch on synthetic data

# cnnctl.exchange.export.FORMATS, which imports torch: the CLI is built without it
EXPORT_FORMATS = ("onnx", "torchscript", "pytorch", "safetensors")

RUN_OR_ARCH = "A run folder (its network and best weights), or a network."
SPLITS = ("val", "test", "train", "all")
CHECKPOINT_HELP = "A run folder (its best.pt) or a checkpoint file. Default: RUN."


WEIGHTS_HELP = (
    "Weights from anywhere, in place of a run's: a cnnctl run or checkpoint, a PyTorch state_dict (.pt, .pth), a "
    ".safetensors file or an ONNX file's initializers, placed by name where its names are the network's own, else "
    "onto its layers in order (by structure); or torchvision (or imagenet): torchvision's ImageNet weights for a "
    "bundled network that equals torchvision's, with ImageNet's mean, std and class names."
)
MEAN_HELP = (
    "Per-channel mean of pixel values / 255 the input is normalised with, e.g. 0.485,0.456,0.406 (ImageNet's), "
    "with --std. Default: the weights' own (a run's; ImageNet's for torchvision's); weights that record none need it."
)
STEPS_HINT = (
    f"a step's percentiles settle within a few hundred steps; to measure longer, give more --repeats (up to "
    f"{MAX_BENCH_REPEATS}): their spread shows how steady the machine was"
)
REPEATS_HINT = f"a few repeats show the spread; to measure longer, give more --steps (up to {MAX_BENCH_STEPS:,})"
WARMUP_HINT = "a few steps warm the caches and the allocator (with --compile, compilation): 5 unless given"
STD_HELP = "Per-channel standard deviation the input is divided by, with --mean. Default: the weights' own."


def weights_options() -> tuple:
    """--weights, --mean and --std of evaluate, predict and export: the training settings' rows, their own help."""
    return (
        setting_option("weights", help=WEIGHTS_HELP),
        setting_option("mean", help=MEAN_HELP),
        setting_option("std", help=STD_HELP),
    )


def evaluation_data_help() -> str:
    """--data of evaluate: the data sets' list, and its own default (not training's `shapes`)."""
    from ..data import data_help

    return data_help() + ". Default: the data the run trained on."


_REPORT_FORMAT = choice(("table", "json"), hint=f"a file type is --to's: {', '.join(EXPORT_FORMATS)}")


def report_format(text: str) -> str:
    """export's --format: its report's, table or json; a file type (the --to export once took as
    --format) is taken and told by _file_type. A refusal lists the formats alone."""
    return text if text in EXPORT_FORMATS else _REPORT_FORMAT(text)


def _file_type(to: str | None, format: str) -> tuple[str | None, str]:
    """export's --to and its report's --format. `--format onnx` (a file type), as export once
    spelt --to, still works with a warning saying what to write: --format is the report's in
    every command, and as the file's type it could not ask for both (`-o net.pt`, JSON)."""
    if format in EXPORT_FORMATS:
        if to is not None and to != format:
            raise CnnctlError.at(f"--to {to} and --format {format} name two file types",
                                 hint=f"give one: --to {to} (--format is the report's: table or json)")  # fmt: skip
        sys.stderr.write(Problem(f"--format {format} names the file type: write --to {format}",
                                 hint="--format is the report's, table or json, as in every command").format("warning")
                         + "\n")  # fmt: skip
        return format, "table"
    return to, format


def data_dir_help() -> str:
    from ..train.settings import BY_NAME

    return BY_NAME["data_dir"].help


@examples(
    ("cnnctl export runs/lenet5-mnist -o lenet5.onnx", "a run's network and weights as ONNX, checked"),
    ("cnnctl export runs/lenet5-mnist -o lenet5.py", "a PyTorch source file, with preprocess(image)"),
    (
        "cnnctl export resnet18 --weights imagenet --with-preprocessing -o r18.ts",
        "TorchScript that takes uint8 pixels and normalises them itself",
    ),
)
def export_cmd(
    arch: Annotated[str, arch_argument()],
    output: Annotated[str, option("-o", "--output", metavar="FILE",
                                  help="The file: .onnx, .ts (TorchScript), .py (and, trained, its weights "
                                  "as a state_dict beside it: NAME.pt), or .safetensors (the weights). .pt and "
                                  ".pth: TorchScript with --to torchscript only.")],
    input: Annotated[Optional[str], input_option()] = None,
    checkpoint: Annotated[Optional[str], option("--checkpoint", metavar="RUN", complete=complete_run,
                                                help="A run folder (its best.pt) or checkpoint: its weights.")] = None,
    to: Annotated[Optional[str], option("--to", parser=choice(EXPORT_FORMATS), metavar="|".join(EXPORT_FORMATS),
                                        complete=words(*EXPORT_FORMATS),
                                        help="What to write. Default: what FILE's suffix names.")] = None,
    format: Annotated[str, option("-f", "--format", parser=report_format,
                                  metavar="table|json", complete=words("table", "json"),
                                  help="The report: table, or json (as every command). A file type here "
                                  "(onnx...) is --to's, told so.")] = "table",
    with_preprocessing: Annotated[bool, option("--with-preprocessing",
                                               help="ONNX, TorchScript: the network takes uint8 NHWC pixels of images "
                                               "adapted to its input and normalises them itself (needs "
                                               "--checkpoint or --weights).")] = False,
    weights: Annotated[Optional[str], weights_options()[0]] = None,
    mean: Annotated[Optional[tuple], weights_options()[1]] = None,
    std: Annotated[Optional[tuple], weights_options()[2]] = None,
) -> int:  # fmt: skip
    """Write the network for other tools: ONNX, TorchScript, a PyTorch source file; or its weights.

    With --checkpoint RUN (a run folder: its best.pt, else last.pt; or a checkpoint file) the
    trained weights go with it. What is written is checked first: ONNX run by ONNX Runtime,
    TorchScript reloaded, the source file imported, and each output compared with PyTorch's.
    ONNX needs `pip install 'cnnctl[onnx]'`. A .safetensors file holds the weights alone, named
    as the network's own (its layer paths), for `--weights FILE.safetensors`; it is read back so
    before it is kept. --to onnx|torchscript|pytorch|safetensors picks what is written
    (default: from FILE's suffix: .onnx, .ts, .py, .safetensors); --format json prints the
    report as JSON, as in every command. .pt and .pth, a state_dict as often as
    TorchScript, are written only as TorchScript asked for (--to torchscript); a trained
    network's state_dict is written beside its source (-o NAME.py: NAME.pt too; a NAME.pt
    there that export did not write for NAME.py is never replaced).
    The report, and each file, states the input the network expects: its shape, and with a
    checkpoint the run's normalisation (pixel values / 255, then its mean and std per channel),
    how `cnnctl predict` adapts an image to the input, and the class names. With a checkpoint
    the PyTorch file has preprocess(image); --with-preprocessing makes an ONNX or TorchScript
    network that takes uint8 NHWC pixels and normalises them itself.
    """
    to, format = _file_type(to, format)
    if output == DASH:  # `-o -` is standard output for text (schema, import); export's files are not
        raise CnnctlError.at(
            "export writes files (an ONNX graph, a TorchScript archive, weights, a PyTorch source beside its "
            "weights), not standard output: `-o -` would be a file named `-`",
            hint="give -o FILE: net.onnx, net.ts, net.safetensors or net.py",
        )
    graph = common.load_network(arch, input)
    from ..exchange.export import NAMES, export, format_for, refuse_target

    fmt = format_for(output, to)
    from ..run_marks import run_input

    # a run: its weights (with --weights too, which weighted_model refuses: the run's weights or those?)
    checkpoint = checkpoint or (arch if run_input(arch) is not None else None)
    reads = (graph.file, checkpoint, weights)
    refuse_target(graph, fmt, output, checkpoint is not None or weights is not None, reads)  # before loading them
    trained = None  # without --checkpoint or --weights: freshly initialised weights, mean and std unused
    if checkpoint is not None or weights is not None:
        from ..train.weighted import trained_for_export

        trained = trained_for_export(graph, checkpoint, weights, mean, std)
    done = export(graph, fmt, output, trained, with_preprocessing, reads)
    from ..exchange.pytorch_source import class_name
    from ..render.export import export_json, export_lines

    again, cls = _arch_again(arch, input, graph), class_name(graph.name)
    if format == "json":
        print_json(with_warnings(export_json(done, graph.title, again, cls), [graph]))
        return 0
    print_warnings(graph)
    lines = export_lines(done, graph.title, NAMES[fmt], again, cls)
    print_lines(lines)
    return 0


def _arch_again(arch: str, input: str | None, graph) -> str:
    """The ARCH that builds `graph` again, for a command line: as it was given (a file's path
    with its member and settings, `--input` too), or for a run its network's title."""
    from ..run_marks import run_input

    if run_input(arch) is not None:
        return graph.title
    return arch + (f" --input {input}" if input else "")


@examples(
    ("cnnctl evaluate runs/lenet5-mnist", "accuracy and confusion matrix on the run's validation split"),
    ("cnnctl evaluate runs/lenet5-mnist --split test", "on the data's test split"),
    (
        "cnnctl evaluate resnet18 --weights imagenet --data ./imagenet-val --split all",
        "ImageNet's weights on every image of folders named as its classes",
    ),
)
def evaluate_cmd(
    arch: Annotated[str, argument("RUN|ARCH", RUN_OR_ARCH, complete_run_or_arch)],
    checkpoint: Annotated[Optional[str], option("--checkpoint", metavar="RUN", help=CHECKPOINT_HELP,
                                                complete=complete_run)] = None,
    data: Annotated[Optional[str], option("--data", help=evaluation_data_help())] = None,
    data_dir: Annotated[Optional[str], option("--data-dir", metavar="DIR", help=data_dir_help())] = None,
    split: Annotated[Optional[str], option("--split", parser=choice(SPLITS), metavar="|".join(SPLITS),
                                           complete=words(*SPLITS),
                                           help="Which images: the run's validation split, the data's test split "
                                           "(a test/ folder, t10k-* IDX files, test_batch), the training split, or "
                                           "all of --data. Default: val on the run's own data, all of other --data "
                                           "(it held nothing of that out).")] = None,
    weights: Annotated[Optional[str], weights_options()[0]] = None,
    mean: Annotated[Optional[tuple], weights_options()[1]] = None,
    std: Annotated[Optional[tuple], weights_options()[2]] = None,
    device: Annotated[Optional[str], device_option()] = None,
    input: Annotated[Optional[str], input_option()] = None,
    batch_size: Annotated[Optional[int], option("-b", "--batch-size", parser=whole(1), metavar="N",
                                                help="Images scored at a time: memory, not the figures, depends on "
                                                "it. Default: 512.")] = None,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Accuracy, balanced accuracy, macro F1, top-5 accuracy (more than 5 classes); per class its
    accuracy (recall), precision and F1; the confusion matrix.

    Runs a checkpoint on the validation split of its run's data, or on all of other --data
    (the run held nothing of it out); or on --split test, train or all.
    """
    graph = common.load_network(arch, input)
    from ..render.views.evaluation import evaluation_json, evaluation_tables
    from ..train.evaluate import evaluate

    result = evaluate(
        graph, _checkpoint(checkpoint, weights, arch, "evaluate"), data, data_dir, device_name=device or "auto",
        split=split, weights=weights, mean=mean, std=std, **({"batch_size": batch_size} if batch_size else {}),
    )  # fmt: skip
    show_result(format, lambda: evaluation_json(result), lambda: evaluation_tables(result))
    return 0


def _checkpoint(checkpoint: str | None, weights: str | None, arch: str, command: str) -> str | None:
    """--checkpoint, or ARCH itself when it is a run folder or a checkpoint in one
    (`cnnctl evaluate RUN`, `cnnctl evaluate RUN/last.pt`); None where --weights gives them
    (weighted_model refuses --weights with a run, named either way)."""
    from ..run_marks import config_refused, run_input, run_of, runs_in

    if checkpoint is not None:
        return checkpoint
    if run_input(arch) is not None:  # a run whose config.json cannot be read says so here
        return arch
    if weights is not None:
        return None
    folder = run_of(arch)
    if folder is not None:  # a run, its config.json read, without the input its network trained at
        raise config_refused(folder, "records no `input`", Loc(os.path.join(folder, "config.json")))
    runs = runs_in("runs")  # what there is to give, where `cnnctl train` writes
    raise CnnctlError.at(
        "which weights? give --checkpoint RUN, the run folder itself in place of ARCH, or --weights SOURCE",
        hint=f"e.g. cnnctl {command} {runs[0]} (`cnnctl runs` lists the runs in ./runs)"
        if runs
        else f"no runs in ./runs: `cnnctl train {arch}` writes one there",
    )


@examples(
    ("cnnctl predict runs/lenet5-mnist digit.png", "the top 5 classes of an image"),
    ("cnnctl predict runs/lenet5-mnist ./scans --invert --top-k 3", "dark digits on white paper, a folder of them"),
    ("cnnctl predict resnet18 --weights imagenet cat.jpg", "ImageNet's classes, nothing trained"),
)
def predict_cmd(
    arch: Annotated[str, argument("RUN|ARCH", RUN_OR_ARCH, complete_run_or_arch)],
    images: Annotated[list[str], argument("IMAGE...", "PNG or JPEG files, or folders of them (and of "
                                          "their subfolders).")],
    checkpoint: Annotated[Optional[str], option("--checkpoint", metavar="RUN", help=CHECKPOINT_HELP,
                                                complete=complete_run)] = None,
    weights: Annotated[Optional[str], weights_options()[0]] = None,
    mean: Annotated[Optional[tuple], weights_options()[1]] = None,
    std: Annotated[Optional[tuple], weights_options()[2]] = None,
    top_k: Annotated[int, option("-k", "--top-k", parser=whole(1), metavar="K",
                                 help="Classes to show per image. Default: 5.")] = 5,
    invert: Annotated[bool, option("--invert", help="Use 255 - value: dark-on-light images for a light-on-dark "
                                   "network (MNIST).")] = False,
    device: Annotated[Optional[str], device_option()] = None,
    input: Annotated[Optional[str], input_option()] = None,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Top classes of images, with probabilities.

    A folder means the PNG and JPEG files in it. Says how each image was adapted (size, mode,
    conversion), and warns of a dark-on-light image for a light-on-dark network (MNIST). An
    image named that cannot be read is an error on stderr; the others are still predicted (exit 2,
    as when none could be read). A folder's unreadable images are left out as training leaves them
    (at most 1% of those listed, of at least 100): each named with a warning (exit 0); past that,
    one error (exit 2).
    """
    graph = common.load_network(arch, input)
    from ..render.views.prediction import prediction_json, prediction_table
    from ..train.device import resolve_device
    from ..train.predict import predict
    from ..train.weighted import weighted_model

    loaded = weighted_model(
        graph, resolve_device(device or "auto"), _checkpoint(checkpoint, weights, arch, "predict"), weights, mean,
        std, "predict",
    )  # fmt: skip
    results = predict(graph, loaded, images, top_k, invert=invert)
    from ..data.loader import bad_rule
    from ..train.predict import left_out
    from ..words import plural

    skipped, refused = left_out(results)  # a folder's unreadable images: under the 1% rule, or past it
    failed = [r for r in results if r.error is not None and (refused is not None or r not in skipped)]
    told = [r.error for r in failed if not r.in_folder]  # what went wrong: each image named not read, ...
    told += refused.problems if refused is not None else []  # ... a folder's past the rule in one message ...
    if failed and len(results) > 1:  # ... then how many
        said = (f"none of the {len(results):,} images could be read" if len(failed) == len(results)
                else f"{len(failed):,} of {len(results):,} images not read; the others were predicted")  # fmt: skip
        told.append(Problem(said))
    warned = [r.error for r in skipped] if refused is None else []
    if warned:  # the rule's words (cnnctl.data.loader.Skipped), as train and evaluate say them
        listed = sum(r.in_folder for r in results)
        warned.append(Problem(f"left out {plural(len(warned), 'unreadable image')} of the {listed:,} listed in "
                              f"folders ({bad_rule(listed)}); the others were predicted"))  # fmt: skip

    def as_json() -> dict:  # exit 2 has its `errors`, as every command's JSON does
        from ..render.views.problems import problem_json

        errors = {"errors": [problem_json(p) for p in told]} if told else {}
        return (
            prediction_json(results, loaded.said, left_out=refused is None)
            | {"images_skipped": len(skipped) if refused is None else 0}
            | errors
        )

    show_result(format, as_json, lambda: [prediction_table(results, loaded.said)])
    sys.stdout.flush()  # the table first, then what went wrong
    for problem in warned:
        sys.stderr.write(problem.format("warning") + "\n")
    for problem in told:
        sys.stderr.write(problem.format() + "\n")
    return 2 if told else 0


@examples(
    ("cnnctl weights resnet50 imagenet", "where each of torchvision's tensors goes"),
    ("cnnctl weights net.yaml net.safetensors", "the weights `cnnctl import` wrote beside net.yaml"),
    ("cnnctl weights resnet18 resnet18.pth", "a PyTorch state_dict of another tool"),
)
def weights_cmd(
    arch: Annotated[str, argument("ARCH", ARCH_HELP, complete_run_or_arch)],
    source: Annotated[Optional[str], argument("SOURCE", "The weights: a cnnctl run or checkpoint, a .pt/.pth "
                                              "state_dict, a .safetensors file, an ONNX file, or torchvision "
                                              "(imagenet); or as --weights SOURCE, as the other commands take "
                                              "them.")] = None,
    weights: Annotated[Optional[str], weights_options()[0]] = None,
    input: Annotated[Optional[str], input_option()] = None,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Where --weights SOURCE puts each tensor in the network: a table, nothing run.

    One row per tensor of the network: the tensor (its layer path), the source's tensor placed
    in it and its shape; by name where the source's names are the network's, else by structure
    (in the order of the layers, each shape checked). A source that does not fit is one message
    naming the first tensor that does not and both shapes; every tensor is placed as given
    (train, which knows the data's classes, makes a head trained for other classes anew).
    """
    if (source is None) == (weights is None):
        raise CnnctlError.at(
            "give the weights once: SOURCE or --weights SOURCE" if source else "which weights? give SOURCE",
            hint=f"e.g. cnnctl weights {arch} imagenet, or cnnctl weights {arch} --weights imagenet",
        )
    source = source if source is not None else weights
    graph = common.load_network(arch, input)
    from ..render.views.weights import weights_json, weights_table
    from ..train.weighted import placed_weights

    _, placement, _, said = placed_weights(graph, source, command="weights")
    show_result(format, lambda: weights_json(placement, said), lambda: [weights_table(placement, said, graph.title)])
    return 0


@examples(
    ("cnnctl bench resnet50 --device cuda --batch-size 128 --amp", "images/s, latency and MFU on a GPU"),
    ("cnnctl bench lenet5 --device cpu --reference --threads 1", "against a hand-written LeNet-5"),
    ("cnnctl bench resnet50 --device cuda --data ./shards --workers 8", "is the loader or the step the bottleneck?"),
)
def bench_cmd(
    arch: Annotated[str, arch_argument()],
    device: Annotated[Optional[str], device_option()] = None,
    batch_size: Annotated[Optional[int], option("-b", "--batch-size", parser=whole(1), metavar="N",
                                                help=f"Images per step. Default: {BENCH_BATCH}; with --data, "
                                                f"train's {DEFAULT_BATCH}.")] = None,
    steps: Annotated[int, option("--steps", parser=whole(1, MAX_BENCH_STEPS, STEPS_HINT), metavar="N",
                                 help=f"Timed steps per repeat, after the warm-up, at most {MAX_BENCH_STEPS:,} "
                                 "(with --data, the loader and both together time --steps x --repeats batches). "
                                 "Default: 20.")] = 20,
    repeats: Annotated[int, option("--repeats", parser=whole(1, MAX_BENCH_REPEATS, REPEATS_HINT), metavar="N",
                                   help="Rounds of --steps, models taking turns; their spread shows noise. At most "
                                   f"{MAX_BENCH_REPEATS}. Default: 3.")] = 3,
    warmup: Annotated[int, option("--warmup", parser=whole(0, MAX_BENCH_STEPS, WARMUP_HINT), metavar="N",
                                  help="Untimed steps first (with --data, batches: at least 1, and one per loader "
                                  f"process), at most {MAX_BENCH_STEPS:,}. Default: 5.")] = 5,
    mode: Annotated[str, option("--mode", parser=choice(("both", "forward", "train")), metavar="both|forward|train",
                                complete=words("both", "forward", "train"),
                                help="Forward passes, training steps, or both.")] = "both",
    amp: Annotated[bool, option("--amp/--no-amp", help="bf16 autocast (GPUs).")] = False,
    compile: Annotated[bool, option("--compile/--no-compile", help="torch.compile the module.")] = False,
    reference: Annotated[bool, option("--reference/--no-reference",
                                      help="Also time a hand-written lenet5/resnet18/resnet50/convnext_tiny.")] = False,
    peak_tflops: Annotated[Optional[float], option("--peak-tflops", parser=number, metavar="X",
                                                   help="Peak TFLOP/s, for MFU.")] = None,
    threads: Annotated[Optional[int], option("--threads", parser=whole(1, MAX_THREADS), metavar="N",
                                             help=BY_NAME["threads"].help)] = None,  # training's setting
    input: Annotated[Optional[str], input_option()] = None,
    data: Annotated[Optional[str], setting_option("data", help="Also time training on this data: the loader "
                                                  "alone, the training step alone, both together, and which is "
                                                  "the bottleneck. " + BY_NAME["data"].help.removesuffix(
                                                      " Default: shapes."))] = None,
    data_dir: Annotated[Optional[str], setting_option("data_dir")] = None,
    workers: Annotated[Optional[int], setting_option("workers")] = None,
    stream: Annotated[Optional[bool], setting_option("stream", help=(
        "Image folders and shards: read from disk by loader processes (--stream), or decoded into memory first "
        "(--no-stream). Default: as train chooses, by the size decoded at the input."))] = None,
    augment: Annotated[Optional[str], setting_option("augment")] = None,
    decode: Annotated[Optional[str], setting_option("decode")] = None,
    weights: Annotated[Optional[str], setting_option("weights", help=WEIGHTS_HELP + " Timed with them (with "
                                                     "--data, normalised as train does).")] = None,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Time forward and training steps: images/s, latency, FLOP/s; with --data, the loader.

    Synthetic data, after a warm-up, the device synchronised after each step; --repeats
    rounds of --steps steps. images/s is sustained (all timed images over their wall time),
    beside the per-step p50/p90/p99 and the spread between repeats; a noisy measurement
    (p90/p50 > 1.5, or repeats more than 20% apart) is marked and its ratios uncertain.
    FLOP/s uses the analyzer's exact counts (forward 2 x mults, a training step 2 x its
    forward and backward mults); MFU is against a known GPU's peak, --peak-tflops, or on a
    CPU its peak measured here (before and after the timings: told when they disagree).

    With --data, where the time of training goes: the data is loaded and batched as `train`
    does (--workers, --stream, --augment, --decode as there; seed 0; nothing written), then the loader
    alone, and the training step fed by the loader, are each timed over --steps x --repeats
    batches after --warmup (at least 1: the loader processes' start); beside the step alone
    (synthetic data, the same batch), the slower of loader and step is named the bottleneck.
    """
    graph = common.load_network(arch, input)
    from ..render.views.bench import bench_data_table, bench_json, bench_table
    from ..train.bench import bench

    config = _data_settings(graph, data, {"data_dir": data_dir, "workers": workers, "stream": stream,
                                          "augment": augment, "decode": decode})  # fmt: skip
    modes = ("forward", "train") if mode == "both" else (mode,)
    if batch_size is None:  # with --data, the batch train would take the data in
        batch_size = DEFAULT_BATCH if config is not None else BENCH_BATCH
    from ..render.progress import TerminalBar

    doing = f"timing {one_line(graph.title)} ({' and '.join(modes)}, {repeats} x {steps} steps each)"
    with TerminalBar(doing, "steps", steady=True) as progress:
        result = bench(
            graph, device_name=device or "auto", batch_size=batch_size, steps=steps, warmup=warmup,
            repeats=repeats, modes=modes, amp=amp, compile=compile, reference=reference, peak_tflops=peak_tflops,
            threads=threads, data=config, weights=weights, progress=progress,
        )  # fmt: skip
    tables = [bench_table(result), *([bench_data_table(result.data)] if result.data is not None else [])]
    if result.data is not None and format in (Format.table, Format.markdown):  # what was read, before the figures
        from ..render.table import clean

        for note in result.data.notes:  # as train says them (CSV is the table alone; JSON has them as `notes`)
            sys.stdout.write(f"data: {clean(note)}\n")
    show_result(format, lambda: bench_json(result), lambda: tables)
    return 0


def _data_settings(graph, data: str | None, loader: dict):
    """The training settings bench --data loads and batches the data with: the defaults (not
    the file's `train:`), these options, checked as train checks them; None without --data."""
    given = [BY_NAME[name].option for name, value in loader.items() if value is not None]
    if data is None:
        if given:
            raise CnnctlError.at(f"{', '.join(given)} without --data: they say how --data is read",
                                 hint="add --data DATA (a data set or an image folder)")  # fmt: skip
        return None
    from ..train.config import resolve_config

    return resolve_config({}, {"data": data, **loader}, graph.input_shape[2])
