"""The training loop: a run's sequence: its folder held, the run set up, its epochs, how it ended.

The loop sees data only through a BatchSource (cnnctl.train.batches): each epoch's batches
come from (seed, epoch, steps done) alone, so a run resumed from a checkpoint, even one
saved mid-epoch, replays exactly the batches it would have seen. The set-up is
cnnctl.train.run_setup, an epoch cnnctl.train.epoch, the run folder's files
cnnctl.train.saving, the step itself cnnctl.train.step, the NaN policy
cnnctl.train.divergence, the tests' hooks cnnctl.train.hooks.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import worker
from ..device_memory import memory_guard
from ..errors import CnnctlError
from ..graph import Graph
from .checkpoint import checkpoint_file
from .config import TrainConfig
from .device import check_network_fits, resolve_device
from .epoch import end_epoch, train_epoch
from .hooks import StepHook, fault_from_env, slow_from_env, stop_after
from .result import RunResult, run_result
from .run_data import data_counts
from .run_setup import Run, set_up
from .rundir import Claim, RunFault, hold, run_dir_for
from .runlog import RunLog, check_logging
from .schedule import best_row, stops_early
from .stop_flag import StopRequest
from .stopped import before_training
from .world import Group, World
from .world import group as _group

if TYPE_CHECKING:
    import torch
    from rich.console import Console

    from ..data import DataSplits


def train(
    graph: Graph,
    config: TrainConfig,
    *,
    network_title: str,  # the name the run knows its network by (Graph.title, or a resumed run's record)
    resume: str | None = None,
    resumed: dict | None = None,  # the checkpoint `resume` names, where the caller read it already (else read here)
    dataset: DataSplits | None = None,
    console: Console | None = None,
    network_source: str
    | None = None,  # the ARCH as the user wrote it (a file, a bundled name), for the "resume with" line
    stop_after_steps: int | None = None,  # tests: behave as if Ctrl-C came after this many steps
    world: World | None = None,
    then_exit: bool = False,  # the caller exits when the run ends: a finished run then ignores signals
    hooks: Sequence[StepHook] = (),  # tests: called after each step (cnnctl.train.hooks)
) -> RunResult:
    """Train `graph` as `config` says; returns where the run is and how it ended.

    Started by torchrun (RANK and WORLD_SIZE set), this is one worker of a data-parallel
    run: each step, every worker takes its own slice of the same global batch, and
    DistributedDataParallel averages the gradients.

    `config` is the caller's, left as it is: the run works on a copy, filled in as it starts (its
    folder, its thread count, a recipe's defaults). A Ctrl-C the run lets through (a second one)
    carries the run's folder as `run_dir` (None before it was named): what the command says of it.
    """
    config = replace(config)
    world = world or World.from_env()
    device = world.device(resolve_device(config.device))
    _check_before_the_folder(graph, config, world, device, resume)
    default = resume is None and config.out is None  # runs/ARCH-STAMP, made -2, -3, ... where taken (rundir.hold)
    run_dir = run_dir_for(config.out, network_title, resume)  # named once, here: the lock is taken on this folder
    if world.restarts and (run_dir / "last.pt").exists():
        resume = str(run_dir)  # torchrun restarted the group after a failure: continue from the newest checkpoint
        resumed = None  # read again: the newest
    # "": `--resume RUN` alone, which names its network
    network_source = network_title if network_source is None else network_source
    # the options the "resume with" line needs besides the run: on one machine, the same workers again
    relaunch = f"--nproc-per-node {world.size}" if world.distributed and world.local_size == world.size else ""
    hooks = _hooks(hooks, stop_after_steps, world)
    # The signals are the run's from before its folder is claimed: a SIGTERM while it starts
    # (loading its data) stops it with a word, and leaves no folder holding only its lock.
    stop = StopRequest(exit_on_sigterm=worker.under_launcher(), then_exit=then_exit, starting=True)
    run = None
    try:
        with (
            stop,
            _owned(run_dir, world, resume, default) as claim,
            _group(world, device) as group,
            memory_guard(device, config.batch_size),
        ):
            run_dir = _claimed(run_dir, claim, group, default)
            if resume is None:
                config.out = str(run_dir)
            try:
                with loader_faults(run_dir):
                    run = set_up(graph, config, world, group, device, network_title, resume, run_dir, dataset,
                                 console, network_source, claim, resumed=resumed, relaunch=relaunch)  # fmt: skip
            except KeyboardInterrupt:
                if not stop.starting:
                    raise
                return _stopped_at_start(run_dir, config, world, network_title, stop, claim)
            # status.json says how the run ended; curves.png is drawn (cnnctl.train.runlog)
            with run.log, loader_faults(run_dir):
                return run.log.ended(run_epochs(run, hooks, stop))
    except KeyboardInterrupt as stopped:
        if not (stop.starting and stop.set):
            stopped.run_dir = run_dir  # the command says what the run had saved there
            raise
        return _stopped_at_start(run_dir, config, world, network_title, stop, None)  # while the folder was taken
    except RunFault as exc:  # a full disk, a loader process killed: what was saved is kept, and how to go on
        raise _failed(exc.error(network_source, relaunch), run, run_dir, config) from None
    except CnnctlError as exc:
        if run is None:  # a mistake found before the run began: nothing to say of it
            raise
        _failed(exc, run, run_dir, config)  # a diverged loss, and anything else the run met
        raise


def _check_before_the_folder(
    graph: Graph, config: TrainConfig, world: World, device: torch.device, resume: str | None
) -> None:
    """What is told before the run folder is made: a network the device cannot hold, --tensorboard
    without its package, torchrun's restarts with no folder to continue from."""
    check_network_fits(graph, device, config.optimizer, config.momentum)
    check_logging(config)
    if world.max_restarts and resume is None and config.out is None:
        raise CnnctlError.at(
            "with torchrun --max-restarts, give --out DIR: restarted workers continue from the checkpoint there",
            hint="cnnctl train --nproc-per-node N chooses the folder itself",
        )


