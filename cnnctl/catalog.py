"""Bundled architectures: where they are, their names and aliases, and resolving a CLI argument.

The YAML files live in the repository's `architectures/` folder; a wheel carries them as
`cnnctl/architectures/` (see pyproject.toml), so both places are looked at.
"""

from __future__ import annotations

import glob
import os

from .errors import CnnctlError, Loc, closest, did_you_mean

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


def run_config(arg: str) -> dict | None:
    """The config.json of the run `arg` names (a run folder or a checkpoint in one); None for
    another `arg`. A run whose config.json is missing or cannot be read as a JSON object is one
    message: it records the input, member and head the run's network is built with, so the
    network cannot be built as it trained, nor its weights put in it (`train --resume` tells
    them from the run's last.pt instead: cnnctl.train.checkpoint.resume_settings)."""
    folder = run_of(arg)
    if folder is None:
        return None
    config, why, where = read_run_config(folder)
    if why is None:
        return config
    raise config_refused(folder, why, where)


def config_refused(folder: str, why: str, where: Loc) -> CnnctlError:
    """The message for a run folder whose config.json `why` (read_run_config) at `where`."""
    from pathlib import Path

    from .run_folders import network_name

    network = network_name(Path(folder)) or "ARCH"
    weights = next((f for f in ("best.pt", "last.pt") if os.path.isfile(os.path.join(folder, f))), "best.pt")
    return CnnctlError.at(
        f"the run's config.json {why}: it records the input, family member and head its network trained with, "
        "so the run cannot be used without it",
        where,
        hint=f"give the network and the weights apart: `{network} --checkpoint {os.path.join(folder, weights)}` "
        "(evaluate, predict, export), or put the run's config.json back",
    )


def read_run_config(folder: str) -> tuple[dict, str | None, Loc]:
    """A run folder's config.json: (its settings, None, its place), or ({}, why it cannot be
    read, where) for one missing, not JSON, or not an object. The one reader of the file."""
    import json

    from .files import Unread, regular_text
    from .limits import MAX_RECORD_BYTES

    config = os.path.join(folder, "config.json")
    where = Loc(config)
    try:
        value = json.loads(regular_text(config, MAX_RECORD_BYTES))  # a few hundred bytes as a run writes it
        why = None if isinstance(value, dict) else f"holds a JSON {type(value).__name__}, not an object of settings"
    except Unread as refused:  # missing, a folder, a FIFO, unreadable, too large to be one
        why = "is missing" if refused.message == "no such file" else f"cannot be read ({refused.message})"
    except json.JSONDecodeError as exc:  # a file cut short, or written over
        why, where = f"is not JSON ({exc.msg})", Loc(config, exc.lineno, exc.colno)
    except (ValueError, RecursionError) as exc:  # not UTF-8, and what json_trouble says
        why = f"cannot be read ({json_trouble(exc)})"
    return (value, None, where) if why is None else ({}, why, where)


def json_trouble(exc: ValueError | RecursionError) -> str:
    """Why JSON text that parses no further cannot be read, in words: Python refuses an integer
    of more than 4,300 digits (a ValueError that is no JSONDecodeError) and recurses once per
    `[` or `{` (RecursionError), so a file of either would otherwise end in a traceback."""
    if isinstance(exc, RecursionError):
        return "its arrays or objects are nested too deeply to read"
    if "digits" in str(exc) and "int" in str(exc):  # "Exceeds the limit (4300 digits) for integer string conversion"
        return "it holds an integer of more than 4,300 digits"
    return str(exc)


def run_input(arg: str) -> str | None:
    """The input a run trained at (its config.json's `input`), if `arg` is a run folder or a
    checkpoint in one; else None (the network file's own input, then)."""
    return recorded_input(run_config(arg) or {})


def run_member(arg: str) -> str | None:
    """The member of a family a run trained (its config.json's `member`: `b3`, with any
    settings: `b3,dropout=0.1`), if `arg` is a run folder or a checkpoint in one; else None."""
    return recorded_member(run_config(arg) or {})


def run_head(arg: str) -> dict[str, int] | None:
    """The head a run made anew for its data's classes (its config.json's `head`: the layer's
    path and its width), as build_graph's `widths`; None for another `arg`, or a run without."""
    return recorded_head(run_config(arg) or {})


