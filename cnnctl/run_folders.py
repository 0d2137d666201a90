"""Run folders read back, without torch: each epoch's row, how a run ended, the runs in a folder.

What `cnnctl plot` and `cnnctl runs` collect (the rendering is cnnctl.render.runs and
cnnctl.render.curves). A run writes these files (cnnctl.train.runlog): `metrics.jsonl` and
`results.csv`, one row per finished epoch, rewritten whole after each checkpoint;
`status.json`, how it ended; and it holds the lock on `.lock` while it runs (cnnctl.train.rundir).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import math
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .checkpoint_record import is_int, network_fault
from .errors import CnnctlError, Loc, Problem
from .files import Unread, open_regular, regular_lines, regular_text
from .limits import MAX_ARCHITECTURE_BYTES, MAX_RECORD_BYTES, MAX_ROW_BYTES, MAX_ROWS, MAX_ROWS_BYTES, leads_out
from .pickled import asked, read_pickle
from .run_marks import (
    RUN_NETWORK,
    config_refused,
    cut_short,
    intact_other,
    is_run_folder,
    json_trouble,
    read_run_config,
    run_of,
)
from .words import plural

try:
    import fcntl
except ImportError:  # Windows: no lock, so no telling a live run from its status file alone
    fcntl = None  # type: ignore[assignment]

METRICS = "metrics.jsonl"
RESULTS = "results.csv"
STATUS = "status.json"
CURVES = "curves.png"
ARCHITECTURE = "architecture.json"
TENSORBOARD = "tensorboard"
LOCK = ".lock"  # held by the run while it trains (cnnctl.train.rundir); free once it ended or died
# The columns every run's rows begin with; other metrics (val_miou, say) follow, as first seen.
COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
# The columns best.pt, --patience and the curves' star may follow (--monitor).
MONITORS = ("val_accuracy", "val_loss")
# What status.json says once a run has ended; while it runs it says "running".
ENDINGS = ("finished", "stopped", "diverged", "failed")
# When: status.json's `updated`, config.json's `started`, `runs`' JSON `updated`: local time with its UTC
# offset, in RFC 3339 (`2026-12-05T07:24:34+00:00`, as jq's fromdateiso8601 and every ISO 8601 reader take
# it; see `stamp`). Read back by this pattern, which takes that and the `+0000` that runs wrote before.
WHEN = "%Y-%m-%dT%H:%M:%S%z"
# struct flock, to ask the kernel who holds a lock without taking it (F_GETLK): Linux's layout
# on 64-bit machines (short type, short whence, off_t start, off_t len, pid_t pid, padding).
_FLOCK = "hhqqi4x" if sys.platform.startswith("linux") and struct.calcsize("P") == 8 else None


@dataclass
class RunHistory:
    """A run's rows, one per finished epoch, as its metrics.jsonl (or results.csv) holds them."""

    name: str  # how the run is named in a legend or a table: its folder's name
    folder: str
    source: str  # the file the rows were read from
    rows: list[dict[str, Any]] = field(default_factory=list)
    about: str = ""  # a line under a single run's title: its network, data and recipe
    monitor: str = "val_accuracy"  # what chose the epoch best.pt holds (--monitor: MONITORS)
    notes: list[Problem] = field(default_factory=list)  # what was left out of its file (a last line cut short)

    def values(self, key: str) -> list[float]:
        """One column as numbers; NaN where a row has no number (JSON's null, an empty CSV field)."""
        return [_number(row.get(key)) for row in self.rows]

    def has(self, key: str) -> bool:
        """Whether any row has a number for `key` (a run without validation has none for val_*)."""
        return any(math.isfinite(v) for v in self.values(key))

    def best(self, key: str = "val_accuracy") -> tuple[float, int] | None:
        """The best `key` and the epoch it came in (see `best_epoch`)."""
        i = best_epoch(self.rows, key)
        return None if i is None else (_number(self.rows[i][key]), int(self.rows[i].get("epoch") or 0))

    def kept(self) -> tuple[float, int] | None:
        """The val accuracy of the epoch best.pt holds, the best by `monitor`, and that epoch: by
        --monitor val_loss, the epoch of the lowest val loss, which need not be the most accurate
        one (runs, plot and curves.png once paired the highest accuracy with best.pt's epoch)."""
        i = best_epoch(self.rows, self.monitor)
        if i is None:
            return None
        return _number(self.rows[i].get("val_accuracy")), int(self.rows[i].get("epoch") or 0)


