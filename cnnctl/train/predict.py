"""`cnnctl predict`: a trained network's top classes for image files, each read, converted and
adapted as the weights' training read theirs, and said so."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.loader import Recipe
from ..errors import CnnctlError, Loc, Problem
from ..graph import Graph
from ..graph.outputs import dense_shape
from ..shapes import format_shape
from ..words import plural
from .background import Background, image_warnings, training_background
from .checkpoint import Checkpoint
from .data_checks import check_classes
from .weighted import Weighted

# Pillow's modes, as a sentence names them (others by their mode: `mode I;16`).
MODE_NAMES = {"1": "1-bit black and white", "L": "grayscale", "P": "palette colours", "RGB": "RGB", "CMYK": "CMYK",
              "YCbCr": "YCbCr", "LAB": "Lab", "HSV": "HSV", "I": "32-bit integer grayscale",
              "F": "32-bit float grayscale"}  # fmt: skip
ALPHA_MODES = {"RGBA": "RGB", "RGBa": "RGB", "LA": "L", "La": "L", "PA": "P"}  # each with its mode without alpha


@dataclass
class Prediction:
    """One image's outcome: its top classes and how it was read and adapted, or its error."""

    image: str
    top: list[tuple[str, float]] = field(default_factory=list)  # (class, probability), most likely first
    height: int | None = None  # as read from the file
    width: int | None = None
    mode: str | None = None  # Pillow's mode as read: L, RGB, RGBA, P...
    adapted: list[str] = field(default_factory=list)  # what was done to it, in order
    warnings: list[Problem] = field(default_factory=list)
    error: Problem | None = None  # the image could not be read: no classes
    # Listed from a folder (not named itself): unreadable, it is left out under the rule of a data
    # set's unreadable images (cnnctl.data.loader.Skipped), not an error of its own
    in_folder: bool = False


def predict(
    graph: Graph,
    loaded: Weighted,
    images: list[str],
    top_k: int = 5,
    invert: bool = False,
) -> list[Prediction]:
    """Top-k (class, probability) for each image file by the network with its weights
    (weighted_model); a folder stands for the images in it (see `image_files`). An image that
    cannot be read gets its error and the others go on. `invert` predicts on 255 - value
    (dark-on-light images for a light-on-dark network). The classes are the weights' (a run's,
    ImageNet's for torchvision's), else numbered. Each image is prepared as the weights'
    validation prepared theirs (Weighted.recipe): a run that streamed random resized crops,
    resized so the shorter side covers the input at 256/224 then centre-cropped, as are
    torchvision's weights (the shorter side resized to 256, or the network's own size, then the
    centre 224x224); any other run, adapted whole. `graph` is run as `loaded` built it (its head
    for the classes the weights record: Weighted.graph)."""
    graph = loaded.graph or graph
    if dense_shape(graph) is not None:
        raise CnnctlError.at(
            f"predict names the class of an image; `{graph.title}` scores every pixel "
            f"({format_shape(graph.output_shape)})",
            hint="measure it with `cnnctl evaluate RUN` (pixel accuracy and IoU per class)",
        )
    model, state, device = loaded.model, loaded.state, loaded.device
    # Each image as the weights' validation read it (Weighted.recipe): the centre crop of a run that
    # streamed random resized crops, or of ImageNet's evaluation (the crop's share of the resized
    # shorter side), else fitted whole as trained.
    centre = loaded.recipe.share if loaded.recipe.name == "centre" else None
    classes = Checkpoint.of(state).classes or [str(i) for i in range(graph.output_shape[0])]
    check_classes(graph, classes)
    h, w, c = graph.input_shape
    from ..data.decode import pillow

    pillow()  # missing: one message, not one per image
    trained_with = loaded.stats  # an old checkpoint may record none: pixel values / 255 mapped to -1..1
    mean = torch.tensor(trained_with.mean if trained_with else [0.5] * c).view(1, -1, 1, 1)
    std = torch.tensor(trained_with.std if trained_with else [0.5] * c).view(1, -1, 1, 1)
    background = training_background(state)
    results: list[Prediction] = []
    waiting: list[tuple[Prediction, torch.Tensor]] = []  # read, not yet through the network

    def score() -> None:
        x = ((torch.cat([t for _, t in waiting]).float() / 255 - mean) / std).to(device)
        with torch.no_grad():
            probs = torch.softmax(model(x)[:, : len(classes)].float(), dim=1)
        values, index = probs.topk(min(top_k, len(classes)), dim=1)
        for (seen, _), v, i in zip(waiting, values.tolist(), index.tolist(), strict=True):
            seen.top = [(classes[k], p) for p, k in zip(v, i, strict=True)]
        waiting.clear()

    from ..data.loader import loader_faults_raised, rerun_error

    with loader_faults_raised(rerun_error("predict")):
        for seen, x in _read_images(image_files(images), (h, w, c), invert, background, centre):
            results.append(seen)
            if x is not None:
                waiting.append((seen, x))
            if len(waiting) == PREDICT_BATCH:
                score()
    if waiting:
        score()
    return results


