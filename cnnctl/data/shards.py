"""WebDataset tar shards as a data set: the index a stream reads (cnnctl.data.samples) and
the read of one member's bytes.

A data spec names shards as a folder (one `cnnctl pack` wrote, or any folder of *.tar), a
brace pattern (`shards/train-{000000..000127}.tar`), one .tar, or an fsspec URL
(`s3://bucket/train-{0000..0099}.tar`). Each shard's headers are scanned once with Python's
tarfile, seeking over the data: the index keeps, per image, its shard, the offset of its
bytes and their size. A sample is WebDataset's: the members of one key (a member's path up
to the first dot of its base name), its image the `jpg`, `jpeg` or `png` member and its label
the `cls` member's text (a whole number). A member is only ever read at an offset inside its
shard: its name is never a path on this machine.

Reading shards needs no webdataset; a brace pattern needs `braceexpand` (which comes with
it), a URL `fsspec`.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tarfile
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

from ..errors import CnnctlError, Loc, Problem, too_many
from ..limits import MAX_CLASSES, MAX_IMAGE_BYTES, MAX_PROBLEMS, MAX_SHARDS
from ..words import plural
from . import IMAGE_SUFFIXES
from .pack import CLASSES_FILE, INDEX_FILE, INDEX_FORMAT, SPLITS

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png")  # a sample's image member, the first of these it has
assert {f".{e}" for e in IMAGE_EXTENSIONS} == set(IMAGE_SUFFIXES)  # the images a folder is read from
LABEL_EXTENSION = "cls"
CLS_BYTES = 32  # a class index written as text, with room for spaces and a line break
SIDE_FILE_BYTES = 64 * 2**20  # classes.txt, index.json: a million class names fit
OPEN_SHARDS = 8  # the shards a worker keeps open (read_member's `opened`)
STREAM_HINT = "pip install 'cnnctl[stream]'"

# WebDataset's split of a member name into key and extension: the key ends at the first dot
# of the base name; a name without one (or a hidden file, `.x`) belongs to no sample.
_KEY = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BRACES = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(-?\d{1,18})\.\.(-?\d{1,18})(?:\.\.(-?\d{1,18}))?$")
_LETTERS = re.compile(r"^[A-Za-z]\.\.[A-Za-z](?:\.\.-?\d{1,18})?$")

Progress = Callable[[int, int], None]  # (shards indexed, shards in all)


@dataclass
class ShardSet:
    """Shards as a data set: the class names, a Samples per split (train, and val / test
    where there are shards of them), what was read, in words, and the shards."""

    classes: list[str]
    splits: dict  # split name -> cnnctl.data.samples.Samples
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Samples index.json lists beyond the cut of a shard cut short: never readable, counted by the
    # rule on unreadable images (cnnctl.data.loader.Skipped) as the unreadable ones are
    lost: int = 0


# -- what the spec names ---------------------------------------------------------------------
def is_url(spec: str) -> bool:
    """`s3://...`, `gs://...`, `file://...`: read through fsspec."""
    return bool(_URL.match(spec))


def is_brace_pattern(spec: str) -> bool:
    """`train-{000000..000127}.tar`, `{train,val}-0.tar`."""
    return any(".." in g or "," in g for g in _BRACES.findall(spec))


def is_shards(spec: str) -> bool:
    """Whether the data spec `spec` names WebDataset shards: a brace pattern, a .tar path or
    URL, or a folder holding a `cnnctl pack` index.json or *.tar files."""
    spec = str(spec).strip()
    if is_brace_pattern(spec) or spec.lower().endswith(".tar"):
        return True
    if is_url(spec) or not os.path.isdir(spec):
        return False
    if _read_index(spec) is not None:
        return True
    try:
        with os.scandir(spec) as entries:
            return any(e.name.lower().endswith(".tar") and e.is_file() for e in entries)
    except OSError:
        return False


def _read_index(folder: str) -> dict | None:
    """The index.json `cnnctl pack` wrote in `folder` (a path or URL), or None where there is
    none (or it is another tool's)."""
    path = _join(folder, INDEX_FILE)
    text = _side_file(path)
    if text is None:
        return None
    try:
        index = json.loads(text)
    except ValueError:
        return None
    return index if isinstance(index, dict) and index.get("format") == INDEX_FORMAT else None


def _side_file(path: str) -> str | None:
    """The text of a small file beside the shards (classes.txt, index.json), or None where
    there is none; a local path or a URL."""
    try:
        if is_url(path):
            fs, inner = _fsspec().core.url_to_fs(path)
            if not fs.isfile(inner):
                return None
            with fs.open(inner, "rb") as f:
                data = f.read(SIDE_FILE_BYTES + 1)
        else:
            if not os.path.isfile(path):
                return None
            with open(path, "rb") as f:
                data = f.read(SIDE_FILE_BYTES + 1)
    except CnnctlError:
        raise
    except Exception as exc:  # fsspec's backends raise their own kinds
        raise CnnctlError.at(f"cannot read it: {exc}", Loc(path)) from None
    if len(data) > SIDE_FILE_BYTES:
        raise CnnctlError.at(f"larger than {SIDE_FILE_BYTES // 2**20} MiB: refusing to read it", Loc(path))
    return data.decode("utf-8", "surrogateescape")


def shard_files(spec: str) -> list[str]:
    """The shards `spec` names, in order: a pattern expanded, a folder's listed (its index.json's
    where `cnnctl pack` wrote it, else its *.tar files by name)."""
    spec = str(spec).strip()
    if is_brace_pattern(spec):
        return _expand(spec)
    if not is_url(spec) and os.path.isdir(spec):
        index = _read_index(spec)
        if index is not None:
            return [os.path.join(spec, name) for name in _index_files(index, spec)]
        return sorted(e.path for e in os.scandir(spec) if e.name.lower().endswith(".tar") and e.is_file())
    return [spec]


def _expand(pattern: str) -> list[str]:
    try:
        from braceexpand import braceexpand
    except ImportError:
        raise CnnctlError.at(
            f"the pattern `{pattern}` is expanded by braceexpand, which is not installed", hint=STREAM_HINT
        ) from None
    count = _pattern_count(pattern)
    if count > MAX_SHARDS:
        raise CnnctlError.at(
            f"the pattern `{pattern}` names {count:,} shards, more than cnnctl reads ({MAX_SHARDS:,})",
            hint="check its ranges: `{000000..000127}` names 128 shards",
        )
    return list(islice(braceexpand(pattern), MAX_SHARDS))


def _pattern_count(pattern: str) -> int:
    """How many names a brace pattern expands to, at most: counted before expanding it
    (braceexpand lists a range whole: `{0..999999999}` would take minutes and gigabytes)."""
    count = 1
    for group in _BRACES.findall(pattern):
        numbers = _RANGE.match(group)
        if numbers:
            lo, hi, step = int(numbers[1]), int(numbers[2]), abs(int(numbers[3] or 1)) or 1
            count *= abs(hi - lo) // step + 1
        elif _LETTERS.match(group):
            count *= 52
        elif ".." in group and "," not in group:  # text braceexpand keeps as written
            continue
        else:
            count *= group.count(",") + 1
    return count * (pattern.count(",") + 1)  # commas of outer groups (`{a,{b,c}}`): a bound, not an exact count


def _index_files(index: dict, folder: str) -> list[str]:
    """The shard names index.json lists, each checked to be a plain name in `folder`."""
    where = Loc(_join(folder, INDEX_FILE))
    splits = index.get("splits")
    if not isinstance(splits, dict) or not all(k in SPLITS and isinstance(v, list) for k, v in splits.items()):
        raise CnnctlError.at(f"`splits` is not a mapping of {', '.join(SPLITS)} to lists of shards", where,
                             hint="write it again with `cnnctl pack`")  # fmt: skip
    names = []
    for entries in splits.values():
        for entry in entries:
            name = entry.get("file") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name or os.path.basename(name) != name or name in (".", ".."):
                raise CnnctlError.at(
                    f"a shard entry {str(entry)[:80]!r} is not a file name in this folder", where,
                    hint="index.json names its shards by their names beside it (`train-000000.tar`)",
                )  # fmt: skip
            names.append(name)
    return names


def _interrupted(spec: str) -> list[str]:
    """A local folder a `cnnctl pack` began and never finished (pack.interrupted_pack): refused
    where its marker says so (its shards hold only part of the images, without their class
    names); a warning, for the notes, where only its shards' names and the missing index.json
    suggest it (another tool may name its shards `train-000000.tar` too)."""
    from .pack import PACKING_FILE, interrupted_pack

    spec = str(spec).strip()
    if is_url(spec) or is_brace_pattern(spec) or not os.path.isdir(spec):
        return []
    why = interrupted_pack(spec)
    if why is None:
        return []
    again = "run `cnnctl pack` again, into a new folder (or this one emptied of what it wrote), and train on that"
    if os.path.isfile(os.path.join(spec, PACKING_FILE)):
        raise CnnctlError.at(f"an interrupted `cnnctl pack` ({why}): its shards hold only part of the images",
                             Loc(spec), hint=again)  # fmt: skip
    return [f"warning: {spec} looks like an interrupted `cnnctl pack` ({why}): its shards may hold only part of "
            f"the images; if so, {again}"]  # fmt: skip


def split_of(name: str) -> str:
    """A foreign shard's split, by its file name: `val...` and `test...` those, the rest train."""
    base = name.rsplit("/", 1)[-1].lower()
    return "val" if base.startswith("val") else "test" if base.startswith("test") else "train"


# -- the index -------------------------------------------------------------------------------
def shard_splits(spec: str, progress: Progress | None = None) -> ShardSet:
    """Index the shards `spec` names (see is_shards): every problem of every shard in one
    CnnctlError (up to MAX_PROBLEMS)."""
    import torch

    from .samples import Packed, Samples

    interrupted = _interrupted(spec)
    files = shard_files(spec)
    if not files:
        raise CnnctlError.at("no shards: the folder holds no .tar files", Loc(str(spec)))
    folder = _beside(files[0])
    index = _read_index(folder)
    classes, origin = _class_names(folder, index)
    listed = _listed_counts(index, folder)
    problems: list[Problem] = []
    found: dict[str, _Split] = {}
    ignored = 0
    cuts: list[str] = []  # a shard cut short: its whole samples are used, and it is said
    lost = 0  # the samples index.json lists beyond the cuts
    for i, url in enumerate(files):
        name = os.path.basename(url.rstrip("/"))
        split = listed[name][0] if name in listed else split_of(name)
        part = found.setdefault(split, _Split())
        before, told = len(part.labels), len(problems)
        shard = _Shard(url, len(part.names), None if classes is None else len(classes), origin)
        ignored += shard.scan(part, problems)
        part.names.append(url)
        held = len(part.labels) - before
        if shard.cut is not None and len(problems) == told:
            listed_here = listed.get(name, (None, None))[1]
            cuts.append(_cut_note(url, shard.cut, held, listed_here))
            lost += listed_here - held if isinstance(listed_here, int) else 0
        elif name in listed and len(problems) == told and held != listed[name][1]:
            problems.append(Problem(
                f"index.json lists {listed[name][1]} samples in this shard; it holds {held:,}", Loc(url),
                hint="the shard was changed or damaged since `cnnctl pack` wrote it: pack the images again",
            ))  # fmt: skip
        if len(problems) > MAX_PROBLEMS:
            raise too_many(problems)
        if progress is not None:
            progress(i + 1, len(files))
    if problems:
        raise CnnctlError(problems)
    if classes is None:
        top = max((max(p.labels) for p in found.values() if p.labels), default=-1)
        classes = [str(k) for k in range(top + 1)]
    if "train" not in found or not found["train"].labels:
        raise CnnctlError.at("no training samples in these shards", Loc(str(spec)),
                             hint="shards named val* or test* hold those splits; the others train")  # fmt: skip
    splits = {
        k: Samples("shards", Packed.of(p.names), torch.tensor(p.labels, dtype=torch.int64),
                   torch.tensor(p.shard, dtype=torch.int32), torch.tensor(p.offset, dtype=torch.int64),
                   torch.tensor(p.size, dtype=torch.int64), Packed.of(p.members))
        for k, p in found.items() if p.labels
    }  # fmt: skip
    counts = ", ".join(f"{len(s):,} {k}" for k, s in splits.items())
    shards, kinds = plural(len(files), "shard"), plural(len(classes), "class", "classes")
    notes = [f"indexed {shards} from {spec}: {counts} samples, {kinds} ({origin})", *interrupted, *cuts]
    if ignored:
        notes.append(f"ignored {ignored:,} tar members that belong to no sample (no dot in their base name)")
    return ShardSet(classes, splits, notes, list(files), lost)


def _cut_note(url: str, where: str, held: int, listed: object) -> str:
    """The warning for a shard cut short `where`: its `held` whole samples used, the rest lost (as
    many as index.json lists beyond them, where it lists the shard)."""
    lost = (f" ({listed - held:,} of the {listed:,} samples index.json lists), counted as unreadable images"
            if isinstance(listed, int) else "")  # fmt: skip
    return (f"warning: {url} is cut short {where}: its {plural(held, 'whole sample')} before the cut are used, the "
            f"rest of the shard is unreadable{lost}; copy or write the shard again to train on all of it")  # fmt: skip


@dataclass
class _Split:
    names: list[str] = field(default_factory=list)  # its shards
    labels: array = field(default_factory=lambda: array("q"))
    shard: array = field(default_factory=lambda: array("i"))
    offset: array = field(default_factory=lambda: array("q"))
    size: array = field(default_factory=lambda: array("q"))
    members: list[str] = field(default_factory=list)

    def extend(self, other: _Split) -> None:
        for name in ("labels", "shard", "offset", "size", "members"):
            getattr(self, name).extend(getattr(other, name))


def _beside(url: str) -> str:
    """The folder (or URL prefix) a shard is in: where classes.txt and index.json are looked for."""
    if is_url(url):
        return url.rsplit("/", 1)[0]
    return os.path.dirname(url) or "."


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if is_url(folder) else os.path.join(folder, name)


def _class_names(folder: str, index: dict | None) -> tuple[list[str] | None, str]:
    """The class names beside the shards (index.json's, else classes.txt's) and where they come
    from; None where there are none (the labels then count the classes)."""
    if index is not None:
        names = index.get("classes")
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
            raise CnnctlError.at("`classes` is not a list of names", Loc(_join(folder, INDEX_FILE)),
                                 hint="write it again with `cnnctl pack`")  # fmt: skip
        return names, f"named in {_join(folder, INDEX_FILE)}"
    path = _join(folder, CLASSES_FILE)
    text = _side_file(path)
    if text is None:
        return None, f"numbered from the labels: no {CLASSES_FILE} beside the shards"
    from . import class_names_text

    return class_names_text(text), f"named in {path}"


def _listed_counts(index: dict | None, folder: str) -> dict[str, tuple[str, object]]:
    """shard name -> (its split, its samples), as index.json lists them."""
    if index is None:
        return {}
    _index_files(index, folder)  # each entry checked
    return {e["file"]: (split, e.get("samples")) for split, entries in index["splits"].items() for e in entries}


# -- one shard -------------------------------------------------------------------------------
class _Shard:
    """The scan of one shard: its samples, its problems (each naming the shard and member)."""

    def __init__(self, url: str, shard: int, classes: int | None, origin: str):
        self.url, self.shard, self.classes, self.origin = url, shard, classes, origin
        self.samples = _Split()
        self.problems: list[Problem] = []
        self.ignored = 0  # members of no sample
        self.too_high: list = []  # [member, label, count]: the first sample above the class count, and how many
        self.cut: str | None = None  # where a shard cut short ends ("in its member `x.jpg`"): the samples before stay

    def where(self, member: str) -> Loc:
        return Loc(f"{self.url}:{member}")

    def scan(self, part: _Split, problems: list[Problem]) -> int:
        """Add the shard's samples to `part` (none where it has a problem), its problems to
        `problems`; the members that belong to no sample, counted."""
        try:
            f = _open(self.url)
        except CnnctlError as exc:
            problems.extend(exc.problems)
            return 0
        try:
            self.read(f)
        finally:
            f.close()
        if self.too_high:
            member, label, count = self.too_high
            more = f" ({count:,} samples of this shard have one)" if count > 1 else ""
            self.problems.append(Problem(
                f"class index {label} for {self.classes} classes (0 to {self.classes - 1}){more}", self.where(member),
                hint=f"the classes are {self.origin}; each cls member holds a class index",
            ))  # fmt: skip
        problems.extend(self.problems)
        if not self.problems:
            part.extend(self.samples)
        return self.ignored

    def read(self, f) -> None:
        """The samples of the tar file `f`: headers read, data sought over (cls members read)."""
        seekable = f.seekable()
        members: dict[str, tarfile.TarInfo] = {}
        label: int | None = None
        key = None
        last = None  # the member whose header was read last: where a cut is told
        try:
            tar = tarfile.open(fileobj=f, mode="r:" if seekable else "r|")  # noqa: SIM115 (f is closed by scan)
            while True:
                info = tar.next()
                tar.members.clear()  # tarfile keeps every header read: not wanted for a shard of a million
                if info is None:
                    break
                last = info
                if not info.isreg():
                    continue
                if info.issparse():
                    self.problems.append(Problem("a sparse member: its bytes are not in one piece",
                                                 self.where(info.name), hint="write the shard again"))  # fmt: skip
                    continue
                match = _KEY.match(info.name)
                if match is None:
                    self.ignored += 1
                    continue
                if match[1] != key:
                    self.add(key, members, label)
                    key, members, label = match[1], {}, None
                extension = match[2].lower()
                if extension in members:
                    self.problems.append(
                        Problem(
                            f"a second `{extension}` member for the sample `{key}`",
                            self.where(info.name),
                            hint="a key holds one member per extension",
                        )
                    )
                members[extension] = info
                if extension == LABEL_EXTENSION:
                    label = self.label(tar, info)
            self.add(key, members, label)
            if seekable:
                self.check_end(f, tar.offset, last)
        except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError) as exc:
            if seekable and last is not None and _size(f) < last.offset_data + last.size:
                # Cut inside a member (its bytes end past the file): the samples before it are whole and
                # kept, as webdataset's warn_and_continue keeps them; the sample it belongs to is lost.
                self.cut = f"in its member `{last.name}`"
                return
            self.problems.append(_damaged(self.url, f, exc))

    def label(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> int | None:
        """The class index a cls member holds, or None (and a problem)."""
        hint = "a cls member holds the class index as text, such as `3`"
        if info.size > CLS_BYTES:
            self.problems.append(Problem(f"a cls member of {info.size:,} bytes: not a class index",
                                         self.where(info.name), hint=hint))  # fmt: skip
            return None
        text = tar.extractfile(info).read().decode("ascii", "replace").strip()
        if not re.fullmatch(r"[0-9]+", text):
            self.problems.append(Problem(f"the cls member holds {text!r}, not a class index (a whole number from 0)",
                                         self.where(info.name), hint=hint))  # fmt: skip
            return None
        if int(text) >= MAX_CLASSES:
            self.problems.append(Problem(f"class index {int(text):,}: more than the {MAX_CLASSES:,} classes cnnctl "
                                         "takes", self.where(info.name), hint=hint))  # fmt: skip
            return None
        return int(text)

    def add(self, key: str | None, members: dict[str, tarfile.TarInfo], label: int | None) -> None:
        """The sample `key` of `members`, its label read from its cls member."""
        if key is None:
            return
        image = next((members[e] for e in IMAGE_EXTENSIONS if e in members), None)
        if image is None or LABEL_EXTENSION not in members:
            missing = "image (a jpg, jpeg or png member)" if image is None else "label (a cls member)"
            self.problems.append(Problem(
                f"the sample `{key}` has no {missing}; it holds {', '.join(sorted(members))}", self.where(key),
                hint="each sample is KEY.jpg (or .png) with KEY.cls, its class index",
            ))  # fmt: skip
            return
        if label is None:  # its cls member's problem is told already
            return
        if image.size > MAX_IMAGE_BYTES:
            self.problems.append(
                Problem(
                    f"an image member of {image.size:,} bytes, more than cnnctl reads for one "
                    f"image ({MAX_IMAGE_BYTES // 2**20} MiB)",
                    self.where(image.name),
                )
            )
            return
        if self.classes is not None and label >= self.classes:
            if self.too_high:
                self.too_high[2] += 1
            else:
                self.too_high = [image.name, label, 1]
        s = self.samples
        s.labels.append(label)
        s.shard.append(self.shard)
        s.offset.append(image.offset_data)
        s.size.append(image.size)
        s.members.append(image.name)

    def check_end(self, f, offset: int, last: tarfile.TarInfo | None) -> None:
        """tarfile takes a missing or broken header after the first as the end of the archive:
        a shard cut at a member's boundary would lose its last samples without a word. A whole
        tar ends in zero blocks; one cut short keeps its whole samples, and says where it ends."""
        f.seek(offset)
        end = f.read(512)
        if end == b"\0" * 512:
            return
        if len(end) < 512 and last is not None:
            self.cut = f"after its member `{last.name}`"
            return
        if len(end) < 512:
            why = "the file ends without tar's end-of-archive blocks: it was cut short (truncated)"
        else:
            why = f"a damaged member header at byte {offset:,}"
        self.problems.append(Problem(why, Loc(self.url), hint="copy or write the shard again"))


def _size(f) -> int:
    """The bytes of the open file `f`."""
    return f.seek(0, os.SEEK_END)


def _damaged(url: str, f, exc: Exception) -> Problem:
    try:
        f.seek(0)
        gzip = f.read(2) == b"\x1f\x8b"
    except Exception:
        gzip = False
    if gzip:
        return Problem("a compressed tar: its members cannot be read by offset", Loc(url),
                       hint="decompress it (gunzip) and give the .tar")  # fmt: skip
    reason = str(exc) or type(exc).__name__
    return Problem(
        f"not a readable tar file ({reason})",
        Loc(url),
        hint="a shard is a tar of KEY.jpg (or .png) and KEY.cls members, as `cnnctl pack` writes them",
    )


# -- reading a member ------------------------------------------------------------------------
def _fsspec():
    try:
        import fsspec
    except ImportError:
        raise CnnctlError.at("reading shards from a URL needs fsspec, which is not installed",
                             hint="pip install fsspec (and s3fs or gcsfs for s3:// or gs://)") from None  # fmt: skip
    return fsspec


def _open(url: str):
    """A shard opened for reading: a local regular file (never a FIFO or a device, where a read
    could wait forever), or a URL through fsspec."""
    if is_url(url):
        fsspec = _fsspec()
        try:
            return fsspec.open(url, "rb").open()
        except FileNotFoundError:
            raise CnnctlError.at("no such shard", Loc(url)) from None
        except Exception as exc:  # each fsspec backend raises its own kinds
            raise CnnctlError.at(f"cannot open the shard: {exc}", Loc(url)) from None
    try:
        if not stat.S_ISREG(os.stat(url).st_mode):
            raise CnnctlError.at("not a regular file", Loc(url), hint="a shard is a .tar file")
        return open(url, "rb")  # noqa: SIM115 (the caller closes it)
    except FileNotFoundError:
        raise CnnctlError.at("no such shard", Loc(url)) from None
    except OSError as exc:
        raise CnnctlError.at(f"cannot open the shard: {exc.strerror or exc}", Loc(url)) from None


def read_member(url: str, offset: int, size: int, opened: dict | None = None) -> bytes:
    """The `size` bytes at `offset` of the shard `url`. `opened`: the shards a worker keeps
    open, OPEN_SHARDS at most (the least recently used closed first); None opens and closes."""
    if not 0 <= size <= MAX_IMAGE_BYTES:
        raise CnnctlError.at(f"a member of {size:,} bytes at byte {offset:,}: more than cnnctl reads for one image "
                             f"({MAX_IMAGE_BYTES // 2**20} MiB)", Loc(url))  # fmt: skip
    handles = opened if opened is not None else {}
    f = handles.pop(url, None)  # put back last: a dict keeps order, the least recently used first
    if f is None:
        f = _open(url)
        while len(handles) >= OPEN_SHARDS:
            handles.pop(next(iter(handles))).close()
    try:
        f.seek(offset)
        data = f.read(size)
    except Exception as exc:  # an OSError, or a URL backend's own kind
        f.close()
        raise CnnctlError.at(f"cannot read {size:,} bytes at byte {offset:,}: {exc}", Loc(url)) from None
    if opened is not None:
        handles[url] = f
    else:
        f.close()
    if len(data) != size:
        raise CnnctlError.at(
            f"the shard ends inside a member ({len(data):,} of its {size:,} bytes at byte {offset:,})", Loc(url),
            hint="the shard changed since it was indexed: remove the run's index to list the data again",
        )  # fmt: skip
    return data
