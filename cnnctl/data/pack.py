"""An image folder written as WebDataset tar shards (`cnnctl pack`): data of any size read
as a stream.

The folder is listed as training lists it (cnnctl.data.folder.list_image_folder: a class
subfolder per class, perhaps inside train/ val/ test/). Each image becomes one sample of
three tar members, written by webdataset's TarWriter: `KEY.jpg` (or `.png`) holding the
file's own bytes, never decoded nor re-encoded, and `KEY.cls` its class index as text. The
samples of a split are written in a seeded random order, so that each shard mixes the
classes: a stream that reads a few shards at a time still sees every class. Shards are
`out_dir/{split}-{000000}.tar`, each at most `shard_size` bytes but where one sample alone is
larger, written as `.{split}-{000000}.tar.part` and renamed once whole; beside them `classes.txt`
(a class name a line, in index order), `index.json` (written last: a folder without it was not
finished), and `skipped.txt` where files were left out. `.cnnctl-packing` marks the folder while a
pack writes it (removed once index.json is written): a pack killed leaves it, and training and
pack both tell such a folder as the interrupted pack it is (interrupted_pack).

Packing copies bytes; each file's header is read through Pillow (open_image) so that a file
that is not an image is left out here (and listed) rather than met in the middle of a
training.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CnnctlError, Loc, one_line
from ..files import not_regular
from ..limits import MAX_IMAGE_BYTES

INDEX_FORMAT = "cnnctl-shards"
INDEX_VERSION = 1
SPLITS = ("train", "val", "test")
# The files a pack writes beside its shards; a folder holding any of them (or a shard) is
# refused: packing never overwrites.
CLASSES_FILE, INDEX_FILE, SKIPPED_FILE = "classes.txt", "index.json", "skipped.txt"
PACKING_FILE = ".cnnctl-packing"  # there while a pack writes the folder: left by a pack that was killed
PART = ".part"  # a shard being written: `.train-000000.tar.part`, renamed `train-000000.tar` once whole
SHARD_NAME = re.compile(r"(train|val|test)-[0-9]{6}\.tar")  # the names pack gives its shards
# tar's layout: a 512-byte header before each member, its data padded to 512 bytes; two
# zero blocks end the archive. tarfile then pads the file to a record of 20 blocks (10,240
# bytes), which readers do not need: a shard is cut back to its end blocks (see closed_size).
BLOCK = 512
KEY_CHARS = 80  # a member name (key + ".jpg") fits ustar's 100 bytes: no extra pax header per member

Progress = Callable[[int, int], None]  # (images done, images in all)


NOT_AN_IMAGE = "not a PNG or JPEG file: not packed"  # why a file of a class folder is in skipped.txt
LEADS_OUT = "a link leading out of the folder, to {}: not read"  # why a link is in skipped.txt


@dataclass
class Shard:
    file: str  # its name in out_dir
    samples: int
    bytes: int


@dataclass
class PackResult:
    """What `pack` wrote: the shards per split, the images and bytes, and the files left out."""

    out_dir: str
    classes: list[str]
    shards: dict[str, list[Shard]]
    seed: int
    shard_size: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    not_images: list[str] = field(default_factory=list)  # files of the class folders not PNG or JPEG (never opened)
    notes: list[str] = field(default_factory=list)  # what listing the folder left out (images outside class folders)
    outside: list[tuple[str, str]] = field(default_factory=list)  # links leading out of the folder, where each leads

    def images(self, split: str | None = None) -> int:
        return sum(s.samples for k, shards in self.shards.items() if split in (None, k) for s in shards)

    def bytes(self, split: str | None = None) -> int:
        return sum(s.bytes for k, shards in self.shards.items() if split in (None, k) for s in shards)

    def oversized(self) -> list[Shard]:
        """The shards above `shard_size`: each holds one sample (an image, its class, their tar
        headers and the archive's end), which alone does not fit."""
        return [s for shards in self.shards.values() for s in shards if s.bytes > self.shard_size]

    def data(self) -> dict:
        """The result as JSON data (`cnnctl pack --format json`): bytes in keys ending `_bytes`, the bytes
        written `packed_bytes` alike for a shard, a split and all."""
        return {
            "dir": self.out_dir, "classes": self.classes, "seed": self.seed, "shard_size_bytes": self.shard_size,
            "splits": {k: {"images": self.images(k), "packed_bytes": self.bytes(k),
                           "shards": [{"file": s.file, "samples": s.samples, "packed_bytes": s.bytes} for s in shards]}
                       for k, shards in self.shards.items()},
            "images": self.images(), "packed_bytes": self.bytes(),
            "oversized_shards": [s.file for s in self.oversized()],
            "skipped": [{"file": f, "why": why} for f, why in self.skipped], "not_images": len(self.not_images),
        }  # fmt: skip


def pack(
    folder: str | os.PathLike, out_dir: str | os.PathLike, shard_size: int, seed: int = 0,
    progress: Progress | None = None,
) -> PackResult:  # fmt: skip
    """Write the image folder `folder` as shards of at most `shard_size` bytes in `out_dir`
    (created where missing; refused where it holds shards already), samples in the order of
    `seed`. `progress(done, total)` is called as images are written."""
    from .folder import list_image_folder

    writer = _writer_class()  # before anything is listed: a missing library is the first thing said
    folder, out = Path(folder).expanduser(), Path(out_dir).expanduser()
    if not folder.is_dir():
        raise CnnctlError.at("no such folder", Loc(str(folder)), hint="give a folder of a subfolder per class")
    try:  # an unreadable folder is the user's to fix, as load_data says
        _check_not_a_mask_folder(folder)
        tree = list_image_folder(folder)
        _check_class_names(tree.classes, folder)
        _check_out_dir(out, folder)
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # the folder unreadable (the user's) or -o's not made on a full disk (the machine's)
        from ..writing import write_failed

        raise write_failed(f"cannot read or write it: {exc.strerror or exc}", Loc(str(exc.filename or out)),
                           exc) from None  # fmt: skip
    result = PackResult(str(out), tree.classes, {}, seed, shard_size, not_images=list(map(str, tree.not_images)),
                        notes=tree.notes, outside=[(str(link), to) for link, to in tree.outside])  # fmt: skip
    written: list[Path] = []  # removed again when packing fails halfway: no half data set is left
    shards = None
    try:
        _mark_packing(out, written)
        total, done = sum(map(len, tree.splits.values())), 0
        for split in SPLITS:
            files = tree.splits.get(split, [])
            order = list(zip(unique_keys([path for path, _ in files]), files, strict=True))  # keys in listing order
            random.Random(seed).shuffle(order)  # classes mixed in every shard; the same seed, the same shards
            shards = _ShardFiles(writer, out, split, shard_size, written)
            for key, (path, label) in order:
                sample = _sample(path, key, label, result.skipped)
                if sample is not None:
                    shards.write(*sample)
                done += 1
                if progress is not None:
                    progress(done, total)
            if shards.close():
                result.shards[split] = shards.done
        if not result.shards:
            raise CnnctlError.at(
                "no image of the folder could be read: nothing was written", Loc(str(folder)),
                hint=f"the first: {result.skipped[0][0]}: {result.skipped[0][1]}" if result.skipped else None,
            )  # fmt: skip
        _write_beside(out, result, written)
        (out / PACKING_FILE).unlink()  # index.json written: the pack is whole
    except BaseException:  # an error, a full disk, Ctrl-C: what was written goes
        if shards is not None:
            shards.abandon()
        for path in written:
            path.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    return result


def _writer_class():
    try:
        from webdataset import TarWriter
    except ImportError:
        raise CnnctlError.at(
            "writing shards needs the webdataset library, which is not installed",
            hint="pip install 'cnnctl[stream]'",
        ) from None
    return TarWriter


def _check_not_a_mask_folder(folder: Path) -> None:
    from .masks import is_mask_folder

    if is_mask_folder(folder):
        raise CnnctlError.at(
            "this folder holds images/ and masks/ (a class per pixel); shards hold a class per image",
            Loc(str(folder)),
            hint="pack a folder of one subfolder of images per class",
        )


def _check_class_names(classes: list[str], folder: Path) -> None:
    """classes.txt holds a name a line, read back stripped: a name must survive that."""
    for name in classes:
        if name != name.strip() or "\n" in name or "\r" in name:
            raise CnnctlError.at(
                f"the class folder name {name!r} begins or ends with a space or holds a line break: classes.txt "
                "could not give it back",
                Loc(str(folder)),
                hint="rename the folder",
            )


def _mark_packing(out: Path, written: list[Path]) -> None:
    """PACKING_FILE written in `out` as packing begins ("x": never over another pack's), and
    added to `written`, the files a pack that fails removes."""
    from ..writing import write_failed

    try:
        with open(out / PACKING_FILE, "x") as marker:
            written.append(out / PACKING_FILE)
            marker.write("a `cnnctl pack` writes this folder; without index.json beside, it was interrupted\n")
    except OSError as exc:
        raise write_failed(f"cannot write it: {exc.strerror or exc}", Loc(str(out / PACKING_FILE)), exc) from None


def interrupted_pack(folder: str | os.PathLike) -> str | None:
    """Why the folder `folder` looks like a `cnnctl pack` that was interrupted (killed, the machine
    gone) and never finished, in words; None where it does not. Its marker (PACKING_FILE) is
    there, or, left by a pack older than the marker, shards under pack's names but no index.json."""
    folder = Path(folder)
    if (folder / PACKING_FILE).is_file():
        return f"its {PACKING_FILE} is there: a `cnnctl pack` began writing it and never finished"
    if (folder / INDEX_FILE).exists():
        return None
    try:
        tars = [e.name for e in os.scandir(folder) if e.name.lower().endswith(".tar")]
    except OSError:
        return None
    if tars and all(SHARD_NAME.fullmatch(name) for name in tars) and not (folder / CLASSES_FILE).exists():
        return f"its shards are named as `cnnctl pack` names them, but it has no {INDEX_FILE} nor {CLASSES_FILE}"
    return None


def _check_out_dir(out: Path, folder: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CnnctlError.at("-o must be a folder; this is a file", Loc(str(out)))
    if out.resolve().is_relative_to(folder.resolve()):
        raise CnnctlError.at(
            "the shards would be written inside the image folder they are made from", Loc(str(out)),
            hint="give -o a folder outside it",
        )  # fmt: skip
    if not out.is_dir():
        return
    interrupted = interrupted_pack(out)
    if interrupted is not None:
        raise CnnctlError.at(
            f"the folder holds an interrupted `cnnctl pack` ({interrupted}): packing never overwrites",
            Loc(str(out)),
            hint=f"to start over, remove what it wrote (`rm -f {out}/*.tar {out}/.*.tar{PART} {out}/{PACKING_FILE}`, "
            "then any classes.txt and skipped.txt) and pack again; or give -o a new folder",
        )
    taken = sorted(
        (p.suffix != ".tar", p.name)
        for p in out.iterdir()
        if p.suffix == ".tar" or p.name in (INDEX_FILE, CLASSES_FILE)
    )
    taken = [name for _, name in taken]  # a shard named first
    if taken:
        more = f" and {len(taken) - 1} more files" if len(taken) > 1 else ""
        raise CnnctlError.at(
            f"the folder holds shards already ({taken[0]}{more}): packing never overwrites", Loc(str(out)),
            hint="give -o a new or empty folder, or remove these files first",
        )  # fmt: skip


def member_key(path: Path) -> str:
    """A sample's key: `class/name` (the image's path in its split's folder) without the
    suffix, in the characters every tool reads the same way. WebDataset splits a member's
    name at the first dot of its base name (key, then extension), so dots and other
    characters become `_`; a long name keeps its end."""
    return f"{_clean(path.parent.name)}/{_clean(path.stem)}"[-KEY_CHARS:].lstrip("/")


def _clean(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "_"


def unique_keys(paths: list[Path]) -> list[str]:
    """member_key of each path, `_2`, `_3`... added where two would be the same (`a.jpg` and
    `a.png`, `a.b.jpg` and `a_b.jpg`): a key names one sample."""
    keys, seen = [], set()
    for path in paths:
        key = base = member_key(path)
        count = 1
        while key in seen:
            count += 1
            key = f"{base}_{count}"
        seen.add(key)
        keys.append(key)
    return keys


def _sample(path: Path, key: str, label: int, skipped: list[tuple[str, str]]) -> tuple[dict, int] | None:
    """The sample of one image file and its time, or None (and the reason in `skipped`) for a
    file that is too large, unreadable, or not an image by its header."""
    from .decode import open_image

    try:
        stat = path.stat()
        if stat.st_size > MAX_IMAGE_BYTES:
            skipped.append((str(path), f"larger than {MAX_IMAGE_BYTES // 2**20} MiB, cnnctl's limit for one image"))
            return None
        data = path.read_bytes()
    except OSError as exc:
        skipped.append((str(path), f"cannot read it: {exc.strerror or exc}"))
        return None
    try:
        with open_image(path, None):  # the header again, from the file: Pillow names it in its messages
            pass
    except CnnctlError as exc:
        skipped.append((str(path), exc.problems[0].message))
        return None
    extension = path.suffix.lower().lstrip(".").replace("jpeg", "jpg")
    # The file's own time (in ustar's range: no extra pax header): the same folder packs to the same bytes.
    mtime = min(max(int(stat.st_mtime), 0), 8**11 - 1)
    return {"__key__": key, extension: data, "cls": str(label).encode()}, mtime


def sample_bytes(sample: dict) -> int:
    """The bytes a sample takes in a tar: each member a header block and its data in whole blocks."""
    return sum(BLOCK + -(-len(v) // BLOCK) * BLOCK for k, v in sample.items() if k != "__key__")


def closed_size(content: int) -> int:
    """A shard's size with `content` bytes of members: they and the two end blocks, without the
    record padding tarfile adds (a tar file of any size would be 10,240 bytes at least, more
    than a 10KB shard may be); tarfile, webdataset and GNU tar read to the end blocks and stop."""
    return content + 2 * BLOCK


class _ShardFiles:
    """The shards of one split, written through webdataset's TarWriter, a new one started
    where the next sample would take the file past `shard_size`. (webdataset's ShardWriter
    starts a new shard only once its data reaches maxsize, so its files pass it by up to a
    sample and tar's headers: `--shard-size` is a promise here.)"""

    def __init__(self, writer, out: Path, split: str, shard_size: int, written: list[Path]):
        self.writer_class, self.out, self.split, self.shard_size, self.written = writer, out, split, shard_size, written
        self.done: list[Shard] = []
        self.stream = self.tar = None
        self.final = out  # the shard being written, by the name it takes once whole
        self.content = self.samples = 0

    def write(self, sample: dict, mtime: int) -> None:
        size = sample_bytes(sample)
        if self.tar is not None and closed_size(self.content + size) > self.shard_size:
            self._finish()
        if self.tar is None:
            self._start()
        path = self.final
        try:
            self.tar.mtime = mtime
            self.tar.write(sample)
        except OSError as exc:
            raise _shard_failed(path, exc) from None
        self.content += size
        self.samples += 1

    def _start(self) -> None:
        self.final = self.out / f"{self.split}-{len(self.done):06d}.tar"
        part = self.out / f".{self.final.name}{PART}"  # renamed once whole: a pack killed leaves no shard cut
        try:
            self.stream = open(part, "xb")  # noqa: SIM115 (closed in _finish); "x": never over another file
        except OSError as exc:
            raise _shard_failed(self.final, exc) from None
        self.written.append(part)
        self.tar = self.writer_class(self.stream, encoder=False)
        self.content = self.samples = 0

    def _finish(self) -> None:
        part, path = self.written[-1], self.final
        try:
            self.tar.close()
            self.stream.truncate(closed_size(self.content))  # the record padding goes
            self.stream.close()
            if path.exists():  # checked empty of shards before: another writer's, never replaced
                raise FileExistsError(errno.EEXIST, "a file by that name appeared while packing", str(path))
            os.rename(part, path)
        except OSError as exc:
            raise _shard_failed(path, exc) from None
        self.written[-1] = path
        self.done.append(Shard(path.name, self.samples, path.stat().st_size))
        self.tar = self.stream = None

    def close(self) -> list[Shard]:
        if self.tar is not None:
            self._finish()
        return self.done

    def abandon(self) -> None:
        """Packing failed: the open shard is closed as it is (pack removes it)."""
        if self.stream is None:
            return
        # tarfile's stream would write its end on its way out, into a closed file. A full disk
        # may fail this too: the file goes all the same.
        with contextlib.suppress(Exception):
            self.tar.close()
        self.stream.close()
        self.tar = self.stream = None


def _shard_failed(path: Path, exc: OSError) -> CnnctlError:
    """A shard that could not be written, at its file, with what to do where the disk is full
    (exit 1 then: the machine's fault)."""
    from ..writing import write_failed

    return write_failed(f"cannot write the shard: {exc.strerror or exc}", Loc(str(path)), exc)


def _not_packed(path: str) -> str:
    """Why a file of a class folder that is no image was not packed: NOT_AN_IMAGE, or what it is
    where it is no regular file (a FIFO, a socket, a device: never opened)."""
    kind = not_regular(path)
    return f"{kind}, not a regular file: never opened, not packed" if kind else NOT_AN_IMAGE


def _write_beside(out: Path, result: PackResult, written: list[Path]) -> None:
    """classes.txt, skipped.txt where files were left out, and index.json last."""
    from ..writing import write_file

    index = {
        "format": INDEX_FORMAT, "version": INDEX_VERSION, "classes": result.classes,
        "splits": {k: [{"file": s.file, "samples": s.samples} for s in shards] for k, shards in result.shards.items()},
        "seed": result.seed,
    }  # fmt: skip
    files = [(CLASSES_FILE, "".join(f"{c}\n" for c in result.classes))]
    left_out = [*result.skipped, *((f, _not_packed(f)) for f in result.not_images),
                *((f, LEADS_OUT.format(to)) for f, to in result.outside)]  # fmt: skip
    if left_out:
        files.append((SKIPPED_FILE, "".join(f"{one_line(f)}: {one_line(why)}\n" for f, why in left_out)))
    files.append((INDEX_FILE, json.dumps(index, indent=2, ensure_ascii=False) + "\n"))
    for name, text in files:
        write_file(str(out / name), text.encode("utf-8", "surrogateescape"), replace=False)
        written.append(out / name)
