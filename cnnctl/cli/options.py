"""The options the commands share, and how an option's text is read.

Every reader here raises typer.BadParameter with cnnctl's words; cnnctl.cli.run names the
option in front of them (`--batch must be at least 1, got 0`). A reader also takes a value
that is already typed: click passes a default through the reader too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from ..errors import CnnctlError, did_you_mean, quoted
from ..values import ArgValueError, Whole, number_text, whole_text
from .common import Format

# What every command's ARCH takes (catalog.resolve, api.load): one text, so that no command's help
# lists fewer forms than it reads.
ARCH_FORMS = (
    "a YAML file; a bundled name such as vgg16 (see `cnnctl list`); a run folder (the network it "
    "trained); - for standard input; a family's member as FILE:MEMBER or FAMILY_MEMBER (efficientnet_b3), with "
    "settings of its arguments after a colon (efficientnet_b3:dropout=0.1, family.yaml:width=1.3,depth=1.5)."
)
ARCH_HELP = "The network: " + ARCH_FORMS


def _typed(read: Callable[[str], Any]) -> Callable[[Any], Any]:
    """`read` for text; a value that is not text (a default) as it is."""

    def parse(value: Any) -> Any:
        return read(value) if isinstance(value, str) else value

    parse.__name__ = getattr(read, "__name__", "parse")
    return parse


# -- readers ----------------------------------------------------------------------------------
def bad(message: str, hint: str | None = None) -> typer.BadParameter:
    """An option's value refused: `message` follows the option's name; `hint`, where given,
    replaces the command's `--help` hint (cnnctl.cli.app.reworded)."""
    exc = typer.BadParameter(message)
    exc.hint = hint
    return exc


def whole(lo: int, hi: int | None = None, hint: str | None = None) -> Callable[[Any], int]:
    """A whole number from `lo` (to `hi`), read and checked as a training setting's is; `hint`
    goes with a number above `hi` (one below `lo` is told its range alone)."""
    span = Whole(lo, hi)

    def read(text: str) -> int:
        try:
            value = whole_text(text)
        except ArgValueError as exc:
            raise bad(str(exc)) from None
        try:
            span(value)
        except ArgValueError as exc:
            raise bad(str(exc), hint if hi is not None and value > hi else None) from None
        return value

    return _typed(read)


@_typed
def number(text: str) -> float:
    """A number in ASCII (`nan` and `inf` too: where they do not fit, the command says why)."""
    try:
        return number_text(text)
    except ArgValueError as exc:
        raise typer.BadParameter(str(exc)) from None


UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15, "EB": 10**18, "KiB": 2**10,
         "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50, "EiB": 2**60}  # fmt: skip


@_typed
def nbytes(text: str) -> int:
    """A size with its unit: `16GiB`, `80 GB`, `1.5TiB`, `512B`. A number alone is refused, not
    read as bytes: `--budget 12` meant 12 GiB, and was a budget of 12 bytes."""
    cut = len(text)
    while cut and (text[cut - 1].isalpha() or text[cut - 1] == " "):  # the unit is the letters at the end
        cut -= 1
    number, unit = text[:cut], text[cut:].strip()
    try:
        if unit not in UNITS and unit:
            raise ArgValueError(unit)
        value = number_text(number) * UNITS.get(unit, 1)
    except ArgValueError:
        raise typer.BadParameter(
            f"expected a size such as 16GiB or 80GB, got {quoted(text)}"
            + (f" ({did_you_mean(unit, UNITS)})" if unit and did_you_mean(unit, UNITS) else "")
        ) from None
    if not unit:
        n = number.strip() if value >= 1 else "16"  # `--budget 0`: no size of 0 is one
        raise bad(f"needs a unit, got {quoted(text)}", f"e.g. {n}GiB or {n}GB ({n}B for bytes)")
    if not 1 <= value <= 2**60:
        raise typer.BadParameter(f"must be from 1 byte to 1 EiB, got {quoted(text)}")
    return int(value)


def choice(words: tuple[str, ...], hint: str | None = None) -> Callable[[Any], str]:
    """One of `words`, as written, with the nearest as a hint; `hint`: what else to say of a
    word none of them is (in place of the command's --help)."""

    def read(text: str) -> str:
        if text not in words:
            near = did_you_mean(text, words)
            raise bad(f"expected one of {', '.join(words)}, got {quoted(text)}" + (f" ({near})" if near else ""), hint)
        return text

    return _typed(read)


def formats(*allowed: Format) -> Callable[[Any], Format]:
    check = choice(tuple(f.value for f in allowed))
    return _typed(lambda text: Format(check(text)))


def setting(name: str) -> Callable[[Any], Any]:
    """A training setting's text, read by the rule its file value is read by (its range is
    checked with the file's, in cnnctl.train.config.resolve_config)."""
    from ..train.settings import BY_NAME

    parse = BY_NAME[name].parse

    def read(text: str) -> Any:
        try:
            return parse(text)
        except ArgValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return _typed(read)


# -- completion: what the shell offers after an option or for an argument ---------------------
def words(*choices: str) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [w for w in choices if w.startswith(incomplete)]

    return complete


