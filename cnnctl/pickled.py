"""What a pickle file asks to import when loaded, and its plain values, read without loading it.

A pickle names a function or class to import (GLOBAL, STACK_GLOBAL) and may call it (REDUCE):
`os.system` so named runs a command. torch's weights_only loader refuses such a name in a zip
archive, and its message says which; a bare pickle (pickle.dump) it refuses before reaching
the name (`Unsupported operand`), so the name is found here, for the same message either way.
Python's own unpickler, the one written in Python (_Reader), reads the opcodes, with every name
it asks for noted and answered by a stand-in (_Stand) that runs nothing and keeps nothing: what
is built is the pickle's plain values (a checkpoint's settings and network record), each tensor a
stand-in. Each opcode is counted, dicts and sets take only keys whose hashes no file can make
collide, and a length is never allocated before it is read: what reading costs is bounded by
MAX_PICKLE_OPS and MAX_PICKLE_HELD, whatever the file; only the pickle's own bytes are read (a
checkpoint of ResNet-50 and Adam's state, 960 tensors in 28,000 opcodes: about 20 ms; see
benchmarks/pickle_reading.py).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO

from .errors import CnnctlError, Loc, one_line
from .files import Unread, open_regular
from .limits import MAX_PICKLE_BYTES, MAX_PICKLE_HELD, MAX_PICKLE_OPS, weight_bytes_past
from .records import record

# What torch.load(weights_only=True) imports (torch._weights_only_unpickler's allowed globals, as
# torch 2.13 lists them): a file naming only these asks for no code. cnnctl's checkpoints name
# no other (their tensors rebuilt, their storages, an OrderedDict of them).
_CONTAINERS = ("collections.OrderedDict", "collections.Counter", "_codecs.encode", "builtins.bytearray",
               "builtins.set", "builtins.complex")  # fmt: skip
_TENSORS = ("torch.Tensor", "torch.Size", "torch.device", "torch.nn.parameter.Parameter",
            "torch.serialization._get_layout", "torch._tensor._rebuild_from_type_v2",
            "torch.storage.TypedStorage", "torch.storage.UntypedStorage")  # fmt: skip
_REBUILDS = ("tensor", "tensor_v2", "tensor_v3", "parameter", "parameter_with_state", "sparse_tensor",
             "nested_tensor", "qtensor", "meta_tensor_no_storage", "wrapper_subclass",
             "device_tensor_from_cpu_tensor", "device_tensor_from_numpy")  # fmt: skip
_DTYPES = ("float16", "float32", "float64", "bfloat16", "complex32", "complex64", "complex128", "bool",
           "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
           "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
           "float4_e2m1fn_x2", *(f"int{n}" for n in range(1, 8)), *(f"uint{n}" for n in range(1, 8)),
           "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
           "per_channel_affine_float_qparams")  # fmt: skip
_LEGACY = ("Byte", "Char", "Short", "Int", "Long", "Half", "Float", "Double", "BFloat16", "Bool")  # torch.FloatTensor
_COMPLEX = ("ComplexDouble", "ComplexFloat")
_QUANTIZED = ("QInt32", "QInt8", "QUInt2x4", "QUInt4x2", "QUInt8")
SAFE_GLOBALS = frozenset(
    (
        *_CONTAINERS,
        *_TENSORS,
        *(f"torch._utils._rebuild_{kind}" for kind in _REBUILDS),
        *(f"torch.{kind}" for kind in _DTYPES),
        *(f"torch.{kind}Storage" for kind in _LEGACY + _COMPLEX + _QUANTIZED),
        *(f"torch.cuda.{kind}Storage" for kind in _LEGACY + _COMPLEX),
        *(f"{where}.{kind}Tensor" for where in ("torch", "torch.cuda") for kind in _LEGACY),
        *(
            f"{where}.{kind}Tensor"
            for where in ("torch.sparse", "torch.cuda.sparse")
            for kind in _LEGACY
            if kind != "Bool"
        ),
    )
)
_LEGACY_PICKLES = 5  # torch.save's legacy format: its magic number, protocol, system, data and storage keys


@record
class Pickled:
    """What a pickle file holds, read without loading it: the first name it asks to import that
    torch's weights_only loader would not (None: none), and, for a zip archive (torch.save's), its
    plain values (each tensor, storage or other object a _Stand; None where it is not whole);
    `refused`: why it was not read to its end, where its shape is one no checkpoint has (more
    opcodes than MAX_PICKLE_OPS, a key no file may hash, a length past the pickle), else None;
    `damaged`: why no loader reads it, where it is not a whole pickle or a zip archive torch.save
    could have written (archive_fault), else None."""

    named: str | None
    values: Any
    refused: str | None = None
    damaged: str | None = None


_NOTHING = Pickled(None, None)


class Refused(Exception):
    """A pickle's shape that no checkpoint has and reading it on would cost without bound."""


