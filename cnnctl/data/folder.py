"""A data set from a folder: IDX files, CIFAR-style batches, or one subfolder of images per class."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import CnnctlError, Loc
from ..files import is_dir_entry, not_regular
from ..limits import MAX_FOLDER_DEPTH, leads_out
from ..words import first, plural
from . import IDX_IMAGES, IMAGE_SUFFIXES, Split
from .adapt import Raw
from .decode import GRAY_MODES, MISSING, open_image, orientation, upright_size
from .samples import Samples

if TYPE_CHECKING:
    from collections.abc import Callable

    from .streamed import Listing

TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation")
TEST_NAMES = ("test", "testing")


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
    from .idx import IMAGES_MAGIC as IDX_IMAGES_MAGIC
    from .idx import class_names, combine, find_file, read_idx, read_pair

    images = sorted({p.name.removesuffix(".gz") for p in path.glob("*-images-idx3-ubyte*")})
    root = os.path.realpath(path)  # each file is read only inside it (limits.leads_out)
    groups: dict[str, list[Split]] = {"train": [], "val": [], "test": []}
    read: list[tuple[Split, Path]] = []  # each split with its labels file, for class_names
    used: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for name in images:
        if not name.endswith("-images-idx3-ubyte"):
            continue
        prefix = name.removesuffix("-images-idx3-ubyte")
        labels = find_file(path, f"{prefix}-labels-idx1-ubyte", any_kind=True)
        image_file = find_file(path, name, any_kind=True)  # there: the folder's listing named it
        if labels is None:
            if not image_file.is_file():  # a FIFO, a folder, a link to nowhere: reading it says which
                read_idx(image_file, IDX_IMAGES_MAGIC, root)
            raise CnnctlError.at(
                f"no labels for {image_file.name}",
                Loc(str(path)),
                hint=f"expected {prefix}-labels-idx1-ubyte or {prefix}-labels-idx1-ubyte.gz beside it",
            )
        role = _role(prefix)
        split = read_pair(image_file, labels, inside=root)
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


Outside = list[tuple[Path, str]]  # links that lead out of the data folder, with where each leads: not read


def _kept(entry: os.DirEntry, root: str, outside: Outside | None) -> bool:
    """Whether the entry `entry` of a folder inside the data folder `root` (its real path) is
    read: not hidden, and not a link leading out of `root` (limits.leads_out; told in `outside`)."""
    if entry.name.startswith("."):
        return False
    if entry.is_symlink():
        target = leads_out(entry.path, root)
        if target is not None:
            if outside is not None:
                outside.append((Path(entry.path), target))
            return False
    return True


def _class_dirs(path: Path, root: str | None = None, outside: Outside | None = None) -> list[Path]:
    """The subfolders of `path` (inside the data folder `root`, a real path: `path`'s own by
    default), sorted; a link leading out of `root` is not one (told in `outside`)."""
    root = root or os.path.realpath(path)
    with os.scandir(path) as entries:
        return sorted(Path(e.path) for e in entries if _kept(e, root, outside) and is_dir_entry(e))


def list_images(
    folder: Path,
    root: str | None = None,
    outside: Outside | None = None,
    *,
    recursive: bool = True,
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
    too_deep: list[Path] | None = None,
) -> tuple[list[Path], list[Path]]:
    """The image files of `folder` (by `suffixes`, in any case) and its other files: the one
    lister of image files (class folders, mask folders, a folder given to predict). Inside
    the folder `root` (a real path; `folder`'s own by default): hidden entries are left out,
    and so is a link whose target lies outside `root` (limits.leads_out; told in `outside`).
    `recursive` (as torchvision's ImageFolder): the files of its subfolders too, at any depth;
    each folder's files sorted by name, then its subfolders' in name order, so the order is
    the same on every machine. A folder reached again through links, or one holding `folder`
    (`cat/up -> ..`), is not listed again: no loop of links is followed for ever. One scandir
    per folder: the kind of each entry comes with the listing (no stat per file of a million).
    A link that cannot be followed (a loop) is listed as the image its name says: unreadable,
    it is named as every unreadable image is (left out under the 1% rule when streamed). What
    is neither a file nor a folder (a FIFO, a socket, a device) is never opened: it is among
    the other files, named. Walked with a list of folders to go, not by recursion, and no
    deeper than MAX_FOLDER_DEPTH below `folder`: a folder nested deeper is an error naming it, or,
    with `too_deep` (predict: the folder is no data set, the rest is predicted), put there unread."""
    root = root or os.path.realpath(folder)
    files: list[Path] = []
    others: list[Path] = []
    seen: set[str] = set()  # the real paths of the folders listed
    start = os.path.realpath(folder)
    waiting: list[tuple[Path, int]] = [(Path(folder), 0)]  # folders to list, the next one last, with their depth
    while waiting:
        here, depth = waiting.pop()
        if depth > MAX_FOLDER_DEPTH and too_deep is not None:
            too_deep.append(here)
            continue
        if depth > MAX_FOLDER_DEPTH:
            raise CnnctlError.at(
                f"folders nested more than {MAX_FOLDER_DEPTH} deep in {folder}: not read",
                Loc(str(here)),
                hint="cnnctl reads images at any depth up to that; move them nearer the class folder",
            )
        real = os.path.realpath(here)
        # A link to a folder listed already, or to one holding `folder` (`cat/up -> ..`), is a loop.
        if real in seen or (depth and os.path.commonpath([real, start]) == real):
            continue
        seen.add(real)
        names, other, below = [], [], []
        with os.scandir(here) as entries:
            for entry in entries:
                if not _kept(entry, root, outside):
                    continue
                if recursive and is_dir_entry(entry):
                    below.append(entry.name)
                    continue
                try:
                    if not entry.is_file():  # a FIFO, a socket, a device (or a folder, not walked into)
                        if not is_dir_entry(entry):
                            other.append(entry.name)
                        continue
                except OSError:  # a loop of links (ELOOP): one bad file, told when it is read
                    pass
                is_image = os.path.splitext(entry.name)[1].lower() in suffixes
                (names if is_image else other).append(entry.name)
        files.extend(here / name for name in sorted(names))
        others.extend(here / name for name in sorted(other))
        waiting.extend((here / name, depth + 1) for name in sorted(below, reverse=True))
    return files, others


def _tree(
    root: Path, classes: list[str] | None, progress=None, top: str | None = None, outside: Outside | None = None
) -> tuple[list[str], list[tuple[Path, int]], list[Path]]:
    """(class names, [(file, label)], files skipped) of one class-per-subfolder tree inside
    the data folder `top` (a real path; `root`'s own by default), links leading out of it told
    in `outside`; `progress(count)` told of the files listed so far."""
    top = top or os.path.realpath(root)
    dirs = _class_dirs(root, top, outside)
    names = classes if classes is not None else [d.name for d in dirs]
    files, skipped = [], []
    for d in dirs:
        if d.name not in names:
            raise CnnctlError.at(
                f"class folder `{d.name}` is not among the training classes", Loc(str(d)), hint=", ".join(names)
            )
        found, skip = list_images(d, top, outside)
        if not found:
            idx = any("-idx" in f.name and "-ubyte" in f.name for f in d.iterdir())
            raise CnnctlError.at(
                "class folder without PNG or JPEG images",
                Loc(str(d)),
                hint=f"it holds IDX files (MNIST's format): give that folder itself, `{d}`" if idx else
                "each subfolder is a class and holds its .png, .jpg or .jpeg images (in it or in its subfolders): "
                "fill or remove this one",
            )  # fmt: skip
        label = names.index(d.name)
        files += [(f, label) for f in found]
        skipped += skip
        if progress is not None:
            progress(len(files))
    return names, files, skipped


@dataclass
class ImageTree:
    """The images of a class-per-subfolder tree, listed, not opened: what training reads
    (load_image_folder) and what `cnnctl pack` writes into shards."""

    classes: list[str]
    splits: dict[str, list[tuple[Path, int]]]  # "train", and "val" / "test" where present: [(file, label)]
    not_images: list[Path]  # files of the class folders that are not PNG or JPEG, left out
    test_dir: Path | None = None
    notes: list[str] = field(default_factory=list)  # what was left out, in words
    outside: Outside = field(default_factory=list)  # links leading out of the folder, not read

    @property
    def skipped(self) -> int:
        return len(self.not_images)


def _not_images_note(files: list[Path], root: Path) -> str:
    """`skipped 1 file that is not PNG or JPEG: bird/notes.txt`, the first few named, each that
    is no regular file with what it is (`cat/pipe (a FIFO (named pipe))`)."""
    are = "is" if len(files) == 1 else "are"
    names = [_with_kind(f, f.relative_to(root)) for f in files[:4]]  # first() says "..." past 3
    return f"skipped {plural(len(files), 'file')} that {are} not PNG or JPEG: {first(names, 3)}"


def _with_kind(path: Path, shown: object) -> str:
    """`shown`, and what `path` is where it is no regular file (files.not_regular): never opened."""
    kind = not_regular(path)
    return f"{shown} ({kind})" if kind else str(shown)


def outside_note(outside: Outside, root: Path) -> str:
    """`left out 1 link that leads out of hdata: dog/x.png -> /etc/shadow`, the first few named."""
    leads = "leads" if len(outside) == 1 else "lead"
    names = [f"{link.relative_to(root)} -> {target}" for link, target in outside]
    return f"left out {plural(len(outside), 'link')} that {leads} out of {root.name}/ (not read): {first(names, 3)}"


def _check_classes(path: Path, classes: list[str], loose: list[Path], linked: Outside) -> None:
    """A classifier tells at least two classes apart: one class folder is an error, with the
    images lying beside it (not in any class folder) and the class folders linked from
    outside (`linked`, not read) named."""
    if len(classes) >= 2:
        return
    if linked:
        _refuse_linked(path, linked, f"one class folder in {path} (`{classes[0]}`), and ")
    beside = f", and {plural(len(loose), 'image')} directly in {loose[0].parent.name}/, outside any" if loose else ""
    raise CnnctlError.at(
        f"one class folder in {path} (`{classes[0]}`){beside}",
        Loc(str(path)),
        hint="a classifier needs at least 2 classes: one subfolder of PNG/JPEG images per class",
    )


def _refuse_linked(path: Path, linked: Outside, before: str) -> None:
    """The error of a data folder whose class folders are links leading out of it: each named
    with where it leads, and the two ways on (the folders copied in, or the folder they lead to given)."""
    targets = {os.path.dirname(target) for _, target in linked}
    instead = f" ({next(iter(targets))})" if len(targets) == 1 else ""
    are = "is a link" if len(linked) == 1 else "are links"
    names = [f"{link.name} -> {target}" for link, target in linked]
    raise CnnctlError.at(
        f"{before}{plural(len(linked), 'subfolder')} of {path.name}/ {are} leading out of it, not read: "
        f"{first(names, 3)}",
        Loc(str(path)),
        hint=f"cnnctl reads only what lies inside the data folder given: copy the class folders into {path.name}/, "
        f"or give the folder they lead to instead{instead}",
    )


def list_image_folder(path: Path, progress: Callable[..., None] | None = None) -> ImageTree:
    """One subfolder per class of PNG/JPEG images; `train/` with `val/` and/or `test/`
    subfolders, each with the class folders, give the splits. `progress(count)` is told of
    the files listed so far."""
    top = os.path.realpath(path)  # the folder given: no link inside it is followed out of it
    outside: Outside = []
    subdirs = {d.name.lower(): d for d in _class_dirs(path, top, outside)}
    linked = sorted((link, to) for link, to in outside if os.path.isdir(to))  # class folders from elsewhere

    def split_dir(names: tuple[str, ...]) -> Path | None:
        found = next((subdirs[k] for k in names if k in subdirs), None)
        return found if found is not None and _class_dirs(found, top) else None

    train_dir, val_dir, test_dir = split_dir(TRAIN_NAMES), split_dir(VAL_NAMES), split_dir(TEST_NAMES)
    split_tree = train_dir is not None and (val_dir is not None or test_dir is not None)
    loose, _ = list_images(path, top, outside, recursive=False)  # images beside the class folders belong to no class
    if not subdirs and loose:
        raise CnnctlError.at(
            f"{plural(len(loose), 'image')} directly in {path.name}/, no class folders",
            Loc(str(path)),
            hint="put them into one subfolder per class (its name is the class): "
            f"{path.name}/cat/*.jpg, {path.name}/dog/*.jpg, ...",
        )
    if not subdirs and linked:
        _refuse_linked(path, linked, "no class folder: ")
    if not subdirs:
        raise CnnctlError.at(
            f"no data in {path}",
            Loc(str(path)),
            hint="a data folder holds IDX files (*-images-idx3-ubyte[.gz] and *-labels-idx1-ubyte[.gz]) "
            "or one subfolder of PNG/JPEG images per class",
        )
    notes = []
    if loose:
        notes.append(f"left out {plural(len(loose), 'image')} directly in {path.name}/, in no class folder: "
                     f"{first([f.name for f in loose], 3)}")  # fmt: skip
    root = train_dir if split_tree else path
    classes, train_files, skipped = _tree(root, None, progress, top, outside)
    _check_classes(root, classes, loose, linked if root == path else [])
    splits = {"train": train_files}
    for name, folder in (("val", val_dir), ("test", test_dir)) if split_tree else ():
        if folder is not None:
            before = sum(len(files) for files in splits.values())
            told = (lambda count, b=before: progress(b + count)) if progress is not None else None
            _, splits[name], skip = _tree(folder, classes, told, top, outside)
            skipped += skip
    outside = sorted(set(outside))  # the folder given is listed twice (its class folders, then their images)
    if outside:
        notes.append(outside_note(outside, path))
    return ImageTree(classes, splits, skipped, test_dir if split_tree else None, notes, outside)


def load_image_folder(path: Path, target: tuple[int, int, int]) -> Raw:
    """The images of `path` (list_image_folder), decoded and adapted for a network input of
    `target` (through Pillow)."""
    return held_in_memory(folder_samples(path), path, target)


def held_in_memory(found: Listing, path: Path, target: tuple[int, int, int]) -> Raw:
    """The images of the image folder `path` as listed (`found`, folder_samples' Listing), to be
    decoded and adapted for a network input of `target`: listed once, whether held in memory or
    streamed (cnnctl.data.streamed.choose decides from the listing)."""
    splits = found.splits
    size = (target[0], target[1])
    # What listing left out; the first note says what it listed, told below as read, or that the
    # run's list was read back (kept), which stays.
    notes = list(found.notes if found.kept else found.notes[1:])
    # First pass, headers only: the modes and sizes decide the channels and whether to resize.
    modes, sizes = Counter(), Counter()
    gone = []  # files of a run's list (found.kept) no longer there
    for samples in splits.values():
        for i in range(len(samples)):
            try:
                with open_image(samples.name(i), size) as im:
                    modes[im.mode] += 1
                    width, height = upright_size(im, orientation(im))  # as decoded: shown upright
                    sizes[(height, width)] += 1
            except CnnctlError as exc:  # unreadable: decoding tells it, under the rule of a stream (finish)
                if found.kept and exc.problems[0].message == MISSING:
                    gone.append(samples.name(i))
    if gone:
        _refuse_gone(gone, found.kept, path, sum(len(s) for s in splits.values()))
    gray = set(modes) <= GRAY_MODES
    mode, channels = ("L", 1) if gray else ("RGB", 3)
    if len(sizes) <= 1:  # none: no header read, the rule on unreadable images refuses them as they are decoded
        (h, w) = next(iter(sizes), size)
    else:
        h, w = target[0], target[1]
        lo, hi = min(sizes), max(sizes)
        notes.append(
            f"adapted images of {len(sizes)} sizes ({lo[0]}x{lo[1]} to {hi[0]}x{hi[1]}) to {h}x{w}, each as "
            "predict adapts one: padded where it is a little smaller, else resized (area to shrink, bilinear to grow)"
        )
    total = sum(len(samples) for samples in splits.values())
    kind = "grayscale" if gray else "RGB"
    # `listed`, as a stream's note says it: how many are read is told with the unreadable ones left out
    notes.insert(0, f"listed {plural(total, kind + ' image')} of {plural(len(found.classes), 'class', 'classes')} "
                    f"in {path}")  # fmt: skip
    # Not decoded here: finish() holds out by index, checks the size at the input, then decodes
    # each file once, straight to the input (decode_all), with the one rule predict follows too.
    train, val, test = (_any(splits.get(role)) for role in ("train", "val", "test"))
    return Raw(found.name, list(found.classes), train, val, notes, test=test, test_from=found.test_from, mode=mode,
               native=(h, w, channels))  # fmt: skip


def _refuse_gone(gone: list[str], kept: str, path: Path, listed: int) -> None:
    """The one message of a run's images gone from its folder since it listed them: its
    validation split is held out of that list, which a new listing would not give again."""
    names = [os.path.relpath(name, path) for name in gone]
    are = "is" if len(gone) == 1 else "are"
    raise CnnctlError.at(
        f"{plural(len(gone), 'image')} of the {listed:,} the run listed ({kept}) {are} gone from {path} since: "
        f"{first(names, 3)}",
        Loc(str(path)),
        hint="put them back: the run trains and validates on the images it listed (listing the folder anew would "
        "hold out other images); a new run lists the folder as it is now",
    )


def _any(samples: Samples | None) -> Samples | None:
    """A split's images; None where it has none, as a split not there."""
    return samples if samples is not None and len(samples) else None


def is_image_folder(path: Path) -> bool:
    """A folder of class subfolders of images (perhaps inside train/ val/ test/): not IDX
    files, CIFAR-10 batches, or images/ with masks/ (each read otherwise)."""
    from .cifar import find_batches
    from .masks import is_mask_folder

    path = Path(path)
    if any(path.glob(f"*{IDX_IMAGES}")) or any(path.glob(f"*{IDX_IMAGES}.gz")):
        return False
    return find_batches(path) is None and not is_mask_folder(path) and bool(_class_dirs(path))


def folder_samples(path: Path, progress: Callable[..., None] | None = None) -> Listing:
    """The images of an image-folder tree (list_image_folder), listed, not decoded: a Listing
    (cnnctl.data.streamed) with a Samples per split, and each file's size and modification time
    (samples.stamps: a resumed run tells the images changed since); its first note says what was
    listed, the others what was left out (held_in_memory says the first as read).
    `progress(count)` is told as files are listed."""
    from .samples import Samples, stamps
    from .streamed import Listing

    tree = list_image_folder(path, progress)
    paths = {role: [str(f) for f, _ in files] for role, files in tree.splits.items()}
    splits = {role: Samples.files(paths[role], [label for _, label in files]) for role, files in tree.splits.items()}
    listed = sum(len(s) for s in splits.values())
    notes = [
        f"listed {plural(listed, 'image')} of {plural(len(tree.classes), 'class', 'classes')} in {path}",
        *tree.notes,
    ]
    if tree.not_images:
        notes.append(_not_images_note(tree.not_images, Path(path)))
    test_from = f"{tree.test_dir.name}/" if tree.test_dir is not None else ""
    kept = {role: stamps(names, progress) for role, names in paths.items()}
    return Listing(path.resolve().name, str(path.resolve()), list(tree.classes), splits, notes, test_from,
                   stamps=kept)  # fmt: skip
