"""What a run writes in its folder: the files a new run begins with (the network, its settings,
where --weights went), a resumed run's config.json where it must change, and its checkpoints."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..analysis import summarize
from ..catalog import resolve_member
from ..errors import CnnctlError
from ..files import DASH, STDIN_NAME
from ..graph import Graph
from ..notation.source import read_text
from ..run_folders import now
from ..run_marks import RUN_NETWORK
from ..shapes import format_shape
from .checkpoint import Checkpoint, network_record, save_checkpoint
from .config import TrainConfig
from .metrics import EpochStats
from .result import run_result
from .rundir import write_bytes, write_text

if TYPE_CHECKING:
    from .run_setup import Run


def start_folder(
    run_dir: Path, graph: Graph, config: TrainConfig, processes: int, network: str, head: str | None,
    weights: str | None, listing: Any,
) -> None:  # fmt: skip
    """A new run's first files; the folder exists (rundir.hold made it, before taking its lock).
    `weights`: weights.txt (`weights_txt`), where --weights were placed; `listing`: the streamed
    images' list, read back by a resumed run."""
    write_text(run_dir / "architecture.json", json.dumps(architecture(graph), indent=2) + "\n")
    member = _copy_network(run_dir, network)
    h_w_c = format_shape(graph.input_shape)
    # `started`: the order of `cnnctl runs`, which nothing done to the folder later changes
    settings = config.as_dict() | {"processes": processes, "input": h_w_c, "started": now()}
    if member:  # a family's member, and any settings: what network.yaml builds (run_marks.run_member)
        settings["member"] = member
    if head is not None:  # the network every command reading the run builds (run_marks.run_head)
        settings["head"] = {"layer": head, "classes": graph.output_shape[-1]}
    write_text(run_dir / "config.json", json.dumps(settings, indent=2) + "\n")
    if weights is not None:
        write_text(run_dir / "weights.txt", weights)
    if listing is not None:
        from ..data.samples import index_bytes
        from ..data.streamed import INDEX

        write_bytes(run_dir / INDEX, index_bytes(listing))


def _copy_network(run_dir: Path, network: str) -> Any:
    """The network as written, copied as network.yaml: the run folder is then all `evaluate RUN`
    needs. The family's member it names, if any."""
    try:
        file, _, member = resolve_member(network)
        source = Path(file)
    except CnnctlError:  # a network given as text, not a file (cnnctl.train from Python)
        file, source, member = None, None, None
    if file == DASH:  # `cat net.yaml | cnnctl train - ...`: what was piped in, read once
        write_text(run_dir / RUN_NETWORK, read_text(DASH, STDIN_NAME))
    elif source is not None and source.is_file():
        write_text(run_dir / RUN_NETWORK, source.read_text())
    return member


def weights_txt(placement: Any, said: str) -> str:
    """What --weights put where (an exchange.weights.Placement, `said` the source): the
    network's tensor, the source's, the shape, in columns."""
    from ..render.views.weights import placement_rows

    rows = [["tensor", "from", "shape"], *placement_rows(placement)]
    widths = [max(len(row[k]) for row in rows) for k in range(2)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
    return f"# from {said}\n" + "\n".join(lines) + "\n"


def config_again(run_dir: Path, settings: dict, told: str | None, threads: int) -> None:
    """A resumed run's config.json (`settings`) written again where it must change: told from
    the checkpoint where it was lost (`told`: the run is then one every command reads again),
    or another CPU thread count (--threads given to the resume): config.json and the
    checkpoints record the one count the run now uses, which the next resume replays."""
    if told is None and settings.get("threads") == threads:
        return
    write_text(run_dir / "config.json", json.dumps(settings | {"threads": threads}, indent=2) + "\n")


def checkpoint(run: Run, name: str, epoch: int, step: int, stats: EpochStats, skipped: int = 0) -> None:
    """Rank 0 writes; the model's own state_dict, not DDP's (no `module.` prefixes). A second
    Ctrl-C waits for the file being written (stop_flag). `stats` and `skipped`: the epoch's
    sums and unreadable images so far, every worker's (none at an epoch's end)."""
    if not run.world.leader:
        return
    with run.stop.saving():
        save_checkpoint(run.run_dir / name, _checkpoint_of(run, epoch, step, stats, skipped))


def _checkpoint_of(run: Run, epoch: int, step: int, stats: EpochStats, skipped: int) -> Checkpoint:
    config = run.config
    best = run_result(run.run_dir, 0, len(run.history), run.history, config.monitor).best_val_accuracy
    return Checkpoint(
        model=run.model.state_dict(),
        optimizer=run.optimizer.state_dict(),
        scheduler=run.scheduler.state_dict() if run.scheduler is not None else None,
        scaler=run.scaler.state_dict() if run.fast.grad_scaler else None,
        epoch=epoch,
        step=step,  # steps done in `epoch`: the batches are recomputed from it (batches.py)
        stats={"loss_sum": stats.loss_sum, "correct": stats.correct, "seen": stats.seen, "weight": stats.weight},
        history=run.history,
        best=best,  # the validation accuracy of the epoch best.pt holds (chosen by --monitor); -1 without one
        epoch_seconds=time.perf_counter() - run.epoch_started if step else 0.0,
        epoch_skipped=skipped,
        rng=torch.get_rng_state(),
        config=config.as_dict() | {"lr": config.lr},
        arch=run.arch,
        classes=list(run.data.classes),
        mean=list(run.data.mean),
        std=list(run.data.std),
        workers=run.world.size,
        network=network_record(run.graph),
    )


def architecture(graph: Graph) -> dict:
    """architecture.json: the network's summary, as `summarize --format json` gives it."""
    from ..render.views.summary import summary_json

    return summary_json(summarize(graph))
