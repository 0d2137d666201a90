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
        if path.name == "last.pt" and (path.parent / "config.json").is_file():
            raise CnnctlError.at(
                "this run stopped before its first checkpoint: there is nothing to resume",
                Loc(str(path.parent)),
                hint=f"start it again with --out {path.parent}",
            )
        raise CnnctlError.at("no such checkpoint", Loc(str(path)), hint="give a run folder or its last.pt / best.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign, or holding objects weights_only refuses
        # torch's own messages ("(101)", "Invalid argument", a page on weights_only) say
        # little to the person at the terminal; what matters is which of the three it was.
        refused = "Unsupported global" in str(exc)  # a pickle naming classes and functions
        raise CnnctlError.at(
            "not a readable cnnctl checkpoint"
            + (": it holds Python objects, which are never unpickled" if refused else ""),
            Loc(str(path)),
            hint="was it cut short, or made by another tool?" if not refused else "cnnctl reads checkpoints it wrote",
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CnnctlError.at(
            "not a cnnctl checkpoint", Loc(str(path)), hint="cnnctl reads the last.pt/best.pt it writes"
        )
    return state


def network_record(graph) -> dict[str, Any]:
    """What a checkpoint keeps of its network, to recognise it again: the input and, per
    layer, its path, shorthand and inputs. Weights alone cannot tell max from avg pooling."""
    return {
        "input": list(graph.input_shape),
        "layers": [[node.path, node.text, list(node.inputs)] for node in graph.nodes],
    }


def check_same_network(state: dict[str, Any], graph, path: str | Path) -> None:
    """A CnnctlError naming the first difference between the checkpoint's network and `graph`."""
    saved = state.get("network")
    if not saved:  # written before checkpoints kept their network
        return
    here = network_record(graph)
    trained = f"it was trained for `{state.get('arch', '?')}`; use that ARCH (its run folder keeps architecture.json)"
    if saved["input"] != here["input"]:
        shape = "x".join(map(str, saved["input"]))
        raise CnnctlError.at(
            f"the checkpoint was trained at input {shape}; this network takes {'x'.join(map(str, here['input']))}",
            Loc(str(path)),
            hint=f"give --input {shape}, or {trained}",
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


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: str | Path, arch: str) -> None:
    """Put the checkpoint's weights into `model`, or say precisely how they do not fit."""
    graph = getattr(model, "graph", None)
    if graph is not None:
        check_same_network(state, graph, path)
    saved: dict[str, torch.Tensor] = state["model"]
    own = model.state_dict()
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    reshaped = [
        f"{k} {'x'.join(map(str, saved[k].shape))} vs {'x'.join(map(str, own[k].shape))}"
        for k in own
        if k in saved and saved[k].shape != own[k].shape
    ]
    if missing or unexpected or reshaped:
        parts = [
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("not in this network", unexpected), ("shape", reshaped))
            if keys
        ]
        raise CnnctlError.at(
            f"the checkpoint does not fit `{arch}` ({'; '.join(parts)})",
            Loc(str(path)),
            hint=f"it was trained for `{state.get('arch', '?')}`; use that ARCH",
        )
    model.load_state_dict(saved)
