"""A file given to `cnnctl import` that is another format people export a model in: a TorchScript
archive, a PyTorch file (a state_dict or a pickled model), a .safetensors file. Each is known by
its first bytes, a zip archive by the names its central directory lists: nothing in it is
unpacked, loaded or run.
"""

from __future__ import annotations

import struct

from ...limits import MAX_ARCHIVE_NAMES
from ...run_marks import CHECKPOINT_MAGIC

ZIP = b"PK\x03\x04"  # a zip archive's first bytes (torch.save's and torch.jit.save's)
END = b"PK\x05\x06"  # its end of central directory record
ENTRY = b"PK\x01\x02"  # an entry of its central directory

TO_ONNX = (
    "cnnctl imports ONNX: export the model to it with torch.onnx.export(model, example_input, 'model.onnx'), "
    "or a cnnctl run with `cnnctl export RUN --to onnx -o model.onnx`, and import that"
)


def other_format(data: bytes | bytearray, name: str) -> tuple[str, str] | None:
    """(what the file is, what to do) where `data`, of the file `name`, is a format other than
    ONNX that models are saved in; None where it is none of them."""
    weights = f"; a state_dict in it gives a network file its weights: `cnnctl train net.yaml --weights {name}`"
    if data.startswith(ZIP):
        names = zip_names(data)
        if any("/code/" in n or n.endswith("/constants.pkl") or n == "constants.pkl" for n in names):
            return "a TorchScript archive (torch.jit.save), not ONNX", TO_ONNX
        if any(n.endswith("data.pkl") for n in names):
            return "a PyTorch file (torch.save: a state_dict or a pickled model), not ONNX", TO_ONNX + weights
        return "a zip archive, not ONNX", TO_ONNX
    if data.startswith(CHECKPOINT_MAGIC):  # a pickle: torch.save's legacy format
        return "a PyTorch file (torch.save's pickle: a state_dict or a pickled model), not ONNX", TO_ONNX + weights
    if _is_safetensors(data):
        return "a .safetensors file: weights without the network, not ONNX", (
            f"weights go with a network file: `cnnctl train net.yaml --weights {name}` (evaluate, "
            "predict, export and bench take --weights too); the network itself comes from an ONNX file or YAML"
        )
    return None


def _is_safetensors(data: bytes | bytearray) -> bool:
    """A .safetensors file: the length of its JSON header (8 bytes, little-endian), then the header."""
    if len(data) < 10:
        return False
    size = int.from_bytes(data[:8], "little")
    return 2 <= size <= len(data) - 8 and data[8:9] == b"{"


def zip_names(data: bytes | bytearray) -> list[str]:
    """The names a zip archive's central directory lists (at most MAX_ARCHIVE_NAMES), read from its end
    record and entries alone; none where they cannot be read (zip64, a damaged archive)."""
    view = memoryview(data)
    end = data.rfind(END, max(0, len(data) - 22 - 65_535))  # the record, after at most a 64 KiB comment
    if end < 0 or end + 22 > len(data):
        return []
    count, size, offset = struct.unpack_from("<HLL", view, end + 10)
    names, at = [], offset
    while len(names) < min(count, MAX_ARCHIVE_NAMES) and at + 46 <= min(offset + size, end):
        if view[at : at + 4] != ENTRY:
            break
        length, extra, comment = struct.unpack_from("<HHH", view, at + 28)
        names.append(bytes(view[at + 46 : at + 46 + length]).decode("utf-8", "replace"))
        at += 46 + length + extra + comment
    return names
