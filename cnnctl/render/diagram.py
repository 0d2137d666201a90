"""A Diagram as Graphviz DOT or Mermaid text: the same boxes, clusters and edges in both.

Each box reads its name, its shorthand, then its output volume and parameters; a collapsed
group says what it stands for (`36 x bottleneck`, its layers). Clusters are the composites
as written. Skip edges (shortcuts, a branch's input, references) are drawn dashed.
"""

from __future__ import annotations

import json
import os
import shlex
import textwrap

from ..analysis.diagram import Box, Cluster, Diagram
from ..errors import Problem, printable
from ..shapes import format_shape
from ..words import exact, plural, short

# Fill colours by family, light enough for black text (ColorBrewer's pastels).
FILL = {
    "input": "#ffffff",
    "conv": "#deebf7",
    "dense": "#e7e1ef",
    "pool": "#e5f5e0",
    "norm": "#fff2cc",
    "activation": "#f2f2f2",
    "channels": "#f2f2f2",
    "merge": "#fde0dd",
    "group": "#dadaeb",
}


# What each fill stands for, in the legend (only those a picture uses are shown)
FAMILY_WORDS = {
    "input": "input",
    "conv": "conv",
    "dense": "fc",
    "pool": "pool",
    "norm": "norm",
    "activation": "activation",
    "channels": "reshape, dropout",
    "merge": "add, concat",
    "group": "group",
}

TITLE_CHARS = 32  # a cluster's title wraps at this many characters

# A head's layers (`outputs:`), which only training runs: dashed and grey, whatever their family.
TRAINING_FILL, TRAINING_LINE, TRAINING_TEXT = "#f7f7f7", "#969696", "#636363"
TRAINING_ONLY = "training only"


def box_lines(box: Box, joined: tuple[int, ...] = ()) -> tuple[str, str, str]:
    """Title, what it is, and what it makes: `layer3`, `36 x bottleneck (254 layers)`, `14x14x1024 · 7,098,368
    params` (exact, as the title's and every box's: one style to compare them by). A group that
    is no composite (a branch) says how many layers it holds: `2 layers`. `joined`: a concat's
    inputs' channels, summed in its line (`28x28x256 = 64+128+32+32`; see `concat_channels`)."""
    if box.key == "input":
        return "input", "", format_shape(box.shape)
    text = box.text
    if box.layers > 1:
        text = f"{text} ({plural(box.layers, 'layer')})" if text else plural(box.layers, "layer")
    made = format_shape(box.shape)
    if joined:
        made += " = " + "+".join(map(str, joined))
    if box.params:
        made += f" · {exact(box.params)} params"
    return box.title or box.path, text, made


def concat_channels(d: Diagram) -> dict[str, tuple[int, ...]]:
    """Per concat box, its inputs' channels in the order of its edges (Inception's 64, 128, 32,
    32), where they add up to its own: the boxes drawn into it are what it joins."""
    boxes = {b.key: b for b in d.boxes}
    into: dict[str, list[int]] = {}
    for e in d.edges:
        into.setdefault(e.dst, []).append(boxes[e.src].shape[-1])
    return {
        b.key: tuple(into[b.key])
        for b in d.boxes
        if b.layers == 1 and b.text.split()[:1] == ["concat"] and len(into.get(b.key, ())) > 1
        and len(b.shape) == 3 and sum(into[b.key]) == b.shape[-1]
    }  # fmt: skip


