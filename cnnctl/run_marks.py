"""How a run folder is told without reading much of it: the marks `cnnctl train` leaves in it
(RUN_MARKS), the records it writes about itself (RUN_RECORDS), its config.json (the input,
member and head its network trained with), a checkpoint by its first bytes, and the run a
path names. Light, so resolving an ARCH argument (cnnctl.catalog) can ask on every command's
start-up; reading a run's rows and status back is cnnctl.run_folders's.
"""

from __future__ import annotations

import os

from .errors import CnnctlError, Loc
from .files import first_entries, is_dir_entry

RUN_NETWORK = "network.yaml"  # a run folder's copy of the network it trained (cnnctl.train.saving writes it)


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


def recorded_input_named(arg: str) -> str:
    """How a message names the input of the run `arg` names (its config.json's `input`): by the
    file and key to fix, never as an option that was not given."""
    folder = run_of(arg) or arg
    return f"{os.path.join(folder, 'config.json')}: the run's input (`input`)"


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
    from .catalog import SUFFIXES  # a network file's (here: catalog imports this module)

    if suffix in SUFFIXES:
        return False
    from .files import Unread, open_regular

    try:
        with open_regular(path) as f:  # never a FIFO: a network file's name is tested here
            return f.read(4).startswith(CHECKPOINT_MAGIC)
    except (Unread, OSError):
        return False  # reading it again says why


def cut_short(path: str) -> bool:
    """Whether the checkpoint at `path`, a zip archive as torch.save writes one, lacks the
    directory a zip ends with: a copy, a kill or a full disk stopped it mid-write. Cheap (its
    end is read, not its tensors); False for a legacy pickle checkpoint, which this cannot tell."""
    import zipfile

    from .files import Unread, open_regular

    try:
        # never a FIFO (`runs` asks of every run's checkpoints), nor a link out of the run folder
        with open_regular(path) as f:
            return f.read(4) == CHECKPOINT_MAGIC[0] and not zipfile.is_zipfile(f)
    except (Unread, OSError):
        return False


def intact_other(path: str) -> str | None:
    """The run's other checkpoint (last.pt for best.pt, and back), where it is whole: what to
    use instead of a damaged `path`; None otherwise."""
    folder, name = os.path.split(path)
    other = {"best.pt": "last.pt", "last.pt": "best.pt"}.get(name)
    if other is None:
        return None
    other = os.path.join(folder, other)
    return other if os.path.isfile(other) and not cut_short(other) else None


# What `cnnctl train` writes into a run folder first; network.yaml too, which makes a folder a run
# for ARCH (run_of): a run folder is the same folder for every command, whatever else it lost.
RUN_MARKS = ("config.json", "last.pt", RUN_NETWORK)


def is_run_folder(folder: str | os.PathLike[str]) -> bool:
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


def runs_in(folder: str) -> list[str]:
    """The run folders among `folder`'s first entries, by name, as paths through it (`runs/l5`):
    a bounded look for start-up's hints and completion, nothing read of them. `cnnctl runs` lists
    every one and reads each (run_folders.list_runs, which needs more than these light marks)."""
    paths = sorted(os.path.join(folder, e.name) for e in first_entries(folder) if is_dir_entry(e))
    return [path for path in paths if is_run_folder(path)]
