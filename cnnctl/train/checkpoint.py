"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint holds tensors and plain containers only, so `torch.load(weights_only=True)`
reads it; a truncated or foreign file is a CnnctlError, never a traceback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CnnctlError, Loc

FORMAT = "cnnctl-checkpoint-1"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` through a temporary file in the same folder, then rename:
    a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by cnnctl; a run folder means its `last.pt`."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CnnctlError.at("no such checkpoint", Loc(str(path)), hint="give a run folder or its last.pt / best.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign, or holding objects weights_only refuses
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CnnctlError.at(
            f"not a readable cnnctl checkpoint ({reason})",
            Loc(str(path)),
            hint="was it cut short, or made by another tool?",
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CnnctlError.at(
            "not a cnnctl checkpoint", Loc(str(path)), hint="cnnctl reads the last.pt/best.pt it writes"
        )
    return state