def left_out(results: list[Prediction]) -> tuple[list[Prediction], CnnctlError | None]:
    """The images listed from folders that could not be read, and, where they are more than a data
    set may have (the one rule of training and evaluate: cnnctl.data.loader.Skipped, against the
    images the folders listed), the one error that says so (their count and the first few); else
    None: they are left out, each named with why, and the others predicted."""
    from ..data.loader import Skipped

    listed = [r for r in results if r.in_folder]
    bad = [r for r in listed if r.error is not None]
    rule = Skipped(listed=len(listed), deferred=True)
    rule.add([(r.image, r.error) for r in bad])
    return bad, rule.too_many() if len(rule.names) > rule.limit else None


PREDICT_BATCH = 64  # images through the network at once
MANY_IMAGES = 256  # from this many, loader processes read them (a folder of photos), else this process


class _ImageFiles(torch.utils.data.Dataset):
    """Each image file read as predict reads it, with what was seen: (Prediction, (1, C, H, W)
    uint8 or None where it could not be read). In loader processes for many images."""

    def __init__(self, files, target, invert, background, centre: float | None = None):
        self.files, self.target, self.invert, self.background = files, target, invert, background
        self.centre = centre  # the evaluation recipe of photos (the crop's share of the resized image), else fitted

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        path, problem, in_folder = self.files[i]
        if problem is not None:
            return Prediction(path, error=problem, in_folder=in_folder), None
        h, w, c = self.target
        try:
            x, seen = adapt_image(path, h, w, c, self.invert, self.background, self.centre)
            seen.in_folder = in_folder
            return seen, x
        except CnnctlError as exc:
            return Prediction(path, error=exc.problems[0], in_folder=in_folder), None


