"""cnnctl draw: the graph view (DOT, Mermaid, and SVG/PNG/PDF through Graphviz) and the
course's volume view. Expected structure comes from the papers' stage sizes and the files'
wiring, not from cnnctl's own output."""

import json
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET

import pytest

from cnnctl.analysis.diagram import diagram, volumes
from cnnctl.api import load, load_text
from cnnctl.catalog import bundled
from cnnctl.render import picture
from cnnctl.render.diagram import box_lines, count_clusters, to_dot
from tests.helpers import EXAMPLES, run_main

NETWORKS = sorted(bundled()) + sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed (Debian: apt install graphviz)")
SVG = "{http://www.w3.org/2000/svg}"


def _names(graph) -> set[str]:
    """What each layer's box is titled (in the bundled networks, where every box is drawn in the
    cluster of its path's parent): the last part of its path, after the one before where that
    is a number (VGG-16's `conv.1`)."""
    return {".".join(p[-2:]) if p[-1].isdigit() else p[-1] for p in (n.path.split(".") for n in graph.nodes)}


def _mermaid_is_well_formed(text: str, keys: set[str]) -> None:
    lines = text.splitlines()
    assert lines[0] == "---" and lines[3] == "flowchart TD"
    defined = {m.group(1) for m in re.finditer(r'^\s*(\w+)\["', text, re.M)}
    subgraphs = sum(1 for line in lines if line.strip().startswith("subgraph "))
    ends = sum(1 for line in lines if line.strip() == "end")
    assert subgraphs == ends
    assert keys <= defined
    for src, dst in re.findall(r"^\s*(\w+) -\.?-?> (\w+)$", text, re.M):
        assert src in defined and dst in defined
    for label in re.findall(r'\["(.*)"\]$', text, re.M):
        assert '"' not in label  # quotes inside a label end it early: written as #quot;


@pytest.mark.parametrize("net", NETWORKS)
def test_every_network_draws_as_dot_and_mermaid(net, tmp_path, monkeypatch, capsys):
    graph = load(net)
    for suffix in ("dot", "mmd"):
        out = tmp_path / f"net.{suffix}"
        code, said, err = run_main(monkeypatch, capsys, "draw", net, "-o", str(out))
        assert code == 0, err
        assert said.startswith(f"wrote {out}: {graph.name}")
    dot = (tmp_path / "net.dot").read_text()
    assert dot.startswith("digraph cnnctl {") and dot.rstrip().endswith("}")
    keys = {f"n{n.index}" for n in graph.nodes} | {"input"}
    for key in keys:
        assert re.search(rf"^\s*{key} \[label=<", dot, re.M), key
    # every input of every layer is an edge (besides the invisible ones that hold branches in order)
    edges = [line for line in dot.splitlines() if " -> " in line and "style=invis" not in line]
    assert len(edges) == len({(i, n.index) for n in graph.nodes for i in n.inputs})
    _mermaid_is_well_formed((tmp_path / "net.mmd").read_text(), keys)


@needs_dot
@pytest.mark.parametrize("net", NETWORKS)
def test_every_network_draws_through_graphviz(net, tmp_path, monkeypatch, capsys):
    graph = load(net)
    for suffix, magic in (("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")):
        out = tmp_path / f"net.{suffix}"
        code, _, err = run_main(monkeypatch, capsys, "draw", net, "-o", str(out))
        assert code == 0, err
        assert out.read_bytes().startswith(magic)
    root = ET.parse(tmp_path / "net.svg").getroot()  # parses as XML
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert {f"n{n.index}" for n in graph.nodes} <= titles  # a box for every layer
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert _names(graph) <= texts  # each titled with its name


def test_depth_collapses_resnet152_stages_into_boxes():
    # He et al. 2015, Table 1: ResNet-152's stages are 3, 8, 36 and 3 bottlenecks; a bottleneck
    # is 3 convs, 3 bns and the add; each stage's first has a projection (conv + bn)
    graph = load("resnet152")
    d = diagram(graph, depth=1)
    stages = {b.path: b for b in d.boxes if b.family == "group"}
    assert list(stages) == ["layer1", "layer2", "layer3", "layer4"]
    for (path, box), blocks in zip(stages.items(), (3, 8, 36, 3), strict=True):
        assert box.text.startswith(f"{blocks} x bottleneck"), box.text
        assert box.layers == blocks * 7 + 2, path
    assert stages["layer3"].shape == (14, 14, 1024)
    assert sum(b.params for b in d.boxes) == 60_192_808  # torchvision's ResNet-152
    assert [(e.src, e.dst) for e in d.edges][:4] == [("input", "n0"), ("n0", "n1"), ("n1", "n2"), ("n2", "g3")]
    assert not any(e.skip for e in d.edges)  # the shortcuts are inside the collapsed stages


def test_every_box_writes_its_params_in_one_style():
    # resnet18's boxes mixed "73,728 params" with "1.18 M params"
    from cnnctl.render.diagram import box_lines

    graph = load("resnet18")
    d = diagram(graph)
    made = [box_lines(b)[2] for b in d.boxes if b.params]
    assert made and all(re.fullmatch(r".* · \d{1,3}(,\d{3})* params", m) for m in made), made
    # 512 x 512 x 3 x 3 weights, no bias (a batch norm follows): layer4's convs
    assert any(m.endswith(f" · {512 * 512 * 9:,} params") for m in made)


def test_identity_shortcuts_are_the_skips_and_projections_are_paths():
    # ResNet-18: 8 basic blocks; the first of layer2, layer3, layer4 projects, the other 5 add
    # their input as it is: 5 dashed skips, each into an `add`
    graph = load("resnet18")
    d = diagram(graph)
    boxes = {b.key: b for b in d.boxes}
    skips = [e for e in d.edges if e.skip]
    assert len(skips) == 5
    assert all(boxes[e.dst].path.endswith(".add") for e in skips)
    shortcut = [b for b in d.boxes if ".shortcut." in b.path]
    assert len(shortcut) == 6  # 3 projections of conv + bn
    labels = []

    def walk(c):
        labels.append(c.label)
        for s in c.clusters:
            walk(s)

    walk(d.top)
    assert "layer1: repeat 2" in labels
    assert "layer2.1: basic n=128 s=2 shortcut=projection, residual projection" in labels
    assert "shortcut" in labels


