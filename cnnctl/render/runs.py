"""`cnnctl runs` and `cnnctl plot` as tables and JSON (the data: cnnctl.run_folders)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import Problem
from ..run_folders import RunHistory, RunInfo, ended_word, stamp
from ..words import accuracy, exact, loss, plural
from .table import Column, Table, num
from .views.problems import problem_json


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def _checkpoints(run: RunInfo) -> str:
    kept = []
    if run.best_pt:
        by = "" if run.monitor == "val_accuracy" else f", by {run.monitor}"
        kept.append(f"best.pt (epoch {exact(run.best_epoch)}{by})" if run.best_epoch else "best.pt")
    if run.last_pt:
        kept.append("last.pt")
    return ", ".join(kept) or "none"


def _epochs(run: RunInfo) -> str:
    done = exact(run.epochs_done) if run.epochs_done is not None else "?"
    return f"{done}/{exact(run.epochs) if run.epochs is not None else '?'}"


def runs_table(folder: str, runs: Sequence[RunInfo]) -> Table:
    columns = [
        Column("run", squeeze=True, key="name"),  # CSV: the JSON's keys, `name` and RFC 3339's `updated`
        Column("network"),
        Column("data", wrap=True),
        Column("epochs", right=True, csv=False),
        Column("epochs_done", exact, right=True, csv_only=True),  # the text table shows them as done/planned
        Column("epochs_planned", exact, right=True, csv_only=True),
        Column("best.pt val acc", accuracy, right=True, key="best_val_accuracy"),  # best.pt's epoch (--monitor)
        Column("status", wrap=True, csv=False, key="status_said"),  # with why it failed, short; the note in full
        Column("status", csv_only=True),
        Column("checkpoints", wrap=True),
        Column("updated", _when, csv=False),  # to the minute, for reading
        Column("updated", csv_only=True),  # as the JSON's, for scripts
    ]
    rows = [
        [
            r.name,
            r.network or "-",
            r.data or "-",
            _epochs(r),
            r.epochs_done,
            r.epochs,
            r.best_val_accuracy,
            _status_said(r),
            r.status,
            _checkpoints(r),
            r.updated,
            stamp(r.updated),
        ]
        for r in runs
    ]
    notes = []
    if not runs:
        notes.append(f"no run folders in {folder} (a run folder holds config.json, last.pt or network.yaml)")
    failed = [r for r in runs if r.reason]
    notes += [f"{r.name}: {r.status}: {r.reason}" for r in failed]
    notes += [_damage(p) for r in runs for p in r.problems]  # each at its file, which names the run
    title = f"{plural(len(runs), 'run')} in {folder}, the newest first" if runs else f"Runs in {folder}"
    return Table(title, columns, rows, notes)


STATUS_REASON = 32  # characters of why a run failed in the status column (its note has all)


def _status_said(run: RunInfo) -> str:
    """The status, and why a failed run failed (or a --resume of it did), cut short: `failed: a loader pro…`."""
    if not run.reason:
        return run.status
    short = run.reason if len(run.reason) <= STATUS_REASON else run.reason[: STATUS_REASON - 1].rstrip() + "…"
    return f"{run.status}: {short}"


def _damage(problem: Problem) -> str:
    """A run's file that cannot be read, in a note: where, what, and what its row shows instead."""
    return f"{problem.loc}: {problem.message}" if problem.loc else problem.message


def runs_json(folder: str, runs: Sequence[RunInfo]) -> dict:
    # a run folder is `run_dir` in every command (train's, plot's); `dir`, the folder that holds them
    return {
        "dir": folder,
        "runs": [
            {
                "name": r.name,
                "run_dir": r.folder,
                "network": r.network,
                "input": r.input,
                "data": r.data,
                "epochs_done": r.epochs_done,
                "epochs_planned": r.epochs,  # as the CSV and train's JSON name them
                "best_val_accuracy": r.best_val_accuracy,  # best.pt's epoch's: the best by `monitor`
                "best_epoch": r.best_epoch,
                "monitor": r.monitor,
                "status": r.status,
                "reason": r.reason,
                "best_pt": r.best_pt,
                "last_pt": r.last_pt,
                "updated": stamp(r.updated),
                "problems": [problem_json(p, "warning") for p in r.problems],
            }
            for r in runs
        ],
    }


def _last(run: RunHistory, key: str) -> float | None:
    values = [v for v in run.values(key) if math.isfinite(v)]
    return values[-1] if values else None


