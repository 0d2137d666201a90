"""The training loop: epochs of steps over a batch source, progress, checkpoints, resume, signals.

The loop sees data only through a BatchSource (cnnctl.train.batches): each epoch's batches
come from (seed, epoch, steps done) alone, so a run resumed from a checkpoint, even one
saved mid-epoch, replays exactly the batches it would have seen. The step itself is
cnnctl.train.step, the NaN policy cnnctl.train.divergence, the tests' hooks
cnnctl.train.hooks.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import worker
from ..analysis import summarize
from ..analysis.summary import layer_at
from ..catalog import resolve_member
from ..data.stats import WEIGHTS_ORIGIN
from ..device_memory import memory_guard
from ..errors import CnnctlError
from ..every import Every
from ..exchange.pretrained import IMAGENET_ORIGIN, is_pretrained
from ..files import STDIN, STDIN_NAME
from ..graph import Graph
from ..graph.outputs import dense_shape
from ..notation.source import read_text
from ..run_folders import now
from ..run_marks import RUN_NETWORK
from ..shapes import format_shape
from ..words import plural
from .batches import BatchSource
from .checkpoint import (
    Checkpoint,
    check_same_network,
    checkpoint_file,
    load_checkpoint,
    load_weights,
    network_record,
    resume_settings,
    save_checkpoint,
)
from .config import TrainConfig, absolute_data_paths, checked_overrides
from .device import check_network_fits, resolve_device
from .divergence import check_every, diverged_error
from .fastpath import FastPath, apply_backend_flags, decide, with_cuda_graphs
from .hooks import StepHook, fault_from_env, stop_after
from .metrics import EpochStats, evaluate_batches, iou
from .rundir import Claim, RunFault, hold, refuse_existing_run, run_dir_for, write_bytes, write_text
from .runlog import RunLog, check_logging, write_logs
from .schedule import best_row, improved, make_scheduler, stops_early
from .settings import BY_NAME, RESUMABLE
from .sources import load_training_data, loader_workers, make_sources
from .step import TrainStep, grad_scaler, make_optimizer, step_module
from .weights_from import (
    are_imagenets,
    numbers,
    other_input,
    other_input_said,
    other_network,
    placement_said,
    stats_for_weights,
    trained_elsewhere,
    weights_said,
)
from .world import Group, World, check_sync_bn
from .world import group as _group

if TYPE_CHECKING:
    from rich.console import Console

    from ..data import DataSplits


@dataclass
class RunResult:
    run_dir: Path
    status: int  # 0, or 128 + the signal that stopped it (INTERRUPTED for Ctrl-C)
    epochs_done: int
    best_val_accuracy: float  # of the epoch best.pt holds, chosen by `monitor`; -1 without validation
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None  # 1-based, as in the history; None without validation
    monitor: str = "val_accuracy"
    epochs_planned: int | None = None  # --epochs: a finished run with fewer done stopped early (--patience)
    ended: str | None = None  # status.json's word, where the status does not say it (diverged, failed)


def run_result(
    run_dir: Path,
    status: int,
    epochs_done: int,
    history: list[dict[str, Any]],
    monitor: str,
    ended: str | None = None,
    epochs_planned: int | None = None,
) -> RunResult:
    """What a run did: its best validation accuracy, of the epoch best.pt holds (chosen by
    `monitor`; -1 without one) and that epoch, from its history."""
    best = best_row(history, monitor)
    accuracy = best["val_accuracy"] if best is not None else None
    accuracy = accuracy if accuracy is not None and accuracy == accuracy else -1.0
    epoch = best["epoch"] if best else None
    return RunResult(run_dir, status, epochs_done, accuracy, history, epoch, monitor, epochs_planned, ended)


class _StopFlag:
    """Set by SIGINT (and SIGTERM): the loop finishes its current step, saves and stops.

    Under torchrun, SIGTERM is the launcher tearing the group down because a worker failed;
    the other workers may be blocked waiting for the failed one, so that one exits at once.

    Once `finished` (every epoch saved), a signal has nothing left to stop and is ignored: a
    finished run exits 0 however late a Ctrl-C comes. With `then_exit` (the command line,
    which exits once the run ends) it stays ignored after the block, up to the exit itself.

    While `starting` (from the moment the run folder is claimed until the first step), there
    is nothing to save: a signal stops the run at once (KeyboardInterrupt, `set` and `signum`
    say which), and the run says so as any stopped run does (train: _stopped_at_start).
    """

    def __init__(self, exit_on_sigterm: bool = False, then_exit: bool = False, starting: bool = False) -> None:
        self.set = False
        self.starting = starting
        self.finished = False
        self.busy = False  # a checkpoint is being written
        self.pending = False  # a second Ctrl-C came while it was
        self.signum = signal.SIGINT  # what stopped the run: the exit status is 128 + its number
        self.exit_on_sigterm = exit_on_sigterm
        self.then_exit = then_exit
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: no handlers, no graceful stop
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.finished:
            return
        if signum == signal.SIGTERM and self.exit_on_sigterm:
            raise SystemExit(128 + signum)  # unwinds through the atomic writes, which clean up
        if self.starting:  # nothing to save yet: stop now, by the way a Ctrl-C stops anything
            self.set, self.signum = True, signum
            raise KeyboardInterrupt
        if self.set:  # a second Ctrl-C: stop now, but not in the middle of writing a checkpoint
            if self.busy:
                self.pending = True
                return
            raise KeyboardInterrupt
        self.set = True
        self.signum = signum

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """A second Ctrl-C waits for the file being written: torch.save broken off mid-way
        raises its own error, and the file would be lost anyway."""
        self.busy = True
        try:
            yield
        finally:
            self.busy = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    @property
    def status(self) -> int:
        """130 after Ctrl-C (or a peer's), 143 after SIGTERM: what shells and schedulers expect."""
        return 128 + self.signum

    def __exit__(self, *exc) -> None:
        if self.finished and self.then_exit:
            worker.ignore_late_signals()
            return
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def check_classes(graph: Graph, classes: list[str]) -> None:
    out = graph.output_shape
    if dense_shape(graph) is not None:
        if out[2] < len(classes):
            raise CnnctlError.at(
                f"the network scores {out[2]} classes per pixel, but the masks have {len(classes)}",
                hint=f"make the last layer `conv f=1 n={len(classes)}`",
            )
        return
    if len(out) != 1:
        raise CnnctlError.at(
            f"the network ends in the volume {format_shape(out)}; a classifier ends in a vector of class scores",
            hint="add `flatten`" if out[:2] == (1, 1) else f"end it with `fc {len(classes)}`",
        )
    if out[0] < len(classes):
        # Data that counts its classes from its labels says where (cnnctl.data.ClassNames).
        origin, check = getattr(classes, "origin", None), getattr(classes, "check", None)
        raise CnnctlError.at(
            f"the network has {out[0]} output{'s' if out[0] != 1 else ''}, but the data has {len(classes)} classes"
            + (f" ({origin})" if origin else ""),
            hint=f"make the last layer `fc {len(classes)}`" + (f", or {check}" if check else ""),
        )


def unused_outputs(graph: Graph, classes: list[str]) -> str | None:
    """A note when the network scores more classes than the data has: it trains (the extra
    scores are only pushed down), but it is usually a network written for other data."""
    outputs, n = graph.output_shape[-1], len(classes)
    if outputs <= n:
        return None
    last = f"conv f=1 n={n}" if dense_shape(graph) else f"fc {n}"
    return (
        f"warning: the network has {outputs:,} outputs for {n:,} classes: outputs {n} to {outputs - 1} are never "
        f"a target (make the last layer `{last}` to fit this data)"
    )


def _same_threads(fast: FastPath, group: Group) -> FastPath:
    """`fast` with rank 0's CPU thread count on every worker of a data-parallel run. The run
    records one count (config.json, checkpoints), which a resume replays on every worker; a
    count each chose alone (its machine's OMP_NUM_THREADS, or its idle cores) could differ
    from it. The other workers print nothing: the reason said is rank 0's."""
    threads = group.from_leader(fast.threads)
    return fast if threads == fast.threads else replace(fast, threads=threads, threads_why="rank 0's count")


def check_batch(source: BatchSource, batch: int, workers: int, graph: Graph) -> None:
    if source.steps_per_epoch(batch, workers) == 0:
        times = f" x {workers} workers" if workers > 1 else ""
        images = source.images or 0  # a source that knows no size has steps or None, never 0
        raise CnnctlError.at(
            f"--batch-size {batch}{times} is more than the {images:,} training images",
            hint=f"use --batch-size {max(1, images // workers)} or less",
        )
    if batch == 1 and any(node.kind == "bn" for node in graph.nodes):
        raise CnnctlError.at(
            "batch norm needs at least 2 images per batch (--batch-size 1)", hint="use --batch-size 2 or more"
        )


DROPPED_SHARE = 0.1  # the share of the training images an epoch may leave out (its last, partial step) unsaid


def dropped_note(source: BatchSource, batch: int, workers: int) -> str | None:
    """What an epoch leaves out where that is more than DROPPED_SHARE of the training images:
    its last, partial step (batches.steps_in_epoch), with a batch size that leaves out less;
    None otherwise. 173 images at batch 64 train on 128 an epoch."""
    images = source.images
    if not images:
        return None
    per_step = batch * workers
    used = source.steps_per_epoch(batch, workers) * per_step
    left = images - used
    if left <= DROPPED_SHARE * images:
        return None
    note = (f"each epoch trains on {used:,} of the {images:,} training images: the last {left:,}, fewer than a step's "
            f"{per_step:,}, are left out (other images each epoch, whose order differs)")  # fmt: skip
    smaller = images // ((images // per_step + 1) * workers)  # one step more, each as full as can be
    if smaller >= 2:
        note += f"; --batch-size {smaller} trains on {smaller * workers * (images // (smaller * workers)):,} an epoch"
    return note


def train(
    graph: Graph,
    config: TrainConfig,
    *,
    arch: str,
    resume: str | None = None,
    resumed: dict | None = None,  # the checkpoint `resume` names, where the caller read it already (else read here)
    dataset: DataSplits | None = None,
    console: Console | None = None,
    source: str | None = None,  # the ARCH as the user wrote it, for the "resume with" line
    stop_after_steps: int | None = None,  # tests: behave as if Ctrl-C came after this many steps
    world: World | None = None,
    then_exit: bool = False,  # the caller exits when the run ends: a finished run then ignores signals
    hooks: Sequence[StepHook] = (),  # tests: called after each step (cnnctl.train.hooks)
) -> RunResult:
    """Train `graph` as `config` says; returns where the run is and how it ended.

    Started by torchrun (RANK and WORLD_SIZE set), this is one worker of a data-parallel
    run: each step, every worker takes its own slice of the same global batch, and
    DistributedDataParallel averages the gradients.
    """
    world = world or World.from_env()
    device = world.device(resolve_device(config.device))
    check_network_fits(graph, device, config.optimizer, config.momentum)
    check_logging(config)  # --tensorboard without its package: told before the run folder is made
    if world.max_restarts and resume is None and config.out is None:
        raise CnnctlError.at(
            "with torchrun --max-restarts, give --out DIR: restarted workers continue from the checkpoint there",
            hint="cnnctl train --nproc-per-node N chooses the folder itself",
        )
    default = resume is None and config.out is None  # runs/ARCH-STAMP, made -2, -3, ... where taken (rundir.hold)
    run_dir = run_dir_for(config.out, arch, resume)  # named once, here: the lock is taken on this folder
    if world.restarts and (run_dir / "last.pt").exists():
        resume = str(run_dir)  # torchrun restarted the group after a failure: continue from the newest checkpoint
        resumed = None  # read again: the newest
    if resume is None:
        config.out = str(run_dir)
    source = arch if source is None else source  # "": `--resume RUN` alone, which names its network
    network = source  # the network as the user named it: a bundled name or a file
    # the options the "resume with" line needs besides the run: on one machine, the same workers again
    relaunch = f"--nproc-per-node {world.size}" if world.distributed and world.local_size == world.size else ""
    hooks = [*hooks, *([stop_after(stop_after_steps)] if stop_after_steps is not None else [])]
    if fault := fault_from_env(world):
        hooks.insert(0, fault)
    # The signals are the run's from before its folder is claimed: a SIGTERM while it starts
    # (loading its data) stops it with a word, and leaves no folder holding only its lock.
    stop = _StopFlag(exit_on_sigterm=worker.under_launcher(), then_exit=then_exit, starting=True)
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
                    run = _Run(
                        graph, config, world, group, device, arch, resume, run_dir, dataset, console, source, network,
                        claim, resumed=resumed, relaunch=relaunch,
                    )  # fmt: skip
            except KeyboardInterrupt:
                if not stop.starting:
                    raise
                return _stopped_at_start(run_dir, config, world, arch, stop, claim)
            # status.json says how the run ended; curves.png is drawn (cnnctl.train.runlog)
            with run.log, loader_faults(run_dir):
                return run.log.ended(run.run(hooks, stop))
    except KeyboardInterrupt:
        if not (stop.starting and stop.set):
            raise
        return _stopped_at_start(run_dir, config, world, arch, stop, None)  # while the folder was being taken
    except RunFault as exc:  # a full disk, a loader process killed: what was saved is kept, and how to go on
        raise _failed(exc.error(source, relaunch), run, run_dir, config) from None
    except CnnctlError as exc:
        if run is None:  # a mistake found before the run began: nothing to say of it
            raise
        _failed(exc, run, run_dir, config)  # a diverged loss, and anything else the run met
        raise


def _failed(error: CnnctlError, run: _Run | None, run_dir: Path, config: TrainConfig) -> CnnctlError:
    """`error` with what the run it ended had done, as `result` (train --format json gives it
    beside the error): the epochs whose checkpoints were saved, and how it ended."""
    history = run.history[: run.log.saved] if run is not None else []
    ended = (run.log.ended_as if run is not None else None) or "failed"
    error.result = run_result(run_dir, error.exit_code, len(history), history, config.monitor, ended, config.epochs)
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
    run_dir: Path, config: TrainConfig, world: World, arch: str, stop: _StopFlag, claim: Claim | None
) -> RunResult:
    """A run stopped by a signal before its first step: said, and recorded where it had begun
    writing its folder (status.json: stopped, no epoch done), as a run stopped later is.
    A folder it had not begun writing goes as its hold ends (rundir.hold)."""
    name = "Ctrl-C" if stop.signum == signal.SIGINT else signal.Signals(stop.signum).name
    if world.leader:
        import sys

        sys.stderr.write(f"stopped by {name} before training began: nothing was saved\n")
        if claim is not None and claim.begun:
            with contextlib.suppress(RunFault, OSError):  # a full disk: the run is stopped all the same
                RunLog(run_dir, config, [], network=arch).end("stopped", [])
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


