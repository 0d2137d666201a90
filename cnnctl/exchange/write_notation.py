"""A list of layers written as a network file: ids only where they are needed, and runs of
identical blocks as `repeat:`.

A layer here is its shorthand (kind and arguments) and the positions of the layers it reads
(-1: the network's input). It reads the layer before implicitly; other inputs are named by
`with=` (joined to the one before) or `from=`, and the layers they name get an `id`.

A run of K >= 2 identical segments of L layers becomes `repeat: K` of one segment when each
layer of a segment reads only layers of its own segment or the segment's input (the layer
just before it), and nothing after the run reads inside it but its last layer: exactly what
a repeat's scope allows. Inside the body, the segment's input is `input`.
"""

from __future__ import annotations

import re

from ..records import record

NAME = re.compile(r"[^A-Za-z0-9_-]+")
MAX_BODY = 64  # the longest segment looked for: a block of a real network is a few dozen layers


@record
class Entry:
    text: str  # "conv f=3 p=1 n=64 bias=false"
    reads: tuple[int, ...]  # positions of its inputs; -1 is the network's input
    name: str  # the id it takes where one is needed


def _offsets(entries: list[Entry], i: int) -> tuple:
    """What layer `i` is, with its inputs as distances back from it (the input: i + 1)."""
    return (entries[i].text, tuple(i - r if r >= 0 else i + 1 for r in entries[i].reads))


def _local(entries: list[Entry], start: int, length: int) -> bool:
    """Whether every layer of the segment reads only inside it or the layer just before it."""
    for k in range(length):
        for r in entries[start + k].reads:
            if r < start - 1:
                return False
    return True


def _runs(entries: list[Entry], heads: tuple[int, ...] = ()) -> list[tuple[int, int, int]]:
    """(start, length, count) of the runs to write as repeats, greedily from the start. A head
    (an output beside the main one) is read from outside, after every layer: only a run's last."""
    sig = [_offsets(entries, i) for i in range(len(entries))]
    read_later = [0] * len(entries)  # the last position that reads each layer
    for i, e in enumerate(entries):
        for r in e.reads:
            if r >= 0:
                read_later[r] = max(read_later[r], i)
    for p in heads:
        read_later[p] = len(entries)
    runs, i, n = [], 0, len(entries)
    while i < n:
        best = None
        for length in range(1, min(MAX_BODY, (n - i) // 2) + 1):
            if not _local(entries, i, length):
                continue
            count, body = 1, sig[i : i + length]
            while i + (count + 1) * length <= n and sig[i + count * length : i + (count + 1) * length] == body:
                count += 1
            # nothing after the run may read inside it but its last layer: the longest run that holds
            while count >= 2 and any(read_later[p] >= i + count * length for p in range(i, i + count * length - 1)):
                count -= 1
            if count >= 2 and (best is None or count * length > best[1] * best[2]):
                best = (i, length, count)
        if best is None:
            i += 1
        else:
            runs.append(best)
            i = best[0] + best[1] * best[2]
    return runs


def traced_layers(
    entries: list[Entry], indent: str = "  ", heads: tuple[int, ...] = ()
) -> list[tuple[str, tuple[int, ...]]]:
    """The `layers:` list's lines, each with the positions of the entries it writes: one for a
    plain line, one per repetition for a line of a repeat's body, none for a repeat's head
    (a message about a line can then name what it came from). `heads`: the positions of outputs
    beside the main one (the last layer): they and the main one take ids, and an `outputs:`
    line (the main output first) follows the list."""
    runs = {start: (length, count) for start, length, count in _runs(entries, heads)}
    segment = {}  # position -> where its segment starts, for layers inside a run
    for start, (length, count) in runs.items():
        for p in range(start, start + length * count):
            segment[p] = start + (p - start) // length * length
    named = {  # layers read other than implicitly (the one before) or inside a repeat's body
        r
        for i, e in enumerate(entries)
        for j, r in enumerate(e.reads)
        if not (j == 0 and r == i - 1) and not (i in segment and r >= segment[i] - 1)
    }
    if heads:
        named |= {*heads, len(entries) - 1}
    ids = _ids(entries, named)
    lines: list[tuple[str, tuple[int, ...]]] = []
    i = 0
    while i < len(entries):
        if i in runs:
            length, count = runs[i]
            end = i + length * count
            lines.append((f"{indent}- repeat: {count}", ()))
            if end - 1 in named:  # a later layer reads the repeat's output
                lines.append((f"{indent}  id: {ids[end - 1]}", ()))
            lines.append((f"{indent}  layers:", ()))
            body = entries[i : i + length]
            local = [Entry(e.text, tuple(r - i if r >= i else -1 for r in e.reads), e.name) for e in body]
            for k, line in enumerate(_plain(local, indent + "    ")):
                lines.append((line, tuple(i + k + j * length for j in range(count))))
            i = end
        else:
            lines.append((_line(entries, i, ids, named, indent), (i,)))
            i += 1
    if heads:
        lines.append((f"outputs: [{', '.join(ids[p] for p in (len(entries) - 1, *heads))}]", ()))
    return lines


def _plain(entries: list[Entry], indent: str) -> list[str]:
    """Layers with no repeats, ids made afresh (a repeat's body: its own scope)."""
    named = {r for i, e in enumerate(entries) for j, r in enumerate(e.reads) if not (j == 0 and r == i - 1)}
    ids = _ids(entries, named)
    return [_line(entries, i, ids, named, indent) for i in range(len(entries))]


def _ids(entries: list[Entry], named: set[int]) -> dict[int, str]:
    ids: dict[int, str] = {-1: "input"}
    taken = {"input"}
    for i in sorted(p for p in named if p >= 0):
        base = NAME.sub("_", entries[i].name).strip("_-") or "layer"
        base = base if re.match(r"[A-Za-z_]", base) else f"l{base}"
        ident, k = base, 1
        while ident in taken:
            k += 1
            ident = f"{base}_{k}"
        taken.add(ident)
        ids[i] = ident
    return ids


def _line(entries: list[Entry], i: int, ids: dict[int, str], named: set[int], indent: str) -> str:
    e = entries[i]
    words = [e.text]
    if i in named:
        words.append(f"id={ids[i]}")
    reads = list(e.reads)
    if reads and reads[0] == i - 1:
        if reads[1:]:
            words.append("with=" + ",".join(ids[r] for r in reads[1:]))
    elif reads:
        words.append("from=" + ",".join(ids[r] for r in reads))
    return f"{indent}- {' '.join(words)}"