def recorded_input(config: dict) -> str | None:
    """A run's settings' `input` (`28x28x1`), if they hold one."""
    value = config.get("input")
    return value if isinstance(value, str) else None


def recorded_member(config: dict) -> str | None:
    """A run's settings' `member` (`b3`, `b3,dropout=0.1`), if they hold one."""
    value = config.get("member")
    return value if isinstance(value, str) and value else None


def recorded_head(config: dict) -> dict[str, int] | None:
    """A run's settings' `head` (`{"layer": "fc", "classes": 10}`) as build_graph's `widths`."""
    head = config.get("head")
    layer, width = (head.get("layer"), head.get("classes")) if isinstance(head, dict) else (None, None)
    return {layer: width} if isinstance(layer, str) and isinstance(width, int) and width > 0 else None


def run_of(arg: str) -> str | None:
    """The run folder `arg` names: a folder holding the network a run trained (RUN_NETWORK), or
    the folder of a checkpoint in one (`runs/l5/best.pt` means `runs/l5`); None otherwise."""
    folder = (os.path.dirname(arg) or ".") if os.path.isfile(arg) and is_checkpoint(arg) else arg
    return folder if os.path.isfile(os.path.join(folder, RUN_NETWORK)) else None


CHECKPOINT_SUFFIXES = (".pt", ".pth")
# What torch.save writes first: a zip archive (the default since torch 1.6), or a pickle
# (protocol 2 to 5: the legacy format, and a bare pickle).
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def is_checkpoint(path: str) -> bool:
    """Whether the file `path` holds saved tensors (by its suffix, else its first bytes): what a
    run's best.pt and last.pt are, and no network file is."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in CHECKPOINT_SUFFIXES:
        return True
    if suffix in SUFFIXES:
        return False
    from .files import Unread, open_regular

    try:
        with open_regular(path) as f:  # never a FIFO: a network file's name is tested here
            return f.read(4).startswith(CHECKPOINT_MAGIC)
    except (Unread, OSError):
        return False  # reading it again says why


# What `cnnctl train` writes into a run folder first; network.yaml too, which makes a folder a run
# for ARCH (run_of): a run folder is the same folder for every command, whatever else it lost.
RUN_MARKS = ("config.json", "last.pt", RUN_NETWORK)
SHOWN_RUNS = 5  # run folders a message names


def is_run_folder(folder: str) -> bool:
    """A folder `cnnctl train` wrote (a finished run, or one under way or stopped)."""
    return os.path.isdir(folder) and any(os.path.isfile(os.path.join(folder, mark)) for mark in RUN_MARKS)


# What a run writes about itself, none of it a network, a checkpoint or weights: given as one,
# the run folder is what was meant (its network and best weights).
RUN_RECORDS = {
    "config.json": "its settings",
    "status.json": "how it stands",
    "metrics.jsonl": "its epochs' metrics",
    "results.csv": "its epochs' metrics",
    "architecture.json": "its network, expanded",
    "weights.txt": "where its --weights went",
    "curves.png": "its curves",
}


def refuse_run_record(path: str, wanted: str) -> None:
    """One message where a file a run writes about itself (RUN_RECORDS) is given as `wanted` (a
    network file, a checkpoint, weights): the run folder is what to give. Returns otherwise."""
    name, folder = os.path.basename(path), os.path.dirname(path) or "."
    if name not in RUN_RECORDS or not os.path.isfile(path) or not is_run_folder(folder):
        return
    raise CnnctlError.at(
        f"this is a run's {name} ({RUN_RECORDS[name]}), not {wanted}: give the run folder `{folder}`",
        Loc(path),
        hint=f"a run folder stands for its network and its best weights (`{os.path.join(folder, 'best.pt')}` "
        "for the checkpoint itself)",
    )


LOOKED_AT = 1000  # entries of a folder read for a message: a folder of a million files is not walked


def first_entries(folder: str) -> list[os.DirEntry]:
    """The first LOOKED_AT entries of `folder` but hidden ones (none when it cannot be read)."""
    from itertools import islice

    try:
        with os.scandir(folder) as found:
            return [e for e in islice(found, LOOKED_AT) if not e.name.startswith(".")]
    except OSError:
        return []


def is_dir_entry(entry: os.DirEntry) -> bool:
    """Whether `entry` is a folder (through a link): False for a loop of links or a link to
    nowhere, which os.DirEntry.is_dir raises for (ELOOP) where the user's folder holds one."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def is_file_entry(entry: os.DirEntry) -> bool:
    """Whether `entry` is a file (through a link): False for a loop of links (see is_dir_entry)."""
    try:
        return entry.is_file()
    except OSError:
        return False