def test_branches_are_clusters_and_their_input_is_no_skip():
    graph = load_text(
        "input: 28x28x192\nlayers:\n"
        "  - concat:\n      a: [conv f=1 n=64]\n      b: [conv f=1 n=16, conv f=5 p=same n=32]\n"
        "      c: [pool max f=3 s=1 p=1, conv f=1 n=32]\n      d: []\n"
    )
    d = diagram(graph)
    assert [c.label for c in d.top.clusters] == ["concat1: concat of 4 branches"]
    inner = d.top.clusters[0]
    assert [c.label for c in inner.clusters] == ["a", "b", "c"]  # a branch of one layer too: named beside b, c
    boxes = {b.key: b for b in d.boxes}
    skips = [(boxes[e.src].path, boxes[e.dst].path) for e in d.edges if e.skip]
    assert skips == [("input", "concat1.concat")]  # the empty branch d carries the input to the join


def _laid_out(d) -> tuple[dict[str, tuple[float, float, float, float]], list[list[tuple[float, float]]], float]:
    """Graphviz's layout of what cnnctl lays out (`dot -Tplain`): each node's centre and size,
    each drawn edge's B-spline control points, and the picture's width, in inches."""
    text = to_dot(d, picture.reverses_clusters())
    plain = subprocess.run(["dot", "-Tplain"], input=text, capture_output=True, text=True, check=True).stdout
    nodes, edges, width = {}, [], 0.0
    for line in plain.splitlines():
        word = line.split()
        if word[0] == "graph":
            width = float(word[2])
        elif word[0] == "node":
            nodes[word[1]] = tuple(float(v) for v in word[2:6])
        elif word[0] == "edge" and "invis" not in word:
            n = int(word[3])
            edges.append([(float(word[4 + 2 * i]), float(word[5 + 2 * i])) for i in range(n)])
    return nodes, edges, width


def _branch_heads(graph) -> dict[str, list[str]]:
    """Per concat of branches, the box of each branch's first layer, in the order written."""
    heads: dict[str, dict[str, str]] = {}
    for n in graph.nodes:
        parts = n.path.split(".")
        if len(parts) > 2 and any(g.path == parts[0] and "branches" in g.text for g in graph.groups):
            heads.setdefault(parts[0], {}).setdefault(parts[1], f"n{n.index}")
    return {module: list(firsts.values()) for module, firsts in heads.items()}


@needs_dot
@pytest.mark.parametrize("net", ["googlenet", "inception_v3"])
def test_inception_branches_lie_left_to_right_as_written(net):
    graph = load(net)
    nodes, _, _ = _laid_out(diagram(graph))
    modules = _branch_heads(graph)
    assert len(modules) == {"googlenet": 9, "inception_v3": 11}[net]
    for module, heads in modules.items():
        assert len(heads) >= 3, module
        x = [nodes[key][0] for key in heads]
        assert x == sorted(x), (module, heads)  # branch 1, 2, 3, 4 from left to right


# The nu3 user's tiny2.yaml: a residual stage, an Inception-like block of three branches (one
# layer, two layers, one pool: `pool1` again at the end), a residual whose shortcut is a list
TINY2 = """
input: 32x32x3
blocks:
  inc:
    args: a b
    layers:
      - concat:
          - conv f=1 n=$a act=relu
          - [conv f=1 n=$b act=relu, conv f=3 p=same n=$b act=relu]
          - [pool max f=3 s=1 p=1]
layers:
  - conv f=3 p=same n=16 act=relu
  - inc 8 16
  - residual: [conv f=3 p=1 n=72 act=relu, conv f=1 n=72]
    shortcut: [conv f=1 n=72]
  - pool avg global
  - fc 10
"""


def _box_of(d, path: str) -> str:
    """The key of the box that draws the layer `path` (itself, or the group holding it)."""
    return next(b.key for b in d.boxes if path == b.path or path.startswith(b.path + "."))


@pytest.mark.parametrize("depth", [None, 2])
@pytest.mark.parametrize("reversed_clusters", [False, True])
def test_branches_are_written_in_order_and_held_in_order(depth, reversed_clusters):
    """In the DOT text, the branches' tops are tied left to right in the order written (1, 2, 3)
    by invisible edges on their rank: before, a one-layer branch's box came before every
    cluster (1, 3, 2) and Graphviz 2.43 reversed sibling clusters; the residual's main path
    and its shortcut likewise. Without `reversed_clusters` (current Graphviz) the clusters come
    in that order in the text too."""
    d = diagram(load_text(TINY2), depth)
    dot = to_dot(d, reversed_clusters)
    tops = [_box_of(d, f"inc1.branch{k}.{first}") for k, first in ((1, "conv1"), (2, "conv1"), (3, "pool1"))]
    rows = re.findall(r"\{rank=same; ([\w >-]+) \[style=invis\]\}", dot)
    assert " -> ".join(tops) in rows
    main, shortcut = _box_of(d, "residual1.conv1"), _box_of(d, "residual1.shortcut.conv1")
    assert f"{main} -> {shortcut}" in rows
    if not reversed_clusters:
        written = [dot.index(f"  {key} [label=") for key in tops]
        assert written == sorted(written)


