"""Writing layers as a network file: ids only where needed, identical runs as `repeat:`,
and the file read back has every layer reading exactly what it read."""

import pytest

from cnnctl.api import load_text
from cnnctl.exchange.write_notation import Entry, traced_layers

CONV = "conv f=3 p=1 n=4"


def _read_back(entries: list[Entry]):
    graph = load_text("input: 8x8x4\nlayers:\n" + "\n".join(line for line, _ in traced_layers(entries)) + "\n")
    assert [n.inputs for n in graph.nodes] == [e.reads for e in entries]  # the same DAG (-1: the input)
    return graph


def _block(s: int) -> list[Entry]:
    """conv, conv, add of the block's input: a residual block starting at position s."""
    return [Entry(CONV, (s - 1,), "a"), Entry(CONV, (s,), "b"), Entry("add act=relu", (s + 1, s - 1), "add")]


def test_identical_layers_become_one_repeat():
    entries = [Entry(CONV, (i - 1,), f"c{i}") for i in range(3)]
    # the body's line traces each repetition's layer; the repeat's head, none
    assert traced_layers(entries) == [("  - repeat: 3", ()), ("    layers:", ()), (f"      - {CONV}", (0, 1, 2))]
    _read_back(entries)


def test_a_residual_block_repeats_with_its_shortcut_reading_input():
    entries = [*_block(0), *_block(3), Entry("pool avg global", (5,), "pool")]
    lines = [line for line, _ in traced_layers(entries)]
    assert "  - repeat: 2" in lines and "      - add act=relu with=input" in lines
    _read_back(entries)


CASES = {
    "a later layer reads inside the run": [
        *(Entry(CONV, (i - 1,), f"c{i}") for i in range(4)), Entry("concat", (3, 1), "cat"),
    ],
    "a layer reads before its segment": [
        Entry(CONV, (-1,), "c"), Entry("add", (0, -1), "a"), Entry(CONV, (1,), "c"), Entry("add", (2, -1), "a"),
    ],
    "the run's output is read far ahead": [*_block(0), *_block(3), Entry(CONV, (5,), "c"), Entry("add", (6, 5), "j")],
    "blocks after a different first": [Entry(CONV, (-1,), "stem"), *_block(1), *_block(4), *_block(7)],
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_what_is_written_reads_back_as_the_same_graph(case):
    _read_back(CASES[case])


def test_no_repeat_holds_a_layer_read_from_outside():
    entries = CASES["a layer reads before its segment"]  # each add reads the network's input
    assert not any("repeat" in line for line, _ in traced_layers(entries))