def run_monitor(settings: dict[str, Any]) -> str:
    """The --monitor of a run's settings (config.json): val_accuracy where it records none (a run
    from before --monitor) or one cnnctl does not know."""
    return settings.get("monitor") if settings.get("monitor") in MONITORS else "val_accuracy"


def best_epoch(rows: list[dict[str, Any]], key: str) -> int | None:
    """The index of the first row with the best `key` (the lowest of a loss, else the
    highest); None while no row has a number for it (no validation, or every loss NaN).
    The first of equals, as best.pt is kept."""
    best: int | None = None
    lower = key.endswith("loss")
    for i, row in enumerate(rows):
        value = _number(row.get(key))
        if not math.isfinite(value):
            continue
        if best is None or (value < _number(rows[best][key]) if lower else value > _number(rows[best][key])):
            best = i
    return best


@dataclass
class RunInfo:
    """One run folder as `cnnctl runs` lists it."""

    name: str
    folder: str
    network: str | None
    input: str | None
    data: str | None
    epochs_done: int | None  # None: its metrics.jsonl is damaged and status.json does not say
    epochs: int | None  # planned
    best_val_accuracy: float | None  # the val accuracy of best.pt's epoch (RunHistory.kept)
    best_epoch: int | None  # the epoch best.pt holds: the best of the run's --monitor (val accuracy)
    status: str  # finished, stopped early, stopped, diverged, failed, running, killed, unknown
    reason: str | None  # why a failed run failed, as it said (or the --resume that failed on it: _reason)
    best_pt: str | None
    last_pt: str | None
    updated: float  # the newest modification time of its files (seconds since the epoch)
    started: float  # when the run began, as it recorded it (seconds since the epoch): the order of `cnnctl runs`
    problems: tuple[Problem, ...] = ()  # its files that cannot be read (config.json, metrics.jsonl), each at its place
    monitor: str = "val_accuracy"  # what chose best.pt's epoch (--monitor)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _cell(text: str) -> Any:
    """A results.csv field as the value metrics.jsonl has: an int, a float, None (empty) or the text."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_rows(
    path: Path, notes: list[Problem] | None = None, skipped: list[Problem] | None = None
) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl or a results.csv; a CnnctlError naming the line that is broken.
    Read a line at a time (cnnctl.files.regular_lines), the file, each line and their number
    bounded (MAX_ROWS_BYTES, MAX_ROW_BYTES, MAX_ROWS): a file of any size costs a bounded time.
    A last line cut short after whole rows (no line break, not JSON: a copy, a kill or a disk
    that stopped mid-write) is left out, with a note in `notes`; a broken line before it, or a
    file whose only line is cut short, is an error. Given `skipped` (`runs`, which lists what it
    can of every run), a broken line is left out instead, and what is wrong with it, at its line,
    appended there (left_out tells them); the file itself unread is still an error."""
    try:
        raw = list(regular_lines(path, MAX_ROWS_BYTES, MAX_ROW_BYTES, MAX_ROWS))
    except Unread as refused:
        raise CnnctlError.at(f"cannot read {path.name}: {refused.message}", Loc(str(path)),
                             hint=refused.hint or _mend(path, "a run writes one short line per epoch: this file "
                                                          "is not one it wrote")) from None  # fmt: skip

    def broken(problem: Problem) -> None:  # a broken line: an error, or left out into `skipped`
        if skipped is None:
            raise CnnctlError(problem)
        skipped.append(problem)

    lines = []
    for number, line in raw:
        try:
            lines.append((number, line.decode("utf-8")))
        except UnicodeDecodeError as exc:  # the file as a whole, unless its lines are read one by one
            where = Loc(str(path), number, exc.start + 1) if skipped is not None else Loc(str(path))
            broken(Problem(f"cannot read {path.name}: {exc.reason}", where, hint=_mend(path)))
    return _csv_rows(path, lines, broken) if path.suffix == ".csv" else _json_rows(path, lines, notes, broken)