@needs_dot
@pytest.mark.parametrize(("net", "depth"), [("tiny2", None), ("tiny2", 2), ("googlenet", 2), ("inception_v3", 2)])
def test_branches_lie_left_to_right_as_written_at_every_depth(net, depth):
    """Laid out by the installed Graphviz: the nu3 user got branch1, branch3, branch2 for tiny2,
    and 4, 3, 2, 1 for every Inception module of googlenet --depth 2."""
    graph = load_text(TINY2) if net == "tiny2" else load(net)
    d = diagram(graph, depth)
    nodes, _, _ = _laid_out(d)
    modules = _branch_heads(graph)
    assert modules
    for module, heads in modules.items():
        x = [nodes[_box_of(d, graph.nodes[int(key[1:])].path)][0] for key in heads]
        assert x == sorted(x), (module, heads)


def test_collapsed_boxes_say_what_they_hold_once():
    """--depth 2: a one-layer branch shows its layer's shorthand (was `1 layers`), a branch of
    two `2 layers` (was `2 layers (2 layers)`), and every box in the module is titled from it
    (`branch2` beside `branch1`, not `inc1.branch2`)."""
    d = diagram(load_text(TINY2), 2)
    lines = {b.path: box_lines(b) for b in d.boxes}
    assert lines["inc1.branch1"][:2] == ("branch1", "conv f=1 n=8 act=relu")
    assert lines["inc1.branch2"][:2] == ("branch2", "2 layers")
    assert lines["inc1.branch3"][:2] == ("branch3", "pool max f=3 s=1 p=1")
    assert lines["residual1.shortcut"][:2] == ("shortcut", "conv f=1 n=72")
    dot = to_dot(d)
    assert "1 layers" not in dot and "(2 layers)" not in dot


def _drawn_in(c, around=()):
    """Each box's key -> the clusters it is drawn in, outermost first."""
    found = {key: around for key in c.boxes}
    for sub in c.clusters:
        found |= _drawn_in(sub, (*around, sub))
    return found


@pytest.mark.parametrize("net", ["tiny2", "googlenet", "resnest50d", "vgg16", "resnet18"])
def test_a_box_title_and_its_clusters_name_one_layer(net):
    """Read from the outermost cluster in, the clusters' paths and a box's title spell its path,
    so no two boxes of a cluster read alike: tiny2's branch pool `pool1` sits in a cluster
    `branch3` (was beside the global `pool1`, both in no cluster of their own), its list
    shortcut's `conv1` in a cluster `shortcut` (was beside the main path's `conv1`)."""
    d = diagram(load_text(TINY2) if net == "tiny2" else load(net))
    within = _drawn_in(d.top)
    boxes = {b.key: b for b in d.boxes}
    seen = {}
    for key, clusters in within.items():
        b = boxes[key]
        if key == "input":
            continue
        inner = clusters[-1].path if clusters else ""
        head = b.path[: len(b.path) - len(b.title)].rstrip(".")  # `layer1` of `layer1.1`, in `layer1`: the number led
        assert b.path.endswith(b.title) and head in (inner, inner.rpartition(".")[0]), (b.path, b.title, inner)
        assert (inner, b.title) not in seen, (b.path, seen.get((inner, b.title)))
        seen[inner, b.title] = b.path
    if net == "tiny2":
        labels = {c.path: c.label for cs in within.values() for c in cs}
        assert labels["inc1.branch3"] == "branch3" and labels["residual1.shortcut"] == "shortcut"
        assert {b.path: b.title for b in d.boxes}["inc1.branch3.pool1"] == "pool1"


def _bezier(points: list[tuple[float, float]], steps: int = 12):
    """Points along a Graphviz B-spline: cubic Bezier pieces sharing their ends."""
    for i in range(0, len(points) - 3, 3):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points[i : i + 4]
        for k in range(steps + 1):
            t = k / steps
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
            yield a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


@needs_dot
@pytest.mark.parametrize("net", ["resnet18", "googlenet"])
def test_no_edge_crosses_a_cluster_title(net):
    d = diagram(load(net))
    nodes, edges, _ = _laid_out(d)
    titles = {k: v for k, v in nodes.items() if k not in {b.key for b in d.boxes}}
    assert len(titles) == count_clusters(d.top)  # every cluster is titled by a box of text
    for key, (x, y, w, h) in titles.items():
        for points in edges:
            for px, py in _bezier(points):
                assert not (abs(px - x) < w / 2 - 0.01 and abs(py - y) < h / 2 - 0.01), (key, points[0])


@needs_dot
def test_png_text_is_large_enough_to_read(tmp_path, monkeypatch, capsys):
    d = diagram(load("googlenet"))
    _, _, inches = _laid_out(d)
    out = tmp_path / "g.png"
    code, _, err = run_main(monkeypatch, capsys, "draw", "googlenet", "-o", str(out))
    assert code == 0, err
    width = struct.unpack(">I", out.read_bytes()[16:20])[0]  # the PNG header's IHDR width
    # pixels per inch: 10-point text (the boxes' names) is 10/72 inch high; at 144 per inch, 20 pixels
    assert width / inches >= 140


