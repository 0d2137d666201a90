"""The training loop: in-memory data batched by index, progress, checkpoints, resume, signals.

Small datasets live on the device as uint8 tensors; a batch is an index into them, not a
collation of samples. Each epoch's order comes from (seed, epoch) alone, so a run resumed
from a checkpoint, even one saved mid-epoch, replays exactly the batches it would have seen.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import worker
from ..analysis import summarize
from ..catalog import RUN_NETWORK, resolve
from ..errors import CnnctlError
from ..graph import Graph
from ..render.numbers import plural
from .augment import IGNORE, Augment
from .batches import Batches
from .checkpoint import (
    check_same_network,
    checkpoint_file,
    load_checkpoint,
    load_weights,
    network_record,
    save_checkpoint,
)
from .config import TrainConfig, absolute_data_paths
from .device import check_network_fits, memory_guard, resolve_device
from .fastpath import apply_backend_flags, compiled, decide
from .rundir import Claim, WriteFailed, hold, refuse_existing_run, run_dir_for, write_text
from .runlog import RunLog, check_logging, write_logs
from .runs import now
from .schedule import best_epoch, improved, make_scheduler, stops_early
from .world import World, check_sync_bn
from .world import group as _group

EVAL_BATCH = 512  # validation keeps no activations for backward: larger batches, fewer calls


class EpochStats:
    """Running loss and accuracy, over images (a classifier) or pixels (dense prediction:
    the mask pixels that are not IGNORE). The sums stay on the device: reading them waits
    for the device, so that happens only when they are shown or saved, not at every step."""

    def __init__(self, loss_sum: float = 0.0, correct: int = 0, seen: int = 0):
        self._loss: float | torch.Tensor = loss_sum
        self._correct: int | torch.Tensor = correct
        self._seen: int | torch.Tensor = seen

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """`loss` is the mean over what counts: images, or the valid pixels of masks."""
        if y.dim() == 1:
            counted: int | torch.Tensor = len(y)
            right = logits.argmax(1) == y
        else:
            valid = y != IGNORE
            counted = valid.sum()
            right = (logits.argmax(1) == y) & valid
        self._loss = self._loss + loss.detach() * counted
        self._correct = self._correct + right.sum()
        self._seen = self._seen + counted

    @property
    def seen(self) -> int:
        return int(self._seen)

    iou: list[float | None] | None = None  # per class, for dense prediction (see `iou`)

    @property
    def mean_iou(self) -> float:
        return mean_iou(self.iou or [])

    def finite(self) -> bool:
        return math.isfinite(self.loss_sum)

    @property
    def loss_sum(self) -> float:
        return float(self._loss)

    @property
    def correct(self) -> int:
        return int(self._correct)

    @property
    def loss(self) -> float:
        return self.loss_sum / self.seen if self.seen else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct / self.seen if self.seen else math.nan


def iou(confusion: list[list[int]]) -> list[float | None]:
    """Intersection over union of each class from a confusion matrix [true][predicted]:
    C[k][k] / (row k + column k - C[k][k]); None for a class neither present nor predicted."""
    out: list[float | None] = []
    for k, row in enumerate(confusion):
        union = sum(row) + sum(r[k] for r in confusion) - row[k]
        out.append(row[k] / union if union else None)
    return out


def mean_iou(ious: list[float | None]) -> float:
    """The mean over the classes that have an IoU (present or predicted); NaN when none has."""
    scored = [v for v in ious if v is not None]
    return sum(scored) / len(scored) if scored else math.nan


@dataclass
class RunResult:
    run_dir: Path
    status: int  # 0, or 128 + the signal that stopped it (INTERRUPTED for Ctrl-C)
    epochs_done: int
    best_val_accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)


class _StopFlag:
    """Set by SIGINT (and SIGTERM): the loop finishes its current step, saves and stops.

    Under torchrun, SIGTERM is the launcher tearing the group down because a worker failed;
    the other workers may be blocked waiting for the failed one, so that one exits at once.

    Once `finished` (every epoch saved), a signal has nothing left to stop and is ignored: a
    finished run exits 0 however late a Ctrl-C comes. With `then_exit` (the command line,
    which exits once the run ends) it stays ignored after the block, up to the exit itself.
    """

    def __init__(self, exit_on_sigterm: bool = False, then_exit: bool = False) -> None:
        self.set = False
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


def order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch: a function of the seed and the epoch only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params, lr, wd = list(model.parameters()), config.learning_rate, config.weight_decay
    cls, extra = {
        "sgd": (torch.optim.SGD, {"momentum": config.momentum}),
        "adam": (torch.optim.Adam, {}),
        "adamw": (torch.optim.AdamW, {}),
    }[config.optimizer]
    try:  # one fused kernel for all parameters: LeNet-5's Adam step takes a fifth of the time
        return cls(params, lr=lr, weight_decay=wd, fused=True, **extra)
    except (RuntimeError, TypeError, ValueError):  # a device or build without fused kernels
        return cls(params, lr=lr, weight_decay=wd, **extra)


def evaluate_batches(
    model,
    batches: Batches,
    batch_size: int,
    classes: int,
    confusion: torch.Tensor | None = None,
    part: tuple[int, int] | None = None,
) -> EpochStats:
    """Loss and accuracy over a split (or the images `part` = (start, stop) of it), on the
    first `classes` outputs; counts into `confusion[true, predicted]` when given (pixels,
    for dense prediction: IoU comes from it)."""
    stats = EpochStats()
    model.eval()
    begin, end = part or (0, len(batches))
    with torch.inference_mode():
        for start in range(begin, end, batch_size):
            index = torch.arange(start, min(start + batch_size, end), device=batches.index_device)
            x, y = batches.get(index)
            logits = model(x)[:, :classes].float()
            stats.add(F.cross_entropy(logits, y), logits, y)
            if confusion is not None:
                pairs = y * classes + logits.argmax(1)
                pairs = pairs[y != IGNORE].cpu()  # every pair, for a classifier
                confusion += torch.bincount(pairs, minlength=classes * classes).view(classes, classes)
    return stats


def dense_shape(graph: Graph) -> tuple[int, int, int] | None:
    """The output H, W, K of a network that scores every pixel (it ends in a volume larger
    than 1x1: dense prediction); None for a classifier."""
    out = tuple(graph.output_shape)
    return out if len(out) == 3 and out[0] * out[1] > 1 else None  # type: ignore[return-value]


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
            f"the network ends in the volume {'x'.join(map(str, out))}; a classifier ends in a vector of class scores",
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


def steps_in_epoch(n: int, position: int, batch: int, world: int) -> int:
    """Steps left in an epoch from `position` (images of its order already used).

    A step takes `batch` images on each of `world` workers. A last, partial step is left
    out (its images come in other epochs, whose orders differ): every step then has the
    same images whatever the number of workers, so 1 process x 64 and 2 workers x 32 train
    alike and a run resumes on any number of workers exactly; and batch norm never sees a
    batch of one image.
    """
    return max(0, n - position) // (batch * world)


def check_batch(images: int, batch: int, workers: int, graph: Graph) -> None:
    if steps_in_epoch(images, 0, batch, workers) == 0:
        times = f" x {workers} workers" if workers > 1 else ""
        raise CnnctlError.at(
            f"--batch-size {batch}{times} is more than the {images:,} training images",
            hint=f"use --batch-size {max(1, images // workers)} or less",
        )
    if batch == 1 and any(node.kind == "bn" for node in graph.nodes):
        raise CnnctlError.at(
            "batch norm needs at least 2 images per batch (--batch-size 1)", hint="use --batch-size 2 or more"
        )


def train(
    graph: Graph,
    config: TrainConfig,
    *,
    arch: str,
    resume: str | None = None,
    dataset=None,
    console=None,
    source: str | None = None,  # the ARCH as the user wrote it, for the "resume with" line
    stop_after_steps: int | None = None,  # tests: behave as if Ctrl-C came after this many steps
    world: World | None = None,
    then_exit: bool = False,  # the caller exits when the run ends: a finished run then ignores signals
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
    run_dir = run_dir_for(config.out, arch, resume)  # named once, here: the lock is taken on this folder
    if world.restarts and (run_dir / "last.pt").exists():
        resume = str(run_dir)  # torchrun restarted the group after a failure: continue from the newest checkpoint
    if resume is None:
        config.out = str(run_dir)
    source = arch if source is None else source  # "": `--resume RUN` alone, which names its network
    network = source  # the network as the user named it: a bundled name or a file
    if world.distributed and world.local_size == world.size:  # one machine: the same workers again
        source += f" --nproc-per-node {world.size}"
    try:
        with (
            _owned(run_dir, world, resume) as claim,
            _group(world, device) as group,
            memory_guard(device, config.batch_size),
        ):
            run = _Run(
                graph, config, world, group, device, arch, resume, run_dir, dataset, console, source, network, claim
            )
            with run.log:  # status.json says how the run ended; curves.png is drawn (cnnctl.train.runlog)
                return run.log.ended(run.run(stop_after_steps, then_exit))
    except WriteFailed as exc:  # a full disk, say: what was saved is kept, and the message says how to go on
        raise exc.error(source) from None


def _owned(run_dir: Path, world: World, resume: str | None) -> contextlib.AbstractContextManager[Claim | None]:
    """The run's hold on its folder, for the whole run (the Claim it begins once its checks
    have passed). Only rank 0 writes there, so only it holds it (unless cnnctl's launcher
    holds it for its workers: see rundir.hold)."""
    if not world.leader or (resume is not None and not checkpoint_file(resume).is_file()):
        return contextlib.nullcontext()  # nothing to resume: load_checkpoint says why
    return hold(run_dir, new=resume is None)


class _Run:
    def __init__(
        self, graph, config, world, group, device, arch, resume, run_dir, dataset, console, source, network, claim
    ):
        from ..backend import to_torch
        from ..data import load_data  # torch-side module: imported with the trainer only
        from ..render.progress import TrainDisplay, silent_console

        self.graph, self.config, self.world, self.group, self.arch = graph, config, world, group, arch
        self.run_dir, self.source, self.network = run_dir, source, network
        state = load_checkpoint(resume) if resume else None
        if state is not None:  # another network is told before its data is made (vgg16's 224x224 shapes)
            check_same_network(state, graph, checkpoint_file(resume), "train")
        torch.manual_seed(config.seed)
        dense = dense_shape(graph)  # a network scoring every pixel trains on masks
        data = dataset or load_data(
            config.data, graph.input_shape, data_dir=config.data_dir, val_split=config.val_split, seed=config.seed,
            masks=dense,
        )  # fmt: skip
        check_classes(graph, data.classes)
        self.data = data
        self.dense = dense is not None
        self.fast = decide(device, config.amp, config.compile, config.threads)
        apply_backend_flags(self.fast)
        self.model = to_torch(graph, logits=True)
        notes = list(self.fast.notes)
        if note := unused_outputs(graph, data.classes):
            notes.append(note)
        if config.sync_bn:
            notes.append(self._sync_batch_norm(device))
        self.model = self.model.to(device, memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = make_scheduler(self.optimizer, config)
        self.scaler = _grad_scaler(device, self.fast.grad_scaler)
        if state is not None:
            batch = resumed_batch(state, world.size)
            if batch != config.batch_size:
                where = (
                    f"on {world.size} workers: batch {batch} per worker"
                    if world.distributed
                    else f"in 1 process: batch {batch}"
                )
                notes.append(f"resumed {where} keeps the run's {batch * world.size} images a step")
            config.batch_size = batch
        self.train_set = Batches(data.train, data.mean, data.std, device)
        self.val_set = Batches(data.val, data.mean, data.std, device)
        check_batch(len(self.train_set), config.batch_size, world.size, graph)
        if config.patience is not None and not data.val_from:
            raise CnnctlError.at(
                "--patience stops on the validation split's progress, and this run has none (--val-split 0)",
                hint="hold some images out (--val-split 0.1), or train without --patience",
            )
        black = -self.train_set.mean / self.train_set.std  # a zero pixel, normalised: what a crop pads with
        self.augment = Augment(config.augment, config.seed, black)
        if recipe := _recipe(config):
            notes.append(recipe)

        self.epoch, self.position, self.stats, self.history, self.best = 0, 0, EpochStats(), [], -1.0
        self.epoch_seconds = 0.0  # of the epoch a resumed run goes on with, before it stopped
        self.epoch_started = time.perf_counter()
        self.stop = _StopFlag()  # run() installs the one the signals reach
        if claim is not None:  # every check has passed: the run writes in its folder from here on
            claim.begin()
        if state is not None:
            self._restore(state, resume)
        elif world.leader:
            self._start_folder()
        else:  # rank 0 checked under the folder's lock (rundir.hold)
            refuse_existing_run(run_dir)

        if world.rank:  # its own dropout masks: a stream of its own, from the seed, rank and place
            torch.manual_seed(hash((config.seed, world.rank, self.epoch, self.position)) & 0xFFFF_FFFF)
        self.step_model = self._step_module(device)
        # Only rank 0 prints; the others keep the same display, writing nowhere.
        self.display = TrainDisplay(
            console if world.leader else silent_console(), config, device, data, self.run_dir,
            resumed=state is not None, world=world.size,
        )  # fmt: skip
        if world.restarts:
            self.display.line(
                f"restart {world.restarts} of {world.max_restarts} after a worker failed: "
                + (f"continuing from {Path(resume) / 'last.pt'}" if resume else "no checkpoint yet, starting over")
            )
        self.display.line(self.fast.describe(config.optimizer, bool(self.optimizer.defaults.get("fused"))))
        for note in notes:
            self.display.line(note)
        # metrics.jsonl, results.csv, TensorBoard, status.json, curves.png (rank 0 only)
        self.log = RunLog(run_dir, config, self.history, leader=world.leader, say=self.display.line, network=arch)

    def _step_module(self, device: torch.device) -> torch.nn.Module:
        """What the training step calls: the model, in DDP with several workers, compiled if asked."""
        module: torch.nn.Module = self.model
        if self.world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            module = DistributedDataParallel(module, device_ids=ids, gradient_as_bucket_view=True)
        return compiled(module) if self.fast.compile else module

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
            source = Path(resolve(self.network)[0])
        except CnnctlError:  # a network given as text, not a file (cnnctl.train from Python)
            source = None
        if source is not None and source.is_file():
            write_text(self.run_dir / RUN_NETWORK, source.read_text())
        h_w_c = "x".join(map(str, self.graph.input_shape))
        # `started`: the order of `cnnctl runs`, which nothing done to the folder later changes
        settings = self.config.as_dict() | {"workers": self.world.size, "input": h_w_c, "started": now()}
        write_text(self.run_dir / "config.json", json.dumps(settings, indent=2) + "\n")

    def _restore(self, state: dict, resume: str) -> None:
        load_weights(self.model, state, resume, self.graph.name)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.position = state["epoch"], state["position"]
        self.epoch_seconds = float(state.get("epoch_seconds", 0.0))
        if self.world.leader:  # the run's totals so far; the other workers start from zero
            self.stats = EpochStats(**state["stats"])
        self.history, self.best = state["history"], state["best"]
        torch.set_rng_state(state["rng"])
        if self.world.leader:  # a write that failed after the checkpoint (a full disk) is made good here
            write_logs(self.run_dir, self.history)

    def _global_stats(self) -> EpochStats:
        loss, correct, seen = self.group.sum([self.stats.loss_sum, self.stats.correct, self.stats.seen])
        return EpochStats(loss, int(correct), int(seen))

    def checkpoint(self, name: str, epoch: int, position: int, stats: EpochStats) -> None:
        """Rank 0 writes; the model's own state_dict, not DDP's (no `module.` prefixes)."""
        if not self.world.leader:
            return
        with self.stop.saving():
            self._save(name, epoch, position, stats)

    def _save(self, name: str, epoch: int, position: int, stats: EpochStats) -> None:
        save_checkpoint(
            self.run_dir / name,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "scaler": self.scaler.state_dict() if self.fast.grad_scaler else None,
                "epoch": epoch,
                "position": position,
                "stats": {"loss_sum": stats.loss_sum, "correct": stats.correct, "seen": stats.seen},
                "history": self.history,
                "best": self.best,
                "epoch_seconds": time.perf_counter() - self.epoch_started if position else 0.0,
                "rng": torch.get_rng_state(),
                "config": self.config.as_dict() | {"lr": self.config.lr},
                "arch": self.arch,
                "classes": list(self.data.classes),
                "mean": list(self.data.mean),
                "std": list(self.data.std),
                "workers": self.world.size,
                "network": network_record(self.graph),
            },
        )

    def run(self, stop_after_steps: int | None, then_exit: bool = False) -> RunResult:
        config = self.config
        self.fault, self.steps_done, self.stop_after = _test_fault(self.world), 0, stop_after_steps
        with _StopFlag(exit_on_sigterm=worker.under_launcher(), then_exit=then_exit) as stop:
            self.stop = stop
            try:
                early = stops_early(self.history, config)  # a resumed run that had already stopped early
                for epoch in range(self.epoch, config.epochs):
                    if early:
                        break
                    # an epoch resumed part-way counts the seconds it had before the stop too
                    before = self.epoch_seconds if epoch == self.epoch else 0.0
                    started = self.epoch_started = time.perf_counter() - before
                    if not self._train_epoch(epoch):
                        self.display.interrupted(self.run_dir, self.source)
                        return RunResult(self.run_dir, stop.status, epoch, self.best, self.history)
                    self.end_epoch(epoch, started)
                    early = stops_early(self.history, config)
                stop.finished = True  # every epoch is saved: a signal from here on changes nothing
                self.group.barrier()
                if early:
                    best = self.history[best_epoch(self.history, config.monitor)]
                    self.display.stopped_early(len(self.history), config.monitor, config.patience, best)
                self.display.finish(self.history, self.best, stopped_early=early)
            except BaseException:  # a second Ctrl-C, a diverged loss, a dead peer: the bar must not stay behind
                self.display.abandon()
                raise
        return RunResult(self.run_dir, 0, len(self.history), self.best, self.history)

    def _train_epoch(self, epoch: int) -> bool:
        """The steps of one epoch, from where the run stands; False when a signal stopped it
        (last.pt then holds the step it stopped at)."""
        config, world, stop = self.config, self.world, self.stop
        batch, per_step = config.batch_size, config.batch_size * world.size
        # On a GPU, reading the loss waits for the device: check it for NaN every few steps only.
        check_every = 25 if self.fast.device.type == "cuda" else 1
        self.step_model.train()
        perm = order(len(self.train_set), config.seed, epoch).to(self.train_set.index_device)
        position = self.position if epoch == self.epoch else 0
        left = steps_in_epoch(len(self.train_set), position, batch, world.size)
        first = position // per_step
        self.display.start_epoch(epoch, first + left, first)
        for k in range(left):
            at = position + k * per_step  # the global batch's place in the epoch's order
            start = at + world.rank * batch
            x, y = self.train_set.get(perm[start : start + batch])
            if self.augment:
                x, y = self.augment(x, y, epoch, at, per_step, world.rank * batch)
            with self.fast.autocast():
                logits = self.step_model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.stats.add(loss.detach(), logits.detach(), y)
            self.display.step(first + k + 1, self.stats, len(y) * world.size)
            self.steps_done += 1
            if self.fault == self.steps_done:
                os._exit(1)  # tests: a worker dies without warning
            if self.stop_after is not None and self.steps_done >= self.stop_after:
                stop.set = True
            # The epoch's loss sum turns NaN with any bad step; it is read (waiting for the
            # device) every few steps, at the epoch's end and before any checkpoint.
            checked = (k + 1) % check_every == 0 or k == left - 1
            stop.set, diverged = self.group.any(stop.set, checked and not self.stats.finite())
            if stop.set and not checked:
                (diverged,) = self.group.any(not self.stats.finite())
            if diverged:
                self.log.end("diverged", self.history)  # status.json, and the curves of the epochs before
                # No checkpoint: last.pt keeps the last good weights, not these.
                raise CnnctlError.at(
                    f"the loss stopped being a finite number in epoch {epoch + 1} (by step {first + k + 1}): "
                    "training diverged",
                    hint=f"start again with a lower --lr (now {config.learning_rate:g})"
                    + (", or --optimizer adam" if config.optimizer != "adam" else ""),
                )
            if stop.set:
                self.checkpoint("last.pt", epoch, position + (k + 1) * per_step, self._global_stats())
                self.group.barrier()  # nobody leaves before rank 0 has saved
                return False
        return True

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
        better = improved(self.history, self.config.monitor)
        if val.accuracy == val.accuracy:  # NaN: no validation
            self.best = max(self.best, val.accuracy)
        self.checkpoint("last.pt", epoch + 1, 0, self.stats)
        if better:
            self.checkpoint("best.pt", epoch + 1, 0, self.stats)
        if self.world.leader:  # after the checkpoint: a restart never repeats a row
            with self.stop.saving():
                self.log.epoch(self.history)
        self.display.end_epoch(row, better)

    def _validate(self) -> EpochStats:
        """Each worker scores its own share of the validation split; the sums are added."""
        n, world = len(self.val_set), self.world
        # Batch norm's running statistics drift apart on each worker (DDP copies rank 0's at
        # the start of each step, not after the last): all validate with rank 0's, the saved ones.
        self.group.broadcast_buffers(self.model)
        part = (n * world.rank // world.size, n * (world.rank + 1) // world.size)
        k = len(self.data.classes)
        confusion = torch.zeros(k, k, dtype=torch.int64) if self.dense else None  # pixels, for the IoU
        local = evaluate_batches(self.model, self.val_set, EVAL_BATCH, k, confusion, part=part)
        counts = confusion.flatten().tolist() if confusion is not None else []
        loss, correct, seen, *pairs = self.group.sum([local.loss_sum, local.correct, local.seen, *counts])
        stats = EpochStats(loss, int(correct), int(seen))
        if confusion is not None:
            stats.iou = iou([[int(v) for v in pairs[i * k : (i + 1) * k]] for i in range(k)])
        return stats


def _recipe(config: TrainConfig) -> str:
    """The training recipe's extras in one line ("" when none is used)."""
    parts = []
    if config.augment != "none":
        parts.append(f"augment {config.augment}")
    if config.label_smoothing:
        parts.append(f"label smoothing {config.label_smoothing:g}")
    if config.warmup_epochs:
        parts.append(f"warm-up {config.warmup_epochs} epoch{'s' if config.warmup_epochs != 1 else ''}")
    if config.patience is not None:
        parts.append(f"early stop after {plural(config.patience, 'epoch')} without a better {config.monitor}")
    elif config.monitor != "val_accuracy":
        parts.append(f"best.pt by {config.monitor}")
    return "recipe: " + "; ".join(parts) if parts else ""