def runs_in(folder: str) -> list[str]:
    """The run folders among `folder`'s first entries, by name, as paths through it (`runs/l5`)."""
    paths = sorted(os.path.join(folder, e.name) for e in first_entries(folder) if is_dir_entry(e))
    return [path for path in paths if is_run_folder(path)]


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


def resolve_member(arg: str) -> tuple[str, str, str | None]:
    """A CLI argument -> (file, name to show in messages, the member of a family it chooses).

    An existing file wins; otherwise a name, with or without `.yaml`, is looked up among
    the bundled architectures and their aliases (`resnet` -> resnet50, `lenet` -> lenet5), then
    the members of the bundled families (`efficientnet_b3`: efficientnet.yaml's `b3`).
    `ARCH:MEMBER` chooses a member of any family file (`my_family.yaml:b3`), with settings of
    its arguments (`efficientnet_b3:dropout=0.1`, `efficientnet.yaml:width=1.3,depth=1.5`;
    `cnnctl.notation.variants`). A run folder, or a checkpoint in one, means the network it
    trained, the member it recorded.
    """
    if not arg.strip():
        raise CnnctlError.at("the architecture is an empty argument", hint="a YAML file, or a name from `cnnctl list`")
    run = run_of(arg)
    if run is not None:  # a run folder, or a checkpoint in one: the network it trained
        return os.path.join(run, RUN_NETWORK), os.path.join(run, RUN_NETWORK), run_member(arg)
    base, colon, choice = arg.rpartition(":")
    if colon and base and not os.path.exists(arg):  # `FILE:MEMBER`; a file whose name has a `:` is itself
        file, display, member = _settable(base) or resolve_member(base)
        return file, display, f"{member},{choice}" if member else choice
    return _resolve(arg)


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
    stem = os.path.basename(os.path.normpath(arg))
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    name = ALIASES.get(stem.lower(), stem.lower())
    files = bundled()
    if os.path.isdir(arg):
        if name in files and "/" not in arg:  # a bare name; the folder may be a run named after the network
            return files[name], shown_bundled(files[name]), None
        raise _folder_error(arg)
    if os.path.exists(arg):
        raise CnnctlError.at(f"`{arg}` is not a regular file (a device or a pipe?)")
    if os.path.islink(arg):
        raise _broken_link(arg)
    parent = os.path.dirname(os.path.normpath(arg))
    bare = parent in ("", ".") or not os.path.exists(parent)
    if name in files and bare:
        return files[name], shown_bundled(files[name]), None
    family = family_of(name, files) if bare else None
    if family is not None:  # a bundled member (`efficientnet_b3`): its family's file, the member
        return family[0], shown_bundled(family[0]), family[1]
    if parent not in ("", "."):
        _missing_run(arg, parent, files.get(name) and name)
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


def shown_bundled(path: str) -> str:
    """How a bundled network's file is named in headers, messages and JSON (`bundled: lenet5.yaml`):
    apart from a file of the same name in the working directory, which a bare name also reads."""
    return f"bundled: {os.path.basename(path)}"


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
            hint="name the network it trained too: `cnnctl evaluate ARCH --checkpoint RUN`",
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
    networks = _networks_in(folder)
    if networks:
        return CnnctlError.at(
            f"`{folder}` is a directory of network files: {_some(networks)}; give one of them", hint=_expected()
        )
    return CnnctlError.at(f"`{folder}` is a directory, not a network file", hint=_expected())


def _networks_in(folder: str) -> list[str]:
    """The network files (.yaml, .yml) among `folder`'s first entries, by name."""
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
