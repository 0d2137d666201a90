"""A data set from a folder: IDX files, CIFAR-style batches, or one subfolder of images per class."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import torch

from ..errors import CnnctlError, Loc, Problem
from . import IDX_IMAGES, IMAGE_SUFFIXES, Split
from .adapt import Raw, n
from .decode import GRAY_MODES, decode, open_image
from .samples import Samples

TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation")
TEST_NAMES = ("test", "testing")
# Decoding a folder into memory: images a worker decodes per task (each task's tensor crosses
# to the trainer through shared memory), the fewest images worth starting worker processes
# for (each costs a fork and the trainer's pages it touches), the most workers, and how long
# decoding runs before its progress bar shows.
PART = 16
MIN_IMAGES_FOR_WORKERS = 256
MAX_WORKERS = 8
PROGRESS_AFTER = 1.0  # seconds


def load_folder(path: Path, target: tuple[int, int, int]) -> Raw:
    """IDX files in `path` if any, else CIFAR-10 batches, else an image-folder tree."""
    path = Path(path)
    if any(path.glob(f"*{IDX_IMAGES}")) or any(path.glob(f"*{IDX_IMAGES}.gz")):
        return load_idx_folder(path)
    from .cifar import find_batches, read_folder

    batches = find_batches(path)
    if batches is not None:
        return read_folder(batches, path.resolve().name)
    return load_image_folder(path, target)


def _role(prefix: str) -> str:
    low = prefix.lower()
    if "val" in low:
        return "val"
    if "t10k" in low or "test" in low:
        return "test"
    return "train"


def load_idx_folder(path: Path) -> Raw:
    """Every `PREFIX-images-idx3-ubyte[.gz]` with its `PREFIX-labels-idx1-ubyte[.gz]`: prefixes
    naming val are validation, test/t10k the test split (validation too where there is no
    val), the others training; a lone kind is split."""
    from .idx import class_names, combine, find_file, read_pair

    images = sorted({p.name.removesuffix(".gz") for p in path.glob("*-images-idx3-ubyte*")})
    groups: dict[str, list[Split]] = {"train": [], "val": [], "test": []}
    read: list[tuple[Split, Path]] = []  # each split with its labels file, for class_names
    used: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for name in images:
        if not name.endswith("-images-idx3-ubyte"):
            continue
        prefix = name.removesuffix("-images-idx3-ubyte")
        labels = find_file(path, f"{prefix}-labels-idx1-ubyte")
        image_file = find_file(path, name)
        if labels is None:
            raise CnnctlError.at(
                f"no labels for {image_file.name}",
                Loc(str(path)),
                hint=f"expected {prefix}-labels-idx1-ubyte or {prefix}-labels-idx1-ubyte.gz beside it",
            )
        role = _role(prefix)
        split = read_pair(image_file, labels)
        groups[role].append(split)
        read.append((split, labels))
        used[role].append(prefix)
    merged = {}
    for role, splits in groups.items():
        if not splits:
            merged[role] = None
            continue
        sizes = {tuple(s.x.shape[1:]) for s in splits}
        if len(sizes) > 1:
            raise CnnctlError.at(f"IDX files of different image sizes in {path}: {', '.join(used[role])}")
        merged[role] = Split(torch.cat([s.x for s in splits]), torch.cat([s.y for s in splits]))
    notes = [f"read IDX files {', '.join(p + '-*' for p in used['train'] + used['val'] + used['test'])} from {path}"]
    test_from = "the " + ", ".join(p + "-*" for p in used["test"]) + " files"
    return combine(path.resolve().name, class_names(read), merged["train"], merged["val"], notes, str(path),
                   test=merged["test"], test_from=test_from)  # fmt: skip


def _class_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> tuple[list[Path], int]:
    files, skipped = [], 0
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES:
            files.append(p)
        else:
            skipped += 1
    return files, skipped


def _tree(root: Path, classes: list[str] | None) -> tuple[list[str], list[tuple[Path, int]], int]:
    """(class names, [(file, label)], files skipped) of one class-per-subfolder tree."""
    dirs = _class_dirs(root)
    names = classes if classes is not None else [d.name for d in dirs]
    files, skipped = [], 0
    for d in dirs:
        if d.name not in names:
            raise CnnctlError.at(
                f"class folder `{d.name}` is not among the training classes", Loc(str(d)), hint=", ".join(names)
            )
        found, skip = _images(d)
        if not found:
            raise CnnctlError.at("class folder without PNG or JPEG images", Loc(str(d)))
        files += [(f, names.index(d.name)) for f in found]
        skipped += skip
    return names, files, skipped


def load_image_folder(path: Path, target: tuple[int, int, int]) -> Raw:
    """One subfolder per class of PNG/JPEG images (through Pillow); `train/` with `val/` and/or
    `test/` subfolders, each with the class folders, give the splits."""
    subdirs = {d.name.lower(): d for d in _class_dirs(path)}

    def split_dir(names: tuple[str, ...]) -> Path | None:
        found = next((subdirs[k] for k in names if k in subdirs), None)
        return found if found is not None and _class_dirs(found) else None

    train_dir, val_dir, test_dir = split_dir(TRAIN_NAMES), split_dir(VAL_NAMES), split_dir(TEST_NAMES)
    split_tree = train_dir is not None and (val_dir is not None or test_dir is not None)
    if not subdirs:
        raise CnnctlError.at(
            f"no data in {path}",
            Loc(str(path)),
            hint="a data folder holds IDX files (*-images-idx3-ubyte[.gz] and *-labels-idx1-ubyte[.gz]) "
            "or one subfolder of PNG/JPEG images per class",
        )
    size = (target[0], target[1])
    notes = []
    val_files: list[tuple[Path, int]] = []
    test_files: list[tuple[Path, int]] = []
    if split_tree:
        classes, train_files, skipped = _tree(train_dir, None)
        for folder, files in ((val_dir, val_files), (test_dir, test_files)):
            if folder is not None:
                _, found, skip = _tree(folder, classes)
                files += found
                skipped += skip
    else:
        classes, train_files, skipped = _tree(path, None)
    if skipped:
        notes.append(f"skipped {n(skipped)} files that are not PNG or JPEG")
    # First pass, headers only: the modes and sizes decide the channels and whether to resize.
    modes, sizes = Counter(), Counter()
    for f, _ in train_files + val_files + test_files:
        with open_image(f, size) as im:
            modes[im.mode] += 1
            sizes[(im.height, im.width)] += 1
    gray = set(modes) <= GRAY_MODES
    mode, channels = ("L", 1) if gray else ("RGB", 3)
    if len(sizes) == 1:
        (h, w) = next(iter(sizes))
    else:
        h, w = target[0], target[1]
        lo, hi = min(sizes), max(sizes)
        notes.append(
            f"adapted images of {len(sizes)} sizes ({lo[0]}x{lo[1]} to {hi[0]}x{hi[1]}) to {h}x{w}, each as "
            "predict adapts one: padded where it is a little smaller, else resized (area to shrink, bilinear to grow)"
        )
    total = len(train_files) + len(val_files) + len(test_files)

    def files(found: list[tuple[Path, int]]) -> Samples | None:
        return Samples.files([f for f, _ in found], [label for _, label in found]) if found else None

    kind = "grayscale" if gray else "RGB"
    notes.insert(0, f"read {n(total)} {kind} images of {len(classes)} classes from {path}")
    test_from = f"{test_dir.name}/" if test_dir is not None else ""
    # Not decoded here: finish() holds out by index, checks the size at the input, then decodes
    # each file once, straight to the input (decode_all), with the one rule predict follows too.
    return Raw(path.resolve().name, classes, files(train_files), files(val_files), notes, test=files(test_files),
               test_from=test_from, mode=mode, native=(h, w, channels))  # fmt: skip


def workers_for(images: int) -> int:
    """Worker processes that decode `images`: none for a few (starting one costs more than it
    saves), else one per usable core (this process's affinity), at most MAX_WORKERS."""
    if images < MIN_IMAGES_FOR_WORKERS:
        return 0
    from ..train.fastpath import cores

    return min(MAX_WORKERS, cores())


class _Decoder(torch.utils.data.Dataset):
    """Parts of a split's files, decoded to the input: `dataset[(start, stop)]` is (start,
    images (stop - start, C, H, W) uint8, None), or (start, None, the problems) for a file
    that cannot be read: a worker returns its problem, to be raised once, by the trainer."""

    def __init__(self, samples: Samples, target: tuple[int, int, int], mode: str):
        self.samples, self.target, self.mode = samples, target, mode

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, part: tuple[int, int]) -> tuple[int, torch.Tensor | None, tuple[Problem, ...] | None]:
        start, stop = part
        h, w, c = self.target
        x = torch.empty((stop - start, c, h, w), dtype=torch.uint8)
        for j in range(stop - start):
            try:
                x[j] = decode(self.samples.source(start + j), self.target, self.mode)
            except CnnctlError as exc:  # an exception's pickling would lose its problems
                return start, None, exc.problems
        return start, x, None