def resumed_batch(state: dict, workers: int) -> int:
    """The per-worker batch that keeps a resumed run's images per step, with any number of
    workers: the same global batches, so the run goes on as it would have."""
    per_step = state["config"]["batch_size"] * state.get("workers", 1)
    if per_step % workers:
        raise CnnctlError.at(
            f"the run takes {per_step} images a step, which {workers} workers cannot share evenly",
            hint="resume with a number of workers that divides " + str(per_step),
        )
    return per_step // workers


def _grad_scaler(device: torch.device, enabled: bool):
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # PyTorch before 2.3


def _test_fault(world: World) -> int | None:
    """CNNCTL_TEST_FAULT=RANK:STEP makes that worker die at that step of the first attempt,
    for the test of torchrun's restart; never set outside the tests."""
    rank, _, step = os.environ.get("CNNCTL_TEST_FAULT", "").partition(":")
    if rank.isdigit() and step.isdigit() and int(rank) == world.rank and world.restarts == 0:
        return int(step)
    return None


# What may change when a run is resumed: none of them changes which images a step sees.
from .settings import RESUMABLE  # noqa: E402 (its row in the settings table says so)


def resumed_config(resume: str, overrides: dict[str, Any]) -> TrainConfig:
    """The settings a run was started with; only those of RESUMABLE may change (--epochs, --device...).

    The rest would not take effect (the optimizer's state carries the learning rate) or
    would break the replay (batch size, seed and data decide each epoch's batches).
    """
    # Folders absolute on both sides; checkpoints written before runs stored them so hold them as given.
    saved = absolute_data_paths(load_checkpoint(resume)["config"])
    config = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
    for name, value in absolute_data_paths(overrides).items():  # `--data ./imgs` is the folder the run has
        current = config.learning_rate if name == "lr" else getattr(config, name)
        if value is None or value == current:
            continue
        if name not in RESUMABLE:
            flag = "--" + name.replace("_", "-")
            raise CnnctlError.at(
                f"{flag} cannot change when a run is resumed (it was {current})",
                hint=f"start a new run to train with {flag} {value}; --resume may change only "
                + ", ".join("--" + r for r in RESUMABLE),
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
    from ..render.views import summary_json

    return summary_json(summarize(graph))