def _read_images(files, target, invert, background, centre: float | None = None):
    """(Prediction, image) for each of `files`, in order: read by loader processes (the
    training stream's, cnnctl.data.loader) when there are many, else here."""
    from ..data.loader import Loader, default_workers, worker_start

    workers = default_workers() if len(files) >= MANY_IMAGES else 0
    loader = Loader(
        _ImageFiles(files, target, invert, background, centre), batch_size=None, num_workers=workers,
        prefetch_factor=4 if workers else None, worker_init_fn=worker_start(),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    yield from loader


def image_files(arguments: list[str]) -> list[tuple[str, Problem | None, bool]]:
    """Each argument with None and False, but a folder stands for its PNG and JPEG files (.png, .jpg,
    .jpeg in any case, as an image-folder data set; at any depth, as the lister reads class
    folders: each folder's files by name, then its subfolders' in name order; no hidden
    files), listed by the data folders' lister (cnnctl.data.folder.list_images): a link in it
    leading out of it is not read, and comes with its problem, as does a folder without any
    image or that cannot be listed, and a subfolder nested too deep (limits.MAX_FOLDER_DEPTH).
    The third item: listed from a folder (each unreadable one left out under the 1% rule), not
    named (an error) nor a folder's own problem (an error)."""
    from ..data import IMAGE_SUFFIXES
    from ..data.folder import list_images
    from ..limits import MAX_FOLDER_DEPTH

    out: list[tuple[str, Problem | None, bool]] = []
    for argument in arguments:
        folder = Path(argument)
        if not folder.is_dir():
            out.append((argument, None, False))
            continue
        outside: list[tuple[Path, str]] = []
        too_deep: list[Path] = []
        try:  # subfolders too (a folder of class folders)
            found, others = list_images(folder, outside=outside, too_deep=too_deep)
        except OSError as exc:
            out.append((argument, Problem(f"cannot list the folder: {exc.strerror or exc}", Loc(argument)), False))
            continue
        hint = "a link in a folder is read only where it leads inside it: name the image itself to read it"
        refused = [(link, Problem(f"a link leading out of the folder, to {to}: not read", Loc(str(link)), hint=hint))
                   for link, to in outside if link.suffix.lower() in IMAGE_SUFFIXES]  # fmt: skip
        deep = f"a folder nested more than {MAX_FOLDER_DEPTH} deep in {argument}: its images are not read"
        hint = f"predict reads a folder's images up to {MAX_FOLDER_DEPTH} folders deep; give this folder itself"
        refused += [(p, Problem(deep, Loc(str(p)), hint=hint)) for p in too_deep]
        if not found and not refused:
            out.append((argument, _no_images(argument, others), False))
        # in the lister's order: each folder's files by name, then its subfolders', the links refused among them
        listed = sorted([(p, None) for p in found] + refused, key=lambda item: _listing_order(item[0], folder))
        out += [(str(p), problem, True) for p, problem in listed]
    return out


def _no_images(folder: str, others: list) -> Problem:
    """Why a folder gives predict nothing: no image in it, or it holds WebDataset shards (as
    `cnnctl pack` writes them, is_shards' test), which evaluate reads, not predict."""
    from ..data.shards import is_shards

    if is_shards(folder):
        return Problem(
            "a folder of WebDataset shards (.tar, as `cnnctl pack` writes them), not of images: predict reads "
            "image files", Loc(folder),
            hint=f"score the shards' labelled samples with `cnnctl evaluate RUN --data {folder}`; predict the "
            "images of the folder they were packed from",
        )  # fmt: skip
    count = f" ({plural(len(others), 'other file')})" if others else ""
    hint = "predict reads the .png, .jpg and .jpeg files in a folder and its subfolders"
    return Problem(f"no PNG or JPEG images in this folder{count}", Loc(folder), hint=hint)


def _listing_order(path: Path, folder: Path) -> list[tuple[int, str]]:
    """The sort key of `path` inside `folder` in list_images' order: at each level the files (0)
    before the subfolders (1), each by name."""
    parts = path.relative_to(folder).parts
    return [(1, part) for part in parts[:-1]] + [(0, parts[-1])]


def adapt_image(
    path: str,
    h: int,
    w: int,
    c: int,
    invert: bool = False,
    background: Background | None = None,
    centre: float | None = None,
) -> tuple[torch.Tensor, Prediction]:
    """An image file as predict takes it: a (1, c, h, w) uint8 tensor, as the network takes it,
    and a Prediction (no classes yet) with its size and mode as read, what may make the
    prediction meaningless (`image_warnings`, against the training images' `background`) and
    what was done to it, in order: the alpha channel dropped, the conversion to grayscale or
    RGB, the inversion, the padding or resizing (by the rules that adapt a data set to the
    network for training: cnnctl.data.adapt.plan, so a 28x28 digit is padded to 32x32 as MNIST
    was), or with `centre` the evaluation recipe of photos (the crop's share of the resized image)."""
    # With `centre` the image as read is for its size, mode and warnings alone: the input is the crop
    # of the image as stored (_centre), which says its own steps; the whole image's reduction is not one.
    native, seen = image_as_read(path, h, w, c, invert, whole=centre is None)
    seen.warnings += image_warnings(native, seen, background, invert)
    if centre is None:
        return fit(native, seen, (h, w, c)), seen
    return _centre(path, seen, (h, w, c), centre, invert), seen


def _centre(path: str, seen: Prediction, target: tuple[int, int, int], share: float, invert: bool) -> torch.Tensor:
    """The evaluation recipe of photos (cnnctl.data.loader's `centre`), each step said in `seen`
    in the order decode_box does it (the crop, any reduction, the resize), then the inversion."""
    from ..data.decode import centre_box, decode_box

    h, w, _ = target
    recipe = Recipe("centre", share=share).said(target)
    x = decode_box(Path(path), target, centre_box(h, w, share), notes=seen.adapted, box_said=f"its centre: {recipe}")
    if invert:
        seen.adapted.append(INVERTED)
    return 255 - x[None] if invert else x[None]


def fit(native: torch.Tensor, seen: Prediction, target: tuple[int, int, int]) -> torch.Tensor:
    """The image `image_as_read` gave, padded or resized to the network's input and its
    grayscale replicated to its channels (cnnctl.data.decode.fit, as training); said in `seen`."""
    from ..data.decode import fit as fit_image

    return fit_image(native[0], target, seen.image, seen.adapted)[None]


INVERTED = "inverted (255 - value, --invert)"


def image_as_read(
    path: str, h: int, w: int, c: int, invert: bool = False, whole: bool = True
) -> tuple[torch.Tensor, Prediction]:
    """An image file as a (1, C, H, W) uint8 tensor at its own size, decoded for the
    network's `c` channels (RGB for 3, else grayscale: `fit` replicates it to `c`, as training
    does), inverted with `invert` (before any padding: the zeros padding adds stay black,
    as the training images were padded), and the Prediction saying so. (h, w): the
    network's input, which bounds what is decoded. Not `whole`: the input is a part of the image
    (a centre crop, which says its own steps), so its reduction and inversion here are not said."""
    from ..data.decode import TURNS, mode_for, open_image, orientation, pixels, reduced, upright, upright_size

    seen = Prediction(path)
    mode = mode_for(c)
    with open_image(Path(path), (h, w)) as img:
        turn = orientation(img)  # a photo stored sideways: read as shown, as training reads it
        seen.width, seen.height = upright_size(img, turn)
        seen.mode = img.mode
        if turn != 1:
            seen.adapted.append(f"{TURNS[turn]}, as its EXIF orientation ({turn}) says it is shown")
        seen.adapted += _conversions(img, mode)
        img, said = reduced(img, mode, (h, w), turn)  # one much larger than the input: as training reads it
        seen.adapted += [said] if said and whole else []
        native = upright(pixels(img, mode), turn)[None]
    if invert:
        native = 255 - native
        seen.adapted += [INVERTED] if whole else []
    return native, seen


def _conversions(img, to: str) -> list[str]:
    """What converting the Pillow image `img` to the mode `to` (L or RGB) does, said."""
    done = []
    mode = img.mode
    base = ALPHA_MODES.get(mode, mode)
    if mode in ALPHA_MODES:
        alpha = img.getchannel(img.getbands()[-1])
        see_through = 1 - alpha.histogram()[255] / (img.width * img.height)
        done.append(
            f"dropped the alpha channel: {see_through:.1%} of the pixels were (partly) transparent and "
            "now show the colour stored under them"
            if see_through
            else "dropped the alpha channel (every pixel was opaque)"
        )
    elif "transparency" in img.info:
        done.append("dropped the transparency: transparent pixels now show their stored colour")
    name = MODE_NAMES.get(base, f"mode {base}")
    if to == "L" and base == "RGB":
        done.append("converted RGB to grayscale (L = 0.299 R + 0.587 G + 0.114 B, ITU-R 601-2)")
    elif to == "L" and base != "L":
        done.append(f"converted {name} to grayscale")
    elif to == "RGB" and base == "L":
        done.append("converted grayscale to RGB (the gray value in each channel)")
    elif to == "RGB" and base != "RGB":
        done.append(f"converted {name} to RGB")
    return done
