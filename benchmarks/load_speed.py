"""How long `cnnctl.load_text` takes for ResNet-50, as a search over many candidate networks calls it.

    python benchmarks/load_speed.py [--runs 1000]

Two cases, in one process (as a search runs): the bundled ResNet-50 read again and again,
and as many different variants of it (other stage depths and widths, so each text and
graph is new). Prints the median and the 10th/90th percentile per call. Goal (issue 9):
ResNet-50 in at most 1 ms.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import time

import cnnctl
from cnnctl.catalog import bundled


def timed(texts: list[str]) -> list[float]:
    times = []
    for text in texts:
        start = time.perf_counter()
        cnnctl.load_text(text)
        times.append(time.perf_counter() - start)
    return times


def variants(text: str, count: int) -> list[str]:
    """ResNet-50's text with other stage depths and widths: `count` different networks."""
    depths = itertools.product((2, 3, 4), (3, 4, 5), (4, 6, 8), (2, 3, 4))
    widths = (48, 56, 64, 72, 80, 96, 112, 128)
    out = []
    for (d1, d2, d3, d4), width in itertools.product(depths, widths):
        t = text.replace("repeat: 3\n    id: layer1", f"repeat: {d1}\n    id: layer1")
        t = t.replace("repeat: 4\n    id: layer2", f"repeat: {d2}\n    id: layer2")
        t = t.replace("repeat: 6\n    id: layer3", f"repeat: {d3}\n    id: layer3")
        t = t.replace("repeat: 3\n    id: layer4", f"repeat: {d4}\n    id: layer4")
        out.append(t.replace("n=64 bias=false id=conv1", f"n={width} bias=false id=conv1"))
        if len(out) == count:
            break
    return out


def report(what: str, times: list[float]) -> None:
    ms = sorted(t * 1e3 for t in times)
    p10, p90 = ms[len(ms) // 10], ms[len(ms) * 9 // 10]
    print(f"{what}: median {statistics.median(ms):.3f} ms (10%: {p10:.3f}, 90%: {p90:.3f}) over {len(ms):,} calls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    with open(bundled()["resnet50"]) as f:
        text = f.read()
    graph = cnnctl.load_text(text)  # imports and first reading
    print(f"resnet50: {len(graph.nodes)} layers, {graph.params:,} params")
    gc.collect()
    report("the same ResNet-50 again", timed([text] * args.runs))
    others = variants(text, min(args.runs, 324))
    assert len(set(others)) == len(others), "the variants must all differ"
    report(f"{len(others):,} different variants", timed(others))


if __name__ == "__main__":
    main()