def _hooks(hooks: Sequence[StepHook], stop_after_steps: int | None, world: World) -> list[StepHook]:
    """The hooks called after each step: the tests' (cnnctl.train.hooks), a stop after
    `stop_after_steps` steps, and first a fault and a slowness the environment asks for."""
    hooks = [*hooks, *([stop_after(stop_after_steps)] if stop_after_steps is not None else [])]
    if slow := slow_from_env():
        hooks.insert(0, slow)
    if fault := fault_from_env(world):
        hooks.insert(0, fault)
    return hooks


def _failed(error: CnnctlError, run: Run | None, run_dir: Path, config: TrainConfig) -> CnnctlError:
    """`error` with what the run it ended had done, as `result` (train --format json gives it
    beside the error): the epochs whose checkpoints were saved, and how it ended."""
    history = run.history[: run.log.saved] if run is not None else []
    ended = (run.log.ended_as if run is not None else None) or "failed"
    error.result = run_result(run_dir, error.exit_code, len(history), history, config.monitor, ended, config.epochs)
    if run is not None:
        _with_data(error.result, run)
    return error


def _claimed(run_dir: Path, claim: Claim | None, group: Group, default: bool) -> Path:
    """The folder the run holds: a default one as rank 0 made it (runs/ARCH-STAMP-2 where
    another run took runs/ARCH-STAMP), told to every worker."""
    if not default:
        return run_dir
    from .rundir import numbered

    number = group.from_leader(claim.number if claim is not None else None)
    return numbered(run_dir, number or 1)