class _Stand:
    """What every object a pickle asks to build stands as while it is read: made from anything,
    given any state or items, it keeps none and runs nothing. One an allowed name made is of that
    name's subclass (_made_by), which says what a pickle that calls it calls (`named`)."""

    named = ""  # the allowed name (`torch.Size`) whose stand-in made this one; "" another's

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


def _key(key: Any) -> Any:
    """`key` when a dict or set may hold it cheaply: text and bytes (their hashes salted each run),
    a whole number below 2**61 (its own hash: distinct numbers never collide), True, False, None,
    a stand-in (hashed by identity). Any other key (a float, a tuple, a number of 2**61 or more)
    may be one of many a file chose to share one hash, which makes filling a dict quadratic: a
    250 KB pickle of such keys took minutes. A checkpoint's keys are names and parameter numbers."""
    if type(key) in (str, bytes, bool, type(None)) or isinstance(key, _Stand):
        return key
    if type(key) is int and -(2**61) < key < 2**61:
        return key
    kind = "a number of 2**61 or more" if type(key) is int else type(key).__name__
    raise Refused(f"a dict or set keyed by {kind}, which no checkpoint's is")


class _Keys(dict):
    """A dict as read: only keys of _key's kinds."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(_key(key), value)

    def __setstate__(self, state: Any) -> None:
        pass


class _Mapping(_Keys):
    """An OrderedDict as it is read (a state_dict's): its items kept, its attributes (`_metadata`) not."""

    named = "collections.OrderedDict"


class _Set(set):
    """A set as read: only members of _key's kinds."""

    def add(self, item: Any) -> None:
        super().add(_key(item))

    def update(self, *items: Any) -> None:
        for each in items:
            for item in each:
                self.add(item)

    def __setstate__(self, state: Any) -> None:
        pass


# What an opcode's object holds, about, in bytes (CPython 3.11, 64-bit): an empty set 216, a dict
# 64 and its entries, a list or tuple 56, an instance 48, a memo entry about 100 with its dict's
# growth; any other 32 (an int, a float, a reference on the stack, a string's header; its
# characters are the pickle's own bytes, bounded by MAX_PICKLE_BYTES).
_HELD = {
    **dict.fromkeys((pickle.EMPTY_SET, pickle.FROZENSET, pickle.ADDITEMS), 232),
    **dict.fromkeys(
        (
            pickle.EMPTY_DICT,
            pickle.DICT,
            pickle.EMPTY_LIST,
            pickle.LIST,
            pickle.TUPLE,
            pickle.TUPLE1,
            pickle.TUPLE2,
            pickle.TUPLE3,
            pickle.MARK,
        ),
        64,
    ),  # fmt: skip
    **dict.fromkeys((pickle.REDUCE, pickle.NEWOBJ, pickle.NEWOBJ_EX, pickle.INST, pickle.OBJ, pickle.BUILD), 64),
    **dict.fromkeys((pickle.PUT, pickle.BINPUT, pickle.LONG_BINPUT, pickle.MEMOIZE), 100),
}


_HELD_BY = [_HELD.get(bytes([code]), 32) for code in range(256)]  # _HELD by opcode, looked up once each


def _too_many(ops: int, held: int) -> Refused:
    """Why a pickle of `ops` opcodes whose objects hold `held` bytes is read no further."""
    if ops > MAX_PICKLE_OPS:
        return Refused(f"more than {MAX_PICKLE_OPS:,} opcodes, which no checkpoint has")
    return Refused(f"objects of more than {MAX_PICKLE_HELD // 2**20:,} MiB, which no checkpoint's pickle holds")


def _dict(reader: Any) -> None:  # DICT: the items since the mark
    items = reader.pop_mark()
    made = _Keys()
    for i in range(0, len(items) - 1, 2):
        made[items[i]] = items[i + 1]
    reader.append(made)


def _frozenset(reader: Any) -> None:  # FROZENSET: the items since the mark
    reader.append(frozenset(_key(item) for item in reader.pop_mark()))


def _bytearray8(reader: Any) -> None:  # BYTEARRAY8: its length is allocated before it is read
    (length,) = struct.unpack("<Q", reader.read(8))
    if length > MAX_PICKLE_BYTES:
        raise Refused(f"a byte array of {length:,} bytes, more than the pickle holds")
    reader.append(bytearray(reader.read(length)))


_CALLED = "()"  # a name so ended (`torch.Size()`): the pickle calls what calling that name returned


def _reduce(reader: Any) -> None:  # REDUCE: call what is under the arguments
    callee = reader.stack[-2]
    if isinstance(callee, type):  # a class or function the pickle named (find_class's stand-in)
        pickle._Unpickler.load_reduce(reader)  # type: ignore[attr-defined]
        return
    # what a call made, called in turn: torch refuses it, quoting that object's repr; noted as
    # find_class notes a name (the first that runs code), counted once the pickle is whole
    if reader.named is None:
        if not getattr(callee, "named", ""):  # a plain value, a storage: no name says what it is (not whole)
            raise TypeError(f"a pickle calls a {type(callee).__name__}")
        reader.named = callee.named + _CALLED
    reader.stack.pop()
    reader.stack[-1] = _Stand()


_made_by: dict[str, type[_Stand]] = {}  # an allowed name's stand-in class: at most one per SAFE_GLOBALS


def _stand_for(named: str) -> type[_Stand]:
    """The stand-in class of the allowed name `named`, whose objects remember it (_Stand.named)."""
    if named not in _made_by:
        _made_by[named] = type("_Stand", (_Stand,), {"named": named})
    return _made_by[named]


def asked(named: str) -> str:
    """What a pickle asks to run, in words: the name it imports (`posix.system`), or the call of
    what an allowed one returned (`torch.Size()`: torch's own message quotes that object's repr)."""
    if named.endswith(_CALLED):
        return f"it calls what `{named[: -len(_CALLED)]}` returns"
    return f"`{named}`"


_LOADERS = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]  # Python's own unpickler, in Python
_LOADERS[pickle.EMPTY_DICT[0]] = lambda reader: reader.append(_Keys())
_LOADERS[pickle.DICT[0]] = _dict
_LOADERS[pickle.EMPTY_SET[0]] = lambda reader: reader.append(_Set())
_LOADERS[pickle.FROZENSET[0]] = _frozenset
_LOADERS[pickle.BYTEARRAY8[0]] = _bytearray8
_LOADERS[pickle.REDUCE[0]] = _reduce
# FRAME (protocol 4): the length of the opcodes that follow, read ahead by Python's unpickler into
# a buffer of its own; they are the same bytes in place, read as they come (_Reader.load)
_LOADERS[pickle.FRAME[0]] = lambda reader: reader.read(8)


