"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint holds tensors and plain containers only, so `torch.load(weights_only=True)`
reads it; a truncated or foreign file is a CnnctlError, never a traceback.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..checkpoint_record import FORMAT, NETWORK_MUST_BE, NETWORK_WHAT, is_int, is_list, is_network, is_real, once
from ..errors import CnnctlError, Loc
from ..exchange.weights import load_pt, match_weights, non_finite
from ..files import REGULAR, not_regular
from ..limits import MAX_CHANNEL_VALUES, MAX_CLASSES, MAX_ROWS
from ..run_marks import intact_other, refuse_run_record
from ..shapes import format_shape
from .config import RESUME_SETTINGS, saved_config_problems
from .rundir import raise_write_failure

if TYPE_CHECKING:
    from ..graph import Graph

EVALUATE, RESUME = "evaluate", "resume"  # what a checkpoint is read for: `evaluate` also means predict

# What only resuming a run reads: the optimizer's state (Adam's two moments are twice the weights),
# the scheduler's and the gradient scaler's. best.pt is written without them (as Ultralytics strips
# its best.pt): a run resumes from its last.pt, and every other reader wants the weights alone.
OPTIMIZATION = ("optimizer", "scheduler", "scaler")


def save_checkpoint(path: Path, state: Checkpoint | dict[str, Any]) -> None:
    """Write `state` to `path` through a temporary file in the same folder, then rename:
    a reader (or a crash) never sees half a file. A write that fails (a full disk) removes
    the temporary file, leaves `path` as it was, and is a WriteFailed."""
    if isinstance(state, Checkpoint):
        state = state.as_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        raise_write_failure(exc, path, tmp)
        raise


def checkpoint_file(path: str | Path) -> Path:
    """The file a checkpoint argument means: a run folder means its `last.pt`."""
    path = Path(path)
    return path / "last.pt" if path.is_dir() else path


def weights_file(path: str | Path) -> Path:
    """The weights a run means to evaluate, predict or export with: a run folder's `best.pt`
    (the best validation accuracy, Ultralytics' convention), else its `last.pt`; a file itself."""
    path = Path(path)
    if path.is_dir() and (path / "best.pt").is_file():
        return path / "best.pt"
    return checkpoint_file(path)


