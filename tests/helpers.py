"""What several test files share: the CLI run in-process, torchvision's rounding of channel
counts, the examples folder, cnnctl's HxWxC as torch's CxHxW."""

import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def nchw(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """cnnctl's HxWxC volume as torch's per-example CxHxW."""
    h, w, c = shape
    return (c, h, w)


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr). Any exception but SystemExit fails the test."""
    from cnnctl import cli

    monkeypatch.setattr(sys, "argv", ["cnnctl", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    out, err = capsys.readouterr()
    return info.value.code, out, err


def make_divisible(v: float, d: int = 8) -> int:
    """torchvision's rounding of channel counts (`_make_divisible`)."""
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new