def left_out(skipped: list[Problem], kept: int) -> Problem:
    """The note of a run's rows file whose broken lines `skipped` (read_rows) were left out beside
    `kept` rows: how many, at the first, and what is wrong with it."""
    first = skipped[0]
    return Problem(f"{plural(len(skipped), 'row')} of {len(skipped) + kept:,} left out, not as a run writes them; "
                   f"the first: {first.message}", first.loc, hint=first.hint)  # fmt: skip


def _csv_rows(path: Path, lines: list[tuple[int, str]], broken: Callable[[Problem], None]) -> list[dict[str, Any]]:
    """The rows of the results.csv `path`'s `lines` (each its number and text): its first line the
    header, each other a row of as many fields; `broken` told of each line that is not."""
    fields = [(number, _csv_fields(line)) for number, line in lines]
    header = fields[0][1] if fields else []
    if isinstance(header, csv.Error):
        header = []  # told as its line's every field below: no row fits it
    rows = []
    for number, line in fields[1:]:
        if isinstance(line, csv.Error):  # a field past the csv module's own bound (131,072 characters)
            broken(Problem(f"not a row of fields: {line}", Loc(str(path), number, 1), hint=_mend(path)))
            continue
        if len(line) != len(header):
            broken(Problem(f"{len(line)} fields where the header has {len(header)}", Loc(str(path), number, 1),
                           hint=_mend(path)))  # fmt: skip
            continue
        row = {key: _cell(value) for key, value in zip(header, line, strict=True)}
        if _row_whole(row, path, number, broken, line=None):
            rows.append(row)
    return rows


def _csv_fields(line: str) -> list[str] | csv.Error:
    """The fields of one line of a results.csv, or why it is not a row of them (a field longer
    than the csv module reads, below the line's own bound MAX_ROW_BYTES)."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error as exc:
        return exc


def _json_rows(
    path: Path, lines: list[tuple[int, str]], notes: list[Problem] | None, broken: Callable[[Problem], None]
) -> list[dict[str, Any]]:
    """The rows of the metrics.jsonl `path`'s `lines` (each its number and text), one JSON object
    a line; its last cut short after whole rows left out with a note in `notes`; `broken` told of
    each other line that is not a row."""
    rows: list[dict[str, Any]] = []
    cut = bool(lines) and _cut_short(path)  # the last line has no line break
    for number, line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            where = Loc(str(path), number, exc.colno)
            if cut and number == lines[-1][0] and rows:  # a file of one cut line has nothing to keep: damaged
                if notes is not None:
                    notes.append(Problem(f"its last line is cut short ({_decoding(exc)}): left out", where))
                break
            broken(Problem(f"not a JSON row: {_decoding(exc)}", where, hint=_mend(path)))
            continue
        except (ValueError, RecursionError) as exc:  # a row no JSON decoder error describes
            broken(Problem(f"not a JSON row: {json_trouble(exc)}", Loc(str(path), number, 1), hint=_mend(path)))
            continue
        if not isinstance(row, dict):
            broken(Problem("not a JSON object", Loc(str(path), number, 1), hint=_mend(path)))
        elif _row_whole(row, path, number, broken, line):
            rows.append(row)
    return rows


def _row_whole(
    row: dict[str, Any], path: Path, number: int, broken: Callable[[Problem], None], line: str | None
) -> bool:
    """Whether `row` holds only values a run writes; where not, `broken` is told, as of a damaged
    line: an epoch is a whole number from 1, an accuracy a share from 0 to 1, a loss a finite
    number, 0 or more (each may be missing: null, an empty field). Read as given, `{"epoch":
    1e999}` would be shown as an `inf%` accuracy, `{"epoch": -1}` as best.pt's epoch. `line`:
    the JSON line, whose key's column is told (None: a results.csv row, at its line)."""
    for key, value in row.items():
        wrong = _wrong_value(key, value)
        if wrong is not None:
            column = line.find(json.dumps(key)) + 1 if line is not None else 1
            broken(Problem(f"`{key}` is {value!r}: {wrong}", Loc(str(path), number, max(column, 1)), hint=_mend(path)))
            return False
    return True


