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
from ..files import DASH
from ..graph import Graph
from ..notation.source import read_text
from ..run_folders import now
from ..run_marks import RUN_NETWORK
from ..shapes import format_shape
from .checkpoint import OPTIMIZATION, Checkpoint, network_record, save_checkpoint
from .config import TrainConfig
from .metrics import EpochStats
from .result import kept_accuracy
from .rundir import write_bytes, write_text

if TYPE_CHECKING:
    from .run_setup import Run


def start_folder(
    run_dir: Path, graph: Graph, config: TrainConfig, processes: int, network_source: str, head: str | None,
    weights: str | None, listing: Any, used: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """A new run's first files; the folder exists (rundir.hold made it, before taking its lock).
    `network_source`: the network as the user named it (a file, a bundled name; `-`);
    `weights`: weights.txt (render.views.weights.weights_file), where --weights were placed; `listing`: the streamed
    images' list, read back by a resumed run; `used`: what the run uses where its settings left it to the run
    (run_setup.used_settings), recorded under the settings' names, what was asked kept as `NAME_asked`
    (a resume replays its checkpoint's settings, as asked: `--device auto` means the same again)."""
    write_text(run_dir / "architecture.json", json.dumps(architecture(graph), indent=2) + "\n")
    member = _copy_network(run_dir, network_source, graph)
    h_w_c = format_shape(graph.input_shape)
    # `started`: the order of `cnnctl runs`, which nothing done to the folder later changes
    settings = config.as_dict() | {"processes": processes, "input": h_w_c, "started": now()}
    for name, value in (used or {}).items():
        if name in settings:
            settings[f"{name}_asked"] = settings[name]
        settings[name] = value
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


def _copy_network(run_dir: Path, network_source: str, graph: Graph) -> Any:
    """The network as written, copied as network.yaml: the run folder is then all `evaluate RUN`
    needs. What is written is the text `graph` was built from, as it was read (api.load_text),
    never the file read again: edited since the run began, it would be another network than
    the one trained. The family's member it names, if any."""
    try:
        file, display, member = resolve_member(network_source)
    except CnnctlError:  # a network given as text, not a file (cnnctl.train from Python)
        return None
    if file == DASH or Path(file).is_file():  # `-`: what was piped in, read once
        text = graph.text or read_text(file, display)  # a graph built otherwise than from a file read
        write_text(run_dir / RUN_NETWORK, text)
    return member


def config_again(run_dir: Path, settings: dict, told: str | None, threads: int) -> None:
    """A resumed run's config.json (`settings`) written again where it must change: told from
    the checkpoint where it was lost (`told`: the run is then one every command reads again),
    or another CPU thread count (--threads given to the resume): config.json and the
    checkpoints record the one count the run now uses, which the next resume replays."""
    if told is None and settings.get("threads") == threads:
        return
    write_text(run_dir / "config.json", json.dumps(settings | {"threads": threads}, indent=2) + "\n")


def checkpoint(
    run: Run, name: str, epoch: int, step: int, stats: EpochStats, skipped: int = 0, resumable: bool = True
) -> None:
    """Rank 0 writes; the model's own state_dict, not DDP's (no `module.` prefixes). A second
    Ctrl-C waits for the file being written (stop_flag). `stats` and `skipped`: the epoch's
    sums and unreadable images so far, every worker's (none at an epoch's end). Not `resumable`
    (best.pt): without the optimizer's, scheduler's and scaler's state, which only a resume reads
    (from last.pt): two thirds of the file for Adam."""
    if not run.world.leader:
        return
    state = _checkpoint_of(run, epoch, step, stats, skipped).as_dict()
    if not resumable:
        state = {key: value for key, value in state.items() if key not in OPTIMIZATION}
    with run.stop.saving():
        save_checkpoint(run.run_dir / name, state)


def _checkpoint_of(run: Run, epoch: int, step: int, stats: EpochStats, skipped: int) -> Checkpoint:
    config = run.config
    return Checkpoint(
        model=run.model.state_dict(),
        optimizer=run.optimizer.state_dict(),
        scheduler=run.scheduler.state_dict() if run.scheduler is not None else None,
        scaler=run.scaler.state_dict() if run.fast.grad_scaler else None,
        epoch=epoch,
        step=step,  # steps done in `epoch`: the batches are recomputed from it (batches.py)
        stats={"loss_sum": stats.loss_sum, "correct": stats.correct, "seen": stats.seen, "weight": stats.weight},
        history=run.history,
        best=kept_accuracy(run.history, config.monitor),  # of the epoch best.pt holds (by --monitor); None: none
        epoch_seconds=time.perf_counter() - run.epoch_started if step else 0.0,
        epoch_skipped=skipped,
        rng=torch.get_rng_state(),
        config=config.as_dict() | {"lr": config.lr},
        arch=run.network_title,  # the file's key for the network's name
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
