"""Training settings: defaults, then the file's `train:` section, then the command line.

Pure Python (no torch): the settings are validated with the same located errors as the
notation, so `train: {epochs: ten}` points at its line.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..data import is_data_set_name, looks_like_path
from ..errors import CnnctlError, Loc, Problem, did_you_mean, too_many
from ..layers.args import ArgValueError, parse_bool, parse_float, parse_int
from ..limits import MAX_INT, MAX_PROBLEMS

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "cosine")
MONITORS = ("val_accuracy", "val_loss")  # what best.pt and --patience follow
AUGMENTS = ("crop", "rrc", "flip")  # cnnctl.train.augment, in the order they run: padded crop, resized crop, flip
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}
MAX_SEED = 2**32 - 1  # the epoch order seeds a generator with seed * 1_000_003 + epoch: it must fit 64 bits
DEVICES = "auto, cpu, cuda, cuda:N, mps"
# Settings a resumed run needs from its checkpoint to replay its batches; the rest have defaults.
RESUME_SETTINGS = (
    "data", "data_dir", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "scheduler", "seed",
    "val_split", "label_smoothing", "warmup_epochs", "augment", "monitor",
)  # fmt: skip


@dataclass
class TrainConfig:
    data: str = "shapes"
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float | None = None  # None: the optimizer's default (DEFAULT_LR)
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    device: str = "auto"
    seed: int = 0
    out: str | None = None
    val_split: float = 0.1
    amp: bool | None = None  # None: on where it pays (GPUs), off on CPUs
    compile: bool | None = None  # None: on GPUs with Triton, off on CPUs
    sync_bn: bool = False
    label_smoothing: float = 0.0
    warmup_epochs: int = 0  # the rate rises linearly over these epochs, then the scheduler takes over
    patience: int | None = None  # stop after this many epochs without a better `monitor`; None: never
    monitor: str = "val_accuracy"
    augment: str = "none"  # "none" or AUGMENTS joined by commas, in that order: "crop,flip"
    threads: int | None = None  # intra-op CPU threads; None: the idle cores (cnnctl.train.fastpath.choose_threads)
    tensorboard: bool = False  # each epoch's scalars in RUN/tensorboard/ (cnnctl.train.runlog)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lr": self.learning_rate}


def _choice(words: tuple[str, ...]):
    def parse(text: str) -> str:
        word = text.strip().lower()
        if word not in words:
            raise ArgValueError(f"expected one of {', '.join(words)}; got `{text}`")
        return word

    return parse


def parse_augment(text: str) -> str:
    """`flip,crop` -> `crop,flip`: the augmentations in a fixed order (the order they run), or `none`."""
    words = [w.strip().lower() for w in str(text).replace("+", ",").split(",") if w.strip()]
    if words in ([], ["none"]):
        return "none"
    for word in words:
        if word not in AUGMENTS:
            raise ArgValueError(f"`{word}` is not an augmentation; the augmentations are {', '.join(AUGMENTS)} or none")
    if "crop" in words and "rrc" in words:
        raise ArgValueError("crop and rrc both crop: choose one (crop,flip for CIFAR-like data; rrc,flip for photos)")
    return ",".join(a for a in AUGMENTS if a in words)


def _seed(text: str) -> int:
    text = str(text).strip()
    if not (text.lstrip("+").isdigit() and text.isascii()) or len(text) > 20:
        raise ArgValueError(f"expected a whole number from 0 to {MAX_SEED:,}, got `{text[:24]}`")
    return int(text)


PARSERS = {
    "data": str,
    "data_dir": str,
    "epochs": lambda t: parse_int(t, 1),
    "batch_size": lambda t: parse_int(t, 1),
    "lr": lambda t: parse_float(t, 1e-12, 10.0),
    "optimizer": _choice(OPTIMIZERS),
    "momentum": lambda t: parse_float(t, 0.0, 1.0),
    "weight_decay": lambda t: parse_float(t, 0.0, 1.0),
    "scheduler": _choice(SCHEDULERS),
    "device": str,
    "seed": _seed,
    "out": str,
    "val_split": lambda t: parse_float(t, 0.0, 0.9),
    "amp": parse_bool,
    "compile": parse_bool,
    "sync_bn": parse_bool,
    "label_smoothing": lambda t: parse_float(t, 0.0, 0.99),
    "warmup_epochs": lambda t: parse_int(t, 0),
    "patience": lambda t: parse_int(t, 1),
    "monitor": _choice(MONITORS),
    "augment": parse_augment,
    "threads": lambda t: parse_int(t, 1),
    "tensorboard": parse_bool,
}


def _whole(lo: int, hi: int, *, optional: bool = False):
    def check(value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise ArgValueError(f"expected a whole number, got {value!r}")
        if not lo <= value <= hi:
            raise ArgValueError(f"must be from {lo:,} to {hi:,}, got {value:,}")

    return check


def _real(lo: float, hi: float = math.inf, *, lo_open: bool = False, optional: bool = False):
    """A finite number in [lo, hi] ((lo, hi] with lo_open); nan and infinity never pass."""
    if lo_open:
        wanted = f"a finite number greater than {lo:g}"
    else:
        wanted = f"a finite number of at least {lo:g}" if hi == math.inf else f"a number from {lo:g} to {hi:g}"

    def check(value: Any) -> None:
        if value is None and optional:
            return
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not (lo < value if lo_open else lo <= value) or value > hi:
            raise ArgValueError(f"must be {wanted}, got {value!r}")

    return check


def _text(*, optional: bool = False, words: tuple[str, ...] = ()):
    def check(value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value.strip():
            raise ArgValueError(f"expected a name, got {value!r}")
        if words and value.strip().lower() not in words:
            raise ArgValueError(f"expected one of {', '.join(words)}; got `{value}`")

    return check


def _flag(*, optional: bool = False):
    def check(value: Any) -> None:
        if not (isinstance(value, bool) or (value is None and optional)):
            raise ArgValueError(f"expected true or false, got {value!r}")

    return check


def _augment(value: Any) -> None:
    _text()(value)
    parse_augment(value)


_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def _device(value: Any) -> None:
    _text()(value)
    if not _DEVICE.fullmatch(value.strip().lower()):
        raise ArgValueError(f"`{value}` is not a device")


# What a typed value must be, wherever it comes from: the file (after PARSERS), the command
# line (which parses the text to a number and leaves the range to these), or a checkpoint's settings.
CHECKS = {
    "data": _text(),
    "data_dir": _text(optional=True),
    "epochs": _whole(1, MAX_INT),
    "batch_size": _whole(1, MAX_INT),
    "lr": _real(0.0, lo_open=True, optional=True),
    "optimizer": _text(words=OPTIMIZERS),
    "momentum": _real(0.0, 1.0),  # PyTorch takes any momentum >= 0; at 1 or more SGD never forgets
    "weight_decay": _real(0.0),
    "scheduler": _text(words=SCHEDULERS),
    "device": _device,
    "seed": _whole(0, MAX_SEED),
    "out": _text(optional=True),
    "val_split": _real(0.0, 0.9),
    "amp": _flag(optional=True),
    "compile": _flag(optional=True),
    "sync_bn": _flag(),
    "label_smoothing": _real(0.0, 0.99),
    "warmup_epochs": _whole(0, MAX_INT),
    "patience": _whole(1, MAX_INT, optional=True),
    "monitor": _text(words=MONITORS),
    "augment": _augment,
    "threads": _whole(1, 4096, optional=True),
    "tensorboard": _flag(),
}
HINTS = {
    "lr": "e.g. 0.001 for adam, 0.05 for sgd",
    "weight_decay": "0 (none) or a small number such as 0.0005",
    "momentum": "e.g. 0.9",
    "device": f"one of {DEVICES}",
    "label_smoothing": "e.g. 0.1: the target class gets 0.9 plus a share of 0.1 spread over all classes",
    "augment": "e.g. crop,flip (the CIFAR recipe) or rrc,flip (photos)",
}


def _hint(name: str, value: Any) -> str | None:
    if name == "device" and isinstance(value, str) and value.strip().lower() in ("gpu", "cuda0"):
        return f"did you mean `cuda`? (one of {DEVICES})"
    return HINTS.get(name)


def absolute_data_paths(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` with a data folder (not a data set's name) and the data dir made absolute,
    so that a run's config finds them again from any directory. Other values are kept."""
    out = dict(settings)
    if isinstance(out.get("data_dir"), str) and out["data_dir"].strip():
        out["data_dir"] = os.path.realpath(os.path.expanduser(out["data_dir"].strip()))
    data = out.get("data")
    if isinstance(data, str) and data.strip():
        name = data.strip()
        # a known name is a data set even where a folder has that name (`./mnist` is the folder);
        # a bare word that is no folder stays as written, for the "did you mean" of cnnctl.data
        if looks_like_path(name) or (not is_data_set_name(name) and os.path.isdir(os.path.expanduser(name))):
            out["data"] = os.path.realpath(os.path.expanduser(name))
    return out