def _wrong_value(key: str, value: Any) -> str | None:
    """What a run's rows never hold at `key` that `value` is, or None where it may be there."""
    if value is None or not (key == "epoch" or key.endswith(("accuracy", "miou", "loss"))):
        return None
    if key == "epoch":
        return None if is_int(value, 1) else "an epoch is a whole number from 1"
    number = _number(value)
    if key.endswith("accuracy"):
        return None if 0 <= number <= 1 else "an accuracy is a share from 0 to 1"
    if key.endswith("miou"):  # a dense run's val_miou: the mean of IoUs, each a share
        return None if 0 <= number <= 1 else "a mean IoU is a share from 0 to 1"
    return None if math.isfinite(number) and number >= 0 else "a loss is a finite number, 0 or more"


def _cut_short(path: Path) -> bool:
    """Whether the file `path` ends without a line break: a run ends each row with one."""
    try:
        with open_regular(path) as file:
            file.seek(-1, os.SEEK_END)
            return file.read(1) != b"\n"
    except (Unread, OSError):
        return False


def _decoding(exc: json.JSONDecodeError) -> str:
    """What JSON's decoder found, whole: its message ends in " at" where the column is to follow."""
    if exc.msg.endswith(" at"):
        return f"{exc.msg} column {exc.colno}"
    return f"{exc.msg} at column {exc.colno}"


def _mend(
    path: Path, what: str = "mend or delete that line (each line is one epoch's row, written as the epoch ends)"
) -> str:
    """What to do about a damaged line of a run's metrics file `path` (`what`: about the file itself)."""
    other = path.parent / (RESULTS if path.name == METRICS else METRICS)
    kept = f"the run keeps the same rows in {other}: `cnnctl plot {other}` reads them; " if other.is_file() else ""
    return kept + what


def rows_file(folder: Path) -> Path | None:
    """The file a run folder's rows are read from: its metrics.jsonl, else its results.csv (the
    same rows, in a table); None where it has neither."""
    return next((folder / name for name in (METRICS, RESULTS) if (folder / name).is_file()), None)


def read_history(run: str) -> RunHistory:
    """A run's rows, from its folder (metrics.jsonl, else results.csv) or from one of those files."""
    path = Path(run)
    if not path.exists():
        raise CnnctlError.at(
            "no such run folder", Loc(run), hint="give a run folder (`cnnctl runs` lists those in ./runs)"
        )
    if path.is_dir():
        source = rows_file(path)
        if source is None and is_run_folder(path):  # a run stopped in its first epoch: no rows yet
            return RunHistory(os.path.basename(os.path.abspath(path)), str(path), str(path / METRICS), [])
        if source is None:
            raise CnnctlError.at(
                f"not a run folder: it has no {METRICS} or {RESULTS}",
                Loc(run),
                hint="a run writes them at the end of each epoch (cnnctl train)",
            )
        folder = path
    else:
        if path.name.endswith(".jsonl") or path.suffix == ".csv":
            source, folder = path, path.parent
        else:
            raise CnnctlError.at(f"neither a run folder nor a {METRICS} or {RESULTS}", Loc(run))
    name = os.path.basename(os.path.abspath(folder))
    notes: list[Problem] = []
    rows = read_rows(source, notes)
    recorded = read_record(Path(folder) / STATUS)
    planned = recorded_planned(recorded)
    settings = read_run_config(str(folder))[0] | ({"epochs": planned} if planned is not None else {})
    about = about_run(recorded.get("network"), settings, len(rows), recorded.get("status") == "finished")
    return RunHistory(name, str(folder), str(source), rows, about=about, monitor=run_monitor(settings), notes=notes)


def about_run(network: str | None, settings: dict[str, Any], done: int, finished: bool) -> str:
    """The line under a run's curves: `lenet5 on shapes; augment crop,flip; label smoothing 0.1
    (in the train loss); stopped early at epoch 21 of 60` (what of it is known)."""
    data = os.path.basename(str(settings.get("data") or "").rstrip("/"))
    parts = [f"{network} on {data}" if network and data else network or data]
    if settings.get("augment", "none") not in ("none", None):
        parts.append(f"augment {settings['augment']}")
    if settings.get("label_smoothing"):
        parts.append(f"label smoothing {settings['label_smoothing']:g} (in the train loss)")
    if settings.get("class_weights", "none") not in ("none", None):
        parts.append(f"class weights {settings['class_weights']} (in the train loss)")
    planned = settings.get("epochs")
    if finished and isinstance(planned, int) and done < planned:
        parts.append(f"stopped early at epoch {done} of {planned}")
    return "; ".join(p for p in parts if p)


