"""What a pickle file asks to import when loaded, and its plain values, read without loading it.

A pickle names a function or class to import (GLOBAL, STACK_GLOBAL) and may call it (REDUCE):
`os.system` so named runs a command. torch's weights_only loader refuses such a name in a zip
archive, and its message says which; a bare pickle (pickle.dump) it refuses before reaching
the name (`Unsupported operand`), so the name is found here, for the same message either way.
Python's own unpickler reads the opcodes (in C: a checkpoint's pickle of tens of thousands of
opcodes in a few milliseconds), with every name it asks for noted and answered by a stand-in
(_Stand) that runs nothing and keeps nothing: what is built is the pickle's plain values (a
checkpoint's settings and network record), each tensor a stand-in.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from typing import Any

from .errors import CnnctlError, Loc
from .files import open_regular
from .limits import MAX_PICKLE_BYTES
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
    plain values (each tensor, storage or other object a _Stand; None where it is not whole)."""

    named: str | None
    values: Any


_NOTHING = Pickled(None, None)


class _Stand:
    """What every object a pickle asks to build stands as while it is read: made from anything,
    given any state or items, it keeps none and runs nothing."""

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


class _Mapping(dict):
    """An OrderedDict as it is read (a state_dict's): its items kept, its attributes (`_metadata`) not."""

    def __setstate__(self, state: Any) -> None:
        pass


class _Reader(pickle.Unpickler):
    """An unpickler that imports nothing: each name asked for is noted (the first not SAFE_GLOBALS
    in `named`) and answered with _Stand (an OrderedDict with _Mapping, to keep a checkpoint's
    mappings); a persistent id (torch.save's storages) is a _Stand too."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.named: str | None = None

    def find_class(self, module: str, name: str) -> Any:
        named = f"{module}.{name}"
        if self.named is None and named not in SAFE_GLOBALS:
            self.named = named
        return _Mapping if named == "collections.OrderedDict" else _Stand

    def persistent_load(self, pid: Any) -> Any:
        return _Stand()


def asks_for_code(path: str) -> str | None:
    """The first function or class (`posix.system`) the pickle file at `path` names to import
    when loaded, other than what torch's weights_only loader allows (SAFE_GLOBALS); None where
    it names none, or stops being a pickle (read_pickle)."""
    return read_pickle(path).named


def read_pickle(path: str) -> Pickled:
    """The pickle file at `path`, read without loading it (_Reader): what it asks to import, and
    a zip archive's values. A zip archive (torch.save's) is read for its data.pkl alone (at most
    MAX_PICKLE_BYTES; its tensors are never read); a bare pickle over the legacy format's pickles
    one after another, of at most MAX_PICKLE_BYTES in all. A pickle counts only when whole (read
    to its STOP): bytes that only look like opcodes for a while (a zip cut short, a text file's
    `cat\ndog\n` read as GLOBAL) name nothing."""
    try:
        with open_regular(path) as file:  # never a FIFO: `runs` asks of every run's checkpoints
            if zipfile.is_zipfile(file):  # torch.save's archive: its pickle is `<name>/data.pkl`
                archive = zipfile.ZipFile(file)
                pickles = [m for m in archive.namelist() if m.endswith("/data.pkl") or m == "data.pkl"]
                if not pickles or archive.getinfo(pickles[0]).file_size > MAX_PICKLE_BYTES:
                    return _NOTHING
                reader = _Reader(io.BytesIO(archive.read(pickles[0])))
                values = reader.load()
                return Pickled(reader.named, values)
            file.seek(0)
            # In memory, at most MAX_PICKLE_BYTES: an opcode may claim any length (2**40 bytes of a
            # 20-byte file), which a read from the file would ask for at once; a buffer gives what it has.
            reader = _Reader(io.BytesIO(file.read(MAX_PICKLE_BYTES)))
            for _ in range(_LEGACY_PICKLES):
                named = reader.named
                try:
                    reader.load()
                except EOFError:  # no further pickle: what the whole ones named
                    return Pickled(named, None)
                if reader.named is not None:
                    return Pickled(reader.named, None)
    # Anything else a pickle does wrong (an unknown opcode, one cut short, a call of a stand-in's
    # result): it is not whole, and loading it says why.
    except Exception:  # Unread among them: a file that is not a regular one
        return _NOTHING
    return _NOTHING


def code_refused(path: str, named: str) -> CnnctlError:
    """The one message of a file that asks to run code (`named`) when loaded: never loaded."""
    return CnnctlError.at(
        f"this file asks to run code when loaded (`{named}`); it was not loaded",
        Loc(path),
        hint="cnnctl reads tensors and plain values only; do not open this one with "
        "torch.load(weights_only=False) unless you trust where it came from",
    )
