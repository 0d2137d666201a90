"""A training run set up: its data, model, optimizer and batch sources built into a plain
record (Run), in named steps, in an order that matters: the global random state is seeded
before the data and the model's first weights are drawn, and every check passes before the
run writes in its folder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import CnnctlError
from ..graph import Graph
from ..graph.outputs import dense_shape
from .balance import balance
from .checkpoint import Checkpoint, check_same_network, checkpoint_file, load_checkpoint, resume_settings
from .config import TrainConfig
from .data_checks import check_batch, check_classes, dropped_note
from .fastpath import FastPath, apply_backend_flags, decide, with_cuda_graphs
from .hooks import StepHook
from .metrics import EpochStats
from .position import Position, Restored, restore, resumed_at
from .resume_config import resumed_batch
from .run_data import load_data, name_unreadable, unreadable_note
from .run_head import Head, anew, new_head, resumed_head
from .run_model import Model, build_model, normalisation_said, weights_source
from .run_notes import data_caveats, heads_loss_note, network_said, recipe, unused_head_note
from .rundir import Claim, refuse_existing_run
from .runlog import RunLog, write_logs
from .saving import config_again, start_folder
from .schedule import make_scheduler
from .sources import Sources, make_sources
from .step import TrainStep, grad_scaler, make_optimizer, step_module
from .stop_flag import StopRequest
from .weights_from import weights_said
from .world import Group, World

if TYPE_CHECKING:
    from rich.console import Console

    from ..data import DataSplits
    from ..render.progress import TrainDisplay


@dataclass
class Run:
    """What a run's epochs read (cnnctl.train.epoch), and the running state they keep."""

    graph: Graph
    config: TrainConfig
    world: World
    group: Group
    run_dir: Path
    network_title: str  # the name the run knows its network by (Graph.title, or a resumed run's record)
    network_source: str  # the ARCH as the user wrote it (a file, a bundled name), for the "resume with" line
    relaunch: str  # the launch options the "resume with" line needs
    data: DataSplits
    dense: bool  # a network scoring every pixel, trained on masks
    model: torch.nn.Module
    frozen_norms: list[torch.nn.Module]
    optimizer: Any
    scheduler: Any
    scaler: Any
    fast: FastPath
    train_step: TrainStep
    sources: Sources  # the loop's only view of the data
    display: TrainDisplay
    log: RunLog  # metrics.jsonl, results.csv, TensorBoard, status.json, curves.png (rank 0 only)
    begun: Position  # where this run (or resume) began
    stats: EpochStats  # the running sums of the epoch the run is in
    history: list[dict[str, Any]]  # a row per epoch done
    class_counts: list[int]  # the training split's examples of each class (cnnctl.train.balance)
    class_weights: list[float] | None  # the loss's, by --class-weights balanced; None: unweighted
    epoch_started: float = field(default_factory=time.perf_counter)
    steps_done: int = 0  # by this process, counted for the hooks
    stop: StopRequest = field(default_factory=StopRequest)  # the loop installs the one the signals reach
    hooks: list[StepHook] = field(default_factory=list)


@dataclass
class Resuming:
    """The checkpoint a run resumes from, and the settings it was started with."""

    state: dict | None = None
    settings: dict = field(default_factory=dict)  # its config.json as read, or as told from its checkpoint
    told: str | None = None  # the note that says it was told so (config.json lost), if it was


