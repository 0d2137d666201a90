"""`split:`: parallel paths from the same input, weighed channel by channel by an attention
over their sum, the weights softmax-ed across the paths, and summed (split attention).

SKNet's selective kernel (Li et al. 2019, arXiv:1903.06586) is two paths, a 3x3 and a dilated
3x3 conv; ResNeSt's split attention (Zhang et al. 2020, arXiv:2004.08955) is `radix` paths that
are equal parts of one grouped conv's channels (`chunk radix i=k`). For K paths of ``HxWxC``:

    U = sum_k y_k                       (`sum`, an add)
    a = attention(U)                    1x1x(K*C) (or HxWx(K*C)): one value per path and channel
    w = rsoftmax K groups=G (a)         w[k, c] = exp(a[k, c]) / sum_j exp(a[j, c])
    out = sum_k y_k * w[k]              (`weight1..K`: chunks of w; `mul1..K`; `add`)

`groups` (ResNeSt's cardinality, G) says the attention's output is G groups of K parts (a
grouped 1x1 conv's), as ResNeSt's rSoftMax reads it. Layers: the paths', `sum`, the attention's,
`softmax` (rsoftmax), and per path a `weight` (chunk) and a `mul`, then the `add`: every count,
saved tensor and receptive field is those kinds' own.
"""

from __future__ import annotations

from ..errors import CnnctlError
from ..layers import KINDS, Args
from ..notation.spec import SplitItem, Value
from ..shapes import format_shape
from .blocks import Env
from .branches import parallel
from .nodes import UNKNOWN
from .scope import Names, Scope, names_of

TYPE_CHECKING = False  # typing's name for it, without importing typing (5 ms of every start)
if TYPE_CHECKING:
    from .build import Builder


def expand(b: Builder, item: SplitItem, scope: Scope, env: Env | None, path: str, current: int) -> int:
    names = Names(path)
    b.group(path, "split", f"split of {len(item.paths)} paths", item.loc)
    *lists, attention = item.lists
    paths = parallel(b, tuple(lists), scope, env, names, current)
    k = len(paths)
    # typed as the rsoftmax's own arguments: a wrong `groups` is told where it is written, and
    # the rest is built with one group, so that its own problems are told in the same run
    radix = {"radix": Value(str(k), item.loc)}
    try:
        written = {**radix, "groups": item.groups} if item.groups is not None else radix
        softmax_args = b.typed_args(KINDS["rsoftmax"], written, env, item.loc, path)
    except CnnctlError as exc:
        b.record(exc)
        softmax_args = b.typed_args(KINDS["rsoftmax"], radix, env, item.loc, path)
    check_paths(b, item, paths, path)
    plain = b.merge_args(None, env, path)  # an add's and a mul's: no activation
    total = b.add_node(KINDS["add"], plain, paths, item.loc, names.path(names.fixed("sum")))
    scores = b.sequence(attention.items, Scope(total, parent=scope), env, names_of(attention, names))
    check_attention(b, item, paths[0], scores, k, path)
    weights = b.add_node(KINDS["rsoftmax"], softmax_args, [scores], item.loc, names.path(names.fixed("softmax")))
    weighed = []
    for i, y in enumerate(paths, 1):
        weight = names.path(names.fixed(f"weight{i}"))
        part = b.add_node(KINDS["chunk"], Args(parts=k, i=i), [weights], item.loc, weight)
        weighed.append(b.add_node(KINDS["mul"], plain, [y, part], item.loc, names.path(names.fixed(f"mul{i}"))))
    return b.add_node(KINDS["add"], plain, weighed, item.loc, names.path(names.fixed("add")))


def check_paths(b: Builder, item: SplitItem, paths: list[int], path: str) -> None:
    """Every path ends in the same volume: each is weighed channel by channel against the others."""
    shapes = [b.shape_of(p) for p in paths]
    if UNKNOWN in shapes:
        return
    if any(len(s) != 3 for s in shapes):
        raise CnnctlError.at(
            f"the paths end in {', '.join(format_shape(s) for s in shapes)}: a split weighs volumes HxWxC",
            item.loc,
            layer=path,
            hint="put the split before the first `fc`/`flatten`",
        )
    if len(set(shapes)) > 1:
        raise CnnctlError.at(
            f"the paths end in {', '.join(format_shape(s) for s in shapes)}: a split's paths end in one shape",
            item.loc,
            layer=path,
            hint="give every path the same stride, padding (p=same) and channels (`n=`)",
        )


def check_attention(b: Builder, item: SplitItem, first: int, scores: int, k: int, path: str) -> None:
    """The attention ends in one value per path and channel: 1x1x(K*C), or HxWx(K*C) (one per position too)."""
    shape, out = b.shape_of(first), b.shape_of(scores)
    if UNKNOWN in (shape, out) or len(shape) != 3:
        return
    h, w, c = shape
    if len(out) == 3 and out[2] == k * c and out[:2] in ((1, 1), (h, w)):
        return
    raise CnnctlError.at(
        f"the attention ends in {format_shape(out)}, but {k} paths of {format_shape(shape)} need 1x1x{k * c} "
        f"(one value per path and channel, path by path)",
        item.loc,
        layer=path,
        hint=f"end `attention:` in `conv f=1 n={k * c}` (after `pool avg global`)",
    )


def least(b: Builder, item: SplitItem, env: Env | None) -> int:
    """Every path's layers, the sum, the attention's, the softmax, a chunk and a mul per path, the add."""
    paths = sum(b.least_layers(body, env) for _, body, _ in item.paths)
    return paths + 1 + b.least_layers(item.attention, env) + 1 + 2 * len(item.paths) + 1
