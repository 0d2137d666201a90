"""The style rules a machine can check: every public function in cnnctl/ has type hints.

Public: a module-level function or a method of a public class (recursively) whose name has no
leading underscore. Each of its parameters (but a method's `self` or `cls`, `*args` and
`**kwargs` included) and its return carry an annotation. Read from the source (ast), so the
annotations never need importing: torch and the layers above a module stay under
TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cnnctl"

# The functions that stay without a full set of hints, and why: each takes an object of a layer
# that render/ may not import, even for an annotation (tests/test_package_layers.py reads every
# import statement, TYPE_CHECKING's too): exchange's Exported and Placement, train's RunResult,
# Evaluation, Prediction and EpochStats.
UNANNOTATED = {
    "render/export.py": {"export_lines", "export_json", "how_to_use"},  # exchange.export.Exported
    "render/progress.py": {"TrainDisplay.step"},  # train.metrics.EpochStats
    "render/runs.py": {"train_json"},  # train.result.RunResult
    "render/views/evaluation.py": {"evaluation_tables", "evaluation_json"},  # train.evaluate.Evaluation
    "render/views/prediction.py": {"prediction_table", "prediction_json"},  # train.predict.Prediction
    # exchange.weights.Placement
    "render/views/weights.py": {"placement_rows", "weights_table", "weights_file", "weights_json"},
}


def unannotated(source: str, private: bool = False) -> list[str]:
    """The public functions of a module's `source` (with `private`, every function and method,
    `_helper` and `__init__` too) that lack a return annotation or one of their parameters', by
    name (`Class.method` for a method)."""
    found: list[str] = []

    def visit(body: list[ast.stmt], within: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and (private or not node.name.startswith("_")):
                visit(node.body, f"{within}{node.name}.")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                private or not node.name.startswith("_")
            ):
                args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
                if within and not static and args and args[0].arg in ("self", "cls"):
                    args = args[1:]  # the instance or the class: never annotated
                args += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
                if node.returns is None or any(a.annotation is None for a in args):
                    found.append(within + node.name)

    visit(ast.parse(source).body, "")
    return found


def test_the_check_finds_what_lacks_hints():
    source = (
        "def shown(x: int) -> str: ...\n"
        "def no_return(x: int): ...\n"
        "def bare_arg(x, y: int) -> None: ...\n"
        "def more(*args: int, **kw) -> None: ...\n"
        "def _private(x): ...\n"
        "class Box:\n"
        "    def __init__(self, x): ...\n"
        "    def size(self) -> int: ...\n"
        "    def put(self, item) -> None: ...\n"
        "    @staticmethod\n"
        "    def make(self) -> None: ...\n"
        "    class Inner:\n"
        "        def get(self): ...\n"
        "class _Hidden:\n"
        "    def open(self, x): ...\n"
    )
    assert unannotated(source) == ["no_return", "bare_arg", "more", "Box.put", "Box.make", "Box.Inner.get"]


def test_every_public_function_has_type_hints():
    missing: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        own = [f for f in unannotated(path.read_text()) if f not in UNANNOTATED.get(name, set())]
        if own:
            missing[name] = own
    assert not missing, f"public functions without type hints (annotate them): {missing}"


def test_each_exception_is_still_one():
    """An exception annotated since, or gone, leaves the list: it stays the short, true list."""
    for name, functions in UNANNOTATED.items():
        assert functions <= set(unannotated((PACKAGE / name).read_text())), name


# render/'s private functions and methods that take one of the objects UNANNOTATED names
PRIVATE_UNANNOTATED = {
    "render/progress.py": {"TrainDisplay.__init__", "TrainDisplay._progress_line"},  # TrainConfig, EpochStats
    "render/views/evaluation.py": {"_overall_row", "_dense_json"},  # train.evaluate.Evaluation
    "render/views/prediction.py": {"_read_as"},  # train.predict.Prediction
    "render/views/weights.py": {"_placement_table"},  # exchange.weights.Placement
}


def test_render_helpers_have_type_hints_too():
    # twelve of render's functions, `_matplotlib`, `__enter__`, `_ratio`, `__init__`s, had no return hint
    assert unannotated("def _f(x): ...\nclass _C:\n    def __init__(self) -> None: ...\n", private=True) == ["_f"]
    missing: dict[str, list[str]] = {}
    for path in sorted((PACKAGE / "render").rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        allowed = UNANNOTATED.get(name, set()) | PRIVATE_UNANNOTATED.get(name, set())
        own = [f for f in unannotated(path.read_text(), private=True) if f not in allowed]
        if own:
            missing[name] = own
    assert not missing, f"render's functions without type hints (annotate them): {missing}"
    for name, functions in PRIVATE_UNANNOTATED.items():  # still true
        assert functions <= set(unannotated((PACKAGE / name).read_text(), private=True)), name


def _constants(path: Path) -> set[str]:
    """The upper-case names a module assigns at its top level."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        found |= {t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()}
    return found


def test_every_bound_is_defined_in_one_place():
    """limits.py holds every bound on input: none of its names is defined again elsewhere, and no
    `MAX_` name is defined in two modules (MAX_CHANNEL_VALUES was in limits.py and train/settings.py,
    MAX_DEPTH meant two things in limits.py and notation/expr.py)."""
    limits = _constants(PACKAGE / "limits.py")
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in _constants(path):
            where.setdefault(name, []).append(str(path.relative_to(PACKAGE)))
    twins = {n: ps for n, ps in where.items() if len(ps) > 1 and (n in limits or n.startswith("MAX_"))}
    assert not twins, twins