def set_up(
    graph: Graph, config: TrainConfig, world: World, group: Group, device: torch.device, network_title: str,
    resume: str | None, run_dir: Path, dataset: DataSplits | None, console: Console | None, network_source: str,
    claim: Claim | None,
    resumed: dict | None = None,  # resume's checkpoint, where the caller read it already
    relaunch: str = "",  # the launch options the "resume with" line needs
) -> Run:  # fmt: skip
    """The run, set up; `network_source`: the network as the user named it (a bundled name or a
    file; "" for `--resume RUN` alone, which names its network); `network_title`: the name the
    run knows it by."""
    named = network_source or network_title  # what a head made anew is built again from
    resuming, graph, head = checkpoint_to_resume(resume, resumed, run_dir, graph, network_source, network_title)
    state, fresh = resuming.state, resuming.state is None
    weights_from = weights_source(graph, config, fresh)
    torch.manual_seed(config.seed)
    data, loader_workers = load_data(config, graph, world, run_dir, dataset, state, resume)
    data.notes += data_caveats(data)  # said as warnings, given in train's JSON
    dense = dense_shape(graph) is not None
    if fresh:  # a head for the data's classes: weights for others, or a network written for others
        graph, head, said = new_head(graph, len(data.classes), config, dense, named)
        data.notes += said
    data.notes += unreadable_note(data, run_dir)
    check_classes(graph, data.classes)
    class_counts, class_weights, said = balance(
        list(data.classes), data.train.y, config.class_weights == "balanced", dense
    )
    data.notes += said
    fast = fast_path(config, device, group, graph, world, data, state)
    model = build_model(graph, config, data, head, weights_from, world, device, run_dir, fresh)
    data.notes += [model.head_note] if model.head_note else []
    # how the input is normalised, said by every run (a resumed one's statistics are its checkpoint's)
    notes = [*fast.notes, *model.notes, normalisation_said(config.weights if fresh else "", data)]
    fine_tuning = fine_tuning_defaults(config, fresh, graph, model.head, data)
    optimizer = make_optimizer(model.module, config, anew(graph, model.head))
    scheduler, scaler = make_scheduler(optimizer, config), grad_scaler(device, fast.grad_scaler)
    if state is not None:
        notes += resumed_batch_notes(state, world, config)
    notes += [resuming.told] if resuming.told is not None else []
    sources = batch_sources(data, config, graph, device, loader_workers, run_dir, world)
    recipe_at = len(notes)  # the recipe is said here, once the epoch the run stands at is known
    notes += heads_loss_note(graph)
    if state is not None:  # loaded, every check of it passed, before anything is written
        restored = restore(state, resume, model.module, optimizer, scheduler, scaler, graph, world.leader)
        if sources.skipped is not None:  # the epoch's line counts those found before it stopped too
            sources.skipped.epoch_new = restored.skipped
    else:
        restored = Restored(Position(), EpochStats())
    begin_folder(
        claim,
        resuming,
        run_dir,
        graph,
        config,
        world,
        network_source,
        model,
        weights_from,
        data,
        restored,
        used_settings(fast, data),
    )
    if world.rank:  # its own dropout masks: a stream of its own, from the seed, rank and place
        torch.manual_seed(hash((config.seed, world.rank, restored.at.epoch, restored.at.step)) & 0xFFFF_FFFF)
    if said := recipe(config, fine_tuning, restored.at.epoch):
        notes.insert(recipe_at, said)
    if state is not None and restored.at.epoch < config.epochs:  # where it goes on from, said once
        steps = sources.train.steps_per_epoch(config.batch_size, world.size)
        notes.insert(0, resumed_at(resume, restored.at, steps))
    train_step = TrainStep(
        step_module(model.module, world, device, fast.compile, fast.cuda_graphs),
        optimizer, scaler, fast, config.label_smoothing, tuple(h.weight for h in graph.heads),
        None if class_weights is None else torch.tensor(class_weights, device=device),
    )  # fmt: skip
    display = start_display(console, config, device, world, data, run_dir, fast, optimizer, sources, resume,
                            state is not None, notes, network_said(network_title, graph))  # fmt: skip
    log = RunLog(run_dir, config, restored.history, leader=world.leader, say=display.line, network=network_title,
                 resumed=state is not None)  # fmt: skip
    return Run(
        graph=graph, config=config, world=world, group=group, run_dir=run_dir, network_title=network_title,
        network_source=network_source,
        relaunch=relaunch, data=data, dense=dense, model=model.module, frozen_norms=model.frozen_norms,
        optimizer=optimizer, scheduler=scheduler, scaler=scaler, fast=fast, train_step=train_step, sources=sources,
        display=display, log=log, begun=restored.at, stats=restored.stats, history=restored.history,
        class_counts=class_counts, class_weights=class_weights,
    )  # fmt: skip


