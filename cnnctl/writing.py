"""Writing the files a command makes: never over what it must not replace (a folder, a FIFO or a
device, a file it reads, a run's own files, a file of another kind, a file beside -o's that cnnctl
did not write for it: replaces_companion), through a temporary file beside it and a rename (a
reader never sees half of it, a write that fails leaves nothing), and named safely (`file_stem`).
Pictures, exports, imported networks, packs and a run's own files
are all written so. os.path rather than pathlib: the analysis commands start without it."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable

from .errors import CnnctlError, FaultError, Loc, Problem
from .files import not_regular

# A write that failed for lack of room, by its errno: what happened, what to do. The one wording
# every command gives (a run's files, exports, packs, pictures).
NO_ROOM = {
    errno.ENOSPC: ("the disk is full", "make room on the disk"),
    errno.EDQUOT: ("the disk quota is used up", "make room in your disk quota"),
    errno.EFBIG: ("the file-size limit (ulimit -f) was hit", "raise the limit"),
}


def no_room(exc: BaseException | None) -> tuple[str, str] | None:
    """What happened and what to do, where `exc` or an exception it was raised from or while
    handling is a write that failed for lack of room (NO_ROOM); None otherwise. A library that
    tells an OSError only in its own words (safetensors: `I/O error: ... (os error 28)`) is read
    for its errno."""
    return next((NO_ROOM[number] for number in _errnos(exc) if number in NO_ROOM), None)


def exception_chain(exc: BaseException | None) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or while handling, in that order."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _errnos(exc: BaseException | None) -> list[int | None]:
    """The errnos (`_errno`) of `exc` and of the exceptions it was raised from or while handling."""
    return [_errno(e) for e in exception_chain(exc)]


def _errno(exc: BaseException) -> int | None:
    """The errno of a failed write: an OSError's, or the one a library's message ends with
    (safetensors' `(os error 28)`)."""
    import re

    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno
    said = re.search(r"\(os error (\d+)\)", str(exc))
    return int(said.group(1)) if said else None


def disk_full_hint(exc: BaseException | None) -> str | None:
    """`the disk is full: make room on the disk` (no_room's two parts), or None."""
    room = no_room(exc)
    return f"{room[0]}: {room[1]}" if room else None


# A write that failed for the machine, not for what the user named: no room (NO_ROOM) or the
# device itself failing (EIO). Any other errno (permission denied, a read-only file system, a
# name too long, a folder where a file was named) is the user's to fix.
MACHINE_FAULTS = frozenset({*NO_ROOM, errno.EIO})


def machine_fault(exc: BaseException | None) -> bool:
    """Whether `exc`, or an exception it was raised from or while handling, is a write that
    failed for the machine (MACHINE_FAULTS), read as `no_room` reads it."""
    return any(number in MACHINE_FAULTS for number in _errnos(exc))


def fault_kind(machine: bool) -> type[CnnctlError]:
    """Whose fault a failed write is, as the error it raises: the machine's (`machine_fault`), a
    FaultError, exit 1; else the user's mistake, a CnnctlError, exit 2."""
    return FaultError if machine else CnnctlError


def write_failed(message: str, loc: Loc | None, exc: BaseException, hint: str | None = None) -> CnnctlError:
    """The one rule for a write (or a folder made to write in) that failed with `exc`: the
    machine's fault (a full disk, a quota, an I/O error) is a FaultError, exit 1, with
    `disk_full_hint` where there is no room; anything else is the user's mistake, exit 2, with
    `hint`. Every command's files (exports, packs, pictures, a run folder made, a run's own
    files: train.rundir) are told so."""
    return fault_kind(machine_fault(exc)).at(message, loc, hint=disk_full_hint(exc) or hint)


def write_reason(exc: BaseException) -> str | None:
    """Why a write failed, in the system's words: the strerror of the first of `exc` and the
    exceptions it was raised from or while handling that has an errno (a library's words for
    one, "Error while serializing: I/O error: ... (os error 13)", are the system's); None where
    none has one."""
    for failed in exception_chain(exc):
        number = _errno(failed)
        if number is not None:
            return getattr(failed, "strerror", None) or os.strerror(number)
    return None


def file_stem(network: str) -> str:
    """A network's name (`cnnctl.graph.Graph.title`) as a file or folder name of one level:
    letters, digits, `-`, `_` and `.` kept, all else `_` (the `:` and `=` of settings given on
    top of a member, `/` of an expression `${1/1000}`, which would make folders), no leading dot."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in network).lstrip(".")
    return stem or "network"


def _exists(path: str) -> CnnctlError:
    return CnnctlError.at(
        f"`{path}` already exists, and a file not named with -o is never replaced",
        hint=f"replace it with `-o {path}`, or name another file with -o",
    )


def refuse_existing(path: str) -> None:
    """Stop before any work if `path` exists: a file the user did not name is never replaced."""
    if os.path.lexists(path):
        raise _exists(path)


def _cannot_write(path: str, exc: BaseException) -> CnnctlError:
    """A write of `path` that failed, at the file, with what to do where the disk is full
    (`write_failed`: exit 1 for the machine's fault, 2 for the user's)."""
    reason = write_reason(exc) or str(exc)
    return unwritable(path) or write_failed(f"cannot write the file: {reason}", Loc(path), exc)


def refuse_unwritable(path: str, example: str = "FILE", reads: Iterable[str | None] = (),
                      replaces: Iterable[str] = ()) -> None:  # fmt: skip
    """Raise `unwritable`'s refusal of `path`, if any: before any work is done for it."""
    refused = unwritable(path, example, reads, replaces)
    if refused is not None:
        raise refused


def unwritable(path: str, example: str = "FILE", reads: Iterable[str | None] = (),
               replaces: Iterable[str] = ()) -> CnnctlError | None:  # fmt: skip
    """Why the file `path` cannot, or must not, be written, with a hint; else None. `example`: a
        file name to offer. Plain before trying: a folder by that name; a file where a folder of its
    path is to be (the folders missing are made as it is written: make_folders). Never
        written over: what is not a regular file (a device, a FIFO: the rename would put a file in
        its place; a link to a regular file is followed, as `open` does); a file a run folder holds
        (its checkpoints and records are the run's own: a new file beside them is written); any of
        the files `reads` (what the command reads: the network file, the ONNX file, a checkpoint);
        an existing file whose suffix is not one of `replaces` (the kinds of file the command
        writes, where it names them: `schema -o net.yaml` would put JSON over a network file)."""
    import shlex

    folder = os.path.dirname(path)
    if os.path.isdir(path):
        return CnnctlError.at(f"`{path}` is a folder: name the file to write",
                              hint=f"e.g. -o {shlex.quote(os.path.join(path, example))}")  # fmt: skip
    blocker = _file_in_the_way(folder)  # a missing folder is made as the file is written (make_folders)
    if blocker is not None:  # the file's folder, or one above it, is a file: offer the file beside it
        beside = os.path.join(os.path.dirname(blocker), os.path.basename(path))
        which = "its folder" if blocker == folder else f"its folder `{folder}` cannot be made:"
        return CnnctlError.at(f"cannot write `{path}`: {which} `{blocker}` is a file, not a folder",
                              hint=f"write it beside that file, e.g. -o {shlex.quote(beside)}; or move "
                              f"`{blocker}` away, and the folder is made")  # fmt: skip
    other = f"name another file, e.g. -o {shlex.quote(os.path.join(folder, example))}"
    kind = not_regular(path)  # a link is followed; a dangling link is replaced, as before
    if kind is not None:  # a device's folder (/dev) holds devices: offer one here instead
        return CnnctlError.at(f"`{path}` is {kind}, not a file: give a file path",
                              hint=f"name a file, e.g. -o {shlex.quote(example)}")  # fmt: skip
    from .run_marks import is_run_folder

    if os.path.lexists(path) and is_run_folder(folder or "."):  # a new file beside them harms nothing
        return CnnctlError.at(f"`{path}` is a file of the run folder `{folder or '.'}`: its files are the run's own",
                              hint=f"write it outside the run, e.g. -o {shlex.quote(example)}")  # fmt: skip
    for read in reads:
        if read and _same_file(path, read):
            same = "" if os.path.normpath(read) == os.path.normpath(path) else f" (`{read}`)"
            return CnnctlError.at(f"`{path}` is a file this command reads{same}: writing it would destroy it",
                                  hint=other)  # fmt: skip
    replaces = tuple(replaces)
    if replaces and os.path.lexists(path) and not path.lower().endswith(replaces):
        return CnnctlError.at(
            f"`{path}` exists and is not a {' or '.join(replaces)} file: -o replaces only a file of the kind written",
            hint=f"{other}, or remove `{path}` first",
        )
    return None


def replaces_companion(path: str, output: str, written_before: Callable[[str], bool], what: str) -> bool:
    """Whether writing `path`, the file a command writes beside -o `output` (`what`: "the weights"),
    replaces one: False where nothing is there; True where the file there is the one cnnctl wrote
    for `output` before (`written_before(path)`: its recorded metadata, its tensors' names); any
    other file there is refused before anything is written, as `unwritable` refuses a file of
    another kind: the person named `output`, not the file beside it. Export's state_dict beside
    a source file and import's weights beside a network file alike."""
    import shlex

    if not os.path.lexists(path) or (os.path.isfile(path) and written_before(path)):
        return os.path.lexists(path)
    stem, suffix = os.path.splitext(output)
    other = shlex.quote(stem + "_2" + suffix)
    raise CnnctlError.at(
        f"`{path}` exists and is not {what} cnnctl wrote for `{output}` before: -o {output} writes {what} "
        "there, which would destroy it",
        hint=f"move `{path}` away, or name another file with -o, e.g. -o {other}",
    )


def _file_in_the_way(folder: str) -> str | None:
    """The nearest existing part of `folder` where that is no folder (`notes.txt` of
    `notes.txt/net.svg`): the folders below it cannot be made. None where they can be (or are)."""
    while folder and not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
    return folder if folder and not os.path.isdir(folder) else None


def make_folders(path: str) -> None:
    """The folders `path` is to be written in, made where missing: one rule for every file a
    command writes (-o), as `train --out` and `pack -o` make theirs (`mkdir -p`)."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)


def _same_file(path: str, other: str) -> bool:
    """Whether `path` and `other` are the same file (a link or a hard link to it included)."""
    try:
        return os.path.samefile(path, other)
    except OSError:  # either missing
        return os.path.realpath(path) == os.path.realpath(other)


def write_file(path: str, data: bytes, replace: bool = True) -> None:
    """Write `path` through a temporary file beside it and a rename (a reader never sees half
    of it); without `replace`, only as a new file (checked as it is created: another writer
    cannot slip in between)."""
    if not replace:
        _write_new(path, data)
        return

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    write_through(path, write)


def write_through(path: str, write: Callable[[str], None], keep_suffix: bool = False) -> None:
    """Make `path` by `write(temporary path beside it)`, then a rename: a reader never sees half
    of it, and a write that fails leaves nothing behind. `keep_suffix`: the temporary file ends
    as `path` does (`.net.tmp.onnx`), for what reads it back by its suffix."""
    refuse_unwritable(path)
    try:
        replace_through(path, write, keep_suffix)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    except Exception as exc:  # a library's own error for a full disk (safetensors'): told as one
        if no_room(exc) is None:
            raise
        raise _cannot_write(path, exc) from None


def replace_through(path: str, write: Callable[[str], None], keep_suffix: bool = False) -> None:
    """The mechanism of `write_through`, without its checks or its message: `write(.NAME.tmp)`
    beside `path`, then a rename over it; whatever stops it (a full disk, a check that failed,
    Ctrl-C) is raised as it came, with no half file left. A run's own files are written by it
    too (cnnctl.train.rundir), which tell their faults in the run's words."""
    folder, name = os.path.split(path)
    stem, suffix = os.path.splitext(name) if keep_suffix else (name, "")
    if not is_utf8(stem):  # a name the OS gave, not UTF-8: what writes the temporary file may refuse it
        stem = f"cnnctl-{os.getpid()}"  # (torch's ONNX exporter does); the rename gives it its name
    tmp = os.path.join(folder, f".{stem}.tmp{suffix if is_utf8(suffix) else ''}")
    try:
        make_folders(path)
        if os.path.lexists(tmp):  # a temporary file left by a write killed, or a link put there: never written
            os.unlink(tmp)  # through (`write` may follow a link: the file it leads to would be overwritten)
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def refuse_links_out(folder: str, names: Iterable[str]) -> None:
    """Refuse, before anything is written, the entries `names` of `folder` (a run's files) that are
    links leading out of it (`skipped.txt -> ~/.bashrc`): what cnnctl writes into a run folder it
    writes there, never through a link to a file elsewhere, as what it reads of one it reads
    there (files.open_regular). Each such entry is a Problem at it, all in one CnnctlError."""
    from .limits import leads_out

    inside = os.path.realpath(folder)
    problems = []
    for name in names:
        path = os.path.join(folder, name)
        if os.path.islink(path) and (target := leads_out(path, inside)) is not None:
            problems.append(Problem(f"{name} is a link leading out of the run folder, to {target}: a run writes its "
                                    "files in its folder, never through a link", Loc(path),
                                    hint="remove the link: the run writes the file itself"))  # fmt: skip
    if problems:
        raise CnnctlError(problems)


def is_utf8(text: str) -> bool:
    """Whether `text` is UTF-8 text: not a name whose bytes Python holds as surrogates."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _write_new(path: str, data: bytes) -> None:
    refuse_unwritable(path)
    created = False
    try:
        make_folders(path)
        with open(path, "xb") as f:
            created = True
            f.write(data)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        if created:
            os.unlink(path)  # no half picture left behind
        raise _cannot_write(path, exc) from None