def listed(*choices: str) -> Callable[[str], list[str]]:
    """A comma-separated list of `choices` (`--columns la` -> layer; `--augment crop,` -> crop,flip...):
    the last word completed, the words before it kept, none offered twice."""

    def complete(incomplete: str) -> list[str]:
        done, _, last = incomplete.rpartition(",")
        before = done + "," if done else ""
        taken = set(done.split(","))
        return [before + w for w in choices if w.startswith(last) and w not in taken]

    return complete


def folders(incomplete: str) -> list[str]:
    """The folders whose path begins `incomplete` (where the answer also has names, the shell's
    own file names are not offered: `complete -o default` gives them only for no answer)."""
    import os

    head, tail = os.path.split(incomplete)
    try:
        entries = list(os.scandir(head or "."))
    except OSError:
        return []
    shown = [e for e in entries if e.name.startswith(tail) and (tail[:1] == "." or e.name[:1] != ".")]  # hidden: asked
    return sorted(os.path.join(head, e.name) + "/" for e in shown if e.is_dir())


def complete_data(incomplete: str) -> list[str]:
    """--data: the data sets cnnctl knows by name (shapes, mnist, fashion-mnist, cifar10), then folders."""
    from ..data import DATA_SETS

    return [name for name in DATA_SETS if name.startswith(incomplete)] + folders(incomplete)


def complete_arch(incomplete: str) -> list[str]:
    """The bundled networks and the members of the bundled families (`efficientnet_b3`); nothing
    else, and the shell offers file names (`complete -o default`)."""
    from ..catalog import bundled, families

    names = [*bundled(), *(f"{family}_{m}" for family, members in families().items() for m in members)]
    return sorted({name for name in names if name.startswith(incomplete)})


def complete_run(incomplete: str) -> list[str]:
    """The run folders in ./runs, where `cnnctl train` writes them."""
    from ..run_marks import runs_in

    return [path for path in runs_in("runs") if path.startswith(incomplete)]


def complete_run_or_arch(incomplete: str) -> list[str]:
    return complete_run(incomplete) + complete_arch(incomplete)


# -- options ------------------------------------------------------------------------------------
def option(*names: str, help: str, metavar: str | None = None, parser: Callable[[str], Any] | None = None,
           complete: Callable[[str], list[str]] | None = None, **more: Any) -> Any:  # fmt: skip
    """A typer option as cnnctl writes them: the default stated in the help text, in words; its
    value named by `metavar`, else by the option's name (`--data DATA`), as argparse did."""
    metavar = metavar or names[-1].split("/")[0].lstrip("-").replace("-", "_").upper()
    return typer.Option(
        *names, help=help, metavar=metavar, parser=parser, autocompletion=complete, show_default=False, **more
    )


def argument(metavar: str, help: str, complete: Callable[[str], list[str]] | None = None, **more: Any) -> Any:
    return typer.Argument(metavar=metavar, help=help, autocompletion=complete, show_default=False, **more)


def arch_argument(help: str = ARCH_HELP) -> Any:
    return argument("ARCH", help, complete_arch)


def input_option(help: str = "Input volume HxWxC, overriding the file's.") -> Any:
    return option("-i", "--input", metavar="HxWxC", help=help)


def format_option(*allowed: Format) -> Any:
    allowed = allowed or tuple(Format)
    return option(
        "-f", "--format", parser=formats(*allowed), metavar="|".join(f.value for f in allowed),
        complete=words(*(f.value for f in allowed)),
        help="Output format. Default: table." if Format.csv in allowed else "json: the result on stdout, "
        "progress on stderr. Default: table.",
    )  # fmt: skip


def dtype_option(text: str, offered: tuple[str, ...] | None = None, why_not: str | dict[str, str] = "") -> Any:
    """--dtype: an element type by its name or its short name (bf16 for bfloat16), read as the
    name: one vocabulary (shapes.DTYPE_BYTES) in every command; `offered`: the types the command
    can compute (default: all), `why_not` says why the others are refused (a training step holds
    no int8 weights), or per type where the reasons differ."""
    from ..shapes import DTYPE_BYTES, DTYPE_SHORT

    offered = offered or tuple(DTYPE_BYTES)
    shorts = {short: name for short, name in DTYPE_SHORT.items() if name in offered}
    check = choice((*offered, *shorts))

    def read(text: str) -> str:
        name = DTYPE_SHORT.get(text, text)
        if name in DTYPE_BYTES and name not in offered:
            reason = why_not.get(name, "") if isinstance(why_not, dict) else why_not
            raise bad(f"{text} is not offered here: {reason}", hint="one of " + ", ".join(offered))
        return shorts.get(check(text), text)

    names = [f"{n} ({short})" if (short := _short(n, shorts)) else n for n in offered]
    return option("--dtype", parser=_typed(read), metavar="TYPE", complete=words(*offered, *shorts),
                  help=text + " One of " + ", ".join(names) + ".")  # fmt: skip


def _short(name: str, shorts: dict[str, str]) -> str:
    return next((k for k, v in shorts.items() if v == name), "")


