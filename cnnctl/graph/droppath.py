"""Stochastic depth's schedule, written once at the top of a file:

```yaml
droppath: {rate: 0.2, blocks: [mbconv, mbconv_down], last: below}
```

The uses of the listed blocks are numbered ``k = 0, 1, ... N-1`` in the network's order
(one used inside another's use is part of it);
a `droppath` layer without a rate inside use ``k`` drops its path with ``rate*k/(N-1)``
(`last: full`, the default: the last block drops at `rate`, as ConvNeXt and timm's
`linspace`) or ``rate*k/N`` (`last: below`, as torchvision's EfficientNet). Blocks that
are listed but hold no `droppath` (a stage's first block, without a residual) still count.
The rates are put in once every use is numbered, after the graph is built.
"""

from __future__ import annotations

from ..errors import CnnctlError, Loc, Problem, did_you_mean
from ..layers import KINDS, Args
from ..layers.args import ArgValueError, Choice, Float
from ..layers.base import shorthand
from ..notation.spec import NetworkSpec
from .nodes import Node

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder

KEYS = ("rate", "blocks", "last")
RATE = Float(0, 1, hi_open=True)
LAST = Choice("full", "below")


class Schedule:
    """The schedule read from a file, and the block uses numbered so far while building."""

    __slots__ = ("blocks", "full", "pending", "rate", "uses")

    def __init__(self, rate: float, blocks: set[str], full: bool):
        self.rate, self.blocks, self.full = rate, blocks, full
        self.uses = 0  # block uses numbered so far
        self.pending: list[tuple[int, int]] = []  # (node index, its block use's number)

    def rate_of(self, k: int) -> float:
        steps = self.uses - 1 if self.full else self.uses
        return self.rate * k / steps if steps > 0 else 0.0


def read(spec: NetworkSpec) -> Schedule | None:
    """The file's `droppath:` schedule, typed; None without one. Every mistake is located."""
    written = spec.droppath
    if not written:
        return None
    problems = []
    for key, value in written.items():
        if key not in KEYS:
            problems.append(Problem(f"`droppath:` has no setting `{key}`", value.loc, hint=did_you_mean(key, KEYS)))
    typed: dict[str, object] = {}
    for key, kind in (("rate", RATE), ("last", LAST)):
        if key in written:
            try:
                typed[key] = kind.parse(str(written[key].text))
            except ArgValueError as exc:
                problems.append(Problem(f"`droppath: {key}` {exc}", written[key].loc))
    names = [n.strip() for n in str(written["blocks"].text).split(",") if n.strip()] if "blocks" in written else []
    for name in names:
        if name not in spec.blocks:
            hint = did_you_mean(name, spec.blocks) or "list names defined under `blocks:`"
            message = f"`droppath: blocks` names `{name}`, which is not a block"
            problems.append(Problem(message, written["blocks"].loc, hint=hint))
    where = next(iter(written.values())).loc
    for key in ("rate", "blocks"):
        if key not in written:
            problems.append(
                Problem(
                    f"`droppath:` needs `{key}`",
                    where,
                    hint="e.g. `droppath: {rate: 0.2, blocks: [cnblock]}`: the listed blocks' uses are numbered, "
                    "and each drops its path at a rate growing to `rate`",
                )
            )
    if problems:
        raise CnnctlError(problems)
    return Schedule(float(typed["rate"]), set(names), typed.get("last", "full") == "full")  # type: ignore[arg-type]


def enter(b: Builder, block: str) -> int | None:
    """The number of this use of `block` if the schedule counts it, else None. A listed block
    used inside another's use is part of that use (EfficientNet's residual block wraps the
    plain one: both listed, each block of the network counted once)."""
    schedule = b.droppath
    if schedule is None or block not in schedule.blocks or b.scheduled:
        return None
    schedule.uses += 1
    return schedule.uses - 1


def scheduled(b: Builder, loc: Loc, path: str) -> int:
    """The block use whose rate a `droppath` without one takes; a CnnctlError if there is none."""
    if b.droppath is None:
        raise CnnctlError.at(
            "`droppath` needs a rate, or a `droppath:` schedule at the top of the file",
            loc,
            layer=path,
            hint="`droppath 0.1`, or `droppath: {rate: 0.2, blocks: [NAME]}` to grow the rate over those blocks",
        )
    if not b.scheduled:
        raise CnnctlError.at(
            "this `droppath` has no rate and is not inside a block the `droppath:` schedule lists",
            loc,
            layer=path,
            hint="give it a rate, or list its block in `droppath: blocks` (now: "
            + ", ".join(sorted(b.droppath.blocks))
            + ")",
        )
    return b.scheduled[-1]


def apply(b: Builder, nodes: list[Node]) -> None:
    """Put each scheduled `droppath`'s rate in, now that every block use is numbered."""
    schedule = b.droppath
    if schedule is None:
        return
    for index, k in schedule.pending:
        node = nodes[index]
        args = Args({**node.args, "rate": schedule.rate_of(k)})
        nodes[index] = node._replace(args=args, text=shorthand(KINDS[node.kind], args))