PLOTTED = {"loss": ("train_loss", "val_loss"), "accuracy": ("train_accuracy", "val_accuracy")}


def plotted_keys(metric: str) -> tuple[str, ...]:
    return PLOTTED["loss"] + PLOTTED["accuracy"] if metric == "both" else PLOTTED[metric]


def plot_table(runs: Sequence[RunHistory], path: str, metric: str) -> Table:
    columns = [
        Column("run", squeeze=True),
        num("epochs", exact),
        Column("last train loss", lambda v: "-" if v is None else loss(v), right=True, key="last_train_loss"),
        Column("last val loss", lambda v: "-" if v is None else loss(v), right=True, key="last_val_loss"),
        Column("best.pt val acc", accuracy, right=True, key="best_val_accuracy"),  # best.pt's epoch, by --monitor
        Column("at epoch", lambda v: "-" if v is None else exact(v), right=True, key="best_epoch"),
        Column("from"),
    ]
    rows = []
    for run in runs:
        best = run.kept()
        rows.append(
            [
                run.name,
                len(run.rows),
                _last(run, "train_loss"),
                _last(run, "val_loss"),
                best[0] if best and math.isfinite(best[0]) else None,
                best[1] if best else None,
                run.source,
            ]
        )
    what = "loss and accuracy" if metric == "both" else metric
    return Table(f"{what} of {plural(len(runs), 'run')}", columns, rows, [f"drawn in {path}"])


def plot_json(runs: Sequence[RunHistory], path: str, metric: str) -> dict:
    from .curves import finite

    return {
        "file": path,
        "metric": metric,
        "runs": [
            {
                "name": run.name,
                "run_dir": run.folder,  # as train's and runs' JSON name a run folder
                "source": run.source,
                "epoch": [row.get("epoch") for row in run.rows],
                **{key: finite(run.values(key)) for key in plotted_keys(metric)},
            }
            for run in runs
        ],
    }


def train_json(result, errors: Sequence[Problem] | None = None) -> dict:
    """`cnnctl train --format json`: the run a RunResult (cnnctl.train.result) describes: its
    folder, its exit code and how it ended in `runs`' word (`status`), its best validation accuracy
    (None: no validation) and the epoch of it, what best.pt follows, each epoch's figures; and
    the `errors` (Problems) that ended a run that failed or diverged, beside them."""
    said = result.ended or ("finished" if result.status == 0 else "stopped")  # status.json's word
    status = ended_word(said, result.epochs_done, result.epochs_planned)
    document = _run_document(result.run_dir, result.status, status, result.history, epochs_done=result.epochs_done,
                             epochs_planned=result.epochs_planned, best_val_accuracy=result.best_val_accuracy,
                             best_epoch=result.best_epoch,
                             monitor=result.monitor, train_class_counts=result.train_class_counts or None,
                             loss_class_weights=result.loss_class_weights, **result.data,
                             warnings=[problem_json(w, "warning") for w in result.warnings])  # fmt: skip
    if errors is not None:
        document["errors"] = [problem_json(p) for p in errors]
    return document


def stopped_json(run_dir: str | Path | None, exit_code: int) -> dict:
    """train --format json for a run stopped before it trained (a Ctrl-C while it started)."""
    return _run_document(run_dir, exit_code, "stopped", [])


def _run_document(run_dir: str | Path | None, exit_code: int, status: str, history: list, **figures: object) -> dict:
    """train's JSON, in its order: `run_dir` (None where a run that stopped before writing
    anything left no folder), `exit_code`, `status` (`runs`' word), the `figures` (epochs done
    and planned, best accuracy and epoch, monitor, the training split's examples per class and the
    loss's class weights: none where it never trained; the run's `warnings`, each a problem's fields),
    `history` last."""
    folder = str(run_dir) if run_dir is not None and Path(run_dir).is_dir() else None
    # the run's network, data, device used and normalisation, None where the run never loaded its data
    about = dict.fromkeys(("network", "data", "device", "amp", "mean", "std", "normalisation_from"))
    figures = about | {"epochs_done": len(history), "epochs_planned": None, "best_val_accuracy": None,
                       "best_epoch": None, "monitor": None, "train_images": None, "val_images": None,
                       "images_skipped": None, "streamed": None, "train_class_counts": None,
                       "loss_class_weights": None, "warnings": []} | figures  # fmt: skip
    return {"run_dir": folder, "exit_code": exit_code, "status": status, **figures, "history": history}