def read_histories(runs: list[str]) -> tuple[list[RunHistory], list[str]]:
    """The runs to draw, and a warning for each left out because it has no finished epoch yet.
    One run without any, or none among several, is an error: there would be nothing to draw."""
    histories = [read_history(run) for run in runs]
    empty = [h for h in histories if not h.rows]
    if len(empty) == len(histories):
        if len(empty) == 1:
            (h,) = empty
            saved = [n for n in ("best.pt", "last.pt") if os.path.isfile(os.path.join(h.folder, n))]
            if saved and not any(os.path.isfile(os.path.join(h.folder, n)) for n in (METRICS, RESULTS)):
                raise CnnctlError.at(
                    f"the run has checkpoints ({', '.join(saved)}) but no {METRICS} or {RESULTS}: nothing to plot",
                    Loc(h.folder),
                    hint=f"a run writes a row to them as each epoch ends; `cnnctl evaluate {h.folder}` measures "
                    "its checkpoint",
                )
        named = ", ".join(f"`{h.folder}`" for h in empty)
        raise CnnctlError.at(
            f"{'the run' if len(empty) == 1 else 'the runs'} {named} {'has' if len(empty) == 1 else 'have'} "
            "no finished epoch yet: nothing to plot",
            Loc(empty[0].folder) if len(empty) == 1 else None,
            hint=f"its {METRICS} gets a row when an epoch ends; plot it after its first epoch",
        )
    warnings = [f"{note.loc}: {note.message}" for h in histories for note in h.notes]
    warnings += [f"`{h.folder}` has no finished epoch yet: left out" for h in empty]
    kept = [h for h in histories if h.rows]
    counts: dict[str, int] = {}
    for h in kept:
        counts[h.name] = counts.get(h.name, 0) + 1
    for h in kept:  # two folders of the same name (runs/a/x, runs/b/x): their paths tell them apart
        if counts[h.name] > 1:
            h.name = h.folder
    return kept, warnings


def lock_held(folder: Path) -> bool | None:
    """Whether a process holds the run's lock, that is, whether a run is under way there;
    None where that cannot be told (no fcntl, an unreadable lock file).

    Asked with F_GETLK, which takes no lock, so it never gets in the way of a run starting at
    the same moment (elsewhere, a shared lock is taken and dropped at once). Not to be asked
    by the process that trains in `folder`: a process sees no conflict with its own locks, and
    closing a descriptor of the file would drop them.
    """
    if fcntl is None:
        return None
    path = folder / LOCK
    if not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if _FLOCK is not None:
            probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
            answer = fcntl.fcntl(fd, fcntl.F_GETLK, probe)
            return struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            return True if exc.errno in (errno.EACCES, errno.EAGAIN) else None
        return False  # it was free; closing the descriptor drops the lock just taken
    except OSError:
        return None
    finally:
        os.close(fd)


def read_record(path: Path, limit: int = MAX_RECORD_BYTES) -> dict[str, Any]:
    """A JSON object a run wrote (status.json, architecture.json), of at most `limit` bytes."""
    try:
        data = json.loads(regular_text(path, limit))
    except (Unread, ValueError, RecursionError):  # left empty: what `runs` and `plot` show of it is unknown
        return {}
    return data if isinstance(data, dict) else {}


def ended_word(said: str, done: int | None, planned: int | None) -> str:
    """How a run that ended is told (`runs`' status, train's JSON `status`): status.json's word, and
    `stopped early` for one that finished before its last planned epoch (--patience ended it)."""
    if said == "finished" and planned and done is not None and done < planned:
        return "stopped early"
    return said


def run_status(folder: Path, recorded: dict[str, Any], done: int | None, planned: int | None) -> str:
    """How a run stands: `running` while a process holds its lock; else what its status.json
    says it ended as (`stopped early` for one that finished before its last epoch, by
    --patience); `killed` where it says `running` but nothing holds the lock (the process
    ended without a word: kill -9, out of memory, a machine that went down); for a run from
    before status.json, `finished` when every planned epoch is there, else `unknown`. `done`:
    None where the epochs done are not known (a damaged metrics.jsonl)."""
    held = lock_held(folder)
    said = recorded.get("status")
    if held or (held is None and said == "running"):
        return "running"
    if said in ENDINGS:
        return ended_word(said, done, planned)
    if said == "running":
        return "killed"
    return "finished" if planned and done is not None and done >= planned else "unknown"