class _Run:
    """One training run. It is built in named steps, in an order that matters: the global
    random state is seeded before the data and the model's first weights are drawn, and
    every check passes before the run writes in its folder."""

    def __init__(
        self, graph, config, world, group, device, arch, resume, run_dir, dataset, console, source, network, claim,
        resumed: dict | None = None,  # resume's checkpoint, where the caller read it already
        relaunch: str = "",  # the launch options the "resume with" line needs
    ):  # fmt: skip
        self.graph, self.config, self.world, self.group, self.arch = graph, config, world, group, arch
        self.run_dir, self.source, self.network, self.relaunch = run_dir, source, network, relaunch
        state = self._checkpoint_to_resume(resume, resumed)
        self.weights_from = self._weights_source(fresh=state is None)
        torch.manual_seed(config.seed)
        self._data(dataset, state, resume)
        recorded = Checkpoint.of(state).config.get("threads") if state is not None else None
        self.fast = _same_threads(decide(device, config.amp, config.compile, config.threads, recorded), group)
        config.threads = self.fast.threads  # the count chosen, recorded (config.json, checkpoints) for a resume
        self.fast = with_cuda_graphs(self.fast, config.cuda_graphs, self.graph, config.batch_size, world.distributed,
                                     bool(self.data.streamed))  # fmt: skip
        apply_backend_flags(self.fast)
        notes = [*self.fast.notes, *self._model(device, fresh=state is None)]
        # After the weights are placed: a head whose source tensors are of another shape is made anew there.
        from .finetune import apply_defaults

        # Given to a new run: a resumed one replays its checkpoint's settings, the head factor among
        # them (apply_defaults filled it in as the run started), which nobody gave this time.
        factor_given = state is None and config.head_lr_factor is not None
        # From scratch every layer starts from random weights: a head made for the data has no reason to learn faster.
        from_weights = state is None and bool(config.weights)
        self.fine_tuning = apply_defaults(config, from_weights, from_weights and bool(self._anew()))
        if state is None and self.head is None and (config.head or factor_given):  # said, not silently ignored
            given = " and ".join(f for f, v in (("--head", config.head), ("--head-lr-factor", factor_given)) if v)
            self.data.notes.append(f"{given} unused: a head is made anew only where the network (or the --weights) "
                                   "scores another number of classes than the data has")  # fmt: skip
        self._optimizer(device)
        if state is not None:
            notes += self._resumed_batch(state)
        if self.config_told is not None:
            notes.append(self.config_told)
        self._batches(device)
        recipe_at = len(notes)  # the recipe is said here, once the epoch the run stands at is known
        if self.graph.heads:  # the two losses of the rows differ by what they sum
            weighted = " + ".join(f"{h.weight:g} x {h.name}" for h in self.graph.heads)
            notes.append(f"train loss: the main output's + {weighted} (the heads run in training only); "
                         "val loss: the main output's alone")  # fmt: skip
        self._resume_or_start(state, resume, claim)
        if recipe := _recipe(config, self.fine_tuning, self.epoch):
            notes.insert(recipe_at, recipe)
        if state is not None and self.epoch < config.epochs:  # where it goes on from, said once
            notes.insert(0, self._resumed_at(resume))
        self.train_step = TrainStep(
            step_module(self.model, world, device, self.fast.compile, self.fast.cuda_graphs),
            self.optimizer, self.scaler, self.fast, config.label_smoothing, tuple(h.weight for h in self.graph.heads),
        )  # fmt: skip
        self._display(console, device, state is not None, resume, notes)
        # metrics.jsonl, results.csv, TensorBoard, status.json, curves.png (rank 0 only)
        self.log = RunLog(run_dir, config, self.history, leader=self.world.leader, say=self.display.line, network=arch)

    def _checkpoint_to_resume(self, resume: str | None, resumed: dict | None = None) -> dict | None:
        """The checkpoint to resume from (`resumed`, where the caller read it already); another
        network is told before its data is made (vgg16's 224x224 shapes)."""
        self.head = None  # the layer made anew for the data's classes (cnnctl.train.finetune), if any
        self.head_had = None  # its width in the network as written, where --weights made it anew
        self.head_kept = False  # the head at the data's width, with the weights' own tensors (_head_kept)
        self.run_settings: dict = {}  # a resumed run's config.json as read, or as told from its checkpoint
        self.config_told = None  # the note that says it was told so (config.json lost), if it was
        if not resume:
            return None
        from ..run_marks import recorded_head

        state = load_checkpoint(resume) if resumed is None else resumed
        # The network as given (ARCH), or, for `--resume RUN` alone (no network named), the run's network.yaml.
        build = (lambda widths: self._rebuilt(widths) if widths else self.graph) if self.network else None
        settings, note = resume_settings(self.run_dir, state, build)
        self.run_settings, self.config_told = settings, note
        if widths := recorded_head(settings):  # the head the run made: its network is built with it
            self.head = next(iter(widths))
            if layer_at(self.graph, self.head, "the run's head").shape[-1] != widths[self.head]:
                self.graph = self._rebuilt(widths)
        check_same_network(state, self.graph, checkpoint_file(resume), "train")
        return state

    def _rebuilt(self, widths: dict[str, int]) -> Graph:
        """The network again, those layers at those widths (a head made anew)."""
        from ..api import load

        return load(self.network or self.arch, self.graph.input_shape, widths)

    def _new_head(self, classes: int, dense: bool) -> list[str]:
        """The head made anew for the data's `classes` (finetune): for a run from --weights
        trained for other classes (its line comes once they are placed: `_model`); from scratch,
        for a classifier written for more classes than the data has (fewer is check_classes'
        message; a per-pixel network's width is left as written, as is a network given as text,
        which cannot be built again at another width)."""
        from .finetune import head_for_data

        made = head_for_data(self.graph, classes, self.config.head, bool(self.config.weights), dense, self._rebuildable)
        if made is None:
            return []
        path, width = made
        self.head = path
        self.graph = self._rebuilt({self.head: classes})
        if self.config.weights:
            self.head_had = width  # the network's; the line says the weights' own, once they are placed
            return []
        return [self._made_anew(classes, f"{self.graph.title} has {width:,} outputs", "made")]

    def _rebuildable(self) -> bool:
        """Whether the network is named by a file or a bundled name (not given as text), so that
        it can be built again with a head of another width (`_rebuilt`)."""
        try:
            resolve_member(self.network or self.arch)
        except CnnctlError:
            return False
        return True

    def _weights_source(self, fresh: bool) -> str | None:
        """The file --weights names: torchvision's ImageNet weights fetched into torch.hub's cache
        (before the data is read: a network they are not for, or no network to download them
        over, is told at once), or the file given; None for random weights or a resumed run."""
        from ..exchange.pretrained import fetch, is_pretrained

        if not fresh or not self.config.weights:
            return None
        return fetch(self.graph.name) if is_pretrained(self.config.weights) else self.config.weights

    def _data(self, dataset, state: dict | None, resume: str | None) -> None:
        """The data, normalised with the statistics given (--mean, --std), else computed; a
        resumed run normalises with those its checkpoint was trained with."""
        from ..data.stats import from_weights

        config, graph = self.config, self.graph
        dense = dense_shape(graph)  # a network scoring every pixel trains on masks
        if state:  # the ones the weights were trained with
            stats = from_weights(state, graph.input_shape[2], checkpoint_file(resume))
        else:  # --mean and --std, else the weights' own; None: computed over the training images
            stats = stats_for_weights(config.weights, config.mean, config.std, graph.input_shape[2], graph.title)
        from ..data.streamed import INDEX
        from ..render.progress import ListingLine

        progress = ListingLine() if self.world.leader and dataset is None else None
        self.loader_workers = loader_workers(config)
        self.data = dataset or load_training_data(
            config,
            graph,
            self.loader_workers,
            stats=stats,
            index=self.run_dir / INDEX,  # listed once: by the launcher, or before a resume
            progress=progress,
        )
        if progress is not None:
            progress.done()
        if config.stream is None and self.data.streamed is not None:  # the choice made, kept for a resume
            config.stream = self.data.streamed
        if config.workers is not None and not self.data.streamed:
            self.data.notes.append(f"--workers {config.workers} unused: loader processes read streamed data only, "
                                   "and this data is held in memory")  # fmt: skip
        own_split = self.data.val_from.startswith("its ")  # its validation or test split (adapt.validation)
        if own_split and config.val_split != BY_NAME["val_split"].default:
            self.data.notes.append(f"--val-split {config.val_split:g} unused: it holds training images out only where "
                                   f"the data has no validation or test split, and this data validates on "
                                   f"{self.data.val_from}")  # fmt: skip
        if config.decode != "auto" and not self.data.streamed:
            self.data.notes.append(f"--decode {config.decode} unused: it says where streamed JPEGs are decoded, "
                                   "and this data is decoded once into memory")  # fmt: skip
        if state is None:  # a head for the data's classes: weights for others, or a network written for others
            self.data.notes += self._new_head(len(self.data.classes), dense is not None)
        check_classes(self.graph, self.data.classes)
        self.dense = dense is not None

    def _model(self, device: torch.device, fresh: bool = True) -> list[str]:
        """The network's first weights (from the seeded global random state); notes to show.
        `fresh`: a new run, not a resumed one (whose notes were said when it began)."""
        from ..backend import to_torch

        self.model = to_torch(self.graph, logits=True)
        notes = []
        self.placement = None  # where --weights put each tensor (exchange.weights.Placement), for weights.txt
        if self.weights_from:  # a resumed run has its weights in its checkpoint
            from .finetune import placed_with_head

            made = self.head is not None  # made anew for the data's classes (_new_head)
            placed = placed_with_head(self.model, self.graph, self.weights_from, self.config.weights, self.head,
                                      self.config.head, self.data.classes, self._weights_refused)  # fmt: skip
            placement, self.head, self.head_kept = placed.placement, placed.head, placed.kept
            if self.head is not None:
                self.data.notes.append(self._head_note(placed.theirs, self.head_had if made else None))
            self.placement = placement
            notes.append(f"weights: {placement_said(placement, self._weights_said())} "
                         f"(each in {self.run_dir / 'weights.txt'})")  # fmt: skip
            if trained := other_input(self.config.weights, self.graph):
                notes.append(other_input_said(self.config.weights, trained, self.graph))
            if note := self._normalised_as_weights():
                notes.append(note)
        self.frozen_norms = []  # batch norms kept in evaluation mode: their statistics frozen
        if self.config.freeze:
            from .finetune import freeze

            self.frozen_norms = freeze(self.model, self.graph, self.config.freeze)
            counts = summarize(self.graph, freeze=self.config.freeze)
            notes.append(f"frozen: {counts.frozen:,} parameters of the layers up to and including "
                         f"`{self.config.freeze}`, batch norm statistics too; {counts.params - counts.frozen:,} "
                         "train")  # fmt: skip
            if fresh and not self.config.weights:  # frozen at their random first weights: a slip, most likely
                notes.append(f"warning: --freeze {self.config.freeze} without --weights: the frozen layers keep "
                             "their random first weights and never learn (--weights SOURCE freezes trained "
                             "ones)")  # fmt: skip
        if note := unused_outputs(self.graph, self.data.classes):
            notes.append(note)
        if self.config.sync_bn:
            notes.append(self._sync_batch_norm(device))
        self.model = self.model.to(device, memory_format=torch.channels_last)
        return notes

    def _normalised_as_weights(self) -> str | None:
        """The line saying the input is normalised as the weights were trained: torchvision's with
        ImageNet's statistics, a cnnctl run's (or checkpoint's) with the ones it recorded, which
        are ImageNet's where it was itself trained from torchvision's; None where --mean and --std
        were given, or the statistics were computed over the data (weights that record none)."""
        mean, std = numbers(self.data.mean), numbers(self.data.std)
        weights, origin = self.config.weights, self.data.stats_from
        if is_pretrained(weights):
            return (None if origin != IMAGENET_ORIGIN else f"input normalised with ImageNet's mean {mean} and std "
                    f"{std}, as the weights were trained (--mean and --std to change)")  # fmt: skip
        if not origin.startswith(WEIGHTS_ORIGIN):
            return None
        whose = "ImageNet's " if are_imagenets(self.data.mean, self.data.std) else "the "
        return (
            f"input normalised with {whose}mean {mean} and std {std}, as {weights} recorded (--mean and --std to "
            "change)"
        )

    def _weights_refused(self) -> CnnctlError | None:
        """Why --weights do not fit where a likelier cause than the tensor placing stopped at is
        known: another network's, as they record; trained at another input. None otherwise."""
        if (other := other_network(self.config.weights, self.graph, self.model.state_dict())) is not None:
            return other  # another network's, as they record: not the tensor it stopped at
        if trained := other_input(self.config.weights, self.graph):  # the likelier cause: said so
            return trained_elsewhere(self.config.weights, trained, self.graph, "train")
        return None

    def _head_note(self, theirs: int | None, width: int | None = None) -> str:
        """The head made anew because the weights scored another number of classes, in words:
        the layer's `width` in the network as written where the weights' tensors left out for it
        (`theirs`: finetune.HeadPlacement's) have it too (torchvision's 1,000), else theirs (a run's
        own head: 3, where the network file has 1,000)."""
        classes = len(self.data.classes)
        if self.head_kept:
            return (f"head: `{self.head}` at the data's {classes:,} classes, as {self.config.weights} has it: its "
                    f"weights kept ({self.graph.title} as written has {width:,} outputs)")  # fmt: skip
        had = f"it had {width:,} outputs" if theirs in (None, width) else f"the weights had {theirs:,} outputs"
        return self._made_anew(classes, had)

    def _made_anew(self, classes: int, had: str, made: str = "made anew") -> str:
        """The line saying the head (and the auxiliary heads with it) was `made` for `classes`."""
        aux = [f"`{path}`" for path in self._anew()[1:]]
        return (
            f"head: `{self.head}` {made} for the data's {classes:,} classes ({had}; --head PATH chooses "
            "another layer)" + (f"; the auxiliary heads' {', '.join(aux)} with it" if aux else "")
        )

    def _anew(self) -> tuple[str, ...]:
        """The layers made anew for the data's classes: the head, and the auxiliary heads with it."""
        from .finetune import made_anew

        return () if self.head_kept else made_anew(self.graph, self.head)

    def _weights_said(self) -> str:
        return weights_said(self.config.weights, self.weights_from, self.graph.name)

    def _optimizer(self, device: torch.device) -> None:
        self.optimizer = make_optimizer(self.model, self.config, self._anew())
        self.scheduler = make_scheduler(self.optimizer, self.config)
        self.scaler = grad_scaler(device, self.fast.grad_scaler)

    def _resumed_batch(self, state: dict) -> list[str]:
        """The per-worker batch that keeps the run's images per step on this many workers."""
        world = self.world
        batch = resumed_batch(state, world.size)
        notes = []
        if batch != self.config.batch_size:
            where = (
                f"on {world.size} workers: batch {batch} per worker"
                if world.distributed
                else f"in 1 process: batch {batch}"
            )
            notes.append(f"resumed {where} keeps the run's {batch * world.size} images a step")
        self.config.batch_size = batch
        return notes

    def _batches(self, device: torch.device) -> None:
        """The batch sources, the loop's only view of the data, and the augmentation (make_sources)."""
        config, data = self.config, self.data
        sources = make_sources(data, config, self.graph, device, self.loader_workers, self.run_dir)
        self.sources, self.train_set, self.val_set = sources, sources.train, sources.val
        self.skipped, self.augment = sources.skipped, sources.augment
        data.notes += sources.notes
        check_batch(self.train_set, config.batch_size, self.world.size, self.graph)
        if note := dropped_note(self.train_set, config.batch_size, self.world.size):
            data.notes.append(note)
        if config.patience is not None and not data.val_from:
            raise CnnctlError.at(
                "--patience stops on the validation split's progress, and this run has none (--val-split 0)",
                hint="hold some images out (--val-split 0.1), or train without --patience",
            )

    def _resume_or_start(self, state: dict | None, resume: str | None, claim: Claim | None) -> None:
        """Where the run stands: from its checkpoint, or a new run in its folder. `step`: the
        steps done in epoch `epoch`, all the place a run resumes from."""
        self.epoch, self.step, self.stats, self.history = 0, 0, EpochStats(), []
        self.epoch_seconds = 0.0  # of the epoch a resumed run goes on with, before it stopped
        self.epoch_started = time.perf_counter()
        self.stop = _StopFlag()  # run() installs the one the signals reach
        if state is not None:  # loaded, every check of it passed, before anything is written
            self._restore(state, resume)
        if claim is not None:  # every check has passed: the run writes in its folder from here on
            claim.begin()
        if state is not None:
            if self.world.leader:  # a write that failed after the checkpoint (a full disk) is made good here
                write_logs(self.run_dir, self.history)
                self._config_again()
        elif self.world.leader:
            self._start_folder()
        else:  # rank 0 checked under the folder's lock (rundir.hold)
            refuse_existing_run(self.run_dir)
        if self.world.rank:  # its own dropout masks: a stream of its own, from the seed, rank and place
            torch.manual_seed(hash((self.config.seed, self.world.rank, self.epoch, self.step)) & 0xFFFF_FFFF)

    def _resumed_at(self, resume: str) -> str:
        """Where a resumed run goes on from: the epoch, and the step in it, its checkpoint saved."""
        saved = checkpoint_file(resume)
        if not self.step:
            return f"resume: from {saved}, {plural(self.epoch, 'epoch')} done: epoch {self.epoch + 1} from its start"
        done = plural(self.step, "step")
        return f"resume: from {saved}, epoch {self.epoch + 1} from step {self.step + 1} ({done} of it done)"

    def _config_again(self) -> None:
        """A resumed run's config.json written again where it must change: told from the
        checkpoint where it was lost (the run is then one every command reads again), or
        another CPU thread count (--threads given to the resume): config.json and the
        checkpoints record the one count the run now uses, which the next resume replays."""
        settings = self.run_settings
        if self.config_told is None and settings.get("threads") == self.config.threads:
            return
        settings = settings | {"threads": self.config.threads}
        write_text(self.run_dir / "config.json", json.dumps(settings, indent=2) + "\n")

    def _display(self, console, device: torch.device, resumed: bool, resume: str | None, notes: list[str]) -> None:
        """Only rank 0 prints; the others keep the same display, writing nowhere."""
        from ..render.progress import TrainDisplay, silent_console

        world, config = self.world, self.config
        self.display = TrainDisplay(
            console if world.leader else silent_console(), config, device, self.data, self.run_dir,
            resumed=resumed, world=world.size,
        )  # fmt: skip
        if world.restarts:
            self.display.line(
                f"restart {world.restarts} of {world.max_restarts} after a worker failed: "
                + (f"continuing from {Path(resume) / 'last.pt'}" if resume else "no checkpoint yet, starting over")
            )
        self.display.line(
            self.fast.describe(config.optimizer, bool(self.optimizer.defaults.get("fused")), self.sources.decoding)
        )
        for note in notes:
            self.display.line(note)

    def _sync_batch_norm(self, device: torch.device) -> str:
        if not self.world.distributed:
            return "--sync-bn: one process, nothing to synchronise"
        check_sync_bn(device)
        from ..backend import sync_batch_norm

        count = sync_batch_norm(self.model)
        return f"--sync-bn: {count} batch norm layer{'s' if count != 1 else ''} use statistics over all workers"

    def _start_folder(self) -> None:
        """The folder exists: rundir.hold made it, before taking its lock."""
        write_text(self.run_dir / "architecture.json", json.dumps(_architecture(self.graph), indent=2) + "\n")
        try:  # the network as written: the run folder is then all `evaluate RUN` needs
            file, _, member = resolve_member(self.network)
            source = Path(file)
        except CnnctlError:  # a network given as text, not a file (cnnctl.train from Python)
            file, source, member = None, None, None
        if file == STDIN:  # `cat net.yaml | cnnctl train - ...`: what was piped in, read once
            write_text(self.run_dir / RUN_NETWORK, read_text(STDIN, STDIN_NAME))
        elif source is not None and source.is_file():
            write_text(self.run_dir / RUN_NETWORK, source.read_text())
        h_w_c = format_shape(self.graph.input_shape)
        # `started`: the order of `cnnctl runs`, which nothing done to the folder later changes
        settings = self.config.as_dict() | {"processes": self.world.size, "input": h_w_c, "started": now()}
        if member:  # a family's member, and any settings: what network.yaml builds (run_marks.run_member)
            settings["member"] = member
        if self.head is not None:  # the network every command reading the run builds (run_marks.run_head)
            settings["head"] = {"layer": self.head, "classes": self.graph.output_shape[-1]}
        write_text(self.run_dir / "config.json", json.dumps(settings, indent=2) + "\n")
        if self.placement is not None:  # what --weights put where: the network's tensor, the source's, the shape
            from ..render.views.weights import placement_rows

            rows = [["tensor", "from", "shape"], *placement_rows(self.placement)]
            widths = [max(len(row[k]) for row in rows) for k in range(2)]
            lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
            write_text(self.run_dir / "weights.txt", f"# from {self._weights_said()}\n" + "\n".join(lines) + "\n")
        if self.data.listing is not None:  # the list of images, read back by a resumed run
            from ..data.samples import index_bytes
            from ..data.streamed import INDEX

            write_bytes(self.run_dir / INDEX, index_bytes(self.data.listing))

    def _restore(self, state: dict, resume: str) -> None:
        """The run as its checkpoint left it; writes nothing (the folder is not yet begun)."""
        load_weights(self.model, state, resume, self.graph.title)
        saved = Checkpoint.of(state)
        self.optimizer.load_state_dict(saved.optimizer)
        if self.scheduler is not None and saved.scheduler:
            self.scheduler.load_state_dict(saved.scheduler)
        if saved.scaler:
            self.scaler.load_state_dict(saved.scaler)
        self.epoch, self.step = saved.epoch, saved.step
        self.epoch_seconds = float(saved.epoch_seconds)
        if self.world.leader:  # the run's totals so far; the other workers start from zero
            self.stats = EpochStats(**saved.stats)
        self.history = saved.history  # the best epoch is read from it (`best_row`)
        torch.set_rng_state(saved.rng)

    def _global_stats(self) -> EpochStats:
        loss, correct, seen = self.group.sum([self.stats.loss_sum, self.stats.correct, self.stats.seen])
        return EpochStats(loss, int(correct), int(seen))

    def checkpoint(self, name: str, epoch: int, step: int, stats: EpochStats) -> None:
        """Rank 0 writes; the model's own state_dict, not DDP's (no `module.` prefixes)."""
        if not self.world.leader:
            return
        with self.stop.saving():
            self._save(name, epoch, step, stats)

    def _save(self, name: str, epoch: int, step: int, stats: EpochStats) -> None:
        save_checkpoint(
            self.run_dir / name,
            Checkpoint(
                model=self.model.state_dict(),
                optimizer=self.optimizer.state_dict(),
                scheduler=self.scheduler.state_dict() if self.scheduler is not None else None,
                scaler=self.scaler.state_dict() if self.fast.grad_scaler else None,
                epoch=epoch,
                step=step,  # steps done in `epoch`: the batches are recomputed from it (batches.py)
                stats={"loss_sum": stats.loss_sum, "correct": stats.correct, "seen": stats.seen},
                history=self.history,
                best=self._best_accuracy(),
                epoch_seconds=time.perf_counter() - self.epoch_started if step else 0.0,
                rng=torch.get_rng_state(),
                config=self.config.as_dict() | {"lr": self.config.lr},
                arch=self.arch,
                classes=list(self.data.classes),
                mean=list(self.data.mean),
                std=list(self.data.std),
                workers=self.world.size,
                network=network_record(self.graph),
            ),
        )

    def run(self, hooks: Sequence[StepHook], stop: _StopFlag) -> RunResult:
        """The epochs; `stop`: the run's signal handlers (installed by train), which from here
        on let the current step finish and save."""
        config = self.config
        self.hooks, self.steps_done = list(hooks), 0
        self.stop, stop.starting = stop, False
        try:
            early = stops_early(self.history, config)  # a resumed run that had already stopped early
            for epoch in range(self.epoch, config.epochs):
                if early:
                    break
                # an epoch resumed part-way counts the seconds it had before the stop too
                before = self.epoch_seconds if epoch == self.epoch else 0.0
                started = self.epoch_started = time.perf_counter() - before
                if not self._train_epoch(epoch):
                    self.display.interrupted(self.run_dir, self.source, self.relaunch)
                    return self._result(stop.status, epoch)
                self.end_epoch(epoch, started)
                early = stops_early(self.history, config)
            stop.finished = True  # every epoch is saved: a signal from here on changes nothing
            self.group.barrier()
            best = best_row(self.history, config.monitor)
            if early:
                self.display.stopped_early(len(self.history), config.monitor, config.patience, best)
            self.display.finish(self.history, best, config.monitor, stopped_early=early)
        except BaseException:  # a second Ctrl-C, a diverged loss, a dead peer: the bar must not stay behind
            self.display.abandon()
            raise
        return self._result(0, len(self.history))

    def _result(self, status: int, epochs_done: int) -> RunResult:
        return run_result(self.run_dir, status, epochs_done, self.history, self.config.monitor,
                          epochs_planned=self.config.epochs)  # fmt: skip

    def _best_accuracy(self) -> float:
        """The validation accuracy of the epoch best.pt holds (chosen by --monitor); -1 without one."""
        return self._result(0, len(self.history)).best_val_accuracy

    def _train_epoch(self, epoch: int) -> bool:
        """The steps of one epoch, from where the run stands; False when a signal (or a
        hook) stopped it: last.pt then holds the step it stopped at."""
        config, world, stop = self.config, self.world, self.stop
        batch = config.batch_size
        every = check_every(self.fast.device)
        self.train_step.module.train()
        for norm in self.frozen_norms:  # --freeze: their statistics stay as trained
            norm.eval()
        first = self.step if epoch == self.epoch else 0  # steps done before a resume
        total = self.train_set.steps_per_epoch(batch, world.size)
        left = None if total is None else total - first
        self.display.start_epoch(epoch, total, first)
        checked = True
        saves = Every(config.save_every) if config.save_every else None  # --save-every: last.pt mid-epoch too
        batches = self.sources.training(epoch, first, batch, world.rank, world.size)
        for k, (x, y) in enumerate(batches, 1):
            step = first + k  # steps done in this epoch once this one is
            loss, logits = self.train_step(x, y)
            self.stats.add(loss, logits, y)
            self.display.step(step, self.stats, len(y) * world.size)
            self.steps_done += 1
            if any([hook(self.steps_done) for hook in self.hooks]):  # a list: every hook is called
                stop.set = True
            # The NaN policy (cnnctl.train.divergence): read every few steps, at the epoch's
            # end and before any checkpoint.
            checked = k % every == 0 or k == left
            # Due on any worker (a time differs between them) is due on all: the save sums their stats.
            due = saves is not None and k != left and saves.due(step)  # the epoch's end saves anyway
            stop.set, diverged, due = self.group.any(stop.set, checked and not self.stats.finite(), due)
            if (stop.set or due) and not checked:
                (diverged,) = self.group.any(not self.stats.finite())
            if diverged:
                self._diverged(epoch, step)
            if stop.set or due:  # as Ctrl-C saves it: the step it stands at, resumed exactly from there
                self.checkpoint("last.pt", epoch, step, self._global_stats())
                self.group.barrier()  # nobody leaves (or goes on) before rank 0 has saved
            if stop.set:
                return False
        if not checked:  # a source that does not know its steps: the epoch's end is read here
            (diverged,) = self.group.any(not self.stats.finite())
            if diverged:
                self._diverged(epoch, first + k)
        return True

    def _diverged(self, epoch: int, step: int) -> None:
        self.log.end("diverged", self.history)  # status.json, and the curves of the epochs before
        # Every worker found it at this step; the others wait for rank 0's files (drawing the
        # curves takes a while): one leaving first ends the group, and rank 0 with it, untold.
        self.group.barrier()
        raise diverged_error(epoch, step, self.config)  # no checkpoint: last.pt keeps the last good weights

    def end_epoch(self, epoch: int, started: float) -> None:
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this epoch trained at, before the scheduler's step
        if self.scheduler is not None:
            self.scheduler.step()
        train_stats = self._global_stats()
        val = self._validate()
        row = {
            "epoch": epoch + 1,
            "train_loss": train_stats.loss,
            "train_accuracy": train_stats.accuracy,
            "val_loss": val.loss,
            "val_accuracy": val.accuracy,
            "lr": lr,
            "seconds": time.perf_counter() - started,
            **({"val_miou": val.mean_iou} if self.dense else {}),  # after the usual columns of results.csv
        }
        self.history.append(row)
        self.stats = EpochStats()
        bad = self._skipped()
        better = improved(self.history, self.config.monitor)
        self.checkpoint("last.pt", epoch + 1, 0, self.stats)
        if better:
            self.checkpoint("best.pt", epoch + 1, 0, self.stats)
        if self.world.leader:  # after the checkpoint: a restart never repeats a row
            with self.stop.saving():
                self.log.epoch(self.history)
        self.display.end_epoch(row, better)
        if bad:  # under the epoch's row, which it is about (once it came before it, under the last one)
            self.display.line(f"skipped {plural(bad, 'unreadable image')} this epoch (named in "
                              f"{self.run_dir / 'skipped.txt'})")  # fmt: skip

    def _skipped(self) -> int:
        """The images a stream could not read this epoch (training and validation), all workers'."""
        if self.skipped is None:
            return 0
        (bad,) = self.group.sum([self.skipped.epoch_bad])
        self.skipped.epoch_bad = 0
        return int(bad)

    def _validate(self) -> EpochStats:
        """Each worker scores its own share of the validation split; the sums are added."""
        world = self.world
        # Batch norm's running statistics drift apart on each worker (DDP copies rank 0's at
        # the start of each step, not after the last): all validate with rank 0's, the saved ones.
        self.group.broadcast_buffers(self.model)
        k = len(self.data.classes)
        confusion = torch.zeros(k, k, dtype=torch.int64) if self.dense else None  # pixels, for the IoU
        local = evaluate_batches(self.model, self.val_set, k, confusion, world.rank, world.size)
        counts = confusion.flatten().tolist() if confusion is not None else []
        loss, correct, seen, *pairs = self.group.sum([local.loss_sum, local.correct, local.seen, *counts])
        stats = EpochStats(loss, int(correct), int(seen))
        if confusion is not None:
            stats.class_iou = iou([[int(v) for v in pairs[i * k : (i + 1) * k]] for i in range(k)])
        return stats