def run_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The weights of a run folder (its best.pt, else its last.pt: weights_file) or a cnnctl
    checkpoint given as --weights (exchange.weights.read_state's `read_run`), read and checked as
    evaluate reads them."""
    return dict(load_checkpoint(weights_file(folder), EVALUATE)["model"])


def damaged(what: str, path: str | Path, purpose: str = RESUME) -> CnnctlError:
    """`the checkpoint is damaged: ...`, at its file, with what to do instead."""
    file = str(checkpoint_file(path))
    other = intact_other(file)  # a run's best.pt or last.pt: the other one, where it is there and not cut short
    if other is None:  # a file of its own (--weights x.pt), or a run without another to use
        instead = "train again" if purpose == EVALUATE else "start a new run"
    elif purpose == RESUME and os.path.basename(other) == "best.pt":  # weights without the optimizer's state
        instead = f"start a new run from the weights of its best epoch: --weights {other}"
    else:
        instead = f"{'give' if purpose == EVALUATE else 'resume from'} the run's {os.path.basename(other)} ({other})"
        instead += ", or train again" if purpose == EVALUATE else ", or start a new run"
    return CnnctlError.at(f"the checkpoint is damaged: {what}", Loc(file), hint=instead)


class NotCheckpoint(CnnctlError):
    """A file that loads but is not one cnnctl wrote (a state_dict saved with torch.save): as
    --weights, weights that record nothing (weights_from.recorded_state), where a damaged
    checkpoint is said to be damaged."""


def load_checkpoint(path: str | Path, purpose: str = RESUME) -> dict[str, Any]:
    """A checkpoint written by cnnctl; a run folder means its `last.pt`.

    Its structure is checked for `purpose` (RESUME: everything training goes on from;
    EVALUATE: the weights and the data settings): a damaged file is one CnnctlError naming
    what is missing or wrong, never a KeyError later.
    """
    path = checkpoint_file(path)
    if not path.is_file():
        from ..run_folders import lock_held

        if path.name == "last.pt" and lock_held(path.parent):  # a run under way, before its first checkpoint
            from .rundir import in_use

            raise in_use(path.parent)
        from ..run_folders import LOCK

        # A run stopped or killed before its first epoch ended: its first files, or only its lock
        # (killed while it read its data). Nothing was saved; its folder takes the run again.
        if path.name == "last.pt" and any((path.parent / name).is_file() for name in ("config.json", LOCK)):
            raise CnnctlError.at(
                "no epoch of this run finished: it was stopped before its first checkpoint (or killed), so nothing "
                "was saved and there is nothing to resume",
                Loc(str(path.parent)),
                hint=f"start it again: the command that started it, without --resume, with --out {path.parent} "
                "(the folder is taken as it is)",
            )
        kind = not_regular(path)  # a FIFO, a device: said as what it is
        if kind is not None:
            raise CnnctlError.at(f"{kind}, not a checkpoint", Loc(str(path)), hint=REGULAR)
        raise CnnctlError.at("no such checkpoint", Loc(str(path)), hint="give a run folder or its last.pt / best.pt")
    refuse_run_record(str(path), "a checkpoint")
    other = intact_other(str(path))  # a damaged best.pt: the run's last.pt may be whole, and the other way round
    instead = f"; the run's {os.path.basename(other)} is whole: give {other}" if other else ""
    state = load_pt(
        str(path), "not a readable cnnctl checkpoint", hint="was it cut short, or made by another tool?" + instead
    )  # truncated, foreign, or asking for code (refused)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise NotCheckpoint.at(
            "not a cnnctl checkpoint", Loc(str(path)), hint="cnnctl reads the last.pt/best.pt it writes"
        )
    _steps_from_position(state)
    if purpose == RESUME and path.name == "best.pt" and "optimizer" not in state:
        raise _best_not_resumable(path)
    check_structure(state, path, purpose)
    return state


def _best_not_resumable(path: Path) -> CnnctlError:
    """A best.pt given to --resume: written without the optimizer's state (OPTIMIZATION), it is
    no place to go on from; the run's last.pt is."""
    last = intact_other(str(path))
    return CnnctlError.at(
        "best.pt holds the weights of the run's best epoch without the optimizer's state a run resumes with",
        Loc(str(path)),
        hint=(f"resume from the run's last.pt: --resume {path.parent}" if last else "start a new run")
        + f", or start a new run from these weights: --weights {path}",
    )


def _steps_from_position(state: dict[str, Any]) -> None:
    """Checkpoints written before batch sources held the place in their epoch as images of
    its order (`position`), always whole steps of batch x workers images: it becomes `step`."""
    config, position = state.get("config"), state.get("position")
    if "step" in state or not is_int(position) or not isinstance(config, dict):
        return
    per_step = config.get("batch_size")
    if is_int(per_step, 1) and is_int(state.get("workers", 1), 1):
        per_step *= state.get("workers", 1)
        if position % per_step == 0:
            state["step"] = position // per_step
            del state["position"]


def _is_weights(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items())


def _is_optimizer(v: Any) -> bool:
    params = once(lambda p: is_list(p, is_int, True))
    return (
        isinstance(v, dict)
        and isinstance(v.get("state"), dict)
        and all(isinstance(entry, dict) for entry in v["state"].values())
        and is_list(v.get("param_groups"), once(lambda g: isinstance(g, dict) and params(g.get("params"))))
    )


def _is_stats(v: Any) -> bool:
    # `weight` (the loss's denominator: metrics.EpochStats) since class weights weigh the
    # epoch's loss too; an older file's reads as `seen`, the plain mean's. Once an example is
    # seen the loss is loss_sum / weight: a weight of 0 would divide by zero on --resume, a
    # negative one turn the loss's sign, so it must be a positive finite number (0 before any)
    if not (
        isinstance(v, dict)
        and {"loss_sum", "correct", "seen"} <= set(v) <= {"loss_sum", "correct", "seen", "weight"}
        and is_real(v["loss_sum"])
        and is_int(v["correct"])
        and is_int(v["seen"])
    ):
        return False
    weight = v.get("weight", v["seen"])
    return is_real(weight) and math.isfinite(weight) and (weight > 0 if v["seen"] else weight >= 0)


def _is_rng(v: Any) -> bool:
    return isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.shape == torch.get_rng_state().shape


def _part(what: str, must_be: str, test: Callable[[Any], bool], needed: tuple[str, ...] = (), default: Any = None):
    """A field of Checkpoint: what it holds (in words), what it must be, the test of that, the
    purposes it is needed for, and what a file without it reads as."""
    return field(default=default, metadata={"what": what, "must_be": must_be, "test": test, "needed": needed})


BOTH = (EVALUATE, RESUME)


@dataclass(kw_only=True)
class Checkpoint:
    """What a checkpoint holds: the one description of its layout. Each field is a key of
    the file (a dict saved with torch.save); the run saves one, check_structure checks a
    loaded file against the fields, resume and evaluate read them. A key other than these is
    not read; a field a file lacks (an older one) reads as its default.

    The network record is what recognises the network (its weights alone cannot tell max
    from avg pooling, nor one activation from another): without it a file is not read at all.
    """

    model: dict | None = _part("weights", "a mapping of names to tensors", _is_weights, BOTH)
    config: dict | None = _part("settings", "a mapping of settings", lambda v: isinstance(v, dict), BOTH)
    network: dict | None = _part(NETWORK_WHAT, NETWORK_MUST_BE, is_network, BOTH)
    optimizer: dict | None = _part("optimizer state", "an optimizer's state_dict", _is_optimizer, (RESUME,))
    scheduler: dict | None = _part(
        "scheduler state", "a scheduler's state_dict", lambda v: v is None or isinstance(v, dict)
    )
    scaler: dict | None = _part(
        "gradient scaler state", "a scaler's state_dict", lambda v: v is None or isinstance(v, dict)
    )
    epoch: int | None = _part("epoch", "a whole number", is_int, (RESUME,))
    step: int | None = _part("steps done in its epoch", "a whole number", is_int, (RESUME,))
    stats: dict | None = _part(
        "running totals",
        "`loss_sum`, `correct`, `seen` and maybe `weight` (positive once an example is seen)",
        _is_stats,
        (RESUME,),
    )
    history: list | None = _part(
        "epoch results",
        f"a list of epochs ({MAX_ROWS:,} at most)",
        lambda v: is_list(v, lambda r: isinstance(r, dict), True, most=MAX_ROWS),
        (RESUME,),
    )
    # the val accuracy of the epoch best.pt holds; None: none (a file written before says -1: read as None, `of`)
    best: float | None = _part("best accuracy", "a number or none", lambda v: v is None or is_real(v), (RESUME,))
    # the seconds its epoch had run when saved mid-epoch: a resumed epoch's time counts them
    epoch_seconds: float = _part("time into its epoch", "a number", is_real, default=0.0)
    # the unreadable images its epoch had found (first found in it) when saved mid-epoch, every
    # worker's: a resumed epoch's `found N this epoch` counts them (a stream's, Skipped.epoch_new)
    epoch_skipped: int = _part("images skipped in its epoch", "a whole number", is_int, default=0)
    rng: Any = _part("random state", "this PyTorch's random state (a byte tensor)", _is_rng, (RESUME,))
    arch: str | None = _part("network name", "a name", lambda v: isinstance(v, str))
    classes: list | None = _part(
        "class names",
        f"a list of names ({MAX_CLASSES:,} at most)",
        lambda v: is_list(v, lambda x: isinstance(x, str), most=MAX_CLASSES),
    )
    mean: list | None = _part(
        "channel means",
        f"a list of numbers ({MAX_CHANNEL_VALUES:,} at most)",
        lambda v: is_list(v, lambda x: is_real(x) and math.isfinite(x), most=MAX_CHANNEL_VALUES),
    )
    std: list | None = _part(
        "channel deviations",
        f"a list of positive numbers ({MAX_CHANNEL_VALUES:,} at most)",
        lambda v: is_list(v, lambda x: is_real(x) and x > 0, most=MAX_CHANNEL_VALUES),
    )
    workers: int = _part("number of workers", "a whole number of at least 1", lambda v: is_int(v, 1), default=1)

    def as_dict(self) -> dict[str, Any]:
        """The file's contents (without the format tag save_checkpoint adds)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def of(cls, state: dict[str, Any]) -> Checkpoint:
        """The record of a loaded file (load_checkpoint has checked it); keys it does not know are left
        out. A `best` below 0 is "no accuracy" as files written before said it (-1): None, as now."""
        record = cls(**{f.name: state[f.name] for f in fields(cls) if f.name in state})
        if record.best is not None and record.best < 0:
            record.best = None
        return record


def check_structure(state: dict[str, Any], path: Path, purpose: str = RESUME) -> None:
    """A CnnctlError listing what a checkpoint lacks, or holds in the wrong form, for `purpose`."""
    parts = [(f.name, f.metadata) for f in fields(Checkpoint)]
    missing = [f"`{key}` ({part['what']})" for key, part in parts if purpose in part["needed"] and key not in state]
    problems = [f"it has no {', '.join(missing)}"] if missing else []
    for key, part in parts:
        if key in state and not part["test"](state[key]):
            problems.append(f"its `{key}` is not {part['must_be']}")
    if _is_weights(state.get("model")):
        problems += [f"its tensor `{name}` holds {what}" for name, what in non_finite(state["model"])]
    if isinstance(state.get("config"), dict):
        problems += saved_config_problems(state["config"], RESUME_SETTINGS if purpose == RESUME else ("data",))
    if problems:
        raise damaged("; ".join(problems), path, purpose)


def network_record(graph: Graph) -> dict[str, Any]:
    """What a checkpoint keeps of its network, to recognise it again: the input and, per
    layer, its path, shorthand and inputs. Weights alone cannot tell max from avg pooling."""
    return {
        "input": list(graph.input_shape),
        "layers": [[node.path, node.text, list(node.inputs)] for node in graph.nodes],
    }


# The commands with an --input option: the hints offer it.
TAKES_INPUT = ("train", "evaluate", "predict", "export", "bench", "weights")
TAKES_RUN = ("evaluate", "predict", "export")  # the commands that take a run folder for its network and weights


def at_input_hint(command: str, shape: str) -> str:
    """How `command` runs a network at the input `shape` (`28x28x1`) weights were trained at:
    --input where it has the option (TAKES_INPUT), else a copy of the network file at that input."""
    if command in TAKES_INPUT:
        return f"give --input {shape}"
    return f"`{command}` takes the input size from the network file: use a copy of it with `input: {shape}`"


def run_alone_hint(command: str, run: str | Path) -> str:
    """`command` given the run folder `run` alone (TAKES_RUN): its network, at the input it was trained at."""
    return f"give the run alone: `cnnctl {command} {run}` builds its network at its input"


def check_same_network(state: dict[str, Any], graph: Graph, path: str | Path, command: str = "train") -> None:
    """A CnnctlError naming the first difference between the checkpoint's network and `graph`.

    `command` is the one reading it: only those of TAKES_INPUT have an --input option to suggest.
    """
    saved = state["network"]  # load_checkpoint refuses a checkpoint without it
    here = network_record(graph)
    trained = f"it was trained for `{state.get('arch', '?')}`; use that ARCH (its run folder keeps architecture.json)"
    arch = state.get("arch")
    if arch and arch != graph.title and saved["input"] != here["input"]:  # another network, not another size
        from ..run_marks import is_run_folder

        run = Path(path).parent
        if command == "train":
            hint = f"leave ARCH out: `cnnctl train --resume {run}` resumes the run's own network"
        else:
            hint = f"give `{arch}` as ARCH" + (
                f", or the run alone: `cnnctl {command} {run}`" if is_run_folder(run) else ""
            )
        raise CnnctlError.at(
            f"the checkpoint is `{arch}`'s (input {format_shape(saved['input'])}), not `{graph.title}`'s "
            f"(input {format_shape(here['input'])})",
            Loc(str(path)),
            hint=hint,
        )
    if saved["input"] != here["input"]:  # the same network (or one not named) at another input
        from ..run_marks import is_run_folder

        shape, run = format_shape(saved["input"]), Path(path).parent
        resize = at_input_hint(command, shape)
        if not is_run_folder(str(run)):  # a checkpoint alone: which network it was, is all there is to add
            alone = trained if arch and arch != graph.title else None
        elif command == "train":
            alone = f"leave ARCH out: `cnnctl train --resume {run}` resumes the run's own network"
        else:
            alone = run_alone_hint(command, run)
        raise CnnctlError.at(
            f"the checkpoint was trained at input {shape}; this network takes {format_shape(here['input'])}",
            Loc(str(path)),
            hint=resize + (f", or {alone}" if alone else ""),
        )
    for (path_a, text_a, in_a), (path_b, text_b, in_b) in zip(saved["layers"], here["layers"], strict=False):
        if (path_a, text_a, in_a) != (path_b, text_b, in_b):
            what = f"layer `{path_b}` is `{text_b}` here" if path_a == path_b and text_a != text_b else None
            raise CnnctlError.at(
                "the checkpoint was trained on another network: "
                + (f"{what}, `{text_a}` in the checkpoint" if what else f"`{path_a}` there, `{path_b}` here"),
                Loc(str(path)),
                hint=trained,
            )
    if len(saved["layers"]) != len(here["layers"]):
        raise CnnctlError.at(
            f"the checkpoint was trained on another network: {len(saved['layers'])} layers there, "
            f"{len(here['layers'])} here",
            Loc(str(path)),
            hint=trained,
        )


def load_weights(
    model: torch.nn.Module, state: dict[str, Any], path: str | Path, arch: str, command: str = "train"
) -> None:
    """Put the checkpoint's weights into `model`, all or nothing, or say precisely how they do
    not fit: the same network (its record), then every tensor by name and shape (match_weights).

    `command` is the one reading it (train resumes; evaluate and predict only need the weights).
    """
    graph = getattr(model, "graph", None)
    if graph is not None:
        check_same_network(state, graph, path, command)
    saved: dict[str, torch.Tensor] = state["model"]
    report = match_weights(saved, model.state_dict())
    if not report.complete:
        reshaped = [f"{t.name} {format_shape(t.given)} vs {format_shape(t.own)}" for t in report.reshaped]
        parts = [
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (
                ("missing", report.missing),
                ("not in this network", report.unexpected),
                ("shape", reshaped),
            )
            if keys
        ]
        raise CnnctlError.at(
            f"the checkpoint does not fit `{arch}` ({'; '.join(parts)})",
            Loc(str(path)),
            hint=f"it was trained for `{state.get('arch', '?')}`; use that ARCH",
        )
    model.load_state_dict(saved)
    if command == "train" and "optimizer" in state:
        check_optimizer_fits(model, state["optimizer"], path)


def check_optimizer_fits(model: torch.nn.Module, saved: dict[str, Any], path: str | Path) -> None:
    """The saved optimizer state is for these weights: as many parameters, and each moment
    or momentum buffer shaped like its parameter (PyTorch would only fail at the first step)."""
    params = list(model.parameters())
    count = sum(len(group["params"]) for group in saved["param_groups"])  # counted before a list of them is made
    indices = [i for group in saved["param_groups"] for i in group["params"]] if count == len(params) else []
    wrong = None
    if count != len(params):
        wrong = f"it is for {count} parameter tensors, the network has {len(params)}"
    for index, param in zip(indices, params, strict=False):
        for name, value in saved["state"].get(index, {}).items():
            if wrong is None and isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                shape, own = (format_shape(t.shape) for t in (value, param))
                wrong = f"its `{name}` for parameter {index} is {shape}, the parameter {own}"
    if wrong:
        raise damaged(f"its optimizer state does not fit its weights ({wrong})", path)


def resume_settings(
    folder: Path, state: dict[str, Any] | None = None, build: Callable[[dict[str, int] | None], Any] | None = None
) -> tuple[dict[str, Any], str | None]:
    """The settings of the run in `folder` that build its network (config.json's `input`,
    `member` and `head`: run_marks.recorded_input and the like), and None; or, where config.json
    is missing or unreadable, the same told from its checkpoint (`state`, else its last.pt),
    with a note that says so (the run writes config.json again from them).

    The checkpoint records its settings, its network's input and layers, its network's name
    (`family_b3`: the member) and its classes; the head is the layer the run would have made
    anew (finetune.new_head), kept only where the network so built is the one recorded.
    `build(widths)` builds the network given as ARCH; without it (`--resume RUN` alone) the
    run's network.yaml is built, and a network the checkpoint cannot tell is one message."""
    from ..run_marks import RUN_NETWORK, read_run_config

    config, why, where = read_run_config(str(folder))
    if why is None:
        return config, None
    given = build is not None
    state = load_checkpoint(folder) if state is None else state
    settings = dict(state["config"]) | {"input": format_shape(state["network"]["input"]),
                                        "processes": state.get("workers", 1)}  # fmt: skip
    if build is None:
        from ..api import load_text
        from ..notation.source import read_text

        network = str(Path(folder) / RUN_NETWORK)
        text = read_text(network, network)
        choice = member_choice(text, network, str(state.get("arch") or ""))
        given = _settings_in(str(state.get("arch") or ""))  # settings on top of the member its name tells
        if choice is not None:
            settings["member"] = choice

        def build(widths: dict[str, int] | None) -> Any:
            return load_text(text, network, settings["input"], widths, choice)

    base = build(None)
    if network_record(base) != state["network"]:  # not the network as written: a head made anew, or another
        head = _recorded_head(state, base, build, settings.get("head"))
        if head is not None:
            settings["head"] = head
        elif not given:
            raise CnnctlError.at(
                f"the run's config.json {why}, and its last.pt does not tell the family member or head its "
                "network trained with",
                where,
                hint=f"give the network it trained as ARCH (a family's member as FILE:MEMBER): `cnnctl train ARCH "
                f"--resume {folder}`; or put the run's config.json back",
            )
    said = f"{where.file}: config.json {why}: the run's input, member and head were told from {checkpoint_file(folder)}"
    return settings, said + ", and config.json is written again"


def member_choice(text: str, file: str, title: str) -> str | None:
    """The family member and settings (api.load_text's `member`: `b3,width=1.1`) that build the
    network titled `title` (Graph.title, a checkpoint's `arch`: `fam_b3:width=1.1`) from the file
    `text`; None for a network as written."""
    from ..notation.parse import parse_file_text
    from ..notation.variants import members

    own = parse_file_text(text, file)
    given = _settings_in(title)  # the settings given on top of it, as Graph.title adds them: `:width=1.1`
    named = title[: len(title) - len(given) - 1] if given else title  # `fam_b3`: its file's name and `_b3`
    member = max((m for m in members(own) if named.endswith(f"_{m}")), key=len, default=None)
    return ",".join(part for part in (member, given) if part) or None


def _settings_in(title: str) -> str:
    """The settings a network's title (`cnnctl.graph.Graph.title`) gives on top of its member:
    `width=1.1,depth=2` of `fam_b3:width=1.1,depth=2`; "" where it has none (a `:` in a name
    that `name=value` words do not follow is the name's own)."""
    from ..notation.variants import choice_words

    _, colon, given = title.rpartition(":")
    return given if colon and all("=" in word for word in choice_words(given)) else ""


def _recorded_head(state: dict[str, Any], base, build: Callable, path: Any) -> dict[str, Any] | None:
    """The head a run made anew (config.json's `head`), told from its checkpoint: the layer
    finetune.new_head chooses in `base` (the run's --head, else the last fc or conv), at the
    number of its classes, where the network so built is the one the checkpoint records."""
    from .finetune import new_head

    classes = len(state.get("classes") or ())
    try:
        made = new_head(base, classes, path if isinstance(path, str) else None) if classes else None
        if made is None or network_record(build({made[0]: classes})) != state["network"]:
            return None
    except CnnctlError:  # no such layer in this network: not the run's head
        return None
    return {"layer": made[0], "classes": classes}
