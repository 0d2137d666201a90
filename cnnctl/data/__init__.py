"""Data sets for training: small, in memory, as uint8 tensors shaped for the architecture.

`load_data(spec, input_shape)` returns a `DataSplits` whose images are already adapted to the
network's input (HxWxC): padded or resized, channels replicated or converted, each step
written in `notes`. Specs: ``shapes`` (synthetic, generated here), ``mnist``,
``fashion-mnist``, ``cifar10`` (read from `data_root()`, downloaded when missing), or a
folder (IDX files, or one subfolder of PNG/JPEG images per class).

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
    import torch

__all__ = ["KNOWN", "ClassNames", "DataSplits", "Split", "data_root", "load_data", "make_shapes"]


@dataclass
class Split:
    """Images and labels of one split."""

    x: torch.Tensor  # (N, C, H, W) uint8, adapted to the architecture's input
    y: torch.Tensor  # (N,) int64 class indices

    def __len__(self) -> int:
        return int(self.y.shape[0])


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


KNOWN = ("shapes", "mnist", "fashion-mnist", "cifar10")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # the image files a folder's images are read from (through Pillow)
IDX_IMAGES = "-images-idx3-ubyte"  # an IDX data set's images: PREFIX-images-idx3-ubyte[.gz]
_SYNONYMS = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar": "cifar10",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}


def data_set_key(name: str) -> str | None:
    """The data set `name` means (`CIFAR-10` -> `cifar10`), or None for no known name."""
    key = _SYNONYMS.get(name.lower(), name.lower())
    return key if key in KNOWN else None


def is_data_set_name(name: str) -> bool:
    """`mnist`, `CIFAR-10`...: a data set cnnctl knows by name (or a synonym of one)."""
    return data_set_key(name) is not None


def data_kind(folder: str) -> str | None:
    """What data `folder` seems to hold, in words (`3 PNG or JPEG images`, `IDX files`, `images
    in subfolders`), or None: for the message when it is given where a network belongs. Judged
    from its first entries (catalog.first_entries), and those of its first ten subfolders, two
    levels down."""
    from ..catalog import LOOKED_AT, first_entries

    def images(found: list[os.DirEntry]) -> int:
        return sum(os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES and e.is_file() for e in found)

    def holds_images(path: str, depth: int) -> bool:  # train/cat/1.png is two levels down
        found = first_entries(path)
        inside = [e.path for e in found if e.is_dir()][:10]
        return bool(images(found)) or depth > 0 and any(holds_images(p, depth - 1) for p in inside)

    found = first_entries(folder)
    if any(e.name.removesuffix(".gz").endswith(IDX_IMAGES) for e in found):
        return "IDX files"
    count = images(found)
    if count:
        return f"{count:,}{'+' if len(found) == LOOKED_AT else ''} PNG or JPEG {'image' if count == 1 else 'images'}"
    if holds_images(folder, 2):  # class folders, perhaps inside train/ and val/
        return "images in subfolders"
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
) -> DataSplits:
    """Load the data set `spec` adapted to `input_shape` (the architecture's H, W, C).

    Validation is the data's validation split, else its test split (MNIST's t10k files,
    CIFAR-10's test_batch, a `test/` folder), else `val_split` of the training images held
    out (seeded by `seed`); with `val_split` 0 nothing is held out and `val` is empty.
    `test` also adapts the test split, as `DataSplits.test` (None when the data has none).
    `masks` (a dense network's output H, W, K) asks for masks as labels: (N, H, W) uint8
    class indices, 255 where no class is scored (see cnnctl.data.masks).
    `seed` makes the hold-out (and the synthetic ``shapes``) reproducible. `download`
    allows fetching a missing mnist/fashion-mnist/cifar10 into `data_root(data_dir)`.
    Raises `CnnctlError` for anything the user can fix.
    """
    from .adapt import check_input_shape, check_val_split, finish

    shape = check_input_shape(input_shape)
    check_val_split(val_split)
    try:
        raw = _load_raw(str(spec), shape, data_dir=data_dir, seed=seed, download=download, masks=masks)
    except OSError as exc:  # an unreadable folder, a full disk: the user's to fix, not a traceback
        where = f" {exc.filename}" if exc.filename else ""
        raise CnnctlError.at(f"cannot read or write{where}: {exc.strerror or exc}") from None
    return finish(raw, shape, val_split=val_split, seed=seed, test=test)


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
    key = data_set_key(name)
    # A known name wins over a folder of that name in the working directory: `./mnist` is the folder.
    if key is not None and not looks_like_path(name):
        if masks is not None and key != "shapes":
            _no_masks(key, masks)
        if key == "shapes":
            from .shapes import load_shapes

            raw = load_shapes(shape, seed=seed, masks=masks)
        elif key in ("mnist", "fashion-mnist"):
            from .idx import load_mnist_like

            raw = load_mnist_like(key, data_root(data_dir) / key, download=download)
        else:
            from .cifar import load_cifar10

            raw = load_cifar10(data_root(data_dir) / "cifar10", download=download)
    else:
        path = Path(name).expanduser()
        if path.is_dir() and masks is not None:
            from .masks import is_mask_folder, load_mask_folder

            if not is_mask_folder(path):
                _no_masks(name, masks)
            raw = load_mask_folder(path, shape, masks[:2])
        elif path.is_dir():
            from .folder import load_folder
            from .masks import is_mask_folder

            if is_mask_folder(path):
                raise CnnctlError.at(
                    f"`{name}` holds images/ and masks/, data for dense prediction (a class per pixel); this "
                    "network is a classifier (a class per image)",
                    hint="train a network that ends in a volume HxWxK (e.g. examples/unet_small.yaml), or give "
                    "a classifier one subfolder of images per class",
                )
            raw = load_folder(path, shape)
        elif path.exists():
            raise CnnctlError.at(
                f"`{name}` is a file, not a folder of data",
                hint="give a folder with IDX files or one subfolder of images per class",
            )
        elif looks_like_path(name):
            raise CnnctlError.at(f"no folder `{name}`", hint=f"the data sets by name are {', '.join(KNOWN)}")
        else:
            close = did_you_mean(name, KNOWN, _SYNONYMS)
            known = ", ".join(f"`{k}`" for k in KNOWN)
            hint = f"{close + ' ' if close else ''}the data sets are {known}, or a folder path"
            raise CnnctlError.at(f"unknown data set `{name}`", hint=hint)
    return raw


def make_shapes(n: int, h: int, w: int, c: int = 1, seed: int = 0):
    """`n` synthetic images of 10 shapes at HxWxC: ``(x uint8 (n, c, h, w), y int64 (n,))``."""
    from .shapes import make_shapes as make

    return make(n, h, w, c, seed)
