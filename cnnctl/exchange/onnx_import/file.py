"""The ONNX file itself: only a regular file, of at most MAX_ONNX_BYTES, read by cnnctl and then
parsed (`read_onnx`); `_regular_bytes` also reads a tensor's external data.
"""

from __future__ import annotations

import os
import stat

from ...errors import CnnctlError, Loc
from ...limits import MAX_ONNX_BYTES, MAX_ONNX_NODES, leads_out
from .not_onnx import other_format
from .told import _comment, _Unread


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a plain file"


REGULAR = "cnnctl reads only regular files: a FIFO or a device could block it or never end"


def _regular_bytes(
    path: str, limit: int, offset: int = 0, length: int | None = None, inside: str | None = None
) -> bytearray:
    """The bytes of the regular file `path`: all of them (at most `limit`), or `length` from `offset`.

    A folder, a FIFO or a device is refused before it is opened (opening a FIFO waits for a
    writer; /dev/zero never ends); the file is opened without blocking and checked again, in
    case another took its place in between. `inside`: the folder the file opened must lie in,
    checked again on the open file where the system names it (/proc/self/fd), so a link swapped
    in after the path was checked leads nowhere. Raises _Unread.
    """
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _Unread(f"{_kind_of(mode)}, not a regular file", REGULAR)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise _Unread("no such file") from None
    except PermissionError:
        raise _Unread("cannot be read: permission denied") from None
    except (OSError, ValueError) as exc:  # a loop of links, a name too long, a NUL in it
        raise _Unread(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    with os.fdopen(fd, "rb", buffering=0) as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Unread(f"{_kind_of(info.st_mode)}, not a regular file", REGULAR)
        opened = f"/proc/self/fd/{fd}"
        named = inside is not None and os.path.exists(opened)
        if named and leads_out(opened, inside) is not None:
            raise _Unread("not a file inside the model's folder (it was replaced by a link while read)")
        if length is None:
            if info.st_size > limit:
                raise _Unread(f"{info.st_size:,} bytes: more than cnnctl reads ({limit:,})")
            length = info.st_size
        elif offset + length > info.st_size:
            raise _Unread(f"bytes {offset:,} to {offset + length:,} of a file of {info.st_size:,}")
        data = bytearray(length)
        view, got = memoryview(data), 0
        file.seek(offset)
        while got < length:
            n = file.readinto(view[got:])
            if not n:  # it shrank while read
                break
            got += n
        return data[:got] if got < length else data


def read_onnx(path: str):
    """The ModelProto of the file at `path`; a CnnctlError at the file where it is not one."""
    try:
        import onnx
    except ImportError:
        raise CnnctlError.at(
            "reading ONNX needs the `onnx` package", hint="pip install 'cnnctl[onnx]' (or just `pip install onnx`)"
        ) from None
    try:
        data = _regular_bytes(path, MAX_ONNX_BYTES)
    except _Unread as refused:
        raise CnnctlError.at(refused.message, Loc(path), hint=refused.hint) from None
    # a TorchScript archive, a state_dict...: said so, never loaded
    other = other_format(data, _comment(os.path.basename(path)))
    if other is not None:
        raise CnnctlError.at(other[0], Loc(path), hint=other[1])
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # protobuf's DecodeError and friends: not what it claims to be
        raise CnnctlError.at(
            "not a readable ONNX file", Loc(path), hint="was it cut short, or is it another format?"
        ) from None
    if not model.HasField("graph"):
        raise CnnctlError.at("an ONNX file with no graph", Loc(path), hint="was it cut short, or is it another format?")
    if len(model.graph.node) > MAX_ONNX_NODES:
        raise CnnctlError.at(
            f"{len(model.graph.node):,} ONNX nodes: more than cnnctl reads ({MAX_ONNX_NODES:,})", Loc(path)
        )
    return model
