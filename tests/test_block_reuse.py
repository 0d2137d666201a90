"""A block used again with the same arguments and input shape is made again from its first
use's layers (`cnnctl.graph.blocks`, a speed-up): the graph must be exactly the one built
use by use, whatever the network, and its mistakes and warnings the same."""

import glob
import os

import pytest

import cnnctl
from cnnctl.catalog import bundled
from cnnctl.errors import CnnctlError
from cnnctl.graph import blocks

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "examples", "*.yaml")))

# What making again must get right beyond the bundled networks: ids and references inside
# the body, nested blocks, a body that makes no layer, warnings, uses at the network's input,
# paths that share a prefix (`b1.1` and `b1.10`), and a stochastic-depth schedule.
SYNTHETIC = {
    "nested_ids": """
input: 16x16x8
blocks:
  inner:
    args: n
    layers:
      - conv f=3 p=same n=$n id=a
      - conv f=1 n=$n
      - add with=a act=relu
  outer:
    args: n k=2
    layers:
      - inner n=$n
      - repeat: $k
        layers: [inner n=$n]
      - concat:
          - [pool max f=3 s=1 p=1]
          - [inner n=$n]
layers:
  - outer n=8
  - outer n=8
  - outer n=8 k=1
  - repeat: 11
    id: b1
    layers: [outer n=16]
  - outer n=32
""",
    "empty_body": """
input: 8x8x4
blocks:
  nothing:
    args: k=0
    layers:
      - repeat: $k
        layers: [conv f=1 n=4]
layers:
  - nothing
  - nothing
  - conv f=3 n=4
  - nothing k=1
  - nothing k=1
""",
    "warnings": """
input: 9x9x4
blocks:
  uneven:
    args: n
    layers:
      - conv f=2 p=same n=$n
      - pool max f=2 s=1 p=same
layers:
  - uneven n=4
  - uneven n=4
  - repeat: 3
    layers: [uneven n=4]
""",
    "scheduled": """
input: 16x16x8
droppath: {rate: 0.3, blocks: [res]}
blocks:
  res:
    layers:
      - residual:
          - conv f=3 p=same n=8
          - droppath
layers:
  - repeat: 5
    layers: [res]
""",
    "gate": """
input: 8x8x16
blocks:
  se:
    args: r=4
    layers:
      - gate:
          - pool avg global
          - fc ${in_c/$r} act=relu
          - fc $in_c act=sigmoid
layers:
  - se
  - se
  - conv f=1 n=32
  - se r=8
  - se r=8
""",
}


def _both(text: str, monkeypatch) -> tuple:
    """The graph (or the problems) with blocks made again, then built use by use."""
    results = []
    for replay in (True, False):
        monkeypatch.setattr(blocks, "REPLAY", replay)
        try:
            graph = cnnctl.load_text(text, "net.yaml")
            results.append((graph.nodes, graph.warnings))
        except CnnctlError as exc:
            results.append(exc.problems)
    return tuple(results)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


# The bundled networks, the examples, and what making again must get right beyond them.
NETWORKS = [
    *(pytest.param(_read(path), id=f"bundled-{name}") for name, path in sorted(bundled().items())),
    *(pytest.param(_read(path), id=f"example-{os.path.basename(path)}") for path in EXAMPLES),
    *(pytest.param(text, id=f"synthetic-{name}") for name, text in sorted(SYNTHETIC.items())),
]


@pytest.mark.parametrize("text", NETWORKS)
def test_networks_are_the_same_made_again(text, monkeypatch):
    again, built = _both(text, monkeypatch)
    assert again == built


def test_warnings_of_each_use_name_its_own_layer(monkeypatch):
    (nodes, warnings), _ = _both(SYNTHETIC["warnings"], monkeypatch)
    # two uneven layers per use, five uses: each warning under its own use's path
    layers = [w.layer for w in warnings]
    assert layers == [
        f"{use}.{layer}"
        for use in ("uneven1", "uneven2", "repeat1.1", "repeat1.2", "repeat1.3")
        for layer in ("conv1", "pool1")
    ]


def test_paths_and_inputs_are_moved_to_each_use(monkeypatch):
    (nodes, _), _ = _both(SYNTHETIC["nested_ids"], monkeypatch)
    by_path = {n.path: n for n in nodes}
    # `b1.10` is not taken for part of `b1.1`; each add takes its own use's `a`
    for use in ("b1.1", "b1.10", "outer2"):
        add = by_path[f"{use}.inner1.add1"]
        assert nodes[add.inputs[1]].path == f"{use}.inner1.a"
        assert nodes[add.inputs[0]].path == f"{use}.inner1.conv1"
    assert all(n.index == i for i, n in enumerate(nodes))
    assert all(i < n.index for n in nodes for i in n.inputs)


def test_mistakes_in_a_block_are_told_once_for_every_use(monkeypatch):
    text = """
input: 8x8x4
blocks:
  bad:
    args: n
    layers:
      - conv f=9 n=$n
layers:
  - bad n=4
  - bad n=4
  - bad n=8
"""
    again, built = _both(text, monkeypatch)
    assert again == built
    # the same mistake at the same place, told once, naming the first use
    assert [(p.layer, p.loc.line) for p in again] == [("bad1", 7)]
    assert "used at line 9" in again[0].message


def test_a_stage_of_a_resnet_is_made_again_not_built(monkeypatch):
    """Without this, the equalities above would hold trivially."""
    made = []
    real = blocks._again
    monkeypatch.setattr(blocks, "_again", lambda *a: made.append(a[2]) or real(*a))
    cnnctl.load("resnet50")
    # each stage's first use differs (stride, projection); the others repeat the second's
    assert made == ["layer1.3", "layer2.3", "layer2.4", "layer3.3", "layer3.4", "layer3.5", "layer3.6", "layer4.3"]