def test_volume_view_of_lenet5_is_the_course_figure(tmp_path, monkeypatch, capsys):
    # LeCun et al. 1998 as in the course: 32x32x1 -> 28x28x6 -> 14x14x6 -> 10x10x16 -> 5x5x16 -> 120 -> 84 -> 10
    vols = volumes(load("lenet5"))
    assert [v.shape for v in vols] == [
        (32, 32, 1), (28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (120,), (84,), (10,)
    ]  # fmt: skip
    out = tmp_path / "lenet.svg"
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", "volumes", "-o", str(out))
    assert code == 0, err
    root = ET.parse(out).getroot()
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for shape in ("32x32x1", "28x28x6", "14x14x6", "10x10x16", "5x5x16", "120", "84", "10"):
        assert shape in texts
    assert len(list(root.iter(f"{SVG}rect"))) == 1 + 8  # the background, then a face per volume


def test_volume_view_draws_flatten_on_the_arrow_from_the_volume_it_flattens(tmp_path, monkeypatch, capsys):
    # The course's worked example: 7x7x40 is flattened into 1,960 values, then fc 1 with sigmoid
    vols = volumes(load(str(EXAMPLES / "three_conv_network.yaml")))
    assert [(v.shape, v.ops) for v in vols[-2:]] == [
        ((7, 7, 40), ("conv f=5 s=2 n=40",)),
        ((1,), ("flatten", "fc 1 act=sigmoid")),
    ]
    out = tmp_path / "three.svg"
    code, _, err = run_main(monkeypatch, capsys, "draw", str(EXAMPLES / "three_conv_network.yaml"),
                            "--style", "volumes", "-o", str(out))  # fmt: skip
    assert code == 0, err
    root = ET.parse(out).getroot()
    x = {t.text: float(t.get("x")) for t in root.iter(f"{SVG}text")}
    arrow = next(
        ln for ln in root.iter(f"{SVG}line") if float(ln.get("x1")) < x["flatten"] < float(ln.get("x2"))
    )  # the arrow it is written on
    assert x["7x7x40"] < float(arrow.get("x1")) and float(arrow.get("x2")) < x["1"]  # from 7x7x40 to the fc's 1


def test_volume_view_of_vgg16_has_the_papers_volumes():
    # Simonyan and Zisserman 2014, configuration D: convs keep the size, five pools halve it
    shapes = [v.shape for v in volumes(load("vgg16"))]
    expected = [(224, 224, 3)]
    for size, n, convs in ((224, 64, 2), (112, 128, 2), (56, 256, 3), (28, 512, 3), (14, 512, 3)):
        expected += [(size, size, n)] * convs + [(size // 2, size // 2, n)]
    expected += [(7, 7, 512), (4096,), (4096,), (1000,)]  # torchvision's adaptive pool, then the classifier
    assert shapes == expected


def test_volume_view_refuses_a_branched_network(monkeypatch, capsys, tmp_path):
    code, out, err = run_main(
        monkeypatch, capsys, "draw", "resnet18", "--style", "volumes", "-o", str(tmp_path / "r.svg")
    )
    assert code == 2 and out == ""
    assert "resnet18.yaml:" in err and "sequential" in err and "layer1.1.add" in err
    assert "Traceback" not in err


def test_volume_view_names_a_shadowed_input_unmistakably(tmp_path, monkeypatch, capsys):
    # the top-level bn1 beside stage1.1.bn1, as summarize's From column names it
    net = tmp_path / "tinyres.yaml"
    net.write_text(
        "input: 28x28x1\nlayers:\n  - conv f=3 p=same n=16\n  - bn act=relu\n  - repeat: 1\n    id: stage1\n"
        "    layers:\n      - residual: [conv f=3 p=1 n=16, bn act=relu, conv f=3 p=1 n=16, bn]\n"
    )
    code, _, err = run_main(monkeypatch, capsys, "draw", str(net), "--style", "volumes", "-o", str(tmp_path / "t.svg"))
    assert code == 2
    assert "layer `stage1.1.add`" in err and "takes bn2, bn1 (top level), not the layer before it" in err


def test_volume_view_names_the_networks_input_as_such(tmp_path, monkeypatch, capsys):
    # it said "this layer takes input", which reads as a layer called `input` or a word missing
    net = tmp_path / "skip.yaml"
    net.write_text("input: 8x8x1\nlayers:\n  - conv f=3 p=1 n=1\n  - add with=input\n")
    code, _, err = run_main(monkeypatch, capsys, "draw", str(net), "--style", "volumes", "-o", str(tmp_path / "s.svg"))
    assert code == 2
    assert "layer `add1`: the volume view draws sequential networks, but this layer takes conv1, the network's " \
        "input, not the layer before it" in err  # fmt: skip


def test_volume_view_as_png_and_pdf_is_the_svgs_layout_drawn_by_matplotlib(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="the volume view's PNG and PDF are drawn by matplotlib (the plot extra)")
    from cnnctl.render.volumes import PNG_DPI, lay_out

    monkeypatch.chdir(tmp_path)
    for name in ("net.png", "net.pdf", "net.svg"):
        code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", "volumes", "-o", name)
        assert code == 0, err
    svg = ET.parse(tmp_path / "net.svg").getroot()
    width, height = float(svg.get("width")), float(svg.get("height"))
    png = (tmp_path / "net.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # the IHDR's size: the SVG's px at 96 an inch (a browser's), drawn at PNG_DPI
    drawn = struct.unpack(">II", png[16:24])
    for pixels, px in zip(drawn, (width, height), strict=True):
        assert abs(pixels - px * PNG_DPI / 96) <= 1  # the SVG's size is rounded to whole px
    assert (tmp_path / "net.pdf").read_bytes().startswith(b"%PDF")
    graph = load("lenet5")
    layout = lay_out(graph.title, volumes(graph), graph.params, graph.mults)
    assert (layout.width, layout.height) == (pytest.approx(width, abs=0.5), pytest.approx(height, abs=0.5))


def test_volume_view_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    from cnnctl.render import volumes as drawn
    from cnnctl.render.mpl import NoMatplotlib

    def missing(name):
        raise NoMatplotlib("matplotlib is not installed")

    monkeypatch.setattr(drawn, "matplotlib_module", missing)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", "volumes", "-o", "net.png")
    assert code == 2 and "the volume view's PNG is drawn by matplotlib: matplotlib is not installed" in err
    assert 'pip install -e ".[plot]"' in err and "or write the SVG, which needs nothing" in err
    assert not (tmp_path / "net.png").exists()


def test_one_cluster_is_said_in_the_singular(tmp_path, monkeypatch, capsys):
    net = tmp_path / "one.yaml"
    net.write_text("input: 8x8x1\nlayers:\n  - conv f=3 p=1 n=1\n  - residual: [conv f=3 p=1 n=1]\n")
    code, out, _ = run_main(monkeypatch, capsys, "draw", str(net), "-o", str(tmp_path / "one.dot"))
    assert code == 0 and "one, 3 boxes in 1 cluster (" in out  # conv1; the residual's conv and its add


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "net.jpg"], "cannot tell what picture to write"),
        (["--style", "volumes", "-o", "net.dot"], "drawn as SVG, PNG or PDF, not dot"),
        (["--style", "volumes", "--depth", "1", "-o", "net.svg"], "--depth"),
        (["-o", "/dev/null/net.dot"], "`/dev/null` is a file, not a folder"),  # a missing folder is made
        (["--depth", "0", "-o", "net.dot"], "at least 1"),
    ],
)
def test_mistakes_are_one_message(args, said, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", *args)
    assert code == 2 and said in err and "Traceback" not in err


@pytest.mark.parametrize("style", ["graph", "volumes"])
def test_a_file_where_the_folder_is_to_be_is_told_with_a_hint_that_works(style, tmp_path, monkeypatch, capsys):
    # the hint was a placeholder, `name a file in a folder, e.g. -o FILE`
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("mine")
    told = (("afile/x.svg", "its folder `afile`"), ("afile/sub/x.svg", "its folder `afile/sub` cannot be made"))
    for given, folder in told:
        code, out, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", style, "-o", given)
        assert code == 2 and out == "" and f"cannot write `{given}`: {folder}" in err, err
        assert "`afile` is a file, not a folder" in err and "FILE" not in err
        assert "hint: write it beside that file, e.g. -o x.svg; or move `afile` away" in err
        assert (tmp_path / "afile").read_text() == "mine"
    code, out, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", style, "-o", "x.svg")  # the hint
    assert code == 0 and (tmp_path / "x.svg").exists(), err
    deep = tmp_path / "d" / "afile"
    deep.parent.mkdir()
    deep.write_text("mine")
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", style, "-o", str(deep / "x.svg"))
    assert code == 2 and f"-o {tmp_path / 'd' / 'x.svg'};" in err, err  # beside the file in the way


@pytest.mark.parametrize("style", ["graph", "volumes"])
def test_without_o_draw_never_replaces_a_file(style, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "lenet5.svg"
    mine.write_text("the user's own picture")
    for fmt in ("table", "json"):
        code, out, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", style, "-f", fmt)
        assert mine.read_text() == "the user's own picture"
        if fmt == "table":
            assert code == 2 and out == "" and "`lenet5.svg` already exists" in err and "-o lenet5.svg" in err
        else:  # --format json without -o prints what is drawn and writes nothing
            assert code == 0, err
            assert json.loads(out)["file"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5.svg"]  # no other file, no temporary left
    mine.unlink()
    code, out, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", style)
    assert code == 0 and out.startswith("wrote lenet5.svg"), err
    drawn = mine.read_bytes()
    assert drawn.startswith(b"<")
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", style)
    assert code == 2 and "already exists" in err  # not even a picture it wrote itself
    assert mine.read_bytes() == drawn
    mine.write_text("stale")
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--style", style, "-o", "lenet5.svg")
    assert code == 0, err
    assert mine.read_bytes() == drawn  # named with -o: replaced


def test_the_default_file_stays_in_this_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "here").mkdir()
    (tmp_path / "net.yaml").write_text("name: ../away\ninput: 8x8x1\nlayers:\n  - conv f=3 n=2\n")
    monkeypatch.chdir(tmp_path / "here")
    code, out, err = run_main(monkeypatch, capsys, "draw", "../net.yaml")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here", "net.yaml"]  # nothing written beside `here`
    assert [p.name for p in (tmp_path / "here").iterdir() if p.suffix == ".svg"] == [out.split()[1].rstrip(":")]


def test_without_graphviz_the_message_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(picture, "dot_program", lambda: None)
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "-o", str(tmp_path / "net.svg"))
    assert code == 2 and "apt install graphviz" in err and ".mmd" in err
    assert not (tmp_path / "net.svg").exists()
    code, _, err = run_main(monkeypatch, capsys, "draw", "lenet5", "-o", str(tmp_path / "net.dot"))
    assert code == 0, err  # DOT and Mermaid need nothing installed


@needs_dot
def test_a_network_too_large_to_lay_out_asks_for_depth(tmp_path, monkeypatch, capsys):
    net = tmp_path / "deep.yaml"
    net.write_text("input: 8x8x4\nlayers:\n  - repeat: 3001\n    layers: [conv f=3 p=1 n=4]\n")
    code, _, err = run_main(monkeypatch, capsys, "draw", str(net), "-o", str(tmp_path / "deep.svg"))
    assert code == 2 and "--depth" in err and "3,002 boxes" in err  # the input and 3,001 convs
    code, _, err = run_main(monkeypatch, capsys, "draw", str(net), "-d", "1", "-o", str(tmp_path / "deep.svg"))
    assert code == 0, err  # one box for the repeat


def dense_network(relus: int, adds: int) -> str:
    """A chain of `relus` relus, then `adds` adds each of all of them: relus + adds * relus edges
    (the input's to the first relu, each relu's to the next, each relu's to each add)."""
    layers = [f"  - relu id=r{i}" for i in range(relus)]
    layers += ["  - add from=" + ",".join(f"r{i}" for i in range(relus))] * adds
    return "input: 4x4x1\nlayers:\n" + "\n".join(layers) + "\n"


def test_a_network_with_too_many_edges_to_lay_out_is_refused_before_graphviz(tmp_path, monkeypatch, capsys):
    # 600 adds of 200 inputs each (100,700 edges) ran `dot` for 94 s to 15.9 GB; this one is refused at once
    monkeypatch.setattr(picture, "dot_program", lambda: None)  # no `dot` is asked: the count refuses it first
    (tmp_path / "dense.yaml").write_text(dense_network(100, 50))
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "dense.yaml"), "-o", str(tmp_path / "d.svg"))
    assert code == 2 and "5,100 edges" in err and "at most 5,000" in err  # 100 + 50 x 100
    assert "--depth" in err and "d.dot" in err and "Traceback" not in err
    assert not (tmp_path / "d.svg").exists()
    (tmp_path / "dense.yaml").write_text(dense_network(100, 49))  # 100 + 49 x 100: at the bound, laid out
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "dense.yaml"), "-o", str(tmp_path / "d.svg"))
    assert code == 2 and "edges" not in err and "needs Graphviz" in err
    dot = str(tmp_path / "d.dot")
    code, out, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "dense.yaml"), "-o", dot, "-f", "json")
    assert code == 0, err  # DOT is written whatever its size: it needs no layout
    assert len(json.loads(out)["edges"]) == 100 + 49 * 100


