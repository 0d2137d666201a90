"""Data sets for training: small, in memory, as uint8 tensors shaped for the architecture.

`load_data(spec, input_shape)` returns a `DataSplits` whose images are already adapted to the
network's input (HxWxC): padded or resized, channels replicated or converted, each step
written in `notes`. Specs: a data set known by name, each one `register(Source(...))`
below (``shapes``, synthetic, generated here; ``mnist``, ``fashion-mnist``, ``cifar10``,
read from `data_root()`, downloaded when missing), or a folder (IDX files, CIFAR-10
batches, one subfolder of PNG/JPEG images per class, or images/ with masks/).

Its modules import torch; this file does not, so the training settings (pure Python) can
ask which names are data sets: nothing in cnnctl's analysis path imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CnnctlError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

    from .adapt import Raw
    from .stats import Stats

__all__ = [
    "DATA_SETS", "ClassNames", "DataSplits", "Request", "Source", "Split", "data_help", "data_root", "load_data",
    "make_shapes", "register",
]  # fmt: skip


@dataclass
class Split:
    """Images and labels of one split."""

    x: torch.Tensor  # (N, C, H, W) uint8, adapted to the architecture's input
    y: torch.Tensor  # (N,) int64 class indices

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, index: torch.Tensor) -> Split:
        """The images at `index` (int64), in that order: a copy (a hold-out)."""
        return Split(self.x[index], self.y[index])


class ClassNames(list):
    """Class names of data that counts its classes from its labels (IDX folders), with where
    that count comes from: `origin` ("labels up to 255 in FILE") and `check` (what to look at,
    or None). A network with too few outputs is then told which file asked for them; a stray
    255 among digits is a damaged byte more often than a class. `copy()` keeps both;
    `list()` gives the plain names (what a checkpoint stores)."""

    def __init__(self, names: Iterable[str] = (), origin: str | None = None, check: str | None = None):
        super().__init__(names)
        self.origin = origin
        self.check = check

    def copy(self) -> ClassNames:
        return ClassNames(self, self.origin, self.check)


@dataclass
class DataSplits:
    """A data set ready for training: both splits, class names, statistics and what was done."""

    name: str
    train: Split
    val: Split
    classes: list[str]
    mean: tuple[float, ...]  # per channel, of train.x / 255
    std: tuple[float, ...]
    notes: list[str] = field(default_factory=list)
    # Where `val` comes from, in words ("10% of the training images held out, seed 0"); "" when
    # nothing is held out (--val-split 0 on data with one split): `val` is then empty.
    val_from: str = "its validation split"
    test: Split | None = None  # the data's test split, adapted, when asked for (load_data(test=True))
    test_from: str = ""
    no_test: str = ""  # why the data has no test split, where its registration says (`shapes`)
    train_from: str = ""  # where `train` (and `val`) come from where not training files: "the t10k files" alone
    stats_from: str = ""  # where `mean` and `std` come from (cnnctl.data.stats.Stats.origin)
    # Read from disk while training (cnnctl.train.stream): `train`, `val` and `test` are then
    # cnnctl.data.samples.Samples, lists of images not yet decoded, rather than Splits. False:
    # an image folder or shards held in memory instead; None: data that is never streamed.
    streamed: bool | None = None
    # An image folder's or shards' list of images (cnnctl.data.samples.index_bytes's record),
    # streamed or held in memory, kept in the run folder (its validation split is held out of
    # that list, whatever the folder holds later); None for other data.
    listing: dict | None = None
    # The images of a run's list read back that changed in place since it listed them, in words
    # (cnnctl.data.streamed.Listing.changed; a note too): said by `evaluate RUN`; "" for none.
    changed: str = ""
    # Image files held in memory that could not be read, left out under the rule of a stream
    # (cnnctl.data.loader.Skipped): each name as told, and why; and how many of each split.
    unreadable: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    # Images listed that can never be read (samples index.json lists beyond a shard's cut): in
    # no split, counted by the rule as unreadable ones are
    lost: int = 0

    def counted(self, role: str) -> int:
        """The images of the split `role` (train, val, test) that are scored: held in memory, those
        decoded (its unreadable ones, left out, are said apart: `left_out`); streamed, those listed
        (a stream finds its unreadable ones as it reads them, each epoch's line says them). What
        the header and JSON count alike: held in memory, the images the accuracies are out of."""
        split = getattr(self, role)
        return len(split) if split is not None else 0

    @property
    def warnings(self) -> list[str]:
        """Its notes that warn (`warning: ...`, a shard cut short): train says them among its data
        lines, evaluate on stderr; the same words."""
        return [note for note in self.notes if note.startswith("warning: ")]

    @property
    def images_listed(self) -> int:
        """Every image of its splits (the test split where loaded): the population the rule on
        unreadable images (cnnctl.data.loader.Skipped) counts against, in training and evaluate alike."""
        return sum(len(s) for s in (self.train, self.val, self.test) if s is not None) + self.lost


# What cnnctl works on at once while it converts a data set held in memory (resizing, channel
# conversion, statistics): float copies of that many bytes at most, whatever the data's size,
# so a set's peak is the set at the network's input plus this.
WORKING_BYTES = 256 << 20


def images_at_once(bytes_per_image: int) -> int:
    """How many images of `bytes_per_image` (as the float copy that converts them) fit in WORKING_BYTES (at least 1)."""
    return max(1, WORKING_BYTES // max(1, bytes_per_image))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # the image files a folder's images are read from (through Pillow)
IDX_IMAGES = "-images-idx3-ubyte"  # an IDX data set's images: PREFIX-images-idx3-ubyte[.gz]
KIND_FOLDERS = 100  # folders data_kind looks into below a folder given as a network: a message, not a listing


def class_names_text(text: str) -> list[str]:
    """The class names of a classes.txt (a mask folder's, a pack's): one a line, in index
    order, spaces around a name and empty lines left out."""
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Source:
    """A data set cnnctl knows by name: everything said of it is here, so a new one is one
    `register` call (and its test).

    `loader` is "module:function" (a module of cnnctl.data, or a full dotted name), imported
    only when the data is loaded (it imports torch; this file must not):
    `function(source: Source, request: Request) -> cnnctl.data.adapt.Raw`."""

    name: str
    help: str  # its words in the help of --data: "shapes (built in)"
    loader: str
    synonyms: tuple[str, ...] = ()  # other spellings: cifar-10, fmnist
    images: int = 0  # how many images it holds, all splits: its size at an input is checked before loading
    masks: bool = False  # it knows each pixel's class (dense prediction can train on it)
    no_test: str = ""  # why it has no test split, where it has none
    classes: tuple[str, ...] = ()  # its class names, where its files do not hold them
    mirrors: tuple[str, ...] = ()  # where its files are downloaded from, in order
    files: tuple[tuple[str, str], ...] = ()  # (file, MD5 of the file as published): a download must match


@dataclass(frozen=True)
class Request:
    """What a loader is asked for: the network's input (H, W, C), where the data set's files
    are (data_root()/NAME), the seed, whether to download, and a dense network's output (H, W, K)."""

    shape: tuple[int, int, int]
    folder: Path
    seed: int = 0
    download: bool = True
    masks: tuple[int, int, int] | None = None


DATA_SETS: dict[str, Source] = {}


def register(source: Source) -> Source:
    """Add `source` to the data sets known by name (its name and synonyms, lower case)."""
    taken = [k for k in (source.name, *source.synonyms) if data_set(k) is not None]
    if taken:
        raise ValueError(f"data set name {taken[0]!r} is registered already")
    DATA_SETS[source.name] = source
    return source


def data_set(name: str) -> Source | None:
    """The data set `name` means (`CIFAR-10` -> cifar10's), or None for no known name."""
    key = name.lower()
    return next((s for s in DATA_SETS.values() if key == s.name or key in s.synonyms), None)


def is_data_set_name(name: str) -> bool:
    """`mnist`, `CIFAR-10`...: a data set cnnctl knows by name (or a synonym of one)."""
    return data_set(name) is not None


def data_help() -> str:
    """The data sets for the help of --data: "shapes (built in), mnist, ..., or a folder"."""
    return ", ".join(s.help for s in DATA_SETS.values()) + ", or a folder"


DIGITS = tuple(str(d) for d in range(10))
register(Source("shapes", "shapes (built in)", "shapes:load_source", images=7_000, masks=True,
                no_test="it is generated with training and validation images only"))  # fmt: skip
register(
    Source(
        "mnist", "mnist", "idx:load_source", images=70_000, classes=DIGITS,
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        files=(
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    )
)  # fmt: skip
register(
    Source(
        "fashion-mnist", "fashion-mnist", "idx:load_source", synonyms=("fashion_mnist", "fashionmnist", "fmnist"),
        images=70_000,
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
        mirrors=("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                 "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        files=(
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    )
)  # fmt: skip
register(Source("cifar10", "cifar10", "cifar:load_source", synonyms=("cifar", "cifar-10", "cifar_10"), images=60_000,
                mirrors=("https://www.cs.toronto.edu/~kriz/",),
                files=(("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),)))  # fmt: skip


def data_kind(folder: str) -> str | None:
    """What data `folder` seems to hold, in words (`3 PNG or JPEG images`, `IDX files`, `images
    in subfolders`), or None: for the message when it is given where a network belongs. Judged
    from its first entries (files.first_entries), and below them as the lister reads class
    folders (folder.list_images): images at any depth (`cat/2024/1.jpg`, `train/cat/2024/1.jpg`),
    looked for level by level, the first ten subfolders of each folder, up to KIND_FOLDERS
    folders in all; a folder reached again through links is not looked into twice."""
    from collections import deque

    from ..files import LOOKED_AT, first_entries, is_dir_entry, is_file_entry

    def images(found: list[os.DirEntry]) -> int:
        return sum(os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES and is_file_entry(e) for e in found)

    def subfolders(found: list[os.DirEntry]) -> list[str]:
        return [e.path for e in found if is_dir_entry(e)][:10]

    found = first_entries(folder)
    if any(e.name.removesuffix(".gz").endswith(IDX_IMAGES) for e in found):
        return "IDX files"
    count = images(found)
    if count:
        return f"{count:,}{'+' if len(found) == LOOKED_AT else ''} PNG or JPEG {'image' if count == 1 else 'images'}"
    waiting, seen = deque(subfolders(found)), {os.path.realpath(folder)}
    while waiting and len(seen) <= KIND_FOLDERS:  # class folders, perhaps inside train/ and val/
        path = waiting.popleft()
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        inside = first_entries(path)
        if images(inside):
            return "images in subfolders"
        waiting.extend(subfolders(inside))
    return None


def looks_like_path(name: str) -> bool:
    """`./mnist`, `data/x`, `~/imgs`: a folder, even where a data set has that name."""
    return any(sep in name for sep in ("/", os.sep)) or name.startswith((".", "~"))


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Where data sets live: `data_dir`, else ``$CNNCTL_DATA``, else ``$XDG_CACHE_HOME/cnnctl``
    (``~/.cache/cnnctl`` when XDG_CACHE_HOME is unset or not absolute)."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get("CNNCTL_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "cnnctl"
    return Path.home() / ".cache" / "cnnctl"


def load_data(
    spec: str,
    input_shape: tuple[int, int, int],
    *,
    data_dir: str | os.PathLike | None = None,
    val_split: float = 0.1,
    seed: int = 0,
    download: bool = True,
    test: bool = False,
    masks: tuple[int, int, int] | None = None,
    stats: Stats | None = None,
    stream: bool | None = None,
    workers: int = 0,
    index: Path | None = None,
    progress: Callable[..., None] | None = None,
) -> DataSplits:
    """Load the data set `spec` adapted to `input_shape` (the architecture's H, W, C).

    Validation is the data's validation split, else its test split (MNIST's t10k files,
    CIFAR-10's test_batch, a `test/` folder), else `val_split` of the training images held
    out (seeded by `seed`); with `val_split` 0 nothing is held out and `val` is empty.
    `test` also adapts the test split, as `DataSplits.test` (None when the data has none).
    `masks` (a dense network's output H, W, K) asks for masks as labels: (N, H, W) uint8
    class indices, 255 where no class is scored (see cnnctl.data.masks).
    `stats` (cnnctl.data.stats: given in the settings, or from the weights) are the
    normalisation statistics to use; None computes them over the training split.
    `seed` makes the hold-out (and the synthetic ``shapes``) reproducible. `download`
    allows fetching a missing mnist/fashion-mnist/cifar10 into `data_root(data_dir)`.
    An image folder or WebDataset shards are listed first (kept in `index`, a run folder's
    file, when given), then streamed from disk or held in memory (cnnctl.data.streamed.choose;
    `stream` True or False forces it): a stream's splits are lists of images that `workers`
    loader processes decode while training. `progress(count)` is told of a long listing.
    Raises `CnnctlError` for anything the user can fix.
    """
    from .adapt import check_input_shape, check_val_split, finish

    shape = check_input_shape(input_shape)
    check_val_split(val_split)
    name = str(spec).strip()
    chosen = None  # an image folder or shards held in memory: the line that says why
    raw = None
    found = None  # an image folder's or shards' list of images, kept in the run folder held or streamed
    try:
        if masks is None and not (data_set(name) and not looks_like_path(name)):
            from .streamed import choose, is_streamable, listing, streamed_splits

            if is_streamable(name):
                found = listing(name, index, progress)
                streaming, chosen = choose(found, shape, stream, test)
                if streaming:
                    return streamed_splits(found, shape, val_split=val_split, seed=seed, test=test, stats=stats,
                                           workers=workers, notes=[chosen])  # fmt: skip
                if found.splits["train"].kind == "shards":  # few enough to hold: decoded from them, once
                    from .streamed import shards_raw

                    raw = shards_raw(found, shape)
                else:  # an image folder, held as listed (not listed again)
                    from .folder import held_in_memory

                    raw = held_in_memory(found, Path(name).expanduser(), shape)
        if raw is None:
            raw = _load_raw(name, shape, data_dir=data_dir, seed=seed, download=download, masks=masks)
    except OSError as exc:  # an unreadable folder (the user's to fix), a full disk (the machine's): not a traceback
        from ..writing import write_failed

        where = f" {exc.filename}" if exc.filename else ""
        raise write_failed(f"cannot read or write{where}: {exc.strerror or exc}", None, exc) from None
    splits = finish(raw, shape, val_split=val_split, seed=seed, test=test, stats=stats)
    if chosen is None and stream:
        chosen = f"held in memory: --stream reads image folders and shards; `{name}` is read whole"
    if chosen is not None:
        splits.notes.insert(1, chosen)
        splits.streamed = False
    if found is not None:  # held in memory too: a resumed run and `evaluate RUN` read the same images back
        splits.listing, splits.changed = found.record(), found.changed
    return splits


def _no_masks(name: str, masks) -> None:
    h, w, k = masks
    raise CnnctlError.at(
        f"the network ends in the volume {h}x{w}x{k}, a class score per pixel, and `{name}` has no masks "
        "to train it on",
        hint="dense prediction trains on `--data shapes` (it draws the shapes, so it knows their pixels) or on "
        "a folder with images/ and masks/ (a PNG of class indices per image); a classifier ends in `fc N`",
    )


def _load_raw(spec: str, shape: tuple[int, int, int], *, data_dir, seed: int, download: bool, masks=None):
    name = str(spec).strip()
    source = data_set(name)
    # A known name wins over a folder of that name in the working directory: `./mnist` is the folder.
    if source is not None and not looks_like_path(name):
        return load_source(source, Request(shape, data_root(data_dir) / source.name, seed, download, masks))
    path = Path(name).expanduser()
    if path.is_dir() and masks is not None:
        from .masks import is_mask_folder, load_mask_folder

        if not is_mask_folder(path):
            _no_masks(name, masks)
        return load_mask_folder(path, shape, masks[:2])
    if path.is_dir():
        from .folder import load_folder
        from .masks import is_mask_folder

        if is_mask_folder(path):
            raise CnnctlError.at(
                f"`{name}` holds images/ and masks/, data for dense prediction (a class per pixel); this "
                "network is a classifier (a class per image)",
                hint="train a network that ends in a volume HxWxK (e.g. examples/unet_small.yaml), or give "
                "a classifier one subfolder of images per class",
            )
        return load_folder(path, shape)
    if path.exists():
        raise CnnctlError.at(
            f"`{name}` is a file, not a folder of data",
            hint="give a folder with IDX files or one subfolder of images per class, WebDataset shards (a folder "
            "of .tar files, one .tar, or a brace pattern such as train-{000000..000009}.tar)",
        )
    names = list(DATA_SETS)
    if looks_like_path(name):
        raise CnnctlError.at(
            f"no folder `{name}`",
            hint=f"a folder of images or of shards; the data sets by name are {', '.join(names)}",
        )
    synonyms = {k: s.name for s in DATA_SETS.values() for k in s.synonyms}
    close = did_you_mean(name, names, synonyms)
    known = ", ".join(f"`{k}`" for k in names)
    hint = f"{close + ' ' if close else ''}the data sets are {known}, or a folder path"
    raise CnnctlError.at(f"unknown data set `{name}`", hint=hint)


def load_source(source: Source, request: Request) -> Raw:
    """The registered data set `source` as read (a Raw): its size at the input checked first
    (before any download), then its loader called."""
    from importlib import import_module

    from .adapt import check_memory

    if request.masks is not None and not source.masks:
        _no_masks(source.name, request.masks)
    h, w, c = request.shape
    check_memory(source.images * h * w * c, f"the {source.images:,} images of {source.name} at {h}x{w}x{c}")
    module, function = source.loader.split(":")
    raw = getattr(import_module(module if "." in module else f"{__name__}.{module}"), function)(source, request)
    raw.no_test = raw.no_test or source.no_test  # the files' own reason (t10k alone), else the registration's
    return raw


def make_shapes(n: int, h: int, w: int, c: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` synthetic images of 10 shapes at HxWxC: ``(x uint8 (n, c, h, w), y int64 (n,))``."""
    from .shapes import make_shapes as make

    return make(n, h, w, c, seed)
