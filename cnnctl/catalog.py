"""Bundled architectures: where they are, their names and aliases, and resolving a CLI argument.

The YAML files live in the repository's `architectures/` folder; a wheel carries them as
`cnnctl/architectures/` (see pyproject.toml), so both places are looked at.
"""

from __future__ import annotations

from pathlib import Path

from .errors import CnnctlError, did_you_mean

ALIASES = {"resnet": "resnet50", "lenet": "lenet5", "vgg": "vgg16", "inception": "googlenet"}
SUFFIXES = (".yaml", ".yml")


def architectures_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "architectures", here.parent / "architectures"):
        if candidate.is_dir():
            return candidate
    raise CnnctlError.at("the bundled architectures are missing from this installation")  # pragma: no cover


def bundled() -> dict[str, Path]:
    """Name -> file of every bundled architecture, sorted by name."""
    folder = architectures_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve(arg: str) -> tuple[Path, str]:
    """A CLI argument -> (file, name to show in messages).

    An existing file wins; otherwise a name, with or without `.yaml`, is looked up among
    the bundled architectures and their aliases (`resnet` -> resnet50, `lenet` -> lenet5).
    """
    if not arg.strip():
        raise CnnctlError.at("the architecture is an empty argument", hint="a YAML file, or a name from `cnnctl list`")
    path = Path(arg)
    if path.is_file():
        return path, arg
    stem = path.name
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    name = ALIASES.get(stem.lower(), stem.lower())
    files = bundled()
    if path.is_dir():
        if name in files and "/" not in arg:  # a bare name; the folder may be a run named after the network
            return files[name], f"{name}.yaml"
        raise CnnctlError.at(f"`{arg}` is a directory, not a network file")
    if path.exists():
        raise CnnctlError.at(f"`{arg}` is not a regular file (a device or a pipe?)")
    if name in files and (path.parent == Path(".") or not path.parent.exists()):
        return files[name], f"{name}.yaml"
    names = [*files, *ALIASES]
    hint = did_you_mean(stem, names)
    listing = "bundled: " + ", ".join(files) + "; aliases: " + ", ".join(f"{a} ({t})" for a, t in ALIASES.items())
    raise CnnctlError.at(
        f"no file `{arg}` here, and no bundled architecture called `{stem}`",
        hint=f"{hint} ({listing})" if hint else listing,
    )
