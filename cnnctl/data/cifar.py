"""CIFAR-10, python version, read without unpickling arbitrary objects (and without numpy).

The batches are Python pickles of a dict whose `data` is a numpy array. A restricted
unpickler resolves only the three numpy names such an array needs, to small stand-ins that
keep its raw bytes; every other global (`os.system`, ...) is refused, so a hostile file can
run nothing.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import CnnctlError, Loc
from . import Split
from .adapt import Raw, n

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from . import Request, Source

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{k}" for k in range(1, 6)]
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
FILES = [*TRAIN_FILES, TEST_FILE, META_FILE]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MAX_FILE = 256 << 20  # a real batch is 31 MB


class _DType:
    """Stands in for `numpy.dtype(spec, align, copy)`: remembers the spec."""

    def __init__(self, spec=None, align=0, copy=0):
        self.spec = spec.decode("latin-1") if isinstance(spec, bytes) else spec
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _NDArrayType:
    """Stands in for the `numpy.ndarray` class, only ever passed to `_reconstruct`."""


class _Array:
    """Stands in for an ndarray: shape, dtype spec and the raw bytes, nothing evaluated."""

    def __init__(self, shape=(0,), dtype=None, raw=b""):
        self.shape, self.dtype, self.raw = tuple(shape), dtype, raw

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("an array state that is not (version, shape, dtype, fortran, data)")
        _version, shape, dtype, fortran, raw = state
        if fortran:
            raise pickle.UnpicklingError("a Fortran-ordered array")
        self.shape, self.dtype, self.raw = tuple(shape), dtype, raw


def _reconstruct(cls, shape, typecode):
    if cls is not _NDArrayType:
        raise pickle.UnpicklingError("_reconstruct of something other than an ndarray")
    return _Array()


def _frombuffer(buffer, dtype, shape, order):  # numpy's reduction under pickle protocol 5
    if order != "C" and order != b"C":
        raise pickle.UnpicklingError("a Fortran-ordered array")
    if not isinstance(buffer, (bytes, bytearray, memoryview, pickle.PickleBuffer)):
        raise pickle.UnpicklingError("an array buffer that is not bytes")
    return _Array(shape, dtype, bytes(buffer))


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NDArrayType,
    ("numpy", "dtype"): _DType,
}


class Refused(pickle.UnpicklingError):
    """A pickle asked for a global outside the allowed numpy names."""


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves the numpy array names to stand-ins and refuses every other global."""

    def find_class(self, module: str, name: str) -> Callable[..., object]:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise Refused(f"{module}.{name}")
        return found

    def persistent_load(self, pid: object) -> NoReturn:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_load(path: Path) -> object:
    """Unpickle `path` with `RestrictedUnpickler` (bytes keys, as Python 2 wrote them)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE:
            raise CnnctlError.at(f"{path.stat().st_size:,} bytes: too large for a CIFAR-10 batch", Loc(str(path)))
        data = path.read_bytes()
    except FileNotFoundError:
        raise CnnctlError.at("file not found", Loc(str(path))) from None
    except OSError as exc:
        raise CnnctlError.at(f"cannot read: {exc.strerror or exc}", Loc(str(path))) from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Refused as exc:
        raise CnnctlError.at(
            f"refused to unpickle `{exc}`: only numpy arrays, lists, numbers and strings are read",
            Loc(str(path)),
            hint="this is not a CIFAR-10 batch; a pickle that names other objects could run code",
        ) from None
    except RecursionError:
        raise CnnctlError.at("not a CIFAR-10 batch: nested too deeply", Loc(str(path))) from None
    except Exception as exc:  # a damaged pickle raises anything from EOFError to TypeError
        raise CnnctlError.at(f"not a readable CIFAR-10 batch: {type(exc).__name__}: {exc}", Loc(str(path))) from None


def _key(d: dict, name: str, path: Path):
    for k in (name.encode(), name):
        if k in d:
            return d[k]
    raise CnnctlError.at(f"not a CIFAR-10 batch: no `{name}` entry", Loc(str(path)))


def read_batch(path: Path) -> Split:
    """One batch file: images (N, 3, 32, 32) uint8 and labels (N,) int64, every field checked."""
    path = Path(path)
    batch = safe_load(path)
    if not isinstance(batch, dict):
        raise CnnctlError.at(f"not a CIFAR-10 batch: a {type(batch).__name__}, not a dict", Loc(str(path)))
    data = _key(batch, "data", path)
    labels = _key(batch, "labels", path)
    if not isinstance(data, _Array):
        raise CnnctlError.at("not a CIFAR-10 batch: `data` is not an array", Loc(str(path)))
    spec = getattr(data.dtype, "spec", None)
    if spec not in ("u1", "|u1", "uint8", "B"):
        raise CnnctlError.at(f"not a CIFAR-10 batch: `data` is of type {spec!r}, not uint8", Loc(str(path)))
    if len(data.shape) != 2 or not all(type(d) is int for d in data.shape) or data.shape[1] != 3 * 32 * 32:
        from ..shapes import format_shape

        raise CnnctlError.at(
            f"not a CIFAR-10 batch: `data` is {format_shape(data.shape)}, not N x 3072", Loc(str(path))
        )
    count = data.shape[0]
    raw = data.raw.encode("latin-1") if isinstance(data.raw, str) else data.raw
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != count * 3072:
        size = len(raw) if isinstance(raw, (bytes, bytearray)) else 0
        raise CnnctlError.at(f"truncated: {n(size)} bytes of pixels for {n(count)} images", Loc(str(path)))
    if not isinstance(labels, list) or len(labels) != count or not all(type(v) is int for v in labels):
        raise CnnctlError.at(f"not a CIFAR-10 batch: `labels` is not a list of {n(count)} integers", Loc(str(path)))
    bad = next((v for v in labels if not 0 <= v < len(CLASSES)), None)
    if bad is not None:
        raise CnnctlError.at(f"label {bad} out of range 0-9", Loc(str(path)))
    y = torch.tensor(labels, dtype=torch.int64)
    x = (
        torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(count, 3, 32, 32)
        if count
        else torch.empty(0, 3, 32, 32, dtype=torch.uint8)
    )
    return Split(x, y)


def read_classes(path: Path) -> list[str]:
    meta = safe_load(path)
    names = _key(meta, "label_names", path) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != len(CLASSES) or not all(isinstance(v, (bytes, str)) for v in names):
        raise CnnctlError.at("not a CIFAR-10 batches.meta: `label_names` is not a list of 10 names", Loc(str(path)))
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in names]


def find_batches(folder: Path) -> Path | None:
    """The folder holding the batches: `folder/cifar-10-batches-py` or `folder` itself."""
    for candidate in (folder / FOLDER, folder):
        if (candidate / TEST_FILE).is_file() or any((candidate / f).is_file() for f in TRAIN_FILES):
            return candidate
    return None


def read_folder(batches: Path, name: str = "cifar10") -> Raw:
    """The batches in `batches`: data_batch_* for training, test_batch the test split (and
    validation, there being no other; a lone kind is split); the class names from batches.meta when present."""
    train_files = [batches / f for f in TRAIN_FILES if (batches / f).is_file()]
    test = batches / TEST_FILE
    notes: list[str] = []
    classes = read_classes(batches / META_FILE) if (batches / META_FILE).is_file() else list(CLASSES)
    train = None
    if train_files:
        parts = [read_batch(f) for f in train_files]
        train = Split(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]))
        if len(train_files) < len(TRAIN_FILES):
            notes.append(f"{len(train_files)} of the 5 training batches are in {batches}")
    test_split = read_batch(test) if test.is_file() else None
    if train is not None and test_split is not None:
        notes.append(f"{n(len(train))} training and {n(len(test_split))} test (test_batch) images")
        return Raw(name, classes, train, None, notes, test=test_split, test_from="test_batch")
    only = train if train is not None else test_split
    assert only is not None
    notes.append(f"only {'test_batch' if train is None else 'training batches'} in {batches}: validation is held out")
    return Raw(name, classes, only, None, notes)


def load_source(source: Source, request: Request) -> Raw:
    """The registered `cifar10` (a cnnctl.data.Source) from its folder (holding
    cifar-10-batches-py/), downloaded there from its mirrors when missing (MD5 checked)."""
    from .download import Offline, extract, fetch

    folder = request.folder
    batches = find_batches(folder)
    notes = []
    if batches is None:
        if not request.download:
            raise _missing(source, folder, "download is off")
        ((name, md5),) = source.files
        archive = folder / name
        try:
            fetch([m + name for m in source.mirrors], archive, md5=md5)
        except Offline as exc:
            raise _missing(source, folder, f"offline? downloading failed: {exc}") from None
        try:
            extract(archive, folder, [f"{FOLDER}/{f}" for f in FILES])
        finally:
            archive.unlink(missing_ok=True)
        notes.append(f"downloaded {name} (MD5 checked) and extracted it")
        batches = folder / FOLDER
    raw = read_folder(batches)
    raw.notes[:0] = notes
    return raw


def _missing(source, folder: Path, why: str) -> CnnctlError:
    ((name, md5),) = source.files
    return CnnctlError.at(
        f"cifar10 is not in {folder} ({why}): expected {FOLDER}/ with {', '.join(FILES)}",
        hint=f"download {source.mirrors[0]}{name} (MD5 {md5}) and extract it in {folder}, "
        f"or point --data-dir / $CNNCTL_DATA at a folder holding `{folder.name}/{FOLDER}/`",
    )
