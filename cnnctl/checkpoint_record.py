"""What a cnnctl checkpoint's plain values must be, told without torch: its format tag, whole
numbers and bounded lists (each object pickle shares checked once), and the record of its network.

cnnctl.train.checkpoint checks a loaded checkpoint with these; `cnnctl runs`, which never loads
one, checks the network record it reads from the pickle (cnnctl.pickled.read_pickle) with the same
test and words, so a run every other command refuses is not listed as whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .limits import MAX_LAYERS

FORMAT = "cnnctl-checkpoint-1"  # the `format` key of every checkpoint cnnctl writes
NETWORK_WHAT = "record of its layers"  # the `network` key, in words
NETWORK_MUST_BE = f"an input and a list of layers ({MAX_LAYERS:,} at most)"


def is_int(v: Any, lo: int = 0) -> bool:
    """A whole number (not a bool) of at least `lo`."""
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def is_real(v: Any) -> bool:
    """A number (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_list(v: Any, item: Callable[[Any], bool], empty: bool = False, most: int = MAX_LAYERS) -> bool:
    """A list or tuple of at most `most` items (its length is checked before any item: a file
    of a few MB can hold a list of millions, pickle sharing one object under each), each `item`."""
    return isinstance(v, (list, tuple)) and (empty or len(v) > 0) and len(v) <= most and all(item(x) for x in v)


def once(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """`test` run once per object: pickle stores an object once and refers to it again, so a
    list of a million references to one long record is a few bytes of file; checked for each
    reference, it is millions of times the record's work. An object met again (by id, while
    the loaded file keeps it alive) has the answer of its first time."""
    seen: dict[int, bool] = {}

    def tested(v: Any) -> bool:
        if id(v) not in seen:
            seen[id(v)] = test(v)
        return seen[id(v)]

    return tested


def is_network(v: Any) -> bool:
    """An input of 3 sizes and at most MAX_LAYERS layer records, each [path, shorthand, [the
    indices of its inputs, -1 for the image]]: an index is of one of the layers, and a record
    or a list of inputs met again (pickle's shared references) is checked once (once)."""
    if not isinstance(v, dict) or not is_list(v.get("input"), lambda d: is_int(d, 1), most=3):
        return False
    layers = v.get("layers")
    count = len(layers) if isinstance(layers, (list, tuple)) else 0
    inputs = once(lambda i: is_list(i, lambda x: is_int(x, -1) and x < count, True))
    record = once(
        lambda r: (
            isinstance(r, (list, tuple))
            and len(r) == 3
            and isinstance(r[0], str)
            and isinstance(r[1], str)
            and inputs(r[2])
        )
    )
    return len(v["input"]) == 3 and is_list(layers, record)


def network_fault(state: Any) -> str | None:
    """What is wrong with the network record of a cnnctl checkpoint's contents, in the words its
    loading says it (train.checkpoint.check_structure); None where it is whole, or `state` is not
    a cnnctl checkpoint (no format tag: another file, said otherwise)."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        return None
    if "network" not in state:
        return f"it has no `network` ({NETWORK_WHAT})"
    return None if is_network(state["network"]) else f"its `network` is not {NETWORK_MUST_BE}"
