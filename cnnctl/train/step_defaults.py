"""The training step `cnnctl train` runs by default, and the step a design command sizes.

`memory`, `flops` and `compare` describe the step train runs: its batch, optimizer, momentum
and mixed precision from their options, else the network file's `train:` section, else
train's defaults. The defaults are here, where the settings' table (cnnctl.train.settings)
takes them from, because this module is light: the design commands must not load what the
table needs (cnnctl.data, dataclasses: tests/test_no_torch.py). A file's `train:` section is
read with the table's own rules (cnnctl.train.config.resolve_config), loaded only then.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import CnnctlError
from ..layers.args import ArgValueError
from ..values import Real

if TYPE_CHECKING:
    from ..analysis.training import TrainingStep
    from ..graph import Graph

OPTIMIZERS = ("sgd", "adam", "adamw")  # train's words: sgd has a momentum (0: none)
DEFAULT_BATCH = 64
DEFAULT_OPTIMIZER = "adam"
DEFAULT_MOMENTUM = 0.9
MOMENTUM = Real(0.0, 1.0)  # PyTorch takes any momentum >= 0; at 1 or more SGD never forgets
# --device's words, one vocabulary for every command (train, evaluate, predict, bench; memory and
# compare, which model the kernels of the machine they name): here, where the design commands may
# load them (tests/test_no_torch.py), and the settings' table takes them from.
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")  # and cuda:N, a GPU by its number
DEVICES = "auto, cpu, cuda, cuda:N, mps"
DEVICE_PATTERN = re.compile("|".join(DEVICE_NAMES) + r"|cuda:\d+")
FROM_FILE, FROM_DEFAULT = "the file's train:", "train's default"
_DEFAULTS = {"batch_size": DEFAULT_BATCH, "optimizer": DEFAULT_OPTIMIZER, "momentum": DEFAULT_MOMENTUM, "amp": None}
_SAID = {"batch_size": "batch", "optimizer": "optimizer", "momentum": "momentum", "amp": "amp"}


def unused_momentum(optimizer: str, momentum: float | None) -> str | None:
    """What a --momentum given with another optimizer than sgd is told (train, memory and compare
    alike): it has no effect, and why; None where it is used or not given."""
    if momentum is None or optimizer == "sgd":
        return None
    return f"--momentum {momentum:g} unused: momentum applies to sgd, and the optimizer is {optimizer}"


def training_step(
    graph: Graph,
    given: dict[str, tuple[Any, str]],
    device: str = "cuda",
    dtype: str = "float32",
    read_file: bool = True,
) -> TrainingStep:
    """The training step `cnnctl train` would run for `graph`: batch, optimizer, momentum and
    amp each from `given` (setting name -> (value or None, the option that gave it)), else the
    file's `train:` section, else train's default; for amp, what train does where it runs (on
    for a CUDA GPU with a float32 network, off on a CPU). `read_file`: False where the file's
    section is not to be read (compare puts networks side by side at one step)."""
    from ..analysis.training import TrainingStep  # here, not above: the settings' table imports this module

    file_settings = graph.train if read_file else {}
    overrides = {name: value for name, (value, _) in given.items()}
    if file_settings:  # read and checked as train reads it, every problem located
        from .config import resolve_config

        config = resolve_config(file_settings, overrides, graph.input_shape[2], graph.train_keys)
        values = {name: getattr(config, name) for name in _DEFAULTS}
    else:
        values = {name: overrides.get(name) if overrides.get(name) is not None else v for name, v in _DEFAULTS.items()}
        try:
            MOMENTUM(values["momentum"])
        except ArgValueError as exc:
            raise CnnctlError.at(f"--momentum {exc}", hint="e.g. 0.9; 0 for sgd without momentum") from None
    in_file = {key.replace("-", "_") for key in file_settings}
    from_ = {}
    for name, said in _SAID.items():
        value, option = given.get(name, (None, ""))
        from_[said] = option if value is not None else FROM_FILE if name in in_file else FROM_DEFAULT
    amp = values["amp"]
    if amp is None:  # train's own choice: autocast on a CUDA GPU (its float32 network), never on a CPU
        amp = device == "cuda" and dtype == "float32"
        from_["amp"] = f"{FROM_DEFAULT} on {'a GPU' if device == 'cuda' else 'a CPU'}"
    if values["optimizer"] != "sgd":
        from_.pop("momentum")  # only sgd has one
    return TrainingStep(values["batch_size"], values["optimizer"], values["momentum"], amp, from_)
