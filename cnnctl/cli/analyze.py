"""The design commands: flops, memory, compare (costs, memory, devices). None of them imports torch."""

import os
import sys
from typing import Annotated, Any, Optional

from ..analysis.roofline import ROOFLINE_DTYPES
from ..errors import CnnctlError, Problem
from ..limits import MAX_INT
from ..shapes import DTYPE_BYTES, TRAINING_DTYPES
from ..train.step_defaults import unused_momentum
from . import common  # common.load_network, looked up when called: one place to stand in for reading a network
from .common import Format, examples, show_result
from .options import (
    ARCH_FORMS,
    arch_argument,
    argument,
    choice,
    complete_arch,
    device_option,
    dtype_option,
    format_option,
    input_option,
    memory_device,
    nbytes,
    number,
    option,
    profile_names,
    whole,
    words,
)

PROFILES = profile_names()  # cnnctl.analysis.roofline.PROFILES: the devices a roofline knows


def optimizer_option(help: str) -> Any:
    """--optimizer of memory, compare: train's words (sgd with its --momentum, adam, adamw). Read here,
    not by the settings' table: loading it costs the design commands their start (tests/test_no_torch.py)."""
    from ..train.step_defaults import OPTIMIZERS

    return option("--optimizer", parser=choice(OPTIMIZERS), metavar="|".join(OPTIMIZERS),
                  complete=words(*OPTIMIZERS), help=help)  # fmt: skip


def momentum_option(help: str) -> Any:
    return option("--momentum", parser=number, metavar="X", help=help)


def amp_option(default: str) -> Any:
    """--amp/--no-amp of memory and compare: train's mixed precision; `default`: where it comes from."""
    return option("--amp/--no-amp", help="Mixed precision: 16-bit activations and weight copies. Default: "
                  f"{default}as train: on for a GPU (--device cuda) in float32, off on a CPU (train runs float32 "
                  "there: --amp --device cpu is CPU autocast, which train does not run).")  # fmt: skip


def peak_option() -> Any:
    """--peak-tflops and --bandwidth (below): a device of the user's own, in flops and compare alike."""
    return option("--peak-tflops", parser=number, metavar="X", help="Roofline on your device: its peak TFLOP/s...")


def bandwidth_option() -> Any:
    return option("--bandwidth", parser=number, metavar="GB/S", help="... and its memory bandwidth in GB/s.")


MEMORY_DEVICE = (
    "Where it trains: PyTorch's CUDA kernels (cuda, cuda:N: autocast's dtypes, a 1-byte dropout mask, the backward "
    "pass followed for the peak) or its CPU kernels (cpu); auto: cuda where this machine has an NVIDIA GPU, else "
    "cpu, as train's auto (the output says which). mps has no model. Default: auto."
)
NO_ROOFLINE = "no device profile has its peak (a roofline needs one)"
OTHER_DEVICE = "or give --peak-tflops and --bandwidth"  # after the profiles an unknown --profile is offered
NOT_TRAINED = "autograd trains floating-point tensors only (int8 is for quantised inference)"


