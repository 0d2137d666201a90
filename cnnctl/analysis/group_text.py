"""What a group of layers collapsed by --depth is, as written: the composites at its path.

One wording for `draw`'s collapsed box and `summarize`'s collapsed row alike: a repeat of one
block reads `36 x bottleneck`, one use of a block or a construct its call
(`bottleneck n=64 shortcut=projection, residual projection`), a path that is no composite
(a branch) nothing.
"""

from __future__ import annotations

from ..graph import Graph
from ..notation.parse import CONSTRUCTS  # what a repeat's passes may be besides one block: no block's name


def composite_texts(graph: Graph) -> dict[str, list[str]]:
    """Each composite's path -> what was written there, outermost first (`Graph.groups`)."""
    texts: dict[str, list[str]] = {}
    for g in graph.groups:
        texts.setdefault(g.path, []).append(g.text)
    return texts


def group_text(path: str, texts: dict[str, list[str]]) -> str:
    """What the collapsed group at `path` is: a repeat of one block reads `36 x bottleneck`;
    "" for a path that is no composite (a branch). `texts`: `composite_texts(graph)`."""
    own = texts.get(path, [])
    if own and own[0].startswith("repeat "):
        times = own[0].split()[1]
        prefix = path + "."
        kinds = {
            t.split()[0]
            for p, ts in texts.items()
            if p.startswith(prefix) and p[len(prefix) :].isdigit()
            for t in ts[:1]
            if t.split()[0] not in CONSTRUCTS and " branches" not in t
        }
        if len(kinds) == 1:
            own = [f"{times} x {kinds.pop()}", *own[1:]]
    return ", ".join(own)
