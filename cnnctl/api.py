"""The Python API: load a network by file or bundled name and get its graph.

>>> import cnnctl
>>> g = cnnctl.load("resnet50")
>>> g.params, g.mults
(25557032, 4089184256)
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from .catalog import resolve_member
from .graph import Graph, build_graph
from .notation.parse import parse_file_text
from .notation.source import read_text
from .notation.variants import choose
from .run_marks import recorded_input_named, run_head, run_input, run_of
from .shapes import Shape, format_shape

if TYPE_CHECKING:
    from .backend.module import GraphModule


def load(
    source: str | os.PathLike,
    input: str | Shape | None = None,
    widths: Mapping[str, int] | None = None,
    input_from: str = "input",
    text: str | None = None,
) -> Graph:
    """Parse and build a network file (or a bundled name such as ``"vgg16"``).

    `input` overrides the file's input size: ``"224x224x3"`` or ``(224, 224, 3)``; `widths`
    the output width of layers by path (a classifier head made anew: ``{"fc": 10}``). A run
    folder (or a checkpoint in one, ``runs/x/best.pt``) means the network it trained (its
    ``network.yaml``) at the input it trained at, with the head it made anew, if any. A
    member of a family: ``"efficientnet_b3"``, ``"efficientnet.yaml:b3"``, with settings of the
    file's arguments ``"efficientnet.yaml:b3,dropout=0.1"``. `input_from` names where `input`
    comes from in messages (the CLI's ``"--input"``); `text`, the file's text where it was read
    already (the network built again, at another width, from what was read, not read twice).
    Raises `cnnctl.CnnctlError` for anything wrong in the file or the arguments.
    """
    source = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    if input is None:
        input = run_input(source)  # a run folder (or a checkpoint in one): the input it trained at
        input_from = recorded_input_named(source)  # a mistake in it named at its config.json
    if widths is None:
        widths = run_head(source)  # and the head it made anew for its data's classes
    path, display, member = resolve_member(source)  # a file as it is; a run's network; a bundled name
    text = read_text(path, display) if text is None else text
    graph = load_text(text, display, input, widths, member, input_from)
    run = run_of(source)
    return graph if run is None else _named_as_run(graph, run)


def _named_as_run(graph: Graph, run: str) -> Graph:
    """`graph`, a run's network, by the name the run knows it by (`cnnctl runs` shows it): a file
    without `name:` is named by its stem, which the run's copy (network.yaml) would make
    `network`. A run that recorded no name (older than the record) leaves it as read."""
    from pathlib import Path

    from .run_folders import network_name  # read only for a run

    recorded = network_name(Path(run))
    if not recorded:
        return graph
    name = recorded.removesuffix(f":{graph.settings}") if graph.settings else recorded  # title = name:settings
    return graph._replace(name=name)


def to_torch(graph: Graph, logits: bool = False) -> GraphModule:
    """Compile `graph` to a `torch.nn.Module` whose submodules are named by the layer paths.

    torch is imported here, on first use: the analysis path never imports it.
    """
    from .backend import to_torch as compile_graph

    return compile_graph(graph, logits)


def load_text(
    text: str,
    file: str = "<string>",
    input: str | Shape | None = None,
    widths: Mapping[str, int] | None = None,
    member: str | None = None,
    input_from: str = "input",
) -> Graph:
    """Like `load`, from YAML text; `file` is the name used in messages; `member`, the member
    of a family file and settings of its arguments (``"b3"``, ``"b3,dropout=0.1"``).
    A wrong `input` is told with the file's own problems (`build_graph`)."""
    with _collector_paused():
        spec = choose(parse_file_text(text, file), member)
        if input is not None and not isinstance(input, str):  # a tuple gets the same checks as text
            input = format_shape(input)
        return build_graph(spec, input, widths, input_from)._replace(text=text)  # what a run keeps of it


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a file becomes a graph.

    Reading builds objects by the million (YAML nodes, spec items, graph nodes) and frees
    none: each collection walks them all again, which took more than half the time of a
    large file (2.4 million YAML values: 6.5 s, 2.9 s without). Nothing built here forms
    cycles that need collecting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
