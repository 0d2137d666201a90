"""Data flows one way: text -> spec -> graph -> analyses -> renderers / backend / exchange.

Each sub-package (and each top-level module below them) may import only the layers before it.
Read from every module's own import statements (at the top or inside functions: a late import
is still an arrow), not from what happens to be loaded at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnctl"

# Everything above the top-level modules at the bottom (errors.py, values.py, ...).
_ABOVE_THE_BOTTOM = {
    "layers", "notation", "graph", "analysis", "render", "backend", "exchange", "data", "train", "cli", "api",
    "catalog", "run_folders",
}  # fmt: skip

# What each sub-package must never import (any module of it, at any depth).
FORBIDDEN = {
    # The layer kinds read their arguments with the numbers below them; the notation binds words to them.
    "layers": _ABOVE_THE_BOTTOM - {"layers"},
    "notation": {"graph", "analysis", "render", "backend", "exchange", "data", "train", "cli"},
    "graph": {"analysis", "render", "backend", "exchange", "data", "train", "cli"},
    "analysis": {"render", "backend", "exchange", "data", "train", "cli"},
    "render": {"backend", "exchange", "data", "train", "cli"},
    "backend": {"analysis", "render", "exchange", "data", "train", "cli"},
    "data": {"render", "exchange", "train", "cli"},
    "exchange": {"train", "cli"},
    "train": {"cli"},
    # The top-level modules below them all: the one error type, bounds, records, shapes, numbers
    # read from text (values.py) and exact ones (exact.py), how numbers are worded (words.py), how
    # files are opened, the worker, the console progress is drawn on, pickles read without loading
    # them and what a checkpoint's plain values must be.
    **dict.fromkeys(
        (
            "errors.py",
            "limits.py",
            "records.py",
            "shapes.py",
            "values.py",
            "exact.py",
            "words.py",
            "files.py",
            "worker.py",
            "terminal.py",
            "pickled.py",
            "checkpoint_record.py",
            "every.py",
            "invocation.py",
        ),
        _ABOVE_THE_BOTTOM,
    ),  # fmt: skip
    # How much memory a device has, and the one message where a network or a batch does not fit:
    # below training and export, which both check it.
    "device_memory.py": {"notation", "graph", "analysis", "backend", "exchange", "data", "train", "cli", "api"},
    # What render reads run folders with (and train writes them by), how a run folder is told
    # (run_marks.py), the bundled networks, and how every command's files are written (never over a
    # run's own): below them all.
    **dict.fromkeys(
        ("run_folders.py", "run_marks.py", "catalog.py", "writing.py"),
        {"analysis", "render", "backend", "exchange", "train", "cli", "api"},
    ),
}


def imported_parts(path: Path) -> set[str]:
    """The cnnctl sub-packages and top-level modules `path` imports (`render`, `run_folders`)."""
    module = ("cnnctl", *path.relative_to(PACKAGE).with_suffix("").parts)
    package = module[:-1]  # what `from .` means in it (a package's __init__ included)
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            target = (*base, *(node.module.split(".") if node.module else ()))
        elif isinstance(node, ast.Import):
            targets = [tuple(alias.name.split(".")) for alias in node.names]
            parts |= {t[1] for t in targets if t[0] == "cnnctl" and len(t) > 1}
            continue
        else:
            continue
        if target[:1] == ("cnnctl",) and len(target) > 1:
            parts.add(target[1])
        elif target == ("cnnctl",):  # from cnnctl import x / from .. import x
            parts |= {alias.name for alias in node.names}
    return parts


def test_the_import_reader_resolves_relative_imports():
    # The reader itself, on known lines: a relative import two levels up, one level, and an absolute one.
    assert {"errors", "shapes"} <= imported_parts(PACKAGE / "analysis" / "memory.py")
    assert "run_folders" in imported_parts(PACKAGE / "render" / "runs.py")
    assert "train" in imported_parts(PACKAGE / "cli" / "train.py")


@pytest.mark.parametrize("sub", sorted(FORBIDDEN))
def test_no_arrow_points_up(sub):
    wrong = [
        f"{path.relative_to(PACKAGE.parent)} imports cnnctl.{part}"
        for path in ([PACKAGE / sub] if sub.endswith(".py") else sorted((PACKAGE / sub).rglob("*.py")))
        for part in sorted(imported_parts(path) & FORBIDDEN[sub])
    ]
    assert not wrong, "\n".join(wrong)


def test_the_analysis_layer_names_no_command_line_flag():
    # analysis/ told `--freeze`, `--amp`, `--dtype`, `--peak-tflops`, `--workers` in its messages and
    # advice: the command line's words, which cnnctl.cli (and the views it shows) phrase. Its
    # strings, docstrings and comments aside, name none.
    import re

    flag = re.compile(r"(?<![\w-])--[a-z]")
    found = []
    for path in sorted((PACKAGE / "analysis").glob("*.py")):
        tree = ast.parse(path.read_text())
        bodies = [n.body for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))]
        firsts = [body[0] for body in bodies if body and isinstance(body[0], ast.Expr)]
        docstrings = {id(first.value) for first in firsts if isinstance(first.value, ast.Constant)}
        found += [f"{path.name}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and flag.search(node.value)]  # fmt: skip
    assert found == []


def test_analysis_messages_name_the_setting_and_the_cli_its_flag(monkeypatch, capsys):
    from helpers import run_main

    from cnnctl import CnnctlError
    from cnnctl.analysis import summarize
    from cnnctl.analysis.roofline import PROFILES, mixed_dtype, peak_of, profile_named
    from cnnctl.api import load_text

    graph = load_text("name: t\ninput: 8x8x1\nlayers:\n  - conv f=3 n=2\n  - fc 3\n")
    with pytest.raises(CnnctlError) as caught:
        summarize(graph, freeze="nosuch")
    assert str(caught.value).startswith("error: freeze nosuch: no layer `nosuch` in t")
    t4 = PROFILES["t4"]
    for refuse in (lambda: peak_of(t4, "bfloat16"), lambda: profile_named("nosuch"),
                   lambda: mixed_dtype(t4._replace(peak={"float32": 1.0}))):  # fmt: skip
        with pytest.raises(CnnctlError) as caught:
            refuse()
        assert "--" not in str(caught.value)
    code, _, err = run_main(monkeypatch, capsys, "flops", "lenet5", "--profile", "t4", "--dtype", "bfloat16")
    assert code == 2 and "(--dtype), or give --peak-tflops" in err
    code, _, err = run_main(monkeypatch, capsys, "summarize", "lenet5", "--freeze", "nosuch")
    assert code == 2 and "--freeze nosuch: no layer `nosuch` in lenet5" in err
    code, _, err = run_main(monkeypatch, capsys, "memory", "lenet5", "--freeze", "nosuch")
    assert code == 2 and "--freeze nosuch: no layer `nosuch` in lenet5" in err
