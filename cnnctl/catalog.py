"""Bundled architectures: where they are, their names and aliases, and resolving a CLI argument.

The YAML files live in the repository's `architectures/` folder; a wheel carries them as
`cnnctl/architectures/` (see pyproject.toml), so both places are looked at.
"""

from __future__ import annotations

import glob
import os

from .errors import CnnctlError, did_you_mean

ALIASES = {"resnet": "resnet50", "lenet": "lenet5", "vgg": "vgg16", "inception": "googlenet"}
RUN_NETWORK = "network.yaml"  # a run folder's copy of the network it trained (cnnctl.train.loop writes it)
SUFFIXES = (".yaml", ".yml")
# Plain paths (os.path), not pathlib: importing pathlib costs 3 ms of every start-up.


def architectures_dir() -> str:
    here = os.path.dirname(os.path.realpath(__file__))
    for candidate in (os.path.join(here, "architectures"), os.path.join(os.path.dirname(here), "architectures")):
        if os.path.isdir(candidate):
            return candidate
    raise CnnctlError.at("the bundled architectures are missing from this installation")  # pragma: no cover


def bundled() -> dict[str, str]:
    """Name -> file of every bundled architecture, sorted by name."""
    files = sorted(glob.glob(os.path.join(glob.escape(architectures_dir()), "*.yaml")))
    return {os.path.basename(f)[: -len(".yaml")]: f for f in files}


def run_input(folder: str) -> str | None:
    """The input a run trained at (its config.json's `input`), if `folder` is a run folder."""
    config = os.path.join(folder, "config.json")
    if not (os.path.isdir(folder) and os.path.isfile(os.path.join(folder, RUN_NETWORK)) and os.path.isfile(config)):
        return None
    import json

    try:
        with open(config) as f:
            value = json.load(f).get("input")
    except (OSError, ValueError, AttributeError):
        return None  # the network file's own input, then
    return value if isinstance(value, str) else None


def resolve(arg: str) -> tuple[str, str]:
    """A CLI argument -> (file, name to show in messages).

    An existing file wins; otherwise a name, with or without `.yaml`, is looked up among
    the bundled architectures and their aliases (`resnet` -> resnet50, `lenet` -> lenet5).
    """
    if not arg.strip():
        raise CnnctlError.at("the architecture is an empty argument", hint="a YAML file, or a name from `cnnctl list`")
    if os.path.isfile(arg):
        return arg, arg
    if os.path.isfile(os.path.join(arg, RUN_NETWORK)):  # a run folder: the network it trained
        return os.path.join(arg, RUN_NETWORK), os.path.join(arg, RUN_NETWORK)
    stem = os.path.basename(os.path.normpath(arg))
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    name = ALIASES.get(stem.lower(), stem.lower())
    files = bundled()
    if os.path.isdir(arg):
        if name in files and "/" not in arg:  # a bare name; the folder may be a run named after the network
            return files[name], f"{name}.yaml"
        if os.path.isfile(os.path.join(arg, "config.json")):
            raise CnnctlError.at(
                f"the run `{arg}` was written before run folders kept their network ({RUN_NETWORK})",
                hint="name the network it trained too: `cnnctl evaluate ARCH --checkpoint RUN`",
            )
        raise CnnctlError.at(f"`{arg}` is a directory, not a network file")
    if os.path.exists(arg):
        raise CnnctlError.at(f"`{arg}` is not a regular file (a device or a pipe?)")
    parent = os.path.dirname(os.path.normpath(arg))
    if name in files and (parent in ("", ".") or not os.path.exists(parent)):
        return files[name], f"{name}.yaml"
    names = [*files, *ALIASES]
    hint = did_you_mean(stem, names)
    listing = "bundled: " + ", ".join(files) + "; aliases: " + ", ".join(f"{a} ({t})" for a, t in ALIASES.items())
    raise CnnctlError.at(
        f"no file `{arg}` here, and no bundled architecture called `{stem}`",
        hint=f"{hint} ({listing})" if hint else listing,
    )