def used_settings(fast: FastPath, data: DataSplits) -> dict[str, Any]:
    """What the run uses where a setting leaves it to the run (`--device auto`, `--amp` unset, no --mean):
    the device (`cpu`, `cuda:0`), whether autocast runs, the normalisation and where it came from
    (data.stats.Stats.origin). config.json and train's JSON record them under the settings' names
    (saving.start_folder keeps what was asked beside them as `device_asked` and the like)."""
    return {"device": str(fast.device), "amp": fast.amp_dtype is not None, "mean": list(data.mean),
            "std": list(data.std), "normalisation_from": data.stats_from}  # fmt: skip


def checkpoint_to_resume(
    resume: str | None, resumed: dict | None, run_dir: Path, graph: Graph, network_source: str, network_title: str
) -> tuple[Resuming, Graph, Head]:
    """The checkpoint to resume from (`resumed`, where the caller read it already), and the
    network with the head the run made; another network is told before its data is made
    (vgg16's 224x224 shapes)."""
    if not resume:
        return Resuming(), graph, Head()
    from ..run_marks import recorded_head
    from .run_head import rebuilt

    state = load_checkpoint(resume) if resumed is None else resumed
    named = network_source or network_title
    # The network as given (ARCH), or, for `--resume RUN` alone (no network named), the run's network.yaml.
    build = (lambda widths: rebuilt(named, graph, widths) if widths else graph) if network_source else None
    settings, told = resume_settings(run_dir, state, build)
    graph, head = resumed_head(graph, recorded_head(settings), named)
    check_same_network(state, graph, checkpoint_file(resume), "train")
    return Resuming(state, settings, told), graph, head


def fast_path(
    config: TrainConfig, device: torch.device, group: Group, graph: Graph, world: World, data: DataSplits,
    state: dict | None,
) -> FastPath:  # fmt: skip
    """amp, compile, cudnn and the CPU threads, decided and applied; the thread count chosen is
    recorded in `config` (config.json, checkpoints) for a resume, which replays it."""
    recorded = Checkpoint.of(state).config.get("threads") if state is not None else None
    fast = same_threads(decide(device, config.amp, config.compile, config.threads, recorded), group)
    config.threads = fast.threads
    fast = with_cuda_graphs(fast, config.cuda_graphs, graph, config.batch_size, world.distributed,
                            bool(data.streamed))  # fmt: skip
    apply_backend_flags(fast)
    return fast


def same_threads(fast: FastPath, group: Group) -> FastPath:
    """`fast` with rank 0's CPU thread count on every worker of a data-parallel run. The run
    records one count (config.json, checkpoints), which a resume replays on every worker; a
    count each chose alone (its machine's OMP_NUM_THREADS, or its idle cores) could differ
    from it. The other workers print nothing: the reason said is rank 0's."""
    threads = group.from_leader(fast.threads)
    return fast if threads == fast.threads else replace(fast, threads=threads, threads_why="rank 0's count")


def fine_tuning_defaults(config: TrainConfig, fresh: bool, graph: Graph, head: Head, data: DataSplits) -> list[str]:
    """The recipe's defaults a run from weights takes, filled into `config` (finetune.apply_defaults);
    a --head or --head-lr-factor no head used is said, not silently ignored."""
    from .finetune import apply_defaults

    # Given to a new run: a resumed one replays its checkpoint's settings, the head factor among
    # them (apply_defaults filled it in as the run started), which nobody gave this time.
    factor_given = fresh and config.head_lr_factor is not None
    # From scratch every layer starts from random weights: a head made for the data has no reason to learn faster.
    from_weights = fresh and bool(config.weights)
    fine_tuning = apply_defaults(config, from_weights, from_weights and bool(anew(graph, head)))
    if fresh and head.layer is None and (config.head or factor_given):
        data.notes.append(unused_head_note(bool(config.head), factor_given))
    return fine_tuning


