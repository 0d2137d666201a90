"""A run folder: owned by one run at a time, written so that a fault never loses what was saved.

The owner holds a POSIX record lock (`fcntl.lockf`) on `.lock` in the folder. The kernel
drops it when the process ends, however it ends, so the lock file a killed run leaves
behind never blocks its resume; over NFS the lock goes through the server's lock manager
where the mount allows it. Without fcntl (Windows) there is no lock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import socket
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from ..errors import CnnctlError, Loc, Problem
from ..run_folders import ARCHITECTURE, CURVES, LOCK, METRICS, RESULTS, STATUS, TENSORBOARD
from ..run_marks import RUN_NETWORK
from ..writing import NO_ROOM as _NO_ROOM
from ..writing import (
    exception_chain,
    fault_kind,
    machine_fault,
    no_room,
    refuse_links_out,
    replace_through,
    write_failed,
    write_reason,
)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

# Set by cnnctl's launcher for its workers: the run folder it holds the lock of. A worker
# must not lock it again: a POSIX lock held by its parent refuses it like any other process.
HELD_BY_LAUNCHER = "CNNCTL_RUN_HELD"
# Every file a run writes in its folder: a folder holding none but these holds nothing of anyone else's.
_RUNS_OWN = {
    LOCK, "last.pt", "best.pt", RUN_NETWORK, "config.json", ARCHITECTURE, STATUS, METRICS, RESULTS, CURVES,
    TENSORBOARD, "weights.txt", "skipped.txt", "data-index.pt",  # data.streamed.INDEX: torch's to import
}  # fmt: skip
# What the run's writes of its own files leave while they are under way, `.NAME.tmp` (writing.replace_through)
# or `.NAME.k2x9.tmp` (a checkpoint's: checkpoint.save_checkpoint): any file of the run but its lock (signed
# in place) and its TensorBoard folder (SummaryWriter's own files), read from the one list of them.
_TEMPORARY = re.compile(
    r"\.(" + "|".join(re.escape(name) for name in sorted(_RUNS_OWN - {LOCK, TENSORBOARD})) + r")(\..+)?\.tmp"
)
# A failed write, as PyTorch's zip writer reports it (a RuntimeError, the OSError if any as its context).
_TORCH_WRITE_FAILED = re.compile(r"unexpected pos|file write failed", re.IGNORECASE)
_RETRY = "once it can be written"  # what to do about any other failed write
_NEARLY_FULL = 1 << 20  # bytes: what a disk has left after a write failed for lack of room


def run_folder(resume: str) -> Path:
    """The run a --resume argument (a run folder, or a checkpoint in one) belongs to."""
    return Path(resume) if Path(resume).is_dir() else Path(resume).parent


def run_dir_for(out: str | None, arch: str, resume: str | None = None) -> Path:
    """The folder of a run, named once (its lock is taken on it): the one --resume names,
    else --out, else runs/ARCH-TIMESTAMP, ARCH as a picture's file names it (a member with
    settings, `fam_big:depth=2`, as `fam_big_depth_2`: no `:`, which Windows refuses in a name and
    scp or rsync read as HOST:PATH, and no `/` of an expression, which would make folders)."""
    if resume:
        return run_folder(resume)
    from ..writing import file_stem

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(out) if out else Path("runs") / f"{file_stem(arch)}-{stamp}"


def interruption(exc: BaseException) -> BaseException | None:
    """The Ctrl-C (KeyboardInterrupt) or stop signal (SystemExit) that broke a write off, if any:
    a write failed by it is to be stopped, not told as a failed write."""
    return next((e for e in exception_chain(exc) if isinstance(e, (KeyboardInterrupt, SystemExit))), None)


def _failure(exc: BaseException, folder: Path) -> tuple[str, str, bool] | None:
    """Why a write into `folder` failed, what to do about it and whether it is the machine's
    fault (writing.machine_fault: exit 1; else the user's, exit 2), or None when `exc` is not a
    failed write. Read as every command reads a failed write (cnnctl.writing)."""
    room = no_room(exc)  # writing's one reading of a full disk
    if room is not None:
        return *room, True
    reason = write_reason(exc)
    if reason is not None:
        return reason, _RETRY, machine_fault(exc)
    chain = exception_chain(exc)
    if not any(isinstance(e, RuntimeError) and _TORCH_WRITE_FAILED.search(str(e)) for e in chain):
        return None
    # torch.save to a path gives no errno: a disk with next to no room left is a full one; any
    # other such failure cannot be laid at the user's door (nothing says what they could change).
    return (*_NO_ROOM[errno.ENOSPC], True) if _nearly_full(folder) else ("the write failed", _RETRY, True)


def _nearly_full(folder: Path) -> bool:
    """Called before the partial file is removed, while it still takes the room there was."""
    if not hasattr(os, "statvfs"):  # Windows
        return False
    try:
        disk = os.statvfs(folder)
    except OSError:
        return False
    free = disk.f_bfree if os.geteuid() == 0 else disk.f_bavail  # root may use the reserved blocks
    return free * disk.f_frsize < _NEARLY_FULL


class RunFault(Exception):
    """The run in `folder` could not go on for a fault outside it (a full disk, a loader process
    killed): what was saved is kept, and the run's loop says how to go on (`error`)."""

    def __init__(self, folder: Path, message: str, fix: str, machine: bool = True):
        super().__init__(message)
        self.folder, self.fix = folder, fix  # fix: what to do before going on
        self.machine = machine  # the machine's fault (exit 1), else the user's (exit 2: writing.fault_kind)

    def error(self, source: str | None, options: str = "") -> CnnctlError:
        """The message for the person at the terminal, with the line that continues the run
        (`source`: the ARCH as they wrote it; `options`: the launch options it needs); exit
        code 1 where the machine failed, 2 where what was given is to change (a folder made
        read-only, permission taken away: writing.write_failed's rule)."""
        from ..render.progress import resume_line

        folder, fix = self.folder, self.fix
        if (folder / "last.pt").is_file():
            hint = f"the run's last checkpoint (last.pt) is kept; {fix}, then {resume_line(source, folder, options)}"
        else:
            hint = f"the run has no checkpoint yet; {fix}, then start it again with the same command (--out {folder})"
        return fault_kind(self.machine).at(str(self), Loc(str(folder)), hint=hint)


class WriteFailed(RunFault):
    """A file of the run could not be written; the run's loop says what to do about it."""

    def __init__(self, path: Path, reason: str, fix: str = _RETRY, machine: bool = True):
        super().__init__(path.parent, f"cannot write {path.name}: {reason}", fix, machine)
        self.path, self.reason = path, reason


def raise_write_failure(exc: BaseException, path: Path, tmp: str | Path | None = None) -> None:
    """What a write of `path` that raised `exc` raises, once its temporary file `tmp` (if
    any) is removed: the Ctrl-C or stop signal that broke it off, or a WriteFailed saying
    why. Returns when `exc` is not a failed write: the caller raises it, or its own."""
    failure = _failure(exc, path.parent)  # before the partial file goes: see _nearly_full
    if tmp is not None:
        Path(tmp).unlink(missing_ok=True)
    stop = interruption(exc)
    if stop is not None:  # a signal broke the write off (torch then says "unexpected pos"): stop
        raise stop from None
    if failure is not None:
        raise WriteFailed(path, *failure) from exc


def write_text(path: Path, text: str) -> None:
    """Write a file of the run through a temporary one and a rename: a reader never sees half of it."""
    _write(path, text.encode(errors="surrogateescape"))  # a name the OS gave, not UTF-8, as its bytes


def write_bytes(path: Path, data: bytes) -> None:
    """A binary file of the run (curves.png), written as `write_text` writes."""
    _write(path, data)


def _write(path: Path, data: bytes) -> None:
    # The temporary file is gone before the fault is read: a write of bytes that fails says why
    # (its errno), so `_failure` needs no look at the room it took (only torch.save's does).
    try:
        replace_through(str(path), lambda tmp: Path(tmp).write_bytes(data))
    except BaseException as exc:  # a full disk, or a Ctrl-C in the middle: no temporary file stays
        raise_write_failure(exc, path)
        if isinstance(exc, OSError):
            raise WriteFailed(path, str(exc)) from None
        raise


def refuse_existing_run(folder: Path) -> None:
    if (folder / "last.pt").exists():
        raise CnnctlError.at(  # at the folder, as every run-folder error (JSON `file`)
            "this folder already holds a run",
            Loc(str(folder)),
            hint=f"continue it with --resume {folder}, or choose another --out",
        )


class Claim:
    """A run folder held, before and after the run begins writing in it.

    Until `begin()`, holding it has written nothing there: a command refused under the lock
    (another network for the run it resumes, a run already in the folder) leaves every file
    as it was, its modification time too. `begin()` says who holds it, in the lock file, and
    removes what a killed run left half-written (its temporary files), whether the run is
    new, restarted or resumed: where it is `locked` (by this process or cnnctl's launcher),
    no live run can be writing them.
    """

    def __init__(self, folder: Path, fd: int | None = None, locked: bool = True, number: int = 1) -> None:
        self.folder, self.fd, self.locked, self.begun = folder, fd, locked, False
        self.number = number  # a default folder's: 1 for runs/NAME-STAMP, n for runs/NAME-STAMP-n (see numbered)

    def begin(self) -> None:
        if self.begun:
            return
        self.begun = True
        if self.fd is not None:
            _sign(self.fd, self.folder / LOCK)
        if self.locked:
            remove_leftovers(self.folder)


def numbered(folder: Path, number: int) -> Path:
    """The default folder `folder` (runs/NAME-STAMP) as the `number`th run started in its second
    took it: itself for the first, `runs/NAME-STAMP-2` for the second, and so on."""
    return folder if number == 1 else folder.with_name(f"{folder.name}-{number}")


_MOST_NUMBERED = 10_000  # runs started into one default name (one second) before giving up


def _claim_numbered(folder: Path) -> int:
    """Make the default folder `folder`, or the first of `folder-2`, `folder-3`, ... not yet
    there; its number. os.mkdir is atomic: of several runs started in the same second, each
    makes a folder of its own (none is refused, as only an --out the user chose may be)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_create(folder.parent, exc) from None
    for number in range(1, _MOST_NUMBERED + 1):
        try:
            os.mkdir(numbered(folder, number))
            return number
        except FileExistsError:
            continue
        except OSError as exc:
            raise _cannot_create(numbered(folder, number), exc) from None
    raise CnnctlError.at(
        f"{_MOST_NUMBERED:,} runs were started into this name", Loc(str(folder)), hint="give the run an --out"
    )


def _cannot_create(folder: Path, exc: OSError) -> CnnctlError:
    """The message for a run folder that cannot be made, with what to do about it: exit 1 for
    a full disk (the machine's), 2 for a folder the user named wrong (`write_failed`)."""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):  # --out names a file, or a folder in a file's place
        hint = "--out names a folder for the run, and this is a file: give a new folder name"
    else:
        hint = "give --out a folder you can write in"
    return write_failed(f"cannot create the run folder: {exc.strerror or exc}", Loc(str(folder)), exc, hint)


def refuse_other_files(folder: Path) -> None:
    """Refuse a folder given as --out that already holds files and is no run: a run writes
    config.json, network.yaml and more into its folder, over files of those names, and a folder
    of runs (`--out runs`, `--out .`) would then hide them. A run is a folder with a checkpoint,
    or the architecture.json and config.json every run writes first (one stopped before its
    first checkpoint: started again), or nothing but a run's own files (a lock file: one
    stopped before writing). A config.json or network.yaml without architecture.json is no run
    here, though either marks one for the commands that read runs (run_marks.RUN_MARKS): it
    may be anyone's."""
    first = {ARCHITECTURE, "config.json"}  # what every run writes first (network.yaml only from a file)
    try:
        names = os.listdir(folder)
        marks = {name for name in ("last.pt", "best.pt", *first) if (folder / name).is_file()}
    except OSError as exc:
        raise CnnctlError.at(f"cannot read the run folder: {exc.strerror or exc}", Loc(str(folder))) from None
    if marks & {"last.pt", "best.pt"} or marks >= first:
        return
    own = _RUNS_OWN - {"config.json", RUN_NETWORK}  # either alone may be anyone's (a network file beside its data)
    entries = [name for name in names if name not in own and not _TEMPORARY.fullmatch(name)]
    if not entries:
        return
    shown = ", ".join(sorted(entries)[:3]) + (f" and {len(entries) - 3:,} more" if len(entries) > 3 else "")
    from ..run_marks import runs_in

    runs = runs_in(str(folder))
    if runs:  # `--out runs`: a folder of runs, each in a folder of its own (as `cnnctl runs` lists them)
        raise CnnctlError.at(
            f"--out {folder} is a folder of runs ({len(runs):,}, as `cnnctl runs {folder}` lists them), not a run "
            "folder: this run would write its files among them",
            Loc(str(folder)),
            hint=f"give this run a folder of its own: --out {folder / 'NAME'} (cnnctl makes it)",
        )
    raise CnnctlError.at(
        f"--out {folder} holds other files ({shown}) and no cnnctl run: the run would write its files among them",
        Loc(str(folder)),
        hint=f"give --out a new folder name (cnnctl makes it), e.g. --out {folder / 'run1'}, or an empty folder",
    )


@contextlib.contextmanager
def hold(folder: Path, *, new: bool, for_workers: bool = False, default: bool = False) -> Iterator[Claim]:
    """Own `folder` for as long as the block runs, or refuse at once if another run does.

    A new run creates the folder, then checks under the lock that no run is there yet (two
    runs may have raced for the same --out) and that the folder held nothing else. A new run
    in the `default` folder (no --out) takes the first of `folder`, `folder-2`, ... it can
    make (see _claim_numbered): the Claim's `folder`. The block calls `begin()` on what it is
    given once it starts writing (see Claim). `for_workers`: cnnctl's launcher holds it for
    the workers it starts, and tells them so.
    """
    if os.environ.get(HELD_BY_LAUNCHER) == os.path.abspath(folder):  # a worker of the launcher that holds it
        yield Claim(folder)
        return
    number = 1
    if new and default:
        number = _claim_numbered(folder)
        folder, created = numbered(folder, number), True
    else:
        created = new and not folder.exists()
    if new and not default:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot_create(folder, exc) from None
    refuse_links_out(str(folder), _RUNS_OWN)  # before the lock file is opened: it is one of them
    fd = _lock(folder, new)
    claim = Claim(folder, fd, locked=fd is not None, number=number)
    try:
        if new:
            refuse_existing_run(folder)
            if not created:
                refuse_other_files(folder)
        if for_workers:
            os.environ[HELD_BY_LAUNCHER] = os.path.abspath(folder)
        yield claim
    finally:
        if for_workers:
            os.environ.pop(HELD_BY_LAUNCHER, None)
        if fd is not None and claim.begun:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the lock file says who holds it only while someone does
        if created:  # a run that stopped before writing anything (a mistake in its settings, a signal)
            _remove_if_bare(folder)  # leaves no empty folder
        if fd is not None:
            os.close(fd)  # and releases the lock


def _remove_if_bare(folder: Path) -> None:
    """Remove a folder this run made that holds nothing, or only its lock file."""
    with contextlib.suppress(OSError):
        if [p.name for p in folder.iterdir()] in ([LOCK], []):
            (folder / LOCK).unlink(missing_ok=True)
            folder.rmdir()


def _lock(folder: Path, new: bool) -> int | None:
    """The descriptor of the held lock file (None without fcntl); a CnnctlError naming the
    process that holds it otherwise. Nothing is written to it yet (Claim.begin does). The
    lock file stays: removing it would let two runs lock two different files of the same name."""
    if fcntl is None:
        return None
    path = folder / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise_write_failure(exc, path)
        raise WriteFailed(path, str(exc)) from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.read(fd, 4096).decode(errors="replace").splitlines()
        os.close(fd)
        if exc.errno not in (errno.EACCES, errno.EAGAIN):  # no locks here (NFS without its lock manager)
            unlocked = f"this file system cannot lock files ({exc.strerror}): nothing keeps another run out"
            sys.stderr.write(Problem(unlocked, Loc(str(folder))).format("warning") + "\n")
            return None
        raise in_use(folder, holder, new) from None
    return fd


def in_use(folder: Path, holder: list[str] | None = None, new: bool = False) -> CnnctlError:
    """The message for a run folder another process holds (`holder`: its lock file's lines, read
    here where not given)."""
    if holder is None:
        try:
            holder = (folder / LOCK).read_bytes()[:4096].decode(errors="replace").splitlines()
        except OSError:
            holder = []
    return CnnctlError.at(  # at the folder, as every run-folder error (JSON `file`)
        "the run folder is in use by " + _describe(holder),
        Loc(str(folder)),
        hint="a run folder belongs to one run at a time: wait for that run to end, or stop it "
        "(Ctrl-C saves a checkpoint)" + ("; or give this run another --out" if new else ""),
    )


def _sign(fd: int, path: Path) -> None:
    """Who holds the lock, for the message of a run that is refused while this one runs."""
    try:
        os.ftruncate(fd, 0)
        # A record: the command's own bytes, a name that is not UTF-8 (surrogate-escaped) as it was given.
        os.write(fd, f"{os.getpid()}\n{socket.gethostname()}\n{_command()}\n".encode(errors="surrogateescape"))
    except OSError as exc:
        raise_write_failure(exc, path)
        raise WriteFailed(path, str(exc)) from None


def _describe(holder: list[str]) -> str:
    if len(holder) < 2 or not holder[0].isdigit():  # it has just taken the lock and not yet written
        return "another process"
    command = f" ({holder[2]})" if len(holder) > 2 and holder[2] else ""
    return f"process {holder[0]} on host {holder[1]}{command}"


def _command() -> str:
    name = Path(sys.argv[0]).name
    program = "cnnctl" if name in ("__main__.py", "cnnctl") else name  # `python -m cnnctl` runs __main__.py
    text = shlex.join([program, *sys.argv[1:]])
    return text if len(text) <= 200 else text[:197] + "..."


def remove_leftovers(folder: Path) -> None:
    """Remove the temporary files of writes that a killed run never finished."""
    for path in folder.glob(".*.tmp"):
        if _TEMPORARY.fullmatch(path.name):
            path.unlink(missing_ok=True)