@pytest.mark.skipif(shutil.which("sfdp") is None, reason="Graphviz's `sfdp` is not installed")
def test_the_hint_for_a_graph_too_large_for_dot_lays_it_out(tmp_path, monkeypatch, capsys):
    # The hint was `.dot` then `dot -Tsvg`: `dot` on that DOT ran past 120 s; `sfdp` lays it out in under a second
    (tmp_path / "dense.yaml").write_text(dense_network(100, 50))  # 100 + 50 x 100 = 5,100 edges
    svg, dot = tmp_path / "d.svg", tmp_path / "d.dot"
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "dense.yaml"), "-o", str(svg))
    assert code == 2 and f"-o {dot}" in err and f"`sfdp -Tsvg {dot} -o {svg}`" in err, err
    assert "`dot -Tsvg`" not in err
    code, out, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "dense.yaml"), "-o", str(dot))
    assert code == 0 and f"`sfdp -Tsvg {dot} -o {svg}`" in out and "`dot -Tsvg`" not in out, out  # not dot
    subprocess.run(["sfdp", "-Tsvg", str(dot), "-o", str(svg)], check=True, timeout=60)  # the hint, as given
    drawn = ET.parse(svg).getroot()
    assert sum(1 for g in drawn.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "edge") == 5_100
    code, out, err = run_main(monkeypatch, capsys, "draw", "lenet5", "-o", str(dot))
    assert code == 0 and "lay it out with `dot -Tsvg`" in out and "sfdp" not in out  # a graph dot lays out at once


