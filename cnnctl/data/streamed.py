"""Image folders and shards: listed (not decoded), then either streamed or held in memory.

`listing(spec)` lists the images of an image folder or of WebDataset shards once (with a
progress line for large trees) as `Samples`, and keeps the list in the run folder
(`INDEX`), so a resumed run does not list a million files again. `choose` decides between
streaming and memory from the decoded size at the network's input and the memory free
(`--stream` / `--no-stream` force it); `streamed_splits` makes the DataSplits of a stream:
the hold-out chosen by index, exactly as for data held in memory, and the channel
statistics estimated from a seeded sample of the training images.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import CnnctlError
from ..limits import MEMORY_SHARE, available_memory
from ..words import size
from . import DataSplits, adapt
from .adapt import n, validation
from .samples import Samples, load_index
from .stats import Stats, computed

if TYPE_CHECKING:
    from collections.abc import Callable

    from .adapt import Raw

INDEX = "data-index.pt"  # the listing, in the run folder
STATS_SAMPLE = 1_000  # training images decoded to estimate the channel statistics of a stream


@dataclass
class Listing:
    """The images of a data set, not decoded: its splits (train, and val/test where it has
    them) and class names, where it was read from, and notes."""

    name: str
    root: str  # the folder or shards, absolute: a kept index is used only for the same data
    classes: list[str]
    splits: dict[str, Samples]
    notes: list[str] = field(default_factory=list)
    test_from: str = ""
    kept: str = ""  # the run folder's index it was read back from; "" where listed now
    # Each split's files (an image folder's images, or the shards: Samples.stamped), the size and
    # modification time of each (samples.stamps) as listed; none in an index that kept none.
    stamps: dict[str, torch.Tensor] = field(default_factory=dict)
    changed: str = ""  # the images (shards) of a list read back that changed in place since, in words; "" for none
    lost: int = 0  # samples listed by the shards' index.json beyond a cut (shards.ShardSet.lost)

    def images(self) -> int:
        return sum(len(s) for s in self.splits.values())

    def read(self, test: bool = False) -> int:
        """The images of the splits that are read: training and validation (the test split where
        it is the validation split, having no `val`), and the test split where asked for
        (`test`: evaluate's --split test or all). Training never decodes a test split beside its
        validation split."""
        if test or "val" not in self.splits:
            return self.images()
        return sum(len(s) for split, s in self.splits.items() if split != "test")

    def record(self) -> dict:
        """What the run folder keeps (cnnctl.data.samples.index_bytes)."""
        return {"name": self.name, "root": self.root, "classes": self.classes, "splits": self.splits,
                "notes": self.notes, "test_from": self.test_from, "stamps": self.stamps, "lost": self.lost}  # fmt: skip


def is_streamable(spec: str) -> bool:
    """An image folder (class subfolders, perhaps in train/ val/ test/) or shards."""
    from .shards import is_shards

    if is_shards(spec):
        return True
    path = Path(spec).expanduser()
    if not path.is_dir():
        return False
    from .folder import is_image_folder

    return is_image_folder(path)


def listing(spec: str, kept: Path | None = None, progress: Callable[..., None] | None = None) -> Listing:
    """The images of `spec` (an image folder or shards), read back from the index `kept`
    (a resumed run folder's INDEX) when it lists the same data, else listed. `progress(count,
    what)` is told as it goes."""
    from .shards import is_shards

    root = spec if "://" in spec else str(Path(spec).expanduser().resolve())
    rewritten = ""  # shards of the list read back that changed since: indexed again
    if kept is not None and kept.is_file():
        record = load_index(kept)
        if record is not None and record.get("root") == root:
            # In place of the first note, which said what was listed (or indexed) when the run began:
            # nothing is listed now.
            notes = [f"the list of images read back from {kept} (images added to the folder since are not used)",
                     *record["notes"][1:]]  # fmt: skip
            found = Listing(record["name"], root, record["classes"], record["splits"], notes, record["test_from"],
                            str(kept), record.get("stamps") or {}, lost=record.get("lost", 0))  # fmt: skip
            found.changed = _changed(found, progress)
            if not found.changed or found.splits["train"].kind == "files":
                if found.changed:
                    found.notes.append(f"{found.changed}; each read as it is now")
                return found
            # A shard rewritten in place may hold other samples, or none, at the offsets indexed:
            # its samples are only found by indexing it again (an image file is read whole, as it is now).
            rewritten = found.changed
    if is_shards(spec):
        from .samples import stamps
        from .shards import shard_splits

        told = (lambda done, total: progress(done, f"of {total:,} shards indexed")) if progress else None
        found = shard_splits(spec, told)
        path = Path(spec.rstrip("/"))
        name = path.name if path.suffix != ".tar" and "{" not in path.name else path.parent.name or "shards"
        result = Listing(name, root, list(found.classes), dict(found.splits), list(found.notes),
                         "the test shards" if "test" in found.splits else "",
                         stamps={k: stamps(s.stamped()) for k, s in found.splits.items()}, lost=found.lost)  # fmt: skip
        if rewritten:
            result.changed = f"{rewritten}; indexed again"
            result.notes.append(result.changed)
    else:
        from .folder import folder_samples

        result = folder_samples(Path(spec).expanduser(), progress)
        result.root = root
    return result


def _changed(found: Listing, progress=None) -> str:
    """The images of the list `found` read back whose size or modification time is not the one
    listed (samples.changed_since), in words with the first named: `2 images changed since the
    run listed them (another size or modification time): cat/1.png, ...`; "" for none."""
    from ..words import first, plural
    from .samples import changed_since

    # Nothing is listed: the progress line says what is done instead (cnnctl.render.progress.ListingLine).
    told = (lambda count, what: progress(count, what, "checking the run's list of images")) if progress else None
    changed = [name for split, kept in found.stamps.items() for name in changed_since(found.splits[split], kept,
                                                                                      told)]  # fmt: skip
    if not changed:
        return ""
    them = "them" if len(changed) > 1 else "it"
    shards = found.splits["train"].kind == "shards"
    where = found.root if os.path.isdir(found.root) else os.path.dirname(found.root)  # a folder, a .tar or a pattern
    names = [os.path.relpath(name, where) for name in changed[:2]]
    what, done = ("shard", "indexed") if shards else ("image", "listed")
    return (f"{plural(len(changed), what)} changed since the run {done} {them} (another size or modification "
            f"time): {first(names, 1)}")  # fmt: skip


def choose(found: Listing, shape: tuple[int, int, int], stream: bool | None, test: bool = False) -> tuple[bool, str]:
    """Stream or hold in memory, and the `data:` line that says why: of the images read
    (Listing.read: a test split only where `test` asks for it or it is the validation split)."""
    h, w, c = shape
    count = found.read(test)
    decoded = count * h * w * c  # bytes, uint8
    free = available_memory()
    most = adapt.MAX_BYTES  # read when choosing, as adapt's own check reads it: one limit
    limit = min(most, int(free * MEMORY_SHARE)) if free else most
    held = f"{n(count)} images at {h}x{w}x{c} are {size(decoded)} decoded"
    if stream is True:
        return True, f"streamed from disk (--stream): {held}"
    if stream is False:
        return False, f"held in memory (--no-stream): {held}"
    if decoded > limit:
        why = f"more than {size(limit)}" + (f" (half the {size(free)} of memory free)" if limit < most else "")
        return True, f"streamed from disk: {held}, {why}; --no-stream holds them in memory"
    return False, f"held in memory: {held}; --stream reads them from disk instead"


def streamed_splits(
    found: Listing,
    shape: tuple[int, int, int],
    *,
    val_split: float,
    seed: int,
    test: bool,
    stats: Stats | None,
    workers: int,
    notes: list[str],
) -> DataSplits:
    """The DataSplits of a stream: `train`, `val` and `test` are Samples. Validation is the
    data's own split, else its test split, else `val_split` of the training images held out
    (by index, as data held in memory is: the same images), else none."""
    notes = [*found.notes, *notes]
    splits, test_split = found.splits, found.splits.get("test")
    train, val, val_from = validation(splits["train"], splits.get("val"), test_split, found.test_from, val_split,
                                      seed, notes)  # fmt: skip
    if stats is None:
        stats = sampled_stats(train, shape, seed, workers, listed=len(train) + len(val) + found.lost)
    return DataSplits(
        found.name, train, val, list(found.classes), stats.mean, stats.std, notes, val_from=val_from,
        test=test_split if test else None, test_from=found.test_from if test_split is not None else "",
        stats_from=stats.origin, streamed=True, listing=found.record(), changed=found.changed, lost=found.lost,
    )  # fmt: skip


def shards_raw(found: Listing, shape: tuple[int, int, int]) -> Raw:
    """Shards few enough to hold in memory, as a Raw whose splits finish() decodes straight to
    the input (cnnctl.data.adapt), each image adapted whole as predict adapts one."""
    from .adapt import Raw
    from .decode import mode_for

    h, w, c = shape
    # A rule, not a count: the sizes are known only as each image is decoded (an image folder's
    # headers are read first, so its note counts the sizes it adapts; folder.held_in_memory)
    # (said as a rule, "any image": said as a fact, it read as if some were, where every one is at the input's size)
    rule = (f"any image of another size than {h}x{w} is adapted to it as predict adapts one: padded where a little "
            "smaller, else resized (area to shrink, bilinear to grow)")  # fmt: skip
    notes = [*found.notes, rule]
    splits = found.splits
    return Raw(found.name, list(found.classes), splits["train"], splits.get("val"), notes, test=splits.get("test"),
               test_from=found.test_from or "its test split", mode=mode_for(c), native=shape,
               lost=found.lost)  # fmt: skip


def sampled_stats(train: Samples, shape: tuple[int, int, int], seed: int, workers: int, *, listed: int = 0) -> Stats:
    """The channel statistics over a seeded sample of at most STATS_SAMPLE training images,
    decoded as the stream decodes them without augmentation. Its unreadable images are judged
    by the rule of the run (loader.Skipped) against the `listed` images of the data set (all of
    its splits the run reads; at least the training images): the sample stops only a data set
    the run would refuse."""
    from .loader import decode_all

    total = len(train)
    if total == 0:
        raise CnnctlError.at("no training images")
    pick = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))[:STATS_SAMPLE].sort().values
    from .loader import Skipped

    x, _ = decode_all(train.take(pick), shape, workers, skipped=Skipped(listed=max(listed, total)))
    if len(x) == 0:
        raise CnnctlError.at(f"none of the {len(pick):,} training images sampled could be read")
    got = computed(x)
    if len(pick) == total:
        return got
    return dataclasses.replace(got, origin=f"estimated from a sample of {len(x):,} of the {total:,} training images "
                                           f"(seed {seed})")  # fmt: skip