def _as_is(item):
    return item


def decode_all(samples: Samples, target: tuple[int, int, int], mode: str) -> torch.Tensor:
    """Every file of `samples` decoded in `mode` and adapted to `target` (H, W, C) by the one
    decode path (cnnctl.data.decode), into one (N, C, H, W) uint8 tensor allocated once:
    nothing is held at the files' own size but the few images the workers are decoding.
    Decoded by worker processes (`workers_for`), in order; the first file that cannot be read
    is one CnnctlError naming it. A progress bar shows on a terminal once it takes a while."""
    h, w, c = target
    total = len(samples)
    parts = [(start, min(start + PART, total)) for start in range(0, total, PART)]
    workers = workers_for(total)
    loader = torch.utils.data.DataLoader(
        _Decoder(samples, target, mode), batch_size=None, sampler=parts, num_workers=workers, collate_fn=_as_is,
        prefetch_factor=2 if workers else None,
    )  # fmt: skip
    x = torch.empty((total, c, h, w), dtype=torch.uint8)
    bar = _Progress(total)
    try:
        for start, images, problems in loader:
            if problems is not None:
                raise CnnctlError(problems)
            x[start : start + len(images)] = images
            bar.advance(len(images))
    finally:
        bar.stop()
    return x


class _Progress:
    """A transient bar on stderr, `decoding images 1,234/3,000`, shown only on a terminal (by
    rank 0 of a data-parallel run), and only once decoding has taken PROGRESS_AFTER seconds."""

    def __init__(self, total: int):
        from .. import worker

        self.total, self.done, self.bar = total, 0, None
        self.started = time.perf_counter()
        self.console = _stderr_console() if worker.rank0() and sys.stderr is not None else None
        self.wanted = self.console is not None and self.console.is_terminal

    def advance(self, count: int) -> None:
        self.done += count
        if not self.wanted:
            return
        if self.bar is None and time.perf_counter() - self.started >= PROGRESS_AFTER:
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
    from ..render.progress import stderr_console

    return stderr_console()
