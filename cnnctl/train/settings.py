"""The training settings: one row each, the only place a setting is described.

A row says how the setting is read from text (a file's `train:` value or a command-line
option: the same function), the values it may take (checked wherever the value comes from:
the file, the command line, a resumed run's options, a checkpoint's settings; a TrainConfig
built in Python is the caller's to check, with `Setting.validate`), its default, the hint and help text
shown with it, and whether `train --resume` may change it. `TrainConfig` (train/config.py),
the `train` command's options and their help, the resumable list and the checkpoint's
required settings are all made from SETTINGS; adding a setting is one row here plus its test.

Pure Python, no torch: `cnnctl train --help` and every command that checks a file's `train:`
section import it (cnnctl.data, for the data sets' names, is the one package it reads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..data import data_help
from ..errors import did_you_mean, quoted
from ..every import FORMS, every_text, valid_every
from ..layers.args import ArgValueError, channel_numbers, parse_bool
from ..limits import MAX_LOADER_WORKERS, MAX_SEED, MAX_THREADS, MAX_VAL_SPLIT  # noqa: F401 (MAX_SEED: callers know it from here)
from ..run_folders import MONITORS  # what best.pt and --patience follow
from ..values import Real, Whole, number_text, whole_text  # noqa: F401 (callers know them from here)
from .step_defaults import (  # noqa: F401 (DEVICE_NAMES: callers know it from here)
    DEFAULT_BATCH,
    DEFAULT_MOMENTUM,
    DEFAULT_OPTIMIZER,
    DEVICE_NAMES,
    DEVICE_PATTERN,
    DEVICES,
    MOMENTUM,
    OPTIMIZERS,
)

SCHEDULERS = ("none", "step", "cosine")
DECODERS = ("auto", "cpu", "gpu")  # where a stream's JPEGs are decoded (cnnctl.train.decoding)
CLASS_WEIGHTS = ("none", "balanced")  # the loss's per-class weights (cnnctl.train.balance)
SWITCHES = ("auto", "on", "off")  # a speed setting the run decides (auto), or the user
AUGMENTS = ("crop", "rrc", "flip")  # cnnctl.train.augment, in the order they run: padded crop, resized crop, flip
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}


# -- reading a value from text: a file's `train:` value and a command-line option alike -------
def numbers_text(text: str) -> tuple[float, ...]:
    """Numbers separated by commas, one per input channel: `0.485,0.456,0.406`."""
    return channel_numbers(text, number_text, "input channel")


def words_text(words: tuple[str, ...]) -> Callable[[str], str]:
    """One of `words`, in any case, with the nearest as a hint when it is none of them."""

    def parse(text: str) -> str:
        word = str(text).strip().lower()
        if word not in words:
            hint = did_you_mean(word, words)
            said = f"expected one of {', '.join(words)}, got {quoted(text)}"
            raise ArgValueError(said + (f" ({hint})" if hint else ""))
        return word

    return parse


def parse_augment(text: str) -> str:
    """`flip,crop` -> `crop,flip`: the augmentations in a fixed order (the order they run), or `none`."""
    words = [w.strip().lower() for w in str(text).replace("+", ",").split(",") if w.strip()]
    if words in ([], ["none"]):
        return "none"
    for word in words:
        if word not in AUGMENTS:
            hint = did_you_mean(word, (*AUGMENTS, "none"))
            raise ArgValueError(f"{quoted(word)} is not an augmentation; the augmentations are {', '.join(AUGMENTS)} "
                                "or none" + (f" ({hint})" if hint else ""))  # fmt: skip
    if "crop" in words and "rrc" in words:
        raise ArgValueError("crop and rrc both crop: choose one (crop,flip for CIFAR-like data; rrc,flip for photos)")
    return ",".join(a for a in AUGMENTS if a in words)


# -- the values a setting may take --------------------------------------------------------------
class PerChannel:
    """One number per input channel, each in `each`'s range (how many the network's input
    decides, checked when the data is loaded)."""

    def __init__(self, each: Real):
        self.each, self.text = each, each.text

    def __call__(self, value: Any) -> None:
        if not isinstance(value, (tuple, list)) or not value:
            raise ArgValueError(f"expected numbers separated by commas, got {value!r}")
        for v in value:
            self.each(v)


def _words(words: tuple[str, ...]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ArgValueError(f"expected a name, got {value!r}")
        if value.strip().lower() not in words:
            raise ArgValueError(f"expected one of {', '.join(words)}; got `{value}`")

    return check


def _name(value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ArgValueError(f"expected a name, got {value!r}")


def _flag(value: Any) -> None:
    if not isinstance(value, bool):
        raise ArgValueError(f"expected true or false, got {value!r}")


def _augment(value: Any) -> None:
    _name(value)
    parse_augment(value)


def _device(value: Any) -> None:
    _name(value)
    if not DEVICE_PATTERN.fullmatch(value.strip().lower()):
        raise ArgValueError(f"`{value}` is not a device")


# -- the table ------------------------------------------------------------------------------------
class Setting:
    """One training setting. `parse` reads text (a file's value, an option's argument) to the
    type; `check` says whether a typed value may be used (its range), wherever it came from;
    `optional`: None is a value (its default says what None means). `replay`: a resumed run
    needs it from its checkpoint to replay its batches; `resumable`: `--resume` may change it.
    `words`: the values a word setting takes (for the command line's completion). `flag`:
    the command line's --NAME/--no-NAME. `help` ends with the default in words."""

    __slots__ = ("name", "type", "default", "parse", "check", "optional", "hint", "help", "metavar", "words",
                 "flag", "replay", "resumable")  # fmt: skip

    def __init__(self, name: str, type: type, default: Any, parse: Callable[[str], Any], check: Callable[[Any], None],
                 help: str, *, optional: bool = False, hint: str | None = None, metavar: str | None = None,
                 words: tuple[str, ...] = (), replay: bool = False, resumable: bool = False):  # fmt: skip
        self.name, self.type, self.default, self.parse, self.check = name, type, default, parse, check
        self.optional, self.hint, self.help, self.metavar, self.words = optional, hint, help, metavar, words
        self.flag = type is bool
        self.replay, self.resumable = replay, resumable

    @property
    def option(self) -> str:
        """The command-line option: `batch_size` -> `--batch-size`."""
        return "--" + self.name.replace("_", "-")

    def validate(self, value: Any) -> None:
        """Raises ArgValueError when `value` (already typed) may not be used."""
        if value is None and self.optional:
            return
        self.check(value)


def _default(value: object) -> str:
    return f" Default: {value}."


_DATA = data_help() + "."  # the data sets registered in cnnctl.data, and folders
_THREADS = "the idle cores (cores less the load average), or OMP_NUM_THREADS"
_VAL = Real(0.0, MAX_VAL_SPLIT)
_SMOOTHING = Real(0.0, 0.99)
_MOMENTUM = MOMENTUM  # cnnctl.train.step_defaults: the design commands read it without this table
_LR = Real(0.0, 10.0, lo_open=True)
_HEAD_FACTOR = Real(0.0, 1000.0, lo_open=True)  # above 10 no optimizer trains: a typo for 1e-1 or the like
_DECAY = Real(0.0, 1.0)  # at 1 the weights are pulled to 0 as fast as the gradient moves them
_MEAN = PerChannel(Real(0.0, 1.0))  # of pixel values / 255
_STD = PerChannel(Real(0.0, 1.0, lo_open=True))  # the input is divided by it; pixels / 255 spread at most 0.5
_STATS = "computed over the training images; a resumed run keeps its checkpoint's"

# One row per setting: name, type, default, how its text is read, the values it may take, its help.
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("data", str, "shapes", str, _name, _DATA + _default("shapes"), replay=True),
    Setting("data_dir", str, None, str, _name,
            "Where datasets are looked for. Default: $CNNCTL_DATA, else ~/.cache/cnnctl.", optional=True, metavar="DIR",
            replay=True),
    Setting("epochs", int, 10, whole_text, Whole(1), "Passes over the training data." + _default(10),
            metavar="N", replay=True, resumable=True),
    Setting("batch_size", int, DEFAULT_BATCH, whole_text, Whole(1),
            "Images per step (per worker)." + _default(DEFAULT_BATCH),
            metavar="N", replay=True),
    Setting("lr", float, None, number_text, _LR,
            f"Learning rate, {_LR.text}. Default: " + ", ".join(f"{DEFAULT_LR[o]:g} {o}" for o in ("sgd", "adam"))
            + "; a tenth of that for a run from --weights.",
            optional=True, hint="e.g. 0.001 for adam, 0.05 for sgd", metavar="X", replay=True),
    Setting("optimizer", str, DEFAULT_OPTIMIZER, words_text(OPTIMIZERS), _words(OPTIMIZERS),
            _default(DEFAULT_OPTIMIZER).strip(),
            metavar="|".join(OPTIMIZERS), words=OPTIMIZERS, replay=True),
    Setting("momentum", float, DEFAULT_MOMENTUM, number_text, _MOMENTUM,
            f"SGD momentum, {_MOMENTUM.text}." + _default(DEFAULT_MOMENTUM),
            hint="e.g. 0.9", metavar="X", replay=True),
    Setting("weight_decay", float, 0.0, number_text, _DECAY, f"L2 penalty, {_DECAY.text}." + _default(0),
            hint="0 (none) or a small number such as 0.0005", metavar="X", replay=True),
    Setting("scheduler", str, "none", words_text(SCHEDULERS), _words(SCHEDULERS),
            "Learning-rate schedule." + _default("none"), metavar="|".join(SCHEDULERS), words=SCHEDULERS,
            replay=True),
    Setting("device", str, "auto", str, _device, f"auto (cuda, then mps, then cpu), {DEVICES.removeprefix('auto, ')}."
            + _default("auto"),
            hint=f"one of {DEVICES}", metavar="NAME", resumable=True),
    Setting("mean", tuple, None, numbers_text, _MEAN,
            f"Per-channel mean of pixel values / 255 the input is normalised with, {_MEAN.text} each, e.g. "
            f"0.485,0.456,0.406 (ImageNet's). Default: {_STATS}.", optional=True, metavar="M[,M...]",
            hint="one number per input channel, with --std, e.g. 0.485,0.456,0.406 and 0.229,0.224,0.225"),
    Setting("std", tuple, None, numbers_text, _STD,
            f"Per-channel standard deviation the input is divided by, {_STD.text} each, e.g. 0.229,0.224,0.225. "
            f"Default: {_STATS}.", optional=True, metavar="S[,S...]",
            hint="one number above 0 per input channel, with --mean, e.g. 0.229,0.224,0.225"),
    Setting("weights", str, None, str, _name,
            "Start from these weights, not random ones: a cnnctl run or checkpoint, a PyTorch state_dict (.pt, "
            ".pth), a .safetensors file or an ONNX file's initializers; placed by name where its names are the "
            "network's own (the .safetensors `cnnctl import` writes beside the network), else onto the network's "
            "layers in order (by structure: names are not needed); shapes are checked one by one, the first that "
            "does not fit is told. Or torchvision (or imagenet): torchvision's ImageNet weights for a bundled "
            "network that equals torchvision's, downloaded once into torch.hub's cache, with ImageNet's mean and "
            "std unless --mean and --std are given. Default: random.",
            optional=True, metavar="FILE|torchvision"),
    Setting("head", str, None, str, _name,
            "With --weights trained for another number of classes: the layer made anew for the data's classes "
            "(an fc or conv). Default: the last fc or conv with weights.", optional=True, metavar="PATH",
            replay=True),
    Setting("freeze", str, None, str, _name,
            "Freeze every layer up to and including PATH (their weights, and batch norm statistics): only the "
            "layers after it train. Default: none.", optional=True, metavar="PATH", replay=True),
    Setting("head_lr_factor", float, None, number_text, _HEAD_FACTOR,
            f"The head's learning rate as a multiple of --lr, {_HEAD_FACTOR.text}. Default: 10 for a head made "
            "anew (it starts from random weights, the rest trained), else 1.", optional=True, metavar="X",
            replay=True),
    Setting("seed", int, 0, whole_text, Whole(0, MAX_SEED), "Seeds weights, data order and split." + _default(0),
            metavar="N", replay=True),
    Setting("out", str, None, str, _name, "Run folder. Default: runs/ARCH-TIMESTAMP (then -2, -3 where "
            "taken); one given must be new, empty or a run's.", optional=True, metavar="DIR"),
    Setting("val_split", float, 0.1, number_text, _VAL,
            "Share of the training images held out for validation when the data has no validation or test "
            f"split, {_VAL.text} (0: train on all)." + _default(0.1), metavar="X", replay=True),
    Setting("amp", bool, None, parse_bool, _flag,
            "Mixed precision: bf16, or fp16 with a gradient scaler. Default: on GPUs.", optional=True,
            resumable=True),
    Setting("compile", bool, None, parse_bool, _flag, "torch.compile the network. Default: on GPUs.",
            optional=True, resumable=True),
    Setting("cuda_graphs", str, "auto", words_text(SWITCHES), _words(SWITCHES),
            "Replay the training step as CUDA graphs (torch.compile's reduce-overhead mode): one launch for the "
            "forward and one for the backward instead of one per kernel. Default: auto, on for one process on a "
            "GPU with the data in memory (every batch the same shape) when launching the step's kernels takes "
            "longer than its arithmetic (small networks such as LeNet-5).",
            metavar="auto|on|off", words=SWITCHES, resumable=True),
    Setting("sync_bn", bool, False, parse_bool, _flag, "Batch norm over all workers' images (GPUs). Default: off."),
    Setting("label_smoothing", float, 0.0, number_text, _SMOOTHING,
            f"Cross-entropy's label smoothing, {_SMOOTHING.text} (e.g. 0.1)." + _default(0), metavar="X",
            hint="e.g. 0.1: the target class gets 0.9 plus a share of 0.1 spread over all classes", replay=True),
    # Not `replay`: a checkpoint from before it trained unweighted, its default; recorded in config.json and
    # the checkpoints all the same, so `--resume` keeps it (and may not change it: the loss would change).
    Setting("class_weights", str, "none", words_text(CLASS_WEIGHTS), _words(CLASS_WEIGHTS),
            "Weight the cross-entropy per class: balanced, by n / (k * n_c) (n training images, k classes, n_c "
            "of class c; pixels for dense prediction), so that a small class counts as much as a large one; "
            "none, every image alike." + _default("none"), metavar="none|balanced", words=CLASS_WEIGHTS,
            hint="balanced for classes of very different sizes; none weighs every image alike"),
    Setting("warmup_epochs", int, None, whole_text, Whole(0),
            "Raise the learning rate linearly over the first N epochs, then the schedule. Default: 0; 1 for a "
            "run from --weights.", optional=True, metavar="N", replay=True),
    Setting("patience", int, None, whole_text, Whole(1),
            "Stop early after N epochs without a better --monitor value. Default: never.", optional=True,
            metavar="N", resumable=True),
    Setting("monitor", str, "val_accuracy", words_text(MONITORS), _words(MONITORS),
            "What best.pt and --patience follow." + _default("val_accuracy"), metavar="|".join(MONITORS),
            words=MONITORS, replay=True),
    Setting("augment", str, "none", parse_augment, _augment,
            "Augment the training images, on the device, seeded (a resume replays them): crop (pad by H/8 and "
            "crop back, the CIFAR recipe), flip (horizontal, half the images), rrc (random resized crop, scale "
            "0.08-1, for photos)." + _default("none"), metavar="crop,flip|rrc,flip|none",
            hint="e.g. crop,flip (the CIFAR recipe) or rrc,flip (photos)", replay=True),
    Setting("stream", bool, None, parse_bool, _flag,
            "Image folders and shards: read from disk while training, in loader processes (--stream), or decoded "
            "into memory first (--no-stream). Default: streamed when the images decoded at the input would take "
            "more than half the memory free (or 4 GiB); a run keeps its choice when resumed.", optional=True),
    Setting("workers", int, None, whole_text, Whole(0, MAX_LOADER_WORKERS),
            "Loader processes decoding streamed images (0: the training process itself). Default: one per usable "
            "core, up to 8.", optional=True, metavar="N", resumable=True),
    Setting("decode", str, "auto", words_text(DECODERS), _words(DECODERS),
            "Where streamed JPEGs are decoded and cropped: by the loader processes on the CPU, or on the GPU "
            "(nvJPEG through torchvision, --device cuda). Default: auto, the GPU when the loader processes would "
            "decode fewer images a second than the training step takes.", metavar="auto|cpu|gpu", words=DECODERS,
            resumable=True),
    Setting("threads", int, None, whole_text, Whole(1, MAX_THREADS), f"CPU threads per process. Default: {_THREADS}.",
            optional=True, metavar="N", resumable=True),
    Setting("tensorboard", bool, False, parse_bool, _flag,
            "Write each epoch's losses, accuracies and rate to RUN/tensorboard/ (needs the tensorboard package). "
            "Default: off.",
            resumable=True),
    Setting("log_interval", str, "30s", every_text, valid_every,
            "Where no progress bar is drawn (a log file, a pipe, NO_COLOR, TERM=dumb): a plain line with the "
            f"epoch, step, images/s, running loss and the epoch's time left, every {FORMS}." + _default("30s"),
            metavar="N|Nsteps|Ns|Nmin|Nh", hint=f"{FORMS}", resumable=True),
    Setting("save_every", str, None, every_text, valid_every,
            "Also save last.pt in the middle of an epoch, every N steps or every so long (500steps, 10min), as "
            "Ctrl-C saves it: a run killed (kill -9, out of memory, preempted) resumes from there. Default: at "
            "each epoch's end only.", optional=True, metavar="Nsteps|Ns|Nmin|Nh", hint=f"{FORMS}", resumable=True),
)
# fmt: on
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
NAMES = tuple(BY_NAME)
# Settings a resumed run needs from its checkpoint to replay its batches; the rest have defaults.
RESUME_SETTINGS = tuple(s.name for s in SETTINGS if s.replay)
# What may change when a run is resumed: none of them changes which images a step sees.
RESUMABLE = tuple(s.name for s in SETTINGS if s.resumable)