def saved_config_problems(saved: Any, required: Iterable[str]) -> list[str]:
    """What is missing or wrong in the settings a checkpoint keeps, in words ([] when fine).
    Keys that are no setting are left alone: `resumed_config` ignores them."""
    problems = [f"its settings have no `{name}`" for name in required if name not in saved]
    for name, value in saved.items():
        if name in CHECKS:
            try:
                CHECKS[name](value)
            except ArgValueError as exc:
                problems.append(f"its setting `{name}` {exc}")
    return problems


def resolve_config(file_settings: dict, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults < the file's `train:` (name -> Value with a location) < command-line overrides.

    Overrides are already typed (the CLI parsed them); None means "not given". Every problem
    is reported at once: the file's with their locations, the command line's by option. A
    data folder and the data dir are stored absolute (see `absolute_data_paths`).
    """
    config = TrainConfig()
    names = [f.name for f in fields(TrainConfig)]
    problems: list[Problem] = []
    for key, value in file_settings.items():
        if len(problems) >= MAX_PROBLEMS:
            raise too_many(problems, Loc(value.loc.file))
        name = key.replace("-", "_")
        if name not in PARSERS:
            hint = did_you_mean(name, names) or ", ".join(names)
            problems.append(Problem(f"unknown training setting `{key}`", value.loc, hint=hint))
            continue
        try:
            typed = PARSERS[name](str(value.text))
            CHECKS[name](typed)
        except ArgValueError as exc:
            problems.append(Problem(f"`train: {key}` {exc}", value.loc, hint=_hint(name, value.text)))
            continue
        setattr(config, name, typed)
    for name, value in overrides.items():
        if value is None:
            continue
        if name in CHECKS:
            try:
                CHECKS[name](value)
            except ArgValueError as exc:
                flag = "--" + name.replace("_", "-")
                problems.append(Problem(f"{flag} {exc}", hint=_hint(name, value)))
                continue
        setattr(config, name, value)
    if problems:
        raise CnnctlError(problems)
    for name, value in absolute_data_paths(asdict(config)).items():
        if name in ("data", "data_dir"):
            setattr(config, name, value)
    return config
