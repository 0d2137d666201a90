"""IDX files (the MNIST format) written by the tests, byte by byte from the format's definition."""

import gzip
import struct
from pathlib import Path

import torch


def idx_header(*dims: int) -> bytes:
    """The header of an IDX file of unsigned bytes: magic 0x0000080N, N big-endian dimensions."""
    return struct.pack(">I", 0x800 + len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def idx_bytes(array: torch.Tensor) -> bytes:
    """An IDX file of unsigned bytes: its header, then the data."""
    return idx_header(*array.shape) + bytes(array.flatten().tolist())


def write_idx(folder: Path, prefix: str, x: torch.Tensor, y: torch.Tensor, gz: bool = False) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, data in (("images-idx3", x), ("labels-idx1", y)):
        path = folder / f"{prefix}-{kind}-ubyte{'.gz' if gz else ''}"
        raw = idx_bytes(data.to(torch.uint8))
        path.write_bytes(gzip.compress(raw) if gz else raw)
        paths.append(path)
    return paths[0], paths[1]
