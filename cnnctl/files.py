"""Opening a file for reading: the one way cnnctl opens what a user names or a run folder holds.

Only a regular file is read. Opening a FIFO waits for a writer that may never come, and a
device (/dev/zero, a terminal) never ends, so both would hang cnnctl or fill its memory. The
path is opened without blocking (O_NONBLOCK: a FIFO opens at once, and a read of an empty one
returns nothing), then what was opened is checked with fstat, so a FIFO put in place of the
file between a check of the path and the open is caught too. Every refusal is an `Unread`,
which its caller turns into a message at the file. No torch here: the analysis path uses it.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

from .limits import leads_out

TYPE_CHECKING = False  # typing's own name for it, without importing typing (see records.py)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

MISSING = "no such file"  # Unread's message for a path where nothing is
LEADS_OUT = "cnnctl reads a folder's files only inside it: copy the file in (`cp --dereference`) rather than link to it"
REGULAR = "cnnctl reads only regular files: a FIFO or a device could block it or never end"


class Unread(Exception):
    """What cnnctl refuses to read, and a hint: a file it will not open (here), a node of an ONNX
    file it cannot express (onnx_import)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


class TooLarge(Unread):
    """A file larger than its reader's limit, refused before it is read (`size`: its bytes)."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"{size:,} bytes: more than cnnctl reads ({limit:,})")
        self.size, self.limit = size, limit


class TooShort(Unread):
    """A file that ends before the bytes asked of it (regular_bytes' `offset` and `length`): a
    copy cut short, or a reference to another, longer file."""


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, in words (its st_mode)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a plain file"


def not_regular(path: str | os.PathLike) -> str | None:
    """What the existing `path` is when it is no regular file (`a FIFO (named pipe)`, `a device`),
    for a message that says so rather than "no such file"; None for a regular file or none at all."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) else kind_of(mode)


def run_folder_of(path: str | os.PathLike) -> str | None:
    """The real path of the folder holding `path` where that is a run folder (what cnnctl train
    wrote: run_marks.is_run_folder), else None."""
    from .run_marks import is_run_folder  # it imports this module

    folder = os.path.dirname(os.path.abspath(path))
    return os.path.realpath(folder) if is_run_folder(folder) else None


@contextmanager
def open_regular(path: str | os.PathLike, inside: str | None = None) -> Iterator[BinaryIO]:
    """The regular file `path` opened for reading in binary (buffered), closed on leaving.

    A folder, a FIFO, a device is refused before it is opened and again on what was opened.
    `inside`: a folder the opened file must lie in, checked on the open file where the system
    names it (/proc/self/fd), so a link swapped in after the path was checked leads nowhere.
    A link leading out of `inside` is never opened, and is told with where it leads; so is one
    leading out of a run folder (run_marks.is_run_folder: `cnnctl train` wrote the folder
    holding `path`), whose files are read only inside it (`network.yaml -> /etc/shadow`, a
    folder of links to another run's files). Raises Unread, with the reason in words."""
    folder = "the folder"
    if inside is None:
        inside, folder = run_folder_of(path), "its run folder"
    target = leads_out(os.fspath(path), inside) if inside is not None else None
    if target is not None and os.path.lexists(target):  # to nowhere, it is told as missing
        raise Unread(f"a link leading out of {folder} {inside}, to {target}: not read", LEADS_OUT)
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise Unread(f"{kind_of(mode)}, not a regular file", REGULAR)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise Unread(MISSING) from None
    except PermissionError:
        raise Unread("cannot be read: permission denied") from None
    except (OSError, ValueError) as exc:  # a loop of links, a name too long, a NUL in it
        raise Unread(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unread(f"{kind_of(info.st_mode)}, not a regular file", REGULAR)
        opened = f"/proc/self/fd/{fd}"
        named = inside is not None and os.path.exists(opened)
        if named and leads_out(opened, inside) is not None:
            raise Unread("not a file inside its folder (it was replaced by a link while read)", LEADS_OUT)
        # A regular file never blocks; blocking again keeps reads whole (a buffered read of a
        # non-blocking descriptor may stop short where the kernel says "try again").
        os.set_blocking(fd, True)
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        yield file


def regular_bytes(
    path: str | os.PathLike, limit: int, offset: int = 0, length: int | None = None, inside: str | None = None
) -> bytearray:
    """The bytes of the regular file `path` (open_regular): all of them (at most `limit`), or
    `length` from `offset`, refused before anything is allocated where the file does not hold
    them (TooShort). Shorter than asked where the file shrank while read. Raises Unread."""
    with open_regular(path, inside) as file:
        size = os.fstat(file.fileno()).st_size
        if length is None and size == 0:  # empty, or a file the kernel makes as it is read (/proc): its size 0
            data = bytearray(file.read(limit + 1))
            if len(data) > limit:
                raise TooLarge(len(data), limit)
            return data
        if length is None:
            if size > limit:
                raise TooLarge(size, limit)
            length = size
        elif offset + length > size:
            raise TooShort(f"bytes {offset:,} to {offset + length:,} of a file of {size:,}")
        data = bytearray(length)
        view, got = memoryview(data), 0
        file.seek(offset)
        while got < length:
            n = file.readinto(view[got:])
            if not n:  # it shrank while read
                break
            got += n
        return data[:got] if got < length else data


def regular_text(path: str | os.PathLike, limit: int) -> str:
    """The UTF-8 text of the regular file `path` of at most `limit` bytes (a run's config.json,
    status.json). Raises Unread, or UnicodeDecodeError for bytes that are not UTF-8."""
    return regular_bytes(path, limit).decode("utf-8-sig")


def regular_lines(path: str | os.PathLike, limit: int, line_limit: int, max_lines: int) -> Iterator[tuple[int, bytes]]:
    """The lines of the regular file `path` of at most `limit` bytes (numbered from 1, without
    their line break), read one at a time: a line longer than `line_limit` bytes, or more than
    `max_lines` lines, is an Unread naming where, so a file of any size costs a bounded time and memory."""
    with open_regular(path) as file:
        size = os.fstat(file.fileno()).st_size
        if size > limit:
            raise TooLarge(size, limit)
        for number, line in enumerate(iter(lambda: file.readline(line_limit + 1), b""), start=1):
            if number > max_lines:
                raise Unread(f"more than {max_lines:,} lines: more than cnnctl reads")
            if len(line) > line_limit and not line.endswith(b"\n"):
                raise Unread(f"line {number:,} is longer than {line_limit:,} bytes: more than cnnctl reads")
            yield number, line.rstrip(b"\r\n")


LOOKED_AT = 1000  # entries of a folder read for a message: a folder of a million files is not walked


def first_entries(folder: str) -> list[os.DirEntry]:
    """The first LOOKED_AT entries of `folder` but hidden ones (none when it cannot be read)."""
    from itertools import islice

    try:
        with os.scandir(folder) as found:
            return [e for e in islice(found, LOOKED_AT) if not e.name.startswith(".")]
    except OSError:
        return []


def is_dir_entry(entry: os.DirEntry) -> bool:
    """Whether `entry` is a folder (through a link): False for a loop of links or a link to
    nowhere, which os.DirEntry.is_dir raises for (ELOOP) where the user's folder holds one."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def is_file_entry(entry: os.DirEntry) -> bool:
    """Whether `entry` is a file (through a link): False for a loop of links (see is_dir_entry)."""
    try:
        return entry.is_file()
    except OSError:
        return False


def near_file(path: str, suffixes: tuple[str, ...]) -> str | None:
    """The file beside the missing `path`, of one of `suffixes`, whose name is nearest to its name
    (`resnet_basc.yaml`: `resnet_basic.yaml`; `modle.onnx`: `model.onnx`), as a path beside it:
    compared without the suffix, which they all share and which would make any two names close.
    A file's name is near within a slip: at most 2 edits, or a third of its length for a longer
    one; a folder's files share a pattern that makes closest's words near (`bare_repeat`,
    `bare_concat`: four edits), and naming one of them would send the user to another network."""
    from .errors import closest, edits

    folder = os.path.dirname(path)
    entries = sorted(e.name for e in first_entries(folder or ".") if is_file_entry(e))
    stems = {
        stem_of(e, suffixes): e for e in reversed(entries) if e.lower().endswith(suffixes)
    }  # the first suffix wins
    stem = stem_of(os.path.basename(path), suffixes)
    near = closest(stem, stems)
    if near is None or edits(stem.lower(), near.lower()) > max(2, len(stem) // 3):
        return None
    return os.path.join(folder, stems[near])


def stem_of(name: str, suffixes: tuple[str, ...]) -> str:
    """A file's name without the first of `suffixes` it ends in (any case)."""
    return next((name[: -len(s)] for s in suffixes if name.lower().endswith(s)), name)


# The file argument that names the standard stream, as for cat and most Unix tools: standard
# input where a file is read (`cat net.yaml | cnnctl summarize -`), standard output where one
# is written (`-o -`).
DASH = "-"
STDIN_NAME = "<stdin>"  # what messages call it
_stdin: list[bytes] = []  # what was read of it: read once, however many times it is named


def stdin_bytes(limit: int) -> bytes:
    """What standard input holds (`cat net.yaml | cnnctl summarize -`), at most `limit` bytes,
    read once for the process. Raises Unread for a terminal (nothing was piped in) and TooLarge
    past `limit` (its size then: `limit` + 1, as no more is read)."""
    import sys

    if not _stdin:
        stream = sys.stdin
        if stream is None or stream.isatty():
            raise Unread(
                "standard input is a terminal: nothing was piped in",
                "`-` reads a network from a pipe (`cat net.yaml | cnnctl summarize -`); or give the file's name",
            )
        _stdin.append(stream.buffer.read(limit + 1))
    if len(_stdin[0]) > limit:
        raise TooLarge(len(_stdin[0]), limit)
    return _stdin[0]
