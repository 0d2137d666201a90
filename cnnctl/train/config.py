"""Training settings: defaults, then the file's `train:` section, then the command line.

Pure Python (no torch): the settings are validated with the same located errors as the
notation, so `train: {epochs: ten}` points at its line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import CnnctlError, did_you_mean
from ..layers.args import ArgValueError, parse_bool, parse_float, parse_int

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "cosine")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}


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
    "seed": lambda t: parse_int(t, 0),
    "out": str,
    "val_split": lambda t: parse_float(t, 0.0, 0.9),
    "amp": parse_bool,
    "compile": parse_bool,
    "sync_bn": parse_bool,
}


def resolve_config(file_settings: dict, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults < the file's `train:` (name -> Value with a location) < command-line overrides.

    Overrides are already typed (the CLI parsed them); None means "not given".
    """
    config = TrainConfig()
    names = [f.name for f in fields(TrainConfig)]
    for key, value in file_settings.items():
        name = key.replace("-", "_")
        if name not in PARSERS:
            raise CnnctlError.at(
                f"unknown training setting `{key}`", value.loc, hint=did_you_mean(name, names) or ", ".join(names)
            )
        try:
            setattr(config, name, PARSERS[name](str(value.text)))
        except ArgValueError as exc:
            raise CnnctlError.at(f"`train: {key}` {exc}", value.loc) from None
    for name, value in overrides.items():
        if value is not None:
            setattr(config, name, value)
    return config