def _recipe(config: TrainConfig, fine_tuning: list[str] = (), done: int = 0) -> str:
    """The training recipe's extras in one line ("" when none is used); `fine_tuning`: the
    defaults a run from weights took (cnnctl.train.finetune); `done`: the epochs a resumed run
    has done (a warm-up it is past is not said)."""
    parts = [f"fine-tuning: {', '.join(fine_tuning)}"] if fine_tuning else []
    if config.augment != "none":
        parts.append(f"augment {config.augment}")
    if config.label_smoothing:
        parts.append(f"label smoothing {config.label_smoothing:g}")
    warming = config.warmup_epochs and done < config.warmup_epochs
    if warming and not any(said.startswith("warm-up") for said in fine_tuning):
        parts.append(f"warm-up {config.warmup_epochs} epoch{'s' if config.warmup_epochs != 1 else ''}")
    if config.patience is not None:
        parts.append(f"early stop after {plural(config.patience, 'epoch')} without a better {config.monitor}")
    elif config.monitor != "val_accuracy":
        parts.append(f"best.pt by {config.monitor}")
    return "recipe: " + "; ".join(parts) if parts else ""


def resumed_batch(state: dict, workers: int) -> int:
    """The per-worker batch that keeps a resumed run's images per step, with any number of
    workers: the same global batches, so the run goes on as it would have."""
    saved = Checkpoint.of(state)
    per_step = saved.config["batch_size"] * saved.workers
    if per_step % workers:
        raise CnnctlError.at(
            f"the run takes {per_step} images a step, which {workers} workers cannot share evenly",
            hint="resume with a number of workers that divides " + str(per_step),
        )
    return per_step // workers


