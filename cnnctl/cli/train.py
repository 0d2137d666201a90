"""train: its options are the training settings' table (cnnctl.train.settings), one each."""

import sys
from inspect import Parameter, Signature
from typing import Annotated, Any, Optional

from .. import worker
from ..errors import INTERRUPTED, CnnctlError
from ..train.settings import SETTINGS, Setting
from . import common  # common.load_network, looked up when called: one place to stand in for reading a network
from .common import Format, examples, print_json
from .options import (
    ARCH_HELP,
    argument,
    complete_arch,
    complete_run,
    format_option,
    input_option,
    option,
    setting_option,
    whole,
)


@examples(
    ("cnnctl train lenet5 --data mnist --epochs 3 --out runs/lenet5-mnist", "LeNet-5 on MNIST, 3 epochs"),
    (
        "cnnctl train resnet18 --data cifar10 --augment crop,flip --device cuda",
        "ResNet-18 on CIFAR-10 on a GPU, the CIFAR augmentation",
    ),
    (
        "cnnctl train resnet50 --weights imagenet --data ./photos --freeze layer2",
        "fine-tune ImageNet's weights on your photos, a subfolder per class",
    ),
    ("cnnctl train --resume runs/lenet5-mnist --epochs 10", "continue a run, to 10 epochs"),
)
def train_cmd(
    arch: Optional[str] = None,
    *,
    resume: Optional[str] = None,
    nproc_per_node: Optional[int] = None,
    nnodes: Optional[int] = None,
    node_rank: Optional[int] = None,
    rdzv_endpoint: Optional[str] = None,
    rdzv_timeout: Optional[int] = None,
    max_restarts: Optional[int] = None,
    input: Optional[str] = None,
    format: Format = Format.table,
    **settings: Any,
) -> int:
    """Train on a dataset; keep metrics and checkpoints.

    Settings come from the defaults, then the file's `train:` section, then these options.
    Ctrl-C stops after the current step, saves a checkpoint and says how to resume (exit 130;
    143 after SIGTERM); `--resume RUN` needs no ARCH, the run folder keeps its network. With
    --nproc-per-node N, N workers train in data parallel (torch.distributed), each on its own
    share of every batch; `torchrun --nproc-per-node N -m cnnctl train ...` works too.
    """
    from ..run_marks import recorded_input_named
    from ..train import request

    started = False  # set once the run itself begins, to say what a Ctrl-C stopped
    config = None
    try:
        launcher = request.launcher({"nproc_per_node": nproc_per_node, "nnodes": nnodes, "node_rank": node_rank,
                                     "rdzv_endpoint": rdzv_endpoint, "rdzv_timeout": rdzv_timeout,
                                     "max_restarts": max_restarts})  # fmt: skip
        network_file, shape, head, resumed = request.network_to_train(arch, resume, input)
        named = "--input" if input is not None or resume is None else recorded_input_named(resume)  # the run's
        graph = common.load_network(network_file, shape, settings=False, widths=head, input_from=named)  # checked below
        config, resumed = request.run_config(graph, settings, resume, resumed)
        from ..train.loop import train

        if launcher is not None:
            from ..train.launch import LaunchOptions, launch_training

            worker_args = request.worker_args(arch, input, resume, format.value)
            return launch_training(graph, config, LaunchOptions(**launcher), worker_args, resume, network_source=arch,
                                   resumed=resumed)  # fmt: skip
        console = None
        if format is Format.json:
            from ..terminal import stderr_console

            console = stderr_console()
        started = True
        source = arch if arch is not None else ""  # the line that resumes it names no ARCH either
        result = train(graph, config, network_title=request.network_title(graph, arch, resume), resume=resume,
                       resumed=resumed, console=console, network_source=source, then_exit=True)  # fmt: skip
        if format is Format.json and worker.rank0():  # one document, from rank 0
            from ..render.runs import train_json

            print_json(train_json(result))
        return result.status
    except CnnctlError as exc:  # a run that diverged or failed: with --format json, what it did beside why
        result = getattr(exc, "result", None)  # set by cnnctl.train.loop for a run that had begun
        if result is not None and format is Format.json and worker.rank0():
            from ..render.runs import train_json

            print_json(train_json(result, errors=exc.problems))
        raise
    except KeyboardInterrupt as stopped:  # before the loop could catch it, or a second one: stop now
        if worker.speaks():
            from ..train.stopped import stopped_at_once

            folder = getattr(stopped, "run_dir", None) or request.run_folder_named(resume, config)  # the loop's
            said, saved = stopped_at_once(arch, folder, started)
            if format is Format.json and not saved:  # the document a stopped run gives, of a run that did not train
                from ..render.runs import stopped_json

                print_json(stopped_json(folder, INTERRUPTED))
            sys.stderr.write(said)
        return INTERRUPTED


def _setting_option(s: Setting) -> Any:
    """A setting's option, from its row: --NAME VALUE read by the file's rule, or --NAME/--no-NAME."""
    return Annotated[Optional[bool] if s.flag else Optional[Any], setting_option(s.name)]


def _whole_option(name: str, lo: int, help: str, metavar: str = "N") -> Any:
    return Annotated[Optional[int], option(name, parser=whole(lo), metavar=metavar, help=help)]


def _signature() -> Signature:
    """train_cmd's parameters as typer reads them: ARCH, a setting's option per row of the
    table, then what only the command line has (resume, the launcher, input, format)."""
    keyword = Parameter.KEYWORD_ONLY
    params = [
        Parameter("arch", Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Annotated[
            Optional[str], argument("ARCH", ARCH_HELP + " Not needed with --resume.", complete_arch)]),
        *(Parameter(s.name, keyword, default=None, annotation=_setting_option(s)) for s in SETTINGS),
        Parameter("resume", keyword, default=None, annotation=Annotated[Optional[str], option(
            "--resume", metavar="RUN", complete=complete_run,
            help="Continue a run: its folder or a checkpoint (ARCH may be left out).")]),
        Parameter("nproc_per_node", keyword, default=None, annotation=_whole_option(
            "--nproc-per-node", 1, "Data-parallel workers on this machine (torchrun's launcher). Default: 1 process.")),
        Parameter("nnodes", keyword, default=None, annotation=_whole_option(
            "--nnodes", 1, "Machines in a data-parallel run. Default: 1.")),
        Parameter("node_rank", keyword, default=None, annotation=_whole_option(
            "--node-rank", 0, "This machine's number, 0 to NNODES-1. Default: 0.")),
        Parameter("rdzv_endpoint", keyword, default=None, annotation=Annotated[Optional[str], option(
            "--rdzv-endpoint", metavar="HOST:PORT", help="Where the machines meet (needed with --nnodes > 1).")]),
        Parameter("rdzv_timeout", keyword, default=None, annotation=_whole_option(
            "--rdzv-timeout", 1, "Seconds to wait for every machine to join. Default: 300.", "S")),
        Parameter("max_restarts", keyword, default=None, annotation=_whole_option(
            "--max-restarts", 0, "Restart the workers from the last checkpoint after a failure, N times. Default: 0.")),
        Parameter("input", keyword, default=None, annotation=Annotated[Optional[str], input_option()]),
        Parameter("format", keyword, default=Format.table, annotation=Annotated[
            Format, format_option(Format.table, Format.json)]),
    ]  # fmt: skip
    return Signature(params, return_annotation=int)


train_cmd.__signature__ = _signature()
train_cmd.__annotations__ = {p.name: p.annotation for p in train_cmd.__signature__.parameters.values()}
