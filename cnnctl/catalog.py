"""Bundled architectures: where they are, their names and aliases, and resolving a CLI argument.

The YAML files live in the repository's `architectures/` folder; a wheel carries them as
`cnnctl/architectures/` (see pyproject.toml), so both places are looked at.
"""

from __future__ import annotations

import glob
import os

from . import worker
from .errors import CnnctlError, Loc, closest, did_you_mean
from .files import DASH, REGULAR, STDIN_NAME, first_entries, is_file_entry, near_file, not_regular, stem_of
from .invocation import retyped, running, typed
from .run_marks import (
    RUN_MARKS,
    RUN_NETWORK,
    is_checkpoint,
    is_run_folder,
    refuse_run_record,
    run_member,
    run_of,
    runs_in,
)

ALIASES = {"resnet": "resnet50", "lenet": "lenet5", "vgg": "vgg16", "inception": "googlenet"}
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


def family_of(name: str, files: dict[str, str] | None = None) -> tuple[str, str] | None:
    """A bundled member's family file and the member's name in it: `efficientnet_b3` is member
    `b3` of efficientnet.yaml (a bundled member is named `FAMILY_MEMBER`); None for another name."""
    files = bundled() if files is None else files
    stems = [stem for stem in files if name.startswith(stem + "_") and declares_members(files[stem])]
    if not stems:
        return None
    stem = max(stems, key=len)
    return files[stem], name[len(stem) + 1 :]


def declares_members(path: str) -> bool:
    """Whether a bundled file is a family (a top-level `variants:`); read as text, unparsed."""
    import re

    try:
        with open(path, encoding="utf-8") as f:
            return re.search(r"^variants:", f.read(), re.MULTILINE) is not None
    except OSError:
        return False


def families() -> dict[str, dict[str, str]]:
    """Each bundled family's name -> its members, in the file's order, each with its values as
    written (`width=1.2 depth=1.4 dropout=0.3 input=300x300x3`)."""
    from .notation.parse import parse_file_text
    from .notation.source import read_text
    from .notation.variants import variant_text

    found = {}
    for name, path in bundled().items():
        if declares_members(path):
            spec = parse_file_text(read_text(path, f"{name}.yaml"), f"{name}.yaml")
            found[name] = {member: variant_text(variant) for member, variant in spec.variants.items()}
    return found


SHOWN_RUNS = 5  # run folders a message names


def _some(paths: list[str]) -> str:
    """`runs/a, runs/b`; past SHOWN_RUNS, `runs/a, ..., runs/e and 7 more`."""
    shown = ", ".join(paths[:SHOWN_RUNS])
    return shown + (f" and {len(paths) - SHOWN_RUNS:,} more" if len(paths) > SHOWN_RUNS else "")


def _expected() -> str:
    """What an ARCH (or RUN) argument is, with a run of ./runs as the example where there is one."""
    runs = runs_in("runs")
    return (
        f"give a run folder ({runs[0] if runs else 'runs/NAME'}: its network and best weights), "
        "a network file (.yaml) or a bundled name (`cnnctl list`)"
    )


def resolve(arg: str) -> tuple[str, str]:
    """A CLI argument -> (file, name to show in messages); see `resolve_member`."""
    file, display, _ = resolve_member(arg)
    return file, display


def stdin_once(args: list[str], command: str) -> None:
    """Standard input holds one network and is read once: a command of several networks (compare,
    validate) names `-` once at most, or its columns would all be the one network piped in."""
    given = args.count(DASH)
    if given > 1:
        raise CnnctlError.at(f"`{DASH}` is given {given} times, and standard input can be read once",
                             hint=stdin_once_hint(command))  # fmt: skip


def stdin_once_hint(command: str) -> str:
    """What to do instead of naming `-` twice (`stdin_once`), for `summarize - -`'s hint too."""
    return (f"give `{DASH}` for one network and the others as files (`cat net.yaml | cnnctl {command} {DASH} "
            "other.yaml`), or save what is piped in to a file to name it twice")  # fmt: skip


