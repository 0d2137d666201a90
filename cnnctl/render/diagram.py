"""A Diagram as Graphviz DOT or Mermaid text: the same boxes, clusters and edges in both.

Each box reads its name, its shorthand, then its output volume and parameters; a collapsed
group says what it stands for (`36 x bottleneck`, its layers). Clusters are the composites
as written. Skip edges (shortcuts, a branch's input, references) are drawn dashed.
"""

from __future__ import annotations

import json

from ..analysis.diagram import Box, Cluster, Diagram
from ..shapes import format_shape
from .numbers import exact, short

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


def box_lines(box: Box) -> tuple[str, str, str]:
    """Title, what it is, and what it makes: `layer3`, `36 x bottleneck (254 layers)`, `14x14x1024, 7.10 M params`."""
    if box.key == "input":
        return "input", "", format_shape(box.shape)
    text = box.text if box.layers == 1 else f"{box.text} ({exact(box.layers)} layers)"
    made = format_shape(box.shape)
    if box.params:
        made += f" · {exact(box.params) if box.params < 10**6 else short(box.params)} params"
    return box.path.rsplit(".", 1)[-1] if box.layers == 1 else box.path, text, made


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def to_dot(d: Diagram) -> str:
    """Graphviz source: top to bottom, clusters nested as the composites are."""
    title = (
        f"{d.name}: {format_shape(d.input_shape)} to {format_shape(d.output_shape)}, "
        f"{exact(d.params)} params, {short(d.mults)} mults"
    )
    lines = [
        "digraph cnnctl {",
        f'  graph [rankdir=TB, fontname="Helvetica", fontsize=12, labelloc=t, label=<<b>{_html(title)}</b>>,'
        " nodesep=0.25, ranksep=0.3, newrank=true];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, color="#636363",'
        ' penwidth=0.8, margin="0.12,0.04"];',
        '  edge [color="#525252", arrowsize=0.6, penwidth=0.8];',
    ]
    boxes = {b.key: b for b in d.boxes}

    def node(key: str, indent: str) -> str:
        b = boxes[key]
        name, text, made = (_html(s) for s in box_lines(b))
        label = f"<b>{name}</b>" + (f"<br/>{text}" if text else "") + f'<br/><font point-size="9">{made}</font>'
        extra = ", peripheries=2" if b.family == "group" else ""
        return f'{indent}{key} [label=<{label}>, fillcolor="{FILL.get(b.family, "#ffffff")}"{extra}];'

    def cluster(c: Cluster, indent: str, number: list[int]) -> None:
        for key in c.boxes:
            lines.append(node(key, indent))
        for sub in c.clusters:
            number[0] += 1
            lines.append(f"{indent}subgraph cluster_{number[0]} {{")
            lines.append(
                f'{indent}  graph [label=<{_html(sub.label)}>, labeljust=l, fontsize=10, style="rounded,dashed",'
                ' color="#969696", fontcolor="#525252"];'
            )
            cluster(sub, indent + "  ", number)
            lines.append(f"{indent}}}")

    cluster(d.top, "  ", [0])
    for e in d.edges:
        lines.append(f"  {e.src} -> {e.dst} [{'style=dashed' if e.skip else 'weight=4'}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid(text: str) -> str:
    """Text inside a quoted Mermaid label: quotes and markup as entities."""
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(d: Diagram) -> str:
    """A Mermaid flowchart: renders in Markdown on GitHub and GitLab with nothing installed."""
    title = f"{d.name}: {format_shape(d.input_shape)} to {format_shape(d.output_shape)}, {exact(d.params)} params"
    lines = ["---", f"title: {json.dumps(_mermaid(title))}", "---", "flowchart TD"]
    boxes = {b.key: b for b in d.boxes}

    def cluster(c: Cluster, indent: str, number: list[int]) -> None:
        for key in c.boxes:
            name, text, made = (_mermaid(s) for s in box_lines(boxes[key]))
            label = "<br/>".join(s for s in (f"<b>{name}</b>", text, made) if s)
            lines.append(f'{indent}{key}["{label}"]')
        for sub in c.clusters:
            number[0] += 1
            lines.append(f'{indent}subgraph c{number[0]}["{_mermaid(sub.label)}"]')
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
    return "\n".join(lines) + "\n"


def diagram_json(d: Diagram, file: str | None, fmt: str | None) -> dict:
    """What was drawn: the boxes, edges and clusters, for a script that draws its own (`file`
    None: nothing was written)."""

    def cluster(c: Cluster) -> dict:
        return {"path": c.path, "label": c.label, "boxes": list(c.boxes), "clusters": [cluster(s) for s in c.clusters]}

    return {
        "name": d.name,
        "file": file,
        "format": fmt,
        "style": "graph",
        "depth": d.depth,
        "boxes": [
            {
                "key": b.key,
                "path": b.path,
                "family": b.family,
                "text": b.text,
                "output": list(b.shape),
                "params": b.params,
                "mults": b.mults,
                "layers": b.layers,
            }
            for b in d.boxes
        ],
        "edges": [{"from": e.src, "to": e.dst, "skip": e.skip} for e in d.edges],
        "clusters": cluster(d.top)["clusters"],
    }


def count_clusters(c: Cluster) -> int:
    return sum(1 + count_clusters(s) for s in c.clusters)
