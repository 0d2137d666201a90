"""What `cnnctl train`'s arguments ask for, worked out before a run starts: the launcher's
options, the network to train (a run's own for `--resume RUN` alone) and the name the run knows
it by, the run's settings. Pure Python where no checkpoint is read: a mistake in the options or
the file's `train:` section is told before torch is imported."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CnnctlError

if TYPE_CHECKING:
    from ..graph import Graph
    from .config import TrainConfig


def launcher(given: dict[str, Any]) -> dict[str, Any] | None:
    """The launcher's options given (`given`: each by its parameter's name, None where not
    given), for LaunchOptions; None for a run in this one process. Options only a launch reads,
    without --nproc-per-node or --nnodes, are refused: one process has no workers to launch."""
    chosen = {name: value for name, value in given.items() if value is not None}
    if "nproc_per_node" in chosen or "nnodes" in chosen:
        return chosen
    if chosen:
        raise CnnctlError.at(
            f"{', '.join('--' + name.replace('_', '-') for name in chosen)} without --nproc-per-node: one process "
            "has no workers to launch",
            hint="add --nproc-per-node N (and --nnodes for several machines)",
        )
    return None


def network_to_train(
    arch: str | None, resume: str | None, input: str | None
) -> tuple[str, str | None, dict[str, int] | None, dict | None]:
    """The network to read (ARCH, or the run's network.yaml for `--resume RUN` alone), the input to
    read it at, its head's width, and the run's last.pt where it was read to tell them."""
    if arch is None and not resume:
        raise CnnctlError.at(
            "which network? give ARCH: a network file or a bundled name",
            hint="e.g. cnnctl train lenet5; a run is continued with --resume RUN alone",
        )
    if arch is not None:
        return arch, input, None, None
    return _resumed_network(resume, input)


def _resumed_network(resume: str, input: str | None) -> tuple[str, str | None, dict[str, int] | None, dict]:
    """ARCH, --input and the head's width for `train --resume RUN` given without ARCH: the
    run's network.yaml (its member, as FILE:MEMBER), the network it trains, at the input of its
    config.json, with its head, or as its last.pt tells them where config.json is lost
    (--input, if given, is checked against the checkpoint as ever); and that last.pt, read
    once here for the whole resume."""
    from ..run_marks import RUN_NETWORK, recorded_head, recorded_input, recorded_member
    from .checkpoint import load_checkpoint, resume_settings
    from .rundir import run_folder

    folder = run_folder(resume)
    state = load_checkpoint(resume)  # no run there, or a damaged one: its own message
    if not (folder / RUN_NETWORK).is_file():
        raise CnnctlError.at(
            f"the run `{folder}` does not keep its network ({RUN_NETWORK}): give the ARCH it trained",
            hint=f"cnnctl train ARCH --resume {resume}",
        )
    settings, _ = resume_settings(folder, state)  # the note is the run's to say (cnnctl.train.run_setup)
    member = recorded_member(settings)
    network = str(folder / RUN_NETWORK) + (f":{member}" if member else "")
    return network, input or recorded_input(settings), recorded_head(settings), state


def network_title(graph: Graph, arch: str | None, resume: str | None) -> str:
    """The name the run knows its network by: the network's (Graph.title); for `--resume RUN`
    alone, the name the run recorded (its file's name, which network.yaml lost)."""
    if arch is not None or not resume:
        return graph.title
    from ..run_folders import network_name
    from .rundir import run_folder

    return network_name(run_folder(resume)) or graph.title


def run_config(
    graph: Graph, overrides: dict[str, Any], resume: str | None, resumed: dict | None
) -> tuple[TrainConfig, dict | None]:
    """The run's settings (`overrides`: each setting's option, None where not given): a new
    run's from the defaults, the file's `train:` section and the options; a resumed run's from
    its checkpoint (`resumed`, where read already; read here otherwise, and returned)."""
    if resume and overrides["out"]:
        raise CnnctlError.at("--out and --resume together", hint="a resumed run continues in its own folder")
    if resume:  # the checkpoint's settings: torch reads it
        from .checkpoint import load_checkpoint
        from .resume_config import resumed_config

        resumed = load_checkpoint(resume) if resumed is None else resumed
        return resumed_config(resume, overrides, resumed), resumed
    from .config import resolve_config  # checked before torch is imported: a mistake is told in a tenth of a second

    return resolve_config(graph.train, overrides, graph.input_shape[2], graph.train_keys), None


def worker_args(arch: str | None, input: str | None, resume: str | None, format: str) -> list[str]:
    """The command each launched worker runs: the network, input and run as given, with every
    setting spelled out by the launcher (cnnctl.train.launch)."""
    args = ["train", *([arch] if arch is not None else []), *(["--input", input] if input else [])]
    return [*args, *(["--resume", resume] if resume else []), "--format", format]


def run_folder_named(resume: str | None, config: TrainConfig | None) -> Path | None:
    """The folder a train command writes to, where it is named before the run starts (--resume,
    --out); None otherwise."""
    if resume:
        from .rundir import run_folder

        return run_folder(resume)
    return Path(config.out) if config is not None and config.out else None