def resolve_member(arg: str) -> tuple[str, str, str | None]:
    """A CLI argument -> (file, name to show in messages, the member of a family it chooses).

    An existing file wins; otherwise a name, with or without `.yaml`, is looked up among
    the bundled architectures and their aliases (`resnet` -> resnet50, `lenet` -> lenet5), then
    the members of the bundled families (`efficientnet_b3`: efficientnet.yaml's `b3`).
    `ARCH:MEMBER` chooses a member of any family file (`my_family.yaml:b3`), with settings of
    its arguments (`efficientnet_b3:dropout=0.1`, `efficientnet.yaml:width=1.3,depth=1.5`;
    `cnnctl.notation.variants`). `@NAME` is the bundled network NAME alone, a file of that name
    here or not (`bundled_member`). A run folder, or a checkpoint in one, means the network it
    trained, the member it recorded. `-` is standard input, called `<stdin>`; so is a worker's
    copy of it in its run folder (`worker.piped_file`), so that N workers name a network piped
    in as one process does.
    """
    if not arg.strip():
        raise CnnctlError.at("the architecture is an empty argument", hint="a YAML file, or a name from `cnnctl list`")
    if arg == DASH:  # `cat net.yaml | cnnctl summarize -` (notation.source.read_text reads it)
        return DASH, STDIN_NAME, None
    if arg == worker.piped_file():  # a worker's copy of the pipe (`train - --nproc-per-node N`): named as the pipe
        return arg, STDIN_NAME, None
    if arg.startswith(BUNDLED_MARK) and not os.path.exists(arg):  # `@resnet18`: the bundled one, a file here or not
        return bundled_member(arg[len(BUNDLED_MARK) :])
    run = run_of(arg)
    if run is not None:  # a run folder, or a checkpoint in one: the network it trained
        return os.path.join(run, RUN_NETWORK), os.path.join(run, RUN_NETWORK), run_member(arg)
    base, colon, choice = arg.rpartition(":")
    if colon and base and not os.path.exists(arg):  # `FILE:MEMBER`; a file whose name has a `:` is itself
        file, display, member = _settable(base) or resolve_member(base)
        return file, display, f"{member},{choice}" if member else choice
    return _resolve(arg)


BUNDLED_MARK = "@"
"""`@NAME`: the bundled network NAME even where a file `NAME` or `NAME.yaml` is here (which a bare
name reads first). `@` is in no FILE:MEMBER nor setting, nor a name `cnnctl list` shows."""


def bundled_member(name: str) -> tuple[str, str, str | None]:
    """`resolve_member` of `@NAME`: NAME among the bundled networks, their aliases and their
    families' members alone (`@resnet18`, `@efficientnet_b3`, `@efficientnet:b3,width=1.1`)."""
    base, colon, choice = name.rpartition(":")
    if colon and base:
        file, display, member = bundled_member(base)
        return file, display, f"{member},{choice}" if member else choice
    files = bundled()
    stem = stem_of(name, (".yaml",)).lower()
    key = ALIASES.get(stem, stem)
    if key in files:
        return files[key], shown_bundled(files[key]), None
    family = family_of(key, files)
    if family is not None:
        return family[0], shown_bundled(family[0]), family[1]
    hint = did_you_mean(stem, [*files, *ALIASES], family=True)
    raise CnnctlError.at(
        f"no bundled architecture called `{name}` (`{BUNDLED_MARK}NAME` names a bundled network only)",
        hint=hint or "`cnnctl list` names them",
    )


def _settable(name: str) -> tuple[str, str, str] | None:
    """A bundled network kept as a file of its own (torchvision's layer names, for its published
    weights) that is also a member of a bundled family (`efficientnet_b0`, `mobilenet_v3_large`):
    given settings (`efficientnet_b0:width=1.1`), the family's member, whose arguments they set."""
    if os.path.exists(name) or os.sep in name:
        return None
    files = bundled()
    family = family_of(name.lower(), files) if name.lower() in files else None
    return (family[0], shown_bundled(family[0]), family[1]) if family is not None else None