def chain(relus: int, layer: str = "relu") -> str:
    """A chain of `relus` layers: as many edges (the input's to the first, each one's to the next)."""
    return f"name: chain\ninput: 4x4x1\nlayers:\n  - repeat: {relus}\n    layers: [{layer}]\n"


def test_mermaid_past_what_mermaid_draws_by_default_is_warned(tmp_path, monkeypatch, capsys):
    # Mermaid refuses a 501st edge (maxEdges 500) and a text over 50,000 characters (maxTextSize) unless
    # the page raises them; a .mmd of any size was written without a word
    net, mmd = tmp_path / "c.yaml", tmp_path / "c.mmd"
    net.write_text(chain(500))
    code, out, err = run_main(monkeypatch, capsys, "draw", str(net), "-o", str(mmd))
    assert code == 0 and err == "" and out.startswith("wrote"), err  # 500 edges: drawn
    net.write_text(chain(501))
    code, out, err = run_main(monkeypatch, capsys, "draw", str(net), "-o", str(mmd))
    assert code == 0 and mmd.exists() and out.startswith("wrote"), err  # written all the same: mmdc can raise them
    assert sum(" --> " in line for line in mmd.read_text().splitlines()) == 501
    assert err.startswith("warning: ") and "501 edges (Mermaid's maxEdges: at most 500)" in err
    assert "characters" not in err.split("hint:")[0]  # its text is within 50,000
    assert "--depth" in err and f"mmdc -i {mmd} -o {tmp_path / 'c.svg'} -c mermaid.json" in err
    assert '{"maxEdges": 501, "maxTextSize": 50000}' in err
    code, out, _ = run_main(monkeypatch, capsys, "draw", str(net), "-o", str(mmd), "-f", "json")
    (warning,) = json.loads(out)["warnings"]  # in the document, as the network's own warnings
    assert "501 edges" in warning["message"] and "mmdc" in warning["hint"]
    net.write_text(chain(499, "conv f=3 p=1 n=4 act=relu"))  # 499 edges, each box's label long
    code, out, err = run_main(monkeypatch, capsys, "draw", str(net), "-o", str(mmd))
    chars = len(mmd.read_text())  # JavaScript's length: UTF-16 units, one a character here (no astral ones)
    assert chars > 50_000 and code == 0, err
    assert f"{chars:,} characters (Mermaid's maxTextSize: at most 50,000)" in err and "edges (" not in err
    assert f'{{"maxEdges": 500, "maxTextSize": {chars}}}' in err


@needs_dot
@pytest.mark.parametrize(("arch", "mib"), [("lenet5", 1), ("resnet152", 8)])  # too little to load `dot`; to lay out
def test_graphviz_out_of_its_memory_is_one_message(arch, mib, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(picture, "DOT_MEMORY", mib * 2**20)  # resnet152's SVG: about 20 MiB resident, 400 mapped
    code, _, err = run_main(monkeypatch, capsys, "draw", arch, "-o", str(tmp_path / "l.svg"))
    assert code == 2 and "out of memory" in err and f"{mib}.00 MiB" in err, err
    assert "--depth" in err and "Traceback" not in err and not (tmp_path / "l.svg").exists()


@needs_dot
def test_graphviz_out_of_its_time_is_one_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(picture, "DOT_SECONDS", 1)
    (tmp_path / "dense.yaml").write_text(dense_network(60, 60))  # 3,660 edges over 60 ranks: minutes of layout
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "dense.yaml"), "-o", str(tmp_path / "d.svg"))
    assert code == 2 and "took more than 1 s" in err and "Traceback" not in err, err


