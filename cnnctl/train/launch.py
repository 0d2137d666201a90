"""`cnnctl train --nproc-per-node N`: start N workers through torch.distributed's own launcher.

This is the machinery of `torchrun` (torch.distributed.run), called in-process: the
rendezvous, the restarts after a failure and the signal forwarding are PyTorch's. What
cnnctl adds is the checking before anything starts (GPUs, port, data, run folder) and one
line of explanation when the launcher gives up, in place of a page of logs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import worker
from ..errors import INTERRUPTED, LOST_PEERS, CnnctlError, Problem, RunFailed
from ..files import DASH, STDIN_NAME
from ..render.progress import resume_line
from .device import resolve_device
from .world import check_sync_bn

if TYPE_CHECKING:
    from ..graph import Graph
    from .config import TrainConfig

SHUTDOWN_SECONDS = 120


@dataclass
class LaunchOptions:
    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int | None = None
    rdzv_endpoint: str | None = None  # HOST:PORT of the rendezvous; needed with --nnodes > 1
    rdzv_timeout: int = 300  # seconds to wait for every node to join
    max_restarts: int = 0

    def command_line(self) -> str:
        """These options as `cnnctl train` takes them (for a line to copy)."""
        words = [f"--nproc-per-node {self.nproc_per_node}"]
        if self.nnodes > 1:
            words.append(f"--nnodes {self.nnodes}")
            words += [f"--node-rank {self.node_rank}"] if self.node_rank is not None else []
            words.append(f"--rdzv-endpoint {self.rdzv_endpoint}")
        if self.max_restarts:
            words.append(f"--max-restarts {self.max_restarts}")
        return " ".join(words)

    def torchrun_args(self, worker_args: list[str]) -> list[str]:
        args = ["--nproc-per-node", str(self.nproc_per_node), "--max-restarts", str(self.max_restarts)]
        args += ["--monitor-interval", "0.5"]  # notice a failed worker within half a second
        if self.nnodes == 1 and self.rdzv_endpoint is None:
            args.append("--standalone")  # a free local port, chosen by the launcher
        else:
            args += ["--nnodes", str(self.nnodes), "--rdzv-backend", "c10d", "--rdzv-id", "cnnctl"]
            args += ["--rdzv-endpoint", self.rdzv_endpoint or "", "--rdzv-conf", f"join_timeout={self.rdzv_timeout}"]
            if self.node_rank is not None:
                args += ["--node-rank", str(self.node_rank)]
        return [*args, "-m", "cnnctl", *worker_args]


def check_setup(options: LaunchOptions, device_name: str, sync_bn: bool = False) -> None:
    """What can be known before any worker starts: GPUs, the rendezvous address, the port."""
    if worker.under_launcher():
        raise CnnctlError.at(
            "--nproc-per-node inside a worker that torchrun started: that would start workers of workers",
            hint="leave out --nproc-per-node (and --nnodes) under torchrun: torchrun's own options decide",
        )
    if options.nnodes > 1 and not options.rdzv_endpoint:
        raise CnnctlError.at(
            f"--nnodes {options.nnodes} needs --rdzv-endpoint HOST:PORT, the address every node meets at",
            hint="use the address of the node started with --node-rank 0, e.g. --rdzv-endpoint 10.0.0.1:29400",
        )
    if options.node_rank is not None and options.node_rank >= options.nnodes:
        raise CnnctlError.at(
            f"--node-rank {options.node_rank} with --nnodes {options.nnodes}: machines are numbered 0 to "
            f"{options.nnodes - 1}",
            hint="give each machine its own --node-rank, 0 on the one at --rdzv-endpoint",
        )
    device = resolve_device(device_name)
    if sync_bn:
        check_sync_bn(device)
    cores = os.cpu_count() or 1
    if device.type == "cpu" and options.nproc_per_node > cores:
        warn(
            f"{options.nproc_per_node} CPU workers on {cores} cores: each gets less than a core; "
            f"--nproc-per-node {cores} or fewer will likely be faster"
        )
    if device.type == "cuda":
        gpus = torch.cuda.device_count()
        if options.nproc_per_node > gpus:
            raise CnnctlError.at(
                f"--nproc-per-node {options.nproc_per_node}, but this machine has {gpus} GPU"
                f"{'s' if gpus != 1 else ''}: each worker needs its own",
                hint=f"use --nproc-per-node {gpus} or fewer, or --device cpu to train on CPU workers",
            )
    if options.rdzv_endpoint is not None:
        host, port = split_endpoint(options.rdzv_endpoint)
        try:
            socket.getaddrinfo(host, port)
        except (OSError, UnicodeError):
            raise CnnctlError.at(
                f"--rdzv-endpoint {options.rdzv_endpoint}: this machine cannot find the host `{host}`",
                hint="give the address (or a name this machine resolves) of the node with --node-rank 0",
            ) from None
        if is_local(host) and (options.nnodes == 1 or options.node_rank == 0) and port_in_use(port):
            raise CnnctlError.at(
                f"--rdzv-endpoint {options.rdzv_endpoint}: port {port} is in use on this machine "
                "(another run, or another program)",
                hint=f"choose a free port, e.g. {host}:{port + 1}, and give the same one to every node",
            )
        if options.nnodes > 1:
            check_store_answers(options.rdzv_endpoint, host, port)


# Connects to the endpoint as torchrun's rendezvous would; run apart, since a client that
# reached something other than a PyTorch store waits for its answer forever, deaf to Ctrl-C.
_STORE_PROBE = """
import datetime, sys
from torch.distributed import TCPStore
print("ready", flush=True)
TCPStore(sys.argv[1], int(sys.argv[2]), is_master=False, timeout=datetime.timedelta(seconds=5))
"""
STORE_ANSWER_SECONDS = 15


def check_store_answers(endpoint: str, host: str, port: int) -> None:
    """Refuse an endpoint where something listens that is not a rendezvous store (a mistyped
    port that reaches a web server, say): torchrun would wait on it without end."""
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError:
        return  # nobody listens yet: the node with --node-rank 0 may start later, and the rendezvous waits
    import subprocess

    probe = subprocess.Popen(
        [sys.executable, "-c", _STORE_PROBE, host, str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        if probe.stdout is not None and probe.stdout.readline() == "ready\n":
            probe.wait(timeout=STORE_ANSWER_SECONDS)
            return  # it answered (or went away): torchrun's rendezvous takes it from here
    except subprocess.TimeoutExpired:
        raise CnnctlError.at(
            f"--rdzv-endpoint {endpoint}: something listens there but does not answer as a PyTorch "
            f"rendezvous store (no answer in {STORE_ANSWER_SECONDS} s; another program on that port?)",
            hint="choose a free port for the node with --node-rank 0, and give the same one to every node",
        ) from None
    finally:
        probe.kill()
        probe.wait()


def warn(text: str) -> None:
    sys.stderr.write(Problem(text).format("warning") + "\n")


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CnnctlError.at(
            f"--rdzv-endpoint `{endpoint}` is not HOST:PORT", hint="for example --rdzv-endpoint 10.0.0.1:29400"
        )
    return host.strip("[]"), int(port)


def is_local(host: str) -> bool:
    if host in ("localhost", socket.gethostname()):
        return True
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return True
    with contextlib.suppress(OSError):
        return host in {socket.gethostbyname(socket.gethostname()), *socket.gethostbyname_ex(socket.gethostname())[2]}
    return False


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
        except OSError:
            return True
    return False


def launch_training(
    graph: Graph,
    config: TrainConfig,
    options: LaunchOptions,
    worker_args: list[str],
    resume: str | None,
    network_source: str | None,
    resumed: dict | None = None,
) -> int:
    """Check what can be checked once, fetch the data once, then start the workers.

    The workers get every setting spelled out and a fixed run folder, so all of them, and
    any restarted after a failure, agree on the run they belong to. `network_source`: the ARCH as
    the user gave it, for the line that resumes the run (None: `--resume RUN` alone);
    `resumed`: the checkpoint `resume` names, where the caller read it already.
    """
    from ..data import load_data
    from ..graph.outputs import dense_shape
    from .rundir import WriteFailed, hold, refuse_existing_run, run_dir_for, write_bytes

    piped = network_source == DASH  # `cat net.yaml | cnnctl train - ...`: the workers' standard input is not the pipe
    if piped:
        refuse_piped(options, resume)
    check_setup(options, config.device, config.sync_bn)
    if resume is not None:  # before anything starts: can these workers share the run's batches?
        from .checkpoint import load_checkpoint
        from .resume_config import resumed_batch

        resumed_batch(load_checkpoint(resume) if resumed is None else resumed, options.nproc_per_node * options.nnodes)
    else:
        if config.out is None and options.nnodes > 1 and options.max_restarts:
            raise CnnctlError.at(
                "--max-restarts with several machines needs --out on storage they share",
                hint="restarted workers on every machine continue from the checkpoint there",
            )
    default = resume is None and config.out is None  # runs/ARCH-STAMP, made -2, -3, ... where taken (rundir.hold)
    run_dir = run_dir_for(config.out, graph.title, resume)
    if resume is None:
        config.out = str(run_dir)
    # The launcher holds the run folder for its workers, restarts included. On several
    # machines none of the launchers can: each would refuse the others on shared storage,
    # so the worker of global rank 0, wherever it runs, takes it (as under plain torchrun).
    holding = (
        hold(run_dir, new=resume is None, for_workers=True, default=default)
        if options.nnodes == 1
        else contextlib.nullcontext()
    )
    if options.nnodes > 1 and resume is None:
        refuse_existing_run(run_dir)
    try:
        with holding as claim:
            if claim is not None and resume is None:  # the folder it made: the workers are given it (--out)
                run_dir = claim.folder
                config.out = str(run_dir)
            streamable = _streamable(graph, config)
            if not streamable:  # one download, before the workers start, not N at once into the same folder
                load_data(
                    config.data, graph.input_shape, data_dir=config.data_dir, val_split=config.val_split,
                    seed=config.seed, masks=dense_shape(graph),
                )  # fmt: skip
            # A new run's list of images is made here, once; a resumed run's workers read theirs back.
            found = _listed(graph, config) if streamable and resume is None else None
            if claim is not None:  # the data is there: the workers write in the folder from here on
                claim.begin()
            if found is not None:
                from ..data.samples import index_bytes
                from ..data.streamed import INDEX

                write_bytes(run_dir / INDEX, index_bytes(found.record()))  # listed once, read back by every worker
            told: dict[str, str] = {}  # the workers' environment besides the launcher's own
            if piped:  # the text read once here, written where every worker (a restarted one too) reads it
                worker_args = _network_in(run_dir, worker_args)
                told[worker.PIPED] = worker_args[1]  # and named `<stdin>` there, as in one process (catalog)
            status = launch(options, [*worker_args, *config_args(config, resume)], told)
    except WriteFailed as exc:  # the lock file, on a full disk
        raise exc.error(network_source, options.command_line()) from None
    except RunFailed as exc:  # a worker died: one line naming it, then how to go on
        raise RunFailed(f"{exc}\n{_how_to_go_on(run_dir, network_source, options)}", exc.exit_code) from None
    if status == 128 + signal.SIGTERM:  # torchrun passed it on, and the workers left without saving
        go_on = _how_to_go_on(run_dir, network_source, options)
        sys.stderr.write(f"stopped by SIGTERM: the workers left at once\n{go_on}\n")
    return status


def refuse_piped(options: LaunchOptions, resume: str | None) -> None:
    """Where a network read from standard input cannot reach the workers through the run
    folder: a resumed run's folder keeps its own network (the piped text would replace it), and
    on several machines each launcher would write the shared folder's file."""
    if resume is not None:
        raise CnnctlError.at(
            "`-` (a network piped in) with --resume and --nproc-per-node: the run folder keeps its network",
            hint=f"leave out `-`: cnnctl train --resume {resume} {options.command_line()}",
        )
    if options.nnodes > 1:
        raise CnnctlError.at(
            f"`-` (a network piped in) with --nnodes {options.nnodes}: the workers on the other machines "
            "cannot read this machine's standard input",
            hint="give the network as a file every machine can read",
        )


