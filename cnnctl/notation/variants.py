"""Choosing a member of a family file: its `variants:` entry, and settings, put in for its `args:`.

A family file declares its own arguments (`args: width=1.0 depth=1.0 dropout=0.2`), uses them
in its layers like a block's (`${divisible(32 * width, 8)}`), and names its members
(`variants: {b3: width=1.2 depth=1.4 dropout=0.3 input=300x300x3}`). A choice is what follows
the `:` of an ARCH (`efficientnet.yaml:b3`, `efficientnet_b3:dropout=0.1`): at most one member
name and `name=value` settings, separated by commas; the member's values are put in for the
file's defaults, then the settings for the member's. Nothing chosen: the file's defaults.
"""

from __future__ import annotations

from ..errors import CnnctlError, Loc, Problem, did_you_mean
from .spec import NetworkSpec, Value, Variant

COMMAND_LINE = Loc("the command line")  # where a setting given with the ARCH was written


def choose(spec: NetworkSpec, choice: str | None) -> NetworkSpec:
    """`spec` as its member `choice` (None: as written): its arguments' values, its input size,
    its name (`efficientnet` + `b3`: `efficientnet_b3`)."""
    if choice is None:
        return spec
    member, settings, problems = _read(spec, choice)
    args = dict(spec.args)
    size = spec.input
    name = spec.own_name
    if member is not None:
        variant = spec.variants[member]
        args.update(variant.values)
        size = variant.input or size
        name = f"{name}_{member}"
    for key, text in settings:
        if key not in args:
            problems.append(_unknown_argument(spec, key))
        args[key] = Value(text, COMMAND_LINE)
    if problems:
        raise CnnctlError(problems)
    return spec._replace(args=args, input=size, name=name)


def _read(spec: NetworkSpec, choice: str) -> tuple[str | None, list[tuple[str, str]], list[Problem]]:
    """The member a choice names (None: none), its settings, and what is wrong with it."""
    member: str | None = None
    settings: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for word in (w.strip() for w in choice.split(",")):
        key, eq, text = word.partition("=")
        if eq:
            if not key.strip() or not text.strip():
                problems.append(Problem(f"`{word}`: a setting is `name=value`", COMMAND_LINE, None, _arguments(spec)))
            else:
                settings.append((key.strip(), text.strip()))
        elif not word:
            empty = "no member named after `:` (or between commas)"
            problems.append(Problem(empty, COMMAND_LINE, None, _members(spec)))
        elif member is not None:
            problems.append(Problem(f"two members chosen, `{member}` and `{word}`", COMMAND_LINE, None, "choose one"))
        elif word not in spec.variants:
            problems.append(_unknown_member(spec, word))
        else:
            member = word
    return member, settings, problems


def variant_text(variant: Variant) -> str:
    """A member's values as a `variants:` line writes them: `width=1.2 depth=1.4 input=300x300x3`."""
    words = [f"{name}={value.text}" for name, value in variant.values.items()]
    return " ".join(words + ([f"input={variant.input.text}"] if variant.input is not None else []))


def members(spec: NetworkSpec) -> list[str]:
    """The names of the members a file declares, as written."""
    return list(spec.variants)


def _members(spec: NetworkSpec) -> str:
    names = members(spec)
    return f"its members: {', '.join(names)}" if names else "it declares no members (`variants:`)"


def _unknown_member(spec: NetworkSpec, word: str) -> Problem:
    where = spec.variants_loc or Loc(spec.file)
    near = did_you_mean(word, members(spec))
    hint = f"{near} ({_members(spec)})" if near else _members(spec)
    return Problem(f"`{spec.own_name}` has no member `{word}`", where, None, hint)


def _arguments(spec: NetworkSpec) -> str:
    declared = ", ".join(f"`{a}`" for a in spec.args)
    return f"its arguments (`args:`): {declared}" if declared else "it declares no arguments (`args:`)"


def _unknown_argument(spec: NetworkSpec, key: str) -> Problem:
    takes = _arguments(spec) if key != "input" else "the input size is an option: --input HxWxC"
    near = did_you_mean(key, spec.args)
    hint = f"{near} ({takes})" if near else takes
    return Problem(f"`{spec.own_name}` has no argument `{key}`", Loc(spec.file), None, hint)