def test_json_lists_what_was_drawn(monkeypatch, capsys, tmp_path):
    graph = load("googlenet")
    code, out, err = run_main(monkeypatch, capsys, "draw", "googlenet", "-o", str(tmp_path / "g.mmd"), "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["format"] == "mermaid" and data["style"] == "graph"
    assert len(data["boxes"]) == len(graph.nodes) + 1
    assert sum(b["params"] for b in data["boxes"]) == graph.params  # every layer in one box, none twice
    assert len(data["edges"]) == len({(i, n.index) for n in graph.nodes for i in n.inputs})
    inception = [c for c in data["clusters"] if c["path"].startswith("inception")]
    assert len(inception) == 9  # 3a, 3b, 4a-4e, 5a, 5b


# A name with an ESC, markup of rich and of Mermaid, and quotes: each output shows it as written.
HOSTILE_NAME = 'name: "[bold red]x\\e[31mY <b>&#quot; \\"q\\""\ninput: 8x8x1\nlayers:\n  - conv f=3 n=2\n  - fc 2\n'


@pytest.mark.parametrize("suffix", ["dot", "mmd", "volumes.svg"] + (["svg"] if HAS_DOT else []))
def test_a_name_with_control_characters_draws_and_is_escaped(suffix, tmp_path, monkeypatch, capsys):
    (tmp_path / "mk.yaml").write_text(HOSTILE_NAME)
    out = tmp_path / f"mk.{suffix}"
    style = ["--style", "volumes"] if suffix == "volumes.svg" else []
    code, said, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "mk.yaml"), "-o", str(out), *style)
    assert code == 0, err
    assert "\x1b" not in said + err and "[bold red]x\\x1b[31mY" in said  # the terminal is not driven by it
    text = out.read_text()
    assert "\x1b" not in text
    if suffix == "mmd":  # the title is a YAML (JSON) string: its backslash is written `\\`
        assert json.loads(text.splitlines()[1].removeprefix("title: ")).startswith("[bold red]x\\x1b[31mY #lt;b")
    else:
        assert "x\\x1b[31mY" in text
    if suffix.endswith("svg"):  # well-formed XML, and the title reads as written
        shown = "".join(ET.fromstring(text).itertext())
        assert '[bold red]x\\x1b[31mY <b>&#quot; "q"' in shown
    elif suffix == "mmd":  # `#` is Mermaid's entity start: `#quot;` in a name is written so as to read as written
        assert "&#35;quot;" not in text and "#amp;#35;quot;" in text


def test_mermaid_writes_its_entity_start_as_an_entity():
    from cnnctl.render.diagram import _mermaid

    assert _mermaid('a#quot;"&<b>\x1b') == "a#35;quot;#quot;#amp;#lt;b#gt;\\x1b"


def test_format_offers_text_and_json_not_a_table(monkeypatch, capsys):
    # `draw --help` offered `--format table|json`; draw prints no table
    code, out, _ = run_main(monkeypatch, capsys, "draw", "--help")
    assert code == 0 and "--format text|json" in out and "table|json" not in out
    code, out, err = run_main(monkeypatch, capsys, "draw", "lenet5", "--format", "csv")
    assert code == 2 and "--format expected one of text, json" in err


@pytest.mark.parametrize("style", ["graph", "volumes"])
def test_draw_json_holds_the_warnings_and_leaves_stderr_empty_as_summarize_does(tmp_path, monkeypatch, capsys, style):
    from helpers import run_main

    # conv f=2 s=2 on 7x7: (7 - 2) / 2 is not whole, so its last row and column are left out (a warning)
    net = tmp_path / "odd.yaml"
    net.write_text("input: 7x7x1\nlayers: [conv f=2 s=2 n=2, fc 3]\n")
    code, out, err = run_main(monkeypatch, capsys, "draw", str(net), "--style", style, "--format", "json")
    (warning,) = json.loads(out)["warnings"]
    assert code == 0 and err == ""
    assert (warning["file"], warning["line"], warning["layer"]) == (str(net), 2, "conv1")
    assert "leaves out the last row and column" in warning["message"]
    code, summarized, err_summarize = run_main(monkeypatch, capsys, "summarize", str(net), "--format", "json")
    assert json.loads(summarized)["warnings"] == [warning] and err_summarize == ""  # one rule for both
    monkeypatch.chdir(tmp_path)
    picture = "odd.mmd" if style == "graph" else "odd.svg"  # neither needs Graphviz
    code, out, err = run_main(monkeypatch, capsys, "draw", str(net), "--style", style, "-o", picture)
    assert code == 0 and err == warning["text"] + "\n"  # text: on stderr, as ever


# A network named in Chinese and Japanese: a font without those glyphs draws each as an empty box.
CJK_NET = "name: 网络测试ネット\ninput: 28x28x1\nlayers:\n  - conv f=3 n=4\n  - fc 10\n"
LATIN_ONLY = (("DejaVu Sans", frozenset(range(0x20, 0x250))),)  # fontconfig's list on a machine without CJK fonts


@needs_dot
def test_a_graph_picture_warns_once_where_no_font_has_its_characters(tmp_path, monkeypatch, capsys):
    # Graphviz drew 网络测试ネット as hex boxes in the PNG, without a word
    from cnnctl.render import glyphs

    (tmp_path / "cjk.yaml").write_text(CJK_NET)
    monkeypatch.setattr(glyphs, "_fonts", lambda: LATIN_ONLY)
    png = tmp_path / "cjk.png"
    code, out, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "cjk.yaml"), "-o", str(png))
    assert code == 0 and png.exists() and out.startswith("wrote"), err
    assert err.count("warning:") == 1 and "网 (U+7F51)" in err and "ト (U+30C8)" in err and f"`{png}`" in err
    assert "fonts-noto-cjk" in err and "`.svg`" in err
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "cjk.yaml"), "-o", str(tmp_path / "c.svg"))
    assert code == 0 and err == ""  # an SVG's text is drawn by the browser's fonts
    with_cjk = ((*LATIN_ONLY[0],), ("Noto Sans CJK JP", frozenset(map(ord, "网络测试ネット"))))
    monkeypatch.setattr(glyphs, "_fonts", lambda: with_cjk)
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "cjk.yaml"), "-o", str(png))
    assert code == 0 and err == ""  # fontconfig falls back to the font that has them: Graphviz draws them


