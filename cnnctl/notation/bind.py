"""Written arguments -> names: the words of a layer bound by its kind's argument spec.

A layer's words arrive as (name or None, value, where) triples, from the shorthand
(`conv 3 n=64 bias`) or a mapping; `bind` gives each a name by the spec (`ArgSpec`, declared
by the kind's `args`, or a block's arguments): a bare positional word takes the next free
positional name, a bare flag word sets its flag, `id`/`from`/`with` are references. Nothing
here knows any kind: what a kind takes is its spec.
"""

from __future__ import annotations

from ..errors import Loc, did_you_mean, quoted, shown
from ..layers import ArgSpec
from ..records import record
from ..values import ascii_spelling
from .spec import ID_LISTS, Value, listed_ids, lookalike_ids

REFERENCE_KEYS = ("id", "from", "with")

# Other tools' names of arguments, for a "did you mean" hint where the kind takes that argument.
ARG_SYNONYMS = {
    "kernel": "f",
    "kernel_size": "f",
    "k": "f",
    "filter": "f",
    "filter_size": "f",
    "stride": "s",
    "strides": "s",
    "padding": "p",
    "pad": "p",
    "filters": "n",
    "channels": "n",
    "out_channels": "n",
    "out": "n",
    "activation": "act",
    "use_bias": "bias",
    "dilation_rate": "dilation",
    "group": "groups",
    "ceil_mode": "ceil",
    "p_drop": "rate",
    "units": "units",
    "neurons": "units",
    "size": "size",
    "scale_factor": "scale",
    "output_size": "out",  # PyTorch's adaptive pools
    "adaptive": "out",
    "name": "id",
    "input": "from",
    "inputs": "from",
}


@record
class Bound:
    """What `bind` made of a layer's words: its arguments and references by name, the
    problems found (message, where, hint), and whether every word found its place."""

    args: dict
    refs: dict
    problems: list
    ok: bool


def bind(kind: str, spec: ArgSpec, raw: list[tuple[str | None, Value, Loc]], what: str = "layer kind") -> Bound:
    """Bind the written words of a `kind` (`what`: "layer kind" or "block") by `spec`."""
    args: dict[str, Value] = {}
    refs: dict[str, Value] = {}
    problems: list[tuple[str, Loc, str | None]] = []
    free = iter(spec.positional)
    unplaced: list[Value] = []  # bare words with no positional name left: reported together below
    ok = True
    for key, value, kloc in raw:
        if key is None:
            word = str(value.text)
            if word in spec.flags:
                key, value = word, Value("true", value.loc)
            else:
                key = next((p for p in free if p not in args), None)
                if key is None:
                    unplaced.append(value)
                    ok = False
                    continue
        if key in REFERENCE_KEYS:
            target = refs
        elif key in spec.names:
            target = args
        else:
            hint = placed_word_hint(kind, spec, raw, key, value) or unknown_arg_hint(kind, spec.names, key, what)
            problems.append((f"`{kind}` has no argument {shown(key)}", kloc, hint))
            ok = False
            continue
        if key in target:
            first = target[key]
            before, again = (quoted(f"{key}={v.text}") for v in (first, value))
            hint = f"keep one of them: {before} (at {first.loc.line}:{first.loc.col}) or {again}"
            problems.append((f"argument `{key}` is given twice", kloc, hint))
            ok = False
            continue
        if key in ID_LISTS and isinstance(value.text, str) and ("[" in value.text or "]" in value.text):
            # `from=[enc1,enc2]`, a list as Python writes one: told, then read without its brackets
            # (spaces in their place, so that each id is still checked at its own column)
            hint = f"no brackets: `{listed_ids(key, value.text)}`"
            problems.append((f"{shown(f'{key}={value.text}')}: ids are listed without brackets", value.loc, hint))
            value = Value(value.text.replace("[", " ").replace("]", " "), value.loc)
        if key in ID_LISTS and isinstance(value.text, str) and (lookalike := lookalike_ids(key, value.text)):
            # told once here, then read in ASCII: a full-width comma would make `a，b` one id no layer has
            message, hint = lookalike
            problems.append((message, value.loc, hint))
            value = Value(ascii_spelling(value.text), value.loc)
        target[key] = value
    if unplaced:
        problems.append(_unplaced(kind, spec, args, unplaced))
    return Bound(args, refs, problems, ok)


def _unplaced(kind: str, spec: ArgSpec, args: dict[str, Value], unplaced: list[Value]) -> tuple[str, Loc, str | None]:
    """The problem of bare words that no positional argument is left for: every positional
    argument is given (by place or by name), and they are none of the flags."""
    words = " ".join(str(v.text) for v in unplaced)
    if len(spec.positional) == 1:
        (name,) = spec.positional
        why = f"`{name}`, its one argument without a name, is given already ({quoted(args[name].text)})"
    elif spec.positional:
        given = ", ".join(quoted(args[n].text) for n in spec.positional)
        why = f"{_list_words(spec.positional)}, its arguments without a name, are given already ({given})"
    else:
        why = "it takes no argument without a name"
    flags = f"; its flags: {_list_words(spec.flags)}" if spec.flags else ""
    hint = None
    if len(unplaced) == 1:
        hint = did_you_mean(words, spec.flags) if spec.flags else None
        meant = ARG_SYNONYMS.get(words.lower())
        if hint is None and meant in spec.names and meant not in spec.flags:  # `adaptive`: `out=6`
            hint = f"did you mean `{meant}=...`?"
    usage = (
        f"`{kind}` takes: {' '.join(f'{n}=...' for n in spec.names)}" if spec.names else f"`{kind}` takes no arguments"
    )
    return f"unexpected {shown(words)} in `{kind}`: {why}{flags}", unplaced[0].loc, hint or usage


def _list_words(words) -> str:
    return ", ".join(f"`{w}`" for w in words)


def placed_word_hint(
    kind: str, spec: ArgSpec, raw: list[tuple[str | None, Value, Loc]], key: str, value: Value
) -> str | None:
    """`pool f=2 s=2 type=max`: the value is a word of an argument written without a name (the
    pool's `op`); the line as meant, that word first, or None where it is no such word."""
    word = str(value.text)
    arg = next((name for name, words in spec.choices.items() if word in words), None)
    if arg is None or any(k == arg for k, _, _ in raw):
        return None
    rest = [f"{k}={v.text}" if k is not None else str(v.text) for k, v, _ in raw if k != key]
    return f"write `{' '.join([kind, word, *rest])}`: `{word}` is `{arg}`, written without a name"


def unknown_arg_hint(kind: str, names: tuple[str, ...] | list[str], key: str, what: str = "layer kind") -> str:
    """The hint for `key`, which `kind` (`what`: "layer kind" or "block") has no argument for:
    the name meant, if one is near, else what it takes."""
    takes = f"{what} `{kind}` takes: {_list_words(names)}" if names else f"`{kind}` takes no arguments"
    return arg_hint(key, names) or takes


def arg_hint(key: str, names: tuple[str, ...] | list[str]) -> str | None:
    """`did you mean `f`?` for `kernel`, where the kind takes `f`; else a close spelling."""
    syn = ARG_SYNONYMS.get(key.lower())
    if syn and syn in names and syn != key:
        return f"did you mean `{syn}`?"
    return did_you_mean(key, names)