def _legend(d: Diagram) -> str:
    """A Graphviz HTML table under the title: the fills, the dashed edge and the double border,
    only those this picture uses (a head's grey dashed boxes are said in the line above)."""
    used = {b.family for b in d.boxes if not b.training}
    cells = [
        f'<td bgcolor="{FILL[f]}" border="1" color="#636363"><font point-size="9">{FAMILY_WORDS[f]}</font></td>'
        for f in FILL
        if f in used and f != "group"
    ]
    if "group" in used:
        cells.append(f'<td bgcolor="{FILL["group"]}" border="1" color="#636363"><font point-size="9">group</font></td>')
    said = []
    if any(e.skip for e in d.edges):
        said.append("dashed arrow: a skip (a shortcut, a copy into a join)")
    if "group" in used:
        said.append("double border: layers collapsed into one box (a deeper --depth draws them, skips too)")
    if not cells and not said:
        return ""
    # the fills in a table of their own, each cell as wide as its word, whatever the line under them
    fills = f'<tr><td><table border="0" cellspacing="3" cellpadding="2"><tr>{"".join(cells)}</tr></table></td></tr>'
    words = f'<tr><td><font point-size="9">{_html("; ".join(said))}</font></td></tr>' if said else ""
    return f'<table border="0" cellspacing="0" cellpadding="0">{fills if cells else ""}{words}</table>'


def _titles(d: Diagram) -> tuple[str, str]:
    """The picture's title, and a line under it where the network has heads only training
    runs: the counts at inference, then with the heads, as summarize gives them, and how the
    heads are drawn (the legend)."""
    shapes = f"{d.name}: {format_shape(d.input_shape)} to {format_shape(d.output_shape)}"
    if not d.heads:
        return f"{shapes}, {exact(d.params)} params, {short(d.mults)} mults", ""
    with_heads = f"{exact(d.params)} params, {short(d.mults_with_heads)} mults"
    return (
        f"{shapes}, {exact(d.inference_params)} params, {short(d.mults)} mults at inference",
        f"dashed grey boxes: {TRAINING_ONLY} ({', '.join(d.heads)}); with them {with_heads}",
    )