def test_a_volume_picture_warns_once_where_matplotlib_has_no_font_for_its_characters(tmp_path, monkeypatch, capsys):
    # matplotlib drew boxes and printed a UserWarning per character, with its source lines
    pytest.importorskip("matplotlib", reason="the volume view's PNG is drawn by matplotlib (the plot extra)")
    from cnnctl.render import glyphs

    (tmp_path / "cjk.yaml").write_text(CJK_NET)
    png = tmp_path / "cjk.png"
    code, out, err = run_main(
        monkeypatch, capsys, "draw", str(tmp_path / "cjk.yaml"), "--style", "volumes", "-o", str(png)
    )
    assert code == 0 and png.exists(), err
    assert "UserWarning" not in err and "Glyph" not in err
    if glyphs.no_font_has("网络测试ネット"):  # this machine has no CJK font: told once
        assert err.count("warning:") == 1 and "网 (U+7F51)" in err and f"`{png}`" in err
    elif not glyphs.fallbacks("网络测试ネット"):
        pytest.skip("fontconfig cannot say which fonts are installed here")
    else:  # one has them: matplotlib falls back to it
        assert err == ""


@pytest.mark.skipif(not shutil.which("fc-list"), reason="fontconfig's fc-list is not installed")
def test_matplotlib_falls_back_to_an_installed_font_that_has_the_characters(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="the volume view's PNG is drawn by matplotlib (the plot extra)")
    from cnnctl.render import glyphs

    # a character DejaVu Sans lacks and another installed font has (U+02EA is in Liberation Sans)
    char = next((c for c in "˪˫ʹ⌒⌓" if glyphs.fallbacks(c)), None)
    if char is None:
        pytest.skip("no installed font has a character DejaVu Sans lacks")
    (tmp_path / "n.yaml").write_text(f'name: "t{char}n"\ninput: 28x28x1\nlayers:\n  - conv f=3 n=4\n')
    png = tmp_path / "n.png"
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "n.yaml"), "--style", "volumes", "-o", str(png))
    assert code == 0 and err == "", err  # drawn in the font that has it
    monkeypatch.setattr(glyphs, "fallbacks", lambda text, first="": [])  # DejaVu Sans alone, as before
    code, _, err = run_main(monkeypatch, capsys, "draw", str(tmp_path / "n.yaml"), "--style", "volumes", "-o", str(png))
    assert code == 0 and f"(U+{ord(char):04X})" in err and err.count("warning:") == 1


def test_plot_of_a_run_named_in_chinese_warns_once_where_no_font_has_it(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="plot draws with matplotlib (the plot extra)")
    from cnnctl.render import glyphs
    from tests.test_reading import a_run

    run = a_run(tmp_path / "实验")
    monkeypatch.setattr(glyphs, "fallbacks", lambda text, first="": [])  # DejaVu Sans alone: it has no 实, 验
    for suffix in ("png", "svg"):  # matplotlib writes an SVG's text as paths: boxes too
        out = tmp_path / f"c.{suffix}"
        code, _, err = run_main(monkeypatch, capsys, "plot", str(run), "-o", str(out))
        assert code == 0 and out.exists(), err
        assert err.count("warning:") == 1 and "实 (U+5B9E), 验 (U+9A8C)" in err and f"`{out}`" in err, err
        assert "UserWarning" not in err and "Glyph" not in err
        assert "fonts-noto-cjk" in err and ".svg" not in err.split("hint:")[1]  # its SVG is no way out


def test_the_wrote_line_goes_through_the_one_writer_of_reports(tmp_path, monkeypatch, capsys):
    # draw wrote its `wrote FILE: ...` line itself; schema, import and export say theirs through
    # cli.common.print_lines (each line kept to one, the user's text escaped): one place
    import cnnctl.cli.draw

    said = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cnnctl.cli.draw, "print_lines", said.extend)
    code, out, err = run_main(monkeypatch, capsys, "draw", "lenet5", "-o", "l.mmd")
    assert code == 0 and out == "", err
    assert len(said) == 1 and said[0].startswith("wrote l.mmd: lenet5, ") and (tmp_path / "l.mmd").is_file()


def test_the_legend_says_only_what_the_picture_uses():
    # the pictures had no key to their fills, dashed edges and double borders
    lenet = to_dot(diagram(load("lenet5")))
    assert ">conv<" in lenet and ">fc<" in lenet and ">pool<" in lenet
    assert ">norm<" not in lenet and "dashed arrow" not in lenet and "double border" not in lenet
    resnet = to_dot(diagram(load("resnet18")))
    assert "dashed arrow: a skip" in resnet and ">add, concat<" in resnet and "double border" not in resnet
    collapsed = to_dot(diagram(load("resnet18"), depth=1))
    assert "double border: layers collapsed into one box" in collapsed and ">group<" in collapsed
    assert "dashed arrow" not in collapsed  # the skips are inside the boxes: none drawn, none said


def test_a_concat_box_says_the_channels_it_joins():
    # Inception 3a: 64 + 128 + 32 + 32 = 256 (Szegedy et al. 2014, table 1), branches in the order written
    d = diagram(load("googlenet"))
    from cnnctl.render.diagram import concat_channels

    joined = concat_channels(d)
    box = next(b for b in d.boxes if b.path == "inception3a.concat")
    assert joined[box.key] == (64, 128, 32, 32)
    assert box_lines(box, joined[box.key])[2] == "28x28x256 = 64+128+32+32"
    assert "28x28x256 = 64+128+32+32" in to_dot(d)
    assert not any(b.text.split()[:1] == ["add"] for b in d.boxes if b.key in joined)  # an add's are not summed