# What may change when a run is resumed: none of them changes which images a step sees.


def _as_typed(value: Any) -> Any:
    """A setting's value as it is typed: per-channel numbers as `0.485,0.456,0.406`; None
    (--mean, --std: computed from the data) as `not given`."""
    if value is None:
        return "not given"
    return ",".join(f"{v:g}" for v in value) if isinstance(value, (tuple, list)) else value


def resumed_config(resume: str, overrides: dict[str, Any], state: dict | None = None) -> TrainConfig:
    """The settings a run was started with (its checkpoint's: `state`, where read already); only
    those of RESUMABLE may change (--epochs, --device...).

    The rest would not take effect (the optimizer's state carries the learning rate) or
    would break the replay (batch size, seed and data decide each epoch's batches).
    """
    # Folders absolute on both sides; checkpoints written before runs stored them so hold them as given.
    saved = absolute_data_paths((load_checkpoint(resume) if state is None else state)["config"])
    config = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
    if problems := checked_overrides(overrides):  # by the same rules as a new run's
        raise CnnctlError(problems)
    for name, value in absolute_data_paths(overrides).items():  # `--data ./imgs` is the folder the run has
        current = config.learning_rate if name == "lr" else getattr(config, name)
        if value is None or value == current:
            continue
        if name not in RESUMABLE:
            flag = BY_NAME[name].option
            if isinstance(value, bool):  # a flag: --stream or --no-stream, not `--stream False`
                was, asked = (flag if v else "--no-" + flag[2:] for v in (current, value))
                said, wanted = f"it was started with {was}", asked
            else:
                said, wanted = f"it was {_as_typed(current)}", f"{flag} {_as_typed(value)}"
            raise CnnctlError.at(
                f"{flag} cannot change when a run is resumed ({said})",
                hint=f"start a new run to train with {wanted}; --resume may change only "
                + ", ".join(BY_NAME[r].option for r in RESUMABLE),
            )
        if name == "epochs" and config.scheduler != "none":
            raise CnnctlError.at(
                f"--epochs cannot change a run with the {config.scheduler} schedule: it was planned for "
                f"{config.epochs} epochs",
                hint="start a new run",
            )
        setattr(config, name, value)
    return config


def _architecture(graph: Graph) -> dict:
    from ..render.views.summary import summary_json

    return summary_json(summarize(graph))