def _html(text: str) -> str:
    """Text inside a Graphviz HTML-like label: markup as entities, control characters (an ESC in
    a network's name) written `\\x1b`, which XML, and so `dot`, refuses as they are."""
    return printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def to_dot(d: Diagram, clusters_reversed: bool = False) -> str:
    """Graphviz source: top to bottom, clusters nested as the composites are.

    A cluster's title is a box of text beside the first box it holds (on the same rank), not
    Graphviz's cluster label: the label sits in a strip across the cluster's top that the
    edges coming in cross, while a box is something edges are routed around. Inside a cluster
    its boxes and clusters come in network order (Inception's branches 1, 2, 3, 4 left to
    right), the clusters among them in reverse where `clusters_reversed`: older Graphviz (2.43,
    still Debian's and Ubuntu's) lays sibling clusters out in the reverse of their order in the
    text (`picture.reverses_clusters` asks the installed `dot`; Graphviz 16 keeps the order).
    Parallel paths are also held in order by invisible edges along their top rank
    (`_side_by_side`): 2.43 follows neither the text's order nor `ordering=out` alone.
    """
    title, legend = _titles(d)
    label = f"<b>{_html(title)}</b>" + (f'<br/><font point-size="10">{_html(legend)}</font>' if legend else "")
    key = _legend(d)
    if key:  # a graph's label holds one table at most, or text: the title and its line go in a cell above
        label = f'<table border="0" cellspacing="0"><tr><td>{label}</td></tr><tr><td>{key}</td></tr></table>'
    lines = [
        "digraph cnnctl {",
        f'  graph [rankdir=TB, fontname="Helvetica", fontsize=12, labelloc=t, label=<{label}>,'
        " nodesep=0.25, ranksep=0.3, newrank=true];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, color="#636363",'
        ' penwidth=0.8, margin="0.12,0.04"];',
        '  edge [color="#525252", arrowsize=0.6, penwidth=0.8];',
    ]
    boxes = {b.key: b for b in d.boxes}
    beside = _first_entered(d)
    ranks: list[str] = []  # each title on the rank of the box it stands beside
    joined = concat_channels(d)

    def node(key: str, indent: str) -> str:
        b = boxes[key]
        name, text, made = (_html(s) for s in box_lines(b, joined.get(key, ())))
        label = f"<b>{name}</b>" + (f"<br/>{text}" if text else "") + f'<br/><font point-size="9">{made}</font>'
        extra = ", peripheries=2" if b.family == "group" else ""
        if b.training:
            style = f'style="rounded,filled,dashed", color="{TRAINING_LINE}", fontcolor="{TRAINING_TEXT}"'
            return f'{indent}{key} [label=<{label}>, fillcolor="{TRAINING_FILL}", {style}{extra}];'
        return f'{indent}{key} [label=<{label}>, fillcolor="{FILL.get(b.family, "#ffffff")}"{extra}];'

    def cluster(c: Cluster, indent: str, number: list[int]) -> None:
        for item in _in_order(c, order, clusters_reversed):
            if isinstance(item, str):
                lines.append(node(item, indent))
                continue
            sub = item
            number[0] += 1
            lines.append(f"{indent}subgraph cluster_{number[0]} {{")
            lines.append(f'{indent}  graph [label="", style="rounded,dashed", color="#969696"];')
            lines.append(
                f'{indent}  t{number[0]} [label=<{_title(_cluster_label(sub))}>, shape=plaintext, style="",'
                f' margin="0.04,0", height=0, fontcolor="{TRAINING_TEXT if sub.training else "#525252"}"];'
            )
            ranks.append(f"  {{rank=same; t{number[0]}; {beside[sub.path]}}}")
            cluster(sub, indent + "  ", number)
            lines.append(f"{indent}}}")

    order = {b.key: i for i, b in enumerate(d.boxes)}
    cluster(d.top, "  ", [0])
    for e in d.edges:
        grey = f', color="{TRAINING_LINE}"' if boxes[e.dst].training else ""  # into a head
        lines.append(f"  {e.src} -> {e.dst} [{'style=dashed' if e.skip else 'weight=4'}{grey}];")
    lines.extend(ranks)
    for row in _side_by_side(d, order, beside):
        lines.append(f"  {{rank=same; {' -> '.join(row)} [style=invis]}}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _in_order(c: Cluster, order: dict[str, int], clusters_reversed: bool = False) -> list:
    """What `c` holds, its boxes (keys) and its clusters, in network order: each cluster where its
    first box comes (Inception's branches 1, 2, 3, 4); where `clusters_reversed`, the clusters
    among them in the reverse order (for Graphviz 2.43, see `to_dot`)."""
    items = sorted([*c.boxes, *c.clusters], key=lambda i: order[i] if isinstance(i, str) else _first(i, order))
    if clusters_reversed:
        backwards = iter([i for i in reversed(items) if not isinstance(i, str)])
        items = [i if isinstance(i, str) else next(backwards) for i in items]
    return items


def _first(c: Cluster, order: dict[str, int]) -> int:
    return min([order[k] for k in c.boxes] + [_first(s, order) for s in c.clusters])


def _side_by_side(d: Diagram, order: dict[str, int], beside: dict[str, str]) -> list[list[str]]:
    """Rows of boxes to keep side by side in network order, left to right: within each cluster,
    the tops of the things it holds (boxes, clusters) that read the same boxes from outside
    them (Inception's branches, a residual's main path and shortcut); a head only training
    runs (`outputs:`) goes wherever it fits, aside. Graphviz orders the nodes of a rank by
    where edges and clusters pull them; invisible edges on one rank hold that order (with the
    clusters written backwards for Graphviz 2.43, see `to_dot`)."""
    boxes = {b.key: b for b in d.boxes}
    boxes_in: dict[str, set[str]] = {}

    def keys(c: Cluster) -> set[str]:
        found = set(c.boxes).union(*(keys(s) for s in c.clusters))
        boxes_in[c.path] = found
        return found

    keys(d.top)
    into: dict[str, list[str]] = {}  # box key -> where its edges come from
    for e in d.edges:
        into.setdefault(e.dst, []).append(e.src)
    rows = []

    def walk(c: Cluster) -> None:
        tops: dict[frozenset[str], list[str]] = {}
        for item in _in_order(c, order):
            inside = {item} if isinstance(item, str) else boxes_in[item.path]
            if all(boxes[k].training for k in inside):
                continue
            sources = frozenset(src for key in inside for src in into.get(key, ()) if src not in inside)
            if sources:
                tops.setdefault(sources, []).append(item if isinstance(item, str) else beside[item.path])
        rows.extend(row for row in tops.values() if len(row) > 1)
        for sub in c.clusters:
            walk(sub)

    walk(d.top)
    return rows


def _cluster_label(c: Cluster) -> str:
    """A cluster's title; a head's says it runs only in training."""
    return f"{c.label} ({TRAINING_ONLY})" if c.training else c.label


def _title(label: str) -> str:
    """A cluster's title wrapped into left-aligned lines (`inception3a: inception c1=64` over
    `r3=96 ...`): it stands beside a box, and a long one would widen the picture."""
    lines = [_html(line) for line in textwrap.wrap(label, TITLE_CHARS, break_long_words=False)]
    return "".join(f'{line}<br align="left"/>' for line in lines)


def _first_entered(d: Diagram) -> dict[str, str]:
    """Per cluster path, the box beside which its title goes: the first box that an edge
    coming into it reaches (its top), one of its own boxes where there is one (a title ranked
    with a box inside a branch moves that branch out of order in Graphviz 2.43); a cluster
    nothing comes into (none in a network with an input): its first box."""
    within: dict[str, tuple[str, ...]] = {}  # box key -> the clusters around it, innermost last

    def walk(c: Cluster, around: tuple[str, ...]) -> None:
        for key in c.boxes:
            within[key] = around
        for sub in c.clusters:
            walk(sub, (*around, sub.path))

    walk(d.top, ())
    own: dict[str, str] = {}
    nested: dict[str, str] = {}
    for e in d.edges:
        for path in within[e.dst]:
            if path not in within[e.src]:
                (own if path == within[e.dst][-1] else nested).setdefault(path, e.dst)
    for b in d.boxes:
        for path in within[b.key]:
            nested.setdefault(path, b.key)
    return nested | own


def _mermaid(text: str) -> str:
    """Text inside a quoted Mermaid label: quotes and markup as entities (`#` too: `#quot;` is
    Mermaid's own entity), control characters written `\\x1b`."""
    text = printable(text).replace("#", "#35;")
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


# What Mermaid draws unless the page that renders it raises them (mermaid.initialize, or
# mermaid-cli's -c FILE): both are "secure" keys, which a diagram's own config cannot change.
MERMAID_MAX_EDGES = 500  # maxEdges: the 501st link is refused ("Edge limit exceeded")
MERMAID_MAX_TEXT = 50_000  # maxTextSize: a longer text (in JavaScript's UTF-16 units) is not drawn


def mermaid_overflow(text: str, edges: int, path: str) -> Problem | None:
    """A warning where the Mermaid `text` of `edges` links, written to `path`, is past what
    Mermaid draws by default (MERMAID_MAX_EDGES, MERMAID_MAX_TEXT); None where it is within."""
    chars = len(text.encode("utf-16-le")) // 2  # JavaScript's `text.length`
    past = [
        f"{what} (Mermaid's {key}: at most {most:,})"
        for what, key, most, n in (
            (f"{edges:,} edges", "maxEdges", MERMAID_MAX_EDGES, edges),
            (f"{chars:,} characters", "maxTextSize", MERMAID_MAX_TEXT, chars),
        )
        if n > most
    ]
    if not past:
        return None
    config = json.dumps({"maxEdges": max(edges, MERMAID_MAX_EDGES), "maxTextSize": max(chars, MERMAID_MAX_TEXT)})
    stem = os.path.splitext(path)[0]
    return Problem(
        f"`{path}` has {' and '.join(past)}: a renderer that keeps Mermaid's defaults shows an error "
        "instead of the picture (a diagram cannot raise them itself)",
        hint=f"collapse the network with --depth 1 or 2; or render it with mermaid-cli given the limits: "
        f"`mmdc -i {shlex.quote(path)} -o {shlex.quote(stem + '.svg')} -c mermaid.json`, mermaid.json holding "
        f"{config}",
    )


def to_mermaid(d: Diagram) -> str:
    """A Mermaid flowchart: renders in Markdown on GitHub and GitLab with nothing installed."""
    title, legend = _titles(d)
    title = f"{title}; {legend}" if legend else title
    lines = ["---", f"title: {json.dumps(_mermaid(title))}", "---", "flowchart TD"]
    boxes = {b.key: b for b in d.boxes}
    joined = concat_channels(d)

    order = {b.key: i for i, b in enumerate(d.boxes)}

    def cluster(c: Cluster, indent: str, number: list[int]) -> None:
        for sub in _in_order(c, order):  # in network order, as in DOT
            if isinstance(sub, str):
                name, text, made = (_mermaid(s) for s in box_lines(boxes[sub], joined.get(sub, ())))
                label = "<br/>".join(s for s in (f"<b>{name}</b>", text, made) if s)
                lines.append(f'{indent}{sub}["{label}"]')
                continue
            number[0] += 1
            lines.append(f'{indent}subgraph c{number[0]}["{_mermaid(_cluster_label(sub))}"]')
            cluster(sub, indent + "  ", number)
            lines.append(f"{indent}end")

    cluster(d.top, "  ", [0])
    for e in d.edges:
        lines.append(f"  {e.src} {'-.->' if e.skip else '-->'} {e.dst}")
    for fam, fill in FILL.items():
        keys = [b.key for b in d.boxes if b.family == fam]
        if keys:
            lines.append(f"  classDef {fam} fill:{fill},stroke:#636363")
            lines.append(f"  class {','.join(keys)} {fam}")
    training = [b.key for b in d.boxes if b.training]
    if training:  # defined last: it overrides the family's fill
        lines.append(f"  classDef training fill:{TRAINING_FILL},stroke:{TRAINING_LINE},stroke-dasharray:5 3,"
                     f"color:{TRAINING_TEXT}")  # fmt: skip
        lines.append(f"  class {','.join(training)} training")
    return "\n".join(lines) + "\n"


def diagram_json(d: Diagram, file: str | None, fmt: str | None) -> dict:
    """What was drawn: the boxes, edges and clusters, for a script that draws its own (`file`
    None: nothing was written)."""

    def cluster(c: Cluster) -> dict:
        out = {"path": c.path, "label": c.label, "boxes": list(c.boxes), "clusters": [cluster(s) for s in c.clusters]}
        return out | ({"training_only": True} if c.training else {})

    return {
        "name": d.name,
        "file": file,
        "format": fmt,
        "style": "graph",
        "depth": d.depth,
        # as summarize's totals: every parameter and those inference uses; the multiplications
        # at inference and of a training forward pass, with the heads (`heads`)
        "params": d.params,
        "inference_params": d.inference_params,
        "mults": d.mults,
        "mults_with_heads": d.mults_with_heads,
        "heads": list(d.heads),
        "boxes": [
            {
                "key": b.key,
                "path": b.path,
                "family": b.family,
                "text": b.text,
                "output": format_shape(b.shape),  # a volume in JSON: HxWxC, as every command writes it
                "params": b.params,
                "mults": b.mults,
                "layers": b.layers,
                **({"training_only": True} if b.training else {}),  # a head's, as summarize's rows
            }
            for b in d.boxes
        ],
        "edges": [{"from": e.src, "to": e.dst, "skip": e.skip} for e in d.edges],
        "clusters": cluster(d.top)["clusters"],
    }


def count_clusters(c: Cluster) -> int:
    return sum(1 + count_clusters(s) for s in c.clusters)
