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
    started = False  # set once the run itself begins, to say what a Ctrl-C stopped
    config = None
    try:
        launcher = {"node_rank": node_rank, "rdzv_endpoint": rdzv_endpoint, "rdzv_timeout": rdzv_timeout,
                    "max_restarts": max_restarts}  # fmt: skip
        given = [f"--{name.replace('_', '-')}" for name, value in launcher.items() if value is not None]
        if given and nproc_per_node is None and nnodes is None:
            raise CnnctlError.at(
                f"{', '.join(given)} without --nproc-per-node: one process has no workers to launch",
                hint="add --nproc-per-node N (and --nnodes for several machines)",
            )
        if arch is None and not resume:
            raise CnnctlError.at(
                "which network? give ARCH: a network file or a bundled name",
                hint="e.g. cnnctl train lenet5; a run is continued with --resume RUN alone",
            )
        resumed = None  # the run's last.pt (--resume), read once and passed on
        if arch is not None:
            network_file, shape, head = arch, input, None
        else:
            network_file, shape, head, resumed = _resumed_network(resume, input)
        graph = common.load_network(network_file, shape, settings=False, widths=head)  # checked below, with the options
        network = graph.title if arch is not None else _run_network_name(resume) or graph.title
        from ..train.config import resolve_config

        overrides = settings  # every setting's option, None where not given
        if resume and settings["out"]:
            raise CnnctlError.at("--out and --resume together", hint="a resumed run continues in its own folder")
        if resume:  # the checkpoint's settings: torch reads it
            from ..train.checkpoint import load_checkpoint
            from ..train.resume_config import resumed_config

            resumed = load_checkpoint(resume) if resumed is None else resumed
            config = resumed_config(resume, overrides, resumed)
        else:  # checked before torch is imported: a mistake is told in a tenth of a second
            config = resolve_config(graph.train, overrides, graph.input_shape[2], graph.train_keys)
        from ..train.loop import train

        if nproc_per_node is not None or nnodes is not None:
            from ..train.launch import LaunchOptions, launch_training

            given = {
                "nproc_per_node": nproc_per_node,
                "nnodes": nnodes,
                "node_rank": node_rank,
                "rdzv_endpoint": rdzv_endpoint,
                "rdzv_timeout": rdzv_timeout,
                "max_restarts": max_restarts,
            }
            options = LaunchOptions(**{k: v for k, v in given.items() if v is not None})  # the rest: its defaults
            args = ["train", *([arch] if arch is not None else []), *(["--input", input] if input else [])]
            args += ["--resume", resume] if resume else []
            worker_args = [*args, "--format", format.value]
            return launch_training(graph, config, options, worker_args, resume, source=arch, resumed=resumed)
        console = None
        if format is Format.json:
            from ..terminal import stderr_console

            console = stderr_console()
        started = True
        source = arch if arch is not None else ""  # the line that resumes it names no ARCH either
        result = train(graph, config, arch=network, resume=resume, resumed=resumed, console=console, source=source,
                       then_exit=True)  # fmt: skip
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
    except KeyboardInterrupt:  # before the loop could catch it, or a second one: stop now
        if worker.speaks():
            folder = _run_folder(resume, config)
            saved = started and folder is not None and (folder / "last.pt").is_file()
            if format is Format.json and not saved:  # the document a stopped run gives, of a run that did not train
                from ..render.runs import stopped_json

                print_json(stopped_json(folder, INTERRUPTED))
            if saved:  # what was saved goes on
                from ..render.progress import resume_line

                sys.stderr.write("stopped at once: nothing more was saved (checkpoints written before are kept)\n")
                sys.stderr.write(resume_line(arch, folder) + "\n")
            elif started:
                sys.stderr.write("stopped by Ctrl-C before the run's first checkpoint: nothing was saved\n")
            else:
                sys.stderr.write("stopped by Ctrl-C before training began: nothing was saved\n")
        return INTERRUPTED


def _resumed_network(resume: str, input: str | None) -> tuple[str, str | None, dict[str, int] | None, dict]:
    """ARCH, --input and the head's width for `train --resume RUN` given without ARCH: the
    run's network.yaml (its member, as FILE:MEMBER), the network it trains, at the input of its
    config.json, with its head, or as its last.pt tells them where config.json is lost
    (--input, if given, is checked against the checkpoint as ever); and that last.pt, read
    once here for the whole resume."""
    from ..run_marks import RUN_NETWORK, recorded_head, recorded_input, recorded_member
    from ..train.checkpoint import load_checkpoint, resume_settings
    from ..train.rundir import run_folder

    folder = run_folder(resume)
    state = load_checkpoint(resume)  # no run there, or a damaged one: its own message
    if not (folder / RUN_NETWORK).is_file():
        raise CnnctlError.at(
            f"the run `{folder}` does not keep its network ({RUN_NETWORK}): give the ARCH it trained",
            hint=f"cnnctl train ARCH --resume {resume}",
        )
    settings, _ = resume_settings(folder, state)  # the note is the run's to say (cnnctl.train.run_setup)
    member = recorded_member(settings)
    network = str(folder / RUN_NETWORK) + (f":{member}" if member else "")
    return network, input or recorded_input(settings), recorded_head(settings), state


def _run_network_name(resume: str) -> str | None:
    """The name a run knows its network by (its file's name, which network.yaml lost)."""
    from ..run_folders import network_name
    from ..train.rundir import run_folder

    return network_name(run_folder(resume))


def _run_folder(resume: str | None, config):
    """The folder a train command writes to (a Path), once the run has named it (None before)."""
    from pathlib import Path

    if resume:
        from ..train.rundir import run_folder

        return run_folder(resume)
    return Path(config.out) if config is not None and config.out else None


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
