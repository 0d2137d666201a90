"""The loader processes: what each `torch.utils.data.DataLoader` worker does for a stream.

A request names one whole batch: (epoch, its place in the epoch's order, the indices of its
images). The worker decodes those images (cnnctl.data.decode, the one decode path) as the
split's `Recipe` says, into one uint8 tensor, and returns it with the labels and the
images it could not read. Whichever worker serves a request, however many there are, the
batch is the same: the crops and flips are drawn from (seed, epoch, the image's place).
The BatchSource that sends the requests is cnnctl.train.stream. For a GPU that decodes the
JPEGs itself (cnnctl.data.gpu_decode), a worker hands them over as stored instead, with the
crop and flip drawn the same way (`Images.encoded_batch`).

An image that cannot be read is left out of its batch, named in the run folder's
skipped.txt and counted in the epoch's line (`Skipped`); above MAX_BAD of the images the
data set listed, the run stops.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import torch

from ..errors import CnnctlError, one_line
from ..limits import MAX_LOADER_WORKERS as MAX_WORKERS
from ..words import plural
from .decode import (
    MISSING,
    RATIO,
    SCALE,
    ImageSource,
    area_box,
    centre_box,
    centre_said,
    decode,
    decode_box,
    open_image,
    orientation,
)
from .samples import ImageBytes, Samples

if TYPE_CHECKING:
    from collections.abc import Iterator

SKIPPED = "skipped.txt"  # a run folder's list of the images it could not read, one a line: `name: why`
MAX_BAD = 0.01  # the share of a data set's listed images that may be unreadable (Skipped)
BAD_FLOOR = 100  # ... of at least this many images (one bad among ten is not 10%)


def bad_allowed(listed: int) -> int:
    """The most unreadable images a data set of `listed` images may have: MAX_BAD of them, a
    set of fewer than BAD_FLOOR counted as BAD_FLOOR, rounded down."""
    return int(MAX_BAD * max(listed, BAD_FLOOR))


def bad_rule(listed: int) -> str:
    """The rule on unreadable images for `listed` images, in words: how many may be, and why."""
    floor = f", a set of fewer than {BAD_FLOOR} counted as {BAD_FLOOR}" if listed < BAD_FLOOR else ""
    return f"up to {bad_allowed(listed):,} may be: {MAX_BAD:.0%} of the images listed{floor}"


FIRST_TOLD = 5  # unreadable images named in a message; the rest counted (and listed in a file)
CENTRE = 224 / 256  # the evaluation recipe's centre crop: 224 of the shorter side resized to 256
PREFETCH = 4  # batches each loader worker prepares ahead
MAX_DEFAULT_WORKERS = 8
MIN_IMAGES_FOR_WORKERS = 256  # fewer are decoded in the training process: a worker's start costs more
PART = 16  # images per request when a split is decoded into memory
PROGRESS_AFTER = 1.0  # seconds of decoding before its progress bar shows


def draws_generator(seed: int, epoch: int, place: int) -> torch.Generator:
    """The generator of the random draws for the image (or the batch) at `place` of epoch
    `epoch`'s order: a function of the three only, whichever process draws them. Folded into
    the 63 bits a seed takes (any --seed up to 2**32 - 1 with any epoch and place)."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_000_007 + place) % (1 << 63))


def recipes(augment: str) -> tuple[Recipe, Recipe, str]:
    """What a stream's loader does with `augment` (the setting: `rrc,flip`...): the training
    images' recipe, the validation images' (and evaluate's) recipe, and the augmentations
    left to the device. `rrc` crops from the stored image and its evaluation takes the
    centre crop; `flip` is drawn with the crop; a padded `crop` needs the batch, on the device."""
    asked = augment.split(",")
    photo, flip = "rrc" in asked, "flip" in asked
    device = ",".join(op for op in asked if op not in ("rrc", "flip")) or "none"
    return Recipe("rrc" if photo else "fit", flip), Recipe("centre" if photo else "fit"), device


