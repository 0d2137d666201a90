"""A resumed run's settings: those its checkpoint recorded, the few RESUMABLE ones changed, and
the per-worker batch that keeps its images per step on another number of workers."""

from __future__ import annotations

from typing import Any

from ..errors import CnnctlError
from .checkpoint import Checkpoint, load_checkpoint
from .config import TrainConfig, absolute_data_paths, checked_overrides
from .settings import BY_NAME, RESUMABLE


def resumed_batch(state: dict, workers: int) -> int:
    """The per-worker batch that keeps a resumed run's images per step, with any number of
    workers: the same global batches, so the run goes on as it would have."""
    saved = Checkpoint.of(state)
    per_step = saved.config["batch_size"] * saved.workers
    if per_step % workers:
        raise CnnctlError.at(
            f"the run takes {per_step} images a step, which {workers} workers cannot share evenly",
            hint="resume with a number of workers that divides " + str(per_step),
        )
    return per_step // workers


# What may change when a run is resumed: none of them changes which images a step sees.


def _as_typed(value: Any) -> Any:
    """A setting's value as it is typed: per-channel numbers as `0.485,0.456,0.406`; None
    (--mean, --std: computed from the data) as `not given`."""
    if value is None:
        return "not given"
    return ",".join(f"{v:g}" for v in value) if isinstance(value, (tuple, list)) else value


def resumed_config(resume: str, overrides: dict[str, Any], state: dict | None = None) -> TrainConfig:
    """The settings a run was started with (its checkpoint's: `state`, where read already); only
    those of RESUMABLE may change (--epochs, --device...).

    The rest would not take effect (the optimizer's state carries the learning rate) or
    would break the replay (batch size, seed and data decide each epoch's batches).
    """
    # Folders absolute on both sides; checkpoints written before runs stored them so hold them as given.
    saved = absolute_data_paths((load_checkpoint(resume) if state is None else state)["config"])
    config = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
    if problems := checked_overrides(overrides):  # by the same rules as a new run's
        raise CnnctlError(problems)
    for name, value in absolute_data_paths(overrides).items():  # `--data ./imgs` is the folder the run has
        current = config.learning_rate if name == "lr" else getattr(config, name)
        if value is None or value == current:
            continue
        if name not in RESUMABLE:
            flag = BY_NAME[name].option
            if isinstance(value, bool):  # a flag: --stream or --no-stream, not `--stream False`
                was, asked = (flag if v else "--no-" + flag[2:] for v in (current, value))
                said, wanted = f"it was started with {was}", asked
            else:
                said, wanted = f"it was {_as_typed(current)}", f"{flag} {_as_typed(value)}"
            raise CnnctlError.at(
                f"{flag} cannot change when a run is resumed ({said})",
                hint=f"start a new run to train with {wanted}; --resume may change only "
                + ", ".join(BY_NAME[r].option for r in RESUMABLE),
            )
        if name == "epochs" and config.scheduler != "none":
            raise CnnctlError.at(
                f"--epochs cannot change a run with the {config.scheduler} schedule: it was planned for "
                f"{config.epochs} epochs",
                hint="start a new run",
            )
        setattr(config, name, value)
    return config
