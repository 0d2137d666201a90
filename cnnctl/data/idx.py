"""IDX files (MNIST, Fashion-MNIST): read with every header field checked, gzip'd or not."""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import CnnctlError, Loc
from ..files import MISSING, Unread, open_regular
from ..shapes import format_shape
from . import ClassNames, Split
from .adapt import Raw, check_memory, check_memory_free, n

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import BinaryIO

    from . import Request, Source

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_BLOCK = 1 << 20

# MD5 of the uncompressed MNIST test files (shared/data/README.md and the MNIST page): the
# gzip wrapping differs between copies, the contents must not.
MNIST_T10K_RAW_MD5 = {
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def _bad(path: Path, message: str, hint: str | None = None) -> CnnctlError:
    return CnnctlError.at(message, Loc(str(path)), hint=hint)


def _longer(path: Path, claim: str, held: str) -> CnnctlError:
    return _bad(
        path,
        f"longer than its header says: it claims {claim}, the file holds {held} after it: "
        "not an IDX file, or a damaged one",
    )


def _read_exact(stream, count: int, path: Path, claim: str) -> bytearray:
    """Exactly `count` bytes, read in blocks (a header claiming billions of images allocates
    nothing), and no more: a `.gz`'s check of its size (see _check_claim)."""
    out = bytearray()
    while len(out) < count:
        block = stream.read(min(_BLOCK, count - len(out)))
        if not block:
            raise _bad(path, f"truncated: the header claims {claim} but the file ends after {n(len(out))} bytes")
        out += block
    if stream.read(1):
        raise _longer(path, claim, "more")
    return out


def _check_claim(path: Path, stream, kind: str, dims: tuple[int, ...], count: int, header: int) -> str:
    """Refuse a header's claim of `count` data bytes before reading any: above what cnnctl
    holds in memory, or (uncompressed) other than what the file holds, so a lying header
    costs nothing. A `.gz` cannot tell its size: the reading bounds it, asking for `count`
    bytes, then one more (gzip decompresses at most one read buffer beyond). Returns the
    claim in words, for the messages."""
    claim = f"{n(dims[0])} {kind} ({format_shape(dims)}, {n(count)} bytes)"
    hint = "a damaged or foreign file? (all 60,000 MNIST training images take 47 MB)"
    check_memory(count, f"the header claims {claim}", Loc(str(path)), hint)
    check_memory_free(count, f"the header claims {claim}", Loc(str(path)), hint)
    if isinstance(stream, gzip.GzipFile):
        return claim
    held = os.fstat(stream.fileno()).st_size - header
    if held < count:
        raise _bad(
            path,
            f"truncated: the header claims {claim} but the file holds {n(held)} bytes after it",
            "an interrupted download or copy? fetch the file again",
        )
    if held > count:
        raise _longer(path, claim, f"{n(held)} bytes")
    return claim


def read_idx(path: str | Path, magic: int, inside: str | None = None) -> torch.Tensor:
    """An IDX file of unsigned bytes as a uint8 tensor of the dimensions in its header.

    `magic` is the expected magic number (0x803: images N x rows x cols; 0x801: labels N).
    A `.gz` name is decompressed. Only a regular file is read (files.open_regular), inside the
    folder `inside` where one is given. Raises `CnnctlError` naming the file for anything wrong.
    """
    path = Path(path)
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    try:
        with open_regular(path, inside) as file, _decompressed(path, file) as stream:
            head = stream.read(4)
            if len(head) < 4:
                raise _bad(path, f"truncated: {len(head)} bytes, shorter than an IDX header")
            (found,) = struct.unpack(">I", head)
            if found != magic:
                hint = None
                if found in (IMAGES_MAGIC, LABELS_MAGIC):
                    other = "images" if found == IMAGES_MAGIC else "labels"
                    hint = f"this is an IDX {other} file; the {kind} file was expected here"
                elif head[:2] == b"\x1f\x8b":
                    hint = "the file is gzip-compressed: its name should end in .gz"
                raise _bad(path, f"not an IDX {kind} file: magic number 0x{found:08x}, expected 0x{magic:08x}", hint)
            ndim = magic & 0xFF
            dims_raw = stream.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise _bad(path, "truncated: the file ends inside its header")
            dims = struct.unpack(f">{ndim}I", dims_raw)
            if kind == "images" and (dims[1] == 0 or dims[2] == 0):
                raise _bad(path, f"images of {dims[1]}x{dims[2]} pixels: the header is wrong")
            count = 1
            for d in dims:
                count *= d
            claim = _check_claim(path, stream, kind, dims, count, 4 + 4 * ndim)
            data = _read_exact(stream, count, path, claim)
    except CnnctlError:
        raise
    except Unread as refused:  # missing, a FIFO, a folder, a link leading out of the data folder
        said = refused.message
        if said == MISSING:
            said = f"a link to {os.readlink(path)}, where no file is" if path.is_symlink() else "file not found"
        raise _bad(path, said, refused.hint) from None
    except gzip.BadGzipFile as exc:
        raise _bad(path, f"not a gzip file ({exc})", "a file named .gz must be gzip-compressed") from None
    except EOFError:
        raise _bad(path, "truncated: the compressed data ends early (an interrupted download?)") from None
    except zlib.error as exc:
        raise _bad(path, f"damaged compressed data ({exc})") from None
    except OSError as exc:
        raise _bad(path, f"cannot read: {exc.strerror or exc}") from None
    if not data:
        return torch.empty(dims, dtype=torch.uint8)
    return torch.frombuffer(data, dtype=torch.uint8).view(*dims)


def _decompressed(path: Path, file: BinaryIO) -> BinaryIO:
    """`file` itself, or read through gzip where its name ends in .gz (closed with it)."""
    return gzip.GzipFile(fileobj=file, mode="rb") if path.name.endswith(".gz") else contextlib.nullcontext(file)


def find_file(folder: Path, name: str, *, any_kind: bool = False) -> Path | None:
    """`name` or `name.gz` in `folder` (the uncompressed one first), None if neither exists.
    `any_kind`: a name that is there but no file (a FIFO, a folder, a link to nowhere) is
    found too, a regular file first, so that reading it says what it is (read_idx)."""
    base = name[:-3] if name.endswith(".gz") else name
    candidates = (folder / base, folder / f"{base}.gz")
    found = next((c for c in candidates if c.is_file()), None)
    if found is None and any_kind:
        found = next((c for c in candidates if os.path.lexists(c)), None)
    return found


def read_pair(images: Path, labels: Path, num_classes: int | None = None, inside: str | None = None) -> Split:
    """An images file and its labels file as a split, checked against each other (each read
    only inside the folder `inside`, where one is given: read_idx)."""
    x = read_idx(images, IMAGES_MAGIC, inside)
    y = read_idx(labels, LABELS_MAGIC, inside)
    if x.shape[0] != y.shape[0]:
        raise _bad(
            labels,
            f"{n(y.shape[0])} labels for the {n(x.shape[0])} images of {images.name}",
            "images and labels files must come from the same split",
        )
    y = y.to(torch.int64)
    if num_classes is not None and len(y) and int(y.max()) >= num_classes:
        raise _bad(
            labels, f"label {int(y.max())} out of range: this data set has {num_classes} classes (0-{num_classes - 1})"
        )
    return Split(x.unsqueeze(1), y)


def class_names(read: list[tuple[Split, Path]]) -> ClassNames:
    """'0', '1', ... up to the largest label of the splits, each given with its labels file,
    and which file holds that largest label: the class count is the data's, so the file is
    what to check when it is more than the network expects."""
    labelled = [(int(s.y.max()), labels) for s, labels in read if len(s)]
    if not labelled:
        return ClassNames()
    top, where = max(labelled, key=lambda pair: pair[0])
    used = len(torch.unique(torch.cat([s.y for s, _ in read])))
    check = None
    if used < top + 1:
        check = f"check {where.name}: only {used} of the labels 0-{top} occur (a stray {top} is often a damaged byte)"
    return ClassNames([str(k) for k in range(top + 1)], origin=f"labels up to {top} in {where}", check=check)


def combine(
    name: str,
    classes: list[str],
    train: Split | None,
    val: Split | None,
    notes: list[str],
    where: str,
    test: Split | None = None,
    test_from: str = "the test files",
) -> Raw:
    """Raw from up to three splits; a lone split (train, val or test) is the one to hold out
    from, and a lone test split is trained on (MNIST's t10k files alone): `no_test` says so, which train
    warns of (train.run_notes.data_caveats) and evaluate --split test refuses with."""
    present = {k: s for k, s in (("training", train), ("validation", val), ("test", test)) if s is not None}
    if len(present) == 1:
        why = ""
        if test is not None:
            why = f"only {test_from} are in {where}, and they were trained on (validation held out from them)"
        lone = test_from if test is not None else ""
        return Raw(name, classes, next(iter(present.values())), None, notes, no_test=why, train_from=lone)
    sizes = {k: tuple(s.x.shape[2:]) for k, s in present.items()}
    if len(set(sizes.values())) > 1:
        said = ", ".join(f"{k} images are {h}x{w}" for k, (h, w) in sizes.items())
        raise CnnctlError.at(f"{where}: {said}: they must be the same size")
    notes.append(", ".join(f"{n(len(s))} {k}" for k, s in present.items()) + " images")
    if train is None:  # validation and test files only: train on the validation files
        train, val = val, None
    return Raw(name, classes, train, val, notes, test=test, test_from=test_from)


def load_source(source: Source, request: Request) -> Raw:
    """A registered IDX data set (mnist, fashion-mnist: a cnnctl.data.Source) from its folder:
    train-* for training and t10k-* the test split (validation too, as there is no other);
    with only one of the two, that one is split. Missing altogether: downloaded from its
    mirrors (each file's MD5 checked), or an error."""
    from .download import Offline, fetch

    folder, download = request.folder, request.download
    name, classes, mirrors, files = source.name, list(source.classes), source.mirrors, dict(source.files)
    names = list(files)

    def pair(prefix: str) -> tuple[Path, Path] | None:
        images = find_file(folder, f"{prefix}-images-idx3-ubyte.gz")
        labels = find_file(folder, f"{prefix}-labels-idx1-ubyte.gz")
        return (images, labels) if images and labels else None

    found = {prefix: pair(prefix) for prefix in ("train", "t10k")}
    notes: list[str] = []
    if not any(found.values()):
        if not download:
            raise missing(name, folder, names, mirrors, "download is off")
        for file in names:
            if not find_file(folder, file):
                try:
                    fetch([m + file for m in mirrors], folder / file, md5=files[file])
                except Offline as exc:
                    raise missing(name, folder, names, mirrors, f"offline? downloading failed: {exc}") from None
                notes.append(f"downloaded {file} (MD5 checked)")
        found = {prefix: pair(prefix) for prefix in ("train", "t10k")}
    train = read_pair(*found["train"], num_classes=len(classes)) if found["train"] else None
    test = read_pair(*found["t10k"], num_classes=len(classes)) if found["t10k"] else None
    if test is None:  # the train files alone (the t10k files alone: combine says so)
        notes.append(f"only the train files are in {folder}: validation is held out from them")
    return combine(name, classes, train, None, notes, str(folder), test=test, test_from="the t10k files")


def missing(name: str, folder: Path, names: list[str], mirrors: Sequence[str], why: str) -> CnnctlError:
    """The error for a data set that is not on disk: which files, where, and from where."""
    urls = "\n    ".join(m + f for m in mirrors[:1] for f in names)
    return CnnctlError.at(
        f"{name} is not in {folder} ({why}): expected {', '.join(names)}",
        hint=f"put the files in {folder} (or point --data-dir / $CNNCTL_DATA at a folder holding "
        f"`{folder.name}/`); they are at\n    {urls}",
    )
