"""Graph -> figures, as plain data (no torch, no rendering): `summary` gives the rows and
totals that `summarize` and `flops` show."""

from .summary import DTYPE_BYTES, summarize

__all__ = ["DTYPE_BYTES", "summarize"]