def resumed_batch_notes(state: dict, world: World, config: TrainConfig) -> list[str]:
    """The per-worker batch that keeps the run's images per step on this many workers, set in
    `config`; said where it changed."""
    batch = resumed_batch(state, world.size)
    notes = []
    if batch != config.batch_size:
        per_worker = f"batch {batch} per worker"
        where = f"on {world.size} workers: {per_worker}" if world.distributed else f"in 1 process: batch {batch}"
        notes.append(f"resumed {where} keeps the run's {batch * world.size} images a step")
    config.batch_size = batch
    return notes


def batch_sources(
    data: DataSplits, config: TrainConfig, graph: Graph, device: torch.device, loader_workers: int, run_dir: Path,
    world: World,
) -> Sources:  # fmt: skip
    """The batch sources, the loop's only view of the data, and the augmentation (make_sources),
    checked against the batch size; their notes said with the data's."""
    sources = make_sources(data, config, graph, device, loader_workers, run_dir)
    if sources.skipped is not None:  # rank 0 names every worker's unreadable images (epoch.judge_skipped)
        sources.skipped.writer = world.leader
    data.notes += sources.notes
    check_batch(sources.train, config.batch_size, world.size, graph)
    if note := dropped_note(sources.train, config.batch_size, world.size):
        data.notes.append(note)
    if config.patience is not None and not data.val_from:
        raise CnnctlError.at(
            "--patience stops on the validation split's progress, and this run has none (--val-split 0)",
            hint="hold some images out (--val-split 0.1), or train without --patience",
        )
    return sources


def begin_folder(
    claim: Claim | None, resuming: Resuming, run_dir: Path, graph: Graph, config: TrainConfig, world: World,
    network_source: str, model: Model, weights_from: str | None, data: DataSplits, restored: Restored,
    used: dict[str, Any],
) -> None:  # fmt: skip
    """Every check has passed: the run writes in its folder from here on. A resumed run's logs
    are made good (a write that failed after the checkpoint: a full disk), a new run's first
    files written; rank 0 checked the folder under its lock (rundir.hold), the others check it."""
    if claim is not None:
        claim.begin()
    if resuming.state is not None:
        if world.leader:
            write_logs(run_dir, restored.history)
            config_again(run_dir, resuming.settings, resuming.told, config.threads)
    elif world.leader:
        said = weights_said(config.weights, weights_from, graph.name)
        from ..render.views.weights import weights_file  # the table `cnnctl weights` shows

        weights = weights_file(model.placement, said) if model.placement is not None else None
        start_folder(run_dir, graph, config, world.size, network_source, model.head.layer, weights, data.listing, used)
    else:
        refuse_existing_run(run_dir)
    if world.leader and data.unreadable:  # held in memory: named once the folder is the run's
        name_unreadable(data, run_dir)


def start_display(
    console: Console | None, config: TrainConfig, device: torch.device, world: World, data: DataSplits,
    run_dir: Path, fast: FastPath, optimizer: Any, sources: Sources, resume: str | None, resumed: bool,
    notes: list[str], network: str = "",
) -> TrainDisplay:  # fmt: skip
    """The run's display, its notes said. Only rank 0 prints; the others keep the same display,
    writing nowhere."""
    from ..render.progress import TrainDisplay, silent_console

    display = TrainDisplay(
        console if world.leader else silent_console(), config, device, data, run_dir, resumed=resumed,
        world=world.size, network=network,
    )  # fmt: skip
    if world.restarts:
        display.line(
            f"restart {world.restarts} of {world.max_restarts} after a worker failed: "
            + (f"continuing from {Path(resume) / 'last.pt'}" if resume else "no checkpoint yet, starting over")
        )
    display.line(fast.describe(config.optimizer, bool(optimizer.defaults.get("fused")), sources.decoding))
    for note in notes:
        display.line(note)
    return display