def _resolve(arg: str) -> tuple[str, str, str | None]:
    """`resolve_member` of an argument without a member after a `:`."""
    if os.path.isfile(arg):
        refuse_run_record(arg, "a network file")
        if is_checkpoint(arg):
            from .pickled import asks_for_code, code_refused

            named = asks_for_code(arg)
            if named is not None:  # said as --weights and --checkpoint say it
                raise code_refused(arg, named)
            raise CnnctlError.at(
                "a checkpoint (trained weights), not a network file",
                Loc(arg),
                hint="give the network it was trained from as ARCH (a network file or a bundled name) and this file "
                f"with --checkpoint {arg} (evaluate, predict, export); a checkpoint inside its run folder "
                "(RUN/best.pt) is understood alone",
            )
        return arg, arg, None
    if not arg.lower().endswith(SUFFIXES) and os.path.isfile(arg + ".yaml"):  # `lenet5` for ./lenet5.yaml
        return _resolve(arg + ".yaml")
    base = os.path.basename(os.path.normpath(arg))
    stem = stem_of(base, SUFFIXES)
    suffix = base[len(stem) :].lower()
    # An alias names its network with `.yaml` too (`lenet.yaml` where no such file is here: lenet5);
    # a `.yml` is always the user's own file.
    name = ALIASES.get(stem.lower(), stem.lower()) if suffix in ("", ".yaml") else stem.lower()
    files = bundled()
    if os.path.isdir(arg):
        if name in files and not _has_folder(arg):  # a bare name; the folder may be a run named after the network
            return files[name], shown_bundled(files[name]), None
        raise _folder_error(arg)
    kind = not_regular(arg)  # a FIFO, a device: said as what it is, never opened
    if kind is not None:
        raise CnnctlError.at(
            f"{kind}, not a regular file",  # as files.open_regular (read_text) says it
            Loc(arg),
            # the user's command with `-` in its place, their other words (`-o x.svg`) kept
            hint=f"{REGULAR}; to read a network from standard input, give `{DASH}` "
            f"(`cat net.yaml | {retyped(arg, DASH)}`)",
        )
    if os.path.islink(arg):
        raise _broken_link(arg)
    # A bundled network is named by its name alone, or by its file's name (`vgg16.yaml`, from any
    # folder): an argument with a folder part, or `.yml`, is a file of the user's that is not there.
    if not _has_folder(arg) and suffix in ("", ".yaml"):
        if name in files:
            return files[name], shown_bundled(files[name]), None
        family = family_of(name, files)
        if family is not None:  # a bundled member (`efficientnet_b3`): its family's file, the member
            return family[0], shown_bundled(family[0]), family[1]
    parent = os.path.dirname(os.path.normpath(arg))
    if parent not in ("", "."):
        _missing_run(arg, parent, files.get(name) and name)
    # A path, a `.yml`, or a name with a file here of nearly that name: the user's own file, misspelt.
    if _has_folder(arg) or suffix == ".yml" or (suffix and near_file(arg, SUFFIXES)):
        alone = ALIASES.get(stem.lower(), stem.lower())  # the name that would name a bundled network
        here = os.path.isfile(stem) or os.path.isfile(stem + ".yaml")  # the name alone reads it, not the bundled
        raise _missing_file(arg, stem if (alone in files or family_of(alone, files)) and not here else None)
    members = families()
    names = [*files, *ALIASES, *(f"{family}_{m}" for family, named in members.items() for m in named)]
    hint = did_you_mean(stem, names, family=True)  # `lenet6`: no slip, but `lenet5` is named
    listing = "bundled: " + ", ".join(files) + "; aliases: " + ", ".join(f"{a} ({t})" for a, t in ALIASES.items())
    listing += "; members of families, as FAMILY_MEMBER: " + "; ".join(
        f"{family} ({', '.join(named)})" for family, named in members.items()
    )
    raise CnnctlError.at(
        f"no file `{arg}` here, and no bundled architecture called `{stem}`",
        hint=f"{hint} ({listing})" if hint else listing,
    )


BUNDLED = "bundled: "  # what a bundled network's shown file name starts with


def _has_folder(arg: str) -> bool:
    """Whether an argument names a folder (`students/alice/vgg.yaml`, `./vgg.yaml`): then it is a
    path, and never a bundled name."""
    return os.sep in arg or "/" in arg


def _missing_file(arg: str, bundled_name: str | None) -> CnnctlError:
    """A path to a network file that is not there: the nearest file in its folder (`resnet_basc.yaml`:
    `resnet_basic.yaml` beside it; network files first), then the bundled network of that name."""
    parent = os.path.dirname(arg)
    if not os.path.isdir(parent or "."):
        message, near = f"no file `{arg}`: there is no folder `{parent}`", None
    else:
        message, near = f"no file `{arg}`" + ("" if parent else " here"), near_file(arg, SUFFIXES)
    if near:
        hint = f"did you mean `{near}`?"
    elif bundled_name:
        hint = f"`{bundled_name}` alone names the bundled network"
    else:
        hint = _expected()
    return CnnctlError.at(message, hint=hint)


def shown_bundled(path: str) -> str:
    """How a bundled network's file is named in headers and messages (`bundled: lenet5.yaml`):
    apart from a file of the same name in the working directory, which a bare name also reads.
    JSON says it as `file_json` does."""
    return f"{BUNDLED}{os.path.basename(path)}"


def file_json(shown: str | None) -> dict:
    """A file as every command's JSON names it, for scripts: a bundled network's by its name and
    `"bundled": true` (`{"file": "lenet5.yaml", "bundled": true}`, where headers say `bundled:
    lenet5.yaml`), any other as given and `"bundled": false`."""
    if shown is not None and shown.startswith(BUNDLED):
        return {"file": shown[len(BUNDLED) :], "bundled": True}
    return {"file": shown, "bundled": False}


