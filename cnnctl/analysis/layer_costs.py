"""Each layer's cost as `flops --per-layer` shows it: a summary's rows joined, once, with the
training cost and the roofline by path, their shares of the totals, heaviest first; with
`top`, the rest summed in one row. The renderers (table, JSON, CSV) only format these rows."""

from __future__ import annotations

from ..records import record
from .roofline import Roofline
from .summary import Summary, group_key, heaviest
from .training import TrainingCost


@record
class LayerCostRow:
    """One layer's forward cost and share (None: the total is 0), its backward cost (with a
    training cost), its roofline (with a roofline), whether `--freeze` freezes it (with a
    training cost of a frozen prefix); `layers` > 1: a group collapsed by --depth (its path the
    group's), or the row of the rest (path None); either's intensity is its FLOPs over its bytes
    (intensities do not add up) and its `frozen` counts its frozen layers."""

    path: str | None
    shorthand: str
    mults: int
    flops: int
    mults_share: float | None
    flops_share: float | None
    backward_mults: int | None = None
    backward_flops: int | None = None
    seconds: float | None = None
    bytes: int | None = None
    roofline_flops: int | None = None
    compute_bound: bool | None = None
    layers: int = 1
    frozen: int | None = None  # with --freeze, how many of its `layers` it freezes (a layer: 0 or 1); None without

    @property
    def intensity(self) -> float | None:
        """FLOPs per byte moved (None: no roofline, or nothing moved)."""
        return self.roofline_flops / self.bytes if self.bytes else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def layer_costs(
    s: Summary,
    cost: TrainingCost | None = None,
    times: Roofline | None = None,
    top: int | None = None,
    depth: int | None = None,
) -> list[LayerCostRow]:
    """The forward pass's layers heaviest first, each with its backward cost and roofline where
    given; with `depth`, the layers of each group of paths deeper than that (summary.group_key) in
    one row, heaviest first likewise (the rows still add up to the totals); with `top`, the `top`
    heaviest and then, where any are left, one row of the rest."""
    backward = {c.path: c for c in cost.layers} if cost is not None else {}
    timed = {t.path: t for t in times.layers} if times is not None else {}
    freezing = cost is not None and s.frozen_at is not None  # --freeze: which layers it freezes
    rows = []
    for r in heaviest(s):
        c, t = backward.get(r.path), timed.get(r.path)
        rows.append(
            LayerCostRow(
                r.path, r.text, r.mults, r.flops, _share(r.mults, s.mults), _share(r.flops, s.flops),
                c.backward_mults if c else None, c.backward_flops if c else None,
                t.seconds if t else None, t.bytes if t else None, t.flops if t else None,
                t.compute_bound if t else None, 1, int(c.frozen) if freezing and c else None,
            )
        )  # fmt: skip
    if depth is not None:
        rows = _collapsed(s, rows, depth)
    if top is None or len(rows) <= top:
        return rows
    rest = rows[top:]
    return [*rows[:top], _summed(rest)]


def _collapsed(s: Summary, rows: list[LayerCostRow], depth: int) -> list[LayerCostRow]:
    """The layers' rows summed by their group at `depth`, a group of one its layer's row under the
    group's path, heaviest first (ties in network order, as `heaviest`)."""
    order = {r.path: i for i, r in enumerate(s.rows)}
    groups: dict[str, list[LayerCostRow]] = {}
    for r in sorted(rows, key=lambda r: order[r.path]):
        groups.setdefault(group_key(r.path, depth), []).append(r)
    collapsed = [members[0]._replace(path=key) if len(members) == 1
                 else _summed(members)._replace(path=key, shorthand=f"({len(members):,} layers)")
                 for key, members in groups.items()]  # fmt: skip
    return sorted(collapsed, key=lambda r: (-r.mults, -r.flops))


def _summed(rows: list[LayerCostRow]) -> LayerCostRow:
    """The rows' sums in one row (a share's None counts 0; a figure none of them has stays None)."""

    def total(name: str):
        values = [getattr(r, name) for r in rows]
        return None if all(v is None for v in values) else sum(v for v in values if v is not None)

    return LayerCostRow(
        None, "", total("mults"), total("flops"), total("mults_share"), total("flops_share"),
        total("backward_mults"), total("backward_flops"), total("seconds"), total("bytes"), total("roofline_flops"),
        None, len(rows), total("frozen"),
    )  # fmt: skip