def _invalid(code: int) -> Callable[[Any], None]:
    """The loader of the byte `code`, which is no opcode: the pickle is not whole."""

    def refuse(reader: Any) -> None:
        raise pickle.UnpicklingError(f"invalid load key, {bytes([code])!r}")

    return refuse


class _Reader(pickle._Unpickler):  # type: ignore[name-defined]
    """An unpickler that imports nothing: each name asked for is noted (the first not SAFE_GLOBALS
    in `named`) and answered with _Stand (an OrderedDict with _Mapping, to keep a checkpoint's
    mappings); a persistent id (torch.save's storages) is a _Stand too. Python's unpickler written
    in Python, whose every opcode cnnctl can see: each counted (load), dicts and sets holding
    only keys that hash apart (_key), a byte array's claimed length bounded. (The one in C sizes
    its memo to any index a file names and fills real dicts: a 10-byte file took 4 GB.)"""

    # an opcode's loader by its byte: every byte one, those no pickle has refused (_invalid)
    dispatch = [_LOADERS.get(code) or _invalid(code) for code in range(256)]

    def __init__(self, file: io.BytesIO | _Bounded) -> None:
        super().__init__(file)
        self.named: str | None = None
        self.ops = 0
        self.held = 0

    def load(self) -> Any:
        """The next pickle of the file, as Python's unpickler reads it (pickle._Unpickler.load),
        each opcode counted before it is run: each makes at most one object, so at most
        MAX_PICKLE_OPS opcodes bound the time reading takes (a few seconds), and the bytes their
        objects hold (_HELD) at most MAX_PICKLE_HELD what it holds. Counted here, in the loop,
        not by a wrapper of each loader: a call more for each of the 30,000 opcodes of a large
        checkpoint's pickle, where `runs` spends its time. The file is read directly, frames in
        place (FRAME)."""
        self.read, self.readline = self._file_read, self._file_readline
        self.metastack: list[Any] = []
        self.stack: list[Any] = []
        self.append = self.stack.append
        self.proto = 0
        read, dispatch, held_by = self.read, self.dispatch, _HELD_BY
        ops, held = self.ops, self.held
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError
                code = key[0]
                ops += 1
                held += held_by[code]
                if ops > MAX_PICKLE_OPS or held > MAX_PICKLE_HELD:
                    raise _too_many(ops, held)
                dispatch[code](self)
        except pickle._Stop as stop:  # type: ignore[attr-defined]  # STOP: the pickle is whole
            return stop.value
        finally:
            self.ops, self.held = ops, held

    def find_class(self, module: str, name: str) -> Any:
        named = f"{module}.{name}"
        if named not in SAFE_GLOBALS:
            if self.named is None:
                self.named = named
            return _Stand  # what it makes is not named on: the pickle has named what it runs
        return _Mapping if named == "collections.OrderedDict" else _stand_for(named)

    def persistent_load(self, pid: Any) -> Any:
        return _Stand()


