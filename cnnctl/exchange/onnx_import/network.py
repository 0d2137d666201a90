"""From an ONNX file to a network: the steps of the reading in order (`import_onnx`,
`read_network`), and the network built, a layer that does not build told at its ONNX nodes
(`build_imported`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...errors import CnnctlError, LimitError, Loc, Problem
from ...shapes import Shape
from .file import read_onnx
from .reader import Reader
from .writing import Imported, write_imported

if TYPE_CHECKING:
    from ...graph import Graph

GENERATED = "<imported>"  # the file name the text made is built under, before its lines are traced back


def import_onnx(path: str, name: str | None = None, input: Shape | None = None) -> str:
    """The network of the ONNX file at `path` in cnnctl's notation, as YAML text. `input`: the
    (H, W, C) of an input whose sizes the file leaves unknown (`--input`)."""
    return read_network(path, name, input).text


def read_network(path: str, name: str | None = None, input: Shape | None = None) -> Imported:
    """The network of the ONNX file at `path`, and where each of its lines comes from."""
    return read_imported(path, name, input)[0]


def read_imported(path: str, name: str | None, input: Shape | None = None) -> tuple[Imported, Reader]:
    model = read_onnx(path)
    reader = Reader(model, path, input)  # the input's sizes first: what is read is of one image of them
    reader.check_wiring()  # a graph whose wiring is broken is not read further: every node would be noise
    reader.fold_stored_layouts()  # weights transposed or reshaped in the graph (no constant folding): stored values
    reader.read_prelude()  # uint8 pixels in: the network after the normalisation export --with-preprocessing writes
    reader.find_patterns()
    reader.find_excitations()  # after the patterns: a pool one of them holds is theirs
    for i, node in enumerate(model.graph.node):
        reader.read(i, node)
    reader.raise_problems()
    if not reader.order:
        raise CnnctlError.at("the graph has no layers cnnctl reads", Loc(path))
    return write_imported(model, path, name, reader), reader


def build_imported(path: str, name: str | None = None, input: Shape | None = None) -> tuple[str, Graph]:
    """(text, graph): the network of the ONNX file at `path`, built. A layer that does not build
    is told at the ONNX node(s) it came from, in the file given, not at a line of the text made;
    so is a stored weight that does not fit the layer, and an output the file declares otherwise."""
    from .imported_weights import read_weights  # which checks its stored weights' dims fit (none read)

    got = read_weights(path, name, input)
    return got.text, got.graph


def built_imported(imported: Imported, path: str) -> Graph:
    from ...api import load_text

    try:
        return load_text(imported.text, GENERATED)
    except CnnctlError as exc:
        problems = [_traced(p, imported, path) for p in exc.problems]
        raise (LimitError if isinstance(exc, LimitError) else CnnctlError)(problems) from None


REPETITION = re.compile(r"^[^.]+\.(\d+)(\.|$)")  # `repeat1.2.conv1`, `repeat1.2`: the second time round a repeat


def _traced(problem: Problem, imported: Imported, path: str) -> Problem:
    """A problem at a line of the text made, told at the ONNX node(s) that line came from."""
    if problem.loc is None or problem.loc.file != GENERATED:
        return problem
    lines = imported.text.splitlines()
    written = lines[problem.loc.line - 1].strip().removeprefix("- ") if 0 < problem.loc.line <= len(lines) else ""
    layers = imported.origins.get(problem.loc.line)
    if not layers:
        where = f"the network read from it, at `{written}`" if written else "the network read from it"
        return Problem(f"{where}: {problem.message}", Loc(path), None, problem.hint)
    repetition = REPETITION.match(problem.layer or "") if len(layers) > 1 else None
    k = int(repetition.group(1)) - 1 if repetition else 0
    which = layers[k] if 0 <= k < len(layers) else layers[0]
    return Problem(f"{which}, read as `{written}`: {problem.message}", Loc(path), None, problem.hint)