@examples(
    ("cnnctl flops resnet50", "forward, backward and a training step, and what is counted"),
    ("cnnctl flops resnet50 --top 10 --depth 2", "the ten heaviest blocks (as summarize --depth 2) and their share"),
    ("cnnctl flops vgg16 --batch 64 --profile h100 --amp", "roofline time of a batch on an H100, mixed precision"),
    ("cnnctl flops convnext_tiny --peak-tflops 90 --bandwidth 1000", "the roofline on a device of your own"),
)
def flops_cmd(
    arch: Annotated[str, arch_argument()],
    input: Annotated[Optional[str], input_option()] = None,
    batch: Annotated[int, option("-b", "--batch", parser=whole(1, MAX_INT), metavar="B",
                                 help="Batch size: adds multiplications and FLOPs for B images.")] = 1,
    per_layer: Annotated[bool, option("--per-layer", help="Each layer's share, heaviest first.")] = False,
    top: Annotated[Optional[int], option("--top", parser=whole(1), metavar="N",
                                         help="Only the N heaviest layers (implies --per-layer).")] = None,
    depth: Annotated[Optional[int], option("-d", "--depth", parser=whole(1), metavar="N",
                                           help="Collapse layer paths deeper than N, as summarize --depth: a row "
                                           "per group (implies --per-layer).")] = None,
    dtype: Annotated[Optional[str], dtype_option("Element type for the roofline. Default: float32 (on a GPU with "
                                                 "TF32, convs at its peak, fc at FP32's, as PyTorch's defaults run "
                                                 "them); with --amp, the device's 16-bit type.",
                                                 ROOFLINE_DTYPES, NO_ROOFLINE)] = None,
    amp: Annotated[bool, option("--amp", help="Mixed precision, as train --amp: the 16-bit peak, activations "
                                "in autocast's dtypes (as memory --amp), float32 weights.")] = False,
    profile: Annotated[Optional[str], option("--profile", metavar="NAME", complete=words(*PROFILES),
                                             help=f"Roofline on a device: {', '.join(PROFILES)}.")] = None,
    peak_tflops: Annotated[Optional[float], peak_option()] = None,
    bandwidth: Annotated[Optional[float], bandwidth_option()] = None,
    freeze: Annotated[Optional[str], option("--freeze", metavar="PATH",
        help="Freeze every layer up to and including PATH (as train --freeze does): no backward for them, "
        "no input gradient for the first layer after, no optimizer update of their weights; with --per-layer, "
        "a Frozen column says which layers.")] = None,
    explain: Annotated[bool, option("--explain", help="The full definitions of what each row counts and does "
                                    "not (a line without it; JSON always has them).")] = False,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Exact multiplications and FLOPs: forward, backward, a training step; a roofline time.

    In full and in K/M/G, with what is counted in a line (--explain: in full); --batch adds
    totals per batch.
    The backward pass: the weight gradients, and the input gradients of layers with something
    trainable before them (element-wise work only where a gradient flows: none for a pool on
    the image); the optimizer's update per step. With --profile (a known device) or
    --peak-tflops and --bandwidth: each layer's roofline time, a lower bound, in --dtype (bf16,
    fp16: the 16-bit peak, 2 bytes a value) or with --amp as mixed precision trains, and the
    training step's (forward and backward FLOPs, 3 x the forward's bytes; no optimizer update).

    Multiplications: conv, deconv and fc multiply-accumulates (torchvision's "GFLOPS",
    PyTorch FlopCounterMode / 2). FLOPs: 2 x multiplications + 1 per bias value +
    element-wise work per value: bn 2, layer and group norm 8, activations 1 (softmax 3),
    max pool k-1 (k: the input values its window covers, padding left out) and avg pool f*f per
    output, add and mul 1 per extra input, lrn 2*size+3.
    """
    from ..analysis import summarize
    from ..analysis.roofline import roofline
    from ..analysis.summary import last_in
    from ..analysis.training import training_cost
    from ..render.views.flops import flops_json, flops_table
    from ..train.step_defaults import training_step

    graph = common.load_network(arch, input, settings=False)  # its train: section is checked by training_step
    step = training_step(graph, {})  # the optimizer train runs: the file's, else train's default
    frozen = last_in(graph, freeze, "--freeze") if freeze else -1  # told in the command line's words
    summary = summarize(graph, batch=batch, freeze=freeze)
    cost = training_cost(graph, frozen)
    times = step_times = None
    device = _roofline_device(profile, peak_tflops, bandwidth, dtype, amp)
    if device is not None:  # a forward pass, and a training step (the same device, dtype and --freeze)
        on, in_dtype = device
        times = roofline(graph, on, batch, in_dtype, amp=amp)
        step_times = roofline(graph, on, batch, in_dtype, training=True, amp=amp, frozen=frozen)
    per_layer = per_layer or top is not None or depth is not None
    show_result(
        format,
        lambda: flops_json(summary, per_layer, cost, times, top, step, step_times, depth),
        lambda: [flops_table(summary, per_layer, cost, times, top, step, explain, step_times, depth)],
        graph,
    )
    return 0


def warn_unused(text: str | None, hint: str) -> None:
    """An option given that has no effect here, said on stderr as a warning (exit 0): the answer
    is right, the option did nothing."""
    if text:
        sys.stderr.write(Problem(text, hint=hint).format("warning") + "\n")


def _roofline_device(
    profile: str | None, peak_tflops: float | None, bandwidth: float | None, dtype: str | None, amp: bool
):  # fmt: skip
    """The device of --profile, or of --peak-tflops and --bandwidth, and the dtype the roofline is
    drawn in, (Profile, dtype); None without a device. --dtype: float32 unless given; with --amp,
    the 16-bit type given or the device's."""
    from ..analysis.roofline import custom_profile, mixed_dtype, peak_of, profile_named

    if amp and dtype is not None and DTYPE_BYTES[dtype] != 2:
        raise CnnctlError.at(f"--amp computes in 16 bits, and --dtype {dtype} is not", hint="--dtype bf16 or fp16 "
                             "with --amp, or leave --dtype out (the device's 16-bit type)")  # fmt: skip

    if peak_tflops is not None or bandwidth is not None:
        if profile is not None:
            raise CnnctlError.at(
                f"--profile {profile} and --peak-tflops/--bandwidth describe the device twice: give one of them",
                hint=f"--profile {profile} alone, or --peak-tflops and --bandwidth alone for another device",
            )
        if peak_tflops is None or bandwidth is None:
            raise CnnctlError.at(
                "a roofline needs a device: --profile NAME, or both --peak-tflops and --bandwidth",
                hint="e.g. --profile h100, or --peak-tflops 989 --bandwidth 3350",
            )
        dtype = dtype or ("bfloat16" if amp else "float32")
        device = custom_profile(peak_tflops, bandwidth, dtype, ("--peak-tflops", "--bandwidth"))
    elif profile is not None:
        device = profile_named(profile, OTHER_DEVICE)
        dtype = dtype or (mixed_dtype(device, "leave out --amp, or give --peak-tflops for the 16-bit peak") if amp
                          else "float32")  # fmt: skip
        peak_of(device, dtype, " (--dtype), or give --peak-tflops")  # a peak it lacks, told in flags
    else:
        # the counts do not depend on the element type: only the roofline's peak and bytes do, so
        # the counts shown are right, and the option only had no effect (no refusal)
        for given in ("--amp",) * amp + (f"--dtype {dtype}",) * (dtype is not None):
            warn_unused(f"{given} unused: it is for the roofline, which needs a device (the counts are the same "
                        "in any element type)", "add --profile NAME, or --peak-tflops and --bandwidth")  # fmt: skip
        return None
    return device, dtype