def _broken_link(link: str) -> CnnctlError:
    """What a symbolic link that leads to no file is: a loop (`a -> b -> a`), or a link to a
    file that is not there."""
    import errno

    try:
        os.stat(link)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return CnnctlError.at(f"`{link}` is a symbolic link loop: following it never reaches a file",
                                  hint="point the link at the network file, or give the file itself")  # fmt: skip
    return CnnctlError.at(f"`{link}` is a symbolic link to `{os.readlink(link)}`, which does not exist",
                          hint="point the link at the network file, or give the file itself")  # fmt: skip


def _folder_error(folder: str) -> CnnctlError:
    """What a folder given for ARCH is, when it is not a run: a folder of runs, of data, or other."""
    if os.path.isfile(os.path.join(folder, "config.json")):
        return CnnctlError.at(
            f"the run `{folder}` was written before run folders kept their network ({RUN_NETWORK})",
            Loc(folder),
            hint=_old_run_hint(),
        )
    runs = runs_in(folder)
    if runs:
        listing = "`cnnctl runs`" if os.path.normpath(folder) == "runs" else f"`cnnctl runs {folder}`"
        return CnnctlError.at(
            f"`{folder}` holds runs: {_some(runs)}; give one of them",
            hint=f"a run folder means its network and best weights; {listing} shows each run's network, data and "
            "best accuracy",
        )
    from .data import data_kind

    kind = data_kind(folder)
    if kind is not None:
        return CnnctlError.at(
            f"`{folder}` looks like data ({kind}), not a network",
            hint=f"give it with --data (train, evaluate: one subfolder of images per class, or IDX files), or as the "
            f"images to predict after the network (`cnnctl predict RUN {folder}`); in place of the network, "
            + _expected(),
        )
    networks = networks_in(folder)
    if networks:
        return CnnctlError.at(
            f"`{folder}` is a directory of network files: {_some(networks)}; give one of them", hint=_expected()
        )
    return CnnctlError.at(f"`{folder}` is a directory, not a network file", hint=_expected())


# The commands that take a run's weights apart from its network, each with its command line.
_WITH_CHECKPOINT = {
    "evaluate": "ARCH --checkpoint RUN",
    "predict": "ARCH IMAGE... --checkpoint RUN",
    "export": "ARCH -o FILE --checkpoint RUN",
}


def _old_run_hint() -> str:
    """What to give instead of a run that kept no network, for the command running: the network
    and, where the command takes it, the run's weights apart (`--checkpoint RUN`)."""
    command = running()
    if command in _WITH_CHECKPOINT:
        return f"name the network it trained too: `{typed(_WITH_CHECKPOINT[command])}`"
    instead = "give the network it trained in its place, a network file or a bundled name"
    if command is None:  # from Python: no command to name
        return f"{instead}; evaluate, predict and export take the run's weights with `--checkpoint RUN`"
    return f"{instead}: `{typed('ARCH')}`"


def networks_in(folder: str) -> list[str]:
    """The network files (.yaml, .yml) among `folder`'s first entries, by name (what `validate
    FOLDER` checks)."""
    found = first_entries(folder)
    return sorted(os.path.join(folder, e.name) for e in found if e.name.lower().endswith(SUFFIXES) and is_file_entry(e))


def _missing_run(arg: str, parent: str, network: str | None) -> None:
    """A missing `runs/NAME` whose folder holds runs, or `RUN/FILE` in a run: the nearest of
    those, not the bundled networks (raises; returns when `arg` looks like neither)."""
    if is_run_folder(parent):
        files = sorted(f for f in (*RUN_MARKS, "best.pt") if os.path.isfile(os.path.join(parent, f)))
        near = closest(os.path.basename(arg), files)
        raise CnnctlError.at(
            f"no file `{arg}`: the run `{parent}` holds {', '.join(files)}",
            hint=(f"did you mean `{os.path.join(parent, near)}`? " if near else "")
            + f"`{parent}` alone means its network and best weights",
        )
    runs = runs_in(parent)
    if not runs:
        return
    near = closest(os.path.basename(os.path.normpath(arg)), [os.path.basename(r) for r in runs])
    also = f"; `{network}` alone names the bundled network" if network else ""
    raise CnnctlError.at(
        f"no run `{arg}`: `{parent}` holds {_some(runs)}",
        hint=(f"did you mean `{os.path.join(parent, near)}`?" if near else "give one of them") + also,
    )
