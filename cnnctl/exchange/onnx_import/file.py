"""The ONNX file itself: only a regular file (cnnctl.files), of at most MAX_ONNX_BYTES, read by
cnnctl and then parsed (`read_onnx`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...errors import CnnctlError, Loc
from ...files import MISSING, Unread, first_entries, is_file_entry, near_file, regular_bytes
from ...limits import MAX_ONNX_BYTES, MAX_ONNX_NODES
from .not_onnx import other_format
from .told import comment_text

if TYPE_CHECKING:
    from onnx import ModelProto


def read_onnx(path: str) -> ModelProto:
    """The ModelProto of the file at `path`; a CnnctlError at the file where it is not one."""
    try:
        import onnx
    except ImportError:
        raise CnnctlError.at(
            "reading ONNX needs the `onnx` package", hint="pip install 'cnnctl[onnx]' (or just `pip install onnx`)"
        ) from None
    try:
        data = regular_bytes(path, MAX_ONNX_BYTES)
    except Unread as refused:
        hint = _missing_hint(path) if refused.message == MISSING else refused.hint
        raise CnnctlError.at(refused.message, Loc(path), hint=hint) from None
    # a TorchScript archive, a state_dict...: said so, never loaded
    other = other_format(data, comment_text(os.path.basename(path)))
    if other is not None:
        raise CnnctlError.at(other[0], Loc(path), hint=other[1])
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # protobuf's DecodeError and friends: not what it claims to be
        raise CnnctlError.at(
            "not a readable ONNX file", Loc(path), hint="was it cut short, or is it another format?"
        ) from None
    if not model.HasField("graph"):
        raise CnnctlError.at("an ONNX file with no graph", Loc(path), hint="was it cut short, or is it another format?")
    if len(model.graph.node) > MAX_ONNX_NODES:
        raise CnnctlError.at(
            f"{len(model.graph.node):,} ONNX nodes: more than cnnctl reads ({MAX_ONNX_NODES:,})", Loc(path)
        )
    return model


def _missing_hint(path: str) -> str:
    """What to give instead of an ONNX file that is not there: the nearest beside it, else those there are."""
    near = near_file(path, (".onnx",))
    if near is not None:
        return f"did you mean `{near}`?"
    folder = os.path.dirname(path)
    found = sorted(
        e.name for e in first_entries(folder or ".") if e.name.lower().endswith(".onnx") and is_file_entry(e)
    )
    where = f"`{folder}`" if folder else "this folder"
    if not found:
        return f"{where} holds no .onnx file; `cnnctl export ARCH -o net.onnx` writes one"
    return (
        f"the ONNX files in {where}: "
        + ", ".join(found[:5])
        + (f" and {len(found) - 5:,} more" if len(found) > 5 else "")
    )
