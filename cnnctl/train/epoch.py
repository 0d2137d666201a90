"""One epoch of a run: its steps from where the run stands (the NaN policy read between them,
a signal or a hook stopping it at a step), then its end: the validation, the epoch's row,
its checkpoints and log."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

from ..data.loader import SKIPPED
from ..every import Every
from ..words import plural
from .divergence import check_every, diverged_error
from .metrics import EpochStats, evaluate_batches, iou
from .saving import checkpoint
from .schedule import improved

if TYPE_CHECKING:
    from .run_setup import Run


def train_epoch(run: Run, epoch: int) -> bool:
    """The steps of one epoch, from where the run stands; False when a signal (or a
    hook) stopped it: last.pt then holds the step it stopped at."""
    config, world, stop, group = run.config, run.world, run.stop, run.group
    batch = config.batch_size
    every = check_every(run.fast.device)
    run.train_step.module.train()
    for norm in run.frozen_norms:  # --freeze: their statistics stay as trained
        norm.eval()
    first = run.begun.step if epoch == run.begun.epoch else 0  # steps done before a resume
    total = run.sources.train.steps_per_epoch(batch, world.size)
    left = None if total is None else total - first
    run.display.start_epoch(epoch, total, first)
    checked = True
    saves = Every(config.save_every) if config.save_every else None  # --save-every: last.pt mid-epoch too
    for k, (x, y) in enumerate(run.sources.training(epoch, first, batch, world.rank, world.size), 1):
        step = first + k  # steps done in this epoch once this one is
        loss, logits = run.train_step(x, y)
        run.stats.add(loss, logits, y, run.train_step.class_weights)
        run.display.step(step, run.stats, len(y) * world.size)
        run.steps_done += 1
        if any([hook(run.steps_done) for hook in run.hooks]):  # a list: every hook is called
            stop.set = True
        # The NaN policy (cnnctl.train.divergence): read every few steps, at the epoch's
        # end and before any checkpoint.
        checked = k % every == 0 or k == left
        # Due on any worker (a time differs between them) is due on all: the save sums their stats.
        due = saves is not None and k != left and saves.due(step)  # the epoch's end saves anyway
        stop.set, diverged_now, due = group.any(stop.set, checked and not run.stats.finite(), due)
        if (stop.set or due) and not checked:
            (diverged_now,) = group.any(not run.stats.finite())
        if diverged_now:
            diverged(run, epoch, step)
        if stop.set or due:  # as Ctrl-C saves it: the step it stands at, resumed exactly from there
            checkpoint(run, "last.pt", epoch, step, global_stats(run), epoch_skipped(run))
            group.barrier()  # nobody leaves (or goes on) before rank 0 has saved
            if saves is not None:  # saved together: every worker's time counts again from here
                saves.start()
        if stop.set:
            return False
    if not checked and group.any(not run.stats.finite())[0]:  # a source that does not know its steps
        diverged(run, epoch, first + k)  # the epoch's end is read here
    return True


def diverged(run: Run, epoch: int, step: int) -> None:
    """The run ends at this step: its loss is not a number (cnnctl.train.divergence)."""
    run.log.end("diverged", run.history)  # status.json, and the curves of the epochs before
    # Every worker found it at this step; the others wait for rank 0's files (drawing the
    # curves takes a while): one leaving first ends the group, and rank 0 with it, untold.
    run.group.barrier()
    raise diverged_error(epoch, step, run.config)  # no checkpoint: last.pt keeps the last good weights


def global_stats(run: Run) -> EpochStats:
    """The epoch's running sums over every worker."""
    stats = run.stats
    loss, correct, seen, weight = run.group.sum([stats.loss_sum, stats.correct, stats.seen, stats.weight])
    return EpochStats(loss, int(correct), int(seen), weight)


def end_epoch(run: Run, epoch: int, started: float) -> None:
    """The epoch's row (validated), its checkpoints (last.pt; best.pt where it is better by
    --monitor), its log, and its line."""
    lr = run.optimizer.param_groups[0]["lr"]  # the rate this epoch trained at, before the scheduler's step
    if run.scheduler is not None:
        run.scheduler.step()
    train_stats = global_stats(run)
    val = validate(run)
    row = {
        "epoch": epoch + 1,
        "train_loss": train_stats.loss,
        "train_accuracy": train_stats.accuracy,
        "val_loss": val.loss,
        "val_accuracy": val.accuracy,
        "lr": lr,
        "seconds": time.perf_counter() - started,
        **({"val_miou": val.mean_iou} if run.dense else {}),  # after the usual columns of results.csv
    }
    run.history.append(row)
    run.stats = EpochStats()
    found = epoch_skipped(run)
    if run.sources.skipped is not None:
        run.sources.skipped.epoch_bad = run.sources.skipped.epoch_new = 0
        judge_skipped(run)
    better = improved(run.history, run.config.monitor)
    checkpoint(run, "last.pt", epoch + 1, 0, run.stats)
    if better:
        checkpoint(run, "best.pt", epoch + 1, 0, run.stats, resumable=False)  # the weights: resumes read last.pt
    if run.world.leader:  # after the checkpoint: a restart never repeats a row
        with run.stop.saving():
            run.log.epoch(run.history)
    run.display.end_epoch(row, better)
    if found:  # under the row of the epoch that found them, once: the epochs after skip them unsaid
        run.display.line(f"found {plural(found, 'unreadable image')} this epoch, left out of every epoch "
                         f"(named in {run.run_dir / SKIPPED})")  # fmt: skip


def epoch_skipped(run: Run) -> int:
    """The images a stream found unreadable this epoch so far for the first time (training, then
    validation; loader.Skipped.epoch_new), all workers' (rank 0's count holds those of the epoch
    before a resume: position.restore)."""
    skipped = run.sources.skipped
    if skipped is None:
        return 0
    (new,) = run.group.sum([skipped.epoch_new])
    return int(new)


def judge_skipped(run: Run) -> None:
    """The rule on unreadable images (loader.Skipped), over the whole data set: each worker
    knows, and judges at each batch, the images of its own share; at the epoch's end every
    worker learns the others' (those found since the last epoch's end: a few, bounded by the
    rule) and all judge the union alike (all stop together, rank 0 says it); rank 0 names them
    all in skipped.txt, whatever machine read them, and train's JSON counts them all."""
    skipped = run.sources.skipped
    if run.world.distributed:
        skipped.learn(run.group.union(skipped.fresh()))
        skipped.judge()


def validate(run: Run) -> EpochStats:
    """Each worker scores its own share of the validation split; the sums are added."""
    world, group = run.world, run.group
    # Batch norm's running statistics drift apart on each worker (DDP copies rank 0's at
    # the start of each step, not after the last): all validate with rank 0's, the saved ones.
    group.broadcast_buffers(run.model)
    k = len(run.data.classes)
    confusion = torch.zeros(k, k, dtype=torch.int64) if run.dense else None  # pixels, for the IoU
    local = evaluate_batches(run.model, run.sources.val, k, confusion, world.rank, world.size)
    counts = confusion.flatten().tolist() if confusion is not None else []
    loss, correct, seen, *pairs = group.sum([local.loss_sum, local.correct, local.seen, *counts])
    stats = EpochStats(loss, int(correct), int(seen))
    if confusion is not None:
        stats.class_iou = iou([[int(v) for v in pairs[i * k : (i + 1) * k]] for i in range(k)])
    return stats