def _stopped_at_start(
    run_dir: Path, config: TrainConfig, world: World, network_title: str, stop: StopRequest, claim: Claim | None
) -> RunResult:
    """A run stopped by a signal before its first step: said, and recorded where it had begun
    writing its folder (status.json: stopped, no epoch done), as a run stopped later is.
    A folder it had not begun writing goes as its hold ends (rundir.hold)."""
    name = "Ctrl-C" if stop.signum == signal.SIGINT else signal.Signals(stop.signum).name
    if world.leader:
        import sys

        sys.stderr.write(before_training(name))
        if claim is not None and claim.begun:
            with contextlib.suppress(RunFault, OSError):  # a full disk: the run is stopped all the same
                RunLog(run_dir, config, [], network=network_title).end("stopped", [])
    return run_result(run_dir, stop.status, 0, [], config.monitor, epochs_planned=config.epochs)


def loader_faults(run_dir: Path) -> contextlib.AbstractContextManager[None]:
    """A loader process that died, or shared memory it could not make, as the RunFault it is:
    inside the run's log, so status.json records the same words."""
    from ..data.loader import loader_faults_raised

    return loader_faults_raised(lambda happened, fix: RunFault(run_dir, happened, fix))


def _owned(
    run_dir: Path, world: World, resume: str | None, default: bool = False
) -> contextlib.AbstractContextManager[Claim | None]:
    """The run's hold on its folder, for the whole run (the Claim it begins once its checks
    have passed). Only rank 0 writes there, so only it holds it (unless cnnctl's launcher
    holds it for its workers: see rundir.hold). `default`: no --out was given (rundir.hold)."""
    if not world.leader or (resume is not None and not checkpoint_file(resume).is_file()):
        return contextlib.nullcontext()  # nothing to resume: load_checkpoint says why
    return hold(run_dir, new=resume is None, default=default)


def run_epochs(run: Run, hooks: Sequence[StepHook], stop: StopRequest) -> RunResult:
    """The epochs; `stop`: the run's signal handlers (installed by train), which from here
    on let the current step finish and save."""
    config = run.config
    run.hooks, run.steps_done = list(hooks), 0
    run.stop, stop.starting = stop, False
    try:
        early = stops_early(run.history, config)  # a resumed run that had already stopped early
        for epoch in range(run.begun.epoch, config.epochs):
            if early:
                break
            # an epoch resumed part-way counts the seconds it had before the stop too
            before = run.begun.epoch_seconds if epoch == run.begun.epoch else 0.0
            started = run.epoch_started = time.perf_counter() - before
            if not train_epoch(run, epoch):
                run.display.interrupted(run.run_dir, run.network_source, run.relaunch)
                return _result(run, stop.status, epoch)
            end_epoch(run, epoch, started)
            early = stops_early(run.history, config)
        stop.finished = True  # every epoch is saved: a signal from here on changes nothing
        run.group.barrier()
        best = best_row(run.history, config.monitor)
        if early:
            run.display.stopped_early(len(run.history), config.monitor, config.patience, best)
        run.display.finish(run.history, best, config.monitor, stopped_early=early)
    except BaseException:  # a second Ctrl-C, a diverged loss, a dead peer: the bar must not stay behind
        run.display.abandon()
        raise
    return _result(run, 0, len(run.history))


def _result(run: Run, status: int, epochs_done: int) -> RunResult:
    result = run_result(run.run_dir, status, epochs_done, run.history, run.config.monitor,
                        epochs_planned=run.config.epochs)  # fmt: skip
    return _with_data(result, run)


def _with_data(result: RunResult, run: Run) -> RunResult:
    """`result` with what train's JSON says of the data: each split's images and those left out
    unreadable (run_data.data_counts), the training split's class counts and the loss's class weights."""
    from .run_notes import run_warnings
    from .run_setup import used_settings

    # the run's network, its data and what it used (device, amp, normalisation), then the data's counts
    result.data = {"network": run.network_title, "data": run.config.data, **used_settings(run.fast, run.data),
                   **data_counts(run.data, run.sources.skipped)}  # fmt: skip
    result.warnings = run_warnings(run.data.warnings, run.config.data)
    classes = list(run.data.classes)
    result.train_class_counts = dict(zip(classes, run.class_counts, strict=True))
    if run.class_weights is not None:
        result.loss_class_weights = dict(zip(classes, run.class_weights, strict=True))
    return result