def _network_in(run_dir: Path, worker_args: list[str]) -> list[str]:
    """The text piped in, written as the run's network.yaml (what a run of one process keeps
    too); the workers' arguments (`train - ...`) naming that file in place of `-`."""
    from ..notation.source import read_text
    from ..run_marks import RUN_NETWORK
    from .rundir import write_text

    network = run_dir / RUN_NETWORK
    write_text(network, read_text(DASH, STDIN_NAME))  # read once for the process: what the launcher built
    command, arch, *rest = worker_args
    assert arch == DASH, worker_args  # `train ARCH ...`, as the command line builds them
    return [command, str(network), *rest]


def _how_to_go_on(run_dir: Path, arch: str | None, options: LaunchOptions) -> str:
    """The command that continues a run the workers left, or why there is none."""
    if (run_dir / "last.pt").is_file():
        return resume_line(arch, run_dir, options.command_line())
    return f"no checkpoint was saved yet: start it again with the same command (--out {run_dir})"


def _streamable(graph, config) -> bool:
    """Whether the run's data is an image folder or shards (listed, then streamed or held)."""
    from ..data.streamed import is_streamable
    from ..graph.outputs import dense_shape

    return dense_shape(graph) is None and is_streamable(str(config.data))


def _listed(graph, config):
    """A new run's image folder or shards, listed once here for every worker, and the choice
    between streaming and memory made for all of them (each deciding by its own free memory
    could differ)."""
    from ..data.streamed import choose, listing

    found = listing(str(config.data))
    if config.stream is None:
        config.stream, _ = choose(found, graph.input_shape, None)
    return found


