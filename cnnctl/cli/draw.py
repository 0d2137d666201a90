"""draw: the network as a picture."""

import os
import shlex
import sys
from typing import Annotated, Optional

from ..errors import CnnctlError, Problem
from ..shapes import format_shape
from . import common  # common.load_network, looked up when called: one place to stand in for reading a network
from .common import examples, print_json, print_lines, print_warnings, with_warnings
from .options import arch_argument, choice, input_option, option, whole, words


@examples(
    ("cnnctl draw lenet5 --style volumes -o lenet5.svg", "the course's volumes, with nothing installed"),
    ("cnnctl draw lenet5 --style volumes -o lenet5.png", "the same as a PNG (needs matplotlib)"),
    ("cnnctl draw resnet18 --depth 2 -o resnet18.mmd", "Mermaid, for a Markdown file on GitHub"),
    ("cnnctl draw resnet50 --depth 2 -o resnet50.svg", "a graph laid out by Graphviz (needs `dot`)"),
)
def draw_cmd(
    arch: Annotated[str, arch_argument()],
    input: Annotated[Optional[str], input_option()] = None,
    output: Annotated[Optional[str], option("-o", "--output", metavar="FILE",
        help="The picture: .svg, .png, .pdf (Graphviz; the volume view's .png and .pdf: matplotlib), .dot, .mmd "
        "(Mermaid); replaced if it exists. Default: "
        "NAME.svg here, only if no such file exists (name it with -o to replace it); with --format json, none: "
        "nothing is written.")] = None,
    depth: Annotated[Optional[int], option("-d", "--depth", parser=whole(1), metavar="N",
                                           help="Collapse layer paths deeper than N into one box. "
                                           "Default: every layer.")] = None,
    style: Annotated[str, option("--style", parser=choice(("graph", "volumes")), metavar="graph|volumes",
                                 complete=words("graph", "volumes"),
                                 help="graph: layers, clusters and skips; volumes: the course's volumes (sequential "
                                 "networks). Default: graph.")] = "graph",
    format: Annotated[str, option("-f", "--format", parser=choice(("text", "json", "table")), metavar="text|json",
                                  complete=words("text", "json"),
                                  help="text: a line saying what was written (`table`, as other commands call it, "
                                  "too); json: what is drawn, its boxes, edges and clusters, on stdout. "
                                  "Default: text.")] = "text",
) -> int:  # fmt: skip
    """Draw the network: a graph (SVG, PNG, PDF by Graphviz; DOT; Mermaid) or the course's volumes.

    The graph view shows each layer's shorthand, output volume and parameters; composites
    (repeats, blocks, residuals, gates, branches) as clusters, skips dashed; --depth N
    collapses what lies deeper than N (a ResNet-152 stage becomes one box, `36 x bottleneck`).
    .svg, .png and .pdf need Graphviz's `dot`; .dot and .mmd (Mermaid, rendered in Markdown
    by GitHub and GitLab) need nothing. --style volumes draws a sequential network as the
    course's volumes HxWxC: in SVG with nothing installed, PNG and PDF by matplotlib.

    Without -o the picture goes to NAME.svg in this folder, only as a new file: one that is
    there already is replaced only when named with -o. --format json without -o prints what
    would be drawn and writes nothing.
    """
    from .. import writing
    from ..analysis.diagram import diagram, volumes
    from ..render import glyphs, picture
    from ..render.diagram import count_clusters, diagram_json, mermaid_overflow, to_dot, to_mermaid
    from ..render.views.problems import problem_json
    from ..words import plural

    graph = common.load_network(arch, input)
    notes: list[Problem] = []  # the picture's own warnings, told after the network's
    named = output is not None
    out = output if named else None if format == "json" else picture.default_name(graph.title)
    fmt = picture.picture_format(out) if out else None
    if out and not named:
        writing.refuse_existing(out)  # before the layout, which can take a while
    if style == "volumes":
        if fmt not in ("svg", "png", "pdf", None):
            raise CnnctlError.at(f"the volume view is drawn as SVG, PNG or PDF, not {fmt}",
                                 hint=f"e.g. -o {shlex.quote(os.path.splitext(out)[0] + '.svg')}")  # fmt: skip
        if depth is not None:
            raise CnnctlError.at("--depth collapses the graph view; the volume view draws every volume")
        from ..render.mpl import INSTALL, NoMatplotlib
        from ..render.volumes import lay_out, to_image, to_svg

        vols = volumes(graph)
        if out:
            layout = lay_out(graph.title, vols, graph.params, graph.mults)
            try:
                if fmt == "svg":  # its text is text: the browser draws it with its own fonts
                    body = to_svg(layout).encode()
                else:
                    with glyphs.drawing_fonts(" ".join(s.text for s in layout.shapes if s.kind == "text")) as lacking:
                        body = to_image(layout, fmt)
                    notes += [glyphs.missing_glyphs("".join(lacking), out)] if lacking else []
            except NoMatplotlib as exc:
                raise CnnctlError.at(f"the volume view's {fmt.upper()} is drawn by matplotlib: {exc}",
                                     hint=f"{INSTALL}; or write the SVG, which needs nothing") from None  # fmt: skip
            writing.write_file(out, body, replace=named)
        data = {
            "name": graph.title,
            "file": out,
            "format": fmt,
            "style": "volumes",
            "volumes": [{"path": v.path, "output": format_shape(v.shape), "layers": list(v.ops)} for v in vols],
        }
        said = plural(len(vols), "volume")
    else:
        d = diagram(graph, depth)
        if out:
            if fmt == "mermaid":
                text = to_mermaid(d)
                overflow = mermaid_overflow(text, len(d.edges), out)
                notes += [overflow] if overflow else []
                body = text.encode()
            else:
                text = to_dot(d, fmt != "dot" and picture.reverses_clusters())  # .dot: for current Graphviz
                body = text.encode() if fmt == "dot" else picture.lay_out(text, fmt, out, len(d.boxes), len(d.edges))
                lacking = glyphs.no_font_has(text) if fmt in ("png", "pdf") else ""  # an SVG's text: the browser's
                notes += [glyphs.missing_glyphs(lacking, out)] if lacking else []
            writing.write_file(out, body, replace=named)
        data = diagram_json(d, out, fmt)
        boxes = len(d.boxes) - 1
        said = f"{plural(boxes, 'box', 'boxes')} in {plural(count_clusters(d.top), 'cluster')}"
    if format == "json":  # the warnings in the document, nothing on stderr, as summarize's and flops' JSON
        data = with_warnings(data, [graph])
        print_json(data | {"warnings": data["warnings"] + [problem_json(n, "warning") for n in notes]})
    else:
        print_warnings(graph)
        for note in notes:
            sys.stderr.write(note.format("warning") + "\n")
        opener = {"dot": "lay it out with `dot -Tsvg`", "mermaid": "paste it into Markdown in a ```mermaid block"}
        if fmt == "dot" and picture.too_large_for_dot(len(d.boxes), len(d.edges)):  # `dot` would take minutes
            sfdp = picture.sfdp_command(out)
            opener["dot"] = f"too large for `dot` to lay out quickly: `{sfdp}` does, not top to bottom"
        opened = opener.get(fmt, "open it in a browser or viewer")
        print_lines([f"wrote {out}: {graph.title}, {said} ({opened})"])
    return 0