def _reason(recorded: dict[str, Any]) -> str | None:
    """Why a run failed, as it said; or why the last --resume of it failed, where that changed nothing
    (cnnctl.train.runlog: the run is told as it was, killed or stopped)."""
    reason, resumed = recorded.get("reason"), recorded.get("resume_failed")
    if isinstance(resumed, str):
        return f"a --resume failed: {resumed}"
    return reason if isinstance(reason, str) else None


def run_info(folder: Path) -> RunInfo:
    """What `cnnctl runs` shows of one run folder; what cannot be read is left empty, not an error."""
    recorded, architecture = read_record(folder / STATUS), read_record(folder / ARCHITECTURE, MAX_ARCHITECTURE_BYTES)
    config, why, where = read_run_config(str(folder))
    problems = []
    if why is not None and run_of(str(folder)) is not None:  # a run cannot be evaluated, predicted with, exported
        problems += config_refused(str(folder), why, where).problems
    try:
        said, source, skipped = len(problems), rows_file(folder), []
        rows = read_rows(source, problems, skipped) if source is not None else []  # broken rows left out
        problems += [left_out(skipped, len(rows))] if skipped else []
        done = len(rows)
        if len(problems) > said:  # rows left out: the epochs done are status.json's, where it says; where
            recorded_done = recorded.get("epochs_done")  # not, those kept after only a last line cut short
            done = recorded_done if is_int(recorded_done) else None if skipped else done
    except CnnctlError as exc:  # its epochs are then what status.json records, never counted from a damaged file
        problems += exc.problems
        rows, done = [], recorded.get("epochs_done")
        done = done if is_int(done) else None
    for name in ("best.pt", "last.pt"):  # the end of each is read (a copy or a kill may have cut it short),
        checkpoint = str(folder / name)  # and its pickle's opcodes, not its tensors: it is never loaded here
        if cut_short(checkpoint):
            problems.append(Problem(f"{name} is cut short: its zip archive has no directory, and it cannot be loaded",
                                    Loc(checkpoint)))  # fmt: skip
            continue
        read = read_pickle(checkpoint)  # its pickle alone (data.pkl), never its tensors
        if read.named is not None:
            problems.append(Problem(f"{name} asks to run code when loaded ({asked(read.named)}): cnnctl never loads it",
                                    Loc(checkpoint), hint="train the run again from a file you trust"))  # fmt: skip
        elif read.refused is not None:
            problems.append(Problem(f"{name}'s pickle holds {read.refused}: cnnctl never loads it",
                                    Loc(checkpoint), hint=_instead(checkpoint)))  # fmt: skip
        elif read.damaged is not None:  # not a whole pickle, or an archive torch refuses: as loading it says
            problems.append(Problem(f"{name} cannot be loaded: {read.damaged}", Loc(checkpoint),
                                    hint=_instead(checkpoint)))  # fmt: skip
        elif (fault := network_fault(read.values)) is not None:  # as loading it would say: every command refuses it
            problems.append(Problem(f"{name} is damaged: {fault}: every command that loads it refuses it",
                                    Loc(checkpoint), hint=_instead(checkpoint)))  # fmt: skip
    for name in (RUN_NETWORK, "best.pt", "last.pt"):  # read by every other command, which refuses a link out
        if os.path.lexists(folder / name) and (real := leads_out(str(folder / name), os.path.realpath(folder))):
            problems.append(Problem(f"{name} is a link leading out of the run folder, to {real}: never read",
                                    Loc(str(folder / name)), hint="copy the run's own files into it"))  # fmt: skip
    history = RunHistory(folder.name, str(folder), METRICS, rows, monitor=run_monitor(config))
    planned = recorded_planned(recorded)  # status.json has a resumed run's new --epochs
    planned = config.get("epochs") if planned is None else planned
    planned = planned if is_int(planned) else None
    kept = history.kept()  # best.pt's epoch and its accuracy: one epoch, not the best of each
    times = [folder.stat().st_mtime]
    for entry in os.scandir(folder):
        with contextlib.suppress(OSError):
            times.append(entry.stat().st_mtime)
    network = network_name(folder, recorded, architecture)
    data = config.get("data")
    return RunInfo(
        name=folder.name,
        folder=str(folder),
        network=network,
        input=config.get("input") if isinstance(config.get("input"), str) else None,
        data=_short_path(data) if isinstance(data, str) else None,
        epochs_done=done,
        epochs=planned,
        best_val_accuracy=kept[0] if kept and math.isfinite(kept[0]) else None,
        best_epoch=kept[1] if kept else None,
        monitor=history.monitor,
        status=run_status(folder, recorded, done, planned),
        reason=_reason(recorded),
        best_pt=str(folder / "best.pt") if (folder / "best.pt").is_file() else None,
        last_pt=str(folder / "last.pt") if (folder / "last.pt").is_file() else None,
        updated=max(times),
        started=started(folder, config, max(times)),
        problems=tuple(problems),
    )


