"""The benchmarks call cnnctl's Python API as the README shows it: each keyword they pass to a
function of cnnctl is one that function takes (a rename, `arch` to `network_title`, broke two
benchmarks that no test runs whole)."""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

pytest.importorskip("torch")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _imported(tree: ast.Module) -> dict[str, object]:
    """The names a benchmark imports from cnnctl, with what they are."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnctl"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                found[alias.asname or alias.name] = getattr(module, alias.name, None)
    return found


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_each_keyword_a_benchmark_passes_to_cnnctl_is_taken(path):
    tree = ast.parse(path.read_text())
    names = _imported(tree)
    wrong = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
        function = names.get(call.func.id)
        if not callable(function):
            continue
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            continue
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            continue
        wrong += [f"{call.func.id}({k.arg}=) at line {call.lineno}" for k in call.keywords
                  if k.arg is not None and k.arg not in parameters]  # fmt: skip
    assert not wrong, wrong


def test_the_check_sees_a_keyword_train_does_not_take(tmp_path):
    # the old call: caught
    bad = tmp_path / "bad.py"
    bad.write_text("from cnnctl.train.loop import train\ntrain(None, None, arch='x')\n")
    with pytest.raises(AssertionError, match=r"train\(arch=\) at line 2"):
        test_each_keyword_a_benchmark_passes_to_cnnctl_is_taken(bad)