@examples(
    ("cnnctl memory resnet50 --batch 64 --no-amp", "a training step of 64 images in float32"),
    ("cnnctl memory vgg16 --optimizer sgd --budget 24GiB", "the largest batch that trains in 24 GiB"),
    ("cnnctl memory convnext_tiny --top 5", "the five layers that keep the most for backward"),
    ("cnnctl memory resnet50 --depth 1", "what each stage keeps for backward"),
)
def memory_cmd(
    arch: Annotated[str, arch_argument()],
    input: Annotated[Optional[str], input_option()] = None,
    batch: Annotated[Optional[int], option("-b", "--batch", parser=whole(1, MAX_INT), metavar="B",
                                           help="Batch size. Default: the file's `train: batch_size`, else "
                                           "train's (64).")] = None,
    dtype: Annotated[str, dtype_option("Element type of weights and activations. Default: float32 (what train "
                                       "runs).", TRAINING_DTYPES, NOT_TRAINED)] = "float32",
    optimizer: Annotated[Optional[str], optimizer_option("As train: sgd (with --momentum), adam, adamw; "
                                                       "its state per parameter: sgd 1 with momentum (0 without), "
                                                       "adam and adamw 2. Default: the file's `train: optimizer`, "
                                                       "else train's (adam).")] = None,
    momentum: Annotated[Optional[float], momentum_option("SGD's momentum, as train: 0 keeps no state. "
                                                        "Default: the file's `train: momentum`, else train's "
                                                        "(0.9).")] = None,
    amp: Annotated[Optional[bool], amp_option("the file's `train: amp`, else ")] = None,
    budget: Annotated[Optional[int], option("--budget", parser=nbytes, metavar="SIZE",
                                            help="Device memory, e.g. 16GiB: the largest batch that fits, and "
                                            "the figures at it (not with --batch).")] = None,
    device: Annotated[str, device_option(MEMORY_DEVICE)] = "auto",
    per_layer: Annotated[bool, option("--per-layer",
                                      help="What each layer keeps for backward, largest first.")] = False,
    top: Annotated[Optional[int], option("--top", parser=whole(1), metavar="N",
                                         help="Only the N largest (implies --per-layer).")] = None,
    depth: Annotated[Optional[int], option("-d", "--depth", parser=whole(1), metavar="N",
                                           help="Collapse layer paths deeper than N, as summarize --depth: a row "
                                           "per group (implies --per-layer).")] = None,
    freeze: Annotated[Optional[str], option("--freeze", metavar="PATH",
        help="Freeze every layer up to and including PATH (as train --freeze does): their weights get no "
        "gradients and no optimizer state, and what only they need is not kept.")] = None,
    explain: Annotated[bool, option("--explain", help="How each figure is modelled: what is kept for backward, "
                                    "how the peak is followed (a line without it; JSON always has them).")] = False,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Memory of a training step: weights, gradients, optimizer state, activations.

    The step `cnnctl train` runs: batch, optimizer, momentum and amp from these options, else
    the file's `train:` section, else train's defaults (the output says which). The
    activations are those PyTorch keeps for the backward pass, layer kind by layer kind
    (measured equal on every bundled network); the peak follows the backward pass on a GPU
    (--device cuda), or counts everything at once (--device cpu). With --budget, the largest
    batch that fits.
    """
    from ..analysis.memory import training_memory
    from ..analysis.summary import last_in
    from ..render.design import memory_json, memory_layers_table, memory_table
    from ..train.step_defaults import training_step

    graph = common.load_network(arch, input, settings=False)  # its train: section is checked by training_step
    given = {"batch_size": (batch, "--batch"), "optimizer": (optimizer, "--optimizer"),
             "momentum": (momentum, "--momentum"), "amp": (amp, "--amp" if amp else "--no-amp")}  # fmt: skip
    device, device_from = memory_device(device)
    step = training_step(graph, given, device, dtype)
    if freeze:  # told in the command line's words
        last_in(graph, freeze, "--freeze")
    warn_unused(unused_momentum(step.optimizer, momentum), "--optimizer sgd for a momentum, or leave --momentum out")
    m = training_memory(graph, step.batch, dtype, step.kind, step.amp, device, freeze)
    if budget is not None:  # the figures at the batch the budget picks
        if batch is not None:
            raise CnnctlError.at(f"--budget picks the batch, and --batch {batch} gives one too: give one of them",
                                 hint="--budget alone for the largest batch that fits and its memory, or --batch "
                                 "alone")  # fmt: skip
        best = m.largest_batch(budget)
        if best == 0:
            raise _no_batch_fits(m, budget)
        m = m._replace(batch=best)
        chosen = "the largest within --budget" if best < MAX_INT else "the largest a batch may be; --budget has room"
        step = step._replace(batch=best, from_={**step.from_, "batch": chosen})
    per_layer = per_layer or top is not None or depth is not None
    tables = [memory_table(m, graph.title, budget, step, explain, device_from)]
    tables += [memory_layers_table(m, top, depth)] if per_layer else []
    if per_layer and format is Format.csv:  # CSV writes one table: the one asked for
        tables = tables[1:]
    document = lambda: memory_json(m, graph.title, budget, per_layer, step, graph.file, depth, device_from)  # noqa: E731
    show_result(format, document, lambda: tables, graph)
    return 0


def _no_batch_fits(m, budget: int) -> CnnctlError:
    """Why not even one example trains within `budget` (a question with no answer: exit 2): what
    the step holds whatever the batch, and the peak of one example; what would make it smaller."""
    from ..words import exact, size

    fixed = m.weights + m.gradients + m.optimizer_state
    over = "are over it" if fixed > budget else f"fit, but one example's peak is {size(m._replace(batch=1).peak)}"
    return CnnctlError.at(
        f"no batch trains within --budget {size(budget)}: the weights, gradients and optimizer state "
        f"({exact(fixed)} bytes, {size(fixed)}) {over}",
        hint="a larger --budget; --optimizer sgd --momentum 0 (no state), --freeze PATH (no gradients or state "
        "for the frozen layers) or --dtype bf16 (half the bytes) make the step smaller",
    )


@examples(
    ("cnnctl compare resnet18 resnet50", "two networks side by side, and their ratio"),
    (
        "cnnctl compare mobilenet_v2 efficientnet_b0 shufflenet_v2_x1_0 --profile l4",
        "three small networks' latency on an L4",
    ),
    ("cnnctl compare vgg16 resnet50 --dtype bf16 --budget 16GiB", "the largest batch of each in 16 GiB"),
)
def compare_cmd(
    files: Annotated[list[str], argument("ARCH...", "Two networks or more, each " + ARCH_FORMS, complete_arch)],
    input: Annotated[Optional[str], input_option()] = None,
    batch: Annotated[Optional[int], option("-b", "--batch", parser=whole(1, MAX_INT), metavar="B",
                                           help="Batch for training memory and latency. Default: train's "
                                           "(64).")] = None,
    dtype: Annotated[str, dtype_option("Element type for memory and latency. Default: float32.",
                                       tuple(d for d in ROOFLINE_DTYPES if d in TRAINING_DTYPES),
                                       {"float64": NO_ROOFLINE, "int8": NOT_TRAINED})] = "float32",
    optimizer: Annotated[Optional[str], optimizer_option("For training memory, as train: sgd (with "
                                                       "--momentum), adam, adamw. Default: train's (adam).")] = None,
    momentum: Annotated[Optional[float], momentum_option("SGD's momentum, as train: 0 keeps no state. "
                                                        "Default: train's (0.9).")] = None,
    profile: Annotated[Optional[str], option("--profile", metavar="NAME", complete=words(*PROFILES),
                                             help=f"Device for the roofline latency: {', '.join(PROFILES)}; or "
                                             "--peak-tflops and --bandwidth. Default: h100.")] = None,
    peak_tflops: Annotated[Optional[float], peak_option()] = None,
    bandwidth: Annotated[Optional[float], bandwidth_option()] = None,
    budget: Annotated[Optional[int], option("--budget", parser=nbytes, metavar="SIZE",
                                            help="Device memory: the largest batch of each that fits.")] = None,
    amp: Annotated[Optional[bool], amp_option("")] = None,
    device: Annotated[str, device_option(MEMORY_DEVICE)] = "auto",
    freeze: Annotated[Optional[str], option("--freeze", metavar="PATH",
        help="Freeze every layer up to and including PATH in each network (as train --freeze does; a layer "
        "or group every network has, `layer2`): their trainable params, training multiplications and "
        "memory without the frozen layers' backward.")] = None,
    format: Annotated[Format, format_option()] = Format.table,
) -> int:  # fmt: skip
    """Networks side by side: params, multiplications, training, memory, field, latency.

    One column per network (and their ratio for two), then their stages. Training memory is for
    --batch, --dtype, --optimizer, --amp and --device, as `memory` takes them; latency for the
    device --profile (default h100), in mixed precision with --amp: the same for every network,
    train's defaults where not given (amp on a GPU in float32; the files' `train:` sections are
    not read: each could ask for another step).
    """
    from ..analysis.compare import compare, frozen_in, latency_dtype_of
    from ..analysis.roofline import profile_named
    from ..render.design import compare_json, compare_tables
    from ..train.step_defaults import training_step

    if len(files) < 2:
        raise CnnctlError.at("`compare` needs two networks or more", hint=f"e.g. cnnctl compare {files[0]} resnet50")
    kernels, device_from = memory_device(device)
    graphs = load_networks(files, input)
    frozen_in(graphs, freeze, "--freeze")  # every network without the path, told in the command line's words
    given = {"batch_size": (batch, "--batch"), "optimizer": (optimizer, "--optimizer"),
             "momentum": (momentum, "--momentum"), "amp": (amp, "--amp" if amp else "--no-amp")}  # fmt: skip
    step = training_step(graphs[0], given, kernels, dtype, read_file=False)
    warn_unused(unused_momentum(step.optimizer, momentum), "--optimizer sgd for a momentum, or leave --momentum out")
    if peak_tflops is None and bandwidth is None:
        device = profile_named(profile or "h100", OTHER_DEVICE)
    else:  # the user's device, its peak for what the latency computes in (with amp, 16 bits)
        computes = "bfloat16" if step.amp and DTYPE_BYTES[dtype] != 2 else dtype
        device, _ = _roofline_device(profile, peak_tflops, bandwidth, computes, False)
    entries = compare(graphs, step.batch, dtype, step.kind, device, budget, freeze, step.amp, kernels)
    where = dict(step=step, dtype=dtype, roofline_profile=device, profile_name=device.name, budget=budget,
                 freeze=freeze,
                 device=kernels, device_from=device_from,
                 latency_dtype=latency_dtype_of(device, dtype, step.amp))  # fmt: skip
    labels = column_labels(files, [g.title for g in graphs])
    show_result(format, lambda: compare_json(entries, where), lambda: compare_tables(entries, where, labels), graphs)
    return 0


def load_networks(files: list[str], input: str | None) -> list:
    """Every network named, or every problem of all of them in one error (as `validate` tells
    them): the second file's mistakes are not kept back until the first is mended."""
    from ..catalog import stdin_once

    stdin_once(files, "compare")
    graphs, problems, warnings = [], [], []
    for arch in files:
        try:
            graphs.append(common.load_network(arch, input))
        except CnnctlError as exc:
            problems.extend(exc.problems)
            warnings.extend(exc.warnings)  # the warnings found with them: often the cause
    if problems:  # the valid networks' warnings are told too, as a run that went on would tell them
        raise CnnctlError(problems, [*warnings, *(w for g in graphs for w in g.warnings)])
    return same_network_warned(files, graphs)


