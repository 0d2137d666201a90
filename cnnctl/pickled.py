"""What a pickle file asks to import when loaded, read from its opcodes, never by loading it.

A pickle names a function or class to import (GLOBAL, STACK_GLOBAL) and may call it (REDUCE):
`os.system` so named runs a command. torch's weights_only loader refuses such a name in a zip
archive, and its message says which; a bare pickle (pickle.dump) it refuses before reaching
the name (`Unsupported operand`), so the name is found here, from the opcodes alone
(pickletools.genops reads them without building anything), for the same message either way.
"""

from __future__ import annotations

import io
import pickletools
import zipfile

from .errors import CnnctlError, Loc
from .files import Unread, open_regular
from .limits import MAX_PICKLE_BYTES, MAX_PICKLE_OPS

# What torch.save's legacy format names (its tensors rebuilt, its storages' classes, an
# OrderedDict of them): torch's loader allows these, and a file naming only them asks for no code.
_TORCHS = ("torch", "collections.OrderedDict", "_codecs.encode", "builtins.set", "builtins.frozenset",
           "builtins.bytearray", "builtins.slice", "builtins.complex")  # fmt: skip
_STRINGS = frozenset(
    ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING")
)
_LEGACY_PICKLES = 5  # torch.save's legacy format: its magic number, protocol, system, data and storage keys


def asks_for_code(path: str) -> str | None:
    """The first function or class (`posix.system`) the pickle file at `path` names to import
    when loaded, other than torch's own (_TORCHS); None where it names none, or stops being a
    pickle. A zip archive (torch.save's) is read for its data.pkl; a bare pickle over the legacy
    format's pickles one after another. At most MAX_PICKLE_OPS opcodes are read."""
    try:
        with open_regular(path) as file:  # never a FIFO: `runs` asks of every run's checkpoints
            if zipfile.is_zipfile(file):  # torch.save's archive: its pickle is `<name>/data.pkl`
                archive = zipfile.ZipFile(file)
                pickles = [m for m in archive.namelist() if m.endswith("/data.pkl") or m == "data.pkl"]
                if not pickles:
                    return None
                if archive.getinfo(pickles[0]).file_size > MAX_PICKLE_BYTES:  # read whole below: opcodes one by one
                    return None  # from the archive's stream cost four times as much
                return _first_named(io.BytesIO(archive.read(pickles[0])), MAX_PICKLE_OPS)[0]
            file.seek(0)
            # In memory, at most MAX_PICKLE_BYTES: an opcode may claim any length (2**40 bytes of a
            # 20-byte file), which genops would ask a file for in one read; a buffer gives what it has.
            pickles = io.BytesIO(file.read(MAX_PICKLE_BYTES))
            read = 0
            for _ in range(_LEGACY_PICKLES):
                named, ops = _first_named(pickles, MAX_PICKLE_OPS - read)
                read += ops
                if named is not None or read >= MAX_PICKLE_OPS or not pickles.read(1):
                    return named
                pickles.seek(-1, 1)
    # loading it says why
    except (Unread, OSError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError, MemoryError, OverflowError):
        return None
    return None


def _first_named(file, most: int) -> tuple[str | None, int]:
    """The first name not torch's that one pickle of `file`, from where it stands, imports,
    and the opcodes read; None unless the pickle is whole (read to its STOP within `most`
    opcodes): bytes that only look like opcodes for a while (a zip cut short, a text file's
    `cat\ndog\n` read as GLOBAL) name nothing. Only the opcodes a name is made of are looked at:
    `runs` reads every run's checkpoints, tens of thousands of opcodes each."""
    last: list = ["", ""]  # the last two strings pushed: STACK_GLOBAL's module and name
    memo: dict[int, str] = {}
    ops, first, name = 0, None, ""
    try:
        for op, arg, _ in pickletools.genops(file):
            ops += 1
            name = op.name
            if name in _STRINGS:
                last = [last[1], arg if isinstance(arg, str) else bytes(arg).decode("latin-1")]
            elif name in _NAMED:
                named = str(arg).replace(" ", ".", 1) if name != "STACK_GLOBAL" else f"{last[0]}.{last[1]}"
                if first is None and not _torchs(named):
                    first = named
            elif name in _MEMO:
                if name == "MEMOIZE":
                    memo[len(memo)] = last[1]
                elif name in _PUT:
                    memo[int(arg)] = last[1]
                else:
                    last = [last[1], memo.get(int(arg), "")]
            if ops >= most:
                break
    except (ValueError, KeyError, EOFError, MemoryError, OverflowError):  # not a pickle (any more), or cut short
        return None, ops
    return (first if name == "STOP" else None), ops


_NAMED = frozenset(("GLOBAL", "INST", "STACK_GLOBAL"))
_PUT = frozenset(("BINPUT", "LONG_BINPUT", "PUT"))
_MEMO = frozenset(("MEMOIZE", *_PUT, "BINGET", "LONG_BINGET", "GET"))


def _torchs(named: str) -> bool:
    return any(named == safe or named.startswith(safe + ".") for safe in _TORCHS)


def code_refused(path: str, named: str) -> CnnctlError:
    """The one message of a file that asks to run code (`named`) when loaded: never loaded."""
    return CnnctlError.at(
        f"this file asks to run code when loaded (`{named}`); it was not loaded",
        Loc(path),
        hint="cnnctl reads tensors and plain values only; do not open this one with "
        "torch.load(weights_only=False) unless you trust where it came from",
    )