def device_help() -> str:
    from ..train.step_defaults import DEVICES

    return f"Where it runs: auto (cuda, then mps, then cpu), {DEVICES.removeprefix('auto, ')}. Default: auto."


def complete_device(incomplete: str) -> list[str]:
    from ..train.step_defaults import DEVICE_NAMES

    return [d for d in DEVICE_NAMES if d.startswith(incomplete)]


@_typed
def device_name(text: str) -> str:
    """--device's word, as every command reads it (train's file value by the same pattern)."""
    from ..train.step_defaults import DEVICE_NAMES, DEVICE_PATTERN, DEVICES

    word = text.strip().lower()
    if not DEVICE_PATTERN.fullmatch(word):
        near = "did you mean `cuda`?" if word in ("gpu", "cuda0") else did_you_mean(word, DEVICE_NAMES)
        raise bad(f"expected one of {DEVICES}, got {quoted(text)}", near)
    return word


def device_option(help: str | None = None) -> Any:
    """--device NAME of every command: one vocabulary (auto, cpu, cuda, cuda:N, mps); `help`
    says what the command does with it."""
    return option("--device", parser=device_name, metavar="NAME", help=help or device_help(), complete=complete_device)


def cuda_seen() -> bool:
    """Whether this machine has an NVIDIA GPU, told without torch (the analyses never import it):
    the driver's device node or its list of GPUs. What `--device auto` of memory and compare
    models; train's auto asks torch, which may still find no CUDA build."""
    from pathlib import Path

    gpus = Path("/proc/driver/nvidia/gpus")
    return Path("/dev/nvidia0").exists() or (gpus.is_dir() and any(gpus.iterdir()))


def memory_device(name: str) -> tuple[str, str]:
    """The kernels memory and compare model for --device `name` ("cuda" or "cpu": the models
    there are), and where that came from, for the output (`--device auto: no CUDA GPU seen`)."""
    if name == "auto":
        return ("cuda", "--device auto: an NVIDIA GPU seen") if cuda_seen() else (
            "cpu", "--device auto: no CUDA GPU seen")  # fmt: skip
    if name == "mps":
        raise CnnctlError.at(
            "--device mps: cnnctl has no model of the memory Apple's MPS kernels keep",
            hint="--device cuda or --device cpu: the kernels there is a model of",
        )
    return ("cuda" if name.startswith("cuda") else name), f"--device {name}"


def setting_option(name: str, help: str | None = None) -> Any:
    """A training setting's option, from its row (cnnctl.train.settings): --NAME VALUE read by
    the file's rule, or --NAME/--no-NAME; `help` in place of the row's."""
    from ..train.settings import BY_NAME

    s = BY_NAME[name]
    help = help or s.help
    if s.flag:
        return option(f"{s.option}/--no-{s.option[2:]}", help=help)
    if s.name == "device":  # one --device for every command
        return device_option(help)
    complete = words(*s.words) if s.words else SETTING_COMPLETE.get(name)
    names = (SETTING_SHORT[name], s.option) if name in SETTING_SHORT else (s.option,)
    return option(*names, parser=setting(s.name), metavar=s.metavar, help=help, complete=complete)


def _augments(incomplete: str) -> list[str]:
    from ..train.settings import AUGMENTS

    return ["none"] * "none".startswith(incomplete) + listed(*AUGMENTS)(incomplete)


# What the shell offers for a training setting that is not one word of a list (`words`)
SETTING_COMPLETE: dict[str, Callable[[str], list[str]]] = {
    "augment": _augments,
    "data": complete_data,
    "data_dir": folders,
}

# Short forms of training settings' options: -b as summarize, flops, memory and compare's --batch;
# -o as every other command that writes (draw, export, import, pack, plot: -o/--output)
SETTING_SHORT = {"batch_size": "-b", "out": "-o"}


def profile_names() -> tuple[str, ...]:
    from ..analysis.roofline import PROFILES

    return tuple(PROFILES)


def complete_columns(incomplete: str) -> list[str]:
    from ..render.views.summary import SUMMARY_COLUMNS

    return listed(*SUMMARY_COLUMNS)(incomplete)


@_typed
def columns(text: str) -> tuple[str, ...]:
    """summarize's columns, comma-separated."""
    from ..render.views.summary import COLUMN_SYNONYMS, SUMMARY_COLUMNS

    names = tuple(name for part in text.split(",") if (name := part.strip()))  # `layer,params,` as `layer,params`
    if not names:  # `--columns ,` was told `no columns ``, ```
        raise bad(f"needs column names, got {quoted(text)}", "e.g. --columns layer,output,params")
    unknown = [name for name in names if name not in SUMMARY_COLUMNS]
    if unknown:  # every one in one message, each with its hint
        told = []
        for name in unknown:
            near = did_you_mean(name, SUMMARY_COLUMNS, COLUMN_SYNONYMS)
            told.append(quoted(name) + (f" ({near})" if near else ""))
        raise bad(
            ("no column " if len(told) == 1 else "no columns ") + ", ".join(told),
            "the columns: " + ", ".join(SUMMARY_COLUMNS) + " (layer: the layer's path)",
        )
    return names