def validation_recipe(settings: dict) -> Recipe:
    """How the run whose recorded settings are `settings` (config.json, or its checkpoint's
    `config`) read its validation images, which every later use of its weights follows
    (evaluate on any data, predict, export): the centre crop where it streamed with random
    resized crops (`recipes`), else each image adapted whole (data held in memory is adapted
    before any augmentation). A run records the stream it chose (`stream`, never left None once
    it has run) and its `augment`; settings that record neither (weights from elsewhere): whole."""
    if not settings.get("stream"):
        return Recipe()
    return recipes(str(settings.get("augment") or "none"))[1]


def cores() -> int:
    """The cores this process may run on (its affinity: a container's or taskset's share)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_workers() -> int:
    """Loader workers when --workers is not given: one per usable core (this process's
    affinity), up to 8 (more rarely helps one GPU; each costs a process)."""
    return max(1, min(MAX_DEFAULT_WORKERS, cores()))


def more_than_cores(workers: int) -> str | None:
    """The note for `--workers` above the cores this process may use (as --nproc-per-node's): the
    processes then take turns on them; None where they fit."""
    usable = cores()
    if workers <= usable:
        return None
    return (
        f"--workers {workers} on {usable} usable core{'s' if usable != 1 else ''}: the loader processes take turns on "
        f"them (with the training process); --workers {usable} or fewer will likely be as fast"
    )


class Loader(torch.utils.data.DataLoader):
    """PyTorch's DataLoader without its check of the loader processes against the cores: a raw
    warning ("This DataLoader will create 3 worker processes in total...") at each pass, where
    cnnctl says it once itself (more_than_cores, in the run's `data:` notes). Not a warnings
    filter: one set when cnnctl is imported changes the caller's warnings too, and is lost where
    the caller resets them (pytest does around each test)."""

    def check_worker_number_rationality(self) -> None:
        """Told by more_than_cores instead."""


def workers_for(images: int) -> int:
    """Loader workers that decode `images` into memory: none for a few (starting one costs
    more than it saves), else `default_workers()`."""
    return 0 if images < MIN_IMAGES_FOR_WORKERS else default_workers()


@dataclass(frozen=True)
class Recipe:
    """How each image of a split becomes the network's input in the loader: "fit" (padded
    or resized whole, the rule of data held in memory and of predict), "rrc" (a random
    resized crop, drawn per image from (seed, epoch, its place in the epoch)), "centre"
    (the evaluation recipe of photos: resized to cover the input at 256/224, centre-cropped)."""

    name: str = "fit"
    flip: bool = False  # half the images flipped left to right, drawn like the crop
    share: float = CENTRE  # "centre": the crop's share of the resized shorter side (224 / 256)

    def said(self, target: tuple[int, int, int]) -> str:
        h, w, _ = target
        centre = self.share
        flipped = ", half flipped left to right" if self.flip else ""
        if self.name == "rrc":
            area, aspect = f"{SCALE[0]:g}-{SCALE[1]:g}", f"{RATIO[0]:.2f}-{RATIO[1]:.2f}"
            return f"random resized crop to {h}x{w} (area {area}, aspect {aspect}) from the image as stored{flipped}"
        if self.name == "centre":
            return centre_said(h, w, centre)
        return f"each adapted to {h}x{w} as predict adapts one (padded where a little smaller, else resized){flipped}"


class Images(torch.utils.data.Dataset):
    """What a loader worker serves: a request (epoch, position, indices) gives the batch of
    those images, decoded into one uint8 tensor (N, C, H, W, channels_last in memory: the
    layout the network runs in), their labels, and the images it could not read as (name,
    Problem). uint8, normalised by the training process (cnnctl.train.batches.Normalise):
    a quarter of the bytes of float pixels to write into fresh shared memory, whose pages
    cost more to touch for the first time than the arithmetic costs to do."""

    def __init__(
        self,
        samples: Samples,
        target: tuple[int, int, int],
        recipe: Recipe,
        seed: int,
        *,
        encoded: bool = False,
    ):
        self.samples, self.target, self.recipe, self.seed = samples, target, recipe, seed
        self.encoded = encoded  # JPEGs handed over as stored, for the GPU to decode (encoded_batch)
        self.opened: dict = {}  # the shards this process keeps open (each worker has its own copy)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, request: tuple[int, int, torch.Tensor | list[int]]):
        epoch, position, index = request
        index = torch.as_tensor(index, dtype=torch.long)
        if self.encoded:
            return self.encoded_batch(epoch, position, index)
        h, w, c = self.target
        # N, H, W, C: each image one contiguous copy, the batch channels_last once permuted.
        x = _batch_tensor((len(index), h, w, c), torch.uint8)
        kept, bad = [], []
        for k, i in enumerate(index.tolist()):
            try:
                x[len(kept)] = self._image(i, epoch, position + k).permute(1, 2, 0)
            except CnnctlError as exc:  # the problem, not the exception: it crosses to the trainer
                bad.append((self.samples.name(i), exc.problems[0]))
                continue
            kept.append(k)
        labels = self.samples.labels[index]
        if bad:
            labels = labels[torch.tensor(kept, dtype=torch.long)]
        return x[: len(kept)].permute(0, 3, 1, 2), labels, bad  # N, C, H, W in channels_last

    def _image(self, i: int, epoch: int, place: int, source: ImageSource | None = None) -> torch.Tensor:
        source = source if source is not None else self.samples.source(i, self.opened)
        box, flip = self.crop(epoch, place)
        if box is not None:
            return decode_box(source, self.target, box, flip)
        x = decode(source, self.target)  # in the input's mode (decode.mode_for), as every path decodes
        return x.flip(2) if flip else x

    def crop(self, epoch: int, place: int) -> tuple[Callable | None, bool]:
        """The image at `place` of epoch `epoch`'s order: the box of the image as stored that
        the photo recipes take (`box(width, height)`, cnnctl.data.decode; None for "fit", which
        adapts the whole image), and whether it is flipped."""
        recipe = self.recipe
        if recipe.name == "centre":
            h, w, _ = self.target
            return centre_box(h, w, recipe.share), False
        if recipe.name == "fit" and not recipe.flip:
            return None, False
        area, ratio, cx, cy, flip = self.draws(epoch, place)
        flip = recipe.flip and flip < 0.5
        return (area_box(area, ratio, cx, cy) if recipe.name == "rrc" else None), flip

    def encoded_batch(self, epoch: int, position: int, index: torch.Tensor) -> dict:
        """The batch for the GPU's decoder (cnnctl.data.gpu_decode): each JPEG's bytes as
        stored, its header checked here as for any image, with its crop box (in pixels of the
        image as stored) and flip; the other images (PNG, a CMYK JPEG, the "fit" recipe) decoded
        here as usual. Every tensor is made in shared memory: one for all the JPEGs' bytes."""
        h, w, c = self.target
        jpegs: list[bytes] = []
        names, boxes, flips, jpeg_at, decoded, decoded_at, kept, bad = [], [], [], [], [], [], [], []
        for k, i in enumerate(index.tolist()):
            try:
                source = read_bytes(self.samples, i, self.opened)
                box, flip = self.crop(epoch, position + k)
                with open_image(source, (h, w)) as im:
                    # nvJPEG decodes as stored: a JPEG stored sideways (EXIF orientation) is decoded here, upright
                    size = im.size
                    jpeg = im.format == "JPEG" and im.mode in ("L", "RGB") and box is not None and orientation(im) == 1
                if jpeg:
                    jpegs.append(source.data)
                    names.append(source.name)
                    boxes.append(box(*size))
                    flips.append(flip)
                    jpeg_at.append(len(kept))
                else:
                    decoded.append(self._image(i, epoch, position + k, source))
                    decoded_at.append(len(kept))
            except CnnctlError as exc:  # the problem, not the exception: it crosses to the trainer
                bad.append((self.samples.name(i), exc.problems[0]))
                continue
            kept.append(k)
        ends = torch.tensor([len(j) for j in jpegs], dtype=torch.int64).cumsum(0)
        blob = _batch_tensor((int(ends[-1]) if len(ends) else 0,), torch.uint8)
        if jpegs:
            blob.numpy()[:] = memoryview(b"".join(jpegs))
        pixels = _batch_tensor((len(decoded), c, h, w), torch.uint8)
        for k, x in enumerate(decoded):
            pixels[k] = x
        labels = self.samples.labels[index[torch.tensor(kept, dtype=torch.long)]] if bad else self.samples.labels[index]
        return {
            "jpeg": blob, "ends": ends, "names": names, "boxes": torch.tensor(boxes, dtype=torch.float64).view(-1, 4),
            "flips": torch.tensor(flips, dtype=torch.bool), "jpeg_at": torch.tensor(jpeg_at, dtype=torch.long),
            "decoded": pixels, "decoded_at": torch.tensor(decoded_at, dtype=torch.long), "labels": labels, "bad": bad,
        }  # fmt: skip

    def draws(self, epoch: int, place: int) -> tuple[float, float, float, float, float]:
        """The draws for the image at `place` of epoch `epoch`'s order: a random resized
        crop's area, log aspect and place (cx, cy), and a uniform number that flips it below 0.5."""
        gen = draws_generator(self.seed, epoch, place)
        area, ratio, cx, cy, flip = torch.rand(5, generator=gen, dtype=torch.float64).tolist()
        log_lo, log_hi = math.log(RATIO[0]), math.log(RATIO[1])
        return SCALE[0] + (SCALE[1] - SCALE[0]) * area, log_lo + (log_hi - log_lo) * ratio, cx, cy, flip


def read_bytes(samples: Samples, i: int, opened: dict) -> ImageBytes:
    """The i-th image's bytes as stored, named as messages name it: a shard's member as read,
    a file read whole once its size is known to be within MAX_IMAGE_BYTES."""
    from ..errors import Loc
    from ..limits import MAX_IMAGE_BYTES

    source = samples.source(i, opened)
    if isinstance(source, ImageBytes):
        return source
    try:
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_IMAGE_BYTES:
                raise CnnctlError.at(
                    f"cannot read the image: {size:,} bytes, more than cnnctl's {MAX_IMAGE_BYTES // 2**20} MiB for one",
                    Loc(source),
                )
            return ImageBytes(source, f.read())
    except FileNotFoundError:
        raise CnnctlError.at(MISSING, Loc(source)) from None
    except OSError as exc:
        raise CnnctlError.at(f"cannot read the image: {exc.strerror or exc}", Loc(source)) from None


def _batch_tensor(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An empty batch; in a loader worker, made in shared memory at once, as PyTorch's own
    collate makes its batches: handed to the trainer without being copied there first."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    try:
        storage = torch.UntypedStorage._new_shared(nbytes)
    except RuntimeError as exc:  # a full /dev/shm, a file-size limit: said by the trainer (loader_fault)
        raise RuntimeError(f"{NO_SHARED_MEMORY} ({nbytes:,} bytes asked): {exc}") from None
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape)


NO_SHARED_MEMORY = "shared memory for the loader's batches could not be made"
SHARED_MEMORY_FIX = (
    "train with --workers 0 (no loader processes, no shared memory), or give shared memory more room: a larger "
    "/dev/shm (docker run --shm-size=2g; Docker's default is 64 MB), no file-size limit (ulimit -f)"
)
# PyTorch's words for a loader process that ended (torch.utils.data's _utils.signal_handling and
# dataloader), and for shared memory it could not make or map.
_KILLED = re.compile(r"DataLoader worker \(pid (\d+)\) is killed by signal: ([^.]+)")
_EXITED = re.compile(r"DataLoader worker \(pid\(?s?\)? ?([\d, ]+)\) exited unexpectedly( with exit code -?\d+)?")
_SHARED = re.compile(rf"^.*(?:{NO_SHARED_MEMORY}|unable to \w+ .*torch_|shared memory).*$", re.MULTILINE)


def loader_fault(exc: BaseException) -> tuple[str, str] | None:
    """(what happened, what to do about it) when `exc` is PyTorch's word that a loader process
    ended (kill -9, the out-of-memory killer) or that shared memory for its batches could not
    be made; None for anything else (a bug keeps its traceback). A loader process killed just
    after it queued a batch breaks this process's fetch of the batch's shared memory from it
    (torch.multiprocessing's file descriptors are handed over by the process that made them):
    a ConnectionError or EOFError, with no word of which process."""
    if isinstance(exc, (ConnectionError, EOFError)):
        return (f"a loader process ended while handing over a batch ({type(exc).__name__}: {exc})",
                "find what ended it (kill, or the out-of-memory killer: `dmesg` names it)")  # fmt: skip
    if not isinstance(exc, RuntimeError):
        return None
    text = str(exc)
    killed, exited, shared = _KILLED.search(text), _EXITED.search(text), _SHARED.findall(text)
    if killed and killed.group(2).strip() == "Bus error":  # what a full /dev/shm does to a worker writing it
        return (f"a loader process (pid {killed.group(1)}) was killed by signal: Bus error: shared memory "
                "(/dev/shm) is likely full", SHARED_MEMORY_FIX)  # fmt: skip
    if killed:
        return (f"a loader process (pid {killed.group(1)}) was killed by signal: {killed.group(2).strip()}",
                "find what ended it (kill, or the out-of-memory killer: `dmesg` names it)")  # fmt: skip
    if exited:
        return (f"a loader process (pid {exited.group(1).strip()}) ended unexpectedly{exited.group(2) or ''}",
                "find what ended it (the out-of-memory killer: `dmesg` names it)")  # fmt: skip
    if shared:
        said = shared[-1].strip().removeprefix("RuntimeError: ")  # the error itself: a worker's traceback's last line
        return (said if NO_SHARED_MEMORY in said else f"{NO_SHARED_MEMORY}: {said}", SHARED_MEMORY_FIX)
    return None


@contextlib.contextmanager
def loader_faults_raised(error: Callable[[str, str], Exception]) -> Iterator[None]:
    """PyTorch's RuntimeError for a loader process that died (kill -9, the out-of-memory killer),
    a batch it could not hand over, or shared memory it could not make (loader_fault), raised
    as `error(what happened, what to do)`: one message, no traceback (training: the run's
    RunFault; evaluate, predict: a CnnctlError to run them again). Anything else keeps its
    traceback."""
    try:
        yield
    except (RuntimeError, ConnectionError, EOFError) as exc:
        fault = loader_fault(exc)
        if fault is None:
            raise
        _quiet_dead_workers()
        raise error(*fault) from None


def _quiet_dead_workers() -> None:
    """After a loader fault, stop PyTorch's SIGCHLD handler: while the loader that lost a process
    is not yet collected, it raises its own RuntimeError for that process at whatever line runs
    next (once, in the middle of writing the message that says so). What ends is no child of
    cnnctl's own; in another thread than the main one, handlers cannot be set: nothing."""
    import signal

    with contextlib.suppress(ValueError, AttributeError):  # not the main thread; no SIGCHLD (Windows)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def rerun_error(command: str) -> Callable[[str, str], Exception]:
    """loader_faults_raised's error for a command that saves nothing (evaluate, predict): run it again."""
    return lambda happened, fix: CnnctlError.at(happened, hint=f"{fix}, then run `cnnctl {command}` again")


class Requests(torch.utils.data.Sampler):
    """The requests of one pass, set before each (the loader's workers outlive the passes).
    Each goes to a worker with its indices as a list: a tensor would go as shared memory,
    whose handle the worker then fetches from this process, a round trip per request that
    ends in a traceback when this process has just been killed."""

    def __init__(self) -> None:
        self.requests: list = []

    def __iter__(self):
        return ((epoch, position, index.tolist()) for epoch, position, index in self.requests)

    def __len__(self) -> int:
        return len(self.requests)


@dataclass
class Skipped:
    """The images a data set could not be read of, and the one rule for them: named once each
    in `file` (a run folder's skipped.txt), and refused once the distinct images found
    unreadable exceed MAX_BAD of `listed`, the images the data set listed (counted as at least
    BAD_FLOOR: one among ten is no 10%). Both are of one population, fixed before anything is
    read: whether a run stops depends on the data, not on the order images come in nor on how
    often the run was stopped and resumed (a resumed run reads its file back: each image known
    bad stays one). When it stops does depend on what has been read: the images of the part
    batch an epoch leaves out (a seed's choice) are read in a later epoch. Training (held or
    streamed; train and validation images together), its statistics' sample and evaluate all
    judge by it. One whose file is gone since the run listed it is told
    as that (MISSING), not as damaged."""

    file: Path | None = None
    listed: int = 0
    deferred: bool = False  # judged by `judge()` once all is read (data held in memory), not at each batch
    names: dict[str, str] = field(default_factory=dict)  # each image's name as told: why it is unreadable
    gone: list[str] = field(default_factory=list)  # of `names`, those whose file is missing
    epoch_bad: int = 0  # this pass's, each time read (evaluate's examples left out)
    # this epoch's found unreadable for the first time: training's line says them once, in the epoch
    # that found them (the same file, skipped again each epoch, is no news in every row of the table)
    epoch_new: int = 0
    first: list[tuple[str, str]] = field(default_factory=list)  # (name, why) of the first FIRST_TOLD found
    # Images of `listed` that can never be read, not by name: the samples index.json lists beyond
    # a shard's cut (cnnctl.data.shards). Counted with `names` from the start.
    lost: int = 0
    # Whether this process writes `file`: a data-parallel run's rank 0 alone, which learns the
    # others' names (`learn`): their machines may not share its run folder.
    writer: bool = True
    written: set[str] = field(default_factory=set)  # the names `file` holds (read back, or written)
    unshared: dict[str, str] = field(default_factory=dict)  # known here, not yet given to the others (`fresh`)

    def __post_init__(self) -> None:
        """A resumed run's file names its images already: each stays named, and counted, once.
        Lost images alone past the limit refuse the data before anything is read."""
        if self.file is not None and self.file.is_file():
            from ..files import Unread, open_regular

            try:  # a link out of the run folder is not read (files.run_folder_of): named afresh then
                with open_regular(self.file) as file:
                    text = file.read().decode("utf-8", errors="replace")
            except (Unread, OSError):
                text = ""
            for name, _, why in (line.partition(": ") for line in text.splitlines() if line):
                self.written.add(name)
                if name not in self.names:
                    self.names[name] = self.unshared[name] = why
                    self._told(name, why)
        if not self.deferred:
            self.judge()

    @property
    def limit(self) -> int:
        """The most unreadable images the data set may have: MAX_BAD of its listed images (of
        at least BAD_FLOOR), rounded down."""
        return bad_allowed(self.listed)

    def add(self, bad: list) -> None:
        """`bad`: the (name, Problem) of images a batch could not read."""
        self.epoch_bad += len(bad)
        # Each named as on the terminal (one_line): a name holding a line break or an ESC
        # cannot forge a line of the file, or drive the terminal it is shown on.
        new = {}
        for name, problem in bad:
            name = one_line(name)
            if name not in self.names and name not in new:
                new[name] = one_line(problem.message)
        self.names.update(new)
        self.unshared.update(new)
        self.epoch_new += len(new)
        for name, why in new.items():
            self._told(name, why)
        self._write(new)
        if not self.deferred:
            self.judge()

    def _write(self, names: dict[str, str]) -> None:
        """A line in `file` for each of `names` it does not hold yet, where this process writes it."""
        new = {name: why for name, why in names.items() if name not in self.written}
        if new and self.file is not None and self.writer:
            with self._appending() as out:
                out.writelines(f"{name}: {why}\n" for name, why in new.items())
            self.written.update(new)

    def _appending(self) -> TextIO:
        """`file`, opened to append, never through a link: the run refused one before it began
        (writing.refuse_links_out); one put there since (a skipped.txt swapped for a link to
        ~/.bashrc while the run trained) is refused at the open itself (O_NOFOLLOW), not followed."""
        from ..errors import Loc

        try:
            fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if not os.path.islink(self.file):
                raise
            raise CnnctlError.at(
                "became a link while the run trained: never written through", Loc(str(self.file)),
                hint="remove the link; `cnnctl train --resume RUN` goes on from the last save",
            ) from exc  # fmt: skip
        return os.fdopen(fd, "a", encoding="utf-8")

    def fresh(self) -> dict[str, str]:
        """The names known here that the other workers have not been given (found, or read
        back from `file`, since the last call), given now: what a data-parallel run exchanges
        at each epoch's end, a few at a time (at most the rule's limit and a batch per worker)."""
        given, self.unshared = self.unshared, {}
        return given

    def learn(self, names: dict[str, str]) -> None:
        """Images other workers found unreadable (a data-parallel run's ranks read disjoint
        shares): known and counted here too, not this pass's; named in `file` by its writer
        (rank 0), whose machine's run folder may not be theirs."""
        for name, why in names.items():
            if name not in self.names:
                self.names[name] = why
                self._told(name, why)
        self._write(names)

    def judge(self) -> None:
        """The rule: refused past `limit`."""
        if len(self.names) + self.lost > self.limit:
            raise self.too_many()

    def _told(self, name: str, why: str) -> None:
        if why == MISSING:
            self.gone.append(name)
        if len(self.first) < FIRST_TOLD:
            self.first.append((name, why))

    def too_many(self) -> CnnctlError:
        total = len(self.names) + self.lost
        where = f" (each named in {self.file})" if self.file is not None and self.names else ""
        verb = "read" if self.gone else "decoded"
        # A stream stops at the first image past the limit, unread ones may be bad too: "at least"
        some = "" if self.deferred else "at least "
        count = (f"{some}{total:,} of the {self.listed:,} images listed could not be {verb}{where} "
                 f"({bad_rule(self.listed)})")  # fmt: skip
        if self.gone:  # removing them cannot help: the run's list of images (data-index) names them
            files = "file the run listed is" if len(self.gone) == 1 else "files the run listed are"
            damaged = "; repair or replace the damaged ones" if total > len(self.gone) else ""
            return CnnctlError.at(
                f"{len(self.gone):,} {files} gone since it started (e.g. {self.gone[0]}): {count}",
                hint=f"put them back, or start a new run (it lists the images anew){damaged}",
            )
        lost = [f"{plural(self.lost, 'sample')} index.json lists beyond a shard's cut"] if self.lost else []
        told = "; ".join([*lost, *(f"{name}: {why}" for name, why in self.first)])
        more = f" and {len(self.names) - len(self.first):,} more" if len(self.names) > len(self.first) else ""
        cut = "; copy or write a shard cut short again" if self.lost else ""
        return CnnctlError.at(
            f"{count}: {told}{more}",
            hint=f"repair or remove the damaged files{cut}; up to {MAX_BAD:.0%} of the images listed are left out",
        )


def decode_all(
    samples: Samples,
    target: tuple[int, int, int],
    workers: int,
    *,
    skipped: Skipped | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of `samples` decoded (in the input's mode, decode.mode_for) and adapted whole
    to `target` (H, W, C) by the one decode path, in order, by `workers` loader processes,
    into one uint8 (N, C, H, W) tensor allocated once: nothing is held at the files' own size
    but the few images the workers are decoding. Returns it with the labels. An unreadable
    image is left out and told to `skipped`, which judges them by the one rule (data held in
    memory, a stream's sample for its statistics; None: against `samples` alone). `progress`: a
    bar on a terminal once it takes a while."""
    total = len(samples)
    skipped = skipped if skipped is not None else Skipped(listed=total)
    requests = Requests()
    requests.requests = [(0, s, torch.arange(s, min(s + PART, total))) for s in range(0, total, PART)]
    workers = min(workers, MAX_WORKERS, len(requests))
    loader = Loader(
        Images(samples, target, Recipe(), 0), batch_size=None, sampler=requests, num_workers=workers,
        prefetch_factor=PREFETCH if workers > 0 else None, worker_init_fn=worker_start(),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    h, w, c = target
    x = torch.empty((total, c, h, w), dtype=torch.uint8)
    y = torch.empty(total, dtype=torch.int64)
    kept = 0
    bar = DecodeProgress(total) if progress else None
    try:
        for part, labels, bad in loader:
            skipped.add(bad)
            x[kept : kept + len(labels)], y[kept : kept + len(labels)] = part, labels
            kept += len(labels)
            if bar is not None:
                bar.advance(len(labels) + len(bad))
    finally:
        if bar is not None:
            bar.stop()
    return x[:kept], y[:kept]


class DecodeProgress:
    """A transient bar on stderr, `decoding images 1,234/3,000`, shown only on a terminal (by
    rank 0 of a data-parallel run), and only once decoding has taken PROGRESS_AFTER seconds."""

    def __init__(self, total: int):
        import sys
        import time

        from .. import worker

        self.clock = time.perf_counter
        self.total, self.done, self.bar = total, 0, None
        self.started = self.clock()
        self.console = _stderr_console() if worker.rank0() and sys.stderr is not None else None
        from ..terminal import draws_bars

        self.wanted = self.console is not None and draws_bars(self.console)

    def advance(self, count: int) -> None:
        self.done += count
        if not self.wanted:
            return
        if self.bar is None and self.clock() - self.started >= PROGRESS_AFTER:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("decoding images"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=self.console, transient=True)  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("", total=self.total)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _stderr_console():
    from ..terminal import stderr_console

    return stderr_console()


PARENT_POLL = 0.2  # seconds between looks at the process a loader worker serves, where it cannot be waited on
ENDING = 1.0  # seconds a worker's error waits to be told whether the process it served was ending


def worker_start() -> Callable[[int], None]:
    """The worker_init_fn of each of cnnctl's loaders (`start_worker`), for workers that
    serve this process: the one that makes the loader and reads its batches."""
    return functools.partial(start_worker, os.getpid())


def start_worker(maker: int, _worker: int) -> None:
    """What a loader worker does first. It decodes with one thread: the workers are the
    parallelism. Ctrl-C reaches the whole process group: the trainer finishes its step and
    saves, so its loader workers must not die of it first (SIGTERM still ends them at once).
    It ends, quietly, once `maker` (the process it serves) has ended (`end_with`)."""
    import signal

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end_with(Maker(maker))


def end_with(maker: Maker) -> None:
    """End this loader worker without a word as soon as `maker` has ended. A process killed
    (kill -9, the out-of-memory killer) cannot end its workers, and PyTorch's own check finds
    it gone only between requests, every 5 seconds; meanwhile a worker handing over a batch
    finds the maker's end of the connection reset, and the traceback would reach the terminal
    the two share. A thread of the worker waits for the end; an error of a thread that spoke
    to the maker as it ended ends the worker quietly too. Not a parent-death signal
    (PR_SET_PDEATHSIG): it comes when the thread that started the worker ends, and the loader
    that starts persistent workers may be first read by a thread of a pass (GpuDecoder.ahead),
    or the run be one of a program's threads."""
    import sys
    import threading

    if maker.ends_within(0):
        os._exit(0)
    said = sys.excepthook

    def quiet(*exc_info) -> None:
        # The connection breaks as the maker's files close, a moment before it has ended.
        if maker.ends_within(ENDING):
            os._exit(0)
        said(*exc_info)

    sys.excepthook = quiet  # multiprocessing's own threads (the one that hands over batches' memory) report so

    def watch() -> None:
        maker.ends_within(None)
        os._exit(0)

    threading.Thread(target=watch, name="cnnctl-maker-watch", daemon=True).start()


class Maker:
    """The process a loader worker serves, from inside the worker, and whether it has ended.
    Linux tells the moment it ends (a pidfd, Linux 5.3 and later); elsewhere it is looked at
    every PARENT_POLL seconds: a worker it forked or spawned gets another parent when it
    ends; a fork server's worker (a data-parallel run's) sees its pid gone."""

    def __init__(self, pid: int):
        self.pid, self.child = pid, os.getppid() == pid
        self.fd = None  # its pidfd: readable once it has ended
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # not Linux (or too old), or already ended: _alive() says
            return
        if self.child and os.getppid() != pid:  # it ended between the two looks: its pid may be another's now
            os.close(fd)
            return
        self.fd = fd

    def ends_within(self, seconds: float | None) -> bool:
        """Whether it has ended, or does within `seconds` (None: waits for its end)."""
        if self.fd is not None:  # a poll of its own each time: the watching thread waits in one while others look
            import select

            poll = select.poll()
            poll.register(self.fd, select.POLLIN)
            return bool(poll.poll(None if seconds is None else seconds * 1000))
        deadline = None if seconds is None else time.monotonic() + seconds
        while self._alive():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(PARENT_POLL)
        return True

    def _alive(self) -> bool:
        if self.child:
            return os.getppid() == self.pid
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):  # PermissionError: the pid is another user's process now
            return False
        return True
