"""Training settings: defaults, then the file's `train:` section, then the command line.

Pure Python (no torch): the settings are validated with the same located errors as the
notation, so `train: {epochs: ten}` points at its line. What each setting is, reads and may
be is its row in cnnctl.train.settings: a file's value and a command-line option are read by
the same function and checked by the same rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, make_dataclass
from typing import Any

from ..data import is_data_set_name, looks_like_path
from ..errors import CnnctlError, Loc, Problem, did_you_mean, shown, too_many
from ..layers.args import ArgValueError
from ..limits import MAX_PROBLEMS
from ..words import plural
from .settings import (  # noqa: F401 (the names callers know from here)
    AUGMENTS,
    BY_NAME,
    DEFAULT_LR,
    DEVICES,
    MAX_SEED,
    MONITORS,
    NAMES,
    OPTIMIZERS,
    RESUME_SETTINGS,
    SCHEDULERS,
    SETTINGS,
    parse_augment,
)


class _Config:
    """What every TrainConfig has beside its fields (the fields are the settings' table)."""

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lr": self.learning_rate}


# One field per setting, its default the setting's: cnnctl.train.settings.SETTINGS.
TrainConfig = make_dataclass(
    "TrainConfig", [(s.name, s.type | None if s.optional else s.type, s.default) for s in SETTINGS], bases=(_Config,)
)
TrainConfig.__module__ = __name__
TrainConfig.__doc__ = "The settings of a training run (see cnnctl.train.settings for each)."


def _hint(name: str, value: Any) -> str | None:
    if name == "device" and isinstance(value, str) and value.strip().lower() in ("gpu", "cuda0"):
        return f"did you mean `cuda`? (one of {DEVICES})"
    setting = BY_NAME[name]
    return setting.hint or f"{setting.option}: {lower_first(setting.help)}"  # what it is, its default


def lower_first(text: str) -> str:
    """`Passes over...` -> `passes over...`, for the middle of a sentence; a first word in
    capitals (`CPU threads`, `SGD momentum`) stays as it is."""
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


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


# The settings that name files or folders. A network file is text from anyone (a student's, run
# by an operator): in its `train:` section these may name only places inside the working
# directory, so a file cannot choose where a run is written nor read another's weights or data.
# The command line, the operator's own, names any path.
PATH_SETTINGS = ("data", "data_dir", "weights", "out")
_FROM_FILE_HINT = "a network file's paths are relative to the working directory and stay inside it: " \
    "give this path on the command line instead ({option}), where any path is allowed"  # fmt: skip


def _leaves_working_dir(name: str, text: str) -> str | None:
    """Why the path `text` of the file's setting `name` may not be used (None: it may): an
    absolute path, `~`, a URL, or one whose `..` (or a link) leads out of the working directory.
    A bundled data set's name (mnist) and --weights' torchvision are names, not paths."""
    from ..exchange.pretrained import is_pretrained
    from ..limits import leads_out

    if (
        name == "data"
        and is_data_set_name(text)
        and not looks_like_path(text)
        or name == "weights"
        and is_pretrained(text)
    ):
        return None
    if "://" in text or "::" in text:
        return "a URL"
    if os.path.isabs(text) or text.startswith("~"):
        return "an absolute path"
    here = os.path.realpath(os.getcwd())
    if leads_out(os.path.join(here, text), here) is not None:
        return "a path leading out of the working directory"
    return None


def _path_problems(file_settings: dict, overrides: dict[str, Any]) -> list[Problem]:
    """The file's path settings (PATH_SETTINGS) not overridden on the command line that leave
    the working directory, each told at its line:column."""
    problems = []
    for key, value in file_settings.items():
        name = key.replace("-", "_")
        if name not in PATH_SETTINGS or overrides.get(name) is not None:
            continue
        why = _leaves_working_dir(name, str(value.text).strip())
        if why is not None:
            option = BY_NAME[name].option
            problems.append(Problem(f"`train: {key}` is {why}: {shown(str(value.text))}", value.loc,
                                    hint=_FROM_FILE_HINT.format(option=option)))  # fmt: skip
    return problems


def saved_config_problems(saved: Any, required: Iterable[str]) -> list[str]:
    """What is missing or wrong in the settings a checkpoint keeps, in words ([] when fine).
    Keys that are no setting are left alone: `resumed_config` ignores them."""
    problems = [f"its settings have no `{name}`" for name in required if name not in saved]
    for name, value in saved.items():
        if name in BY_NAME:
            try:
                BY_NAME[name].validate(value)
            except ArgValueError as exc:
                problems.append(f"its setting `{name}` {exc}")
    return problems


def checked_overrides(overrides: dict[str, Any]) -> list[Problem]:
    """The command line's values (already typed), each checked by its setting's rule, as the
    file's are: a Problem per option refused. None means "not given"."""
    problems = []
    for name, value in overrides.items():
        if value is None or name not in BY_NAME:
            continue
        try:
            BY_NAME[name].validate(value)
        except ArgValueError as exc:
            problems.append(Problem(f"{BY_NAME[name].option} {exc}", hint=_hint(name, value)))
    return problems


def _statistics_problems(config, file_settings: dict, overrides: dict, channels: int | None) -> list[Problem]:
    """--mean and --std: both or neither, one number per input channel; told where each was given."""

    def where(name: str) -> tuple[str, Loc | None]:
        if overrides.get(name) is None and name in file_settings:
            return f"`train: {name}`", file_settings[name].loc
        return BY_NAME[name].option, None

    given = [name for name in ("mean", "std") if getattr(config, name) is not None]
    if len(given) == 1:
        (present,), missing = given, "std" if given == ["mean"] else "mean"
        said, loc = where(present)
        option = BY_NAME[missing].option
        wanted = option if loc is None else f"`train: {missing}` (or {option})"
        return [Problem(f"{said} is given without {wanted}: the input is normalised with both", loc,
                        hint=f"add {wanted} too: {BY_NAME[missing].hint}")]  # fmt: skip
    problems = []
    for name in given if channels is not None else ():
        values = getattr(config, name)
        if len(values) != channels:
            said, loc = where(name)
            count = f"{plural(len(values), 'value')} for a network of {plural(channels, 'input channel')}"
            problems.append(
                Problem(f"{said} has {count}", loc, hint=BY_NAME[name].hint)
            )  # the hint says one per channel
    return problems


def resolve_config(
    file_settings: dict, overrides: dict[str, Any], channels: int | None = None, keys: dict | None = None
) -> TrainConfig:
    """Defaults < the file's `train:` (name -> Value with a location) < command-line overrides.

    Overrides are already typed (the CLI parsed them); None means "not given". Every problem
    is reported at once: the file's with their locations, the command line's by option.
    `channels`: the network's input channels, which --mean and --std give a number each. A
    data folder and the data dir are stored absolute (see `absolute_data_paths`). `keys`: where
    each setting's name is written (name -> Loc), for a name that is no setting.
    """
    config = TrainConfig()
    problems: list[Problem] = []
    for key, value in file_settings.items():
        if len(problems) >= MAX_PROBLEMS:
            raise too_many(problems, Loc(value.loc.file))
        name = key.replace("-", "_")
        if name not in BY_NAME:
            hint = did_you_mean(name, NAMES) or ", ".join(NAMES)
            problems.append(Problem(f"unknown training setting `{key}`", (keys or {}).get(key, value.loc), hint=hint))
            continue
        try:
            typed = BY_NAME[name].parse(str(value.text))  # the same rule as the command line's
            BY_NAME[name].validate(typed)
        except ArgValueError as exc:
            problems.append(Problem(f"`train: {key}` {exc}", value.loc, hint=_hint(name, value.text)))
            continue
        setattr(config, name, typed)
    problems += _path_problems(file_settings, overrides)
    problems += checked_overrides(overrides)
    for name, value in overrides.items():
        if value is not None:
            setattr(config, name, value)
    if not problems:
        problems = _statistics_problems(config, file_settings, overrides, channels)
    if problems:
        raise CnnctlError(problems)
    for name, value in absolute_data_paths(asdict(config)).items():
        if name in ("data", "data_dir"):
            setattr(config, name, value)
    return config