def asks_for_code(path: str) -> str | None:
    """The first function or class (`posix.system`) the pickle file at `path` names to import
    when loaded, other than what torch's weights_only loader allows (SAFE_GLOBALS); None where
    it names none, or stops being a pickle (read_pickle)."""
    return read_pickle(path).named


LAID_OUT = "a zip archive, but not laid out as torch.save writes one"  # torch's loader refuses it


def archive_fault(file: BinaryIO) -> str | None:
    """Why torch's loader refuses the open file `file`, a zip archive, told from its directory
    alone, before any member is read: members declaring more bytes than cnnctl reads (a few
    compressed bytes may claim gigabytes: limits.weight_bytes_past, as a checkpoint with its
    optimizer's state), or not laid out as torch.save writes one (_layout_fault). None where it
    is not a zip archive, or none. The one judgement of what loading it (cnnctl.exchange.weights)
    and `runs` say of it."""
    return _archive(file)[1]


def _archive(file: BinaryIO) -> tuple[zipfile.ZipFile | None, str | None]:
    """The open file `file` as a zip archive, and its archive_fault: the archive None where it is
    not one, or no member is to be read (its directory unread, its sizes past the bound); one
    not laid out as torch.save writes one is given with its fault, its pickle read for what it
    names (a file that asks to run code is said so first)."""
    file.seek(0)
    if not zipfile.is_zipfile(file):
        return None, None
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        return None, f"{LAID_OUT} (its directory cannot be read: {one_line(str(exc))})"
    members = archive.infolist()
    past = weight_bytes_past([(one_line(m.filename), m.file_size) for m in members], weights_only=False)
    if past is not None:
        return None, past
    return archive, _layout_fault([m.filename for m in members])


def _layout_fault(names: list[str]) -> str | None:
    """How the members `names` (in the directory's order) are not laid out as torch's loader
    reads an archive, in words; None where they are: every member in the folder of the first
    (`archive/`), its `data.pkl` (the pickle) and `version` (or `.data/version`) among them."""
    if not names:
        return f"{LAID_OUT} (it holds no file)"
    if "/" not in names[0]:
        return f"{LAID_OUT} (its file `{one_line(names[0])}` is in no folder)"
    folder = names[0].split("/", 1)[0] + "/"
    stray = next((name for name in names if not name.startswith(folder)), None)
    if stray is not None:
        return f"{LAID_OUT} (its file `{one_line(stray)}` is outside the folder `{one_line(folder)}` of the others)"
    held = set(names)
    if folder + "data.pkl" not in held:
        return f"{LAID_OUT} (it has no `{one_line(folder)}data.pkl`, the pickle)"
    if folder + "version" not in held and folder + ".data/version" not in held:
        return f"{LAID_OUT} (it has no `{one_line(folder)}version`)"
    return None


def _archive_pickle(archive: zipfile.ZipFile) -> tuple[str, bytes] | None:
    """The pickle of torch.save's archive, as torch reads it: `<its folder>/data.pkl`, the folder
    of its first member, which every member is in (another data.pkl deeper in it is no
    checkpoint's), and its name; read to at most MAX_PICKLE_BYTES whatever the directory claims
    of its size. None where it has none; Refused where it is larger."""
    names = archive.namelist()
    member = names[0].split("/", 1)[0] + "/data.pkl" if names and "/" in names[0] else None
    if member is None or member not in names:
        return None
    with archive.open(member) as stream:
        data = stream.read(MAX_PICKLE_BYTES + 1)
    if len(data) > MAX_PICKLE_BYTES:
        raise Refused(f"more than {MAX_PICKLE_BYTES:,} bytes, which no checkpoint's does")
    return member, data


