"""What `cnnctl weights` shows: where --weights put each tensor of the network."""

from __future__ import annotations

from ...shapes import format_shape
from ..table import Column, Table, plain


def placement_rows(placement) -> list[list[str]]:
    """Where --weights put each tensor (exchange.weights.Placement): the network's tensor, the
    source's placed in it (or, for a head made anew, the one left out), the shape; then the
    tensors the source has none for (a head only training runs), which start as initialised."""
    placed = [
        [p.own, p.given if p.left_out is None else f"(made anew; {p.given} of {format_shape(p.left_out)} left out)",
         format_shape(p.shape)] for p in placement.placed
    ]  # fmt: skip
    return placed + [[t.own, INITIALISED, format_shape(t.shape)] for t in placement.fresh]


INITIALISED = "(as initialised; the source has none)"  # a tensor's `From` where the source has none for it


def weights_table(placement, said: str, network: str) -> Table:
    """`cnnctl weights`: each tensor of the network and the source's tensor placed in it."""
    how = "by name" if placement.by_name else "by structure, in the order of the layers"
    title = f"{network}: {len(placement.placed):,} tensors from {said}, placed {how}"
    if placement.fresh:
        title += f"; {len(placement.fresh):,} tensors of the heads only training runs start as initialised"
    return _placement_table(placement, title)


def weights_file(placement, said: str) -> str:
    """A run's weights.txt (cnnctl.train writes it): where --weights put each tensor, the table
    `cnnctl weights` prints, as plain text, under a line naming the source."""
    return f"# from {said}\n" + plain(_placement_table(placement, ""))


def _placement_table(placement, title: str) -> Table:
    columns = [Column("Tensor"), Column("From"), Column("Shape", right=True)]
    return Table(title, columns, placement_rows(placement))


def weights_json(placement, said: str) -> dict:
    """`weights`: the weights placed, as the title names them and every command's JSON names the weights used
    (predict's, evaluate's)."""
    return {
        "weights": said,
        "by_name": placement.by_name,
        "tensors": [
            *({"tensor": p.own, "from": p.given, "shape": list(p.shape)} for p in placement.placed),
            *({"tensor": t.own, "from": None, "shape": list(t.shape)} for t in placement.fresh),  # as initialised
        ],
    }