def config_args(config: TrainConfig, resume: str | None) -> list[str]:
    """The command-line options that give a worker exactly these settings."""
    args: list[str] = []
    for name, value in vars(config).items():
        if value is None or (resume and name == "out"):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):  # --mean, --std: numbers as given, `0.5,0.25` (settings.numbers_text)
            args += [flag, ",".join(map(str, value))]
        else:
            args += [flag, str(value)]
    return args


def _torchrun_parser():
    """torchrun's own parser, without abbreviations: otherwise a worker's `--monitor val_loss`
    is read as torchrun's `--monitor-interval` instead of passing through to the worker."""
    from torch.distributed.run import get_args_parser

    parser = get_args_parser()
    parser.allow_abbrev = False
    return parser


def launch(options: LaunchOptions, worker_args: list[str], told: dict[str, str]) -> int:
    """Run the workers to the end; the exit status of the run (0, 2 for a user error a worker
    reported, 130 for Ctrl-C). A worker's failure the launcher could not recover from is a
    RunFailed; a rendezvous that fails, a CnnctlError. `told`: variables set in the workers'
    environment for this run only (`worker.PIPED`)."""
    from torch.distributed.run import get_args_parser, run

    # The launcher logs every restart and signal at WARNING, in its own format; cnnctl's
    # workers say what happened in plain words instead.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("torch.distributed.elastic", "torch.distributed.run")):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    # Each attempt gets a fresh store instead of the agent's, which keeps stale keys
    # across restarts (pytorch/pytorch#135712); the workers also prefix their keys.
    os.environ.setdefault("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
    if "OMP_NUM_THREADS" not in os.environ:  # the cores, shared among this node's workers
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // options.nproc_per_node))
    args = options.torchrun_args(worker_args)
    if "--shutdown-timeout" in get_args_parser()._option_string_actions:  # newer launchers only
        # After Ctrl-C, the workers finish their step and save; the launcher's default 30 s
        # before SIGKILL is short for a slow step or a first compilation.
        args = ["--shutdown-timeout", str(SHUTDOWN_SECONDS), *args]
    with tempfile.TemporaryDirectory(prefix="cnnctl-launch-") as folder:
        # A worker that stops on the user's mistake creates this file; restarted workers find
        # it and end at once, so the mistake is told once and not retried --max-restarts times.
        gave_up = os.path.join(folder, "user-error")
        told = {**told, worker.GIVE_UP: gave_up}
        os.environ.update(told)  # the workers inherit the launcher's environment
        try:
            status = _run(options, run, _torchrun_parser().parse_args(args))
        finally:
            for name in told:
                del os.environ[name]
            # The workers are gone: torchrun's handlers, still installed, would raise a late signal as a traceback.
            worker.ignore_late_signals()
        return 2 if os.path.exists(gave_up) else status


def _run(options: LaunchOptions, run, args) -> int:
    """torchrun's `run(args)`, its failures turned into an exit status or one message."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError, RendezvousTimeoutError

    try:
        run(args)
    except ChildFailedError as exc:
        codes = {rank: failure.exitcode for rank, failure in exc.failures.items()}
        if 2 in codes.values():  # a worker reported a user error: its message is already printed
            return 2
        if set(codes.values()) <= {INTERRUPTED}:
            return INTERRUPTED
        rank, first = _cause(exc.failures)
        restarts = f" ({options.max_restarts} restart{'s' if options.max_restarts != 1 else ''} used)"
        stopped = f"training stopped: worker {rank} {_exit_words(first.exitcode)}"
        raise RunFailed(Problem(stopped + (restarts if options.max_restarts else "")).format()) from None
    except RendezvousTimeoutError:
        raise CnnctlError.at(
            f"the rendezvous at {options.rdzv_endpoint} timed out after {options.rdzv_timeout} s: "
            f"not all {options.nnodes} nodes joined",
            hint="start the same command on every node, each with its own --node-rank and the same "
            "--rdzv-endpoint; --rdzv-timeout sets the wait",
        ) from None
    except RendezvousError as exc:  # the endpoint unreachable, or the rendezvous closed
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CnnctlError.at(
            f"the rendezvous at {options.rdzv_endpoint} failed: {reason}",
            hint="check that the node with --node-rank 0 is running and that HOST:PORT is reachable from here",
        ) from None
    except SignalException as exc:  # 130 after Ctrl-C, 143 after SIGTERM
        return 128 + int(exc.sigval)
    return 0


def _cause(failures: dict) -> tuple[int, Any]:
    """The failure that stopped the run: the first in time, leaving out workers that only
    lost their peers (they may exit before the launcher notices the one that died)."""
    causes = {rank: f for rank, f in failures.items() if f.exitcode != LOST_PEERS} or failures
    rank = min(causes, key=lambda r: (causes[r].timestamp, r))
    return rank, causes[rank]


def _exit_words(code: int) -> str:
    if code == LOST_PEERS:  # all this machine's workers only lost their peers: one elsewhere failed
        return "lost contact with the other workers (a worker on another machine stopped?)"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"