class _Bounded:
    """The first MAX_PICKLE_BYTES of an open file (a bare pickle, torch's legacy format), read as
    a pickle's stream: only the bytes its opcodes take, never what follows them (a legacy
    checkpoint's 100 MB of tensors, which reading the bound whole into memory read each time),
    and no read asks the file for more than is left of the bound (an opcode may claim 2**40
    bytes of a 20-byte file: asked for at once, that is the memory asked)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.size = min(os.fstat(file.fileno()).st_size, MAX_PICKLE_BYTES)
        self._at = 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self._at
        data = self._file.read(left if n < 0 or n > left else n)
        self._at += len(data)
        return data

    def readline(self) -> bytes:
        line = self._file.readline(self.size - self._at)
        self._at += len(line)
        return line

    def tell(self) -> int:
        return self._at


def _not_whole(stream: io.BytesIO | _Bounded) -> str:
    """What a pickle read from `stream` that broke off (an unknown opcode, an argument or a STOP
    past its end, a call of a stand-in's result) is, where it did, counting bytes from 1."""
    size = stream.size if isinstance(stream, _Bounded) else len(stream.getbuffer())
    if size == 0:
        return "not a whole pickle (it is empty)"
    return f"not a whole pickle (it stops at byte {stream.tell():,} of {size:,}, before its end)"


def read_pickle(path: str) -> Pickled:
    """The pickle file at `path`, read without loading it (_Reader): what it asks to import, and
    a zip archive's values. A zip archive (torch.save's) is read for its data.pkl alone (at most
    MAX_PICKLE_BYTES; its tensors are never read); a bare pickle over the legacy format's pickles
    one after another, of at most MAX_PICKLE_BYTES in all. A pickle counts only when whole (read
    to its STOP): bytes that only look like opcodes for a while (a zip cut short, a text file's
    `cat\ndog\n` read as GLOBAL) name nothing. One shaped as no checkpoint is (Refused) is said
    so, and what it named by then."""
    reader: _Reader | None = None
    stream: io.BytesIO | _Bounded | None = None
    fault: str | None = None
    member = ""  # the archive's pickle, where the file is one
    try:
        with open_regular(path) as file:  # never a FIFO: `runs` asks of every run's checkpoints
            archive, fault = _archive(file)  # `fault`: torch's loader would refuse it before its pickle
            if archive is None and fault is not None:
                return Pickled(None, None, damaged=fault)
            if archive is not None:  # torch.save's archive: its pickle is `<folder>/data.pkl`
                pickled = _archive_pickle(archive)
                if pickled is None:
                    return Pickled(None, None, damaged=fault)
                member, data = pickled
                stream = io.BytesIO(data)
                reader = _Reader(stream)
                values = reader.load()
                return Pickled(reader.named, values, damaged=fault)
            file.seek(0)
            stream = _Bounded(file)  # at most MAX_PICKLE_BYTES, what its pickles take of them
            if stream.size == 0:  # an empty file: no pickle, whole or not (`runs` lists it as a file)
                return _NOTHING
            reader = _Reader(stream)
            for count in range(_LEGACY_PICKLES):
                named, start = reader.named, stream.tell()
                try:
                    reader.load()
                except EOFError:
                    if count == 0 or stream.tell() > start:
                        raise
                    return Pickled(named, None)  # no further pickle: what the whole ones named
                if reader.named is not None:
                    return Pickled(reader.named, None)
    except Refused as refused:
        return Pickled(reader.named if reader is not None else None, None, str(refused), fault)
    except (Unread, OSError):  # not a regular file, or gone: no pickle was read
        return _NOTHING
    # Anything else a pickle does wrong (an unknown opcode, one cut short, a call of a stand-in's
    # result): it is not whole, and names nothing (bytes that only look like opcodes for a while).
    except Exception:
        if fault is not None:  # not laid out as torch reads one: said first
            return Pickled(None, None, damaged=fault)
        if stream is None:  # the archive's pickle could not be read out of it
            return Pickled(None, None, damaged=f"{LAID_OUT} (its `{one_line(member)}` cannot be read)")
        whole = _not_whole(stream)
        return Pickled(None, None, damaged=f"its `{one_line(member)}` is {whole}" if member else whole)
    return _NOTHING


def code_refused(path: str, named: str) -> CnnctlError:
    """The one message of a file that asks to run code (`named`) when loaded: never loaded."""
    return CnnctlError.at(
        f"this file asks to run code when loaded ({asked(named)}); it was not loaded",
        Loc(path),
        hint="cnnctl reads tensors and plain values only; do not open this one with "
        "torch.load(weights_only=False) unless you trust where it came from",
    )