def same_network_warned(files: list[str], graphs: list) -> list:
    """`graphs`, a warning added to each that reads the same file and member as one before it
    (`compare resnet18.yaml resnet18` with ./resnet18.yaml here: a file here is read before a
    bundled name), so that a column of ratios all 1.000 is not taken for a finding."""
    from ..catalog import BUNDLED_MARK, bundled_member, resolve_member
    from ..errors import Loc, Problem

    seen: dict[tuple[str, str | None], str] = {}
    for k, arg in enumerate(files):
        file, _, member = resolve_member(arg)
        key = (os.path.realpath(file), member)
        if key not in seen:
            seen[key] = arg
            continue
        try:  # where a bundled network of that name is shadowed, how to name it
            stem = os.path.basename(arg).removesuffix(".yaml")
            other = bundled_member(stem)[0]
            hint = None if os.path.realpath(other) == key[0] else f"`{BUNDLED_MARK}{stem}` names the bundled network"
        except CnnctlError:
            hint = None
        message = f"`{seen[key]}` and `{arg}` are the same network ({file}): its columns compare it with itself"
        graphs[k] = graphs[k]._replace(warnings=(*graphs[k].warnings, Problem(message, Loc(file), None, hint)))
    return graphs


def column_labels(given: list[str], names: list[str]) -> list[str]:
    """A column's label per network: its name, a run's folder (`runs/l1`, not the `lenet5` it
    trained), and for names that still repeat, what was given (two files both called `net`)."""
    from ..run_marks import run_of

    labels = [run_of(arg) or name for arg, name in zip(given, names, strict=True)]
    return [arg if labels.count(label) > 1 else label for arg, label in zip(given, labels, strict=True)]