def _instead(checkpoint: str) -> str:
    """What to use instead of a run's damaged checkpoint: its other one, where that is there whole."""
    other = intact_other(checkpoint)
    return f"use the run's {os.path.basename(other)}, or train again" if other else "train the run again"


def stamp(seconds: float | None = None) -> str:
    """A time (now, or `seconds` since the epoch) as cnnctl writes one: RFC 3339 in local time,
    to the second, with the offset's colon (`+00:00`), which strftime's %z leaves out."""
    when = datetime.now() if seconds is None else datetime.fromtimestamp(seconds)
    return when.astimezone().isoformat(timespec="seconds")


def now() -> str:
    """The time, as a run records it (WHEN)."""
    return stamp()


def started(folder: Path, config: dict[str, Any], otherwise: float) -> float:
    """When the run began: config.json's `started`, written once as the run starts; for a run
    from before it was recorded, config.json's modification time (the file is written only
    then), else `otherwise`. Never the folder's newest file: reading a run, or a command it
    refused, must not move it up the list."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        return datetime.strptime(config["started"], WHEN).timestamp()
    with contextlib.suppress(OSError):
        return (folder / "config.json").stat().st_mtime
    return otherwise


def recorded_planned(recorded: dict[str, Any]) -> Any:
    """The epochs a run's status.json says it plans (None where it does not say): `epochs_planned`,
    as runs' and train's JSON name them, or `epochs` in the files written before."""
    return recorded.get("epochs_planned", recorded.get("epochs"))


def network_name(
    folder: Path, recorded: dict[str, Any] | None = None, architecture: dict[str, Any] | None = None
) -> str | None:
    """The name a run knows its network by: its status.json's `network`, else its
    architecture.json's `name`; None where neither says (`recorded` and `architecture`: those
    files, when already read)."""
    recorded = read_record(folder / STATUS) if recorded is None else recorded
    name = recorded.get("network")
    if name is None:
        architecture = (
            read_record(folder / ARCHITECTURE, MAX_ARCHITECTURE_BYTES) if architecture is None else architecture
        )
        name = architecture.get("name")
    return name if isinstance(name, str) else None


def _short_path(data: str) -> str:
    """A data set's name as it is; a data folder (stored absolute) relative to here, or with ~."""
    if not os.path.isabs(data):
        return data
    relative = os.path.relpath(data)
    if not relative.startswith(".."):
        return relative
    home = os.path.expanduser("~")
    return "~" + data[len(home) :] if data.startswith(home + os.sep) else data


def list_runs(folder: str) -> list[RunInfo]:
    """The run folders in `folder` (or `folder` itself, when it is one), the newest first: every
    entry, each read (run_marks.runs_in looks at the first few only, for hints and completion)."""
    path = Path(folder)
    if not path.is_dir():
        raise CnnctlError.at(
            "no such folder" if not path.exists() else "not a folder",
            Loc(folder),
            hint="cnnctl train writes its runs into ./runs (or --out DIR): give the folder that holds them",
        )
    if is_run_folder(path):
        return [run_info(path)]
    try:
        children = sorted(p for p in path.iterdir() if is_run_folder(p))
    except OSError as exc:
        raise CnnctlError.at(f"cannot read the folder: {exc.strerror or exc}", Loc(folder)) from None
    return sorted((run_info(p) for p in children), key=lambda r: (r.started, r.name), reverse=True)
