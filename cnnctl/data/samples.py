"""Where each image of a split is, not decoded: the index a stream reads from.

A split of an image folder is a list of files, and a split of WebDataset shards a list of
tar members (shard, offset of its bytes, their size); both with one class index per image.
`Samples` holds either in a few flat tensors (the paths packed into one byte buffer with
their offsets), not a million Python strings: DataLoader's worker processes are forked
from the trainer, and a list of objects would be copied page by page into every worker as
its reference counts change. The index is saved in the run folder (`save`/`load`), so a
resumed run reads it back instead of listing a million files again.

`source(i)` is what the one decode path (cnnctl.data.decode) opens: a file's path, or an
`ImageBytes` with a shard member's bytes and its name for the messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Callable

INDEX_VERSION = 2  # 2: an image folder's files, or the shards, with their size and modification time (stamps)
READ_VERSIONS = (1, 2)  # 1 lists names only: read back all the same, its images not checked for changes


@dataclass(frozen=True)
class ImageBytes:
    """An image's encoded bytes as read from a shard, and its name in messages:
    `shards/train-000003.tar:cat/0042.jpg`."""

    name: str
    data: bytes

    def __str__(self) -> str:
        return self.name


class Packed:
    """Strings as one UTF-8 buffer and the offsets of their ends: `packed[i]` is the i-th."""

    def __init__(self, blob: bytes, ends: torch.Tensor):
        self.blob, self.ends = blob, ends  # one bytes object (one reference count), int64 (n,)

    @classmethod
    def of(cls, strings: list[str]) -> Packed:
        encoded = [s.encode("utf-8", "surrogateescape") for s in strings]  # any file name the OS gives
        return cls(b"".join(encoded), torch.tensor([len(e) for e in encoded], dtype=torch.int64).cumsum(0))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> str:
        end = int(self.ends[i])
        start = int(self.ends[i - 1]) if i else 0
        return self.blob[start:end].decode("utf-8", "surrogateescape")

    def take(self, index: torch.Tensor) -> Packed:
        return Packed.of([self[int(i)] for i in index])


@dataclass
class Samples:
    """The images of one split, not decoded. `kind` "files": `names[i]` is the i-th file's
    path. `kind` "shards": `names` holds the shards' paths (or URLs), and the i-th image is
    `size[i]` bytes at `offset[i]` of shard `shard[i]`, its name in the tar `members[i]`."""

    kind: str
    names: Packed
    labels: torch.Tensor  # (n,) int64
    shard: torch.Tensor | None = None  # (n,) int32
    offset: torch.Tensor | None = None  # (n,) int64
    size: torch.Tensor | None = None  # (n,) int64
    members: Packed | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def y(self) -> torch.Tensor:
        """The labels, under the name a Split held in memory gives them."""
        return self.labels

    @classmethod
    def files(cls, paths: list[str], labels: list[int]) -> Samples:
        return cls("files", Packed.of([str(p) for p in paths]), torch.tensor(labels, dtype=torch.int64))

    def name(self, i: int) -> str:
        """The i-th image in words, for messages and skipped.txt."""
        if self.kind == "files":
            return self.names[i]
        return f"{self.names[int(self.shard[i])]}:{self.members[i]}"

    def stamped(self) -> list[str]:
        """The files whose size and modification time tell that the images changed (stamps):
        each image's file, or each shard (one rewritten in place may hold other bytes at the
        offsets indexed)."""
        if self.kind == "files":
            return [self.names[i] for i in range(len(self))]
        return [self.names[i] for i in range(len(self.names))]

    def source(self, i: int, opened: dict | None = None) -> str | ImageBytes:
        """What decode opens for the i-th image. `opened`: the shards a worker keeps open."""
        if self.kind == "files":
            return self.names[i]
        from .shards import read_member

        url = self.names[int(self.shard[i])]
        return ImageBytes(self.name(i), read_member(url, int(self.offset[i]), int(self.size[i]), opened))

    def take(self, index: torch.Tensor) -> Samples:
        """The samples at `index`, in that order (a hold-out, a share)."""
        index = index.long()
        if self.kind == "files":
            return Samples("files", self.names.take(index), self.labels[index].clone())
        return Samples(
            "shards", self.names, self.labels[index].clone(), self.shard[index].clone(), self.offset[index].clone(),
            self.size[index].clone(), self.members.take(index),
        )  # fmt: skip

    @staticmethod
    def concat(parts: list[Samples]) -> Samples:
        """The images of `parts` one after the other (each split has its own shards)."""
        labels = torch.cat([p.labels for p in parts])
        if parts[0].kind == "files":
            return Samples("files", Packed.of([p.names[i] for p in parts for i in range(len(p))]), labels)
        names, shard, before = [], [], 0
        for p in parts:
            names += [p.names[i] for i in range(len(p.names))]
            shard.append(p.shard + before)
            before += len(p.names)
        members = Packed.of([p.members[i] for p in parts for i in range(len(p))])
        offset, size = torch.cat([p.offset for p in parts]), torch.cat([p.size for p in parts])
        return Samples("shards", Packed.of(names), labels, torch.cat(shard), offset, size, members)

    # -- kept in the run folder ------------------------------------------------------------
    def state(self) -> dict:
        fields = {"kind": self.kind, "names": (self.names.blob, self.names.ends), "labels": self.labels}
        if self.kind == "shards":
            fields |= {"shard": self.shard, "offset": self.offset, "size": self.size,
                       "members": (self.members.blob, self.members.ends)}  # fmt: skip
        return fields

    @classmethod
    def from_state(cls, state: dict) -> Samples:
        names = Packed(*state["names"])
        if state["kind"] == "files":
            return cls("files", names, state["labels"])
        return cls("shards", names, state["labels"], state["shard"], state["offset"], state["size"],
                   Packed(*state["members"]))  # fmt: skip


def index_bytes(data: dict) -> bytes:
    """`data` ({"splits": {name: Samples}, "classes": [...], "root": str, ...}) as the bytes of
    the run folder's index (load_index reads them back); the run writes them as it writes its
    other files (cnnctl.train.rundir.write_bytes: a temporary file renamed, none left on failure)."""
    import io

    record = dict(data, version=INDEX_VERSION, splits={k: s.state() for k, s in data["splits"].items()})
    buffer = io.BytesIO()
    torch.save(record, buffer)
    return buffer.getvalue()


def load_index(path: Path) -> dict | None:
    """The index saved at `path`, or None where there is none or it cannot be used (a version
    not in READ_VERSIONS, a damaged file): the data is then listed again."""
    from ..files import open_regular

    try:
        with open_regular(path) as file:  # a link out of the run folder is not read (files.run_folder_of)
            record = torch.load(file, weights_only=True)
        if record.get("version") not in READ_VERSIONS:
            return None
        record["splits"] = {k: Samples.from_state(v) for k, v in record["splits"].items()}
        return record
    except Exception:  # a damaged or foreign file is not worth a failure: listing again is always right
        return None


STAMPED_STEP = 4096  # files stamped or checked between two words to `progress`


def stamps(paths: list[str], progress: Callable[..., None] | None = None) -> torch.Tensor:
    """(n, 2) int64: each file's size in bytes and modification time in ns, as the listing
    finds them (-1, -1 where it cannot be read: a loop of links, told where it is decoded):
    what tells an image changed in place since (changed_since). One stat per file: the lister
    reads the kind of each entry with the folder (os.scandir), not its size or time.
    `progress(count, what)` is told as it goes."""
    found = torch.full((len(paths), 2), -1, dtype=torch.int64)
    for i, path in enumerate(paths):
        try:
            seen = os.stat(path)
        except OSError:
            continue
        found[i, 0], found[i, 1] = seen.st_size, seen.st_mtime_ns
        if progress is not None and i % STAMPED_STEP == 0:
            progress(i, f"of {len(paths):,} images' sizes and times read")
    return found


def changed_since(samples: Samples, kept: torch.Tensor, progress: Callable[..., None] | None = None) -> list[str]:
    """The files of `samples` (Samples.stamped: images, or shards) whose size or modification
    time is no longer the one `kept` (stamps, as the run listed them): changed in place. A file
    gone is not among them (it is told as gone where it is read), nor one that could not be read
    then or now (a shard at a URL)."""
    files = samples.stamped()
    if len(files) != len(kept):  # not this list's stamps (a damaged index): nothing to compare
        return []
    now = stamps(files, progress)
    differ = (now != kept).any(dim=1) & (now[:, 0] >= 0) & (kept[:, 0] >= 0)
    return [files[int(i)] for i in differ.nonzero().flatten()]
